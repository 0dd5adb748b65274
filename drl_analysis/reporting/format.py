"""How numbers, columns, tables and figures are shown to readers: one place for
the HTML pages, the notebooks and the PDF.

- :func:`format_value` writes a value to its precision: doses to three
  significant figures (as the workbook of notebook 03), counts as whole
  numbers, shares as percentages, ratios and QCDs with two decimals, years
  without separators, and "–" for anything missing.
- :data:`COLUMNS` gives each column of the package's tables a human label
  (with its unit where the unit is fixed) and the kind that decides its
  format; :func:`readable` turns a table into the strings a reader sees.
- :func:`table_html` writes a complete table (no index column, numbers right
  aligned, scrollable on a page, flowing over pages in the PDF) with a
  numbered caption, or a sentence when there is nothing to show.
- :func:`figure_html` writes a numbered figure with caption and alternative
  text; :class:`Numbering` counts figures and tables of one document.
- :class:`Publication` does the same inside a notebook: ``pub.table(...)`` and
  ``pub.figure(...)`` return objects Jupyter displays (and nbconvert turns into
  the page), keeping the PNG in the output so the run still extracts it.

The tables written as CSV keep full precision; rounding happens only here.
"""

from __future__ import annotations

import base64
import html
import io
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..core.columns import QUANTITIES

#: What a reader sees for a missing value.
MISSING = "–"


@dataclass(frozen=True)
class Column:
    """How a column is shown: its label, the kind of its values, and its unit (if fixed)."""

    label: str
    kind: str = "text"  # text, list, id, status, quantity, count, dose, share, ratio, qcd, year, coverage, kg, decimal,
    # column (a column's name as a value), columns (a list of them), reasons (a text naming columns)
    unit: str = ""

    def heading(self, unit: str = "") -> str:
        unit = unit or self.unit
        return f"{self.label} [{unit}]" if unit else self.label


#: Every column of the package's tables a reader may see, by its name in the CSV.
COLUMNS: dict[str, Column] = {
    # identifiers
    "exam_code": Column("Exam code"),
    "exam_name": Column("Exam"),
    "quantity": Column("Quantity", "quantity"),
    "unit": Column("Unit"),
    "data_source": Column("Data source", "id"),
    "facility_id": Column("Facility", "id"),
    "facility": Column("Facility", "id"),
    "year": Column("Year", "year"),
    "years": Column("Years", "list"),
    "years_reported": Column("Years reported", "list"),
    "drl_edition": Column("DRL edition"),
    "edition": Column("DRL edition"),
    "cluster": Column("Cluster", "count"),
    # the DRL table
    "status": Column("Status", "status"),
    "status_note": Column("Why"),
    "n_facilities": Column("Facilities", "count"),
    "n_exams": Column("Exams", "count"),
    "n_values": Column("Values", "count"),
    "p25": Column("P25", "dose"),
    "p50": Column("P50 (achievable dose)", "dose"),
    "p75": Column("P75 (proposed DRL)", "dose"),
    "typical_value": Column("Typical value (median)", "dose"),
    "qcd": Column("QCD", "qcd"),
    "p75_ci_low": Column("P75 bootstrap 95 % CI, low", "dose"),
    "p75_ci_high": Column("P75 bootstrap 95 % CI, high", "dose"),
    "p50_ci_low": Column("P50 bootstrap 95 % CI, low", "dose"),
    "p50_ci_high": Column("P50 bootstrap 95 % CI, high", "dose"),
    "p75_ci_order_low": Column("P75 distribution-free 95 % CI, low", "dose"),
    "p75_ci_order_high": Column("P75 distribution-free 95 % CI, high", "dose"),
    "p75_ci_order_coverage": Column("Coverage of the distribution-free CI", "coverage", "%"),
    "p75_bootstrap_ci": Column("P75 bootstrap 95 % CI*", "text"),
    "p75_order_ci": Column("P75 distribution-free 95 % CI*", "text"),
    "current_drl_text": Column("Current DRL (edition)", "text"),
    "current_drl": Column("Current DRL", "dose"),
    "drl": Column("DRL", "dose"),
    "p75_to_drl": Column("P75 / current DRL", "ratio"),
    "share_facilities_above_drl": Column("Facilities above current DRL", "share", "%"),
    "share_exams_above_drl": Column("Exams above current DRL", "share", "%"),
    "n_facilities_below_min": Column("Facilities with too few exams", "count"),
    "n_exams_below_min": Column("Their exams", "count"),
    "n_excluded_implausible": Column("Values left out: implausible", "count"),
    "n_excluded_phantom": Column("Values left out: other CTDI phantom", "count"),
    "n_excluded_weight": Column("Values left out: weight", "count"),
    "mean_weight_kg": Column("Mean weight", "kg", "kg"),
    "ctdi_phantom_cm": Column("CTDI phantom", "decimal", "cm"),
    # the analysis
    "reason": Column("Reason"),
    "reason_kind": Column("Kind of outlier"),
    "issue": Column("Issue"),
    "values": Column("Values", "count"),
    "value": Column("Value", "dose"),
    "members": Column("Members", "count"),
    "clustered": Column("Clustered"),
    "alert": Column("Alert", "status"),
    "facility_medians": Column("Facility median by year", "yearly"),
    "n_implausible": Column("Implausible values", "count"),
    "share_implausible": Column("Implausible", "share", "%"),
    "median_dose_to_drl": Column("Median dose / DRL", "ratio"),
    "n_exam_codes": Column("Exam codes", "count"),
    "z_exam": Column("Robust z (exam)", "ratio"),
    "z_facility": Column("Robust z (facility)", "ratio"),
    "factor": Column("Suspected factor", "decimal"),
    "weight_kg": Column("Weight", "kg", "kg"),
    "source_row": Column("Row in file", "count"),
    "rows": Column("Rows", "count"),
    "item": Column("Item"),
    "parameter": Column("Parameter"),
    "meaning": Column("Meaning"),
    "exam_median": Column("Exam median", "dose"),
    "ratio_to_median": Column("Value / exam median", "ratio"),
    "slip_factor": Column("Suspected factor", "decimal"),
    "facility_median": Column("Facility median", "dose"),
    "ratio_to_facility_median": Column("Value / facility median", "ratio"),
    "ratio_to_drl": Column("Facility median / DRL", "ratio"),
    "survey_p95": Column("Survey P95", "dose"),
    "above_drl": Column("Above DRL"),
    "above_p95": Column("Above P95"),
    "n_members": Column("Members", "count"),
    "drivers": Column("What sets it apart"),
    "detail": Column("Detail"),
    "label": Column("Feature"),
    "reliability": Column("Reliability", "ratio"),
    "weight": Column("Weight", "ratio"),
    "noise_sd": Column("Noise SD", "decimal"),
    "sd": Column("SD", "decimal"),
    "kind": Column("Kind"),
    "source_file": Column("File"),
    "sheet": Column("Sheet"),
    # what ingest read, repaired and rejected (notebook 02)
    "files": Column("Files", "count"),
    "rows_read": Column("Rows read", "count"),
    "rows_stored": Column("Rows stored", "count"),
    "rows_rejected": Column("Rows rejected", "count"),
    "values_repaired": Column("Values repaired", "count"),
    "rows_flagged": Column("Rows flagged", "count"),
    "balanced": Column("Read = stored + rejected"),
    "rule": Column("Rule"),
    "inference": Column("Inference"),
    "touched": Column("Touched", "count"),
    "share": Column("Share of rows", "share", "%"),
    "origin": Column("Origin"),
    "exposures": Column("Exposures", "count"),
    "report": Column("Report"),
    "read": Column("Read", "count"),
    "stored": Column("Stored", "count"),
    "rejected": Column("Rejected", "count"),
    "replaced": Column("Replaced by a later report", "count"),
    "without_exam_code": Column("Stored without exam code", "count"),
    "study_description": Column("Study description"),
    "studies": Column("Studies", "count"),
    "requested_procedure": Column("Requested procedures"),
    "protocol": Column("Protocols"),
    # dose values read off dose-report screens (notebook 01), in canonical units
    "layout": Column("Layout"),
    "dap_total_gycm2": Column("Total DAP", "dose", "Gy·cm²"),
    "dap_exposure_gycm2": Column("Exposure DAP", "dose", "Gy·cm²"),
    "exposure_series": Column("Exposure series", "count"),
    "exposure_images": Column("Exposure images", "count"),
    "dap_fluoro_gycm2": Column("Fluoroscopy DAP", "dose", "Gy·cm²"),
    "fluoro_time_min": Column("Fluoroscopy time", "decimal", "min"),
    "air_kerma_total_mgy": Column("Total air kerma", "dose", "mGy"),
    "air_kerma_frontal_mgy": Column("Frontal air kerma", "dose", "mGy"),
    "air_kerma_lateral_mgy": Column("Lateral air kerma", "dose", "mGy"),
    "consistent": Column("Sums hold"),
    "needs_review": Column("To review"),
    "review_fields": Column("Fields to look at", "columns"),
}

#: The status of a DRL table row, as readers see it.
STATUS_LABELS: dict[str, str] = {
    "proposed": "proposed DRL",
    "typical_value_only": "typical value only",
    "no_facility_with_enough_exams": "no facility with enough exams",
    "no_value_counted": "no value counted",
    # the selection status of a single value (drl_analysis.stats.selection)
    "used": "counted",
    "no_exam_code": "left out: no exam code",
    "implausible_at_ingest": "left out: flagged at ingest",
    "not_positive": "left out: not positive",
    "other_phantom": "left out: other CTDI phantom",
    "weight_outside_range": "left out: weight",
    # alerts (drl_analysis.analysis.alerts)
    "facility_above_drl": "facility above the DRL",
    "source_implausible_share": "data source with many implausible values",
}


def _is_missing(value: object) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, (float, np.floating)):
        return math.isnan(float(value))
    return isinstance(value, str) and value.strip() == ""


def significant(value: float, digits: int = 3) -> str:
    """A number to ``digits`` significant figures, without trailing zeros after the point.

    Thousands get a comma from 10,000 on (digits beyond the third are zeros).

    >>> [significant(v) for v in (1334.6, 16.755, 2.02375, 0.0012345, 28152.5, 40.0, 0.0)]
    ['1330', '16.8', '2.02', '0.00123', '28,200', '40', '0']
    """
    v = float(value)
    if v == 0 or not math.isfinite(v):
        return "0" if v == 0 else MISSING
    decimals = digits - 1 - int(math.floor(math.log10(abs(v))))
    rounded = round(v, decimals)
    if decimals <= 0:
        text = f"{int(round(rounded)):,}" if abs(rounded) >= 10_000 else f"{int(round(rounded))}"
    else:
        text = f"{rounded:.{decimals}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def format_value(value: object, kind: str = "text") -> str:
    """One value as a reader sees it (see the module docstring); "–" when missing.

    >>> [format_value(v, k) for v, k in [(0.375, "share"), (0.004, "share"), (1.0749, "ratio"), (2022.0, "year"),
    ...                                   (12345, "count"), (float("nan"), "dose"), ("dap_cgycm2", "quantity")]]
    ['38 %', '0.4 %', '1.07', '2022', '12,345', '–', 'DAP']
    """
    if _is_missing(value):
        return MISSING
    if kind == "quantity":
        return QUANTITIES[value].label if value in QUANTITIES else str(value)
    if kind == "status":
        return STATUS_LABELS.get(str(value), str(value))
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if kind in ("list", "column", "columns", "yearly", "reasons"):
        return _listed(str(value), kind)
    if kind in ("text", "id") or isinstance(value, str):
        return str(value)
    x = float(value)
    if kind == "count":
        return f"{int(round(x)):,}"
    if kind == "year":
        return str(int(round(x)))
    if kind in ("share", "coverage"):
        pct = 100 * x
        return f"{pct:.1f} %" if kind == "coverage" or 0 < abs(pct) < 10 else f"{pct:.0f} %"
    if kind in ("ratio", "qcd"):
        return f"{x:.2f}"
    if kind == "kg":
        return f"{x:.0f}"
    return significant(x)


def _listed(value: str, kind: str) -> str:
    """Values that are lists or names (see :func:`format_value`)."""
    if kind == "list":
        return ", ".join(part.strip() for part in value.split(";"))
    if kind == "column":  # a column's name as a value: "dap_total_gycm2" -> "Total DAP [Gy·cm²]"
        return column(value).heading()
    if kind == "columns":  # "dap_total_gycm2;fluoro_time_min" (or with commas) -> their headings
        return ", ".join(column(part.strip()).heading() for part in value.replace(";", ",").split(",") if part.strip())
    if kind == "reasons":  # "air_kerma_total_mgy: readings uncertain" -> "Total air kerma [mGy]: readings uncertain"
        return re.sub(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b",
                      lambda m: COLUMNS[m.group()].heading() if m.group() in COLUMNS else m.group(), value)
    parts = []  # yearly: "2022: 7410.5; 2023: 5.08e+03" -> "2022: 7410; 2023: 5080"
    for part in value.split(";"):
        label, sep, number = part.partition(":")
        try:
            parts.append(f"{label.strip()}: {significant(float(number))}" if sep else part.strip())
        except ValueError:
            parts.append(part.strip())
    return "; ".join(parts)


def column(name: str) -> Column:
    """The :class:`Column` of a table column (unknown names: their words, as text)."""
    return COLUMNS.get(name, Column(name.replace("_", " ").capitalize()))


def quantity_heading(quantity: str, unit: str = "") -> str:
    """``"DAP [cGy·cm²]"``."""
    q = QUANTITIES.get(str(quantity))
    label, unit = (q.label, unit or q.unit) if q else (str(quantity), unit)
    return f"{label} [{unit}]" if unit else label


def _readable(
    frame: pd.DataFrame,
    columns: Sequence[str] | Mapping[str, str] | None,
    units: Mapping[str, str] | None,
    kinds: Mapping[str, str] | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    if columns is None:
        columns = list(frame.columns)
    names = dict(columns) if isinstance(columns, Mapping) else {c: "" for c in columns}
    units = dict(units or {})
    merge_unit = "quantity" in names and "unit" in frame.columns and "unit" not in names
    out, shown_kinds, sources = {}, [], []
    for col, heading in names.items():
        if col not in frame.columns:
            continue
        spec = column(col)
        kind = (kinds or {}).get(col, spec.kind)
        values = frame[col].tolist()
        if col == "quantity" and merge_unit:
            out[heading or "Quantity [unit]"] = [
                quantity_heading(q, u if isinstance(u, str) else "") for q, u in zip(values, frame["unit"])]
        else:
            cells = [format_value(v, kind) for v in values]
            if spec.unit == "%":  # the heading says [%]
                cells = [c[:-2] if c.endswith(" %") else c for c in cells]
            out[heading or spec.heading(units.get(col, ""))] = cells
        shown_kinds.append(kind)
        sources.append(col)
    shown = pd.DataFrame(out, index=range(len(frame)))
    shown.attrs["columns"] = sources  # the column each shown column comes from
    return shown, shown_kinds


def readable(
    frame: pd.DataFrame,
    columns: Sequence[str] | Mapping[str, str] | None = None,
    *,
    units: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """A table as strings with human column names: what a reader sees.

    Parameters
    ----------
    frame : pandas.DataFrame
    columns : sequence of str or mapping of str to str, optional
        The columns to show, in order (default all); a mapping gives each its
        own heading instead of :data:`COLUMNS`'s.
    units : mapping of str to str, optional
        Column -> unit for headings whose unit is not fixed (a dose column of
        a table of one quantity).

    A ``quantity`` column with a ``unit`` column beside it in ``frame`` (and
    ``unit`` not asked for) becomes one column "Quantity [unit]" whose cells
    read ``DAP [cGy·cm²]``; the index is dropped.

    >>> readable(pd.DataFrame({"quantity": ["dap_cgycm2"], "unit": ["cGy·cm²"], "p75": [1334.6]}),
    ...          ["quantity", "p75"]).iloc[0].tolist()
    ['DAP [cGy·cm²]', '1330']
    """
    return _readable(frame, columns, units)[0]


def drl_text(value: object, edition: object) -> str:
    """``"20 (DE-2016)"``, or "–" without a DRL."""
    if _is_missing(value):
        return MISSING
    return f"{significant(float(value))} ({edition})" if not _is_missing(edition) else significant(float(value))


def interval_text(low: object, high: object) -> str:
    """``"16–25"``, or "–" when a bound is missing."""
    if _is_missing(low) or _is_missing(high):
        return MISSING
    return f"{significant(float(low))}–{significant(float(high))}"


# ---------------------------------------------------------------------------
# Numbered tables and figures
# ---------------------------------------------------------------------------


@dataclass
class Numbering:
    """Counts the tables and figures of one document."""

    tables: int = 0
    figures: int = 0

    def table(self) -> int:
        self.tables += 1
        return self.tables

    def figure(self) -> int:
        self.figures += 1
        return self.figures


#: Tables of more rows than this scroll inside a box on a page (shorter ones are shown whole).
SCROLL_ROWS = 25

_NUMERIC_KINDS = {"count", "dose", "share", "ratio", "qcd", "year", "coverage", "kg", "decimal"}


def table_html(
    frame: pd.DataFrame | None,
    *,
    caption: str,
    number: int | None = None,
    columns: Sequence[str] | Mapping[str, str] | None = None,
    units: Mapping[str, str] | None = None,
    kinds: Mapping[str, str] | None = None,
    empty: str = "Nothing to show.",
    scroll: bool = True,
    css_class: str = "",
    note: str = "",
) -> str:
    """A complete table with a numbered caption, or the sentence ``empty``.

    Parameters
    ----------
    frame : pandas.DataFrame or None
        The table (full precision); formatted with :func:`readable`.
    caption : str
        What the table shows; "Table n." is put before it.
    number : int, optional
        The table's number (from :class:`Numbering`); None for no number.
    columns, units
        See :func:`readable`.
    kinds : mapping of str to str, optional
        Column -> kind of its values, where :data:`COLUMNS` does not fit
        (e.g. ``{"value": "count"}`` for a summary of counts).
    empty : str
        Said instead of an empty table (no bare header).
    scroll : bool, default True
        Wrap the table in a box that scrolls on a page (long and wide tables
        stay complete): sideways when wide, and in a box of its own height
        when it has more than :data:`SCROLL_ROWS` rows; the PDF's CSS lets it
        flow over pages instead.
    note : str
        A line under the table (e.g. what an asterisk means).
    """
    if frame is None or len(frame) == 0:
        return f"<p class='empty-table'>{html.escape(empty)}</p>"
    shown, kinds = _readable(frame, columns, units, kinds)
    names = [f"c-{c}" for c in shown.attrs.get("columns", [""] * len(kinds))]
    head = "".join(f"<th scope='col' class='{n}'>{html.escape(h)}</th>" for n, h in zip(names, shown.columns))
    body = []
    for record in shown.itertuples(index=False):
        cells = []
        for name, kind, value in zip(names, kinds, record):
            extra = " num" if kind in _NUMERIC_KINDS else (" id" if kind == "id" else "")
            cells.append(f"<td class='{name}{extra}'>{html.escape(value)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    label = f"Table {number}. " if number is not None else ""
    table = f"<table class='drl-table'><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    if scroll:  # wide tables scroll sideways; only long ones get a box of their own height
        box = "max-height:34em;overflow:auto" if len(frame) > SCROLL_ROWS else "overflow-x:auto"
        table = f"<div class='table-scroll' style='{box}'>{table}</div>"
    note_html = f"<p class='table-note'>{html.escape(note)}</p>" if note else ""
    classes = " ".join(filter(None, ["table", css_class]))
    return (f"<figure class='{classes}'"
            + (f" id='table-{number}'" if number is not None else "")
            + f"><figcaption><b>{html.escape(label)}</b>{html.escape(caption)}</figcaption>{table}{note_html}</figure>")


def png_data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def figure_html(src: str, *, caption: str, alt: str, number: int | None = None, css_class: str = "") -> str:
    """A numbered figure: image, caption and alternative text (never empty)."""
    if not alt.strip():
        raise ValueError("a figure needs an alternative text")
    label = f"Figure {number}. " if number is not None else ""
    ident = f" id='figure-{number}'" if number is not None else ""
    classes = " ".join(filter(None, ["figure", css_class]))
    return (f"<figure class='{classes}'{ident}><img src='{html.escape(src, quote=True)}' alt='{html.escape(alt, quote=True)}'>"
            f"<figcaption><b>{html.escape(label)}</b>{html.escape(caption)}</figcaption></figure>")


def figure_png(fig, *, dpi: int = 110) -> bytes:
    """A matplotlib figure as PNG bytes (no timestamp, so the same figure gives the same bytes)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    return buffer.getvalue()


# ---------------------------------------------------------------------------
# In notebooks
# ---------------------------------------------------------------------------


#: How tables and figures look in a notebook and on its page (Jupyter right-aligns every cell otherwise).
TABLE_STYLE = (
    "<style>"
    "table.drl-table{border-collapse:collapse;font-size:.85em;margin:0}"
    "table.drl-table td,table.drl-table th{border:1px solid #ddd;padding:.2em .35em;vertical-align:top;"
    "text-align:left !important}"
    "table.drl-table th{background:#f3f3f3;position:sticky;top:0}"
    "table.drl-table td.num{text-align:right !important;white-space:nowrap}table.drl-table td.id{white-space:nowrap}"
    "figure.table,figure.figure{margin:1em 0}figure.figure img{max-width:100%;height:auto}"
    "figure figcaption{font-size:.92em;color:#333;margin:.3em 0;text-align:left}"
    "p.table-note{font-size:.85em;color:#555}p.empty-table{font-style:italic}"
    "</style>"
)


class _Html:
    """Displayed by Jupyter as HTML (and as text in a terminal)."""

    def __init__(self, markup: str, text: str = ""):
        self.markup, self.text = markup, text

    def _repr_html_(self) -> str:
        return self.markup

    def __repr__(self) -> str:
        return self.text or "(HTML)"


class _Figure:
    """A numbered figure for Jupyter: HTML with caption and alt text, plus the PNG itself."""

    def __init__(self, png: bytes, caption: str, alt: str, number: int):
        self.png, self.caption, self.alt, self.number = png, caption, alt, number

    def _repr_mimebundle_(self, include=None, exclude=None):
        markup = figure_html(png_data_uri(self.png), caption=self.caption, alt=self.alt, number=self.number)
        data = {"text/html": markup, "image/png": base64.b64encode(self.png).decode("ascii"),
                "text/plain": f"Figure {self.number}. {self.caption}"}
        return data, {"image/png": {"alt": self.alt}}


@dataclass
class Publication:
    """Numbered tables and figures of one notebook.

    Examples
    --------
    >>> pub = Publication()
    >>> t = pub.table(pd.DataFrame({"n_facilities": [12]}), caption="Facilities.")
    >>> "Table 1." in t._repr_html_() and "Facilities</th>" in t._repr_html_()
    True
    """

    numbering: Numbering = field(default_factory=Numbering)
    styled: bool = False

    def _style(self) -> str:
        if self.styled:
            return ""
        self.styled = True
        return TABLE_STYLE

    def table(self, frame: pd.DataFrame | None, *, caption: str, empty: str = "Nothing to show.", **options) -> _Html:
        """A complete, formatted, numbered table (see :func:`table_html`); a sentence when empty."""
        if frame is None or len(frame) == 0:
            return _Html(table_html(frame, caption=caption, empty=empty), empty)
        number = self.numbering.table()
        return _Html(self._style() + table_html(frame, caption=caption, number=number, **options),
                     f"Table {number}. {caption} ({len(frame)} rows)")

    def figure(self, fig, *, caption: str, alt: str) -> _Figure:
        """A numbered figure from a matplotlib Figure (or Axes); the figure is closed afterwards."""
        fig = getattr(fig, "figure", fig)
        png = figure_png(fig)
        try:
            import matplotlib.pyplot as plt

            plt.close(fig)
        except Exception:  # noqa: BLE001 - a Figure made without pyplot is not registered
            pass
        return _Figure(png, caption, alt, self.numbering.figure())

    def image(self, path, *, caption: str, alt: str) -> _Figure:
        """A numbered figure from a PNG file (figures an analysis wrote)."""
        from pathlib import Path

        return _Figure(Path(path).read_bytes(), caption, alt, self.numbering.figure())

    def plotly(self, fig, *, caption: str, alt: str):
        """A numbered interactive figure; the page shows it with its caption and alt text."""
        from .pages import PLOTLY_MIME

        number = self.numbering.figure()
        meta = {"caption": f"Figure {number}. {caption}", "alt": alt}

        class _Plotly:
            def _repr_mimebundle_(self, include=None, exclude=None):
                return ({PLOTLY_MIME: fig.to_plotly_json(), "text/plain": meta["caption"]},
                        {PLOTLY_MIME: {"drl_analysis": meta}})

        return _Plotly()

    def html(self, markup: str, text: str = "") -> _Html:
        """HTML written by the report (its sections), styled like the tables here."""
        return _Html(self._style() + markup, text)

    def say(self, text: str) -> _Html:
        """A paragraph of generated text (Markdown is not needed for one sentence)."""
        return _Html(f"<p>{html.escape(text)}</p>", text)


def bullet_list(items: Iterable[str]) -> str:
    return "<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in items) + "</ul>"

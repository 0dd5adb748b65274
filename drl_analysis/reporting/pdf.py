"""The annual report as HTML and CSS, rendered to PDF by WeasyPrint (no browser,
no LaTeX, no network)."""

from __future__ import annotations

import contextlib
import html
import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.columns import QUANTITIES
from ..stats.drl_tables import empty_table_reason
from .tables import ID_COLUMNS

# ---------------------------------------------------------------------------
# The PDF
# ---------------------------------------------------------------------------

_HEADERS = {
    "exam_code": "exam code",
    "exam_name": "exam",
    "quantity": "quantity",
    "unit": "unit",
    "n_facilities": "facilities [n]",
    "n_exams": "exams [n]",
    "p50": "P50 (achievable)",
    "p75": "P75 (proposed DRL)",
    "p75_ci_low": "P75 95 % CI low*",
    "p75_ci_high": "P75 95 % CI high*",
    "current_drl": "current DRL",
    "drl_edition": "edition",
    "drl": "DRL",
    "years": "years above",
    "p75_to_drl": "P75 / DRL [ratio]",
    "share_facilities_above_drl": "facilities above DRL [%]",
    "share_exams_above_drl": "exams above DRL [%]",
    "share_implausible": "implausible [%]",
    "data_source": "data source",
    "facility_id": "facility",
    "facility_medians": "facility medians",
    "n_implausible": "implausible [n]",
    "n_values": "values [n]",
    "values": "values [n]",
    "facilities": "facilities [n]",
}


def _fmt(value: object, column: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    if column.startswith("share_") and isinstance(value, (int, float, np.number)):
        return f"{100 * float(value):.0f}"
    if column == "quantity" and value in QUANTITIES:
        return QUANTITIES[value].label
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        if abs(v) >= 100:
            return f"{v:.0f}"
        return f"{v:.3g}"
    return str(value)


def _html_table(frame: pd.DataFrame, *, max_rows: int | None = None, numeric_right: bool = True) -> str:
    if frame is None or frame.empty:
        return "<p class='none'>None.</p>"
    shown = frame if max_rows is None else frame.head(max_rows)
    head = "".join(f"<th>{html.escape(_HEADERS.get(c, c.replace('_', ' ')))}</th>" for c in shown.columns)
    rows = []
    for record in shown.itertuples(index=False):
        cells = []
        for col, value in zip(shown.columns, record):
            if col in ID_COLUMNS:
                cls = " class='id'"  # a pseudonym broken at its hyphen reads as two words
            elif numeric_right and isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
                cls = " class='num'"
            else:
                cls = ""
            cells.append(f"<td{cls}>{html.escape(_fmt(value, col))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    more = ""
    if max_rows is not None and len(frame) > max_rows:
        more = f"<p class='note'>First {max_rows} of {len(frame)} rows; all are in the report's tables.</p>"
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>{more}"


# One font family (DejaVu Sans, regular and bold) everywhere, margin boxes included:
# every further font is subset and embedded, which costs time and bytes.
_PDF_CSS = """
@page { size: A4; margin: 18mm 15mm 18mm 15mm; font-family: "DejaVu Sans", sans-serif;
        @bottom-center { content: counter(page) " / " counter(pages); font-size: 8pt; color: #555; }
        @top-right { content: string(edition); font-size: 7.5pt; color: #555; } }
html, body { font-family: "DejaVu Sans", sans-serif; font-size: 9pt; color: #222; line-height: 1.35; }
h1 { font-size: 18pt; margin: 0 0 4pt 0; }
h2 { font-size: 12.5pt; margin: 14pt 0 4pt 0; border-bottom: 0.6pt solid #999; page-break-after: avoid; }
p.edition { font-weight: bold; color: #7d3c98; }
span.running { string-set: edition content(); display: none; }
table { border-collapse: collapse; width: 100%; margin: 4pt 0 6pt 0; font-size: 7pt; }
th, td { border: 0.4pt solid #bbb; padding: 1.5pt 3pt; vertical-align: top; }
th { background: #eee; text-align: left; }
td.num { text-align: right; }
td.id { white-space: nowrap; }
thead { display: table-header-group; }
tr { page-break-inside: avoid; }
img { max-width: 85%; max-height: 120mm; }
figure { margin: 6pt 0; page-break-inside: avoid; }
figcaption, p.note { font-size: 7.5pt; color: #555; }
code { font-family: "DejaVu Sans", sans-serif; font-size: 7.5pt; color: #444; }
"""


def _drl_display(drl: pd.DataFrame) -> pd.DataFrame:
    """The DRL table as the PDF shows it: quantity with its unit, the interval in one column."""
    out = pd.DataFrame({"exam_code": drl["exam_code"], "exam_name": drl.get("exam_name", "")})
    out["quantity [unit]"] = [
        f"{QUANTITIES[q].label} [{u}]" if q in QUANTITIES else f"{q} [{u}]" for q, u in zip(drl["quantity"], drl["unit"])
    ]
    for col in ("n_facilities", "n_exams", "p50", "p75"):
        if col in drl.columns:
            out[col] = drl[col]
    if {"p75_ci_low", "p75_ci_high"} <= set(drl.columns):
        out["P75 95 % CI*"] = [
            "" if pd.isna(lo) or pd.isna(hi) else f"{_fmt(lo, 'p')}–{_fmt(hi, 'p')}"
            for lo, hi in zip(drl["p75_ci_low"], drl["p75_ci_high"])
        ]
    for col in ("current_drl", "drl_edition", "p75_to_drl", "share_facilities_above_drl"):
        if col in drl.columns:
            out[col] = drl[col]
    return out


def _alerts_html(alerts: pd.DataFrame | None) -> str:
    """The alerts as the PDF shows them: facilities above the DRL, then data sources."""
    if alerts is None or alerts.empty:
        return "<p>Alerts: none.</p>"
    parts = []
    facility = alerts[alerts["alert"] == "facility_above_drl"] if "alert" in alerts else alerts.iloc[0:0]
    if len(facility):
        cols = [c for c in ("data_source", "facility_id", "exam_code", "quantity", "unit", "years",
                            "facility_medians", "drl", "drl_edition") if c in facility.columns]
        parts.append("<p>Facilities above the current DRL in several of the years they reported "
                     "(years above, and the facility's median per year in the row's unit):</p>")
        parts.append(_html_table(facility[cols], max_rows=60))
    other = alerts.drop(facility.index)
    if len(other):
        cols = [c for c in ("alert", "data_source", "n_implausible", "n_values", "share_implausible")
                if c in other.columns]
        parts.append("<p>Data sources with a large share of implausible dose values:</p>")
        parts.append(_html_table(other[cols], max_rows=60))
    return "".join(parts)


def _empty_drl_reason(tables: Mapping[str, pd.DataFrame]) -> str:
    """Why the run's DRL table is empty, from the report's parameters table."""
    params = tables.get("parameters")
    given = {}
    if params is not None and {"parameter", "value"} <= set(params.columns):
        given = dict(zip(params["parameter"], params["value"]))
    n = given.get("min_per_facility")
    return empty_table_reason(pd.DataFrame(), {"min_per_facility": n} if n else None)


def report_html(
    tables: Mapping[str, pd.DataFrame],
    figures: Mapping[str, Path],
    *,
    title: str,
    survey: str,
    years: str,
    edition: str,
    version: str = "",
) -> str:
    """The report as one HTML document (figures referenced by file name).

    Parameters
    ----------
    tables : mapping of str to DataFrame
        As :func:`build_report_tables` (or :func:`pseudonymise_tables`) returns.
    figures : mapping of str to Path
        As :func:`make_figures` returns.
    title, survey, years : str
        Shown on the first page; ``years`` ``""`` reads "all stored years".
    version : str
        The run's version, shown on the first page.
    edition : str
        One line naming the edition (identified or pseudonymised).

    Returns
    -------
    str
    """
    e = html.escape

    def fig(kind: str, caption: str) -> str:
        if kind not in figures:
            return ""
        return f"<figure><img src='{e(Path(figures[kind]).name)}'><figcaption>{e(caption)}</figcaption></figure>"

    summary = tables.get("summary", pd.DataFrame(columns=["item", "value"]))
    drl = tables.get("drl")
    parts = [
        f"<h1>{e(title)}</h1>",
        f"<p>Survey <b>{e(survey or '—')}</b> · years {e(years or 'all stored')}"
        + (f" · run {e(version)}" if version else "") + "</p>",
        f"<span class='running'>{e(edition.split(':')[0])} · {e(survey)}</span>",
        f"<p class='edition'>{e(edition)}</p>",
        "<h2>1 Summary</h2>",
        _html_table(summary),
    ]
    parts.append("<h2>2 Proposed DRLs against the current DRLs</h2>")
    if drl is not None and drl.empty:
        parts.append(f"<p>No proposed DRL: {e(_empty_drl_reason(tables))}.</p>")
    elif drl is not None:
        parts.append(
            "<p>One row per exam code and dose quantity. P75 of the facility medians is the proposed DRL and P50 "
            "the achievable dose; doses are in the row's unit. *The 95 % intervals are percentile bootstrap "
            "intervals that resample facilities: this project's addition, not prescribed by any authority.</p>"
        )
        parts.append(fig("ratio", "P75 of this survey divided by the current DRL; red: above the DRL."))
        parts.append(_html_table(_drl_display(drl)))
    else:
        parts.append("<p>This run has no DRL table.</p>")
    parts.append("<h2>3 Share of exams above the current DRL, by year</h2>")
    share = tables.get("share_above")
    none_by_year = (
        "<p>No exam code has a facility with enough exams in any one year.</p>" if share is not None and share.empty
        else "<p>This run has no DRL table by year.</p>"
    )
    parts.append(fig("heatmap", "Each cell: exams of one exam code and quantity in one year whose dose exceeds "
                     "the current DRL.") or none_by_year)
    parts.append("<h2>4 Outliers, data quality and alerts</h2>")
    if "outliers_by_reason" in tables or "alerts" in tables:
        parts.append("<p>Dose outliers (values far from their exam or their facility; suspected unit slips "
                     "named) by reason:</p>")
        outliers = tables.get("outliers_by_reason")
        parts.append(_html_table(outliers) if outliers is not None and len(outliers) else "<p>None.</p>")
        if "data_quality_by_issue" in tables:
            quality = tables["data_quality_by_issue"]
            parts.append("<p>Data-quality findings (exam codes the catalogue does not know, values flagged at "
                         "ingest, values that are not positive, CT values without a phantom) by issue; "
                         "they are listed value by value in <code>data_quality.csv</code>:</p>")
            parts.append(_html_table(quality) if len(quality) else "<p>None.</p>")
        parts.append(_alerts_html(tables.get("alerts")))
    else:
        parts.append("<p>This run has no outlier analysis.</p>")
    parts.append("<h2>5 Clusters of exam codes and data sources</h2>")
    if "cluster_sizes" in tables:
        parts.append(
            "<p>Exam codes are grouped by their dose/DRL profile over the years, data sources (medical bodies) "
            "by the dispersion of their dose/DRL (KMeans with a fixed seed; see notebook 04).</p>"
        )
        parts.append(fig("clusters", "Members per cluster."))
        parts.append(_html_table(tables.get("cluster_sizes")))
        if "exam_clusters" in tables:
            cols = [c for c in ("exam_code", "exam_name", "cluster") if c in tables["exam_clusters"].columns]
            parts.append(_html_table(tables["exam_clusters"][cols], max_rows=80))
        parts.append(fig("sources", "Median dose/DRL of each data source's values, coloured by its cluster."))
        if "source_clusters" in tables:
            cols = [c for c in ("data_source", "cluster", "median_dose_to_drl", "n_values", "n_exam_codes")
                    if c in tables["source_clusters"].columns]
            parts.append(_html_table(tables["source_clusters"][cols]))
    else:
        parts.append("<p>This run has no clustering.</p>")
    parts.append("<h2>6 Method and parameters</h2>")
    parts.append(
        "<p>A facility is a pair (data source, facility ID). Per exam code and dose quantity, each facility with "
        "enough exams contributes its median; the DRL is the 75th percentile of these medians (ICRP 135). "
        "Values flagged implausible at ingest and CT values of the other CTDI phantom are left out and counted. "
        "The percentile method and the other choices are parameters of the run:</p>"
    )
    parts.append(_html_table(tables.get("parameters"), numeric_right=False))
    parts.append("<h2>7 Data provenance</h2>")
    parts.append(
        "<p>Every number in this report comes from the tables the run wrote; the run's manifest lists its inputs "
        "with their SHA-256, the parameters and the software, and <code>drl-analysis verify</code> reruns it.</p>"
    )
    parts.append(_html_table(tables.get("provenance"), numeric_right=False))
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{e(title)}</title><style>{_PDF_CSS}</style></head><body>{''.join(parts)}</body></html>"
    )


@contextlib.contextmanager
def _quiet_weasyprint():
    """Without the HarfBuzz subsetting library WeasyPrint falls back to fontTools (slower, same
    PDF) and says so for every font; that note is not the reader's concern."""
    import logging
    import warnings

    log = logging.getLogger("weasyprint")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*HarfBuzz.*")
            yield
    finally:
        log.setLevel(level)


def write_pdf(document: str, path: str | Path, *, base_dir: str | Path) -> Path:
    """Render an HTML document to PDF with WeasyPrint (no browser, no network).

    Parameters
    ----------
    document : str
        HTML; relative ``src`` resolve against ``base_dir``.
    path : str or Path
    base_dir : str or Path

    Returns
    -------
    Path
    """
    with _quiet_weasyprint():
        import weasyprint
        import weasyprint.urls

    if hasattr(weasyprint.urls, "URLFetcher"):  # WeasyPrint >= 70
        fetcher = weasyprint.urls.URLFetcher(allowed_protocols={"file", "data"}, fail_on_errors=True)
    else:  # pragma: no cover - older WeasyPrint takes a function

        def fetcher(url: str, *args, **kwargs):
            if not url.startswith(("file:", "data:")):
                raise ValueError(f"the report may not load {url}")
            return weasyprint.default_url_fetcher(url, *args, **kwargs)

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _quiet_weasyprint():
        weasyprint.HTML(string=document, base_url=str(Path(base_dir).resolve()) + "/", url_fetcher=fetcher).write_pdf(path)
    return path

"""The review queue: a page showing what was read where the reader doubts it, and corrections typed back in.

:func:`write_review` writes, for the reports marked ``needs_review``, a
self-contained HTML page (``index.html``: styles and images inline, no
network) with, for each field, the crop of the screen that was read, the
value read, its confidence and why it is doubtful; and ``corrections.csv``
with one row per doubtful field (``source_file, field, value_read,
corrected_value``) for the reviewer to fill. :func:`apply_corrections` puts
a filled file back: corrected values replace the readings, the ``source``
column says ``corrected``, and a report whose doubtful fields are all
corrected is no longer marked.
"""

from __future__ import annotations

import base64
import csv
import html
import io
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from ..core.errors import UserError
from ..core.numbers import decide_notation, notation_votes, parse_number
from .layouts import OCR_FIELDS, Layout
from .page import Page, Row

#: Columns of ``corrections.csv``.
CORRECTION_COLUMNS: tuple[str, ...] = ("source_file", "field", "value_read", "corrected_value")
#: Capital height of the crops shown, in pixels.
CROP_CAP = 28
#: Widest screen thumbnail shown, in pixels.
THUMBNAIL_WIDTH = 900


def report_images(page: Page | None, rows: dict[str, Row]) -> dict:
    """What the review page shows of one report: the value crops of its rows and a thumbnail of the screen.

    Parameters
    ----------
    page : Page or None
        The located screen (None when the image could not be read).
    rows : dict
        Output column -> its row on the screen.

    Returns
    -------
    dict
        ``{"fields": {column: PNG bytes}, "page": JPEG bytes or b""}``; crops
        are straightened, dark on light, capital height :data:`CROP_CAP`.
    """
    if page is None:
        return {"fields": {}, "page": b""}
    cap = page.char_px
    fields = {}
    if cap > 0:
        for column, row in rows.items():
            if row.value is None:
                continue
            box = (row.value[0] - 0.6 * cap, row.top - 0.35 * cap, row.value[1] + 0.6 * cap, row.bottom + 0.35 * cap)
            fields[column] = _encode(_stretch(page.crop(box, CROP_CAP)), ".png")
    gray = page.gray
    if gray.shape[1] > THUMBNAIL_WIDTH:
        scale = THUMBNAIL_WIDTH / gray.shape[1]
        gray = cv2.resize(gray, (THUMBNAIL_WIDTH, max(1, round(gray.shape[0] * scale))), interpolation=cv2.INTER_AREA)
    return {"fields": fields, "page": _encode(gray, ".jpg")}


def _stretch(crop: np.ndarray) -> np.ndarray:
    """Contrast stretched: the darkest ink black, the background white (the digits stay as they are)."""
    lo, hi = (float(v) for v in np.percentile(crop, (1, 75)))  # text covers far less than a quarter
    if hi - lo < 8:
        return crop
    return cv2.convertScaleAbs(crop, alpha=255.0 / (hi - lo), beta=-255.0 * lo / (hi - lo))


def _encode(image: np.ndarray, suffix: str) -> bytes:
    ok, data = cv2.imencode(suffix, image, [cv2.IMWRITE_JPEG_QUALITY, 80] if suffix == ".jpg" else [])
    return data.tobytes() if ok else b""


# --------------------------------------------------------------------------- the page

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; margin: 1.5rem; color: #1d2430; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin: 0 0 .3rem 0; }
.help { background: #f3f6fa; border-left: 4px solid #4c72b0; padding: .6rem 1rem; max-width: 60rem; }
section { border: 1px solid #d5dbe3; border-radius: 6px; padding: .8rem 1rem; margin: 1.2rem 0; }
.reason { color: #8a3b12; margin: .2rem 0 .6rem 0; }
table { border-collapse: collapse; }
th, td { text-align: left; padding: .3rem .6rem; border-bottom: 1px solid #e5e9ef; vertical-align: middle; }
th { font-size: .85rem; color: #556; }
tr.doubt { background: #fff4e0; } tr.doubt td.field { font-weight: 600; }
td.value { font-family: "DejaVu Sans Mono", monospace; white-space: nowrap; }
td.crop img { display: block; border: 1px solid #ccd; background: #fff; }
.raw { color: #667; font-size: .85rem; }
.missing { color: #a00; }
details { margin-top: .6rem; } details img { max-width: 100%; border: 1px solid #ccd; }
"""
_CHECK_SCRIPT = """
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var shown = images.filter(function (im) { return im.complete && im.naturalWidth > 0; }).length;
  document.body.setAttribute("data-images", images.length);
  document.body.setAttribute("data-images-shown", shown);
  if (shown < images.length) {
    var note = document.getElementById("broken");
    note.textContent = (images.length - shown) + " of " + images.length + " crops could not be shown.";
    note.hidden = false;
  }
});
"""


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _value_text(value, unit: str) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return '<span class="missing">not read</span>'
    return html.escape(f"{float(value):.9g} {unit}".strip())


def review_html(table: pd.DataFrame, layouts: dict[str, Layout] | None = None, title: str = "OCR review",
                max_reports: int | None = None, fragment: bool = False) -> str:
    """The review page of the reports in ``table`` marked ``needs_review``, as one HTML document.

    Parameters
    ----------
    table : pandas.DataFrame
        As returned by :func:`drl_analysis.ocr.batch.read_reports` with
        ``crops=True`` (without crops the page shows no images).
    layouts : dict, optional
        Layout name -> Layout, for the rows' labels and units; by default
        the shipped layouts.
    title : str
    max_reports : int, optional
        Show only the first marked reports (all by default).
    fragment : bool, default False
        Give the body only, with its styles, to be shown inside another page
        (a notebook); its headings are then h3 and h4, below the page's own.

    Returns
    -------
    str
        A self-contained document: styles, script and images inline, no
        link to anything outside it.
    """
    from .layouts import available_layouts, load_layout

    layouts = layouts or {name: load_layout(name) for name in available_layouts()}
    marked = table[table["needs_review"].astype(bool)]
    head = (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; "
            f"style-src 'unsafe-inline'; script-src 'unsafe-inline'\">"
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style><script>{_CHECK_SCRIPT}</script></head><body>")
    if fragment:
        head = f"<div class=\"drl-ocr-review\"><style>{_STYLE.replace('body {', '.drl-ocr-review {')}</style>"
    top, sub = ("h3", "h4") if fragment else ("h1", "h2")
    parts = [head,
             f"<{top}>{html.escape(title)}: {len(marked)} of {len(table)} reports to review</{top}>",
             "<p class=\"help\">Each report below was marked <code>needs_review</code>. Highlighted rows are the "
             "values the reader doubts: compare each crop with the value read, and type the right value, in the "
             "unit of the column (shown next to it), into <code>corrected_value</code> of "
             "<code>corrections.csv</code> in this folder. Leave it empty where the value read is right. Then read "
             "the images again with <code>drl-analysis ocr ... --corrections corrections.csv</code>: corrected "
             "values replace the readings, and a report whose doubtful values are all corrected is no longer "
             "marked.</p>",
             "<p id=\"broken\" class=\"reason\" hidden></p>"]
    for _, report in marked.head(max_reports).iterrows():
        parts.append(_report_section(report, layouts.get(str(report.get("layout") or "")), sub))
    if max_reports is not None and len(marked) > max_reports:
        parts.append(f"<p>... and {len(marked) - max_reports} more.</p>")
    parts.append("</div>" if fragment else "</body></html>\n")
    return "\n".join(parts)


def _report_section(report: pd.Series, layout: Layout | None, heading: str = "h2") -> str:
    crops = report.get("crops") if isinstance(report.get("crops"), dict) else {}
    images, reasons = crops.get("fields", {}), crops.get("reasons", {})
    doubtful = set(_review_fields(report))
    name = html.escape(str(report["source_file"]))
    out = [f"<section id=\"{name}\"><{heading}>{name}</{heading}>",
           f"<p class=\"reason\">{html.escape(str(report.get('reason') or 'needs review'))}</p>"]
    columns = list(layout.columns) if layout else [c for c in OCR_FIELDS if c in doubtful]
    if columns:
        out.append("<table><tr><th>Field</th><th>Crop read</th><th>Value read</th><th>Confidence</th>"
                   "<th>Why to review</th></tr>")
        for column in columns:
            field = layout.field(column) if layout else None
            label = html.escape(field.label) if field else ""
            unit = field.unit if field else ""
            image = images.get(column)
            crop = (f"<img alt=\"crop of {html.escape(column)}\" src=\"{_data_uri(image, 'image/png')}\">"
                    if image else '<span class="missing">row not found</span>')
            conf = report.get(f"conf_{column}")
            conf_text = "" if conf is None or pd.isna(conf) else f"{float(conf):.0f}"
            raw = html.escape(str(report.get(f"raw_{column}") or ""))
            why = reasons.get(column, "see above" if column in doubtful else "")
            why = html.escape(why[len(column) + 2:] if why.startswith(f"{column}: ") else why)
            out.append(f"<tr class=\"{'doubt' if column in doubtful else 'ok'}\"><td class=\"field\">{label}<br>"
                       f"<span class=\"raw\">{html.escape(column)}</span></td><td class=\"crop\">{crop}</td>"
                       f"<td class=\"value\">{_value_text(report.get(column), unit)}<br>"
                       f"<span class=\"raw\">read: {raw}</span></td><td>{conf_text}</td><td>{why}</td></tr>")
        out.append("</table>")
    if crops.get("page"):
        out.append(f"<details><summary>The whole screen</summary>"
                   f"<img alt=\"the whole screen of {name}, as read\" "
                   f"src=\"{_data_uri(crops['page'], 'image/jpeg')}\"></details>")
    out.append("</section>")
    return "\n".join(out)


def _review_fields(report: pd.Series) -> list[str]:
    text = report.get("review_fields")
    return [c.strip() for c in str(text).split(",") if c.strip()] if isinstance(text, str) else []


def corrections_template(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``corrections.csv``: one per doubtful field of each report marked ``needs_review``.

    ``corrected_value`` is left empty for the reviewer; values corrected
    before (``corrected_fields``) come first, with their corrected value, so
    that the file read back with the next run keeps them.
    """
    rows = []
    for _, report in table.iterrows():
        done = [c for c in str(report.get("corrected_fields") or "").split(", ") if c]
        for column in done:
            rows.append({"source_file": report["source_file"], "field": column, "value_read": "",
                         "corrected_value": f"{float(report[column]):.10g}"})
        if not report["needs_review"]:
            continue
        for column in _review_fields(report):
            if column in done:
                continue
            value = report.get(column)
            read = "" if value is None or pd.isna(value) else f"{float(value):.10g}"
            rows.append({"source_file": report["source_file"], "field": column, "value_read": read,
                         "corrected_value": ""})
    return pd.DataFrame(rows, columns=list(CORRECTION_COLUMNS))


def write_review(table: pd.DataFrame, folder: str | Path, layouts: dict[str, Layout] | None = None) -> Path:
    """Write the review page (``index.html``) and ``corrections.csv`` into ``folder``.

    Parameters
    ----------
    table : pandas.DataFrame
        As returned by :func:`drl_analysis.ocr.batch.read_reports` with ``crops=True``.
    folder : str or Path
        Created if missing; an existing ``corrections.csv`` is replaced.
    layouts : dict, optional
        Layout name -> Layout; by default the shipped layouts.

    Returns
    -------
    Path
        The page written.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    page = folder / "index.html"
    page.write_text(review_html(table, layouts), encoding="utf-8")
    corrections_template(table).to_csv(folder / "corrections.csv", index=False)
    return page


# --------------------------------------------------------------------------- corrections


def read_corrections(path: str | Path, table: pd.DataFrame) -> pd.DataFrame:
    """The corrections of a filled ``corrections.csv`` that apply to ``table``, checked.

    Comma- or semicolon-separated (as spreadsheet programs save it); numbers
    in the notation the file's numbers show (else English for a
    comma-separated file, German for a semicolon-separated one). Rows with
    an empty ``corrected_value`` correct nothing.

    Returns
    -------
    pandas.DataFrame
        ``source_file, field, corrected_value`` (float), one row per correction.

    Raises
    ------
    UserError
        If the file cannot be read, lacks a column, or any row names a file
        not among the images read, a field that is no output column, a value
        that is no number, or two values for one field; nothing is applied then.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"--corrections: {path} cannot be read ({exc})") from None
    delimiter = ";" if text.split("\n", 1)[0].count(";") > text.split("\n", 1)[0].count(",") else ","
    rows = list(csv.DictReader(io.StringIO(text), delimiter=delimiter))
    missing = {"source_file", "field", "corrected_value"} - set(rows[0] if rows else ())
    if missing:
        raise UserError(f"--corrections: {path.name} has no column {', '.join(sorted(missing))}; "
                        f"it needs {', '.join(CORRECTION_COLUMNS)}")
    files = set(table["source_file"].astype(str))
    columns = {c for c in table.columns if c in OCR_FIELDS} | _value_columns(table)
    integers = {c for c in columns if c in table and (table[c].dtype.kind in "iu" or str(table[c].dtype) == "Int64")}
    # The file's notation: the one its numbers show, else its separator's (a spreadsheet that saves
    # with semicolons writes decimal commas).
    typed_values = [(r.get(k) or "").strip() for r in rows for k in ("value_read", "corrected_value")]
    notation = decide_notation(*notation_votes(v for v in typed_values if v)) or ("de" if delimiter == ";" else "en")
    problems, found, seen = [], [], {}
    for line, r in enumerate(rows, start=2):
        source, field = (r.get("source_file") or "").strip(), (r.get("field") or "").strip()
        if source not in files:
            problems.append(f"line {line}: no image {source!r} among the images read")
        if field not in columns:
            problems.append(f"line {line}: {field!r} is no output column (one of {', '.join(sorted(columns))})")
        typed = (r.get("corrected_value") or "").strip()
        if not typed:
            continue
        try:
            parsed = parse_number(typed, notation)
        except ValueError:
            problems.append(f"line {line}: corrected_value {typed!r} is no number")
            continue
        if parsed.unit:
            problems.append(f"line {line}: corrected_value {typed!r} is not a plain number (write it without "
                            f"a unit, in the column's unit)")
            continue
        if field in integers and not float(parsed.value).is_integer():
            problems.append(f"line {line}: {field} is a count; {typed!r} is no whole number")
            continue
        if seen.setdefault((source, field), parsed.value) != parsed.value:
            problems.append(f"line {line}: a second, different value for {field} of {source}")
        found.append({"source_file": source, "field": field, "corrected_value": parsed.value})
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise UserError(f"--corrections: {path.name}: {shown}. Nothing was applied.")
    return pd.DataFrame(found, columns=["source_file", "field", "corrected_value"]).drop_duplicates()


def _value_columns(table: pd.DataFrame) -> set[str]:
    return {c[len("conf_"):] for c in table.columns if c.startswith("conf_")}


def apply_corrections(table: pd.DataFrame, path: str | Path) -> pd.DataFrame:
    """``table`` with the corrections of a filled ``corrections.csv`` applied (see :func:`read_corrections`).

    Corrected values replace the readings; ``source`` becomes ``corrected``
    and ``corrected_fields`` names them; a report whose doubtful fields
    (``review_fields``) are all corrected is no longer marked
    ``needs_review``, and its reason says what was corrected.

    Raises
    ------
    UserError
        See :func:`read_corrections`; nothing is applied then.
    """
    corrections = read_corrections(path, table)
    table = table.copy()
    if "source" not in table:
        table["source"] = "ocr"
    if "corrected_fields" not in table:
        table["corrected_fields"] = ""
    index = {name: i for i, name in zip(table.index, table["source_file"].astype(str))}
    for source, group in corrections.groupby("source_file", sort=False):
        i = index[source]
        for field, value in zip(group["field"], group["corrected_value"]):
            table.loc[i, field] = value
        done = [f for f in table.loc[i, "corrected_fields"].split(", ") if f] + list(group["field"])
        done = list(dict.fromkeys(done))
        table.loc[i, "corrected_fields"] = ", ".join(done)
        table.loc[i, "source"] = "corrected"
        doubtful = _review_fields(table.loc[i])
        if table.loc[i, "needs_review"] and doubtful and set(doubtful) <= set(done):
            table.loc[i, "needs_review"] = False
            table.loc[i, "reason"] = f"corrected by hand: {', '.join(done)} (read: {table.loc[i, 'reason']})"
    return table

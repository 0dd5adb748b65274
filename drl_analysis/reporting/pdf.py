"""The annual report as HTML and CSS, rendered to PDF by WeasyPrint (no browser,
no LaTeX, no network): a title page, a table of contents with page numbers,
and the sections of :mod:`drl_analysis.reporting.document`."""

from __future__ import annotations

import contextlib
import html
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from .document import SECTIONS, Document, ReportContext, build_document

# One font family (DejaVu Sans, regular and bold) everywhere, margin boxes included:
# every further font is subset and embedded, which costs time and bytes.
_PDF_CSS = """
@page { size: A4; margin: 18mm 15mm 18mm 15mm; font-family: "DejaVu Sans", sans-serif;
        @bottom-center { content: counter(page) " / " counter(pages); font-size: 8pt; color: #555; }
        @top-right { content: string(edition); font-size: 7.5pt; color: #555; } }
@page title { @bottom-center { content: none; } @top-right { content: none; } }
html, body { font-family: "DejaVu Sans", sans-serif; font-size: 9pt; color: #222; line-height: 1.4; }
section.title { page: title; page-break-after: always; padding-top: 45mm; }
section.title h1 { font-size: 22pt; line-height: 1.2; margin: 0 0 10mm 0; }
section.title p { font-size: 11pt; margin: 0 0 3mm 0; }
section.title p.edition { font-size: 10pt; margin-top: 12mm; }
section.title p.small { font-size: 8.5pt; color: #555; }
nav.toc { page-break-after: always; }
nav.toc h2 { border: none; }
nav.toc ol { list-style: none; padding: 0; margin: 0; }
nav.toc li { margin: 2pt 0; }
nav.toc li.sub { margin-left: 8mm; }
nav.toc a { color: #222; text-decoration: none; }
nav.toc a::after { content: leader('.') target-counter(attr(href), page); }
h1 { font-size: 18pt; margin: 0 0 4pt 0; }
h2 { font-size: 13pt; margin: 16pt 0 5pt 0; border-bottom: 0.6pt solid #999; page-break-after: avoid; }
h3 { font-size: 10pt; margin: 10pt 0 3pt 0; page-break-after: avoid; }
h2.part { page-break-before: always; }
p { margin: 0 0 5pt 0; text-align: left; }
p.edition { font-weight: bold; color: #7d3c98; }
span.running { string-set: edition content(); display: none; }
ul { margin: 0 0 5pt 0; padding-left: 5mm; }
li { margin: 0 0 3pt 0; }
figure { margin: 6pt 0 8pt 0; }
figure.figure { page-break-inside: avoid; }
figure.table > figcaption, figure.figure > figcaption { font-size: 8pt; color: #333; margin: 2pt 0 3pt 0; }
figure.table { margin: 4pt 0 10pt 0; }
div.table-scroll { max-height: none !important; overflow: visible !important; }
table { border-collapse: collapse; width: 100%; font-size: 7pt; }
th, td { border: 0.4pt solid #bbb; padding: 1.5pt 3pt; vertical-align: top; }
th { background: #eee; text-align: left; }
td.num { text-align: right; white-space: nowrap; }
th.c-exam_name, td.c-exam_name { min-width: 20mm; }
th.c-status_note, td.c-status_note { min-width: 35mm; }
td.c-facility_medians { min-width: 28mm; }
td.id { white-space: nowrap; }
thead { display: table-header-group; }
tr { page-break-inside: avoid; }
img { max-width: 100%; max-height: 125mm; image-resolution: 150dpi; }
figure.tall img { max-height: 235mm; }
figcaption { break-after: avoid; page-break-after: avoid; }
p.table-note, p.empty-table { font-size: 7.5pt; color: #555; }
p.empty-table { font-size: 9pt; color: #222; font-style: italic; }
code { font-family: "DejaVu Sans", sans-serif; font-size: 7.5pt; color: #444; }
"""


def _title_page(c: ReportContext) -> str:
    e = html.escape
    years = f"Survey years {c.years}" if "-" in c.years or "," in c.years else f"Survey year {c.years}"
    lines = [f"<h1>{e(c.title)}</h1>", f"<p>Survey <b>{e(c.survey or '–')}</b></p>",
             f"<p>{e(years) if c.years else 'Survey years: all stored'}</p>"]
    if c.institution:
        lines.append(f"<p>{e(c.institution)}</p>")
    if c.authors:
        lines.append(f"<p>{e(c.authors)}</p>")
    if c.date:
        lines.append(f"<p>{e(c.date)}</p>")
    lines.append(f"<p class='edition'>{e(c.edition)}</p>")
    if c.version:
        lines.append(f"<p class='small'>Run {e(c.version)}; made with drl-analysis from the run's own tables.</p>")
    return "<section class='title'>" + "".join(lines) + "</section>"


def _toc(doc: Document) -> str:
    items = []
    results_done = False
    for section in doc.sections:
        if section.number.startswith("3.") and not results_done:
            items.append("<li><a href='#sec-results'>3 Results</a></li>")
            results_done = True
        sub = " class='sub'" if "." in section.number else ""
        items.append(f"<li{sub}><a href='#sec-{section.key}'>{html.escape(section.number)} "
                     f"{html.escape(section.title)}</a></li>")
    return "<nav class='toc'><h2>Contents</h2><ol>" + "".join(items) + "</ol></nav>"


def document_html(doc: Document) -> str:
    """The whole report as one HTML document for WeasyPrint."""
    e = html.escape
    c = doc.context
    parts = [f"<span class='running'>{e(c.edition.split(':')[0])} · {e(c.survey)}</span>", _title_page(c), _toc(doc)]
    results_done = False
    for section in doc.sections:
        if section.number.startswith("3.") and not results_done:
            parts.append("<h2 id='sec-results' class='part'>3 Results</h2>")
            results_done = True
        level = "h3" if "." in section.number else "h2"
        cls = " class='part'" if section.number in ("4", "A") else ""
        if level == "h3":
            parts.append(f"<h3 id='sec-{section.key}' style='font-size:11.5pt'>{e(section.number)} {e(section.title)}</h3>")
        else:
            parts.append(f"<h2 id='sec-{section.key}'{cls}>{e(section.number)} {e(section.title)}</h2>")
        parts.append(section.body)
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{e(c.title)}</title><style>{_PDF_CSS}</style></head><body>{''.join(parts)}</body></html>"
    )


def report_html(
    tables: Mapping[str, pd.DataFrame],
    figures: Mapping[str, Path],
    *,
    title: str,
    survey: str,
    years: str,
    edition: str,
    version: str = "",
    date: str = "",
    institution: str = "",
    authors: str = "",
    pseudonymised: bool = False,
) -> str:
    """The report as one HTML document (figures referenced by file name).

    Parameters
    ----------
    tables : mapping of str to DataFrame
        As :func:`build_report_tables` (or :func:`pseudonymise_tables`) returns.
    figures : mapping of str to Path
        As :func:`make_figures` returns.
    title, survey : str
        Shown on the title page.
    years : str
        The survey years the numbers come from (``"2022-2024"``).
    edition : str
        One line naming the edition (identified or pseudonymised).
    version, date, institution, authors : str
        The run's version and date (from its manifest), who publishes the
        report and who wrote it; each shown on the title page when given.
    pseudonymised : bool
        The tables are the pseudonymised edition (the limitations say so).

    Returns
    -------
    str
    """
    context = ReportContext(title=title, survey=survey, years=years, edition=edition, pseudonymised=pseudonymised,
                            version=version, date=date, institution=institution, authors=authors)
    doc = build_document(tables, {k: Path(v).name for k, v in figures.items()}, context)
    return document_html(doc)


#: The section titles of the report, for tests and the pages.
SECTION_TITLES = [title for _, title, _ in SECTIONS]


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

"""The publication pages of a run: ``html/pseudonymised/``, built from the
pseudonymised edition of the annual report only.

The notebook pages in ``html/`` show the identified data (for internal use).
These pages show the same results as the pseudonymised PDF: its tables, read
back from the CSV files the report wrote, and its figures drawn again from
them as SVG (text kept as text). Data sources and facilities appear only as
keyed pseudonyms, input files by number and SHA-256; tables are ordered by
pseudonym or by value. Before anything is left on disk every page and figure
is searched for the run's data sources, facility IDs, input file names and
machine paths (:func:`drl_analysis.reporting.pseudonyms.find_leaks`); a
finding removes the pages and raises.
"""

from __future__ import annotations

import html
import shutil
import sqlite3
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from ..core.paths import PROJECT_ROOT
from .document import SECTIONS, Document, ReportContext, build_document
from .figures import make_figures
from .format import format_value
from .pseudonyms import Identifiers, find_leaks
from .tables import PSEUDONYMISED_DIR, REPORT_NAME, drl_status

#: The folder of the publication pages under ``html/``.
PUBLIC_DIR = "pseudonymised"

#: The pages: file stem, title in the navigation.
PAGES: tuple[tuple[str, str], ...] = (
    ("index", "Overview"),
    ("drl", "DRLs and typical values"),
    ("analysis", "Outliers, alerts and clusters"),
    ("methods", "Methods, limitations and data"),
)

_PREFIX = f"{REPORT_NAME}_pseudonymised"

PAGE_CSS = """
body{font-family:"DejaVu Sans",Helvetica,Arial,sans-serif;max-width:1100px;margin:1.5em auto;padding:0 1em;color:#222;
line-height:1.45}
h1{font-size:1.6em;margin:.3em 0}h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #ccc}h3{font-size:1.05em}
nav.pages{font-size:.95em;padding:.5em 0;border-bottom:1px solid #ddd}nav.pages a{margin-right:1.2em}
nav.pages a.here{font-weight:bold;color:#222;text-decoration:none}
p.edition{font-weight:bold;color:#7d3c98}
div.headline{background:#f4f1f8;border-left:4px solid #7d3c98;padding:.6em 1em;margin:1em 0}
div.headline ul{margin:.3em 0}
figure{margin:1em 0}figure.figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.9em;color:#333;margin:.3em 0}
table.drl-table{border-collapse:collapse;font-size:.85em}
table.drl-table td,table.drl-table th{border:1px solid #ddd;padding:.25em .5em;vertical-align:top}
table.drl-table th{background:#f3f3f3;position:sticky;top:0;text-align:left}
table.drl-table td.num{text-align:right;white-space:nowrap}table.drl-table td.id{white-space:nowrap}
p.table-note{font-size:.85em;color:#555}p.empty-table{font-style:italic}
footer{margin-top:3em;font-size:.85em;color:#555;border-top:1px solid #ddd;padding-top:.5em}
"""


def read_edition_tables(folder: str | Path, prefix: str = _PREFIX) -> dict[str, pd.DataFrame]:
    """The report's tables of one edition, read back from its CSV files (``<prefix>_<name>.csv``)."""
    text = {"data_source": str, "facility_id": str, "exam_code": str, "exam_name": str, "value": str}
    out = {}
    for path in sorted(Path(folder).glob(f"{prefix}_*.csv")):
        name = path.stem[len(prefix) + 1:]
        dtype = {k: v for k, v in text.items() if not (k == "value" and name not in ("parameters", "provenance"))}
        out[name] = pd.read_csv(path, dtype=dtype, keep_default_na=True)
    if "summary" in out and "value" in out["summary"]:
        out["summary"]["value"] = pd.to_numeric(out["summary"]["value"], errors="coerce")
    return out


def run_identifiers(version_dir: str | Path, manifest: Mapping) -> Identifiers:
    """The names the publication pages must not contain: every data source and
    facility ID stored in the run's database or named in its tables, the input
    file names, and the folders of this machine."""
    version_dir = Path(version_dir)
    sources: set[str] = set()
    facilities: set[str] = set()
    db = version_dir / "drl.sqlite"
    if db.is_file():
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            for table in ("exposures", "submissions", "sheets"):
                try:
                    sources |= {r[0] for r in con.execute(f"SELECT DISTINCT data_source FROM {table}") if r[0]}
                except sqlite3.Error:
                    continue
            try:
                facilities |= {str(r[0]) for r in con.execute("SELECT DISTINCT facility_id FROM exposures") if r[0]}
            except sqlite3.Error:
                pass
        finally:
            con.close()
    ingest = next(iter(sorted((version_dir / "tables").rglob("ingest_by_source_year.csv"))), None)
    if ingest is not None:
        sources |= set(pd.read_csv(ingest, dtype=str)["data_source"].dropna())
    files: set[str] = set()
    for f in manifest.get("inputs", {}).get("files", []):
        name = Path(str(f.get("path", ""))).name
        files |= {name, Path(name).stem}
    folder = str(manifest.get("inputs", {}).get("folder", ""))
    paths = {str(PROJECT_ROOT), str(Path.home()), str(version_dir.resolve().parent)}
    if folder.startswith("/"):
        paths.add(folder)
    return Identifiers(sources=tuple(sorted(sources)), facility_ids=tuple(sorted(facilities)),
                       file_names=tuple(sorted(files)), paths=tuple(sorted(p for p in paths if p not in ("/", ""))))


def _nav(current: str) -> str:
    links = []
    for stem, title in PAGES:
        cls = " class='here' aria-current='page'" if stem == current else ""
        links.append(f"<a href='{stem}.html'{cls}>{html.escape(title)}</a>")
    back = "" if current == "index" else "<a href='index.html'>← Back to the overview</a>"
    return f"<nav class='pages' aria-label='Pages of this edition'>{back}{''.join(links)}</nav>"


def _headline(tables: Mapping[str, pd.DataFrame]) -> str:
    items = []
    drl = tables.get("drl")
    if drl is not None and len(drl):
        status = drl_status(drl)
        proposed = drl[status == "proposed"]
        if len(proposed):
            n = proposed["n_facilities"]
            items.append(f"{len(proposed)} proposed DRLs (P75), resting on {int(n.min())} to {int(n.max())} "
                         "facilities" if n.min() != n.max() else
                         f"{len(proposed)} proposed DRLs (P75), resting on {int(n.min())} facilities")
            above = proposed[(proposed["p75"] > proposed["current_drl"])]
            with_drl = int(proposed["current_drl"].notna().sum())
            items.append(f"{len(above)} of the {with_drl} proposed DRLs with a current DRL lie above it")
        else:
            items.append("no proposed DRL: too few facilities for any exam code")
        typical = int((status == "typical_value_only").sum())
        if typical:
            items.append(f"{typical} exam codes and quantities with a typical value only (too few facilities)")
        none = int(status.isin(["no_facility_with_enough_exams", "no_value_counted"]).sum())
        if none:
            items.append(f"{none} exam codes and quantities without a facility that counts")
    summary = tables.get("summary")
    if summary is not None and len(summary):
        given = dict(zip(summary["item"], summary["value"]))
        for key, text in (("alerts", "alerts"), ("outlying values", "outlying dose values"),
                          ("exposure rows stored", "exposures in the survey")):
            if key in given and pd.notna(given[key]):
                items.append(f"{format_value(given[key], 'count')} {text}")
    if not items:
        return ""
    return ("<div class='headline'><b>Headline results</b><ul>"
            + "".join(f"<li>{html.escape(i)}</li>" for i in items) + "</ul></div>")


def _page(doc: Document, stem: str, title: str, body: str) -> str:
    c = doc.context
    e = html.escape
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{e(title)} · {e(c.survey)} · pseudonymised edition</title><style>{PAGE_CSS}</style></head><body>"
        f"{_nav(stem)}<main><h1>{e(title)}</h1>"
        f"<p>Survey <b>{e(c.survey)}</b> · {e('years ' + c.years if c.years else 'all stored years')}"
        + (f" · run of {e(c.date)}" if c.date else "") + "</p>"
        f"<p class='edition'>{e(c.edition)}</p>{body}</main>"
        f"<footer>{_nav(stem)}<p>Made by drl-analysis from the pseudonymised tables of the run; every number "
        "traces to a table published with it.</p></footer></body></html>"
    )


def _sections(doc: Document, page: str) -> str:
    parts = []
    for section in doc.sections:
        if section.page != page:
            continue
        parts.append(f"<section id='sec-{section.key}'><h2>{html.escape(section.number)} "
                     f"{html.escape(section.title)}</h2>{section.body}</section>")
    return "".join(parts)


def write_public_pages(
    version_dir: str | Path,
    manifest: Mapping,
    *,
    out_dir: str | Path | None = None,
    title: str = "Diagnostic reference levels",
    identifiers: Identifiers | None = None,
) -> list[Path]:
    """Write the publication pages of a run from its pseudonymised report.

    Parameters
    ----------
    version_dir : str or Path
        The run's folder, holding ``report/pseudonymised/``.
    manifest : mapping
        The run's manifest (survey, years, date, inputs).
    out_dir : str or Path, optional
        Default ``<version_dir>/html/pseudonymised``.
    title : str
        Title of the overview page.
    identifiers : Identifiers, optional
        What the pages must not contain; default :func:`run_identifiers`.

    Returns
    -------
    list of Path
        The files written; empty when the run has no pseudonymised report.

    Raises
    ------
    RuntimeError
        When a page or figure would contain an identifying name (the pages are removed).
    """
    from .report import PSEUDONYMISED_EDITION

    version_dir = Path(version_dir)
    edition_dir = version_dir / "report" / PSEUDONYMISED_DIR
    if not any(edition_dir.glob(f"{_PREFIX}_*.csv")):
        return []
    out = Path(out_dir) if out_dir else version_dir / "html" / PUBLIC_DIR
    if out.exists():
        shutil.rmtree(out)
    (out / "figures").mkdir(parents=True)
    tables = read_edition_tables(edition_dir)
    figures = make_figures(tables, out / "figures", prefix="figure", fmt="svg")
    params = tables.get("parameters")
    given = {}
    if params is not None:
        own = params[params["from"] == "report"] if "from" in params else params
        given = dict(zip(own["parameter"], own["value"].astype(str)))
    context = ReportContext(
        title=title, survey=str(manifest.get("survey") or given.get("survey", "")),
        years=str(given.get("years", "")) if str(given.get("years", "")) not in ("nan", "all stored") else "",
        edition=PSEUDONYMISED_EDITION,
        pseudonymised=True, version=str(manifest.get("version", "")),
        date=str(manifest.get("started_utc") or "")[:10],
    )
    doc = build_document(tables, {k: f"figures/{Path(p).name}" for k, p in figures.items()}, context)
    pdf = sorted(edition_dir.glob("*.pdf"))
    written = []
    for stem, page_title in PAGES:
        body = _sections(doc, stem)
        if stem == "index":
            links = "".join(f"<li><a href='{s}.html'>{html.escape(t)}</a></li>" for s, t in PAGES[1:])
            report_link = (f"<li><a href='../../report/{PSEUDONYMISED_DIR}/{pdf[0].name}'>The annual report "
                           "(PDF, pseudonymised edition)</a></li>" if pdf else "")
            body = (_headline(tables)
                    + "<p>These pages are the <b>pseudonymised edition</b> of the run, for publication: they show "
                      "the results of the annual report with data sources (S-…) and facilities (F-…) replaced by "
                      "keyed pseudonyms and input files by number only. The run's identified edition (one page "
                      "per notebook) names data sources, facilities and files; it is for internal use and "
                      "no part of a publication.</p>"
                    + f"<ul>{links}{report_link}</ul>" + body)
            page_title = title
        path = out / f"{stem}.html"
        path.write_text(_page(doc, stem, page_title, body), encoding="utf-8")
        written.append(path)
    written += sorted((out / "figures").glob("*.svg"))
    ids = identifiers if identifiers is not None else run_identifiers(version_dir, manifest)
    leaks = find_leaks(((p.relative_to(out).as_posix(), p.read_text(encoding="utf-8")) for p in written), ids)
    if leaks:
        shutil.rmtree(out)
        raise RuntimeError("the pseudonymised pages would name what they must not: " + "; ".join(leaks[:20]))
    return written


#: The titles of the sections each page holds, for the index of the identified pages.
PAGE_SECTIONS = {stem: [t for _, t, p in SECTIONS if p == stem] for stem, _ in PAGES}

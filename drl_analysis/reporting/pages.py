"""HTML pages of a run: one page per executed notebook (code hidden, plotly
figures interactive and offline) and the index page of the run."""

from __future__ import annotations

import base64
import html
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

# Plotly figures in executed notebooks carry this MIME type (the runner sets
# PLOTLY_RENDERER=plotly_mimetype for its kernels).
PLOTLY_MIME = "application/vnd.plotly.v1+json"


# ---------------------------------------------------------------------------
# HTML pages of executed notebooks
# ---------------------------------------------------------------------------

# The lab template without the scripts it fetches from a CDN (require.js,
# MathJax, mermaid): the pages must work offline and need none of them.
_OFFLINE_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{% block extra_css %}<style>body{max-width:1100px;margin:auto}PAGE_CSS</style>{% endblock extra_css %}
"""

# Tables and figures written by drl_analysis.reporting.format, and the navigation.
_NOTEBOOK_CSS = (
    "nav.run-nav{font-family:sans-serif;font-size:.95em;padding:.6em 1em;border-bottom:1px solid #ddd}"
    "nav.run-nav a{margin-right:1.2em}"
    "p.edition-note{font-family:sans-serif;font-weight:bold;color:#7d3c98;padding:0 1em}"
    "figure.figure,figure.table{margin:1em 0}figure.figure img{max-width:100%;height:auto}"
    "figure figcaption{font-size:.92em;color:#333;margin:.3em 0}"
    "table.drl-table{border-collapse:collapse;font-size:.85em}"
    "table.drl-table td,table.drl-table th{border:1px solid #ddd;padding:.2em .35em;vertical-align:top;"
    "text-align:left !important}"
    "table.drl-table th{background:#f3f3f3;position:sticky;top:0}"
    "table.drl-table td.num{text-align:right !important;white-space:nowrap}table.drl-table td.id{white-space:nowrap}"
    "p.table-note{font-size:.85em;color:#555}p.empty-table{font-style:italic}"
)



def _plotly_html(figure: dict, div_id: str, include_plotlyjs: bool) -> str:
    import plotly.io as pio

    return pio.to_html(
        figure,
        include_plotlyjs=include_plotlyjs,
        full_html=False,
        div_id=div_id,
        validate=False,
        config={"displaylogo": False, "responsive": True},
    )


def inline_plotly(nb, name: str = "fig"):
    """Replace each plotly figure output of ``nb`` by offline HTML.

    The first figure carries plotly.js (about 4 MB) inline, later ones use it.

    Parameters
    ----------
    nb : nbformat.NotebookNode
        Modified in place.
    name : str
        Prefix of the figures' HTML ids (kept deterministic).

    Returns
    -------
    int
        Number of plotly figures.
    """
    n = 0
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data")
            if not data or PLOTLY_MIME not in data:
                continue
            figure = data[PLOTLY_MIME]
            if isinstance(figure, str):
                figure = json.loads(figure)
            n += 1
            markup = _plotly_html(figure, f"{name}-plotly-{n}", include_plotlyjs=n == 1)
            meta = (output.get("metadata") or {}).get(PLOTLY_MIME, {}).get("drl_analysis")
            if meta:
                label, _, caption = meta["caption"].partition(". ")
                markup = (f"<figure class='figure' role='group' aria-label='{html.escape(meta['alt'], quote=True)}'>"
                          f"{markup}<figcaption><b>{html.escape(label)}.</b> {html.escape(caption)}</figcaption>"
                          "</figure>")
            output["data"] = {"text/html": markup}
    return n


def _is_heading(cell) -> bool:
    lines = [line for line in cell.source.splitlines() if line.strip()]
    return cell.cell_type == "markdown" and bool(lines) and all(line.lstrip().startswith("#") for line in lines)


def _visible(cell) -> bool:
    if cell.cell_type == "markdown":
        return bool(cell.source.strip())
    return any(o.get("output_type") in ("display_data", "execute_result", "stream", "error") for o in cell.get("outputs", []))


def drop_empty_sections(nb) -> int:
    """Remove headings whose section shows nothing on a page without code (e.g. "Parameters").

    A heading cell (a markdown cell of headings only) goes when no cell up to
    the next markdown cell shows anything. Returns how many went.
    """
    keep, dropped = [], 0
    cells = nb.cells
    for i, cell in enumerate(cells):
        if _is_heading(cell):
            following = []
            for later in cells[i + 1:]:
                if later.cell_type == "markdown":
                    break
                following.append(later)
            if not any(_visible(c) for c in following):
                dropped += 1
                continue
        keep.append(cell)
    nb.cells = keep
    return dropped


_NO_ALT = "No description has been provided for this image"


def _alt_texts(body: str) -> str:
    """Give each figure without a description one from its section ("Figure of the section ...")."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(body, features="html.parser")
    changed = False
    for img in soup.find_all("img"):
        if img.get("alt") and img.get("alt") != _NO_ALT:
            continue
        heading = img.find_previous(["h1", "h2", "h3"])
        title = heading.get_text(" ", strip=True).rstrip("¶").strip() if heading else "this page"
        img["alt"] = f"Figure of the section “{title}” (see the text around it)"
        changed = True
    return str(soup) if changed else body


def _quiet_log(name: str):
    import logging

    log = logging.getLogger(name)
    log.setLevel(logging.ERROR)
    return log


def notebook_html(notebook: str | Path, out: str | Path, *, title: str | None = None, navigation: bool = True) -> Path:
    """One HTML page of an executed notebook, code hidden, working offline.

    Parameters
    ----------
    notebook : str or Path
        An executed ``.ipynb``.
    out : str or Path
        The page to write.
    title : str, optional
        Page title; default the notebook's file name.
    navigation : bool, default True
        Links back to the run's index and to the pseudonymised edition, and a
        line saying the page is the identified edition.

    Headings whose section shows nothing without its code (the parameters)
    are left out; figures without a description get one from their section.

    Returns
    -------
    Path
        ``out``.
    """
    import jinja2
    import nbformat
    from nbconvert import HTMLExporter

    notebook, out = Path(notebook), Path(out)
    nb = nbformat.read(notebook, as_version=4)
    drop_empty_sections(nb)
    inline_plotly(nb, notebook.stem)
    template = _OFFLINE_TEMPLATE.replace("PAGE_CSS", _NOTEBOOK_CSS)
    exporter = HTMLExporter(
        # nbconvert notes each figure without alternative text (and then gives it one); quiet.
        log=_quiet_log("drl_analysis.reporting.report.nbconvert"),
        extra_loaders=[jinja2.DictLoader({"offline.html.j2": template})],
        template_file="offline.html.j2",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title or notebook.stem}})
    body = _alt_texts(body)
    if navigation:
        nav = ("<nav class='run-nav' aria-label='Pages of this run'><a href='index.html'>← Index of this run</a>"
               "<a href='pseudonymised/index.html'>Pseudonymised edition (for publication)</a></nav>")
        note = ("<p class='edition-note'>Identified edition: this page names data sources, facilities and input "
                "files. For internal use.</p>")
        start = body.index(">", body.index("<body")) + 1
        body = body[:start] + nav + note + body[start:]
        body = body.replace("</body>", nav + "</body>", 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(body, encoding="utf-8")
    return out


def notebook_figures(notebook: str | Path, out_dir: str | Path) -> list[Path]:
    """Write every figure an executed notebook shows into ``out_dir``.

    PNG images as ``<stem>_figNN.png``; plotly figures as ``<stem>_figNN.html``
    that load ``plotly.min.js`` from the same folder (works offline).

    Returns
    -------
    list of Path
        The files written, in the notebook's order.
    """
    import nbformat

    notebook, out_dir = Path(notebook), Path(out_dir)
    nb = nbformat.read(notebook, as_version=4)
    written: list[Path] = []
    n = 0
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data") or {}
            if "image/png" in data:
                n += 1
                path = out_dir / f"{notebook.stem}_fig{n:02d}.png"
                out_dir.mkdir(parents=True, exist_ok=True)
                path.write_bytes(base64.b64decode(data["image/png"]))
                written.append(path)
            elif PLOTLY_MIME in data:
                import plotly.io as pio

                n += 1
                path = out_dir / f"{notebook.stem}_fig{n:02d}.html"
                out_dir.mkdir(parents=True, exist_ok=True)
                figure = data[PLOTLY_MIME]
                figure = json.loads(figure) if isinstance(figure, str) else figure
                pio.write_html(
                    figure, path, include_plotlyjs="directory", full_html=True, validate=False,
                    div_id=f"{notebook.stem}-fig{n:02d}",
                )
                written.append(path)
    return written


_INDEX_CSS = """
body{font-family:"DejaVu Sans",Helvetica,Arial,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #ddd;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f3f3f3}code,pre{font-family:"DejaVu Sans Mono",monospace;font-size:.85em}
pre{background:#f7f7f7;padding:1em;overflow:auto;max-height:30em}.failed{color:#b00}
div.editions,div.headline{background:#f4f1f8;border-left:4px solid #7d3c98;padding:.2em 1em;margin:1em 0}
div.editions h2,div.headline h2{border:none;margin-top:.5em}
"""


def _table_html(rows: Iterable[Sequence[object]], header: Sequence[str]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape('' if v is None else str(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _parameter_text(value: object) -> str:
    """A parameter's value as a reader sees it: text as it is, "–" for none, other values as JSON."""
    if value is None or value == "":
        return "–"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _headline(version_dir: Path) -> list[str]:
    """Headline results of a run from its own tables (identified edition)."""
    import pandas as pd

    from ..stats.drl_status import status_summary

    items = []
    found = sorted((version_dir / "tables").rglob("drl_table.csv")) if (version_dir / "tables").is_dir() else []
    if found:
        table = pd.read_csv(found[0], dtype={"exam_code": str})
        if "status" in table.columns:
            items.append(status_summary(table))
            proposed = table[table["status"] == "proposed"]
            above = proposed[proposed["p75"] > proposed["current_drl"]]
            if len(proposed):
                items.append(f"{len(above)} of the {int(proposed['current_drl'].notna().sum())} proposed DRLs with a "
                             "current DRL lie above it.")
    for name, what in (("alerts.csv", "alerts"), ("outliers.csv", "outlying dose values")):
        hits = sorted((version_dir / "tables").rglob(name)) if (version_dir / "tables").is_dir() else []
        if hits:
            items.append(f"{max(sum(1 for _ in open(hits[0], encoding='utf-8')) - 1, 0)} {what}.")
    return items


def _page_title(page: str | Path) -> str:
    """The first heading of a notebook page ("03 · DRL quartiles: ..."), or ""."""
    import re

    try:
        text = Path(page).read_text(encoding="utf-8")
    except OSError:
        return ""
    hit = re.search(r"<h1[^>]*>(.*?)</h1>", text, flags=re.S)
    if not hit:
        return ""
    title = re.sub(r"<[^>]+>", "", hit.group(1))
    return html.unescape(title).replace("¶", "").strip()


def _years_used(version_dir: Path, manifest: Mapping) -> str:
    years = (manifest.get("parameters") or {}).get("years") or ""
    if years:
        return str(years)
    found = sorted((version_dir / "tables").rglob("drl_parameters.json")) if (version_dir / "tables").is_dir() else []
    if found:
        given = json.loads(found[0].read_text(encoding="utf-8")).get("parameters", {})
        if given.get("years"):
            return f"{given['years']} (all stored)"
    return "all stored"


def write_index(version_dir: str | Path, manifest: Mapping, pages: Mapping[str, str | Path], out: str | Path) -> Path:
    """The index page of a run: which pages are which, headline results, pages, reports, parameters, inputs.

    Parameters
    ----------
    version_dir : str or Path
        The run's folder; links are relative to the page.
    manifest : mapping
        The run's manifest (see :mod:`drl_analysis.pipeline.run`).
    pages : mapping of str to path
        Notebook name -> its HTML page.
    out : str or Path
        The index page to write.

    Returns
    -------
    Path
        ``out``.

    The page names no machine path: the input folder appears by its name,
    the manifest by a link.
    """
    version_dir, out = Path(version_dir), Path(out)
    base = out.parent

    def rel(p: str | Path) -> str:
        return Path(os.path.relpath(Path(p).resolve(), base.resolve())).as_posix()

    e = html.escape
    survey = manifest.get("survey", "")
    version = manifest.get("version", "")
    date = str(manifest.get("started_utc") or "")[:10]
    public = base / "pseudonymised" / "index.html"
    parts = [
        f"<h1>Survey {e(survey)} · run {e(version)}</h1>",
        f"<p>Run of {e(date)}. Everything on these pages was produced by <code>drl-analysis run</code> from the "
        "inputs listed below; <code>drl-analysis verify</code> reruns it from "
        f"<a href='{rel(version_dir / 'manifest.json')}'>manifest.json</a> and compares every table.</p>",
        "<div class='editions'><h2>Which pages are which</h2><ul>"
        "<li><b>Identified edition (internal):</b> this page and the notebook pages below name data sources, "
        "facilities and input files. Do not publish them.</li>"
        + (f"<li><b>Pseudonymised edition (for publication):</b> <a href='{rel(public)}'>pseudonymised pages</a> "
           "with data sources (S-…) and facilities (F-…) as keyed pseudonyms, input files by number only; "
           "they are checked for names before they are written.</li>" if public.is_file() else
           "<li>This run made no pseudonymised edition (the report ran without pseudonyms).</li>")
        + "</ul></div>",
    ]
    headline = _headline(version_dir)
    if headline:
        parts.append("<div class='headline'><h2>Headline results</h2><ul>"
                     + "".join(f"<li>{e(i)}</li>" for i in headline) + "</ul></div>")
    parts.append("<h2>Notebook pages (identified)</h2>")
    runs = {n["name"]: n for n in manifest.get("notebooks", [])}
    rows = []
    for name, page in pages.items():
        info = runs.get(name, {})
        rows.append((f"<a href='{rel(page)}'>{e(_page_title(page) or name)}</a>", e(str(info.get("status", ""))),
                     e(str(info.get("duration_s", "")))))
    for name, info in runs.items():
        if name not in pages:
            rows.append((e(name), e(str(info.get("status", ""))), e(str(info.get("reason", "")))))
    parts.append(
        "<table><thead><tr><th>notebook</th><th>status</th><th>duration [s] / note</th></tr></thead><tbody>"
        + "".join(f"<tr><td>{a}</td><td>{b}</td><td>{c}</td></tr>" for a, b, c in rows)
        + "</tbody></table>"
    )
    reports = sorted(version_dir.rglob("*.pdf"))
    if reports:
        parts.append("<h2>Reports (PDF)</h2><ul>")
        for p in reports:
            edition = "pseudonymised, for publication" if "pseudonymised" in p.name else "identified, internal"
            parts.append(f"<li><a href='{rel(p)}'>{e(p.relative_to(version_dir).as_posix())}</a> ({edition})</li>")
        parts.append("</ul>")
    params = manifest.get("parameters", {})
    user = params.get("user", {})
    rows = [("survey", survey), ("years", _years_used(version_dir, manifest))]
    rows += [(k, _parameter_text(v)) for k, v in sorted(user.items())]
    parts.append("<h2>Parameters</h2>" + _table_html(rows, ["parameter", "value"]))
    per_nb = params.get("notebooks", {})
    if per_nb:
        rows = [(nb, k, _parameter_text(v)) for nb, values in per_nb.items() for k, v in values.items()]
        parts.append("<p>Passed to each notebook (paths relative to the run's folder):</p>")
        parts.append(_table_html(rows, ["notebook", "parameter", "value"]))
    inputs = manifest.get("inputs", {})
    files = inputs.get("files", [])
    folder = Path(str(inputs.get("folder", "") or "")).name
    parts.append(f"<h2>Inputs</h2><p>{len(files)} files in the input folder <code>{e(folder)}</code> "
                 "(paths relative to it):</p>")
    parts.append(_table_html([(f["path"], f["bytes"], f["sha256"]) for f in files], ["file", "bytes", "sha256"]))
    tables = [o for o in manifest.get("outputs", []) if o.get("rows") is not None]
    if tables:
        parts.append("<h2>Tables</h2>")
        parts.append(
            "<table><thead><tr><th>table</th><th>rows</th><th>sha256</th></tr></thead><tbody>"
            + "".join(
                f"<tr><td><a href='{rel(version_dir / o['path'])}'>{e(o['path'])}</a></td>"
                f"<td>{o['rows']}</td><td><code>{o['sha256'][:16]}…</code></td></tr>"
                for o in tables
            )
            + "</tbody></table>"
        )
    parts.append(f"<h2>Manifest</h2><p>The run's inputs, parameters, software and outputs with their SHA-256 are in "
                 f"<a href='{rel(version_dir / 'manifest.json')}'>manifest.json</a>.</p>")
    page = (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{e(survey)} {e(version)}</title>"
        f"<style>{_INDEX_CSS}</style></head><body>{''.join(parts)}</body></html>"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out

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
{% block extra_css %}<style>body{max-width:1100px;margin:auto}</style>{% endblock extra_css %}
"""


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
            output["data"] = {"text/html": _plotly_html(figure, f"{name}-plotly-{n}", include_plotlyjs=n == 1)}
    return n


def _quiet_log(name: str):
    import logging

    log = logging.getLogger(name)
    log.setLevel(logging.ERROR)
    return log


def notebook_html(notebook: str | Path, out: str | Path, *, title: str | None = None) -> Path:
    """One HTML page of an executed notebook, code hidden, working offline.

    Parameters
    ----------
    notebook : str or Path
        An executed ``.ipynb``.
    out : str or Path
        The page to write.
    title : str, optional
        Page title; default the notebook's file name.

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
    inline_plotly(nb, notebook.stem)
    exporter = HTMLExporter(
        # nbconvert notes each figure without alternative text (and then gives it one); quiet.
        log=_quiet_log("drl_analysis.reporting.report.nbconvert"),
        extra_loaders=[jinja2.DictLoader({"offline.html.j2": _OFFLINE_TEMPLATE})],
        template_file="offline.html.j2",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title or notebook.stem}})
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
"""


def _table_html(rows: Iterable[Sequence[object]], header: Sequence[str]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape('' if v is None else str(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_index(version_dir: str | Path, manifest: Mapping, pages: Mapping[str, str | Path], out: str | Path) -> Path:
    """The index page of a run: pages, reports, parameters, inputs and the manifest.

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
    """
    version_dir, out = Path(version_dir), Path(out)
    base = out.parent

    def rel(p: str | Path) -> str:
        return Path(os.path.relpath(Path(p).resolve(), base.resolve())).as_posix()

    survey = manifest.get("survey", "")
    version = manifest.get("version", "")
    parts = [
        f"<h1>drl-analysis run · {html.escape(survey)} · {html.escape(version)}</h1>",
        "<p>Everything on these pages was produced by <code>drl-analysis run</code> from the inputs listed below; "
        "<code>drl-analysis verify</code> reruns it from <a href='{}'>manifest.json</a> and compares every table.</p>".format(
            rel(version_dir / "manifest.json")
        ),
        "<h2>Notebooks</h2>",
    ]
    runs = {n["name"]: n for n in manifest.get("notebooks", [])}
    rows = []
    for name, page in pages.items():
        info = runs.get(name, {})
        rows.append((f"<a href='{rel(page)}'>{html.escape(name)}</a>", info.get("status", ""), info.get("duration_s", "")))
    for name, info in runs.items():
        if name not in pages:
            rows.append((html.escape(name), info.get("status", ""), info.get("reason", "")))
    parts.append(
        "<table><thead><tr><th>notebook</th><th>status</th><th>duration [s] / note</th></tr></thead><tbody>"
        + "".join(f"<tr><td>{a}</td><td>{html.escape(str(b))}</td><td>{html.escape(str(c))}</td></tr>" for a, b, c in rows)
        + "</tbody></table>"
    )
    reports = sorted(version_dir.rglob("*.pdf"))
    if reports:
        parts.append("<h2>Reports (PDF)</h2><ul>")
        parts += [f"<li><a href='{rel(p)}'>{html.escape(p.relative_to(version_dir).as_posix())}</a></li>" for p in reports]
        parts.append("</ul>")
    params = manifest.get("parameters", {})
    parts.append("<h2>Parameters</h2>")
    user = params.get("user", {})
    rows = [("survey", survey), ("years", params.get("years") or "all stored")]
    rows += [(k, json.dumps(v, ensure_ascii=False)) for k, v in sorted(user.items())]
    parts.append(_table_html(rows, ["parameter", "value"]))
    per_nb = params.get("notebooks", {})
    if per_nb:
        rows = [(nb, k, json.dumps(v, ensure_ascii=False)) for nb, values in per_nb.items() for k, v in values.items()]
        parts.append("<p>Passed to each notebook (paths relative to the run's folder):</p>")
        parts.append(_table_html(rows, ["notebook", "parameter", "value"]))
    inputs = manifest.get("inputs", {})
    files = inputs.get("files", [])
    parts.append(f"<h2>Inputs</h2><p>{len(files)} files under <code>{html.escape(str(inputs.get('folder', '')))}</code></p>")
    parts.append(_table_html([(f["path"], f["bytes"], f["sha256"]) for f in files], ["file", "bytes", "sha256"]))
    tables = [o for o in manifest.get("outputs", []) if o.get("rows") is not None]
    if tables:
        parts.append("<h2>Tables</h2>")
        parts.append(
            "<table><thead><tr><th>table</th><th>rows</th><th>sha256</th></tr></thead><tbody>"
            + "".join(
                f"<tr><td><a href='{rel(version_dir / o['path'])}'>{html.escape(o['path'])}</a></td>"
                f"<td>{o['rows']}</td><td><code>{o['sha256'][:16]}…</code></td></tr>"
                for o in tables
            )
            + "</tbody></table>"
        )
    parts.append("<h2>Manifest</h2><pre>" + html.escape(json.dumps(manifest, indent=2, ensure_ascii=False)) + "</pre>")
    page = (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(survey)} {html.escape(version)}</title>"
        f"<style>{_INDEX_CSS}</style></head><body>{''.join(parts)}</body></html>"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out

"""Reports of a run: HTML pages of the notebooks and the annual report as PDF.

HTML (for publication)
    :func:`notebook_html` turns an executed notebook into one page with the
    code hidden; plotly figures become interactive figures with plotly.js
    inlined once per page, so the page works offline. :func:`write_index`
    writes the index page of a run: its pages, reports, parameters and
    manifest.

The annual report (``notebooks/05_report.ipynb``)
    :func:`write_report` reads the tables a run wrote (notebooks 02–04),
    builds the report's own tables from them (:func:`build_report_tables`),
    writes them (CSV and xlsx) with static matplotlib figures, and renders
    the report to PDF with WeasyPrint (HTML and CSS to PDF: no browser, no
    LaTeX, no network). The PDF shows only these tables and figures drawn
    from them, so every number in it comes from the run's own tables.

The pseudonymised edition
    The same report with every data source and facility replaced by a keyed
    pseudonym (:mod:`drl_analysis.reporting.pseudonyms`): the tables are pseudonymised
    first, then the figures are drawn and the PDF rendered from them, and the
    edition is checked for original names before it is written. Free-text
    columns that could name a facility are not carried into the report.
"""

from __future__ import annotations

import base64
import contextlib
import html
import json
import math
import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.columns import QUANTITIES
from ..core.errors import UserError
from ..core.paths import PROCESSED_DIR
from ..core.years import parse_years
from .pseudonyms import PseudonymKey, Pseudonymiser, find_identifiers

#: Tables the report reads, by the file name their notebook writes.
SOURCE_FILES: dict[str, str] = {
    "ocr": "dose_reports.csv",  # 01_ocr_extraction, as the runner names its out_file
    "ingest": "ingest_by_source_year.csv",  # 02_repair
    "drl": "drl_table.csv",  # 03_drl_quartiles
    "drl_by_year": "drl_by_year.csv",  # 03_drl_quartiles
    "outliers": "outliers.csv",  # 04_clustering
    "facility_outliers": "facility_outliers.csv",  # 04_clustering
    "alerts": "alerts.csv",  # 04_clustering
    "exam_clusters": "exam_clusters.csv",  # 04_clustering
    "source_clusters": "source_clusters.csv",  # 04_clustering
}

#: Notebook 04's parameters, read from the folder of its ``alerts.csv``.
ANALYSIS_PARAMETERS = "parameters.csv"

#: File names of the report (identified edition; the pseudonymised edition
#: adds ``_pseudonymised``).
REPORT_NAME = "annual_report"
PSEUDONYMISED_DIR = "pseudonymised"

#: Columns that identify a data source or facility in any table.
ID_COLUMNS = ("data_source", "facility_id")

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


# ---------------------------------------------------------------------------
# Finding the run's tables
# ---------------------------------------------------------------------------


def locate_tables(tables_dir: str | Path | None = None, names: Mapping[str, str] = SOURCE_FILES) -> dict[str, Path]:
    """The run's tables by kind, found by file name.

    Parameters
    ----------
    tables_dir : str or Path, optional
        Folder searched recursively (a run's ``tables/``). Default: the folders
        the notebooks 02–04 write to with their default ``out_dir``, i.e. the
        direct subfolders of ``data/processed``.
    names : mapping of str to str
        Kind -> file name.

    Returns
    -------
    dict of str to Path
        The kinds found; a kind whose file is missing is left out.

    Raises
    ------
    UserError
        When ``tables_dir`` does not exist or holds two files of one name.
    """
    found: dict[str, Path] = {}
    if tables_dir:
        root = Path(tables_dir)
        if not root.is_dir():
            raise UserError(f"tables_dir: {root} is not a folder")
        search = lambda name: sorted(root.rglob(name))  # noqa: E731
    else:
        search = lambda name: sorted(PROCESSED_DIR.glob(f"*/{name}"))  # noqa: E731
    for kind, name in names.items():
        hits = search(name)
        if len(hits) > 1:
            raise UserError(f"tables_dir: {len(hits)} files named {name} ({', '.join(map(str, hits))}); keep one")
        if hits:
            found[kind] = hits[0]
    # Notebook 04's parameters.csv has a name other notebooks may use too: take the one beside its alerts.
    if "alerts" in found and (found["alerts"].parent / ANALYSIS_PARAMETERS).is_file():
        found["analysis_parameters"] = found["alerts"].parent / ANALYSIS_PARAMETERS
    return found


def read_tables(paths: Mapping[str, Path]) -> dict[str, pd.DataFrame]:
    """Read the located tables; identifiers and codes stay text."""
    text = {"data_source": str, "facility_id": str, "exam_code": str, "exam_name": str}
    return {kind: pd.read_csv(p, dtype=text, keep_default_na=True) for kind, p in paths.items()}


def load_manifest(path: str | Path | None) -> dict:
    """A run's manifest, or ``{}`` when no path is given or the file is missing."""
    if not path:
        return {}
    p = Path(path)
    if not p.is_file():
        return {}
    return json.loads(p.read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------
# The report's tables
# ---------------------------------------------------------------------------


def _unit(quantity: str) -> str:
    q = QUANTITIES.get(str(quantity))
    return q.unit if q else ""


def _years_list(years: str | Sequence[int] | None) -> list[int] | None:
    if years is None or years == "" or (isinstance(years, float) and math.isnan(years)):
        return None
    if isinstance(years, str):
        return parse_years(years)
    return sorted(int(y) for y in years)


def _summary(src: Mapping[str, pd.DataFrame], years: list[int] | None) -> pd.DataFrame:
    rows: list[tuple[str, float]] = []
    ingest = src.get("ingest")
    if ingest is not None and len(ingest):
        sel = ingest if years is None else ingest[ingest["year"].isin(years)]
        rows += [
            ("data sources", sel["data_source"].nunique()),
            ("submissions (files)", int(sel["files"].sum())),
            ("exposure rows stored", int(sel["rows_stored"].sum())),
            ("rows rejected", int(sel["rows_rejected"].sum())),
            ("values repaired", int(sel["values_repaired"].sum())),
            ("rows flagged", int(sel["rows_flagged"].sum())),
        ]
    ocr = src.get("ocr")
    if ocr is not None:
        rows.append(("dose-report screens (images) read by OCR", len(ocr)))
        if "layout" in ocr.columns:
            rows.append(("of these recognised as dose reports", int(ocr["layout"].fillna("").astype(str).str.len().gt(0).sum())))
        if "needs_review" in ocr.columns:
            review = ocr["needs_review"].astype(str).str.lower().isin(["true", "1"])
            rows.append(("of these marked for review", int(review.sum())))
    drl = src.get("drl")
    if drl is not None:
        with_drl = drl[drl["current_drl"].notna()]
        rows += [
            ("exam codes and quantities with a proposed DRL (P75)", len(drl)),
            ("of these with a current DRL", len(with_drl)),
            ("of these with P75 above the current DRL", int((with_drl["p75"] > with_drl["current_drl"]).sum())),
            ("largest number of facilities for one exam", int(drl["n_facilities"].max()) if len(drl) else 0),
        ]
    outliers = src.get("outliers")
    if outliers is not None:
        rows.append(("outlying values", len(outliers)))
    alerts = src.get("alerts")
    if alerts is not None:
        rows.append(("alerts", len(alerts)))
    facility_outliers = src.get("facility_outliers")
    if facility_outliers is not None:
        rows.append(("facility medians above the DRL or the survey P95", len(facility_outliers)))
    for kind, what in (("exam_clusters", "exam codes"), ("source_clusters", "data sources")):
        frame = src.get(kind)
        if frame is not None and "cluster" in frame.columns:
            rows.append((f"clusters of {what}", int(frame["cluster"].nunique())))
    return pd.DataFrame(rows, columns=["item", "value"])


_DRL_COLUMNS = [
    "exam_code", "exam_name", "quantity", "unit", "n_facilities", "n_exams", "p50", "p75",
    "p75_ci_low", "p75_ci_high", "current_drl", "drl_edition", "p75_to_drl", "share_facilities_above_drl",
]


def _drl(drl: pd.DataFrame) -> pd.DataFrame:
    out = drl.copy()
    if "unit" not in out.columns:
        out["unit"] = out["quantity"].map(_unit)
    if "p75_to_drl" not in out.columns:
        out["p75_to_drl"] = out["p75"] / out["current_drl"]
    cols = [c for c in _DRL_COLUMNS if c in out.columns]
    return out[cols].sort_values(["exam_code", "quantity"], kind="stable").reset_index(drop=True)


def _share_above(by_year: pd.DataFrame) -> pd.DataFrame:
    cols = ["exam_code", "quantity", "year", "current_drl", "share_exams_above_drl"]
    out = by_year[[c for c in cols if c in by_year.columns]].dropna(subset=["share_exams_above_drl"])
    return out.sort_values(["exam_code", "quantity", "year"], kind="stable").reset_index(drop=True)


def _parameters(src: Mapping[str, pd.DataFrame], manifest: Mapping, survey: str, years: str) -> pd.DataFrame:
    rows = [("survey", survey or manifest.get("survey", ""), "report"), ("years", years or "all stored", "report")]
    drl = src.get("drl")
    if drl is not None and len(drl):
        first = drl.iloc[0]
        for col in ("facility_statistic", "quantile_method", "min_per_facility", "weight_range_kg",
                    "edition_requested", "bootstrap_resamples", "seed", "ci_method"):
            if col in drl.columns:
                value = first[col]
                rows.append((col, "" if pd.isna(value) else str(value), SOURCE_FILES["drl"]))
    analysis = src.get("analysis_parameters")
    if analysis is not None and {"parameter", "value"} <= set(analysis.columns):
        rows += [(str(p), "" if pd.isna(v) else str(v), ANALYSIS_PARAMETERS)
                 for p, v in zip(analysis["parameter"], analysis["value"])]
    for name, value in sorted(manifest.get("parameters", {}).get("user", {}).items()):
        rows.append((name, json.dumps(value, ensure_ascii=False), "manifest.json"))
    return pd.DataFrame(rows, columns=["parameter", "value", "from"])


def _provenance(manifest: Mapping) -> pd.DataFrame:
    # No version or time here: the version holds the run's UTC time, and a table must
    # read the same when the run is repeated (drl-analysis verify compares them).
    rows = []
    if manifest.get("survey"):
        rows.append(("run", "survey", str(manifest["survey"])))
    if manifest.get("parameters", {}).get("years"):
        rows.append(("run", "years", str(manifest["parameters"]["years"])))
    git = manifest.get("git") or {}
    if git.get("commit"):
        rows.append(("run", "git commit", git["commit"] + (" (with uncommitted changes)" if git.get("dirty") else "")))
    for f in manifest.get("inputs", {}).get("files", []):
        rows.append(("input", f["path"], f["sha256"]))
    for name, version in sorted((manifest.get("packages") or {}).items()):
        rows.append(("package", name, str(version)))
    return pd.DataFrame(rows, columns=["kind", "item", "value"])


def build_report_tables(
    sources: Mapping[str, pd.DataFrame],
    manifest: Mapping | None = None,
    *,
    survey: str = "",
    years: str = "",
) -> dict[str, pd.DataFrame]:
    """The report's tables, each made from the run's tables.

    Parameters
    ----------
    sources : mapping of str to DataFrame
        The run's tables by kind (keys of :data:`SOURCE_FILES`); missing kinds
        leave their sections out.
    manifest : mapping, optional
        The run's manifest (parameters, inputs, versions).
    survey : str
        Survey name shown in the report.
    years : str
        Survey years such as ``"2021-2023"``; ``""`` for all stored years.
        Restricts the ingest counts (the DRL tables are already restricted).

    Returns
    -------
    dict of str to DataFrame
        ``summary`` (item, value); ``drl`` (one row per exam code and
        quantity: facilities, exams, P50, P75 with its 95 % bootstrap interval,
        current DRL, edition, P75 / DRL, share of facilities above it; doses
        in the row's ``unit``); ``share_above`` (exam code, quantity, year,
        current DRL, share of exams above it); ``outliers_by_reason``,
        ``alerts``, ``exam_clusters``, ``source_clusters`` (identifier,
        cluster and numeric features) and ``cluster_sizes`` where the run
        has them;
        ``parameters`` and ``provenance``.
    """
    manifest = manifest or {}
    year_list = _years_list(years)
    out: dict[str, pd.DataFrame] = {"summary": _summary(sources, year_list)}
    if "drl" in sources:
        out["drl"] = _drl(sources["drl"])
    if "drl_by_year" in sources:
        out["share_above"] = _share_above(sources["drl_by_year"])
    if "outliers" in sources:
        o = sources["outliers"]
        reason = "reason_kind" if "reason_kind" in o.columns else "reason"
        counts = o.groupby([reason, "quantity"] if "quantity" in o.columns else [reason]).size()
        out["outliers_by_reason"] = counts.rename("values").reset_index().rename(columns={reason: "reason"})
    if "alerts" in sources:
        a = sources["alerts"]
        keep = [c for c in ("alert", "data_source", "facility_id", "exam_code", "quantity", "unit", "years",
                            "facility_medians", "drl", "drl_edition", "n_implausible", "n_values",
                            "share_implausible") if c in a.columns]
        out["alerts"] = a[keep].reset_index(drop=True)
    sizes = []
    for kind, ident, what in (("exam_clusters", "exam_code", "exam codes"),
                              ("source_clusters", "data_source", "data sources")):
        c = sources.get(kind)
        if c is None or "cluster" not in c.columns:
            continue
        # Identifiers, the cluster and numeric features only: free-text notes stay out.
        keep = [col for col in c.columns
                if col in (ident, "exam_name", "cluster") or pd.api.types.is_numeric_dtype(c[col])]
        out[kind] = c[keep].reset_index(drop=True)
        counts = c.groupby("cluster").size()
        sizes += [(what, int(k), int(n)) for k, n in counts.items()]
    if sizes:
        out["cluster_sizes"] = pd.DataFrame(sizes, columns=["clustered", "cluster", "members"])
    out["parameters"] = _parameters(sources, manifest, survey, years)
    out["provenance"] = _provenance(manifest)
    return out


def pseudonymise_tables(
    tables: Mapping[str, pd.DataFrame], key: PseudonymKey, *, known_sources: Iterable[str] = ()
) -> dict[str, pd.DataFrame]:
    """The report's tables with data sources and facilities replaced by pseudonyms.

    Input files are listed by number and SHA-256 only (their names often
    carry the data source). The result is checked: an original name left in
    any cell is an error of ours, raised before anything is written.

    Parameters
    ----------
    tables : mapping of str to DataFrame
        As :func:`build_report_tables` returns.
    key : PseudonymKey
    known_sources : iterable of str
        Every data source of the run (e.g. from the ingest table): none may
        appear anywhere in the result, even where no table names it as such.

    Returns
    -------
    dict of str to DataFrame
    """
    p = Pseudonymiser(key)
    out: dict[str, pd.DataFrame] = {}
    for name, frame in tables.items():
        if name == "provenance":
            frame = frame.copy()
            inputs = frame["kind"] == "input"
            frame.loc[inputs, "item"] = [f"input file {i + 1}" for i in range(int(inputs.sum()))]
        elif name == "parameters":
            # The data source given to files that name none (notebook 02) is a name too.
            frame = frame.copy()
            named = frame["parameter"] == "data_source"
            frame.loc[named, "value"] = [
                json.dumps(p.source(json.loads(v)) if json.loads(v) else "") for v in frame.loc[named, "value"]
            ]
        out[name] = p.frame(frame) if set(ID_COLUMNS) & set(frame.columns) else frame.copy()
    sources, facilities = p.originals
    sources = sorted(set(sources) | {str(s) for s in known_sources if isinstance(s, str) and s.strip()})
    found = find_identifiers(out, sources, facility_ids=[f for _, f in facilities])
    if found:
        raise RuntimeError("pseudonymised tables still hold original names: " + "; ".join(found))
    return out


# ---------------------------------------------------------------------------
# Static figures for the PDF
# ---------------------------------------------------------------------------


def _save(fig, path: Path) -> Path:
    # No timestamp or software version in the PNG, so a rerun writes the same bytes.
    fig.savefig(path, dpi=150, bbox_inches="tight", metadata={"Software": None})
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def heatmap_figure(share_above: pd.DataFrame, path: str | Path) -> Path | None:
    """Share of exams above the current DRL, exam × year, as PNG
    (:func:`drl_analysis.stats.figures.share_above_heatmap`).

    Parameters
    ----------
    share_above : DataFrame
        Columns exam_code, quantity, year, current_drl, share_exams_above_drl (fraction).
    path : str or Path

    Returns
    -------
    Path or None
        None when no exam has a current DRL.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from ..stats.figures import share_above_heatmap

    if share_above is None or "current_drl" not in share_above or share_above["current_drl"].notna().sum() == 0:
        return None
    ax = share_above_heatmap(share_above)
    return _save(ax.figure, Path(path))


def share_above_plotly(share_above: pd.DataFrame | None):
    """The heatmap as an interactive plotly figure, for the HTML page (None without data)."""
    from ..stats.figures import share_above_heatmap_plotly

    if share_above is None or share_above.empty:
        return None
    return share_above_heatmap_plotly(share_above)


def exam_clusters_plotly(exam_clusters: pd.DataFrame | None):
    """Exam codes by cluster as an interactive scatter (for the HTML page).

    x: the mean over the years of the exam's median dose/DRL; y: the mean of
    its QCD of dose/DRL (both dimensionless, from ``exam_clusters.csv``);
    colour: the cluster; hover: exam code and name.

    Returns
    -------
    plotly.graph_objects.Figure or None
        None without the features.
    """
    import plotly.graph_objects as go

    if exam_clusters is None or exam_clusters.empty:
        return None
    medians = [c for c in exam_clusters.columns if c.startswith("median_dose_to_drl_")]
    qcds = [c for c in exam_clusters.columns if c.startswith("qcd_dose_to_drl_")]
    if not medians or not qcds:
        return None
    frame = exam_clusters.assign(x=exam_clusters[medians].mean(axis=1), y=exam_clusters[qcds].mean(axis=1))
    fig = go.Figure()
    for cluster, part in frame.dropna(subset=["x", "y"]).groupby("cluster", sort=True):
        names = part["exam_name"] if "exam_name" in part else part["exam_code"]
        fig.add_trace(go.Scatter(
            x=part["x"], y=part["y"], mode="markers", name=f"cluster {cluster}",
            text=part["exam_code"].astype(str) + " " + names.astype(str),
            hovertemplate="%{text}<br>median dose/DRL %{x:.2f}, QCD %{y:.2f}<extra></extra>",
            marker={"size": 10},
        ))
    fig.add_vline(x=1.0, line_dash="dot", line_color="black")
    fig.update_layout(
        title="Exam codes by cluster",
        xaxis_title="median dose / current DRL, mean over the years [ratio]",
        yaxis_title="QCD of dose / current DRL, mean over the years [ratio]",
        template="plotly_white",
    )
    return fig


def ratio_figure(drl: pd.DataFrame, path: str | Path) -> Path | None:
    """P75 of this survey divided by the current DRL, per exam and quantity, as PNG."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if drl is None or "p75_to_drl" not in drl.columns:
        return None
    frame = drl.dropna(subset=["p75_to_drl"])
    if frame.empty:
        return None
    labels = frame["exam_code"].astype(str) + " " + frame["quantity"].map(
        lambda q: QUANTITIES[q].label if q in QUANTITIES else str(q)
    )
    fig, ax = plt.subplots(figsize=(7, max(2.5, 0.12 * len(frame) + 1.2)))
    colours = np.where(frame["p75_to_drl"] > 1, "#c0392b", "#2e86c1")
    ax.barh(labels, frame["p75_to_drl"], color=colours)
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.invert_yaxis()
    ax.tick_params(axis="y", labelsize=6)
    ax.set_xlabel("P75 of facility medians / current DRL [ratio, 1 = at the DRL]")
    ax.set_title("Proposed DRL (P75) against the current DRL")
    return _save(fig, Path(path))


def cluster_figure(cluster_sizes: pd.DataFrame | None, path: str | Path) -> Path | None:
    """Members per cluster, exam codes and data sources side by side, as PNG."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    if cluster_sizes is None or cluster_sizes.empty:
        return None
    kinds = list(dict.fromkeys(cluster_sizes["clustered"]))
    fig, axes = plt.subplots(1, len(kinds), figsize=(3.4 * len(kinds), 2.6), squeeze=False)
    for ax, kind in zip(axes[0], kinds):
        part = cluster_sizes[cluster_sizes["clustered"] == kind]
        ax.bar(part["cluster"].astype(str), part["members"], color="#7d3c98")
        ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_xlabel("cluster")
        ax.set_ylabel(f"{kind} [count]")
        ax.set_title(f"Clusters of {kind}")
    fig.tight_layout()
    return _save(fig, Path(path))


def source_figure(source_clusters: pd.DataFrame | None, path: str | Path) -> Path | None:
    """Median dose/DRL per data source, coloured by cluster, as PNG.

    The bars are labelled with the table's ``data_source`` column: names in
    the identified edition, pseudonyms in the pseudonymised one.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if source_clusters is None or "median_dose_to_drl" not in source_clusters.columns:
        return None
    frame = source_clusters.dropna(subset=["median_dose_to_drl"])
    if frame.empty:
        return None
    colours = plt.get_cmap("tab10")
    clusters = frame["cluster"].fillna(-1).astype(int)
    fig, ax = plt.subplots(figsize=(6, max(2.0, 0.3 * len(frame) + 1.0)))
    ax.barh(frame["data_source"].astype(str), frame["median_dose_to_drl"],
            color=[colours(c % 10) if c >= 0 else "#999999" for c in clusters])
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.invert_yaxis()
    ax.set_xlabel("median dose / current DRL [ratio, 1 = at the DRL]")
    ax.set_title("Data sources by cluster (colour)")
    return _save(fig, Path(path))


#: Each figure: the table it is drawn from, its drawing function and its file name.
FIGURES = {
    "ratio": ("drl", "ratio_figure", "p75_to_drl"),
    "heatmap": ("share_above", "heatmap_figure", "share_above_drl"),
    "clusters": ("cluster_sizes", "cluster_figure", "clusters"),
    "sources": ("source_clusters", "source_figure", "source_clusters"),
}


def make_figures(
    tables: Mapping[str, pd.DataFrame],
    out_dir: str | Path,
    *,
    prefix: str = REPORT_NAME,
    drawn: Mapping[str, tuple[pd.DataFrame, Path]] | None = None,
) -> dict[str, Path]:
    """The report's static figures, drawn from its tables only.

    Parameters
    ----------
    tables : mapping of str to DataFrame
    out_dir : str or Path
    prefix : str
        File names are ``<prefix>_<figure>.png``.
    drawn : mapping, optional
        Figure -> (its table, its PNG) already drawn for another edition: a
        figure whose table is identical is copied instead of drawn again.

    Returns
    -------
    dict of str to Path
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    made = {}
    for kind, (table, function, name) in FIGURES.items():
        frame, path = tables.get(table), out_dir / f"{prefix}_{name}.png"
        if frame is None:
            continue
        if drawn and kind in drawn and drawn[kind][0].equals(frame):
            shutil.copyfile(drawn[kind][1], path)
            made[kind] = path
        elif (result := globals()[function](frame, path)) is not None:
            made[kind] = result
    return made


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


@dataclass
class ReportPaths:
    """What :func:`write_report` wrote for one edition."""

    pdf: Path
    tables: dict[str, Path] = field(default_factory=dict)
    xlsx: Path | None = None
    figures: dict[str, Path] = field(default_factory=dict)


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
    if drl is not None:
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
    parts.append(fig("heatmap", "Each cell: exams of one exam code and quantity in one year whose dose exceeds the current DRL.")
                 or "<p>This run has no DRL table by year.</p>")
    parts.append("<h2>4 Outliers and alerts</h2>")
    if "outliers_by_reason" in tables or "alerts" in tables:
        parts.append("<p>Outlying values by reason:</p>")
        parts.append(_html_table(tables.get("outliers_by_reason")))
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


def write_tables(tables: Mapping[str, pd.DataFrame], out_dir: str | Path, *, prefix: str) -> tuple[dict[str, Path], Path]:
    """Write each table as ``<prefix>_<name>.csv`` and all as one ``<prefix>_tables.xlsx``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, frame in tables.items():
        p = out_dir / f"{prefix}_{name}.csv"
        frame.to_csv(p, index=False, lineterminator="\n")
        written[name] = p
    xlsx = out_dir / f"{prefix}_tables.xlsx"
    with pd.ExcelWriter(xlsx, engine="openpyxl") as writer:
        for name, frame in tables.items():
            frame.to_excel(writer, sheet_name=name[:31], index=False)
    return written, xlsx


@dataclass
class Report:
    """The annual report of a run: its tables and what was written."""

    tables: dict[str, pd.DataFrame]
    identified: ReportPaths
    pseudonymised: ReportPaths | None = None
    pseudonymised_tables: dict[str, pd.DataFrame] | None = None
    key_fingerprint: str | None = None
    key_source: str | None = None


def write_report(
    tables_dir: str | Path | None,
    out_dir: str | Path | None,
    *,
    manifest_file: str | Path | None = None,
    survey: str = "",
    years: str = "",
    title: str = "Annual report on diagnostic reference levels",
    pseudonymise: bool = True,
    key: PseudonymKey | None = None,
) -> Report:
    """Write the annual report of a run: tables, figures and PDF, and its pseudonymised edition.

    Parameters
    ----------
    tables_dir : str or Path, optional
        Where the run's tables are (see :func:`locate_tables`).
    out_dir : str or Path, optional
        Folder for the report; default ``data/processed/report``. The
        pseudonymised edition goes into its subfolder ``pseudonymised/``.
    manifest_file : str or Path, optional
        The run's ``manifest.json`` (parameters, inputs, software).
    survey, years, title : str
        Shown in the report.
    pseudonymise : bool, default True
        Also write the pseudonymised edition.
    key : PseudonymKey, optional
        Default :func:`drl_analysis.reporting.pseudonyms.load_key` (environment or the
        user's key file).

    Returns
    -------
    Report
    """
    from .pseudonyms import load_key

    out = Path(out_dir) if out_dir else PROCESSED_DIR / "report"
    sources = read_tables(locate_tables(tables_dir))
    if "drl" not in sources:
        raise UserError(
            f"tables_dir: no {SOURCE_FILES['drl']} under {tables_dir or PROCESSED_DIR}; run notebook 03 first"
        )
    manifest = load_manifest(manifest_file)
    survey = survey or manifest.get("survey", "")
    tables = build_report_tables(sources, manifest, survey=survey, years=years)
    version = manifest.get("version", "")
    report = Report(tables=tables, identified=_write_edition(
        tables, out, prefix=REPORT_NAME, title=title, survey=survey, years=years, version=version,
        edition="Identified edition: names data sources and facilities. For internal use.",
    ))
    if pseudonymise:
        key = key or load_key()
        ingest = sources.get("ingest")
        known = ingest["data_source"].dropna().unique() if ingest is not None else ()
        pseudo = pseudonymise_tables(tables, key, known_sources=known)
        report.pseudonymised_tables = pseudo
        report.key_fingerprint = key.fingerprint
        report.key_source = key.source
        # Figures whose table names no one are the same in both editions: copied, not drawn again.
        drawn = {kind: (tables[FIGURES[kind][0]], path) for kind, path in report.identified.figures.items()}
        report.pseudonymised = _write_edition(
            pseudo, out / PSEUDONYMISED_DIR, prefix=f"{REPORT_NAME}_pseudonymised", title=title, survey=survey,
            years=years, version=version, drawn=drawn,
            edition="Pseudonymised edition: data sources (S-…) and facilities (F-…) are keyed pseudonyms, "
            f"stable for one key (fingerprint {key.fingerprint}).",
        )
    return report


def _write_edition(tables, out: Path, *, prefix: str, drawn=None, **text) -> ReportPaths:
    written, xlsx = write_tables(tables, out, prefix=prefix)
    figures = make_figures(tables, out, prefix=prefix, drawn=drawn)
    pdf = write_pdf(report_html(tables, figures, **text), out / f"{prefix}.pdf", base_dir=out)
    return ReportPaths(pdf=pdf, tables=written, xlsx=xlsx, figures=figures)

"""The reproducible pipeline: ``drl-analysis run``.

``run`` executes the notebooks ``notebooks/NN_*.ipynb`` in order with
papermill, each with kernel ``python3`` in the run's own folder, and writes
one *version* per survey::

    data/processed/<survey>/<version>/     version = UTC time + hash of inputs and parameters
        manifest.json      inputs (sha256), parameters, software, git commit, times,
                           every output file with its sha256, row counts
        parameters.yaml    the run's parameters, reusable with ``--params``
        pipeline.yaml      the pipeline run: notebooks in order, what each reads and writes
        datapackage.json   Frictionless Data Package: every CSV table with its Table Schema
        ro-crate-metadata.json   RO-Crate (Workflow Run Crate): the run, one action per notebook
        drl.sqlite         the survey database (notebook 02 fills it)
        notebooks/         the executed notebooks
        tables/NN_name/    what each notebook wrote: tables (CSV and xlsx), its files
        figures/NN_name/   every figure each notebook showed (PNG; plotly as offline HTML)
        report/            the annual report (PDF, tables, figures; notebook 05)
        report/pseudonymised/   the pseudonymised edition
        html/index.html    one page per notebook, code hidden, and the index
    data/processed/<survey>/latest  -> the newest complete version

A run is written into ``<version>.incomplete`` and renamed when everything is
written; a failed run is renamed ``<version>.failed`` with the notebook that
failed and why in its manifest and in ``FAILED.txt``. A version folder is
never overwritten.

The parts: :mod:`.notebooks` (discovery, parameters, checks), :mod:`.plans`
(what to run), :mod:`.kernel` (executing one notebook), :mod:`.manifest`
(provenance and checksums), :mod:`.datapackage` and :mod:`.crate` (the
standard descriptions), :mod:`.layout` (names and versions), :mod:`.verify`
and :mod:`.release`.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import several
from ..core.paths import PROCESSED_DIR, PROJECT_ROOT
from ..core.tables import write_xlsx
from . import crate, datapackage
from .kernel import NotebookFailed, Progress, execute, kernel_environment
from .layout import (
    DB_FILE,
    FAILED_NOTE,
    FAILED_SUFFIX,
    FIGURES,
    HTML,
    INCOMPLETE_SUFFIX,
    INDEX,
    LATEST,
    MANIFEST,
    NOTEBOOKS,
    PARAMETERS_FILE,
    PIPELINE_FILE,
    REPORT,
    TABLES,
    VERSION_PATTERN,
    complete_versions,
    free_name,
    resolve_latest,
    update_latest,
)
from .manifest import (
    close_database,
    database_rows,
    git_state,
    input_files,
    input_record,
    iso,
    outputs,
    package_versions,
    run_hash,
    sha256_file,
    tesseract_version,
    utc_now,
    write_manifest,
)
from .notebooks import (
    KERNEL,
    NOTEBOOK_PATTERN,
    OUT_FILES,
    Notebook,
    check_parameters,
    discover,
    notebook_input,
    own_folder,
    parameter_problems,
    rdsr_input,
)
from .plans import Plan, RunOptions, plans_from_options

log = logging.getLogger(__name__)

__all__ = [
    "LATEST", "MANIFEST", "NOTEBOOK_PATTERN", "VERSION_PATTERN", "NotebookFailed", "Plan",
    "RunOptions", "RunResult", "check_parameters", "complete_versions", "discover", "plans_from_options", "prepare",
    "resolve_latest", "run", "run_survey", "update_latest",
]


@dataclass
class RunResult:
    """The outcome of one survey's run."""

    survey: str
    folder: Path
    status: str  # "complete" or "failed"
    manifest: dict
    error: NotebookFailed | BaseException | None = None

    @property
    def index(self) -> Path:
        return self.folder / INDEX

    @property
    def pdfs(self) -> list[Path]:
        return sorted((self.folder / REPORT).rglob("*.pdf")) if (self.folder / REPORT).is_dir() else []


def prepare(plans: Sequence[Plan], notebook_dir: str | Path | None = None) -> list[Notebook]:
    """Discover the notebooks and check every plan's parameters against them (before anything
    runs); every problem of every plan is reported at once."""
    notebooks = discover(notebook_dir)
    found: dict[str, list[str]] = {}  # problem -> the surveys that have it
    for plan in plans:
        plan.parameters, problems = parameter_problems(plan.parameters, notebooks)
        for problem in problems:
            found.setdefault(problem, []).append(plan.survey)
    if found:
        raise several([p if len(surveys) == len(plans) else f"survey {', '.join(surveys)}: {p}"
                       for p, surveys in found.items()])
    return notebooks


def _needs_key(notebooks: Sequence[Notebook], plans: Sequence[Plan]) -> bool:
    for nb in notebooks:
        if "pseudonymise" in nb.parameters:
            if any(plan.parameters.get("pseudonymise", nb.defaults.get("pseudonymise", True)) for plan in plans):
                return True
    return False


def run(
    plans: Sequence[Plan],
    out_root: str | Path | None = None,
    *,
    notebook_dir: str | Path | None = None,
    key=None,
    key_file: str | Path | None = None,
    progress: bool = True,
    stream=None,
) -> list[RunResult]:
    """Run the pipeline for each plan (one version per survey).

    Parameters
    ----------
    plans : sequence of Plan
    out_root : str or Path, default ``data/processed``
    notebook_dir : str or Path, optional
        An own copy of the notebooks (``--notebooks``); default the checkout's
        ``notebooks/`` or the installed package's copies.
    key : PseudonymKey, optional
        The pseudonym key; default from ``key_file``, the environment or the
        user's key file (created once), and only when a notebook pseudonymises.
    key_file : str or Path, optional
    progress : bool, default True
    stream : file, optional
        Where progress and notes go; default stderr.

    Returns
    -------
    list of RunResult
        One per plan, in order; failed surveys do not stop the others.

    Raises
    ------
    UserError
        On a parameter no notebook declares, a wrong type, or a bad key file,
        before any notebook runs.
    """
    notebooks = prepare(plans, notebook_dir)
    out_root = Path(out_root or PROCESSED_DIR)
    stream = stream or sys.stderr
    uses_key = _needs_key(notebooks, plans)
    if key_file or (key is None and uses_key):
        from ..reporting.pseudonyms import load_key

        key = load_key(key_file)
        if uses_key:
            note = f"pseudonyms: {{}} key from {key.source}; it is never written into the outputs"
            if key.created:
                log.warning(note.format("created a new"))
            elif progress:
                print(note.format("using the"), file=stream)
    if not uses_key:
        key = None  # a run records the key's fingerprint (manifest only) only when a notebook uses the key
    env = kernel_environment(key.secret.decode("utf-8") if key else None, key_source=key.short_source if key else None)
    bar = Progress(len(plans) * len(notebooks), enabled=progress, stream=stream)
    results = []
    try:
        for plan in plans:
            results.append(run_survey(plan, notebooks, out_root, key=key, progress=bar, env=env))
    finally:
        bar.close()
    return results


def run_survey(
    plan: Plan,
    notebooks: Sequence[Notebook],
    out_root: str | Path,
    *,
    key=None,
    progress: Progress | None = None,
    env: Mapping[str, str] | None = None,
) -> RunResult:
    """Run the notebooks for one survey into a new version folder.

    Parameters
    ----------
    plan : Plan
        Survey, input folder, years and user parameters (already checked with
        :func:`check_parameters`).
    notebooks : sequence of Notebook
        From :func:`discover`.
    out_root : str or Path
        The version goes into ``out_root/<survey>/<version>``.
    key : PseudonymKey, optional
        Recorded by its fingerprint; the kernels get it through ``env``.
    progress : Progress, optional
    env : mapping, optional
        The kernels' environment; default :func:`kernel_environment` with ``key``.

    Returns
    -------
    RunResult
        ``status`` ``"complete"``, or ``"failed"`` with ``error`` (the folder
        then ends in ``.failed``).
    """
    progress = progress or Progress(len(notebooks), enabled=False)
    if env is None:
        env = kernel_environment(key.secret.decode("utf-8") if key else None)
    started = utc_now()
    t_start = time.monotonic()

    runs = [(nb, notebook_input(plan.input_dir, nb)) for nb in notebooks]
    input_folders = sorted({p for nb, p in runs if p is not None and "input_dir" in nb.parameters}
                           | {r for nb, p in runs if p is not None and (r := rdsr_input(plan.input_dir, nb)) is not None})
    inputs = input_files(input_folders, plan.input_dir)
    active = [nb.name for nb, p in runs if p is not None]
    digest = run_hash(inputs, plan.parameters, plan.years, active)
    survey_dir = Path(out_root) / plan.survey
    survey_dir.mkdir(parents=True, exist_ok=True)
    version = free_name(survey_dir, f"{started.strftime('%Y%m%dT%H%M%SZ')}-{digest}")
    work = survey_dir / f"{version}{INCOMPLETE_SUFFIX}"
    work.mkdir()

    manifest: dict = {
        "manifest_version": 1,
        "status": "running",
        "survey": plan.survey,
        "version": version,
        "hash": digest,
        "started_utc": iso(started),
        "finished_utc": None,
        "duration_s": None,
        "inputs": {"folder": input_record(plan.input_dir), "files": inputs},
        "parameters": {"user": dict(sorted(plan.parameters.items())), "years": plan.years, "notebooks": {}},
        "notebooks": [],
        "packages": package_versions(),
        "git": git_state(),
        "pseudonym_key": {**key.fingerprint(), "source": key.short_source} if key else None,
        "kernel": KERNEL,
        "working_folder": "the version folder; paths in parameters are relative to it",
    }
    own = own_folder(notebooks)
    if own is not None:  # --notebooks: verify reruns the same copy
        manifest["notebook_folder"] = input_record(own)
    if "01_ocr_extraction" in active:
        manifest["packages"]["tesseract"] = tesseract_version()
    _write_params_yaml(work / PARAMETERS_FILE, plan)
    _write_pipeline_yaml(work / PIPELINE_FILE, runs, manifest)
    write_manifest(work / MANIFEST, manifest)

    error: BaseException | None = None
    try:
        for nb, nb_input in runs:
            entry = {"name": nb.name, "sha256": sha256_file(nb.path), "bytes": nb.path.stat().st_size,
                     "path": _notebook_record(nb)}
            manifest["notebooks"].append(entry)
            if nb_input is None:
                entry.update(status="skipped", reason=f"no input in {nb.input_folder}/")
                progress.finish(plan.survey, nb.name, f"skipped (no input in {nb.input_folder}/)")
                continue
            params = _notebook_parameters(nb, plan, nb_input)
            manifest["parameters"]["notebooks"][nb.name] = params
            (work / nb.out_dir).mkdir(parents=True, exist_ok=True)
            (work / NOTEBOOKS).mkdir(exist_ok=True)
            t0, t0_utc = time.monotonic(), utc_now()
            entry.update(status="running", started_utc=iso(t0_utc))
            progress.start(plan.survey, nb.name)
            try:
                execute(nb, work / NOTEBOOKS / nb.path.name, params, work, progress.cell_bar(plan.survey, nb.name), env)
            finally:
                entry.update(finished_utc=iso(utc_now()), duration_s=round(time.monotonic() - t0, 2))
            entry["status"] = "ok"
            progress.finish(plan.survey, nb.name, "done", entry["duration_s"])
        _finish_outputs(work, manifest)
        manifest["finished_utc"] = iso(utc_now())
        manifest["duration_s"] = round(time.monotonic() - t_start, 2)
        manifest["status"] = "complete"
        write_manifest(work / MANIFEST, manifest)
        _write_index(work, manifest)
        crate.write_crate(work, manifest)
    except BaseException as exc:  # noqa: BLE001 - every failure must leave a folder marked failed
        error = exc
        for entry in manifest["notebooks"]:
            if entry.get("status") == "running":
                entry["status"] = "failed"
        failed_nb = exc.notebook if isinstance(exc, NotebookFailed) else None
        if failed_nb:
            progress.finish(plan.survey, failed_nb, "FAILED")
        manifest["status"] = "failed"
        manifest["failure"] = {
            "notebook": failed_nb,
            "error": f"{exc.ename}: {exc.evalue}" if isinstance(exc, NotebookFailed) else f"{type(exc).__name__}: {exc}",
            "cell": exc.cell if isinstance(exc, NotebookFailed) else None,
        }
        manifest["finished_utc"] = iso(utc_now())
        manifest["duration_s"] = round(time.monotonic() - t_start, 2)

    if error is None:
        final = survey_dir / version
        os.rename(work, final)
        update_latest(survey_dir)
        return RunResult(plan.survey, final, "complete", manifest)

    write_manifest(work / MANIFEST, manifest)
    failure = manifest["failure"]
    note = [f"This run FAILED and is not a version: {failure['error']}"]
    if failure["notebook"]:
        note.insert(0, f"Notebook {failure['notebook']} failed (cell {failure['cell']}); see notebooks/.")
    if isinstance(error, NotebookFailed) and error.traceback:
        note.append("")
        note.append(error.traceback)
    (work / FAILED_NOTE).write_text("\n".join(note) + "\n", encoding="utf-8")
    final = survey_dir / f"{version}{FAILED_SUFFIX}"
    os.rename(work, final)
    if not isinstance(error, Exception):  # KeyboardInterrupt and the like end the batch
        raise error
    return RunResult(plan.survey, final, "failed", manifest, error)


def _notebook_record(nb: Notebook) -> str:
    """The notebook as the manifest names it: relative to the project, or its bare name outside it."""
    try:
        return nb.path.resolve().relative_to(PROJECT_ROOT).as_posix()
    except ValueError:
        return nb.path.name


def _notebook_parameters(nb: Notebook, plan: Plan, nb_input: Path) -> dict:
    """The parameters one notebook gets: the run's own values, then the user's."""
    derived = {
        # Inside the project: a project-relative path, so that the executed
        # notebooks and the manifest carry no machine path.
        "input_dir": input_record(nb_input),
        "db_url": f"sqlite:///{DB_FILE}",
        "out_dir": nb.out_dir,
        "out_file": f"{nb.out_dir}/{OUT_FILES.get(nb.name, nb.name + '.csv')}",
        "years": plan.years,
        "tables_dir": TABLES,
        "manifest_file": MANIFEST,
        "survey": plan.survey,
        # "" when the input has no rdsr/ folder: the notebook then reads none.
        "rdsr_dir": input_record(rdsr) if (rdsr := rdsr_input(plan.input_dir, nb)) is not None else "",
    }
    params = {k: v for k, v in derived.items() if k in nb.parameters}
    params.update({k: v for k, v in plan.parameters.items() if k in nb.parameters})
    # A declared text parameter that the runner sets must stay text ("years": "" not None).
    return dict(sorted(params.items()))


def _finish_outputs(work: Path, manifest: dict) -> None:
    """Figures, xlsx copies, pages and the data package; then every output with its SHA-256."""
    from ..reporting import report

    close_database(work / DB_FILE)
    executed = sorted((work / NOTEBOOKS).glob("*.ipynb")) if (work / NOTEBOOKS).is_dir() else []
    for nb in executed:
        report.notebook_figures(nb, work / FIGURES / nb.stem)
    _write_xlsx_copies(work)
    for nb in executed:
        report.notebook_html(nb, work / HTML / f"{nb.stem}.html", title=f"{manifest['survey']} · {nb.stem}")
    report.write_public_pages(work, manifest)  # html/pseudonymised/, from the pseudonymised report only
    datapackage.write_datapackage(work, manifest)
    manifest["outputs"] = outputs(work)
    manifest["row_counts"] = {
        "database": database_rows(work / DB_FILE),
        "tables": {o["path"]: o["rows"] for o in manifest["outputs"] if "rows" in o},
    }


def _write_xlsx_copies(folder: Path) -> None:
    """Each notebook's CSV tables also as one workbook, where the notebook wrote none."""
    import pandas as pd

    tables = folder / TABLES
    if not tables.is_dir():
        return
    for sub in sorted(p for p in tables.iterdir() if p.is_dir()):
        csvs = sorted(sub.glob("*.csv"))
        if not csvs or any(sub.glob("*.xlsx")):
            continue
        write_xlsx({c.stem: pd.read_csv(c, dtype=str, keep_default_na=False) for c in csvs}, sub / f"{sub.name}.xlsx")


def _write_index(work: Path, manifest: Mapping) -> None:
    from ..reporting import report

    pages = {p.stem: p for p in sorted((work / HTML).glob("*.html")) if p.name != "index.html"}
    report.write_index(work, manifest, pages, work / INDEX)


def _write_params_yaml(path: Path, plan: Plan) -> None:
    import yaml

    doc = {
        "survey": plan.survey,
        "input": input_record(plan.input_dir),
        "years": plan.years or None,
        "parameters": dict(sorted(plan.parameters.items())),
    }
    header = "# The parameters of this run: `drl-analysis run --params parameters.yaml` reruns it.\n"
    path.write_text(header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")


def _write_pipeline_yaml(path: Path, runs: Sequence[tuple[Notebook, Path | None]], manifest: Mapping) -> None:
    """The pipeline of this run, as the RO-Crate's workflow: each notebook with its SHA-256, the
    input folder it reads, the folder it writes, the parameters it declares (name and type)."""
    import yaml

    steps = []
    for nb, nb_input in runs:
        steps.append({
            "notebook": _notebook_record(nb),
            "sha256": sha256_file(nb.path),
            "reads": f"{nb.input_folder}/ of the input folder" if "input_dir" in nb.parameters else "the run's folder",
            "writes": f"{nb.out_dir}/",
            "runs": nb_input is not None,
            "parameters": dict(sorted(nb.parameters.items())),
        })
    doc = {
        "runner": f"drl-analysis run {manifest['packages'].get('drl-analysis', '')}",
        "commit": manifest["git"].get("commit"),
        "kernel": KERNEL,
        "steps": steps,
    }
    header = ("# The pipeline of this version: drl-analysis run executed these notebooks in this order with "
              "papermill,\n# each in the version's folder (a step with runs: false had no input and was skipped).\n")
    path.write_text(header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")

"""The reproducible pipeline: ``drl-analysis run`` and ``drl-analysis verify``.

``run`` executes the notebooks ``notebooks/NN_*.ipynb`` in order with
papermill, each with kernel ``python3`` in the run's own folder, and writes
one *version* per survey::

    data/processed/<survey>/<version>/     version = UTC time + hash of inputs and parameters
        manifest.json      inputs (sha256), parameters, software, git commit, times, row counts
        parameters.yaml    the run's parameters, reusable with ``--params``
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

Parameters
    Each notebook declares its parameters in a cell tagged ``parameters``.
    The runner gives each notebook the parameters it declares: the run's own
    values (:data:`RUNNER_PARAMETERS`: database, input and output folders,
    years) and the user's (``--params FILE.yaml``). A user parameter that no
    notebook declares is refused (papermill would only warn), and so is a
    value of the wrong type.

``verify`` reruns a version from its manifest into a temporary folder and
compares every table (CSV) with the published one.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import csv
import datetime as dt
import hashlib
import json
import os
import re
import secrets
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .. import __version__
from ..core.errors import UserError
from ..ingest.batch import sha256_file
from ..core.paths import NOTEBOOK_DIR, PROCESSED_DIR, PROJECT_ROOT, SAMPLE_DIR
from ..core.years import format_years, parse_years
from ..reporting.pseudonyms import ENV_VAR

# ---------------------------------------------------------------------------
# The layout of a version folder: the one place that names its parts
# ---------------------------------------------------------------------------

MANIFEST = "manifest.json"
PARAMETERS_FILE = "parameters.yaml"
FAILED_NOTE = "FAILED.txt"
DB_FILE = "drl.sqlite"
NOTEBOOKS = "notebooks"
TABLES = "tables"
FIGURES = "figures"
HTML = "html"
REPORT = "report"
LATEST = "latest"
INCOMPLETE_SUFFIX = ".incomplete"
FAILED_SUFFIX = ".failed"

#: Notebooks the runner discovers, in order of their number.
NOTEBOOK_PATTERN = re.compile(r"^(\d\d)_[A-Za-z0-9_]+\.ipynb$")
#: Names of complete versions: UTC time, hash, and a counter when two runs share both.
VERSION_PATTERN = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{8}(-\d+)?$")
SURVEY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")

#: Input subfolder each notebook reads (default ``surveys``); a notebook whose
#: folder is missing or holds no input file is skipped.
INPUT_FOLDERS: dict[str, str] = {"01_ocr_extraction": "dose_reports"}
#: File a notebook with an ``out_file`` parameter writes (default ``<notebook>.csv``);
#: CSV, so that ``verify`` compares it.
OUT_FILES: dict[str, str] = {"01_ocr_extraction": "dose_reports.csv"}
SURVEYS_FOLDER = "surveys"
#: Input subfolder of DICOM dose reports (RDSR), read by the notebook declaring ``rdsr_dir``.
RDSR_FOLDER = "rdsr"
#: Files that count as dose-report images.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".dcm")

#: Parameters whose values the runner sets for every run, and what to use instead.
RUNNER_PARAMETERS: dict[str, str] = {
    "input_dir": "give the input folder with --input (or 'input:' in the params file)",
    "db_url": "each run has its own database, drl.sqlite in its folder",
    "out_dir": "each notebook writes into its folder of the run",
    "out_file": "each notebook writes into its folder of the run",
    "years": "give the years with --years (or 'years:' in the params file)",
    "tables_dir": "the report reads the run's own tables",
    "manifest_file": "the report reads the run's own manifest",
    "survey": "give the survey name with --survey (or 'survey:' in the params file)",
    "rdsr_dir": f"put DICOM dose reports into the input folder's {RDSR_FOLDER}/",
}

#: Packages whose versions the manifest records.
RECORDED_PACKAGES = (
    "numpy", "pandas", "scipy", "scikit-learn", "SQLAlchemy", "python-calamine", "openpyxl", "matplotlib",
    "seaborn", "plotly", "opencv-python-headless", "pytesseract", "pydicom", "papermill", "nbconvert",
    "nbformat", "ipykernel", "weasyprint", "PyYAML",
)

KERNEL = "python3"


# ---------------------------------------------------------------------------
# Notebooks and their parameters
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Notebook:
    """A notebook of the pipeline and the parameters it declares.

    Attributes
    ----------
    path : Path
    name : str
        File name without ``.ipynb``, e.g. ``"02_repair"``.
    parameters : dict of str to str
        Declared parameter -> its type name (``"str"``, ``"int"``, ...).
    defaults : dict of str to object
        Declared parameter -> its default value.
    """

    path: Path
    name: str
    parameters: dict[str, str]
    defaults: dict[str, object]

    @property
    def input_folder(self) -> str:
        return INPUT_FOLDERS.get(self.name, SURVEYS_FOLDER)

    @property
    def out_dir(self) -> str:
        """Folder the notebook writes into, relative to the run's folder."""
        return REPORT if self.name.endswith("_report") else f"{TABLES}/{self.name}"


def declared_parameters(path: str | Path) -> tuple[dict[str, str], dict[str, object]]:
    """The parameters a notebook declares in its cell tagged ``parameters``.

    The cell is parsed as Python (papermill's own inspection reads lines with
    a pattern and gives up on a comment holding ``=``).

    Returns
    -------
    types : dict of str to str
        Parameter -> type name (the annotation, else the default's type).
    defaults : dict of str to object
        Parameter -> default value.

    Raises
    ------
    UserError
        When the cell is missing or holds something other than plain literals.
    """
    import nbformat

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code" and "parameters" in c.metadata.get("tags", [])]
    if not cells:
        return {}, {}
    try:
        tree = ast.parse(cells[0].source)
    except SyntaxError as exc:
        raise UserError(f"{path.name}: its parameters cell is not plain Python ({exc.msg}, line {exc.lineno})") from None
    types: dict[str, str] = {}
    defaults: dict[str, object] = {}
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            name, value, annotation = node.target.id, node.value, ast.unparse(node.annotation)
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name, value, annotation = node.targets[0].id, node.value, None
        else:
            raise UserError(f"{path.name}: its parameters cell may hold only 'name: type = literal' lines "
                            f"(line {node.lineno})")
        try:
            default = ast.literal_eval(value)
        except ValueError:
            raise UserError(f"{path.name}: parameter {name!r} must default to a plain literal (line {node.lineno})") from None
        types[name] = annotation or type(default).__name__
        defaults[name] = default
    return types, defaults


def inspect(path: str | Path) -> Notebook:
    """A notebook of the pipeline with its declared parameters."""
    path = Path(path)
    types, defaults = declared_parameters(path)
    return Notebook(path=path, name=path.stem, parameters=types, defaults=defaults)


def discover(notebook_dir: str | Path | None = None) -> list[Notebook]:
    """The pipeline's notebooks ``NN_*.ipynb`` in ``notebook_dir`` (default ``notebooks/``), in order.

    Raises
    ------
    UserError
        When the folder holds no such notebook.
    """
    folder = Path(notebook_dir or NOTEBOOK_DIR)
    paths = sorted(p for p in folder.glob("*.ipynb") if NOTEBOOK_PATTERN.match(p.name))
    if not paths:
        raise UserError(f"{folder}: no notebooks named NN_name.ipynb")
    return [inspect(p) for p in paths]


def _type_ok(value: object, type_name: str) -> tuple[bool, object]:
    if type_name == "bool":
        return isinstance(value, bool), value
    if type_name == "int":
        return isinstance(value, int) and not isinstance(value, bool), value
    if type_name == "float":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return ok, float(value) if ok else value
    if type_name == "str":
        if isinstance(value, str):
            return True, value
        # An exam code or edition written without quotes in YAML reads as a number.
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return True, str(value)
        return False, value
    return True, value


def check_parameters(parameters: Mapping[str, object], notebooks: Sequence[Notebook]) -> dict[str, object]:
    """Validate user parameters against what the notebooks declare.

    Parameters
    ----------
    parameters : mapping of str to object
        User parameters (from the params file).
    notebooks : sequence of Notebook
        The notebooks of the run.

    Returns
    -------
    dict of str to object
        The parameters, numbers given for text parameters turned into text.

    Raises
    ------
    UserError
        Naming the parameter when no notebook declares it, when the runner
        sets it, or when its value has the wrong type.
    """
    names = ", ".join(nb.name for nb in notebooks)
    out: dict[str, object] = {}
    for name, value in parameters.items():
        if name in RUNNER_PARAMETERS:
            raise UserError(f"parameter {name!r} is set by the runner for each run: {RUNNER_PARAMETERS[name]}")
        declaring = [nb for nb in notebooks if name in nb.parameters]
        if not declaring:
            raise UserError(f"parameter {name!r} is declared by no notebook of this run ({names})")
        for nb in declaring:
            ok, coerced = _type_ok(value, nb.parameters[name])
            if not ok:
                raise UserError(
                    f"parameter {name!r}: {nb.name} expects a {nb.parameters[name]}, not {value!r} ({type(value).__name__})"
                )
        out[name] = coerced
    return out


# ---------------------------------------------------------------------------
# What to run: surveys, inputs, years
# ---------------------------------------------------------------------------


@dataclass
class Plan:
    """One survey to run.

    Attributes
    ----------
    survey : str
        Folder name under the output root.
    input_dir : Path
        The input folder: ``surveys/`` and optionally ``rdsr/`` and ``dose_reports/`` (or the
        survey files themselves).
    years : str
        Survey years passed to the notebooks, such as ``"2022"`` or
        ``"2021-2023"``; ``""`` for all stored years.
    parameters : dict
        User parameters for the notebooks.
    """

    survey: str
    input_dir: Path
    years: str = ""
    parameters: dict = field(default_factory=dict)


def years_text(years: Sequence[int] | None) -> str:
    """``[2021, 2022, 2023]`` -> ``"2021-2023"``; ``[2021, 2023]`` -> ``"2021,2023"``; none -> ``""``
    (:func:`drl_analysis.core.years.format_years`)."""
    return format_years(years)


def _year_groups(values: object, where: str) -> list[str]:
    """Each item of ``--years`` (or of a params-file list) is one survey."""
    if values is None or values == "" or values == []:
        return []
    items = values if isinstance(values, list) else [values]
    groups = []
    for item in items:
        try:
            groups.append(years_text(parse_years([str(item)])))
        except UserError:
            raise UserError(f"{where}: {item!r} is not a year or a range such as 2021-2023") from None
    return groups


def _check_survey(name: str, where: str) -> str:
    if not SURVEY_PATTERN.match(name):
        raise UserError(f"{where}: survey name {name!r} may hold only letters, digits and . _ + - (no spaces)")
    return name


def _input_dir(value: str | Path | None, where: str) -> Path:
    if value in (None, ""):
        return SAMPLE_DIR
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = Path.cwd() / path  # a path given by the user is relative to where they typed it
    if not path.is_dir():
        raise UserError(f"{where}: {value} is not a folder")
    return path.resolve()


_FILE_KEYS = {"survey", "input", "out", "years", "parameters", "surveys"}
_SURVEY_KEYS = {"survey", "input", "years", "parameters"}


def _read_params_file(path: str) -> dict:
    import yaml

    p = Path(path)
    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"--params: {path} not found") from None
    except yaml.YAMLError as exc:
        raise UserError(f"--params: {path} is not valid YAML ({str(exc).splitlines()[0]})") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise UserError(f"--params: {path} must hold a mapping such as 'parameters: {{seed: 1}}'")
    unknown = sorted(set(doc) - _FILE_KEYS)
    if unknown:
        raise UserError(
            f"--params: {path}: unknown key {unknown[0]!r}; keys are {', '.join(sorted(_FILE_KEYS))} "
            "(notebook parameters go under 'parameters:')"
        )
    for key in ("parameters",):
        if doc.get(key) is not None and not isinstance(doc[key], dict):
            raise UserError(f"--params: {path}: '{key}:' must be a mapping of parameter names to values")
    return doc


def plans_from_args(args: argparse.Namespace) -> tuple[list[Plan], Path]:
    """The surveys to run and the output root, from the command line and the params file.

    Each item of ``--years`` is one survey (``--years 2021 2022 2023``: three
    versions; ``--years 2021-2023``: one version over three years); its name
    is the survey name (``--survey``, default the input folder's name) plus
    the years. A single item with ``--survey`` keeps the name as given.
    """
    doc = _read_params_file(args.params) if getattr(args, "params", None) else {}
    where = f"--params {args.params}" if getattr(args, "params", None) else "run"
    common = dict(doc.get("parameters") or {})
    out_root = Path(args.out or doc.get("out") or PROCESSED_DIR).expanduser()
    if args.out is None and doc.get("out") and not out_root.is_absolute():
        out_root = Path(args.params).resolve().parent / out_root
    out_root = out_root.resolve()

    if doc.get("surveys") is not None:
        if args.survey or args.input or args.years:
            raise UserError("--survey, --input and --years cannot be combined with a params file that lists 'surveys:'")
        if not isinstance(doc["surveys"], list) or not doc["surveys"]:
            raise UserError(f"{where}: 'surveys:' must be a list of mappings with at least 'survey:'")
        plans, base = [], Path(args.params).resolve().parent
        for i, entry in enumerate(doc["surveys"], 1):
            if not isinstance(entry, dict) or not entry.get("survey"):
                raise UserError(f"{where}: surveys item {i} needs a 'survey:' name")
            unknown = sorted(set(entry) - _SURVEY_KEYS)
            if unknown:
                raise UserError(f"{where}: surveys item {i}: unknown key {unknown[0]!r}")
            groups = _year_groups(entry.get("years"), f"{where}: surveys item {i}")
            if len(groups) > 1:
                raise UserError(f"{where}: surveys item {i}: give one year or one range per survey")
            raw_input = entry.get("input", doc.get("input"))
            if raw_input and not Path(raw_input).expanduser().is_absolute():
                raw_input = base / raw_input
            params = {**common, **(entry.get("parameters") or {})}
            plans.append(Plan(
                survey=_check_survey(str(entry["survey"]), f"{where}: surveys item {i}"),
                input_dir=_input_dir(raw_input, f"{where}: surveys item {i}: input"),
                years=groups[0] if groups else "",
                parameters=params,
            ))
        names = [p.survey for p in plans]
        if len(set(names)) != len(names):
            raise UserError(f"{where}: two surveys share one name")
        return plans, out_root

    raw_input = args.input
    if raw_input is None and doc.get("input"):
        raw_input = doc["input"]
        if not Path(raw_input).expanduser().is_absolute():
            raw_input = Path(args.params).resolve().parent / raw_input
    input_dir = _input_dir(raw_input, "--input")
    survey = args.survey or doc.get("survey")
    base = str(survey) if survey else ("sample" if input_dir == SAMPLE_DIR.resolve() else input_dir.name)
    _check_survey(base, "--survey")
    groups = _year_groups(args.years if args.years else doc.get("years"), "--years")
    if not groups:
        return [Plan(base, input_dir, "", common)], out_root
    if len(groups) == 1 and survey:
        return [Plan(base, input_dir, groups[0], common)], out_root
    return [Plan(f"{base}-{g.replace(',', '+')}", input_dir, g, common) for g in groups], out_root


# ---------------------------------------------------------------------------
# Inputs, hashes, software
# ---------------------------------------------------------------------------


def _notebook_input(plan: Plan, nb: Notebook) -> Path | None:
    """The input folder of a notebook, or None when it has nothing to read."""
    folder = plan.input_dir / nb.input_folder
    if nb.input_folder == SURVEYS_FOLDER:
        return folder if folder.is_dir() else plan.input_dir
    if not folder.is_dir():
        return None
    if nb.input_folder == "dose_reports" and not any(
        p.suffix.lower() in IMAGE_SUFFIXES for p in folder.rglob("*") if p.is_file()
    ):
        return None
    return folder


def _rdsr_input(plan: Plan, nb: Notebook) -> Path | None:
    """The input's folder of DICOM dose reports for a notebook that reads them, or None."""
    folder = plan.input_dir / RDSR_FOLDER
    return folder if "rdsr_dir" in nb.parameters and folder.is_dir() else None


def _input_files(folders: Sequence[Path], root: Path) -> list[dict]:
    files = {}
    for folder in folders:
        for p in sorted(folder.rglob("*")):
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts):
                rel = p.relative_to(root).as_posix()
                files[rel] = {"path": rel, "bytes": p.stat().st_size, "sha256": sha256_file(p)}
    return [files[k] for k in sorted(files)]


def run_hash(inputs: Sequence[Mapping], parameters: Mapping, years: str, notebooks: Sequence[str]) -> str:
    """8 hex digits of SHA-256 over the inputs' hashes, the parameters, the years and the notebooks run."""
    doc = {
        "inputs": [[f["path"], f["sha256"]] for f in inputs],
        "parameters": parameters,
        "years": years,
        "notebooks": list(notebooks),
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:8]


def package_versions() -> dict[str, str]:
    """Versions of Python, this package and the packages that shape the results."""
    from importlib import metadata

    out = {"python": sys.version.split()[0], "drl-analysis": __version__}
    for name in RECORDED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def _tesseract_version() -> str | None:
    try:
        import pytesseract

        return str(pytesseract.get_tesseract_version())
    except Exception:  # noqa: BLE001 - recorded when available, never needed
        return None


def git_state(root: Path = PROJECT_ROOT) -> dict:
    """The git commit of the project folder and whether it has uncommitted changes."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=20, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=20, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": bool(dirty)}


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _input_record(input_dir: Path) -> str:
    """The input folder as the manifest records it: relative to the project when inside it."""
    try:
        return input_dir.resolve().relative_to(PROJECT_ROOT).as_posix()
    except ValueError:
        return str(input_dir.resolve())


def _resolve_recorded_input(text: str) -> Path:
    p = Path(text)
    return p if p.is_absolute() else PROJECT_ROOT / p


# ---------------------------------------------------------------------------
# Progress
# ---------------------------------------------------------------------------


class Progress:
    """Overall and per-notebook progress on stderr.

    On a terminal: an overall bar over all notebooks of all surveys and
    papermill's bar over the cells of the current notebook. Otherwise one
    line per notebook. ``enabled=False`` prints nothing.
    """

    def __init__(self, total: int, enabled: bool = True, stream=None):
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.total = total
        self.done = 0
        self.bar = None
        if self.tty:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc="run", unit="notebook", position=0, file=self.stream)

    def cell_bar(self, survey: str, name: str) -> bool | dict:
        """papermill's ``progress_bar`` argument for one notebook."""
        if not self.tty:
            return False
        return {"desc": f"{survey} {name}", "leave": False, "position": 1, "file": self.stream}

    def start(self, survey: str, name: str) -> None:
        if self.bar is not None:
            self.bar.set_description(f"run {survey}")
        elif self.enabled:
            print(f"[{self.done + 1}/{self.total}] {survey}: {name} …", file=self.stream, flush=True)

    def finish(self, survey: str, name: str, status: str, seconds: float | None = None) -> None:
        self.done += 1
        timing = f" in {seconds:.1f} s" if seconds is not None else ""
        if self.bar is not None:
            self.bar.update(1)
            self.bar.write(f"{survey}: {name} {status}{timing}", file=self.stream)
        elif self.enabled:
            print(f"[{self.done}/{self.total}] {survey}: {name} {status}{timing}", file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# ---------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------


class NotebookFailed(Exception):
    """A notebook raised; ``user_error`` when it was a :class:`UserError`."""

    def __init__(self, notebook: str, ename: str, evalue: str, traceback: str, cell: int | None):
        self.notebook = notebook
        self.ename = ename
        self.evalue = evalue
        self.traceback = traceback
        self.cell = cell
        super().__init__(f"notebook {notebook} failed: {ename}: {evalue}")

    @property
    def user_error(self) -> bool:
        return self.ename in ("UserError", "CatalogueError")


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
        return self.folder / HTML / "index.html"

    @property
    def pdfs(self) -> list[Path]:
        return sorted((self.folder / REPORT).rglob("*.pdf")) if (self.folder / REPORT).is_dir() else []


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@contextlib.contextmanager
def _kernel_environment(key_text: str | None) -> Iterator[None]:
    """Environment the kernels inherit: this package first on the path, plotly
    figures as data (turned into offline HTML later), a fixed hash seed, no
    progress bars inside notebooks (the run shows its own; in a page they are
    noise), and the pseudonym key (never a notebook parameter, so never in an
    output). tqdm reads ``TQDM_DISABLE`` when it is imported: the runner imports
    it before, so its own bars stay."""
    saved = dict(os.environ)
    path = os.environ.get("PYTHONPATH", "")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(PROJECT_ROOT)] + ([path] if path else []))
    os.environ["PLOTLY_RENDERER"] = "plotly_mimetype"
    os.environ["PYTHONHASHSEED"] = "0"
    os.environ["TQDM_DISABLE"] = "1"
    # tqdm.auto warns in a kernel without ipywidgets, before any bar is made.
    warnings = os.environ.get("PYTHONWARNINGS", "")
    os.environ["PYTHONWARNINGS"] = ",".join(filter(None, [warnings, "ignore:IProgress not found"]))
    if key_text is not None:
        os.environ[ENV_VAR] = key_text
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def _quiet_papermill() -> Iterator[None]:
    """papermill warns about parameters it cannot parse or does not know; the runner has
    already parsed and checked them, so these warnings would only mislead."""
    import logging

    log = logging.getLogger("papermill")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def _execute(nb: Notebook, out: Path, parameters: dict, cwd: Path, progress_bar) -> None:
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    try:
        with _quiet_papermill():
            pm.execute_notebook(
                str(nb.path),
                str(out),
                parameters=parameters,
                kernel_name=KERNEL,
                cwd=str(cwd),
                progress_bar=progress_bar,
                log_output=False,
                request_save_on_cell_execute=False,
                # The kernel's own log (e.g. its note that it talks over local TCP) is noise here;
                # its errors reach us through papermill.
                extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
            )
    except PapermillExecutionError as exc:
        tb = _ANSI.sub("", "\n".join(exc.traceback or []))
        raise NotebookFailed(nb.name, exc.ename, _ANSI.sub("", str(exc.evalue)), tb, exc.exec_count) from None
    except Exception as exc:  # the kernel died, timed out or could not start
        raise NotebookFailed(nb.name, type(exc).__name__, str(exc).strip().splitlines()[0] if str(exc).strip() else "",
                             "", None) from exc
    _relative_papermill_paths(out, nb)


def _relative_papermill_paths(executed: Path, nb: Notebook) -> None:
    """papermill records where the notebook came from and went to as machine
    paths; keep them relative (to the project, and to the version folder)."""
    import nbformat

    doc = nbformat.read(executed, as_version=4)
    meta = doc.metadata.get("papermill", {})
    try:
        meta["input_path"] = nb.path.resolve().relative_to(PROJECT_ROOT).as_posix()
    except ValueError:
        meta["input_path"] = nb.path.name
    meta["output_path"] = f"notebooks/{executed.name}"
    nbformat.write(doc, executed)


def _csv_rows(path: Path) -> int:
    with open(path, newline="", encoding="utf-8") as fh:
        return max(sum(1 for _ in csv.reader(fh)) - 1, 0)


def _close_database(db: Path) -> None:
    """Fold SQLite's write-ahead log into the database file, so the run leaves one file."""
    if not db.is_file():
        return
    con = sqlite3.connect(db)
    try:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.execute("PRAGMA journal_mode=DELETE")
    finally:
        con.close()


def _database_rows(db: Path) -> dict[str, int]:
    if not db.is_file():
        return {}
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        return {n: con.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}
    finally:
        con.close()


def _outputs(folder: Path) -> list[dict]:
    out = []
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if not p.is_file() or rel in (MANIFEST, f"{HTML}/index.html", FAILED_NOTE):
            continue
        entry = {"path": rel, "bytes": p.stat().st_size, "sha256": sha256_file(p)}
        if p.suffix == ".csv":
            entry["rows"] = _csv_rows(p)
        out.append(entry)
    return out


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
        with pd.ExcelWriter(sub / f"{sub.name}.xlsx", engine="openpyxl") as writer:
            for c in csvs:
                pd.read_csv(c, dtype=str, keep_default_na=False).to_excel(writer, sheet_name=c.stem[:31], index=False)


def _write_json(path: Path, doc: Mapping) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _free_name(survey_dir: Path, version: str) -> str:
    name, n = version, 1
    while any((survey_dir / f"{name}{s}").exists() for s in ("", INCOMPLETE_SUFFIX, FAILED_SUFFIX)):
        n += 1
        name = f"{version}-{n}"
    return name


def complete_versions(survey_dir: str | Path) -> list[Path]:
    """The complete versions in a survey's folder, oldest first."""
    survey_dir = Path(survey_dir)
    if not survey_dir.is_dir():
        return []
    found = []
    for p in survey_dir.iterdir():
        if p.is_dir() and not p.is_symlink() and VERSION_PATTERN.match(p.name):
            try:
                if json.loads((p / MANIFEST).read_text(encoding="utf-8")).get("status") == "complete":
                    found.append(p)
            except (OSError, ValueError):
                continue
    return sorted(found, key=lambda p: p.name)


def update_latest(survey_dir: str | Path) -> Path | None:
    """Point ``latest`` at the newest complete version: a relative symlink, or,
    where symlinks are impossible, a file holding the version's name."""
    survey_dir = Path(survey_dir)
    versions = complete_versions(survey_dir)
    if not versions:
        return None
    target = versions[-1].name
    link = survey_dir / LATEST
    tmp = survey_dir / f".{LATEST}.{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    try:
        os.symlink(target, tmp, target_is_directory=True)
    except (OSError, NotImplementedError):
        tmp.write_text(target + "\n", encoding="utf-8")
    os.replace(tmp, link)
    return survey_dir / target


def resolve_latest(survey_dir: str | Path) -> Path | None:
    """The folder ``latest`` points to (symlink or file), or None."""
    link = Path(survey_dir) / LATEST
    if link.is_symlink():
        return link.resolve()
    if link.is_file():
        return Path(survey_dir) / link.read_text(encoding="utf-8").strip()
    return None


def run_survey(
    plan: Plan,
    notebooks: Sequence[Notebook],
    out_root: str | Path,
    *,
    key=None,
    progress: Progress | None = None,
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
        Handed to the kernels through the environment; None leaves the
        notebooks to find it themselves.
    progress : Progress, optional

    Returns
    -------
    RunResult
        ``status`` ``"complete"``, or ``"failed"`` with ``error`` (the folder
        then ends in ``.failed``).
    """
    progress = progress or Progress(len(notebooks), enabled=False)
    started = _utc_now()
    t_start = time.monotonic()

    runs = [(nb, _notebook_input(plan, nb)) for nb in notebooks]
    input_folders = sorted({p for nb, p in runs if p is not None and "input_dir" in nb.parameters}
                           | {r for nb, p in runs if p is not None and (r := _rdsr_input(plan, nb)) is not None})
    inputs = _input_files(input_folders, plan.input_dir)
    active = [nb.name for nb, p in runs if p is not None]
    digest = run_hash(inputs, plan.parameters, plan.years, active)
    survey_dir = Path(out_root) / plan.survey
    survey_dir.mkdir(parents=True, exist_ok=True)
    version = _free_name(survey_dir, f"{started.strftime('%Y%m%dT%H%M%SZ')}-{digest}")
    work = survey_dir / f"{version}{INCOMPLETE_SUFFIX}"
    work.mkdir()

    manifest: dict = {
        "manifest_version": 1,
        "status": "running",
        "survey": plan.survey,
        "version": version,
        "hash": digest,
        "started_utc": _iso(started),
        "finished_utc": None,
        "duration_s": None,
        "inputs": {"folder": _input_record(plan.input_dir), "files": inputs},
        "parameters": {"user": dict(sorted(plan.parameters.items())), "years": plan.years, "notebooks": {}},
        "notebooks": [],
        "packages": package_versions(),
        "git": git_state(),
        "pseudonym_key": {"fingerprint": key.fingerprint, "source": key.source.split(" ")[0]} if key else None,
        "kernel": KERNEL,
        "working_folder": "the version folder; paths in parameters are relative to it",
    }
    if "01_ocr_extraction" in active:
        manifest["packages"]["tesseract"] = _tesseract_version()
    _write_params_yaml(work / PARAMETERS_FILE, plan)
    _write_json(work / MANIFEST, manifest)

    error: BaseException | None = None
    try:
        for nb, nb_input in runs:
            entry = {"name": nb.name, "sha256": sha256_file(nb.path)}
            manifest["notebooks"].append(entry)
            if nb_input is None:
                entry.update(status="skipped", reason=f"no input in {nb.input_folder}/")
                progress.finish(plan.survey, nb.name, f"skipped (no input in {nb.input_folder}/)")
                continue
            params = _notebook_parameters(nb, plan, nb_input)
            manifest["parameters"]["notebooks"][nb.name] = params
            (work / nb.out_dir).mkdir(parents=True, exist_ok=True)
            (work / NOTEBOOKS).mkdir(exist_ok=True)
            t0, t0_utc = time.monotonic(), _utc_now()
            entry.update(status="running", started_utc=_iso(t0_utc))
            progress.start(plan.survey, nb.name)
            try:
                _execute(nb, work / NOTEBOOKS / nb.path.name, params, work, progress.cell_bar(plan.survey, nb.name))
            finally:
                entry.update(finished_utc=_iso(_utc_now()), duration_s=round(time.monotonic() - t0, 2))
            entry["status"] = "ok"
            progress.finish(plan.survey, nb.name, "done", entry["duration_s"])
        _finish_outputs(work, manifest)
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
    finished = _utc_now()
    manifest["finished_utc"] = _iso(finished)
    manifest["duration_s"] = round(time.monotonic() - t_start, 2)

    if error is None:
        manifest["status"] = "complete"
        _write_json(work / MANIFEST, manifest)
        _write_index(work, manifest)
        final = survey_dir / version
        os.rename(work, final)
        update_latest(survey_dir)
        return RunResult(plan.survey, final, "complete", manifest)

    _write_json(work / MANIFEST, manifest)
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


def _notebook_parameters(nb: Notebook, plan: Plan, nb_input: Path) -> dict:
    """The parameters one notebook gets: the run's own values, then the user's."""
    derived = {
        # Inside the project: a project-relative path, so that the executed
        # notebooks and the manifest carry no machine path.
        "input_dir": _input_record(nb_input),
        "db_url": f"sqlite:///{DB_FILE}",
        "out_dir": nb.out_dir,
        "out_file": f"{nb.out_dir}/{OUT_FILES.get(nb.name, nb.name + '.csv')}",
        "years": plan.years,
        "tables_dir": TABLES,
        "manifest_file": MANIFEST,
        "survey": plan.survey,
        # "" when the input has no rdsr/ folder: the notebook then reads none.
        "rdsr_dir": _input_record(rdsr) if (rdsr := _rdsr_input(plan, nb)) is not None else "",
    }
    params = {k: v for k, v in derived.items() if k in nb.parameters}
    params.update({k: v for k, v in plan.parameters.items() if k in nb.parameters})
    # A declared text parameter that the runner sets must stay text ("years": "" not None).
    return dict(sorted(params.items()))


def _finish_outputs(work: Path, manifest: dict) -> None:
    from ..reporting import report

    _close_database(work / DB_FILE)
    executed = sorted((work / NOTEBOOKS).glob("*.ipynb")) if (work / NOTEBOOKS).is_dir() else []
    for nb in executed:
        report.notebook_figures(nb, work / FIGURES / nb.stem)
    _write_xlsx_copies(work)
    for nb in executed:
        report.notebook_html(nb, work / HTML / f"{nb.stem}.html", title=f"{manifest['survey']} · {nb.stem}")
    manifest["outputs"] = _outputs(work)
    manifest["row_counts"] = {
        "database": _database_rows(work / DB_FILE),
        "tables": {o["path"]: o["rows"] for o in manifest["outputs"] if "rows" in o},
    }


def _write_index(work: Path, manifest: Mapping) -> None:
    from ..reporting import report

    pages = {p.stem: p for p in sorted((work / HTML).glob("*.html")) if p.name != "index.html"}
    report.write_index(work, manifest, pages, work / HTML / "index.html")


def _write_params_yaml(path: Path, plan: Plan) -> None:
    import yaml

    doc = {
        "survey": plan.survey,
        "input": _input_record(plan.input_dir),
        "years": plan.years or None,
        "parameters": dict(sorted(plan.parameters.items())),
    }
    header = "# The parameters of this run: `drl-analysis run --params parameters.yaml` reruns it.\n"
    path.write_text(header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")


def prepare(plans: Sequence[Plan], notebook_dir: str | Path | None = None) -> list[Notebook]:
    """Discover the notebooks and check every plan's parameters against them (before anything runs)."""
    notebooks = discover(notebook_dir)
    for plan in plans:
        plan.parameters = check_parameters(plan.parameters, notebooks)
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
    notebook_dir : str or Path, default ``notebooks/``
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
        if uses_key and progress:
            verb = "created a new" if key.created else "using the"
            print(f"pseudonyms: {verb} key from {key.source} (fingerprint {key.fingerprint}); "
                  "it is never written into the outputs", file=stream)
    if not uses_key:
        key = None  # a run records the key's fingerprint only when a notebook uses the key
    total = sum(1 for _ in plans) * len(notebooks)
    import papermill  # noqa: F401 - with its tqdm, before the kernels' environment disables tqdm
    import tqdm  # noqa: F401

    bar = Progress(total, enabled=progress, stream=stream)
    results = []
    try:
        with _kernel_environment(key.secret.decode("utf-8") if key else None):
            for plan in plans:
                results.append(run_survey(plan, notebooks, out_root, key=key, progress=bar))
    finally:
        bar.close()
    return results


def _print_result(result: RunResult, stream=None) -> None:
    stream = stream or sys.stdout
    if result.status == "complete":
        print(f"{result.survey}: version {result.folder.name} in {result.folder}", file=stream)
        print(f"  HTML index: {result.index}", file=stream)
        for pdf in result.pdfs:
            label = "PDF (pseudonymised)" if "pseudonymised" in pdf.name else "PDF"
            print(f"  {label}: {pdf}", file=stream)
    else:
        print(f"{result.survey}: FAILED, kept as {result.folder} (not a version; see {FAILED_NOTE})", file=stream)


def command(args: argparse.Namespace) -> int:
    """``drl-analysis run``: run the notebooks for each survey and print where the reports are.

    Returns
    -------
    int
        0 when every survey's run completed, 1 when a notebook failed with an
        error of ours (its traceback is printed). A user error inside a
        notebook (a bad value of a parameter) raises :class:`UserError`.
    """
    plans, out_root = plans_from_args(args)
    results = run(plans, out_root, key_file=args.pseudonym_key_file)
    status = 0
    for result in results:
        _print_result(result)
        err = result.error
        if err is None:
            continue
        status = 1
        if isinstance(err, NotebookFailed):
            if err.user_error and len(results) == 1:
                raise UserError(f"notebook {err.notebook}: {err.evalue} (the failed run is kept in {result.folder})")
            if err.traceback:
                print(err.traceback, file=sys.stderr)
            print(f"drl-analysis run: {result.survey}: {err}", file=sys.stderr)
        else:
            import traceback

            traceback.print_exception(err, file=sys.stderr)
    return status


# ---------------------------------------------------------------------------
# Verify
# ---------------------------------------------------------------------------


@dataclass
class Verification:
    """The outcome of :func:`verify`."""

    folder: Path
    identical: list[str] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences


def compare_table(published: Path, rerun: Path, name: str) -> str | None:
    """How two CSV tables differ, in one line, or None when they are identical.

    Rows are numbered from 1 (the first row under the header).
    """
    if published.read_bytes() == rerun.read_bytes():
        return None
    import pandas as pd

    a = pd.read_csv(published, dtype=str, keep_default_na=False)
    b = pd.read_csv(rerun, dtype=str, keep_default_na=False)
    if list(a.columns) != list(b.columns):
        gone = [c for c in b.columns if c not in a.columns]
        new = [c for c in a.columns if c not in b.columns]
        return f"{name}: columns differ (published has {new or 'none'} extra, lacks {gone or 'none'})"
    n = min(len(a), len(b))
    diff = (a.iloc[:n].to_numpy() != b.iloc[:n].to_numpy())
    rows = [i + 1 for i in range(n) if diff[i].any()]
    parts = []
    if rows:
        first = rows[0] - 1
        col = a.columns[int(diff[first].argmax())]
        shown = ", ".join(map(str, rows[:10])) + (f" and {len(rows) - 10} more" if len(rows) > 10 else "")
        parts.append(
            f"rows {shown} differ (row {rows[0]}, column {col}: published {a.iat[first, a.columns.get_loc(col)]!r}, "
            f"rerun {b.iat[first, b.columns.get_loc(col)]!r})"
        )
    if len(a) != len(b):
        parts.append(f"published has {len(a)} rows, rerun {len(b)}")
    if not parts:  # same cells, other bytes (line ends, quoting)
        parts.append("same cells, different bytes (line ends or quoting)")
    return f"{name}: " + "; ".join(parts)


def compare_versions(published: str | Path, rerun: str | Path, *, skip: Sequence[str] = ()) -> Verification:
    """Compare every CSV table of two version folders.

    Parameters
    ----------
    published, rerun : str or Path
        Version folders.
    skip : sequence of str
        Folder prefixes (relative paths) not compared, e.g. the pseudonymised
        tables when the key is not at hand.
    """
    published, rerun = Path(published), Path(rerun)
    result = Verification(published)

    def tables(root: Path) -> dict[str, Path]:
        return {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*.csv"))}

    a, b = tables(published), tables(rerun)
    for name in sorted(set(a) | set(b)):
        if any(name.startswith(s) for s in skip):
            result.skipped.append(name)
        elif name not in b:
            result.differences.append(f"{name}: published, but the rerun does not write it")
        elif name not in a:
            result.differences.append(f"{name}: written by the rerun, missing from the published version")
        else:
            message = compare_table(a[name], b[name], name)
            (result.differences.append(message) if message else result.identical.append(name))
    return result


def read_manifest(folder: str | Path) -> dict:
    """The manifest of a complete version.

    Raises
    ------
    UserError
        When the folder has no manifest or is not a complete version.
    """
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.is_file():
        raise UserError(f"{folder}: no {MANIFEST}; give a version folder written by drl-analysis run")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        raise UserError(f"{path}: not valid JSON") from None
    if manifest.get("status") != "complete":
        raise UserError(f"{folder}: this run is {manifest.get('status')!r}, not a complete version")
    return manifest


def plan_from_manifest(manifest: Mapping) -> Plan:
    """The plan that reproduces a version."""
    return Plan(
        survey=manifest["survey"],
        input_dir=_resolve_recorded_input(manifest["inputs"]["folder"]),
        years=manifest["parameters"].get("years", ""),
        parameters=dict(manifest["parameters"].get("user", {})),
    )


def verify(
    folder: str | Path,
    *,
    progress: bool = True,
    keep: str | Path | None = None,
    stream=None,
    key_file: str | Path | None = None,
) -> Verification:
    """Rerun a version from its manifest and compare every table with the published one.

    Parameters
    ----------
    folder : str or Path
        A complete version folder.
    progress : bool, default True
    keep : str or Path, optional
        Write the rerun under this folder (kept) instead of a temporary one.
    stream : file, optional
        Where notes go; default stderr.
    key_file : str or Path, optional
        The pseudonym key file the run used; default the environment variable
        or the user's key file.

    Returns
    -------
    Verification
        ``ok`` when every table is identical; ``differences`` say which table
        and rows differ. Pseudonymised tables are compared only with the key
        the run used (same fingerprint); otherwise they are listed as skipped.
    """
    folder = Path(folder).resolve()
    stream = stream or sys.stderr
    manifest = read_manifest(folder)
    plan = plan_from_manifest(manifest)
    result = Verification(folder)
    if not plan.input_dir.is_dir():
        raise UserError(f"{folder}: its input folder {plan.input_dir} is missing")
    recorded = {f["path"]: f["sha256"] for f in manifest["inputs"]["files"]}
    for rel, sha in recorded.items():
        p = plan.input_dir / rel
        if not p.is_file():
            result.differences.append(f"input {rel}: missing")
        elif sha256_file(p) != sha:
            result.differences.append(f"input {rel}: changed since the run (sha256 differs)")
    if result.differences:
        return result

    key, skip = None, []
    recorded_key = manifest.get("pseudonym_key")
    if recorded_key:
        from ..reporting.pseudonyms import PseudonymKey, load_key

        try:
            key = load_key(key_file, create=False)
        except UserError:
            if key_file is not None:
                raise
            key = None
        if key is None or key.fingerprint != recorded_key["fingerprint"]:
            skip.append(f"{REPORT}/pseudonymised/")
            print(
                f"verify: the pseudonymised tables need the run's key (fingerprint {recorded_key['fingerprint']}); "
                f"give it with --pseudonym-key-file or set {ENV_VAR} to check them too",
                file=stream,
            )
            # The rerun still writes a pseudonymised edition; a throwaway key keeps the user's key file untouched.
            key = PseudonymKey(secrets.token_hex(32).encode(), "a throwaway key for the rerun")
    notebooks = discover()
    changed = [nb.name for nb in notebooks
               if any(e["name"] == nb.name and e["sha256"] != sha256_file(nb.path) for e in manifest["notebooks"])]
    if changed:
        print(f"verify: notebooks changed since the run: {', '.join(changed)}", file=stream)

    with contextlib.ExitStack() as stack:
        root = Path(keep) if keep else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="drl-verify-")))
        results = run([plan], root, key=key, progress=progress, stream=stream)
        rerun = results[0]
        if rerun.status != "complete":
            err = rerun.error
            result.differences.append(f"the rerun failed: {err}")
            return result
        compared = compare_versions(folder, rerun.folder, skip=skip)
    result.identical, result.skipped = compared.identical, compared.skipped
    result.differences += compared.differences
    return result


def verify_command(args: argparse.Namespace) -> int:
    """``drl-analysis verify VERSION_FOLDER``: 0 when every table is reproduced, 1 otherwise."""
    folder = Path(args.version)
    if folder.name == LATEST:
        folder = resolve_latest(folder.parent) or folder
    result = verify(folder, key_file=getattr(args, "pseudonym_key_file", None))
    for line in result.differences:
        print(f"DIFFERS  {line}")
    for name in result.skipped:
        print(f"skipped  {name}")
    if result.ok:
        print(f"verify: {folder}: all {len(result.identical)} tables identical")
        return 0
    print(f"verify: {folder}: {len(result.differences)} of {len(result.differences) + len(result.identical)} "
          "tables or inputs differ")
    return 1

"""The pipeline's notebooks: discovery, the parameters each declares, and the
checks on the parameters a user gives (before anything runs).

Each notebook ``notebooks/NN_name.ipynb`` declares its parameters in a cell
tagged ``parameters``, as typed literals. The runner gives each notebook the
parameters it declares: the run's own values (:data:`RUNNER_PARAMETERS`:
database, input and output folders, years) and the user's. A user parameter
that no notebook declares is refused (papermill would only warn), and so is a
value of the wrong type.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import UserError, several, suggestion
from ..core.paths import IMAGE_SUFFIXES, NOTEBOOK_DIR
from .checks import value_problem
from .layout import REPORT, TABLES

#: Notebooks the runner discovers, in order of their number.
NOTEBOOK_PATTERN = re.compile(r"^(\d\d)_[A-Za-z0-9_]+\.ipynb$")

#: Input subfolder each notebook reads (default ``surveys``); a notebook whose
#: folder is missing or holds no input file is skipped.
INPUT_FOLDERS: dict[str, str] = {"01_ocr_extraction": "dose_reports"}
#: File a notebook with an ``out_file`` parameter writes (default ``<notebook>.csv``);
#: CSV, so that ``verify`` compares it.
OUT_FILES: dict[str, str] = {"01_ocr_extraction": "dose_reports.csv"}
SURVEYS_FOLDER = "surveys"
#: Input subfolder of DICOM dose reports (RDSR), read by the notebook declaring ``rdsr_dir``.
RDSR_FOLDER = "rdsr"

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

KERNEL = "python3"


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
    """The pipeline's notebooks ``NN_*.ipynb`` in ``notebook_dir``, in order.

    The default folder is the checkout's ``notebooks/``, or the copies an
    installed package carries (:data:`drl_analysis.core.paths.NOTEBOOK_DIR`);
    ``drl-analysis run --notebooks DIR`` runs an own copy.

    Raises
    ------
    UserError
        When the folder does not exist or holds no such notebook.
    """
    folder = Path(notebook_dir or NOTEBOOK_DIR).expanduser()
    if not folder.is_dir():
        raise UserError(f"--notebooks: {folder} is not a folder")
    paths = sorted(p for p in folder.glob("*.ipynb") if NOTEBOOK_PATTERN.match(p.name))
    if not paths:
        raise UserError(f"{folder}: no notebooks named NN_name.ipynb")
    return [inspect(p) for p in paths]


def own_folder(notebooks: Sequence[Notebook]) -> Path | None:
    """The folder of a run's notebooks when it is not the default one (``--notebooks DIR``), else None."""
    if not notebooks:
        return None
    folder = notebooks[0].path.parent.resolve()
    return None if folder == Path(NOTEBOOK_DIR).resolve() else folder


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
        Naming every parameter that no notebook declares (with the declared
        name it is closest to), that the runner sets, whose value has the
        wrong type or lies outside its range (:mod:`.checks`): all of them
        in one message.
    """
    checked, problems = parameter_problems(parameters, notebooks)
    if problems:
        raise several(problems)
    return checked


def parameter_problems(parameters: Mapping[str, object], notebooks: Sequence[Notebook]
                       ) -> tuple[dict[str, object], list[str]]:
    """The parameters that pass (numbers for text turned into text) and a line for each that does not."""
    names = ", ".join(nb.name for nb in notebooks)
    declared = sorted({p for nb in notebooks for p in nb.parameters} - set(RUNNER_PARAMETERS))
    out: dict[str, object] = {}
    problems: list[str] = []
    for name, value in parameters.items():
        if name in RUNNER_PARAMETERS:
            problems.append(f"parameter {name!r} is set by the runner for each run: {RUNNER_PARAMETERS[name]}")
            continue
        declaring = [nb for nb in notebooks if name in nb.parameters]
        if not declaring:
            problems.append(f"parameter {name!r} is declared by no notebook of this run ({names})"
                            f"{suggestion(name, declared)}")
            continue
        typed = [(nb, *_type_ok(value, nb.parameters[name])) for nb in declaring]
        wrong = next(((nb, v) for nb, ok, v in typed if not ok), None)
        if wrong is not None:
            nb = wrong[0]
            problems.append(
                f"parameter {name!r}: {nb.name} expects a {nb.parameters[name]}, not {value!r} ({type(value).__name__})")
            continue
        coerced = typed[-1][2]
        problem = value_problem(name, coerced)
        if problem:
            problems.append(problem)
            continue
        out[name] = coerced
    return out, problems


def rdsr_input(input_dir: Path, nb: Notebook) -> Path | None:
    """The input's folder of DICOM dose reports for a notebook that reads them, or None."""
    folder = input_dir / RDSR_FOLDER
    return folder if "rdsr_dir" in nb.parameters and folder.is_dir() else None


def notebook_input(input_dir: Path, nb: Notebook) -> Path | None:
    """The input folder of a notebook within a run's input folder, or None when it has nothing to read."""
    folder = input_dir / nb.input_folder
    if nb.input_folder == SURVEYS_FOLDER:
        return folder if folder.is_dir() else input_dir
    if not folder.is_dir():
        return None
    if nb.input_folder == "dose_reports" and not any(
        p.suffix.lower() in IMAGE_SUFFIXES for p in folder.rglob("*") if p.is_file()
    ):
        return None
    return folder

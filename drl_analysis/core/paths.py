"""Paths of the package and of the project folder it works in.

drl-analysis is used in one of two ways, and finds its files accordingly:

- **From a source checkout** (the repository, installed editable or put on
  ``PYTHONPATH``): the project folder is the checkout, wherever a command is
  typed: notebooks in ``notebooks/``, the sample in ``data/raw/sample/``,
  outputs under ``data/processed/``.
- **Installed** (``pip install`` of a wheel): the notebooks, the bundled sample
  and ``CITATION.cff`` ship inside the package (``setup.py`` copies them in);
  the project folder is the **current folder**: outputs go under
  ``./data/processed/``, relative input folders start there. Nothing is ever
  written into the installed package.

The environment variable ``DRL_ANALYSIS_ROOT`` names the project folder in
either case. The runner sets it for its notebook kernels, whose working folder
is the run's folder, so that they resolve paths as the command did.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

#: Suffixes of DICOM files; others are recognised by their content (:func:`has_dicom_preamble`).
DICOM_SUFFIXES: tuple[str, ...] = (".dcm", ".dicom")
#: Suffixes of dose-report screens (images and DICOM captures) taken from folders; a
#: file without suffix is taken when it is DICOM (:func:`has_dicom_preamble`).
IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", *DICOM_SUFFIXES)


def has_dicom_preamble(path: str | Path) -> bool:
    """Whether a file holds ``DICM`` at byte 128, as DICOM files do (after their preamble)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return head[128:132] == b"DICM"

#: The package folder ``drl_analysis/``.
PACKAGE_DIR = Path(__file__).resolve().parent.parent
#: Data files that ship with the package.
PACKAGE_DATA = PACKAGE_DIR / "data"
#: The exam-code catalogue shipped with the package.
CATALOGUE_FILE = PACKAGE_DATA / "exam_catalogue.csv"

#: The environment variable that names the project folder.
ROOT_ENV = "DRL_ANALYSIS_ROOT"


def _checkout(folder: Path) -> Path | None:
    """``folder`` if it is a source checkout of drl-analysis (its ``pyproject.toml``
    names the project and ``notebooks/`` lies beside it), else None."""
    pyproject = folder / "pyproject.toml"
    if not (pyproject.is_file() and (folder / "notebooks").is_dir()):
        return None
    try:
        text = pyproject.read_text(encoding="utf-8")
    except OSError:
        return None
    return folder if re.search(r'(?m)^name\s*=\s*"drl-analysis"', text) else None


#: The source checkout the package is imported from; None for an installed package.
CHECKOUT: Path | None = _checkout(PACKAGE_DIR.parent)


def _project_root() -> Path:
    given = os.environ.get(ROOT_ENV, "").strip()
    if given:
        return Path(given).expanduser().resolve()
    return CHECKOUT if CHECKOUT is not None else Path.cwd().resolve()


#: The project folder: the checkout, else the current folder (see the module's text).
PROJECT_ROOT = _project_root()
DATA_DIR = PROJECT_ROOT / "data"
#: Immutable input data.
RAW_DIR = DATA_DIR / "raw"
#: Generated outputs; never edited by hand.
PROCESSED_DIR = DATA_DIR / "processed"
#: The database used when no ``--db`` is given.
DEFAULT_DB_FILE = PROCESSED_DIR / "drl.sqlite"

#: Where an installed package keeps its copies of the repository's files (see ``setup.py``).
BUNDLED_NOTEBOOK_DIR = PACKAGE_DIR / "notebooks"
BUNDLED_SAMPLE_DIR = PACKAGE_DATA / "sample"
BUNDLED_CITATION_FILE = PACKAGE_DATA / "CITATION.cff"

#: The pipeline's notebooks ``NN_name.ipynb``.
NOTEBOOK_DIR = CHECKOUT / "notebooks" if CHECKOUT is not None else BUNDLED_NOTEBOOK_DIR
#: The bundled sample: ``surveys/`` and ``dose_reports/`` (a checkout also has ``truth/``).
SAMPLE_DIR = CHECKOUT / "data" / "raw" / "sample" if CHECKOUT is not None else BUNDLED_SAMPLE_DIR
#: The project's citation file.
CITATION_FILE = CHECKOUT / "CITATION.cff" if CHECKOUT is not None else BUNDLED_CITATION_FILE


def default_db_url() -> str:
    """SQLAlchemy URL of the default SQLite database, ``data/processed/drl.sqlite`` in the
    project folder. Nothing is created here: ``ingest`` creates the file and its folder,
    the reading commands refuse a missing file."""
    return f"sqlite:///{DEFAULT_DB_FILE}"


def link_sample(folder: str | Path | None = None) -> Path:
    """Make ``data/raw/sample`` in ``folder`` (default: the project folder) the bundled
    sample, so that paths written for a checkout (``data/raw/sample/dose_reports``)
    find it in an installed package too: a symbolic link, or a copy where links are
    impossible. An existing ``data/raw/sample`` is left as it is. Returns its path."""
    target = Path(folder or PROJECT_ROOT) / "data" / "raw" / "sample"
    if target.exists() or target.is_symlink() or target.resolve() == SAMPLE_DIR.resolve():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        target.symlink_to(SAMPLE_DIR, target_is_directory=True)
    except OSError:
        import shutil

        shutil.copytree(SAMPLE_DIR, target)
    return target


#: The public repository. PLACEHOLDER until the project is published: the README's
#: "Open in Colab" badges and the notebooks' Colab setup cells use this same URL
#: (tests/test_notebooks.py checks that they agree).
REPOSITORY_URL = "https://github.com/drl-analysis/drl-analysis"


def relative_names(inputs: list, files: list) -> dict:
    """How each file is named in outputs: relative to the input folder it was
    found in, or its bare name when it was given as a file, so that tables
    carry no machine paths. Returns ``{file: name}``.
    """
    folders = [Path(p) for p in inputs if Path(p).is_dir()]
    roots = [p.resolve() for p in folders]
    names = {}
    for f in files:
        name = None
        # Files found inside an input folder lie under it as given: no need
        # to resolve every one of thousands of files.
        for folder in folders:
            try:
                rel = Path(f).relative_to(folder)
            except ValueError:
                continue
            if ".." not in rel.parts:
                name = rel.as_posix()
                break
        if name is None:
            resolved = Path(f).resolve()
            name = Path(f).name
            for root in roots:
                try:
                    name = resolved.relative_to(root).as_posix()
                    break
                except ValueError:
                    continue
        names[f] = name
    return names

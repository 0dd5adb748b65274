"""Paths of the project, rooted at the package file, never at the current folder."""

from __future__ import annotations

from pathlib import Path

#: The package folder ``drl_analysis/``.
PACKAGE_DIR = Path(__file__).resolve().parent.parent
#: Data files that ship with the package.
PACKAGE_DATA = PACKAGE_DIR / "data"
#: The exam-code catalogue shipped with the package.
CATALOGUE_FILE = PACKAGE_DATA / "exam_catalogue.csv"

#: The project folder (the repository), holding ``data/`` and ``notebooks/``.
PROJECT_ROOT = PACKAGE_DIR.parent
DATA_DIR = PROJECT_ROOT / "data"
#: Immutable input data; the bundled sample lies in ``sample/``.
RAW_DIR = DATA_DIR / "raw"
SAMPLE_DIR = RAW_DIR / "sample"
#: Generated outputs; never edited by hand.
PROCESSED_DIR = DATA_DIR / "processed"
NOTEBOOK_DIR = PROJECT_ROOT / "notebooks"

#: The database used when no ``--db`` is given.
DEFAULT_DB_FILE = PROCESSED_DIR / "drl.sqlite"


def default_db_url() -> str:
    """SQLAlchemy URL of the default SQLite database (its folder is created)."""
    DEFAULT_DB_FILE.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{DEFAULT_DB_FILE}"

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

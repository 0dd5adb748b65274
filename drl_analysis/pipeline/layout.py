"""The layout of a version folder: the one place that names its parts, and the
versions of a survey (``<version>``, ``.incomplete``, ``.failed``, ``latest``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from pathlib import Path

MANIFEST = "manifest.json"
PARAMETERS_FILE = "parameters.yaml"
#: The pipeline this version ran: its notebooks in order, what each reads and writes, the parameters each declares.
PIPELINE_FILE = "pipeline.yaml"
FAILED_NOTE = "FAILED.txt"
DB_FILE = "drl.sqlite"
NOTEBOOKS = "notebooks"
TABLES = "tables"
FIGURES = "figures"
HTML = "html"
INDEX = f"{HTML}/index.html"
REPORT = "report"
#: The pseudonymised edition of the report, inside :data:`REPORT`.
PSEUDONYMISED = f"{REPORT}/pseudonymised"
#: The pseudonymised pages for publication (with their SVG figures), inside :data:`HTML`.
PSEUDONYMISED_HTML = f"{HTML}/pseudonymised"
#: The Frictionless Data Package describing the version's tables.
DATAPACKAGE = "datapackage.json"
#: The RO-Crate (Workflow Run Crate) describing the run.
CRATE = "ro-crate-metadata.json"
LATEST = "latest"
INCOMPLETE_SUFFIX = ".incomplete"
FAILED_SUFFIX = ".failed"

#: Files of a version that describe the others and so cannot list their own
#: SHA-256 in the manifest: the manifest itself, the index page (it shows the
#: manifest) and the crate (it describes the manifest).
UNLISTED = (MANIFEST, INDEX, FAILED_NOTE, CRATE)

#: Names of complete versions: UTC time, hash, and a counter when two runs share both.
VERSION_PATTERN = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{8}(-\d+)?$")
SURVEY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


def free_name(survey_dir: Path, version: str) -> str:
    """``version``, or ``version-2``, ``-3``, ... when a folder of that name exists in any state."""
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


def version_folder(path: str | Path) -> Path:
    """A version folder as given on the command line; ``<survey>/latest`` is followed."""
    folder = Path(path)
    if folder.name == LATEST:
        folder = resolve_latest(folder.parent) or folder
    return folder

"""The manifest of a version: what went in (files with SHA-256, parameters,
software, git commit), when, and what came out (every output file with its
SHA-256 and, for tables, its rows, and the rows of each table of the run's
database); and the check of a version against it.

The manifest carries the SHA-256 of its own content (:data:`SELF_HASH`), so an
edit of a recorded hash or count is named as an edit of the manifest. (This
catches edits and damage, not a forger who also recomputes that field.)
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import logging
import os
import sqlite3
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from .. import __version__
from ..core.errors import UserError
from ..core.paths import CHECKOUT, PROJECT_ROOT
from .layout import DB_FILE, MANIFEST, UNLISTED

log = logging.getLogger(__name__)

#: The manifest's field holding the SHA-256 of the rest of it (:func:`manifest_digest`).
SELF_HASH = "manifest_sha256"

#: Packages whose versions the manifest records.
RECORDED_PACKAGES = (
    "numpy", "pandas", "scipy", "scikit-learn", "SQLAlchemy", "python-calamine", "openpyxl", "matplotlib",
    "seaborn", "plotly", "opencv-python-headless", "pytesseract", "pydicom", "papermill", "nbconvert",
    "nbformat", "ipykernel", "weasyprint", "PyYAML", "frictionless", "rocrate",
)

def sha256_file(path: str | Path) -> str:
    """SHA-256 of a file's bytes, in hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def input_files(folders: Sequence[Path], root: Path) -> list[dict]:
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


def tesseract_version() -> str | None:
    try:
        import pytesseract

        return str(pytesseract.gettesseract_version())
    except Exception:  # noqa: BLE001 - recorded when available, never needed
        return None


def git_state(root: Path | None = CHECKOUT) -> dict:
    """The git commit of the source checkout the package runs from and whether it has
    uncommitted changes; none for an installed package (the current folder's repository,
    if any, is not the package's)."""
    if root is None:
        return {"commit": None, "dirty": None}
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


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def input_record(input_dir: Path) -> str:
    """The input folder as the manifest records it: relative to the project when inside it."""
    try:
        return input_dir.resolve().relative_to(PROJECT_ROOT).as_posix()
    except ValueError:
        return str(input_dir.resolve())


def resolve_recorded_input(text: str) -> Path:
    p = Path(text)
    return p if p.is_absolute() else PROJECT_ROOT / p


def csv_rows(path: Path) -> int:
    with open(path, newline="", encoding="utf-8") as fh:
        return max(sum(1 for _ in csv.reader(fh)) - 1, 0)


def close_database(db: Path) -> None:
    """Fold SQLite's write-ahead log into the database file, so the run leaves one file."""
    if not db.is_file():
        return
    con = sqlite3.connect(db)
    try:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.execute("PRAGMA journal_mode=DELETE")
    finally:
        con.close()


def database_rows(db: Path) -> dict[str, int]:
    if not db.is_file():
        return {}
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        return {n: con.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}
    finally:
        con.close()


def outputs(folder: Path, *, hashes: bool = True) -> list[dict]:
    """Every file of a version but those that describe the others (:data:`UNLISTED`):
    path, bytes, SHA-256 and, for a CSV table, its rows."""
    out = []
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if not p.is_file() or rel in UNLISTED:
            continue
        entry: dict = {"path": rel}
        if hashes:
            entry.update(bytes=p.stat().st_size, sha256=sha256_file(p))
            if p.suffix == ".csv":
                entry["rows"] = csv_rows(p)
        out.append(entry)
    return out


def manifest_digest(doc: Mapping) -> str:
    """SHA-256 of a manifest's canonical JSON (keys sorted, no spaces), without :data:`SELF_HASH`."""
    body = {k: v for k, v in doc.items() if k != SELF_HASH}
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def write_manifest(path: Path, doc: Mapping) -> None:
    """Write a manifest with the SHA-256 of its content in :data:`SELF_HASH`."""
    write_json(path, {**{k: v for k, v in doc.items() if k != SELF_HASH}, SELF_HASH: manifest_digest(doc)})


def write_json(path: Path, doc: Mapping) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


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




def check_outputs(folder: str | Path, manifest: Mapping) -> list[str]:
    """Check a version's files against the SHA-256 its manifest lists for each.

    Returns
    -------
    list of str
        One line per problem, naming the file: listed but missing, changed
        since the run, or present but not listed (nothing may be added to a
        version). Empty when the version is as the run left it.
    """
    folder = Path(folder)
    listed = {o["path"]: o for o in manifest.get("outputs", [])}
    problems = check_manifest(manifest)
    for rel, entry in sorted(listed.items()):
        path = folder / rel
        if not path.is_file():
            problems.append(f"{rel}: listed in the manifest, but missing")
        elif sha256_file(path) != entry.get("sha256"):
            problems.append(f"{rel}: changed since the run (its SHA-256 differs from the manifest's)")
    for rel in (o["path"] for o in outputs(folder, hashes=False)):
        if rel not in listed:
            problems.append(f"{rel}: not written by the run (the manifest does not list it)")
    return problems + check_row_counts(folder, manifest)


def check_manifest(manifest: Mapping) -> list[str]:
    """Whether the manifest is as the run wrote it: one line naming it when its SHA-256 differs.

    A manifest of a version older than :data:`SELF_HASH` cannot be checked;
    that is logged, not counted as a difference.
    """
    recorded = manifest.get(SELF_HASH)
    if recorded is None:
        log.warning("%s carries no SHA-256 of itself (an older version); its own content is not checked", MANIFEST)
        return []
    if recorded != manifest_digest(manifest):
        return [f"{MANIFEST}: altered since the run (its content no longer matches its {SELF_HASH})"]
    return []


def check_row_counts(folder: str | Path, manifest: Mapping) -> list[str]:
    """Compare the row counts the manifest records with the database and tables now.

    Returns
    -------
    list of str
        One line per database table or CSV table whose rows differ, e.g.
        ``"drl.sqlite, table exposures: 8,529 rows recorded, 4,200 now"``.
        A missing file is left to :func:`check_outputs`.
    """
    folder = Path(folder)
    counts = manifest.get("row_counts") or {}
    problems = []
    recorded = counts.get("database") or {}
    db = folder / DB_FILE
    if recorded and db.is_file():
        try:
            now = database_rows(db)
        except sqlite3.Error as exc:
            return problems + [f"{DB_FILE}: cannot be read as a database ({exc})"]
        for table, n in sorted(recorded.items()):
            m = now.get(table)
            if m != n:
                state = "the table is gone" if m is None else f"{m:,} now"
                problems.append(f"{DB_FILE}, table {table}: {n:,} rows recorded, {state}")
        problems += [f"{DB_FILE}, table {t}: not in the manifest ({now[t]:,} rows)" for t in sorted(set(now) - set(recorded))]
    for rel, n in sorted((counts.get("tables") or {}).items()):
        path = folder / rel
        try:
            m = csv_rows(path) if path.is_file() else None
        except (OSError, UnicodeDecodeError, csv.Error):
            m = None
        if m is not None and m != n:
            problems.append(f"{rel}: {n:,} rows recorded, {m:,} now")
    return problems

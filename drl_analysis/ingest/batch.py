"""Ingesting survey submissions: read, repair, flag and store each file.

Each file is read in a worker process (:mod:`drl_analysis.ingest.workers`) by
:func:`drl_analysis.ingest.submission.read_submission` (sheets, headers,
repairs, flags) and stored by this process in one transaction per file
(:mod:`drl_analysis.store.database`). A file that fails leaves the database as it
was for that file; the other files still load. For every data sheet, rows
read = rows stored + rows rejected. DICOM dose reports (RDSR) are read and
stored by :mod:`drl_analysis.ingest.rdsr`, with the same accounting.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..core.catalogue import Catalogue, load_catalogue
from ..core.errors import UserError
from ..core.paths import default_db_url, relative_names
from ..store.database import (
    SubmissionRecord,
    ingest_lock,
    make_engine,
    prepare_columns,
    save_submission,
    stored_contents,
    stored_shas,
)
from ..store.urls import safe_url
from .inferences import COLUMN_RULES
from .submission import FileOutcome, _failed, content_sha256, exam_of_sheet_name, read_submission, sha256_file
from .workbook import DEFAULT_LIMITS, Limits, find_files, is_dicom_candidate
from .workers import DEFAULT_MAX_MEMORY_MB, run_jobs
from .workers import settings as worker_settings

log = logging.getLogger(__name__)

@dataclass
class IngestSummary:
    """Totals of an ingest run; ``ok`` is False only when nothing could be read."""

    db: str
    files: list[FileOutcome] = field(default_factory=list)

    def totals(self) -> dict:
        stored = [f for f in self.files if f.status == "stored"]
        reasons: Counter = Counter()
        for f in stored:
            reasons.update(f.reasons)
        return {
            "files": len(self.files),
            "files_stored": len(stored),
            "files_already_stored": sum(f.status == "duplicate" for f in self.files),
            "files_failed": sum(f.status == "failed" for f in self.files),
            "sheets_with_data": sum(f.sheets_with_data for f in stored),
            "sheets_skipped": sum(len(f.sheets_skipped) for f in stored),
            "rows_read": sum(f.rows_read for f in stored),
            "rows_stored": sum(f.rows_stored for f in stored),
            "rows_rejected": sum(f.rows_rejected for f in stored),
            "values_repaired": sum(f.repairs for f in stored),
            "rows_flagged": sum(f.flagged for f in stored),
            "rejection_reasons": dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
        }

    @property
    def ok(self) -> bool:
        return any(f.status in ("stored", "duplicate") for f in self.files)

    def as_dict(self) -> dict:
        return {"db": self.db, **self.totals(), "per_file": [asdict(f) for f in self.files]}

    def text(self) -> str:
        t = self.totals()
        lines = [
            f"Files: {t['files']} ({t['files_stored']} stored, {t['files_already_stored']} already stored, "
            f"{t['files_failed']} failed)",
            f"Sheets: {t['sheets_with_data']} with exposure data, {t['sheets_skipped']} skipped",
            f"Rows: {t['rows_read']} read = {t['rows_stored']} stored + {t['rows_rejected']} rejected"
            + ("" if t["rows_read"] == t["rows_stored"] + t["rows_rejected"] else "  (MISMATCH)"),
            f"Values repaired: {t['values_repaired']}; rows flagged as implausible or unknown: {t['rows_flagged']}",
        ]
        if t["rejection_reasons"]:
            top = ", ".join(f"{k} {v}" for k, v in list(t["rejection_reasons"].items())[:5])
            lines.append(f"Most frequent rejection reasons: {top}")
        lines.extend(self.review_lines())
        for f in self.files:
            if f.status == "failed":
                lines.append(f"FAILED {f.source_file}: {f.message}")
        lines.append(f"Database: {self.db}")
        return "\n".join(lines)

    def review_lines(self, limit: int = 20) -> list[str]:
        """Per file, the inferences that could be wrong and how much each touched,
        files with the largest share of inferred rows first."""
        files = [f for f in self.files if f.status == "stored" and f.inferences]
        if not files:
            return []

        def share(f: FileOutcome) -> float:
            rows = max((n for r, n in f.inferences.items() if r not in COLUMN_RULES), default=0)
            return rows / max(f.rows_read, 1)

        files.sort(key=lambda f: (-share(f), f.source_file))
        lines = ["Inferences to review (rows touched; header rules: columns):"]
        for f in files[:limit]:
            parts = ", ".join(f"{rule} {n}" for rule, n in f.inferences.items())
            lines.append(f"  {f.source_file} ({f.rows_read} rows, {share(f):.0%} inferred): {parts}")
        if len(files) > limit:
            lines.append(f"  ... and {len(files) - limit} more files (--json lists all)")
        return lines


def ingest_paths(
    paths: list[str | Path],
    db_url: str | None = None,
    *,
    catalogue: Catalogue | None = None,
    data_source: str | None = None,
    year: int | None = None,
    max_file_mb: float | None = 200.0,
    progress: bool = True,
    jobs: int = 0,
    limits: Limits = DEFAULT_LIMITS,
    max_memory_mb: int | None = DEFAULT_MAX_MEMORY_MB,
    rdsr_facility: str = "device",
    procedure_map: str | Path | None = None,
) -> IngestSummary:
    """Read, repair and store every survey file and DICOM dose report under ``paths``.

    Parameters
    ----------
    paths : list of str or Path
        Files and folders (searched recursively for .xlsx, .xlsm, .xls, .ods,
        .csv, and DICOM files: .dcm or recognised by content). DICOM files
        are read by :mod:`drl_analysis.ingest.rdsr`.
    db_url : str, optional
        SQLAlchemy URL; default the SQLite file ``data/processed/drl.sqlite``.
    catalogue : Catalogue, optional
        Exam codes (default: the shipped catalogue).
    data_source, year : optional
        For files that name neither in their cells nor in their file name.
    max_file_mb : float, optional
        Larger files are refused unread.
    progress : bool
        Show a progress bar (on a terminal, for more than a few files).
    jobs : int, default 0
        Worker processes that read and repair files (0: one per core); the
        database is written by this process, in file order. Files are always
        read in workers: a file that crashes its reader fails alone.
    limits : Limits
        Largest sheet read (rows, columns, cells); larger ones refuse their file.
    max_memory_mb : int, optional
        Memory each worker may take; a file that needs more fails alone.
    rdsr_facility : {"device", "station", "institution"}
        What names the facility of a DICOM dose report.
    procedure_map : str or Path, optional
        Procedure map of DICOM dose reports (default: the shipped one).

    Returns
    -------
    IngestSummary

    Raises
    ------
    UserError
        When no path given exists (no database is created then).
    """
    from tqdm import tqdm

    files, problems = find_files(list(paths))
    if not files and problems and all(why == "no such file or folder" for _, why in problems):
        raise UserError("no such file or folder: " + ", ".join(str(p) for p, _ in problems))
    db_url = db_url or default_db_url()
    catalogue = catalogue or load_catalogue()
    engine = make_engine(db_url)
    names = relative_names(list(paths), files)
    summary = IngestSummary(db=safe_url(db_url))
    for p, why in problems:
        summary.files.append(FileOutcome(source_file=p.name, status="failed", message=why))
    max_bytes = int(max_file_mb * 2**20) if max_file_mb else None
    outcomes: dict[int, FileOutcome] = {}
    try:
        with ingest_lock(engine, on_wait=lambda msg: log.warning("%s", msg)):
            jobs = jobs or os.cpu_count() or 1
            dicom = {k for k, path in enumerate(files) if is_dicom_candidate(path)}
            if dicom or procedure_map:  # DICOM dose reports have their own reader and writer
                from .rdsr import ProcedureMap, RdsrOptions, ingest_files

                outcomes.update(ingest_files(
                    [(k, files[k], names[files[k]]) for k in sorted(dicom)], engine, catalogue=catalogue,
                    options=RdsrOptions(rdsr_facility, ProcedureMap.load(procedure_map)), already=stored_shas(engine),
                    data_source=data_source, year=year, max_bytes=max_bytes, jobs=jobs, progress=progress,
                    max_memory_mb=max_memory_mb,
                ))
            todo = _files_to_read(engine, files, names, outcomes, skip=dicom)
            settings = (catalogue, data_source, year, max_bytes, engine.dialect.name, limits)
            results = run_jobs(todo, _read_job, _crashed, jobs=jobs, value=settings, max_memory_mb=max_memory_mb)
            bar = tqdm(total=len(todo), desc="ingest", unit="file", disable=not progress or len(todo) < 5 or None,
                       file=sys.stderr)
            contents = stored_contents(engine)
            conn = engine.connect()
            try:
                for (k, _, name, _), (rec, outcome, error) in results:
                    if error:
                        log.error("internal error while reading %s:\n%s", name, error)
                    outcomes[k] = _store(conn, rec, outcome, contents)
                    bar.update()
            finally:
                conn.close()
                bar.close()
    finally:
        engine.dispose()
    summary.files.extend(outcomes[k] for k in sorted(outcomes))
    return summary


def _files_to_read(engine, files: list[Path], names: dict, outcomes: dict,
                   skip: set[int] = frozenset()) -> list[tuple[int, Path, str, str]]:
    """The files not stored yet (but those in ``skip``), as jobs; the others get their outcome."""
    todo: list[tuple[int, Path, str, str]] = []
    first_of: dict[str, str] = {}
    already = stored_shas(engine)
    for k, path in enumerate(files):
        if k in skip:
            continue
        name = names[path]
        try:
            sha = sha256_file(path)
        except OSError as exc:
            outcomes[k] = FileOutcome(source_file=name, status="failed", message=f"cannot open the file ({exc.strerror})")
            continue
        if sha in already:
            outcomes[k] = FileOutcome(source_file=name, status="duplicate", message="already stored (same sha256)")
            continue
        if sha in first_of:
            outcomes[k] = FileOutcome(source_file=name, status="duplicate",
                                      message=f"the same file as {first_of[sha]} (same sha256); read once")
            continue
        first_of[sha] = name
        todo.append((k, path, name, sha))
    return todo


def _store(conn, rec: SubmissionRecord, outcome: FileOutcome, contents: dict[str, str]) -> FileOutcome:
    """Store one file's record in its own transaction; a database error fails that file alone."""
    import sqlalchemy as sa

    if rec.status == "stored" and rec.content_sha256 in contents:
        first = contents[rec.content_sha256]
        return FileOutcome(source_file=outcome.source_file, status="duplicate",
                           message=f"refused: its rows equal those of the stored file {first} "
                                   "(same data source, year and values; other bytes)")
    try:
        save_submission(conn, rec)
    except sa.exc.SQLAlchemyError as exc:
        why = " ".join(str(getattr(exc, "orig", None) or exc).split())[:300]
        log.warning("the database refused %s: %s", outcome.source_file, why)
        failed, outcome = _failed(outcome.source_file, rec.sha256, f"the database refused the file ({why})")
        try:
            save_submission(conn, failed)
        except sa.exc.SQLAlchemyError:  # the failure is reported all the same
            log.exception("could not record the failure of %s", outcome.source_file)
        return outcome
    if rec.status == "stored" and rec.content_sha256:
        contents[rec.content_sha256] = rec.source_file
    return outcome


def _read_job(job: tuple[int, Path, str, str]) -> tuple[SubmissionRecord, FileOutcome, str | None]:
    """Read one file in a worker; a failure of ours becomes a failed file and a traceback."""
    _, path, name, sha = job
    catalogue, data_source, year, max_bytes, dialect, limits = worker_settings()
    try:
        rec, outcome = read_submission(
            path, name, catalogue, data_source=data_source, year=year, max_bytes=max_bytes, sha256=sha,
            limits=limits,
        )
        rec.prepared, rec.prepared_for = prepare_columns(rec, dialect), dialect
        # Only the prepared columns travel back to the writing process.
        rec.exposures, rec.repairs = None, []
        return rec, outcome, None
    except MemoryError:
        rec, outcome = _failed(name, sha, "reading the file needs more memory than a worker may take "
                                          "(--max-memory-mb)")
        return rec, outcome, None
    except Exception as exc:  # noqa: BLE001 - a bug of ours must not stop the other files; logged with its traceback
        rec, outcome = _failed(name, sha, f"internal error while reading ({exc.__class__.__name__}: {exc}); please report it")
        return rec, outcome, traceback.format_exc()


def _crashed(job: tuple[int, Path, str, str], why: str) -> tuple[SubmissionRecord, FileOutcome, None]:
    _, _, name, sha = job
    rec, outcome = _failed(name, sha, f"the reader crashed on this file ({why}; out of memory or a fault in the "
                                      "workbook library); the other files were read")
    return rec, outcome, None


__all__ = ["FileOutcome", "IngestSummary", "content_sha256", "exam_of_sheet_name", "ingest_paths", "read_submission",
           "sha256_file"]

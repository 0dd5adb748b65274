"""Ingesting survey submissions: read, repair, flag and store each file.

For each file: read its sheets (:mod:`drl_analysis.ingest.workbook`), find each
sheet's header (:mod:`drl_analysis.ingest.headers`), repair its rows
(:mod:`drl_analysis.ingest.repair`), flag implausible values
(:mod:`drl_analysis.ingest.plausibility`) and store everything in one transaction
(:mod:`drl_analysis.store.database`). A file that fails leaves the database as it
was for that file; the other files still load. For every data sheet, rows
read = rows stored + rows rejected.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import sys
import traceback
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.catalogue import Catalogue, load_catalogue
from ..core.columns import EXPOSURE_COLUMNS
from ..core.errors import UserError
from .headers import HeaderMatch, find_header, find_labels, labels_from_name, read_unit_row, year_of_sheet_name
from ..core.paths import default_db_url, relative_names
from .plausibility import exam_references, flag_exposures, resolve_ambiguous
from .repair import REPAIR_COLUMNS, SheetResult, repair_sheet, repr_number
from ..store.database import SubmissionRecord, make_engine, prepare_columns, save_submission, stored_shas
from .workbook import FileRejected, RawSheet, find_files, is_dicom_candidate, read_file

_EXPOSURE_FRAME_COLUMNS = ("sheet", "source_row", "data_source", "year", *EXPOSURE_COLUMNS)

_TEMPLATE_SHEETS = {"ids", "examination codes", "exam codes", "untersuchungscodes", "codes", "anleitung",
                    "instructions", "hinweise", "readme", "legende", "legend"}


@dataclass
class FileOutcome:
    """What happened to one file."""

    source_file: str
    status: str  # stored | duplicate | failed
    message: str = ""
    data_source: str | None = None
    year: int | None = None
    sheets_with_data: int = 0
    sheets_skipped: list[str] = field(default_factory=list)
    rows_read: int = 0
    rows_stored: int = 0
    rows_rejected: int = 0
    repairs: int = 0
    flagged: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


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
        for f in self.files:
            if f.status == "failed":
                lines.append(f"FAILED {f.source_file}: {f.message}")
        lines.append(f"Database: {self.db}")
        return "\n".join(lines)


def sha256_file(path: str | Path) -> str:
    """SHA-256 of a file, hex: how submissions and run inputs are known."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _skip_reason(sheet: RawSheet) -> str:
    if not any(any(v not in ("", None) for v in row) for row in sheet.rows):
        return "empty sheet"
    if sheet.name.strip().lower() in _TEMPLATE_SHEETS:
        return "template sheet without exposure data"
    return "no header naming an exam code and a dose quantity"


def _continuation_start(sheet: RawSheet, header: HeaderMatch, catalogue: Catalogue) -> int | None:
    """First data row of a sheet that continues the previous one without a header.

    It continues it when its first filled row is as wide as the header and its
    exam-code cell reads as a known exam code.
    """
    from .repair import _resolve_exam

    for r, row in enumerate(sheet.rows[:60]):
        if not any(v not in ("", None) for v in row):
            continue
        c = header.columns["exam_code"].index
        if c >= len(row):
            return None
        code, _ = _resolve_exam(row[c], catalogue)
        return r if code in catalogue.codes else None
    return None


def _data_above(sheet: RawSheet, header: HeaderMatch, catalogue: Catalogue) -> bool:
    """Whether rows above the header hold exposures (known exam codes in its exam column)."""
    from .repair import _resolve_exam

    c = header.columns["exam_code"].index
    for row in sheet.rows[: header.row]:
        if c < len(row) and row[c] not in ("", None):
            code, _ = _resolve_exam(row[c], catalogue)
            if code in catalogue.codes:
                return True
    return False


def read_submission(
    path: Path,
    source_file: str,
    catalogue: Catalogue,
    *,
    data_source: str | None = None,
    year: int | None = None,
    max_bytes: int | None = None,
    sha256: str | None = None,
) -> tuple[SubmissionRecord, FileOutcome]:
    """Read and repair one file into a record ready to store (nothing is stored)."""
    sha = sha256 or sha256_file(path)
    try:
        raw = read_file(path, max_bytes=max_bytes)
    except FileRejected as exc:
        return _failed(source_file, sha, str(exc))
    except OSError as exc:
        return _failed(source_file, sha, f"cannot open the file ({exc.strerror or exc})")

    name_source, name_year = labels_from_name(path.stem)
    headers: list[tuple[RawSheet, HeaderMatch | None]] = [(s, find_header(s.rows)) for s in raw.sheets]
    # Labels anywhere in the workbook apply to sheets that name none.
    book_source = book_year = None
    for s, h in headers:
        src, yr = find_labels(s.rows, h.row if h else min(len(s.rows), 20))
        book_source = book_source or src
        book_year = book_year or yr

    results: list[tuple[SheetResult, str | None, int | None]] = []
    sheet_rows: list[dict] = []
    notes = list(raw.notes)
    skipped: list[str] = []
    previous: HeaderMatch | None = None
    for sheet, header in headers:
        start = None
        own_header = header is not None
        if header is not None and _data_above(sheet, header, catalogue):
            # Data above the header: the "header" repeats inside the data of
            # a sheet that continues the one before it.
            start = next(i for i, row in enumerate(sheet.rows) if any(v not in ("", None) for v in row))
            notes.append(f"sheet {sheet.name!r} starts with data; its header row {header.row + 1} repeats inside")
            header = previous or header  # the repeated header may have lost cells (merged ranges)
        elif header is None and previous is not None:
            start = _continuation_start(sheet, previous, catalogue)
            if start is not None:
                header = previous
                notes.append(f"sheet {sheet.name!r} has no header; read with the columns of the sheet before")
        if header is None:
            reason = _skip_reason(sheet)
            skipped.append(sheet.name)
            sheet_rows.append({"sheet": sheet.name, "status": "skipped", "reason": reason})
            continue
        if start is None and read_unit_row(sheet.rows, header):
            start = header.row + 2
        previous_before, previous = previous, header
        result = repair_sheet(sheet, header, catalogue, in_workbook=raw.kind != "csv", data_start=start)
        if own_header and header is not previous_before:
            result.header_row = sheet.row_number(header.row)
        src, yr = find_labels(sheet.rows, header.row if start is None else 0)
        sheet_source = src or book_source or name_source or data_source
        sheet_year = yr or year_of_sheet_name(sheet.name) or book_year or name_year or year
        results.append((result, sheet_source, sheet_year))

    # Columns of every sheet, joined into one frame at the end (a frame per
    # sheet, copied and concatenated, costs more than the rows themselves).
    parts: dict[str, list] = {c: [] for c in _EXPOSURE_FRAME_COLUMNS}
    n_sheet_rows: list[int] = []
    repair_frames: list[pd.DataFrame] = []
    rejections: list[dict] = []
    ambiguous: list[tuple[int, str, float, float]] = []
    offset = 0
    for result, src, yr in results:
        exp = result.exposures
        year_col = exp["row_year"].to_numpy(dtype=float)
        year_col = np.where(np.isnan(year_col), np.nan if yr is None else yr, year_col)
        columns = {c: exp[c].to_numpy() for c in _EXPOSURE_FRAME_COLUMNS if c not in ("data_source", "year")}
        columns["year"] = year_col
        missing = np.isnan(year_col) | (src is None)
        if missing.any():
            why = "no survey year: give it in the Year cell, a Year column, the file name or --year"
            if src is None:
                why = "no data source: give it in the Data source cell, the file name or --data-source"
            for row in columns["source_row"][missing]:
                result.rejections.append({"sheet": result.name, "source_row": int(row), "reason": why, "raw": None})
            keep_pos = np.flatnonzero(~missing)
            remap = {int(old): new for new, old in enumerate(keep_pos)}
            result.ambiguous = [(remap[i], c, a, b) for i, c, a, b in result.ambiguous if i in remap]
            columns = {c: v[keep_pos] for c, v in columns.items()}
        stored = len(columns["year"])
        columns["data_source"] = np.full(stored, src, dtype=object)
        for c in _EXPOSURE_FRAME_COLUMNS:
            parts[c].append(columns[c])
        n_sheet_rows.append(stored)
        ambiguous.extend((offset + i, c, a, b) for i, c, a, b in result.ambiguous)
        offset += stored
        repair_frames.append(result.repairs)
        rejections.extend(result.rejections)
        sheet_rows.append({
            "sheet": result.name, "status": "data", "reason": "; ".join(result.notes) or None,
            "header_row": result.header_row, "column_map": json.dumps(result.column_map, ensure_ascii=False),
            "unknown_columns": json.dumps(result.unknown_columns, ensure_ascii=False),
            "data_source": src, "year": yr, "rows_read": result.rows_read,
            "rows_stored": stored, "rows_rejected": result.rows_read - stored,
        })
        rejected_here = sum(1 for r in result.rejections)
        if result.rows_read != stored + rejected_here:  # pragma: no cover - a bug of ours
            raise AssertionError(f"{source_file} sheet {result.name!r}: rows do not add up")
        for u in result.unknown_columns:
            notes.append(f"sheet {result.name!r}: column {u!r} is not an exposure column; kept out")

    if not n_sheet_rows or sum(n_sheet_rows) == 0 and not rejections:
        reason = "the workbook holds no exposure data" if raw.kind != "csv" else "the CSV file holds no exposure data"
        if skipped:
            reason += f" (sheets: {', '.join(repr(s) for s in skipped)})"
        return _failed(source_file, sha, reason)

    columns = {c: np.concatenate(v) for c, v in parts.items()}
    year_values = columns["year"]
    no_year = np.isnan(year_values)
    columns["year"] = pd.arrays.IntegerArray(np.where(no_year, 0, year_values).astype(np.int64), no_year)
    exposures = pd.DataFrame(columns)
    refs = exam_references(exposures, catalogue)
    chosen = resolve_ambiguous(exposures, ambiguous, refs)
    repairs = pd.concat(repair_frames, ignore_index=True) if repair_frames else pd.DataFrame(columns=REPAIR_COLUMNS)
    if chosen:
        amb = repairs.index[repairs["rule"] == "ambiguous_notation"]
        where = {(repairs.at[i, "sheet"], repairs.at[i, "source_row"], repairs.at[i, "column"]): i for i in amb}
        for (pos, column), value in chosen.items():
            exposures.loc[pos, column] = value
            i = where.get((exposures["sheet"].iat[pos], int(exposures["source_row"].iat[pos]), column))
            if i is not None:
                repairs.at[i, "after"] = repr_number(value)
    exposures["flags"] = flag_exposures(exposures, catalogue, refs, set(chosen))
    n_flagged = int((exposures["flags"] != "").sum())
    sources = exposures["data_source"].dropna()
    years = exposures["year"].dropna()
    rec = SubmissionRecord(
        source_file=source_file,
        sha256=sha,
        data_source=sources.mode().iat[0] if len(sources) else None,
        year=int(years.mode().iat[0]) if len(years) else None,
        message="; ".join(notes) or None,
        exposures=exposures,
        sheets=sheet_rows,
        repairs=repairs,
        rejections=rejections,
        rows_read=sum(r.rows_read for r, _, _ in results),
        n_flagged=n_flagged,
    )
    outcome = FileOutcome(
        source_file=source_file,
        status="stored",
        message="; ".join(notes),
        data_source=rec.data_source,
        year=rec.year,
        sheets_with_data=len(results),
        sheets_skipped=skipped,
        rows_read=rec.rows_read,
        rows_stored=len(exposures),
        rows_rejected=len(rejections),
        repairs=len(repairs),
        flagged=n_flagged,
        reasons=dict(Counter(r["reason"] for r in rejections)),
        notes=notes,
    )
    return rec, outcome


def _failed(source_file: str, sha: str, reason: str) -> tuple[SubmissionRecord, FileOutcome]:
    rec = SubmissionRecord(
        source_file=source_file, sha256=sha, data_source=None, year=None, status="failed", message=reason,
        rejections=[{"sheet": None, "source_row": None, "reason": reason, "raw": None}],
    )
    return rec, FileOutcome(source_file=source_file, status="failed", message=reason)


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
        database is written by this process, in file order.
    rdsr_facility : {"device", "station", "institution"}
        What names the facility of a DICOM dose report.
    procedure_map : str or Path, optional
        Procedure map of DICOM dose reports (default: the shipped one).

    Returns
    -------
    IngestSummary
    """
    from tqdm import tqdm

    db_url = db_url or default_db_url()
    catalogue = catalogue or load_catalogue()
    engine = make_engine(db_url)
    files, problems = find_files(list(paths))
    names = relative_names(list(paths), files)
    summary = IngestSummary(db=_safe_url(db_url))
    for p, why in problems:
        summary.files.append(FileOutcome(source_file=p.name, status="failed", message=why))
    max_bytes = int(max_file_mb * 2**20) if max_file_mb else None
    outcomes: dict[int, FileOutcome] = {}
    todo: list[tuple[int, Path, str, str]] = []
    seen: set[str] = set()
    already = stored_shas(engine)
    jobs = jobs or os.cpu_count() or 1
    dicom = {k for k, path in enumerate(files) if is_dicom_candidate(path)}
    if dicom or procedure_map:  # DICOM dose reports have their own reader and writer
        from .rdsr import ProcedureMap, RdsrOptions, ingest_files

        options = RdsrOptions(rdsr_facility, ProcedureMap.load(procedure_map))
        outcomes.update(ingest_files([(k, files[k], names[files[k]]) for k in sorted(dicom)], engine,
                                     catalogue=catalogue, options=options, already=already, data_source=data_source,
                                     year=year, max_bytes=max_bytes, jobs=jobs, progress=progress))
    for k, path in enumerate(files):
        if k in dicom:
            continue
        name = names[path]
        try:
            sha = sha256_file(path)
        except OSError as exc:
            outcomes[k] = FileOutcome(source_file=name, status="failed", message=f"cannot open the file ({exc.strerror})")
            continue
        if sha in seen or sha in already:
            outcomes[k] = FileOutcome(source_file=name, status="duplicate", message="already stored (same sha256)")
            continue
        seen.add(sha)
        todo.append((k, path, name, sha))
    settings = (catalogue, data_source, year, max_bytes, engine.dialect.name)
    pool = None
    if jobs > 1 and len(todo) >= 4 and "fork" in mp.get_all_start_methods():
        # Workers read and repair; this process stores, in file order.
        pool = ProcessPoolExecutor(min(jobs, len(todo)), mp_context=mp.get_context("fork"),
                                   initializer=_init_worker, initargs=settings)
        results = pool.map(_read_job, todo, chunksize=2)
    else:
        _init_worker(*settings)
        results = map(_read_job, todo)
    bar = tqdm(total=len(todo), desc="ingest", unit="file", disable=not progress or len(todo) < 5 or None, file=sys.stderr)
    conn = engine.connect()
    try:
        for (k, _, _, _), (rec, outcome, error) in zip(todo, results):
            if error:
                print(error, file=sys.stderr, end="")
            save_submission(conn, rec)
            outcomes[k] = outcome
            bar.update()
    finally:
        conn.close()
        bar.close()
        if pool is not None:
            pool.shutdown()
        engine.dispose()
    summary.files.extend(outcomes[k] for k in sorted(outcomes))
    return summary


_WORKER: dict = {}


def _init_worker(catalogue, data_source, year, max_bytes, dialect) -> None:
    _WORKER.update(catalogue=catalogue, data_source=data_source, year=year, max_bytes=max_bytes, dialect=dialect)


def _read_job(job: tuple[int, Path, str, str]) -> tuple[SubmissionRecord, FileOutcome, str | None]:
    """Read one file in a worker; a failure of ours becomes a failed file and a traceback."""
    _, path, name, sha = job
    w = _WORKER
    try:
        rec, outcome = read_submission(
            path, name, w["catalogue"], data_source=w["data_source"], year=w["year"], max_bytes=w["max_bytes"],
            sha256=sha,
        )
        rec.prepared, rec.prepared_for = prepare_columns(rec, w["dialect"]), w["dialect"]
        # Only the prepared columns travel back to the writing process.
        rec.exposures, rec.repairs = None, []
        return rec, outcome, None
    except Exception as exc:  # noqa: BLE001 - a bug of ours must not stop the other files
        rec, outcome = _failed(name, sha, f"internal error while reading ({exc.__class__.__name__}: {exc}); please report it")
        return rec, outcome, traceback.format_exc()


def _safe_url(url: str) -> str:
    """The URL without a password, for printing."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - printing only
        return url


def command(args) -> int:
    """``drl-analysis ingest``: print the summary; exit 1 if nothing could be read."""
    catalogue = load_catalogue(args.catalogue)
    summary = ingest_paths(
        args.paths,
        args.db,
        catalogue=catalogue,
        data_source=args.data_source,
        year=args.year,
        max_file_mb=args.max_file_mb,
        progress=not args.no_progress,
        jobs=args.jobs,
        rdsr_facility=args.rdsr_facility,
        procedure_map=args.procedure_map,
    )
    if args.json:
        print(json.dumps(summary.as_dict(), ensure_ascii=False, indent=2))
    else:
        print(summary.text())
    if not summary.files:
        raise UserError(f"no survey files found in {', '.join(map(str, args.paths))}")
    return 0 if summary.ok else 1


def export_command(args) -> int:
    """``drl-analysis export``: every stored exposure to a CSV file."""
    from ..store.database import export_csv

    n = export_csv(args.db or default_db_url(), args.out)
    print(f"Wrote {n} exposures to {args.out}")
    return 0

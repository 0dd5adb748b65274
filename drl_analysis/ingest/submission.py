"""Reading one submitted file into a record ready to store (nothing is stored here).

The file's sheets are planned first (instructions skipped, several tables on
one sheet split), then each data sheet is read with its header (its own, the
one before it for a continuation sheet, or none where its name gives the exam)
and repaired by :func:`drl_analysis.ingest.repair.repair_sheet`; finally the
sheets' rows are joined, their data source and year settled, ambiguous
numbers resolved and implausible values flagged. For every sheet, rows read
= rows stored + rows rejected.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.catalogue import Catalogue
from ..core.columns import EXPOSURE_COLUMNS, NUMERIC_COLUMNS
from ..store.database import SubmissionRecord
from .contents import SheetNotRead, check_columns
from .headers import HeaderMatch, find_header, find_labels, labels_from_name, match_column, read_unit_row, year_of_sheet_name
from .inferences import inference_counts
from .plausibility import exam_references, flag_exposures, resolve_ambiguous
from .repair import SheetResult, reject_sheet, repair_sheet, repr_number
from .repair_log import repairs_frame
from .sheets import facility_of_sheet_name, is_instruction_sheet, split_side_by_side, split_tables
from .workbook import DEFAULT_LIMITS, FileRejected, Limits, RawFile, RawSheet, read_file

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
    #: Inferences that could be wrong: ``{rule: rows (or columns) touched}``,
    #: see :data:`drl_analysis.ingest.inferences.INFERENCE_RULES`.
    inferences: dict[str, int] = field(default_factory=dict)


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

    if "exam_code" not in header.columns:
        return None
    for r, row in enumerate(sheet.rows[:60]):
        if not any(v not in ("", None) for v in row):
            continue
        c = header.columns["exam_code"].index
        if c >= len(row):
            return None
        code, _ = _resolve_exam(row[c], catalogue)
        return r if code in catalogue.codes else None
    return None


def exam_of_sheet_name(name: str, catalogue: Catalogue) -> str | None:
    """The catalogue exam code a sheet's name gives (``"1010"``, ``"CT Cranium"``), or None."""
    from .repair import _resolve_exam

    if not name.strip():
        return None
    code, _ = _resolve_exam(name, catalogue)
    return code if code in catalogue.codes else None


def _data_above(sheet: RawSheet, header: HeaderMatch, catalogue: Catalogue) -> bool:
    """Whether rows above the header hold exposures (known exam codes in its exam column)."""
    from .repair import _resolve_exam

    if "exam_code" not in header.columns:
        return False
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
    limits: Limits = DEFAULT_LIMITS,
) -> tuple[SubmissionRecord, FileOutcome]:
    """Read and repair one file into a record ready to store (nothing is stored).

    Parameters
    ----------
    path : Path
    source_file : str
        The file's name in outputs (relative to the folder ingested).
    catalogue : Catalogue
    data_source, year : optional
        For sheets that name neither (cells, file name).
    max_bytes : int, optional
        Larger files are refused unread.
    sha256 : str, optional
        The file's SHA-256 if known.
    limits : Limits
        Largest sheet read.

    Returns
    -------
    (SubmissionRecord, FileOutcome)
    """
    sha = sha256 or sha256_file(path)
    try:
        raw = read_file(path, max_bytes=max_bytes, limits=limits)
    except FileRejected as exc:
        return _failed(source_file, sha, str(exc))
    except OSError as exc:
        return _failed(source_file, sha, f"cannot open the file ({exc.strerror or exc})")
    reader = _SubmissionReader(raw, catalogue, path.stem, data_source, year)
    reader.read_sheets()
    return reader.record(source_file, sha)


def _plan_sheets(raw: RawFile, notes: list[str]) -> list[tuple[RawSheet, HeaderMatch | None]]:
    """Each sheet with its header; a sheet of several tables as one part per table."""
    planned: list[tuple[RawSheet, HeaderMatch | None]] = []
    for s in raw.sheets:
        header = None if is_instruction_sheet(s) else find_header(s.rows)
        if header is None:
            planned.append((s, None))
            continue
        beside = split_side_by_side(s, header)
        if len(beside) > 1:
            notes.append(f"sheet {s.name!r} holds tables side by side; each read as a table of its own: "
                         + ", ".join(repr(part.name) for part, _ in beside))
        for part, part_header in beside:
            planned.extend(split_tables(part, part_header))
    return planned


@dataclass
class _SubmissionReader:
    """The state of reading one file, sheet after sheet."""

    raw: RawFile
    catalogue: Catalogue
    stem: str
    data_source: str | None
    year: int | None
    planned: list[tuple[RawSheet, HeaderMatch | None]] = field(default_factory=list)
    results: list[tuple[SheetResult, str | None, int | None]] = field(default_factory=list)
    sheet_rows: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    not_read: list[str] = field(default_factory=list)
    previous: HeaderMatch | None = None
    #: Sheets whose data source or year only the file name gave.
    from_name: dict[str, set] = field(default_factory=lambda: {"data_source": set(), "year": set()})

    def __post_init__(self) -> None:
        self.notes = list(self.raw.notes)
        self.planned = _plan_sheets(self.raw, self.notes)
        self.name_source, self.name_year = labels_from_name(self.stem)
        # Labels anywhere in the workbook apply to sheets that name none.
        self.book_source = self.book_year = None
        for s, h in self.planned:
            src, yr = find_labels(s.rows, h.row if h else min(len(s.rows), 20))
            self.book_source = self.book_source or src
            self.book_year = self.book_year or yr
        names = [s.name for s, _ in self.planned]
        for name in sorted({n for n in names if names.count(n) > 1}):
            self.notes.append(f"sheet {name!r} holds several tables with headers of their own; "
                              "each read with its own header")

    def labels(self, sheet: RawSheet, stop: int) -> tuple[str | None, int | None]:
        """The data source and year of a sheet: its cells, else the workbook's, the options', the file name's."""
        src, yr = find_labels(sheet.rows, stop)
        # What the user states (--data-source, --year) comes before what the file name suggests.
        src = src or self.book_source or self.data_source
        yr = yr or year_of_sheet_name(sheet.name) or self.book_year or self.year
        if src is None and self.name_source is not None:
            src = self.name_source
            self.from_name["data_source"].add(sheet.name)
        if yr is None and self.name_year is not None:
            yr = self.name_year
            self.from_name["year"].add(sheet.name)
        return src, yr

    def labels_from_file_name(self, sheet_rows: list[dict]) -> dict[str, int]:
        """Rows whose data source or year only the file name gave: an inference the summary
        counts (``data_source_from_file_name``, ``year_from_file_name``), with a note."""
        out = {}
        for rule, column, value in (("data_source_from_file_name", "data_source", self.name_source),
                                    ("year_from_file_name", "year", self.name_year)):
            sheets = self.from_name[column]
            n = sum(r["rows_stored"] for r in sheet_rows if r["sheet"] in sheets) if sheets else 0
            if n:
                out[rule] = n
                self.notes.append(f"{column.replace('_', ' ')} {value!r} taken from the file name for {n} rows")
        return out

    def skip(self, sheet: RawSheet, reason: str) -> None:
        self.skipped.append(sheet.name)
        self.sheet_rows.append({"sheet": sheet.name, "status": "skipped", "reason": reason})

    def read_sheets(self) -> None:
        for sheet, header in self.planned:
            if is_instruction_sheet(sheet):
                self.skip(sheet, "instructions or examples, not data")
                continue
            self.read_sheet(sheet, header)

    def header_by_sheet_name(self, sheet: RawSheet) -> tuple[HeaderMatch | None, str | None]:
        """A header without an exam column, for a sheet whose name gives the exam."""
        exam = exam_of_sheet_name(sheet.name, self.catalogue)
        header = find_header(sheet.rows, need_exam=False) if exam is not None else None
        if header is None:
            return None, None
        self.notes.append(f"sheet {sheet.name!r} has no exam-code column; exam code {exam} taken from its name")
        return header, exam

    def borrowed_header(self, sheet: RawSheet, header: HeaderMatch | None) -> tuple[HeaderMatch | None, int | None]:
        """The header of the sheet before, for a sheet that continues it: ``(header, first data row)``."""
        if header is not None and _data_above(sheet, header, self.catalogue):
            # Data above the header: the "header" repeats inside the data of
            # a sheet that continues the one before it.
            start = next(i for i, row in enumerate(sheet.rows) if any(v not in ("", None) for v in row))
            self.notes.append(f"sheet {sheet.name!r} starts with data; its header row {header.row + 1} repeats inside")
            return self.previous or header, start  # the repeated header may have lost cells (merged ranges)
        if header is None and self.previous is not None:
            start = _continuation_start(sheet, self.previous, self.catalogue)
            if start is not None:
                self.notes.append(f"sheet {sheet.name!r} has no header; read with the columns of the sheet before")
                return self.previous, start
        return header, None

    def checked(self, sheet: RawSheet, header: HeaderMatch, first: int, exam: str | None) -> str | None:
        """Check the header's columns against their cells; the exam code from the
        sheet's name where the "exam" column holds something else. Raises
        :class:`SheetNotRead`."""
        try:
            notes = check_columns(sheet.rows, header, first, self.catalogue)
        except SheetNotRead as exc:
            # A sheet per exam whose "exam" column holds something else
            # ("Protokoll"): its name gives the exam.
            by_name = exam_of_sheet_name(sheet.name, self.catalogue) if exc.column == "exam_code" else None
            if by_name is None or exam is not None:
                raise
            self.notes.append(f"sheet {sheet.name!r}: {exc}; exam code {by_name} taken from the sheet's name")
            header.use("exam_code", None)
            exam = by_name
            notes = check_columns(sheet.rows, header, first, self.catalogue)
        self.notes.extend(f"sheet {sheet.name!r}: {n}" if sheet.name else n for n in notes)
        return exam

    def facility_by_sheet_name(self, sheet: RawSheet, header: HeaderMatch) -> str | None:
        if "facility_id" in header.columns or self.raw.kind == "csv":
            return None
        facility = facility_of_sheet_name(sheet.name)
        if facility is None or exam_of_sheet_name(sheet.name, self.catalogue) is not None:
            return None
        self.notes.append(f"sheet {sheet.name!r} has no facility-ID column; its name is taken as the facility ID")
        return facility

    def read_sheet(self, sheet: RawSheet, header: HeaderMatch | None) -> None:
        exam = None
        if header is None:
            header, exam = self.header_by_sheet_name(sheet)
        own_header = header is not None
        header, start = self.borrowed_header(sheet, header)
        if header is None:
            self.skip(sheet, _skip_reason(sheet))
            return
        if start is None and read_unit_row(sheet.rows, header):
            start = header.row + 2
        first = header.row + 1 if start is None else start
        if own_header and header is not self.previous:
            try:
                exam = self.checked(sheet, header, first, exam)
            except SheetNotRead as exc:
                self.notes.append(f"sheet {sheet.name!r} not read: {exc}" if sheet.name else f"not read: {exc}")
                self.not_read.append(str(exc))
                result = reject_sheet(sheet, header, first, f"sheet not read: {exc}")
                self.results.append((result, *self.labels(sheet, header.row)))
                return
        previous_before, self.previous = self.previous, header
        result = repair_sheet(sheet, header, self.catalogue, in_workbook=self.raw.kind != "csv", data_start=start,
                              exam_from_sheet=exam, facility_from_sheet=self.facility_by_sheet_name(sheet, header))
        if own_header and header is not previous_before:
            result.header_row = sheet.row_number(header.row)
        self.results.append((result, *self.labels(sheet, header.row if start is None else 0)))

    def record(self, source_file: str, sha: str) -> tuple[SubmissionRecord, FileOutcome]:
        """Join the sheets' rows into the file's record, or the reason it holds none."""
        joined = _join_sheets(self.results, source_file)
        for u in joined.unknown:
            self.notes.append(u)
        stored = sum(joined.n_sheet_rows)
        if self.not_read and stored == 0:
            return _failed(source_file, sha, "; ".join(f"sheet not read: {r}" for r in self.not_read))
        if not joined.n_sheet_rows or stored == 0 and not joined.rejections:
            reason = "the workbook holds no exposure data" if self.raw.kind != "csv" else \
                "the CSV file holds no exposure data"
            if self.skipped:
                reason += f" (sheets: {', '.join(repr(s) for s in self.skipped)})"
            return _failed(source_file, sha, reason)
        exposures, repairs = _settle(joined, self.catalogue)
        n_flagged = int((exposures["flags"] != "").sum())
        sources = exposures["data_source"].dropna()
        years = exposures["year"].dropna()
        rec = SubmissionRecord(
            source_file=source_file, sha256=sha,
            data_source=sources.mode().iat[0] if len(sources) else None,
            year=int(years.mode().iat[0]) if len(years) else None,
            message="; ".join(self.notes) or None, exposures=exposures, sheets=self.sheet_rows + joined.sheet_rows,
            repairs=repairs, rejections=joined.rejections, rows_read=sum(r.rows_read for r, _, _ in self.results),
            n_flagged=n_flagged, content_sha256=content_sha256(exposures),
        )
        outcome = FileOutcome(
            source_file=source_file, status="stored", message="; ".join(self.notes), data_source=rec.data_source,
            year=rec.year, sheets_with_data=len(self.results), sheets_skipped=self.skipped, rows_read=rec.rows_read,
            rows_stored=len(exposures), rows_rejected=len(joined.rejections), repairs=len(repairs), flagged=n_flagged,
            reasons=dict(Counter(r["reason"] for r in joined.rejections)), notes=self.notes,
            inferences={**inference_counts(repairs), **self.labels_from_file_name(joined.sheet_rows)},
        )
        return rec, outcome


@dataclass
class _Joined:
    """The rows of every sheet of a file, column by column."""

    parts: dict[str, list]
    n_sheet_rows: list[int] = field(default_factory=list)
    repair_frames: list[dict[str, np.ndarray]] = field(default_factory=list)
    rejections: list[dict] = field(default_factory=list)
    ambiguous: list[tuple[int, str, float, float]] = field(default_factory=list)
    sheet_rows: list[dict] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)


def _unknown_note(sheet: str, header: str, column_map: dict[str, str]) -> str:
    """Why a column was kept out: no exposure column, or a second column of one already read."""
    named = match_column(header)[0]
    if named in column_map and column_map[named] != header:
        return (f"sheet {sheet!r}: column {header!r} names {named} again; "
                f"{column_map[named]!r} was read, this one kept out")
    return f"sheet {sheet!r}: column {header!r} is not an exposure column; kept out"


_NO_YEAR = "no survey year: give it in the Year cell, a Year column, the file name or --year"
_NO_SOURCE = "no data source: give it in the Data source cell, the file name or --data-source"


def _join_sheets(results: list[tuple[SheetResult, str | None, int | None]], source_file: str) -> _Joined:
    """Columns of every sheet, joined into one frame at the end (a frame per
    sheet, copied and concatenated, costs more than the rows themselves).
    Rows without a data source or year are rejected here."""
    joined = _Joined({c: [] for c in _EXPOSURE_FRAME_COLUMNS})
    offset = 0
    for result, src, yr in results:
        exp = result.exposures
        year_col = np.asarray(exp["row_year"], dtype=float)
        year_col = np.where(np.isnan(year_col), np.nan if yr is None else yr, year_col)
        columns = {c: np.asarray(exp[c]) for c in _EXPOSURE_FRAME_COLUMNS if c not in ("data_source", "year")}
        columns["year"] = year_col
        missing = np.isnan(year_col) | (src is None)
        if missing.any():
            why = _NO_SOURCE if src is None else _NO_YEAR
            for row in columns["source_row"][missing]:
                result.rejections.append({"sheet": result.name, "source_row": int(row), "reason": why, "raw": None})
            keep_pos = np.flatnonzero(~missing)
            remap = {int(old): new for new, old in enumerate(keep_pos)}
            result.ambiguous = [(remap[i], c, a, b) for i, c, a, b in result.ambiguous if i in remap]
            columns = {c: v[keep_pos] for c, v in columns.items()}
        stored = len(columns["year"])
        columns["data_source"] = np.full(stored, src, dtype=object)
        for c in _EXPOSURE_FRAME_COLUMNS:
            joined.parts[c].append(columns[c])
        joined.n_sheet_rows.append(stored)
        joined.ambiguous.extend((offset + i, c, a, b) for i, c, a, b in result.ambiguous)
        offset += stored
        joined.repair_frames.append(result.repairs)
        joined.rejections.extend(result.rejections)
        joined.sheet_rows.append({
            "sheet": result.name, "status": result.status, "reason": "; ".join(result.notes) or None,
            "header_row": result.header_row, "column_map": json.dumps(result.column_map, ensure_ascii=False),
            "unknown_columns": json.dumps(result.unknown_columns, ensure_ascii=False),
            "data_source": src, "year": yr, "rows_read": result.rows_read,
            "rows_stored": stored, "rows_rejected": result.rows_read - stored,
        })
        if result.rows_read != stored + len(result.rejections):  # pragma: no cover - a bug of ours
            raise AssertionError(f"{source_file} sheet {result.name!r}: rows do not add up")
        joined.unknown.extend(_unknown_note(result.name, u, result.column_map) for u in result.unknown_columns)
    return joined


def _settle(joined: _Joined, catalogue: Catalogue) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The file's exposures with ambiguous numbers resolved and flags set, and its repairs."""
    columns = {c: np.concatenate(v) for c, v in joined.parts.items()}
    year_values = columns["year"]
    no_year = np.isnan(year_values)
    columns["year"] = pd.arrays.IntegerArray(np.where(no_year, 0, year_values).astype(np.int64), no_year)
    exposures = pd.DataFrame(columns)
    refs = exam_references(exposures, catalogue)
    chosen = resolve_ambiguous(exposures, joined.ambiguous, refs)
    repairs = repairs_frame(joined.repair_frames)
    if chosen:
        amb = repairs.index[repairs["rule"] == "ambiguous_notation"]
        where = {(repairs.at[i, "sheet"], repairs.at[i, "source_row"], repairs.at[i, "column"]): i for i in amb}
        for (pos, column), value in chosen.items():
            exposures.loc[pos, column] = value
            i = where.get((exposures["sheet"].iat[pos], int(exposures["source_row"].iat[pos]), column))
            if i is not None:
                repairs.at[i, "after"] = repr_number(value)
    exposures["flags"] = flag_exposures(exposures, catalogue, refs, set(chosen))
    return exposures, repairs


def content_sha256(exposures: pd.DataFrame) -> str | None:
    """SHA-256 over the rows read: data source, year, IDs, codes and values in row
    order (None for no rows). Equal for a file re-saved with other bytes."""
    if exposures is None or not len(exposures):
        return None
    h = hashlib.sha256()
    for column in ("data_source", "facility_id", "exam_code"):
        # Few distinct IDs and codes per file: hash them once and each row's index.
        codes, uniques = pd.factorize(exposures[column], use_na_sentinel=True)
        h.update("\x1f".join(str(v) for v in uniques).encode())
        h.update(codes.astype(np.int64).tobytes())
        h.update(b"\x1e")
    h.update(exposures["year"].to_numpy(dtype=float, na_value=np.nan).tobytes())
    values = np.stack([exposures[c].to_numpy(dtype=float) for c in NUMERIC_COLUMNS], axis=1)
    h.update(np.where(np.isnan(values), np.nan, values).tobytes())
    return h.hexdigest()


def _failed(source_file: str, sha: str, reason: str) -> tuple[SubmissionRecord, FileOutcome]:
    rec = SubmissionRecord(
        source_file=source_file, sha256=sha, data_source=None, year=None, status="failed", message=reason,
        rejections=[{"sheet": None, "source_row": None, "reason": reason, "raw": None}],
    )
    return rec, FileOutcome(source_file=source_file, status="failed", message=reason)

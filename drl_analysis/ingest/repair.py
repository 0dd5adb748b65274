"""Repairing the rows of a data sheet into canonical exposures.

Given a sheet and its header (:mod:`drl_analysis.ingest.headers`), every row below
the header is either stored as an exposure or rejected with a reason; every
change to a value is logged as a repair with the rule that made it.

Rules (the ``rule`` of a repair, the ``reason`` of a rejection):

* ``unit_conversion`` (per column): header unit -> canonical unit.
* ``number_as_text``, ``decimal_comma``, ``thousands_separator``: a number
  typed as text in a workbook (or behind a spreadsheet's text marker, `'356,2`), or
  written with separators.
* ``unit_in_cell``: a number written with its unit (``"12,5 mGy"``).
* ``missing_marker``: ``-``, ``n.a.``, ``k.A.``, ``k. A.``, ``/``, ``?``... (any
  case, spaces and dots) read as missing, in every column, before any other
  reading of the cell.
* ``notation_from_sheet``: ``1.234`` read in the notation that the sheet's
  other numbers show (``1234`` where they write ``12,5``).
* ``age_from_birth_date``: no age column, but a birth date and the exam's date
  ("Geburtsdatum" and "Studiendatum"): the age in years between them.
* ``scientific_notation``: ``"7.726e2"``, ``"1,23E+03"`` read as 772.6 and 1230.
* ``approximate_value``: ``"ca. 80"``, ``"~16,4"`` read as the number.
* ``comment_in_cell``: ``"61 (geschätzt)"``, ``"6,4 lt. Protokoll"``: the number
  read, the comment (text without a digit that is no unit) left out.
* ``ambiguous_notation``: ``1.234`` where the sheet shows no notation; the
  reading closer to the exam's DRL is kept and the value flagged.
* ``exam_code_from_text``, ``exam_code_from_name``: ``"1010 Cranium"``,
  ``"Code 1010"`` or ``"Cranium"`` -> ``1010``.
* ``exam_code_from_sheet_name``: a sheet per exam without an exam-code
  column; the code comes from the sheet's name (``"1010"``, ``"Cranium"``).
* ``unit_from_column``: a dose whose unit stands in a column of its own
  (``"Einheit DFP"``: ``dGy*cm2``), converted row by row.
* ``phantom_from_column``: a CT dose given in one column per phantom
  (``"CTDIvol Kopf 16 cm"``, ``"CTDIvol Körper 32 cm"``): the phantom of the
  column that holds the value.
* ``phantom_from_text``: ``"Kopf"``, ``"32 cm"`` -> 16 or 32 (whole words only;
  no single letter is read as a phantom).
* ``merged_cell``: a facility ID merged over several rows, filled down.
* ``facility_id_filled_down``: a facility ID given once per block of rows,
  filled into the blank ID cells below it. Only where the sheet shows that
  structure: its IDs come in contiguous groups, and most IDs stand above blank
  ones (or the blank lies between two equal IDs). A blank ID elsewhere is a
  rejection.
* ``facility_id_from_sheet_name``: a sheet per facility without an ID column;
  the sheet's name is the ID (not a generic name such as "Tabelle1").
* ``facility_id_as_text``: an ID written as ``" 12 "`` or ``12.0`` -> ``12``;
  spaces (also non-breaking) trimmed, invisible characters (zero-width
  spaces, soft hyphens, byte-order marks) removed, in IDs and exam codes.
* ``header_matched``: a column matched by a name other than the template's own
  header text (one record per column, row empty; ``before`` the header,
  ``after`` the canonical column). Every inference that could be wrong is a
  repair: the per-file summary counts them
  (:data:`drl_analysis.ingest.inferences.INFERENCE_RULES`).

Rejections: ``empty row``, ``repeated header row``, ``total or summary row``,
``note row``, ``example row``, ``exam code missing``, ``facility ID missing``,
``no dose value``,
``values for both phantoms, or a phantom that disagrees with its dose column``,
``unreadable value`` (a numeric cell that holds text that reads as no value of
its column, e.g. "viel" as a DAP or "12 kg" as an age; the reason names the
column, the raw cells are kept). A rejected row with an Excel error value in a
column read ("#DIV/0!", "#N/A", ...) says so after its reason, e.g.
"unreadable value in dap_cgycm2 (dap_cgycm2: the cell holds the Excel error #DIV/0!)".
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd

from ..core.catalogue import Catalogue
from ..core.columns import DOSE_QUANTITIES, EXPOSURE_COLUMNS, NUMERIC_COLUMNS, PHANTOMS_CM
from ..core.numbers import Notation, decide_notation, notation_votes, parse_number
from .ages import ages_from_dates, date_columns
from .cells import MISSING_MARKERS, _cell_text, _is_empty, clean_text, is_missing_marker, marker_key  # noqa: F401 - re-exported
from .facility_ids import _fill_down_ids, _fill_merged_ids
from .headers import RANK_EXACT, HeaderMatch, fold, match_column
from .number_cells import _numeric_column, _parse_text_number, _parse_texts, repr_number  # noqa: F401 - re-exported
from .repair_log import REPAIR_COLUMNS, _Log, repairs_frame  # noqa: F401 - re-exported
from .split_columns import apply_unit_column, phantom_of_split, read_phantom_split
from .template_layout import code_of_label
from .workbook import EXCEL_ERRORS, RawSheet

_SUMMARY = re.compile(
    r"^((summe|gesamt|total|totals|mittelwert|mittel|durchschnitt|mean|average|avg|median|anzahl|count|"
    r"min|max|minimum|maximum|std|standardabweichung|sd|quartil|p75|p25|percentile|perzentil)\b|n\s*=)"
)
#: The summary words that no exam name begins with (unlike "Total" or "Gesamt").
_STATISTIC = re.compile(
    r"^(mittelwert|mittel|durchschnitt|mean|average|avg|median|anzahl|count|summe|sum|minimum|maximum|"
    r"standardabweichung|quartil|perzentil|percentile|p75|p25)\b"
)
#: An example row of a template ("Beispiel", "Muster-Einrichtung", "e.g."): never an exposure.
_EXAMPLE = re.compile(r"^(beispiel|bsp|muster|example|sample|z\s*b|e\s*g|vorlage|template)\b")
_NOTE = re.compile(
    r"^(bemerkung|anmerkung|hinweis|note|notes|nb|kommentar|comment|quelle|erstellt|created|stand|"
    r"\*|fussnote|footnote|legende|legend)\b"
)
_CODE_IN_TEXT = re.compile(r"(?<!\d)(\d{4})(?!\d)")
# Words of a phantom cell (folded). No single letter counts: "k" of "k. A."
# (keine Angabe) is no "Kopf".
_PHANTOM_WORDS = {
    16: re.compile(r"kopf|head|schaedel|skull|\b16\b|\b160\s*mm\b"),
    32: re.compile(r"koerper|korper|body|rumpf|stamm|torso|\b32\b|\b320\s*mm\b"),
}


@dataclass
class SheetResult:
    """What one data sheet gave: exposures, repairs, rejections and counts."""

    name: str
    header_row: int | None
    column_map: dict[str, str]
    unknown_columns: list[str]
    #: The stored rows, column by column: ``{column: array}`` (``sheet``, ``source_row``,
    #: ``row_year`` and the exposure columns).
    exposures: dict[str, np.ndarray]
    #: The repairs, column by column (see :meth:`_Log.arrays`); :func:`repairs_frame` joins them.
    repairs: dict[str, np.ndarray] = field(default_factory=lambda: _Log("").arrays())
    rejections: list[dict] = field(default_factory=list)
    rows_read: int = 0
    notes: list[str] = field(default_factory=list)
    # (position in exposures, column, decimal reading, thousands reading)
    ambiguous: list[tuple[int, str, float, float]] = field(default_factory=list)
    #: "data", or "rejected" for a sheet whose columns contradict its header
    #: (every row rejected with the reason, raw cells kept).
    status: str = "data"


def reject_sheet(sheet: RawSheet, header: HeaderMatch, start: int, reason: str) -> SheetResult:
    """Every row of a sheet that cannot be read, rejected with ``reason`` (empty rows as such)."""
    log = _Log(sheet.name)
    end = last_data_row(sheet.rows, start)
    for i in range(start, end):
        row = sheet.rows[i]
        empty = all(_is_empty(v) for v in row)
        log.reject(sheet.row_number(i), "empty row" if empty else reason, row)
    frame = {c: np.array([], dtype=object) for c in ["sheet", "source_row", "row_year", *EXPOSURE_COLUMNS]}
    return SheetResult(
        name=sheet.name, header_row=sheet.row_number(header.row),
        column_map={c: m.header for c, m in sorted(header.columns.items(), key=lambda kv: kv[1].index)},
        unknown_columns=list(header.unknown), exposures=frame, rejections=log.rejections,
        rows_read=end - start, notes=[reason], status="rejected",
    )


def last_data_row(rows: list[list], start: int) -> int:
    """Index one past the last row at or after ``start`` with a non-empty cell."""
    for i in range(len(rows) - 1, start - 1, -1):
        if any(not _is_empty(v) for v in rows[i]):
            return i + 1
    return start


def _resolved(arr: np.ndarray, fn, cache: dict | None = None) -> tuple[list, np.ndarray]:
    """``fn`` applied once per distinct cell: (results per distinct cell, codes per cell; -1 for None)."""
    codes, uniques = pd.factorize(arr)
    return [fn(u) for u in uniques], codes


def _resolve_exam(value: object, catalogue: Catalogue) -> tuple[str | None, str | None]:
    """An exam code from a cell: ``(code, rule)``; ``(None, None)`` when empty."""
    if isinstance(value, str):
        return _resolve_exam_cached(value, catalogue)
    return _resolve_exam_text(value, catalogue)


@lru_cache(maxsize=1 << 16)
def _resolve_exam_cached(value: str, catalogue: Catalogue) -> tuple[str | None, str | None]:
    # A catalogue is immutable and hashed by identity: the answer cannot go stale.
    return _resolve_exam_text(value, catalogue)


def _resolve_exam_text(value: object, catalogue: Catalogue) -> tuple[str | None, str | None]:
    if _is_empty(value):
        return None, None
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value)), None
        return str(value), None
    if isinstance(value, (int,)) and not isinstance(value, bool):
        return str(value), None
    raw = str(value)
    text = " ".join(clean_text(raw).split())
    if not text or is_missing_marker(text):
        return None, None
    codes = catalogue.codes
    if text in codes:
        return text, (None if text == raw else "exam_code_from_text")
    labelled = code_of_label(text, catalogue)  # "1010 – Cranium": picked from the template's drop-down
    if labelled is not None:
        return labelled, (None if text == raw else "exam_code_from_text")
    if re.fullmatch(r"\d+\.0", text):
        return text[:-2], "exam_code_from_text"
    m = _CODE_IN_TEXT.search(text)
    if m and m.group(1) in codes:
        return m.group(1), "exam_code_from_text"
    by_name = catalogue.code_for_name(text)
    if by_name is None:
        # "Cranium (1010)" or "CT Cranium": try the text without a leading modality word.
        stripped = re.sub(r"^(ct|rö|roe|rx|dr|xa|mg)[\s:\-]+", "", text, flags=re.I)
        by_name = catalogue.code_for_name(stripped) if stripped != text else None
    if by_name is not None:
        return by_name, "exam_code_from_name"
    if m and re.fullmatch(r"\D{0,12}\d{4}\D{0,40}", text):
        return m.group(1), "exam_code_from_text"
    return text, (None if text == raw else "exam_code_from_text")


def _resolve_facility(value: object) -> tuple[str | None, str | None]:
    if _is_empty(value):
        return None, None
    if isinstance(value, float):
        return (str(int(value)), None) if value.is_integer() else (repr(value), None)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value), None
    text = str(value)
    clean = " ".join(clean_text(text).split())
    if not clean or clean.upper() in EXCEL_ERRORS:
        return None, None  # an Excel error ("#REF!") is no ID: the row is rejected, never filled down
    if re.fullmatch(r"\d+[.,]0+", clean):
        # A number ID written as a float, in either notation ("12.0", "15,0").
        clean = re.split(r"[.,]", clean)[0]
    return clean, ("facility_id_as_text" if clean != text else None)


def _resolve_phantom(value: object) -> tuple[float, str | None]:
    """A phantom cell: 16 or 32 (cm) and the rule, NaN when empty or missing.

    Anything else (another number, a word of neither phantom or of both) is
    ``unreadable_value``: the row is rejected, never stored with a guess.
    """
    if _is_empty(value):
        return math.nan, None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (float(value), None) if float(value) in PHANTOMS_CM else (math.nan, "unreadable_value")
    if is_missing_marker(str(value)):
        return math.nan, "missing_marker"
    text = fold(clean_text(str(value)))
    sizes = [size for size, pattern in _PHANTOM_WORDS.items() if pattern.search(text)]
    if len(sizes) == 1:
        if re.fullmatch(r"(16|32)(\s*cm)?", text):
            return float(sizes[0]), ("number_as_text" if text in ("16", "32") else "phantom_from_text")
        return float(sizes[0]), "phantom_from_text"
    if not sizes:
        try:
            number = float(parse_number(clean_text(str(value))).value)
        except ValueError:
            number = math.nan
        if number in PHANTOMS_CM:
            return number, "number_as_text"
    return math.nan, "unreadable_value"


def _text_kind(text: str, catalogue: Catalogue) -> str | None:
    """What an ID or exam cell's text says about its row: summary, note, header or None."""
    return _text_kind_cached(text, catalogue)


@lru_cache(maxsize=1 << 16)
def _text_kind_cached(text: str, catalogue: Catalogue) -> str | None:
    # A catalogue is immutable and hashed by identity: the answer cannot go stale.
    return _text_kind_uncached(text, catalogue)


def _text_kind_uncached(text: str, catalogue: Catalogue) -> str | None:
    text = clean_text(text)
    folded = fold(text)
    if _STATISTIC.match(folded) or text.startswith(("Ø", "ø", "∅")):
        return "total or summary row"  # "Mittelwert 9201", "Ø 1010": a statistic of an exam, never an exposure
    code = _CODE_IN_TEXT.search(text)
    if catalogue.code_for_name(text) is not None or (code and code.group(1) in catalogue.codes):
        return None  # "Total aorta" and "1120 Total" are exams, not totals; "Stand 2024" is a note
    if _SUMMARY.match(folded):
        return "total or summary row"
    if _EXAMPLE.match(folded):
        return "example row"
    if _NOTE.match(folded) or text.strip().startswith("*"):
        return "note row"
    if not re.search(r"\d", text) and match_column(text)[0] in ("exam_code", "facility_id", "exam_name"):
        return "header"
    return None


def _repeats_header(row: list, header_columns: dict[int, str] | None) -> bool:
    """Whether ``row`` repeats the header: at least two of its cells (and at
    least half of the header's columns) name the column they stand in."""
    if not header_columns:
        return False
    named = sum(1 for c, column in header_columns.items()
                if c < len(row) and isinstance(row[c], str) and match_column(clean_text(row[c]))[0] == column)
    return named >= max(2, (len(header_columns) + 1) // 2)


def _row_kind(row: list, id_cell: object, exam_cell: object, cache: dict, catalogue: Catalogue,
              header_columns: dict[int, str] | None = None) -> str | None:
    """Why a row is no exposure, or None if it may be one."""
    lead = next((v for v in row if not _is_empty(v)), None)
    if isinstance(lead, str) and lead is not id_cell and lead is not exam_cell:
        kind = _text_kind(lead, catalogue)
        if kind in ("total or summary row", "note row", "example row"):
            return kind
    if _is_empty(exam_cell):
        filled = [v for v in row if not _is_empty(v)]
        if not filled:
            return "empty row"
        texts = [v for v in filled if isinstance(v, str)]
        for t in texts:
            kind = _text_kind(t, catalogue)
            if kind in ("total or summary row", "note row", "example row"):
                return kind
        if len(filled) == 1 and texts and len(texts[0].strip()) > 12:
            return "note row"
        if _is_empty(id_cell) or len(filled) == 1:
            return None
    kinds = []
    for cell in (id_cell, exam_cell):
        if isinstance(cell, str) and cell.strip():
            if cell not in cache:
                cache[cell] = _text_kind(cell, catalogue)
            kinds.append(cache[cell])
    for kind in kinds:
        if kind in ("total or summary row", "note row", "example row"):
            return kind
    if "header" in kinds and _repeats_header(row, header_columns):
        return "repeated header row"
    return None


def repair_sheet(
    sheet: RawSheet,
    header: HeaderMatch,
    catalogue: Catalogue,
    *,
    in_workbook: bool,
    data_start: int | None = None,
    exam_from_sheet: str | None = None,
    facility_from_sheet: str | None = None,
) -> SheetResult:
    """Turn the rows of a data sheet into canonical exposures.

    Parameters
    ----------
    sheet : RawSheet
    header : HeaderMatch
        The sheet's header (or one borrowed from an earlier sheet for a
        continuation sheet without a header).
    catalogue : Catalogue
        Known exam codes and names.
    in_workbook : bool
        True for xlsx/xls/ods (a number typed as text is a repair), False for CSV.
    data_start : int, optional
        First data row (0-based); default the row after the header.
    exam_from_sheet : str, optional
        The exam code of every row, for a sheet per exam without an exam-code
        column (the code read from the sheet's name).
    facility_from_sheet : str, optional
        The facility ID of every row, for a sheet per facility without an ID
        column (the sheet's name).

    Returns
    -------
    SheetResult
        ``exposures`` has ``sheet, source_row`` (1-based), the canonical columns
        and ``year`` (from a year column, else NaN); ``flags`` empty.
    """
    log = _Log(sheet.name)
    s = _SheetRows.of(sheet, header, data_start)
    cols = header.columns
    # Columns matched by another name than the template's: an inference.
    for column, m in sorted(cols.items(), key=lambda kv: kv[1].index):
        if m.rank != RANK_EXACT:
            log.repair(None, column, m.header, column, "header_matched")
    id_cells, exam_cells = _id_and_exam_cells(s, exam_from_sheet, facility_from_sheet, log)
    keep, barrier = _row_kinds(s, id_cells, exam_cells, catalogue, log)
    notes = list(header.notes)
    note = _fill_ids(s, id_cells, keep, barrier, log)
    if note:
        notes.append(note)
    kept = np.flatnonzero(keep)
    numbers = _read_numbers(s, kept, in_workbook, log)
    if "age_years" not in cols:
        _ages_from_dates(s, kept, numbers, log)
    facility, exam = _read_ids_and_codes(s, kept, id_cells, exam_cells, catalogue, exam_from_sheet,
                                         facility_from_sheet, log)
    reasons = _row_reasons(numbers, facility, exam, "facility_id" in cols)
    bad = np.flatnonzero(reasons != None)  # noqa: E711 - elementwise on an object array
    kept_rows = s.source_rows[kept]
    for j in bad:
        row = s.rows[kept[j]]
        log.reject(int(kept_rows[j]), str(reasons[j]) + _excel_errors(row, cols), row)
    columns = {"sheet": sheet.name, "source_row": kept_rows.astype(int), "row_year": _read_years(s, kept),
               "facility_id": facility, "exam_code": exam, **{c: numbers.data[c] for c in NUMERIC_COLUMNS}}
    repairs = log.arrays()
    ambiguous = numbers.ambiguous
    if len(bad):
        keep_pos = np.setdiff1d(np.arange(len(kept)), bad)
        remap = {int(old): new for new, old in enumerate(keep_pos)}
        ambiguous = [(remap[i], c, a, b) for i, c, a, b in ambiguous if i in remap]
        columns = {c: v if isinstance(v, str) else v[keep_pos] for c, v in columns.items()}
        # Repairs of rejected rows are not kept: the rejection holds the raw cells.
        if len(repairs["rule"]):
            keep_repair = ~np.isin(repairs["source_row"], kept_rows[bad])
            repairs = {c: v[keep_repair] for c, v in repairs.items()}
    # Columns, not a frame: the file's sheets are joined column by column (a frame per sheet
    # would be built only to be taken apart again).
    columns["sheet"] = np.full(len(columns["source_row"]), sheet.name, dtype=object)
    frame = {c: columns[c] for c in ["sheet", "source_row", "row_year", *EXPOSURE_COLUMNS]}
    notation = numbers.sheet_notation
    return SheetResult(
        name=sheet.name,
        header_row=sheet.row_number(header.row) if data_start is None else None,
        column_map={c: m.header for c, m in sorted(cols.items(), key=lambda kv: kv[1].index)},
        unknown_columns=list(header.unknown),
        exposures=frame,
        repairs=repairs,
        rejections=sorted(log.rejections, key=lambda r: r["source_row"]),
        rows_read=s.n,
        notes=notes + ([f"numbers read in {notation} notation"] if notation else []),
        ambiguous=ambiguous,
    )


@dataclass
class _SheetRows:
    """The rows of a data sheet below its header, as a grid of cells."""

    sheet: RawSheet
    header: HeaderMatch
    start: int
    rows: list[list]
    source_rows: np.ndarray
    grid: np.ndarray

    @property
    def n(self) -> int:
        return len(self.rows)

    @classmethod
    def of(cls, sheet: RawSheet, header: HeaderMatch, data_start: int | None) -> _SheetRows:
        start = header.row + 1 if data_start is None else data_start
        end = last_data_row(sheet.rows, start)
        rows = sheet.rows[start:end]
        n = len(rows)
        source_rows = (np.arange(start + 1, end + 1) if sheet.line_numbers is None
                       else np.asarray(sheet.line_numbers[start:end], dtype=int))
        width = max((len(r) for r in rows), default=0)
        if n and width and all(len(r) == width for r in rows):
            # Workbook sheets are rectangular: one flat array, no per-row copy.
            grid = np.empty(n * width, dtype=object)
            grid[:] = [v for r in rows for v in r]
            grid = grid.reshape(n, width)
        else:
            grid = np.full((n, max(width, 1)), "", dtype=object)
            for i, r in enumerate(rows):
                grid[i, : len(r)] = r
        return cls(sheet, header, start, rows, source_rows, grid)

    def column_at(self, index: int) -> np.ndarray:
        """The cells of one column (a copy; empty cells beyond the grid)."""
        if index >= self.grid.shape[1]:
            return np.full(self.n, "", dtype=object)
        return self.grid[:, index].copy()

    def cells(self, column: str) -> np.ndarray:
        """The cells of a canonical column (empty where the header names none)."""
        m = self.header.columns.get(column)
        return np.full(self.n, "", dtype=object) if m is None else self.column_at(m.index)


def _id_and_exam_cells(s: _SheetRows, exam_from_sheet: str | None, facility_from_sheet: str | None,
                       log: _Log) -> tuple[np.ndarray, np.ndarray]:
    """The facility-ID and exam-code cells of each row, with merged IDs filled
    and the sheet's own facility or exam where its name gives them."""
    filled = None
    if exam_from_sheet is not None or facility_from_sheet is not None:
        filled = np.array([any(not _is_empty(v) for v in r) for r in s.rows], dtype=bool)
    if facility_from_sheet is not None:
        id_cells = np.where(filled, facility_from_sheet, "").astype(object)
    else:
        id_cells = s.cells("facility_id")
    cols = s.header.columns
    if "facility_id" in cols and s.sheet.merged:
        _fill_merged_ids(id_cells, s.sheet.merged, cols["facility_id"].index, s.start, s.rows, s.source_rows, log)
    if exam_from_sheet is not None:
        exam_cells = np.where(filled, exam_from_sheet, "").astype(object)
    else:
        exam_cells = s.cells("exam_code")
    return id_cells, exam_cells


def _cell_kind(v: object, catalogue: Catalogue) -> tuple[bool, str | None]:
    return _is_empty(v), (_text_kind(v, catalogue) if isinstance(v, str) and v.strip() else None)


def _row_kinds(s: _SheetRows, id_cells: np.ndarray, exam_cells: np.ndarray, catalogue: Catalogue,
               log: _Log) -> tuple[np.ndarray, np.ndarray]:
    """Rows that may be exposures (``keep``) and total rows (``barrier``); the
    others are rejected with their kind.

    Kinds are decided once per distinct ID and exam text; rows are looked at
    one by one only where the exam cell is empty or a cell looks like a total,
    note or header.
    """
    exam_info, exam_codes = _resolved(exam_cells, lambda v: _cell_kind(v, catalogue))
    id_info, id_codes = _resolved(id_cells, lambda v: _cell_kind(v, catalogue))
    exam_empty = np.array([e for e, _ in exam_info] + [True], dtype=bool)[exam_codes]
    exam_kind = np.array([k for _, k in exam_info] + [None], dtype=object)[exam_codes]
    id_kind = np.array([k for _, k in id_info] + [None], dtype=object)[id_codes]
    look = exam_empty | (exam_kind != None) | (id_kind != None)  # noqa: E711
    # A total's label may stand in a column left of the ID ("#", "Lfd. Nr.").
    first = min((m.index for m in s.header.columns.values()), default=0)
    for c in range(min(first, s.grid.shape[1])):
        info, codes = _resolved(s.grid[:, c], lambda v: _cell_kind(v, catalogue)[1])
        kinds = np.array(info + [None], dtype=object)[codes]
        look |= np.isin(kinds, ["total or summary row", "note row", "example row"])
    keep = np.ones(s.n, dtype=bool)
    barrier = np.zeros(s.n, dtype=bool)  # total rows end a block of IDs; other rejected rows do not
    kind_cache: dict = {}
    header_columns = {m.index: c for c, m in s.header.columns.items()}
    for i in np.flatnonzero(look):
        kind = _row_kind(s.rows[i], id_cells[i], exam_cells[i], kind_cache, catalogue, header_columns)
        if kind:
            keep[i] = False
            barrier[i] = kind == "total or summary row"
            log.reject(int(s.source_rows[i]), kind, s.rows[i])
    return keep, barrier


def _fill_ids(s: _SheetRows, id_cells: np.ndarray, keep: np.ndarray, barrier: np.ndarray, log: _Log) -> str | None:
    """Fill facility IDs given once per block (see :func:`_fill_down_ids`); a note or None."""
    if "facility_id" not in s.header.columns or not s.n:
        return None
    info, codes = _resolved(id_cells, lambda v: _resolve_facility(v)[0])
    ids = np.array(info + [None], dtype=object)[codes]
    if not (keep & pd.isna(ids)).any():
        return None
    has_dose = np.zeros(s.n, dtype=bool)
    for column in DOSE_QUANTITIES:
        if column in s.header.columns:
            has_dose |= np.array([not _is_empty(v) for v in s.cells(column)], dtype=bool)
    return _fill_down_ids(id_cells, ids, keep, barrier, has_dose, s.source_rows, log)


@dataclass
class _Numbers:
    """The number columns of the kept rows, and what reading them found."""

    data: dict[str, np.ndarray]
    ambiguous: list[tuple[int, str, float, float]]
    unreadable: dict[str, np.ndarray]
    #: Columns whose header gives a unit that cannot be read: ``{column: unit text}``.
    unknown_units: dict[str, str]
    conflicts: np.ndarray
    sheet_notation: Notation | None


def _read_numbers(s: _SheetRows, kept: np.ndarray, in_workbook: bool, log: _Log) -> _Numbers:
    """Every number column of the kept rows in canonical units; repairs logged."""
    cols, header = s.header.columns, s.header
    # Notation of the sheet: what its unambiguous text numbers show.
    votes = {column: notation_votes([v for v in pd.unique(s.cells(column)) if isinstance(v, str)])
             for column in NUMERIC_COLUMNS if column in cols}
    sheet_notation = decide_notation(sum(de for de, _ in votes.values()), sum(en for _, en in votes.values()))
    kept_rows = s.source_rows[kept]
    out = _Numbers({}, [], {}, {}, np.zeros(len(kept), dtype=bool), sheet_notation)
    split_phantoms: dict[str, np.ndarray] = {}
    for column in NUMERIC_COLUMNS:
        if column not in cols:
            out.data[column] = np.full(len(kept), np.nan)
            continue
        notation = decide_notation(*votes[column]) or sheet_notation

        def read(raw, factor, column=column, notation=notation):
            return _numeric_column(raw, column, factor, notation, in_workbook, kept_rows, log)

        if column in header.phantom_split:
            vals, phantom, both, bad, amb = read_phantom_split(
                {size: (s.column_at(m.index)[kept], m.factor) for size, m in header.phantom_split[column].items()},
                read)
            split_phantoms[column] = phantom
            out.conflicts |= both
        elif column == "ctdi_phantom_cm":
            (vals, bad), amb = _read_phantoms(s.cells(column)[kept], kept_rows, log), {}
        else:
            vals, amb, bad = _read_number_column(s, column, kept, read, log)
            m = cols[column]
            if m.unit_unknown and column not in header.unit_columns:
                # No unit can be assumed: a value stored in the canonical unit might be 10 or 100 times off.
                given = ~np.isnan(vals) | bad
                vals = np.where(given, np.nan, vals)
                bad = given
                out.unknown_units[column] = m.unit_text
        if bad.any():
            out.unreadable[column] = bad
        out.ambiguous.extend((i, column, float(vals[i]), alt) for i, alt in amb.items())
        out.data[column] = vals
    if split_phantoms:
        phantoms, from_split, disagree = phantom_of_split(out.data["ctdi_phantom_cm"], split_phantoms)
        out.data["ctdi_phantom_cm"] = phantoms
        out.conflicts |= disagree
        at = np.flatnonzero(from_split)
        log.repairs_at(kept_rows[at], "ctdi_phantom_cm", [None] * len(at), [repr_number(phantoms[i]) for i in at],
                       "phantom_from_column")
    return out


def _ages_from_dates(s: _SheetRows, kept: np.ndarray, numbers: _Numbers, log: _Log) -> None:
    """Ages from a birth date and the exam's date, for a sheet without an age column."""
    if s.start <= s.header.row or not len(kept):
        return  # a header borrowed from the sheet before: its cells are not in this sheet
    birth, exam = date_columns(s.sheet.rows[s.header.row])
    if birth is None:
        return
    b, e = s.column_at(birth)[kept], s.column_at(exam)[kept]
    ages = ages_from_dates(b, e)
    numbers.data["age_years"] = ages
    at = np.flatnonzero(~np.isnan(ages))
    # The dates themselves stay out of the repair log: a birth date is more personal than an age.
    log.repairs_at(s.source_rows[kept][at], "age_years", ["birth date, exam date"] * len(at),
                   [repr_number(round(ages[i], 2)) for i in at], "age_from_birth_date")


def _read_phantoms(raw: np.ndarray, kept_rows: np.ndarray, log: _Log) -> tuple[np.ndarray, np.ndarray]:
    """Phantom cells as 16 or 32 (cm); the unreadable ones marked, not logged."""
    column = "ctdi_phantom_cm"
    results, codes = _resolved(raw, _resolve_phantom)
    vals = np.array([v for v, _ in results] + [math.nan], dtype=float)[codes]
    rules = np.array([r for _, r in results] + [None], dtype=object)[codes]
    bad = rules == "unreadable_value"
    rules[bad] = None
    for rule in sorted(set(rules[rules != None])):  # noqa: E711
        at = np.flatnonzero(rules == rule)
        log.repairs_at(kept_rows[at], column, raw[at], [None if math.isnan(x) else repr_number(x) for x in vals[at]],
                       rule)
    return vals, bad


def _read_number_column(s: _SheetRows, column: str, kept: np.ndarray, read, log: _Log
                        ) -> tuple[np.ndarray, dict[int, float], np.ndarray]:
    """One dose, weight or age column, with its header unit and unit column."""
    m = s.header.columns[column]
    raw = s.cells(column)[kept]
    vals, amb, bad = read(raw, m.factor)
    if column in s.header.unit_columns:
        kept_rows = s.source_rows[kept]
        units = s.column_at(s.header.unit_columns[column])[kept]
        vals, bad_unit, changed = apply_unit_column(vals, units, column, m.factor)
        bad = bad | bad_unit
        at = np.flatnonzero(changed)
        log.repairs_at(kept_rows[at], column, [f"{_cell_text(raw[i])} {units[i]}" for i in at],
                       [repr_number(vals[i]) for i in at], "unit_from_column")
    if m.factor != 1.0 and m.unit_text:
        log.repair(None, column, m.unit_text, f"{m.factor:g} x", "unit_conversion")
    return vals, amb, bad


def _read_ids_and_codes(s: _SheetRows, kept: np.ndarray, id_cells: np.ndarray, exam_cells: np.ndarray,
                        catalogue: Catalogue, exam_from_sheet: str | None, facility_from_sheet: str | None,
                        log: _Log) -> tuple[np.ndarray, np.ndarray]:
    """Facility IDs and exam codes of the kept rows; repairs logged."""
    kept_rows = s.source_rows[kept]
    results, codes = _resolved(id_cells[kept], _resolve_facility)
    facility = np.array([f for f, _ in results] + [None], dtype=object)[codes]
    rules = np.array([r for _, r in results] + [None], dtype=object)[codes]
    at = np.flatnonzero(rules != None)  # noqa: E711
    log.repairs_at(kept_rows[at], "facility_id", id_cells[kept][at], facility[at], "facility_id_as_text")
    results, codes = _resolved(exam_cells[kept], lambda v: _resolve_exam(v, catalogue))
    exam = np.array([c for c, _ in results] + [None], dtype=object)[codes]
    rules = np.array([r for _, r in results] + [None], dtype=object)[codes]
    for rule in sorted(set(rules[rules != None])):  # noqa: E711
        at = np.flatnonzero(rules == rule)
        log.repairs_at(kept_rows[at], "exam_code", exam_cells[kept][at], exam[at], rule)
    if exam_from_sheet is not None and len(kept):
        log.repairs_at(kept_rows, "exam_code", [s.sheet.name] * len(kept), [exam_from_sheet] * len(kept),
                       "exam_code_from_sheet_name")
    if facility_from_sheet is not None and len(kept):
        log.repairs_at(kept_rows, "facility_id", [s.sheet.name] * len(kept), list(facility[:]),
                       "facility_id_from_sheet_name")
    return facility, exam


def _year_of_cell(v: object) -> float:
    try:
        if isinstance(v, str):
            y = float(parse_number(v).value) if v.strip() else math.nan
        else:
            y = float(v) if not _is_empty(v) else math.nan
    except (TypeError, ValueError):
        return math.nan
    return y if not math.isnan(y) and 1990 <= y <= 2100 and float(y).is_integer() else math.nan


def _read_years(s: _SheetRows, kept: np.ndarray) -> np.ndarray:
    """The year column of the kept rows (NaN where there is none)."""
    if "year" not in s.header.columns:
        return np.full(len(kept), np.nan)
    return np.array([_year_of_cell(v) for v in s.cells("year")[kept]], dtype=float)


def _excel_errors(row: list, cols: dict) -> str:
    """`` (<column>: the cell holds the Excel error #DIV/0!)`` for each column read whose cell holds one."""
    found = [f"{column}: the cell holds the Excel error {row[m.index].strip()}"
             for column, m in sorted(cols.items(), key=lambda kv: kv[1].index)
             if m.index < len(row) and isinstance(row[m.index], str) and row[m.index].strip().upper() in EXCEL_ERRORS]
    return f" ({'; '.join(found)})" if found else ""


def _row_reasons(numbers: _Numbers, facility: np.ndarray, exam: np.ndarray, has_id_column: bool) -> np.ndarray:
    """Why each kept row is rejected after its values are read (None: stored)."""
    reasons = np.full(len(facility), None, dtype=object)
    if len(facility):
        no_dose = np.logical_and.reduce([np.isnan(numbers.data[c]) for c in DOSE_QUANTITIES])
        reasons[no_dose] = "no dose value"
    for column in reversed(NUMERIC_COLUMNS):  # the leftmost unreadable column is named
        if column in numbers.unreadable:
            reasons[numbers.unreadable[column]] = (
                f"unknown unit {numbers.unknown_units[column]!r} of {column} in the header"
                if column in numbers.unknown_units else f"unreadable value in {column}")
    reasons[numbers.conflicts] = "values for both phantoms, or a phantom that disagrees with its dose column"
    reasons[pd.isna(facility)] = "facility ID missing" if has_id_column else "no facility ID column in the sheet"
    reasons[pd.isna(exam)] = "exam code missing"
    return reasons


__all__ = ["SheetResult", "repair_sheet", "last_data_row", "MISSING_MARKERS", "PHANTOMS_CM"]

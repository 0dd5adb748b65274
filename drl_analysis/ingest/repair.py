"""Repairing the rows of a data sheet into canonical exposures.

Given a sheet and its header (:mod:`drl_analysis.ingest.headers`), every row below
the header is either stored as an exposure or rejected with a reason; every
change to a value is logged as a repair with the rule that made it.

Rules (the ``rule`` of a repair, the ``reason`` of a rejection):

* ``unit_conversion`` (per column): header unit -> canonical unit.
* ``number_as_text``, ``decimal_comma``, ``thousands_separator``: a number
  typed as text in a workbook, or written with separators.
* ``unit_in_cell``: a number written with its unit (``"12,5 mGy"``).
* ``missing_marker``: ``-``, ``n.a.``, ``k.A.``, ``?``... read as missing.
* ``unreadable_value``: text that is no number, read as missing.
* ``ambiguous_notation``: ``1.234`` where the sheet shows no notation; the
  reading closer to the exam's DRL is kept and the value flagged.
* ``exam_code_from_text``, ``exam_code_from_name``: ``"1010 Cranium"``,
  ``"Code 1010"`` or ``"Cranium"`` -> ``1010``.
* ``phantom_from_text``: ``"Kopf"``, ``"32 cm"`` -> 16 or 32.
* ``merged_cell``: a facility ID merged over several rows, filled down.
* ``facility_id_as_text``: an ID written as ``" 12 "`` or ``12.0`` -> ``12``.

Rejections: ``empty row``, ``repeated header row``, ``total or summary row``,
``note row``, ``exam code missing``, ``facility ID missing``, ``no dose value``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd

from ..core.catalogue import Catalogue
from ..core.columns import DOSE_QUANTITIES, EXPOSURE_COLUMNS, NUMERIC_COLUMNS, PHANTOMS_CM
from .headers import HeaderMatch, fold, match_column
from ..core.numbers import Notation, decide_notation, notation_votes, parse_number
from ..core.units import FAMILY_OF_COLUMN, UnknownUnit, unit_factor
from .workbook import RawSheet

MISSING_MARKERS = frozenset(
    {"-", "--", "\u2013", "\u2014", "n.a.", "n.a", "n/a", "na", "k.a.", "k. a.", "k.a", "ka", "?", "??",
     "nan", "none", "null", "keine angabe", "unbekannt", "unknown", "x", "/", ".", "n.v.", "nv", "entfaellt",
     "entfällt", "#n/a", "#nv"}
)
_SUMMARY = re.compile(
    r"^((summe|gesamt|total|totals|mittelwert|mittel|durchschnitt|mean|average|avg|median|anzahl|count|"
    r"min|max|minimum|maximum|std|standardabweichung|sd|quartil|p75|p25|percentile|perzentil)\b|n\s*=)"
)
_NOTE = re.compile(
    r"^(bemerkung|anmerkung|hinweis|note|notes|nb|kommentar|comment|quelle|erstellt|created|stand|"
    r"\*|fussnote|footnote|legende|legend)\b"
)
_CODE_IN_TEXT = re.compile(r"(?<!\d)(\d{4})(?!\d)")
_PHANTOM_WORDS = {
    16: re.compile(r"kopf|head|schaedel|\bk\b|^16\b|16\s*cm"),
    32: re.compile(r"koerper|korper|body|rumpf|stamm|torso|\bb\b|^32\b|32\s*cm"),
}


#: Columns of a repair record (see :data:`drl_analysis.store.database.repairs`).
REPAIR_COLUMNS = ["sheet", "source_row", "column", "before", "after", "rule"]


@dataclass
class SheetResult:
    """What one data sheet gave: exposures, repairs, rejections and counts."""

    name: str
    header_row: int | None
    column_map: dict[str, str]
    unknown_columns: list[str]
    exposures: pd.DataFrame
    repairs: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=REPAIR_COLUMNS))
    rejections: list[dict] = field(default_factory=list)
    rows_read: int = 0
    notes: list[str] = field(default_factory=list)
    # (position in exposures, column, decimal reading, thousands reading)
    ambiguous: list[tuple[int, str, float, float]] = field(default_factory=list)


def _is_empty(v: object) -> bool:
    return v is None or (isinstance(v, str) and not v.strip()) or (isinstance(v, float) and math.isnan(v))


def _cell_text(v: object) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, (dt.datetime, dt.date, dt.time)):
        return v.isoformat()
    return str(v)


def last_data_row(rows: list[list], start: int) -> int:
    """Index one past the last row at or after ``start`` with a non-empty cell."""
    for i in range(len(rows) - 1, start - 1, -1):
        if any(not _is_empty(v) for v in rows[i]):
            return i + 1
    return start


_TEXT_OR_NONE = {str, type(None)}


class _Log:
    """Collects the repairs and rejections of a sheet.

    Repairs come column-wise (one call per column and rule) into plain lists,
    so that a sheet with hundreds of thousands of repaired cells costs no
    pandas work per cell.
    """

    def __init__(self, sheet: str):
        self.sheet = sheet
        self.columns: dict[str, list] = {c: [] for c in REPAIR_COLUMNS}
        self.rejections: list[dict] = []

    def repair(self, row: int | None, column: str, before: object, after: object, rule: str) -> None:
        self.repairs_at([row], column, [before], [after], rule)

    def repairs_at(self, rows, column: str, before, after, rule) -> None:
        """Log one rule applied to many cells of a column."""
        n = len(rows)
        if n == 0:
            return
        c = self.columns
        c["sheet"].extend([self.sheet] * n)
        if isinstance(rows, np.ndarray) and rows.dtype.kind in "iu":
            c["source_row"].extend(rows.tolist())
        else:
            c["source_row"].extend(None if r is None else int(r) for r in rows)
        c["column"].extend([column] * n)
        before = before.tolist() if isinstance(before, np.ndarray) else list(before)
        if set(map(type, before)) <= _TEXT_OR_NONE:
            c["before"].extend(before)
        else:
            c["before"].extend(None if b is None else (b if isinstance(b, str) else _cell_text(b)) for b in before)
        after = after.tolist() if isinstance(after, np.ndarray) else list(after)
        if set(map(type, after)) <= _TEXT_OR_NONE:
            c["after"].extend(after)
        else:
            c["after"].extend(None if a is None else str(a) for a in after)
        c["rule"].extend([rule] * n)

    def frame(self) -> pd.DataFrame:
        c = self.columns
        if not c["rule"]:
            return pd.DataFrame(c, columns=REPAIR_COLUMNS)
        rows = c["source_row"]
        has_none = None in rows
        order = np.lexsort((
            np.array(c["column"], dtype=str),
            np.array([0 if r is None else r for r in rows] if has_none else rows, dtype=float),
        ))
        data = {}
        for name in REPAIR_COLUMNS:
            values = np.empty(len(order), dtype=object)
            values[:] = c[name]
            data[name] = values[order]
        # Rows as pandas reads a list with None in it: float, NaN for None.
        rows_sorted = np.array([math.nan if r is None else r for r in data["source_row"]], dtype=float) \
            if has_none else data["source_row"].astype(np.int64)
        data["source_row"] = rows_sorted
        return pd.DataFrame(data, columns=REPAIR_COLUMNS)

    def reject(self, row: int, reason: str, cells: list) -> None:
        raw = json.dumps([_cell_text(v) if not _is_empty(v) else "" for v in cells], ensure_ascii=False)
        self.rejections.append({"sheet": self.sheet, "source_row": row, "reason": reason, "raw": raw})


@dataclass(frozen=True)
class _NumberCell:
    value: float
    rule: str | None
    ambiguous_alt: float | None = None


_GROUP_SPACE = re.compile(r"\d[\s'\u00a0\u202f\u2009]\d")


@lru_cache(maxsize=200_000)
def _parse_text_number(
    text: str, family: str | None, header_factor: float, notation: Notation | None, in_workbook: bool
) -> _NumberCell:
    """Read one text cell of a numeric column; the rule is None when nothing changed."""
    t = text.strip()
    if t.lower() in MISSING_MARKERS:
        return _NumberCell(math.nan, "missing_marker")
    try:
        parsed = parse_number(t, notation)
    except ValueError:
        return _NumberCell(math.nan, "unreadable_value")
    factor = header_factor
    rule = None
    number_part = t
    if parsed.unit:
        if family is None:
            return _NumberCell(math.nan, "unreadable_value")
        try:
            factor = unit_factor(family, parsed.unit.rstrip("."))
        except UnknownUnit:
            return _NumberCell(math.nan, "unreadable_value")
        rule = "unit_in_cell"
        number_part = t[: len(t) - len(parsed.unit)]
    if parsed.ambiguous:
        return _NumberCell(parsed.value * factor, "ambiguous_notation", parsed.alternative * factor)
    if rule is None:
        used = parsed.notation or notation
        if _GROUP_SPACE.search(number_part) or (used == "de" and "." in number_part) or (
            used == "en" and "," in number_part
        ):
            rule = "thousands_separator"
        elif "," in number_part:
            rule = "decimal_comma" if in_workbook else None
        elif in_workbook:
            rule = "number_as_text"
    return _NumberCell(parsed.value * factor, rule)


_TYPE_OF = np.frompyfunc(type, 1, 1)
_DECIMAL = re.compile(r"(\d+)([.,])(\d+)")


def _parse_texts(
    texts, family: str | None, header_factor: float, notation: Notation | None, in_workbook: bool
) -> tuple[list[float], list[str | None], list[tuple[int, float]]]:
    """Values, rules and ambiguous alternatives ``(k, alt)`` of distinct text cells.

    Plain digits (``"1234"``) and plain decimals (``"12,5"``, ``"12.5"``) that
    read the same in either notation are read here directly, as
    :func:`_parse_text_number` reads them; everything else goes through it.
    """
    values: list[float] = []
    rules: list[str | None] = []
    alts: list[tuple[int, float]] = []
    text_rule = "number_as_text" if in_workbook else None
    comma_rule = "decimal_comma" if in_workbook else None
    for k, u in enumerate(texts):
        if u.isascii():
            if u.isdigit():
                values.append(float(u) * header_factor)
                rules.append(text_rule)
                continue
            m = _DECIMAL.fullmatch(u)
            if m is not None:
                whole, sep, frac = m.groups()
                # "1.234" / "1,234" are ambiguous; left to the full reader.
                if not (len(frac) == 3 and whole != "0" and len(whole) <= 3):
                    values.append(float(whole + "." + frac) * header_factor)
                    rules.append(comma_rule if sep == "," else text_rule)
                    continue
        if not u.strip():
            values.append(math.nan)
            rules.append(None)
            continue
        p = _parse_text_number(u, family, header_factor, notation, in_workbook)
        values.append(p.value)
        rules.append(p.rule)
        if p.ambiguous_alt is not None:
            alts.append((k, p.ambiguous_alt))
    return values, rules, alts


def _numeric_column(
    arr: np.ndarray, column: str, header_factor: float, notation: Notation | None, in_workbook: bool,
    rows: np.ndarray, log: _Log,
) -> tuple[np.ndarray, dict[int, float]]:
    """Canonical floats for one numeric column; logs repairs; returns ambiguous cells.

    ``arr`` is an object array of raw cells; numbers are converted in one
    step, text cells once per distinct text.
    """
    family = FAMILY_OF_COLUMN.get(column)
    out = np.full(len(arr), np.nan)
    if not len(arr):
        return out, {}
    types = _TYPE_OF(arr)
    is_float = types == float
    is_str = types == str
    out[is_float] = arr[is_float].astype(float) * header_factor
    for i in np.flatnonzero(~is_float & ~is_str):
        v = arr[i]
        if isinstance(v, int) and not isinstance(v, bool):
            out[i] = float(v) * header_factor
        elif not _is_empty(v):
            log.repair(int(rows[i]), column, _cell_text(v), None, "unreadable_value")
    ambiguous: dict[int, float] = {}
    idx = np.flatnonzero(is_str)
    if len(idx):
        codes, uniques = pd.factorize(arr[idx])
        values, rules_of, alts = _parse_texts(uniques, family, header_factor, notation, in_workbook)
        value_table = np.array(values, dtype=float)
        out[idx] = value_table[codes]
        rules = np.array(rules_of, dtype=object)[codes]
        has_rule = rules != None  # noqa: E711 - elementwise on an object array
        if has_rule.any():
            after_table = np.array([None if v != v else repr_number(v) for v in values], dtype=object)
            for rule in sorted(set(rules[has_rule])):
                sel = rules == rule
                at = idx[sel]
                log.repairs_at(rows[at], column, arr[at], after_table[codes[sel]], rule)
        for k, alt in alts:
            for i in idx[codes == k]:
                ambiguous[int(i)] = alt
    return out, ambiguous


def _resolved(arr: np.ndarray, fn, cache: dict | None = None) -> tuple[list, np.ndarray]:
    """``fn`` applied once per distinct cell: (results per distinct cell, codes per cell; -1 for None)."""
    codes, uniques = pd.factorize(arr)
    return [fn(u) for u in uniques], codes


def repr_number(x: float) -> str:
    """A float as a repair log writes it: shortest round-trip text."""
    return repr(float(x)) if not float(x).is_integer() else str(int(x))


def _text_column(values: list) -> np.ndarray:
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return arr


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
    text = str(value).strip()
    codes = catalogue.codes
    if text in codes:
        return text, None
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
    return text, None


def _resolve_facility(value: object) -> tuple[str | None, str | None]:
    if _is_empty(value):
        return None, None
    if isinstance(value, float):
        return (str(int(value)), None) if value.is_integer() else (repr(value), None)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value), None
    text = str(value)
    clean = " ".join(text.split())
    if re.fullmatch(r"\d+\.0", clean):
        clean = clean[:-2]
    return clean, ("facility_id_as_text" if clean != text else None)


def _resolve_phantom(value: object) -> tuple[float, str | None]:
    if _is_empty(value):
        return math.nan, None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value), None
    text = fold(value)
    if text in MISSING_MARKERS:
        return math.nan, "missing_marker"
    for size, pattern in _PHANTOM_WORDS.items():
        if pattern.search(text):
            return float(size), "phantom_from_text"
    try:
        return float(parse_number(str(value)).value), "number_as_text"
    except ValueError:
        return math.nan, "unreadable_value"


def _text_kind(text: str, catalogue: Catalogue) -> str | None:
    """What an ID or exam cell's text says about its row: summary, note, header or None."""
    return _text_kind_cached(text, catalogue)


@lru_cache(maxsize=1 << 16)
def _text_kind_cached(text: str, catalogue: Catalogue) -> str | None:
    # A catalogue is immutable and hashed by identity: the answer cannot go stale.
    return _text_kind_uncached(text, catalogue)


def _text_kind_uncached(text: str, catalogue: Catalogue) -> str | None:
    if catalogue.code_for_name(text) is not None or _CODE_IN_TEXT.search(text):
        return None  # "Total aorta" is an exam, not a total
    folded = fold(text)
    if _SUMMARY.match(folded):
        return "total or summary row"
    if _NOTE.match(folded) or text.strip().startswith("*"):
        return "note row"
    if not re.search(r"\d", text) and match_column(text)[0] in ("exam_code", "facility_id", "exam_name"):
        return "header"
    return None


def _row_kind(row: list, id_cell: object, exam_cell: object, cache: dict, catalogue: Catalogue) -> str | None:
    """Why a row is no exposure, or None if it may be one."""
    if _is_empty(exam_cell):
        filled = [v for v in row if not _is_empty(v)]
        if not filled:
            return "empty row"
        texts = [v for v in filled if isinstance(v, str)]
        for t in texts:
            kind = _text_kind(t, catalogue)
            if kind in ("total or summary row", "note row"):
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
        if kind in ("total or summary row", "note row"):
            return kind
    if "header" in kinds:
        named = sum(1 for v in row if isinstance(v, str) and match_column(v)[0] not in (None, "ignore"))
        if named >= 3:
            return "repeated header row"
    return None


def repair_sheet(
    sheet: RawSheet,
    header: HeaderMatch,
    catalogue: Catalogue,
    *,
    in_workbook: bool,
    data_start: int | None = None,
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

    Returns
    -------
    SheetResult
        ``exposures`` has ``sheet, source_row`` (1-based), the canonical columns
        and ``year`` (from a year column, else NaN); ``flags`` empty.
    """
    log = _Log(sheet.name)
    start = header.row + 1 if data_start is None else data_start
    end = last_data_row(sheet.rows, start)
    rows = sheet.rows[start:end]
    n = len(rows)
    source_rows = (
        np.arange(start + 1, end + 1)
        if sheet.line_numbers is None
        else np.asarray(sheet.line_numbers[start:end], dtype=int)
    )
    cols = header.columns
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

    def cells(column: str) -> np.ndarray:
        if column not in cols or cols[column].index >= grid.shape[1]:
            return np.full(n, "", dtype=object)
        return grid[:, cols[column].index].copy()

    # Facility IDs merged over several rows: fill down inside the merged range.
    id_cells = cells("facility_id")
    if "facility_id" in cols and sheet.merged:
        c = cols["facility_id"].index
        for (r0, c0), (r1, c1) in sheet.merged:
            if c0 <= c <= c1 and r1 > r0:
                top = r0 - start
                if 0 <= top < n and not _is_empty(id_cells[top]):
                    filled = [
                        k for k in range(max(top + 1, 0), min(r1 - start + 1, n))
                        if _is_empty(id_cells[k]) and any(not _is_empty(v) for v in rows[k])
                    ]
                    id_cells[filled] = id_cells[top]
                    log.repairs_at(source_rows[filled], "facility_id", [""] * len(filled),
                                   [_cell_text(id_cells[top])] * len(filled), "merged_cell")
    exam_cells = cells("exam_code")

    # Row kinds: decided once per distinct ID and exam text; rows are looked
    # at one by one only where the exam cell is empty or looks like a header.
    exam_info, exam_codes = _resolved(exam_cells, lambda v: (_is_empty(v), _text_kind(v, catalogue) if isinstance(v, str) and v.strip() else None))
    id_info, id_codes = _resolved(id_cells, lambda v: (_is_empty(v), _text_kind(v, catalogue) if isinstance(v, str) and v.strip() else None))
    exam_empty = np.array([e for e, _ in exam_info] + [True], dtype=bool)[exam_codes]
    exam_kind = np.array([k for _, k in exam_info] + [None], dtype=object)[exam_codes]
    id_kind = np.array([k for _, k in id_info] + [None], dtype=object)[id_codes]
    look = exam_empty | (exam_kind != None) | (id_kind != None)  # noqa: E711
    keep = np.ones(n, dtype=bool)
    kind_cache: dict = {}
    for i in np.flatnonzero(look):
        kind = _row_kind(rows[i], id_cells[i], exam_cells[i], kind_cache, catalogue)
        if kind:
            keep[i] = False
            log.reject(int(source_rows[i]), kind, rows[i])

    # Notation of the sheet: what its unambiguous text numbers show.
    column_votes = {
        column: notation_votes([v for v in pd.unique(cells(column)) if isinstance(v, str)])
        for column in NUMERIC_COLUMNS if column in cols
    }
    sheet_notation = decide_notation(sum(de for de, _ in column_votes.values()),
                                     sum(en for _, en in column_votes.values()))

    kept = np.flatnonzero(keep)
    kept_rows = source_rows[kept]
    data: dict[str, object] = {}
    ambiguous: list[tuple[int, str, float, float]] = []
    for column in NUMERIC_COLUMNS:
        if column not in cols:
            data[column] = np.full(len(kept), np.nan)
            continue
        raw = cells(column)[kept]
        if column == "ctdi_phantom_cm":
            results, codes = _resolved(raw, _resolve_phantom)
            table = np.array([v for v, _ in results] + [math.nan], dtype=float)
            vals = table[codes]
            rules = np.array([r for _, r in results] + [None], dtype=object)[codes]
            for rule in sorted(set(rules[rules != None])):  # noqa: E711
                at = np.flatnonzero(rules == rule)
                log.repairs_at(kept_rows[at], column, raw[at], [None if math.isnan(x) else repr_number(x) for x in vals[at]], rule)
            data[column] = vals
            continue
        m = cols[column]
        column_notation = decide_notation(*column_votes[column]) or sheet_notation
        vals, amb = _numeric_column(raw, column, m.factor, column_notation, in_workbook, kept_rows, log)
        for i, alt in amb.items():
            ambiguous.append((i, column, float(vals[i]), alt))
        data[column] = vals
        if m.factor != 1.0 and m.unit_text:
            log.repair(None, column, m.unit_text, f"{m.factor:g} x", "unit_conversion")

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
    year_col = np.full(len(kept), np.nan)
    if "year" in cols:
        for k, v in enumerate(cells("year")[kept]):
            try:
                y = float(parse_number(str(v)).value) if isinstance(v, str) and v.strip() else (float(v) if not _is_empty(v) else math.nan)
            except (TypeError, ValueError):
                y = math.nan
            year_col[k] = y if (not math.isnan(y) and 1990 <= y <= 2100 and float(y).is_integer()) else math.nan

    # Row-level rejections after the values are read.
    reasons = np.full(len(kept), None, dtype=object)
    if len(kept):
        no_dose = np.logical_and.reduce([np.isnan(data[c]) for c in DOSE_QUANTITIES])
        reasons[no_dose] = "no dose value"
    reasons[pd.isna(facility)] = "facility ID missing" if "facility_id" in cols else "no facility ID column in the sheet"
    reasons[pd.isna(exam)] = "exam code missing"
    bad = np.flatnonzero(reasons != None)  # noqa: E711 - elementwise on an object array
    for j in bad:
        log.reject(int(kept_rows[j]), str(reasons[j]), rows[kept[j]])
    columns = {"sheet": sheet.name, "source_row": kept_rows.astype(int), "row_year": year_col,
               "facility_id": facility, "exam_code": exam, **{c: data[c] for c in NUMERIC_COLUMNS}}
    if len(bad):
        keep_pos = np.setdiff1d(np.arange(len(kept)), bad)
        remap = {int(old): new for new, old in enumerate(keep_pos)}
        ambiguous = [(remap[i], c, a, b) for i, c, a, b in ambiguous if i in remap]
        columns = {c: v if isinstance(v, str) else v[keep_pos] for c, v in columns.items()}
    frame = pd.DataFrame(columns, columns=["sheet", "source_row", "row_year", *EXPOSURE_COLUMNS])
    return SheetResult(
        name=sheet.name,
        header_row=sheet.row_number(header.row) if data_start is None else None,
        column_map={c: m.header for c, m in sorted(cols.items(), key=lambda kv: kv[1].index)},
        unknown_columns=list(header.unknown),
        exposures=frame,
        repairs=log.frame(),
        rejections=sorted(log.rejections, key=lambda r: r["source_row"]),
        rows_read=n,
        notes=list(header.notes) + ([f"numbers read in {sheet_notation} notation"] if sheet_notation else []),
        ambiguous=ambiguous,
    )


__all__ = ["SheetResult", "repair_sheet", "last_data_row", "MISSING_MARKERS", "PHANTOMS_CM"]

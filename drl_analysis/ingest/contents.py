"""Checking each column a header names against the cells below it.

A header says what a column should hold; the cells say what it does hold. An
exam-code column holds catalogue codes, 4-digit codes or exam names; a dose,
weight or age column holds numbers (in either notation, perhaps with a unit);
a phantom column 16, 32 or their words. Where the cells contradict the
header, the next cell of the header that names the same column is tried
(``"Examination code"`` after a free-text ``"Protokoll"``); where none fits,
the sheet is not read, with a reason that names the column. A sheet stored
from the wrong column would carry wrong values that nobody sees.
"""

from __future__ import annotations

import math
import re

from ..core.catalogue import Catalogue
from ..core.units import FAMILY_OF_COLUMN
from .headers import ColumnMatch, HeaderMatch, fold, match_column
from .repair import (
    _is_empty,
    _parse_text_number,
    _resolve_exam,
    _resolve_phantom,
    _text_kind,
    clean_text,
    is_missing_marker,
    last_data_row,
)

#: Share of a column's filled cells that must read as its kind.
MIN_SHARE = {"exam_code": 0.5, "numeric": 0.8}
#: Rows looked at per column (the first ones below the header).
MAX_ROWS = 200

_FOUR_DIGITS = re.compile(r"\d{4}")


class SheetNotRead(Exception):
    """A sheet whose columns contradict its header; the message is the reason,
    ``column`` the canonical column that no header cell fits."""

    def __init__(self, message: str, column: str):
        super().__init__(message)
        self.column = column


def _uncounted(text: str, header: str, catalogue: Catalogue) -> bool:
    """Text that says nothing of its column: empty, a missing marker, a total
    or note, or the column's own header (a repeated header row)."""
    return (not text or is_missing_marker(text) or fold(text) == fold(header)
            or _text_kind(text, catalogue) in ("total or summary row", "note row"))


def _exam_like(value: object, header: str, catalogue: Catalogue) -> bool | None:
    """Whether a cell reads as an exam code; None for cells that do not count."""
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return float(value).is_integer() and 1000 <= value <= 9999
    text = clean_text(str(value))
    if _uncounted(text, header, catalogue):
        return None
    if _FOUR_DIGITS.fullmatch(text):
        return True
    code, _ = _resolve_exam(text, catalogue)
    return code in catalogue.codes


def _number_like(value: object, column: str, header: str, catalogue: Catalogue) -> bool | None:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return not math.isnan(float(value))
    if not isinstance(value, str):
        return False  # a date or time in a number column
    text = clean_text(value)
    if _uncounted(text, header, catalogue) or match_column(text)[0] == column:
        return None
    if column == "ctdi_phantom_cm":
        return not math.isnan(_resolve_phantom(text)[0])
    cell = _parse_text_number(text, FAMILY_OF_COLUMN.get(column), 1.0, None, True)
    return not math.isnan(cell.value) or cell.ambiguous_alt is not None


def _fits(cells: list, column: str, header: str, catalogue: Catalogue) -> tuple[bool, list[str]]:
    """Whether ``cells`` read as ``column``; with up to three cells that do not.

    Each distinct cell is judged once (a column of a thousand rows holds a few
    hundred distinct values at most)."""
    if column == "exam_code":
        judge = lambda v: _exam_like(v, header, catalogue)  # noqa: E731
        need = MIN_SHARE["exam_code"]
    else:
        judge = lambda v: _number_like(v, column, header, catalogue)  # noqa: E731
        need = MIN_SHARE["numeric"]
    counts: dict = {}
    good = bad = 0
    for v in cells:
        kind = type(v)
        if kind is float or kind is int:
            if column != "exam_code":
                good += v == v  # a number in a number column
                continue
            if v == int(v) and 1000 <= v <= 9999:
                good += 1  # a 4-digit code
                continue
        key = (kind, v)
        counts[key] = counts.get(key, 0) + 1
    misfits: list[str] = []
    for (_, v), n in counts.items():
        ok = judge(v)
        if ok is None:
            continue
        if ok:
            good += n
        else:
            bad += n
            if len(misfits) < 3:
                misfits.append(str(v))
    if not good + bad:
        return True, []
    return good / (good + bad) >= need, misfits


def check_columns(rows: list[list], header: HeaderMatch, start: int, catalogue: Catalogue) -> list[str]:
    """Check every checked column of ``header`` against the cells below it.

    Parameters
    ----------
    rows : list of list
        The sheet's rows.
    header : HeaderMatch
        Changed in place where another candidate cell fits better.
    start : int
        First data row (0-based).
    catalogue : Catalogue

    Returns
    -------
    list of str
        Notes on columns taken from another header cell than the first choice.

    Raises
    ------
    SheetNotRead
        When no header cell of a column holds what that column must hold.
    """
    end = min(last_data_row(rows, start), start + MAX_ROWS)
    body = rows[start:end]
    notes: list[str] = []
    for column in list(header.columns):
        if column != "exam_code" and column not in FAMILY_OF_COLUMN:
            continue
        tried: list[tuple[ColumnMatch, list[str]]] = []
        chosen = None
        candidates = header.candidates.get(column, [header.columns[column]])
        if column != "exam_code" and len(candidates) < 2:
            continue  # nothing to choose: unreadable cells reject their rows one by one
        for match in candidates:
            cells = [r[match.index] for r in body if match.index < len(r) and not _is_empty(r[match.index])]
            ok, misfits = _fits(cells, column, match.header, catalogue)
            if ok:
                chosen = match
                break
            tried.append((match, misfits))
        if chosen is None and column != "exam_code":
            # A number column that no candidate fills well: keep the surest;
            # its unreadable cells reject their rows one by one.
            chosen = candidates[0]
        if chosen is None:
            what = "exam codes"
            named = "; ".join(f"column {m.header!r} holds e.g. {', '.join(repr(x) for x in mis)}"
                              for m, mis in tried)
            raise SheetNotRead(f"no column holds {what} as its header says ({named})", column)
        if chosen is not header.columns[column]:
            first = header.columns[column]
            header.use(column, chosen)
            notes.append(f"column {first.header!r} does not hold {column} (e.g. "
                         f"{', '.join(repr(x) for x in tried[0][1])}); read from {chosen.header!r}")
    return notes

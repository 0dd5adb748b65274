"""What a sheet is before its rows are read: instructions, several tables, a
sheet per facility.

- A sheet of instructions or examples (``Anleitung``, ``Beispiel``) is not
  read, even when it shows a header and an example row.
- A second table below the first, with a header of its own in another column
  order, is read with its own header: the sheet is split at that header (the
  rows keep their numbers).
- A second table beside the first (the header names the same columns again,
  further right, and each half is a header of its own) is read as a table of
  its own, named after the sheet and its columns (``"Data (columns K-S)"``).
- A sheet without a facility-ID column whose name is neither generic
  (``Tabelle1``, ``Daten 2023``) nor an exam names the facility.
"""

from __future__ import annotations

import re
from functools import lru_cache

from .headers import DOSE_COLUMNS, RANK_NAME, HeaderMatch, fold, header_from_row, match_column
from .workbook import RawSheet

#: Sheet names (folded) of instructions and examples, never read for data.
_INSTRUCTION_SHEET = re.compile(
    r"anleitung|ausfuell|instruction|hinweis|readme|read me|legende|legend|erlaeuterung|beispiel|example|"
    r"^muster\b|^info(rmation(en)?)?\b|^how to\b|^help\b|^hilfe\b"
)
#: Sheet names that say nothing of a facility.
_GENERIC_SHEET = re.compile(
    r"^(tabelle|sheet|blatt|table|tab|page|seite|daten|data)\s*\d*\b|"
    r"^(exposure data|exposures|export|erhebung|survey|drl|"
    r"werte|dosiswerte|meldung|submission|ergebnis(se)?|results?|uebersicht|summary|gesamt|ids|codes|"
    r"reports?|bericht|auswertung|quartal\w*|q[1-4]|halbjahr|statisti[ck]s?|overview|liste|list|"
    r"examination codes|untersuchungscodes|vorlage|template|kopie)\b|^\W*$|^(19|20)\d\d\b"
)


def is_instruction_sheet(sheet: RawSheet) -> bool:
    """Whether a sheet's name says it holds instructions or examples."""
    return _is_instruction_name(sheet.name)


@lru_cache(maxsize=4096)
def _is_instruction_name(name: str) -> bool:
    return bool(_INSTRUCTION_SHEET.search(fold(name)))


def facility_of_sheet_name(name: str) -> str | None:
    """The facility a sheet's name gives (``"KH St. Marien Gerät 2"``), or None
    for names that say nothing of one."""
    text = " ".join(name.split())
    if not text or _GENERIC_SHEET.match(fold(text)):
        return None
    return text


_DIGIT = re.compile(r"\d")


def _could_be_header(row: list) -> bool:
    """A cheap test before reading a row as a header: three or more text cells,
    at most one of them with a digit, no number cell."""
    for v in row:
        if v.__class__ is float or v.__class__ is int:
            return False  # a number cell: a row of data
    texts = [v for v in row if v.__class__ is str and v]
    if len(texts) < 3 or len(texts) + row.count("") + row.count(None) < len(row):
        return False  # few texts, or a date or other cell
    return sum(1 for v in texts if _DIGIT.search(v)) <= 1


def split_tables(sheet: RawSheet, header: HeaderMatch) -> list[tuple[RawSheet, HeaderMatch]]:
    """The tables of a sheet: ``[(part, its header)]``, one part per header.

    A later row that reads as a header naming other columns, or the same
    columns in other places, starts a new part; a row that repeats the header
    exactly does not (it is rejected as a repeated header row).
    """
    layout = {c: m.index for c, m in header.columns.items()}
    cuts: list[tuple[int, HeaderMatch]] = []
    data_since = False  # a row of data stands between the last header and this row
    for r in range(header.row + 1, len(sheet.rows)):
        row = sheet.rows[r]
        types = set(map(type, row))
        if float in types or int in types:
            data_since = True  # a number cell: a row of data (the common case, decided at once)
            continue
        if not _could_be_header(row):
            data_since = data_since or any(isinstance(v, (int, float)) and not isinstance(v, bool)
                                           or isinstance(v, str) and any(ch.isdigit() for ch in v) for v in row)
            continue
        if not data_since:
            continue  # a second header row (names, units) right under the first is no new table
        found = header_from_row(r, row)
        if found is None or found.score < 3:
            continue
        here = {c: m.index for c, m in found.columns.items()}
        if here != layout:
            cuts.append((r, found))
            layout = here
            data_since = False
    if not cuts:
        return [(sheet, header)]
    parts: list[tuple[RawSheet, HeaderMatch]] = []
    bounds = [(0, header)] + cuts
    for k, (start, found) in enumerate(bounds):
        end = bounds[k + 1][0] if k + 1 < len(bounds) else len(sheet.rows)
        part = _rows_of(sheet, start, end)
        found.row -= start
        parts.append((part, found))
    return parts


def _rows_of(sheet: RawSheet, start: int, end: int) -> RawSheet:
    """Rows ``start:end`` of a sheet, keeping their numbers and merged ranges."""
    if start == 0 and end == len(sheet.rows):
        return sheet
    numbers = [sheet.row_number(i) for i in range(start, end)]
    merged = [((r0 - start, c0), (min(r1, end - 1) - start, c1)) for (r0, c0), (r1, c1) in sheet.merged
              if start <= r0 < end]
    return RawSheet(sheet.name, sheet.rows[start:end], merged, numbers, sheet.hidden)


def split_side_by_side(sheet: RawSheet, header: HeaderMatch) -> list[tuple[RawSheet, HeaderMatch]]:
    """The tables of a sheet that stand beside each other: ``[(part, its header)]``.

    The header row is cut before a cell that names, by a sure name, a column
    named already further left, where the cells from there on name again, by
    sure names, the exam code, a dose and at least one more of the columns
    named on the left, and nothing the left does not. Columns that merely
    repeat a name (a second DAP column in other units, CTDIvol per phantom) or
    that a weak name matches ("Protokoll", "Gerät") cut nothing. Each part
    keeps the sheet's rows and their numbers; the parts right of the first are
    named after their columns.
    """
    row = sheet.rows[header.row]
    cuts: list[int] = []
    start, seen = 0, set()
    for c, cell in enumerate(row):
        column = match_column(cell)[0] if isinstance(cell, str) and cell.strip() else None
        if column in (None, "ignore"):
            continue
        if column in seen and _repeats_table(header.row, row[start:c], row[c:]):
            cuts.append(c)
            start, seen = c, set()
        seen.add(column)
    if not cuts:
        return [(sheet, header)]
    bounds = [0, *cuts, max(len(r) for r in sheet.rows)]
    parts = []
    for k in range(len(bounds) - 1):
        c0, c1 = bounds[k], bounds[k + 1]
        name = sheet.name if k == 0 else f"{sheet.name} (columns {_letters(c0)}-{_letters(c1 - 1)})"
        merged = [((r0, a - c0), (r1, b - c0)) for (r0, a), (r1, b) in sheet.merged if c0 <= a and b < c1]
        part = RawSheet(name, [r[c0:c1] for r in sheet.rows], merged, sheet.line_numbers, sheet.hidden,
                        sheet.hidden_rows if k == 0 else 0)
        found = header_from_row(header.row, part.rows[header.row])
        if found is None:  # pragma: no cover - checked by _repeats_table above
            return [(sheet, header)]
        parts.append((part, found))
    return parts


def _repeats_table(r: int, left: list, right: list) -> bool:
    """Whether the header cells ``right`` start a table of their own beside ``left``."""
    a, b = header_from_row(r, left), header_from_row(r, right)
    if a is None or b is None:
        return False
    sure_a, sure_b = _surely_named(a), _surely_named(b)
    return ("exam_code" in sure_b and bool(DOSE_COLUMNS & sure_b) and len(sure_b) >= 3
            and sure_b <= sure_a)


def _surely_named(header: HeaderMatch) -> set[str]:
    return {c for c, m in header.columns.items() if m.rank <= RANK_NAME}


def _letters(c: int) -> str:
    """Excel's letters of the 0-based column ``c``: 0 -> A, 26 -> AA."""
    out = ""
    c += 1
    while c:
        c, rem = divmod(c - 1, 26)
        out = chr(65 + rem) + out
    return out

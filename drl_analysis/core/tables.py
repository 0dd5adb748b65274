"""Writing tables that a reviewer opens in a spreadsheet: no cell becomes a formula.

Facility IDs, exam codes, data sources and file names come from submitted
files; a text such as ``=HYPERLINK("http://…")`` or ``=cmd|' /C calc'!A0`` must
never reach a spreadsheet as a live formula. Every table the package writes
goes through :func:`write_csv` or :func:`write_xlsx`:

- in CSV files, a text cell that begins with ``=``, ``+``, ``-``, ``@``, a tab
  or a carriage return is prefixed with a single quote, as the OWASP guidance
  on CSV injection describes; numbers written as text (``-1.5``) and a lone
  sign stay as they are. The database keeps the raw value.
- in xlsx files, every text cell is written as a string, never as a formula.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

#: First characters that make a spreadsheet read a cell as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?")


def neutralise_text(value: object) -> object:
    """A text cell made safe for a spreadsheet (see the module's text); other values as they are.

    >>> neutralise_text('=HYPERLINK("http://x","y")')
    '\\'=HYPERLINK("http://x","y")'
    >>> neutralise_text("-1.5"), neutralise_text("KH-07")
    ('-1.5', 'KH-07')
    """
    if not isinstance(value, str) or not value.startswith(FORMULA_START):
        return value
    if len(value) == 1 or _PLAIN_NUMBER.fullmatch(value):
        return value
    return "'" + value


def neutralise(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells cannot act as formulas (numbers untouched)."""
    out = frame
    for column in frame.columns:
        series = frame[column]
        if series.dtype != object and not isinstance(series.dtype, pd.StringDtype):
            continue
        values = series.map(neutralise_text)
        if not values.equals(series):
            if out is frame:
                out = frame.copy()
            out[column] = values
    return out


def write_csv(frame: pd.DataFrame, path: str | Path, **kwargs) -> Path:
    """Write ``frame`` as CSV (UTF-8, no index, ``\\n`` line ends) with its text neutralised."""
    kwargs.setdefault("index", False)
    kwargs.setdefault("lineterminator", "\n")
    neutralise(frame).to_csv(path, **kwargs)
    return Path(path)


def no_formulas(workbook) -> int:
    """Turn every formula cell of an openpyxl workbook into a text cell; return how many."""
    n = 0
    for ws in workbook.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if cell.data_type == "f":
                    cell.data_type = "s"
                    n += 1
    return n


def write_xlsx(sheets: Mapping[str, pd.DataFrame], path: str | Path, *, format_sheet=None) -> Path:
    """Write frames as sheets of an xlsx file (no index), no text cell a formula.

    ``format_sheet(worksheet, frame)`` may style each sheet (widths, fonts).
    Sheet names are cut to Excel's 31 characters.
    """
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        for name, frame in sheets.items():
            frame.to_excel(writer, sheet_name=str(name)[:31], index=False)
            if format_sheet is not None:
                format_sheet(writer.sheets[str(name)[:31]], frame)
        no_formulas(writer.book)
    return Path(path)

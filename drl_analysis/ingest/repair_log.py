"""The log of one sheet's repairs and rejections, and the repairs of a file as one frame.

Every change to a value is a repair record (sheet, row, column, before, after,
rule); every row not stored is a rejection with its reason and raw cells.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from .cells import _cell_text, _is_empty

#: Columns of a repair record (see :data:`drl_analysis.store.database.repairs`).
REPAIR_COLUMNS = ["sheet", "source_row", "column", "before", "after", "rule"]


def repairs_frame(parts: list[dict[str, np.ndarray]]) -> pd.DataFrame:
    """One frame of the repairs of several sheets, each given column by column."""
    parts = [p for p in parts if len(p["rule"])]
    if not parts:
        return pd.DataFrame(columns=REPAIR_COLUMNS)
    data = {c: np.concatenate([p[c] for p in parts]) if len(parts) > 1 else parts[0][c] for c in REPAIR_COLUMNS}
    return pd.DataFrame(data, columns=REPAIR_COLUMNS)


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

    def arrays(self) -> dict[str, np.ndarray]:
        """The repairs, sorted by row and column, column by column: object arrays, and
        ``source_row`` as integers (floats with NaN where a repair has no row)."""
        c = self.columns
        if not c["rule"]:
            return {name: np.array([], dtype=np.int64 if name == "source_row" else object)
                    for name in REPAIR_COLUMNS}
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
        return data

    def reject(self, row: int, reason: str, cells: list) -> None:
        raw = json.dumps([_cell_text(v) if not _is_empty(v) else "" for v in cells], ensure_ascii=False)
        self.rejections.append({"sheet": self.sheet, "source_row": row, "reason": reason, "raw": raw})

"""Facility IDs given once per block of rows, or in merged cells, filled down.

See :func:`_fill_down_ids` for when a blank ID is filled and when it stays a
rejection; every filled cell is a repair (``merged_cell``,
``facility_id_filled_down``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .cells import _cell_text, _is_empty
from .workbook import EXCEL_ERRORS

if TYPE_CHECKING:
    from .repair_log import _Log


def _fill_merged_ids(id_cells: np.ndarray, merged, c: int, start: int, rows: list, source_rows: np.ndarray,
                     log: _Log) -> None:
    """Facility IDs merged over several rows: fill down inside the merged range."""
    n = len(id_cells)
    for (r0, c0), (r1, c1) in merged:
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


def _fill_down_ids(id_cells: np.ndarray, resolved: np.ndarray, keep: np.ndarray, barrier: np.ndarray,
                   has_dose: np.ndarray, source_rows: np.ndarray, log: _Log) -> str | None:
    """Fill facility IDs given once per block into the blank ID cells below them.

    A blank ID is filled from the nearest ID above it when its row holds a
    dose, no total row (``barrier``) stands between them (empty, note and
    repeated header rows do not end a block), the sheet's IDs come in
    contiguous groups (no ID comes back after another), and either most IDs
    stand above a blank one (the sheet gives IDs per block) or the next ID
    below is the same. Changes ``id_cells`` in place; returns a note when
    blank IDs were left unfilled for lack of structure.
    """
    order = [i for i in range(len(id_cells)) if keep[i] or barrier[i]]
    if len(order) < len(id_cells):
        # Rows rejected for another reason than a total are passed over.
        sub = np.array(order, dtype=int)
        cells_sub = id_cells[sub]
        note = _fill_down_ids(cells_sub, resolved[sub], keep[sub], barrier[sub], has_dose[sub], source_rows[sub],
                              log)
        id_cells[sub] = cells_sub
        return note
    n = len(id_cells)
    ids = [v if keep[i] and not pd.isna(v) else None for i, v in enumerate(resolved)]
    blank = [i for i in range(n) if keep[i] and ids[i] is None and has_dose[i] and not _is_error(id_cells[i])]
    if not blank:
        return None
    seen: set[str] = set()
    last = None
    for i in range(n):
        v = ids[i]
        if v is None or v == last:
            continue
        if v in seen:
            return (f"{len(blank)} rows without a facility ID were not filled in: "
                    "the sheet's IDs do not come in blocks")
        seen.add(v)
        last = v
    # Candidates: (blank row, row of the ID above, next ID below or None).
    candidates: list[tuple[int, int, str | None]] = []
    above: int | None = None
    pending: list[int] = []
    followed_by_blank = 0
    id_rows = 0  # ID rows with a next row in the same block of kept rows

    def close(next_id: str | None) -> None:
        for k in pending:
            candidates.append((k, above, next_id))  # type: ignore[arg-type]
        pending.clear()

    for i in range(n):
        if not keep[i] or _is_error(id_cells[i]):
            # An ID cell holding an Excel error is unknown, not blank: it ends the block.
            close(None)
            above = None
            continue
        if ids[i] is not None:
            close(ids[i])
            above = i
            # An ID on the last row before an empty or total row says nothing
            # of how the sheet gives IDs.
            if i + 1 < n and keep[i + 1]:
                id_rows += 1
                followed_by_blank += ids[i + 1] is None and bool(has_dose[i + 1])
            continue
        if above is not None and has_dose[i]:
            pending.append(i)
    close(None)
    per_block = id_rows > 0 and followed_by_blank >= 0.5 * id_rows
    fill = [(k, a) for k, a, nxt in candidates if per_block or (nxt is not None and nxt == ids[a])]
    if not fill:
        return (f"{len(blank)} rows without a facility ID were not filled in: "
                "the sheet gives no ID per block")
    rows_k = np.array([k for k, _ in fill])
    for k, a in fill:
        id_cells[k] = id_cells[a]
    log.repairs_at(source_rows[rows_k], "facility_id", [""] * len(fill), [ids[a] for _, a in fill],
                   "facility_id_filled_down")
    left = len(blank) - len(fill)
    return (f"facility ID filled down into {len(fill)} rows (given once per block)"
            + (f"; {left} blank IDs left" if left else ""))


def _is_error(cell: object) -> bool:
    """Whether an ID cell holds an Excel error ("#REF!"): unknown, not blank, so never filled."""
    return isinstance(cell, str) and cell.strip().upper() in EXCEL_ERRORS

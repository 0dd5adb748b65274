"""Doses spread over more than one column: a unit column, one column per phantom.

Some submissions give a dose's unit in a column of its own (``Dosisflächen-
produkt | Einheit DFP`` with ``5 | dGy*cm2``), or a CT dose in one column per
phantom (``CTDIvol Kopf 16 cm | CTDIvol Körper 32 cm``). Read as one column,
the first would store 5 cGy·cm² for 50, the second would lose the phantom or
the value; both are read here row by row. Where the columns disagree (a value
in both phantom columns, a phantom column that contradicts the phantom
given), the row is rejected, never guessed.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd

from ..core.units import FAMILY_OF_COLUMN, UnknownUnit, unit_factor
from .cells import clean_text, is_missing_marker


def apply_unit_column(values: np.ndarray, units: np.ndarray, column: str, header_factor: float
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Values converted with the unit of their row.

    Parameters
    ----------
    values : ndarray of float
        The column's values, already multiplied by ``header_factor``.
    units : ndarray of object
        The unit cell of each row (empty: the header's unit stands).
    column : str
        The canonical dose column.

    Returns
    -------
    values, unreadable, changed : ndarray
        Converted values; rows whose unit cell reads as no unit of the column;
        rows whose value the unit changed.
    """
    family = FAMILY_OF_COLUMN[column]
    out = values.copy()
    unreadable = np.zeros(len(values), dtype=bool)
    changed = np.zeros(len(values), dtype=bool)
    codes, uniques = pd.factorize(units)
    factors = []
    for u in uniques:
        text = clean_text(str(u)) if u is not None else ""
        if not text or is_missing_marker(text):
            factors.append(None)
            continue
        try:
            factors.append(unit_factor(family, text))
        except UnknownUnit:
            factors.append(math.nan)
    for k, factor in enumerate(factors):
        at = codes == k
        if factor is None:
            continue
        if math.isnan(factor):
            unreadable |= at & ~np.isnan(values)
            continue
        if factor != header_factor:
            out[at] = values[at] / header_factor * factor
            changed |= at & ~np.isnan(values)
    return out, unreadable, changed


def read_phantom_split(parts: dict[int, tuple[np.ndarray, float]], read: Callable
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[int, float]]:
    """One dose from its 16 cm and 32 cm columns.

    ``parts`` maps the phantom (16, 32) to the column's raw cells and header
    factor; ``read(raw, factor)`` reads one column as the repair reads any
    number column (``values, ambiguous, unreadable``). Returns the values, the
    phantom of each (NaN where neither column holds one), rows with a value in
    both columns, unreadable rows and ambiguous cells.
    """
    read_parts = {size: read(raw, factor) for size, (raw, factor) in parts.items()}
    v16, amb16, bad16 = read_parts[16]
    v32, amb32, bad32 = read_parts[32]
    has16, has32 = ~np.isnan(v16), ~np.isnan(v32)
    values = np.where(has16, v16, v32)
    phantom = np.where(has16, 16.0, np.where(has32, 32.0, np.nan))
    both = has16 & has32
    ambiguous = {**{i: a for i, a in amb32.items() if not has16[i]}, **amb16}
    return values, phantom, both, bad16 | bad32, ambiguous


def phantom_of_split(phantom: np.ndarray, split: dict[str, np.ndarray]
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The phantom column completed from the phantom columns of split doses.

    Returns the phantoms, the rows filled from a split column, and the rows
    where a split column and the phantom column (or two split columns)
    disagree.
    """
    out = phantom.copy()
    filled = np.zeros(len(phantom), dtype=bool)
    disagree = np.zeros(len(phantom), dtype=bool)
    for given in split.values():
        has = ~np.isnan(given)
        empty = np.isnan(out)
        disagree |= has & ~empty & (out != given)
        take = has & empty
        out[take] = given[take]
        filled |= take
    return out, filled & ~disagree, disagree

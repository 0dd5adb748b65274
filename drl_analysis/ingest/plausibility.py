"""Plausibility flags for stored exposures: ranges, unit slips, unknown exam codes.

Values are flagged, never rescaled: a DAP ten times its exam's usual value
may be a unit slip (dGy·cm² written where cGy·cm² was asked) or a real, very
high dose; a person decides. The reference of an exam is the median of its
values in the same submission when there are at least ``min_reference``
of them, else 0.7 x its current DRL (facility medians centre there).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..core.catalogue import Catalogue
from ..core.columns import (
    CT_QUANTITIES,
    DOSE_QUANTITIES,
    FLAG_AMBIGUOUS_NUMBER,
    FLAG_OUT_OF_RANGE,
    FLAG_UNIT_SLIP,
    FLAG_UNKNOWN_EXAM,
    NUMERIC_COLUMNS,
    PHANTOMS_CM,
    QUANTITIES,
    flag_token,
)
from ..core.slips import UNSCREENED_MIN_DECADES, slip_power

#: |log10(value / reference)| at or above which a value is a suspected unit slip
#: (the rule and its thresholds: :mod:`drl_analysis.core.slips`).
SLIP_LOG10 = UNSCREENED_MIN_DECADES
#: Fewest values of an exam in a submission for their median to be the reference.
MIN_REFERENCE = 10
_DRL_TO_TYPICAL = 0.7
#: CTDIvol and DLP referenced to the 16 cm phantom are 2-3 times the 32 cm
#: values (domain notes); compared with their exam on a common footing.
PHANTOM_RATIO = 2.5
_PHANTOM_COLUMNS = CT_QUANTITIES


def comparable_values(frame: pd.DataFrame, column: str, catalogue: Catalogue,
                      reference_phantom: np.ndarray | None = None) -> np.ndarray:
    """Values of a dose column, CT values rescaled to their exam's reference
    phantom (only for comparing with the exam's distribution; stored values
    are never changed). ``reference_phantom`` (cm, per row) may be given to
    save looking it up again for each column."""
    values = frame[column].to_numpy(dtype=float)
    if column not in _PHANTOM_COLUMNS:
        return values
    phantom = frame["ctdi_phantom_cm"].to_numpy(dtype=float)
    ref = _reference_phantoms(frame, catalogue) if reference_phantom is None else reference_phantom
    out = values.copy()
    out[(phantom == 16) & (ref == 32)] /= PHANTOM_RATIO
    out[(phantom == 32) & (ref == 16)] *= PHANTOM_RATIO
    return out


def _reference_phantoms(frame: pd.DataFrame, catalogue: Catalogue) -> np.ndarray:
    codes, uniques = pd.factorize(frame["exam_code"].to_numpy(dtype=object))
    table = np.array([catalogue.reference_phantoms.get(c, np.nan) for c in uniques] + [np.nan], dtype=float)
    return table[codes]


def _group_medians(group: np.ndarray, n_groups: int, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median and count of the non-NaN ``values`` of each group ``0..n_groups-1``.

    The median of an even count is the mean of the two middle values, as
    pandas computes it; a group without values has median NaN.
    """
    ok = ~np.isnan(values)
    g, v = group[ok], values[ok]
    counts = np.bincount(g, minlength=n_groups)
    medians = np.full(n_groups, np.nan)
    if len(v):
        order = np.lexsort((v, g))
        v = v[order]
        start = np.concatenate(([0], np.cumsum(counts)[:-1]))
        has = counts > 0
        lo = start[has] + (counts[has] - 1) // 2
        hi = start[has] + counts[has] // 2
        medians[has] = (v[lo] + v[hi]) / 2
    return medians, counts


def exam_references(frame: pd.DataFrame, catalogue: Catalogue, min_reference: int = MIN_REFERENCE) -> dict:
    """Reference value per (exam code, dose column), canonical units."""
    refs: dict[tuple[str, str], float] = {}
    group, codes = pd.factorize(frame["exam_code"].to_numpy(dtype=object))
    known = group >= 0
    group_known = group[known]
    phantoms = None
    for column in DOSE_QUANTITIES:
        raw = frame[column].to_numpy(dtype=float)
        present = ~np.isnan(raw)
        if not present.any():
            continue
        if column in _PHANTOM_COLUMNS and phantoms is None:
            phantoms = _reference_phantoms(frame, catalogue)
        values = comparable_values(frame, column, catalogue, phantoms)
        values = np.where(values > 0, values, np.nan)[known]
        medians, counts = _group_medians(group_known, len(codes), values)
        for k in np.flatnonzero(counts >= min_reference):
            refs[(codes[k], column)] = float(medians[k])
        for k in pd.unique(group[present]):
            if k >= 0 and (codes[k], column) not in refs:
                drl, _ = catalogue.current_drl(codes[k], column)
                if drl is not None:
                    refs[(codes[k], column)] = drl * _DRL_TO_TYPICAL
    return refs


def slip_kind(ratio: float) -> str | None:
    """``unit_slip_x100`` for a ratio near 100, ``unit_slip_x0.01`` near 1/100, else None."""
    if not ratio > 0:
        return None
    power = slip_power(float(np.log10(ratio)), SLIP_LOG10)
    if power == 0:
        return None
    return f"{FLAG_UNIT_SLIP}_x{10.0 ** power:g}"


def resolve_ambiguous(frame: pd.DataFrame, ambiguous: list[tuple[int, str, float, float]], refs: dict) -> dict:
    """Choose, for each ambiguous number, the reading closer to its exam's reference.

    Returns ``{(position, column): chosen value}``; without a reference the
    decimal reading stands. The caller flags each of them.
    """
    chosen = {}
    for pos, column, decimal, thousands in ambiguous:
        ref = refs.get((frame["exam_code"].iat[pos], column))
        value = decimal
        if ref and decimal > 0 and thousands > 0:
            if abs(np.log(thousands / ref)) < abs(np.log(decimal / ref)):
                value = thousands
        chosen[(pos, column)] = value
    return chosen


#: Fewest values of a facility's exam for its own median to be the reference
#: of its rows (a slip is one row off its facility's practice).
MIN_FACILITY_REFERENCE = 5


def slip_flags(frame: pd.DataFrame, comparable: dict[str, np.ndarray], refs: dict) -> list[tuple[int, str, str]]:
    """Rows of the dose columns that sit a factor 10, 100 or 1000 off: ``(row, kind, column)``.

    A row is compared with its facility's median for the exam when the
    facility has at least :data:`MIN_FACILITY_REFERENCE` values (so that a
    facility with high but consistent doses is not taken for a slip), else
    with the exam's reference. A facility whose whole median sits a factor
    10^k off the exam's reference (every value typed in the wrong unit) has
    each of its rows flagged with the factor to the exam's reference.
    """
    # Groups of (data source, facility, exam); a missing key is a group of its own.
    key = np.zeros(len(frame), dtype=np.int64)
    for c in ("data_source", "facility_id", "exam_code"):
        codes, uniques = pd.factorize(frame[c].to_numpy(dtype=object))
        key = key * (len(uniques) + 1) + (codes + 1)
    exam_group, exam_codes = codes, uniques
    group, firsts = pd.factorize(key)
    n_groups = len(firsts)
    out = []
    for column in comparable:
        value = np.where(comparable[column] > 0, comparable[column], np.nan)
        present = ~np.isnan(value)
        if not present.any():
            continue
        medians, counts = _group_medians(group, n_groups, value)
        table = np.array([refs.get((c, column), np.nan) for c in exam_codes] + [np.nan], dtype=float)
        exam_ref = table[exam_group]
        fac_median = medians[group]
        use_fac = counts[group] >= MIN_FACILITY_REFERENCE
        with np.errstate(divide="ignore", invalid="ignore"):
            row_vs_fac = np.abs(np.log10(value / fac_median))
            fac_vs_exam = np.abs(np.log10(fac_median / exam_ref))
            row_vs_exam = np.abs(np.log10(value / exam_ref))
        candidates = present & (
            (use_fac & ((row_vs_fac >= SLIP_LOG10) | (fac_vs_exam >= SLIP_LOG10)))
            | (~use_fac & (row_vs_exam >= SLIP_LOG10))
        )
        for i in np.flatnonzero(candidates):
            if use_fac[i] and row_vs_fac[i] >= SLIP_LOG10 and not fac_vs_exam[i] >= SLIP_LOG10:
                kind = slip_kind(value[i] / fac_median[i])
            else:
                kind = slip_kind(value[i] / exam_ref[i])
            if kind:
                out.append((int(i), kind, column))
    return out


def flag_exposures(
    frame: pd.DataFrame,
    catalogue: Catalogue,
    refs: dict | None = None,
    ambiguous_cells: set[tuple[int, str]] | None = None,
) -> pd.Series:
    """The ``flags`` of each exposure: semicolon-separated tokens, sorted.

    Parameters
    ----------
    frame : pandas.DataFrame
        Exposures with ``exam_code`` and the numeric columns, canonical units.
    catalogue : Catalogue
    refs : dict, optional
        From :func:`exam_references`; computed if not given.
    ambiguous_cells : set of (position, column), optional
        Cells whose number was ambiguous (flagged ``ambiguous_notation``).
    """
    refs = exam_references(frame, catalogue) if refs is None else refs
    tokens: dict[int, list[str]] = {}
    exam_group, exam_codes = pd.factorize(frame["exam_code"].to_numpy(dtype=object))
    known_codes = catalogue.codes  # a new set on each access
    known = np.array([c in known_codes for c in exam_codes] + [False], dtype=bool)[exam_group]
    for i in np.flatnonzero(~known):
        tokens.setdefault(int(i), []).append(FLAG_UNKNOWN_EXAM)
    comparable = {}
    phantoms = None
    for column in NUMERIC_COLUMNS:
        values = frame[column].to_numpy(dtype=float)
        q = QUANTITIES[column]
        present = ~np.isnan(values)
        if column == "ctdi_phantom_cm":
            bad = present & ~np.logical_or.reduce([values == p for p in PHANTOMS_CM])
        else:
            bad = present & ((values < q.low) | (values > q.high))
        for i in np.flatnonzero(bad):
            tokens.setdefault(int(i), []).append(flag_token(FLAG_OUT_OF_RANGE, column))
        if column in DOSE_QUANTITIES and present.any():
            if column in _PHANTOM_COLUMNS and phantoms is None:
                phantoms = _reference_phantoms(frame, catalogue)
            comparable[column] = comparable_values(frame, column, catalogue, phantoms)
    if comparable:
        for i, kind, column in slip_flags(frame, comparable, refs):
            tokens.setdefault(i, []).append(flag_token(kind, column))
    for pos, column in ambiguous_cells or ():
        tokens.setdefault(int(pos), []).append(flag_token(FLAG_AMBIGUOUS_NUMBER, column))
    flags = np.full(len(frame), "", dtype=object)
    for i, t in tokens.items():
        flags[i] = ";".join(sorted(set(t)))
    return pd.Series(flags, index=frame.index, dtype=object)

"""The selection policy: which stored dose values count, under which exam,
quantity and CTDI phantom, and why the others do not.

Every statistic of the package starts here: the DRL tables
(:mod:`drl_analysis.stats.drl`), the outlier references, facility medians and
alerts (:mod:`drl_analysis.analysis.outliers`), the clustering
(:mod:`drl_analysis.analysis.clustering`) and the report. So the DRL table and
the outlier analysis count the same values of the same data.

The rule, for each dose value present (one exposure has up to four: DAP, AGD,
DLP, CTDIvol), in this order; the first that applies is the value's status:

``no_exam_code``
    the exposure has no exam code: it belongs to no group.
``implausible_at_ingest``
    ingest flagged this value implausible (outside its quantity's range, or
    a suspected unit slip; :func:`drl_analysis.core.columns.is_implausible`).
``not_positive``
    zero or negative.
``other_phantom``
    a CT value whose phantom differs from its exam's reference phantom: it is
    not pooled with the reference values (16 cm values are 2-3 times the 32 cm
    ones). The outlier analysis still judges it among its own kind.
``weight_outside_range``
    only when a weight range is asked for (DRL option ``--weight-range``):
    the patient's weight is outside it or missing; AGD is exempt.
``used``
    counted.

Groups: a value counts under its exam code and quantity and, for CT
quantities, its exam's reference phantom. The catalogue gives it for the
exams it knows (16 cm head, 32 cm body). For an exam code the catalogue does
not know, the reference is the phantom most of the code's values state in
the data selected (ties go to the larger, 32 cm): its values in the other
phantom are ``other_phantom``, so 16 cm and 32 cm values are never pooled,
and every statistic of one run (same data, same years) takes the same
reference. A CT value that states no phantom is taken to be measured in its
exam's reference phantom.

The data-quality table of the analysis (``data_quality.csv``) lists, besides
the values flagged at ingest, every value whose group rests on an assumption
(an unknown exam code, whose reference phantom comes from the data; a CT
value without a phantom, taken to be in the reference phantom).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..core.catalogue import Catalogue
from ..core.columns import CT_QUANTITIES, DOSE_QUANTITIES, is_implausible

#: Statuses of a value, in the order the rule tests them, with their reason.
#: ``used`` is code 0; the codes of :attr:`QuantitySelection.status` index this.
STATUSES: dict[str, str] = {
    "used": "counted",
    "no_exam_code": "no exam code",
    "implausible_at_ingest": "flagged implausible at ingest",
    "not_positive": "not a positive value",
    "other_phantom": "CTDI phantom differs from the exam's reference phantom (not pooled)",
    "weight_outside_range": "patient weight outside the range asked for, or missing",
}
STATUS_NAMES: tuple[str, ...] = tuple(STATUSES)
_CODE = {name: np.int8(i) for i, name in enumerate(STATUS_NAMES)}

#: Quantities a weight range does not restrict: mammography DRLs cover all
#: breast sizes (ICRP 135), and patient weight says little about them.
WEIGHT_EXEMPT_QUANTITIES: tuple[str, ...] = ("agd_mgy",)


@dataclass(frozen=True)
class QuantitySelection:
    """The selection of one dose quantity, one entry per exposure row.

    Attributes
    ----------
    values : numpy.ndarray of float
        The dose values (canonical unit), NaN where absent.
    present : numpy.ndarray of bool
        A value is there.
    status : numpy.ndarray of int8
        Index into :data:`STATUS_NAMES` (0 = used); meaningful where present.
    phantom : numpy.ndarray of float
        For CT quantities the CTDI phantom (cm) the value is counted or
        judged in: its exam's reference phantom, or its own stated phantom
        where that differs (``other_phantom``); NaN for other quantities.
    """

    values: np.ndarray
    present: np.ndarray
    status: np.ndarray
    phantom: np.ndarray

    @property
    def counted(self) -> np.ndarray:
        """Values that count (present and used)."""
        return self.present & (self.status == 0)

    def has(self, *names: str) -> np.ndarray:
        """Present values whose status is one of ``names``."""
        return self.present & np.isin(self.status, [_CODE[n] for n in names])


@dataclass(frozen=True)
class Selection:
    """What counts of a table of exposures (see the module docstring).

    Attributes
    ----------
    n_rows : int
    exam_idx : numpy.ndarray of int
        Per row, the index into ``exam_codes``; -1 where the code is missing.
    exam_codes : list of str
        The distinct exam codes, in order of first appearance.
    reference_phantom : numpy.ndarray of float
        Per exam code, its reference phantom (cm; see
        :func:`reference_phantoms`), NaN if none.
    quantities : dict of str to QuantitySelection
        One entry per dose quantity column present in the exposures, in the
        order of :data:`drl_analysis.core.columns.DOSE_QUANTITIES`.
    """

    n_rows: int
    exam_idx: np.ndarray
    exam_codes: list[str]
    reference_phantom: np.ndarray
    quantities: dict[str, QuantitySelection]

    def frame(self) -> pd.DataFrame:
        """One row per value present: ``row`` (position), ``quantity``,
        ``value``, ``ctdi_phantom_group`` (cm or NaN), ``status``, ``reason``;
        quantity by quantity, each in row order."""
        parts = []
        for q, sel in self.quantities.items():
            rows = np.flatnonzero(sel.present)
            status = np.asarray(STATUS_NAMES, dtype=object)[sel.status[rows]]
            parts.append(
                pd.DataFrame(
                    {
                        "row": rows,
                        "quantity": q,
                        "value": sel.values[rows],
                        "ctdi_phantom_group": sel.phantom[rows],
                        "status": status,
                        "reason": [STATUSES[s] for s in status],
                    }
                )
            )
        cols = ["row", "quantity", "value", "ctdi_phantom_group", "status", "reason"]
        if not parts:
            return pd.DataFrame(columns=cols)
        return pd.concat(parts, ignore_index=True)[cols]


def _labels(uniques) -> list[str]:
    return ["" if (u is None or (isinstance(u, float) and math.isnan(u)) or u is pd.NA) else str(u) for u in uniques]


def _column(exposures: pd.DataFrame, name: str) -> np.ndarray:
    if name not in exposures.columns:
        return np.full(len(exposures), np.nan)
    return pd.to_numeric(exposures[name], errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def reference_phantoms(
    catalogue: Catalogue, exam_codes: list[str], exam_idx: np.ndarray, stated: np.ndarray
) -> np.ndarray:
    """The reference phantom (cm) of each exam code: the catalogue's, else the
    one most of the exam's rows state (ties to the larger); NaN when neither.

    ``exam_idx`` indexes ``exam_codes`` per row (-1: no code), ``stated`` is
    each row's ``ctdi_phantom_cm``.
    """
    ref = np.array([catalogue.reference_phantom(c) or np.nan for c in exam_codes], dtype=float)
    need = np.flatnonzero(np.isnan(ref))
    if need.size:
        rows = np.isin(exam_idx, need) & ~np.isnan(stated)
        if rows.any():
            counts = pd.DataFrame({"e": exam_idx[rows], "p": stated[rows]}).value_counts().reset_index(name="n")
            counts = counts.sort_values(["e", "n", "p"], ascending=[True, False, False]).drop_duplicates("e")
            ref[counts["e"].to_numpy()] = counts["p"].to_numpy()
    return ref


def select_values(
    exposures: pd.DataFrame,
    catalogue: Catalogue,
    *,
    weight_range_kg: tuple[float, float] | None = None,
) -> Selection:
    """Apply the selection rule to every dose value of ``exposures``.

    Parameters
    ----------
    exposures : pandas.DataFrame
        At least ``exam_code``; the dose columns present of
        :data:`drl_analysis.core.columns.DOSE_QUANTITIES` (canonical units),
        optionally ``ctdi_phantom_cm``, ``weight_kg`` and ``flags``.
    catalogue : Catalogue
        Gives each exam's reference phantom.
    weight_range_kg : (float, float), optional
        Patients outside this closed range, or without a weight, are left out
        (``weight_outside_range``) except for :data:`WEIGHT_EXEMPT_QUANTITIES`.

    Returns
    -------
    Selection
    """
    n = len(exposures)
    exam_idx, exam_uni = pd.factorize(exposures["exam_code"])
    exam_codes = _labels(exam_uni)
    blank = np.array([c.strip() == "" for c in exam_codes], dtype=bool)
    exam_idx = np.asarray(exam_idx)
    if blank.any():
        exam_idx = np.where(np.isin(exam_idx, np.flatnonzero(blank)), -1, exam_idx)
    stated = _column(exposures, "ctdi_phantom_cm")
    reference = reference_phantoms(catalogue, exam_codes, exam_idx, stated)
    ref_row = np.append(reference, np.nan)[exam_idx]  # index -1 picks the NaN
    other = ~np.isnan(stated) & ~np.isnan(ref_row) & (stated != ref_row)

    if "flags" in exposures.columns:
        flag_idx, flag_uni = pd.factorize(exposures["flags"], use_na_sentinel=False)
        flag_labels = _labels(flag_uni)
    else:
        flag_idx, flag_labels = np.zeros(n, dtype=np.intp), [""]
    weight_out = np.zeros(n, dtype=bool)
    if weight_range_kg is not None:
        lo, hi = weight_range_kg
        weight = _column(exposures, "weight_kg")
        weight_out = ~((weight >= lo) & (weight <= hi))  # a missing weight is outside

    quantities: dict[str, QuantitySelection] = {}
    for q in DOSE_QUANTITIES:
        if q not in exposures.columns:
            continue
        v = _column(exposures, q)
        present = ~np.isnan(v)
        bad_flag = np.array([is_implausible(f, q) for f in flag_labels], dtype=bool)[flag_idx]
        ct = q in CT_QUANTITIES
        # Tested last first, so that the first rule that applies wins.
        status = np.zeros(n, dtype=np.int8)
        if weight_range_kg is not None and q not in WEIGHT_EXEMPT_QUANTITIES:
            status[weight_out] = _CODE["weight_outside_range"]
        if ct:
            status[other] = _CODE["other_phantom"]
        status[~(v > 0) & present] = _CODE["not_positive"]
        status[bad_flag] = _CODE["implausible_at_ingest"]
        status[exam_idx < 0] = _CODE["no_exam_code"]
        phantom = np.where(other, stated, ref_row) if ct else np.full(n, np.nan)
        quantities[q] = QuantitySelection(values=v, present=present, status=status, phantom=phantom)
    return Selection(
        n_rows=n, exam_idx=exam_idx, exam_codes=exam_codes, reference_phantom=reference, quantities=quantities
    )

"""DRL statistics: facility medians, quartiles and proposed DRLs with uncertainty.

A facility is a (data source, facility ID) pair: IDs are assigned by each
medical body and repeat across bodies. A national DRL is the 75th percentile
of the facility medians of one exam and dose quantity (ICRP 135); the 50th
percentile is the achievable dose.

For one exam code and one dose quantity this module computes

- each facility's median (or mean) over its exams, counted only when the
  facility has at least ``min_per_facility`` exams;
- ``p25``, ``p50`` and ``p75`` of the counted facility values with a numpy
  percentile method, and QCD = (p75 - p25) / (p75 + p25);
- a 95 % percentile-bootstrap confidence interval of ``p50`` and ``p75``
  that resamples facilities. No authority prescribes it: it is this
  project's addition and every output says so;
- the current DRL from the catalogue, the share of facilities and of exams
  above it and the ratio ``p75 / current DRL``.

Values flagged implausible at ingest are left out and counted. CT values
(CTDIvol and DLP) referenced to a phantom other than the exam's reference
phantom are left out and counted, so 16 cm and 32 cm values are never pooled.
The whole table is computed with one factorisation of the facility keys and
numpy group reductions, so 5 million exposures take seconds; the bootstrap
draws the order statistics each percentile needs from their exact joint
distribution, so its cost does not grow with the number of facilities
(``benchmarks/drl.md``).

Entry points: :func:`drl_table`, :func:`drl_by_year` and
:func:`facility_medians` on a DataFrame of exposures; :func:`compute_drl`
for all three at once; :func:`drl_from_database` and
:func:`write_drl_outputs` for the notebook; :func:`command` for
``drl-analysis drl``.
"""

from __future__ import annotations

import argparse
import json
import math
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .. import __version__
from ..core.catalogue import Catalogue, load_catalogue
from ..core.columns import DOSE_QUANTITIES, QUANTITIES, is_implausible
from ..core.errors import UserError
from ..core.paths import CATALOGUE_FILE, PROCESSED_DIR

#: Columns that identify a facility.
FACILITY_KEYS: tuple[str, ...] = ("data_source", "facility_id")

#: The columns ``drl_table.csv`` starts with, in this order (the contract).
CONTRACT_COLUMNS: tuple[str, ...] = (
    "exam_code",
    "exam_name",
    "quantity",
    "n_facilities",
    "n_exams",
    "p25",
    "p50",
    "p75",
    "qcd",
    "p75_ci_low",
    "p75_ci_high",
    "current_drl",
    "drl_edition",
    "share_facilities_above_drl",
    "share_exams_above_drl",
)

#: Further result columns, after the contract columns.
DETAIL_COLUMNS: tuple[str, ...] = (
    "unit",
    "p50_ci_low",
    "p50_ci_high",
    "p75_to_drl",
    "n_facilities_below_min",
    "n_exams_below_min",
    "n_excluded_implausible",
    "n_excluded_phantom",
    "n_excluded_weight",
    "ctdi_phantom_cm",
    "mean_weight_kg",
)

#: Columns that repeat the parameters in every row, last.
PARAMETER_COLUMNS: tuple[str, ...] = (
    "facility_statistic",
    "quantile_method",
    "min_per_facility",
    "years",
    "weight_range_kg",
    "edition_requested",
    "bootstrap_resamples",
    "seed",
    "ci_method",
)

#: numpy's percentile methods (``numpy.quantile(..., method=...)``).
QUANTILE_METHODS: tuple[str, ...] = (
    "inverted_cdf",
    "averaged_inverted_cdf",
    "closest_observation",
    "interpolated_inverted_cdf",
    "hazen",
    "weibull",
    "linear",
    "median_unbiased",
    "normal_unbiased",
    "lower",
    "higher",
    "midpoint",
    "nearest",
)

#: CT quantities, referenced to a CTDI phantom.
CT_QUANTITIES: tuple[str, ...] = ("ctdivol_mgy", "dlp_mgycm")

#: Quantities a weight range does not restrict: mammography DRLs cover all
#: breast sizes (ICRP 135), and patient weight says little about them.
WEIGHT_EXEMPT_QUANTITIES: tuple[str, ...] = ("agd_mgy",)

#: Confidence level of the bootstrap interval.
CI_LEVEL = 0.95

#: How every output labels the confidence interval.
CI_METHOD = (
    "95 % percentile bootstrap, facilities resampled with replacement; "
    "this project's addition, not prescribed by any authority"
)

#: Names of the files :func:`write_drl_outputs` writes.
OUTPUT_FILES: dict[str, str] = {
    "table": "drl_table.csv",
    "by_year": "drl_by_year.csv",
    "xlsx": "drl_tables.xlsx",
    "parameters": "drl_parameters.json",
}

_REQUIRED = ("data_source", "facility_id", "exam_code")


# --------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------


def check_quantile_method(method: str, *, name: str = "quantile_method") -> str:
    """Return ``method`` if numpy knows it as a percentile method.

    Parameters
    ----------
    method : str
        One of :data:`QUANTILE_METHODS`, e.g. ``"linear"`` (Excel
        QUARTILE.INC) or ``"weibull"`` (Excel QUARTILE.EXC).
    name : str, default "quantile_method"
        The parameter's name in the error message (``--quantile-method`` on
        the command line).

    Raises
    ------
    UserError
        If ``method`` is not one of numpy's methods.
    """
    if method not in QUANTILE_METHODS:
        raise UserError(f"{name}: {method!r} is not a numpy percentile method; use one of {', '.join(QUANTILE_METHODS)}")
    return method


def check_edition(catalogue: Catalogue, edition: str | None, *, name: str = "edition") -> str | None:
    """Return ``edition`` (None = newest per exam) if the catalogue gives it.

    Raises
    ------
    UserError
        For an edition the catalogue does not know; the message lists the known ones.
    """
    if edition is None or edition == "":
        return None
    known = catalogue.editions
    if edition not in known:
        raise UserError(f"{name}: the catalogue has no edition {edition!r}; known editions: {', '.join(known)}")
    return str(edition)


def _check_options(
    min_per_facility: int,
    quantile_method: str,
    facility_statistic: str,
    weight_range_kg: tuple[float, float] | None,
    n_bootstrap: int,
    random_state: int,
) -> None:
    check_quantile_method(quantile_method)
    if isinstance(min_per_facility, bool) or not isinstance(min_per_facility, (int, np.integer)) or min_per_facility < 1:
        raise UserError(f"min_per_facility: must be a whole number of at least 1, not {min_per_facility!r}")
    if facility_statistic not in ("median", "mean"):
        raise UserError(f"facility_statistic: must be 'median' or 'mean', not {facility_statistic!r}")
    if weight_range_kg is not None:
        lo, hi = weight_range_kg
        if not (np.isfinite(lo) and np.isfinite(hi)) or hi < lo:
            raise UserError(f"weight_range_kg: {weight_range_kg!r} is not a range (low, high) in kg")
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, (int, np.integer)) or n_bootstrap < 0:
        raise UserError(f"n_bootstrap: must be a whole number of at least 0, not {n_bootstrap!r}")
    if isinstance(random_state, bool) or not isinstance(random_state, (int, np.integer)) or random_state < 0:
        raise UserError(f"random_state: the seed must be a whole number of at least 0, not {random_state!r}")


def _check_exposures(exposures: pd.DataFrame) -> None:
    if not isinstance(exposures, pd.DataFrame):
        raise TypeError(f"exposures must be a pandas DataFrame, not {type(exposures).__name__}")
    missing = [c for c in _REQUIRED if c not in exposures.columns]
    if missing:
        raise ValueError(f"exposures lack the column(s) {', '.join(missing)}")
    if not any(q in exposures.columns for q in DOSE_QUANTITIES):
        raise ValueError(f"exposures hold none of the dose columns {', '.join(DOSE_QUANTITIES)}")


# --------------------------------------------------------------------------
# Percentiles of facility values
# --------------------------------------------------------------------------


def qcd(p25: float, p75: float) -> float:
    """Quartile coefficient of dispersion ``(p75 - p25) / (p75 + p25)``.

    NaN when ``p75 + p25`` is 0 or a quartile is missing.
    """
    total = p75 + p25
    if not np.isfinite(total) or total == 0:
        return math.nan
    return float((p75 - p25) / total)


def quartiles(values: Sequence[float] | np.ndarray, *, quantile_method: str = "linear") -> dict[str, float]:
    """Quartiles and QCD of facility values.

    Parameters
    ----------
    values : array-like of shape (n_facilities,)
        Facility medians (or means) of one exam and quantity, in the
        quantity's canonical unit; at least one, all finite.
    quantile_method : str, default "linear"
        A numpy percentile method (:data:`QUANTILE_METHODS`). ``"linear"``
        equals Excel QUARTILE.INC, ``"weibull"`` Excel QUARTILE.EXC.

    Returns
    -------
    dict
        ``p25``, ``p50`` (achievable dose), ``p75`` (proposed DRL) in the
        unit of ``values``, and the unitless ``qcd``.

    Examples
    --------
    >>> quartiles([2, 4, 6, 8, 10, 12, 14], quantile_method="weibull")["qcd"]
    0.5
    """
    check_quantile_method(quantile_method)
    v = np.asarray(values, dtype=float)
    if v.ndim != 1 or v.size == 0:
        raise ValueError("values must be a non-empty one-dimensional array")
    if not np.all(np.isfinite(v)):
        raise ValueError("values must be finite")
    p25, p50, p75 = (float(x) for x in np.quantile(v, [0.25, 0.5, 0.75], method=quantile_method))
    return {"p25": p25, "p50": p50, "p75": p75, "qcd": qcd(p25, p75)}


def _interpolation_plan(n: int, quantiles: np.ndarray, method: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which order statistics a percentile uses at sample size ``n``.

    Every numpy method returns ``x[j] + g * (x[j + 1] - x[j])`` of the sorted
    sample with ``j`` and ``g`` depending only on ``n``, the percentile and
    the method; applied to ``0, 1, ..., n - 1`` it returns ``j + g`` itself.
    """
    r = np.quantile(np.arange(n, dtype=float), quantiles, method=method)
    j = np.clip(np.floor(r).astype(np.int64), 0, n - 1)
    return j, np.minimum(j + 1, n - 1), r - j


def _resampled_order_statistics(
    n: int, ranks: np.ndarray, n_resamples: int, rng: np.random.Generator
) -> np.ndarray:
    """Indices into the sorted sample of chosen order statistics of bootstrap resamples.

    A resample draws ``n`` indices uniformly from ``0 .. n-1``; index
    ``floor(n * U)`` of a uniform ``U`` is such a draw, and sorting commutes
    with that monotone map, so the k-th smallest index of a resample is
    ``floor(n * U_(k))`` with ``U_(k)`` the k-th order statistic of ``n``
    uniforms. Those are drawn exactly and jointly for increasing ranks:
    ``U_(k1) ~ Beta(k1, n - k1 + 1)`` and, given ``U_(k) = u``, the later
    ``U_(k') = u + (1 - u) Beta(k' - k, n - k' + 1)``. The result has the
    distribution of sorting a B x n index matrix, at a cost that does not grow
    with ``n``.

    Returns
    -------
    numpy.ndarray of shape (n_resamples, len(ranks))
        0-based indices into the sorted sample; ``ranks`` are 0-based, increasing.
    """
    out = np.empty((n_resamples, ranks.size), dtype=np.int64)
    u = np.zeros(n_resamples)
    previous = 0
    for col, rank in enumerate(ranks + 1):
        u = u + (1.0 - u) * rng.beta(rank - previous, n - rank + 1, size=n_resamples)
        out[:, col] = np.minimum((u * n).astype(np.int64), n - 1)
        previous = rank
    return out


def _check_sample(values, quantiles) -> tuple[np.ndarray, np.ndarray]:
    v = np.asarray(values, dtype=float)
    q = np.asarray(quantiles, dtype=float)
    if v.ndim != 1 or not np.all(np.isfinite(v)):
        raise ValueError("values must be a one-dimensional array of finite numbers")
    if q.ndim != 1 or q.size == 0 or np.any((q < 0) | (q > 1)):
        raise ValueError("quantiles must be fractions in [0, 1]")
    return v, q


def bootstrap_distribution(
    values: Sequence[float] | np.ndarray,
    *,
    quantiles: Sequence[float] = (0.5, 0.75),
    n_resamples: int = 2000,
    quantile_method: str = "linear",
    random_state: int | np.random.Generator | Sequence[int] = 0,
) -> np.ndarray:
    """Percentiles of bootstrap resamples of facility values.

    Each resample takes ``n`` of the ``n`` facility values with replacement
    and computes the percentiles with ``quantile_method``. A percentile of a
    resample depends on one or two of its order statistics only, so instead
    of drawing and sorting ``n`` values per resample those order statistics
    are drawn from their exact joint distribution, for all resamples at once
    (see :func:`_resampled_order_statistics`): the same distribution as the
    textbook loop, at a cost that does not grow with the number of facilities.

    Parameters
    ----------
    values : array-like of shape (n_facilities,)
        Facility medians (canonical unit), at least one, all finite.
    quantiles : sequence of float, default (0.5, 0.75)
        Percentiles as fractions in [0, 1].
    n_resamples : int, default 2000
    quantile_method : str, default "linear"
        numpy percentile method used for each resample.
    random_state : int, sequence of int or numpy.random.Generator, default 0
        Seed (or generator) of ``numpy.random.default_rng``.

    Returns
    -------
    numpy.ndarray of shape (n_resamples, len(quantiles))
        The resampled percentiles, in the unit of ``values``.
    """
    check_quantile_method(quantile_method)
    v, q = _check_sample(values, quantiles)
    if v.size == 0:
        raise ValueError("values must hold at least one facility value")
    if isinstance(n_resamples, bool) or int(n_resamples) != n_resamples or n_resamples < 1:
        raise ValueError(f"n_resamples must be a whole number of at least 1, not {n_resamples!r}")
    rng = random_state if isinstance(random_state, np.random.Generator) else np.random.default_rng(random_state)
    n = v.size
    low, high, weight = _interpolation_plan(n, q, quantile_method)
    ranks = np.unique(np.concatenate([low, high]))
    resampled = np.sort(v)[_resampled_order_statistics(n, ranks, int(n_resamples), rng)]
    a = resampled[:, np.searchsorted(ranks, low)]
    b = resampled[:, np.searchsorted(ranks, high)]
    return a + weight * (b - a)


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    *,
    quantiles: Sequence[float] = (0.5, 0.75),
    n_resamples: int = 2000,
    quantile_method: str = "linear",
    confidence: float = CI_LEVEL,
    random_state: int | np.random.Generator | Sequence[int] = 0,
) -> np.ndarray:
    """Percentile-bootstrap confidence intervals of percentiles of facility values.

    Facilities are resampled with replacement (not exams), see
    :func:`bootstrap_distribution`; the interval is the ``(1 - confidence) / 2``
    and ``(1 + confidence) / 2`` percentiles of the resampled statistics.
    This interval is this project's addition; no authority prescribes it.

    Parameters
    ----------
    values : array-like of shape (n_facilities,)
        Facility medians (canonical unit), all finite.
    quantiles : sequence of float, default (0.5, 0.75)
    n_resamples : int, default 2000
    quantile_method : str, default "linear"
    confidence : float, default 0.95
    random_state : int, sequence of int or numpy.random.Generator, default 0

    Returns
    -------
    numpy.ndarray of shape (len(quantiles), 2)
        Lower and upper bound per percentile, in the unit of ``values``.
        NaN when there are fewer than 2 facilities (nothing to resample).
    """
    v, q = _check_sample(values, quantiles)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie between 0 and 1, not {confidence}")
    if v.size < 2:
        check_quantile_method(quantile_method)
        return np.full((q.size, 2), np.nan)
    stats = bootstrap_distribution(
        v, quantiles=q, n_resamples=n_resamples, quantile_method=quantile_method, random_state=random_state
    )
    alpha = (1.0 - confidence) / 2.0
    return np.quantile(stats, [alpha, 1.0 - alpha], axis=0).T


def _group_seed(random_state: int, exam_code: str, quantity: str, year: int | None) -> list[int]:
    # Each (exam, quantity, year) draws from its own stream, so an exam's
    # interval does not change when other exams or years enter the data.
    return [int(random_state), zlib.crc32(str(exam_code).encode("utf-8")), DOSE_QUANTITIES.index(quantity), int(year or 0)]


# --------------------------------------------------------------------------
# Selecting the values that count
# --------------------------------------------------------------------------


@dataclass
class _Prepared:
    """Exposures factorised once: integer codes and per-quantity masks."""

    n_rows: int
    exam_idx: np.ndarray  # -1 where the exam code is missing
    exam_codes: list[str]
    fac_idx: np.ndarray
    fac_source: list[str]
    fac_id: list[str]
    year_idx: np.ndarray  # -1 where the year is missing
    years: list[int]
    weight: np.ndarray
    ref_phantom: np.ndarray  # per exam, cm (NaN: none)
    values: dict[str, np.ndarray] = field(default_factory=dict)
    counted: dict[str, np.ndarray] = field(default_factory=dict)
    implausible: dict[str, np.ndarray] = field(default_factory=dict)
    phantom: dict[str, np.ndarray] = field(default_factory=dict)
    weight_out: dict[str, np.ndarray] = field(default_factory=dict)


def _labels(uniques) -> list[str]:
    return ["" if (u is None or (isinstance(u, float) and math.isnan(u)) or u is pd.NA) else str(u) for u in uniques]


def _reference_phantoms(
    catalogue: Catalogue, exam_codes: list[str], exam_idx: np.ndarray, phantom: np.ndarray
) -> np.ndarray:
    ref = np.array([catalogue.reference_phantom(c) or np.nan for c in exam_codes], dtype=float)
    need = np.flatnonzero(np.isnan(ref))
    if need.size:
        rows = np.isin(exam_idx, need) & ~np.isnan(phantom)
        if rows.any():
            # The catalogue gives no phantom (e.g. an unknown code): the one most
            # of the exam's rows use is its reference, ties to the larger (body)
            # phantom, so the two are still never pooled.
            counts = pd.DataFrame({"e": exam_idx[rows], "p": phantom[rows]}).value_counts().reset_index(name="n")
            counts = counts.sort_values(["e", "n", "p"], ascending=[True, False, False]).drop_duplicates("e")
            ref[counts["e"].to_numpy()] = counts["p"].to_numpy()
    return ref


def _prepare(
    exposures: pd.DataFrame,
    catalogue: Catalogue,
    *,
    weight_range_kg: tuple[float, float] | None,
    years: Iterable[int] | None,
) -> _Prepared:
    _check_exposures(exposures)
    if years is not None and "year" in exposures.columns:
        exposures = exposures[exposures["year"].isin([int(y) for y in years])]
    n = len(exposures)
    exam_idx, exam_uni = pd.factorize(exposures["exam_code"])
    exam_codes = _labels(exam_uni)
    blank = np.array([c.strip() == "" for c in exam_codes], dtype=bool)
    if blank.any():
        exam_idx = np.where(np.isin(exam_idx, np.flatnonzero(blank)), -1, exam_idx)
    src_idx, src_uni = pd.factorize(exposures["data_source"], use_na_sentinel=False)
    id_idx, id_uni = pd.factorize(exposures["facility_id"], use_na_sentinel=False)
    fac_idx, fac_uni = pd.factorize(src_idx.astype(np.int64) * max(len(id_uni), 1) + id_idx)
    src_labels, id_labels = _labels(src_uni), _labels(id_uni)
    fac_uni = np.asarray(fac_uni, dtype=np.int64)
    fac_source = [src_labels[k // max(len(id_uni), 1)] for k in fac_uni]
    fac_id = [id_labels[k % max(len(id_uni), 1)] for k in fac_uni]
    if "year" in exposures.columns:
        year_idx, year_uni = pd.factorize(exposures["year"])
        year_list = [int(y) for y in year_uni]
    else:
        year_idx, year_list = np.full(n, -1), []
    weight = exposures["weight_kg"].to_numpy(dtype=float, na_value=np.nan) if "weight_kg" in exposures else np.full(n, np.nan)
    phantom = (
        exposures["ctdi_phantom_cm"].to_numpy(dtype=float, na_value=np.nan)
        if "ctdi_phantom_cm" in exposures
        else np.full(n, np.nan)
    )
    ref = _reference_phantoms(catalogue, exam_codes, exam_idx, phantom)
    ref_row = np.append(ref, np.nan)[exam_idx]  # index -1 picks the NaN
    phantom_differs = ~np.isnan(phantom) & ~np.isnan(ref_row) & (phantom != ref_row)

    if "flags" in exposures.columns:
        flag_idx, flag_uni = pd.factorize(exposures["flags"], use_na_sentinel=False)
        flag_labels = _labels(flag_uni)
    else:
        flag_idx, flag_labels = np.zeros(n, dtype=np.intp), [""]

    if weight_range_kg is not None:
        lo, hi = weight_range_kg
        weight_ok = (weight >= lo) & (weight <= hi)  # a missing weight is outside
    prep = _Prepared(
        n_rows=n,
        exam_idx=np.asarray(exam_idx),
        exam_codes=exam_codes,
        fac_idx=np.asarray(fac_idx),
        fac_source=fac_source,
        fac_id=fac_id,
        year_idx=np.asarray(year_idx),
        years=year_list,
        weight=weight,
        ref_phantom=ref,
    )
    for q in DOSE_QUANTITIES:
        if q not in exposures.columns:
            continue
        v = exposures[q].to_numpy(dtype=float, na_value=np.nan)
        present = ~np.isnan(v) & (prep.exam_idx >= 0)
        bad_flag = np.array([is_implausible(f, q) for f in flag_labels], dtype=bool)
        implausible = present & bad_flag[flag_idx]
        rest = present & ~implausible
        phantom_out = rest & phantom_differs if q in CT_QUANTITIES else np.zeros(n, dtype=bool)
        rest &= ~phantom_out
        if weight_range_kg is not None and q not in WEIGHT_EXEMPT_QUANTITIES:
            weight_out = rest & ~weight_ok
        else:
            weight_out = np.zeros(n, dtype=bool)
        prep.values[q] = v
        prep.counted[q] = rest & ~weight_out
        prep.implausible[q] = implausible
        prep.phantom[q] = phantom_out
        prep.weight_out[q] = weight_out
    return prep


# --------------------------------------------------------------------------
# Facility values and the DRL table
# --------------------------------------------------------------------------


def _facility_frame(
    prep: _Prepared, *, facility_statistic: str, by_year: bool, drl_by_exam: dict[str, np.ndarray]
) -> pd.DataFrame:
    """One row per exam, quantity, (year) and facility with its counted exams."""
    n_fac = max(len(prep.fac_source), 1)
    n_year = max(len(prep.years), 1)
    parts = []
    for q, counted in prep.counted.items():
        sel = counted & (prep.year_idx >= 0) if by_year else counted
        if not sel.any():
            continue
        e = prep.exam_idx[sel].astype(np.int64)
        y = prep.year_idx[sel].astype(np.int64) if by_year else np.zeros(e.size, dtype=np.int64)
        key = (e * n_year + y) * n_fac + prep.fac_idx[sel]
        gid, uni = pd.factorize(key)
        vals = prep.values[q][sel]
        size = np.bincount(gid)
        if facility_statistic == "median":
            value = pd.Series(vals).groupby(gid, sort=True).median().to_numpy()
        else:
            value = np.bincount(gid, weights=vals) / size
        above = vals > drl_by_exam[q][e]  # a missing DRL compares False
        w = prep.weight[sel]
        has_w = ~np.isnan(w)
        uni = np.asarray(uni, dtype=np.int64)
        parts.append(
            pd.DataFrame(
                {
                    "exam_i": uni // (n_year * n_fac),
                    "quantity": q,
                    "year_i": (uni // n_fac) % n_year if by_year else -1,
                    "fac_i": uni % n_fac,
                    "n_exams": size,
                    "value": value,
                    "n_above": np.bincount(gid, weights=above).astype(np.int64),
                    "weight_sum": np.bincount(gid, weights=np.where(has_w, w, 0.0)),
                    "weight_n": np.bincount(gid, weights=has_w).astype(np.int64),
                }
            )
        )
    if not parts:
        return pd.DataFrame(
            {c: pd.Series(dtype=t) for c, t in [("exam_i", "int64"), ("quantity", "object"), ("year_i", "int64"),
                                                ("fac_i", "int64"), ("n_exams", "int64"), ("value", "float64"),
                                                ("n_above", "int64"), ("weight_sum", "float64"), ("weight_n", "int64")]}
        )
    return pd.concat(parts, ignore_index=True)


def _exclusion_counts(prep: _Prepared, by_year: bool) -> dict[tuple[int, str, int], tuple[int, int, int]]:
    n_year = max(len(prep.years), 1)
    out: dict[tuple[int, str, int], tuple[int, int, int]] = {}
    for q in prep.counted:
        ok = prep.exam_idx >= 0
        if by_year:
            ok &= prep.year_idx >= 0
        key = prep.exam_idx.astype(np.int64) * n_year + (prep.year_idx if by_year else 0)
        size = len(prep.exam_codes) * n_year
        counts = [np.bincount(key[ok & m[q]], minlength=size) for m in (prep.implausible, prep.phantom, prep.weight_out)]
        for k in np.flatnonzero(counts[0] + counts[1] + counts[2]):
            out[(int(k // n_year), q, int(k % n_year) if by_year else -1)] = (
                int(counts[0][k]),
                int(counts[1][k]),
                int(counts[2][k]),
            )
    return out


def format_years(years: Iterable[int] | None) -> str:
    """Years as a compact label: ``[2019, 2021, 2022, 2023]`` -> ``"2019,2021-2023"``.

    An empty or missing list gives ``""``.
    """
    runs: list[list[int]] = []
    for y in sorted({int(y) for y in years or []}):
        if runs and y == runs[-1][1] + 1:
            runs[-1][1] = y
        else:
            runs.append([y, y])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def _current_drls(
    catalogue: Catalogue, exam_codes: list[str], edition: str | None
) -> tuple[dict[str, np.ndarray], dict[tuple[int, str], str]]:
    values: dict[str, np.ndarray] = {}
    editions: dict[tuple[int, str], str] = {}
    for q in DOSE_QUANTITIES:
        arr = np.full(len(exam_codes), np.nan)
        for i, code in enumerate(exam_codes):
            value, ed = catalogue.current_drl(code, q, edition)
            if value is not None:
                arr[i] = value
                editions[(i, q)] = ed or ""
        values[q] = arr
    return values, editions


def _summarise(
    prep: _Prepared,
    catalogue: Catalogue,
    *,
    by_year: bool,
    min_per_facility: int,
    quantile_method: str,
    facility_statistic: str,
    edition: str | None,
    n_bootstrap: int,
    random_state: int,
    parameters: dict[str, object],
    facilities: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One table row per exam, quantity (and year); ``facilities`` may pass
    the :func:`_facility_frame` computed already for the same options."""
    drl_values, drl_editions = _current_drls(catalogue, prep.exam_codes, edition)
    if facilities is None:
        facilities = _facility_frame(prep, facility_statistic=facility_statistic, by_year=by_year,
                                     drl_by_exam=drl_values)
    excluded = _exclusion_counts(prep, by_year)
    names = {c: (catalogue.exam_name(c) or "") for c in prep.exam_codes}
    rows = []
    facilities = facilities.sort_values(["exam_i", "quantity", "year_i", "value"], kind="stable")
    for (e, q, y), grp in facilities.groupby(["exam_i", "quantity", "year_i"], sort=False):
        ok = grp["n_exams"].to_numpy() >= min_per_facility
        if not ok.any():
            continue
        code = prep.exam_codes[e]
        year = prep.years[y] if by_year else None
        counted = grp[ok]
        values = counted["value"].to_numpy()
        stats = quartiles(values, quantile_method=quantile_method)
        ci = np.full((2, 2), np.nan)
        if n_bootstrap > 0:
            ci = bootstrap_ci(
                values,
                quantiles=(0.5, 0.75),
                n_resamples=n_bootstrap,
                quantile_method=quantile_method,
                random_state=_group_seed(random_state, code, q, year),
            )
        drl = float(drl_values[q][e])
        n_exams = int(counted["n_exams"].sum())
        weight_n = int(counted["weight_n"].sum())
        has_drl = not math.isnan(drl)
        excl = excluded.get((int(e), q, int(y)), (0, 0, 0))
        row = {
            "exam_code": code,
            "exam_name": names[code],
            "quantity": q,
            "n_facilities": int(ok.sum()),
            "n_exams": n_exams,
            **stats,
            "p75_ci_low": ci[1, 0],
            "p75_ci_high": ci[1, 1],
            "current_drl": drl,
            "drl_edition": drl_editions.get((int(e), q), ""),
            "share_facilities_above_drl": float(np.mean(values > drl)) if has_drl else math.nan,
            "share_exams_above_drl": float(counted["n_above"].sum() / n_exams) if has_drl else math.nan,
            "unit": QUANTITIES[q].unit,
            "p50_ci_low": ci[0, 0],
            "p50_ci_high": ci[0, 1],
            "p75_to_drl": stats["p75"] / drl if has_drl and drl != 0 else math.nan,
            "n_facilities_below_min": int((~ok).sum()),
            "n_exams_below_min": int(grp.loc[~ok, "n_exams"].sum()),
            "n_excluded_implausible": excl[0],
            "n_excluded_phantom": excl[1],
            "n_excluded_weight": excl[2],
            "ctdi_phantom_cm": float(prep.ref_phantom[e]) if q in CT_QUANTITIES else math.nan,
            "mean_weight_kg": float(counted["weight_sum"].sum() / weight_n) if weight_n else math.nan,
        }
        if by_year:
            row["year"] = year
        row.update({k: parameters[k] for k in PARAMETER_COLUMNS})
        rows.append(row)
    columns = [*CONTRACT_COLUMNS, *(["year"] if by_year else []), *DETAIL_COLUMNS, *PARAMETER_COLUMNS]
    table = pd.DataFrame(rows, columns=columns)
    table["_q"] = table["quantity"].map(DOSE_QUANTITIES.index)
    order = ["exam_code", "_q", *(["year"] if by_year else [])]
    table = table.sort_values(order, kind="stable").drop(columns="_q").reset_index(drop=True)
    for c in ("n_facilities", "n_exams", "n_facilities_below_min", "n_exams_below_min",
              "n_excluded_implausible", "n_excluded_phantom", "n_excluded_weight"):
        table[c] = table[c].astype("int64")
    if by_year:
        table["year"] = table["year"].astype("int64")
    return table


def _catalogue_label(catalogue: Catalogue) -> str:
    # Only the file name: outputs must not carry the paths of anyone's machine.
    return "shipped" if Path(catalogue.source) == CATALOGUE_FILE else Path(catalogue.source).name


def drl_parameters(
    catalogue: Catalogue | None = None,
    *,
    min_per_facility: int = 10,
    quantile_method: str = "linear",
    facility_statistic: str = "median",
    weight_range_kg: tuple[float, float] | None = None,
    edition: str | None = None,
    years: Iterable[int] | None = None,
    years_in_data: Iterable[int] | None = None,
    n_bootstrap: int = 2000,
    random_state: int = 0,
) -> dict[str, object]:
    """The parameters that every DRL output states, as plain JSON values.

    ``years`` is the requested filter (None: all); the ``years`` entry shows
    it, or the years present in the data (``years_in_data``) when there is none.
    """
    catalogue = catalogue or load_catalogue()
    requested = format_years(years) if years is not None else ""
    return {
        "facility_statistic": facility_statistic,
        "quantile_method": quantile_method,
        "min_per_facility": int(min_per_facility),
        "years": requested or format_years(years_in_data),
        "years_requested": requested or "all",
        "weight_range_kg": "" if weight_range_kg is None else f"{weight_range_kg[0]:g}-{weight_range_kg[1]:g}",
        "weight_range_exempt": ",".join(WEIGHT_EXEMPT_QUANTITIES) if weight_range_kg is not None else "",
        "edition_requested": edition or "newest",
        "catalogue": _catalogue_label(catalogue),
        "catalogue_editions": ",".join(catalogue.editions),
        "bootstrap_resamples": int(n_bootstrap),
        "seed": int(random_state),
        "ci_method": CI_METHOD if n_bootstrap > 0 else "none (bootstrap disabled)",
        "drl_definition": "p75 of facility medians (facility means if facility_statistic is 'mean')",
        "share_exams_above_drl": "exams of counted facilities with a value above the current DRL",
        "package_version": __version__,
    }


@dataclass
class DrlResult:
    """The DRL tables of one run and what they were computed from.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per exam code and quantity (see :func:`drl_table`).
    by_year : pandas.DataFrame
        The same per survey year (see :func:`drl_by_year`).
    facilities : pandas.DataFrame
        Facility values of every exam and quantity (see :func:`facility_medians`).
    parameters : dict
        What every output states (see :func:`drl_parameters`).
    n_exposures : int
        Exposures the tables were computed from (after the year filter).
    exposures : pandas.DataFrame, optional
        Those exposures, for figures of single exams.
    catalogue : Catalogue, optional
    weight_range_kg : (float, float), optional
        The weight range applied, in kg.
    """

    table: pd.DataFrame
    by_year: pd.DataFrame
    facilities: pd.DataFrame
    parameters: dict[str, object]
    n_exposures: int
    exposures: pd.DataFrame | None = field(default=None, repr=False)
    catalogue: Catalogue | None = field(default=None, repr=False)
    weight_range_kg: tuple[float, float] | None = None

    def counted_values(self, exam_code: str, quantity: str) -> pd.DataFrame:
        """The exposures of one exam that entered these tables (see :func:`counted_values`)."""
        if self.exposures is None:
            raise ValueError("this result keeps no exposures")
        return counted_values(self.exposures, exam_code, quantity, self.catalogue,
                              weight_range_kg=self.weight_range_kg)


def _facilities_out(prep: _Prepared, frame: pd.DataFrame, by_year: bool, min_per_facility: int) -> pd.DataFrame:
    out = pd.DataFrame(
        {
            "exam_code": [prep.exam_codes[i] for i in frame["exam_i"]],
            "quantity": frame["quantity"].to_numpy(),
            "data_source": [prep.fac_source[i] for i in frame["fac_i"]],
            "facility_id": [prep.fac_id[i] for i in frame["fac_i"]],
            "n_exams": frame["n_exams"].to_numpy(),
            "value": frame["value"].to_numpy(),
            "counted": frame["n_exams"].to_numpy() >= min_per_facility,
        }
    )
    if by_year:
        out.insert(2, "year", np.array([prep.years[i] for i in frame["year_i"]], dtype=np.int64))
    out["_q"] = out["quantity"].map(DOSE_QUANTITIES.index)
    keys = ["exam_code", "_q", *(["year"] if by_year else []), "data_source", "facility_id"]
    return out.sort_values(keys, kind="stable").drop(columns="_q").reset_index(drop=True)


def _setup(
    exposures: pd.DataFrame,
    catalogue: Catalogue | None,
    *,
    min_per_facility: int,
    quantile_method: str,
    facility_statistic: str,
    weight_range_kg: tuple[float, float] | None,
    edition: str | None,
    years: Iterable[int] | None,
    n_bootstrap: int,
    random_state: int,
) -> tuple[Catalogue, _Prepared, dict[str, object], list[int] | None]:
    """Validate the options, prepare the exposures once, and collect what
    :func:`_summarise` needs (with the parameters every output states)."""
    catalogue = catalogue or load_catalogue()
    _check_options(min_per_facility, quantile_method, facility_statistic, weight_range_kg, n_bootstrap, random_state)
    edition = check_edition(catalogue, edition)
    years = None if years is None else sorted({int(y) for y in years})
    prep = _prepare(exposures, catalogue, weight_range_kg=weight_range_kg, years=years)
    params = drl_parameters(
        catalogue, min_per_facility=min_per_facility, quantile_method=quantile_method,
        facility_statistic=facility_statistic, weight_range_kg=weight_range_kg, edition=edition, years=years,
        years_in_data=prep.years, n_bootstrap=n_bootstrap, random_state=random_state,
    )
    common = dict(
        min_per_facility=min_per_facility, quantile_method=quantile_method, facility_statistic=facility_statistic,
        edition=edition, n_bootstrap=n_bootstrap, random_state=random_state, parameters=params,
    )
    return catalogue, prep, common, years


def compute_drl(
    exposures: pd.DataFrame,
    catalogue: Catalogue | None = None,
    *,
    min_per_facility: int = 10,
    quantile_method: str = "linear",
    facility_statistic: str = "median",
    weight_range_kg: tuple[float, float] | None = None,
    edition: str | None = None,
    years: Iterable[int] | None = None,
    n_bootstrap: int = 2000,
    random_state: int = 0,
) -> DrlResult:
    """The DRL table, the table per year and the facility values in one pass.

    Parameters are those of :func:`drl_table`; the exposures are prepared
    once for all three results.

    Returns
    -------
    DrlResult
    """
    catalogue, prep, common, years = _setup(
        exposures, catalogue, min_per_facility=min_per_facility, quantile_method=quantile_method,
        facility_statistic=facility_statistic, weight_range_kg=weight_range_kg, edition=edition, years=years,
        n_bootstrap=n_bootstrap, random_state=random_state,
    )
    drl_values, _ = _current_drls(catalogue, prep.exam_codes, common["edition"])
    frame = _facility_frame(prep, facility_statistic=facility_statistic, by_year=False, drl_by_exam=drl_values)
    table = _summarise(prep, catalogue, by_year=False, facilities=frame, **common)
    by_year = _summarise(prep, catalogue, by_year=True, **common)
    facilities = _facilities_out(prep, frame, False, min_per_facility)
    if years is not None and "year" in exposures.columns:
        exposures = exposures[exposures["year"].isin(years)]
    return DrlResult(
        table=table, by_year=by_year, facilities=facilities, parameters=common["parameters"], n_exposures=prep.n_rows,
        exposures=exposures, catalogue=catalogue, weight_range_kg=weight_range_kg,
    )


def pick_exam(table: pd.DataFrame, exam_code: str | None = None) -> tuple[str, str]:
    """The (exam code, quantity) with the most counted facilities, for figures.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`drl_table`.
    exam_code : str, optional
        Choose among this exam's quantities only; None or "" chooses among
        all rows, preferring those with a current DRL.

    Raises
    ------
    UserError
        If ``exam_code`` has no row in the table.
    """
    rows = table
    if exam_code:
        rows = table[table["exam_code"].astype(str) == str(exam_code)]
        if rows.empty:
            raise UserError(f"exam_code: the DRL table has no row for exam {exam_code!r}")
    if table.empty:
        raise UserError("the DRL table is empty: no facility has enough exams")
    ranked = rows.assign(_drl=rows["current_drl"].notna()).sort_values(
        ["_drl", "n_facilities", "exam_code"], ascending=[False, False, True], kind="stable"
    )
    best = ranked.iloc[0]
    return str(best["exam_code"]), str(best["quantity"])


def drl_table(
    exposures: pd.DataFrame,
    catalogue: Catalogue | None = None,
    *,
    min_per_facility: int = 10,
    quantile_method: str = "linear",
    facility_statistic: str = "median",
    weight_range_kg: tuple[float, float] | None = None,
    edition: str | None = None,
    years: Iterable[int] | None = None,
    n_bootstrap: int = 2000,
    random_state: int = 0,
) -> pd.DataFrame:
    """Proposed DRLs: quartiles of facility medians per exam code and dose quantity.

    Parameters
    ----------
    exposures : pandas.DataFrame of shape (n_exposures, ...)
        As :func:`drl_analysis.store.database.load_exposures` returns: at least
        ``data_source, facility_id, exam_code`` and dose columns in canonical
        units (``dap_cgycm2`` cGy·cm², ``agd_mgy`` mGy, ``dlp_mgycm`` mGy·cm,
        ``ctdivol_mgy`` mGy); optionally ``year``, ``ctdi_phantom_cm`` (cm),
        ``weight_kg`` (kg) and ``flags``.
    catalogue : Catalogue, optional
        Exam names, reference phantoms and current DRLs (default: shipped).
    min_per_facility : int, default 10
        A facility counts for an exam and quantity only with at least this
        many counted exams.
    quantile_method : str, default "linear"
        numpy percentile method (:data:`QUANTILE_METHODS`).
    facility_statistic : {"median", "mean"}, default "median"
        "mean" reproduces German practice before the 2022 edition.
    weight_range_kg : (float, float), optional
        Keep only patients whose weight lies in this closed range in kg
        (standard-size adults: ``(50, 90)``); patients without a weight are
        left out and counted. Not applied to ``agd_mgy`` (mammography
        covers all breast sizes). Default: no restriction.
    edition : str, optional
        Catalogue edition for the current DRL; None takes, per exam and
        quantity, the newest edition that gives one.
    years : iterable of int, optional
        Keep only exposures of these survey years.
    n_bootstrap : int, default 2000
        Bootstrap resamples for the confidence intervals; 0 leaves them empty.
    random_state : int, default 0
        Seed of the bootstrap; each exam, quantity and year draws from its
        own stream ``numpy.random.default_rng([seed, crc32(exam), quantity, year])``.

    Returns
    -------
    pandas.DataFrame
        One row per (exam code, quantity) with at least one counted facility,
        sorted by exam code and quantity. Columns :data:`CONTRACT_COLUMNS`,
        then :data:`DETAIL_COLUMNS`, then :data:`PARAMETER_COLUMNS`. Dose
        columns (``p25 ... current_drl``, CI bounds) are in the quantity's
        canonical unit (column ``unit``); shares are fractions in [0, 1];
        ``n_exams`` and ``share_exams_above_drl`` count the exams of counted
        facilities. ``current_drl`` is NaN and ``drl_edition`` empty where the
        catalogue gives no DRL (e.g. unknown exam codes).
    """
    return _one_table(
        exposures, catalogue, False, min_per_facility=min_per_facility, quantile_method=quantile_method,
        facility_statistic=facility_statistic, weight_range_kg=weight_range_kg, edition=edition, years=years,
        n_bootstrap=n_bootstrap, random_state=random_state,
    )


def _one_table(exposures, catalogue, by_year: bool, **options) -> pd.DataFrame:
    catalogue, prep, common, _ = _setup(exposures, catalogue, **options)
    return _summarise(prep, catalogue, by_year=by_year, **common)


def drl_by_year(
    exposures: pd.DataFrame,
    catalogue: Catalogue | None = None,
    *,
    min_per_facility: int = 10,
    quantile_method: str = "linear",
    facility_statistic: str = "median",
    weight_range_kg: tuple[float, float] | None = None,
    edition: str | None = None,
    years: Iterable[int] | None = None,
    n_bootstrap: int = 2000,
    random_state: int = 0,
) -> pd.DataFrame:
    """The DRL table per survey year, for trends.

    Parameters are those of :func:`drl_table`; facilities count per year
    (a facility needs ``min_per_facility`` exams in that year). Exposures
    without a year are left out.

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`drl_table` with ``year`` (int) after the
        contract columns, sorted by exam code, quantity and year.
    """
    return _one_table(
        exposures, catalogue, True, min_per_facility=min_per_facility, quantile_method=quantile_method,
        facility_statistic=facility_statistic, weight_range_kg=weight_range_kg, edition=edition, years=years,
        n_bootstrap=n_bootstrap, random_state=random_state,
    )


def facility_medians(
    exposures: pd.DataFrame,
    catalogue: Catalogue | None = None,
    *,
    min_per_facility: int = 10,
    facility_statistic: str = "median",
    weight_range_kg: tuple[float, float] | None = None,
    years: Iterable[int] | None = None,
    by_year: bool = False,
) -> pd.DataFrame:
    """Each facility's median (or mean) per exam and quantity, after the exclusions.

    The same selection as :func:`drl_table`: implausible values, values of
    the other CTDI phantom and (with ``weight_range_kg``) patients outside
    the weight range are left out.

    Returns
    -------
    pandas.DataFrame
        ``exam_code, quantity, [year,] data_source, facility_id, n_exams,
        value, counted``: ``value`` in the quantity's canonical unit,
        ``counted`` whether the facility has at least ``min_per_facility``
        exams. Sorted by exam code, quantity, (year,) facility.
    """
    catalogue = catalogue or load_catalogue()
    _check_options(min_per_facility, "linear", facility_statistic, weight_range_kg, 0, 0)
    prep = _prepare(exposures, catalogue, weight_range_kg=weight_range_kg, years=years)
    nan_drl = {q: np.full(len(prep.exam_codes), np.nan) for q in DOSE_QUANTITIES}
    frame = _facility_frame(prep, facility_statistic=facility_statistic, by_year=by_year, drl_by_exam=nan_drl)
    return _facilities_out(prep, frame, by_year, min_per_facility)


def counted_values(
    exposures: pd.DataFrame,
    exam_code: str,
    quantity: str,
    catalogue: Catalogue | None = None,
    *,
    weight_range_kg: tuple[float, float] | None = None,
    years: Iterable[int] | None = None,
) -> pd.DataFrame:
    """The exposures of one exam that enter its statistics, with their dose value.

    Parameters
    ----------
    exposures : pandas.DataFrame
    exam_code : str
    quantity : str
        One of :data:`drl_analysis.core.columns.DOSE_QUANTITIES`.
    catalogue : Catalogue, optional
    weight_range_kg : (float, float), optional
    years : iterable of int, optional

    Returns
    -------
    pandas.DataFrame
        ``data_source, facility_id, year, value, weight_kg``: ``value`` in the
        quantity's canonical unit, one row per counted exposure (regardless
        of the facility minimum), in the input's order.
    """
    if quantity not in DOSE_QUANTITIES:
        raise ValueError(f"quantity must be one of {', '.join(DOSE_QUANTITIES)}, not {quantity!r}")
    catalogue = catalogue or load_catalogue()
    if years is not None:
        exposures = exposures[exposures["year"].isin([int(y) for y in years])]
    sub = exposures[exposures["exam_code"].astype(str) == str(exam_code)]
    prep = _prepare(sub, catalogue, weight_range_kg=weight_range_kg, years=None)
    mask = prep.counted.get(quantity, np.zeros(len(sub), dtype=bool))
    rows = sub.loc[mask]
    return pd.DataFrame(
        {
            "data_source": rows["data_source"].astype(str).to_numpy(),
            "facility_id": rows["facility_id"].astype(str).to_numpy(),
            "year": rows["year"].to_numpy() if "year" in rows else np.full(len(rows), -1),
            "value": rows[quantity].to_numpy(dtype=float),
            "weight_kg": rows["weight_kg"].to_numpy(dtype=float) if "weight_kg" in rows else np.nan,
        }
    )


def facility_values(
    exposures: pd.DataFrame,
    quantity: str,
    *,
    min_per_facility: int = 10,
    statistic: str = "median",
    by: tuple[str, ...] = ("exam_code",),
) -> pd.DataFrame:
    """Each facility's median (or mean) of one dose quantity per exam.

    A plain grouping without the exclusions of :func:`drl_table`; use
    :func:`facility_medians` for the values the DRL statistics use.

    Parameters
    ----------
    exposures : pandas.DataFrame
        Exposures with ``data_source, facility_id`` and the ``quantity`` column
        (canonical units); rows where the quantity is missing are ignored.
    quantity : str
        A dose column, e.g. ``"ctdivol_mgy"``.
    min_per_facility : int, default 10
        A facility counts only with at least this many exposures in a group.
    statistic : {"median", "mean"}, default "median"
        "mean" reproduces German practice before 2022.
    by : tuple of str, default ("exam_code",)
        Further grouping columns, e.g. ``("exam_code", "year")``.

    Returns
    -------
    pandas.DataFrame
        One row per group and facility: the ``by`` columns, ``data_source``,
        ``facility_id``, ``n_exams`` and ``value`` (canonical units), sorted.
    """
    if statistic not in ("median", "mean"):
        raise ValueError(f"statistic must be 'median' or 'mean', not {statistic!r}")
    keys = [*by, *FACILITY_KEYS]
    data = exposures.loc[exposures[quantity].notna(), [*keys, quantity]]
    grouped = data.groupby(keys, sort=True, observed=True)[quantity]
    out = grouped.agg(["size", statistic]).reset_index()
    out = out.rename(columns={"size": "n_exams", statistic: "value"})
    out = out[out["n_exams"] >= min_per_facility]
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------
# Reading the database and writing the outputs
# --------------------------------------------------------------------------


def _years_arg(years: str | int | Sequence[str | int] | None) -> list[int] | None:
    from ..cli import parse_years

    if years is None or years == "":
        return None
    if isinstance(years, (str, int)):
        years = [years]
    return parse_years([str(y) for y in years])


def _check_db(db_url: str) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(db_url)
    except ArgumentError:
        raise UserError(f"--db: {db_url!r} is not a database URL such as sqlite:///drl.sqlite") from None
    # Opening a missing SQLite file would create an empty database silently.
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        if not Path(url.database).is_file():
            raise UserError(f"--db: there is no database file {url.database} (ingest survey files first)")
    return db_url


def drl_from_database(
    db_url: str = "",
    *,
    years: str | Sequence[str | int] | None = None,
    catalogue: Catalogue | str | Path | None = None,
    min_per_facility: int = 10,
    quantile_method: str = "linear",
    facility_statistic: str = "median",
    weight_range_kg: tuple[float, float] | str | None = None,
    edition: str | None = None,
    n_bootstrap: int = 2000,
    random_state: int = 0,
) -> DrlResult:
    """Load the stored exposures and compute the DRL tables.

    Parameters
    ----------
    db_url : str, default ""
        SQLAlchemy URL; "" takes the package's default SQLite database.
    years : str or sequence, optional
        ``"2021-2023"``, ``"2021,2023"``, ``[2022, 2023]``; None or "" for all.
    catalogue : Catalogue, str or Path, optional
        A catalogue or its CSV file (default: the shipped one).
    weight_range_kg : (float, float) or str, optional
        ``(50, 90)`` or ``"50-90"``; None or "" for no restriction.
    min_per_facility, quantile_method, facility_statistic, edition, n_bootstrap, random_state
        As in :func:`drl_table`; ``edition=""`` means the newest.

    Returns
    -------
    DrlResult

    Raises
    ------
    UserError
        For a missing database, no exposures in the selected years, or a bad parameter.
    """
    from ..cli import parse_range
    from ..core.paths import default_db_url
    from ..store.database import load_exposures

    year_list = _years_arg(years)
    if isinstance(weight_range_kg, str):
        weight_range_kg = parse_range(weight_range_kg, "weight_range_kg") if weight_range_kg else None
    if not isinstance(catalogue, Catalogue):
        catalogue = load_catalogue(catalogue)
    check_quantile_method(quantile_method)
    edition = check_edition(catalogue, edition or None)
    url = _check_db(db_url or default_db_url())
    exposures = load_exposures(url, year_list)
    if exposures.empty:
        which = f" for the years {format_years(year_list)}" if year_list else ""
        raise UserError(f"--db: the database holds no exposures{which}")
    return compute_drl(
        exposures,
        catalogue,
        min_per_facility=min_per_facility,
        quantile_method=quantile_method,
        facility_statistic=facility_statistic,
        weight_range_kg=weight_range_kg,
        edition=edition,
        years=year_list,
        n_bootstrap=n_bootstrap,
        random_state=random_state,
    )


def round_significant(values: np.ndarray | pd.Series, digits: int = 3) -> np.ndarray:
    """Round to ``digits`` significant figures (NaN stays NaN), for readers only.

    >>> round_significant(np.array([1234.5, 0.012345, 0.0]), 3).tolist()
    [1230.0, 0.0123, 0.0]
    """
    x = np.asarray(values, dtype=float)
    out = x.copy()
    ok = np.isfinite(x) & (x != 0)
    decimals = digits - 1 - np.floor(np.log10(np.abs(x[ok]))).astype(int)
    out[ok] = [round(float(v), int(d)) for v, d in zip(x[ok], decimals)]
    return out


def _reader_columns(unit: str, min_per_facility: int, by_year: bool, ct: bool) -> dict[str, str]:
    cols = {
        "exam_code": "Exam code",
        "exam_name": "Exam",
        **({"year": "Year"} if by_year else {}),
        "n_facilities": "Facilities counted",
        "n_exams": "Exams counted",
        "p25": f"P25 [{unit}]",
        "p50": f"P50, achievable dose [{unit}]",
        "p75": f"P75, proposed DRL [{unit}]",
        "qcd": "QCD",
        "p75_ci_low": f"P75 95 % CI low* [{unit}]",
        "p75_ci_high": f"P75 95 % CI high* [{unit}]",
        "p50_ci_low": f"P50 95 % CI low* [{unit}]",
        "p50_ci_high": f"P50 95 % CI high* [{unit}]",
        "current_drl": f"Current DRL [{unit}]",
        "drl_edition": "DRL edition",
        "p75_to_drl": "P75 / current DRL",
        "share_facilities_above_drl": "Facilities above current DRL [%]",
        "share_exams_above_drl": "Exams above current DRL [%]",
        "n_facilities_below_min": f"Facilities left out (< {min_per_facility} exams)",
        "n_exams_below_min": "Exams of facilities left out",
        "n_excluded_implausible": "Values left out: flagged implausible",
        "n_excluded_phantom": "Values left out: other CTDI phantom",
        "n_excluded_weight": "Values left out: weight outside range or missing",
        "mean_weight_kg": "Mean weight of counted patients [kg]",
        "ctdi_phantom_cm": "CTDI phantom [cm]",
    }
    if not ct:
        del cols["n_excluded_phantom"], cols["ctdi_phantom_cm"]
    return cols


def _reader_table(table: pd.DataFrame, quantity: str, min_per_facility: int, by_year: bool) -> pd.DataFrame:
    unit = QUANTITIES[quantity].unit
    cols = _reader_columns(unit, min_per_facility, by_year, quantity in CT_QUANTITIES)
    sub = table[table["quantity"] == quantity]
    out = pd.DataFrame(index=sub.index)
    for col, label in cols.items():
        v = sub[col]
        if col in ("p25", "p50", "p75", "p75_ci_low", "p75_ci_high", "p50_ci_low", "p50_ci_high", "current_drl"):
            v = round_significant(v.to_numpy(dtype=float), 3)
        elif col == "qcd":
            v = v.round(3)
        elif col == "p75_to_drl":
            v = v.round(2)
        elif col.startswith("share_"):
            v = (v * 100).round(1)
        elif col == "mean_weight_kg":
            v = v.round(1)
        out[label] = v
    return out.reset_index(drop=True)


def _parameter_rows(parameters: dict[str, object]) -> pd.DataFrame:
    meaning = {
        "facility_statistic": "A facility's value per exam: its median (or mean, pre-2022 German practice)",
        "quantile_method": "numpy percentile method of p25, p50, p75 (linear = Excel QUARTILE.INC)",
        "min_per_facility": "A facility counts only with at least this many exams of the exam and quantity",
        "years": "Survey years used",
        "years_requested": "Year filter given by the user",
        "weight_range_kg": "Patients kept, kg (empty: all)",
        "weight_range_exempt": "Quantities the weight range does not restrict (mammography: all breast sizes)",
        "edition_requested": "Catalogue edition of the current DRL (newest: the newest per exam and quantity)",
        "catalogue": "Exam catalogue",
        "catalogue_editions": "Editions the catalogue knows",
        "bootstrap_resamples": "Bootstrap resamples of facilities for the confidence intervals",
        "seed": "Seed of the bootstrap",
        "ci_method": "* Confidence intervals",
        "drl_definition": "Proposed DRL",
        "share_exams_above_drl": "Share of exams above the current DRL",
        "package_version": "drl-analysis version",
    }
    rows = [{"Parameter": k, "Value": str(v), "Meaning": meaning.get(k, "")} for k, v in parameters.items()]
    rows.append({
        "Parameter": "rounding",
        "Value": "doses 3 significant figures, QCD 3 decimals, shares 0.1 %",
        "Meaning": "This workbook rounds for readers; the CSV files keep full precision",
    })
    return pd.DataFrame(rows)


def _format_sheet(ws, widths: Sequence[int], freeze: str) -> None:
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for i, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = w
    ws.freeze_panes = freeze


def write_drl_xlsx(result: DrlResult, path: str | Path) -> Path:
    """Write both tables for readers: one sheet per table and quantity (units in
    the headers, rounded, header row and exam columns frozen) and a sheet
    ``Parameters`` stating how they were computed."""
    path = Path(path)
    min_n = int(result.parameters["min_per_facility"])
    with pd.ExcelWriter(path, engine="openpyxl") as xw:
        for prefix, table, by_year in (("DRL", result.table, False), ("By year", result.by_year, True)):
            present = [q for q in DOSE_QUANTITIES if (table["quantity"] == q).any()]
            for q in present:
                name = f"{prefix} {QUANTITIES[q].label} ({QUANTITIES[q].unit})"
                frame = _reader_table(table, q, min_n, by_year)
                frame.to_excel(xw, sheet_name=name, index=False)
                widths = [10, 34, *([7] if by_year else []), *[14] * (frame.shape[1] - (3 if by_year else 2))]
                _format_sheet(xw.sheets[name], widths, "D2" if by_year else "C2")
        params = _parameter_rows(result.parameters)
        params.to_excel(xw, sheet_name="Parameters", index=False)
        _format_sheet(xw.sheets["Parameters"], [24, 60, 70], "A2")
    return path


def write_drl_outputs(result: DrlResult, out_dir: str | Path | None = None) -> dict[str, Path]:
    """Write ``drl_table.csv``, ``drl_by_year.csv``, ``drl_tables.xlsx`` and
    ``drl_parameters.json`` into ``out_dir``.

    Parameters
    ----------
    result : DrlResult
    out_dir : str or Path, optional
        Created if missing; default ``data/processed/drl`` of the project.

    Returns
    -------
    dict of str to Path
        The written files by kind (keys of :data:`OUTPUT_FILES`).
    """
    out = Path(out_dir) if out_dir else PROCESSED_DIR / "drl"
    out.mkdir(parents=True, exist_ok=True)
    paths = {k: out / v for k, v in OUTPUT_FILES.items()}
    # CSV keeps full precision (shortest repr that round-trips).
    result.table.to_csv(paths["table"], index=False, lineterminator="\n")
    result.by_year.to_csv(paths["by_year"], index=False, lineterminator="\n")
    write_drl_xlsx(result, paths["xlsx"])
    doc = {
        "parameters": result.parameters,
        "n_exposures": int(result.n_exposures),
        "rows": {"drl_table": int(len(result.table)), "drl_by_year": int(len(result.by_year))},
        "files": [p.name for p in paths.values()],
    }
    paths["parameters"].write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return paths


def command(args: argparse.Namespace) -> int:
    """``drl-analysis drl``: compute the DRL tables from the database and write them.

    Returns
    -------
    int
        Exit status 0.
    """
    from ..cli import parse_range

    check_quantile_method(args.quantile_method, name="--quantile-method")
    if args.min_per_facility < 1:
        raise UserError(f"--min-per-facility: must be at least 1, not {args.min_per_facility}")
    if args.bootstrap < 0:
        raise UserError(f"--bootstrap: must be 0 (no interval) or more, not {args.bootstrap}")
    if args.seed < 0:
        raise UserError(f"--seed: must be 0 or more, not {args.seed}")
    weight = parse_range(args.weight_range, "--weight-range")
    catalogue = load_catalogue(args.catalogue)
    edition = check_edition(catalogue, args.edition, name="--edition")
    result = drl_from_database(
        args.db or "",
        years=args.years,
        catalogue=catalogue,
        min_per_facility=args.min_per_facility,
        quantile_method=args.quantile_method,
        facility_statistic="mean" if args.facility_means else "median",
        weight_range_kg=weight,
        edition=edition,
        n_bootstrap=args.bootstrap,
        random_state=args.seed,
    )
    paths = write_drl_outputs(result, args.out)
    p = result.parameters
    print(
        f"drl: {len(result.table)} exam/quantity rows and {len(result.by_year)} rows by year "
        f"from {result.n_exposures} exposures (years {p['years']}, facility {p['facility_statistic']}s, "
        f"at least {p['min_per_facility']} exams per facility, percentile method {p['quantile_method']}, "
        f"DRL edition {p['edition_requested']})"
    )
    print(f"written to {Path(args.out)}: {', '.join(path.name for path in paths.values())}")
    return 0

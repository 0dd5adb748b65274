"""Quantiles of facility values and the bootstrap that resamples facilities.

The one place that computes percentiles and resamples:

- :func:`quantile` is numpy's quantile with a checked method; :func:`quartiles`
  and :func:`qcd` build on it (DRL tables, survey P95, QCDs);
- :func:`weighted_quartiles` gives the same "linear" quartiles for many
  samples at once when each sample is given as counts of sorted values (the
  resamples of the clustering features);
- the bootstrap resamples facilities with replacement (the survey's unit,
  never single exams): :func:`bootstrap_distribution` and :func:`bootstrap_ci`
  draw, for a percentile of a resample, only the order statistics it needs,
  from their exact joint distribution; :func:`resample_counts` draws whole
  resamples as counts of each facility where every feature of a resample is
  needed (the clustering's noise estimates);
- :func:`order_statistic_ci` gives the distribution-free interval of a
  percentile between two order statistics, whose coverage follows from the
  binomial distribution alone and holds for any continuous distribution.

How well each interval covers the true percentile at 5 to 80 facilities is
measured by ``benchmarks/bench_coverage.py`` (``benchmarks/coverage.md``);
:data:`CI_MIN_FACILITIES` holds, per interval, the fewest facilities from
which its measured coverage is at least 90 %. Below that no interval is given.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np

from ..core.errors import UserError

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


#: Confidence level of the bootstrap interval.
CI_LEVEL = 0.95

#: The fewest facilities from which an interval is shown: below them its
#: measured coverage of a nominal 95 % falls under 90 % somewhere
#: (``benchmarks/coverage.md``: lognormal facility medians, ``linear`` and
#: ``weibull`` methods). The percentile bootstrap of P75 covers 72-89 % at 5-8
#: and at 13-14 facilities (the resampled P75 takes few distinct values), 89.6 %
#: at 15 with ``weibull``, and at least 90 % from 16 on; of P50, 87.6 % at 7 and
#: at least 90.5 % from 8 on. The order-statistic interval needs no entry: it
#: exists only where its coverage is at least 95 %.
CI_MIN_FACILITIES: dict[str, int] = {"p50_bootstrap": 8, "p75_bootstrap": 16}

#: Coverage of each interval the DRL table reports, as ``benchmarks/bench_coverage.py``
#: measured it with its defaults (4,000 simulated surveys of lognormal facility
#: medians, sigma 0.35, ``linear`` method, 2,000 resamples; Monte Carlo standard
#: error about 0.3 points); NaN where the interval does not exist. The method
#: text of the report quotes these figures.
MEASURED_COVERAGE: dict[int, dict[str, float]] = {
    5: {"p75_bootstrap": 0.742, "p75_order": math.nan, "p50_bootstrap": 0.940},
    10: {"p75_bootstrap": 0.922, "p75_order": math.nan, "p50_bootstrap": 0.946},
    20: {"p75_bootstrap": 0.925, "p75_order": 0.961, "p50_bootstrap": 0.937},
    40: {"p75_bootstrap": 0.942, "p75_order": 0.956, "p50_bootstrap": 0.953},
    80: {"p75_bootstrap": 0.941, "p75_order": 0.956, "p50_bootstrap": 0.951},
}


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



def quantile(values: Sequence[float] | np.ndarray, q, *, method: str = "linear", axis: int | None = None):
    """Percentiles of ``values`` (fractions ``q`` in [0, 1]) with a numpy method.

    The one quantile routine of the package: ``numpy.quantile`` after the
    method is checked, so that a wrong name fails with the list of methods.
    """
    check_quantile_method(method)
    return np.quantile(np.asarray(values, dtype=float), q, method=method, axis=axis)


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
    p25, p50, p75 = (float(x) for x in quantile(v, [0.25, 0.5, 0.75], method=quantile_method))
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


def qcd_of_values(values: Sequence[float] | np.ndarray, *, quantile_method: str = "linear") -> float:
    """Quartile coefficient of dispersion of a sample, (Q3 - Q1) / (Q3 + Q1).

    >>> round(qcd_of_values([2, 4, 6, 8, 10, 12, 14]), 3)
    0.375
    """
    return quartiles(values, quantile_method=quantile_method)["qcd"]


def weighted_quartiles(sorted_values: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Q1, median and Q3 ("linear" method) of samples given as counts of sorted values.

    Parameters
    ----------
    sorted_values : numpy.ndarray of shape (n,)
        Ascending.
    weights : numpy.ndarray of shape (B, n)
        How often each value occurs in each of B samples (non-negative integers).

    Returns
    -------
    (quartiles, size) : numpy.ndarray of shape (B, 3), numpy.ndarray of shape (B,)
        Equal to ``np.quantile(sample, [0.25, 0.5, 0.75])`` of each sample
        written out; NaN for an empty sample.
    """
    cum = np.cumsum(weights, axis=1)
    size = cum[:, -1]
    out = np.full((weights.shape[0], 3), np.nan)
    ok = size > 0
    if not ok.any():
        return out, size
    cum, last = cum[ok], size[ok] - 1
    for j, p in enumerate((0.25, 0.5, 0.75)):
        pos = p * last
        lo = np.floor(pos)
        hi = np.minimum(lo + 1, last)
        # The value of rank r is the first whose cumulative count exceeds r.
        i_lo = (cum <= lo[:, None]).sum(axis=1)
        i_hi = (cum <= hi[:, None]).sum(axis=1)
        out[ok, j] = sorted_values[i_lo] + (sorted_values[i_hi] - sorted_values[i_lo]) * (pos - lo)
    return out, size


def resample_counts(rng: np.random.Generator, n_items: int, n_resamples: int) -> np.ndarray:
    """Bootstrap resamples of ``n_items`` items (facilities) as counts of each item.

    Returns
    -------
    numpy.ndarray of shape (n_resamples + 1, n_items)
        Row 0 counts every item once (the data as they are); rows 1.. are
        resamples with replacement: how often each item was drawn.
    """
    draws = rng.integers(0, n_items, (n_resamples, n_items))
    counts = np.ones((n_resamples + 1, n_items), dtype=np.int64)
    if n_resamples:
        counts[1:] = np.apply_along_axis(np.bincount, 1, draws, minlength=n_items)
    return counts


def order_statistic_ranks(n: int, q: float = 0.75, confidence: float = CI_LEVEL) -> tuple[int, int, float] | None:
    """The order statistics that bound a distribution-free interval of a percentile.

    For a sample of ``n`` values from a continuous distribution, the number
    of values at or below its ``q``-quantile is Binomial(n, q), so the interval
    ``[x_(r), x_(s)]`` (1-based order statistics) covers the quantile with
    probability ``P(r <= B <= s - 1)`` whatever the distribution. Of the pairs
    whose coverage is at least ``confidence``, the one with the fewest ranks
    between its ends is taken, then the one whose tails are most even.

    Parameters
    ----------
    n : int
        Sample size (facilities).
    q : float, default 0.75
    confidence : float, default 0.95

    Returns
    -------
    (r, s, coverage) or None
        1-based ranks and the exact coverage; None when even ``[x_(1), x_(n)]``
        covers less than ``confidence`` (for P75 at 95 %: fewer than 11 values).

    Examples
    --------
    >>> order_statistic_ranks(10) is None
    True
    >>> r, s, cover = order_statistic_ranks(11)
    >>> (r, s, round(cover, 3))
    (5, 11, 0.95)
    """
    n = int(n)
    if n < 2 or not 0 < q < 1 or not 0 < confidence < 1:
        return None
    return _order_statistic_ranks(n, float(q), float(confidence))


@functools.lru_cache(maxsize=4096)
def _order_statistic_ranks(n: int, q: float, confidence: float) -> tuple[int, int, float] | None:
    from scipy.stats import binom

    cdf = binom.cdf(np.arange(0, n + 1), n, q)  # cdf[k] = P(B <= k)
    r = np.arange(1, n + 1)
    lower = cdf[r - 1]  # P(B <= r - 1) = P(B < r): the lower tail
    # For each r the smallest s with P(B <= s - 1) - P(B <= r - 1) >= confidence.
    s = np.searchsorted(cdf, lower + confidence, side="left") + 1
    ok = (s > r) & (s <= n)
    if not ok.any():
        return None
    r, s, lower = r[ok], s[ok], lower[ok]
    cover = cdf[s - 1] - lower
    upper = 1.0 - cdf[s - 1]
    best = np.lexsort((np.abs(lower - upper), s - r))[0]
    return int(r[best]), int(s[best]), float(cover[best])


def order_statistic_ci(
    values: Sequence[float] | np.ndarray, *, q: float = 0.75, confidence: float = CI_LEVEL
) -> tuple[float, float, float]:
    """Distribution-free confidence interval of a percentile (see :func:`order_statistic_ranks`).

    Returns
    -------
    (low, high, coverage) : floats
        The bounds in the unit of ``values`` and the interval's exact coverage;
        all NaN where no such interval exists (too few values).

    Examples
    --------
    >>> low, high, cover = order_statistic_ci(range(1, 21))
    >>> (low, high, round(cover, 3))
    (11.0, 19.0, 0.962)
    """
    v = np.sort(np.asarray(values, dtype=float))
    if v.ndim != 1 or not np.all(np.isfinite(v)):
        raise ValueError("values must be a one-dimensional array of finite numbers")
    ranks = order_statistic_ranks(v.size, q, confidence)
    if ranks is None:
        return math.nan, math.nan, math.nan
    r, s, cover = ranks
    return float(v[r - 1]), float(v[s - 1]), cover

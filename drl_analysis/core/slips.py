"""The one unit-slip rule: a dose about a power of ten off its reference.

A value typed in the wrong unit (dGy·cm² where cGy·cm² was asked, µGy·m² read
as mGy·cm², ...) sits a factor 10, 100 or 1000 from where its exam or its
facility usually lies. The rule: take ``log10(value / reference)``; when it is
at least ``min_decades`` from zero, the suspected factor is the nearest power
of ten, 10 to 1000 (larger ratios count as 1000), else there is no slip.

How far off is enough depends on how the reference was found, so each caller
names its threshold here, next to the rule:

- :data:`UNSCREENED_MIN_DECADES` (0.8, a factor 6.3): ingest flags every value
  of a submission against its exam or facility median, without knowing how
  widely the exam scatters, so only a clear power of ten counts;
- :data:`FACILITY_MIN_DECADES` (0.5, a factor 3.2): the outlier analysis
  names a slip only for a value that is already a robust outlier against its
  own facility, whose doses scatter little;
- :data:`EXAM_MIN_DECADES` (0.7, a factor 5): likewise against its exam,
  whose facilities scatter widely.
"""

from __future__ import annotations

import math

#: Threshold of :func:`slip_power` for values not screened by a robust z score.
UNSCREENED_MIN_DECADES = 0.8
#: Threshold for a value already an outlier against its facility's values.
FACILITY_MIN_DECADES = 0.5
#: Threshold for a value already an outlier against its exam's distribution.
EXAM_MIN_DECADES = 0.7
#: The largest power of ten a slip is named with.
MAX_POWER = 3


def slip_power(log_ratio: float, min_decades: float) -> int:
    """The suspected slip as a power of ten: ``+2`` for x100, ``-1`` for /10, 0 for none.

    Parameters
    ----------
    log_ratio : float
        ``log10(value / reference)``; NaN or infinite gives 0.
    min_decades : float
        Smallest ``|log_ratio|`` that counts (see the module's thresholds).

    >>> slip_power(2.1, UNSCREENED_MIN_DECADES), slip_power(-0.6, FACILITY_MIN_DECADES)
    (2, -1)
    >>> slip_power(0.75, UNSCREENED_MIN_DECADES), slip_power(4.2, EXAM_MIN_DECADES)
    (0, 3)
    """
    if not math.isfinite(log_ratio) or abs(log_ratio) < min_decades:
        return 0
    k = int(min(max(round(abs(log_ratio)), 1), MAX_POWER))
    return k if log_ratio > 0 else -k


def slip_factor_text(power: int) -> str:
    """``"x100"`` for +2, ``"/10"`` for -1."""
    return f"x{10 ** power}" if power > 0 else f"/{10 ** -power}"

"""DRL statistics: facility medians, quartiles and proposed DRLs.

A facility is a (data source, facility ID) pair: IDs are assigned by each
medical body and repeat across bodies. A national DRL is the 75th percentile
of the facility medians of one exam and dose quantity (ICRP 135).
"""

from __future__ import annotations

import pandas as pd

#: Columns that identify a facility.
FACILITY_KEYS: tuple[str, ...] = ("data_source", "facility_id")


def facility_values(
    exposures: pd.DataFrame,
    quantity: str,
    *,
    min_per_facility: int = 10,
    statistic: str = "median",
    by: tuple[str, ...] = ("exam_code",),
) -> pd.DataFrame:
    """Each facility's median (or mean) of one dose quantity per exam.

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

"""Facility values and the counted values of one exam, with the selection of
the DRL tables (:mod:`drl_analysis.stats.drl_tables`)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from ..core.catalogue import Catalogue, load_catalogue
from ..core.columns import DOSE_QUANTITIES
from .drl_inputs import _check_options, _prepare
from .drl_tables import FACILITY_KEYS, _facilities_out, _facility_frame


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
    _check_options(min_per_facility, 1, "linear", facility_statistic, weight_range_kg, 0, 0)
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


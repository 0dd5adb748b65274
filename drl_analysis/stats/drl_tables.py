"""The DRL tables from a table of exposures: facility medians, quartiles and
proposed DRLs with uncertainty.

A facility is a (data source, facility ID) pair: IDs are assigned by each
medical body and repeat across bodies. A national DRL is the 75th percentile
of the facility medians of one exam and dose quantity (ICRP 135); the 50th
percentile is the achievable dose.

For one exam code and one dose quantity this module computes

- each facility's median (or mean) over its exams, counted only when the
  facility has at least ``min_per_facility`` exams;
- with at least ``min_facilities`` counted facilities (status ``proposed``):
  ``p25``, ``p50`` and ``p75`` of the facility values with a numpy
  percentile method, and QCD = (p75 - p25) / (p75 + p25)
  (:mod:`drl_analysis.stats.quantiles`); with fewer (status
  ``typical_value_only``) only their median, the "typical value" of
  ICRP 135, and no P75: a 75th percentile of a handful of facilities is no
  reference level;
- for a proposed DRL, a 95 % percentile-bootstrap confidence interval of
  ``p50`` and ``p75`` that resamples facilities, and the distribution-free
  interval of ``p75`` between two order statistics. No authority prescribes
  them: they are this project's addition and every output says so. An
  interval is left out where its measured coverage is below 90 %
  (:data:`drl_analysis.stats.quantiles.CI_MIN_FACILITIES`);
- the current DRL from the catalogue, the share of facilities and of exams
  above it and the ratio ``p75 / current DRL``.

Every exam code and dose quantity that has a value in the exposures gets a
row, with its ``status`` (:data:`drl_analysis.stats.drl_status.DRL_STATUSES`) and the counts behind it, so
an exam whose facilities all have too few exams is listed, not dropped.

Which values count is decided by :mod:`drl_analysis.stats.selection`, the
same policy the outlier analysis uses: values flagged implausible at ingest
and CT values referenced to a phantom other than the exam's reference phantom
are left out and counted, so 16 cm and 32 cm values are never pooled.
The whole table is computed with one factorisation of the facility keys and
numpy group reductions, so 5 million exposures take seconds; the bootstrap
draws the order statistics each percentile needs from their exact joint
distribution, so its cost does not grow with the number of facilities
(``benchmarks/drl.md``).

Entry points: :func:`drl_table` and :func:`drl_by_year` on a DataFrame of
exposures; :func:`compute_drl` for both and the facility values at once
(single facilities and exams: :mod:`drl_analysis.stats.facilities`). Reading the database and writing the files is
:mod:`drl_analysis.stats.drl`; checking and preparing the inputs
:mod:`drl_analysis.stats.drl_inputs`; the statuses and what a table says in words
:mod:`drl_analysis.stats.drl_status`.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .. import __version__
from ..core.catalogue import Catalogue, load_catalogue
from ..core.columns import CT_QUANTITIES, DOSE_QUANTITIES, QUANTITIES
from ..core.paths import CATALOGUE_FILE
from ..core.years import format_years
from .drl_inputs import _check_options, _prepare, _Prepared, check_edition
from .drl_status import MIN_FACILITIES, empty_table_reason, status_note, status_summary
from .quantiles import CI_MIN_FACILITIES, bootstrap_ci, order_statistic_ci, quantile, quartiles
from .selection import WEIGHT_EXEMPT_QUANTITIES

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
    "status",
    "status_note",
    "typical_value",
    "p75_ci_order_low",
    "p75_ci_order_high",
    "p75_ci_order_coverage",
    "n_values",
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
    "min_facilities",
    "years",
    "weight_range_kg",
    "edition_requested",
    "bootstrap_resamples",
    "seed",
    "ci_method",
)

#: How every output labels the confidence interval.
CI_METHOD = (
    "95 % percentile bootstrap, facilities resampled with replacement; "
    "this project's addition, not prescribed by any authority"
)

#: How every output labels the distribution-free interval of P75.
CI_ORDER_METHOD = (
    "distribution-free 95 % interval of P75 between two order statistics of the facility medians "
    "(exact binomial coverage in p75_ci_order_coverage; from 11 facilities); "
    "this project's addition, not prescribed by any authority"
)



# --------------------------------------------------------------------------
# Facility values and the DRL table
# --------------------------------------------------------------------------


def _group_seed(random_state: int, exam_code: str, quantity: str, year: int | None) -> list[int]:
    # Each (exam, quantity, year) draws from its own stream, so an exam's
    # interval does not change when other exams or years enter the data.
    return [int(random_state), zlib.crc32(str(exam_code).encode("utf-8")), DOSE_QUANTITIES.index(quantity), int(year or 0)]


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


def _present_counts(prep: _Prepared, by_year: bool) -> dict[tuple[int, str, int], int]:
    """Values present per exam, quantity (and year): what the survey holds, counted or not."""
    n_year = max(len(prep.years), 1)
    out: dict[tuple[int, str, int], int] = {}
    for q, values in prep.values.items():
        ok = (prep.exam_idx >= 0) & ~np.isnan(values)
        if by_year:
            ok &= prep.year_idx >= 0
        if not ok.any():
            continue
        key = prep.exam_idx[ok].astype(np.int64) * n_year + (prep.year_idx[ok] if by_year else 0)
        counts = np.bincount(key, minlength=len(prep.exam_codes) * n_year)
        for k in np.flatnonzero(counts):
            out[(int(k // n_year), q, int(k % n_year) if by_year else -1)] = int(counts[k])
    return out


def _intervals(values: np.ndarray, *, n_bootstrap: int, quantile_method: str, seed: list[int]) -> dict[str, float]:
    """The intervals of a proposed DRL, each only where its coverage is known to be at least 90 %."""
    n = values.size
    ci = np.full((2, 2), np.nan)
    if n_bootstrap > 0 and n >= min(CI_MIN_FACILITIES.values()):
        ci = bootstrap_ci(values, quantiles=(0.5, 0.75), n_resamples=n_bootstrap, quantile_method=quantile_method,
                          random_state=seed)
    if n < CI_MIN_FACILITIES["p50_bootstrap"]:
        ci[0] = np.nan
    if n < CI_MIN_FACILITIES["p75_bootstrap"]:
        ci[1] = np.nan
    low, high, cover = order_statistic_ci(values, q=0.75)
    return {"p50_ci_low": ci[0, 0], "p50_ci_high": ci[0, 1], "p75_ci_low": ci[1, 0], "p75_ci_high": ci[1, 1],
            "p75_ci_order_low": low, "p75_ci_order_high": high, "p75_ci_order_coverage": cover}


def _summarise(
    prep: _Prepared,
    catalogue: Catalogue,
    *,
    by_year: bool,
    min_per_facility: int,
    min_facilities: int,
    quantile_method: str,
    facility_statistic: str,
    edition: str | None,
    n_bootstrap: int,
    random_state: int,
    parameters: dict[str, object],
    facilities: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One table row per exam, quantity (and year) that has a value; ``facilities``
    may pass the :func:`_facility_frame` computed already for the same options."""
    drl_values, drl_editions = _current_drls(catalogue, prep.exam_codes, edition)
    if facilities is None:
        facilities = _facility_frame(prep, facility_statistic=facility_statistic, by_year=by_year,
                                     drl_by_exam=drl_values)
    excluded = _exclusion_counts(prep, by_year)
    present = _present_counts(prep, by_year)
    names = {c: (catalogue.exam_name(c) or "") for c in prep.exam_codes}
    facilities = facilities.sort_values(["exam_i", "quantity", "year_i", "value"], kind="stable")
    groups = {key: grp for key, grp in facilities.groupby(["exam_i", "quantity", "year_i"], sort=False)}
    rows = []
    for (e, q, y), n_values in present.items():
        grp = groups.get((e, q, y))
        code = prep.exam_codes[e]
        year = prep.years[y] if by_year else None
        ok = grp["n_exams"].to_numpy() >= min_per_facility if grp is not None else np.zeros(0, dtype=bool)
        counted = grp[ok] if grp is not None else None
        n_fac = int(ok.sum())
        drl = float(drl_values[q][e])
        has_drl = not math.isnan(drl)
        excl = excluded.get((int(e), q, int(y)), (0, 0, 0))
        if n_fac >= min_facilities:
            status = "proposed"
        elif n_fac > 0:
            status = "typical_value_only"
        elif grp is not None:
            status = "no_facility_with_enough_exams"
        else:
            status = "no_value_counted"
        row = {
            "exam_code": code,
            "exam_name": names[code],
            "quantity": q,
            "n_facilities": n_fac,
            "n_exams": 0,
            "p25": math.nan, "p50": math.nan, "p75": math.nan, "qcd": math.nan,
            "p75_ci_low": math.nan, "p75_ci_high": math.nan,
            "current_drl": drl,
            "drl_edition": drl_editions.get((int(e), q), ""),
            "share_facilities_above_drl": math.nan,
            "share_exams_above_drl": math.nan,
            "status": status,
            "status_note": status_note(status, n_fac, int((~ok).sum()), min_per_facility, min_facilities),
            "typical_value": math.nan,
            "p75_ci_order_low": math.nan, "p75_ci_order_high": math.nan, "p75_ci_order_coverage": math.nan,
            "n_values": n_values,
            "unit": QUANTITIES[q].unit,
            "p50_ci_low": math.nan, "p50_ci_high": math.nan,
            "p75_to_drl": math.nan,
            "n_facilities_below_min": int((~ok).sum()),
            "n_exams_below_min": int(grp.loc[~ok, "n_exams"].sum()) if grp is not None else 0,
            "n_excluded_implausible": excl[0],
            "n_excluded_phantom": excl[1],
            "n_excluded_weight": excl[2],
            "ctdi_phantom_cm": float(prep.ref_phantom[e]) if q in CT_QUANTITIES else math.nan,
            "mean_weight_kg": math.nan,
        }
        if n_fac:
            values = counted["value"].to_numpy()
            n_exams = int(counted["n_exams"].sum())
            weight_n = int(counted["weight_n"].sum())
            row.update(
                n_exams=n_exams,
                share_facilities_above_drl=float(np.mean(values > drl)) if has_drl else math.nan,
                share_exams_above_drl=float(counted["n_above"].sum() / n_exams) if has_drl else math.nan,
                mean_weight_kg=float(counted["weight_sum"].sum() / weight_n) if weight_n else math.nan,
            )
            if status == "proposed":
                stats = quartiles(values, quantile_method=quantile_method)
                row.update(stats)
                row.update(_intervals(values, n_bootstrap=n_bootstrap, quantile_method=quantile_method,
                                      seed=_group_seed(random_state, code, q, year)))
                row["p75_to_drl"] = stats["p75"] / drl if has_drl and drl != 0 else math.nan
            else:
                row["p50"] = row["typical_value"] = float(quantile(values, 0.5, method=quantile_method))
        if by_year:
            row["year"] = year
        row.update({k: parameters[k] for k in PARAMETER_COLUMNS})
        rows.append(row)
    columns = [*CONTRACT_COLUMNS, *(["year"] if by_year else []), *DETAIL_COLUMNS, *PARAMETER_COLUMNS]
    table = pd.DataFrame(rows, columns=columns)
    table["_q"] = table["quantity"].map(DOSE_QUANTITIES.index)
    order = ["exam_code", "_q", *(["year"] if by_year else [])]
    table = table.sort_values(order, kind="stable").drop(columns="_q").reset_index(drop=True)
    for c in ("n_facilities", "n_exams", "n_values", "n_facilities_below_min", "n_exams_below_min",
              "n_excluded_implausible", "n_excluded_phantom", "n_excluded_weight"):
        table[c] = table[c].astype("int64")
    for c in ("status", "status_note"):
        table[c] = table[c].astype(object)
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
    min_facilities: int = MIN_FACILITIES,
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
        "min_facilities": int(min_facilities),
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
        "ci_order_method": CI_ORDER_METHOD,
        "ci_min_facilities": ", ".join(f"{k} from {v} facilities" for k, v in CI_MIN_FACILITIES.items()),
        "drl_definition": "p75 of facility medians (facility means if facility_statistic is 'mean'), "
                          "given only with at least min_facilities facilities; below, their median as a typical value",
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

    @property
    def empty_reason(self) -> str:
        """Why the DRL table proposes no DRL, in one sentence; "" when it proposes one."""
        return empty_table_reason(self.table, self.parameters, self.n_exposures)

    @property
    def proposed(self) -> pd.DataFrame:
        """The rows with a proposed DRL."""
        return self.table[self.table["status"] == "proposed"]

    def summary(self) -> str:
        """In words: how many DRLs rest on how many facilities (see :func:`status_summary`)."""
        return status_summary(self.table, self.parameters)

    def counted_values(self, exam_code: str, quantity: str) -> pd.DataFrame:
        """The exposures of one exam that entered these tables (see :func:`counted_values`)."""
        if self.exposures is None:
            raise ValueError("this result keeps no exposures")
        from .facilities import counted_values

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
    min_facilities: int,
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
    _check_options(min_per_facility, min_facilities, quantile_method, facility_statistic, weight_range_kg, n_bootstrap,
                   random_state)
    edition = check_edition(catalogue, edition)
    years = None if years is None else sorted({int(y) for y in years})
    prep = _prepare(exposures, catalogue, weight_range_kg=weight_range_kg, years=years)
    params = drl_parameters(
        catalogue, min_per_facility=min_per_facility, min_facilities=min_facilities, quantile_method=quantile_method,
        facility_statistic=facility_statistic, weight_range_kg=weight_range_kg, edition=edition, years=years,
        years_in_data=prep.years, n_bootstrap=n_bootstrap, random_state=random_state,
    )
    common = dict(
        min_per_facility=min_per_facility, min_facilities=min_facilities, quantile_method=quantile_method,
        facility_statistic=facility_statistic,
        edition=edition, n_bootstrap=n_bootstrap, random_state=random_state, parameters=params,
    )
    return catalogue, prep, common, years


def compute_drl(
    exposures: pd.DataFrame,
    catalogue: Catalogue | None = None,
    *,
    min_per_facility: int = 10,
    min_facilities: int = MIN_FACILITIES,
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
        exposures, catalogue, min_per_facility=min_per_facility, min_facilities=min_facilities,
        quantile_method=quantile_method,
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


def drl_table(
    exposures: pd.DataFrame,
    catalogue: Catalogue | None = None,
    *,
    min_per_facility: int = 10,
    min_facilities: int = MIN_FACILITIES,
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
    min_facilities : int, default :data:`MIN_FACILITIES` (11)
        A proposed DRL (P25, P75, QCD, intervals) needs at least this many
        counted facilities; with fewer the row gives their median as a
        typical value (``typical_value``, ``p50``) and no P75.
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
        One row per (exam code, quantity) with at least one value in the
        exposures, sorted by exam code and quantity, its ``status`` one of
        :data:`DRL_STATUSES` with ``status_note`` in words. Columns :data:`CONTRACT_COLUMNS`,
        then :data:`DETAIL_COLUMNS`, then :data:`PARAMETER_COLUMNS`. Dose
        columns (``p25 ... current_drl``, CI bounds) are in the quantity's
        canonical unit (column ``unit``); shares are fractions in [0, 1];
        ``n_exams`` and ``share_exams_above_drl`` count the exams of counted
        facilities. ``current_drl`` is NaN and ``drl_edition`` empty where the
        catalogue gives no DRL (e.g. unknown exam codes). ``p75_ci_low``,
        ``p75_ci_high`` are the bootstrap interval, ``p75_ci_order_low``,
        ``p75_ci_order_high`` the distribution-free one with its exact
        coverage; each is empty where it does not exist or where its coverage
        is not known to reach 90 % (:data:`CI_MIN_FACILITIES`).
    """
    return _one_table(
        exposures, catalogue, False, min_per_facility=min_per_facility, min_facilities=min_facilities,
        quantile_method=quantile_method,
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
    min_facilities: int = MIN_FACILITIES,
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
        exposures, catalogue, True, min_per_facility=min_per_facility, min_facilities=min_facilities,
        quantile_method=quantile_method,
        facility_statistic=facility_statistic, weight_range_kg=weight_range_kg, edition=edition, years=years,
        n_bootstrap=n_bootstrap, random_state=random_state,
    )

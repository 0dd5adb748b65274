"""Dose outliers and data-quality findings of single values.

Dose outliers (``outliers.csv``)
    :func:`score_values` places every dose value on a log scale against two
    robust references: the median and MAD of its exam code and quantity
    (``z_exam``), and the median of its own facility for that exam and year,
    scaled by the typical within-facility spread of the exam
    (``z_facility``); both allow for the patient's weight where it is known.
    :func:`value_outliers` keeps the values beyond the threshold on either
    scale, names those a power of ten off their reference as suspected unit
    slips (the rule of :mod:`drl_analysis.core.slips`), and calls the others
    far above or below. The within-facility reference is much narrower than
    the exam distribution, so a ×10 slip of a low-dose facility is still
    found; a value typical of its own facility is judged by the facility's
    median, so a facility that practises high is "far above", and a whole
    submission in the wrong unit is a slip.
Data quality (``data_quality.csv``)
    :func:`data_quality` lists, one row per value and issue, what says
    something about the data rather than the dose: exam codes the catalogue
    does not know, values flagged at ingest (out of range, unit slips within
    their submission, ambiguous notation), values that are not positive, CT
    values without a phantom. A flag alone never makes a dose outlier.

Which values the references use is decided by
:mod:`drl_analysis.stats.selection`, the policy the DRL tables use too; what
is left out is said, never hidden: :func:`excluded_values` counts it.
Facilities above the DRL and the alerts are :mod:`drl_analysis.analysis.alerts`.

All doses are in the canonical units of :mod:`drl_analysis.core.columns`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from ..core.catalogue import Catalogue, load_catalogue
from ..core.columns import CT_QUANTITIES, QUANTITIES, is_implausible
from ..core.errors import UserError
from ..core.slips import (
    EXAM_MIN_DECADES,
    FACILITY_MIN_DECADES,
    slip_factor_text,
    slip_power,
)
from ..stats.quantiles import check_quantile_method
from ..stats.selection import STATUSES, select_values

#: Reason kinds of ``outliers.csv``, a fixed vocabulary; the ``reason`` text
#: starts with the phrase and adds the detail after a colon. Only dose
#: outliers: data-quality findings are :data:`DATA_QUALITY_ISSUES`.
REASON_PHRASES: dict[str, str] = {
    "unit_slip": "suspected unit slip",
    "far_above": "far above",
    "far_below": "far below",
}

#: Why a value is left out of the medians (``status`` of :func:`dose_values`):
#: the statuses of :mod:`drl_analysis.stats.selection` other than "used".
EXCLUSION_REASONS: dict[str, str] = {k: v for k, v in STATUSES.items() if k != "used"}

#: Issue kinds of ``data_quality.csv``, a fixed vocabulary, with their meaning.
DATA_QUALITY_ISSUES: dict[str, str] = {
    "unknown_exam_code": "the catalogue does not know the exam code: no DRL; CT values are grouped by the "
    "phantom most of the code's values state",
    "out_of_range": "outside the plausible range of its quantity (flagged at ingest; left out)",
    "not_positive": "not a positive value (left out)",
    "unit_slip_at_ingest": "a suspected unit slip within its submission, flagged at ingest (left out), "
    "not an outlier against the whole survey",
    "phantom_missing": "CT value without a CTDI phantom: taken to be in the exam's reference phantom",
    "ambiguous_notation": "a number such as 1.234 whose notation the sheet did not show (flagged at ingest)",
    "other_flag": "another flag set at ingest",
}

#: Columns of ``data_quality.csv``.
DATA_QUALITY_COLUMNS: tuple[str, ...] = (
    "source_file",
    "sheet",
    "source_row",
    "data_source",
    "year",
    "facility_id",
    "exam_code",
    "quantity",
    "value",
    "unit",
    "issue",
    "detail",
    "status",
    "flags",
)

#: Quantities referenced to a CTDI phantom.
PHANTOM_QUANTITIES: tuple[str, ...] = CT_QUANTITIES

#: Columns that identify a value's origin, written first in ``outliers.csv``.
OUTLIER_COLUMNS: tuple[str, ...] = (
    "source_file",
    "sheet",
    "source_row",
    "data_source",
    "facility_id",
    "exam_code",
    "quantity",
    "value",
    "exam_median",
    "ratio_to_median",
    "reason",
)

_ID_COLUMNS = ("source_file", "sheet", "source_row", "data_source", "year", "facility_id", "exam_code")
_FACILITY_GROUP = ["data_source", "facility_id", "exam_code", "quantity", "year"]
# 1.4826 * MAD estimates the standard deviation of a normal distribution.
_MAD_TO_SD = 1.4826
# A value within this many robust SDs of its facility's median is typical of
# the facility: an exam-level outlier then says something about the facility.
_TYPICAL_OF_FACILITY_Z = 2.0


@dataclass(frozen=True)
class OutlierParameters:
    """Thresholds of the outlier and alert analysis.

    Attributes
    ----------
    z_threshold : float, default 3.5
        A value is an outlier beyond this many robust standard deviations on
        the log10 scale, against its exam or its facility (3.5 is the usual
        cut for the MAD-based "modified z-score").
    slip_min_decades : float, default 0.5
        An outlier against its own facility at least this many decades off
        the facility median (0.5: a factor 3.16, closer to 10 than to 1) is
        a suspected unit slip; its factor is the nearest power of ten, 10,
        100 or 1000 (larger ratios count as 1000). Within a facility doses
        scatter little, so half a decade already stands out.
    exam_slip_min_decades : float, default 0.7
        Against the exam, whose facilities scatter widely, an outlier is a
        suspected unit slip only from this many decades off (0.7: a factor
        5), again with the nearest power of ten. A value typical of its
        facility is judged by its facility's median (a whole submission in
        the wrong unit); otherwise by its own ratio. Other outliers are far
        above (or below) the exam distribution.
    min_exam_values : int, default 10
        Plausible values an exam code and quantity need for ``z_exam``.
    min_facility_values : int, default 5
        Values a facility needs for an exam, quantity and year before its own
        median serves as a reference (``z_facility``).
    min_scale_decades : float, default 0.02
        Floor of the robust spread (log10 decades), so that exams with many
        identical values do not flag every small deviation.
    min_per_facility : int, default 10
        Exposures a facility needs per exam and year for a facility median
        (the DRL method's minimum).
    min_facilities_p95 : int, default 5
        Facility medians an exam needs per year before its P95 is computed.
    min_alert_years : int, default 2
        A facility above the DRL in at least this many years is alerted (as
        is one above it in every year it reported).
    implausible_share_threshold : float, default 0.05
        A data source whose share of implausible dose values is above this
        fraction is alerted.
    quantile_method : str, default "linear"
        ``numpy.quantile`` method of the P95 of facility medians.
    """

    z_threshold: float = 3.5
    slip_min_decades: float = FACILITY_MIN_DECADES
    exam_slip_min_decades: float = EXAM_MIN_DECADES
    min_exam_values: int = 10
    min_facility_values: int = 5
    min_scale_decades: float = 0.02
    min_per_facility: int = 10
    min_facilities_p95: int = 5
    min_alert_years: int = 2
    implausible_share_threshold: float = 0.05
    quantile_method: str = "linear"

    def __post_init__(self) -> None:
        checks = {
            "z_threshold": self.z_threshold > 0,
            "slip_min_decades": 0 < self.slip_min_decades <= 1.5,
            "exam_slip_min_decades": 0 < self.exam_slip_min_decades <= 1.5,
            "min_exam_values": self.min_exam_values >= 3,
            "min_facility_values": self.min_facility_values >= 3,
            "min_scale_decades": self.min_scale_decades > 0,
            "min_per_facility": self.min_per_facility >= 1,
            "min_facilities_p95": self.min_facilities_p95 >= 1,
            "min_alert_years": self.min_alert_years >= 1,
            "implausible_share_threshold": 0 <= self.implausible_share_threshold < 1,
        }
        hints = {
            "slip_min_decades": "a number of decades above 0 and at most 1.5",
            "exam_slip_min_decades": "a number of decades above 0 and at most 1.5",
            "implausible_share_threshold": "a fraction from 0 to below 1",
            "min_exam_values": "at least 3",
            "min_facility_values": "at least 3",
        }
        for name, ok in checks.items():
            if not ok:
                value = getattr(self, name)
                raise UserError(f"{name}: {value!r} is out of range (use {hints.get(name, 'a positive number')})")
        check_quantile_method(self.quantile_method)

    def as_dict(self) -> dict[str, object]:
        """The parameters as a plain dict (for the parameters table)."""
        return asdict(self)


def _unit(quantity: str) -> str:
    return QUANTITIES[quantity].unit


def _check_exposures(exposures: pd.DataFrame) -> None:
    if not isinstance(exposures, pd.DataFrame):
        raise TypeError(f"exposures must be a pandas DataFrame, not {type(exposures).__name__}")
    needed = {"data_source", "facility_id", "exam_code", "year"}
    missing = sorted(needed - set(exposures.columns))
    if missing:
        raise ValueError(f"exposures lack the column(s) {', '.join(missing)}")


def _relevant_flags(flags: str, quantity: str) -> str:
    """The ingest flag tokens that concern a value: its own column or the whole row."""
    if not flags:
        return ""
    keep = []
    for token in flags.split(";"):
        token = token.strip()
        if not token:
            continue
        _, sep, col = token.partition(":")
        if not sep or col == quantity:
            keep.append(token)
    return ";".join(keep)


def dose_values(exposures: pd.DataFrame, catalogue: Catalogue | None = None) -> pd.DataFrame:
    """Every dose value of the exposures, one row per value and quantity.

    Parameters
    ----------
    exposures : pandas.DataFrame
        As :func:`drl_analysis.store.database.load_exposures` returns: the columns
        ``source_file, sheet, source_row, data_source, year, facility_id,
        exam_code``, the dose columns of
        :data:`drl_analysis.core.columns.DOSE_QUANTITIES` (canonical units),
        ``ctdi_phantom_cm`` and ``flags``; missing optional columns are
        treated as empty.
    catalogue : Catalogue, optional
        Gives each CT exam's reference phantom (default: the shipped one).

    Returns
    -------
    pandas.DataFrame
        Columns ``row`` (position in ``exposures``), the identifying columns,
        ``quantity``, ``unit``, ``value`` (canonical unit of the quantity),
        ``weight_kg`` (NaN when missing or flagged implausible), ``flags``
        (the ingest flags concerning this value or its whole row),
        ``status`` (``"used"`` or a key of :data:`EXCLUSION_REASONS`, decided
        by :func:`drl_analysis.stats.selection.select_values`, the policy the
        DRL tables use too), ``phantom_group_cm`` (CT values: the phantom the
        value is judged in; NaN for other quantities).
        Values of every dose quantity present are listed, quantity by
        quantity (in the order of :data:`drl_analysis.core.columns.DOSE_QUANTITIES`),
        each in the order of ``exposures``.
    """
    _check_exposures(exposures)
    catalogue = catalogue or load_catalogue()
    n = len(exposures)
    frame = exposures.reset_index(drop=True)
    ids = {}
    for col in _ID_COLUMNS:
        ids[col] = frame[col] if col in frame else pd.Series([""] * n if col != "source_row" else range(n))
    flags_all = frame["flags"].fillna("").astype(str) if "flags" in frame else pd.Series([""] * n)
    selection = select_values(frame, catalogue)
    weight = (
        pd.to_numeric(frame["weight_kg"], errors="coerce")
        if "weight_kg" in frame
        else pd.Series(np.nan, index=frame.index, dtype=float)
    )
    weight_flagged = flags_all.map({f: is_implausible(f, "weight_kg") for f in flags_all.unique()}).astype(bool)
    weight = weight.where((weight > 0) & ~weight_flagged).to_numpy(dtype=float)
    status_names = np.array(list(STATUSES), dtype=object)
    parts = []
    for quantity, sel in selection.quantities.items():
        present = sel.present
        if not present.any():
            continue
        part = pd.DataFrame({col: ids[col].to_numpy()[present] for col in _ID_COLUMNS})
        part.insert(0, "row", np.flatnonzero(present))
        part["quantity"] = quantity
        part["unit"] = _unit(quantity)
        part["value"] = sel.values[present]
        part["weight_kg"] = weight[present]
        raw_flags = flags_all.to_numpy()[present]
        relevant = {f: _relevant_flags(f, quantity) for f in pd.unique(raw_flags)}
        part["flags"] = [relevant[f] for f in raw_flags]
        part["status"] = status_names[sel.status[present]]
        part["phantom_group_cm"] = sel.phantom[present]
        parts.append(part)
    if not parts:
        cols = ["row", *_ID_COLUMNS, "quantity", "unit", "value", "weight_kg", "flags", "status", "phantom_group_cm"]
        return pd.DataFrame(columns=cols)
    out = pd.concat(parts, ignore_index=True)
    out["exam_code"] = out["exam_code"].astype(str)
    out["facility_id"] = out["facility_id"].astype(str)
    return out


def plausible_exposures(
    exposures: pd.DataFrame,
    catalogue: Catalogue | None = None,
    *,
    values: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The exposures with every dose value left out of statistics set to NaN.

    Values flagged implausible at ingest, values that are not positive and CT
    values in another phantom than the exam's reference phantom become NaN;
    everything else is unchanged (same rows, same order). ``values``, the
    :func:`dose_values` (or :func:`score_values`) of the same exposures,
    saves computing them again.
    """
    values = dose_values(exposures, catalogue) if values is None else values
    out = exposures.reset_index(drop=True).copy()
    drop = values[values["status"] != "used"]
    for quantity, rows in drop.groupby("quantity")["row"]:
        out.loc[rows.to_numpy(), quantity] = np.nan
    return out


def excluded_values(values: pd.DataFrame) -> pd.DataFrame:
    """How many values of each exam and quantity were left out, and why.

    Parameters
    ----------
    values : pandas.DataFrame
        The output of :func:`dose_values` (or :func:`score_values`).

    Returns
    -------
    pandas.DataFrame
        ``exam_code, quantity, unit, status, reason, n_values, n_total``,
        sorted; empty when nothing was left out.
    """
    totals = values.groupby(["exam_code", "quantity"]).size().rename("n_total")
    left = values[values["status"] != "used"]
    out = left.groupby(["exam_code", "quantity", "status"]).size().rename("n_values").reset_index()
    out = out.join(totals, on=["exam_code", "quantity"])
    out["unit"] = out["quantity"].map(_unit)
    out["reason"] = out["status"].map(EXCLUSION_REASONS)
    cols = ["exam_code", "quantity", "unit", "status", "reason", "n_values", "n_total"]
    return out.reindex(columns=cols).sort_values(cols[:4]).reset_index(drop=True)


def _weight_exponent(residual: pd.Series, log_weight_dev: pd.Series, scale_floor: float) -> float:
    """Slope of log dose on log weight within facilities (through the origin,
    both centred per facility), refitted once without gross outliers; 0 with
    fewer than 30 weighed values, clipped to [0, 3] (dose does not fall with
    patient size, and no exam rises faster than the cube of it)."""
    ok = residual.notna() & log_weight_dev.notna() & (log_weight_dev != 0)
    r, x = residual[ok].to_numpy(), log_weight_dev[ok].to_numpy()
    if len(r) < 30 or float(np.sum(x * x)) == 0.0:
        return 0.0
    b = float(np.sum(x * r) / np.sum(x * x))
    e = r - b * x
    keep = np.abs(e - np.median(e)) <= 3 * max(_MAD_TO_SD * float(np.median(np.abs(e - np.median(e)))), scale_floor)
    if keep.sum() >= 30 and float(np.sum(x[keep] ** 2)) > 0:
        b = float(np.sum(x[keep] * r[keep]) / np.sum(x[keep] ** 2))
    return float(np.clip(b, 0.0, 3.0))


def score_values(
    exposures: pd.DataFrame,
    catalogue: Catalogue | None = None,
    *,
    params: OutlierParameters | None = None,
) -> pd.DataFrame:
    """Every dose value with its robust distance from its exam and its facility.

    Dose rises with patient size, so a value is compared with what its exam
    (or facility) gives a patient of its weight: within each exam and
    quantity, the slope of log10 dose on log10 weight (``weight_exponent``)
    is estimated from the facilities' own patients, and each weighed value's
    log10 distance is corrected by ``weight_exponent`` times its patient's
    log10 weight difference from the median patient. Values without a
    plausible weight are compared as they are.

    Parameters
    ----------
    exposures : pandas.DataFrame
        See :func:`dose_values`.
    catalogue : Catalogue, optional
        Default: the shipped catalogue.
    params : OutlierParameters, optional
        Default thresholds when None.

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`dose_values` plus, in the value's unit where
        they hold a dose: ``exam_median`` (median of the exam's values; CT
        values in another phantom than the reference are compared with their
        own kind only), ``ratio_to_median``, ``n_exam`` (values used),
        ``weight_exponent``, ``excess_exam_decades`` (weight-corrected log10
        distance from the exam's centre), ``exam_scale_decades`` (its robust
        SD), ``z_exam``, ``facility_median``, ``ratio_to_facility_median``,
        ``n_facility``, ``excess_facility_decades``,
        ``facility_scale_decades`` (pooled robust within-facility SD of the
        exam), ``z_facility``. The references use ``status == "used"``
        values only (``"other_phantom"`` values for their own kind); z scores
        are NaN where a reference has too few values.
    """
    params = params or OutlierParameters()
    values = dose_values(exposures, catalogue)
    # CT values in the other phantom are judged among themselves only: pooled
    # with the reference-phantom values, every one of them would look 2-3x off.
    pool = (values["status"] == "other_phantom").to_numpy()
    scorable = values["status"].isin(["used", "other_phantom"]).to_numpy()
    value = values["value"].to_numpy(dtype=float)
    log = np.log10(np.where(value > 0, value, np.nan))
    lw = np.log10(values["weight_kg"].to_numpy(dtype=float))
    # Integer ids of the exam and facility groups, found once: grouping by
    # the string keys again for every statistic costs most of the time.
    exam_id = values.assign(_pool=pool).groupby(["exam_code", "quantity", "_pool"], sort=False).ngroup().to_numpy()
    fac_id = (
        values.assign(_pool=pool)
        .groupby([*_FACILITY_GROUP, "_pool"], sort=False, dropna=False)
        .ngroup()
        .to_numpy()
    )

    def per_group(ids: np.ndarray, x: np.ndarray, how: str, mask: np.ndarray = scorable) -> np.ndarray:
        """A statistic of ``x`` over the masked rows of each group, given back per row."""
        stat = pd.Series(x[mask]).groupby(ids[mask]).agg(how)
        return stat.reindex(np.arange(ids.max() + 1 if len(ids) else 0)).to_numpy(dtype=float)[ids]

    values["exam_median"] = per_group(exam_id, value, "median")
    values["n_exam"] = np.nan_to_num(per_group(exam_id, value, "size")).astype(int)
    values["ratio_to_median"] = value / values["exam_median"].to_numpy()
    values["facility_median"] = per_group(fac_id, value, "median")
    values["n_facility"] = np.nan_to_num(per_group(fac_id, value, "size")).astype(int)
    values["ratio_to_facility_median"] = value / values["facility_median"].to_numpy()
    residual = log - np.log10(values["facility_median"].to_numpy())
    enough = values["n_facility"].to_numpy() >= params.min_facility_values

    # Patient size, from the facilities' own patients: between facilities,
    # weight and practice are mixed up.
    dw_fac = lw - per_group(fac_id, lw, "median")
    fit = scorable & enough
    slopes = {
        int(i): _weight_exponent(g["r"], g["x"], params.min_scale_decades)
        for i, g in pd.DataFrame({"r": residual[fit], "x": dw_fac[fit]}).groupby(exam_id[fit], sort=True)
    }
    b = np.array([slopes.get(i, 0.0) for i in range(exam_id.max() + 1 if len(exam_id) else 0)])[exam_id]
    values["weight_exponent"] = b
    dw_exam = np.nan_to_num(lw - per_group(exam_id, lw, "median"))
    adj_log = log - b * dw_exam
    excess_exam = adj_log - per_group(exam_id, adj_log, "median")
    exam_scale = _MAD_TO_SD * per_group(exam_id, np.abs(excess_exam), "median")
    # With most values equal the MAD is 0; the floor keeps z finite and sane.
    values["excess_exam_decades"] = excess_exam
    values["exam_scale_decades"] = exam_scale
    z = excess_exam / np.maximum(exam_scale, params.min_scale_decades)
    values["z_exam"] = np.where(values["n_exam"].to_numpy() >= params.min_exam_values, z, np.nan)

    excess = residual - b * np.nan_to_num(dw_fac)
    values["excess_facility_decades"] = excess
    # The within-facility spread of an exam is pooled over its facilities: one
    # facility's handful of values cannot estimate its own spread. Residuals
    # from a median that includes the value itself are shrunk towards zero in
    # small groups; n/(n-1) undoes most of it for 5-25 values.
    n_fac = values["n_facility"].to_numpy(dtype=float)
    shrink = np.where(enough, n_fac / np.maximum(n_fac - 1, 1), np.nan)
    fac_scale = _MAD_TO_SD * per_group(exam_id, np.abs(excess) * shrink, "median", scorable & enough)
    values["facility_scale_decades"] = fac_scale
    values["z_facility"] = np.where(enough, excess / np.maximum(fac_scale, params.min_scale_decades), np.nan)
    return values


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def _ratio_text(raw_ratio: float, excess_decades: float, name: str) -> str:
    """``"3.97 x the exam median; 4.81 x for a patient of this weight"``."""
    text = f"{_fmt(raw_ratio)} x the {name}"
    corrected = 10.0**excess_decades
    if np.isfinite(corrected) and abs(np.log10(raw_ratio) - excess_decades) > 0.02:
        text += f"; {_fmt(corrected)} x for a patient of this weight"
    return text


def _classify(row, params: OutlierParameters) -> tuple[str, str, int]:
    """Kind, reason text and slip power of one scored value."""
    t = params.z_threshold
    flags = row.flags
    ingest = f"flagged at ingest ({flags})" if flags else ""

    def done(kind: str, reason: str, k: int = 0) -> tuple[str, str, int]:
        return kind, "; ".join(filter(None, [reason, ingest])), k

    if row.status == "not_positive":
        return "", "", 0  # a data-quality finding (data_quality.csv), not a dose outlier
    fac_out = np.isfinite(row.z_facility) and abs(row.z_facility) > t
    exam_out = np.isfinite(row.z_exam) and abs(row.z_exam) > t
    # A value flagged at ingest was left out of the references; it is judged on
    # its ratios alone, and naming its slip factor helps whoever repairs it.
    alone = row.status == "implausible_at_ingest"
    if fac_out or (alone and np.isfinite(row.excess_facility_decades)):
        k = slip_power(row.excess_facility_decades, params.slip_min_decades)
        if k:
            where = f"{'above' if k > 0 else 'below'} the facility median"
            detail = _ratio_text(row.ratio_to_facility_median, row.excess_facility_decades, "facility median")
            return done("unit_slip", f"{REASON_PHRASES['unit_slip']}: {slip_factor_text(k)} {where} ({detail})", k)
    if exam_out or (alone and np.isfinite(row.excess_exam_decades)):
        agrees = not alone and np.isfinite(row.z_facility) and abs(row.z_facility) <= _TYPICAL_OF_FACILITY_Z
        if agrees:
            # The value is typical of its facility: the facility as a whole is
            # judged, and only a facility about a power of ten off is a slip.
            fac_ratio = row.facility_median / row.exam_median
            k = slip_power(np.log10(fac_ratio), params.exam_slip_min_decades)
            detail = f"as is its facility's median, {_fmt(fac_ratio)} x the exam median"
        else:
            # Flagged at ingest already: the nearest power of ten is the best guess.
            least = params.slip_min_decades if alone else params.exam_slip_min_decades
            k = slip_power(row.excess_exam_decades, least)
            detail = _ratio_text(row.ratio_to_median, row.excess_exam_decades, "exam median")
        if k:
            where = f"{'above' if k > 0 else 'below'} the exam median"
            return done("unit_slip", f"{REASON_PHRASES['unit_slip']}: {slip_factor_text(k)} {where} ({detail})", k)
    if fac_out or exam_out:
        if fac_out:
            z, where = row.z_facility, "its facility's values"
            detail = _ratio_text(row.ratio_to_facility_median, row.excess_facility_decades, "facility median")
        else:
            z, where = row.z_exam, "the exam distribution"
            detail = _ratio_text(row.ratio_to_median, row.excess_exam_decades, "exam median")
        kind = "far_above" if z > 0 else "far_below"
        return done(kind, f"{REASON_PHRASES[kind]} {where}: z = {z:+.1f} on log scale ({detail})")
    return "", "", 0  # flagged at ingest only: data_quality.csv lists it


def value_outliers(
    exposures: pd.DataFrame | None = None,
    catalogue: Catalogue | None = None,
    *,
    params: OutlierParameters | None = None,
    scored: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Single dose values far from their exam or facility (dose outliers).

    Values flagged at ingest are judged like the others (a flagged value that
    is far off is listed, with its flags in ``reason``); flags alone, unknown
    exam codes and values that are not positive are data-quality findings,
    listed by :func:`data_quality` and not here.

    Parameters
    ----------
    exposures : pandas.DataFrame, optional
        See :func:`dose_values`; not needed when ``scored`` is given.
    catalogue : Catalogue, optional
    params : OutlierParameters, optional
    scored : pandas.DataFrame, optional
        The output of :func:`score_values`, to avoid scoring twice.

    Returns
    -------
    pandas.DataFrame
        One row per outlying value: the columns of :data:`OUTLIER_COLUMNS`
        (``value`` and ``exam_median`` in the unit of ``quantity``;
        ``reason`` = a phrase of :data:`REASON_PHRASES`, a colon and the
        detail, e.g. ``"suspected unit slip: x100 above the exam median
        (ratio 97.1)"``), then ``unit, year, reason_kind`` (a key of
        :data:`REASON_PHRASES`), ``slip_factor`` (10, 100, 1000, 0.1, ...
        or NaN), ``z_exam, facility_median, ratio_to_facility_median,
        z_facility, weight_kg, weight_exponent, status, flags`` (see
        :func:`score_values`). Sorted by file, sheet, row, quantity.
    """
    params = params or OutlierParameters()
    if scored is None:
        if exposures is None:
            raise ValueError("give exposures or scored values")
        scored = score_values(exposures, catalogue, params=params)
    t = params.z_threshold
    candidate = (
        (scored["z_exam"].abs() > t)
        | (scored["z_facility"].abs() > t)
        | (scored["flags"] != "")
        | (scored["status"].isin(["implausible_at_ingest", "not_positive"]))
    )
    cand = scored[candidate.fillna(False)].reset_index(drop=True)
    # Only the few candidates are classified one by one; the scoring is vectorised.
    found = pd.DataFrame(
        [_classify(r, params) for r in cand.itertuples(index=False)],
        columns=["reason_kind", "reason", "_k"],
        index=cand.index,
    )
    out = cand.join(found)
    out = out[out["reason_kind"] != ""]
    out["slip_factor"] = np.where(out["_k"] != 0, 10.0 ** out["_k"].astype(float), np.nan)
    extra = [
        "unit",
        "year",
        "reason_kind",
        "slip_factor",
        "z_exam",
        "facility_median",
        "ratio_to_facility_median",
        "z_facility",
        "weight_kg",
        "weight_exponent",
        "status",
        "flags",
    ]
    out = out[[*OUTLIER_COLUMNS, *extra]]
    out = out.sort_values(["source_file", "sheet", "source_row", "quantity"], kind="stable")
    return out.reset_index(drop=True)


def _flag_issue(token: str) -> str:
    kind = token.partition(":")[0]
    if kind.startswith("unit_slip"):
        return "unit_slip_at_ingest"
    if kind in DATA_QUALITY_ISSUES and kind != "unknown_exam_code":
        return kind
    return "" if kind == "unknown_exam_code" else "other_flag"


def data_quality(
    values: pd.DataFrame, exposures: pd.DataFrame, catalogue: Catalogue | None = None
) -> pd.DataFrame:
    """Data-quality findings, one row per dose value and issue.

    Parameters
    ----------
    values : pandas.DataFrame
        :func:`dose_values` (or :func:`score_values`) of ``exposures``.
    exposures : pandas.DataFrame
        The exposures (for the stated CTDI phantom).
    catalogue : Catalogue, optional

    Returns
    -------
    pandas.DataFrame
        Columns :data:`DATA_QUALITY_COLUMNS`: where the value comes from, the
        value (unit of ``quantity``), ``issue`` (a key of
        :data:`DATA_QUALITY_ISSUES`), ``detail`` in words, ``status`` (whether
        the value counts, see :mod:`drl_analysis.stats.selection`) and the
        ingest ``flags`` concerning it. Sorted by file, sheet, row, quantity,
        issue.
    """
    catalogue = catalogue or load_catalogue()
    cols = [c for c in DATA_QUALITY_COLUMNS if c not in ("issue", "detail")]
    parts = []

    def add(mask: np.ndarray, issue: str, detail) -> None:
        if mask.any():
            part = values.loc[mask, cols].copy()
            part["issue"] = issue
            part["detail"] = detail[mask] if isinstance(detail, np.ndarray) else detail
            parts.append(part)

    codes = values["exam_code"].astype(str)
    add(~codes.isin(catalogue.codes).to_numpy(), "unknown_exam_code", "not in the catalogue: no DRL to compare with")
    flags = values["flags"].fillna("").astype(str)
    by_issue: dict[str, dict[str, str]] = {}
    for f in pd.unique(flags):
        for token in filter(None, f.split(";")):
            issue = _flag_issue(token)
            if issue:
                seen = by_issue.setdefault(issue, {})
                seen[f] = ";".join(filter(None, [seen.get(f, ""), token]))
    for issue in DATA_QUALITY_ISSUES:
        if issue in by_issue:
            tokens = flags.map(by_issue[issue]).fillna("")
            add((tokens != "").to_numpy(), issue, ("flagged at ingest: " + tokens).to_numpy(dtype=object))
    value = values["value"].to_numpy(dtype=float)
    add(~(value > 0), "not_positive", "zero or negative")
    if "ctdi_phantom_cm" in exposures:
        stated = pd.to_numeric(exposures["ctdi_phantom_cm"], errors="coerce").to_numpy(dtype=float)
        missing = np.isnan(stated[values["row"].to_numpy(dtype=int)]) if len(values) else np.zeros(0, dtype=bool)
    else:
        missing = np.ones(len(values), dtype=bool)
    ct = values["quantity"].isin(CT_QUANTITIES).to_numpy() & missing
    group = values["phantom_group_cm"].to_numpy(dtype=float) if "phantom_group_cm" in values else np.full(len(values), np.nan)
    detail = np.array(
        [f"taken to be in the {g:g} cm phantom" if np.isfinite(g) else "no reference phantom known" for g in group],
        dtype=object,
    ) if ct.any() else ""
    add(ct, "phantom_missing", detail)
    if not parts:
        return pd.DataFrame(columns=list(DATA_QUALITY_COLUMNS))
    out = pd.concat(parts, ignore_index=True)
    out["_issue"] = out["issue"].map(list(DATA_QUALITY_ISSUES).index)
    out = out.sort_values(["source_file", "sheet", "source_row", "quantity", "_issue"], kind="stable")
    return out.drop(columns="_issue")[list(DATA_QUALITY_COLUMNS)].reset_index(drop=True)

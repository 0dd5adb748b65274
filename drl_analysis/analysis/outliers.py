"""Outliers and alerts: values far from their exam, facilities above the DRL.

Three levels, one job each:

Values
    :func:`score_values` places every dose value on a log scale against two
    robust references: the median and MAD of its exam code and quantity
    (``z_exam``), and the median of its own facility for that exam and year,
    scaled by the typical within-facility spread of the exam
    (``z_facility``); both allow for the patient's weight where it is known.
    :func:`value_outliers` keeps the values beyond the threshold on either
    scale, names those a power of ten off their reference (nearest power,
    10 to 1000) as suspected unit slips, calls the others far above or below,
    and adds every value flagged at ingest. The within-facility reference is
    much narrower than the exam distribution, so a ×10 slip of a low-dose
    facility is still found; a value typical of its own facility is judged
    by the facility's median, so a facility that practises high is "far
    above", and a whole submission in the wrong unit is a slip.
Facilities
    :func:`facility_medians` gives each facility's median per exam, quantity
    and year (via :func:`drl_analysis.stats.drl_tables.facility_values`) next to the
    current DRL and the survey's P95 of facility medians;
    :func:`facility_outliers` keeps those above either.
Alerts
    :func:`alerts` lists facilities above the current DRL for the same exam
    in several years (or in every year they reported) and data sources whose
    share of implausible values exceeds a threshold, one line per alert with
    its evidence.

What is left out of the references is said, never hidden: values flagged
implausible at ingest (:func:`drl_analysis.core.columns.is_implausible`), values
that are not positive, and CT values measured in another CTDI phantom than
the exam's reference phantom (16 cm values are 2–3 times the 32 cm ones and
must not be pooled). :func:`excluded_values` counts them.

All doses are in the canonical units of :mod:`drl_analysis.core.columns`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from ..core.catalogue import Catalogue, load_catalogue
from ..core.columns import CT_QUANTITIES, DOSE_QUANTITIES, QUANTITIES, is_implausible
from ..core.errors import UserError
from ..core.slips import EXAM_MIN_DECADES, FACILITY_MIN_DECADES, slip_factor_text, slip_power
from ..stats.drl_tables import facility_values
from ..stats.quantiles import check_quantile_method, quantile
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


def facility_medians(
    exposures: pd.DataFrame,
    catalogue: Catalogue | None = None,
    *,
    params: OutlierParameters | None = None,
    edition: str | None = None,
    values: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Each facility's median per exam, quantity and year, with the DRL and P95.

    Parameters
    ----------
    exposures : pandas.DataFrame
        See :func:`dose_values`. Values left out of statistics (see
        :func:`plausible_exposures`) do not enter the medians.
    catalogue : Catalogue, optional
    params : OutlierParameters, optional
        ``min_per_facility``, ``min_facilities_p95`` and ``quantile_method``
        apply.
    edition : str, optional
        DRL edition; None takes the newest edition per exam and quantity.
    values : pandas.DataFrame, optional
        :func:`score_values` of the same exposures, to avoid recomputing.

    Returns
    -------
    pandas.DataFrame
        ``exam_code, exam_name, quantity, unit, year, data_source,
        facility_id, n_exams, facility_median`` (unit of the quantity),
        ``drl, drl_edition`` (NaN/"" where the catalogue has no DRL),
        ``ratio_to_drl``, ``survey_p95`` (P95 of this exam's facility
        medians in that year; NaN below ``min_facilities_p95``),
        ``n_facilities``; sorted.
    """
    params = params or OutlierParameters()
    catalogue = catalogue or load_catalogue()
    clean = plausible_exposures(exposures, catalogue, values=values)
    clean["exam_code"] = clean["exam_code"].astype(str)
    clean["facility_id"] = clean["facility_id"].astype(str)
    parts = []
    for quantity in DOSE_QUANTITIES:
        if quantity not in clean or clean[quantity].notna().sum() == 0:
            continue
        fv = facility_values(
            clean, quantity, min_per_facility=params.min_per_facility, by=("exam_code", "year")
        )
        if fv.empty:
            continue
        fv = fv.rename(columns={"value": "facility_median"})
        fv["quantity"] = quantity
        parts.append(fv)
    cols = [
        "exam_code",
        "exam_name",
        "quantity",
        "unit",
        "year",
        "data_source",
        "facility_id",
        "n_exams",
        "facility_median",
        "drl",
        "drl_edition",
        "ratio_to_drl",
        "survey_p95",
        "n_facilities",
    ]
    if not parts:
        return pd.DataFrame(columns=cols)
    out = pd.concat(parts, ignore_index=True)
    out["unit"] = out["quantity"].map(_unit)
    pairs = out[["exam_code", "quantity"]].drop_duplicates()
    drls = {}
    for code, quantity in pairs.itertuples(index=False):
        value, ed = catalogue.current_drl(code, quantity, edition)
        drls[(code, quantity)] = (np.nan if value is None else value, ed or "")
    key = list(zip(out["exam_code"], out["quantity"]))
    out["drl"] = [drls[k][0] for k in key]
    out["drl_edition"] = [drls[k][1] for k in key]
    out["exam_name"] = out["exam_code"].map({c: catalogue.exam_name(c) or "" for c in out["exam_code"].unique()})
    out["ratio_to_drl"] = out["facility_median"] / out["drl"]
    group = out.groupby(["exam_code", "quantity", "year"], dropna=False)["facility_median"]
    out["n_facilities"] = group.transform("size")

    def p95(x: pd.Series) -> float:
        if len(x) < params.min_facilities_p95:
            return np.nan
        return float(quantile(x.to_numpy(), 0.95, method=params.quantile_method))

    out["survey_p95"] = group.transform(p95)
    out = out[cols].sort_values(["exam_code", "quantity", "year", "data_source", "facility_id"], kind="stable")
    return out.reset_index(drop=True)


def facility_outliers(medians: pd.DataFrame) -> pd.DataFrame:
    """Facilities whose median lies above the current DRL or the survey's P95.

    Parameters
    ----------
    medians : pandas.DataFrame
        The output of :func:`facility_medians`.

    Returns
    -------
    pandas.DataFrame
        The rows of ``medians`` above either, with ``above_drl``,
        ``above_p95`` (bool) and ``reason`` (``"above the DRL"``,
        ``"above the survey P95"`` or both joined by ``" and "``); sorted
        by exam, quantity, year, facility.
    """
    above_drl = (medians["facility_median"] > medians["drl"]).fillna(False).astype(bool)
    above_p95 = (medians["facility_median"] > medians["survey_p95"]).fillna(False).astype(bool)
    out = medians.assign(above_drl=above_drl, above_p95=above_p95)
    out = out[out["above_drl"] | out["above_p95"]].copy()
    reasons = np.where(out["above_drl"], "above the DRL", "")
    reasons = [
        " and ".join(filter(None, [a, "above the survey P95" if b else ""]))
        for a, b in zip(reasons, out["above_p95"])
    ]
    out["reason"] = reasons
    return out.reset_index(drop=True)


ALERT_COLUMNS: tuple[str, ...] = (
    "alert",
    "data_source",
    "facility_id",
    "exam_code",
    "exam_name",
    "quantity",
    "unit",
    "years",
    "years_reported",
    "facility_medians",
    "drl",
    "drl_edition",
    "n_implausible",
    "n_values",
    "share_implausible",
    "evidence",
)


def _year_text(years) -> str:
    return ";".join(str(int(y)) for y in sorted(years) if pd.notna(y))


def facility_alerts(medians: pd.DataFrame, *, params: OutlierParameters | None = None) -> pd.DataFrame:
    """Facilities above the current DRL for one exam in several or all reported years.

    Parameters
    ----------
    medians : pandas.DataFrame
        The output of :func:`facility_medians`; rows without a DRL are ignored.
    params : OutlierParameters, optional
        ``min_alert_years`` applies.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`ALERT_COLUMNS`, ``alert = "facility_above_drl"``;
        ``years`` the years above the DRL, ``years_reported`` the years with
        a facility median, ``facility_medians`` "year: median" per reported
        year (unit of the quantity).
    """
    params = params or OutlierParameters()
    keys = ["data_source", "facility_id", "exam_code", "quantity"]
    m = medians[medians["drl"].notna()].sort_values([*keys, "year"], kind="stable")
    m = m.assign(_above=m["facility_median"] > m["drl"])
    by = m.groupby(keys, sort=True)
    counts = pd.DataFrame({"n_above": by["_above"].sum(), "n_years": by["_above"].size()})
    alerted = counts[
        (counts["n_above"] >= 1)
        & ((counts["n_above"] >= params.min_alert_years) | (counts["n_above"] == counts["n_years"]))
    ]
    if alerted.empty:
        return pd.DataFrame(columns=list(ALERT_COLUMNS))
    m = m.join(alerted, on=keys, how="inner")
    year = m["year"].astype(int).astype(str)
    m = m.assign(
        _year=year,
        _year_above=year.where(m["_above"], ""),
        _median=year + ": " + m["facility_median"].map(_fmt),
    )
    g = m.groupby(keys, sort=True)
    out = g.agg(
        exam_name=("exam_name", "first"),
        unit=("unit", "first"),
        drl=("drl", "first"),
        drl_edition=("drl_edition", "first"),
        years_reported=("_year", ";".join),
        years=("_year_above", lambda y: ";".join(v for v in y if v)),
        facility_medians=("_median", "; ".join),
    ).join(alerted)
    out = out.reset_index()
    how = np.where(
        out["n_above"] == out["n_years"],
        "in every year it reported",
        "in " + out["n_above"].astype(str) + " of " + out["n_years"].astype(str) + " reported years",
    )
    out["evidence"] = [
        f"facility median above the DRL of {_fmt(d)} {u} ({e}) {h} ({y}); medians {fm} {u}"
        for d, u, e, h, y, fm in zip(
            out["drl"], out["unit"], out["drl_edition"], how, out["years"], out["facility_medians"]
        )
    ]
    out["alert"] = "facility_above_drl"
    return out.reindex(columns=list(ALERT_COLUMNS)).reset_index(drop=True)


def source_alerts(
    scored: pd.DataFrame, outliers: pd.DataFrame | None = None, *, params: OutlierParameters | None = None
) -> pd.DataFrame:
    """Data sources whose share of implausible dose values is above the threshold.

    A value is implausible when it was flagged so at ingest, is not positive,
    or is a suspected unit slip found here.

    Parameters
    ----------
    scored : pandas.DataFrame
        The output of :func:`score_values`.
    outliers : pandas.DataFrame, optional
        The output of :func:`value_outliers` for the same values (computed
        when None).
    params : OutlierParameters, optional
        ``implausible_share_threshold`` applies.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`ALERT_COLUMNS`, ``alert = "source_implausible_share"``;
        ``years`` the years the source reported; ``evidence`` gives the share
        per year.
    """
    params = params or OutlierParameters()
    if outliers is None:
        outliers = value_outliers(scored=scored, params=params)
    keys = ["source_file", "sheet", "source_row", "quantity"]
    slips = outliers.loc[outliers["reason_kind"] == "unit_slip", keys].assign(_slip=True)
    # Only values beyond a threshold can be slips: match those few, not every value.
    t = params.z_threshold
    candidate = ((scored["z_exam"].abs() > t) | (scored["z_facility"].abs() > t)).to_numpy()
    slipped = np.zeros(len(scored), dtype=bool)
    if candidate.any() and len(slips):
        matched = scored.loc[candidate, keys].merge(slips, on=keys, how="left")["_slip"].eq(True).to_numpy()
        slipped[np.flatnonzero(candidate)] = matched
    v = scored[["data_source", "year"]].assign(
        _bad=scored["status"].isin(["implausible_at_ingest", "not_positive"]).to_numpy() | slipped
    )
    rows = []
    for source, g in v.groupby("data_source", sort=True):
        n, bad = len(g), int(g["_bad"].sum())
        share = bad / n if n else 0.0
        if share <= params.implausible_share_threshold:
            continue
        per_year = g.groupby("year", dropna=False)["_bad"].agg(["sum", "size"])
        detail = "; ".join(
            f"{'?' if pd.isna(y) else int(y)}: {int(s)} of {int(c)} ({s / c:.1%})"
            for y, (s, c) in per_year.iterrows()
        )
        rows.append(
            {
                "alert": "source_implausible_share",
                "data_source": source,
                "years": _year_text(g["year"].unique()),
                "n_implausible": bad,
                "n_values": n,
                "share_implausible": share,
                "evidence": (
                    f"{bad} of {n} dose values implausible ({share:.1%}, threshold "
                    f"{params.implausible_share_threshold:.1%}); by year {detail}"
                ),
            }
        )
    return pd.DataFrame(rows).reindex(columns=list(ALERT_COLUMNS))


def alerts(
    medians: pd.DataFrame,
    scored: pd.DataFrame,
    outliers: pd.DataFrame | None = None,
    *,
    params: OutlierParameters | None = None,
) -> pd.DataFrame:
    """Every alert in one table, one line per alert, with its evidence.

    Facility alerts (:func:`facility_alerts`) come first, then data-source
    alerts (:func:`source_alerts`); each part sorted.
    """
    parts = [facility_alerts(medians, params=params), source_alerts(scored, outliers, params=params)]
    parts = [p for p in parts if not p.empty]
    if not parts:
        return pd.DataFrame(columns=list(ALERT_COLUMNS))
    return pd.concat(parts, ignore_index=True)


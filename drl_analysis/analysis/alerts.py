"""Facilities and alerts: facility medians above the DRL or the survey's P95,
and the alerts that follow from them and from the dose values.

Facilities
    :func:`facility_medians` gives each facility's median per exam, quantity
    and year (of the values :mod:`drl_analysis.stats.selection` counts, via
    :func:`drl_analysis.stats.facilities.facility_values`) next to the current
    DRL and the survey's P95 of facility medians; :func:`facility_outliers`
    keeps those above either.
Alerts
    :func:`alerts` lists facilities above the current DRL for the same exam
    in several years (or in every year they reported) and data sources whose
    share of implausible values exceeds a threshold, one line per alert with
    its evidence.

All doses are in the canonical units of :mod:`drl_analysis.core.columns`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..core.catalogue import Catalogue, load_catalogue
from ..core.columns import DOSE_QUANTITIES
from ..stats.facilities import facility_values
from ..stats.quantiles import quantile
from .outliers import (
    OutlierParameters,
    _fmt,
    _unit,
    plausible_exposures,
    value_outliers,
)


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


"""Clustering of exam codes and of data sources by their dose/DRL profiles.

Exam codes
    :func:`exam_features` describes each exam code (with a DRL) by the median
    of dose/DRL in each survey year and the quartile coefficient of
    dispersion (QCD) of dose/DRL in each year: exams whose practice sits
    well below, near or above the DRL, drifts, or scatters widely fall apart.
    (A QCD pooled over years would count a drift as dispersion.)
Data sources
    :func:`source_features` describes each data source (medical body) by the
    QCD of dose/DRL across its exam codes in each year: bodies whose
    facilities scatter widely stand out.

:func:`cluster_features` does the clustering for both:

1. medians are clustered on a log scale (they are ratios);
2. features present for too few items are dropped, items with too few
   features are left out, and remaining gaps are filled with the item's mean
   of its features of the same kind; all of it is counted and noted;
3. features are standardised, then weighted by their *reliability*: the share
   of their variance between items that is not sampling noise, the noise
   being estimated by resampling each item's facilities (the survey's unit).
   Without it a feature that differs between items only by chance (say, the
   QCDs when all exams are equally dispersed) weighs as much as a real
   difference and splits true groups at random;
4. k is chosen by the silhouette over k = 2..min(``k_max``, n-1) unless
   given; KMeans with an explicit ``n_init`` and ``random_state``;
   agglomerative clustering (Ward) of the same features is the second view,
   with its linkage for a dendrogram;
5. cluster centres are reported in original units, with the features that
   set each cluster apart.

dose/DRL is dimensionless: each value in its canonical unit divided by the
current DRL of its exam (newest catalogue edition unless one is given).
Values left out of statistics (see
:func:`drl_analysis.analysis.outliers.plausible_exposures`) are not used.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import linkage
from sklearn.cluster import AgglomerativeClustering, KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score, silhouette_score
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from ..core.catalogue import Catalogue, load_catalogue
from ..core.columns import QUANTITIES
from ..core.errors import UserError
from ..stats.quantiles import resample_counts, weighted_quartiles
from .outliers import plausible_exposures


@dataclass
class ClusterResult:
    """The outcome of :func:`cluster_features`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per item (clustered or not), index = item id: ``cluster``
        (KMeans, 1..k; NA when not clustered), the features in original
        units (NaN where missing), ``ward_cluster``, ``n_imputed``,
        ``imputed`` (names of filled features, ";"-joined), ``note``.
    features : list of str
        Feature columns used, in order.
    items : list of str
        Ids of the clustered items, the rows of ``scaled``.
    scaled : numpy.ndarray of shape (n_items, n_features)
        Standardised, reliability-weighted features of the clustered items.
    weights : pandas.DataFrame
        One row per feature: ``feature, label, scale`` ("log" or "linear"),
        ``mean`` (original units; geometric mean on log scale), ``sd`` and
        ``noise_sd`` (on the clustering scale), ``reliability``, ``weight``.
    k : int or None
        Number of clusters used; None when too few items.
    k_chosen_by : str
        ``"silhouette"``, ``"given"``, ``"given, capped"`` or ``"none"``.
    selection : pandas.DataFrame
        ``k, silhouette`` for every k tried (silhouette of KMeans labels).
    centres : pandas.DataFrame
        One row per KMeans cluster: ``cluster, n_members, members, drivers``
        then each feature's centre in original units (geometric means for
        log-scaled features).
    linkage : numpy.ndarray or None
        Ward linkage matrix of ``scaled`` (scipy format), for dendrograms.
    pca : numpy.ndarray of shape (n_items, 2)
        First two principal components of ``scaled``.
    pca_explained : tuple of float
        Share of variance of each component.
    ari_kmeans_ward : float
        Adjusted Rand index between KMeans and Ward labels (NaN if none).
    notes : list of str
        What was dropped, left out, filled or weighted, and why.
    """

    table: pd.DataFrame
    features: list[str]
    items: list[str]
    scaled: np.ndarray
    weights: pd.DataFrame
    k: int | None
    k_chosen_by: str
    selection: pd.DataFrame
    centres: pd.DataFrame
    linkage: np.ndarray | None
    pca: np.ndarray
    pca_explained: tuple[float, float]
    ari_kmeans_ward: float
    notes: list[str] = field(default_factory=list)


def _relabel(labels: np.ndarray) -> np.ndarray:
    """Number clusters 1, 2, ... in the order their first member appears, so
    that labels do not depend on the algorithm's arbitrary numbering."""
    mapping: dict[int, int] = {}
    for lab in labels:
        mapping.setdefault(int(lab), len(mapping) + 1)
    return np.array([mapping[int(lab)] for lab in labels], dtype=int)


def _fill(values: pd.DataFrame, groups: dict[str, str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fill missing features: with the item's mean of its other features of
    the same kind, else with the feature's mean over items."""
    filled = values.copy()
    missing = values.isna()
    for kind in sorted(set(groups.values())):
        cols = [c for c in values.columns if groups.get(c) == kind]
        row_mean = values[cols].mean(axis=1)
        for c in cols:
            filled[c] = filled[c].fillna(row_mean)
    filled = filled.fillna(values.mean(axis=0))
    return filled, missing


def _driver_text(z: pd.Series, weight: pd.Series, labels: dict[str, str], top: int = 3) -> str:
    """The features that set a cluster apart: largest weighted distance of
    its centre from the mean of all items, shown in standard deviations."""
    order = (z * weight).abs().sort_values(ascending=False, kind="stable")
    parts = []
    for name in order.index[:top]:
        if order[name] < 0.5:
            break
        value = float(z[name])
        parts.append(f"{labels.get(name, name)} {'high' if value > 0 else 'low'} ({value:+.1f} SD)")
    return "; ".join(parts) if parts else "close to the average of all items"


def _check_k(k: int | None) -> None:
    if k is not None and (isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2):
        raise UserError(f"k: {k!r} is not a number of clusters of at least 2 (leave it empty to choose by silhouette)")


def _reliability(filled: pd.DataFrame, noise_sd: pd.DataFrame | None) -> tuple[pd.Series, pd.Series]:
    """Each feature's noise SD and reliability, 1 - noise variance / variance."""
    cols = list(filled.columns)
    if noise_sd is None:
        return pd.Series(np.nan, index=cols), pd.Series(1.0, index=cols)
    total = filled.var(axis=0, ddof=1)
    noise = noise_sd.reindex(index=filled.index, columns=cols)
    noise_var = (noise**2).mean(axis=0, skipna=True).fillna(0.0)
    rel = (1.0 - noise_var / total.where(total > 0)).clip(lower=0.0, upper=1.0).fillna(0.0)
    return np.sqrt(noise_var), rel


def cluster_features(  # noqa: C901 - the five steps of the module docstring, in order
    features: pd.DataFrame,
    *,
    k: int | None = None,
    seed: int = 0,
    n_init: int = 20,
    k_max: int = 8,
    log_features: tuple[str, ...] | list[str] = (),
    groups: dict[str, str] | None = None,
    min_present: float = 0.5,
    noise_sd: pd.DataFrame | None = None,
    feature_labels: dict[str, str] | None = None,
) -> ClusterResult:
    """Cluster items described by numeric features (KMeans, with Ward as a second view).

    Parameters
    ----------
    features : pandas.DataFrame of shape (n_items, n_features)
        Index = item ids (unique); numeric columns; NaN = missing.
    k : int, optional
        Number of clusters, at least 2; None chooses it by the silhouette
        over k = 2..min(``k_max``, n-1). A k above n-1 is capped (noted).
    seed : int, default 0
        ``random_state`` of KMeans.
    n_init : int, default 20
        KMeans restarts; the best inertia wins.
    k_max : int, default 8
        Largest k tried by the silhouette.
    log_features : sequence of str
        Positive ratio features clustered on a log scale (non-positive
        values count as missing).
    groups : dict, optional
        Feature -> kind; a missing feature is filled with the item's mean of
        its features of the same kind (default: all one kind), else with the
        feature's mean over items. Filled cells are counted per item.
    min_present : float, default 0.5
        Features present for fewer than this share of items are dropped;
        then items with fewer than this share of the features are left out.
    noise_sd : pandas.DataFrame of shape (n_items, n_features), optional
        Sampling standard error of each feature value, on the clustering
        scale (natural log for ``log_features``). Given, each standardised
        feature is weighted by the square root of its reliability; None
        weighs all features alike.
    feature_labels : dict, optional
        Feature -> readable label (for ``drivers`` and ``weights``).

    Returns
    -------
    ClusterResult
    """
    if not isinstance(features, pd.DataFrame):
        raise TypeError(f"features must be a pandas DataFrame, not {type(features).__name__}")
    if features.index.has_duplicates:
        raise ValueError("features: item ids (the index) must be unique")
    _check_k(k)
    if n_init < 1 or k_max < 2:
        raise ValueError("n_init must be at least 1 and k_max at least 2")
    if not 0 < min_present <= 1:
        raise ValueError("min_present must be a share in (0, 1]")
    labels = dict(feature_labels or {})
    log_set = set(log_features)
    notes: list[str] = []
    table = features.astype(float).copy()
    values = table.copy()
    for c in log_set & set(values.columns):
        values[c] = values[c].where(values[c] > 0)

    share = values.notna().mean(axis=0) if len(values) else pd.Series(0.0, index=values.columns)
    dropped = [c for c in values.columns if share[c] < min_present]
    if dropped:
        notes.append(
            f"{len(dropped)} feature(s) present for fewer than {min_present:.0%} of items were dropped: "
            + ", ".join(labels.get(c, c) for c in dropped)
        )
    used = [c for c in values.columns if c not in dropped]
    values = values[used]
    note = pd.Series("", index=table.index, dtype=object)
    keep = values.notna().mean(axis=1) >= min_present if used else pd.Series(False, index=values.index)
    for item in values.index[~keep]:
        note[item] = f"left out: {int(values.loc[item].notna().sum())} of {len(used)} features present"
    if (~keep).any():
        notes.append(f"{int((~keep).sum())} item(s) with too few features were left out of the clustering")
    values = values[keep]
    items = [str(i) for i in values.index]
    n = len(items)

    logged = values.copy()
    for c in log_set & set(used):
        logged[c] = np.log(logged[c])
    filled, missing = _fill(logged, {c: (groups or {}).get(c, "all") for c in used})
    n_imputed = missing.sum(axis=1)
    imputed = missing.apply(lambda r: ";".join(c for c in used if r[c]), axis=1)
    if int(n_imputed.sum()):
        notes.append(
            f"{int(n_imputed.sum())} missing feature value(s) of {int((n_imputed > 0).sum())} item(s) were "
            "filled with the item's mean of its features of the same kind (else the feature's mean)"
        )

    if n >= 2:
        noise, rel = _reliability(filled, noise_sd)
    else:
        noise, rel = pd.Series(np.nan, index=used), pd.Series(1.0, index=used)
    weight = np.sqrt(rel)
    if noise_sd is not None and used and n >= 2 and float(rel.max()) == 0.0:
        # Weighting everything by zero would leave nothing to cluster.
        notes.append("no feature varies between items more than its resampling noise; features left unweighted")
        weight = pd.Series(1.0, index=used)
    scaler = StandardScaler().fit(filled.to_numpy()) if n and used else None
    standard = scaler.transform(filled.to_numpy()) if scaler is not None else np.zeros((n, len(used)))
    scaled = standard * weight.to_numpy()[None, :] if used else standard
    weights = pd.DataFrame(
        {
            "feature": used,
            "label": [labels.get(c, c) for c in used],
            "scale": ["log" if c in log_set else "linear" for c in used],
            "mean": [
                (float(np.exp(filled[c].mean())) if c in log_set else float(filled[c].mean())) if n else np.nan
                for c in used
            ],
            "sd": [float(filled[c].std(ddof=1)) if n >= 2 else np.nan for c in used],
            "noise_sd": noise.to_numpy(dtype=float),
            "reliability": rel.to_numpy(dtype=float),
            "weight": weight.to_numpy(dtype=float),
        }
    )
    low = [labels.get(c, c) for c in used if rel[c] < 0.5]
    if noise_sd is not None and used and len(low) == len(used):
        notes.append(
            f"no feature varies between items clearly more than its sampling noise (largest reliability "
            f"{float(rel.max()):.2f}): the clusters do not separate real groups"
        )
    elif noise_sd is not None and low:
        notes.append(f"feature(s) mostly sampling noise, weighted down: {', '.join(low)}")

    kmeans_labels = ward_labels = None
    chosen_by, k_used, Z = "none", None, None
    selection = pd.DataFrame({"k": pd.Series(dtype=int), "silhouette": pd.Series(dtype=float)})
    pca_xy, explained = np.zeros((n, 2)), (np.nan, np.nan)
    centres = pd.DataFrame(columns=["cluster", "n_members", "members", "drivers", *used])
    distinct = len(np.unique(np.round(scaled, 12), axis=0)) if n and used else 0
    if n < 3 or not used or distinct < 2:
        notes.append(f"too few distinct items to cluster ({n} item(s), {distinct} distinct)")
    else:
        k_hi = max(2, min(k_max, n - 1, distinct))
        # A few dozen items: starting OpenMP threads costs far more than the fits
        # (50x on two busy cores), so the clustering runs on one thread.
        with threadpool_limits(limits=1):
            fits = {
                kk: KMeans(n_clusters=kk, n_init=n_init, random_state=seed).fit(scaled) for kk in range(2, k_hi + 1)
            }
            selection = pd.DataFrame(
                {
                    "k": list(fits),
                    "silhouette": [
                        float(np.round(silhouette_score(scaled, km.labels_), 12))
                        if 2 <= len(set(km.labels_)) <= n - 1
                        else np.nan
                        for km in fits.values()
                    ],
                }
            )
            if k is None:
                best = selection.dropna(subset=["silhouette"])
                # Ties go to the smaller k (idxmax takes the first maximum).
                k_used = int(best.loc[best["silhouette"].idxmax(), "k"]) if not best.empty else 2
                chosen_by = "silhouette"
            elif k > min(n - 1, distinct):
                k_used = min(n - 1, distinct)
                chosen_by = "given, capped"
                notes.append(f"k = {k} was asked, but {n} item(s) allow at most {k_used}; used {k_used}")
            else:
                k_used, chosen_by = int(k), "given"
            km = fits.get(k_used) or KMeans(n_clusters=k_used, n_init=n_init, random_state=seed).fit(scaled)
            kmeans_labels = _relabel(km.labels_)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ward = AgglomerativeClustering(n_clusters=k_used, linkage="ward").fit(scaled)
            ward_labels = _relabel(ward.labels_)
        Z = linkage(scaled, method="ward")
        n_comp = min(2, scaled.shape[1], n)
        pca = PCA(n_components=n_comp, svd_solver="full").fit(scaled)
        pca_xy = np.zeros((n, 2))
        pca_xy[:, :n_comp] = pca.transform(scaled)
        # The sign of a principal component is arbitrary: fix it so that the
        # largest loading is positive and figures do not flip between versions.
        for j in range(n_comp):
            if pca.components_[j][np.argmax(np.abs(pca.components_[j]))] < 0:
                pca_xy[:, j] *= -1
        ev = [*pca.explained_variance_ratio_, 0.0, 0.0]
        explained = (float(ev[0]), float(ev[1]))

        centre_rows = []
        for c in range(1, k_used + 1):
            member = kmeans_labels == c
            z = pd.Series(standard[member].mean(axis=0), index=used)
            centre = filled[member].mean(axis=0)
            for f in log_set & set(used):
                centre[f] = float(np.exp(centre[f]))
            centre_rows.append(
                {
                    "cluster": c,
                    "n_members": int(member.sum()),
                    "members": ";".join(items[i] for i in np.flatnonzero(member)),
                    "drivers": _driver_text(z, weight, labels),
                    **centre.to_dict(),
                }
            )
        centres = pd.DataFrame(centre_rows)

    out = table[used].copy()
    out.insert(0, "cluster", pd.array([pd.NA] * len(out), dtype="Int64"))
    out["ward_cluster"] = pd.array([pd.NA] * len(out), dtype="Int64")
    out["n_imputed"] = 0
    out["imputed"] = ""
    out["note"] = note
    if kmeans_labels is not None:
        out.loc[values.index, "cluster"] = kmeans_labels
        out.loc[values.index, "ward_cluster"] = ward_labels
    out.loc[values.index, "n_imputed"] = n_imputed.astype(int)
    out.loc[values.index, "imputed"] = imputed
    ari = float(adjusted_rand_score(kmeans_labels, ward_labels)) if kmeans_labels is not None else np.nan
    return ClusterResult(
        table=out,
        features=used,
        items=items,
        scaled=scaled,
        weights=weights,
        k=k_used,
        k_chosen_by=chosen_by,
        selection=selection,
        centres=centres,
        linkage=Z,
        pca=pca_xy,
        pca_explained=explained,
        ari_kmeans_ward=ari,
        notes=notes,
    )


def dose_to_drl(
    exposures: pd.DataFrame,
    catalogue: Catalogue | None = None,
    *,
    edition: str | None = None,
    values: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Each usable value of every DRL quantity of its exam divided by the current DRL.

    An exam with DRLs for several quantities (CT: CTDIvol and DLP) gives one
    row per value and quantity.

    Parameters
    ----------
    exposures : pandas.DataFrame
        See :func:`drl_analysis.analysis.outliers.dose_values`.
    catalogue : Catalogue, optional
    edition : str, optional
        DRL edition; None takes the newest per exam.
    values : pandas.DataFrame, optional
        :func:`drl_analysis.analysis.outliers.dose_values` of the same exposures, to
        avoid recomputing them.

    Returns
    -------
    pandas.DataFrame
        ``data_source, facility_id, year, exam_code, quantity, drl,
        drl_edition, dose_to_drl`` (dimensionless; ``drl`` in the canonical
        unit of ``quantity``); exam codes without a DRL are absent.
    """
    catalogue = catalogue or load_catalogue()
    clean = plausible_exposures(exposures, catalogue, values=values)
    clean["exam_code"] = clean["exam_code"].astype(str)
    parts = []
    for code, g in clean.groupby("exam_code", sort=True):
        for quantity in catalogue.drl_quantities(code):
            if quantity not in g:
                continue
            drl_value, ed = catalogue.current_drl(code, quantity, edition)
            if drl_value is None:
                continue
            v = g[g[quantity].notna()]
            parts.append(
                pd.DataFrame(
                    {
                        "data_source": v["data_source"].astype(str).to_numpy(),
                        "facility_id": v["facility_id"].astype(str).to_numpy(),
                        "year": v["year"].to_numpy(),
                        "exam_code": code,
                        "quantity": quantity,
                        "drl": drl_value,
                        "drl_edition": ed,
                        "dose_to_drl": v[quantity].to_numpy(dtype=float) / drl_value,
                    }
                )
            )
    cols = ["data_source", "facility_id", "year", "exam_code", "quantity", "drl", "drl_edition", "dose_to_drl"]
    if not parts:
        return pd.DataFrame(columns=cols)
    return pd.concat(parts, ignore_index=True)[cols]


def _item_features(
    ratios: pd.DataFrame,
    item: str,
    stats: tuple[str, ...],
    years: list[int],
    min_values: int,
    n_resamples: int,
    seed: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Features of each item, ``<stat>_dose_to_drl_<year>`` for each of
    ``stats`` ("median", "qcd") and year, and their standard errors from
    resampling the item's facilities with replacement (medians on a natural
    log scale).

    All resamples of one item and year are computed at once, as counts of
    each value, so the cost is a few array passes per item and year.
    """
    rng = np.random.default_rng(seed)
    names = [f"{stat}_dose_to_drl_{y}" for stat in stats for y in years]
    point, noise, index = [], [], []
    # Bounds the (resamples x values) count matrices to about 16 MB each.
    chunk_cells = 2_000_000
    for key, g in ratios.groupby(item, sort=True):
        fac = pd.factorize(g["data_source"].astype(str) + "\x1f" + g["facility_id"].astype(str), sort=True)[0]
        v_all = g["dose_to_drl"].to_numpy(dtype=float)
        y_all = pd.to_numeric(g["year"], errors="coerce").fillna(-1).to_numpy(dtype=int)
        n_fac = int(fac.max()) + 1
        # Row 0: the data as they are; rows 1..B: facilities drawn with replacement.
        counts = resample_counts(rng, n_fac, n_resamples)
        values = np.full((n_resamples + 1, len(names)), np.nan)
        for j, year in enumerate(years):
            sel = y_all == year
            if not sel.any():
                continue
            order = np.argsort(v_all[sel], kind="stable")
            v, f = v_all[sel][order], fac[sel][order]
            q = np.full((n_resamples + 1, 3), np.nan)
            size = np.zeros(n_resamples + 1)
            step = max(1, chunk_cells // len(v))
            for start in range(0, n_resamples + 1, step):
                block = slice(start, start + step)
                q[block], size[block] = weighted_quartiles(v, counts[block][:, f])
            q[size < min_values] = np.nan
            for k, stat in enumerate(stats):
                col = k * len(years) + j
                if stat == "median":
                    values[:, col] = q[:, 1]
                else:
                    total = q[:, 2] + q[:, 0]
                    with np.errstate(divide="ignore", invalid="ignore"):
                        values[:, col] = np.where(total > 0, (q[:, 2] - q[:, 0]) / total, np.nan)
        point.append(values[0])
        reps = values[1:].copy()
        log_cols = [i for i, n in enumerate(names) if n.startswith("median_")]
        with np.errstate(divide="ignore", invalid="ignore"):
            reps[:, log_cols] = np.log(np.where(reps[:, log_cols] > 0, reps[:, log_cols], np.nan))
        enough = np.isfinite(reps).sum(axis=0) >= 2
        sd = np.full(len(names), np.nan)
        if enough.any():
            sd[enough] = np.nanstd(reps[:, enough], axis=0, ddof=1)
        noise.append(sd)
        index.append(str(key))
    features = pd.DataFrame(point, index=pd.Index(index, name=item), columns=names)
    noise_sd = pd.DataFrame(noise, index=pd.Index(index, name=item), columns=names)
    return features, noise_sd


def _years(ratios: pd.DataFrame) -> list[int]:
    return sorted(int(y) for y in pd.to_numeric(ratios["year"], errors="coerce").dropna().unique())


def exam_features(
    ratios: pd.DataFrame, *, min_values: int = 10, n_resamples: int = 50, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Per exam code: median and QCD of dose/DRL in each year.

    Parameters
    ----------
    ratios : pandas.DataFrame
        The output of :func:`dose_to_drl`.
    min_values : int, default 10
        Values an exam needs in a year for that year's median and QCD (else
        missing).
    n_resamples : int, default 50
        Resamples of the exam's facilities for the standard errors (a
        standard error from B resamples is itself uncertain by about
        1/sqrt(2(B-1)): 10 % at 50, enough for a weight).
    seed : int, default 0
        Seed of the resampling.

    Returns
    -------
    (features, noise_sd, info) : three pandas.DataFrame indexed by exam code
        ``features``: ``median_dose_to_drl_<year>`` per year, then
        ``qcd_dose_to_drl_<year>`` per year, dimensionless; ``noise_sd``:
        their standard errors (natural log scale for the medians);
        ``info``: ``quantity, drl, drl_edition, n_values``.
    """
    if ratios.empty:
        empty = pd.DataFrame(index=pd.Index([], name="exam_code"))
        return empty, empty, pd.DataFrame(columns=["exam_code", "quantity", "drl", "drl_edition", "n_values"])
    years = _years(ratios)
    ratios = ratios.assign(_item=exam_items(ratios))
    features, noise = _item_features(ratios, "_item", ("median", "qcd"), years, min_values, n_resamples, seed)
    features.index.name = noise.index.name = "exam_code"
    g = ratios.groupby("_item", sort=True)
    info = g.agg(exam_code=("exam_code", "first"), quantity=("quantity", "first"), drl=("drl", "first"),
                 drl_edition=("drl_edition", "first"))
    info["n_values"] = g.size()
    info.index = info.index.astype(str)
    info.index.name = "exam_code"
    return features, noise, info


def exam_items(ratios: pd.DataFrame) -> pd.Series:
    """The item each value of :func:`dose_to_drl` is clustered as: its exam code, or,
    for an exam with values of several DRL quantities, the code and the
    quantity's label (``"1010 CTDIvol"``, ``"1010 DLP"``)."""
    codes = ratios["exam_code"].astype(str)
    if ratios.empty:
        return codes
    several = ratios.groupby(codes)["quantity"].transform("nunique") > 1
    labels = ratios["quantity"].map(lambda q: QUANTITIES[q].label)
    return codes.where(~several, codes + " " + labels)


def source_features(
    ratios: pd.DataFrame, *, min_values: int = 10, n_resamples: int = 50, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Per data source: QCD of dose/DRL across its exam codes, per year.

    Dividing by the DRL puts every exam on one dimensionless scale, so the
    values of all exam codes of a source and year form one distribution; its
    QCD measures how widely that source's facilities and patients scatter
    around the DRLs. (Per-exam QCDs would rest on a handful of facilities
    each and are too noisy to cluster.) A source whose exam mix sits at
    unusual dose/DRL levels looks more dispersed too: ``median_dose_to_drl``
    in ``info`` helps to tell.

    Parameters
    ----------
    ratios : pandas.DataFrame
        The output of :func:`dose_to_drl`.
    min_values : int, default 10
        Values a source needs in a year for that year's QCD (else missing).
    n_resamples : int, default 50
        Resamples of the source's facilities for the standard errors.
    seed : int, default 0

    Returns
    -------
    (features, noise_sd, info) : three pandas.DataFrame indexed by data source
        ``features``: ``qcd_dose_to_drl_<year>``; ``noise_sd``: their
        standard errors; ``info``: ``median_dose_to_drl`` (all years),
        ``n_values``, ``n_exam_codes``.
    """
    if ratios.empty:
        empty = pd.DataFrame(index=pd.Index([], name="data_source"))
        return empty, empty, pd.DataFrame(columns=["median_dose_to_drl", "n_values", "n_exam_codes"])
    years = _years(ratios)
    features, noise = _item_features(ratios, "data_source", ("qcd",), years, min_values, n_resamples, seed)
    info = ratios.groupby("data_source", sort=True).agg(
        median_dose_to_drl=("dose_to_drl", "median"),
        n_values=("dose_to_drl", "size"),
        n_exam_codes=("exam_code", "nunique"),
    )
    info.index = info.index.astype(str)
    return features, noise, info


def feature_labels(features: list[str] | pd.Index) -> dict[str, str]:
    """Readable labels of the exam and source features, e.g. "median dose/DRL 2022"."""
    out = {}
    for f in features:
        if f.startswith("median_dose_to_drl_"):
            out[f] = f"median dose/DRL {f.rsplit('_', 1)[1]}"
        elif f.startswith("qcd_dose_to_drl_"):
            out[f] = f"QCD of dose/DRL {f.rsplit('_', 1)[1]}"
    return out


def cluster_exam_codes(
    exposures: pd.DataFrame | None,
    catalogue: Catalogue | None = None,
    *,
    k: int | None = None,
    seed: int = 0,
    n_init: int = 20,
    k_max: int = 8,
    min_values: int = 10,
    n_resamples: int = 50,
    edition: str | None = None,
    ratios: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, ClusterResult]:
    """Cluster exam codes by their dose/DRL profile.

    Parameters
    ----------
    exposures : pandas.DataFrame or None
        See :func:`drl_analysis.analysis.outliers.dose_values`; None when ``ratios``
        is given.
    catalogue : Catalogue, optional
    k, seed, n_init, k_max
        See :func:`cluster_features`; ``seed`` also seeds the resampling.
    min_values : int, default 10
        Values per exam and year for a median and QCD (see :func:`exam_features`).
    n_resamples : int, default 50
        Facility resamples for the features' noise (see :func:`exam_features`).
    edition : str, optional
        DRL edition (default: newest per exam).
    ratios : pandas.DataFrame, optional
        Precomputed :func:`dose_to_drl` output.

    Returns
    -------
    (table, result) : (pandas.DataFrame, ClusterResult)
        ``table``: ``exam_code, exam_name, cluster``, the features
        (``median_dose_to_drl_<year>``..., ``qcd_dose_to_drl_<year>``...;
        dimensionless),
        then ``ward_cluster, quantity, drl`` (canonical unit of
        ``quantity``), ``drl_edition, n_values, n_imputed, imputed, note``;
        sorted by exam code. Exam codes without a DRL do not appear.
    """
    catalogue = catalogue or load_catalogue()
    ratios = dose_to_drl(exposures, catalogue, edition=edition) if ratios is None else ratios
    features, noise, info = exam_features(ratios, min_values=min_values, n_resamples=n_resamples, seed=seed)
    groups = {c: ("median" if c.startswith("median_") else "qcd") for c in features.columns}
    result = cluster_features(
        features,
        k=k,
        seed=seed,
        n_init=n_init,
        k_max=k_max,
        log_features=[c for c in features.columns if c.startswith("median_")],
        groups=groups,
        noise_sd=noise,
        feature_labels=feature_labels(features.columns),
    )
    t = result.table
    items = t.index.astype(str)
    out = pd.DataFrame({"exam_code": info["exam_code"].reindex(items).to_numpy(dtype=object)})
    out["exam_name"] = [catalogue.exam_name(c) or "" for c in out["exam_code"]]
    out["cluster"] = t["cluster"].to_numpy()
    for c in result.features:
        out[c] = t[c].to_numpy()
    out["ward_cluster"] = t["ward_cluster"].to_numpy()
    for c in ["quantity", "drl", "drl_edition", "n_values"]:
        out[c] = info.reindex(t.index.astype(str))[c].to_numpy()
    for c in ["n_imputed", "imputed", "note"]:
        out[c] = t[c].to_numpy()
    out["_item"] = items
    out = out.sort_values(["exam_code", "_item"]).drop(columns="_item")
    return out.reset_index(drop=True), result


def cluster_data_sources(
    exposures: pd.DataFrame | None,
    catalogue: Catalogue | None = None,
    *,
    k: int | None = None,
    seed: int = 0,
    n_init: int = 20,
    k_max: int = 8,
    min_values: int = 10,
    n_resamples: int = 50,
    edition: str | None = None,
    ratios: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, ClusterResult]:
    """Cluster data sources by the QCD of dose/DRL across exam codes, per year.

    Parameters are those of :func:`cluster_exam_codes`; ``min_values``
    applies per source and year. See :func:`source_features`.

    Returns
    -------
    (table, result) : (pandas.DataFrame, ClusterResult)
        ``table``: ``data_source, cluster``, the features
        (``qcd_dose_to_drl_<year>``...; dimensionless), then
        ``ward_cluster, median_dose_to_drl, n_values, n_exam_codes,
        n_imputed, imputed, note``; sorted by data source.
    """
    catalogue = catalogue or load_catalogue()
    ratios = dose_to_drl(exposures, catalogue, edition=edition) if ratios is None else ratios
    features, noise, info = source_features(ratios, min_values=min_values, n_resamples=n_resamples, seed=seed)
    result = cluster_features(
        features,
        k=k,
        seed=seed,
        n_init=n_init,
        k_max=k_max,
        groups={c: "qcd" for c in features.columns},
        noise_sd=noise,
        feature_labels=feature_labels(features.columns),
    )
    t = result.table
    out = pd.DataFrame({"data_source": t.index.astype(str)})
    out["cluster"] = t["cluster"].to_numpy()
    for c in result.features:
        out[c] = t[c].to_numpy()
    out["ward_cluster"] = t["ward_cluster"].to_numpy()
    for c in ["median_dose_to_drl", "n_values", "n_exam_codes"]:
        out[c] = info.reindex(t.index.astype(str))[c].to_numpy()
    for c in ["n_imputed", "imputed", "note"]:
        out[c] = t[c].to_numpy()
    return out.sort_values("data_source").reset_index(drop=True), result

"""The ``analyse`` command: outliers, alerts and clustering, written to one folder.

:func:`analyse` computes every table from exposures in memory;
:func:`write_outputs` writes them (CSV, PNG figures and ``analysis.xlsx``
with a ``parameters`` sheet); :func:`analyse_database` does both for a
database and is what the notebook ``04_clustering.ipynb`` calls;
``drl-analysis analyse`` is :mod:`drl_analysis.cli.analyse`.

Files written to the output folder
----------------------------------
``outliers.csv``
    Dose outliers: values far from their exam or facility, suspected unit
    slips named. ``source_file, sheet, source_row, data_source, facility_id,
    exam_code, quantity, value, exam_median, ratio_to_median, reason`` then
    details (see :func:`drl_analysis.analysis.outliers.value_outliers`).
``data_quality.csv``
    Data-quality findings, one row per value and issue: unknown exam codes,
    values flagged at ingest (out of range, unit slips within a submission,
    ambiguous notation), values that are not positive, CT values without a
    phantom (see :func:`drl_analysis.analysis.outliers.data_quality`).
``facility_outliers.csv``, ``alerts.csv``
    See :func:`drl_analysis.analysis.alerts.facility_outliers` and
    :func:`drl_analysis.analysis.alerts.alerts`.
``exam_clusters.csv``, ``source_clusters.csv``
    ``exam_code, exam_name, cluster`` / ``data_source, cluster``, then the
    features (see :mod:`drl_analysis.analysis.clustering`); the centres, the
    silhouette by k and the feature weights in their own files.
``excluded_values.csv``, ``parameters.csv``
    What was left out of the references and why; every parameter of the run.
PNG figures and ``analysis.xlsx``
    All tables, one sheet each, with ``parameters`` and ``notes`` sheets.

Tables are sorted and hold no clock time, so the same data, parameters and
seed give the same files.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from .. import __version__
from ..core.catalogue import Catalogue, load_catalogue
from ..core.columns import DOSE_QUANTITIES
from ..core.errors import UserError
from ..core.paths import PROCESSED_DIR, default_db_url
from ..core.tables import write_csv, write_xlsx
from ..core.years import parse_years
from ..store.urls import existing_database, safe_url
from . import alerts, outliers
from .clustering import (
    ClusterResult,
    _check_k,
    cluster_data_sources,
    cluster_exam_codes,
    dose_to_drl,
)
from .figures import cluster_figure, dendrogram_figure, exam_label, has_clusters, outlier_figure, save
from .outliers import OutlierParameters

logger = logging.getLogger(__name__)

#: Default output folder of the notebook (the command requires ``--out``).
DEFAULT_OUT_DIR = PROCESSED_DIR / "analysis"

#: CSV file of each table, in the order they are written (and sheets appear).
TABLE_FILES: dict[str, str] = {
    "parameters": "parameters.csv",
    "outliers": "outliers.csv",
    "data_quality": "data_quality.csv",
    "facility_outliers": "facility_outliers.csv",
    "alerts": "alerts.csv",
    "exam_clusters": "exam_clusters.csv",
    "exam_cluster_centres": "exam_cluster_centres.csv",
    "source_clusters": "source_clusters.csv",
    "source_cluster_centres": "source_cluster_centres.csv",
    "cluster_selection": "cluster_selection.csv",
    "cluster_feature_weights": "cluster_feature_weights.csv",
    "excluded_values": "excluded_values.csv",
}


@dataclass
class AnalysisResult:
    """Every table of one analysis (see the module docstring for the files).

    Attributes
    ----------
    tables : dict of str to pandas.DataFrame
        Keyed as :data:`TABLE_FILES`.
    scored : pandas.DataFrame
        Every dose value with its scores (:func:`drl_analysis.analysis.outliers.score_values`).
    exam_result, source_result : ClusterResult
    notes : list of str
        What was left out, filled, capped or weighted, in words.
    catalogue : Catalogue
    written : list of Path
        Files written by :func:`write_outputs` (empty before).
    """

    tables: dict[str, pd.DataFrame]
    scored: pd.DataFrame
    exam_result: ClusterResult
    source_result: ClusterResult
    notes: list[str] = field(default_factory=list)
    catalogue: Catalogue | None = None
    written: list[Path] = field(default_factory=list)

    def figures(self, prefix: str = "") -> list[Path]:
        """The PNG figures written whose file name starts with ``prefix``."""
        return [p for p in self.written if p.suffix == ".png" and p.name.startswith(prefix)]

    def __getattr__(self, name: str) -> pd.DataFrame:
        tables = self.__dict__.get("tables", {})
        if name in tables:
            return tables[name]
        raise AttributeError(name)


def _selection_table(exam: ClusterResult, source: ClusterResult) -> pd.DataFrame:
    parts = []
    for what, r in (("exam_codes", exam), ("data_sources", source)):
        s = r.selection.copy()
        s.insert(0, "clustering", what)
        s["used"] = s["k"] == r.k
        s["k_chosen_by"] = r.k_chosen_by
        s["ari_kmeans_ward"] = r.ari_kmeans_ward
        parts.append(s)
    return pd.concat(parts, ignore_index=True)


def _weights_table(exam: ClusterResult, source: ClusterResult) -> pd.DataFrame:
    parts = []
    for what, r in (("exam_codes", exam), ("data_sources", source)):
        w = r.weights.copy()
        w.insert(0, "clustering", what)
        parts.append(w)
    return pd.concat(parts, ignore_index=True)


def _exclusion_notes(excluded: pd.DataFrame) -> list[str]:
    notes = []
    for status, g in excluded.groupby("status", sort=True):
        n = int(g["n_values"].sum())
        reason = outliers.EXCLUSION_REASONS.get(status, status)
        codes = sorted(set(g["exam_code"]))
        quantities = ", ".join(sorted(set(g["quantity"])))
        extra = "; they were judged for outliers among their own kind only" if status == "other_phantom" else ""
        notes.append(
            f"{n} value(s) left out of medians and DRL comparisons: {reason} "
            f"({quantities} of {len(codes)} exam code(s): {', '.join(codes)}){extra}"
        )
    return notes


def analyse(
    exposures: pd.DataFrame,
    catalogue: Catalogue | None = None,
    *,
    years: list[int] | None = None,
    k: int | None = None,
    seed: int = 0,
    params: OutlierParameters | None = None,
    n_init: int = 20,
    k_max: int = 8,
    n_resamples: int = 50,
    min_cluster_values: int = 10,
    edition: str | None = None,
) -> AnalysisResult:
    """Outliers, facility outliers, alerts and both clusterings of exposures.

    Parameters
    ----------
    exposures : pandas.DataFrame
        As :func:`drl_analysis.store.database.load_exposures` returns (doses in
        canonical units).
    catalogue : Catalogue, optional
        Default: the shipped catalogue.
    years : list of int, optional
        Keep only these survey years.
    k : int, optional
        Number of clusters of both clusterings; None chooses each by silhouette.
    seed : int, default 0
        Seed of KMeans and of the facility resampling.
    params : OutlierParameters, optional
        Outlier and alert thresholds (defaults when None).
    n_init : int, default 20
        KMeans restarts.
    k_max : int, default 8
        Largest k the silhouette tries.
    n_resamples : int, default 50
        Facility resamples for the reliability of the cluster features.
    min_cluster_values : int, default 10
        Values per exam (or source) and year for a cluster feature.
    edition : str, optional
        DRL edition; None takes the newest per exam and quantity.

    Returns
    -------
    AnalysisResult
    """
    _check_k(k)
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise UserError(f"seed: {seed!r} is not an integer")
    params = params or OutlierParameters()
    catalogue = catalogue or load_catalogue()
    data = exposures
    if years is not None:
        data = data[pd.to_numeric(data["year"], errors="coerce").isin([int(y) for y in years])]
    # Exposures without exam code (dose reports the procedure map does not
    # cover, flagged unmapped_procedure at ingest) belong to no exam.
    data = data[data["exam_code"].notna()]
    data = data.reset_index(drop=True)

    scored = outliers.score_values(data, catalogue, params=params)
    found = outliers.value_outliers(scored=scored, params=params)
    medians = alerts.facility_medians(data, catalogue, params=params, edition=edition, values=scored)
    fac_out = alerts.facility_outliers(medians)
    alert_table = alerts.alerts(medians, scored, found, params=params)
    excluded = outliers.excluded_values(scored)
    quality = outliers.data_quality(scored, data, catalogue)

    ratios = dose_to_drl(data, catalogue, edition=edition, values=scored)
    common = dict(k=k, seed=seed, n_init=n_init, k_max=k_max, min_values=min_cluster_values, n_resamples=n_resamples)
    exam_table, exam_result = cluster_exam_codes(None, catalogue, ratios=ratios, **common)
    source_table, source_result = cluster_data_sources(None, catalogue, ratios=ratios, **common)

    notes = _exclusion_notes(excluded)
    notes += [f"exam codes: {n}" for n in exam_result.notes]
    notes += [f"data sources: {n}" for n in source_result.notes]
    codes = set(data["exam_code"].astype(str).unique())
    unknown = sorted(codes - catalogue.codes)
    if unknown:
        notes.append(
            f"exam code(s) not in the catalogue (no DRL; judged for outliers, listed in data_quality.csv): "
            f"{', '.join(unknown)}"
        )
    no_drl = sorted(
        c for c in codes & catalogue.codes
        if all(catalogue.current_drl(c, q, edition)[0] is None for q in catalogue.drl_quantities(c))
    )
    if no_drl:
        notes.append(f"exam code(s) without a DRL, left out of the clustering: {', '.join(no_drl)}")

    analysed_years = sorted(int(y) for y in pd.to_numeric(data["year"], errors="coerce").dropna().unique())
    parameters = _parameters_table(
        params,
        years=analysed_years,
        k=k,
        seed=seed,
        n_init=n_init,
        k_max=k_max,
        n_resamples=n_resamples,
        min_cluster_values=min_cluster_values,
        edition=edition,
        catalogue=catalogue,
        exam_result=exam_result,
        source_result=source_result,
        n_exposures=len(data),
        n_values=len(scored),
    )
    tables = {
        "parameters": parameters,
        "outliers": found,
        "data_quality": quality,
        "facility_outliers": fac_out,
        "alerts": alert_table,
        "exam_clusters": exam_table,
        "exam_cluster_centres": exam_result.centres,
        "source_clusters": source_table,
        "source_cluster_centres": source_result.centres,
        "cluster_selection": _selection_table(exam_result, source_result),
        "cluster_feature_weights": _weights_table(exam_result, source_result),
        "excluded_values": excluded,
    }
    return AnalysisResult(
        tables=tables,
        scored=scored,
        exam_result=exam_result,
        source_result=source_result,
        notes=notes,
        catalogue=catalogue,
    )


def _parameters_table(params: OutlierParameters, **run) -> pd.DataFrame:
    meaning = {
        "z_threshold": "outlier beyond this many robust SDs on log10 scale (exam or facility)",
        "slip_min_decades": "facility-level outlier this many decades off = suspected unit slip (nearest power of ten)",
        "exam_slip_min_decades": "exam-level outlier this many decades off = suspected unit slip (nearest power of 10)",
        "min_exam_values": "values an exam code and quantity need for z_exam",
        "min_facility_values": "values a facility needs per exam, quantity and year for z_facility",
        "min_scale_decades": "floor of the robust SD (decades)",
        "min_per_facility": "exposures per facility, exam and year for a facility median",
        "min_facilities_p95": "facility medians per exam and year for the survey P95",
        "min_alert_years": "years above the DRL that raise a facility alert (or every reported year)",
        "implausible_share_threshold": "share of implausible dose values that raises a data-source alert",
        "quantile_method": "numpy quantile method of P95 and QCD",
    }
    rows = [(name, value, meaning.get(name, "")) for name, value in params.as_dict().items()]
    exam_r, source_r, catalogue = run["exam_result"], run["source_result"], run["catalogue"]
    rows += [
        ("years", ";".join(str(y) for y in run["years"]), "survey years analysed"),
        ("k", "by silhouette" if run["k"] is None else run["k"], "number of clusters asked"),
        ("k_exam_codes", exam_r.k, f"clusters of exam codes used ({exam_r.k_chosen_by})"),
        ("k_data_sources", source_r.k, f"clusters of data sources used ({source_r.k_chosen_by})"),
        ("seed", run["seed"], "random_state of KMeans and seed of the facility resampling"),
        ("n_init", run["n_init"], "KMeans restarts"),
        ("k_max", run["k_max"], "largest k tried by the silhouette"),
        ("n_resamples", run["n_resamples"], "facility resamples for the feature reliabilities"),
        ("min_cluster_values", run["min_cluster_values"], "values per exam (source) and year for a cluster feature"),
        ("drl_edition", run["edition"] or "newest per exam", "DRL edition compared with"),
        ("catalogue", Path(catalogue.source).name, "exam-code catalogue"),
        ("n_exposures", run["n_exposures"], "exposures analysed"),
        ("n_values", run["n_values"], "dose values analysed (one exposure may hold several quantities)"),
        ("drl_analysis_version", __version__, "software version"),
    ]
    table = pd.DataFrame(rows, columns=["parameter", "value", "meaning"])
    table["value"] = table["value"].map(lambda v: "" if v is None else str(v))
    return table


def _sheet(frame: pd.DataFrame) -> pd.DataFrame:
    # Excel cannot hold pandas NA in integer columns written by openpyxl as such.
    out = frame.copy()
    for c in out.columns:
        if isinstance(out[c].dtype, pd.Int64Dtype):
            out[c] = out[c].astype(object).where(out[c].notna(), None)
    return out


def write_outputs(
    result: AnalysisResult,
    out_dir: str | Path,
    *,
    labels: dict[str, str] | None = None,
) -> list[Path]:
    """Write every table (CSV), the figures (PNG) and ``analysis.xlsx``.

    Parameters
    ----------
    result : AnalysisResult
    out_dir : str or Path
        Created if missing.
    labels : dict, optional
        Data source -> name shown in figures (e.g. pseudonyms); the
        stored names where absent.

    Returns
    -------
    list of Path
        The files written, in order.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out: {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, filename in TABLE_FILES.items():
        path = out / filename
        write_csv(result.tables[name], path)
        written.append(path)

    catalogue = result.catalogue or load_catalogue()
    figures = [
        (f"outliers_{quantity}.png", outlier_figure(result.scored, result.tables["outliers"], quantity, catalogue))
        for quantity in DOSE_QUANTITIES
        if ((result.scored["quantity"] == quantity) & (result.scored["status"] == "used")).any()
    ]
    exams, sources = result.exam_result, result.source_result
    exam_names = {c: exam_label(c, catalogue) for c in exams.items}
    exam_title, source_title = "Exam codes by dose/DRL", "Data sources by QCD of dose/DRL"
    # No figure without data: a clustering of too few items draws nothing.
    for stem, r, names, title in (("exam_clusters", exams, exam_names, exam_title),
                                  ("source_clusters", sources, labels, source_title)):
        if has_clusters(r):
            figures += [(f"{stem}_pca.png", cluster_figure(r, labels=names, title=title)),
                        (f"{stem}_dendrogram.png", dendrogram_figure(r, labels=names, title=title))]
    for filename, fig in figures:
        written.append(save(fig, out / filename))

    xlsx = out / "analysis.xlsx"
    write_xlsx({**{name: _sheet(result.tables[name]) for name in TABLE_FILES},
                "notes": pd.DataFrame({"note": result.notes})}, xlsx)
    written.append(xlsx)
    result.written = written
    return written


def _quality_text(quality: pd.DataFrame | None) -> str:
    if quality is None or quality.empty:
        return "no data-quality findings"
    counts = quality["issue"].value_counts()
    order = [i for i in outliers.DATA_QUALITY_ISSUES if i in counts.index]
    return f"{len(quality)} data-quality findings (" + ", ".join(f"{i} {int(counts[i])}" for i in order) + ")"


def summary(result: AnalysisResult) -> str:
    """A few lines for the terminal: counts, clusters, what was left out."""
    t = result.tables
    o = t["outliers"]
    kinds = o["reason_kind"].value_counts()
    alerts_ = t["alerts"]
    n_fac_alerts = int((alerts_["alert"] == "facility_above_drl").sum())
    n_src_alerts = int((alerts_["alert"] == "source_implausible_share").sum())
    lines = [
        f"{len(result.scored)} dose values; {len(o)} dose outliers ({int(kinds.get('unit_slip', 0))} suspected "
        f"unit slips); {_quality_text(t.get('data_quality'))}",
        f"{len(t['facility_outliers'])} facility medians above the DRL or the survey P95; "
        f"{n_fac_alerts} facility alerts, {n_src_alerts} data-source alerts",
    ]
    for what, r in (("exam codes", result.exam_result), ("data sources", result.source_result)):
        if r.k is None:
            lines.append(f"{what}: not clustered ({len(r.items)} item(s))")
        else:
            lines.append(
                f"{what}: {len(r.items)} in {r.k} clusters (k {r.k_chosen_by}; "
                f"Ward agrees with ARI {r.ari_kmeans_ward:.2f})"
            )
    lines += [f"note: {n}" for n in result.notes]
    return "\n".join(lines)


def describe_clusters(result: AnalysisResult, *, labels: dict[str, str] | None = None) -> str:
    """A short reading (Markdown) of what separates the clusters of both clusterings."""
    catalogue = result.catalogue or load_catalogue()
    lines = []
    for what, r, names in (
        ("Exam codes", result.exam_result, {c: exam_label(c, catalogue) for c in result.exam_result.items}),
        ("Data sources", result.source_result, labels or {}),
    ):
        if lines:
            lines.append("")  # a blank line ends the list before the next heading
        if r.k is None:
            lines.append(f"**{what}** were not clustered: {'; '.join(r.notes) or 'too few items'}.")
            continue
        lines += [
            f"**{what}**: {len(r.items)} in {r.k} clusters (k {r.k_chosen_by}); "
            f"Ward's clustering agrees with KMeans at ARI {r.ari_kmeans_ward:.2f}.",
            "",
        ]
        if not r.weights.empty and float(r.weights["reliability"].max()) < 0.5:
            lines.append(
                "- **Caution:** no feature varies between items clearly more than its sampling noise, "
                "so these clusters do not separate real groups."
            )
        for row in r.centres.itertuples(index=False):
            members = [names.get(m, m) for m in str(row.members).split(";") if m]
            shown = ", ".join(members[:6]) + (f" and {len(members) - 6} more" if len(members) > 6 else "")
            lines.append(f"- cluster {row.cluster} ({row.n_members}): {row.drivers}. Members: {shown}.")
        low = r.weights[r.weights["reliability"] < 0.5]
        if not low.empty and len(low) < len(r.weights):
            weak = ", ".join(f"{label} (reliability {x:.2f})" for label, x in zip(low["label"], low["reliability"]))
            lines.append(f"- weighted down as mostly sampling noise: {weak}")
    return "\n".join(lines)


def analyse_database(
    db_url: str | None = None,
    out_dir: str | Path | None = None,
    *,
    years: str | list | None = None,
    k: int | None = None,
    seed: int = 0,
    catalogue: str | Path | Catalogue | None = None,
    labels: dict[str, str] | None = None,
    params: OutlierParameters | None = None,
    **options,
) -> AnalysisResult:
    """Load exposures from a database, analyse them and write every output.

    Parameters
    ----------
    db_url : str, optional
        SQLAlchemy URL; None or "" takes :func:`drl_analysis.core.paths.default_db_url`.
    out_dir : str or Path, optional
        None or "" takes ``data/processed/analysis``.
    years : str or list, optional
        ``"2021-2023"``, ``"2021,2022"``, a list of years, or None/"" for all.
    k : int, optional
        None or 0 chooses k by silhouette.
    seed : int, default 0
    catalogue : path or Catalogue, optional
    labels : dict, optional
        Data-source names shown in figures.
    params : OutlierParameters, optional
    **options
        Further keyword arguments of :func:`analyse`.

    Returns
    -------
    AnalysisResult

    Raises
    ------
    UserError
        If the database holds no exposures for the years asked.
    """
    from ..store.database import load_exposures

    url = existing_database(db_url or default_db_url())
    year_list = parse_years(years)
    k = None if k in (None, 0) else k
    _check_k(k)
    cat = catalogue if isinstance(catalogue, Catalogue) else load_catalogue(catalogue)
    try:
        exposures = load_exposures(url, year_list)
    except sa.exc.ArgumentError:
        raise UserError(f"--db: {url!r} is not a database URL (e.g. sqlite:///path/to/drl.sqlite)") from None
    except sa.exc.OperationalError as exc:
        raise UserError(f"--db: cannot open {safe_url(url)} ({str(exc.orig).strip()})") from None
    if exposures.empty:
        which = f" for the years {';'.join(map(str, year_list))}" if year_list else ""
        raise UserError(f"the database {safe_url(url)} holds no exposures{which}; ingest survey files first")
    logger.info("analyse: %d exposures loaded from %s", len(exposures), safe_url(url))
    result = analyse(exposures, cat, years=year_list, k=k, seed=seed, params=params, **options)
    for note in result.notes:
        logger.info("analyse: %s", note)
    write_outputs(result, out_dir or DEFAULT_OUT_DIR, labels=labels)
    return result

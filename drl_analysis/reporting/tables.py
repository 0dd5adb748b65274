"""The report's tables: found among the run's tables by file name, built from
them, and pseudonymised for the pseudonymised edition."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import pandas as pd

from ..core.columns import QUANTITIES
from ..core.errors import UserError
from ..core.paths import PROCESSED_DIR
from ..core.years import parse_years
from .pseudonyms import Pseudonymiser, PseudonymKey, find_identifiers

#: Tables the report reads, by the file name their notebook writes.
SOURCE_FILES: dict[str, str] = {
    "ocr": "dose_reports.csv",  # 01_ocr_extraction, as the runner names its out_file
    "ingest": "ingest_by_source_year.csv",  # 02_repair
    "drl": "drl_table.csv",  # 03_drl_quartiles
    "drl_by_year": "drl_by_year.csv",  # 03_drl_quartiles
    "outliers": "outliers.csv",  # 04_clustering
    "data_quality": "data_quality.csv",  # 04_clustering
    "facility_outliers": "facility_outliers.csv",  # 04_clustering
    "alerts": "alerts.csv",  # 04_clustering
    "exam_clusters": "exam_clusters.csv",  # 04_clustering
    "source_clusters": "source_clusters.csv",  # 04_clustering
}

#: Notebook 03's parameters, read from the folder of its ``drl_table.csv``.
DRL_PARAMETERS_FILE = "drl_parameters.json"

#: Notebook 04's parameters, read from the folder of its ``alerts.csv``.
ANALYSIS_PARAMETERS = "parameters.csv"

#: File names of the report (identified edition; the pseudonymised edition
#: adds ``_pseudonymised``).
REPORT_NAME = "annual_report"
PSEUDONYMISED_DIR = "pseudonymised"

#: Columns that identify a data source or facility in any table.
ID_COLUMNS = ("data_source", "facility_id")

# ---------------------------------------------------------------------------
# Finding the run's tables
# ---------------------------------------------------------------------------


def locate_tables(tables_dir: str | Path | None = None, names: Mapping[str, str] = SOURCE_FILES) -> dict[str, Path]:
    """The run's tables by kind, found by file name.

    Parameters
    ----------
    tables_dir : str or Path, optional
        Folder searched recursively (a run's ``tables/``). Default: the folders
        the notebooks 02–04 write to with their default ``out_dir``, i.e. the
        direct subfolders of ``data/processed``.
    names : mapping of str to str
        Kind -> file name.

    Returns
    -------
    dict of str to Path
        The kinds found; a kind whose file is missing is left out.

    Raises
    ------
    UserError
        When ``tables_dir`` does not exist or holds two files of one name.
    """
    found: dict[str, Path] = {}
    if tables_dir:
        root = Path(tables_dir)
        if not root.is_dir():
            raise UserError(f"tables_dir: {root} is not a folder")
        search = lambda name: sorted(root.rglob(name))  # noqa: E731
    else:
        search = lambda name: sorted(PROCESSED_DIR.glob(f"*/{name}"))  # noqa: E731
    for kind, name in names.items():
        hits = search(name)
        if len(hits) > 1:
            raise UserError(f"tables_dir: {len(hits)} files named {name} ({', '.join(map(str, hits))}); keep one")
        if hits:
            found[kind] = hits[0]
    # Notebook 04's parameters.csv has a name other notebooks may use too: take the one beside its alerts.
    if "alerts" in found and (found["alerts"].parent / ANALYSIS_PARAMETERS).is_file():
        found["analysis_parameters"] = found["alerts"].parent / ANALYSIS_PARAMETERS
    if "drl" in found and (found["drl"].parent / DRL_PARAMETERS_FILE).is_file():
        found["drl_parameters"] = found["drl"].parent / DRL_PARAMETERS_FILE
    return found


def read_tables(paths: Mapping[str, Path]) -> dict[str, pd.DataFrame]:
    """Read the located tables; identifiers and codes stay text."""
    text = {"data_source": str, "facility_id": str, "exam_code": str, "exam_name": str}
    out = {}
    for kind, p in paths.items():
        if Path(p).suffix == ".json":
            given = json.loads(Path(p).read_text(encoding="utf-8")).get("parameters", {})
            out[kind] = pd.DataFrame({"parameter": list(given), "value": [str(v) for v in given.values()]})
        else:
            out[kind] = pd.read_csv(p, dtype=text, keep_default_na=True)
    return out


def load_manifest(path: str | Path | None) -> dict:
    """A run's manifest, or ``{}`` when no path is given or the file is missing."""
    if not path:
        return {}
    p = Path(path)
    if not p.is_file():
        return {}
    return json.loads(p.read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------
# The report's tables
# ---------------------------------------------------------------------------


def _unit(quantity: str) -> str:
    q = QUANTITIES.get(str(quantity))
    return q.unit if q else ""


def _years_list(years: str | Sequence[int] | None) -> list[int] | None:
    if years is None or years == "" or (isinstance(years, float) and math.isnan(years)):
        return None
    if isinstance(years, str):
        return parse_years(years)
    return sorted(int(y) for y in years)


def _summary(src: Mapping[str, pd.DataFrame], years: list[int] | None) -> pd.DataFrame:
    rows: list[tuple[str, float]] = []
    ingest = src.get("ingest")
    if ingest is not None and len(ingest):
        sel = ingest if years is None else ingest[ingest["year"].isin(years)]
        rows += [
            ("data sources", sel["data_source"].nunique()),
            ("submissions (files)", int(sel["files"].sum())),
            ("exposure rows stored", int(sel["rows_stored"].sum())),
            ("rows rejected", int(sel["rows_rejected"].sum())),
            ("values repaired", int(sel["values_repaired"].sum())),
            ("rows flagged", int(sel["rows_flagged"].sum())),
        ]
    ocr = src.get("ocr")
    if ocr is not None:
        rows.append(("dose-report screens (images) read by OCR", len(ocr)))
        if "layout" in ocr.columns:
            rows.append(("of these recognised as dose reports", int(ocr["layout"].fillna("").astype(str).str.len().gt(0).sum())))
        if "needs_review" in ocr.columns:
            review = ocr["needs_review"].astype(str).str.lower().isin(["true", "1"])
            rows.append(("of these marked for review", int(review.sum())))
    drl = src.get("drl")
    if drl is not None:
        status = drl_status(drl)
        proposed = drl[status == "proposed"]
        with_drl = proposed[proposed["current_drl"].notna()]
        rows += [
            ("exam codes and quantities in the survey", len(drl)),
            ("exam codes and quantities with a proposed DRL (P75)", len(proposed)),
            ("of these with a current DRL", len(with_drl)),
            ("of these with P75 above the current DRL", int((with_drl["p75"] > with_drl["current_drl"]).sum())),
            ("fewest facilities behind a proposed DRL", int(proposed["n_facilities"].min()) if len(proposed) else 0),
            ("exam codes and quantities with a typical value only", int((status == "typical_value_only").sum())),
            ("exam codes and quantities without a facility with enough exams",
             int(status.isin(["no_facility_with_enough_exams", "no_value_counted"]).sum())),
            ("largest number of facilities for one exam", int(drl["n_facilities"].max()) if len(drl) else 0),
        ]
    outliers = src.get("outliers")
    if outliers is not None:
        rows.append(("outlying values", len(outliers)))
    quality = src.get("data_quality")
    if quality is not None:
        rows.append(("data-quality findings", len(quality)))
    alerts = src.get("alerts")
    if alerts is not None:
        rows.append(("alerts", len(alerts)))
    facility_outliers = src.get("facility_outliers")
    if facility_outliers is not None:
        rows.append(("facility medians above the DRL or the survey P95", len(facility_outliers)))
    for kind, what in (("exam_clusters", "exam codes"), ("source_clusters", "data sources")):
        frame = src.get(kind)
        if frame is not None and "cluster" in frame.columns:
            rows.append((f"clusters of {what}", int(frame["cluster"].nunique())))
    return pd.DataFrame(rows, columns=["item", "value"])


_DRL_COLUMNS = [
    "exam_code", "exam_name", "quantity", "unit", "status", "n_facilities", "n_exams", "p50", "p75",
    "p75_ci_low", "p75_ci_high", "p75_ci_order_low", "p75_ci_order_high", "p75_ci_order_coverage", "typical_value",
    "current_drl", "drl_edition", "p75_to_drl", "share_facilities_above_drl", "status_note", "n_values",
    "n_facilities_below_min", "n_exams_below_min", "n_excluded_implausible", "n_excluded_phantom", "n_excluded_weight",
]


def drl_status(drl: pd.DataFrame) -> pd.Series:
    """Each row's status; a table of an older version without one gave proposed DRLs only."""
    if "status" in drl.columns:
        return drl["status"].fillna("")
    return pd.Series("proposed", index=drl.index)


def _drl(drl: pd.DataFrame) -> pd.DataFrame:
    out = drl.copy()
    if "unit" not in out.columns:
        out["unit"] = out["quantity"].map(_unit)
    if "p75_to_drl" not in out.columns:
        out["p75_to_drl"] = out["p75"] / out["current_drl"]
    out["status"] = drl_status(out)
    cols = [c for c in _DRL_COLUMNS if c in out.columns]
    return out[cols].sort_values(["exam_code", "quantity"], kind="stable").reset_index(drop=True)


def years_used(sources: Mapping[str, pd.DataFrame], years: str = "") -> str:
    """The survey years the report's numbers come from, as text ("2022-2024").

    The years given to the run, else those the DRL statistics found in the
    data (``drl_table.csv`` and ``drl_parameters.json`` state them), else the
    years of the ingest table.
    """
    from ..core.years import format_years

    if years:
        return format_years(parse_years(years))
    drl = sources.get("drl")
    if drl is not None and "years" in drl.columns and len(drl) and pd.notna(drl["years"].iloc[0]):
        return str(drl["years"].iloc[0])
    given = sources.get("drl_parameters")
    if given is not None and "years" in set(given["parameter"]):
        value = dict(zip(given["parameter"], given["value"]))["years"]
        if value and value != "nan":
            return str(value)
    ingest = sources.get("ingest")
    if ingest is not None and "year" in ingest.columns and len(ingest):
        return format_years(sorted({int(y) for y in ingest["year"].dropna()}))
    return ""


def _share_above(by_year: pd.DataFrame) -> pd.DataFrame:
    cols = ["exam_code", "quantity", "year", "current_drl", "share_exams_above_drl"]
    out = by_year[[c for c in cols if c in by_year.columns]].dropna(subset=["share_exams_above_drl"])
    return out.sort_values(["exam_code", "quantity", "year"], kind="stable").reset_index(drop=True)


#: Parameters the report shows, with a reader's name, in this order; the
#: others (technical settings of KMeans, resampling counts, data counts shown
#: elsewhere) stay in the report's parameter table with ``in_report`` false.
PARAMETER_LABELS: dict[tuple[str, str], str] = {
    ("report", "survey"): "Survey",
    ("report", "years"): "Survey years",
    ("drl", "facility_statistic"): "Value of a facility (per exam and quantity)",
    ("drl", "min_per_facility"): "Exams a facility needs to count (DRL)",
    ("drl", "min_facilities"): "Facilities a proposed DRL needs",
    ("drl", "quantile_method"): "Percentile method",
    ("drl", "weight_range_kg"): "Patient weights kept [kg]",
    ("drl", "edition_requested"): "DRL edition compared with",
    ("drl", "bootstrap_resamples"): "Bootstrap resamples",
    ("drl", "seed"): "Seed of the bootstrap",
    ("analysis", "z_threshold"): "Outlier: robust z beyond",
    ("analysis", "slip_min_decades"): "Suspected unit slip: decades off at least",
    ("analysis", "min_per_facility"): "Exams a facility needs per year (outliers, alerts)",
    ("analysis", "min_alert_years"): "Years above the DRL that raise a facility alert",
    ("analysis", "implausible_share_threshold"): "Share of implausible values that raises a data-source alert",
    ("analysis", "k"): "Clusters asked for",
    ("analysis", "k_exam_codes"): "Clusters of exam codes",
    ("analysis", "k_data_sources"): "Clusters of data sources",
    ("analysis", "catalogue"): "Exam-code catalogue",
}

_FROM_KIND = {"report": "report", "drl_table.csv": "drl", DRL_PARAMETERS_FILE: "drl", ANALYSIS_PARAMETERS: "analysis",
              "manifest.json": "run"}


def _parameters(src: Mapping[str, pd.DataFrame], manifest: Mapping, survey: str, years: str) -> pd.DataFrame:
    rows = [("survey", survey or manifest.get("survey", ""), "report"), ("years", years or "all stored", "report")]
    drl = src.get("drl")
    drl_columns = ("facility_statistic", "quantile_method", "min_per_facility", "min_facilities", "weight_range_kg",
                   "edition_requested", "bootstrap_resamples", "seed", "ci_method")
    if drl is not None and len(drl):
        first = drl.iloc[0]
        for col in drl_columns:
            if col in drl.columns:
                value = first[col]
                rows.append((col, "" if pd.isna(value) else str(value), SOURCE_FILES["drl"]))
    elif src.get("drl_parameters") is not None:
        # An empty DRL table repeats no parameters: they come from its JSON file.
        given = dict(zip(src["drl_parameters"]["parameter"], src["drl_parameters"]["value"]))
        rows += [(col, str(given[col]), DRL_PARAMETERS_FILE) for col in drl_columns if col in given]
    analysis = src.get("analysis_parameters")
    if analysis is not None and {"parameter", "value"} <= set(analysis.columns):
        rows += [(str(p), "" if pd.isna(v) else str(v), ANALYSIS_PARAMETERS)
                 for p, v in zip(analysis["parameter"], analysis["value"])]
    for name, value in sorted(manifest.get("parameters", {}).get("user", {}).items()):
        rows.append((name, json.dumps(value, ensure_ascii=False), "manifest.json"))
    out = pd.DataFrame(rows, columns=["parameter", "value", "from"])
    labels = [PARAMETER_LABELS.get((_FROM_KIND.get(f, f), p), "") for p, f in zip(out["parameter"], out["from"])]
    out["label"] = labels
    out["in_report"] = [bool(label) for label in labels]
    return out


def shown_parameters(parameters: pd.DataFrame | None) -> pd.DataFrame:
    """The parameters a reader sees: named, in the order of :data:`PARAMETER_LABELS`, each once."""
    if parameters is None or parameters.empty or "label" not in parameters.columns:
        return pd.DataFrame(columns=["label", "value"])
    order = {label: i for i, label in enumerate(PARAMETER_LABELS.values())}
    shown = parameters[parameters["in_report"].astype(str).str.lower().isin(["true", "1"])]
    shown = shown.assign(value=shown["value"].fillna("").astype(str).replace({"": "–", "nan": "–"}))
    shown = shown.drop_duplicates(subset=["label"], keep="first")
    shown = shown.assign(_o=shown["label"].map(order)).sort_values("_o", kind="stable")
    return shown[["label", "value"]].reset_index(drop=True)


def _provenance(manifest: Mapping) -> pd.DataFrame:
    # No version or time here: the version holds the run's UTC time, and a table must
    # read the same when the run is repeated (drl-analysis verify compares them).
    rows = []
    if manifest.get("survey"):
        rows.append(("run", "survey", str(manifest["survey"])))
    if manifest.get("parameters", {}).get("years"):
        rows.append(("run", "years", str(manifest["parameters"]["years"])))
    git = manifest.get("git") or {}
    if git.get("commit"):
        rows.append(("run", "git commit", git["commit"] + (" (with uncommitted changes)" if git.get("dirty") else "")))
    for f in manifest.get("inputs", {}).get("files", []):
        rows.append(("input", f["path"], f["sha256"]))
    for name, version in sorted((manifest.get("packages") or {}).items()):
        rows.append(("package", name, str(version)))
    return pd.DataFrame(rows, columns=["kind", "item", "value"])


def build_report_tables(
    sources: Mapping[str, pd.DataFrame],
    manifest: Mapping | None = None,
    *,
    survey: str = "",
    years: str = "",
) -> dict[str, pd.DataFrame]:
    """The report's tables, each made from the run's tables.

    Parameters
    ----------
    sources : mapping of str to DataFrame
        The run's tables by kind (keys of :data:`SOURCE_FILES`); missing kinds
        leave their sections out.
    manifest : mapping, optional
        The run's manifest (parameters, inputs, versions).
    survey : str
        Survey name shown in the report.
    years : str
        Survey years such as ``"2021-2023"``; ``""`` for all stored years.
        Restricts the ingest counts (the DRL tables are already restricted).

    Returns
    -------
    dict of str to DataFrame
        ``summary`` (item, value); ``drl`` (one row per exam code and
        quantity: facilities, exams, P50, P75 with its 95 % bootstrap interval,
        current DRL, edition, P75 / DRL, share of facilities above it; doses
        in the row's ``unit``); ``share_above`` (exam code, quantity, year,
        current DRL, share of exams above it); ``outliers_by_reason``,
        ``data_quality_by_issue`` (issue, quantity, values),
        ``alerts``, ``exam_clusters``, ``source_clusters`` (identifier,
        cluster and numeric features) and ``cluster_sizes`` where the run
        has them;
        ``parameters`` and ``provenance``.
    """
    manifest = manifest or {}
    year_list = _years_list(years)
    out: dict[str, pd.DataFrame] = {"summary": _summary(sources, year_list)}
    if "drl" in sources:
        out["drl"] = _drl(sources["drl"])
    if "drl_by_year" in sources:
        out["share_above"] = _share_above(sources["drl_by_year"])
    if "outliers" in sources:
        o = sources["outliers"]
        reason = "reason_kind" if "reason_kind" in o.columns else "reason"
        counts = o.groupby([reason, "quantity"] if "quantity" in o.columns else [reason]).size()
        out["outliers_by_reason"] = counts.rename("values").reset_index().rename(columns={reason: "reason"})
    if "data_quality" in sources:
        q = sources["data_quality"]
        counts = q.groupby(["issue", "quantity"]).size() if len(q) else pd.Series(dtype="int64")
        out["data_quality_by_issue"] = pd.DataFrame(
            [(i, qty, int(n)) for (i, qty), n in counts.items()], columns=["issue", "quantity", "values"]
        )
    if "alerts" in sources:
        a = sources["alerts"]
        keep = [c for c in ("alert", "data_source", "facility_id", "exam_code", "quantity", "unit", "years",
                            "years_reported", "facility_medians", "drl", "drl_edition", "n_implausible", "n_values",
                            "share_implausible") if c in a.columns]
        out["alerts"] = a[keep].reset_index(drop=True)
    sizes = []
    for kind, ident, what in (("exam_clusters", "exam_code", "exam codes"),
                              ("source_clusters", "data_source", "data sources")):
        c = sources.get(kind)
        if c is None or "cluster" not in c.columns:
            continue
        # Identifiers, the cluster and numeric features only: free-text notes stay out.
        keep = [col for col in c.columns
                if col in (ident, "exam_name", "cluster") or pd.api.types.is_numeric_dtype(c[col])]
        out[kind] = c[keep].reset_index(drop=True)
        counts = c.groupby("cluster").size()
        sizes += [(what, int(k), int(n)) for k, n in counts.items()]
    if sizes:
        out["cluster_sizes"] = pd.DataFrame(sizes, columns=["clustered", "cluster", "members"])
    out["parameters"] = _parameters(sources, manifest, survey, years_used(sources, years))
    out["provenance"] = _provenance(manifest)
    return out


#: How each table of the pseudonymised edition is ordered first: by pseudonyms
#: and values, then by its other columns left to right (:func:`published_order`),
#: so that the order of the real names tells nothing.
PSEUDONYMISED_ORDER: dict[str, list[str]] = {
    "alerts": ["alert", "data_source", "facility_id", "exam_code", "quantity"],
    "source_clusters": ["cluster", "data_source"],
}


def _sort_key(values: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return values
    return values.map(lambda v: "" if v is None or (isinstance(v, float) and v != v) else str(v))


def published_order(frame: pd.DataFrame, first: Sequence[str] = ()) -> pd.DataFrame:
    """``frame`` with its rows sorted by what it publishes only.

    Rows are sorted by the columns ``first``, then by every other column left
    to right, so rows that agree on ``first`` do not keep the order they had
    before their names were replaced (which is often the order of the names).

    Parameters
    ----------
    frame : DataFrame
    first : sequence of str
        Columns to sort by first; those not in ``frame`` are ignored.

    Returns
    -------
    DataFrame
        A new frame, index 0, 1, ...
    """
    frame = frame.reset_index(drop=True)
    cols = [c for c in first if c in frame.columns]
    cols += [c for c in frame.columns if c not in cols]
    if not cols or frame.empty:
        return frame
    keys = pd.DataFrame({i: _sort_key(frame[c]) for i, c in enumerate(cols)})
    order = keys.sort_values(list(keys.columns), kind="stable", na_position="last").index
    return frame.loc[order].reset_index(drop=True)


def _renumber_source_clusters(tables: dict[str, pd.DataFrame]) -> None:
    """Number the clusters of data sources in the order of their first pseudonym.

    The analysis numbers clusters in the order their first member appears,
    which is the order of the real names: cluster 1 would hold the data source
    first in the alphabet. Renumbered, the numbers follow the pseudonyms.
    """
    clusters = tables.get("source_clusters")
    if clusters is None or "cluster" not in clusters.columns or "data_source" not in clusters.columns:
        return
    ordered = clusters.sort_values("data_source", kind="stable")
    numbers: dict[object, int] = {}
    for c in ordered["cluster"]:
        if pd.notna(c) and c not in numbers:
            numbers[c] = len(numbers) + 1

    def renumber(values: pd.Series) -> pd.Series:
        return values.map(lambda c: numbers.get(c, c))

    tables["source_clusters"] = clusters.assign(cluster=renumber(clusters["cluster"]))
    sizes = tables.get("cluster_sizes")
    if sizes is not None and {"clustered", "cluster"} <= set(sizes.columns):
        of_sources = sizes["clustered"] == "data sources"
        sizes = sizes.copy()
        sizes.loc[of_sources, "cluster"] = renumber(sizes.loc[of_sources, "cluster"])
        tables["cluster_sizes"] = published_order(sizes, ["clustered", "cluster"])


def pseudonymise_tables(
    tables: Mapping[str, pd.DataFrame], key: PseudonymKey, *, known_sources: Iterable[str] = ()
) -> dict[str, pd.DataFrame]:
    """The report's tables with data sources and facilities replaced by pseudonyms.

    Input files are listed by number and SHA-256 only (their names often
    carry the data source). Rows are ordered by what the table publishes
    (:func:`published_order`) and clusters of data sources numbered in the
    order of their pseudonyms, never in the order of the real names. The
    result is checked: an original name left in any cell is an error of ours,
    raised before anything is written.

    Parameters
    ----------
    tables : mapping of str to DataFrame
        As :func:`build_report_tables` returns.
    key : PseudonymKey
    known_sources : iterable of str
        Every data source of the run (e.g. from the ingest table): none may
        appear anywhere in the result, even where no table names it as such.

    Returns
    -------
    dict of str to DataFrame
    """
    p = Pseudonymiser(key)
    out: dict[str, pd.DataFrame] = {}
    for name, frame in tables.items():
        if name == "provenance":
            # Input files by number and SHA-256, numbered in the order of their SHA-256 (not of their names).
            is_input = (frame["kind"] == "input").to_numpy()
            inputs = frame[is_input].sort_values("value", kind="stable")
            inputs = inputs.assign(item=[f"input file {i + 1}" for i in range(len(inputs))])
            first = int(is_input.argmax()) if is_input.any() else len(frame)
            rest = frame[~is_input]
            frame = pd.concat([rest.iloc[:first], inputs, rest.iloc[first:]]).reset_index(drop=True)
        elif name == "parameters":
            # The data source given to files that name none (notebook 02) is a name too.
            frame = frame.copy()
            named = frame["parameter"] == "data_source"
            frame.loc[named, "value"] = [
                json.dumps(p.source(json.loads(v)) if json.loads(v) else "") for v in frame.loc[named, "value"]
            ]
        out[name] = p.frame(frame) if set(ID_COLUMNS) & set(frame.columns) else frame.copy()
    _renumber_source_clusters(out)
    for name, frame in out.items():
        if set(ID_COLUMNS) & set(frame.columns):
            out[name] = published_order(frame, PSEUDONYMISED_ORDER.get(name, ID_COLUMNS))
    sources, facilities = p.originals
    sources = sorted(set(sources) | {str(s) for s in known_sources if isinstance(s, str) and s.strip()})
    found = find_identifiers(out, sources, facility_ids=[f for _, f in facilities])
    if found:
        raise RuntimeError("pseudonymised tables still hold original names: " + "; ".join(found))
    return out

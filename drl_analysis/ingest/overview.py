"""Tables and figures of what ingest read, repaired and rejected.

Used by ``notebooks/02_repair.ipynb`` and the reports: every number comes
from the database's submissions, sheets, repairs and rejections tables.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..core.tables import write_csv
from ..store.database import load_table
from .inferences import COLUMN_RULES, INFERENCE_RULES


def accounting_tables(db_url: str) -> dict[str, pd.DataFrame]:
    """What ingest did, as tables.

    Returns
    -------
    dict of pandas.DataFrame
        ``by_source_year``: per data source and year, files, rows read, stored,
        rejected, repaired values and flagged rows, with ``balanced`` true
        where read = stored + rejected;
        ``repairs_by_rule`` and ``rejections_by_reason``: counts, most first;
        ``failed_files``: files that could not be read, with the reason;
        ``sheets``: one row per sheet with its status and counts;
        ``rdsr_reports``: DICOM dose reports per kind (CT, projection): read,
        stored, rejected, replaced by a cumulative update, stored without
        exam code;
        ``by_origin``: exposures stored per data source and year, from survey
        files and from DICOM dose reports;
        ``unmapped_procedures``: the stored reports the procedure map gives no
        exam code, by kind and study description, with their count, most
        first, and the requested procedures and protocols they name: the
        list to extend the map with.
    """
    subs = load_table(db_url, "submissions")
    sheets = load_table(db_url, "sheets")
    repairs = load_table(db_url, "repairs")
    rejections = load_table(db_url, "rejections")
    stored = subs[subs["status"] == "stored"].copy()
    stored["data_source"] = stored["data_source"].fillna("(none)")
    by = (
        stored.groupby(["data_source", "year"], dropna=False, sort=True)
        .agg(
            files=("source_file", "count"),
            rows_read=("rows_read", "sum"),
            rows_stored=("rows_stored", "sum"),
            rows_rejected=("rows_rejected", "sum"),
            values_repaired=("n_repairs", "sum"),
            rows_flagged=("n_flagged", "sum"),
        )
        .reset_index()
    )
    by["year"] = by["year"].astype("Int64")
    by["balanced"] = by["rows_read"] == by["rows_stored"] + by["rows_rejected"]
    file_ok = rejections["sheet"].notna() | rejections["source_row"].notna()
    rules = (
        repairs.groupby("rule").size().rename("values").reset_index().sort_values(["values", "rule"], ascending=[False, True])
    )
    reasons = (
        rejections[file_ok]
        .groupby("reason")
        .size()
        .rename("rows")
        .reset_index()
        .sort_values(["rows", "reason"], ascending=[False, True])
    )
    failed = subs.loc[subs["status"] == "failed", ["source_file", "message"]].rename(columns={"message": "reason"})
    sheet_cols = ["source_file", "sheet", "status", "reason", "header_row", "data_source", "year",
                  "rows_read", "rows_stored", "rows_rejected"]
    rdsr_reports, unmapped = rdsr_tables(db_url)
    return {
        "inferences_by_file": inference_table(subs, repairs),
        "by_source_year": by.reset_index(drop=True),
        "repairs_by_rule": rules.reset_index(drop=True),
        "rejections_by_reason": reasons.reset_index(drop=True),
        "failed_files": failed.sort_values("source_file").reset_index(drop=True),
        "sheets": sheets[sheet_cols].sort_values(["source_file", "sheet"]).reset_index(drop=True),
        "rdsr_reports": rdsr_reports,
        "by_origin": exposures_by_origin(db_url),
        "unmapped_procedures": unmapped,
    }


def exposures_by_origin(db_url: str) -> pd.DataFrame:
    """Exposures stored per data source, year and origin (``survey file`` or ``RDSR``)."""
    import sqlalchemy as sa

    from ..store.database import make_engine

    query = sa.text(
        "SELECT e.data_source, e.year, CASE WHEN EXISTS (SELECT 1 FROM rdsr r WHERE r.submission_id = "
        "e.submission_id) THEN 'RDSR' ELSE 'survey file' END AS origin, COUNT(*) AS exposures "
        "FROM exposures e GROUP BY 1, 2, 3"
    )
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            frame = pd.read_sql(query, conn)
    finally:
        engine.dispose()
    frame["data_source"] = frame["data_source"].fillna("(none)")
    frame["year"] = frame["year"].astype("Int64")
    frame["exposures"] = frame["exposures"].astype(int)
    return frame.sort_values(["data_source", "year", "origin"], kind="stable").reset_index(drop=True)


def _joined(values: pd.Series, most: int = 3) -> str:
    counts = values.dropna().astype(str).value_counts()
    return " | ".join(counts.index[:most])


def rdsr_tables(db_url: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """DICOM dose reports per kind, and the unmapped ones by study description
    (see :func:`accounting_tables`)."""
    docs = load_table(db_url, "rdsr")
    kinds = docs[docs["template"].notna()]
    reports = (
        kinds.assign(
            stored=kinds["status"] == "stored",
            rejected=kinds["status"] == "rejected",
            replaced=kinds["status"] == "replaced",
            unmapped=(kinds["status"] == "stored") & kinds["map_row"].isna(),
        )
        .groupby("template", sort=True)
        .agg(read=("status", "size"), stored=("stored", "sum"), rejected=("rejected", "sum"),
             replaced=("replaced", "sum"), without_exam_code=("unmapped", "sum"))
        .reset_index()
        .rename(columns={"template": "report"})
    )
    open_ = kinds[(kinds["status"] == "stored") & kinds["map_row"].isna()].copy()
    open_["study_description"] = open_["study_description"].fillna("(none)")
    if open_.empty:
        unmapped = pd.DataFrame(columns=["report", "study_description", "studies", "requested_procedure", "protocol"])
    else:
        unmapped = (
            open_.groupby(["template", "study_description"], sort=True)
            .agg(studies=("status", "size"), requested_procedure=("requested_procedure", _joined),
                 protocol=("protocol", _joined))
            .reset_index()
            .rename(columns={"template": "report"})
            .sort_values(["studies", "report", "study_description"], ascending=[False, True, True], kind="stable")
        )
    for frame in (reports, unmapped):
        for c in frame.columns:
            if c not in ("report", "study_description", "requested_procedure", "protocol"):
                frame[c] = frame[c].astype(int)
    return reports.reset_index(drop=True), unmapped.reset_index(drop=True)


def inference_table(submissions: pd.DataFrame, repairs: pd.DataFrame) -> pd.DataFrame:
    """Per stored file, each inference that could be wrong and how much it touched.

    Columns ``source_file, rule, inference, touched, unit, rows_read, share``:
    ``touched`` counts rows (``unit`` "rows") or, for header rules, columns;
    ``share`` is touched rows / rows read. Files with the largest share of
    inferred rows come first, so that a reviewer sees which files need a look.
    """
    cols = ["source_file", "rule", "inference", "touched", "unit", "rows_read", "share"]
    stored = submissions[submissions["status"] == "stored"].set_index("source_file")["rows_read"]
    rows = []
    for (source_file, rule), hit in repairs[repairs["rule"].isin(list(INFERENCE_RULES))].groupby(
            ["source_file", "rule"], sort=True):
        per_column = rule in COLUMN_RULES
        touched = len(hit) if per_column else len(hit[["sheet", "source_row"]].drop_duplicates())
        read = int(stored.get(source_file, 0))
        rows.append({"source_file": source_file, "rule": rule, "inference": INFERENCE_RULES[rule],
                     "touched": touched, "unit": "columns" if per_column else "rows", "rows_read": read,
                     "share": (touched / read if read and not per_column else None)})
    table = pd.DataFrame(rows, columns=cols)
    if table.empty:
        return table
    worst = table.groupby("source_file")["share"].max().fillna(0).rename("worst")
    table = table.join(worst, on="source_file").sort_values(["worst", "source_file", "rule"],
                                                            ascending=[False, True, True])
    return table.drop(columns="worst").reset_index(drop=True)


def summary_lines(summary) -> list[str]:
    """What an ingest did, in sentences for a page (the files' details are in :func:`accounting_tables`).

    Parameters
    ----------
    summary : drl_analysis.ingest.batch.IngestSummary
    """
    t = summary.totals()
    balance = ("" if t["rows_read"] == t["rows_stored"] + t["rows_rejected"]
               else " (they do not add up: a fault to report)")
    return [
        f"{t['files']:,} files: {t['files_stored']:,} stored, {t['files_already_stored']:,} already stored, "
        f"{t['files_failed']:,} could not be read.",
        f"{t['sheets_with_data']:,} sheets with exposure data, {t['sheets_skipped']:,} without.",
        f"{t['rows_read']:,} rows read = {t['rows_stored']:,} stored + {t['rows_rejected']:,} rejected{balance}.",
        f"{t['values_repaired']:,} values repaired; {t['rows_flagged']:,} rows flagged as implausible or unknown.",
    ]


def describe_accounting(tables: dict[str, pd.DataFrame]) -> str:
    """The alternative text of :func:`plot_accounting`'s figure, from the tables it shows."""
    by, rules = tables["by_source_year"], tables["repairs_by_rule"]
    text = (f"Two bar charts. Left: rows stored and rejected for each of the {len(by)} data sources and years"
            + (f" ({int(by['rows_read'].min()):,} to {int(by['rows_read'].max()):,} rows read each)" if len(by) else "")
            + f". Right: the values repaired by each of {len(rules)} rules")
    if len(rules):
        top = rules.iloc[0]
        text += f", most by {top['rule']} ({int(top['values']):,})"
    return text + "."


def plot_accounting(tables: dict[str, pd.DataFrame]):
    """Two panels: rows stored and rejected per data source and year; repairs by rule.

    Returns the matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    by = tables["by_source_year"].copy()
    by["label"] = by["data_source"].astype(str) + " " + by["year"].astype(str)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, max(3.5, 0.35 * len(by) + 1.5)))
    ax1.barh(by["label"], by["rows_stored"], label="stored", color="#3b7dd8")
    ax1.barh(by["label"], by["rows_rejected"], left=by["rows_stored"], label="rejected", color="#e07b39")
    ax1.set_xlabel("rows [count]")
    ax1.set_title("Rows per data source and year")
    ax1.invert_yaxis()
    ax1.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2, frameon=False)  # below: no bar hidden
    rules = tables["repairs_by_rule"]
    bars = ax2.barh(rules["rule"], rules["values"], color="#6a9f58")
    ax2.bar_label(bars, labels=[f"{int(v):,}" for v in rules["values"]], padding=2, fontsize=8)  # small counts too
    ax2.margins(x=0.12)
    ax2.set_xlabel("repaired values [count]")
    ax2.set_title("Repairs by rule")
    ax2.invert_yaxis()
    fig.tight_layout()
    return fig


def write_accounting(tables: dict[str, pd.DataFrame], out_dir: str | Path) -> list[Path]:
    """Write each table as ``ingest_<name>.csv`` into ``out_dir``; return the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, frame in tables.items():
        p = out / f"ingest_{name}.csv"
        write_csv(frame, p)
        paths.append(p)
    return paths

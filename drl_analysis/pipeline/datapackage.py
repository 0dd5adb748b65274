"""``datapackage.json``: a version's CSV tables as a Frictionless Data Package.

One resource per CSV table (the notebooks' tables and the report's, both
editions), each with a Table Schema: field names, types, descriptions with
units (from :func:`drl_analysis.core.columns.describe_column`, the one place
that says what a column means), the missing-value marker and a primary key
where the rows have one; and the package's licence, survey, version and
sources. ``frictionless validate datapackage.json`` checks every table
against its schema, its size and its SHA-256.

Types are read off the table as written: a column whose every value is an
integer is ``integer``, a number ``number``, ``True``/``False`` ``boolean``,
anything else ``string``; columns that hold codes or names
(:data:`~drl_analysis.core.columns.TEXT_COLUMNS`) stay ``string``.
"""

from __future__ import annotations

import csv
import logging
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from ..core.columns import TEXT_COLUMNS, describe_column
from .layout import DATAPACKAGE, PSEUDONYMISED, REPORT, TABLES
from .manifest import sha256_file

log = logging.getLogger(__name__)

#: Licence of the published tables and reports (the software is GPL-3.0-or-later).
DATA_LICENSE = {
    "name": "CC-BY-4.0",
    "path": "https://creativecommons.org/licenses/by/4.0/",
    "title": "Creative Commons Attribution 4.0 International",
}

#: Table file name -> what it holds. A table of the pseudonymised edition
#: (``annual_report_pseudonymised_x.csv``) is described as ``annual_report_x.csv``.
TABLE_DESCRIPTIONS: dict[str, str] = {
    "dose_reports.csv": "dose values read off dose-report screens by OCR, one row per image",
    "ingest_by_source_year.csv": "rows read, stored, rejected and repaired per data source and year",
    "ingest_failed_files.csv": "input files that could not be read, with the reason",
    "ingest_rejections_by_reason.csv": "rows not stored, counted by reason",
    "ingest_repairs_by_rule.csv": "values repaired, counted by repair rule",
    "ingest_inferences_by_file.csv": "per input file, each inference that could be wrong and how much it touched",
    "ingest_sheets.csv": "every sheet of every input file: what it held and how it was read",
    "drl_table.csv": "DRL statistics per exam code and dose quantity over the survey's years: facility-median "
    "quartiles, proposed DRL (P75) with its bootstrap confidence interval, comparison with the current DRL",
    "drl_by_year.csv": "the DRL statistics of drl_table.csv for each survey year",
    "outliers.csv": "outlying dose values (suspected unit slips, far above or below their exam or facility)",
    "facility_outliers.csv": "facilities whose median lies above the current DRL or the survey's P95",
    "alerts.csv": "alerts: facilities above the DRL in several years, data sources with many implausible values",
    "excluded_values.csv": "values left out of the references, counted by exam, quantity and reason",
    "data_quality.csv": "values with a data-quality issue, one row per value and issue",
    "annual_report_data_quality_by_issue.csv": "values with a data-quality issue, counted by issue and quantity",
    "exam_clusters.csv": "clusters of exam codes by dose relative to the DRL and its spread, per year",
    "exam_cluster_centres.csv": "the centres of the exam-code clusters",
    "source_clusters.csv": "clusters of data sources by the spread of their doses relative to the DRL",
    "source_cluster_centres.csv": "the centres of the data-source clusters",
    "cluster_feature_weights.csv": "the features of each clustering with their scale, noise and weight",
    "cluster_selection.csv": "the numbers of clusters tried, with their silhouette scores",
    "parameters.csv": "the parameters of the outlier and cluster analysis, with their meaning",
    "annual_report_summary.csv": "the annual report's summary figures",
    "annual_report_drl.csv": "the annual report's table of proposed DRLs against the current DRLs",
    "annual_report_share_above.csv": "the share of exams above the current DRL per exam, quantity and year",
    "annual_report_alerts.csv": "the annual report's alerts",
    "annual_report_outliers_by_reason.csv": "outlying values counted by reason and quantity",
    "annual_report_cluster_sizes.csv": "the sizes of the clusters of exam codes and data sources",
    "annual_report_exam_clusters.csv": "the annual report's clusters of exam codes",
    "annual_report_source_clusters.csv": "the annual report's clusters of data sources",
    "annual_report_parameters.csv": "the parameters of the run, and the table each was taken from",
    "annual_report_provenance.csv": "the run, its input files (by number and SHA-256) and its software",
}

#: Table file name -> the columns that identify a row (checked against the
#: table before they are declared).
TABLE_KEYS: dict[str, tuple[str, ...]] = {
    "drl_table.csv": ("exam_code", "quantity"),
    "drl_by_year.csv": ("exam_code", "quantity", "year"),
    "annual_report_drl.csv": ("exam_code", "quantity"),
    "annual_report_share_above.csv": ("exam_code", "quantity", "year"),
    "exam_clusters.csv": ("exam_code",),
    "annual_report_exam_clusters.csv": ("exam_code",),
    "source_clusters.csv": ("data_source",),
    "annual_report_source_clusters.csv": ("data_source",),
    "exam_cluster_centres.csv": ("cluster",),
    "source_cluster_centres.csv": ("cluster",),
    "cluster_feature_weights.csv": ("clustering", "feature"),
    "cluster_selection.csv": ("clustering", "k"),
    "facility_outliers.csv": ("exam_code", "quantity", "year", "data_source", "facility_id"),
    "excluded_values.csv": ("exam_code", "quantity", "status"),
    "parameters.csv": ("parameter",),
    "annual_report_parameters.csv": ("parameter", "from"),
    "annual_report_provenance.csv": ("kind", "item"),
    "annual_report_summary.csv": ("item",),
    "annual_report_cluster_sizes.csv": ("clustered", "cluster"),
    "annual_report_outliers_by_reason.csv": ("reason", "quantity"),
    "annual_report_data_quality_by_issue.csv": ("issue", "quantity"),
    "ingest_by_source_year.csv": ("data_source", "year"),
    "ingest_rejections_by_reason.csv": ("reason",),
    "ingest_repairs_by_rule.csv": ("rule",),
    "ingest_inferences_by_file.csv": ("source_file", "rule"),
    "ingest_failed_files.csv": ("source_file",),
    "dose_reports.csv": ("source_file",),
}

_INTEGER = re.compile(r"^[+-]?\d+$")
_BOOLEAN = {"True", "False"}


class UndocumentedColumns(Exception):
    """Columns of a table that :mod:`drl_analysis.core.columns` does not describe."""


def _edition_neutral(name: str) -> str:
    return name.replace("annual_report_pseudonymised_", "annual_report_")


def csv_tables(folder: str | Path) -> list[str]:
    """The CSV tables of a version (relative paths): the notebooks' and the report's, both editions."""
    folder = Path(folder)
    found = []
    for top in (TABLES, REPORT):
        if (folder / top).is_dir():
            found += [p.relative_to(folder).as_posix() for p in sorted((folder / top).rglob("*.csv"))]
    return found


def _read(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader, [])
        return header, list(reader)


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def field_type(column: str, values: Iterable[str]) -> str:
    """The Table Schema type of a column, read off its (non-missing) values."""
    values = [v for v in values if v != ""]
    if column in TEXT_COLUMNS or not values:
        return "string"
    if all(v in _BOOLEAN for v in values):
        return "boolean"
    if all(_INTEGER.match(v) for v in values):
        return "integer"
    if all(_is_number(v) for v in values):
        return "number"
    return "string"


def resource_name(rel: str) -> str:
    """A resource name from a table's path: lower case, ``/`` as ``-``, no ``.csv``."""
    stem = rel[:-4] if rel.endswith(".csv") else rel
    return re.sub(r"[^a-z0-9._-]+", "-", stem.lower().replace("/", "-")).strip("-")


def table_schema(path: Path, *, strict: bool = False) -> dict:
    """The Table Schema of one CSV table (a descriptor).

    A column without a description gets an empty one and a logged warning,
    or, when ``strict``, raises :class:`UndocumentedColumns`.
    """
    header, rows = _read(path)
    missing = [c for c in header if describe_column(c, path.name) is None]
    if missing:
        message = f"{path.name}: no description for {', '.join(missing)} (add them to drl_analysis/core/columns.py)"
        if strict:
            raise UndocumentedColumns(message)
        log.warning(message)
    fields = []
    for i, column in enumerate(header):
        values = [row[i] if i < len(row) else "" for row in rows]
        fields.append({"name": column, "type": field_type(column, values),
                       "description": describe_column(column, path.name) or ""})
    schema: dict = {"fields": fields, "missingValues": [""]}
    key = TABLE_KEYS.get(_edition_neutral(path.name))
    if key and all(k in header for k in key):
        idx = [header.index(k) for k in key]
        seen = {tuple(row[i] if i < len(row) else "" for i in idx) for row in rows}
        if len(seen) == len(rows) and not any("" in k for k in seen):
            schema["primaryKey"] = list(key)
        else:
            log.warning("%s: %s does not identify its rows; no primary key declared", path.name, ", ".join(key))
    return schema


def _sources(manifest: Mapping, pseudonymised: bool) -> list[dict]:
    """The input files the tables come from; in the pseudonymised edition by number and SHA-256 only."""
    out = []
    for i, f in enumerate(manifest.get("inputs", {}).get("files", []), 1):
        title = f"input file {i}" if pseudonymised else f"{f['path']}"
        out.append({"title": f"{title} (sha256 {f['sha256']})"})
    return out


def build_package(
    folder: str | Path,
    manifest: Mapping,
    tables: Sequence[str] | None = None,
    *,
    pseudonymised: bool = False,
    strict: bool = False,
):
    """The Data Package of a version (a :class:`frictionless.Package`).

    Parameters
    ----------
    folder : str or Path
        The version folder (or a folder laid out like one: a release's).
    manifest : mapping
        The version's manifest: survey, version, inputs, packages.
    tables : sequence of str, optional
        Relative paths of the tables to describe; default every CSV table.
    pseudonymised : bool
        Describe the pseudonymised edition: input files by number and SHA-256 only.
    strict : bool
        Refuse a column without a description (default: describe it as empty, with a warning).
    """
    from frictionless import Package, Resource, Schema

    folder = Path(folder)
    tables = list(tables) if tables is not None else csv_tables(folder)
    resources = []
    for rel in tables:
        path = folder / rel
        name = Path(rel).name
        description = TABLE_DESCRIPTIONS.get(_edition_neutral(name), "")
        if rel.startswith(f"{PSEUDONYMISED}/"):
            description = (description + "; " if description else "") + \
                "pseudonymised edition: data sources and facilities replaced by keyed pseudonyms"
        resources.append(Resource(
            path=rel, name=resource_name(rel), title=name, description=description,
            format="csv", mediatype="text/csv", encoding="utf-8",
            hash=f"sha256:{sha256_file(path)}", bytes=path.stat().st_size,
            schema=Schema.from_descriptor(table_schema(path, strict=strict)),
        ))
    survey, version = manifest["survey"], manifest["version"]
    software = manifest.get("packages", {}).get("drl-analysis", "")
    edition = "pseudonymised edition" if pseudonymised else "identified edition"
    years = manifest.get("parameters", {}).get("years") or "all survey years"
    return Package(
        name=resource_name(f"drl-analysis-{survey}-{version}"),
        title=f"Patient-dose survey {survey}: diagnostic reference levels and analyses, version {version} ({edition})",
        description=(
            f"Tables written by drl-analysis {software} (drl-analysis run) for the survey {survey}, years {years}: "
            "ingest accounting, DRL statistics (75th percentile of facility medians) with bootstrap confidence "
            "intervals, outliers, alerts, clusters and the annual report's tables. Doses in canonical units "
            "(DAP cGy·cm², AGD mGy, DLP mGy·cm, CTDIvol mGy). "
            + ("Data sources and facilities appear only as keyed pseudonyms; input files by number and SHA-256."
               if pseudonymised else "This edition names data sources, facilities and input files.")
        ),
        version=version,
        created=manifest.get("started_utc"),
        licenses=[dict(DATA_LICENSE)],
        sources=_sources(manifest, pseudonymised),
        keywords=["radiation protection", "diagnostic reference levels", "patient dose", survey],
        resources=resources,
    )


def write_datapackage(
    folder: str | Path,
    manifest: Mapping,
    tables: Sequence[str] | None = None,
    *,
    pseudonymised: bool = False,
) -> Path:
    """Write ``datapackage.json`` into ``folder`` (see :func:`build_package`); returns its path."""
    import json

    folder = Path(folder)
    package = build_package(folder, manifest, tables, pseudonymised=pseudonymised)
    out = folder / DATAPACKAGE
    out.write_text(json.dumps(package.to_descriptor(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return out

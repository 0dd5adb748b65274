"""``drl-analysis ingest PATH...`` and ``drl-analysis export``."""

from __future__ import annotations

import argparse
import json
import sys


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "ingest", help="read, repair and store survey submissions and DICOM dose reports",
        description="Read survey files (.xlsx .xlsm .xls .ods .csv) and DICOM radiation dose structured reports, "
        "repair them with every change on record, flag implausible values and store them in the database. A file "
        "already stored (same SHA-256) is not stored again. The summary ends with the files that rest most on "
        "inferences.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="survey files, DICOM dose reports or folders (folders are searched recursively)")
    p.add_argument("--db", metavar="URL",
                   help="SQLAlchemy URL of the database, created if missing (default: SQLite in "
                        "data/processed/drl.sqlite under the project folder; sqlite:////abs/path.sqlite for an "
                        "absolute path, postgresql+psycopg://user:password@host/db for PostgreSQL)")
    p.add_argument("--catalogue", metavar="FILE", help="exam-code catalogue CSV (default: the shipped one)")
    p.add_argument("--data-source", metavar="NAME",
                   help="data source for files whose cells name none; it comes before a data source read "
                        "from the file name (default: none)")
    p.add_argument("--year", type=int, metavar="YYYY",
                   help="survey year for files whose cells name none; it comes before a year read from the "
                        "file name (default: none)")
    p.add_argument("--max-file-mb", type=float, default=200, metavar="MB", help="larger files are refused unread")
    p.add_argument("--max-cells", type=int, default=20_000_000, metavar="N",
                   help="a sheet of more rows x columns is refused unread")
    p.add_argument("--max-rows", type=int, default=1_048_576, metavar="N", help="a sheet of more rows is refused unread")
    p.add_argument("--max-columns", type=int, default=1000, metavar="N",
                   help="a sheet of more columns is refused unread")
    p.add_argument("--max-memory-mb", type=int, default=4096, metavar="MB",
                   help="memory each worker may take (0: no limit); a file that needs more fails alone")
    p.add_argument("--jobs", type=int, default=0, metavar="N", help="worker processes (default: 0, one per core)")
    p.add_argument("--rdsr-facility", choices=("device", "station", "institution"), default="device",
                   help="what names the facility of a DICOM dose report: the Device Observer UID (else the "
                        "station name), the station name or the institution name")
    p.add_argument("--procedure-map", metavar="FILE",
                   help="CSV mapping the studies of DICOM dose reports to exam codes (default: the shipped one)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON instead of text")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=run)

    p = sub.add_parser("export", help="write every stored exposure to a CSV file",
                       description="Write every stored exposure to a CSV file (UTF-8), one row per exposure, "
                       "doses in the canonical units, with their flags.")
    p.add_argument("--db", metavar="URL",
                   help="SQLAlchemy URL of the database to read; a missing SQLite file is refused "
                        "(default: SQLite in data/processed/drl.sqlite under the project folder)")
    p.add_argument("--out", required=True, metavar="FILE.csv", help="the CSV file to write")
    p.set_defaults(func=run_export)


def _check_limits(args: argparse.Namespace):
    from .parser import Problems, at_least

    problems = Problems()
    at_least(problems, "--max-file-mb", args.max_file_mb, 0)
    at_least(problems, "--max-cells", args.max_cells, 1)
    at_least(problems, "--max-rows", args.max_rows, 1)
    at_least(problems, "--max-columns", args.max_columns, 1)
    at_least(problems, "--max-memory-mb", args.max_memory_mb, 0, " (0: no limit)")
    at_least(problems, "--jobs", args.jobs, 0, " (0: one per core)")
    if args.year is not None and not 1900 <= args.year <= 2100:
        problems.add(f"--year: {args.year} is not a survey year such as 2024")
    return problems


def run(args: argparse.Namespace) -> int:
    """Print the summary; exit 1 if a file could not be read."""
    from ..core.catalogue import load_catalogue
    from ..core.errors import UserError
    from ..ingest.batch import ingest_paths
    from ..ingest.workbook import Limits
    from ..store.urls import sqlite_hint

    problems = _check_limits(args)
    catalogue = problems.check(load_catalogue, args.catalogue)
    problems.raise_any()
    hint = sqlite_hint(args.db) if args.db else ""
    if hint:
        print(f"drl-analysis ingest: note: {hint}", file=sys.stderr)
    summary = ingest_paths(
        args.paths,
        args.db,
        catalogue=catalogue,
        data_source=args.data_source,
        year=args.year,
        max_file_mb=args.max_file_mb,
        progress=not args.no_progress,
        jobs=args.jobs,
        limits=Limits(max_cells=args.max_cells, max_rows=args.max_rows, max_columns=args.max_columns),
        max_memory_mb=args.max_memory_mb or None,
        rdsr_facility=args.rdsr_facility,
        procedure_map=args.procedure_map,
    )
    if args.json:
        print(json.dumps(summary.as_dict(), ensure_ascii=False, indent=2))
    else:
        print(summary.text())
    if not summary.files:
        raise UserError(f"no survey files found in {', '.join(map(str, args.paths))}")
    return 0 if summary.ok else 1


def run_export(args: argparse.Namespace) -> int:
    from ..core.paths import default_db_url
    from ..store.database import export_csv
    from ..store.urls import existing_database

    # Reading only: a missing SQLite file is refused, not created empty.
    n = export_csv(existing_database(args.db or default_db_url()), args.out)
    print(f"Wrote {n} exposures to {args.out}")
    return 0

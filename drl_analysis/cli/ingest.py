"""``drl-analysis ingest PATH...`` and ``drl-analysis export``."""

from __future__ import annotations

import argparse
import json


def add_parsers(sub) -> None:
    p = sub.add_parser("ingest", help="read, repair and store survey submissions and DICOM dose reports")
    p.add_argument("paths", nargs="+", metavar="PATH", help="files or folders (searched recursively)")
    p.add_argument("--db", metavar="URL", help="SQLAlchemy URL (default: SQLite in data/processed/drl.sqlite)")
    p.add_argument("--catalogue", metavar="FILE")
    p.add_argument("--data-source", help="data source for files that name none")
    p.add_argument("--year", type=int, help="survey year for files that name none")
    p.add_argument("--max-file-mb", type=float, default=200.0, help="larger files are refused (default 200)")
    p.add_argument("--max-cells", type=int, default=20_000_000, metavar="N",
                   help="a sheet of more rows x columns is refused unread (default 20000000)")
    p.add_argument("--max-rows", type=int, default=1_048_576, metavar="N",
                   help="a sheet of more rows is refused unread (default 1048576)")
    p.add_argument("--max-columns", type=int, default=1000, metavar="N",
                   help="a sheet of more columns is refused unread (default 1000)")
    p.add_argument("--max-memory-mb", type=int, default=4096, metavar="MB",
                   help="memory each worker may take; a file that needs more fails alone (default 4096; 0: no limit)")
    p.add_argument("--jobs", type=int, default=0, metavar="N", help="worker processes (default: one per core)")
    p.add_argument("--rdsr-facility", choices=("device", "station", "institution"), default="device",
                   help="what names the facility of a DICOM dose report: the Device Observer UID (else the "
                        "station name), the station name or the institution name (default device)")
    p.add_argument("--procedure-map", metavar="FILE",
                   help="CSV mapping the studies of DICOM dose reports to exam codes (default: the shipped one)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)

    p = sub.add_parser("export", help="write every stored exposure to a CSV file")
    p.add_argument("--db", metavar="URL")
    p.add_argument("--out", required=True, metavar="FILE.csv")
    p.set_defaults(func=run_export)


def run(args: argparse.Namespace) -> int:
    """Print the summary; exit 1 if a file could not be read."""
    from ..core.catalogue import load_catalogue
    from ..core.errors import UserError
    from ..ingest.batch import ingest_paths
    from ..ingest.workbook import Limits

    summary = ingest_paths(
        args.paths,
        args.db,
        catalogue=load_catalogue(args.catalogue),
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

    n = export_csv(args.db or default_db_url(), args.out)
    print(f"Wrote {n} exposures to {args.out}")
    return 0

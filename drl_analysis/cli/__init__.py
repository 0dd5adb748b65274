"""The command line: ``drl-analysis COMMAND ...``.

Each command parses its arguments here and hands them to the module that does
the work; errors a user can cause end in one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from .. import __version__
from ..core.errors import UserError


def parse_years(values: Sequence[str] | None) -> list[int] | None:
    """Years from ``["2021-2023"]``, ``["2021", "2022"]`` or ``["2021,2022"]``.

    >>> parse_years(["2021-2023"])
    [2021, 2022, 2023]
    """
    if not values:
        return None
    years: set[int] = set()
    for value in values:
        for part in str(value).split(","):
            part = part.strip()
            if not part:
                continue
            try:
                if "-" in part:
                    lo, hi = (int(x) for x in part.split("-", 1))
                    if hi < lo:
                        raise ValueError
                    years.update(range(lo, hi + 1))
                else:
                    years.add(int(part))
            except ValueError:
                raise UserError(f"--years: {value!r} is not a year or a range such as 2021-2023") from None
    return sorted(years)


def parse_range(value: str | None, name: str) -> tuple[float, float] | None:
    """A numeric range ``"50-90"`` -> ``(50.0, 90.0)``."""
    if value is None:
        return None
    try:
        lo, hi = (float(x) for x in value.split("-", 1))
    except ValueError:
        raise UserError(f"{name}: {value!r} is not a range such as 50-90") from None
    if hi < lo:
        raise UserError(f"{name}: {value!r} has its upper end below its lower end")
    return lo, hi


def _dispatch(module: str, function: str):
    def run(args: argparse.Namespace) -> int:
        mod = importlib.import_module(f"drl_analysis.{module}")
        return getattr(mod, function)(args)

    return run


def _ocr(args: argparse.Namespace) -> int:
    from ..ocr.batch import command

    return command(args.paths, args.out, layout=args.layout, jobs=args.jobs, progress=not args.no_progress,
                   review=args.review, corrections=args.corrections)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="drl-analysis",
        description="Repair DRL survey submissions, compute diagnostic reference levels, "
        "read dose-report screens and publish reports.",
    )
    parser.add_argument("--version", action="version", version=f"drl-analysis {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("template", help="write the blank survey workbook")
    p.add_argument("out", metavar="OUT.xlsx")
    p.add_argument("--year", type=int)
    p.add_argument("--data-source")
    p.add_argument("--catalogue", metavar="FILE", help="exam-code catalogue CSV (default: the shipped one)")
    p.set_defaults(func=_dispatch("ingest.template", "command"))

    p = sub.add_parser("ingest", help="read, repair and store survey submissions")
    p.add_argument("paths", nargs="+", metavar="PATH", help="files or folders (searched recursively)")
    p.add_argument("--db", metavar="URL", help="SQLAlchemy URL (default: SQLite in data/processed/drl.sqlite)")
    p.add_argument("--catalogue", metavar="FILE")
    p.add_argument("--data-source", help="data source for files that name none")
    p.add_argument("--year", type=int, help="survey year for files that name none")
    p.add_argument("--max-file-mb", type=float, default=200.0, help="larger files are refused (default 200)")
    p.add_argument("--jobs", type=int, default=0, metavar="N", help="worker processes (default: one per core)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_dispatch("ingest.batch", "command"))

    p = sub.add_parser("export", help="write every stored exposure to a CSV file")
    p.add_argument("--db", metavar="URL")
    p.add_argument("--out", required=True, metavar="FILE.csv")
    p.set_defaults(func=_dispatch("ingest.batch", "export_command"))

    p = sub.add_parser("drl", help="DRL statistics: facility medians, quartiles, proposed DRLs")
    p.add_argument("--db", metavar="URL")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--min-per-facility", type=int, default=10)
    p.add_argument("--years", nargs="+", metavar="YEARS")
    p.add_argument("--quantile-method", default="linear", metavar="M")
    p.add_argument("--weight-range", metavar="LO-HI")
    p.add_argument("--edition", metavar="E")
    p.add_argument("--bootstrap", type=int, default=2000, metavar="B")
    p.add_argument("--seed", type=int, default=0, metavar="S")
    p.add_argument("--facility-means", action="store_true", help="use facility means (pre-2022 German practice)")
    p.add_argument("--catalogue", metavar="FILE")
    p.set_defaults(func=_dispatch("stats.drl", "command"))

    p = sub.add_parser("ocr", help="read dose values off dose-report screenshots")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--out", required=True, metavar="FILE.csv|FILE.xlsx")
    p.add_argument("--layout", default="auto", metavar="NAME|auto")
    p.add_argument("--jobs", type=int, default=0, metavar="N", help="worker processes (default: all cores)")
    p.add_argument("--review", metavar="DIR",
                   help="write a page of the reports to review (crops, values read, reasons) and a corrections.csv")
    p.add_argument("--corrections", metavar="FILE", help="a filled corrections.csv: its values replace the readings")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_ocr)

    p = sub.add_parser("analyse", help="outliers, alerts and clustering")
    p.add_argument("--db", metavar="URL")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--years", nargs="+", metavar="YEARS")
    p.add_argument("--k", type=int, metavar="N", help="number of clusters (default: by silhouette)")
    p.add_argument("--seed", type=int, default=0, metavar="S")
    p.add_argument("--catalogue", metavar="FILE")
    p.set_defaults(func=_dispatch("analysis.analyse", "command"))

    p = sub.add_parser("run", help="run the notebooks in order with papermill")
    p.add_argument("--params", metavar="FILE.yaml")
    p.add_argument("--survey", metavar="NAME")
    p.add_argument("--input", metavar="DIR")
    p.add_argument("--out", metavar="DIR")
    p.add_argument("--years", nargs="+", metavar="YEARS")
    p.add_argument("--pseudonym-key-file", metavar="FILE")
    p.set_defaults(func=_dispatch("pipeline.run", "command"))

    p = sub.add_parser("verify", help="rerun a version from its manifest and compare the tables")
    p.add_argument("version", metavar="VERSION_FOLDER")
    p.add_argument("--pseudonym-key-file", metavar="FILE", help="the key the run used, to check the pseudonymised tables")
    p.set_defaults(func=_dispatch("pipeline.run", "verify_command"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``drl-analysis`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"drl-analysis {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("drl-analysis: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

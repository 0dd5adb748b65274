"""``drl-analysis template OUT.xlsx``: the blank survey workbook."""

from __future__ import annotations

import argparse


def add_parsers(sub) -> None:
    p = sub.add_parser("template", help="write the blank survey workbook")
    p.add_argument("out", metavar="OUT.xlsx")
    p.add_argument("--year", type=int)
    p.add_argument("--data-source")
    p.add_argument("--catalogue", metavar="FILE", help="exam-code catalogue CSV (default: the shipped one)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..core.catalogue import load_catalogue
    from ..ingest.template import write_template

    path = write_template(args.out, year=args.year, data_source=args.data_source,
                          catalogue=load_catalogue(args.catalogue))
    print(f"Wrote the survey template to {path}")
    return 0

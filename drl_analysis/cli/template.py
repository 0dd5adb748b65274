"""``drl-analysis template OUT.xlsx``: the blank survey workbook."""

from __future__ import annotations

import argparse


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "template", help="write the blank survey workbook",
        description="Write the blank survey workbook that facilities fill in: a sheet of instructions (what to "
        "fill, units, an example row), 'Exposure data' (header in row 11, units in every header, exam codes from "
        "a drop-down of 'code – name'), 'IDs' and 'Examination codes' (the catalogue with its DRLs). It prints "
        "on A4 landscape with the header repeated on every page; ingest reads a filled one back exactly.",
    )
    p.add_argument("out", metavar="OUT.xlsx", help="the workbook to write (its folder is created)")
    p.add_argument("--year", type=int, metavar="YYYY", help="survey year written into the workbook (default: left blank)")
    p.add_argument("--data-source", metavar="NAME",
                   help="data source (medical body) written into the workbook (default: left blank)")
    p.add_argument("--catalogue", metavar="FILE",
                   help="exam-code catalogue CSV for the codes and the drop-down (default: the shipped one)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..core.catalogue import load_catalogue
    from ..ingest.template import write_template
    from .parser import Problems

    problems = Problems()
    if args.year is not None and not 1900 <= args.year <= 2100:
        problems.add(f"--year: {args.year} is not a survey year such as 2025")
    catalogue = problems.check(load_catalogue, args.catalogue)
    problems.raise_any()
    path = write_template(args.out, year=args.year, data_source=args.data_source, catalogue=catalogue)
    print(f"Wrote the survey template to {path}")
    return 0

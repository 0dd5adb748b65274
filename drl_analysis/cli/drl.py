"""``drl-analysis drl``: the DRL tables from the database."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..stats.quantiles import QUANTILE_METHODS


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "drl", help="DRL statistics: facility medians, quartiles, proposed DRLs",
        description="DRL statistics per exam code and dose quantity: each facility's median (or mean), the "
        "25th, 50th and 75th percentiles of those (P75: the proposed DRL, from at least --min-facilities facilities; "
        "below, their median as a typical value) with 95 % intervals, compared with the current DRLs of the "
        "catalogue. Every exam code and quantity of the survey gets a row with its status. Writes drl_table.csv, "
        "drl_by_year.csv, drl_tables.xlsx and drl_parameters.json.",
    )
    p.add_argument("--db", metavar="URL",
                   help="SQLAlchemy URL of the database to read; a missing SQLite file is refused "
                        "(default: SQLite in data/processed/drl.sqlite under the project folder)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the tables (created)")
    p.add_argument("--min-per-facility", type=int, default=10, metavar="N",
                   help="a facility counts for an exam with at least N exams of it")
    p.add_argument("--min-facilities", type=int, default=None, metavar="N",
                   help="a proposed DRL (P75) needs at least N counted facilities; with fewer, their median is "
                        "given as a typical value (default 11)")
    p.add_argument("--years", nargs="+", metavar="YEARS",
                   help="survey years: 2024, 2022 2023 or 2021-2023 (default: all stored years)")
    p.add_argument("--quantile-method", default="linear", choices=QUANTILE_METHODS, metavar="M",
                   help="numpy percentile method; linear is Excel's QUARTILE.INC, weibull its QUARTILE.EXC")
    p.add_argument("--weight-range", metavar="LO-HI",
                   help="keep patients of this weight in kg, such as 50-90 (default: all patients)")
    p.add_argument("--edition", metavar="E",
                   help="catalogue edition of the current DRLs, such as DE-2022; a wrong one is refused naming "
                        "the known ones (default: the newest per exam)")
    p.add_argument("--bootstrap", type=int, default=2000, metavar="B",
                   help="bootstrap resamples of facilities for the 95 %% intervals; 0 for none")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the bootstrap (0 or more)")
    p.add_argument("--facility-means", action="store_true",
                   help="use facility means instead of medians (German practice before 2022)")
    p.add_argument("--catalogue", metavar="FILE", help="exam-code catalogue CSV (default: the shipped one)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..core.catalogue import load_catalogue
    from ..stats.drl import (
        check_edition,
        drl_from_database,
        parse_range,
        write_drl_outputs,
    )
    from ..stats.drl_status import MIN_FACILITIES
    from .parser import Problems, at_least

    problems = Problems()
    at_least(problems, "--min-per-facility", args.min_per_facility, 1)
    min_facilities = MIN_FACILITIES if args.min_facilities is None else args.min_facilities
    at_least(problems, "--min-facilities", min_facilities, 1)
    at_least(problems, "--bootstrap", args.bootstrap, 0, " (0: no interval)")
    at_least(problems, "--seed", args.seed, 0)
    weight = problems.check(parse_range, args.weight_range, "--weight-range")
    catalogue = problems.check(load_catalogue, args.catalogue)
    edition = problems.check(check_edition, catalogue, args.edition, name="--edition") if catalogue else None
    problems.raise_any()
    result = drl_from_database(
        args.db or "",
        years=args.years,
        catalogue=catalogue,
        min_per_facility=args.min_per_facility,
        min_facilities=min_facilities,
        quantile_method=args.quantile_method,
        facility_statistic="mean" if args.facility_means else "median",
        weight_range_kg=weight,
        edition=edition,
        n_bootstrap=args.bootstrap,
        random_state=args.seed,
    )
    paths = write_drl_outputs(result, args.out)
    p = result.parameters
    print(
        f"drl: {len(result.table)} exam/quantity rows and {len(result.by_year)} rows by year "
        f"from {result.n_exposures} exposures (years {p['years']}, facility {p['facility_statistic']}s, "
        f"at least {p['min_per_facility']} exams per facility and {p['min_facilities']} facilities per proposed DRL, "
        f"percentile method {p['quantile_method']}, DRL edition {p['edition_requested']})"
    )
    print(f"drl: {result.summary()}")
    if result.empty_reason:
        print(f"drl: no proposed DRL: {result.empty_reason}")
    print(f"written to {Path(args.out)}: {', '.join(path.name for path in paths.values())}")
    return 0

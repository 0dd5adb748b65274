"""``drl-analysis drl``: the DRL tables from the database."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parsers(sub) -> None:
    p = sub.add_parser("drl", help="DRL statistics: facility medians, quartiles, proposed DRLs")
    p.add_argument("--db", metavar="URL")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--min-per-facility", type=int, default=10)
    p.add_argument("--min-facilities", type=int, default=None, metavar="N",
                   help="counted facilities a proposed DRL (P75) needs; fewer give a typical value (default 11)")
    p.add_argument("--years", nargs="+", metavar="YEARS")
    p.add_argument("--quantile-method", default="linear", metavar="M")
    p.add_argument("--weight-range", metavar="LO-HI")
    p.add_argument("--edition", metavar="E")
    p.add_argument("--bootstrap", type=int, default=2000, metavar="B")
    p.add_argument("--seed", type=int, default=0, metavar="S")
    p.add_argument("--facility-means", action="store_true", help="use facility means (pre-2022 German practice)")
    p.add_argument("--catalogue", metavar="FILE")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..core.catalogue import load_catalogue
    from ..core.errors import UserError
    from ..stats.drl import (
        check_edition,
        check_quantile_method,
        drl_from_database,
        parse_range,
        write_drl_outputs,
    )
    from ..stats.drl_tables import MIN_FACILITIES

    check_quantile_method(args.quantile_method, name="--quantile-method")
    if args.min_per_facility < 1:
        raise UserError(f"--min-per-facility: must be at least 1, not {args.min_per_facility}")
    min_facilities = MIN_FACILITIES if args.min_facilities is None else args.min_facilities
    if min_facilities < 1:
        raise UserError(f"--min-facilities: must be at least 1, not {min_facilities}")
    if args.bootstrap < 0:
        raise UserError(f"--bootstrap: must be 0 (no interval) or more, not {args.bootstrap}")
    if args.seed < 0:
        raise UserError(f"--seed: must be 0 or more, not {args.seed}")
    weight = parse_range(args.weight_range, "--weight-range")
    catalogue = load_catalogue(args.catalogue)
    edition = check_edition(catalogue, args.edition, name="--edition")
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

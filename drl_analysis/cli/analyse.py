"""``drl-analysis analyse``: outliers, data quality, alerts and clusters."""

from __future__ import annotations

import argparse


def add_parsers(sub) -> None:
    p = sub.add_parser("analyse", help="outliers, alerts and clustering")
    p.add_argument("--db", metavar="URL")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--years", nargs="+", metavar="YEARS")
    p.add_argument("--k", type=int, metavar="N", help="number of clusters (default: by silhouette)")
    p.add_argument("--seed", type=int, default=0, metavar="S")
    p.add_argument("--catalogue", metavar="FILE")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..analysis.analyse import TABLE_FILES, analyse_database, summary
    from ..core.errors import UserError

    if args.k is not None and args.k < 2:
        raise UserError(f"--k: {args.k} is not a number of clusters of at least 2 (omit --k to choose by silhouette)")
    result = analyse_database(args.db, args.out, years=args.years, k=args.k, seed=args.seed,
                              catalogue=args.catalogue)
    print(summary(result))
    print(f"wrote {len(TABLE_FILES)} tables, the figures and analysis.xlsx to {args.out}")
    return 0

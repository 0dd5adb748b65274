"""``drl-analysis analyse``: outliers, data quality, alerts and clusters."""

from __future__ import annotations

import argparse


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "analyse", help="outliers, alerts and clustering",
        description="Dose outliers (suspected unit slips named), data-quality findings, facilities above the DRL, "
        "alerts, and clusters of exam codes and data sources: outliers.csv, data_quality.csv, "
        "facility_outliers.csv, alerts.csv, exam_clusters.csv, source_clusters.csv, figures and analysis.xlsx.",
    )
    p.add_argument("--db", metavar="URL",
                   help="SQLAlchemy URL of the database to read; a missing SQLite file is refused "
                        "(default: SQLite in data/processed/drl.sqlite under the project folder)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the tables and figures (created)")
    p.add_argument("--years", nargs="+", metavar="YEARS",
                   help="survey years: 2024, 2022 2023 or 2021-2023 (default: all stored years)")
    p.add_argument("--k", type=int, metavar="N",
                   help="number of clusters of both clusterings, at least 2 (default: chosen by the silhouette)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="seed of KMeans and of the facility resampling")
    p.add_argument("--catalogue", metavar="FILE", help="exam-code catalogue CSV (default: the shipped one)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..analysis.analyse import TABLE_FILES, analyse_database, summary
    from ..core.catalogue import load_catalogue
    from .parser import Problems, at_least

    problems = Problems()
    if args.k is not None and args.k < 2:
        problems.add(f"--k: {args.k} is not a number of clusters of at least 2 (omit --k to choose by silhouette)")
    at_least(problems, "--seed", args.seed, 0)
    catalogue = problems.check(load_catalogue, args.catalogue)
    problems.raise_any()
    result = analyse_database(args.db, args.out, years=args.years, k=args.k, seed=args.seed, catalogue=catalogue)
    print(summary(result))
    print(f"wrote {len(TABLE_FILES)} tables, the figures and analysis.xlsx to {args.out}")
    return 0

"""``drl-analysis run`` and ``drl-analysis verify``: the notebooks in order, and a rerun check."""

from __future__ import annotations

import argparse


def add_parsers(sub) -> None:
    p = sub.add_parser("run", help="run the notebooks in order with papermill")
    p.add_argument("--params", metavar="FILE.yaml")
    p.add_argument("--survey", metavar="NAME")
    p.add_argument("--input", metavar="DIR")
    p.add_argument("--out", metavar="DIR")
    p.add_argument("--years", nargs="+", metavar="YEARS")
    p.add_argument("--pseudonym-key-file", metavar="FILE")
    p.set_defaults(func=run)

    p = sub.add_parser("verify", help="rerun a version from its manifest and compare the tables")
    p.add_argument("version", metavar="VERSION_FOLDER")
    p.add_argument("--pseudonym-key-file", metavar="FILE", help="the key the run used, to check the pseudonymised tables")
    p.set_defaults(func=run_verify)


def run(args: argparse.Namespace) -> int:
    # The pipeline's command functions move here with the split of pipeline/run.py;
    # until then they are called as they are.
    from ..pipeline import run as runner

    return runner.command(args)


def run_verify(args: argparse.Namespace) -> int:
    from ..pipeline import run as runner

    return runner.verify_command(args)

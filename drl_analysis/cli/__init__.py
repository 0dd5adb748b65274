"""The command line: ``drl-analysis COMMAND ...``.

One thin module per command (``cli/template.py``, ``cli/ingest.py``, ...):
each declares its arguments (``add_parser``) and turns them into plain
arguments or an options dataclass for the library function that does the
work (``run``). Library code never sees an ``argparse.Namespace`` and never
imports this package. Errors a user can cause end in one line on stderr and
exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .. import __version__
from ..core.errors import UserError
from ..core.logs import LEVELS, setup_logging
from . import analyse, drl, ingest, ocr, pipeline, template

#: The command modules, in the order ``--help`` lists them.
COMMANDS = (template, ingest, drl, ocr, analyse, pipeline)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="drl-analysis",
        description="Repair DRL survey submissions, compute diagnostic reference levels, "
        "read dose-report screens and publish reports.",
    )
    parser.add_argument("--version", action="version", version=f"drl-analysis {__version__}")
    parser.add_argument(
        "--log-level", default="warning", choices=LEVELS, metavar="LEVEL",
        help=f"messages shown on stderr: {', '.join(LEVELS)} (default warning)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        module.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``drl-analysis`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.log_level)
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

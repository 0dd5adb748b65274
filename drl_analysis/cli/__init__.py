"""The command line: ``drl-analysis COMMAND ...``.

One thin module per command (``cli/template.py``, ``cli/ingest.py``, ...):
each declares its arguments (``add_parser``) and turns them into plain
arguments or an options dataclass for the library function that does the
work (``run``). Library code never sees an ``argparse.Namespace`` and never
imports this package. Errors a user can cause end in a line each on stderr
and exit status 2. Every command's help gives each option's default and
allowed values and ends with examples (:data:`EXAMPLES`; ``cli/parser.py``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .. import __version__
from ..core.errors import UserError
from ..core.logs import LEVELS, setup_logging
from . import analyse, drl, ingest, ocr, pipeline, template
from .parser import HelpFormatter, Parser, UsageError

#: The command modules, in the order ``--help`` lists them.
COMMANDS = (template, ingest, drl, ocr, analyse, pipeline)

#: Examples at the end of each command's help: (command line, what it does).
EXAMPLES: dict[str, tuple[tuple[str, str], ...]] = {
    "template": (
        ("drl-analysis template survey_2025.xlsx --year 2025 --data-source \"Aerztliche Stelle Nord\"",
         "the workbook to send to the facilities, year and data source filled in"),
    ),
    "ingest": (
        ("drl-analysis ingest returned/", "every survey file under returned/ into data/processed/drl.sqlite"),
        ("drl-analysis ingest a.xlsx b.ods --db sqlite:////srv/drl/drl.sqlite --year 2024",
         "two files into a database at an absolute path (four slashes), for files that name no year"),
    ),
    "export": (
        ("drl-analysis export --out exposures.csv", "every stored exposure of data/processed/drl.sqlite"),
    ),
    "drl": (
        ("drl-analysis drl --out drl/ --years 2022-2024 --quantile-method weibull",
         "DRLs over three years with Excel's QUARTILE.EXC"),
        ("drl-analysis drl --db sqlite:///survey.sqlite --out drl/ --weight-range 50-90 --bootstrap 0",
         "patients of 50-90 kg only, without confidence intervals"),
    ),
    "ocr": (
        ("drl-analysis ocr screens/ --out dose_reports.xlsx", "every screenshot under screens/, layout found by itself"),
        ("drl-analysis ocr screens/ --out dose_reports.xlsx --review review/",
         "and a page of the reports to review, with review/corrections.csv to fill in"),
        ("drl-analysis ocr screens/ --out dose_reports.xlsx --corrections review/corrections.csv",
         "read again, the values typed in the filled file replacing the readings"),
    ),
    "analyse": (
        ("drl-analysis analyse --out analysis/ --years 2024", "outliers, alerts and clusters of the 2024 survey"),
    ),
    "run": (
        ("drl-analysis run", "every notebook on the bundled sample, into data/processed/sample/<version>/"),
        ("drl-analysis run --input survey2024/ --survey annual --years 2024",
         "your own survey (survey2024/surveys/ and, optionally, survey2024/dose_reports/)"),
        ("drl-analysis run --params params.yaml", "inputs and notebook parameters from a YAML file"),
    ),
    "verify": (
        ("drl-analysis verify data/processed/sample/latest", "rerun the newest sample version and compare its tables"),
    ),
    "release": (
        ("drl-analysis release data/processed/sample/latest --out sample-deposit.zip",
         "the pseudonymised edition as a deposit bundle"),
    ),
}


def _epilog(name: str) -> str:
    lines = ["examples:"]
    for command, what in EXAMPLES.get(name, ()):
        lines += [f"  {command}", f"      {what}"]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="drl-analysis",
        description="Repair DRL survey submissions, compute diagnostic reference levels, "
        "read dose-report screens and publish reports.",
        epilog="Start with 'drl-analysis run' (the bundled sample) or 'drl-analysis template survey.xlsx'; "
        "'drl-analysis COMMAND --help' explains each command.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"drl-analysis {__version__}")
    parser.add_argument("--log-level", default="warning", choices=LEVELS, metavar="LEVEL",
                        help="which messages of the package reach stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        module.add_parsers(sub)
    summaries = {a.dest: a.help for a in sub._choices_actions}
    for name, command in sub.choices.items():
        command.formatter_class = HelpFormatter
        summary = summaries.get(name) or ""
        command.description = command.description or (summary[:1].upper() + summary[1:]) or None
        command.epilog = command.epilog or (_epilog(name) if name in EXAMPLES else None)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``drl-analysis`` console script."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return 2
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

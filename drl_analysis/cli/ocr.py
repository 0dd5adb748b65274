"""``drl-analysis ocr PATH...``: dose values read off dose-report screens."""

from __future__ import annotations

import argparse


def add_parsers(sub) -> None:
    p = sub.add_parser("ocr", help="read dose values off dose-report screenshots")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--out", required=True, metavar="FILE.csv|FILE.xlsx")
    p.add_argument("--layout", default="auto", metavar="NAME|auto")
    p.add_argument("--jobs", type=int, default=0, metavar="N", help="worker processes (default: all cores)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # The OCR library's command function moves here with the split of ocr/reader.py;
    # until then it is called as it is.
    from ..ocr import reader

    return reader.command(args)

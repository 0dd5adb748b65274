"""``drl-analysis ocr PATH...``: dose values read off dose-report screens."""

from __future__ import annotations

import argparse
from pathlib import Path

#: As :data:`drl_analysis.ocr.images.MAX_PIXELS` (not imported here: that module loads OpenCV).
MAX_PIXELS = 50_000_000


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "ocr", help="read dose values off dose-report screenshots",
        description="Read the dose values (DAP, exposure series and images, fluoroscopy time, air kerma) off "
        "screenshots and DICOM secondary captures of dose-report screens (Philips ClarityIQ, English and German) "
        "into one row per image, in canonical units, each report checked against the screen's own sums. Values "
        "the reader doubts mark their report needs_review, with the reason and the fields to look at; --review "
        "shows them beside the crops read, and --corrections puts values typed by a reviewer back in.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="image files (PNG, JPEG, TIFF, BMP, DICOM) and folders, searched recursively")
    p.add_argument("--out", required=True, metavar="FILE.csv|FILE.xlsx",
                   help="the table to write: CSV, or xlsx with a second sheet of quartiles")
    p.add_argument("--layout", default="auto", metavar="NAME|auto",
                   help="a shipped screen layout (clarityiq_en, clarityiq_de), a layout YAML file, or auto to "
                        "try every shipped one")
    p.add_argument("--jobs", type=int, default=0, metavar="N", help="worker processes (default: 0, all cores)")
    p.add_argument("--review", metavar="DIR",
                   help="write DIR/index.html, a page of the reports to review (for each field the crop read, the "
                        "value read, its confidence and the reason), and DIR/corrections.csv to fill in")
    p.add_argument("--corrections", metavar="FILE",
                   help="a filled corrections.csv of an earlier review: its values replace the readings")
    p.add_argument("--max-pixels", type=int, default=MAX_PIXELS, metavar="N",
                   help="largest image decoded, in pixels (width x height x frames, as its header declares); a "
                        "larger file is not decoded and its row says why")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Read the images, apply corrections, write the table and the review page.

    Exit 0 when at least one image was read as a dose report (even if some
    need review), 1 when none could be.
    """
    from ..core.errors import UserError
    from ..ocr.batch import read_reports, write_table
    from ..ocr.layouts import candidate_layouts
    from ..ocr.review import apply_corrections, write_review
    from .parser import Problems

    problems = Problems()
    out = Path(args.out)
    if out.suffix.lower() not in (".csv", ".xlsx"):
        problems.add(f"--out: {out} must end in .csv or .xlsx")
    if args.max_pixels < 1:
        problems.add(f"--max-pixels: {args.max_pixels} is not a number of pixels")
    if args.jobs < 0:
        problems.add(f"--jobs: {args.jobs} is not a number of worker processes (0 = all cores)")
    if args.corrections is not None and not Path(args.corrections).is_file():
        problems.add(f"--corrections: no file {args.corrections}")
    layouts = problems.check(candidate_layouts, args.layout)
    problems.raise_any()
    table = read_reports(args.paths, layout=args.layout, jobs=args.jobs, progress=not args.no_progress,
                         crops=args.review is not None, max_pixels=args.max_pixels)
    if table.empty:
        raise UserError(f"no image files in {', '.join(map(str, args.paths))}")
    if args.corrections is not None:
        table = apply_corrections(table, args.corrections)  # refuses a file naming unknown images or fields
    write_table(table, out)
    read = int(table["layout"].astype(bool).sum())
    marked = int(table["needs_review"].sum())
    message = f"{len(table)} images, {read} read as dose reports, {marked} need review"
    if args.corrections is not None:
        message += f", {int((table['source'] == 'corrected').sum())} corrected by hand"
    print(f"{message} -> {out}")
    if args.review is not None:
        page = write_review(table, args.review, {lay.name: lay for lay in layouts})
        print(f"Review page of {marked} reports -> {page}; fill in {page.parent / 'corrections.csv'} and read "
              f"the images again with --corrections")
    return 0 if read else 1

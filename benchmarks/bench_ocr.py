"""Benchmark: this OCR reader against whole-page Tesseract plus regular expressions.

Renders one batch of degraded dose-report screens (seeded), reads it with
both methods on the same cores in the same run, and prints field accuracy,
reports marked for review (and of them, reports read fully right), wrong
fields in reports not marked, and seconds per report (wall clock with every
core busy, and CPU time of all processes; the least of the runs of each).

Run from the project folder::

    python benchmarks/bench_ocr.py [--n 100] [--jobs 0] [--seed 11] [--repeat 2] [--clean] [--engine auto]
    python benchmarks/bench_ocr.py --folder DIR    # images with a ground_truth.csv (benchmarks/html_screens.py)

The baseline is what a user tries first: ``pytesseract.image_to_string`` on
the whole image (default page segmentation, English), then for each row a
regular expression "label, number, unit" on the text, numbers and units read
with the same parser as the reader. It runs in the same process pool with
one Tesseract thread per process (``OMP_THREAD_LIMIT=1``), which is its
fastest setting on busy cores.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from drl_analysis.ocr import batch, engines, images, layouts, values  # noqa: E402
from drl_analysis.synthetic import screens  # noqa: E402


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def baseline_read(path: str) -> dict:
    """Whole-page ``image_to_string`` and a regular expression per row label."""
    import pytesseract

    os.environ["OMP_THREAD_LIMIT"] = "1"
    row: dict = {"source_file": path}
    try:
        text = pytesseract.image_to_string(images.load_image(path), lang="eng")
    except images.ImageError as exc:
        row["reason"] = str(exc)
        return row
    best = None
    for layout in (layouts.load_layout(n) for n in layouts.available_layouts()):
        found = {}
        for field in layout.fields:
            words = r"\s*".join(re.escape(w) for w in field.label.replace("*", "").split())
            # A number may hold spaces between groups of three digits ("1 234,5").
            m = re.search(words + r"\W*\s+(?P<value>\d(?:[\d.,:]| (?=\d{3}\b))*)\s*(?P<unit>[^\n]*)", text,
                          re.IGNORECASE)
            if m:
                found[field.column] = values.parse_reading(f"{m['value']} {m['unit']}", field, layout.language)
        if best is None or len(found) > len(best[1]):
            best = (layout, found)
    layout, found = best
    row["layout"] = layout.name
    for column, reading in found.items():
        row[column] = reading.value if reading.valid else np.nan
    return row


def _score(table: pd.DataFrame, truth: pd.DataFrame) -> dict:
    table = table.assign(name=table["source_file"].map(lambda p: Path(p).name))
    merged = truth.merge(table, left_on="source_file", right_on="name", how="left", suffixes=("_true", ""))
    right = wrong_unflagged = 0
    review = merged["needs_review"].fillna(True).astype(bool) if "needs_review" in merged else None
    all_right = pd.Series(True, index=merged.index)
    for column in layouts.OCR_FIELDS:
        read = merged[column].astype(float) if column in merged else pd.Series(np.nan, index=merged.index)
        ok = np.isclose(read, merged[f"{column}_true"], rtol=1e-9, atol=1e-9) & read.notna()
        right += int(ok.sum())
        all_right &= ok
        if review is not None:
            wrong_unflagged += int((~ok & ~review).sum())
    total = len(merged) * len(layouts.OCR_FIELDS)
    return {
        "fields right": f"{right}/{total} = {right / total:.2%}",
        "reports marked needs_review": "-" if review is None else int(review.sum()),
        "fully right reports marked": "-" if review is None else f"{int((review & all_right).sum())}/{int(all_right.sum())}",
        "wrong fields in reports not marked": "-" if review is None else wrong_unflagged,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="reports to render (default 100)")
    parser.add_argument("--jobs", type=int, default=0, help="worker processes (default: all cores)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--clean", action="store_true", help="clean renders (size 0.9-1.2, no blur, noise or JPEG)")
    parser.add_argument("--repeat", type=int, default=2,
                        help="runs of each method, alternating; the fastest counts (other load on the machine "
                             "only ever slows a run down)")
    parser.add_argument("--engine", default="auto", choices=engines.ENGINES,
                        help="how the reader runs Tesseract: its library in each worker, or processes "
                             "(pytesseract); the baseline always runs processes")
    parser.add_argument("--folder", metavar="DIR",
                        help="read the images of DIR against its ground_truth.csv instead of rendering a batch "
                             "(e.g. one written by benchmarks/html_screens.py)")
    args = parser.parse_args(argv)
    jobs = args.jobs or os.cpu_count() or 1
    engine = engines.resolve_engine(args.engine)
    with tempfile.TemporaryDirectory() as tmp:
        if args.folder:
            truth = pd.read_csv(Path(args.folder) / "ground_truth.csv")
            files = [str(Path(args.folder) / f) for f in truth["source_file"]]
            args.n = len(files)
        else:
            truth = screens.write_reports(tmp, n=args.n, seed=args.seed, degrade=not args.clean)
            files = [str(Path(tmp) / f) for f in truth["source_file"]]
        results: dict[str, tuple[float, float, pd.DataFrame]] = {}

        def run_baseline() -> pd.DataFrame:
            with ProcessPoolExecutor(max_workers=jobs) as pool:
                return pd.DataFrame(list(pool.map(baseline_read, files, chunksize=4)))

        def run_reader() -> pd.DataFrame:
            return batch.read_reports(files, jobs=jobs, progress=False, engine=engine)

        methods = {"whole page + regex": run_baseline, "drl_analysis.ocr": run_reader}
        for r in range(args.repeat):
            for name in (methods if r % 2 == 0 else reversed(list(methods))):
                c0, t0 = _cpu_seconds(), time.perf_counter()
                table = methods[name]()
                wall, cpu = time.perf_counter() - t0, _cpu_seconds() - c0
                # Other load on the machine only ever adds to a run's wall clock and CPU time: the least of each.
                best_wall, best_cpu, _ = results.get(name, (wall, cpu, table))
                results[name] = (min(wall, best_wall), min(cpu, best_cpu), table)

    kind = f"images of {args.folder}" if args.folder else "clean" if args.clean else "degraded"
    print(f"{args.n} {kind} dose-report renders (seed {args.seed}), {jobs} worker processes, "
          f"{os.cpu_count()} cores, fastest of {args.repeat} runs each, load average {os.getloadavg()[0]:.1f}; "
          f"reader's Tesseract engine: {engine}")
    rows = []
    for name in methods:
        wall, cpu, table = results[name]
        rows.append({"method": name, "s per report (wall)": wall / args.n, "CPU s per report": cpu / args.n,
                     **_score(table, truth)})
    report = pd.DataFrame(rows).set_index("method")
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.float_format", "{:.3f}".format):
        print(report)
    base_wall, ours_wall = (results[k][0] for k in methods)
    base_cpu, ours_cpu = (results[k][1] for k in methods)
    print(f"speed-up per report: {base_wall / ours_wall:.1f}x wall clock, {base_cpu / ours_cpu:.1f}x CPU time")
    return 0


if __name__ == "__main__":
    sys.exit(main())

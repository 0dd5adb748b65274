"""Benchmark of the outlier and clustering analysis on about a million generated exposures.

Run from the repository root::

    python benchmarks/bench_analysis.py [--rows 1000000] [--repeat 3]

It prints three ratios, each against a baseline measured in the same run:

1. Value outliers (``outliers.score_values`` + ``value_outliers``: every dose
   quantity, exam and facility references, weight correction, reasons)
   against a plain pandas robust z-score per exam code and quantity
   (``groupby().transform("median")`` of log10 values and of their absolute
   deviations, one pass per quantity). Goal <= 15: the analysis does about
   six such passes, plus the facility grouping and the weight fit.
2. The whole analysis without writing files (``analysis.analyse``: outliers,
   facility medians, alerts, both clusterings with 50 facility resamples)
   against the facility medians a DRL run computes anyway
   (``drl.facility_values`` for every dose quantity by exam and year).
   Goal <= 10.
3. The facility resampling that weights the cluster features
   (``clustering.exam_features`` with its default 50 resamples) against the
   same features without resampling. Goal <= 5.

The data: a seeded survey from :func:`drl_analysis.synthetic.surveys.simulate_exposures`
(3 years), tiled into further data sources whose facility levels are redrawn,
with 0.1 % of the dose values multiplied by 100.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from drl_analysis.analysis import analyse as analysis  # noqa: E402
from drl_analysis.analysis import (
    clustering,  # noqa: E402
    outliers,  # noqa: E402
)
from drl_analysis.core.catalogue import load_catalogue  # noqa: E402
from drl_analysis.core.columns import DOSE_QUANTITIES  # noqa: E402
from drl_analysis.stats import drl  # noqa: E402
from drl_analysis.synthetic.surveys import SurveyModel, simulate_exposures  # noqa: E402


def make_exposures(n_rows: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """About ``n_rows`` exposures (a simulated survey tiled with numpy) and
    the positions of the rows whose doses were multiplied by 100."""
    rng = np.random.default_rng(seed)
    base = simulate_exposures(SurveyModel(years=(2021, 2022, 2023)), seed=seed).drop(columns="facility_level")
    copies = int(np.ceil(n_rows / len(base)))
    rep = np.tile(np.arange(len(base)), copies)
    copy = np.repeat(np.arange(copies), len(base))
    frame = base.iloc[rep].reset_index(drop=True)
    frame["data_source"] = frame["data_source"].to_numpy(dtype=object) + np.char.mod(" %03d", copy).astype(object)
    # Each copy's facilities practise at their own level (one factor per
    # copy, facility and exam), and patients scatter anew.
    key = pd.factorize(pd.Series(copy).astype(str) + "|" + frame["facility_id"] + "|" + frame["exam_code"])[0]
    level = np.exp(rng.normal(0, 0.3, key.max() + 1))[key] * np.exp(rng.normal(0, 0.1, len(frame)))
    for q in DOSE_QUANTITIES:
        frame[q] = frame[q] * level
    slips = rng.random(len(frame)) < 0.001
    for q in DOSE_QUANTITIES:
        frame.loc[slips, q] = frame.loc[slips, q] * 100
    frame.insert(0, "source_file", frame["data_source"] + ".xlsx")
    frame.insert(1, "sheet", "Daten")
    frame.insert(2, "source_row", np.arange(len(frame)))
    frame["flags"] = ""
    return frame, np.flatnonzero(slips)


def baseline_robust_z(frame: pd.DataFrame) -> pd.DataFrame:
    """Plain pandas: a robust z of each dose value against its exam (log10, median, MAD)."""
    parts = []
    for q in DOSE_QUANTITIES:
        v = frame.loc[frame[q] > 0, ["exam_code", q]]
        log = np.log10(v[q])
        g = log.groupby(v["exam_code"])
        centre = g.transform("median")
        dev = (log - centre).abs()
        mad = dev.groupby(v["exam_code"]).transform("median")
        parts.append(pd.DataFrame({"z": (log - centre) / (1.4826 * mad)}))
    return pd.concat(parts)


def best_of(repeat: int, fn):
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return min(times), result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    catalogue = load_catalogue()
    t = time.perf_counter()
    frame, rows = make_exposures(args.rows)
    print(f"data: {len(frame):,} exposures, {frame['data_source'].nunique()} data sources, "
          f"{frame.groupby(['data_source', 'facility_id']).ngroups:,} facilities "
          f"(generated in {time.perf_counter() - t:.1f} s)")
    machine = platform.processor() or platform.machine()
    print(f"machine: {machine}, {os.cpu_count()} cores, Python {platform.python_version()}")

    t_base, _ = best_of(args.repeat, lambda: baseline_robust_z(frame))
    t_out, found = best_of(args.repeat, lambda: outliers.value_outliers(frame, catalogue))
    print(f"baseline robust z (plain pandas): {t_base:.2f} s")
    print(f"value outliers:                   {t_out:.2f} s  ratio {t_out / t_base:.1f} (goal <= 15); "
          f"{len(found):,} outliers, {int((found['reason_kind'] == 'unit_slip').sum()):,} suspected unit slips")
    planted = frame.loc[rows, ["source_row", *DOSE_QUANTITIES]].melt("source_row", var_name="quantity").dropna()
    named = planted.merge(found[found["reason_kind"] == "unit_slip"], on=["source_row", "quantity"])
    clean = len(found) - len(planted.merge(found, on=["source_row", "quantity"]))
    print(f"  planted x100 values: {len(planted):,}, named unit slips: {len(named):,}; "
          f"other values listed: {clean:,} of {frame[list(DOSE_QUANTITIES)].notna().sum().sum() - len(planted):,}")

    def medians():
        return [drl.facility_values(frame, q, by=("exam_code", "year")) for q in DOSE_QUANTITIES]

    t_med, _ = best_of(args.repeat, medians)
    t_all, result = best_of(args.repeat, lambda: analysis.analyse(frame, catalogue, seed=0))
    print(f"baseline facility medians (drl):  {t_med:.2f} s")
    print(f"whole analysis (no files):        {t_all:.2f} s  ratio {t_all / t_med:.1f} (goal <= 10); "
          f"exam codes k = {result.exam_result.k}, data sources k = {result.source_result.k}")

    ratios = clustering.dose_to_drl(frame, catalogue)
    t_point, _ = best_of(args.repeat, lambda: clustering.exam_features(ratios, n_resamples=0))
    t_boot, _ = best_of(args.repeat, lambda: clustering.exam_features(ratios, n_resamples=50))
    print(f"exam features without resampling: {t_point:.2f} s; with 50 facility resamples: {t_boot:.2f} s "
          f"ratio {t_boot / t_point:.1f} (goal <= 5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

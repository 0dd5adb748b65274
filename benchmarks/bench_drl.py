"""Benchmark of the DRL statistics on 5 million generated exposures.

Run from the repository root::

    python benchmarks/bench_drl.py [--rows 5000000] [--naive-resamples 200]

It prints two ratios, each measured against a baseline in the same run:

1. The whole DRL table (``drl.drl_table`` with ``n_bootstrap=0``: exclusions,
   facility medians, quartiles, QCD, current DRLs, shares above them, mean
   weights) against a plain pandas computation of the same p75 values
   (``groupby([exam_code, data_source, facility_id]).median()`` on the same
   selected values, then ``groupby(exam_code).quantile(0.75)``). Goal <= 1.5.
2. The bootstrap with 2,000 resamples for all exams and quantities
   (``drl.bootstrap_ci`` as the table uses it) against a naive Python loop
   over resamples. The naive loop is timed on fewer resamples and scaled
   linearly (its cost per resample is constant). Goal < 0.1. For
   comparison it also times a B x n index matrix per exam (scaled the same way).

The data: a seeded survey from :func:`drl_analysis.synthetic.surveys.simulate_exposures`,
tiled into further data sources with per-copy facility levels and patient
scatter redrawn with numpy, plus 0.5 % of values flagged implausible.
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

from drl_analysis.core.catalogue import load_catalogue  # noqa: E402
from drl_analysis.core.columns import DOSE_QUANTITIES, is_implausible  # noqa: E402
from drl_analysis.stats import drl  # noqa: E402
from drl_analysis.synthetic.surveys import SurveyModel, simulate_exposures  # noqa: E402


def make_exposures(n_rows: int, seed: int = 0) -> pd.DataFrame:
    """About ``n_rows`` exposures: a simulated survey tiled with numpy."""
    rng = np.random.default_rng(seed)
    base = simulate_exposures(SurveyModel(facilities_per_source=12, patients_per_exam=(10, 40)), seed=seed)
    copies = int(np.ceil(n_rows / len(base)))
    n = len(base) * copies
    rep = np.tile(np.arange(len(base)), copies)
    copy = np.repeat(np.arange(copies), len(base))
    frame = {}
    src = base["data_source"].to_numpy(dtype=object)[rep]
    frame["data_source"] = pd.array(src + np.char.mod(" %03d", copy).astype(object), dtype="str")
    for col in ("year",):
        frame[col] = pd.array(base[col].to_numpy()[rep], dtype="Int64")
    frame["facility_id"] = pd.array(base["facility_id"].to_numpy(dtype=object)[rep], dtype="str")
    frame["exam_code"] = pd.array(base["exam_code"].to_numpy(dtype=object)[rep], dtype="str")
    # Each copy gets its own facility levels (one factor per base facility,
    # exam and copy) and its own patient scatter.
    fac_key = pd.factorize(base["data_source"] + "|" + base["facility_id"] + "|" + base["exam_code"])[0]
    level = np.exp(rng.normal(0.0, 0.3, (copies, fac_key.max() + 1)))[copy, fac_key[rep]]
    scatter = np.exp(rng.normal(0.0, 0.1, n))
    for q in DOSE_QUANTITIES:
        frame[q] = base[q].to_numpy(dtype=float)[rep] * level * scatter
    for col in ("ctdi_phantom_cm", "weight_kg", "age_years"):
        frame[col] = base[col].to_numpy(dtype=float)[rep]
    flags = np.full(n, "", dtype=object)
    slip = rng.random(n) < 0.005
    quantity_of_row = np.where(
        ~np.isnan(frame["ctdivol_mgy"]), "ctdivol_mgy", np.where(~np.isnan(frame["agd_mgy"]), "agd_mgy", "dap_cgycm2")
    )
    flags[slip] = np.char.add("unit_slip_x100:", quantity_of_row[slip].astype(str)).astype(object)
    frame["flags"] = pd.array(flags, dtype="str")
    return pd.DataFrame(frame).iloc[:n_rows].reset_index(drop=True)


def plain_pandas_p75(exposures: pd.DataFrame, catalogue, min_per_facility: int = 10) -> pd.DataFrame:
    """p75 of facility medians with plain pandas: the same selection, then
    groupby-median per facility and groupby-quantile per exam."""
    ref = exposures["exam_code"].map({c: catalogue.reference_phantom(c) for c in exposures["exam_code"].unique()})
    other_phantom = exposures["ctdi_phantom_cm"].notna() & ref.notna() & (exposures["ctdi_phantom_cm"] != ref)
    data = exposures[["exam_code", "data_source", "facility_id"]].copy()
    uniq = exposures["flags"].unique()
    for q in DOSE_QUANTITIES:
        bad = exposures["flags"].map({f: is_implausible(f, q) for f in uniq}).astype(bool)
        if q in ("ctdivol_mgy", "dlp_mgycm"):
            bad |= other_phantom
        data[q] = exposures[q].mask(bad)
    grouped = data.groupby(["exam_code", "data_source", "facility_id"], sort=False)
    medians = grouped[list(DOSE_QUANTITIES)].median()
    counts = grouped[list(DOSE_QUANTITIES)].count()
    medians = medians.where(counts >= min_per_facility)
    p75 = medians.groupby(level="exam_code").quantile(0.75)
    return p75.stack().dropna().rename("p75").reset_index().rename(columns={"level_1": "quantity"})


def naive_bootstrap(groups: list[np.ndarray], n_resamples: int, seed: int = 0) -> list[np.ndarray]:
    """One resample at a time, one exam at a time (the loop the module avoids)."""
    rng = np.random.default_rng(seed)
    out = []
    for values in groups:
        stats = np.empty((2, n_resamples))
        for b in range(n_resamples):
            sample = rng.choice(values, size=values.size, replace=True)
            stats[:, b] = np.quantile(sample, [0.5, 0.75])
        out.append(np.quantile(stats, [0.025, 0.975], axis=1))
    return out


def index_matrix_bootstrap(groups: list[np.ndarray], n_resamples: int, seed: int = 0) -> list[np.ndarray]:
    """All resamples of an exam at once as a B x n index matrix: vectorised,
    but its cost still grows with the number of facilities."""
    rng = np.random.default_rng(seed)
    out = []
    for values in groups:
        idx = rng.integers(0, values.size, size=(n_resamples, values.size))
        stats = np.quantile(values[idx], [0.5, 0.75], axis=1)
        out.append(np.quantile(stats, [0.025, 0.975], axis=1))
    return out


def best_of(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--naive-resamples", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    catalogue = load_catalogue()
    t0 = time.perf_counter()
    exposures = make_exposures(args.rows)
    t_make = time.perf_counter() - t0
    n_fac = exposures.groupby(["data_source", "facility_id"]).ngroups
    print(f"data: {len(exposures):,} exposures, {n_fac:,} facilities, generated in {t_make:.1f} s")

    t_table, table = best_of(lambda: drl.drl_table(exposures, catalogue, n_bootstrap=0), args.repeat)
    t_plain, plain = best_of(lambda: plain_pandas_p75(exposures, catalogue), args.repeat)
    merged = table.merge(plain, on=["exam_code", "quantity"], how="outer", indicator=True)
    assert (merged["_merge"] == "both").all(), "the two computations give different exam/quantity rows"
    np.testing.assert_allclose(merged["p75_x"] if "p75_x" in merged else merged["p75"], merged["p75_y"], rtol=1e-12)
    print(f"DRL table without bootstrap: {t_table:.2f} s ({len(table)} rows)")
    print(f"plain pandas groupby-median + quantile (same p75 values): {t_plain:.2f} s")
    print(f"ratio table / plain pandas: {t_table / t_plain:.2f} (goal <= 1.5)")

    facilities = drl.facility_medians(exposures, catalogue)
    groups = [g["value"].to_numpy() for _, g in facilities[facilities["counted"]].groupby(["exam_code", "quantity"])]
    sizes = [g.size for g in groups]

    def vectorised():
        return [
            drl.bootstrap_ci(v, n_resamples=args.resamples, random_state=[0, i]) for i, v in enumerate(groups)
        ]

    t_boot, _ = best_of(vectorised, args.repeat)
    t_naive_part, _ = best_of(lambda: naive_bootstrap(groups, args.naive_resamples), 1)
    t_naive = t_naive_part * args.resamples / args.naive_resamples
    print(
        f"bootstrap, {args.resamples} resamples for {len(groups)} exam/quantity groups "
        f"({min(sizes)}-{max(sizes)} facilities each): {t_boot:.2f} s"
    )
    print(
        f"naive loop over resamples: {t_naive_part:.2f} s for {args.naive_resamples} resamples, "
        f"scaled linearly to {args.resamples}: {t_naive:.1f} s"
    )
    print(f"ratio bootstrap / naive loop: {t_boot / t_naive:.4f} (goal < 0.1)")
    t_matrix_part, _ = best_of(lambda: index_matrix_bootstrap(groups, args.naive_resamples), 1)
    t_matrix = t_matrix_part * args.resamples / args.naive_resamples
    print(
        f"for comparison, a B x n index matrix per exam: {t_matrix_part:.2f} s for {args.naive_resamples} "
        f"resamples, scaled to {args.resamples}: {t_matrix:.1f} s (ratio to naive loop {t_matrix / t_naive:.2f})"
    )
    t_full, _ = best_of(lambda: drl.drl_table(exposures, catalogue, n_bootstrap=args.resamples), 1)
    print(f"DRL table with {args.resamples} bootstrap resamples: {t_full:.2f} s")
    print(f"machine: {cpu_name()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

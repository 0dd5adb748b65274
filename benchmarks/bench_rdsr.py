"""RDSR ingest against a bare pydicom read of the same files.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_rdsr.py [--files 10000] [--repeat 2]

Generates (once, cached in benchmarks/out/rdsr/) a seeded set of X-Ray
Radiation Dose SRs (drl_analysis.synthetic.rdsr: CT and projection reports,
vendor quirks, cumulative updates, a few bad files), then measures in one
run, each in its own process: (1) the bare read, ``pydicom.dcmread(f,
stop_before_pixels=True)`` of every file in one process; (2) the whole
ingest (``ingest_paths``: hash, read, map, check duplicates and updates,
store in a new SQLite database) with its workers on every core. Prints
seconds, files per second, peak memory of the main process and of the
largest worker, CPU seconds, and the ratio ingest / bare read (goal: <= 2).
Results in benchmarks/rdsr.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out" / "rdsr"


def generate(n: int) -> Path:
    from drl_analysis.synthetic.rdsr import write_rdsrs

    folder = OUT / f"rdsr_{n}"
    if (folder / "done").exists():
        return folder
    t = time.perf_counter()
    g = write_rdsrs(folder / "files", n, seed=14, years=(2023, 2024))
    counts = g.truth["outcome"].value_counts().to_dict()
    size = sum(f.stat().st_size for f in g.files)
    (folder / "done").write_text(json.dumps({"files": len(g.files), "bytes": size, "outcomes": counts}))
    print(f"generated {len(g.files)} files ({size / 2**20:.0f} MB) in {time.perf_counter() - t:.0f} s")
    return folder


# Peak memory of a measuring process: VmHWM, which starts afresh at exec.
_PEAK = """
def peak_kb():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM"))
"""

_BARE = _PEAK + """
import sys, time
from pathlib import Path
import pydicom
files = sorted(p for p in Path(sys.argv[1]).rglob("*") if p.is_file())
t, c = time.perf_counter(), time.process_time(); n = 0
for f in files:
    try:
        pydicom.dcmread(f, stop_before_pixels=True)
        n += 1
    except Exception:
        pass
print(time.perf_counter() - t, n, peak_kb(), len(files), time.process_time() - c)
"""

_INGEST = _PEAK + """
import resource, sys, time
from drl_analysis.ingest.batch import ingest_paths
t, c = time.perf_counter(), time.process_time()
s = ingest_paths([sys.argv[1]], "sqlite:///" + sys.argv[2], progress=False).totals()
wall, cpu = time.perf_counter() - t, time.process_time() - c
kids = resource.getrusage(resource.RUSAGE_CHILDREN)
with open("/proc/loadavg") as f:
    load = float(f.read().split()[0])
print(wall, s["files"], peak_kb(), s["rows_read"], s["rows_stored"], s["rows_rejected"], s["files_failed"],
      kids.ru_maxrss, cpu, kids.ru_utime + kids.ru_stime, load)
"""


def _run(code: str, *args: str) -> list[float]:
    out = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True, text=True,
                         cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": ""}).stdout.split()
    return [float(x) for x in out]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=2, help="runs of each; the fastest counts")
    args = ap.parse_args()
    folder = generate(args.files)
    files = folder / "files"
    meta = json.loads((folder / "done").read_text())
    bare, ingest = [], []
    for k in range(args.repeat):
        bare.append(_run(_BARE, str(files)))
        db = folder / f"bench_{k}.sqlite"
        for f in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
            f.unlink(missing_ok=True)
        ingest.append(_run(_INGEST, str(files), str(db)))
        db.unlink(missing_ok=True)
    b = min(bare, key=lambda r: r[0])
    i = min(ingest, key=lambda r: r[0])
    jobs = os.cpu_count() or 1
    print(f"RDSRs: {meta['files']} files, {meta['bytes'] / 2**20:.0f} MB ({meta['outcomes']}); "
          f"{jobs} cores, fastest of {args.repeat} runs")
    print(f"bare pydicom.dcmread : {b[0]:7.2f} s  {b[3] / b[0]:8,.0f} files/s  peak {b[2] / 1024:5.0f} MB "
          f"({b[1]:.0f} of {b[3]:.0f} files read)")
    print(f"ingest (to SQLite)   : {i[0]:7.2f} s  {i[1] / i[0]:8,.0f} files/s  peak {i[2] / 1024:5.0f} MB main"
          f" + {i[7] / 1024:.0f} MB per worker  ({i[4]:.0f} stored + {i[5]:.0f} rejected = {i[3]:.0f} read; "
          f"{i[6]:.0f} files failed)")
    print(f"CPU: bare read {b[4]:.2f} s; ingest {i[8]:.2f} s in the main process (finding, checking, storing) + "
          f"{i[9]:.2f} s in the workers (hashing, reading) = {(i[8] + i[9]) / b[4]:.2f} x the bare read")
    print(f"every run (s): bare {', '.join(f'{r[0]:.2f}' for r in bare)}; "
          f"ingest {', '.join(f'{r[0]:.2f}' for r in ingest)}; load average at the end of each ingest "
          f"{', '.join(f'{r[10]:.1f}' for r in ingest)}")
    print(f"ratio ingest / bare read: {i[0] / b[0]:.2f} (goal <= 2)")


if __name__ == "__main__":
    main()

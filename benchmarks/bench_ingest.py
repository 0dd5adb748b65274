"""Ingest at national scale against the bare python-calamine parse of the same files.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_ingest.py [--submissions 500] [--rows 500000]

Generates (once, cached in benchmarks/out/ingest/) a seeded survey of about
500 damaged workbook submissions and 500,000 exposure rows, then measures in
one run, each in its own process: (1) the bare parse, every sheet of every
file read with python-calamine; (2) the whole ingest (read, repair, flag,
store in a new SQLite database); (3) storing alone: the rows that the ingest
stored, loaded back into memory beforehand, written into another new database
by the same code, one transaction per file. Prints seconds, rows per second,
peak memory of the main process and of the largest worker, CPU seconds, the
ratio ingest / bare parse (goal: <= 1.5), and the floor that storing alone
sets for that ratio. Results in benchmarks/ingest.md.
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
OUT = ROOT / "benchmarks" / "out" / "ingest"


def generate(n_submissions: int, rows: int) -> Path:
    from drl_analysis.synthetic.surveys import SurveyModel, simulate_exposures, write_survey

    folder = OUT / f"survey_{n_submissions}_{rows}"
    if (folder / "done").exists():
        return folder
    sources = tuple(f"Aerztliche Stelle {i:02d}" for i in range(1, 11))
    years = (2022, 2023)
    per_file = n_submissions // (len(sources) * len(years))
    # rows = sources * facilities * years * exams * patients
    facilities = max(1, round(rows / (len(sources) * len(years) * 6 * 50)))
    model = SurveyModel(sources=sources, years=years, facilities_per_source=facilities,
                        exams_per_facility=6, patients_per_exam=(30, 70))
    t = time.perf_counter()
    exposures = simulate_exposures(model, seed=500)
    survey = write_survey(folder / "files", exposures, seed=500, formats={"xlsx": 0.9, "xls": 0.1},
                          files_per_source_year=per_file)
    (folder / "done").write_text(json.dumps({"files": len(survey.files), "rows": len(survey.truth)}))
    print(f"generated {len(survey.files)} files, {len(survey.truth)} rows in {time.perf_counter() - t:.0f} s")
    return folder


# Peak memory of a measuring process: VmHWM, which starts afresh at exec (ru_maxrss of
# RUSAGE_SELF would carry over the peak of this script when it generated the survey).
_PEAK = """
def peak_kb():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM"))
"""

_BARE = _PEAK + """
import resource, sys, time
from pathlib import Path
import python_calamine as calamine
files = sorted(p for p in Path(sys.argv[1]).iterdir() if p.is_file())
t = time.perf_counter(); n = 0
for f in files:
    wb = calamine.CalamineWorkbook.from_path(str(f))
    for name in wb.sheet_names:
        n += len(wb.get_sheet_by_name(name).to_python(skip_empty_area=False))
    wb.close()
print(time.perf_counter() - t, n, peak_kb())
"""

_INGEST = _PEAK + """
import resource, sys, time
from drl_analysis.ingest.batch import ingest_paths
t = time.perf_counter()
s = ingest_paths([sys.argv[1]], "sqlite:///" + sys.argv[2], progress=False).totals()
wall = time.perf_counter() - t
me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
print(wall, s["rows_stored"], peak_kb(), s["rows_read"], s["rows_rejected"], s["files_failed"],
      kids.ru_maxrss, me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime)
"""


_STORE = """
import sqlite3, sys, time
from drl_analysis.store.database import EXPOSURE_NAMES, SubmissionRecord, _names, make_engine, metadata, save_submission
src = sqlite3.connect(sys.argv[1])
recs = []
for sid, name, sha, source, year, read in src.execute(
        "SELECT id, source_file, sha256, data_source, year, rows_read FROM submissions ORDER BY id"):
    prepared = {}
    for table in ("exposures", "sheets", "repairs", "rejections"):
        names = EXPOSURE_NAMES if table == "exposures" else _names(metadata.tables[table])
        cols = ", ".join(f'"{c}"' for c in names)
        rows = src.execute(f"SELECT {cols} FROM {table} WHERE submission_id = ? ORDER BY id", (sid,)).fetchall()
        prepared[table] = (len(rows), [list(c) for c in zip(*rows)] if rows else [])
    recs.append(SubmissionRecord(name, sha, source, year, rows_read=read, prepared=prepared, prepared_for="sqlite"))
n = sum(r.prepared[t][0] for r in recs for t in ("exposures", "repairs", "rejections", "sheets"))
engine = make_engine("sqlite:///" + sys.argv[2])
conn = engine.connect()
t, c = time.perf_counter(), time.process_time()
for rec in recs:
    save_submission(conn, rec)
conn.close()
print(time.perf_counter() - t, time.process_time() - c, n)
"""


def _run(code: str, *args: str) -> list[float]:
    out = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True, text=True,
                         cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": ""}).stdout.split()
    return [float(x) for x in out]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--submissions", type=int, default=500)
    ap.add_argument("--rows", type=int, default=500_000)
    ap.add_argument("--repeat", type=int, default=2, help="runs of each; the fastest counts")
    args = ap.parse_args()
    folder = generate(args.submissions, args.rows)
    files = folder / "files"
    meta = json.loads((folder / "done").read_text())
    bare, ingest, store = [], [], []
    for k in range(args.repeat):
        bare.append(_run(_BARE, str(files)))
        db, db2 = folder / f"bench_{k}.sqlite", folder / f"bench_{k}_store.sqlite"
        for f in (db, db2):
            f.unlink(missing_ok=True)
        ingest.append(_run(_INGEST, str(files), str(db)))
        store.append(_run(_STORE, str(db), str(db2)))
        for f in (db, db2):
            f.unlink(missing_ok=True)
    b = min(bare, key=lambda r: r[0])
    i = min(ingest, key=lambda r: r[0])
    st = min(store, key=lambda r: r[0])
    jobs = os.cpu_count() or 1
    print(f"survey: {meta['files']} submissions, {meta['rows']} exposure rows (xlsx 90 %, xls 10 %); "
          f"{jobs} cores, fastest of {args.repeat} runs")
    print(f"bare calamine parse : {b[0]:7.2f} s  {b[1] / b[0]:10,.0f} rows/s  peak {b[2] / 1024:6.0f} MB")
    # ru_maxrss of the children is that of the largest worker; the process
    # tree holds the main process and `jobs` workers at most.
    print(f"ingest (to SQLite)  : {i[0]:7.2f} s  {i[1] / i[0]:10,.0f} rows/s  peak {i[2] / 1024:6.0f} MB main"
          f" + {i[6] / 1024:.0f} MB per worker (tree <= {(i[2] + jobs * i[6]) / 1024:.0f} MB)"
          f"  ({i[1]:.0f} stored + {i[4]:.0f} rejected = {i[3]:.0f} read; {i[5]:.0f} files failed)")
    print(f"ingest CPU: {i[7]:.2f} s in the main process (hashing, storing), {i[8]:.2f} s in the workers "
          f"(reading, repairing, flagging); {(i[7] + i[8]) / b[0]:.1f} x the bare parse")
    print(f"storing alone       : {st[0]:7.2f} s  {st[2] / st[0]:10,.0f} table rows/s  ({st[2]:.0f} rows of "
          f"exposures, repairs, rejections and sheets; {st[1]:.2f} CPU s)")
    # Even with free repair, an ingest must parse and store: the store runs in one process,
    # the parse can share the cores with it.
    floor = max(st[0], (b[0] + st[1]) / jobs)
    print(f"floor set by parsing and storing alone on {jobs} cores (repair costing nothing, "
          f"storing as above): {floor:.2f} s = {floor / b[0]:.2f} x the bare parse")
    print(f"ratio ingest / bare parse: {i[0] / b[0]:.2f} (goal <= 1.5)")


if __name__ == "__main__":
    main()

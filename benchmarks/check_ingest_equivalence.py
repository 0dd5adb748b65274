"""Check that ingest stores exactly what a reference version stores.

    .venv/bin/python benchmarks/check_ingest_equivalence.py [--ref main] [--bench]

Speed work on the ingest must not change what it stores. This script takes the
package of a reference commit (``git archive``, default ``main``) and the
package of this working tree, ingests the same files with each (each in its
own process, into its own SQLite database) and compares the tables
submissions, sheets, exposures, repairs and rejections row by row, in the
order they were stored, leaving out only ids and the time of ingest
(rows point to their submission by its sha256 instead of its id).

Files: the bundled sample (``data/raw/sample/surveys``), a generated heavily
damaged survey in every format, and with ``--bench`` the national-scale
survey of ``bench_ingest.py`` (when generated). Each is ingested serially and
with two worker processes. Prints the differences and exits 1 if any.
"""

from __future__ import annotations

import argparse
import io
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TABLES = ("submissions", "sheets", "exposures", "repairs", "rejections")

_INGEST = """
import sys
from drl_analysis.ingest.batch import ingest_paths
ingest_paths(sys.argv[3:], "sqlite:///" + sys.argv[1], progress=False, jobs=int(sys.argv[2]))
"""


def _ingest(package_root: Path, db: Path, paths: list[Path], jobs: int) -> None:
    subprocess.run([sys.executable, "-c", _INGEST, str(db), str(jobs), *map(str, paths)], check=True,
                   cwd=package_root, env={"PYTHONPATH": str(package_root), "PATH": ""})


def _rows(db: Path, table: str) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        names = [r[1] for r in con.execute(f"PRAGMA table_info({table})")]
        keep = [n for n in names if n not in ("id", "ingested_at", "submission_id")]
        cols = ", ".join(f"t.{n}" for n in keep)
        if table == "submissions":
            query = f"SELECT {cols} FROM submissions t ORDER BY t.id"
        else:
            query = f"SELECT s.sha256, {cols} FROM {table} t JOIN submissions s ON s.id = t.submission_id ORDER BY t.id"
        return [tuple(repr(v) for v in row) for row in con.execute(query)]
    finally:
        con.close()


def compare(db_ref: Path, db_new: Path, label: str) -> int:
    """Print the differences between two databases; return their number."""
    problems = 0
    for table in TABLES:
        ref, new = _rows(db_ref, table), _rows(db_new, table)
        diffs = [(i, a, b) for i, (a, b) in enumerate(zip(ref, new)) if a != b]
        if len(ref) != len(new) or diffs:
            problems += 1
            print(f"{label}: {table} differs: {len(ref)} rows in the reference, {len(new)} now, "
                  f"{len(diffs)} rows differ")
            for i, a, b in diffs[:5]:
                print(f"  row {i}:\n    reference {a}\n    now       {b}")
        else:
            print(f"{label}: {table} identical ({len(ref)} rows)")
    return problems


def _damaged_surveys(folder: Path) -> list[Path]:
    """Two generated surveys: heavily damaged in every format, and as damaged as usual."""
    sys.path.insert(0, str(ROOT))
    from drl_analysis.synthetic.surveys import SurveyModel, simulate_exposures, write_survey

    model = SurveyModel(sources=("Aerztliche Stelle Nord", "Aerztliche Stelle Sued", "Aerztliche Stelle Ost"),
                        years=(2022, 2023), facilities_per_source=6, exams_per_facility=5,
                        patients_per_exam=(8, 40))
    out = []
    for seed, damage in ((11, 2.5), (12, 1.0)):
        exposures = simulate_exposures(model, seed=seed)
        out.append(folder / f"damaged_{seed}")
        write_survey(out[-1], exposures, seed=seed, damage=damage, files_per_source_year=2,
                     formats={"xlsx": 0.4, "csv": 0.3, "xls": 0.15, "ods": 0.15})
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ref", default="main", help="git commit or branch to compare with (default main)")
    ap.add_argument("--bench", action="store_true", help="also the national-scale survey of bench_ingest.py")
    args = ap.parse_args()
    problems = 0
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        ref_root = tmp / "ref"
        ref_root.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", args.ref, "drl_analysis"],
                                 check=True, capture_output=True).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(ref_root, filter="data")
        inputs = {"sample": [ROOT / "data" / "raw" / "sample" / "surveys"], "damaged": _damaged_surveys(tmp)}
        if args.bench:
            bench = sorted((ROOT / "benchmarks" / "out" / "ingest").glob("survey_*/files"))
            if not bench:
                print("no generated national-scale survey; run bench_ingest.py first")
                return 1
            inputs["national"] = [bench[0]]
        for label, paths in inputs.items():
            for jobs in (1, 2):
                dbs = []
                for side, root in (("ref", ref_root), ("new", ROOT)):
                    db = tmp / f"{label}_{jobs}_{side}.sqlite"
                    _ingest(root, db, paths, jobs)
                    dbs.append(db)
                problems += compare(*dbs, f"{label} (jobs={jobs})")
    print("identical" if not problems else f"{problems} tables differ")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

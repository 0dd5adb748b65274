"""The whole pipeline on the bundled sample, against the bare cost of running notebooks.

    .venv/bin/python benchmarks/bench_pipeline.py

Measures in one run, each as its own process, the way a user runs them:
(1) the baseline: papermill executing a one-cell notebook (kernel start, one
cell, shutdown), once per notebook of the pipeline; (2) ``drl-analysis run``
on ``data/raw/sample`` into a temporary folder; (3) ``drl-analysis verify``
of that version. Prints seconds, each notebook's share (from the manifest),
the time left for the HTML pages and the manifest, and the ratios
run / 120 s (the goal: the README's main job finishes in under 2 minutes on
2 cores, so <= 1) and run / baseline.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL_S = 120.0

_BASELINE = """
import sys, time, nbformat, papermill as pm
from nbformat.v4 import new_code_cell, new_notebook
nb = new_notebook(cells=[new_code_cell("x = 1")])
nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
nbformat.write(nb, sys.argv[1] + "/empty.ipynb")
t = time.perf_counter()
for i in range(int(sys.argv[2])):
    pm.execute_notebook(sys.argv[1] + "/empty.ipynb", sys.argv[1] + f"/out{i}.ipynb", kernel_name="python3",
                        progress_bar=False, extra_arguments=["--IPKernelApp.log_level=CRITICAL"])
print(time.perf_counter() - t)
"""


def timed(cmd: list[str], env: dict) -> tuple[float, str]:
    t = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{done.stderr}")
    return time.perf_counter() - t, done.stdout


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from drl_analysis.pipeline.notebooks import discover

    n_notebooks = len(discover())
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        env = dict(os.environ, PYTHONPATH=str(ROOT), XDG_CONFIG_HOME=str(Path(tmp) / "config"),
                   DRL_ANALYSIS_PSEUDONYM_KEY="benchmark key, not a secret")
        baseline, out = timed([sys.executable, "-c", _BASELINE, tmp, str(n_notebooks)], env)
        run_s, _ = timed([sys.executable, "-m", "drl_analysis", "run", "--out", f"{tmp}/out"], env)
        folder = (Path(tmp) / "out" / "sample" / "latest").resolve()
        manifest = json.loads((folder / "manifest.json").read_text())
        verify_s, _ = timed([sys.executable, "-m", "drl_analysis", "verify", str(folder)], env)

    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print(f"baseline: {n_notebooks} one-cell notebooks with papermill     {baseline:7.1f} s")
    print(f"drl-analysis run on the sample                      {run_s:7.1f} s")
    notebooks = 0.0
    for entry in manifest["notebooks"]:
        if entry["status"] == "ok":
            notebooks += entry["duration_s"]
            print(f"    {entry['name']:<28}                    {entry['duration_s']:7.1f} s")
        else:
            print(f"    {entry['name']:<28} {entry['status']}")
    print(f"    pages, figures, manifest, process start         {run_s - notebooks:7.1f} s")
    print(f"drl-analysis verify (a second run and the comparison) {verify_s:5.1f} s")
    print(f"ratio run / goal {GOAL_S:.0f} s: {run_s / GOAL_S:.2f} (goal <= 1)")
    print(f"ratio run / baseline: {run_s / baseline:.1f}")
    print(f"ratio verify / run: {verify_s / run_s:.2f}")


if __name__ == "__main__":
    main()

"""All notebooks run top to bottom with their default parameters under
``pytest --nbval-lax`` (as a reader rerunning them would), on the bundled sample."""

from __future__ import annotations

import os
import subprocess
import sys

from drl_analysis.core.paths import NOTEBOOK_DIR, PROJECT_ROOT


def test_every_notebook_runs_with_its_defaults_under_nbval_lax():
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", str(NOTEBOOK_DIR), "-p", "no:xdist",
         "-p", "no:cacheprovider", "-q"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    notebooks = sorted(p.name for p in NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
    assert len(notebooks) == 5
    assert " passed" in done.stdout and " failed" not in done.stdout

"""notebooks/01_ocr_extraction.ipynb reads a small folder of generated screens and writes the Excel file."""

from __future__ import annotations

import nbformat
import numpy as np
import pandas as pd
import papermill as pm

from drl_analysis.ocr import layouts

from drl_analysis.synthetic import screens
from drl_analysis.core.paths import NOTEBOOK_DIR, PROJECT_ROOT


def test_ocr_notebook_writes_reports_and_quartiles(tmp_path, monkeypatch):
    # The kernel imports the package from this checkout, installed or not.
    monkeypatch.setenv("PYTHONPATH", str(PROJECT_ROOT))
    truth = screens.write_reports(tmp_path / "screens", n=5, seed=8, degrade=False)
    out = tmp_path / "out" / "dose_reports.xlsx"
    executed = tmp_path / "01_ocr_extraction.ipynb"
    pm.execute_notebook(
        str(NOTEBOOK_DIR / "01_ocr_extraction.ipynb"),
        str(executed),
        parameters={"input_dir": str(tmp_path / "screens"), "layout": "auto", "out_file": str(out), "jobs": 1},
        kernel_name="python3",
        cwd=str(tmp_path),
        progress_bar=False,
    )
    sheets = pd.read_excel(out, sheet_name=None, engine="openpyxl")
    reports = sheets["reports"].sort_values("source_file", ignore_index=True)
    assert len(reports) == 5
    assert np.allclose(reports["dap_total_gycm2"], truth["dap_total_gycm2"])
    quartiles = sheets["quartiles"].set_index("column")
    assert set(layouts.OCR_FIELDS) <= set(quartiles.index)
    assert (quartiles["p25"] <= quartiles["p75"]).all()
    nb = nbformat.read(executed, as_version=4)
    figures = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert figures, "the histograms were not drawn"

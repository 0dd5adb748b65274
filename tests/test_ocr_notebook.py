"""notebooks/01_ocr_extraction.ipynb reads a small folder of generated screens and writes the Excel file."""

from __future__ import annotations

import nbformat
import numpy as np
import pandas as pd
import papermill as pm
from PIL import Image

from drl_analysis.core.paths import NOTEBOOK_DIR, PROJECT_ROOT
from drl_analysis.ocr import layouts
from drl_analysis.synthetic import screens


def test_ocr_notebook_writes_reports_quartiles_and_the_review(tmp_path, monkeypatch):
    # The kernel imports the package from this checkout, installed or not.
    monkeypatch.setenv("PYTHONPATH", str(PROJECT_ROOT))
    truth = screens.write_reports(tmp_path / "screens", n=5, seed=8, degrade=False)
    # Two images that are no dose report: one corrected by hand, one left to review.
    for name in ("blank.png", "other.png"):
        Image.fromarray(np.full((200, 300), 128, np.uint8)).save(tmp_path / "screens" / name)
    fixes = tmp_path / "corrections.csv"
    fixes.write_text("source_file,field,value_read,corrected_value\n"
                     + "".join(f"blank.png,{c},,{i + 1}\n" for i, c in enumerate(layouts.OCR_FIELDS)), encoding="utf-8")
    out = tmp_path / "out" / "dose_reports.xlsx"
    executed = tmp_path / "01_ocr_extraction.ipynb"
    pm.execute_notebook(
        str(NOTEBOOK_DIR / "01_ocr_extraction.ipynb"),
        str(executed),
        parameters={"input_dir": str(tmp_path / "screens"), "layout": "auto", "out_file": str(out), "jobs": 1,
                    "review_dir": str(tmp_path / "review"), "corrections": str(fixes)},
        kernel_name="python3",
        cwd=str(tmp_path),
        progress_bar=False,
    )
    sheets = pd.read_excel(out, sheet_name=None, engine="openpyxl")
    reports = sheets["reports"].set_index("source_file")
    assert len(reports) == 7
    assert np.allclose(reports.loc[truth["source_file"], "dap_total_gycm2"], truth["dap_total_gycm2"])
    assert reports.loc["blank.png", "source"] == "corrected" and not reports.loc["blank.png", "needs_review"]
    assert reports.loc["blank.png", "air_kerma_lateral_mgy"] == 9
    assert reports.loc["other.png", "needs_review"] and reports.loc["other.png", "source"] == "ocr"
    page = (tmp_path / "review" / "index.html").read_text(encoding="utf-8")
    marked = reports.index[reports["needs_review"].astype(bool)]
    assert f"{len(marked)} of 7 reports to review" in page and all(name in page for name in marked)
    assert "other.png" in marked and "blank.png" not in marked
    corrections = pd.read_csv(tmp_path / "review" / "corrections.csv")
    # blank.png's corrections kept, other.png's nine fields to fill, one row per doubtful field of the others.
    doubtful = sum(len(str(reports.loc[name, "review_fields"]).split(", ")) for name in marked if name != "other.png")
    assert len(corrections) == 9 + 9 + doubtful
    quartiles = sheets["quartiles"].set_index("column")
    assert set(layouts.OCR_FIELDS) <= set(quartiles.index)
    assert (quartiles["p25"] <= quartiles["p75"]).all()
    nb = nbformat.read(executed, as_version=4)
    figures = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert figures, "the histograms were not drawn"
    shown = [o for c in nb.cells for o in c.get("outputs", []) if "text/html" in o.get("data", {})]
    assert any("other.png" in "".join(o["data"]["text/html"]) for o in shown), "the review was not shown"

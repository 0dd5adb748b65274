"""notebooks/02_repair.ipynb runs on the bundled sample and writes its tables."""

from __future__ import annotations

import pandas as pd
import papermill as pm

from drl_analysis.core.paths import NOTEBOOK_DIR, PROJECT_ROOT


def test_repair_notebook_ingests_the_sample_and_writes_balanced_tables(tmp_path, monkeypatch):
    # The kernel imports the package from this checkout, installed or not.
    monkeypatch.setenv("PYTHONPATH", str(PROJECT_ROOT))
    out = tmp_path / "repair"
    pm.execute_notebook(
        str(NOTEBOOK_DIR / "02_repair.ipynb"),
        str(tmp_path / "02_repair.ipynb"),
        parameters={"db_url": f"sqlite:///{tmp_path / 'drl.sqlite'}", "out_dir": str(out)},
        kernel_name="python3",
        cwd=str(tmp_path),
        progress_bar=False,
    )
    by = pd.read_csv(out / "ingest_by_source_year.csv")
    assert by["balanced"].all()
    assert by["rows_stored"].sum() > 8000
    assert set(by["year"]) == {2022, 2023, 2024}
    assert (out / "ingest_accounting.png").stat().st_size > 10_000
    reasons = pd.read_csv(out / "ingest_rejections_by_reason.csv")
    assert {"empty row", "total or summary row"} <= set(reasons["reason"])
    # The sample's DICOM dose reports are read with the survey files.
    origin = pd.read_csv(out / "ingest_by_origin.csv")
    assert set(origin["origin"]) == {"survey file", "RDSR"}
    truth = pd.read_csv(PROJECT_ROOT / "data" / "raw" / "sample" / "truth" / "rdsr.csv")
    assert origin.loc[origin["origin"] == "RDSR", "exposures"].sum() == (truth["outcome"] == "stored").sum()
    unmapped = pd.read_csv(out / "ingest_unmapped_procedures.csv")
    assert sorted(unmapped["study_description"]) == ["CT Sonderprotokoll Studie 7", "Phlebographie Bein links"]


def test_repair_notebook_declares_its_parameters_for_papermill():
    declared = pm.inspect_notebook(str(NOTEBOOK_DIR / "02_repair.ipynb"))
    assert set(declared) == {"input_dir", "rdsr_dir", "db_url", "data_source", "year", "out_dir"}
    assert declared["year"]["inferred_type_name"] == "int"

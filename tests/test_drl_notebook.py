"""notebooks/03_drl_quartiles.ipynb runs on a small generated survey and writes the DRL tables."""

from __future__ import annotations

import hashlib
import json

import nbformat
import numpy as np
import pandas as pd
import papermill as pm

from drl_analysis.core.columns import EXPOSURE_COLUMNS
from drl_analysis.core.paths import NOTEBOOK_DIR, PROJECT_ROOT
from drl_analysis.stats.drl import CONTRACT_COLUMNS
from drl_analysis.store.database import SubmissionRecord, make_engine, save_submission
from drl_analysis.synthetic.surveys import SurveyModel, simulate_exposures


def store_three_year_survey(url: str) -> pd.DataFrame:
    """A simulated survey of 2021-2023, three exams, one submission per source and year."""
    model = SurveyModel(facilities_per_source=6, exams=("1030", "9003", "9201"), exams_per_facility=2,
                        patients_per_exam=(10, 20), years=(2021, 2022, 2023))
    exposures = simulate_exposures(model, seed=21).drop(columns="facility_level")
    exposures["flags"] = ""
    engine = make_engine(url)
    cols = ["sheet", "source_row", "data_source", "year", *EXPOSURE_COLUMNS, "flags"]
    for (source, year), part in exposures.groupby(["data_source", "year"]):
        part = part.assign(sheet="Daten", source_row=np.arange(2, len(part) + 2))
        save_submission(engine, SubmissionRecord(
            source_file=f"{source} {year}.xlsx", sha256=hashlib.sha256(f"{source}{year}".encode()).hexdigest(),
            data_source=source, year=int(year), exposures=part[cols], rows_read=len(part)))
    engine.dispose()
    return exposures


def test_drl_notebook_writes_tables_and_draws_the_figures(tmp_path, monkeypatch):
    # The kernel imports the package from this checkout, installed or not.
    monkeypatch.setenv("PYTHONPATH", str(PROJECT_ROOT))
    url = f"sqlite:///{tmp_path / 'survey.sqlite'}"
    store_three_year_survey(url)
    out = tmp_path / "drl"
    executed = tmp_path / "03_drl_quartiles.ipynb"
    pm.execute_notebook(
        str(NOTEBOOK_DIR / "03_drl_quartiles.ipynb"),
        str(executed),
        parameters={"db_url": url, "years": "2022-2023", "quantile_method": "weibull", "bootstrap": 300,
                    "seed": 5, "exam_code": "9003", "out_dir": str(out)},
        kernel_name="python3",
        cwd=str(tmp_path),
        progress_bar=False,
    )
    table = pd.read_csv(out / "drl_table.csv", dtype={"exam_code": str})
    assert list(table.columns[: len(CONTRACT_COLUMNS)]) == list(CONTRACT_COLUMNS)
    assert set(table["exam_code"]) == {"1030", "9003", "9201"}
    assert (table["quantile_method"] == "weibull").all() and (table["years"] == "2022-2023").all()
    assert (table["p25"] <= table["p50"]).all() and (table["p50"] <= table["p75"]).all()
    assert table["p75_ci_low"].notna().all()
    by_year = pd.read_csv(out / "drl_by_year.csv")
    assert set(by_year["year"]) == {2022, 2023}
    params = json.loads((out / "drl_parameters.json").read_text(encoding="utf-8"))["parameters"]
    assert (params["seed"], params["bootstrap_resamples"], params["quantile_method"]) == (5, 300, "weibull")
    assert (out / "drl_tables.xlsx").stat().st_size > 5_000

    declared = pm.inspect_notebook(str(NOTEBOOK_DIR / "03_drl_quartiles.ipynb"))
    assert {"db_url", "years", "min_per_facility", "quantile_method", "edition", "out_dir"} <= set(declared)
    nb = nbformat.read(executed, as_version=4)
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if "image/png" in o.get("data", {})]
    assert len(images) == 4  # histogram, boxes, heatmap, trend
    assert not any(o.get("output_type") == "error" for c in nb.cells for o in c.get("outputs", []))

"""A survey too small for any DRL runs to the end, and its report says why."""

from __future__ import annotations

import subprocess

import pytest

from drl_analysis.cli import main
from drl_analysis.synthetic.surveys import DEFAULT_SOURCES, SurveyModel, simulate_exposures, write_survey
from tests.pipeline_run import environment

pytestmark = pytest.mark.slow


def small_survey(folder):
    """24 submissions (4 data sources, 3 years, 2 files each); no facility has 10 exams of one code."""
    model = SurveyModel(sources=DEFAULT_SOURCES[:4], years=(2021, 2022, 2023), facilities_per_source=3,
                        exams_per_facility=2, patients_per_exam=(1, 3))
    exposures = simulate_exposures(model, seed=3)
    assert exposures.groupby(["data_source", "facility_id", "exam_code"]).size().max() < 10
    write_survey(folder / "surveys", exposures, seed=3, damage=0.0, formats={"csv": 1.0}, files_per_source_year=2)
    assert len(list((folder / "surveys").glob("*.csv"))) == 24
    return folder


def test_a_survey_too_small_for_any_drl_runs_to_the_end_and_says_why(tmp_path, capsys):
    data = small_survey(tmp_path / "small")
    with environment(tmp_path / "config"):
        status = main(["run", "--input", str(data), "--out", str(tmp_path / "out"), "--survey", "small"])
    assert status == 0, capsys.readouterr().err
    version = tmp_path / "out" / "small" / "latest"
    drl_table = (version / "tables" / "03_drl_quartiles" / "drl_table.csv").read_text(encoding="utf-8")
    assert drl_table.count("\n") == 1  # the header only
    assert (version / "tables" / "04_clustering" / "outliers.csv").is_file()
    text = subprocess.run(["pdftotext", str(version / "report" / "annual_report.pdf"), "-"],
                          capture_output=True, text=True, check=True).stdout
    assert "no exam code has a facility with at least 10 exams; lower `min_per_facility` or add years" in " ".join(
        text.split()
    )

"""Small surveys run to the end: no P75 from too few facilities, every exam code
listed with its status, and pages for publication that name no one."""

from __future__ import annotations

import json
import re
import subprocess

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from drl_analysis.cli import main
from drl_analysis.ingest.template import HEADER_ROW, write_template
from drl_analysis.reporting import public
from drl_analysis.reporting.pseudonyms import Identifiers, find_leaks
from drl_analysis.synthetic.surveys import DEFAULT_SOURCES, SurveyModel, simulate_exposures, write_survey
from tests.pipeline_run import environment

pytestmark = pytest.mark.slow


def pdf_text(path) -> str:
    out = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    return " ".join(out.split())


def small_survey(folder):
    """24 submissions (4 data sources, 3 years, 2 files each); no facility has 10 exams of one code."""
    model = SurveyModel(sources=DEFAULT_SOURCES[:4], years=(2021, 2022, 2023), facilities_per_source=3,
                        exams_per_facility=2, patients_per_exam=(1, 3))
    exposures = simulate_exposures(model, seed=3)
    assert exposures.groupby(["data_source", "facility_id", "exam_code"]).size().max() < 10
    write_survey(folder / "surveys", exposures, seed=3, damage=0.0, formats={"csv": 1.0}, files_per_source_year=2)
    assert len(list((folder / "surveys").glob("*.csv"))) == 24
    return folder, exposures


def test_a_survey_too_small_for_any_drl_runs_to_the_end_and_says_why(tmp_path, capsys):
    data, exposures = small_survey(tmp_path / "small")
    with environment(tmp_path / "config"):
        status = main(["run", "--input", str(data), "--out", str(tmp_path / "out"), "--survey", "small"])
    assert status == 0, capsys.readouterr().err
    version = tmp_path / "out" / "small" / "latest"
    table = pd.read_csv(version / "tables" / "03_drl_quartiles" / "drl_table.csv", dtype={"exam_code": str})
    # Every exam code of the input is listed, with why it has no DRL; none has a value or a P75.
    assert set(table["exam_code"]) == set(exposures["exam_code"])
    assert set(table["status"]) == {"no_facility_with_enough_exams"}
    assert table["p75"].isna().all() and table["p50"].isna().all() and (table["n_facilities_below_min"] > 0).all()
    assert (version / "tables" / "04_clustering" / "outliers.csv").is_file()
    text = pdf_text(version / "report" / "annual_report.pdf")
    assert "no exam code has a facility with at least 10 exams; lower `min_per_facility` or add years" in text
    assert f"{len(table)} exam codes and quantities of the survey have no facility that counts" in text


# --------------------------------------------------------------------------
# A new user's first survey: 8 facilities, unusual names, two template files
# --------------------------------------------------------------------------

SOURCES = ("Ärztliche Stelle Süd-West & Partner", "Qualitätssicherung O'Brien/Berlin <Röntgen>")
FACILITIES = ("KH-Zürich/7", "Praxis Dr. Ünal & Kollegen", "St. Anna's \"Ost\"", "MVZ_Quelle#4",
              "Klinikum Zwölf-Apostel", "Radiologie-am-Markt 12b", "Haus Øresund", "Zentrum Ω-9")
#: Exam code -> (facilities taking part, exams at each): three exams from one or two facilities, one from
#: four facilities with fewer than 10 exams each, the rest from all eight.
PLAN = {"9003": (8, 12), "9004": (1, 12), "9005": (1, 12), "9006": (2, 12), "9007": (4, (9, 8, 7, 6)),
        "1020": (8, 5)}


def first_survey(folder):
    """Two template workbooks (one per data source) of 8 facilities, 214 rows in all."""
    rng = np.random.default_rng(5)
    rows = {s: [] for s in SOURCES}
    for code, (n_fac, n_exams) in PLAN.items():
        for i in range(n_fac):
            facility = FACILITIES[i]
            source = SOURCES[i % 2]
            count = n_exams[i] if isinstance(n_exams, tuple) else n_exams
            level = rng.lognormal(0, 0.3)
            for _ in range(count):
                dose = level * rng.lognormal(0, 0.2)
                if code == "1020":
                    row = [facility, code, None, None, round(280 * dose, 1), round(16 * dose, 2), 16, 75, 50]
                else:
                    row = [facility, code, round({"9003": 12, "9004": 30, "9005": 15, "9006": 90, "9007": 100}[code]
                                                 * dose, 2), None, None, None, None, 75, 50]
                rows[source].append(row)
    folder.mkdir(parents=True)
    for i, source in enumerate(SOURCES):
        path = folder / f"survey-part-{i + 1}.xlsx"
        write_template(path, year=2024, data_source=source)
        book = load_workbook(path)
        sheet = book["Exposure data"]
        for r, row in enumerate(rows[source], start=HEADER_ROW + 1):
            for c, value in enumerate(row, start=1):
                sheet.cell(row=r, column=c, value=value)
        book.save(path)
    return sum(len(v) for v in rows.values())


def test_a_first_survey_with_few_facilities_and_unusual_names(tmp_path, capsys):
    n_rows = first_survey(tmp_path / "input" / "surveys")
    assert n_rows == 214
    with environment(tmp_path / "config"):
        status = main(["run", "--input", str(tmp_path / "input"), "--out", str(tmp_path / "out"), "--survey", "first"])
    assert status == 0, capsys.readouterr().err
    version = (tmp_path / "out" / "first" / "latest").resolve()
    table = pd.read_csv(version / "tables" / "03_drl_quartiles" / "drl_table.csv", dtype={"exam_code": str})
    rows = table.set_index(["exam_code", "quantity"])
    # Every exam code of the input has a row with its status; no P75 from fewer than 11 facilities.
    assert set(table["exam_code"]) == set(PLAN)
    assert table["p75"].isna().all() and (table["status"] != "proposed").all()
    assert rows.loc[("9003", "dap_cgycm2"), "status"] == "typical_value_only"
    assert rows.loc[("9003", "dap_cgycm2"), "n_facilities"] == 8
    for code in ("9004", "9005", "9006"):
        assert rows.loc[(code, "dap_cgycm2"), "status"] == "typical_value_only"
    gone = rows.loc[("9007", "dap_cgycm2")]
    assert (gone["status"], gone["n_facilities_below_min"], gone["n_exams_below_min"]) == (
        "no_facility_with_enough_exams", 4, 30)
    text = pdf_text(version / "report" / "annual_report.pdf")
    assert "No proposed DRL: no exam code has the 11 facilities with at least 10 exams that a proposed DRL needs" in text
    assert "Of 7 exam codes and dose quantities in the survey, none has a proposed DRL (P75)." in text
    # The identified edition names them (so the checks below could see them) ...
    assert "Ärztliche Stelle Süd-West & Partner" in pdf_text(version / "report" / "annual_report.pdf")
    # ... the publication pages, their figures and the pseudonymised PDF do not, in any form.
    ids = Identifiers(sources=SOURCES, facility_ids=FACILITIES,
                      file_names=("survey-part-1.xlsx", "survey-part-2.xlsx", "survey-part-1", "survey-part-2"),
                      paths=(str(tmp_path), str(version)))
    folder = version / "html" / public.PUBLIC_DIR
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    assert len([p for p in files if p.suffix == ".html"]) == 4
    texts = [(p.name, p.read_text(encoding="utf-8")) for p in files]
    texts.append(("pdf", pdf_text(version / "report" / "pseudonymised" / "annual_report_pseudonymised.pdf")))
    texts += [(p.name, p.read_text(encoding="utf-8")) for p in (version / "report" / "pseudonymised").glob("*.csv")]
    assert find_leaks(texts, ids) == []
    for word in ("Ärztliche", "Qualitätssicherung", "Zürich", "Ünal", "Apostel", "Øresund", "O'Brien", "O&#x27;Brien"):
        assert all(word not in t for _, t in texts), word
    index = (folder / "index.html").read_text(encoding="utf-8")
    assert re.search(r"\d+ exam codes and quantities with a typical value only", index)
    manifest = json.loads((version / "manifest.json").read_text())
    assert manifest["status"] == "complete"

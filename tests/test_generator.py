"""The seeded survey generator: clean exposures, and damaged files with their truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from drl_analysis.ingest.template import FORMER_TEMPLATE_HEADERS
from drl_analysis.synthetic.surveys import SurveyModel, exam_quantities, simulate_exposures, write_survey

SMALL = SurveyModel(sources=("Aerztliche Stelle Nord", "Aerztliche Stelle Sued"), facilities_per_source=4,
                    years=(2023,), exams_per_facility=3)


def test_same_seed_same_exposures_other_seed_other_exposures():
    a = simulate_exposures(SMALL, seed=3)
    pd.testing.assert_frame_equal(a, simulate_exposures(SMALL, seed=3))
    assert not a.equals(simulate_exposures(SMALL, seed=4))


def test_facility_levels_centre_on_the_model_fraction_of_the_drl(catalogue):
    model = SurveyModel(facilities_per_source=20, years=(2023,))
    exp = simulate_exposures(model, seed=1)
    quantities = exam_quantities(catalogue)
    levels = exp.groupby(["data_source", "facility_id", "exam_code"])["facility_level"].first().reset_index()
    ratios = []
    for row in levels.itertuples(index=False):
        drl, _ = catalogue.current_drl(row.exam_code, quantities[row.exam_code])
        if drl is not None:
            ratios.append(row.facility_level / drl)
    ratios = np.array(ratios)
    assert len(ratios) > 300
    # log-normal around 0.7 x DRL with sigma 0.35 (plus a small yearly drift)
    assert np.median(ratios) == pytest.approx(model.facility_level, rel=0.1)
    assert np.std(np.log(ratios)) == pytest.approx(0.35, rel=0.15)


def test_each_exam_gets_only_its_own_dose_quantity(catalogue):
    exp = simulate_exposures(SMALL, seed=2)
    quantities = exam_quantities(catalogue)
    doses = ["dap_cgycm2", "agd_mgy", "dlp_mgycm", "ctdivol_mgy"]
    for code, group in exp.groupby("exam_code"):
        present = {c for c in doses if group[c].notna().any()}
        expected = {quantities[code]} | ({"dlp_mgycm"} if quantities[code] == "ctdivol_mgy" else set())
        assert present == expected, code


def test_ct_values_on_the_other_phantom_are_higher_for_16_cm(catalogue):
    exp = simulate_exposures(SurveyModel(other_phantom_share=0.5, facilities_per_source=10), seed=0)
    ct = exp[exp["ctdivol_mgy"].notna()].copy()
    ct["reference"] = ct["exam_code"].map(catalogue.reference_phantoms)
    body = ct[ct["reference"] == 32.0]
    on_16 = body.loc[body["ctdi_phantom_cm"] == 16.0, "ctdivol_mgy"] / body.loc[body["ctdi_phantom_cm"] == 16.0, "facility_level"]
    on_32 = body.loc[body["ctdi_phantom_cm"] == 32.0, "ctdivol_mgy"] / body.loc[body["ctdi_phantom_cm"] == 32.0, "facility_level"]
    assert np.median(on_16) / np.median(on_32) == pytest.approx(2.5, rel=0.15)


def test_facility_ids_repeat_across_data_sources():
    exp = simulate_exposures(SMALL, seed=0)
    ids = exp.groupby("data_source")["facility_id"].apply(set)
    assert ids.iloc[0] & ids.iloc[1]


def test_undamaged_survey_is_the_template_filled_in(tmp_path):
    exp = simulate_exposures(SMALL, seed=0)
    survey = write_survey(tmp_path, exp, seed=0, damage=0.0, formats={"xlsx": 1.0})
    assert len(survey.files) == 2
    assert survey.non_exposures.empty
    assert len(survey.truth) == len(exp)
    assert (survey.truth["expected_flags"] == "").all()
    nord = next(f for f in survey.files if "Nord" in f.name)
    ws = load_workbook(nord)["Exposure data"]
    # The generator writes the template as submissions of the surveys so far have it: its first version.
    assert [c.value for c in ws[11]][:9] == list(FORMER_TEMPLATE_HEADERS[0])
    assert (ws["A5"].value, ws["C5"].value, ws["A7"].value, ws["C7"].value) == (
        "Data source", "Aerztliche Stelle Nord", "Year", 2023)
    truth = survey.truth[survey.truth["source_file"] == nord.name]
    assert truth["source_row"].tolist() == list(range(12, 12 + len(truth)))
    for row in truth.itertuples(index=False):
        cells = [c.value for c in ws[row.source_row]][:9]
        assert str(cells[0]) == row.facility_id and str(cells[1]) == row.exam_code
        for value, column in zip(cells[2:], ["dap_cgycm2", "agd_mgy", "dlp_mgycm", "ctdivol_mgy",
                                             "ctdi_phantom_cm", "weight_kg", "age_years"]):
            expected = getattr(row, column)
            if np.isnan(expected):
                assert value is None, (row.source_row, column, value)
            else:
                assert value == expected, (row.source_row, column)


def test_damaged_survey_is_reproducible(tmp_path):
    exp = simulate_exposures(SMALL, seed=0)
    a = write_survey(tmp_path / "a", exp, seed=9)
    b = write_survey(tmp_path / "b", exp, seed=9)
    assert [f.name for f in a.files] == [f.name for f in b.files]
    pd.testing.assert_frame_equal(a.truth, b.truth)
    pd.testing.assert_frame_equal(a.non_exposures, b.non_exposures)


def test_damaged_survey_truth_and_non_exposures_cover_distinct_rows(small_damaged_survey, catalogue):
    truth, others = small_damaged_survey.truth, small_damaged_survey.non_exposures
    key = ["source_file", "sheet", "source_row"]
    assert not truth.duplicated(key).any()
    assert truth.merge(others, on=key).empty
    assert set(others["kind"]) <= {"empty row", "note row", "repeated header row", "total or summary row"}
    assert set(truth["source_file"]) == {f.name for f in small_damaged_survey.files}
    # a planted slip names the exam's own dose column
    quantities = exam_quantities(catalogue)
    planted = truth[truth["expected_flags"] != ""]
    assert len(planted) > 0
    for row in planted.itertuples(index=False):
        kind, column = row.expected_flags.split(":")
        assert kind in ("unit_slip_x10", "unit_slip_x100", "unit_slip_x1000")
        assert column == quantities[row.exam_code]


def test_damaged_survey_shows_the_kinds_of_damage(small_damaged_survey):
    survey = small_damaged_survey
    assert {f.suffix for f in survey.files} == {".xlsx", ".xls", ".ods", ".csv"}
    sheets_per_file = survey.truth.groupby("source_file")["sheet"].nunique()
    assert sheets_per_file.max() > 1  # data split over sheets
    first_rows = survey.truth.groupby(["source_file", "sheet"])["source_row"].min()
    assert first_rows.nunique() > 1  # the header is not always in row 11
    assert {"empty row", "note row", "repeated header row", "total or summary row"} == set(survey.non_exposures["kind"])

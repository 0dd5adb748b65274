"""Outlying values, facilities above the DRL and alerts, on generated surveys with planted faults."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from drl_analysis.analysis.alerts import alerts, facility_alerts, facility_medians, facility_outliers
from drl_analysis.analysis.outliers import (
    DATA_QUALITY_COLUMNS,
    OUTLIER_COLUMNS,
    REASON_PHRASES,
    OutlierParameters,
    data_quality,
    excluded_values,
    score_values,
    value_outliers,
)
from drl_analysis.core.catalogue import load_catalogue
from drl_analysis.core.errors import UserError
from drl_analysis.synthetic.surveys import SurveyModel, exam_quantities, simulate_exposures

CATALOGUE = load_catalogue()
QUANTITY = exam_quantities(CATALOGUE)


def as_stored(exposures: pd.DataFrame) -> pd.DataFrame:
    """Generated exposures with the columns that storage adds (one file, one sheet)."""
    out = exposures.drop(columns="facility_level").reset_index(drop=True)
    out.insert(0, "source_file", "survey.xlsx")
    out.insert(1, "sheet", "Daten")
    out.insert(2, "source_row", np.arange(2, len(out) + 2))
    out["flags"] = ""
    return out


def plant_unit_slips(exposures: pd.DataFrame, n_each: int, seed: int) -> pd.DataFrame:
    """Multiply the exam's DRL quantity of random rows by 10, 100 and 1000 (``n_each`` of each).

    Only rows measured in the exam's reference CTDI phantom are eligible: the
    others are judged among their own kind.
    """
    rng = np.random.default_rng(seed)
    quantity = exposures["exam_code"].map(QUANTITY)
    reference = exposures["exam_code"].map(CATALOGUE.reference_phantom)
    other_phantom = (quantity == "ctdivol_mgy") & (exposures["ctdi_phantom_cm"] != reference)
    rows = rng.choice(np.flatnonzero(~other_phantom.to_numpy()), 3 * n_each, replace=False)
    factors = np.repeat([10.0, 100.0, 1000.0], n_each)
    for row, factor in zip(rows, factors):
        exposures.loc[row, quantity[row]] *= factor
    return pd.DataFrame(
        {
            "source_row": exposures.loc[rows, "source_row"].to_numpy(),
            "quantity": quantity[rows].to_numpy(),
            "factor": factors,
        }
    )


@pytest.fixture(scope="module")
def survey_with_slips():
    """A three-year survey (about 18,000 exposures) with 45 planted unit slips."""
    exposures = as_stored(simulate_exposures(SurveyModel(years=(2021, 2022, 2023)), seed=3))
    planted = plant_unit_slips(exposures, n_each=15, seed=4)
    return exposures, planted, value_outliers(exposures, CATALOGUE)


def test_every_planted_unit_slip_is_named_a_suspected_unit_slip(survey_with_slips):
    _, planted, found = survey_with_slips
    hits = planted.merge(found, on=["source_row", "quantity"], how="left")
    missed = hits.loc[hits["reason_kind"] != "unit_slip", ["source_row", "reason"]]
    assert missed.empty, missed
    assert hits["reason"].str.startswith("suspected unit slip: x").all()
    # The factor named is the one planted, give or take the patient's own scatter.
    assert (hits["slip_factor"] == hits["factor"]).mean() >= 0.95


def test_clean_rows_listed_as_outliers_stay_under_one_percent(survey_with_slips):
    exposures, planted, found = survey_with_slips
    clean_listed = set(found["source_row"]) - set(planted["source_row"])
    assert len(clean_listed) / (len(exposures) - len(planted)) < 0.01


def test_outlier_table_starts_with_the_contract_columns(survey_with_slips):
    _, _, found = survey_with_slips
    assert list(found.columns[: len(OUTLIER_COLUMNS)]) == list(OUTLIER_COLUMNS)
    assert set(found["reason_kind"]) <= set(REASON_PHRASES)
    row = found.iloc[0]
    assert row["ratio_to_median"] == pytest.approx(row["value"] / row["exam_median"])


def test_exam_median_is_the_median_of_the_exams_plausible_values(survey_with_slips):
    exposures, _, found = survey_with_slips
    row = found[found["quantity"] == "dap_cgycm2"].iloc[0]
    values = exposures.loc[exposures["exam_code"] == row["exam_code"], "dap_cgycm2"]
    assert row["exam_median"] == pytest.approx(values.median())


def test_value_a_hundred_times_too_low_is_named_with_a_divisor():
    exposures = as_stored(simulate_exposures(SurveyModel(years=(2022,), exams=("9003", "9008")), seed=5))
    row = int(np.flatnonzero(exposures["exam_code"] == "9008")[7])
    exposures.loc[row, "dap_cgycm2"] /= 100
    found = value_outliers(exposures, CATALOGUE)
    hit = found[found["source_row"] == exposures.loc[row, "source_row"]]
    assert hit["reason"].iloc[0].startswith("suspected unit slip: /100 below")
    assert hit["slip_factor"].iloc[0] == pytest.approx(0.01)


def test_flags_alone_are_data_quality_findings_and_far_values_stay_outliers():
    exposures = as_stored(simulate_exposures(SurveyModel(years=(2022,), exams=("9003",)), seed=6))
    exposures.loc[3, "dap_cgycm2"] = 0.001
    exposures.loc[3, "flags"] = "out_of_range:dap_cgycm2"
    exposures.loc[5, "flags"] = "ambiguous_notation:dap_cgycm2"
    # A flag on another column concerns neither table's dose value.
    exposures.loc[8, "flags"] = "out_of_range:weight_kg"
    scored = score_values(exposures, CATALOGUE)
    found = value_outliers(scored=scored).set_index("source_row")
    out_of_range = found.loc[exposures.loc[3, "source_row"]]
    assert out_of_range["status"] == "implausible_at_ingest"
    assert "flagged at ingest (out_of_range:dap_cgycm2)" in out_of_range["reason"]
    # A flag alone is no dose outlier: the data-quality table lists it.
    assert exposures.loc[5, "source_row"] not in found.index
    assert exposures.loc[8, "source_row"] not in found.index
    quality = data_quality(scored, exposures, CATALOGUE)
    assert list(quality.columns) == list(DATA_QUALITY_COLUMNS)
    issues = quality.set_index("source_row")["issue"]
    assert issues[exposures.loc[3, "source_row"]] == "out_of_range"
    assert issues[exposures.loc[5, "source_row"]] == "ambiguous_notation"
    assert exposures.loc[8, "source_row"] not in issues.index


def test_value_flagged_implausible_at_ingest_stays_out_of_the_exam_median():
    exposures = as_stored(simulate_exposures(SurveyModel(years=(2022,), exams=("9003",)), seed=6))
    exposures.loc[3, "flags"] = "unit_slip_x100:dap_cgycm2"
    scored = score_values(exposures, CATALOGUE)
    expected = exposures.drop(index=3)["dap_cgycm2"].median()
    assert scored["exam_median"].iloc[0] == pytest.approx(expected)


def two_phantom_survey() -> pd.DataFrame:
    """Exam 1030 (reference phantom 32 cm): 20 facilities at 32 cm, and a few 16 cm values 2.5 x higher."""
    rng = np.random.default_rng(8)
    rows = []
    for fac in range(1, 21):
        level = 8.0 * np.exp(rng.normal(0, 0.2))
        for i in range(12):
            phantom = 16.0 if i == 0 and fac <= 10 else 32.0
            ctdi = level * np.exp(rng.normal(0, 0.2)) * (2.5 if phantom == 16.0 else 1.0)
            rows.append(("Stelle A", 2022, str(fac), "1030", ctdi, phantom))
    columns = ["data_source", "year", "facility_id", "exam_code", "ctdivol_mgy", "ctdi_phantom_cm"]
    frame = pd.DataFrame(rows, columns=columns)
    frame.insert(0, "source_file", "ct.csv")
    frame.insert(1, "sheet", "")
    frame.insert(2, "source_row", np.arange(len(frame)))
    frame["flags"] = ""
    return frame


def test_ct_values_of_the_other_phantom_are_not_pooled_and_are_counted():
    frame = two_phantom_survey()
    scored = score_values(frame, CATALOGUE)
    excluded = excluded_values(scored)
    assert excluded[["exam_code", "status", "n_values"]].values.tolist() == [["1030", "other_phantom", 10]]
    reference = frame[frame["ctdi_phantom_cm"] == 32.0]
    used = scored[scored["status"] == "used"]
    assert used["exam_median"].iloc[0] == pytest.approx(reference["ctdivol_mgy"].median())
    medians = facility_medians(frame, CATALOGUE, params=OutlierParameters(min_per_facility=11))
    fac1 = reference[reference["facility_id"] == "1"]["ctdivol_mgy"]
    assert medians.set_index("facility_id").loc["1", "facility_median"] == pytest.approx(fac1.median())
    # Fac 1 keeps 11 values at 32 cm; with min 12 it no longer counts, fac 11 (12 values) does.
    strict = facility_medians(frame, CATALOGUE, params=OutlierParameters(min_per_facility=12))
    assert "1" not in set(strict["facility_id"]) and "11" in set(strict["facility_id"])


def facilities_at(levels: dict[str, list[float]], *, exam: str = "9003", year: int = 2022, n: int = 10) -> pd.DataFrame:
    """Facilities whose every exam equals their level (so the median is the level)."""
    rows = []
    for source, values in levels.items():
        for fac, level in enumerate(values, start=1):
            rows += [(source, year, str(fac), exam, level)] * n
    frame = pd.DataFrame(rows, columns=["data_source", "year", "facility_id", "exam_code", "dap_cgycm2"])
    frame.insert(0, "source_file", "f.csv")
    frame.insert(1, "sheet", "")
    frame.insert(2, "source_row", np.arange(len(frame)))
    frame["flags"] = ""
    return frame


def test_facility_above_the_drl_and_above_the_survey_p95_is_named_for_both():
    # 9003 (chest p.a.): current DRL 12 cGy·cm² (DE-2022).
    levels = [5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 13.0, 30.0]
    frame = facilities_at({"Stelle A": levels})
    medians = facility_medians(frame, CATALOGUE)
    p95 = np.quantile(levels, 0.95, method="linear")
    assert medians["survey_p95"].iloc[0] == pytest.approx(p95)
    assert medians["drl"].iloc[0] == 12.0 and medians["drl_edition"].iloc[0] == "DE-2022"
    out = facility_outliers(medians).set_index("facility_median")
    assert out.loc[30.0, "reason"] == "above the DRL and above the survey P95"
    assert out.loc[13.0, "reason"] == "above the DRL"
    assert set(out.index) == {13.0, 30.0}


def test_facility_median_needs_ten_exams():
    frame = facilities_at({"Stelle A": [5.0, 6.0, 7.0]}, n=9)
    assert facility_medians(frame, CATALOGUE).empty
    assert len(facility_medians(frame, CATALOGUE, params=OutlierParameters(min_per_facility=9))) == 3


def test_same_facility_id_in_two_sources_is_two_facilities():
    frame = facilities_at({"Stelle A": [5.0], "Stelle B": [20.0]})
    medians = facility_medians(frame, CATALOGUE)
    assert medians[["data_source", "facility_id", "facility_median"]].values.tolist() == [
        ["Stelle A", "1", 5.0],
        ["Stelle B", "1", 20.0],
    ]


def survey_with_facilities_above_the_drl(seed: int):
    """A survey whose facilities all sit well below the DRL, and planted facilities raised above it.

    Returns the exposures, the (source, facility, exam) keys raised in two or
    three years (to be alerted) and the keys raised in one year of three
    (not to be alerted).
    """
    model = SurveyModel(years=(2021, 2022, 2023), facility_level=0.4, facility_sigma=0.15, year_drift=0.05,
                        patients_per_exam=(12, 25))
    exposures = as_stored(simulate_exposures(model, seed=seed))
    rng = np.random.default_rng(seed + 1)
    keys = exposures[["data_source", "facility_id", "exam_code"]].drop_duplicates().to_numpy()
    chosen = keys[rng.choice(len(keys), 9, replace=False)]
    several, once = [], []
    for i, (source, fac, code) in enumerate(chosen):
        years = [2021, 2022, 2023] if i < 3 else [2021, 2023] if i < 6 else [2022]
        rows = (
            (exposures["data_source"] == source)
            & (exposures["facility_id"] == fac)
            & (exposures["exam_code"] == code)
            & exposures["year"].isin(years)
        )
        for quantity in ("dap_cgycm2", "agd_mgy", "ctdivol_mgy", "dlp_mgycm"):
            exposures.loc[rows, quantity] *= 4.0
        (several if i < 6 else once).append((source, fac, code))
    return exposures, set(several), set(once)


def test_facilities_above_the_drl_in_several_years_are_all_alerted_and_no_other():
    exposures, several, once = survey_with_facilities_above_the_drl(seed=11)
    params = OutlierParameters()
    medians = facility_medians(exposures, CATALOGUE, params=params)
    scored = score_values(exposures, CATALOGUE, params=params)
    table = alerts(medians, scored, params=params)
    facility = table[table["alert"] == "facility_above_drl"]
    alerted = set(zip(facility["data_source"], facility["facility_id"], facility["exam_code"]))
    assert alerted == several
    assert not (once & alerted)
    assert (table["alert"] == "facility_above_drl").all()


def test_alert_evidence_gives_years_medians_and_the_drl():
    frame = pd.concat(
        [facilities_at({"Stelle A": [5.0, 20.0]}, year=2021), facilities_at({"Stelle A": [5.0, 30.0]}, year=2022)],
        ignore_index=True,
    )
    medians = facility_medians(frame, CATALOGUE)
    table = alerts(medians, score_values(frame, CATALOGUE))
    assert len(table) == 1
    alert = table.iloc[0]
    assert (alert["facility_id"], alert["years"], alert["years_reported"]) == ("2", "2021;2022", "2021;2022")
    assert alert["facility_medians"] == "2021: 20; 2022: 30"
    assert (alert["drl"], alert["drl_edition"], alert["unit"]) == (12.0, "DE-2022", "cGy·cm²")


def test_facility_above_the_drl_in_the_only_year_it_reported_is_alerted():
    # "in every year they reported": one year is every year for a newcomer.
    frame = pd.concat(
        [facilities_at({"Stelle A": [5.0, 6.0]}, year=2021), facilities_at({"Stelle A": [5.0, 6.0, 25.0]}, year=2022)],
        ignore_index=True,
    )
    table = facility_alerts(facility_medians(frame, CATALOGUE))
    assert table[["facility_id", "years", "years_reported"]].values.tolist() == [["3", "2022", "2022"]]
    assert "every year it reported" in table["evidence"].iloc[0]
    # A facility above the DRL in one of two reported years is not alerted.
    frame.loc[(frame["year"] == 2021) & (frame["facility_id"] == "2"), "dap_cgycm2"] = 14.0
    assert facility_alerts(facility_medians(frame, CATALOGUE))["facility_id"].tolist() == ["3"]


def test_source_with_many_implausible_values_is_alerted_and_the_others_are_not():
    exposures = as_stored(simulate_exposures(SurveyModel(years=(2022, 2023)), seed=12))
    sued = np.flatnonzero(exposures["data_source"] == "Aerztliche Stelle Sued")
    flagged = sued[:: 10]  # every tenth row: 10 % of the source's values
    quantity = exposures["exam_code"].map(QUANTITY)
    for row in flagged:
        exposures.loc[row, "flags"] = f"out_of_range:{quantity[row]}"
    params = OutlierParameters(implausible_share_threshold=0.05)
    scored = score_values(exposures, CATALOGUE, params=params)
    table = alerts(facility_medians(exposures, CATALOGUE, params=params), scored, params=params)
    sources = table[table["alert"] == "source_implausible_share"]
    assert sources["data_source"].tolist() == ["Aerztliche Stelle Sued"]
    n_values = int((scored["data_source"] == "Aerztliche Stelle Sued").sum())
    assert sources["n_values"].iloc[0] == n_values
    assert sources["n_implausible"].iloc[0] >= len(flagged)
    assert sources["share_implausible"].iloc[0] == pytest.approx(sources["n_implausible"].iloc[0] / n_values)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("z_threshold", 0.0),
        ("slip_min_decades", 2.0),
        ("exam_slip_min_decades", 0.0),
        ("implausible_share_threshold", 1.5),
        ("quantile_method", "nearest-ish"),
    ],
)
def test_threshold_out_of_range_is_a_user_error_naming_it(name, value):
    with pytest.raises(UserError, match=name):
        OutlierParameters(**{name: value})


def test_weight_exponent_is_learnt_from_the_facilities_own_patients():
    # The generator scales each patient's dose with (weight / 76 kg) ** 1.2.
    exposures = as_stored(simulate_exposures(SurveyModel(years=(2022, 2023), exams=("9003", "1030")), seed=13))
    scored = score_values(exposures, CATALOGUE)
    used = scored[scored["status"] == "used"]
    exponents = used.groupby(["exam_code", "quantity"])["weight_exponent"].first()
    assert exponents.to_numpy() == pytest.approx(1.2, abs=0.15)


def one_facility_by_weight(extra: list[tuple[float, float]]) -> pd.DataFrame:
    """One facility's chest exams whose dose follows weight ** 1.2, plus ``extra`` (weight kg, DAP cGy·cm²)."""
    rng = np.random.default_rng(14)
    weight = np.clip(rng.normal(76, 14, 300), 35, 140).round()
    dap = 10.0 * (weight / 76.0) ** 1.2 * np.exp(rng.normal(0, 0.15, 300))
    frame = pd.DataFrame({"weight_kg": [*weight, *(w for w, _ in extra)], "dap_cgycm2": [*dap, *(d for _, d in extra)]})
    frame = frame.assign(source_file="f.csv", sheet="", source_row=np.arange(len(frame)), data_source="Stelle A",
                         year=2022, facility_id="1", exam_code="9003", flags="")
    return frame


def test_low_dose_of_a_light_patient_is_expected_and_of_a_heavy_patient_is_not():
    # 5.5 cGy·cm² is 1.25 x what a 38 kg patient gets here, and 0.4 x what a 100 kg one gets.
    frame = one_facility_by_weight([(38.0, 5.5), (100.0, 5.5)])
    found = value_outliers(frame, CATALOGUE).set_index("source_row")
    assert 300 not in found.index
    assert found.loc[301, "reason_kind"] == "far_below"
    assert "x for a patient of this weight" in found.loc[301, "reason"]


def test_implausible_weight_is_not_used_to_excuse_a_dose():
    frame = one_facility_by_weight([(7600.0, 25.0)])  # weight in g: as kg it would make 25 cGy·cm² look tiny
    frame.loc[300, "flags"] = "out_of_range:weight_kg"
    scored = score_values(frame, CATALOGUE)
    assert np.isnan(scored.loc[scored["source_row"] == 300, "weight_kg"]).all()
    found = value_outliers(scored=scored)
    assert found.set_index("source_row").loc[300, "reason_kind"] == "far_above"

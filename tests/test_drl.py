"""DRL statistics: facility medians, quartiles, bootstrap intervals, the command and its files."""

from __future__ import annotations

import hashlib
import itertools
import json
import math

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drl_analysis import cli
from drl_analysis.core.catalogue import load_catalogue
from drl_analysis.core.columns import DOSE_QUANTITIES, EXPOSURE_COLUMNS, is_implausible
from drl_analysis.core.errors import UserError
from drl_analysis.stats import drl
from drl_analysis.stats import figures as drl_figures
from drl_analysis.store.database import SubmissionRecord, make_engine, save_submission
from drl_analysis.synthetic.surveys import SurveyModel, simulate_exposures

CATALOGUE = load_catalogue()
SPREAD = np.array([-4, -3, -2, -1, 0, 0, 1, 2, 3, 4], dtype=float)  # median 0 over 10 exams


# --------------------------------------------------------------------------
# Fixture builders
# --------------------------------------------------------------------------


def exposures_frame(rows: list[dict]) -> pd.DataFrame:
    """Exposures as storage.load_exposures returns them, from partial rows."""
    frame = pd.DataFrame(rows)
    defaults = {"source_file": "fixture.csv", "sheet": "", "data_source": "A", "year": 2022, "flags": ""}
    for col, value in defaults.items():
        if col not in frame:
            frame[col] = value
    for col in EXPOSURE_COLUMNS:
        if col not in frame:
            frame[col] = np.nan
    frame["source_row"] = np.arange(2, len(frame) + 2)
    frame["facility_id"] = frame["facility_id"].astype(str)
    frame["exam_code"] = frame["exam_code"].astype(str)
    frame["flags"] = frame["flags"].fillna("")
    return frame


def facility_rows(source: str, facility: str, exam: str, quantity: str, values, **extra) -> list[dict]:
    return [{"data_source": source, "facility_id": facility, "exam_code": exam, quantity: float(v), **extra} for v in values]


def chest_survey() -> pd.DataFrame:
    """Chest p.a. (9003, current DRL 12 cGy·cm² in DE-2022): five facilities of
    source A with 10 exams each and medians 10, 20, 30, 40, 50 cGy·cm², and a
    facility of source B with the same ID "1" but only 9 exams of 1000 cGy·cm²."""
    rows = []
    for i, median in enumerate((10, 20, 30, 40, 50), start=1):
        rows += facility_rows("A", str(i), "9003", "dap_cgycm2", median + SPREAD)
    rows += facility_rows("B", "1", "9003", "dap_cgycm2", [1000.0] * 9)
    return exposures_frame(rows)


def store(tmp_path, exposures: pd.DataFrame, name: str = "drl.sqlite") -> str:
    """Store exposures in a new SQLite database, one submission per source and year."""
    url = f"sqlite:///{tmp_path / name}"
    engine = make_engine(url)
    cols = ["sheet", "source_row", "data_source", "year", *EXPOSURE_COLUMNS, "flags"]
    for (source, year), part in exposures.groupby(["data_source", "year"], sort=True):
        part = part.copy()
        part["sheet"] = "Daten"
        part["source_row"] = np.arange(2, len(part) + 2)
        if "flags" not in part:
            part["flags"] = ""
        sha = hashlib.sha256(f"{name}|{source}|{year}".encode()).hexdigest()
        save_submission(
            engine,
            SubmissionRecord(
                source_file=f"{source}_{year}.xlsx",
                sha256=sha,
                data_source=source,
                year=int(year),
                exposures=part[cols],
                rows_read=len(part),
            ),
        )
    engine.dispose()
    return url


def messy_survey(seed: int = 3) -> pd.DataFrame:
    """A simulated two-year survey with implausible flags, other-phantom CT rows
    and an exam code the catalogue does not know."""
    model = SurveyModel(facilities_per_source=8, exams=("1010", "1030", "9003", "9010", "9201"),
                        exams_per_facility=4, patients_per_exam=(6, 20), other_phantom_share=0.1)
    frame = simulate_exposures(model, seed=seed).drop(columns="facility_level")
    rng = np.random.default_rng(seed)
    frame["flags"] = ""
    dap = frame["dap_cgycm2"].notna().to_numpy()
    slip = dap & (rng.random(len(frame)) < 0.05)
    frame.loc[slip, "dap_cgycm2"] *= 100
    frame.loc[slip, "flags"] = "unit_slip_x100:dap_cgycm2"
    weight_flag = rng.random(len(frame)) < 0.03
    frame.loc[weight_flag & ~slip, "flags"] = "out_of_range:weight_kg"
    unknown = frame["exam_code"] == "9010"
    frame.loc[unknown, "exam_code"] = "X77"
    frame.loc[unknown, "flags"] = (frame.loc[unknown, "flags"] + ";unknown_exam_code").str.strip(";")
    return frame.reset_index(drop=True)


# --------------------------------------------------------------------------
# Hand-computed fixtures
# --------------------------------------------------------------------------


def test_chest_quartiles_from_five_facility_medians():
    row = drl.drl_table(chest_survey(), CATALOGUE, min_facilities=5, n_bootstrap=0).iloc[0]
    assert (row["exam_code"], row["exam_name"], row["quantity"]) == ("9003", "Chest p.a.", "dap_cgycm2")
    assert row["status"] == "proposed"
    assert (row["n_facilities"], row["n_exams"]) == (5, 50)
    # linear percentiles of 10, 20, 30, 40, 50 sit exactly on the medians
    assert (row["p25"], row["p50"], row["p75"]) == (20.0, 30.0, 40.0)
    assert row["qcd"] == pytest.approx((40 - 20) / (40 + 20))
    assert (row["current_drl"], row["drl_edition"]) == (12.0, "DE-2022")
    assert row["share_facilities_above_drl"] == pytest.approx(4 / 5)
    # facility with median 10 has 13 and 14 above 12; the other four all 10 exams
    assert row["share_exams_above_drl"] == pytest.approx(42 / 50)
    assert row["p75_to_drl"] == pytest.approx(40 / 12)
    assert (row["n_facilities_below_min"], row["n_exams_below_min"]) == (1, 9)


def test_facility_median_needs_ten_exams():
    survey = chest_survey()
    strict = drl.drl_table(survey, CATALOGUE, min_facilities=1, n_bootstrap=0).iloc[0]
    lenient = drl.drl_table(survey, CATALOGUE, min_per_facility=9, min_facilities=1, n_bootstrap=0).iloc[0]
    assert strict["n_facilities"] == 5
    assert lenient["n_facilities"] == 6
    # medians 10..50 and 1000: linear p75 at position 3.75 -> 40 + 0.75 * 10
    assert lenient["p75"] == pytest.approx(47.5)


def test_same_facility_id_in_two_data_sources_is_two_facilities():
    rows = facility_rows("A", "7", "9003", "dap_cgycm2", 10 + SPREAD)
    rows += facility_rows("B", "7", "9003", "dap_cgycm2", 30 + SPREAD)
    medians = drl.facility_medians(exposures_frame(rows), CATALOGUE)
    assert medians[["data_source", "facility_id", "value"]].values.tolist() == [["A", "7", 10.0], ["B", "7", 30.0]]


def test_facility_means_replace_medians_on_request():
    values = [1, 1, 1, 1, 1, 1, 1, 1, 1, 91.0]  # median 1, mean 10
    frame = exposures_frame(facility_rows("A", "1", "9003", "dap_cgycm2", values))
    assert drl.drl_table(frame, CATALOGUE, n_bootstrap=0)["p50"].iloc[0] == 1.0
    means = drl.drl_table(frame, CATALOGUE, facility_statistic="mean", n_bootstrap=0).iloc[0]
    assert means["p50"] == pytest.approx(10.0)
    assert means["facility_statistic"] == "mean"


# --------------------------------------------------------------------------
# Percentile method and QCD
# --------------------------------------------------------------------------

VECTOR_A = [2, 4, 6, 8, 10, 12, 14]
VECTOR_B = [1.8, 2, 2.1, 2.4, 2.6, 2.9, 3]


@pytest.mark.parametrize(
    ("values", "method", "expected", "digits"),
    [
        (VECTOR_A, "weibull", 0.5, 3),
        (VECTOR_A, "linear", 0.375, 3),
        (VECTOR_B, "weibull", 0.18, 2),
        (VECTOR_B, "linear", 0.146, 3),
    ],
)
def test_qcd_of_the_domain_vectors_depends_on_the_percentile_method(values, method, expected, digits):
    assert round(drl.quartiles(values, quantile_method=method)["qcd"], digits) == expected


@pytest.mark.parametrize(("method", "expected"), [("weibull", 0.5), ("linear", 0.375)])
def test_drl_table_qcd_follows_the_quantile_method(method, expected):
    rows = []
    for i, median in enumerate(VECTOR_A):
        rows += facility_rows("A", str(i), "9003", "dap_cgycm2", median + SPREAD / 10)
    row = drl.drl_table(exposures_frame(rows), CATALOGUE, quantile_method=method, min_facilities=7,
                        n_bootstrap=0).iloc[0]
    assert row["qcd"] == pytest.approx(expected)
    assert row["quantile_method"] == method


def test_unknown_quantile_method_is_refused_naming_the_option(tmp_path, capsys):
    url = store(tmp_path, chest_survey())
    status = cli.main(["drl", "--db", url, "--out", str(tmp_path / "out"), "--quantile-method", "excel"])
    err = capsys.readouterr().err
    assert status == 2
    assert "--quantile-method" in err and "weibull" in err
    assert len(err.strip().splitlines()) == 1


# --------------------------------------------------------------------------
# What is left out
# --------------------------------------------------------------------------


def test_ct_phantoms_are_never_pooled():
    rows = []
    for i, median in enumerate((8, 10, 12), start=1):  # thorax, body phantom (32 cm)
        rows += facility_rows("A", str(i), "1030", "ctdivol_mgy", median + SPREAD / 10, ctdi_phantom_cm=32.0)
        rows += facility_rows("A", str(i), "1030", "ctdivol_mgy", [25.0] * 3, ctdi_phantom_cm=16.0)
    rows += facility_rows("A", "1", "1030", "ctdivol_mgy", [10.0])  # no phantom stated: counts
    for i, median in enumerate((40, 50, 60), start=1):  # cranium, head phantom (16 cm)
        rows += facility_rows("A", str(i), "1010", "ctdivol_mgy", median + SPREAD, ctdi_phantom_cm=16.0)
        rows += facility_rows("A", str(i), "1010", "ctdivol_mgy", [20.0] * 2, ctdi_phantom_cm=32.0)
    table = drl.drl_table(exposures_frame(rows), CATALOGUE, min_facilities=1, n_bootstrap=0).set_index("exam_code")
    thorax, cranium = table.loc["1030"], table.loc["1010"]
    assert (thorax["n_excluded_phantom"], thorax["n_exams"], thorax["ctdi_phantom_cm"]) == (9, 31, 32.0)
    assert thorax["p50"] == pytest.approx(10.0)
    assert (cranium["n_excluded_phantom"], cranium["n_exams"], cranium["ctdi_phantom_cm"]) == (6, 30, 16.0)
    assert (cranium["p25"], cranium["p75"]) == (45.0, 55.0)


def test_dlp_of_other_phantom_rows_is_left_out_too():
    rows = facility_rows("A", "1", "1030", "dlp_mgycm", 300 + SPREAD, ctdi_phantom_cm=32.0)
    rows += facility_rows("A", "1", "1030", "dlp_mgycm", [900.0] * 5, ctdi_phantom_cm=16.0)
    row = drl.drl_table(exposures_frame(rows), CATALOGUE, n_bootstrap=0).iloc[0]
    assert (row["quantity"], row["p50"], row["n_excluded_phantom"]) == ("dlp_mgycm", 300.0, 5)
    assert math.isnan(row["current_drl"])  # the catalogue gives no DLP DRL for 1030


def test_unknown_ct_code_uses_the_phantom_most_rows_state():
    rows = facility_rows("A", "1", "X1", "ctdivol_mgy", 10 + SPREAD, ctdi_phantom_cm=32.0)
    rows += facility_rows("A", "1", "X1", "ctdivol_mgy", [30.0] * 4, ctdi_phantom_cm=16.0)
    row = drl.drl_table(exposures_frame(rows), CATALOGUE, n_bootstrap=0).iloc[0]
    assert (row["ctdi_phantom_cm"], row["n_excluded_phantom"], row["p50"]) == (32.0, 4, 10.0)


def test_implausible_values_are_left_out_and_counted():
    rows = facility_rows("A", "1", "9003", "dap_cgycm2", 10 + SPREAD)
    rows += facility_rows("A", "1", "9003", "dap_cgycm2", [1500.0, 1600.0], flags="unit_slip_x100:dap_cgycm2")
    rows += facility_rows("A", "1", "9003", "dap_cgycm2", [0.001], flags="out_of_range:dap_cgycm2;ambiguous_notation")
    # a flag on another column leaves the dose value in
    rows += facility_rows("A", "1", "9003", "dap_cgycm2", [10.0], flags="out_of_range:weight_kg")
    row = drl.drl_table(exposures_frame(rows), CATALOGUE, n_bootstrap=0).iloc[0]
    assert (row["n_excluded_implausible"], row["n_exams"], row["p50"]) == (3, 11, 10.0)


def test_unknown_exam_code_counts_with_an_empty_drl():
    rows = facility_rows("A", "1", "Q42", "dap_cgycm2", 50 + SPREAD, flags="unknown_exam_code")
    row = drl.drl_table(exposures_frame(rows), CATALOGUE, n_bootstrap=0).iloc[0]
    assert (row["exam_code"], row["exam_name"], row["drl_edition"], row["p50"]) == ("Q42", "", "", 50.0)
    for col in ("current_drl", "share_facilities_above_drl", "share_exams_above_drl", "p75_to_drl"):
        assert math.isnan(row[col])


def test_weight_range_keeps_standard_size_adults_and_reports_their_mean_weight():
    weights = [45, 50, 60, 70, 80, 90, 95, np.nan, 70, 70, 70, 70]
    rows = [
        {"data_source": "A", "facility_id": "1", "exam_code": "9003", "dap_cgycm2": 10.0 + i, "weight_kg": w}
        for i, w in enumerate(weights)
    ]
    rows += [
        {"data_source": "A", "facility_id": "1", "exam_code": "9201", "agd_mgy": 1.0, "weight_kg": w} for w in weights
    ]
    frame = exposures_frame(rows)
    table = drl.drl_table(frame, CATALOGUE, weight_range_kg=(50, 90), min_per_facility=1, n_bootstrap=0)
    chest = table.set_index("quantity").loc["dap_cgycm2"]
    kept = [w for w in weights if 50 <= w <= 90]
    assert (chest["n_exams"], chest["n_excluded_weight"]) == (len(kept), 3)
    assert chest["mean_weight_kg"] == pytest.approx(np.mean(kept))
    assert chest["weight_range_kg"] == "50-90"
    mammo = table.set_index("quantity").loc["agd_mgy"]  # all breast sizes: no selection
    assert (mammo["n_exams"], mammo["n_excluded_weight"]) == (12, 0)


def test_year_filter_uses_only_the_chosen_years():
    rows = facility_rows("A", "1", "9003", "dap_cgycm2", 10 + SPREAD, year=2021)
    rows += facility_rows("A", "1", "9003", "dap_cgycm2", 20 + SPREAD, year=2022)
    rows += facility_rows("A", "2", "9003", "dap_cgycm2", 30 + SPREAD, year=2023)
    frame = exposures_frame(rows)
    only_2022 = drl.drl_table(frame, CATALOGUE, years=[2022], n_bootstrap=0).iloc[0]
    assert (only_2022["n_facilities"], only_2022["p50"], only_2022["years"]) == (1, 20.0, "2022")
    both = drl.drl_table(frame, CATALOGUE, years=[2021, 2022], n_bootstrap=0).iloc[0]
    # facility 1 over both years: 6..14 and 16..24 cGy·cm², median (14 + 16) / 2
    assert (both["n_facilities"], both["n_exams"], both["p50"], both["years"]) == (1, 20, 15.0, "2021-2022")


def test_table_per_year_counts_facilities_within_each_year():
    rows = facility_rows("A", "1", "9003", "dap_cgycm2", (10 + SPREAD)[:6], year=2022)
    rows += facility_rows("A", "1", "9003", "dap_cgycm2", (10 + SPREAD)[6:], year=2023)
    rows += facility_rows("A", "2", "9003", "dap_cgycm2", 30 + SPREAD, year=2023)
    frame = exposures_frame(rows)
    overall = drl.drl_table(frame, CATALOGUE, n_bootstrap=0).iloc[0]
    assert overall["n_facilities"] == 2  # facility 1 has 10 exams over both years
    by_year = drl.drl_by_year(frame, CATALOGUE, n_bootstrap=0)
    assert list(by_year.columns[: len(drl.CONTRACT_COLUMNS)]) == list(drl.CONTRACT_COLUMNS)
    # 2022 has no facility with 10 exams: listed with its status, without a value.
    assert by_year["year"].tolist() == [2022, 2023]
    assert by_year["status"].tolist() == ["no_facility_with_enough_exams", "typical_value_only"]
    assert by_year["n_facilities"].tolist() == [0, 1]
    assert (by_year["n_facilities_below_min"].tolist(), by_year["n_exams_below_min"].tolist()) == ([1, 1], [6, 4])
    assert math.isnan(by_year["p50"].iloc[0]) and by_year["typical_value"].iloc[1] == pytest.approx(30.0)


def test_edition_chooses_the_current_drl_and_unknown_editions_are_refused():
    old = drl.drl_table(chest_survey(), CATALOGUE, edition="DE-2010", n_bootstrap=0).iloc[0]
    assert (old["current_drl"], old["drl_edition"], old["edition_requested"]) == (16.0, "DE-2010", "DE-2010")
    with pytest.raises(UserError, match="DE-2016"):
        drl.drl_table(chest_survey(), CATALOGUE, edition="DE-1999")


# --------------------------------------------------------------------------
# Bootstrap
# --------------------------------------------------------------------------


def test_bootstrap_is_deterministic_with_a_seed():
    rng = np.random.default_rng(5)
    rows = []
    for i in range(25):
        rows += facility_rows("A", str(i), "9003", "dap_cgycm2", rng.lognormal(2.5, 0.4) + SPREAD / 10)
    frame = exposures_frame(rows)
    first = drl.drl_table(frame, CATALOGUE, n_bootstrap=500, random_state=11)
    again = drl.drl_table(frame, CATALOGUE, n_bootstrap=500, random_state=11)
    other = drl.drl_table(frame, CATALOGUE, n_bootstrap=500, random_state=12)
    ci = ["p75_ci_low", "p75_ci_high", "p50_ci_low", "p50_ci_high"]
    pd.testing.assert_frame_equal(first, again)
    assert not np.array_equal(first[ci].to_numpy(), other[ci].to_numpy())
    row = first.iloc[0]
    assert row["p75_ci_low"] <= row["p75"] <= row["p75_ci_high"]
    assert row["p50_ci_low"] <= row["p50"] <= row["p50_ci_high"]
    assert "not prescribed by any authority" in row["ci_method"]
    none = drl.drl_table(frame, CATALOGUE, n_bootstrap=0).iloc[0]
    assert math.isnan(none["p75_ci_low"]) and none["ci_method"].startswith("none")


def test_bootstrap_of_an_exam_does_not_depend_on_other_exams():
    rows = []
    for i in range(16):
        rows += facility_rows("A", str(i), "9003", "dap_cgycm2", 10 + 2 * i + SPREAD)
    alone = exposures_frame(rows)
    extra = exposures_frame(facility_rows("A", "1", "9004", "dap_cgycm2", 40 + SPREAD))
    with_other = pd.concat([extra, alone], ignore_index=True)
    a = drl.drl_table(alone, CATALOGUE, n_bootstrap=300).set_index("exam_code").loc["9003"]
    b = drl.drl_table(with_other, CATALOGUE, n_bootstrap=300).set_index("exam_code").loc["9003"]
    assert (a["p75_ci_low"], a["p75_ci_high"]) == (b["p75_ci_low"], b["p75_ci_high"])


@pytest.mark.parametrize("method", ["linear", "weibull", "nearest", "midpoint", "hazen"])
def test_bootstrap_matches_the_exact_resampling_distribution(method):
    # Three facilities: all 27 equally likely resamples can be enumerated.
    values = np.array([1.0, 2.0, 7.0])
    exact: dict[float, float] = {}
    for combo in itertools.product(range(3), repeat=3):
        stat = round(float(np.quantile(values[list(combo)], 0.75, method=method)), 9)
        exact[stat] = exact.get(stat, 0.0) + 1 / 27
    draws = drl.bootstrap_distribution(values, quantiles=[0.75], n_resamples=60_000, quantile_method=method,
                                       random_state=1)[:, 0]
    seen, counts = np.unique(np.round(draws, 9), return_counts=True)
    assert set(seen) <= set(exact)
    for stat, p in exact.items():
        share = counts[seen == stat].sum() / draws.size
        assert share == pytest.approx(p, abs=4 * math.sqrt(p * (1 - p) / draws.size) + 1e-3)


def test_bootstrap_agrees_with_resampling_facilities_one_by_one():
    values = np.random.default_rng(2).lognormal(3.0, 0.5, 40)
    fast = drl.bootstrap_distribution(values, n_resamples=20_000, random_state=3)
    rng = np.random.default_rng(4)
    slow = np.quantile(values[rng.integers(0, 40, size=(20_000, 40))], [0.5, 0.75], axis=1).T
    for col in range(2):
        # two-sample Kolmogorov-Smirnov distance; 0.02 is far beyond chance at n = 20,000
        grid = np.union1d(fast[:, col], slow[:, col])
        cdf_fast = np.searchsorted(np.sort(fast[:, col]), grid, side="right") / fast.shape[0]
        cdf_slow = np.searchsorted(np.sort(slow[:, col]), grid, side="right") / slow.shape[0]
        assert np.max(np.abs(cdf_fast - cdf_slow)) < 0.02


def test_bootstrap_needs_two_facilities():
    assert np.isnan(drl.bootstrap_ci([5.0])).all()


# --------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------

facility_doses = st.lists(
    st.lists(st.floats(min_value=0.1, max_value=1000.0, allow_nan=False), min_size=1, max_size=12),
    min_size=1,
    max_size=8,
)


def survey_of(doses: list[list[float]]) -> pd.DataFrame:
    rows = []
    for i, values in enumerate(doses):
        rows += facility_rows("A", str(i), "9003", "dap_cgycm2", values)
    return exposures_frame(rows)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doses=facility_doses, seed=st.integers(0, 2**32 - 1))
def test_row_order_does_not_change_the_table(doses, seed):
    frame = survey_of(doses)
    shuffled = frame.sample(frac=1.0, random_state=np.random.RandomState(seed % 2**32)).reset_index(drop=True)
    a = drl.drl_table(frame, CATALOGUE, min_per_facility=1, min_facilities=1, n_bootstrap=50)
    b = drl.drl_table(shuffled, CATALOGUE, min_per_facility=1, min_facilities=1, n_bootstrap=50)
    pd.testing.assert_frame_equal(a, b)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doses=facility_doses, facility=st.integers(0, 7), factor=st.floats(1.0, 5.0),
       method=st.sampled_from(drl.QUANTILE_METHODS))
def test_higher_doses_at_one_facility_never_lower_the_quartiles(doses, facility, factor, method):
    higher = [list(v) for v in doses]
    k = facility % len(doses)
    higher[k] = [x * factor for x in higher[k]]
    a = drl.drl_table(survey_of(doses), CATALOGUE, min_per_facility=1, min_facilities=1, quantile_method=method,
                      n_bootstrap=0).iloc[0]
    b = drl.drl_table(survey_of(higher), CATALOGUE, min_per_facility=1, min_facilities=1, quantile_method=method,
                      n_bootstrap=0).iloc[0]
    for col in ("p25", "p50", "p75"):
        assert b[col] >= a[col] * (1 - 1e-12)


@settings(max_examples=30, deadline=None)
@given(doses=facility_doses, scale=st.floats(0.01, 100.0))
def test_a_change_of_unit_scales_the_quartiles_and_keeps_the_qcd(doses, scale):
    a = drl.drl_table(survey_of(doses), CATALOGUE, min_per_facility=1, min_facilities=1, n_bootstrap=0).iloc[0]
    b = drl.drl_table(survey_of([[x * scale for x in v] for v in doses]), CATALOGUE, min_per_facility=1,
                      min_facilities=1, n_bootstrap=0).iloc[0]
    for col in ("p25", "p50", "p75"):
        assert b[col] == pytest.approx(a[col] * scale, rel=1e-9)
    assert b["qcd"] == pytest.approx(a["qcd"], rel=1e-9, abs=1e-12)


# --------------------------------------------------------------------------
# The command, its files and an independent computation
# --------------------------------------------------------------------------


def independent_table(exposures: pd.DataFrame, min_per_facility: int, min_facilities: int, method: str,
                      by_year: bool) -> pd.DataFrame:
    """The definition, computed row group by row group with plain loops."""
    out = []
    groups = ["exam_code", "year"] if by_year else ["exam_code"]
    for key, exam_rows in exposures.groupby(groups):
        code = key[0]
        for q in DOSE_QUANTITIES:
            rows = exam_rows[exam_rows[q].notna()]
            if rows.empty:
                continue  # no value of this quantity: no row
            rows = rows[np.array([not is_implausible(f, q) for f in rows["flags"]], dtype=bool)]
            if q in ("ctdivol_mgy", "dlp_mgycm"):
                ref = CATALOGUE.reference_phantom(code)
                rows = rows[rows["ctdi_phantom_cm"].isna() | (rows["ctdi_phantom_cm"] == ref)]
            medians, n_exams, above = [], 0, 0
            drl_value, _ = CATALOGUE.current_drl(code, q)
            for _, fac in rows.groupby(["data_source", "facility_id"]):
                if len(fac) >= min_per_facility:
                    medians.append(float(np.median(fac[q].to_numpy())))
                    n_exams += len(fac)
                    above += int((fac[q] > drl_value).sum()) if drl_value is not None else 0
            row = {"exam_code": code, "quantity": q, **({"year": key[1]} if by_year else {}),
                   "n_facilities": len(medians), "n_exams": n_exams,
                   "p25": np.nan, "p50": np.nan, "p75": np.nan, "qcd": np.nan,
                   "current_drl": np.nan if drl_value is None else drl_value,
                   "share_facilities_above_drl": np.nan, "share_exams_above_drl": np.nan}
            if not medians:
                row["status"] = "no_facility_with_enough_exams" if len(rows) else "no_value_counted"
                out.append(row)
                continue
            if len(medians) >= min_facilities:
                p25, p50, p75 = np.quantile(medians, [0.25, 0.5, 0.75], method=method)
                row.update(status="proposed", p25=p25, p50=p50, p75=p75, qcd=(p75 - p25) / (p75 + p25))
            else:
                row.update(status="typical_value_only", p50=np.quantile(medians, 0.5, method=method))
            if drl_value is not None:
                row["share_facilities_above_drl"] = np.mean(np.array(medians) > drl_value)
                row["share_exams_above_drl"] = above / n_exams
            out.append(row)
    return pd.DataFrame(out)


@pytest.mark.parametrize(("method", "by_year", "min_facilities"), [("linear", False, 32), ("weibull", True, 22)])
def test_drl_csv_agrees_with_an_independent_computation(tmp_path, method, by_year, min_facilities):
    exposures = messy_survey()
    url = store(tmp_path, exposures)
    out = tmp_path / "out"
    status = cli.main(["drl", "--db", url, "--out", str(out), "--quantile-method", method, "--bootstrap", "100",
                       "--min-per-facility", "10", "--min-facilities", str(min_facilities)])
    assert status == 0
    written = pd.read_csv(out / ("drl_by_year.csv" if by_year else "drl_table.csv"), dtype={"exam_code": str})
    expected = independent_table(exposures, 10, min_facilities, method, by_year)
    keys = ["exam_code", "quantity", *(["year"] if by_year else [])]
    merged = expected.merge(written, on=keys, how="outer", suffixes=("_expected", ""), indicator=True)
    assert (merged["_merge"] == "both").all(), merged.loc[merged["_merge"] != "both", keys]
    assert {"X77", "1010", "1030", "9003", "9201"} <= set(merged["exam_code"])
    assert (merged["status"] == merged["status_expected"]).all()
    assert {"proposed", "typical_value_only"} <= set(merged["status"])
    for col in ("n_facilities", "n_exams", "p25", "p50", "p75", "qcd", "current_drl",
                "share_facilities_above_drl", "share_exams_above_drl"):
        np.testing.assert_allclose(merged[col].astype(float), merged[f"{col}_expected"].astype(float),
                                   rtol=1e-12, atol=0, equal_nan=True, err_msg=col)
    assert written["n_excluded_implausible"].sum() > 0 and written["n_excluded_phantom"].sum() > 0
    # No P75 from fewer facilities than a proposed DRL needs.
    assert written.loc[written["n_facilities"] < min_facilities, "p75"].isna().all()


def test_command_writes_tables_workbook_and_parameters(tmp_path, capsys):
    from openpyxl import load_workbook

    url = store(tmp_path, messy_survey())
    out = tmp_path / "drl"
    status = cli.main(["drl", "--db", url, "--out", str(out), "--years", "2022", "--bootstrap", "200",
                       "--seed", "4", "--weight-range", "50-90", "--edition", "DE-2022"])
    assert status == 0
    printed = capsys.readouterr().out
    assert "drl_table.csv" in printed and str(out) in printed
    table = pd.read_csv(out / "drl_table.csv", dtype={"exam_code": str})
    assert list(table.columns[:15]) == list(drl.CONTRACT_COLUMNS)
    assert set(table["quantity"]) <= set(DOSE_QUANTITIES)
    assert (table["quantile_method"] == "linear").all() and (table["min_per_facility"] == 10).all()
    assert (table["years"].astype(str) == "2022").all() and (table["edition_requested"] == "DE-2022").all()
    # 9003 has a DE-2022 DRL; the CT exams have only DE-2016 ones
    assert set(table.loc[table["current_drl"].notna(), "drl_edition"]) == {"DE-2022"}
    by_year = pd.read_csv(out / "drl_by_year.csv")
    assert list(by_year.columns[:16]) == [*drl.CONTRACT_COLUMNS, "year"] and set(by_year["year"]) == {2022}
    params = json.loads((out / "drl_parameters.json").read_text(encoding="utf-8"))["parameters"]
    assert (params["quantile_method"], params["min_per_facility"], params["years"], params["seed"]) == (
        "linear", 10, "2022", 4)
    assert (params["edition_requested"], params["weight_range_kg"]) == ("DE-2022", "50-90")

    book = load_workbook(out / "drl_tables.xlsx")
    assert "Parameters" in book.sheetnames
    sheet = book["DRL DAP (cGy·cm²)"]
    headers = [c.value for c in sheet[1]]
    assert "P75, proposed DRL [cGy·cm²]" in headers and "Exams above current DRL [%]" in headers
    assert sheet.freeze_panes == "C2"
    p75 = sheet.cell(row=2, column=headers.index("P75, proposed DRL [cGy·cm²]") + 1).value
    chest = table[(table["exam_code"] == "9003") & (table["quantity"] == "dap_cgycm2")].iloc[0]
    assert sheet.cell(row=2, column=1).value == "9003"
    assert p75 == float(f"{chest['p75']:.3g}")  # rounded for readers; the CSV keeps full precision
    stated = {r[0].value: r[1].value for r in book["Parameters"].iter_rows(min_row=2)}
    assert (stated["quantile_method"], stated["min_per_facility"], stated["years"]) == ("linear", "10", "2022")
    assert stated["edition_requested"] == "DE-2022" and "not prescribed" in stated["ci_method"]
    assert any(name.startswith("By year CTDIvol") for name in book.sheetnames)


def test_unknown_edition_is_a_one_line_error_listing_the_known_ones(tmp_path, capsys):
    url = store(tmp_path, chest_survey())
    status = cli.main(["drl", "--db", url, "--out", str(tmp_path / "o"), "--edition", "DE-1999"])
    err = capsys.readouterr().err
    assert status == 2 and "--edition" in err and "DE-2010, DE-2016, DE-2018, DE-2022" in err
    assert not (tmp_path / "o").exists()


def test_missing_database_and_empty_years_are_user_errors(tmp_path, capsys):
    status = cli.main(["drl", "--db", f"sqlite:///{tmp_path / 'none.sqlite'}", "--out", str(tmp_path / "o")])
    assert status == 2 and "none.sqlite" in capsys.readouterr().err
    assert not (tmp_path / "none.sqlite").exists()
    url = store(tmp_path, chest_survey())
    status = cli.main(["drl", "--db", url, "--out", str(tmp_path / "o"), "--years", "2019"])
    assert status == 2 and "2019" in capsys.readouterr().err


@pytest.mark.parametrize(("option", "value"), [("--bootstrap", "-1"), ("--min-per-facility", "0"),
                                                ("--weight-range", "90-50"), ("--seed", "-3")])
def test_bad_options_are_refused_by_name(tmp_path, capsys, option, value):
    url = store(tmp_path, chest_survey())
    assert cli.main(["drl", "--db", url, "--out", str(tmp_path / "o"), option, value]) == 2
    assert option in capsys.readouterr().err


def test_round_significant_rounds_for_readers():
    assert drl.round_significant(np.array([1234.5, 0.012345, 0.0, np.nan]), 3)[:3].tolist() == [1230.0, 0.0123, 0.0]


def test_format_years_joins_runs():
    assert drl.format_years([2023, 2019, 2021, 2022]) == "2019,2021-2023"


# --------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def figure_result():
    model = SurveyModel(facilities_per_source=6, exams=("9003", "1030"), exams_per_facility=2,
                        patients_per_exam=(10, 20), years=(2021, 2022))
    return drl.compute_drl(simulate_exposures(model, seed=8), CATALOGUE, n_bootstrap=100)


def test_figures_carry_units_and_markers(figure_result):
    import matplotlib.pyplot as plt

    r = figure_result
    ax = drl_figures.facility_histogram(r.facilities, r.table, "9003", "dap_cgycm2")
    assert "[cGy·cm²]" in ax.get_xlabel() and "[count]" in ax.get_ylabel()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(t.startswith("P75") for t in labels) and any("DE-2022" in t for t in labels)
    counted = r.facilities[(r.facilities["exam_code"] == "9003") & r.facilities["counted"]]
    assert sum(p.get_height() for p in ax.patches) == len(counted)
    # Counts have whole-number ticks only.
    ax.figure.canvas.draw()
    assert all(float(t).is_integer() for t in ax.get_yticks())
    # A row with a typical value only draws no P25 and P75 lines.
    typical = r.table.assign(status="typical_value_only", p25=np.nan, p75=np.nan)
    ax = drl_figures.facility_histogram(r.facilities, typical, "9003", "dap_cgycm2")
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert not any(t.startswith(("P25", "P75")) for t in labels) and any(t.startswith("Typical value") for t in labels)
    assert "facilities from" in drl_figures.describe_histogram(r.facilities, typical, "9003", "dap_cgycm2")

    values = r.counted_values("1030", "ctdivol_mgy")
    ax = drl_figures.facility_boxes(values, r.table, "1030", "ctdivol_mgy", max_facilities=5)
    assert "[mGy]" in ax.get_ylabel() and "5 of" in ax.get_title()
    ax = drl_figures.share_above_heatmap(r.by_year)
    assert ax.get_xlabel() == "Survey year" and [t.get_text() for t in ax.get_xticklabels()] == ["2021", "2022"]
    ax = drl_figures.p75_trend(r.by_year, "9003", "dap_cgycm2", CATALOGUE)
    assert "[cGy·cm²]" in ax.get_ylabel()
    plt.close("all")


def test_plotly_figures_for_interactive_reports(figure_result):
    r = figure_result
    fig = drl_figures.facility_histogram_plotly(r.facilities, r.table, "1030", "ctdivol_mgy")
    assert "[mGy]" in fig.layout.xaxis.title.text
    heat = drl_figures.share_above_heatmap_plotly(r.by_year)
    z = np.array(heat.data[0].z, dtype=float)
    ct = r.by_year[(r.by_year["exam_code"] == "1030") & (r.by_year["quantity"] == "ctdivol_mgy")]
    expected = ct.sort_values("year")["share_exams_above_drl"].to_numpy() * 100
    assert np.allclose(z[list(heat.data[0].y).index("1030 CTDIvol")], expected)
    assert "[%]" in heat.data[0].colorbar.title.text


# --------------------------------------------------------------------------
# Small numbers: typical values, statuses, intervals only where they hold
# --------------------------------------------------------------------------


def few_facilities_survey() -> pd.DataFrame:
    """A survey of 8 facilities of two data sources, as a new user's first survey:

    - 9003: 12 exams at each of 8 facilities;
    - 9004 and 9005: one facility with 12 exams (9005 also a second with 10);
    - 9006: 30 exams from 4 facilities, each under 10;
    - 9007: one facility whose 12 values are all flagged implausible.
    """
    rows = []
    for i in range(8):
        source, fac = ("Nord", str(i + 1)) if i < 4 else ("Sued", str(i - 3))
        rows += facility_rows(source, fac, "9003", "dap_cgycm2", 10 + 2 * i + np.linspace(-2, 2, 12))
    rows += facility_rows("Nord", "1", "9004", "dap_cgycm2", 40 + np.linspace(-2, 2, 12))
    rows += facility_rows("Nord", "2", "9005", "dap_cgycm2", 15 + np.linspace(-2, 2, 12))
    rows += facility_rows("Sued", "2", "9005", "dap_cgycm2", 25 + np.linspace(-2, 2, 10))
    for i, n in enumerate((9, 8, 7, 6)):
        rows += facility_rows("Sued", str(i + 1), "9006", "dap_cgycm2", 100 + np.arange(n))
    rows += facility_rows("Nord", "3", "9007", "dap_cgycm2", [5000.0] * 12, flags="unit_slip_x100:dap_cgycm2")
    return exposures_frame(rows)


def test_no_p75_from_fewer_facilities_than_a_proposed_drl_needs_and_every_exam_has_a_row():
    table = drl.drl_table(few_facilities_survey(), CATALOGUE, n_bootstrap=200).set_index("exam_code")
    assert set(table.index) == {"9003", "9004", "9005", "9006", "9007"}
    assert (table["min_facilities"] == 11).all()
    assert table["status"].to_dict() == {
        "9003": "typical_value_only", "9004": "typical_value_only", "9005": "typical_value_only",
        "9006": "no_facility_with_enough_exams", "9007": "no_value_counted"}
    assert table[["p25", "p75", "qcd", "p75_ci_low", "p75_ci_high", "p75_ci_order_low", "p75_to_drl"]].isna().all().all()
    # The typical value is the median of the facility medians (10, 12, ..., 24 -> 17).
    assert (table.loc["9003", "typical_value"], table.loc["9003", "p50"]) == (17.0, 17.0)
    assert table.loc["9005", "typical_value"] == pytest.approx(20.0)
    assert "median of 8 facilities; a proposed DRL needs 11 facilities" in table.loc["9003", "status_note"]
    # The exam whose facilities all have too few exams is listed with the counts behind it.
    row = table.loc["9006"]
    assert (row["n_facilities"], row["n_exams"], row["n_facilities_below_min"], row["n_exams_below_min"]) == (0, 0, 4, 30)
    assert (row["n_values"], table.loc["9007", "n_excluded_implausible"]) == (30, 12)
    summary = drl.status_summary(table.reset_index())
    assert "Of 5 exam codes and dose quantities in the survey, none has a proposed DRL (P75)." in summary
    assert "3 have only a typical value (the median of 1 to 8 facilities)" in summary
    assert "1 has no facility with 10 exams (4 facilities with fewer, left out)" in summary
    lenient = drl.drl_table(few_facilities_survey(), CATALOGUE, min_facilities=8, n_bootstrap=0).set_index("exam_code")
    assert lenient.loc["9003", "status"] == "proposed" and lenient.loc["9003", "p75"] == pytest.approx(20.5)


def test_a_survey_without_a_proposed_drl_says_why():
    table = drl.drl_table(few_facilities_survey(), CATALOGUE, n_bootstrap=0)
    reason = drl.empty_table_reason(table, {"min_per_facility": 10, "min_facilities": 11})
    assert reason.startswith("no exam code has the 11 facilities with at least 10 exams that a proposed DRL needs "
                             "(at most 8, exam 9003)")
    assert drl.pick_exam(table) == ("9003", "dap_cgycm2")


def lognormal_survey(n_facilities: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for i, level in enumerate(rng.lognormal(2.5, 0.35, n_facilities)):
        rows += facility_rows("A", str(i), "9003", "dap_cgycm2", level + SPREAD / 100)
    return exposures_frame(rows)


@pytest.mark.parametrize("n", [10, 11, 15, 16, 40])
def test_intervals_are_given_only_where_their_coverage_holds(n):
    row = drl.drl_table(lognormal_survey(n), CATALOGUE, min_facilities=10, n_bootstrap=300).iloc[0]
    medians = np.sort(drl.facility_medians(lognormal_survey(n), CATALOGUE)["value"].to_numpy())
    assert row["status"] == "proposed"
    # Distribution-free: two of the facility medians, from 11 facilities on, with coverage >= 95 %.
    if n < 11:
        assert np.isnan([row["p75_ci_order_low"], row["p75_ci_order_high"], row["p75_ci_order_coverage"]]).all()
    else:
        assert row["p75_ci_order_low"] in medians and row["p75_ci_order_high"] in medians
        assert row["p75_ci_order_low"] <= row["p75"] <= row["p75_ci_order_high"]
        assert 0.95 <= row["p75_ci_order_coverage"] < 0.99
    # The bootstrap interval of P75 only from 16 facilities on (below, it covers under 90 % at some sizes).
    assert np.isnan(row["p75_ci_low"]) == (n < 16)
    assert np.isnan(row["p50_ci_low"]) == (n < 8)


def test_order_statistic_interval_has_the_binomial_coverage_it_states():
    from scipy.stats import binom

    from drl_analysis.stats.quantiles import order_statistic_ranks

    for n in range(11, 60):
        r, s, cover = order_statistic_ranks(n, 0.75)
        assert cover == pytest.approx(binom.cdf(s - 1, n, 0.75) - binom.cdf(r - 1, n, 0.75))
        assert cover >= 0.95
        # No pair of ranks closer together reaches 95 %.
        assert all(binom.cdf(b - 1, n, 0.75) - binom.cdf(a - 1, n, 0.75) < 0.95
                   for a in range(1, n + 1) for b in range(a + 1, min(a + s - r, n + 1)))
    for n in range(2, 11):
        assert np.isnan(drl.order_statistic_ci(np.arange(n, dtype=float))[0])


def test_intervals_cover_the_true_p75_in_a_small_simulation():
    # The benchmark measures this with 4,000 surveys per size; 300 surveys of 20 facilities here.
    rng = np.random.default_rng(1)
    true = math.exp(0.35 * 0.6744897501960817)
    hits = {"bootstrap": 0, "order": 0}
    for i in range(300):
        values = rng.lognormal(0, 0.35, 20)
        lo, hi = drl.bootstrap_ci(values, quantiles=[0.75], n_resamples=1000, random_state=i)[0]
        hits["bootstrap"] += lo <= true <= hi
        lo, hi, _ = drl.order_statistic_ci(values)
        hits["order"] += lo <= true <= hi
    assert hits["order"] / 300 >= 0.93 and hits["bootstrap"] / 300 >= 0.88


def test_min_facilities_option_is_written_and_checked(tmp_path, capsys):
    url = store(tmp_path, few_facilities_survey())
    assert cli.main(["drl", "--db", url, "--out", str(tmp_path / "o"), "--min-facilities", "5"]) == 0
    printed = capsys.readouterr().out
    assert "5 facilities per proposed DRL" in printed and "1 has a proposed DRL (P75), resting on 8 facilities" in printed
    table = pd.read_csv(tmp_path / "o" / "drl_table.csv", dtype={"exam_code": str})
    assert (table["min_facilities"] == 5).all() and table.loc[table["exam_code"] == "9003", "status"].item() == "proposed"
    params = json.loads((tmp_path / "o" / "drl_parameters.json").read_text(encoding="utf-8"))
    assert params["parameters"]["min_facilities"] == 5 and params["status_counts"]["proposed"] == 1
    assert cli.main(["drl", "--db", url, "--out", str(tmp_path / "p"), "--min-facilities", "0"]) == 2
    assert "--min-facilities" in capsys.readouterr().err

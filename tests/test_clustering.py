"""Clustering of exam codes and data sources on generated surveys with three planted groups."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from drl_analysis.analysis.clustering import cluster_data_sources, cluster_exam_codes, cluster_features, dose_to_drl
from drl_analysis.core.catalogue import load_catalogue
from drl_analysis.core.errors import UserError
from drl_analysis.stats.quantiles import qcd_of_values as qcd
from drl_analysis.synthetic.surveys import SurveyModel, simulate_exposures

CATALOGUE = load_catalogue()
YEARS = (2021, 2022, 2023)
#: Twelve exam codes of every modality, dealt round-robin into three groups.
EXAMS = ("1010", "1030", "1041", "1060", "9003", "9006", "9008", "9010", "9101", "9102", "9104", "9201")
EXAM_GROUP = {code: i % 3 for i, code in enumerate(EXAMS)}
#: Practice well below the DRL, at it, and drifting above it year by year.
GROUP_LEVEL = (0.45, 1.0, {2021: 1.5, 2022: 2.1, 2023: 3.0})
SOURCES = tuple(f"Aerztliche Stelle {i:02d}" for i in range(1, 13))
SOURCE_GROUP = {source: i % 3 for i, source in enumerate(SOURCES)}
#: Medical bodies whose facilities are alike, typical, and widely scattered.
GROUP_SIGMA = (0.1, 0.45, 0.9)


@pytest.fixture(scope="module")
def survey_with_exam_groups() -> pd.DataFrame:
    model = SurveyModel(years=YEARS, exams=EXAMS, exam_level={c: GROUP_LEVEL[g] for c, g in EXAM_GROUP.items()})
    return simulate_exposures(model, seed=1)


@pytest.fixture(scope="module")
def survey_with_source_groups() -> pd.DataFrame:
    model = SurveyModel(
        sources=SOURCES, years=YEARS, exams=EXAMS, facility_sigma={s: GROUP_SIGMA[g] for s, g in SOURCE_GROUP.items()}
    )
    return simulate_exposures(model, seed=2)


def test_exam_codes_from_three_planted_groups_are_recovered(survey_with_exam_groups):
    table, result = cluster_exam_codes(survey_with_exam_groups, CATALOGUE, seed=0)
    assert result.k_chosen_by == "silhouette"
    truth = table["exam_code"].map(EXAM_GROUP)
    assert adjusted_rand_score(truth, table["cluster"].astype(int)) >= 0.9
    assert adjusted_rand_score(truth, table["ward_cluster"].astype(int)) >= 0.9


def test_exam_cluster_table_names_the_exams_and_holds_the_features(survey_with_exam_groups):
    table, result = cluster_exam_codes(survey_with_exam_groups, CATALOGUE, seed=0)
    assert list(table.columns[:3]) == ["exam_code", "exam_name", "cluster"]
    features = [f"median_dose_to_drl_{y}" for y in YEARS] + [f"qcd_dose_to_drl_{y}" for y in YEARS]
    assert list(table.columns[3:9]) == features == result.features
    assert table.set_index("exam_code").loc["9003", "exam_name"] == "Chest p.a."
    # The feature is the median of dose/DRL, computed here independently.
    ex = survey_with_exam_groups
    chest = ex[(ex["exam_code"] == "9003") & (ex["year"] == 2022)]["dap_cgycm2"] / 12.0  # DRL DE-2022
    assert table.set_index("exam_code").loc["9003", "median_dose_to_drl_2022"] == pytest.approx(chest.median())


def test_exam_cluster_centres_are_in_original_units_and_name_their_drivers(survey_with_exam_groups):
    table, result = cluster_exam_codes(survey_with_exam_groups, CATALOGUE, seed=0)
    drifting = table.loc[table["exam_code"].map(EXAM_GROUP) == 2, "cluster"].iloc[0]
    centre = result.centres.set_index("cluster").loc[drifting]
    members = table[table["cluster"] == drifting]
    # Medians are clustered on a log scale: their centre is the geometric mean.
    expected = np.exp(np.log(members["median_dose_to_drl_2023"]).mean())
    assert centre["median_dose_to_drl_2023"] == pytest.approx(expected)
    assert centre["median_dose_to_drl_2023"] > 1.5 * centre["median_dose_to_drl_2021"]
    assert "median dose/DRL" in centre["drivers"] and "high" in centre["drivers"]


def test_qcd_that_differs_only_by_chance_is_weighted_down(survey_with_exam_groups):
    # Every exam is generated equally dispersed: its QCDs carry sampling noise only.
    _, result = cluster_exam_codes(survey_with_exam_groups, CATALOGUE, seed=0)
    weights = result.weights.set_index("feature")
    assert (weights.loc[[f"median_dose_to_drl_{y}" for y in YEARS], "reliability"] > 0.9).all()
    assert (weights.loc[[f"qcd_dose_to_drl_{y}" for y in YEARS], "reliability"] < 0.5).all()


def test_data_sources_from_three_planted_dispersions_are_recovered(survey_with_source_groups):
    table, result = cluster_data_sources(survey_with_source_groups, CATALOGUE, seed=0)
    assert list(table.columns[:2]) == ["data_source", "cluster"]
    assert list(table.columns[2:5]) == [f"qcd_dose_to_drl_{y}" for y in YEARS]
    truth = table["data_source"].map(SOURCE_GROUP)
    assert adjusted_rand_score(truth, table["cluster"].astype(int)) >= 0.9
    # The widely scattered bodies form the cluster of the highest QCD.
    scattered = table.loc[truth == 2, "qcd_dose_to_drl_2022"].min()
    alike = table.loc[truth == 0, "qcd_dose_to_drl_2022"].max()
    assert scattered > alike


def test_source_qcd_is_the_qcd_of_all_its_dose_to_drl_values_of_a_year(survey_with_source_groups):
    table, _ = cluster_data_sources(survey_with_source_groups, CATALOGUE, seed=0)
    ratios = dose_to_drl(survey_with_source_groups, CATALOGUE)
    one = ratios[(ratios["data_source"] == SOURCES[0]) & (ratios["year"] == 2021)]["dose_to_drl"]
    q1, q3 = np.quantile(one, [0.25, 0.75])
    expected = (q3 - q1) / (q3 + q1)
    assert table.set_index("data_source").loc[SOURCES[0], "qcd_dose_to_drl_2021"] == pytest.approx(expected)


def test_same_seed_gives_identical_clusters(survey_with_source_groups):
    first, _ = cluster_exam_codes(survey_with_source_groups, CATALOGUE, seed=7)
    second, _ = cluster_exam_codes(survey_with_source_groups, CATALOGUE, seed=7)
    pd.testing.assert_frame_equal(first, second)


def test_qcd_matches_the_domain_test_vectors():
    # domain notes: QCD with numpy's default "linear" quartiles (Excel QUARTILE.INC).
    assert qcd(np.array([2, 4, 6, 8, 10, 12, 14])) == pytest.approx(0.375)
    assert qcd(np.array([1.8, 2, 2.1, 2.4, 2.6, 2.9, 3])) == pytest.approx(0.146, abs=5e-4)


def three_groups(n_per_group: int = 4, seed: int = 0) -> pd.DataFrame:
    """Items in three well separated groups on two features."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]])
    rows = np.vstack([c + rng.normal(0, 0.3, (n_per_group, 2)) for c in centres])
    index = [f"item {i:02d}" for i in range(len(rows))]
    return pd.DataFrame(rows, index=index, columns=["a", "b"])


def test_missing_feature_is_filled_with_the_items_own_kind_and_counted():
    features = three_groups()
    features["c"] = features["b"] + 0.1
    features.loc["item 05", "c"] = np.nan
    result = cluster_features(features, groups={"a": "x", "b": "y", "c": "y"}, seed=0)
    row = result.table.loc["item 05"]
    assert row["n_imputed"] == 1 and row["imputed"] == "c"
    assert not pd.isna(row["cluster"])
    assert np.isnan(row["c"])  # the table shows the measured values, not the filled ones
    assert any("filled" in note for note in result.notes)


def test_item_with_too_few_features_is_left_out_and_said_so():
    features = three_groups()
    features.loc["item 03", ["a", "b"]] = np.nan
    result = cluster_features(features, seed=0)
    assert pd.isna(result.table.loc["item 03", "cluster"])
    assert result.table.loc["item 03", "note"] == "left out: 0 of 2 features present"
    assert "item 03" not in result.items


def test_feature_that_is_only_noise_is_weighted_down_and_groups_survive():
    features = three_groups(n_per_group=10, seed=1)
    rng = np.random.default_rng(4)
    features["noise"] = rng.normal(0, 2.0, len(features))
    noise_sd = pd.DataFrame({"a": 0.3, "b": 0.3, "noise": 2.0}, index=features.index)
    weighted = cluster_features(features, noise_sd=noise_sd, seed=0)
    weights = weighted.weights.set_index("feature")
    assert weights.loc["noise", "reliability"] < 0.5
    assert weights.loc["a", "reliability"] > 0.9
    truth = np.repeat([0, 1, 2], 10)
    unweighted = cluster_features(features, seed=0)
    ari_weighted = adjusted_rand_score(truth, weighted.table["cluster"].astype(int))
    ari_unweighted = adjusted_rand_score(truth, unweighted.table["cluster"].astype(int))
    assert ari_weighted >= 0.9 > ari_unweighted


def test_given_k_is_used_and_a_k_above_the_items_is_capped_with_a_note():
    features = three_groups(n_per_group=2)
    assert cluster_features(features, k=3, seed=0).k_chosen_by == "given"
    capped = cluster_features(features, k=9, seed=0)
    assert capped.k == 5 and capped.k_chosen_by == "given, capped"
    assert any("k = 9" in note for note in capped.notes)


@pytest.mark.parametrize("k", [1, 0, -2])
def test_k_below_two_is_a_user_error(k):
    with pytest.raises(UserError, match="k"):
        cluster_features(three_groups(), k=k)


def test_too_few_items_are_not_clustered_and_said_so():
    result = cluster_features(three_groups().iloc[:2])
    assert result.k is None and result.table["cluster"].isna().all()
    assert any("too few" in note for note in result.notes)


def test_cluster_labels_do_not_depend_on_the_order_kmeans_found_them():
    features = three_groups()
    result = cluster_features(features, seed=0)
    # Cluster 1 holds the first item, cluster 2 the first item not in cluster 1, ...
    labels = result.table["cluster"].astype(int).tolist()
    assert labels == [1] * 4 + [2] * 4 + [3] * 4

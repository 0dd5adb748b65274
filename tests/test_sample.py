"""The bundled sample survey reads back as its ground truth says."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from drl_analysis.core.columns import NUMERIC_COLUMNS
from drl_analysis.core.paths import SAMPLE_DIR
from drl_analysis.ingest.batch import ingest_paths
from drl_analysis.store.database import load_exposures, load_table

KEY = ["source_file", "sheet", "source_row"]


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('sample') / 'drl.sqlite'}"
    summary = ingest_paths([SAMPLE_DIR / "surveys"], url, progress=False)
    return url, summary


def _truth() -> pd.DataFrame:
    truth = pd.read_csv(SAMPLE_DIR / "truth" / "exposures.csv.gz", dtype={"facility_id": str, "exam_code": str})
    truth["sheet"] = truth["sheet"].fillna("")
    return truth


def test_every_sample_exposure_is_stored_with_every_value_right(sample_db):
    url, _ = sample_db
    truth, got = _truth(), load_exposures(url)
    merged = truth.merge(got, on=KEY, how="outer", suffixes=("_true", "_stored"), indicator=True)
    assert (merged["_merge"] == "right_only").sum() == 0, "a row was stored that is no exposure"
    both = merged[merged["_merge"] == "both"]
    right = np.ones(len(both), dtype=bool)
    for column in NUMERIC_COLUMNS:
        a = both[f"{column}_true"].to_numpy(float)
        b = both[f"{column}_stored"].to_numpy(float)
        right &= (np.isnan(a) & np.isnan(b)) | np.isclose(a, b, rtol=1e-9, atol=0)
    for column in ["facility_id", "exam_code", "data_source", "year"]:
        right &= both[f"{column}_true"].astype(str).to_numpy() == both[f"{column}_stored"].astype(str).to_numpy()
    # No stored row may carry a wrong value, and at least 99.5 % of exposures are stored right.
    assert right.all(), both.loc[~right, KEY].head().to_string()
    assert right.sum() / len(truth) >= 0.995


def test_no_sample_non_exposure_row_is_stored(sample_db):
    url, _ = sample_db
    others = pd.read_csv(SAMPLE_DIR / "truth" / "non_exposures.csv").fillna({"sheet": ""})
    got = load_exposures(url)
    hit = others.merge(got, on=KEY, how="inner")
    assert hit.empty
    rejected = load_table(url, "rejections").fillna({"sheet": ""})
    assert set(map(tuple, others[KEY].values)) <= set(map(tuple, rejected[KEY].values))


def test_sample_rows_read_equal_stored_plus_rejected(sample_db):
    url, summary = sample_db
    t = summary.totals()
    assert t["files_failed"] == 0
    assert t["rows_read"] == t["rows_stored"] + t["rows_rejected"]
    sheets = load_table(url, "sheets")
    data = sheets[sheets["status"] == "data"]
    assert (data["rows_read"] == data["rows_stored"] + data["rows_rejected"]).all()
    assert "Rows: %d read = %d stored + %d rejected" % (t["rows_read"], t["rows_stored"], t["rows_rejected"]) in summary.text()


def test_planted_unit_slips_in_the_sample_are_flagged(sample_db):
    url, _ = sample_db
    truth = _truth()
    truth["expected_flags"] = truth["expected_flags"].fillna("")
    planted = truth[truth["expected_flags"] != ""]
    assert len(planted) >= 5
    got = load_exposures(url).set_index(KEY)
    clean = truth[truth["expected_flags"] == ""]
    group = ["source_file", "facility_id", "exam_code"]
    for row in planted.itertuples(index=False):
        column = row.expected_flags.split(":")[1]
        same = clean[(clean[group] == pd.Series(row._asdict())[group]).all(axis=1)][column].dropna()
        value = getattr(row, column)
        flags = got.loc[(row.source_file, row.sheet, row.source_row), "flags"]
        # A slip that leaves the value inside its facility's spread (a x10 slip
        # of an unusually low dose) cannot be told from a real dose.
        if len(same) >= 5 and abs(np.log10(value / same.median())) >= 0.9:
            assert "unit_slip" in flags, (row.source_file, row.source_row, value, same.median())
    planted_keys = [tuple(k) for k in planted[KEY].values]
    assert got.loc[planted_keys, "flags"].str.contains("unit_slip").mean() >= 0.8
    assert got.drop(index=planted_keys)["flags"].str.contains("unit_slip").mean() < 0.001

"""The fast paths of the ingest read, count and store exactly what the general ones do.

The ingest reads common cells ("1234", "12,5") and computes group medians
without the general machinery; each shortcut is checked here against the
general reader it stands in for, over many cells. (The whole ingest is
compared with a reference commit table by table by
``benchmarks/check_ingest_equivalence.py``.)
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from drl_analysis.core.numbers import _shown_by_text, notation_votes
from drl_analysis.ingest.plausibility import _group_medians
from drl_analysis.ingest.repair import _parse_text_number, _parse_texts
from drl_analysis.store.database import SubmissionRecord, make_engine, prepare_rows, save_submission


def _texts(seed: int) -> list[str]:
    """Number texts as surveys write them: plain, with separators, ambiguous, with units, markers."""
    rng = np.random.default_rng(seed)
    out = ["", " ", "0", "00", "0,123", "0.5", "1.234", "1,234", "12.345", "1234,567", "123,4567", "007,5",
           "1.234,5", "1,234.5", "12,5 mGy", " 12 ", "-3", "n.a.", "k.A.", "?", "abc", "1,2,3", "1 234",
           "１２", "²", "1e5", "12.", ".5", ",5"]
    for _ in range(400):
        whole = str(int(rng.integers(0, 10 ** int(rng.integers(1, 6)))))
        frac = str(int(rng.integers(0, 10 ** int(rng.integers(1, 5))))).zfill(int(rng.integers(1, 5)))
        out += [whole, whole + "," + frac, whole + "." + frac]
    return list(dict.fromkeys(out))


@pytest.mark.parametrize("in_workbook", [True, False])
@pytest.mark.parametrize("notation", [None, "de", "en"])
@pytest.mark.parametrize("family,factor", [("dap", 1.0), ("dose", 0.001), ("dlp", 10.0)])
def test_plain_number_texts_read_as_the_full_reader_reads_them(in_workbook, notation, family, factor):
    texts = _texts(1)
    values, rules, alts = _parse_texts(texts, family, factor, notation, in_workbook)
    expected_alts = []
    for k, text in enumerate(texts):
        full = (_parse_text_number(text, family, factor, notation, in_workbook) if text.strip()
                else None)
        want_value = math.nan if full is None else full.value
        want_rule = None if full is None else full.rule
        assert (values[k] == want_value or (math.isnan(values[k]) and math.isnan(want_value))), text
        assert rules[k] == want_rule, text
        if full is not None and full.ambiguous_alt is not None:
            expected_alts.append((k, full.ambiguous_alt))
    assert alts == expected_alts


def test_notation_votes_count_what_each_text_shows():
    texts = _texts(2)
    shown = [_shown_by_text(t) for t in texts]
    assert notation_votes(texts) == (shown.count("de"), shown.count("en"))
    assert shown.count("de") > 0 and shown.count("en") > 0


def test_group_medians_are_those_of_pandas():
    rng = np.random.default_rng(3)
    group = rng.integers(0, 40, size=2000)
    values = rng.lognormal(3, 1, size=2000)
    values[rng.random(2000) < 0.2] = np.nan
    medians, counts = _group_medians(group, 45, values)
    stats = pd.Series(values).groupby(group).agg(["median", "count"]).reindex(range(45))
    np.testing.assert_array_equal(counts, stats["count"].fillna(0).to_numpy())
    np.testing.assert_array_equal(medians, stats["median"].to_numpy())


def _record(sha: str) -> SubmissionRecord:
    exposures = pd.DataFrame({
        "sheet": ["Exposure data"] * 3, "source_row": [12, 13, 14], "data_source": ["Aerztliche Stelle Nord"] * 3,
        "year": pd.array([2023, 2023, 2023], dtype="Int64"), "facility_id": ["1", "1", "2"],
        "exam_code": ["1010", "1010", "9003"], "dap_cgycm2": [np.nan, np.nan, 12.5], "agd_mgy": [np.nan] * 3,
        "dlp_mgycm": [850.0, 910.0, np.nan], "ctdivol_mgy": [55.0, 61.5, np.nan], "ctdi_phantom_cm": [16.0, 16.0, np.nan],
        "weight_kg": [80.0, np.nan, 71.0], "age_years": [np.nan, 44.0, 63.0], "flags": ["", "", "out_of_range:x"],
    })
    repairs = pd.DataFrame({"sheet": ["Exposure data"] * 2, "source_row": [None, 13], "column": ["dlp_mgycm"] * 2,
                            "before": ["mGy x dm", "91,0"], "after": ["10 x", "910"],
                            "rule": ["unit_conversion", "decimal_comma"]})
    return SubmissionRecord(
        source_file=f"{sha[:4]}.xlsx", sha256=sha, data_source="Aerztliche Stelle Nord", year=2023,
        exposures=exposures, repairs=repairs, rows_read=4,
        sheets=[{"sheet": "Exposure data", "status": "data", "header_row": 11, "rows_read": 4, "rows_stored": 3,
                 "rows_rejected": 1}, {"sheet": "IDs", "status": "skipped", "reason": "template sheet"}],
        rejections=[{"sheet": "Exposure data", "source_row": 15, "reason": "empty row", "raw": "[]"}],
    )


def test_a_submission_stored_through_an_open_connection_is_stored_as_through_the_engine(tmp_path):
    def stored(url, through_connection):
        engine = make_engine(url)
        if through_connection:
            with engine.connect() as conn:
                save_submission(conn, _record("a" * 64))
        else:
            save_submission(engine, _record("a" * 64))
        with engine.connect() as conn:
            out = {t: conn.execute(sa.text(f"SELECT * FROM {t} ORDER BY id")).fetchall()
                   for t in ("sheets", "exposures", "repairs", "rejections")}
            out["submissions"] = conn.execute(sa.text(
                "SELECT source_file, sha256, data_source, year, status, message, n_sheets, rows_read, rows_stored, "
                "rows_rejected, n_repairs, n_flagged FROM submissions")).fetchall()
        engine.dispose()
        return out

    a = stored(f"sqlite:///{tmp_path / 'a.sqlite'}", False)
    b = stored(f"sqlite:///{tmp_path / 'b.sqlite'}", True)
    assert a == b
    assert a["submissions"] == [("aaaa.xlsx", "a" * 64, "Aerztliche Stelle Nord", 2023, "stored", None, 2, 4, 3, 1, 2, 0)]
    assert [r[3] for r in a["repairs"]] == [None, 13]  # the unit conversion names no row


def test_prepared_rows_hold_plain_python_values():
    rows = prepare_rows(_record("b" * 64), "postgresql")
    assert rows["exposures"][0][:6] == ("Exposure data", 12, "Aerztliche Stelle Nord", 2023, "1", "1010")
    assert rows["exposures"][0][6] is None  # NaN is NULL for any database
    assert {type(v) for row in rows["exposures"] for v in row} <= {str, int, float, type(None)}
    assert rows["sheets"][1][3] is None  # a skipped sheet has no header row

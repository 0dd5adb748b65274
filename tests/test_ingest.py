"""Ingest end to end: accuracy on generated damaged surveys, sheets, the row
accounting, idempotence, failure isolation and the command line."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import SOURCE, survey_rows, template_row

import drl_analysis.ingest.batch as ingest_module
import drl_analysis.ingest.submission as submission_module
from drl_analysis import cli
from drl_analysis.core.columns import NUMERIC_COLUMNS
from drl_analysis.ingest.template import TEMPLATE_HEADER
from drl_analysis.store.database import load_exposures, load_table
from drl_analysis.synthetic.surveys import SurveyModel, simulate_exposures, write_survey

KEY = ["source_file", "sheet", "source_row"]


def _compare_with_truth(stored: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Stored rows joined with the truth, with ``right`` true where every value matches.

    Numbers match within rtol 1e-9 (NaN matches NaN), text exactly.
    """
    truth = truth.assign(sheet=truth["sheet"].fillna(""))
    merged = truth.merge(stored, on=KEY, how="outer", suffixes=("_true", "_stored"), indicator=True)
    right = np.ones(len(merged), dtype=bool)
    for column in NUMERIC_COLUMNS:
        a = merged[f"{column}_true"].to_numpy(float)
        b = merged[f"{column}_stored"].to_numpy(float)
        right &= (np.isnan(a) & np.isnan(b)) | np.isclose(a, b, rtol=1e-9, atol=0)
    for column in ("facility_id", "exam_code", "data_source", "year"):
        right &= merged[f"{column}_true"].astype(str).to_numpy() == merged[f"{column}_stored"].astype(str).to_numpy()
    merged["right"] = right & (merged["_merge"] == "both").to_numpy()
    return merged


@pytest.fixture(scope="module")
def damaged_survey(damaged_national_survey, tmp_path_factory):
    """The damaged national survey ingested into SQLite: (GeneratedSurvey, db URL, IngestSummary)."""
    db = f"sqlite:///{tmp_path_factory.mktemp('damaged_survey') / 'drl.sqlite'}"
    summary = ingest_module.ingest_paths([damaged_national_survey.files[0].parent], db, progress=False)
    return damaged_national_survey, db, summary


@pytest.mark.slow
def test_damaged_survey_is_stored_with_every_value_right(damaged_survey):
    survey, db, summary = damaged_survey
    assert summary.totals()["files_failed"] == 0
    merged = _compare_with_truth(load_exposures(db), survey.truth)
    stored_not_exposure = merged[merged["_merge"] == "right_only"]
    assert stored_not_exposure.empty, stored_not_exposure[KEY].head().to_string()
    both = merged[merged["_merge"] == "both"]
    wrong = both[~both["right"]]
    assert wrong.empty, wrong[KEY].head().to_string()
    assert both["right"].sum() / len(survey.truth) >= 0.995


@pytest.mark.slow
def test_damaged_survey_stores_no_non_exposure_row(damaged_survey):
    survey, db, _ = damaged_survey
    others = survey.non_exposures.fillna({"sheet": ""})
    assert {"empty row", "note row", "repeated header row", "total or summary row"} <= set(others["kind"])
    assert others.merge(load_exposures(db), on=KEY).empty
    # Each is rejected, and for the reason its kind names.
    rejected = load_table(db, "rejections").fillna({"sheet": ""})
    hit = others.merge(rejected, on=KEY, how="left")
    # A note typed into a merged facility-ID range is blanked by the merge:
    # the file holds an empty row there.
    as_kind = (hit["reason"] == hit["kind"]) | ((hit["kind"] == "note row") & (hit["reason"] == "empty row"))
    assert as_kind.all(), hit.loc[~as_kind, [*KEY, "kind", "reason"]].head()


@pytest.mark.slow
def test_damaged_survey_unit_slips_flagged_and_clean_rows_not(damaged_survey):
    survey, db, _ = damaged_survey
    merged = _compare_with_truth(load_exposures(db), survey.truth)
    merged = merged[merged["_merge"] == "both"]
    planted = merged["expected_flags"].fillna("") != ""
    flagged = merged["flags"].str.contains("unit_slip")
    assert planted.sum() >= 10
    assert flagged[planted].mean() >= 0.95
    assert flagged[~planted].mean() < 0.001
    # The flag names the column the slip is in.
    for expected, flags in merged.loc[planted & flagged, ["expected_flags", "flags"]].itertuples(index=False):
        column = expected.split(":")[1]
        assert any(t.startswith("unit_slip") and t.endswith(":" + column) for t in flags.split(";"))


@pytest.mark.parametrize("seed", [1, 3])
def test_heavily_damaged_small_survey_stores_no_wrong_value(tmp_path, ingest, seed):
    exposures = simulate_exposures(SurveyModel(facilities_per_source=4, years=(2023,)), seed=seed)
    survey = write_survey(tmp_path / "in", exposures, seed=seed, damage=2.5)
    run = ingest(tmp_path / "in")
    merged = _compare_with_truth(run.exposures, survey.truth)
    assert (merged["_merge"] != "right_only").all()
    both = merged[merged["_merge"] == "both"]
    assert both["right"].all(), both.loc[~both["right"], KEY].head().to_string()
    assert len(both) / len(survey.truth) >= 0.995
    t = run.summary.totals()
    assert t["rows_read"] == t["rows_stored"] + t["rows_rejected"]


# --- sheets -------------------------------------------------------------------


def test_data_split_over_sheets_by_modality(write_xlsx, ingest):
    ct = survey_rows([template_row(1, 1030, "", "", 350.0, 9.5, 32), template_row(1, 1010, "", "", 900.0, 55.0, 16)])
    rad = survey_rows([template_row(1, 9003, 10.0), template_row(2, 9010, 150.0), template_row(2, 9012, 20.0)])
    run = ingest(write_xlsx("AeSt_Nord_2023.xlsx", {"CT": ct, "Radiographie": rad}))
    stored = run.exposures
    assert stored.groupby("sheet")["source_row"].apply(list).to_dict() == {"CT": [12, 13], "Radiographie": [12, 13, 14]}
    assert stored.loc[stored["sheet"] == "Radiographie", "dap_cgycm2"].tolist() == [10.0, 150.0, 20.0]
    assert run.summary.totals()["sheets_with_data"] == 2


def test_continuation_sheet_without_header_read_with_the_columns_before(write_xlsx, ingest):
    header = ["Untersuchung", "ID", "DFP [Gy x cm²]", "Gewicht"]  # reordered, DAP in Gy·cm²
    first = survey_rows([[9003, 1, 0.10, 70.0], [9003, 1, 0.12, 80.0]], header=header)
    second = [[9003, 2, 0.2, 90.0], [9010, 2, 1.5, ""]]
    run = ingest(write_xlsx("AeSt_Nord_2023.xlsx", {"Daten": first, "Daten (2)": second}))
    part = run.exposures[run.exposures["sheet"] == "Daten (2)"]
    assert part["source_row"].tolist() == [1, 2]
    assert part["facility_id"].tolist() == ["2", "2"]
    assert part["dap_cgycm2"].tolist() == pytest.approx([20.0, 150.0])
    assert part["weight_kg"].iloc[0] == 90.0
    assert (part["data_source"] == SOURCE).all() and (part["year"] == 2023).all()
    assert "sheet 'Daten (2)' has no header; read with the columns of the sheet before" in run.summary.files[0].notes


def test_continuation_sheet_whose_repeated_header_lost_its_id_to_a_merged_range(write_xlsx, ingest):
    first = survey_rows([template_row(1, 9003, 10.0), template_row(2, 9003, 11.0)])
    # A facility ID merged over rows 1-4 blanks the ID cell of the header repeated in row 3.
    repeated = ["", *TEMPLATE_HEADER[1:]]
    second = [template_row(7, 9003, 12.0), template_row("", 9003, 13.0), repeated, template_row("", 9003, 14.0)]
    path = write_xlsx("AeSt_Nord_2023.xlsx", {"Exposure data": first, "Exposure data (2)": second},
                      merged={"Exposure data (2)": ["A1:A4"]})
    run = ingest(path)
    part = run.exposures[run.exposures["sheet"] == "Exposure data (2)"]
    assert part["source_row"].tolist() == [1, 2, 4]
    assert part["facility_id"].tolist() == ["7", "7", "7"]
    assert part["dap_cgycm2"].tolist() == [12.0, 13.0, 14.0]
    rejected = run.rejections
    assert rejected[["sheet", "source_row", "reason"]].values.tolist() == [["Exposure data (2)", 3, "repeated header row"]]
    assert "sheet 'Exposure data (2)' starts with data; its header row 3 repeats inside" in run.summary.files[0].notes


def test_template_sheets_are_skipped_and_said_so(write_xlsx, ingest):
    sheets = {
        "Exposure data": survey_rows([template_row(1, 9003, 10.0)]),
        "IDs": [["ID of the facility or device", "Name of the facility or device"], [1, "Praxis Dr. Muster"]],
        "Examination codes": [["Exam code", "Exam name"], [1010, "Cranium"], [9003, "Chest p.a."]],
        "Anleitung": [["Bitte tragen Sie je Zeile eine Untersuchung ein."]],
    }
    run = ingest(write_xlsx("AeSt_Nord_2023.xlsx", sheets))
    outcome = run.summary.files[0]
    assert outcome.sheets_skipped == ["IDs", "Examination codes", "Anleitung"]
    table = run.sheets.set_index("sheet")
    assert table.loc["IDs", "status"] == "skipped"
    assert table.loc["IDs", "reason"] == "template sheet without exposure data"
    assert table.loc["Examination codes", "reason"] == "template sheet without exposure data"
    assert table.loc["Anleitung", "status"] == "skipped"
    assert table.loc["Exposure data", "status"] == "data"
    assert "Sheets: 1 with exposure data, 3 skipped" in run.summary.text()
    assert run.exposures["sheet"].tolist() == ["Exposure data"]


def test_sheet_year_from_its_name(write_xlsx, ingest):
    sheets = {"2022": survey_rows([template_row(1, 9003, 10.0)], year=None),
              "2023": survey_rows([template_row(1, 9003, 11.0)], year=None)}
    run = ingest(write_xlsx("AeSt_Nord.xlsx", sheets))
    assert run.exposures.set_index("sheet")["year"].to_dict() == {"2022": 2022, "2023": 2023}


def test_year_column_in_the_data_wins_over_the_year_cell(write_xlsx, ingest):
    header = [*TEMPLATE_HEADER, "Jahr"]
    rows = survey_rows([[*template_row(1, 9003, 10.0), 2021], [*template_row(1, 9003, 11.0), 2022]], header=header)
    run = ingest(write_xlsx("AeSt_Nord_2023.xlsx", rows))
    assert run.exposures["year"].tolist() == [2021, 2022]


# --- accounting, idempotence, isolation --------------------------------------------


@pytest.fixture
def two_submissions(write_xlsx, write_csv):
    """A template workbook (3 exposures, an empty row, a total) and a German CSV
    (2 exposures, a note)."""
    xlsx = write_xlsx("AeSt_Nord_2023.xlsx", survey_rows([
        template_row(1, 9003, 10.0), [], template_row(1, 9003, 12.0), template_row(2, 9010, 150.0),
        ["", "Summe", 172.0],
    ]))
    csv = write_csv("AeSt_Sued_2023.csv", survey_rows([
        template_row(4, 1030, "", "", "350,5", "9,5", "32"), ["Bemerkung: Gerät getauscht"],
        template_row(4, 1030, "", "", "420", "11", "32"),
    ], header_row=1), delimiter=";", encoding="cp1252")
    return xlsx, csv


def test_rows_read_equal_stored_plus_rejected_in_the_summary(two_submissions, ingest):
    run = ingest(*two_submissions)
    t = run.summary.totals()
    assert (t["rows_read"], t["rows_stored"], t["rows_rejected"]) == (8, 5, 3)
    assert t["rejection_reasons"] == {"empty row": 1, "note row": 1, "total or summary row": 1}
    text = run.summary.text()
    assert "Rows: 8 read = 5 stored + 3 rejected" in text
    assert "MISMATCH" not in text
    assert "Most frequent rejection reasons: empty row 1, note row 1, total or summary row 1" in text
    per_file = {f.source_file: (f.rows_read, f.rows_stored, f.rows_rejected) for f in run.summary.files}
    assert per_file == {"AeSt_Nord_2023.xlsx": (5, 3, 2), "AeSt_Sued_2023.csv": (3, 2, 1)}


def test_ingesting_the_same_files_again_adds_nothing(two_submissions, ingest, tmp_path):
    db = f"sqlite:///{tmp_path / 'again.sqlite'}"
    first = ingest(*two_submissions, db=db)
    before = {name: len(first.table(name)) for name in ("submissions", "sheets", "repairs", "rejections")}
    before["exposures"] = len(first.exposures)
    second = ingest(two_submissions[0].parent, db=db)
    assert [f.status for f in second.summary.files] == ["duplicate", "duplicate"]
    assert all(f.message == "already stored (same sha256)" for f in second.summary.files)
    after = {name: len(second.table(name)) for name in ("submissions", "sheets", "repairs", "rejections")}
    after["exposures"] = len(second.exposures)
    assert after == before
    assert "Files: 2 (0 stored, 2 already stored, 0 failed)" in second.summary.text()
    assert second.summary.ok


def test_a_renamed_copy_of_a_stored_file_is_not_stored_twice(two_submissions, ingest, tmp_path):
    xlsx, _ = two_submissions
    copy = xlsx.with_name("copy_of_AeSt_Nord_2023.xlsx")
    copy.write_bytes(xlsx.read_bytes())
    run = ingest(xlsx, copy)
    assert sorted(f.status for f in run.summary.files) == ["duplicate", "stored"]
    assert len(run.exposures) == 3


def test_an_error_of_ours_in_one_file_leaves_the_others_loading(two_submissions, ingest, monkeypatch, caplog):
    xlsx, csv = two_submissions
    real = submission_module.repair_sheet

    def failing(sheet, header, catalogue, **kw):
        if sheet.name == "":  # the CSV
            raise RuntimeError("boom")
        return real(sheet, header, catalogue, **kw)

    monkeypatch.setattr(submission_module, "repair_sheet", failing)
    run = ingest(xlsx, csv)
    outcome = {f.source_file: f for f in run.summary.files}
    assert outcome["AeSt_Nord_2023.xlsx"].status == "stored"
    assert outcome["AeSt_Sued_2023.csv"].status == "failed"
    assert "RuntimeError: boom" in outcome["AeSt_Sued_2023.csv"].message
    # An error of ours keeps its traceback, logged.
    assert "Traceback" in caplog.text and "RuntimeError: boom" in caplog.text
    assert set(run.exposures["source_file"]) == {"AeSt_Nord_2023.xlsx"}
    subs = run.table("submissions").set_index("source_file")
    assert subs.loc["AeSt_Sued_2023.csv", "status"] == "failed"
    assert subs.loc["AeSt_Sued_2023.csv", "rows_stored"] == 0


# --- command line -----------------------------------------------------------------


def test_ingest_command_prints_the_summary(two_submissions, tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    status = cli.main(["ingest", str(two_submissions[0].parent), "--db", db, "--no-progress"])
    out, err = capsys.readouterr()
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == "Files: 2 (2 stored, 0 already stored, 0 failed)"
    assert lines[1] == "Sheets: 2 with exposure data, 0 skipped"
    assert lines[2] == "Rows: 8 read = 5 stored + 3 rejected"
    assert lines[3].startswith("Values repaired: ")
    assert lines[-1] == f"Database: {db}"
    assert err == ""


def test_ingest_command_json_has_the_same_figures(two_submissions, tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    status = cli.main(["ingest", *map(str, two_submissions), "--db", db, "--json"])
    out = capsys.readouterr().out
    assert status == 0
    data = json.loads(out)
    assert (data["files"], data["files_stored"], data["files_failed"]) == (2, 2, 0)
    assert (data["rows_read"], data["rows_stored"], data["rows_rejected"]) == (8, 5, 3)
    assert data["rejection_reasons"] == {"empty row": 1, "note row": 1, "total or summary row": 1}
    assert [f["source_file"] for f in data["per_file"]] == ["AeSt_Nord_2023.xlsx", "AeSt_Sued_2023.csv"]
    assert data["values_repaired"] == sum(f["repairs"] for f in data["per_file"])


def test_ingest_command_with_no_survey_files_is_a_user_error(tmp_path, capsys):
    empty = tmp_path / "nothing_here"
    empty.mkdir()
    status = cli.main(["ingest", str(empty), "--db", f"sqlite:///{tmp_path / 'db.sqlite'}"])
    err = capsys.readouterr().err
    assert status == 2
    assert err.strip().count("\n") == 0
    assert "no survey files found" in err and "nothing_here" in err


def test_ingest_of_a_missing_path_says_so_and_creates_no_database(tmp_path, capsys):
    db = tmp_path / "db.sqlite"
    status = cli.main(["ingest", str(tmp_path / "missing.xlsx"), "--db", f"sqlite:///{db}"])
    out, err = capsys.readouterr()
    assert status == 2
    assert err.strip().endswith(f"no such file or folder: {tmp_path / 'missing.xlsx'}")
    assert "Traceback" not in err
    assert not db.exists()


def test_ingest_of_a_missing_path_beside_a_good_one_reads_the_good_one(write_xlsx, tmp_path, capsys):
    path = write_xlsx("AeSt_Nord_2023.xlsx", survey_rows([template_row(1, 9003, 10.0)]))
    status = cli.main(["ingest", str(path), str(tmp_path / "missing.xlsx"), "--db", f"sqlite:///{tmp_path / 'db.sqlite'}"])
    out, _ = capsys.readouterr()
    assert status == 0
    assert "FAILED missing.xlsx: no such file or folder" in out


def test_ingest_command_takes_source_and_year_for_files_that_name_none(write_xlsx, tmp_path, capsys):
    path = write_xlsx("submission.xlsx", survey_rows([template_row(1, 9003, 10.0)], source=None, year=None))
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    status = cli.main(["ingest", str(path), "--db", db, "--data-source", "Aerztliche Stelle Mitte", "--year", "2024"])
    assert status == 0
    row = load_exposures(db).iloc[0]
    assert (row["data_source"], row["year"]) == ("Aerztliche Stelle Mitte", 2024)


def test_export_command_writes_every_stored_exposure(two_submissions, tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    cli.main(["ingest", *map(str, two_submissions), "--db", db, "--no-progress"])
    out_csv = tmp_path / "export.csv"
    status = cli.main(["export", "--db", db, "--out", str(out_csv)])
    assert status == 0
    assert capsys.readouterr().out.strip().endswith(f"Wrote 5 exposures to {out_csv}")
    exported = pd.read_csv(out_csv, dtype={"facility_id": str, "exam_code": str}, keep_default_na=False)
    assert len(exported) == 5
    assert exported["dlp_mgycm"].replace("", np.nan).astype(float).dropna().tolist() == [350.5, 420.0]

"""Finding the header row and matching columns by meaning; units in headers;
data source and year from label cells and file names."""

from __future__ import annotations

import json

import pytest
from conftest import SOURCE, survey_rows, template_row

from drl_analysis.ingest.headers import find_header, find_labels, labels_from_name, match_column, year_of_sheet_name
from drl_analysis.ingest.template import TEMPLATE_HEADER


@pytest.mark.parametrize(
    ("text", "column"),
    [
        ("ID of the facility or device", "facility_id"),
        ("Einrichtungs-ID", "facility_id"),
        ("Betreiber-Nr.", "facility_id"),
        ("Geräte-ID", "facility_id"),
        ("Examination code", "exam_code"),
        ("Untersuchungscode", "exam_code"),
        ("UNTERSUCHUNG", "exam_code"),
        ("DAP [cGy x cm² bzw. µGy x m²]", "dap_cgycm2"),
        ("Dosisflächenprodukt", "dap_cgycm2"),
        ("DFP", "dap_cgycm2"),
        ("KAP (Gy·cm²)", "dap_cgycm2"),
        ("AGD [mSv]", "agd_mgy"),
        ("Mittlere Parenchymdosis", "agd_mgy"),
        ("MGD", "agd_mgy"),
        ("Dosislängenprodukt", "dlp_mgycm"),
        ("dlp", "dlp_mgycm"),
        ("CTDI vol", "ctdivol_mgy"),
        ("CTDIvol [mGy]", "ctdivol_mgy"),
        ("CTDI-Phantom", "ctdi_phantom_cm"),
        ("Phantomgröße", "ctdi_phantom_cm"),
        ("Patient weight [kg]", "weight_kg"),
        ("Körpergewicht", "weight_kg"),
        ("Alter [Jahre]", "age_years"),
        ("Patientenalter", "age_years"),
        ("Age", "age_years"),
    ],
)
def test_header_names_in_german_and_english(text, column):
    assert match_column(text)[0] == column


@pytest.mark.parametrize("text", ["DAP\n[mGy*cm2]", "  dap  [mGy*cm2] ", "Dap\r\n(mGy*cm2)", "DAP in mGy*cm2"])
def test_header_with_line_break_case_and_spaces_keeps_its_unit(text):
    column, unit = match_column(text)
    assert column == "dap_cgycm2"
    assert unit.replace(" ", "") == "mGy*cm2"


@pytest.mark.parametrize("text", ["Untersuchungsdatum", "Bemerkung", "Patienten-ID", "Comment"])
def test_columns_known_not_to_be_exposure_data(text):
    assert match_column(text)[0] == "ignore"


def test_header_found_at_the_top_of_the_sheet():
    rows = [list(TEMPLATE_HEADER), template_row(1, 9003, 10.0)]
    header = find_header(rows)
    assert header.row == 0
    assert set(header.columns) == {
        "facility_id", "exam_code", "dap_cgycm2", "agd_mgy", "dlp_mgycm", "ctdivol_mgy",
        "ctdi_phantom_cm", "weight_kg", "age_years",
    }


def test_header_found_when_moved_down_and_right():
    rows = [[] for _ in range(23)] + [["", "", *TEMPLATE_HEADER]] + [["", "", *template_row(1, 9003, 10.0)]]
    header = find_header(rows)
    assert header.row == 23
    assert header.columns["facility_id"].index == 2
    assert header.columns["age_years"].index == 10


def test_header_needs_an_exam_code_and_a_dose():
    assert find_header([["ID of the facility or device", "Name of the facility or device", "Remarks"]]) is None
    assert find_header([["Exam code", "Exam name", "Modality"]]) is None


def test_title_and_label_cells_are_not_taken_for_the_header():
    rows = survey_rows([template_row(1, 9003, 10.0)])
    assert find_header(rows).row == 10  # Excel row 11


def test_reordered_renamed_and_added_columns():
    header = ["Bemerkung", "DFP [Gy x cm²]", "Gewicht (kg)", "Untersuchung", "Station", "Einrichtungs-ID", "Alter"]
    found = find_header([header])
    assert {c: m.index for c, m in found.columns.items()} == {
        "dap_cgycm2": 1, "weight_kg": 2, "exam_code": 3, "facility_id": 5, "age_years": 6,
    }
    assert found.unknown == ["Bemerkung", "Station"]
    assert found.columns["dap_cgycm2"].factor == 100.0


@pytest.mark.parametrize(
    ("header", "factor"),
    [
        ("DAP [Gy·cm²]", 100.0),
        ("DAP [dGy·cm²]", 10.0),
        ("DAP [mGy·cm²]", 0.1),
        ("DAP [µGy·m²]", 1.0),
        ("DAP [cGy x cm² bzw. µGy x m²]", 1.0),
        ("DFP in dGy cm²", 10.0),
        ("DAP", 1.0),
    ],
)
def test_dap_unit_in_header_sets_the_factor_to_cgy_cm2(header, factor):
    found = find_header([["ID", "Exam code", header]])
    assert found.columns["dap_cgycm2"].factor == pytest.approx(factor, rel=1e-12)


@pytest.mark.parametrize(
    ("header", "written", "stored"),
    [
        ("DAP [Gy·cm²]", 0.12, 12.0),
        ("DAP [dGy·cm²]", 1.2, 12.0),
        ("DAP [mGy·cm²]", 120.0, 12.0),
        ("DAP [µGy·m²]", 12.0, 12.0),
        ("DAP [cGy x cm² bzw. µGy x m²]", 12.0, 12.0),
    ],
)
def test_dap_stored_in_cgy_cm2_whatever_unit_the_header_gives(write_xlsx, ingest, header, written, stored):
    path = write_xlsx("units.xlsx", survey_rows([[1, 9003, written]], header=["ID", "Exam code", header]))
    run = ingest(path)
    assert run.value("dap_cgycm2", 12) == pytest.approx(stored, rel=1e-12)


def test_other_units_in_headers_converted(write_xlsx, ingest):
    header = ["ID", "Exam code", "CTDI_vol [µGy]", "DLP [Gy x cm]", "Phantom [cm]", "Gewicht [g]", "Alter [Monate]"]
    path = write_xlsx("ct_units.xlsx", survey_rows([[1, 1030, 8500.0, 0.31, 32, 72000.0, 540.0]], header=header))
    run = ingest(path)
    assert run.value("ctdivol_mgy", 12) == pytest.approx(8.5)
    assert run.value("dlp_mgycm", 12) == pytest.approx(310.0)
    assert run.value("weight_kg", 12) == pytest.approx(72.0)
    assert run.value("age_years", 12) == pytest.approx(45.0)


def test_renamed_translated_reordered_and_moved_columns_stored_right(write_xlsx, ingest):
    header = ["Bemerkung", "Alter\n[Jahre]", "Dosisflächenprodukt [Gy x cm²]", "Untersuchungsart", "Einrichtungs-ID",
              "Station", "Körpergewicht (kg)"]
    rows = [[], ["", "", "Datenquelle", "Aerztliche Stelle West"], ["", "", "Jahr", 2022], [], [], ["", "", *header],
            ["", "", "ok", 54.0, 0.125, "Thorax p.a.", "KH 7", "ZNA", 81.0],
            ["", "", "", 61.0, 1.5, "Beckenübersicht", "KH 7", "", ""]]
    run = ingest(write_xlsx("submission.xlsx", {"Daten": rows}))
    stored = run.exposures
    assert stored["source_row"].tolist() == [7, 8]
    assert stored["exam_code"].tolist() == ["9003", "9010"]
    assert stored["facility_id"].tolist() == ["KH 7", "KH 7"]
    assert stored["dap_cgycm2"].tolist() == pytest.approx([12.5, 150.0], rel=1e-12)
    assert stored["age_years"].tolist() == [54.0, 61.0]
    assert stored["weight_kg"].iloc[0] == 81.0
    assert (stored["data_source"] == "Aerztliche Stelle West").all() and (stored["year"] == 2022).all()
    sheet = run.sheets.iloc[0]
    assert sheet["header_row"] == 6
    assert json.loads(sheet["unknown_columns"]) == ["Bemerkung", "Station"]
    assert json.loads(sheet["column_map"])["dap_cgycm2"] == "Dosisflächenprodukt [Gy x cm²]"


def test_unknown_columns_are_reported_and_kept_out(write_xlsx, ingest):
    header = [*TEMPLATE_HEADER, "Station", "Bemerkung"]
    path = write_xlsx("extra_columns.xlsx", survey_rows([[*template_row(3, 9003, 10.0), "Notaufnahme", "ok"]], header=header))
    run = ingest(path)
    stored = run.exposures
    assert "Notaufnahme" not in stored.astype(str).to_numpy()
    sheet = run.sheets.iloc[0]
    assert json.loads(sheet["unknown_columns"]) == ["Station", "Bemerkung"]
    notes = run.summary.files[0].notes
    assert any("'Station'" in n and "kept out" in n for n in notes)


def test_data_source_and_year_from_template_cells():
    rows = survey_rows([template_row()], source="Aerztliche Stelle West", year=2021)
    assert find_labels(rows, stop=10) == ("Aerztliche Stelle West", 2021)


def test_labels_moved_and_translated():
    rows = [["", "Datenquelle:", "", "ÄS Süd"], [], ["Erhebungsjahr", "2022"]]
    assert find_labels(rows, stop=3) == ("ÄS Süd", 2022)


@pytest.mark.parametrize("label", ["Meldende Stelle", "Zuständige Stelle:", "Zahnärztliche Stelle"])
def test_labels_that_name_the_reporting_body(label):
    rows = [[label, "", "Aerztliche Stelle Sued"], ["Jahr", "", 2021]]
    assert find_labels(rows, stop=2) == ("Aerztliche Stelle Sued", 2021)


@pytest.mark.parametrize("label", ["Meldende Einrichtung", "Einrichtung", "Stelle"])
def test_a_facility_label_names_no_data_source(label):
    rows = [[label, "", "Klinikum Nord"], ["Jahr", "", 2021]]
    assert find_labels(rows, stop=2) == (None, 2021)


@pytest.mark.parametrize(
    ("stem", "expected"),
    [
        ("Aerztliche_Stelle_Nord_2023", ("Aerztliche Stelle Nord", 2023)),
        ("DRL_survey_AeSt_Ost_2022_final", ("AeSt Ost", 2022)),
        ("AeSt-West 2021 v2", ("AeSt West", 2021)),
        # numbers before the year belong to the name; after it they count parts
        ("Aerztliche_Stelle_01_2022_003", ("Aerztliche Stelle 01", 2022)),
        ("AeSt Bayern 2023 Teil 2", ("AeSt Bayern", 2023)),
        ("survey", (None, None)),
        ("Nord", (None, None)),
    ],
)
def test_data_source_and_year_from_the_file_name(stem, expected):
    assert labels_from_name(stem) == expected


def test_year_from_a_sheet_name():
    assert year_of_sheet_name("Daten 2023") == 2023
    assert year_of_sheet_name("Exposure data") is None


def test_template_labels_beat_the_file_name(write_xlsx, ingest):
    path = write_xlsx("Aerztliche_Stelle_Ost_2020.xlsx", survey_rows([template_row(1, 9003, 10.0)]))
    row = ingest(path).exposures.iloc[0]
    assert (row["data_source"], row["year"]) == (SOURCE, 2023)


def test_file_name_gives_source_and_year_when_cells_do_not_counted_as_an_inference(write_xlsx, ingest):
    path = write_xlsx("Aerztliche_Stelle_Ost_2020.xlsx", survey_rows([template_row(1, 9003, 10.0)] * 3, source=None,
                                                                      year=None))
    run = ingest(path)
    assert run.exposures[["data_source", "year"]].drop_duplicates().values.tolist() == [["Aerztliche Stelle Ost", 2020]]
    outcome = run.summary.files[0]
    assert outcome.inferences["data_source_from_file_name"] == 3 and outcome.inferences["year_from_file_name"] == 3
    assert "data source 'Aerztliche Stelle Ost' taken from the file name for 3 rows" in outcome.notes


def test_what_the_user_states_comes_before_what_the_file_name_suggests(write_xlsx, ingest):
    path = write_xlsx("Quartalsauswertung_2020.xlsx", survey_rows([template_row(1, 9003, 10.0)], source=None, year=None))
    run = ingest(path, data_source="Aerztliche Stelle Nord", year=2024)
    row = run.exposures.iloc[0]
    assert (row["data_source"], row["year"]) == ("Aerztliche Stelle Nord", 2024)
    assert "data_source_from_file_name" not in run.summary.files[0].inferences


@pytest.mark.parametrize("stem", ["DoseMonitor_Export_2025-01-15", "Export_20250312", "Export 15.01.2025",
                                  "Erhebung_2023_2024"])
def test_a_date_or_several_years_in_a_file_name_give_no_survey_year(stem):
    assert labels_from_name(stem) == (None, None)


def test_command_line_gives_source_and_year_when_neither_cells_nor_name_do(write_xlsx, ingest):
    path = write_xlsx("submission.xlsx", survey_rows([template_row(1, 9003, 10.0)], source=None, year=None))
    row = ingest(path, data_source="Aerztliche Stelle Mitte", year=2024).exposures.iloc[0]
    assert (row["data_source"], row["year"]) == ("Aerztliche Stelle Mitte", 2024)


def test_rows_without_a_year_are_rejected_with_a_reason(write_xlsx, ingest):
    path = write_xlsx("submission.xlsx", survey_rows([template_row(1, 9003, 10.0)], year=None))
    run = ingest(path)
    assert run.exposures.empty
    rejection = run.rejection(12)
    assert rejection["reason"].startswith("no survey year")
    assert "--year" in rejection["reason"]


def test_rows_without_a_data_source_are_rejected_with_a_reason(write_xlsx, ingest):
    path = write_xlsx("submission.xlsx", survey_rows([template_row(1, 9003, 10.0)], source=None))
    run = ingest(path)
    assert run.exposures.empty
    assert run.rejection(12)["reason"].startswith("no data source")


def test_units_in_a_row_under_the_header_are_applied(write_xlsx, ingest):
    rows = survey_rows([["", "", "Gy·cm²", "µGy"], [1, 9003, 0.125, ""], [1, 1010, "", 55000.0]],
                       header=["ID", "Exam code", "DAP", "CTDIvol"])
    run = ingest(write_xlsx("unit_row.xlsx", rows))
    stored = run.exposures
    assert stored["source_row"].tolist() == [13, 14]
    assert stored["dap_cgycm2"].iloc[0] == pytest.approx(12.5, rel=1e-12)
    assert stored["ctdivol_mgy"].iloc[1] == pytest.approx(55.0, rel=1e-12)
    sheet = run.sheets.iloc[0]
    assert sheet["rows_read"] == 2 and sheet["rows_rejected"] == 0 and sheet["header_row"] == 11
    assert "units read from row 12" in sheet["reason"]
    assert set(run.repairs.loc[run.repairs["rule"] == "unit_conversion", "column"]) == {"dap_cgycm2", "ctdivol_mgy"}


def test_csv_source_row_is_the_line_a_record_starts_on(write_csv, ingest):
    # The quoted header cell spans two lines, so record 4 starts on line 5.
    rows = [["Data source", "", "Nord"], ["Year", "", "2023"], ["ID", "Examination\ncode", "DAP"], [1, 9003, "12.5"]]
    run = ingest(write_csv("multiline_header.csv", rows))
    assert run.exposures["source_row"].tolist() == [5]
    assert run.sheets.iloc[0]["header_row"] == 3


@pytest.mark.parametrize(("stem", "source", "year"), [
    ("Aerztliche_Stelle_Nord_2022_c", "Aerztliche Stelle Nord", 2022),
    ("AeSt_Nord_2023_korr", "AeSt Nord", 2023),
    ("Aerztliche Stelle Nord 2023 (1)", "Aerztliche Stelle Nord", 2023),
    ("2024_Aerztliche_Stelle_Ost", "Aerztliche Stelle Ost", 2024),
    ("Aerztliche_Stelle_01_2023_Teil_2", "Aerztliche Stelle 01", 2023),
])
def test_versions_and_copies_after_the_year_are_no_part_of_the_data_source(stem, source, year):
    assert labels_from_name(stem) == (source, year)

"""Each repair rule and rejection reason, shown on a tiny workbook or CSV.

Every test writes the damage it is about, ingests the file, and checks the
stored value and what the log says: the repair (rule, before, after) or the
rejection (reason, raw cells). Data rows start in Excel row 12, below the
template's header in row 11.
"""

from __future__ import annotations

import datetime as dt
import math
import re

import pytest
from conftest import survey_rows, template_row

import drl_analysis.ingest.repair as repair_module
from drl_analysis.ingest.template import TEMPLATE_HEADER

FIRST = 12  # Excel row of the first data row


def _sheet(write_xlsx, data, header=TEMPLATE_HEADER, name="submission.xlsx", **kw):
    return write_xlsx(name, survey_rows(data, header=header, **kw))


def _after(repair: dict) -> float | None:
    return None if repair["after"] is None else float(repair["after"])


# --- value rules ------------------------------------------------------------


def test_unit_conversion_logged_once_per_column(write_xlsx, ingest):
    header = ["ID", "Exam code", "DAP [Gy·cm²]"]
    run = ingest(_sheet(write_xlsx, [[1, 9003, 0.12], [1, 9003, 0.15]], header=header))
    assert run.value("dap_cgycm2", FIRST) == pytest.approx(12.0)
    assert run.value("dap_cgycm2", FIRST + 1) == pytest.approx(15.0)
    rep = run.repair("dap_cgycm2", None, "unit_conversion")
    assert rep["before"] == "Gy·cm²"
    assert float(rep["after"].split()[0]) == 100.0


def test_number_typed_as_text_in_a_workbook(write_xlsx, ingest):
    run = ingest(_sheet(write_xlsx, [template_row(1, 9003, "12.5")]))
    assert run.value("dap_cgycm2", FIRST) == 12.5
    rep = run.repair("dap_cgycm2", FIRST)
    assert (rep["rule"], rep["before"], _after(rep)) == ("number_as_text", "12.5", 12.5)


def test_number_cell_needs_no_repair(write_xlsx, ingest):
    run = ingest(_sheet(write_xlsx, [template_row(1, 9003, 12.5)]))
    assert run.value("dap_cgycm2", FIRST) == 12.5
    assert run.repairs.empty


def test_decimal_comma_in_a_workbook(write_xlsx, ingest):
    run = ingest(_sheet(write_xlsx, [template_row(1, 9003, "12,5", weight="  72,5 ")]))
    assert run.value("dap_cgycm2", FIRST) == 12.5
    assert run.value("weight_kg", FIRST) == 72.5
    rep = run.repair("dap_cgycm2", FIRST)
    assert (rep["rule"], rep["before"], _after(rep)) == ("decimal_comma", "12,5", 12.5)


@pytest.mark.parametrize(
    ("written", "value", "weight"),
    [
        ("1.234,5", 1234.5, 70.0),
        ("1,234.5", 1234.5, 70.0),
        ("1 234,5", 1234.5, 70.0),
        ("2.500.000", 2500000.0, 70.0),
        ("1,234,567.5", 1234567.5, 70.0),
        ("1.234.567,5", 1234567.5, 70.0),
        ("12.345", 12345.0, "72,5"),  # ambiguous alone; the weight column shows German notation
    ],
)
def test_thousands_separator(write_xlsx, ingest, written, value, weight):
    run = ingest(_sheet(write_xlsx, [template_row(1, 9101, written, weight=weight)]))
    assert run.value("dap_cgycm2", FIRST) == pytest.approx(value, rel=1e-12)
    rep = run.repair("dap_cgycm2", FIRST)
    rule = "notation_from_sheet" if written == "12.345" else "thousands_separator"
    assert (rep["rule"], rep["before"], _after(rep)) == (rule, written, value)
    assert "ambiguous_notation" not in run.value("flags", FIRST)


def test_thousands_separator_in_a_german_csv(write_csv, ingest):
    rows = survey_rows([template_row(1, 9101, "2.345,6", weight="80")], header_row=1)
    run = ingest(write_csv("AeSt_Nord_2023.csv", rows, delimiter=";"))
    assert run.value("dap_cgycm2", 2) == pytest.approx(2345.6)
    rep = run.repair("dap_cgycm2", 2)
    assert (rep["rule"], rep["before"], _after(rep)) == ("thousands_separator", "2.345,6", 2345.6)


def test_plain_numbers_in_a_csv_are_no_repair(write_csv, ingest):
    rows = survey_rows([template_row(1, 9003, "12.5", weight="80")], header_row=1)
    run = ingest(write_csv("AeSt_Nord_2023.csv", rows))
    assert run.value("dap_cgycm2", 2) == 12.5
    assert run.repairs.empty


@pytest.mark.parametrize(
    ("column", "header", "written", "value"),
    [
        ("dap_cgycm2", "DAP [cGy·cm²]", "0,5 Gy·cm²", 50.0),  # the cell's unit wins over the header's
        ("dap_cgycm2", "DAP [mGy·cm²]", "12 cGy*cm2", 12.0),
        ("weight_kg", "Patient weight [kg]", "80 kg", 80.0),
        ("weight_kg", "Patient weight [kg]", "80000 g", 80.0),
        ("age_years", "Age", "6 Monate", 0.5),
    ],
)
def test_unit_written_in_the_cell(write_xlsx, ingest, column, header, written, value):
    data = [1, 9003, written] if column == "dap_cgycm2" else [1, 9003, 10.0, written]
    head = ["ID", "Exam code", header] if column == "dap_cgycm2" else ["ID", "Exam code", "DAP", header]
    run = ingest(_sheet(write_xlsx, [data], header=head))
    assert run.value(column, FIRST) == pytest.approx(value, rel=1e-12)
    rep = run.repair(column, FIRST)
    assert (rep["rule"], rep["before"], _after(rep)) == ("unit_in_cell", written, pytest.approx(value))


def test_ctdivol_with_its_unit_in_the_cell(write_xlsx, ingest):
    run = ingest(_sheet(write_xlsx, [template_row(1, 1030, "", "", 350.0, "9,5 mGy", 32)]))
    assert run.value("ctdivol_mgy", FIRST) == 9.5
    rep = run.repair("ctdivol_mgy", FIRST)
    assert (rep["rule"], rep["before"], _after(rep)) == ("unit_in_cell", "9,5 mGy", 9.5)


@pytest.mark.parametrize("marker", ["-", "n.a.", "k.A.", "NA", "?", "--", "keine Angabe"])
def test_missing_value_marker(write_xlsx, ingest, marker):
    run = ingest(_sheet(write_xlsx, [template_row(1, 9003, 10.0, weight=marker, age=marker)]))
    assert math.isnan(run.value("weight_kg", FIRST))
    assert math.isnan(run.value("age_years", FIRST))
    assert run.value("dap_cgycm2", FIRST) == 10.0
    rep = run.repair("weight_kg", FIRST)
    assert (rep["rule"], rep["before"], rep["after"]) == ("missing_marker", marker, None)


@pytest.mark.parametrize(("column", "written"), [("weight_kg", "schwer"), ("weight_kg", "12 Äpfel"),
                                                 ("weight_kg", "80 mGy"), ("age_years", "12 kg")])
def test_unreadable_value_rejects_its_row_naming_the_column(write_xlsx, ingest, column, written):
    cells = {"weight": written} if column == "weight_kg" else {"age": written}
    run = ingest(_sheet(write_xlsx, [template_row(1, 9003, 10.0, **cells), template_row(1, 9003, 11.0)]))
    assert run.exposures["source_row"].tolist() == [FIRST + 1]
    rejection = run.rejection(FIRST)
    assert rejection["reason"] == f"unreadable value in {column}"
    assert written in rejection["raw"]
    assert run.repairs[run.repairs["source_row"] == FIRST].empty


def test_unreadable_dose_is_never_stored_as_an_empty_value(write_xlsx, ingest):
    # A CT row whose DLP cannot be read is not stored with its CTDIvol alone.
    run = ingest(_sheet(write_xlsx, [template_row(1, 9003, "viel"),
                                     template_row(1, 1030, "", "", "sehr hoch", 9.5, 32)]))
    assert run.exposures.empty
    assert run.rejection(FIRST)["reason"] == "unreadable value in dap_cgycm2"
    assert run.rejection(FIRST + 1)["reason"] == "unreadable value in dlp_mgycm"
    t = run.summary.totals()
    assert t["rows_read"] == t["rows_stored"] + t["rows_rejected"] == 2


# --- ambiguous numbers ------------------------------------------------------


@pytest.mark.parametrize(
    ("exam", "written", "kept"),
    [
        (9101, "2.500", 2500.0),  # coronary angiography, DRL 3500 cGy·cm²: thousands
        (9003, "1.234", 1.234),  # chest p.a., DRL 12 cGy·cm²: decimal
        (9003, "12,500", 12.5),
    ],
)
def test_ambiguous_number_keeps_the_reading_near_the_drl_and_is_flagged(write_xlsx, ingest, exam, written, kept):
    # Every other number is a number cell: the sheet shows no notation.
    run = ingest(_sheet(write_xlsx, [template_row(1, exam, written, weight=70.0)]))
    assert run.value("dap_cgycm2", FIRST) == pytest.approx(kept, rel=1e-12)
    assert "ambiguous_notation:dap_cgycm2" in run.value("flags", FIRST).split(";")
    rep = run.repair("dap_cgycm2", FIRST)
    assert (rep["rule"], rep["before"], _after(rep)) == ("ambiguous_notation", written, pytest.approx(kept))


def test_ambiguous_number_resolved_by_a_german_sheet(write_xlsx, ingest):
    rows = [template_row(1, 9101, "1.234", weight="70,5"), template_row(1, 9101, "2.100,5", weight=80.0)]
    run = ingest(_sheet(write_xlsx, rows))
    assert run.value("dap_cgycm2", FIRST) == 1234.0
    assert "ambiguous" not in run.value("flags", FIRST)
    assert run.repair("dap_cgycm2", FIRST)["rule"] == "notation_from_sheet"


def test_ambiguous_number_resolved_by_an_english_sheet(write_xlsx, ingest):
    rows = [template_row(1, 9003, "1.234", weight="70.5"), template_row(1, 9003, "12.5", weight=80.0)]
    run = ingest(_sheet(write_xlsx, rows))
    assert run.value("dap_cgycm2", FIRST) == pytest.approx(1.234)
    assert "ambiguous" not in run.value("flags", FIRST)
    assert run.repair("dap_cgycm2", FIRST)["rule"] == "notation_from_sheet"


def test_ambiguous_number_resolved_by_the_notation_of_a_csv(write_csv, ingest):
    rows = survey_rows([template_row(1, 9003, "1,234", weight="70.5")], header_row=1)
    run = ingest(write_csv("AeSt_Nord_2023.csv", rows, delimiter=";"))
    assert run.value("dap_cgycm2", 2) == 1234.0


# --- exam codes -------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "code", "rule"),
    [
        (1010, "1010", None),
        ("1010", "1010", None),
        ("1010.0", "1010", "exam_code_from_text"),
        ("1010 Cranium", "1010", "exam_code_from_text"),
        ("Code 1010", "1010", "exam_code_from_text"),
        ("UKZ: 1010 (Schädel)", "1010", "exam_code_from_text"),
        ("Cranium", "1010", "exam_code_from_name"),
        ("cranium", "1010", "exam_code_from_name"),
        ("Hirnschädel", "1010", "exam_code_from_name"),
        ("CT Cranium", "1010", "exam_code_from_name"),
        ("Thorax p.a.", "9003", "exam_code_from_name"),
        ("Koronarangiographie", "9101", "exam_code_from_name"),
    ],
)
def test_exam_code_written_with_name_prefix_or_alias(write_xlsx, ingest, written, code, rule):
    run = ingest(_sheet(write_xlsx, [template_row(1, written, 10.0, ctdivol=30.0, phantom=16)]))
    assert run.value("exam_code", FIRST) == code
    assert "unknown_exam_code" not in run.value("flags", FIRST)
    repairs = run.repairs[run.repairs["column"] == "exam_code"]
    if rule is None:
        assert repairs.empty
    else:
        rep = run.repair("exam_code", FIRST)
        assert (rep["rule"], rep["before"], rep["after"]) == (rule, str(written), code)


def test_unknown_exam_code_stored_as_written_and_flagged(write_xlsx, ingest):
    run = ingest(_sheet(write_xlsx, [template_row(1, 4711, 10.0), template_row(1, "X-Ray Knie", 10.0)]))
    assert run.value("exam_code", FIRST) == "4711"
    assert run.value("exam_code", FIRST + 1) == "X-Ray Knie"
    assert run.value("flags", FIRST).split(";") == ["unknown_exam_code"]
    assert run.value("flags", FIRST + 1).split(";") == ["unknown_exam_code"]
    assert run.rejections.empty


# --- phantom, facility IDs --------------------------------------------------


@pytest.mark.parametrize(
    ("written", "cm"), [("Kopf", 16.0), ("head", 16.0), ("16 cm", 16.0), ("Körper", 32.0), ("body", 32.0), ("32 cm", 32.0)]
)
def test_phantom_written_as_a_word(write_xlsx, ingest, written, cm):
    run = ingest(_sheet(write_xlsx, [template_row(1, 1030, "", "", 350.0, 9.5, written)]))
    assert run.value("ctdi_phantom_cm", FIRST) == cm
    rep = run.repair("ctdi_phantom_cm", FIRST)
    assert (rep["rule"], rep["before"], _after(rep)) == ("phantom_from_text", written, cm)


def test_facility_id_merged_over_several_rows_is_filled_down(write_xlsx, ingest):
    rows = survey_rows([template_row(7, 9003, 10.0), template_row("", 9003, 11.0), template_row("", 9003, 12.0),
                        template_row(8, 9003, 13.0)])
    run = ingest(write_xlsx("merged.xlsx", rows, merged={"Exposure data": ["A12:A14"]}))
    stored = run.exposures.set_index("source_row")
    assert stored.loc[[12, 13, 14, 15], "facility_id"].tolist() == ["7", "7", "7", "8"]
    for row in (13, 14):
        rep = run.repair("facility_id", row)
        assert (rep["rule"], rep["before"], rep["after"]) == ("merged_cell", "", "7")
    assert run.repairs[(run.repairs["source_row"] == 12)].empty


@pytest.mark.parametrize(
    ("written", "stored", "rule"),
    [(12, "12", None), (12.0, "12", None), ("12", "12", None), (" 12 ", "12", "facility_id_as_text"),
     ("12.0", "12", "facility_id_as_text"), ("KH  Nord 3", "KH Nord 3", "facility_id_as_text"),
     ("KH-03", "KH-03", None), ("007", "007", None)],
)
def test_facility_id_as_number_or_text(write_xlsx, ingest, written, stored, rule):
    run = ingest(_sheet(write_xlsx, [template_row(written, 9003, 10.0)]))
    assert run.value("facility_id", FIRST) == stored
    if rule is None:
        assert run.repairs.empty
    else:
        rep = run.repair("facility_id", FIRST)
        assert (rep["rule"], rep["before"], rep["after"]) == (rule, written, stored)


# --- rejections -------------------------------------------------------------


def _raw_starts(rejection: dict, *cells: str) -> None:
    raw = rejection["raw"]
    assert raw[: len(cells)] == list(cells)
    assert all(v == "" for v in raw[len(cells):])


def test_empty_row_between_data_rejected(write_xlsx, ingest):
    run = ingest(_sheet(write_xlsx, [template_row(1, 9003, 10.0), [], template_row(1, 9003, 11.0)]))
    assert run.exposures["source_row"].tolist() == [12, 14]
    rej = run.rejection(13)
    assert rej["reason"] == "empty row"
    _raw_starts(rej)


def test_empty_rows_after_the_data_are_not_rows_read(write_xlsx, ingest):
    rows = survey_rows([template_row(1, 9003, 10.0)]) + [[] for _ in range(30)]
    run = ingest(write_xlsx("trailing.xlsx", rows))
    assert run.summary.totals()["rows_read"] == 1
    assert run.rejections.empty


def test_repeated_header_row_rejected(write_xlsx, ingest):
    run = ingest(_sheet(write_xlsx, [template_row(1, 9003, 10.0), list(TEMPLATE_HEADER), template_row(1, 9003, 11.0)]))
    assert run.exposures["source_row"].tolist() == [12, 14]
    rej = run.rejection(13)
    assert rej["reason"] == "repeated header row"
    assert rej["raw"] == list(TEMPLATE_HEADER)


@pytest.mark.parametrize("label", ["Summe", "Gesamt:", "Mittelwert", "Total", "Median", "n = 2"])
def test_total_or_summary_row_rejected(write_xlsx, ingest, label):
    run = ingest(_sheet(write_xlsx, [template_row(1, 9003, 10.0), template_row(1, 9003, 14.0), ["", label, 24.0]]))
    assert run.exposures["dap_cgycm2"].tolist() == [10.0, 14.0]
    rej = run.rejection(14)
    assert rej["reason"] == "total or summary row"
    _raw_starts(rej, "", label, "24")


def test_total_aorta_is_an_exam_not_a_total(write_xlsx, ingest):
    run = ingest(_sheet(write_xlsx, [template_row(1, "Total aorta", "", "", 400.0, 11.0, 32)]))
    assert run.value("exam_code", FIRST) == "1120"


@pytest.mark.parametrize("note", ["Bemerkung: Gerät im Juni getauscht", "* nur Erwachsene", "Hinweis: Werte ohne Kinder",
                                  "Die Daten wurden aus dem RIS exportiert"])
def test_note_row_rejected(write_xlsx, ingest, note):
    run = ingest(_sheet(write_xlsx, [template_row(1, 9003, 10.0), [note], template_row(1, 9003, 11.0)]))
    assert run.exposures["source_row"].tolist() == [12, 14]
    rej = run.rejection(13)
    assert rej["reason"] == "note row"
    _raw_starts(rej, note)


def test_row_without_exam_code_rejected(write_xlsx, ingest):
    run = ingest(_sheet(write_xlsx, [template_row(3, "", 10.0, weight=70.0)]))
    assert run.exposures.empty
    rej = run.rejection(FIRST)
    assert rej["reason"] == "exam code missing"
    assert rej["raw"] == ["3", "", "10", "", "", "", "", "70", ""]


def test_row_without_facility_id_rejected(write_xlsx, ingest):
    run = ingest(_sheet(write_xlsx, [template_row("", 9003, 10.0)]))
    assert run.exposures.empty
    rej = run.rejection(FIRST)
    assert rej["reason"] == "facility ID missing"
    _raw_starts(rej, "", "9003", "10")


def test_row_without_any_dose_rejected(write_xlsx, ingest):
    run = ingest(_sheet(write_xlsx, [template_row(3, 9003, "", weight=70.0, age=44.0)]))
    assert run.exposures.empty
    rej = run.rejection(FIRST)
    assert rej["reason"] == "no dose value"
    assert rej["raw"] == ["3", "9003", "", "", "", "", "", "70", "44"]


def test_sheet_without_a_facility_id_column_rejects_its_rows_with_that_reason(write_xlsx, ingest):
    run = ingest(_sheet(write_xlsx, [[9003, 10.0]], header=["Exam code", "DAP"]))
    assert run.exposures.empty
    assert run.rejection(FIRST)["reason"] == "no facility ID column in the sheet"


# --- plausibility -----------------------------------------------------------


def test_implausible_value_stored_flagged_never_rescaled(write_xlsx, ingest):
    rows = [template_row(1, 9003, 10.0 + 0.1 * k, weight=75.0) for k in range(12)]
    rows.append(template_row(1, 9003, 1010.0, weight=75.0))  # a factor 100 off: cGy·cm² typed as mGy·cm²?
    rows.append(template_row(1, 9003, 10.0, weight=520.0))
    run = ingest(_sheet(write_xlsx, rows))
    slip_row, heavy_row = FIRST + 12, FIRST + 13
    assert run.value("dap_cgycm2", slip_row) == 1010.0
    assert run.value("flags", slip_row).split(";") == ["unit_slip_x100:dap_cgycm2"]
    assert run.value("weight_kg", heavy_row) == 520.0
    assert run.value("flags", heavy_row).split(";") == ["out_of_range:weight_kg"]
    normal = run.exposures[~run.exposures["source_row"].isin([slip_row, heavy_row])]
    assert (normal["flags"] == "").all()
    assert not (run.repairs["column"] == "dap_cgycm2").any()


def test_phantom_other_than_16_or_32_cm_rejects_its_row(write_xlsx, ingest):
    rows = [template_row(1, 1030, "", "", 350.0, 9.5, 24), template_row(1, 1030, "", "", 350.0, 9.5, 32)]
    run = ingest(_sheet(write_xlsx, rows))
    assert run.exposures["source_row"].tolist() == [FIRST + 1]
    assert run.rejection(FIRST)["reason"] == "unreadable value in ctdi_phantom_cm"


def test_ct_value_on_the_other_phantom_is_no_unit_slip(write_xlsx, ingest):
    # Cranium (reference 16 cm) given on the 32 cm phantom: a factor 2.5 lower, not a slip.
    rows = [template_row(1, 1010, "", "", 800.0, 50.0, 16) for _ in range(11)]
    rows.append(template_row(1, 1010, "", "", 320.0, 20.0, 32))
    run = ingest(_sheet(write_xlsx, rows))
    assert (run.exposures["flags"] == "").all()


# --- issue 11: the classes of damage seen on held-out submissions -----------


def test_notation_from_sheet_resolves_a_lone_ambiguous_number(write_xlsx, ingest):
    # "1.234" alone reads two ways; the sheet's "12,5" says German notation.
    run = ingest(_sheet(write_xlsx, [template_row(1, 9101, "1.234"), template_row(1, 9101, "12,5")]))
    assert run.value("dap_cgycm2", FIRST) == 1234.0
    rep = run.repair("dap_cgycm2", FIRST)
    assert (rep["rule"], rep["before"], _after(rep)) == ("notation_from_sheet", "1.234", 1234.0)


def test_facility_id_given_once_per_block_is_filled_down(write_xlsx, ingest):
    rows = [template_row("KH-07", 9003, 10.0), template_row("", 9003, 11.0), template_row("", 9003, 12.0),
            template_row("KH-08", 9003, 13.0), template_row("", 9003, 14.0), template_row(9, 9003, 15.0),
            template_row("", 9003, 16.0)]
    run = ingest(_sheet(write_xlsx, rows))
    stored = run.exposures.set_index("source_row")["facility_id"]
    assert stored.loc[range(FIRST, FIRST + 7)].tolist() == ["KH-07"] * 3 + ["KH-08"] * 2 + ["9"] * 2
    fills = run.repairs[run.repairs["rule"] == "facility_id_filled_down"]
    assert fills["source_row"].tolist() == [FIRST + 1, FIRST + 2, FIRST + 4, FIRST + 6]
    assert fills["after"].tolist() == ["KH-07", "KH-07", "KH-08", "9"]
    assert run.rejections.empty


def test_blank_id_in_a_sheet_without_blocks_is_rejected(write_xlsx, ingest):
    # IDs on every row, and an ID that comes back after another: no block structure.
    rows = [template_row(1, 9003, 10.0), template_row(2, 9003, 11.0), template_row("", 9003, 12.0),
            template_row(1, 9003, 13.0), template_row(2, 9003, 14.0)]
    run = ingest(_sheet(write_xlsx, rows))
    assert run.rejection(FIRST + 2)["reason"] == "facility ID missing"
    assert (run.repairs["rule"] != "facility_id_filled_down").all()


def test_blank_id_between_two_blocks_of_full_ids_is_rejected(write_xlsx, ingest):
    # IDs on every row except one at the border of two facilities: whose row is it?
    rows = [template_row(1, 9003, v) for v in (10.0, 11.0, 12.0)] + [template_row("", 9003, 13.0)] + \
           [template_row(2, 9003, v) for v in (14.0, 15.0, 16.0)]
    run = ingest(_sheet(write_xlsx, rows))
    assert run.rejection(FIRST + 3)["reason"] == "facility ID missing"


def test_blank_id_between_rows_of_the_same_facility_is_filled(write_xlsx, ingest):
    rows = [template_row(1, 9003, v) for v in (10.0, 11.0)] + [template_row("", 9003, 12.0)] + \
           [template_row(1, 9003, 13.0), template_row(2, 9003, 14.0), template_row(2, 9003, 15.0)]
    run = ingest(_sheet(write_xlsx, rows))
    assert run.value("facility_id", FIRST + 2) == "1"


def test_fill_down_stops_at_a_total_row(write_xlsx, ingest):
    rows = [template_row("A", 9003, 10.0), template_row("", 9003, 11.0), ["Summe", "", 21.0],
            template_row("", 9003, 12.0)]
    run = ingest(_sheet(write_xlsx, rows))
    assert run.exposures["facility_id"].tolist() == ["A", "A"]
    assert run.rejection(FIRST + 2)["reason"] == "total or summary row"
    assert run.rejection(FIRST + 3)["reason"] == "facility ID missing"


def test_free_text_protocol_column_is_not_taken_as_the_exam_code(write_csv, ingest):
    header = ["ID of the facility or device", "Protokoll", "Examination code", "DAP [cGy x cm² bzw. µGy x m²]",
              "Patient weight [kg]"]
    data = [[1, "s. Protokoll", 9003, "10,5", 70], [1, "120", 9003, "11", 80], [2, "2023-05-04", 9004, "20", 75]]
    run = ingest(write_csv("Stelle_Nord_2023.csv", [header, *data], delimiter=";"))
    assert run.exposures["exam_code"].tolist() == ["9003", "9003", "9004"]
    assert run.exposures["dap_cgycm2"].tolist() == [10.5, 11.0, 20.0]


def test_protocol_column_alone_holding_no_codes_rejects_the_sheet_naming_it(write_csv, ingest):
    header = ["Einrichtung", "Protokoll", "DAP [cGy·cm²]"]
    data = [[1, "s. Protokoll", "10,5"], [1, "120", "11"], [2, "2023-05-04", "20"], [2, "nativ", "21"]]
    run = ingest(write_csv("Stelle_Nord_2023.csv", [header, *data], delimiter=";"))
    assert run.exposures.empty
    outcome = run.summary.files[0]
    assert outcome.status == "failed"
    assert "'Protokoll'" in outcome.message and "exam codes" in outcome.message


def test_dose_column_holding_text_is_read_from_the_next_candidate(write_xlsx, ingest):
    header = ["ID", "Exam code", "DAP Bemerkung", "DAP [cGy·cm²]"]
    data = [[1, 9003, "ok", 10.0], [1, 9003, "zu hoch?", 11.0], [1, 9003, "wiederholt", 12.0]]
    run = ingest(_sheet(write_xlsx, data, header=header))
    assert run.exposures["dap_cgycm2"].tolist() == [10.0, 11.0, 12.0]


@pytest.mark.parametrize("marker", ["k.A.", "k. A.", "K.A", "n. a.", "-", "/", "KA", " k.a. "])
def test_missing_marker_in_the_phantom_column_is_no_head_phantom(write_xlsx, ingest, marker):
    run = ingest(_sheet(write_xlsx, [template_row(1, 9003, 10.0, phantom=marker)]))
    assert math.isnan(run.value("ctdi_phantom_cm", FIRST))
    assert run.repair("ctdi_phantom_cm", FIRST)["rule"] == "missing_marker"


@pytest.mark.parametrize("written", ["k", "b", "K", "B", "20", "16/32", "Kopf oder Körper"])
def test_no_lone_letter_or_other_number_is_read_as_a_phantom(write_xlsx, ingest, written):
    run = ingest(_sheet(write_xlsx, [template_row(1, 1030, "", "", 350.0, 9.5, written)] +
                        [template_row(1, 1030, "", "", 350.0, 9.5, 32)] * 4))
    assert FIRST not in run.exposures["source_row"].tolist()
    assert run.rejection(FIRST)["reason"] == "unreadable value in ctdi_phantom_cm"


@pytest.mark.parametrize("marker", ["k. A.", "K.A", "n. a."])
def test_missing_marker_in_any_spelling_in_a_dose_column(write_xlsx, ingest, marker):
    run = ingest(_sheet(write_xlsx, [template_row(1, 1030, "", "", 350.0, marker, 32)]))
    assert math.isnan(run.value("ctdivol_mgy", FIRST))
    assert run.value("dlp_mgycm", FIRST) == 350.0


def test_invisible_characters_in_ids_and_codes_are_removed(write_xlsx, ingest):
    rows = [template_row("\u00a0KH 7\u200b ", "9003\u200b", 10.0), template_row("KH\u00a07", " \ufeff9004", 11.0)]
    run = ingest(_sheet(write_xlsx, rows))
    assert run.exposures["facility_id"].tolist() == ["KH 7", "KH 7"]
    assert run.exposures["exam_code"].tolist() == ["9003", "9004"]


@pytest.mark.parametrize(("column", "written", "value"), [("weight_kg", "75kg", 75.0), ("age_years", "45 J.", 45.0),
                                                         ("age_years", "45 Jahre", 45.0), ("weight_kg", "75 KG", 75.0),
                                                         ("age_years", "77 Jahre 9 Monate", 77.75),
                                                         ("age_years", "1 J. 6 Mon.", 1.5),
                                                         ("age_years", "73 Tage", 0.2)])
def test_units_inside_weight_and_age_cells(write_xlsx, ingest, column, written, value):
    cells = {"weight": written} if column == "weight_kg" else {"age": written}
    run = ingest(_sheet(write_xlsx, [template_row(1, 9003, 10.0, **cells)]))
    assert run.value(column, FIRST) == pytest.approx(value, abs=1e-3)


def test_neonates_ages_in_days_or_weeks_in_the_header(write_xlsx, ingest):
    header = ["ID", "Exam code", "DAP [cGy·cm²]", "Alter [Tage]", "Gewicht [g]"]
    run = ingest(_sheet(write_xlsx, [[1, 9003, 1.2, 73, 3400]], header=header))
    assert run.value("age_years", FIRST) == pytest.approx(0.2, abs=1e-3)
    assert run.value("weight_kg", FIRST) == pytest.approx(3.4)


def test_sheet_per_exam_without_exam_column_takes_the_code_from_its_name(write_xlsx, ingest):
    header = ["ID of the facility or device", "DAP [cGy x cm² bzw. µGy x m²]", "Patient weight [kg]"]
    sheets = {
        "9003": survey_rows([[1, 10.0, 70], [2, 12.0, 80]], header=header),
        "Lumbar spine lat": survey_rows([[1, 150.0, 70]], header=header),
        "Hinweise": [["Bitte eine Zeile je Untersuchung"]],
    }
    run = ingest(write_xlsx("per_exam.xlsx", sheets))
    got = run.exposures.sort_values(["sheet", "source_row"])
    assert list(zip(got["sheet"], got["exam_code"], got["dap_cgycm2"])) == [
        ("9003", "9003", 10.0), ("9003", "9003", 12.0), ("Lumbar spine lat", "9009", 150.0)]
    rep = run.repairs[run.repairs["rule"] == "exam_code_from_sheet_name"]
    assert set(rep["after"]) == {"9003", "9009"}


def test_exam_given_by_its_german_or_english_name_only(write_xlsx, ingest, catalogue):
    rows = [template_row(1, "Schädel", "", "", 800.0, 50.0, 16), template_row(1, "Cranium", "", "", 810.0, 51.0, 16)]
    run = ingest(_sheet(write_xlsx, rows))
    assert run.exposures["exam_code"].tolist() == ["1010", "1010"]


def test_every_column_matched_by_another_name_is_logged(write_xlsx, ingest):
    header = ["Einrichtung", "Examination code", "Dosisflächenprodukt [µGy·m²]"]
    run = ingest(_sheet(write_xlsx, [[1, 9003, 10.0]], header=header))
    logged = run.repairs[run.repairs["rule"] == "header_matched"]
    assert sorted(zip(logged["column"], logged["before"])) == [
        ("dap_cgycm2", "Dosisflächenprodukt [µGy·m²]"), ("facility_id", "Einrichtung")]
    assert logged["source_row"].isna().all()


def test_two_row_header_with_units_below_the_names(write_xlsx, ingest):
    header = ["ID", "Exam code", "DAP", "Gewicht"]
    rows = survey_rows([["", "", "[Gy·cm²]", "(kg)"], [1, 9003, 0.1, 70]], header=header)
    run = ingest(write_xlsx("two_rows.xlsx", rows))
    assert run.value("dap_cgycm2", FIRST + 1) == pytest.approx(10.0)
    assert run.value("weight_kg", FIRST + 1) == 70


def test_running_number_column_first_is_kept_out(write_xlsx, ingest):
    header = ["Lfd. Nr.", *TEMPLATE_HEADER]
    run = ingest(_sheet(write_xlsx, [[1, *template_row(7, 9003, 10.0)], [2, *template_row(7, 9003, 11.0)]],
                        header=header))
    assert run.exposures["facility_id"].tolist() == ["7", "7"]
    assert run.exposures["dap_cgycm2"].tolist() == [10.0, 11.0]


# --- classes seen on a blind held-out set ------------------------------------


@pytest.mark.parametrize(("written", "value", "rule"), [
    ("ca. 88", 88.0, "approximate_value"), ("~16,4", 16.4, "approximate_value"), ("etwa 75", 75.0, "approximate_value"),
    ("61 (geschätzt)", 61.0, "comment_in_cell"), ("64 lt. Protokoll", 64.0, "comment_in_cell"),
    ("75 kg geschätzt", 75.0, "comment_in_cell"),
])
def test_approximate_value_or_comment_beside_a_number(write_xlsx, ingest, written, value, rule):
    run = ingest(_sheet(write_xlsx, [template_row(1, 9003, 10.0, weight=written)]))
    assert run.value("weight_kg", FIRST) == value
    assert run.repair("weight_kg", FIRST)["rule"] == rule


@pytest.mark.parametrize("written", ["12 Äpfel", "61 (2. Serie)", "ca. 1.234"])
def test_comment_with_a_number_or_no_comment_word_is_unreadable(write_xlsx, ingest, written):
    run = ingest(_sheet(write_xlsx, [template_row(1, 9003, 10.0, weight=written)] + [template_row(1, 9003, 11.0)] * 4))
    assert run.rejection(FIRST)["reason"] == "unreadable value in weight_kg"


def test_unit_from_a_unit_column_row_by_row(write_xlsx, ingest):
    header = ["ID", "Exam code", "Dosisflächenprodukt", "Einheit DFP", "Gewicht"]
    data = [[1, 9003, 5.0, "dGy*cm2", 70], [1, 9003, 12.0, "", 71], [1, 9003, 0.2, "Gy·cm²", 72],
            [1, 9003, 3.0, "Äpfel", 73]]
    run = ingest(_sheet(write_xlsx, data, header=header))
    stored = run.exposures.set_index("source_row")["dap_cgycm2"]
    assert stored.loc[[FIRST, FIRST + 1, FIRST + 2]].tolist() == [50.0, 12.0, 20.0]
    assert run.repair("dap_cgycm2", FIRST, "unit_from_column")["before"] == "5 dGy*cm2"
    assert run.rejection(FIRST + 3)["reason"] == "unreadable value in dap_cgycm2"


def test_ct_dose_in_one_column_per_phantom(write_xlsx, ingest):
    header = ["ID", "Exam code", "DLP [mGy·cm]", "CTDIvol Kopf 16cm", "CTDIvol Körper 32cm"]
    data = [[1, 1010, 800.0, 50.0, ""], [1, 1030, 350.0, "", 9.5], [1, 1030, 350.0, 20.0, 9.5]]
    run = ingest(_sheet(write_xlsx, data, header=header))
    got = run.exposures.set_index("source_row")
    assert got.loc[FIRST, ["ctdivol_mgy", "ctdi_phantom_cm"]].tolist() == [50.0, 16.0]
    assert got.loc[FIRST + 1, ["ctdivol_mgy", "ctdi_phantom_cm"]].tolist() == [9.5, 32.0]
    assert run.repair("ctdi_phantom_cm", FIRST + 1)["rule"] == "phantom_from_column"
    assert run.rejection(FIRST + 2)["reason"].startswith("values for both phantoms")


def test_sheet_per_facility_takes_the_facility_from_its_name(write_xlsx, ingest):
    header = ["Examination code", "DAP [cGy x cm² bzw. µGy x m²]"]
    sheets = {"KH St. Marien Gerät 2": survey_rows([[9003, 10.0], [9004, 12.0]], header=header),
              "007": survey_rows([[9003, 11.0]], header=header)}
    run = ingest(write_xlsx("per_facility.xlsx", sheets))
    got = run.exposures.sort_values(["sheet", "source_row"])
    assert list(zip(got["sheet"], got["facility_id"])) == [("007", "007"), ("KH St. Marien Gerät 2", "KH St. Marien Gerät 2"),
                                                        ("KH St. Marien Gerät 2", "KH St. Marien Gerät 2")]
    assert set(run.repairs.loc[run.repairs["column"] == "facility_id", "rule"]) == {"facility_id_from_sheet_name"}


@pytest.mark.parametrize("name", ["Tabelle1", "Report", "Q1 2024", "Quartal 2", "Auswertung"])
def test_generic_sheet_name_is_no_facility(write_xlsx, ingest, name):
    header = ["Examination code", "DAP [cGy x cm² bzw. µGy x m²]"]
    run = ingest(write_xlsx("generic.xlsx", {name: survey_rows([[9003, 10.0]], header=header)}))
    assert run.rejection(FIRST)["reason"] == "no facility ID column in the sheet"


@pytest.mark.parametrize("column", ["Station name", "Stationsname", "Arbeitsplatz"])
def test_a_station_name_column_names_the_facility(write_xlsx, ingest, column):
    header = ["Accession number", column, "Examination code", "DAP [mGy·cm²]", "Manufacturer"]
    run = ingest(write_xlsx("export.xlsx", {"Report": survey_rows([["A1", "PRX-4711", 9003, 100.0, "Philips"]],
                                                                  header=header)}))
    assert run.exposures[["facility_id", "dap_cgycm2"]].values.tolist() == [["PRX-4711", 10.0]]


@pytest.mark.parametrize("written", ["Beispiel", "Muster-Einrichtung", "Example", "z.B. Praxis"])
def test_example_row_is_no_exposure(write_xlsx, ingest, written):
    run = ingest(_sheet(write_xlsx, [template_row(written, 9003, 12.5), template_row(1, 9003, 10.0)]))
    assert run.exposures["source_row"].tolist() == [FIRST + 1]
    assert run.rejection(FIRST)["reason"] == "example row"


def test_instructions_sheet_with_an_example_row_is_not_read(write_xlsx, ingest):
    sheets = {"Exposure data": survey_rows([template_row(1, 9003, 10.0)]),
              "Ausfüllhinweise": [["So füllen Sie die Tabelle aus"], [], list(TEMPLATE_HEADER), ["12345", 9003, 12.5]]}
    run = ingest(write_xlsx("AeSt_Nord_2023.xlsx", sheets))
    assert run.exposures["sheet"].tolist() == ["Exposure data"]
    assert "Ausfüllhinweise" in run.summary.files[0].sheets_skipped


def test_second_table_with_its_own_header_is_read_with_it(write_csv, ingest):
    rows = [["Einrichtung", "Untersuchung", "DFP [cGy·cm²]", "Alter", "Gewicht"], [1, 9003, "10", "40", "70"],
            [1, 9003, "11", "41", "71"], [], ["Tabelle 2"],
            ["Facility", "Examination code", "Gewicht [kg]", "Alter [Jahre]", "DAP [cGy·cm²]"], [2, 9004, "80", "50", "20"]]
    run = ingest(write_csv("AeSt_Nord_2023.csv", rows, delimiter=";"))
    got = run.exposures.set_index("source_row")
    assert got.loc[7, ["facility_id", "exam_code", "weight_kg", "age_years", "dap_cgycm2"]].tolist() == \
        ["2", "9004", 80.0, 50.0, 20.0]
    assert got.loc[2, ["weight_kg", "age_years"]].tolist() == [70.0, 40.0]


def test_two_row_header_whose_second_row_continues_the_names(write_xlsx, ingest):
    top = ["Einrichtung", "Untersuchung", "DFP", "Gewicht", "Alter"]
    rows = survey_rows([["ID", "Code", "[dGy·cm²]", "[kg]", "[Jahre]"], [1, 9003, 1.0, 70, 40]], header=top)
    run = ingest(write_xlsx("two_rows.xlsx", rows))
    assert run.exposures[["facility_id", "dap_cgycm2", "weight_kg"]].values.tolist() == [["1", 10.0, 70.0]]


@pytest.mark.parametrize("year", ["Jahr 2023", dt.date(2023, 12, 31), dt.date(2023, 1, 1), "2023"])
def test_survey_year_given_as_text_or_date(write_xlsx, ingest, year):
    run = ingest(write_xlsx("survey.xlsx", survey_rows([template_row(1, 9003, 10.0)], year=year)))
    assert run.value("year", FIRST) == 2023


@pytest.mark.parametrize(("header", "value"), [("Dosisflächenprodukt dGy*cm2", 100.0), ("DFP mGy*cm2", 1.0)])
def test_unit_after_the_header_name_without_brackets(write_xlsx, ingest, header, value):
    run = ingest(_sheet(write_xlsx, [[1, 9003, 10.0]], header=["ID", "Exam code", header]))
    assert run.value("dap_cgycm2", FIRST) == value


@pytest.mark.parametrize(("header", "column"), [("Gew. kg", "weight_kg"), ("PAT.-ALTER", "age_years"),
                                                ("Prüfkörper", "ctdi_phantom_cm")])
def test_abbreviated_headers(write_xlsx, ingest, header, column):
    run = ingest(_sheet(write_xlsx, [[1, 1030, 9.5, "32" if column == "ctdi_phantom_cm" else "70"]],
                        header=["ID", "Exam code", "CTDIvol [mGy]", header]))
    assert run.value(column, FIRST) in (32.0, 70.0)


def test_device_model_column_is_no_facility_id(write_xlsx, ingest):
    run = ingest(_sheet(write_xlsx, [["Canon Aquilion", 7, 9003, 10.0]], header=["Gerätetyp", "Standort", "Code", "DAP"]))
    assert run.value("facility_id", FIRST) == "7"


def test_fill_down_goes_on_across_an_empty_or_note_row(write_xlsx, ingest):
    rows = [template_row("A", 9003, 10.0), template_row("", 9003, 11.0), [], template_row("", 9003, 12.0),
            ["Stand 15.03., Nachlieferung folgt"], template_row("", 9003, 13.0), template_row("B", 9003, 14.0),
            template_row("", 9003, 15.0)]
    run = ingest(_sheet(write_xlsx, rows))
    got = run.exposures.set_index("source_row")["facility_id"]
    assert got.to_dict() == {FIRST: "A", FIRST + 1: "A", FIRST + 3: "A", FIRST + 5: "A", FIRST + 6: "B", FIRST + 7: "B"}


# --- classes of a second blind held-out set: numbers, codes, tables ----------


@pytest.mark.parametrize(("written", "value"), [("7.726e2", 772.6), ("1,23E+03", 1230.0), ("4.5E3", 4500.0),
                                                ("2,5e-1", 0.25)])
def test_number_in_scientific_notation(write_xlsx, ingest, written, value):
    run = ingest(_sheet(write_xlsx, [template_row(1, 9003, written)]))
    assert run.value("dap_cgycm2", FIRST) == pytest.approx(value)
    assert run.repair("dap_cgycm2", FIRST)["rule"] == "scientific_notation"


def test_a_spreadsheets_text_marker_before_numbers_and_codes_in_a_csv(write_csv, ingest):
    rows = survey_rows([template_row("'KH-7", "'9003", "'356,2", weight="'71")], header_row=1)
    run = ingest(write_csv("AeSt_Nord_2023.csv", rows, delimiter=";"))
    assert run.exposures[["facility_id", "exam_code"]].values.tolist() == [["KH-7", "9003"]]
    assert run.value("dap_cgycm2", 2) == pytest.approx(356.2)
    assert run.value("weight_kg", 2) == 71


@pytest.mark.parametrize("label", ["Mittelwert 9003", "Median 9003", "Ø 9003", "Anzahl 9003", "Summe 9003"])
def test_a_statistic_of_an_exam_code_is_a_summary_row(write_xlsx, ingest, label):
    run = ingest(_sheet(write_xlsx, [template_row(1, 9003, 10.0), template_row(1, 9003, 14.0),
                                     template_row(1, label, 12.0)]))
    assert run.exposures["dap_cgycm2"].tolist() == [10.0, 14.0]
    assert run.rejection(FIRST + 2)["reason"] == "total or summary row"


def test_tables_side_by_side_are_each_read_with_their_own_columns(write_xlsx, ingest):
    header = ["ID", "Exam code", "DAP [cGy·cm²]", "Age (years)", "", "ID", "Exam code", "DAP [Gy·cm²]",
              "Age (years)"]
    data = [["A", 9003, 10.0, "20-29", "", "B", 9005, 0.5, 40],
            ["A", 9003, 11.0, 33, "", "B", 9005, 0.6, 41],
            ["A", 9003, 12.0, 34, "", "", "", "", ""],
            ["", "", "", "", "", "B", 9005, 0.7, 42]]
    run = ingest(_sheet(write_xlsx, data, header=header))
    stored = run.exposures.sort_values(["facility_id", "source_row"])
    assert stored[["facility_id", "dap_cgycm2", "age_years"]].values.tolist() == [
        ["A", 11.0, 33.0], ["A", 12.0, 34.0], ["B", 50.0, 40.0], ["B", 60.0, 41.0], ["B", 70.0, 42.0]]
    assert set(stored["sheet"]) == {"Exposure data", "Exposure data (columns F-I)"}
    # The left table's range is its own age, unreadable: never the right table's age of another patient.
    left = run.rejections[run.rejections["sheet"] == "Exposure data"]
    assert left.set_index("source_row").loc[FIRST, "reason"] == "unreadable value in age_years"
    assert any("side by side" in n for n in run.summary.files[0].notes)


def test_age_from_the_birth_date_and_the_exam_date(write_xlsx, ingest):
    header = ["Station name", "Geburtsdatum", "Studiendatum", "Exam code", "DAP [cGy·cm²]"]
    data = [["R1", dt.datetime(1972, 5, 24), dt.datetime(2024, 9, 13), 9003, 10.0],
            ["R1", "24.05.1972", "2024-09-13 10:22", 9003, 11.0],
            ["R1", "05/04/1972", "13.09.2024", 9003, 12.0],  # April or May: no age
            ["R1", "", "13.09.2024", 9003, 13.0]]
    run = ingest(_sheet(write_xlsx, data, header=header))
    ages = run.exposures.set_index("source_row")["age_years"]
    assert ages[FIRST] == pytest.approx(52.31, abs=0.01) and ages[FIRST + 1] == pytest.approx(52.31, abs=0.01)
    assert math.isnan(ages[FIRST + 2]) and math.isnan(ages[FIRST + 3])  # stored, without an age
    repair = run.repair("age_years", FIRST)
    assert repair["rule"] == "age_from_birth_date" and "1972" not in repair["before"]
    assert run.summary.files[0].inferences["age_from_birth_date"] == 2


# --- every documented rule has a test here -----------------------------------

RULE_TESTS = {
    "unit_conversion": test_unit_conversion_logged_once_per_column,
    "number_as_text": test_number_typed_as_text_in_a_workbook,
    "decimal_comma": test_decimal_comma_in_a_workbook,
    "thousands_separator": test_thousands_separator,
    "unit_in_cell": test_unit_written_in_the_cell,
    "missing_marker": test_missing_value_marker,
    "notation_from_sheet": test_notation_from_sheet_resolves_a_lone_ambiguous_number,
    "exam_code_from_sheet_name": test_sheet_per_exam_without_exam_column_takes_the_code_from_its_name,
    "facility_id_filled_down": test_facility_id_given_once_per_block_is_filled_down,
    "header_matched": test_every_column_matched_by_another_name_is_logged,
    "approximate_value": test_approximate_value_or_comment_beside_a_number,
    "comment_in_cell": test_approximate_value_or_comment_beside_a_number,
    "unit_from_column": test_unit_from_a_unit_column_row_by_row,
    "phantom_from_column": test_ct_dose_in_one_column_per_phantom,
    "facility_id_from_sheet_name": test_sheet_per_facility_takes_the_facility_from_its_name,
    "ambiguous_notation": test_ambiguous_number_keeps_the_reading_near_the_drl_and_is_flagged,
    "exam_code_from_text": test_exam_code_written_with_name_prefix_or_alias,
    "exam_code_from_name": test_exam_code_written_with_name_prefix_or_alias,
    "phantom_from_text": test_phantom_written_as_a_word,
    "merged_cell": test_facility_id_merged_over_several_rows_is_filled_down,
    "facility_id_as_text": test_facility_id_as_number_or_text,
    "scientific_notation": test_number_in_scientific_notation,
    "age_from_birth_date": test_age_from_the_birth_date_and_the_exam_date,
}
REJECTION_TESTS = {
    "empty row": test_empty_row_between_data_rejected,
    "repeated header row": test_repeated_header_row_rejected,
    "total or summary row": test_total_or_summary_row_rejected,
    "note row": test_note_row_rejected,
    "exam code missing": test_row_without_exam_code_rejected,
    "facility ID missing": test_row_without_facility_id_rejected,
    "no dose value": test_row_without_any_dose_rejected,
    "unreadable value": test_unreadable_value_rejects_its_row_naming_the_column,
    "example row": test_example_row_is_no_exposure,
    "values for both phantoms, or a phantom that disagrees with its dose column": test_ct_dose_in_one_column_per_phantom,
}


def test_every_documented_rule_and_reason_has_a_test():
    doc = repair_module.__doc__
    rules_part, _, reasons_part = doc.partition("Rejections:")
    rules = set(re.findall(r"^\* ``(\w+)``|, ``(\w+)``", rules_part, flags=re.M))
    rules = {r for pair in rules for r in pair if r} | set(re.findall(r"``(\w+_\w+)``", rules_part))
    reasons = set(re.findall(r"``([^`]+)``", reasons_part))
    assert rules == set(RULE_TESTS)
    assert reasons == set(REJECTION_TESTS)


# --- classes seen on a second blind held-out set ------------------------------


@pytest.mark.parametrize(("dap_unit", "age_unit", "dap", "age"), [
    ("in mGy·cm²", "in Monate", 10.0 * 0.1, 8 / 12), ("Einheit: Gy·cm²", "[Jahre]", 10.0 * 100, 8.0),
])
def test_units_row_with_words_before_the_units(write_csv, ingest, dap_unit, age_unit, dap, age):
    header = ["ID", "Exam code", "DAP", "Alter"]
    rows = survey_rows([["", "", dap_unit, age_unit], [1, 9003, 10, 8]], header=header)
    run = ingest(write_csv("units_row.csv", rows, delimiter=";"))
    assert run.value("dap_cgycm2", FIRST + 1) == pytest.approx(dap)
    assert run.value("age_years", FIRST + 1) == pytest.approx(age)
    assert len(run.exposures) == 1 and run.rejections.empty  # the units row is part of the header


def test_a_unit_that_cannot_be_read_rejects_the_values_instead_of_assuming_one(write_xlsx, ingest):
    header = ["ID", "Exam code", "DAP [mGy x m]", "Gewicht [kg]"]
    run = ingest(_sheet(write_xlsx, [[1, 9003, 12.5, 70], [1, 9003, "", 71]], header=header))
    assert run.exposures.empty  # neither 12.5 cGy·cm² (a guess) nor a row without its dose
    assert run.rejection(FIRST)["reason"] == "unknown unit 'mGy x m' of dap_cgycm2 in the header"
    assert run.rejection(FIRST + 1)["reason"] == "no dose value"


def test_units_row_with_one_unit_that_cannot_be_read(write_xlsx, ingest):
    header = ["ID", "Exam code", "DAP", "Gewicht"]
    rows = survey_rows([["", "", "[mGy x m]", "(kg)"], [1, 9003, 0.1, 70], [1, 9003, 0.2, 71]], header=header)
    run = ingest(write_xlsx("two_rows.xlsx", rows))
    assert run.exposures.empty
    assert run.rejection(FIRST + 1)["reason"] == "unknown unit '[mGy x m]' of dap_cgycm2 in the header"


@pytest.mark.parametrize(("header", "stored"), [
    ("CTDI(vol) [mGy", 8.74), ("CTDIvol (mGy) gesamt", 8.74), ("DAP (Summe)", 8.74),
])
def test_words_beside_a_unit_in_a_header_are_not_taken_for_a_unit(write_xlsx, ingest, header, stored):
    column = "dap_cgycm2" if header.startswith("DAP") else "ctdivol_mgy"
    code = 9003 if column == "dap_cgycm2" else 1010
    run = ingest(_sheet(write_xlsx, [[1, code, 8.74, 16]], header=["ID", "Exam code", header, "CTDI-Phantom [cm]"]))
    assert run.value(column, FIRST) == stored


def test_a_data_row_with_units_in_its_cells_is_no_units_row(write_xlsx, ingest):
    header = ["ID", "Exam code", "DAP [cGy x cm²]", "Alter"]
    rows = survey_rows([["Klinik A", "9003", "22,9 cGy x cm²", "54 J."], [1, 9003, 30, 60]], header=header)
    run = ingest(write_xlsx("cells.xlsx", rows))
    assert run.value("dap_cgycm2", FIRST) == pytest.approx(22.9)
    assert run.value("age_years", FIRST) == 54

"""The blank survey template, and reading a filled one back exactly."""

from __future__ import annotations

import math

import pytest
from openpyxl import load_workbook

from drl_analysis import cli

#: The header the issue prescribes, written out independently of template.py.
PRESCRIBED_HEADER = [
    "ID of the facility or device",
    "Examination code",
    "DAP [cGy x cm² bzw. µGy x m²]",
    "AGD [mSv]",
    "DLP [mGy x cm]",
    "CTDIvol [mGy]",
    "CTDI-Phantom",
    "Patient weight [kg]",
    "Age",
]

#: What a facility types, in the template's column order.
TYPED_ROWS = [
    (17, 1010, None, None, 912.4, 52.31, 16, 71.5, 64),
    (17, 1030, None, None, 350.0, 8.7, 32, None, 45),
    ("KH-3", 9003, 12.34, None, None, None, None, 80, 33),
    ("KH-3", 9101, 2765.1, None, None, None, None, 92.3, 71),
    (5, 9201, None, 1.83, None, None, None, None, 58),
]


@pytest.fixture
def blank_template(tmp_path, capsys):
    """The template written by ``drl-analysis template`` for Aerztliche Stelle Nord, 2024."""
    out = tmp_path / "template.xlsx"
    status = cli.main(["template", str(out), "--year", "2024", "--data-source", "Aerztliche Stelle Nord"])
    assert status == 0
    assert f"Wrote the survey template to {out}" in capsys.readouterr().out
    return out


def test_template_has_the_three_sheets(blank_template):
    wb = load_workbook(blank_template)
    assert wb.sheetnames == ["Exposure data", "IDs", "Examination codes"]


def test_template_labels_title_and_header_in_their_rows(blank_template):
    ws = load_workbook(blank_template)["Exposure data"]
    assert any(isinstance(c.value, str) and c.value.strip() for c in ws[2])
    assert (ws["A5"].value, ws["C5"].value) == ("Data source", "Aerztliche Stelle Nord")
    assert (ws["A7"].value, ws["C7"].value) == ("Year", 2024)
    header = [c.value for c in ws[11]]
    assert header[:9] == PRESCRIBED_HEADER
    assert all(v is None for v in header[9:])
    for r in (1, 3, 4, 6, 8, 9, 10, 12):
        assert all(c.value is None for c in ws[r][1:]), f"row {r} should hold no values beyond labels"


def test_template_without_year_or_source_leaves_their_cells_empty(tmp_path):
    out = tmp_path / "blank.xlsx"
    assert cli.main(["template", str(out)]) == 0
    ws = load_workbook(out)["Exposure data"]
    assert ws["C5"].value is None and ws["C7"].value is None


def test_exam_code_cells_offer_the_catalogue_codes(blank_template, catalogue):
    wb = load_workbook(blank_template)
    codes_sheet = wb["Examination codes"]
    codes = [str(r[0].value) for r in codes_sheet.iter_rows(min_row=2) if r[0].value is not None]
    assert sorted(codes) == sorted(catalogue.codes)
    validations = wb["Exposure data"].data_validations.dataValidation
    lists = [dv for dv in validations if dv.type == "list"]
    assert len(lists) == 1
    dv = lists[0]
    assert "B12" in dv.sqref and "B5000" in dv.sqref and "C12" not in dv.sqref
    assert dv.formula1 == f"'Examination codes'!$A$2:$A${len(codes) + 1}"  # no "=" in the file (OOXML)


def test_number_cells_carry_a_number_format(blank_template):
    ws = load_workbook(blank_template)["Exposure data"]
    for column in "CDEFGHI":
        for row in (12, 500):
            fmt = ws[f"{column}{row}"].number_format
            assert fmt != "General" and set(fmt) <= set("0.#,"), (column, row, fmt)
    assert ws["A12"].number_format == "General"  # IDs may be text


def test_template_with_an_own_catalogue(tmp_path):
    own = tmp_path / "catalogue.csv"
    own.write_text(
        "exam_code,exam_name,modality,quantity,edition,drl_value\n"
        "7001,Knee,radiography,dap_cgycm2,X-2025,5\n"
        "7002,Hip,radiography,dap_cgycm2,X-2025,30\n",
        encoding="utf-8",
    )
    out = tmp_path / "own.xlsx"
    assert cli.main(["template", str(out), "--catalogue", str(own)]) == 0
    wb = load_workbook(out)
    rows = [[c.value for c in r[:2]] for r in wb["Examination codes"].iter_rows(min_row=2)]
    assert rows == [[7001, "Knee"], [7002, "Hip"]]
    (dv,) = wb["Exposure data"].data_validations.dataValidation
    assert dv.formula1 == "'Examination codes'!$A$2:$A$3"


def test_filled_template_reads_back_exactly_what_was_typed(blank_template, ingest, tmp_path):
    wb = load_workbook(blank_template)
    ws = wb["Exposure data"]
    for r, row in enumerate(TYPED_ROWS, start=12):
        for c, value in enumerate(row, start=1):
            ws.cell(r, c, value)
    wb["IDs"].append([17, "Klinikum Beispielstadt, CT 1"])
    filled = tmp_path / "filled" / "filled.xlsx"
    filled.parent.mkdir()
    wb.save(filled)

    run = ingest(filled)
    stored = run.exposures
    assert stored["source_row"].tolist() == [12, 13, 14, 15, 16]
    assert (stored["sheet"] == "Exposure data").all()
    assert (stored["data_source"] == "Aerztliche Stelle Nord").all()
    assert (stored["year"] == 2024).all()
    columns = ["facility_id", "exam_code", "dap_cgycm2", "agd_mgy", "dlp_mgycm", "ctdivol_mgy",
               "ctdi_phantom_cm", "weight_kg", "age_years"]
    for typed, (_, got) in zip(TYPED_ROWS, stored[columns].iterrows()):
        assert got["facility_id"] == str(typed[0])
        assert got["exam_code"] == str(typed[1])
        for value, column in zip(typed[2:], columns[2:]):
            if value is None:
                assert math.isnan(got[column]), column
            else:
                assert got[column] == value, column  # exactly, not approximately
    assert run.repairs.empty
    assert run.rejections.empty
    assert (stored["flags"] == "").all()
    assert run.summary.files[0].sheets_skipped == ["IDs", "Examination codes"]


def test_blank_template_sent_back_holds_no_exposure_data(blank_template, ingest):
    run = ingest(blank_template)
    (outcome,) = run.summary.files
    assert outcome.status == "failed"
    assert outcome.message.startswith("the workbook holds no exposure data")
    assert not run.summary.ok

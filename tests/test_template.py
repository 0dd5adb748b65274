"""The blank survey template: what it says and how it prints, and reading a filled one back exactly."""

from __future__ import annotations

import math

import pytest
from openpyxl import load_workbook

from drl_analysis import cli
from drl_analysis.ingest.headers import find_labels, match_column

#: The header the template writes, written out independently of template.py: the
#: unit of every quantity in brackets (AGD is a dose in mGy).
PRESCRIBED_HEADER = [
    "ID of the facility or device",
    "Examination code",
    "DAP [cGy x cm² bzw. µGy x m²]",
    "AGD [mGy]",
    "DLP [mGy x cm]",
    "CTDIvol [mGy]",
    "CTDI phantom [cm]",
    "Patient weight [kg]",
    "Age [years]",
]
#: The header of the template's first version (the bundled sample's files use it).
FORMER_HEADER = [
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
COLUMNS = ["facility_id", "exam_code", "dap_cgycm2", "agd_mgy", "dlp_mgycm", "ctdivol_mgy",
           "ctdi_phantom_cm", "weight_kg", "age_years"]

#: What a facility types, in the template's column order: codes typed, and picked from the drop-down.
TYPED_ROWS = [
    (17, 1010, None, None, 912.4, 52.31, 16, 71.5, 64),
    (17, "1031 – High-contrast lung", None, None, 350.0, 8.7, 32, None, 45),
    ("KH-3", 9003, 12.34, None, None, None, None, 80, 33),
    ("KH-3", "9101 – Coronary angiography", 2765.1, None, None, None, None, 92.3, 71),
    (5, 9201, None, 1.83, None, None, None, None, 58),
]
EXPECTED_CODES = ["1010", "1031", "9003", "9101", "9201"]


@pytest.fixture
def blank_template(tmp_path, capsys):
    """The template written by ``drl-analysis template`` for Aerztliche Stelle Nord, 2024."""
    out = tmp_path / "template.xlsx"
    status = cli.main(["template", str(out), "--year", "2024", "--data-source", "Aerztliche Stelle Nord"])
    assert status == 0
    assert f"Wrote the survey template to {out}" in capsys.readouterr().out
    return out


def fill(template, rows, path, *, source=True):
    """The template with ``rows`` typed from row 12 on (and C5/C7 emptied unless ``source``)."""
    wb = load_workbook(template)
    ws = wb["Exposure data"]
    if not source:
        ws["C5"] = ws["C7"] = None
    for r, row in enumerate(rows, start=12):
        for c, value in enumerate(row, start=1):
            ws.cell(r, c, value)
    wb["IDs"].append([17, "Klinikum Beispielstadt, CT 1"])
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def test_template_has_instructions_first_then_the_three_sheets(blank_template):
    wb = load_workbook(blank_template)
    assert wb.sheetnames == ["Instructions", "Exposure data", "IDs", "Examination codes"]
    assert wb.active.title == "Instructions"  # what a new user sees on opening it


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


def test_every_quantity_header_names_its_unit(blank_template):
    header = [c.value for c in load_workbook(blank_template)["Exposure data"][11]][:9]
    for text in header[2:]:
        assert text.endswith("]") and "[" in text, text
    assert "AGD [mGy]" in header and not any("Sv" in text for text in header)


def test_instructions_say_what_to_fill_with_units_and_an_example_row(blank_template, catalogue):
    sheet = load_workbook(blank_template)["Instructions"]
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    text = " ".join(str(v) for row in rows for v in row if v is not None)
    for needle in ("C5", "C7", "row 11", "drop-down", "Examination codes", "empty", "without a unit"):
        assert needle in text, needle
    # A table of the columns with their units ...
    units = {row[1]: row[2] for row in rows if row[1] in PRESCRIBED_HEADER}
    assert units["AGD [mGy]"] == "mGy" and units["Age [years]"] == "years" and units["CTDI phantom [cm]"] == "cm"
    assert units["DLP [mGy x cm]"] == "mGy·cm" and "µGy·m²" in units["DAP [cGy x cm² bzw. µGy x m²]"]
    # ... and an example row under the data sheet's header, its exam code as the drop-down writes it.
    at = next(i for i, row in enumerate(rows) if row[:9] == PRESCRIBED_HEADER)
    example = rows[at + 1][:9]
    code, name = str(example[1]).split(" – ", 1)
    assert catalogue.exam_name(code) == name
    assert example[0] and any(isinstance(v, (int, float)) for v in example[2:7])
    # No cell reads as the workbook's data source or year (ingest looks for such labels on every sheet).
    assert find_labels(rows, len(rows)) == (None, None)


def test_exam_code_cells_offer_code_and_name_from_the_catalogue(blank_template, catalogue):
    wb = load_workbook(blank_template)
    codes_sheet = wb["Examination codes"]
    header = [c.value for c in codes_sheet[1]]
    codes = [str(r[0].value) for r in codes_sheet.iter_rows(min_row=2) if r[0].value is not None]
    assert sorted(codes) == sorted(catalogue.codes)
    entries = [r[-1].value for r in codes_sheet.iter_rows(min_row=2)]
    assert entries[codes.index("1010")] == "1010 – Cranium"
    assert all(e == f"{c} – {catalogue.exam_name(c)}" for c, e in zip(codes, entries))
    column = chr(ord("A") + len(header) - 1)
    assert header[-1] == "Drop-down entry" and codes_sheet.column_dimensions[column].hidden
    validations = wb["Exposure data"].data_validations.dataValidation
    lists = [dv for dv in validations if dv.type == "list"]
    assert len(lists) == 1
    dv = lists[0]
    assert "B12" in dv.sqref and "B5000" in dv.sqref and "C12" not in dv.sqref
    # no "=" in the file (OOXML)
    assert dv.formula1 == f"'Examination codes'!${column}$2:${column}${len(codes) + 1}"
    assert not dv.showErrorMessage  # a code the catalogue does not know yet can still be typed


def test_number_cells_carry_a_number_format(blank_template):
    ws = load_workbook(blank_template)["Exposure data"]
    for column in "CDEFGHI":
        for row in (12, 500):
            fmt = ws[f"{column}{row}"].number_format
            assert fmt != "General" and set(fmt) <= set("0.#,"), (column, row, fmt)
    assert ws["A12"].number_format == "General"  # IDs may be text


def test_every_sheet_prints_on_a4_one_page_wide_with_its_header_repeated(blank_template):
    wb = load_workbook(blank_template)
    expected = {"Instructions": ("landscape", None), "Exposure data": ("landscape", "$11:$11"),
                "IDs": ("portrait", "$1:$1"), "Examination codes": ("landscape", "$1:$1")}
    for name, (orientation, title_rows) in expected.items():
        ws = wb[name]
        setup = ws.page_setup
        assert int(setup.paperSize) == 9 and setup.orientation == orientation, name  # 9: A4
        assert ws.sheet_properties.pageSetUpPr.fitToPage, name
        assert (int(setup.fitToWidth), int(setup.fitToHeight)) == (1, 0), name  # one page wide, as long as needed
        assert ws.print_title_rows == title_rows, name
        assert "&P" in ws.oddFooter.right.text, name
    # The codes sheet's headers wrap in a row tall enough, and its hidden column is not printed.
    codes = wb["Examination codes"]
    assert all(c.alignment.wrap_text for c in codes[1]) and codes.row_dimensions[1].height >= 45
    assert codes.print_area == f"'Examination codes'!$A$1:${chr(ord('A') + codes.max_column - 2)}${codes.max_row}"


def test_template_without_year_or_source_leaves_their_cells_empty(tmp_path):
    out = tmp_path / "blank.xlsx"
    assert cli.main(["template", str(out)]) == 0
    ws = load_workbook(out)["Exposure data"]
    assert ws["C5"].value is None and ws["C7"].value is None


def test_template_refuses_a_year_that_is_none_and_a_missing_catalogue_at_once(tmp_path, capsys):
    out = tmp_path / "t.xlsx"
    assert cli.main(["template", str(out), "--year", "24", "--catalogue", str(tmp_path / "none.csv")]) == 2
    err = capsys.readouterr().err
    assert "2 problems" in err and "--year: 24" in err and "none.csv" in err
    assert not out.exists()


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
    assert dv.formula1 == "'Examination codes'!$I$2:$I$3"  # 7 columns, one edition, then the entries
    entries = [r[-1].value for r in wb["Examination codes"].iter_rows(min_row=2)]
    assert entries == ["7001 – Knee", "7002 – Hip"]
    instructions = [[c.value for c in row] for row in wb["Instructions"].iter_rows()]
    assert any(row[1] == "7001 – Knee" for row in instructions)  # the example uses a code of this catalogue


def test_filled_template_reads_back_exactly_what_was_typed_or_picked(blank_template, ingest, tmp_path):
    filled = fill(blank_template, TYPED_ROWS, tmp_path / "filled" / "filled.xlsx")
    run = ingest(filled)
    stored = run.exposures
    assert stored["source_row"].tolist() == [12, 13, 14, 15, 16]
    assert (stored["sheet"] == "Exposure data").all()
    assert (stored["data_source"] == "Aerztliche Stelle Nord").all()
    assert (stored["year"] == 2024).all()
    assert stored["exam_code"].tolist() == EXPECTED_CODES
    for typed, (_, got) in zip(TYPED_ROWS, stored[COLUMNS].iterrows()):
        assert got["facility_id"] == str(typed[0])
        for value, column in zip(typed[2:], COLUMNS[2:]):
            if value is None:
                assert math.isnan(got[column]), column
            else:
                assert got[column] == value, column  # exactly, not approximately
    # Neither a drop-down entry nor a header with its unit is a repair: nothing was inferred.
    assert run.repairs.empty
    assert run.rejections.empty
    assert (stored["flags"] == "").all()
    assert run.summary.files[0].sheets_skipped == ["Instructions", "IDs", "Examination codes"]


def test_the_instructions_never_lend_the_data_their_source_or_year(blank_template, ingest, tmp_path):
    filled = fill(blank_template, TYPED_ROWS[:1], tmp_path / "filled" / "survey.xlsx", source=False)
    run = ingest(filled, data_source="Aerztliche Stelle Ost", year=2023)
    assert run.exposures[["data_source", "year"]].drop_duplicates().values.tolist() == [["Aerztliche Stelle Ost", 2023]]


@pytest.mark.parametrize(("text", "column"), list(zip(FORMER_HEADER, COLUMNS)) + list(zip(PRESCRIBED_HEADER, COLUMNS)))
def test_header_texts_old_and_new_are_read_as_the_template_s(text, column):
    assert match_column(text)[0] == column


def test_a_file_made_from_the_former_template_reads_back_exactly(blank_template, ingest, tmp_path):
    wb = load_workbook(blank_template)
    for c, text in enumerate(FORMER_HEADER, start=1):
        wb["Exposure data"].cell(11, c, text)
    old = tmp_path / "old" / "template_v1.xlsx"
    old.parent.mkdir()
    wb.save(old)
    filled = fill(old, TYPED_ROWS, tmp_path / "old" / "filled_v1.xlsx")
    run = ingest(filled)
    assert run.exposures["exam_code"].tolist() == EXPECTED_CODES
    assert run.exposures["agd_mgy"].dropna().tolist() == [1.83]  # "AGD [mSv]" is a dose in mGy all the same
    assert run.exposures["age_years"].tolist() == [64, 45, 33, 71, 58]
    assert run.exposures["ctdi_phantom_cm"].dropna().tolist() == [16, 32]
    assert run.repairs.empty and run.rejections.empty


def test_blank_template_sent_back_holds_no_exposure_data(blank_template, ingest):
    run = ingest(blank_template)
    (outcome,) = run.summary.files
    assert outcome.status == "failed"
    assert outcome.message.startswith("the workbook holds no exposure data")
    assert not run.summary.ok

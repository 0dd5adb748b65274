"""The blank survey workbook that facilities fill in.

It follows the BfS template: sheet "Exposure data" with the title in row 2,
"Data source" in row 5 and "Year" in row 7 (values in column C) and the
header in row 11; sheet "IDs" for the facilities; sheet "Examination codes"
from the catalogue. It explains itself: a sheet "Instructions" comes first
(what to fill, the unit of each column, an example row), every quantity's
header names its unit, exam-code cells offer a drop-down list of
"code – name" (read back as the code), number cells carry a number format,
and each sheet prints on A4 with its header repeated on every page.

Earlier versions of the template wrote other header texts ("AGD [mSv]" for a
dose in mGy, "Age" and "CTDI-Phantom" without units); they are read as
exactly as the current ones (:mod:`.template_layout`, which holds the layout
apart from this writer, so that reading submissions needs no openpyxl).
"""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.page import PageMargins
from openpyxl.worksheet.worksheet import Worksheet

from ..core.catalogue import Catalogue, load_catalogue
from ..core.columns import QUANTITIES
from .template_layout import (  # noqa: F401 - re-exported: the template's layout, as before
    CODES_SHEET,
    DATA_SHEET,
    FORMER_TEMPLATE_HEADERS,
    HEADER_ROW,
    IDS_SHEET,
    INSTRUCTIONS_SHEET,
    SOURCE_CELL,
    TEMPLATE_COLUMNS,
    TEMPLATE_HEADER,
    TEMPLATE_ROWS,
    TITLE,
    YEAR_CELL,
    code_of_label,
    exam_label,
)

_NUMBER_FORMATS = {3: "0.00", 4: "0.000", 5: "0.0", 6: "0.00", 7: "0", 8: "0.0", 9: "0"}
#: The codes sheet's column holding the drop-down entries ("code – name"); hidden.
_DROPDOWN_HEADER = "Drop-down entry"

_BOLD = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_WRAP_TOP = Alignment(wrap_text=True, vertical="top")


def write_template(
    out: str | Path,
    *,
    year: int | None = None,
    data_source: str | None = None,
    catalogue: Catalogue | None = None,
) -> Path:
    """Write the blank survey workbook.

    Parameters
    ----------
    out : str or Path
        The .xlsx file to write.
    year : int, optional
        Filled into the Year cell (C7).
    data_source : str, optional
        Filled into the Data source cell (C5).
    catalogue : Catalogue, optional
        Exam codes for the "Examination codes" sheet and the drop-down list.

    Returns
    -------
    Path
        The file written.
    """
    catalogue = catalogue or load_catalogue()
    out = Path(out)
    wb = Workbook()
    instructions = wb.active
    instructions.title = INSTRUCTIONS_SHEET
    ws = wb.create_sheet(DATA_SHEET)
    ids = wb.create_sheet(IDS_SHEET)
    codes = wb.create_sheet(CODES_SHEET)

    _write_data_sheet(ws, year, data_source)
    n_codes = _write_codes_sheet(codes, catalogue)
    _write_ids_sheet(ids)
    _write_instructions(instructions, catalogue)

    first, last = HEADER_ROW + 1, HEADER_ROW + TEMPLATE_ROWS
    dropdown = get_column_letter(codes.max_column)
    dv = DataValidation(
        type="list",
        # Formulas in the file carry no leading "=" (Office Open XML).
        formula1=f"'{CODES_SHEET}'!${dropdown}$2:${dropdown}${n_codes + 1}",
        allow_blank=True,
        showErrorMessage=False,  # unknown (newer) codes stay possible; ingest flags them
        promptTitle="Examination code",
        prompt="Pick 'code – name' from the list, or type the code (sheet 'Examination codes' lists them all)",
    )
    dv.add(f"B{first}:B{last}")
    ws.add_data_validation(dv)
    out.parent.mkdir(parents=True, exist_ok=True)
    wb.save(out)
    return out


def _print_setup(sheet: Worksheet, *, landscape: bool, title_rows: str | None) -> None:
    """A4, fitted to one page wide (as many pages down as needed), the header rows on
    every page, gridlines, and the sheet name and page number in the margins."""
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.orientation = sheet.ORIENTATION_LANDSCAPE if landscape else sheet.ORIENTATION_PORTRAIT
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0  # as many pages down as the rows need
    sheet.page_margins = PageMargins(left=0.4, right=0.4, top=0.6, bottom=0.6, header=0.3, footer=0.3)
    sheet.print_options.gridLines = sheet.title != INSTRUCTIONS_SHEET
    sheet.print_options.horizontalCentered = True
    if title_rows:
        sheet.print_title_rows = title_rows
    sheet.oddHeader.left.text = "&A"
    sheet.oddFooter.right.text = "page &P of &N"


def _write_data_sheet(ws: Worksheet, year: int | None, data_source: str | None) -> None:
    ws["B2"] = TITLE
    ws["B2"].font = Font(bold=True, size=14)
    ws["A5"], ws["A7"] = "Data source", "Year"
    ws["A5"].font = ws["A7"].font = _BOLD
    if data_source:
        ws[SOURCE_CELL] = data_source
    if year is not None:
        ws[YEAR_CELL] = int(year)
    widths = {1: 16, 2: 30}
    for c, name in enumerate(TEMPLATE_HEADER, start=1):
        cell = ws.cell(HEADER_ROW, c, name)
        cell.font = _BOLD
        cell.fill = _HEADER_FILL
        cell.alignment = _WRAP_TOP
        ws.column_dimensions[get_column_letter(c)].width = widths.get(c, 13)
    ws.row_dimensions[HEADER_ROW].height = 48
    ws.freeze_panes = ws.cell(HEADER_ROW + 1, 1)
    first, last = HEADER_ROW + 1, HEADER_ROW + TEMPLATE_ROWS
    for c, fmt in _NUMBER_FORMATS.items():
        for r in range(first, last + 1):
            ws.cell(r, c).number_format = fmt
    _print_setup(ws, landscape=True, title_rows=f"{HEADER_ROW}:{HEADER_ROW}")


def _write_ids_sheet(ids: Worksheet) -> None:
    for c, name in enumerate(("ID of the facility or device", "Name of the facility or device", "Remarks"), 1):
        cell = ids.cell(1, c, name)
        cell.font = _BOLD
        cell.fill = _HEADER_FILL
        cell.alignment = _WRAP_TOP
        ids.column_dimensions[get_column_letter(c)].width = 30
    ids.freeze_panes = "A2"
    _print_setup(ids, landscape=False, title_rows="1:1")


def _quantity_text(quantities: tuple[str, ...], what: str) -> str:
    return "; ".join(getattr(QUANTITIES[q], what) if q in QUANTITIES else q for q in quantities)


def _write_codes_sheet(codes: Worksheet, catalogue: Catalogue) -> int:
    """The catalogue, one row per exam, and the hidden column of drop-down entries; returns the rows written."""
    editions = catalogue.editions
    head = ["Exam code", "Exam name", "Modality", "DRL quantity", "DRL unit", "CTDI phantom [cm]", "Code origin",
            *[f"DRL {e}" for e in editions], _DROPDOWN_HEADER]
    for c, name in enumerate(head, 1):
        cell = codes.cell(1, c, name)
        cell.font = _BOLD
        cell.fill = _HEADER_FILL
        cell.alignment = _WRAP_TOP
    rows = list(catalogue.exams.itertuples(index=False))
    for r, row in enumerate(rows, start=2):
        code = int(row.exam_code) if str(row.exam_code).isdigit() else row.exam_code
        # An exam may have DRLs for several quantities (CT: CTDIvol and DLP): one
        # number where it has one, else "value (quantity)" for each, in one cell.
        quantities = catalogue.drl_quantities(row.exam_code)
        values = [code, row.exam_name, row.modality, "; ".join(quantities), _quantity_text(quantities, "unit"),
                  None if row.ctdi_phantom_cm != row.ctdi_phantom_cm else int(row.ctdi_phantom_cm),
                  row.code_origin]
        values += [_drl_cell(catalogue, row.exam_code, quantities, e) for e in editions]
        values.append(exam_label(row.exam_code, row.exam_name))
        for c, v in enumerate(values, 1):
            cell = codes.cell(r, c, v)
            cell.alignment = _WRAP_TOP
    widths = [10, 40, 14, 22, 10, 12, 10] + [14] * len(editions) + [50]
    for c, width in enumerate(widths, 1):
        codes.column_dimensions[get_column_letter(c)].width = width
    codes.column_dimensions[get_column_letter(len(head))].hidden = True
    codes.row_dimensions[1].height = 45
    codes.freeze_panes = "C2"
    _print_setup(codes, landscape=True, title_rows="1:1")
    codes.print_area = f"A1:{get_column_letter(len(head) - 1)}{len(rows) + 1}"
    return len(rows)


def _example(catalogue: Catalogue) -> tuple[list[object], str]:
    """An example row in the template's column order (exam codes as the drop-down writes them), and what it is."""
    exams = catalogue.exams
    ct = exams[exams["modality"].astype(str).str.upper() == "CT"]
    row = (ct if len(ct) else exams).iloc[0]
    label = exam_label(row["exam_code"], row["exam_name"])
    if len(ct):
        phantom = 16 if row.get("ctdi_phantom_cm") == 16 else 32
        return (["CT-1", label, None, None, 912.4, 52.31, phantom, 71.5, 64],
                f"a CT examination ({row['exam_name']}) on the scanner with ID CT-1")
    quantities = catalogue.drl_quantities(row["exam_code"]) or ("dap_cgycm2",)
    values: list[object] = ["R-2", label, None, None, None, None, None, 80, 33]
    position = {q: i for i, q in enumerate(TEMPLATE_COLUMNS)}
    for q in quantities:
        if q in position:
            values[position[q]] = {"agd_mgy": 1.83, "dap_cgycm2": 12.34}.get(q, 12.3)
    return values, f"an examination ({row['exam_name']}) on the device with ID R-2"


#: The instructions, one paragraph a row; no cell of them reads as a label of the data
#: sheet ("Data source", "Year") that ingest would take for the whole workbook.
_STEPS = (
    "Fill in the sheet 'Exposure data', one row per examination of a patient, from row 12 down:",
    "1. Cell C5: the data source (the medical body that collects the survey); cell C7: the survey year, such as 2025.",
    "2. Below the header in row 11: the ID of the facility or device and the examination code in every row, and "
    "the dose values the examination has (radiography and fluoroscopy: DAP; mammography: AGD; CT: DLP, CTDIvol "
    "and the CTDI phantom), with the patient's weight and age where known.",
    "3. Each value in the unit its header names (the table below); a number only, without a unit in the cell. "
    "Leave a cell empty when the value is not known.",
    "4. Examination code: pick 'code – name' from the drop-down list of the cell, or type the code alone; the "
    "sheet 'Examination codes' lists every code with its current diagnostic reference levels (DRL).",
    "5. Keep the header row where it is and its columns in their order; add no columns between them.",
    "6. Sheet 'IDs' (optional): which facility or device each ID stands for.",
    "Send the file back as it is (.xlsx); .xls, .ods and .csv files are read too.",
)
#: What each column of the data sheet holds, in the template's column order.
_COLUMN_NOTES = (
    "the ID of the facility or device, the same in every row of it (text or number)",
    "the exam code: an entry of the drop-down list, or the code alone",
    "dose-area product (radiography, fluoroscopy, interventions); 1 cGy·cm² = 1 µGy·m²",
    "average glandular dose (mammography)",
    "dose-length product (CT)",
    "volume CT dose index (CT)",
    "diameter of the CTDI phantom the CT values refer to: 16 (head) or 32 (body)",
    "the patient's weight",
    "the patient's age in whole years",
)


def _write_instructions(sheet: Worksheet, catalogue: Catalogue) -> None:
    sheet["A1"] = "How to fill in this survey"
    sheet["A1"].font = Font(bold=True, size=14)
    sheet["A2"] = TITLE
    n = len(TEMPLATE_HEADER)
    r = 4
    for text in _STEPS:
        sheet.cell(r, 1, text).alignment = _WRAP_TOP
        sheet.merge_cells(start_row=r, start_column=1, end_row=r, end_column=n)
        sheet.row_dimensions[r].height = 15 * (1 + len(text) // 175)
        r += 1

    r += 1
    sheet.cell(r, 1, "The columns of 'Exposure data'").font = _BOLD
    r += 1
    for c, name in enumerate(("Column", "Header", "Unit", "What to write"), 1):
        cell = sheet.cell(r, c, name)
        cell.font, cell.fill = _BOLD, _HEADER_FILL
    for c, (header, column, note) in enumerate(zip(TEMPLATE_HEADER, TEMPLATE_COLUMNS, _COLUMN_NOTES), 1):
        r += 1
        unit = QUANTITIES[column].unit if column in QUANTITIES else "–"
        if column == "dap_cgycm2":
            unit = "cGy·cm² (= µGy·m²)"
        for k, value in enumerate((get_column_letter(c), header, unit, note), 1):
            sheet.cell(r, k, value).alignment = _WRAP_TOP
        sheet.merge_cells(start_row=r, start_column=4, end_row=r, end_column=n)
        sheet.row_dimensions[r].height = 15 * (1 + len(note) // 95)

    values, what = _example(catalogue)
    r += 2
    sheet.cell(r, 1, f"An example row: {what}").font = _BOLD
    r += 1
    for c, name in enumerate(TEMPLATE_HEADER, 1):
        cell = sheet.cell(r, c, name)
        cell.font, cell.fill, cell.alignment = _BOLD, _HEADER_FILL, _WRAP_TOP
    sheet.row_dimensions[r].height = 48
    r += 1
    for c, value in enumerate(values, 1):
        cell = sheet.cell(r, c, value)
        cell.alignment = _WRAP_TOP
        if c in _NUMBER_FORMATS and value is not None:
            cell.number_format = _NUMBER_FORMATS[c]
    for c, width in enumerate((16, 30, 18, 13, 13, 13, 13, 13, 13), 1):
        sheet.column_dimensions[get_column_letter(c)].width = width
    _print_setup(sheet, landscape=True, title_rows=None)


def _drl_cell(catalogue: Catalogue, code: str, quantities: tuple[str, ...], edition: str) -> float | str | None:
    given = [(q, catalogue.current_drl(code, q, edition)[0]) for q in quantities]
    given = [(q, v) for q, v in given if v is not None]
    if len(quantities) <= 1:
        return given[0][1] if given else None
    return "; ".join(f"{v:g} ({q})" for q, v in given) or None

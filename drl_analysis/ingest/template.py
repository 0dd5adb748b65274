"""The blank survey workbook that facilities fill in.

It follows the BfS template: sheet "Exposure data" with the title in row 2,
"Data source" in row 5 and "Year" in row 7 (values in column C) and the
header in row 11; sheet "IDs" for the facilities; sheet "Examination codes"
from the catalogue. Exam-code cells offer a drop-down list of the catalogue's
codes; number cells carry a number format.
"""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from ..core.catalogue import Catalogue, load_catalogue
from .template_layout import HEADER_ROW, SOURCE_CELL, TEMPLATE_COLUMNS, TEMPLATE_HEADER, TEMPLATE_ROWS, TITLE, YEAR_CELL  # noqa: E402,F401 - re-exported

_NUMBER_FORMATS = {3: "0.00", 4: "0.000", 5: "0.0", 6: "0.00", 7: "0", 8: "0.0", 9: "0"}


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
    ws = wb.active
    ws.title = "Exposure data"
    bold = Font(bold=True)
    ws["B2"] = TITLE
    ws["B2"].font = Font(bold=True, size=14)
    ws["A5"], ws["A7"] = "Data source", "Year"
    ws["A5"].font = ws["A7"].font = bold
    if data_source:
        ws[SOURCE_CELL] = data_source
    if year is not None:
        ws[YEAR_CELL] = int(year)
    fill = PatternFill("solid", fgColor="DDEBF7")
    for c, name in enumerate(TEMPLATE_HEADER, start=1):
        cell = ws.cell(HEADER_ROW, c, name)
        cell.font = bold
        cell.fill = fill
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        ws.column_dimensions[get_column_letter(c)].width = 18 if c > 2 else 22
    ws.row_dimensions[HEADER_ROW].height = 45
    ws.freeze_panes = ws.cell(HEADER_ROW + 1, 1)
    first, last = HEADER_ROW + 1, HEADER_ROW + TEMPLATE_ROWS
    for c, fmt in _NUMBER_FORMATS.items():
        for r in range(first, last + 1):
            ws.cell(r, c).number_format = fmt

    ids = wb.create_sheet("IDs")
    for c, name in enumerate(("ID of the facility or device", "Name of the facility or device", "Remarks"), 1):
        ids.cell(1, c, name).font = bold
        ids.column_dimensions[get_column_letter(c)].width = 30

    codes = wb.create_sheet("Examination codes")
    editions = catalogue.editions
    head = ["Exam code", "Exam name", "Modality", "Quantity", "CTDI phantom [cm]", "Code origin",
            *[f"DRL {e}" for e in editions]]
    for c, name in enumerate(head, 1):
        codes.cell(1, c, name).font = bold
    codes.column_dimensions["B"].width = 48
    for r, row in enumerate(catalogue.exams.itertuples(index=False), start=2):
        code = int(row.exam_code) if str(row.exam_code).isdigit() else row.exam_code
        # An exam may have DRLs for several quantities (CT: CTDIvol and DLP): one
        # number where it has one, else "value (quantity)" for each, in one cell.
        quantities = catalogue.drl_quantities(row.exam_code)
        values = [code, row.exam_name, row.modality, "; ".join(quantities),
                  None if row.ctdi_phantom_cm != row.ctdi_phantom_cm else int(row.ctdi_phantom_cm),
                  row.code_origin]
        values += [_drl_cell(catalogue, row.exam_code, quantities, e) for e in editions]
        for c, v in enumerate(values, 1):
            codes.cell(r, c, v)
    n_codes = len(catalogue.exams) + 1

    dv = DataValidation(
        type="list",
        # Formulas in the file carry no leading "=" (Office Open XML).
        formula1=f"'Examination codes'!$A$2:$A${n_codes}",
        allow_blank=True,
        showErrorMessage=False,  # unknown (newer) codes stay possible; ingest flags them
        promptTitle="Examination code",
        prompt="Pick a code from the sheet 'Examination codes'",
    )
    dv.add(f"B{first}:B{last}")
    ws.add_data_validation(dv)
    out.parent.mkdir(parents=True, exist_ok=True)
    wb.save(out)
    return out


def _drl_cell(catalogue: Catalogue, code: str, quantities: tuple[str, ...], edition: str) -> float | str | None:
    given = [(q, catalogue.current_drl(code, q, edition)[0]) for q in quantities]
    given = [(q, v) for q, v in given if v is not None]
    if len(quantities) <= 1:
        return given[0][1] if given else None
    return "; ".join(f"{v:g} ({q})" for q, v in given) or None

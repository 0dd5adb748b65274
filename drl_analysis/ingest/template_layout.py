"""The survey template's layout: its title, header cells and where the labels stand.

Kept apart from :mod:`drl_analysis.ingest.template` (which writes the workbook
with openpyxl) so that reading submissions needs no workbook writer.
"""

from __future__ import annotations

from ..core.columns import EXPOSURE_COLUMNS

TITLE = "Intervention or diagnostic examination using x-rays"
#: The header of the exposure sheet, exactly as the template writes it.
TEMPLATE_HEADER: tuple[str, ...] = (
    "ID of the facility or device",
    "Examination code",
    "DAP [cGy x cm² bzw. µGy x m²]",
    "AGD [mSv]",
    "DLP [mGy x cm]",
    "CTDIvol [mGy]",
    "CTDI-Phantom",
    "Patient weight [kg]",
    "Age",
)
#: The canonical column of each template header cell, in the same order.
TEMPLATE_COLUMNS: tuple[str, ...] = EXPOSURE_COLUMNS
HEADER_ROW = 11
SOURCE_CELL = "C5"
YEAR_CELL = "C7"
#: Rows of the exposure sheet that get the drop-down list and number formats.
TEMPLATE_ROWS = 5000

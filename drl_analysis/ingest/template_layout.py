"""The survey template's layout: its title, header cells, where the labels stand,
its sheets, and the exam-code entries of its drop-down list.

Kept apart from :mod:`drl_analysis.ingest.template` (which writes the workbook
with openpyxl) so that reading submissions needs no workbook writer.

Earlier versions of the template wrote other header texts ("AGD [mSv]" for a
dose in mGy, "Age" and "CTDI-Phantom" without units); ingest reads them as
exactly as the current ones (:data:`FORMER_TEMPLATE_HEADERS`).
"""

from __future__ import annotations

from functools import lru_cache

from ..core.catalogue import Catalogue
from ..core.columns import EXPOSURE_COLUMNS

TITLE = "Intervention or diagnostic examination using x-rays"
#: The header of the exposure sheet, exactly as the template writes it: the unit of every quantity in brackets.
TEMPLATE_HEADER: tuple[str, ...] = (
    "ID of the facility or device",
    "Examination code",
    "DAP [cGy x cm² bzw. µGy x m²]",
    "AGD [mGy]",
    "DLP [mGy x cm]",
    "CTDIvol [mGy]",
    "CTDI phantom [cm]",
    "Patient weight [kg]",
    "Age [years]",
)
#: The canonical column of each template header cell, in the same order.
TEMPLATE_COLUMNS: tuple[str, ...] = EXPOSURE_COLUMNS
#: Headers of earlier versions of the template, each in the order of :data:`TEMPLATE_COLUMNS`;
#: ingest reads them as exactly as the current one (the bundled sample's files use the first).
FORMER_TEMPLATE_HEADERS: tuple[tuple[str, ...], ...] = (
    (
        "ID of the facility or device",
        "Examination code",
        "DAP [cGy x cm² bzw. µGy x m²]",
        "AGD [mSv]",  # a dose in mGy all the same (the BfS template's typo)
        "DLP [mGy x cm]",
        "CTDIvol [mGy]",
        "CTDI-Phantom",
        "Patient weight [kg]",
        "Age",
    ),
)
HEADER_ROW = 11
SOURCE_CELL = "C5"
YEAR_CELL = "C7"
#: Rows of the exposure sheet that get the drop-down list and number formats.
TEMPLATE_ROWS = 5000
#: Sheet names, in the workbook's order.
INSTRUCTIONS_SHEET = "Instructions"
DATA_SHEET = "Exposure data"
IDS_SHEET = "IDs"
CODES_SHEET = "Examination codes"


def exam_label(code: object, name: object) -> str:
    """The drop-down entry of an exam: ``"1010 – Cranium"`` (code, en dash, name)."""
    return " ".join(f"{code} \u2013 {name}".split())


@lru_cache(maxsize=8)
def _labels(catalogue: Catalogue) -> dict[str, str]:
    exams = catalogue.exams
    return {exam_label(code, name): str(code) for code, name in zip(exams["exam_code"], exams["exam_name"])}


def code_of_label(text: str, catalogue: Catalogue) -> str | None:
    """The exam code of a drop-down entry as the template writes it (``"1010 – Cranium"``), or None."""
    return _labels(catalogue).get(" ".join(str(text).split()))

"""The canonical columns, their units and their plausible ranges.

This is the one place that names the columns of an exposure and the unit each
dose quantity is stored in; every other module imports from here.

Units follow the German survey tables (see ``domain-notes.md`` of the project):
DAP in cGy·cm² (= µGy·m²), AGD in mGy, DLP in mGy·cm, CTDIvol in mGy.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Dose quantities for which DRLs exist, in canonical units.
DOSE_QUANTITIES: tuple[str, ...] = ("dap_cgycm2", "agd_mgy", "dlp_mgycm", "ctdivol_mgy")

#: Columns of one exposure as read from a survey, in template order.
EXPOSURE_COLUMNS: tuple[str, ...] = (
    "facility_id",
    "exam_code",
    "dap_cgycm2",
    "agd_mgy",
    "dlp_mgycm",
    "ctdivol_mgy",
    "ctdi_phantom_cm",
    "weight_kg",
    "age_years",
)

#: Numeric columns of an exposure (everything but the two identifiers).
NUMERIC_COLUMNS: tuple[str, ...] = EXPOSURE_COLUMNS[2:]

#: Columns that ``drl-analysis export`` writes first, in this order, then ``flags``.
EXPORT_COLUMNS: tuple[str, ...] = (
    "source_file",
    "sheet",
    "source_row",
    "data_source",
    "year",
    *EXPOSURE_COLUMNS,
)


@dataclass(frozen=True)
class Quantity:
    """A numeric column: its unit, a label for readers and its plausible range.

    ``low`` and ``high`` bound values that can occur in a real examination of
    an adult or a child; a value outside is stored but flagged ``out_of_range``.
    """

    column: str
    unit: str
    label: str
    low: float
    high: float


QUANTITIES: dict[str, Quantity] = {
    q.column: q
    for q in (
        Quantity("dap_cgycm2", "cGy·cm²", "DAP", 0.01, 200_000.0),
        Quantity("agd_mgy", "mGy", "AGD", 0.05, 30.0),
        Quantity("dlp_mgycm", "mGy·cm", "DLP", 1.0, 30_000.0),
        Quantity("ctdivol_mgy", "mGy", "CTDIvol", 0.05, 500.0),
        Quantity("ctdi_phantom_cm", "cm", "CTDI phantom", 16.0, 32.0),
        Quantity("weight_kg", "kg", "Patient weight", 0.3, 350.0),
        Quantity("age_years", "years", "Age", 0.0, 120.0),
    )
}

#: The CTDI reference phantoms, diameter in cm.
PHANTOMS_CM: tuple[int, ...] = (16, 32)

#: The CT dose quantities: referenced to a CTDI phantom, so 16 cm and 32 cm
#: values of one exam are never pooled (16 cm values are 2-3 times the 32 cm ones).
CT_QUANTITIES: tuple[str, ...] = ("ctdivol_mgy", "dlp_mgycm")


def header_label(column: str) -> str:
    """A reader's column header with the unit, e.g. ``"DAP [cGy·cm²]"``."""
    q = QUANTITIES.get(column)
    if q is None:
        return column.replace("_", " ")
    return f"{q.label} [{q.unit}]"


# Flags stored with an exposure, in its ``flags`` column: tokens separated by
# ";", each ``kind`` or ``kind:column`` (e.g. ``unit_slip_x100:dap_cgycm2``).
FLAG_OUT_OF_RANGE = "out_of_range"  # a value outside its quantity's plausible range
FLAG_UNIT_SLIP = "unit_slip"  # prefix: a factor 10/100/1000 from its exam's distribution
FLAG_UNKNOWN_EXAM = "unknown_exam_code"  # the catalogue does not know the exam code
FLAG_AMBIGUOUS_NUMBER = "ambiguous_notation"  # "1.234" where the sheet shows no notation
FLAG_UNMAPPED_PROCEDURE = "unmapped_procedure"  # an RDSR study the procedure map gives no exam code
FLAG_MIXED_PHANTOMS = "mixed_phantoms"  # an RDSR's CT events on both CTDI phantoms (as mixed_phantoms:dlp_mgycm)

#: Flag kinds that make a value implausible: such values are left out of DRL
#: statistics (and counted).
IMPLAUSIBLE_KINDS: tuple[str, ...] = (FLAG_OUT_OF_RANGE, FLAG_UNIT_SLIP)


def flag_token(kind: str, column: str | None = None) -> str:
    """One flag token, ``kind`` or ``kind:column``."""
    return kind if column is None else f"{kind}:{column}"


def is_implausible(flags: str | None, column: str) -> bool:
    """Whether ``flags`` mark the value in ``column`` as implausible.

    >>> is_implausible("unit_slip_x100:dap_cgycm2;unknown_exam_code", "dap_cgycm2")
    True
    >>> is_implausible("out_of_range:weight_kg", "dap_cgycm2")
    False
    """
    if not flags:
        return False
    for token in flags.split(";"):
        kind, _, col = token.partition(":")
        if col == column and kind.startswith(IMPLAUSIBLE_KINDS):
            return True
    return False

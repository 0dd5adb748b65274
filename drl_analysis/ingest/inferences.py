"""The inferences of ingest that could be wrong, in one list for survey files
and DICOM dose reports, and their counts per file.

Every inference is logged as a repair with its rule; the rules listed in
:data:`INFERENCE_RULES` are the ones a reviewer should check. The per-file
confidence summary (``drl-analysis ingest``'s review lines, the files to review
of notebook 02, ``ingest_inferences_by_file.csv``) counts them.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

#: Repair rules that rest on an inference that could be wrong, with what a
#: reviewer reads for each: the per-file confidence summary counts the rows
#: (for header rules: the columns) each touched. Survey files and DICOM dose
#: reports alike (a report is one row).
INFERENCE_RULES: dict[str, str] = {
    "header_matched": "columns matched by a name other than the template's",
    "unit_conversion": "units taken from a header",
    "notation_from_sheet": "numbers read in the notation of the sheet's other numbers",
    "ambiguous_notation": "numbers that read two ways, the reading nearer the exam's values kept (flagged)",
    "exam_code_from_name": "exam names mapped to codes",
    "exam_code_from_text": "exam codes taken out of text",
    "exam_code_from_sheet_name": "exam codes taken from the sheet's name",
    "facility_id_filled_down": "facility IDs filled down into blank cells of a block",
    "merged_cell": "facility IDs filled down in merged cells",
    "phantom_from_text": "phantoms read from words",
    "phantom_from_column": "phantoms taken from the column a CT dose stands in",
    "unit_from_column": "units taken from a unit column, row by row",
    "approximate_value": "approximate values ('ca. 80') read as the number",
    "comment_in_cell": "numbers read with a comment beside them left out",
    "facility_id_from_sheet_name": "facility IDs taken from the sheet's name",
    "age_from_birth_date": "ages worked out from the birth date and the exam's date",
    "data_source_from_file_name": "data sources taken from the file name",
    "year_from_file_name": "survey years taken from the file name",
    # DICOM dose reports (drl_analysis.ingest.rdsr; the vendor quirks are QUIRK_RULES there)
    "rdsr_template_inferred": "report templates told from the procedure reported or the dose containers",
    "rdsr_private_container": "dose containers read inside a private container",
    "rdsr_dap_unit_of_model": "DAPs read in the unit their device model is known to write, not the unit coded",
    "rdsr_weight_zero": "patient weights of 0 read as not entered",
    "rdsr_events_summed": "dose totals summed over the irradiation events",
    "rdsr_age_format": "patient ages read from a loose format ('45 Y')",
    "rdsr_cumulative_update": "reports taken for the cumulative update of a stored report, which they replace",
}
#: Inference rules logged once per column (row empty) rather than per cell.
COLUMN_RULES = frozenset({"header_matched", "unit_conversion"})


def inference_counts(repairs: pd.DataFrame) -> dict[str, int]:
    """Rows (for :data:`COLUMN_RULES`: columns) each inference rule touched in ``repairs``.

    Returns ``{rule: count}`` in the order of :data:`INFERENCE_RULES`, rules
    that touched nothing left out.
    """
    out: dict[str, int] = {}
    if repairs is None or not len(repairs):
        return out
    rules = repairs["rule"].to_numpy()
    sheets = repairs["sheet"].to_numpy()
    rows = repairs["source_row"].to_numpy()
    present = set(rules.tolist())
    for rule in INFERENCE_RULES:
        if rule not in present:
            continue
        hit = np.flatnonzero(rules == rule)
        out[rule] = len(hit) if rule in COLUMN_RULES else len(set(zip(sheets[hit].tolist(), rows[hit].tolist())))
    return out


def record_inference_counts(repairs: Iterable[tuple]) -> dict[str, int]:
    """:func:`inference_counts` of repair records ``(sheet, source_row, column,
    before, after, rule)`` (as the RDSR writer holds them)."""
    counts: dict[str, int] = {}
    rows: dict[str, set] = {}
    for sheet, row, _, _, _, rule in repairs:
        if rule in COLUMN_RULES:
            counts[rule] = counts.get(rule, 0) + 1
        elif rule in INFERENCE_RULES:
            rows.setdefault(rule, set()).add((sheet, row))
    counts.update((rule, len(touched)) for rule, touched in rows.items())
    return {rule: counts[rule] for rule in INFERENCE_RULES if rule in counts}

"""The ground truth of one generated study: what a correct reader stores,
rejects or cannot read, with the values in canonical units.
"""

from __future__ import annotations

import math
from decimal import Decimal

from .studies import Study, age_years

TRUTH_COLUMNS: tuple[str, ...] = (
    "source_file", "outcome", "reason", "data_source", "year", "facility_id", "exam_code", "dap_cgycm2",
    "dlp_mgycm", "ctdivol_mgy", "ctdi_phantom_cm", "weight_kg", "age_years", "dap_fluoro_cgycm2",
    "dap_acquisition_cgycm2", "fluoro_time_min", "dose_rp_mgy", "template", "repair_rules", "mixed_phantoms",
)


def study_truth(study: Study, source_file: str, data_source: str | None) -> dict:
    """What a correct reader stores for ``study`` (canonical units; NaN: none)."""
    nan = math.nan
    row = dict.fromkeys(TRUTH_COLUMNS, nan)
    row.update(source_file=source_file, outcome=study.outcome, reason=study.reason, data_source=data_source,
               year=study.study_date.year if study.study_date else study.content_time.year,
               facility_id=study.device.uid, exam_code=study.exam_code, template=study.kind,
               repair_rules="", mixed_phantoms=False)
    rules = []
    if study.kind == "ct":
        row["dlp_mgycm"] = float(sum(e.dlp for e in study.events))
        best = None
        for e in study.events:
            if e.acquisition != "localizer" and e.ctdivol is not None and (best is None or e.ctdivol > best.ctdivol):
                best = e
        if best is not None:
            if best.phantom in (16, 32):
                row["ctdivol_mgy"] = float(best.ctdivol)
                row["ctdi_phantom_cm"] = float(best.phantom)
            else:
                rules.append("rdsr_ctdivol_without_phantom")
        phantoms = {e.phantom for e in study.events if e.phantom in (16, 32)}
        row["mixed_phantoms"] = len(phantoms) > 1
        if "no_accumulated" in study.quirks:
            rules.append("rdsr_events_summed")
    else:
        ev = study.events
        row["dap_cgycm2"] = float(sum(e.dap for e in ev))
        fl = [e for e in ev if e.event_type == "fluoroscopy"]
        acq = [e for e in ev if e.event_type != "fluoroscopy"]
        row["dose_rp_mgy"] = float(sum(e.dose_rp for e in ev))
        summed = "no_accumulated" in study.quirks
        if summed:  # the reader sums the events: a part without events is not known
            row["dap_fluoro_cgycm2"] = float(sum(e.dap for e in fl)) if fl else nan
            row["dap_acquisition_cgycm2"] = float(sum(e.dap for e in acq)) if acq else nan
            row["fluoro_time_min"] = float(sum(e.duration for e in fl) / 60) if fl else nan
            rules.append("rdsr_events_summed")
        elif not study.radiography:  # the report states the parts (0 where none)
            row["dap_fluoro_cgycm2"] = float(sum(e.dap for e in fl))
            row["dap_acquisition_cgycm2"] = float(sum(e.dap for e in acq))
            row["fluoro_time_min"] = float(sum(e.duration for e in fl) / 60)
        if "dap_unit_of_model" in study.quirks:
            rules.append("rdsr_dap_unit_of_model")
    if "no_template_id" in study.quirks:
        rules.append("rdsr_template_inferred")
    if "private_container" in study.quirks:
        rules.append("rdsr_private_container")
    if "weight_zero" in study.quirks:
        rules.append("rdsr_weight_zero")
    else:
        row["weight_kg"] = float(Decimal(study.weight_text)) if study.weight_text else nan
    row["age_years"] = age_years(study.age_text, study.birth_date, study.study_date)
    row["repair_rules"] = ";".join(sorted(rules))
    return row

"""The rows a report becomes in each table, and what a worker sends back for
one file (:class:`Read`: a tuple, cheap to pass between processes).
"""

from __future__ import annotations

import json
from typing import NamedTuple

from ...core.columns import EXPOSURE_COLUMNS
from .concepts import _TEMPLATE_OF_REPORT
from .reader import Report

#: Sheet name and row of every RDSR exposure.
SHEET = "RDSR"
ROW = 1


class Read(NamedTuple):
    """What a worker sends back for one file: the report's rows and what the
    writer needs to find duplicates and cumulative updates (a tuple: cheap to
    pass between processes)."""

    k: int
    source_file: str
    sha256: str
    state: str  # "read", "failed" (recorded), "unreadable" (not recorded) or "duplicate" (stored before)
    message: str | None
    template: str
    data_source: str | None
    year: int | None
    rejected: str | None
    value: float | None  # DAP (projection) or DLP (CT) of a stored report
    sop: str | None
    study: str | None
    device: str | None
    content: str
    events: frozenset
    notes: tuple
    raw: str | None
    rows: tuple | None


def _pack(k: int, rep: Report) -> Read:
    if rep.duplicate:
        return Read(k, rep.source_file, rep.sha256, "duplicate", None, "", None, None, None, None, None, None, None,
                    "", frozenset(), (), None, None)
    if rep.unreadable:
        return Read(k, rep.source_file, rep.sha256, "unreadable", rep.failed, "", None, None, None, None, None, None,
                    None, "", frozenset(), (), None, None)
    if rep.failed is not None:
        return Read(k, rep.source_file, rep.sha256, "failed", rep.failed, "", None, None, None, None, None, None, None,
                    "", frozenset(), (), None, _rows(rep))
    doc, e = rep.document, rep.exposure
    value = None
    if e is not None and rep.rejected is None:
        value = e.get("dap_cgycm2") if rep.template == "projection" else e.get("dlp_mgycm")
    raw = json.dumps(rep.values_read, ensure_ascii=False, sort_keys=True) if rep.values_read else None
    return Read(k, rep.source_file, rep.sha256, "read", None, rep.template, rep.data_source, rep.year, rep.rejected,
                value, doc.get("sop_key"), doc.get("study_key"), doc.get("device_key"),
                doc.get("content_datetime") or "", rep.events, tuple(rep.notes), raw, _rows(rep, raw))


def _clean(v):
    if isinstance(v, float) and v != v:
        return None
    return v


_SHEET_NAMES = ["sheet", "status", "reason", "header_row", "column_map", "unknown_columns", "data_source", "year",
                "rows_read", "rows_stored", "rows_rejected"]
_REPAIR_NAMES = ["sheet", "source_row", "column", "before", "after", "rule"]
_REJECTION_NAMES = ["sheet", "source_row", "reason", "raw"]
_COLUMN_MAP = {kind: json.dumps({"template": f"TID {tid}"}) for kind, tid in _TEMPLATE_OF_REPORT.items()}


def _document_names() -> list[str]:
    from ...store.database import rdsr

    return [c.name for c in rdsr.columns if c.name not in ("id", "submission_id")]


def _rows(rep: Report, raw: str | None = None) -> tuple:
    """The rows of a report for each table, without their submission id:
    ``(submission, exposure, sheet, repairs, rejection, document)``; ``raw``:
    the values as read, as JSON."""
    failed = rep.failed is not None
    if failed:
        submission = {"source_file": rep.source_file, "sha256": rep.sha256, "status": "failed", "message": rep.failed,
                      "n_sheets": 0, "rows_read": 0, "rows_stored": 0, "rows_rejected": 1, "n_repairs": 0,
                      "n_flagged": 0}
        return submission, None, None, [], (None, None, rep.failed, None), None
    stored = rep.rejected is None and rep.exposure is not None
    flags = rep.exposure.get("flags", "") if stored else ""
    notes = "; ".join(rep.notes) or None
    submission = {"source_file": rep.source_file, "sha256": rep.sha256, "data_source": rep.data_source,
                  "year": rep.year, "status": "stored", "message": notes, "n_sheets": 1, "rows_read": 1,
                  "rows_stored": int(stored), "rows_rejected": 1 - int(stored), "n_repairs": len(rep.repairs),
                  "n_flagged": int(bool(flags))}
    exposure = rejection = None
    if stored:
        e = rep.exposure
        exposure = (SHEET, ROW, rep.data_source, rep.year, *[_clean(e.get(c)) for c in EXPOSURE_COLUMNS], flags)
    else:
        rejection = (SHEET, ROW, rep.rejected, raw)
    sheet = (SHEET, "data", notes, None, _COLUMN_MAP.get(rep.template), "[]", rep.data_source, rep.year, 1,
             int(stored), 1 - int(stored))
    repairs = [(SHEET, ROW, column, before, after, rule) for column, before, after, rule in rep.repairs]
    values = dict(rep.document, status="stored" if stored else "rejected", values_read=raw)
    document = tuple(_clean(values.get(n)) for n in _DOCUMENT_NAMES)
    return submission, exposure, sheet, repairs, rejection, document


_DOCUMENT_NAMES = _document_names()
_DOC_STATUS = _DOCUMENT_NAMES.index("status")

"""Storing reports: duplicates and cumulative updates decided against what is
stored, batches written in one transaction each.
"""

from __future__ import annotations

import datetime as dt
import json
import logging

from ..inferences import record_inference_counts
from .reader import Report
from .rows import (
    _DOC_STATUS,
    _DOCUMENT_NAMES,
    _REJECTION_NAMES,
    _REPAIR_NAMES,
    _SHEET_NAMES,
    ROW,
    SHEET,
    Read,
    _rows,
)

log = logging.getLogger(__package__)


class _Stored:
    """A stored report as the writer knows it (for duplicates and updates)."""

    __slots__ = ("submission_id", "source_file", "events", "content", "value", "pending", "outcome")

    def __init__(self, submission_id, source_file, events, content, value, pending=None, outcome=None):
        self.submission_id = submission_id
        self.source_file = source_file
        self.events = events
        self.content = content
        self.value = value
        self.pending = pending  # the _Pending of this batch, or None when in the database
        self.outcome = outcome  # the FileOutcome when read in this run


# Positions in the sheet row of a report (see _rows).
_SHEET_REASON, _SHEET_STORED, _SHEET_REJECTED = 2, 9, 10


class _Pending:
    """One report waiting in the batch, with its rows (changed where the writer rejects it)."""

    __slots__ = ("read", "outcome", "status", "submission", "exposure", "sheet", "repairs", "rejection", "document",
                 "notes", "stored_entry", "replaces")

    def __init__(self, read: Read, outcome):
        self.read = read
        self.outcome = outcome
        sub, self.exposure, sheet, repairs, self.rejection, document = read.rows
        self.submission, self.sheet, self.repairs = dict(sub), list(sheet) if sheet else None, list(repairs)
        self.document = list(document) if document else None
        self.notes = list(read.notes)
        self.status = "stored" if self.exposure is not None else "rejected"
        self.stored_entry = None
        self.replaces: list[tuple[_Stored, str]] = []  # stored reports in the database it replaces, and why

    def reject(self, reason: str) -> None:
        self.status = "rejected"
        self.exposure = None
        self.rejection = (SHEET, ROW, reason, self.read.raw)
        self.submission.update(rows_stored=0, rows_rejected=1, n_flagged=0)
        self.sheet[_SHEET_STORED], self.sheet[_SHEET_REJECTED] = 0, 1
        self.document[_DOC_STATUS] = "rejected"

    def add_repair(self, repair: tuple, note: str) -> None:
        self.repairs.append((SHEET, ROW, *repair))
        self.notes.append(note)
        self.submission["message"] = self.sheet[_SHEET_REASON] = "; ".join(self.notes)
        self.submission["n_repairs"] = len(self.repairs)

    def fill(self) -> None:
        o, sub = self.outcome, self.submission
        o.rows_stored, o.rows_rejected = sub["rows_stored"], sub["rows_rejected"]
        o.repairs, o.flagged = len(self.repairs), sub["n_flagged"]
        o.reasons = {self.rejection[2]: 1} if self.rejection else {}
        o.notes = list(self.notes)
        o.message = "; ".join(self.notes)
        o.inferences = record_inference_counts(self.repairs)


class Writer:
    """Stores reports in batches; knows every stored report's keys."""

    BATCH = 500

    def __init__(self, engine):
        import sqlalchemy as sa

        from ...store.database import rdsr, submissions

        self.engine = engine
        self.outcomes: dict = {}
        self.seen: set[str] = set()
        self.pending: list[_Pending] = []
        self.by_sop: dict[str, str] = {}
        self.by_study: dict[tuple[str, str], list[_Stored]] = {}
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(rdsr.c.submission_id, submissions.c.source_file, rdsr.c.status, rdsr.c.sop_key,
                          rdsr.c.study_key, rdsr.c.device_key, rdsr.c.event_keys, rdsr.c.content_datetime)
                .join(submissions, submissions.c.id == rdsr.c.submission_id)
                .where(rdsr.c.status.in_(("stored", "replaced")))
            ).all()
            # Reports stored (not replaced) have their exposure.
            values = dict(conn.exec_driver_sql(
                "SELECT e.submission_id, COALESCE(e.dap_cgycm2, e.dlp_mgycm) FROM exposures e "
                "JOIN rdsr r ON r.submission_id = e.submission_id WHERE r.status = 'stored'").all())
        for sub_id, source, status, sop, study, device, events, content in rows:
            if sop:
                self.by_sop[sop] = source
            if study and status == "stored":
                entry = _Stored(sub_id, source, frozenset(json.loads(events or "[]")), content or "",
                                values.get(sub_id))
                self.by_study.setdefault((study, device), []).append(entry)

    # -- deciding ----------------------------------------------------------

    def add(self, read: Read) -> None:
        from ..submission import FileOutcome

        k = read.k
        if read.state == "duplicate" or (read.sha256 and read.sha256 in self.seen):
            self.outcomes[k] = FileOutcome(source_file=read.source_file, status="duplicate",
                                           message="already stored (same sha256)")
            return
        if read.state == "unreadable":
            self.outcomes[k] = FileOutcome(source_file=read.source_file, status="failed", message=read.message)
            return
        self.seen.add(read.sha256)
        if read.state == "failed":
            self.outcomes[k] = FileOutcome(source_file=read.source_file, status="failed", message=read.message)
            self.pending.append(_Pending(read, self.outcomes[k]))
            return
        outcome = FileOutcome(source_file=read.source_file, status="stored", data_source=read.data_source,
                              year=read.year, sheets_with_data=1, rows_read=1)
        self.outcomes[k] = outcome
        p = _Pending(read, outcome)
        if p.status == "stored":
            self._check_duplicates(p)
        self.pending.append(p)
        p.fill()

    def _check_duplicates(self, p: _Pending) -> None:
        read = p.read
        if read.sop and read.sop in self.by_sop:
            p.reject(f"the same report (SOP instance) was read before from {self.by_sop[read.sop]}")
            return
        entry = _Stored(None, read.source_file, read.events, read.content, read.value, p, p.outcome)
        if read.study:
            same = self.by_study.setdefault((read.study, read.device), [])
            for old in list(same):
                verdict = _compare(entry, old)
                if verdict == "keep_both":
                    continue
                if verdict == "replace":
                    self._replace(old, p)
                    same.remove(old)
                    continue
                reasons = {
                    "same": f"the same irradiation events as the report stored from {old.source_file}",
                    "partial": f"a partial report of a study and device whose cumulative update is stored from "
                               f"{old.source_file}",
                    "overlap": f"shares irradiation events with the report stored from {old.source_file}, but "
                               "neither holds all of the other's",
                    "older": f"an earlier report of the study and device stored from {old.source_file} "
                             "(a cumulative update replaces it)",
                }
                p.reject(reasons[verdict])
                return
            same.append(entry)
            p.stored_entry = entry
        if read.sop:
            self.by_sop[read.sop] = read.source_file

    def _replace(self, old: _Stored, p: _Pending) -> None:
        """``p`` is the cumulative update of ``old``: ``old``'s study is rejected, logged in ``p``."""
        reason = f"replaced by the cumulative update in {p.read.source_file} (same study and device)"
        column = "dap_cgycm2" if p.read.template == "projection" else "dlp_mgycm"
        p.add_repair((column, f"{_num_text(old.value)} ({old.source_file})", _num_text(p.read.value),
                      "rdsr_cumulative_update"),
                     f"cumulative update of the report in {old.source_file}, which it replaces")
        if old.pending is not None:
            old.pending.reject(reason)
            old.pending.fill()
        else:
            p.replaces.append((old, reason))
            if old.outcome is not None:  # stored earlier in this run
                o = old.outcome
                o.rows_stored, o.rows_rejected, o.flagged, o.reasons = 0, 1, 0, {reason: 1}

    # -- writing -----------------------------------------------------------

    def flush_if_full(self) -> None:
        if len(self.pending) >= self.BATCH:
            self.flush()

    def flush(self) -> None:
        """Write the batch in one transaction; if the database refuses it, each
        report in a transaction of its own, so that a refused report fails alone."""
        import sqlalchemy as sa

        if not self.pending:
            return
        try:
            with self.engine.begin() as conn:
                ids = _write_batch(conn, self.pending)
        except sa.exc.SQLAlchemyError as exc:
            ids = {}
            for p in self.pending:
                try:
                    if len(self.pending) == 1:
                        raise exc
                    with self.engine.begin() as conn:
                        ids.update(_write_batch(conn, [p]))
                except sa.exc.SQLAlchemyError as refused:
                    self._refused(p, refused)
        # What is now in the database is known by its submission id.
        for p in self.pending:
            if p.stored_entry is not None and p.read.sha256 in ids:
                p.stored_entry.submission_id, p.stored_entry.pending = ids[p.read.sha256], None
        self.pending = []

    def _refused(self, p: _Pending, exc: Exception) -> None:
        """Record a report the database refused as a failed file. The stored
        reports it was to replace stay as they are; a report of the same batch
        it replaced stays rejected (ingest the refused file again once the
        database takes it)."""
        import sqlalchemy as sa

        why = " ".join(str(getattr(exc, "orig", None) or exc).split())[:300]
        log.warning("the database refused %s: %s", p.read.source_file, why)
        reason = f"the database refused the file ({why})"
        o = p.outcome
        o.status, o.message, o.notes = "failed", reason, []
        o.rows_read = o.rows_stored = o.rows_rejected = o.repairs = o.flagged = 0
        o.reasons, o.inferences = {}, {}
        if p.read.study:
            same = self.by_study.setdefault((p.read.study, p.read.device), [])
            if p.stored_entry in same:  # not stored after all
                same.remove(p.stored_entry)
            same += [old for old, _ in p.replaces]  # still stored
        p.stored_entry = None
        failed = _Pending(p.read._replace(state="failed", message=reason,
                                          rows=_rows(Report(p.read.source_file, p.read.sha256, failed=reason))), o)
        try:
            with self.engine.begin() as conn:
                _write_batch(conn, [failed])
        except sa.exc.SQLAlchemyError:  # the failure is reported all the same
            log.exception("could not record the failure of %s", p.read.source_file)


def _num_text(value) -> str:
    return "" if value is None or value != value else repr(float(value))


def _compare(new: _Stored, old: _Stored) -> str:
    """How a new report of a study and device relates to a stored one.

    ``replace`` (a cumulative update), ``same``, ``partial``, ``overlap``,
    ``older`` (no event UIDs, earlier content time) or ``keep_both`` (other
    irradiation events of the same study).
    """
    if new.events and old.events:
        if new.events == old.events:
            return "same"
        if old.events < new.events:
            return "replace"
        if new.events < old.events:
            return "partial"
        if new.events & old.events:
            return "overlap"
        return "keep_both"
    if new.content and old.content:
        if new.content > old.content:
            return "replace"
        return "older" if new.content < old.content else "same"
    return "same"


def _statement(dialect, table: str, names: list[str]) -> str:
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    quote = dialect.identifier_preparer.quote
    return f"INSERT INTO {table} ({', '.join(quote(n) for n in names)}) VALUES ({', '.join([mark] * len(names))})"


def _write_batch(conn, pending: list[_Pending]) -> dict[str, int]:
    """Write one batch in the open transaction ``conn``; return ``{sha256: submission id}``."""
    from ...store.database import EXPOSURE_NAMES, _statements, submissions

    dialect = conn.dialect
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    now = _statements(dialect).datetime(dt.datetime.now(dt.timezone.utc).replace(tzinfo=None))
    shas = [p.read.sha256 for p in pending]
    ids: dict = {}
    if shas:
        marks = ", ".join([mark] * len(shas))
        conn.exec_driver_sql(f"DELETE FROM submissions WHERE status = 'failed' AND sha256 IN ({marks})", tuple(shas))
        sub_names = [c.name for c in submissions.columns if c.name != "id"]
        rows = [tuple(now if n == "ingested_at" else p.submission.get(n) for n in sub_names) for p in pending]
        conn.exec_driver_sql(_statement(dialect, "submissions", sub_names), rows)
        ids = dict(conn.exec_driver_sql(f"SELECT sha256, id FROM submissions WHERE sha256 IN ({marks})",
                                        tuple(shas)).all())
    tables = {"exposures": [], "sheets": [], "repairs": [], "rejections": [], "rdsr": []}
    for p in pending:
        sub = ids[p.read.sha256]
        if p.exposure is not None:
            tables["exposures"].append((sub, *p.exposure))
        if p.sheet is not None:
            tables["sheets"].append((sub, *p.sheet))
        tables["repairs"] += [(sub, *r) for r in p.repairs]
        if p.rejection is not None:
            tables["rejections"].append((sub, *p.rejection))
        if p.document is not None:
            tables["rdsr"].append((sub, *p.document))
    names = {"exposures": EXPOSURE_NAMES, "sheets": _SHEET_NAMES, "repairs": _REPAIR_NAMES,
             "rejections": _REJECTION_NAMES, "rdsr": _DOCUMENT_NAMES}
    for table, values in tables.items():
        if values:
            conn.exec_driver_sql(_statement(dialect, table, ["submission_id", *names[table]]), values)
    for old, reason in (u for p in pending for u in p.replaces):
        sub = old.submission_id
        conn.exec_driver_sql(f"DELETE FROM exposures WHERE submission_id = {mark}", (sub,))
        conn.exec_driver_sql(
            f"UPDATE submissions SET rows_stored = 0, rows_rejected = 1, n_flagged = 0 WHERE id = {mark}", (sub,))
        conn.exec_driver_sql(f"UPDATE sheets SET rows_stored = 0, rows_rejected = 1 WHERE submission_id = {mark}",
                             (sub,))
        conn.exec_driver_sql(f"UPDATE rdsr SET status = 'replaced' WHERE submission_id = {mark}", (sub,))
        conn.exec_driver_sql(_statement(dialect, "rejections", ["submission_id", *_REJECTION_NAMES]),
                             [(sub, SHEET, ROW, reason, None)])
    return ids

"""Storing submissions in a database (SQLite by default, PostgreSQL supported).

Tables
------
submissions
    One row per file: name, sha256, data source, year, time of ingest,
    status (``stored`` or ``failed``) and the row counts.
sheets
    One row per sheet of a submission: whether it held data, its header row,
    the column mapping, unknown columns and row counts.
exposures
    The canonical columns of :mod:`drl_analysis.core.columns` plus ``submission_id``,
    ``sheet``, ``source_row`` and ``flags``.
repairs
    Every change made to a value: sheet, row, column, before, after, rule.
rejections
    Every row not stored, with its reason and raw cells (JSON); a file that
    could not be read at all has one rejection with an empty sheet and row.
rdsr
    One row per DICOM dose report (RDSR) read (:mod:`drl_analysis.ingest.rdsr`):
    its status (``stored``, ``replaced`` by a cumulative update, ``rejected``),
    template, keys for finding the same report or study again (SHA-256 of its
    UIDs, never the UIDs), the text the procedure map matched, and the values
    beyond the exposure columns (fluoroscopy and acquisition DAP, fluoroscopy
    time, dose at the reference point).

A submission is written in one transaction: either all of it is stored or
nothing of it. The same file (same sha256) is stored once.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from ..core.columns import EXPOSURE_COLUMNS, NUMERIC_COLUMNS
from ..core.errors import UserError
from ..core.tables import write_csv

metadata = sa.MetaData()

submissions = sa.Table(
    "submissions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source_file", sa.Text, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False, unique=True),
    #: SHA-256 over the rows read (data source, year, IDs, codes and values in
    #: row order): a file re-saved with other bytes but the same rows has the same.
    sa.Column("content_sha256", sa.String(64), index=True),
    sa.Column("data_source", sa.Text),
    sa.Column("year", sa.Integer),
    sa.Column("ingested_at", sa.DateTime),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("message", sa.Text),
    sa.Column("n_sheets", sa.Integer),
    sa.Column("rows_read", sa.Integer),
    sa.Column("rows_stored", sa.Integer),
    sa.Column("rows_rejected", sa.Integer),
    sa.Column("n_repairs", sa.Integer),
    sa.Column("n_flagged", sa.Integer),
)

sheets = sa.Table(
    "sheets",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("submission_id", sa.Integer, sa.ForeignKey("submissions.id", ondelete="CASCADE"), index=True),
    sa.Column("sheet", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("header_row", sa.Integer),
    sa.Column("column_map", sa.Text),
    sa.Column("unknown_columns", sa.Text),
    sa.Column("data_source", sa.Text),
    sa.Column("year", sa.Integer),
    sa.Column("rows_read", sa.Integer),
    sa.Column("rows_stored", sa.Integer),
    sa.Column("rows_rejected", sa.Integer),
)

exposures = sa.Table(
    "exposures",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("submission_id", sa.Integer, sa.ForeignKey("submissions.id", ondelete="CASCADE"), index=True),
    sa.Column("sheet", sa.Text, nullable=False),
    sa.Column("source_row", sa.Integer, nullable=False),
    sa.Column("data_source", sa.Text),
    sa.Column("year", sa.Integer),
    # Text without a length: a 200-character ID is stored on PostgreSQL as on SQLite.
    sa.Column("facility_id", sa.Text),
    sa.Column("exam_code", sa.Text),
    *[sa.Column(c, sa.Float) for c in NUMERIC_COLUMNS],
    sa.Column("flags", sa.Text, nullable=False, default=""),
)

repairs = sa.Table(
    "repairs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("submission_id", sa.Integer, sa.ForeignKey("submissions.id", ondelete="CASCADE"), index=True),
    sa.Column("sheet", sa.Text),
    sa.Column("source_row", sa.Integer),
    sa.Column("column", sa.String(64)),
    sa.Column("before", sa.Text),
    sa.Column("after", sa.Text),
    sa.Column("rule", sa.String(64), nullable=False),
)

rejections = sa.Table(
    "rejections",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("submission_id", sa.Integer, sa.ForeignKey("submissions.id", ondelete="CASCADE"), index=True),
    sa.Column("sheet", sa.Text),
    sa.Column("source_row", sa.Integer),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("raw", sa.Text),
)

#: Values of an RDSR row beyond the exposure columns, in canonical units.
RDSR_EXTRA_COLUMNS: tuple[str, ...] = ("dap_fluoro_cgycm2", "dap_acquisition_cgycm2", "fluoro_time_min", "dose_rp_mgy")

rdsr = sa.Table(
    "rdsr",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("submission_id", sa.Integer, sa.ForeignKey("submissions.id", ondelete="CASCADE"), index=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("template", sa.String(16)),
    sa.Column("sop_key", sa.String(64), index=True),
    sa.Column("study_key", sa.String(64), index=True),
    sa.Column("device_key", sa.String(64)),
    sa.Column("event_keys", sa.Text),
    sa.Column("content_datetime", sa.String(32)),
    sa.Column("manufacturer", sa.Text),
    sa.Column("model", sa.Text),
    sa.Column("study_description", sa.Text),
    sa.Column("requested_procedure", sa.Text),
    sa.Column("protocol", sa.Text),
    sa.Column("procedure_code", sa.Text),
    sa.Column("map_row", sa.Integer),
    *[sa.Column(c, sa.Float) for c in RDSR_EXTRA_COLUMNS],
    sa.Column("n_events", sa.Integer),
    sa.Column("values_read", sa.Text),
)


@dataclass
class SubmissionRecord:
    """Everything stored for one file, written in one transaction.

    ``exposures`` holds the canonical columns plus ``sheet``, ``source_row``,
    ``data_source``, ``year`` and ``flags``; the other lists hold dicts with
    the columns of their tables (without ids).
    """

    source_file: str
    sha256: str
    data_source: str | None
    year: int | None
    status: str = "stored"
    message: str | None = None
    exposures: pd.DataFrame | None = None
    sheets: list[dict] = field(default_factory=list)
    repairs: pd.DataFrame | list[dict] = field(default_factory=list)
    rejections: list[dict] = field(default_factory=list)
    rows_read: int = 0
    n_flagged: int = 0
    content_sha256: str | None = None
    #: Rows as plain tuples per table (see :func:`prepare_rows`) and the
    #: database dialect they were prepared for.
    prepared: dict | None = field(default=None, repr=False)
    prepared_for: str | None = None


def make_engine(url: str) -> sa.Engine:
    """An engine for an SQLAlchemy URL, with the tables created if missing.

    An SQLite file's folder is created. A URL that cannot be used raises
    :class:`~drl_analysis.core.errors.UserError` naming it and the reason.
    """
    try:
        parsed = sa.engine.make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, OSError) as exc:
        raise UserError(f"--db: cannot use {url!r} ({exc})") from None
    if engine.dialect.name == "sqlite":

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

    shown = parsed.render_as_string(hide_password=True)
    for attempt in range(1, 6):
        try:
            metadata.create_all(engine)
            _add_missing_columns(engine)
            break
        except sa.exc.OperationalError as exc:
            why = str(exc.orig).lower()
            if attempt < 5 and ("already exists" in why or "database is locked" in why):
                # Another process is creating the tables (one by one) or switching the
                # new file to WAL at the same moment.
                time.sleep(0.05 * attempt)
                continue
            raise UserError(f"--db: cannot open {shown} ({' '.join(str(exc.orig).split())})") from None
        except (sa.exc.IntegrityError, sa.exc.ProgrammingError) as exc:
            # Another process created the tables at the same moment.
            if attempt == 2 or "exist" not in str(exc.orig).lower():
                raise UserError(f"--db: cannot create the tables in {shown} "
                                f"({' '.join(str(exc.orig).split())})") from None
    return engine


def _add_missing_columns(engine: sa.Engine) -> None:
    """Add columns that newer versions of the tables have to a database made
    by an older version (they are nullable; old rows keep NULL)."""
    present = {c["name"] for c in sa.inspect(engine).get_columns("submissions")}
    if "content_sha256" not in present:
        with engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE submissions ADD COLUMN content_sha256 VARCHAR(64)")


class DatabaseBusy(UserError):
    """Another ingest holds the database and did not let go in time."""


@contextlib.contextmanager
def ingest_lock(engine: sa.Engine, *, wait_s: float = 3600.0, on_wait=None):
    """Hold the database for one ingest at a time.

    Two ingests into one database wait for each other instead of racing
    (SQLite: a lock file in the temporary folder, named after the database's
    path; PostgreSQL: an advisory lock).
    ``on_wait`` is called once, with a sentence, when the lock is taken by
    another process. Raises :class:`DatabaseBusy` after ``wait_s`` seconds.
    """
    url = engine.url
    if engine.dialect.name == "sqlite" and url.database not in (None, "", ":memory:"):
        import fcntl

        # Beside the system's temporary files, keyed by the database's path: a
        # lock file beside the database would end up in published folders.
        key = hashlib.sha256(str(Path(url.database).resolve()).encode()).hexdigest()[:24]
        lock_path = Path(tempfile.gettempdir()) / f"drl-analysis-ingest-{key}.lock"
        fh = _lock_file(lock_path, wait_s, on_wait, url.database)
        try:
            yield
        finally:
            # Removed while still held, so that no lock file stays behind; a process
            # waiting on the removed file sees that and locks the path's new file.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(lock_path)
            fcntl.flock(fh, fcntl.LOCK_UN)
            fh.close()
        return
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            def take():
                if not conn.exec_driver_sql("SELECT pg_try_advisory_lock(%s)", (_PG_LOCK_KEY,)).scalar():
                    raise BlockingIOError

            _acquire(take, BlockingIOError, wait_s, on_wait, url.render_as_string(hide_password=True))
            try:
                yield
            finally:
                conn.exec_driver_sql("SELECT pg_advisory_unlock(%s)", (_PG_LOCK_KEY,))
                conn.commit()
        return
    yield


def _lock_file(path: Path, wait_s: float, on_wait, where: str):
    """Open and lock ``path`` (exclusive ``flock``); the open file, locked.

    The holder removes the file when done, so a file locked here may have been
    removed (or replaced) in the meantime: then the lock is taken again on the
    file that stands at ``path`` now.
    """
    import fcntl

    while True:
        fh = open(path, "a+")  # held open by the caller until it releases the lock
        try:
            _acquire(lambda fh=fh: fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB), BlockingIOError, wait_s, on_wait,
                     where)
            try:
                same = os.stat(path).st_ino == os.fstat(fh.fileno()).st_ino
            except FileNotFoundError:
                same = False
        except BaseException:
            fh.close()
            raise
        if same:
            return fh
        fh.close()


#: Advisory lock key of ingests on PostgreSQL ("DRLI" as an integer).
_PG_LOCK_KEY = 0x4452_4C49


def _acquire(take, busy: type[Exception], wait_s: float, on_wait, where: str) -> None:
    start = time.monotonic()
    told = False
    while True:
        try:
            take()
            return
        except busy:
            if not told and on_wait is not None:
                on_wait(f"another ingest is writing into {where}; waiting for it to finish")
                told = True
            if time.monotonic() - start > wait_s:
                raise DatabaseBusy(f"--db: another ingest has held {where} for over {wait_s:.0f} s; "
                                   "try again when it has finished") from None
            time.sleep(0.2)


def stored_contents(engine: sa.Engine) -> dict[str, str]:
    """``{content_sha256: source_file}`` of the files stored (not failed)."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(submissions.c.content_sha256, submissions.c.source_file)
                            .where(submissions.c.status == "stored")
                            .where(submissions.c.content_sha256.is_not(None))
                            .order_by(submissions.c.id))
        out: dict[str, str] = {}
        for content, name in rows:
            out.setdefault(content, name)
        return out


def stored_status(engine: sa.Engine, sha256: str) -> str | None:
    """``"stored"``, ``"failed"`` or None for a file's sha256."""
    with engine.connect() as conn:
        return conn.execute(sa.select(submissions.c.status).where(submissions.c.sha256 == sha256)).scalar()


def stored_shas(engine: sa.Engine) -> set[str]:
    """The sha256 of every file stored (not failed) in the database."""
    with engine.connect() as conn:
        return set(conn.execute(sa.select(submissions.c.sha256).where(submissions.c.status == "stored")).scalars())


def _column_values(series: pd.Series, nan_is_null: bool) -> list | np.ndarray:
    """Values of a column for the driver: NaN and NA as None, numpy scalars as Python ones.

    Float and integer columns stay numpy arrays (they travel between
    processes as one buffer); :func:`_driver_values` turns them into Python
    values where the rows are inserted.
    """
    if not isinstance(series.dtype, np.dtype):
        pass  # extension dtypes (Int64, string) go the object way below
    elif series.dtype.kind == "f":
        values = series.to_numpy()
        if nan_is_null or not np.isnan(values).any():
            return values  # SQLite stores a NaN bound as REAL as NULL
        out = values.astype(object)
        out[np.isnan(values)] = None
        return out.tolist()
    elif series.dtype.kind in "iu":
        return series.to_numpy()
    if series.dtype == object:
        values = series.to_numpy().tolist()
        if set(map(type, values)) <= _TEXT_INT_NONE:
            return values
    elif isinstance(series.dtype, pd.Int64Dtype) and not series.isna().any():
        return series.to_numpy(dtype=np.int64)
    elif isinstance(series.dtype, pd.StringDtype):
        return series.to_numpy(dtype=object, na_value=None).tolist()
    out = series.to_numpy() if series.dtype == object else series.astype(object).to_numpy()
    na = pd.isna(out)
    if na.any():
        out = out.copy()
        out[na] = None
    values = out.tolist()
    if set(map(type, values)) <= _PLAIN_TYPES:
        return values
    return [v.item() if hasattr(v, "item") and not isinstance(v, str) else v for v in values]


# Values that the drivers take as they are (no numpy scalars); without
# floats, an object column holds no NaN either.
_PLAIN_TYPES = {str, int, float, type(None)}
_TEXT_INT_NONE = {str, int, type(None)}


def _driver_values(column: list | np.ndarray) -> list:
    return column.tolist() if isinstance(column, np.ndarray) else column


def _names(table: sa.Table) -> list[str]:
    """Columns written for a table, in order (ids and submission_id aside)."""
    return [c.name for c in table.columns if c.name not in ("id", "submission_id")]


EXPOSURE_NAMES = ["sheet", "source_row", "data_source", "year", *EXPOSURE_COLUMNS, "flags"]


def prepare_columns(rec: SubmissionRecord, dialect: str) -> dict[str, tuple[int, list]]:
    """The rows of a submission, column by column, per table: ``{table: (n_rows, columns)}``.

    Done where the submission is read (in a worker process), so that the
    process writing the database only inserts; numeric columns stay numpy
    arrays, which pass between processes far faster than rows of Python
    values.
    """
    nan_is_null = dialect == "sqlite"
    out = {}
    tables = (("exposures", rec.exposures), ("sheets", rec.sheets), ("repairs", rec.repairs),
              ("rejections", rec.rejections))
    for table, items in tables:
        names = EXPOSURE_NAMES if table == "exposures" else _names(metadata.tables[table])
        if items is None or not len(items):
            out[table] = (0, [])
        elif isinstance(items, pd.DataFrame):
            frame = items if list(items.columns) == names else items.reindex(columns=names)
            out[table] = (len(frame), [_column_values(frame[c], nan_is_null) for c in names])
        else:
            out[table] = (len(items), [_dict_values(items, c, nan_is_null) for c in names])
    return out


def _dict_values(items: list[dict], name: str, nan_is_null: bool) -> list:
    """One column of a list of row dicts, as :func:`_column_values` gives it
    for a frame made of them (missing keys and NaN as None)."""
    values = [d.get(name) for d in items]
    types = set(map(type, values))
    if not types <= _PLAIN_TYPES:
        return _column_values(pd.DataFrame(list(items), columns=[name])[name], nan_is_null)
    if float in types:
        return [None if isinstance(v, float) and v != v else v for v in values]
    return values


def prepare_rows(rec: SubmissionRecord, dialect: str) -> dict[str, list[tuple]]:
    """The rows of a submission as plain tuples per table, ready for executemany."""
    return {table: _rows(cols) for table, cols in prepare_columns(rec, dialect).items()}


def _rows(prepared: tuple[int, list]) -> list[tuple]:
    n, columns = prepared
    return list(zip(*[_driver_values(c) for c in columns])) if n else []


_SUBMISSION_NAMES = [c.name for c in submissions.columns if c.name != "id"]


class _Statements:
    """INSERT statements of a dialect, built once (SQLAlchemy's statement
    compilation per file would cost as much as the inserts of a small file)."""

    def __init__(self, dialect: sa.Dialect):
        style = dialect.paramstyle
        if style not in ("qmark", "format", "pyformat"):
            raise NotImplementedError(f"database driver paramstyle {style!r}")
        mark = "?" if style == "qmark" else "%s"
        quote = dialect.identifier_preparer.quote

        def cols(names):
            return ", ".join(quote(c) for c in names)

        self.insert = {}
        for table in (exposures, sheets, repairs, rejections):
            names = EXPOSURE_NAMES if table is exposures else _names(table)
            # The submission id is an integer this module created; it is
            # written into the statement per file ({sub_id}).
            self.insert[table.name] = (
                f"INSERT INTO {table.name} ({cols(['submission_id', *names])}) "
                f"VALUES ({{sub_id}}, {', '.join([mark] * len(names))})"
            )
        self.submission = (
            f"INSERT INTO submissions ({cols(_SUBMISSION_NAMES)}) "
            f"VALUES ({', '.join([mark] * len(_SUBMISSION_NAMES))}) RETURNING id"
        )
        self.delete_failed = f"DELETE FROM submissions WHERE sha256 = {mark} AND status = 'failed'"
        self.datetime = sa.DateTime().dialect_impl(dialect).bind_processor(dialect) or (lambda v: v)


_STATEMENTS: dict[int, _Statements] = {}


def _statements(dialect: sa.Dialect) -> _Statements:
    key = id(dialect)
    if key not in _STATEMENTS:
        _STATEMENTS.clear()
        _STATEMENTS[key] = _Statements(dialect)
    return _STATEMENTS[key]


def save_submission(engine: sa.Engine | sa.Connection, rec: SubmissionRecord) -> int:
    """Store one submission in one transaction and return its id.

    ``engine`` may be an open connection (outside a transaction), which an
    ingest of many files reuses. A submission of the same sha256 that failed
    before is replaced; one that is stored already is left as it is (the
    caller checks first).
    """
    if isinstance(engine, sa.Connection):
        with engine.begin():
            return _save(engine, rec)
    with engine.begin() as conn:
        return _save(conn, rec)


def _save(conn: sa.Connection, rec: SubmissionRecord) -> int:
    dialect = conn.dialect
    prepared = rec.prepared if rec.prepared_for == dialect.name else None
    if prepared is None:
        prepared = prepare_columns(rec, dialect.name)
    st = _statements(dialect)
    conn.exec_driver_sql(st.delete_failed, (rec.sha256,))
    values = (
        rec.source_file,
        rec.sha256,
        rec.content_sha256,
        rec.data_source,
        rec.year,
        st.datetime(dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)),
        rec.status,
        rec.message,
        len(rec.sheets),
        rec.rows_read,
        prepared["exposures"][0],
        len(rec.rejections),
        prepared["repairs"][0],
        rec.n_flagged,
    )
    sub_id = int(conn.exec_driver_sql(st.submission, values).scalar_one())
    for table in ("exposures", "sheets", "repairs", "rejections"):
        rows = _rows(prepared[table])
        if rows:
            conn.exec_driver_sql(st.insert[table].format(sub_id=sub_id), rows)
    return sub_id


def load_exposures(
    url_or_engine: str | sa.Engine,
    years: Iterable[int] | None = None,
) -> pd.DataFrame:
    """All stored exposures as a DataFrame, in a stable order.

    Parameters
    ----------
    url_or_engine : str or sqlalchemy.Engine
    years : iterable of int, optional
        Keep only these survey years.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`drl_analysis.core.columns.EXPORT_COLUMNS` then ``flags``;
        ``sheet`` is "" for CSV files, ``flags`` "" where there are none.
        Doses in canonical units. Sorted by source file, sheet and row.
    """
    engine = make_engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
    e, s = exposures, submissions
    query = (
        sa.select(
            s.c.source_file,
            e.c.sheet,
            e.c.source_row,
            e.c.data_source,
            e.c.year,
            *[e.c[c] for c in EXPOSURE_COLUMNS],
            e.c.flags,
            s.c.id.label("_submission"),
        )
        .join(s, s.c.id == e.c.submission_id)
    )
    if years is not None:
        query = query.where(e.c.year.in_([int(y) for y in years]))
    with engine.connect() as conn:
        frame = pd.read_sql(query, conn)
    for c in NUMERIC_COLUMNS:
        frame[c] = frame[c].astype(float)
    frame["year"] = frame["year"].astype("Int64")
    frame["source_row"] = frame["source_row"].astype(int)
    frame["flags"] = frame["flags"].fillna("")
    # Sorted here, not in SQL: a database's collation orders text its own way
    # (PostgreSQL often case-insensitively), and the order must not depend on it.
    frame = frame.sort_values(["source_file", "_submission", "sheet", "source_row"], kind="stable")
    return frame.drop(columns="_submission").reset_index(drop=True)


def load_table(url_or_engine: str | sa.Engine, name: str) -> pd.DataFrame:
    """A whole table (``submissions``, ``sheets``, ``repairs``, ``rejections``, ``rdsr``)
    with the submission's file name joined, sorted by id."""
    engine = make_engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
    table = metadata.tables[name]
    if name == "submissions":
        query = sa.select(table).order_by(table.c.id)
    else:
        query = (
            sa.select(submissions.c.source_file, table)
            .join(submissions, submissions.c.id == table.c.submission_id)
            .order_by(table.c.id)
        )
    with engine.connect() as conn:
        return pd.read_sql(query, conn)


def load_rdsr(url_or_engine: str | sa.Engine) -> pd.DataFrame:
    """The stored exposures read from RDSRs, with their further values.

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`load_exposures`, then ``template``,
        :data:`RDSR_EXTRA_COLUMNS`, ``study_description``, ``protocol`` and
        ``map_row`` (the procedure map's line that gave the exam code);
        sorted by source file.
    """
    engine = make_engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
    e, s, r = exposures, submissions, rdsr
    query = (
        sa.select(
            s.c.source_file, e.c.sheet, e.c.source_row, e.c.data_source, e.c.year,
            *[e.c[c] for c in EXPOSURE_COLUMNS], e.c.flags, r.c.template, *[r.c[c] for c in RDSR_EXTRA_COLUMNS],
            r.c.study_description, r.c.protocol, r.c.map_row, s.c.id.label("_submission"),
        )
        .join(s, s.c.id == e.c.submission_id)
        .join(r, r.c.submission_id == e.c.submission_id)
        .where(r.c.status == "stored")
    )
    with engine.connect() as conn:
        frame = pd.read_sql(query, conn)
    for c in (*NUMERIC_COLUMNS, *RDSR_EXTRA_COLUMNS):
        frame[c] = frame[c].astype(float)
    frame["year"] = frame["year"].astype("Int64")
    frame["map_row"] = frame["map_row"].astype("Int64")
    frame["flags"] = frame["flags"].fillna("")
    frame = frame.sort_values(["source_file", "_submission"], kind="stable")
    return frame.drop(columns="_submission").reset_index(drop=True)


def export_csv(url: str, out: str) -> int:
    """Write every stored exposure to ``out`` (CSV, UTF-8) and return the row count.

    Columns: :data:`drl_analysis.core.columns.EXPORT_COLUMNS`, then ``flags``.
    """
    frame = load_exposures(url)
    write_csv(frame, out)
    return len(frame)

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
    The canonical columns of :mod:`drl_analysis.columns` plus ``submission_id``,
    ``sheet``, ``source_row`` and ``flags``.
repairs
    Every change made to a value: sheet, row, column, before, after, rule.
rejections
    Every row not stored, with its reason and raw cells (JSON); a file that
    could not be read at all has one rejection with an empty sheet and row.

A submission is written in one transaction: either all of it is stored or
nothing of it. The same file (same sha256) is stored once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from .columns import EXPOSURE_COLUMNS, NUMERIC_COLUMNS
from .errors import UserError

metadata = sa.MetaData()

submissions = sa.Table(
    "submissions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source_file", sa.String(512), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("data_source", sa.String(256)),
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
    sa.Column("sheet", sa.String(256), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("header_row", sa.Integer),
    sa.Column("column_map", sa.Text),
    sa.Column("unknown_columns", sa.Text),
    sa.Column("data_source", sa.String(256)),
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
    sa.Column("sheet", sa.String(256), nullable=False),
    sa.Column("source_row", sa.Integer, nullable=False),
    sa.Column("data_source", sa.String(256)),
    sa.Column("year", sa.Integer),
    sa.Column("facility_id", sa.String(128)),
    sa.Column("exam_code", sa.String(128)),
    *[sa.Column(c, sa.Float) for c in NUMERIC_COLUMNS],
    sa.Column("flags", sa.String(512), nullable=False, default=""),
)

repairs = sa.Table(
    "repairs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("submission_id", sa.Integer, sa.ForeignKey("submissions.id", ondelete="CASCADE"), index=True),
    sa.Column("sheet", sa.String(256)),
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
    sa.Column("sheet", sa.String(256)),
    sa.Column("source_row", sa.Integer),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("raw", sa.Text),
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
    #: Rows as plain tuples per table (see :func:`prepare_rows`) and the
    #: database dialect they were prepared for.
    prepared: dict | None = field(default=None, repr=False)
    prepared_for: str | None = None


def make_engine(url: str) -> sa.Engine:
    """An engine for an SQLAlchemy URL, with the tables created if missing.

    An SQLite file's folder is created. A URL that cannot be used raises
    :class:`~drl_analysis.errors.UserError` naming it and the reason.
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

    try:
        metadata.create_all(engine)
    except sa.exc.OperationalError as exc:
        shown = parsed.render_as_string(hide_password=True)
        raise UserError(f"--db: cannot open {shown} ({' '.join(str(exc.orig).split())})") from None
    return engine


def stored_status(engine: sa.Engine, sha256: str) -> str | None:
    """``"stored"``, ``"failed"`` or None for a file's sha256."""
    with engine.connect() as conn:
        return conn.execute(sa.select(submissions.c.status).where(submissions.c.sha256 == sha256)).scalar()


def _column_values(series: pd.Series, nan_is_null: bool) -> list:
    """Python values of a column for the driver: NaN and NA as None, numpy scalars as Python ones."""
    if not isinstance(series.dtype, np.dtype):
        pass  # extension dtypes (Int64, string) go the object way below
    elif series.dtype.kind == "f":
        values = series.to_numpy()
        if nan_is_null:
            return values.tolist()  # SQLite stores a NaN bound as REAL as NULL
        return [None if v != v else v for v in values.tolist()]
    elif series.dtype.kind in "iu":
        return series.to_numpy().tolist()
    out = series.astype(object).to_numpy()
    na = pd.isna(out)
    if na.any():
        out = out.copy()
        out[na] = None
    return [v.item() if hasattr(v, "item") and not isinstance(v, str) else v for v in out.tolist()]


def _names(table: sa.Table) -> list[str]:
    """Columns written for a table, in order (ids and submission_id aside)."""
    return [c.name for c in table.columns if c.name not in ("id", "submission_id")]


EXPOSURE_NAMES = ["sheet", "source_row", "data_source", "year", *EXPOSURE_COLUMNS, "flags"]


def prepare_rows(rec: SubmissionRecord, dialect: str) -> dict[str, list[tuple]]:
    """The rows of a submission as plain tuples per table, ready for executemany.

    Done where the submission is read (in a worker process), so that the
    process writing the database only inserts.
    """
    nan_is_null = dialect == "sqlite"
    frames = {"exposures": (rec.exposures, EXPOSURE_NAMES)}
    for table, items in (("sheets", rec.sheets), ("repairs", rec.repairs), ("rejections", rec.rejections)):
        names = _names(metadata.tables[table])
        frame = items if isinstance(items, pd.DataFrame) else pd.DataFrame(list(items), columns=names)
        frames[table] = (frame.reindex(columns=names), names)
    out = {}
    for table, (frame, names) in frames.items():
        if frame is None or not len(frame):
            out[table] = []
        else:
            out[table] = list(zip(*[_column_values(frame[c], nan_is_null) for c in names]))
    return out


def _insert_rows(conn: sa.Connection, table: sa.Table, names: Sequence[str], rows: list[tuple], sub_id: int) -> None:
    """Insert plain tuples with one executemany, bypassing per-row parameter
    processing, which would dominate the time of storing a national survey."""
    if not rows:
        return
    style = conn.dialect.paramstyle
    if style not in ("qmark", "format", "pyformat"):
        raise NotImplementedError(f"database driver paramstyle {style!r}")
    quoted = ", ".join(conn.dialect.identifier_preparer.quote(c) for c in ["submission_id", *names])
    marks = ", ".join(["?" if style == "qmark" else "%s"] * len(names))
    # sub_id is an integer this module created, safe to write into the statement.
    conn.exec_driver_sql(f"INSERT INTO {table.name} ({quoted}) VALUES ({int(sub_id)}, {marks})", rows)


def save_submission(engine: sa.Engine, rec: SubmissionRecord) -> int:
    """Store one submission in one transaction and return its id.

    A submission of the same sha256 that failed before is replaced; one
    that is stored already is left as it is (the caller checks first).
    """
    exp = rec.exposures if rec.exposures is not None else pd.DataFrame(columns=EXPOSURE_NAMES)
    prepared = rec.prepared if rec.prepared_for == engine.dialect.name else prepare_rows(rec, engine.dialect.name)
    with engine.begin() as conn:
        conn.execute(
            sa.delete(submissions).where(submissions.c.sha256 == rec.sha256, submissions.c.status == "failed")
        )
        sub_id = conn.execute(
            sa.insert(submissions).values(
                source_file=rec.source_file,
                sha256=rec.sha256,
                data_source=rec.data_source,
                year=rec.year,
                ingested_at=dt.datetime.now(dt.timezone.utc).replace(tzinfo=None),
                status=rec.status,
                message=rec.message,
                n_sheets=len(rec.sheets),
                rows_read=rec.rows_read,
                rows_stored=len(exp),
                rows_rejected=len(rec.rejections),
                n_repairs=len(rec.repairs),
                n_flagged=rec.n_flagged,
            )
        ).inserted_primary_key[0]
        for table in (exposures, sheets, repairs, rejections):
            names = EXPOSURE_NAMES if table is exposures else _names(table)
            _insert_rows(conn, table, names, prepared[table.name], sub_id)
    return int(sub_id)


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
        Columns :data:`drl_analysis.columns.EXPORT_COLUMNS` then ``flags``;
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
    """A whole table (``submissions``, ``sheets``, ``repairs``, ``rejections``)
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


def export_csv(url: str, out: str) -> int:
    """Write every stored exposure to ``out`` (CSV, UTF-8) and return the row count.

    Columns: :data:`drl_analysis.columns.EXPORT_COLUMNS`, then ``flags``.
    """
    frame = load_exposures(url)
    frame.to_csv(out, index=False, lineterminator="\n")
    return len(frame)

"""Storage in SQLite and PostgreSQL: one transaction per file, the row
accounting per sheet, the export contract, and the same export from both."""

from __future__ import annotations

import csv
import uuid

import pandas as pd
import pytest
import sqlalchemy as sa
from conftest import postgres_url_or_skip, survey_rows, template_row

from drl_analysis.core.columns import EXPORT_COLUMNS
from drl_analysis.ingest.batch import ingest_paths
from drl_analysis.store.database import (
    SubmissionRecord,
    export_csv,
    load_exposures,
    load_table,
    make_engine,
    save_submission,
    stored_status,
)

#: The export contract of the issue, written out independently of columns.py.
CONTRACT = [
    "source_file", "sheet", "source_row", "data_source", "year", "facility_id", "exam_code", "dap_cgycm2",
    "agd_mgy", "dlp_mgycm", "ctdivol_mgy", "ctdi_phantom_cm", "weight_kg", "age_years",
]


def _record(sha: str, dap: float = 10.0, **kw) -> SubmissionRecord:
    exposures = pd.DataFrame({
        "sheet": ["Exposure data"], "source_row": [12], "data_source": ["Aerztliche Stelle Nord"], "year": [2023],
        "facility_id": ["1"], "exam_code": ["9003"], "dap_cgycm2": [dap], "agd_mgy": [float("nan")],
        "dlp_mgycm": [float("nan")], "ctdivol_mgy": [float("nan")], "ctdi_phantom_cm": [float("nan")],
        "weight_kg": [70.0], "age_years": [40.0], "flags": [""],
    })
    base = dict(source_file=f"{sha}.xlsx", sha256=sha, data_source="Aerztliche Stelle Nord", year=2023,
                exposures=exposures, rows_read=1,
                sheets=[{"sheet": "Exposure data", "status": "data", "rows_read": 1, "rows_stored": 1, "rows_rejected": 0}])
    base.update(kw)
    return SubmissionRecord(**base)


def _counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(sa.text(f"SELECT COUNT(*) FROM {t}")).scalar()
                for t in ("submissions", "sheets", "exposures", "repairs", "rejections")}


def test_a_submission_that_fails_to_store_leaves_nothing_behind(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    save_submission(engine, _record("a" * 64))
    before = _counts(engine)
    # A repair without a rule breaks a NOT NULL constraint after the
    # submission, its sheets and its exposures were inserted.
    broken = _record("b" * 64, repairs=[{"sheet": "Exposure data", "source_row": 12, "column": "dap_cgycm2",
                                          "before": "1,0", "after": "1", "rule": None}])
    with pytest.raises(sa.exc.IntegrityError):
        save_submission(engine, broken)
    assert _counts(engine) == before
    assert stored_status(engine, "b" * 64) is None
    save_submission(engine, _record("c" * 64, dap=12.0))
    assert sorted(load_exposures(engine)["dap_cgycm2"]) == [10.0, 12.0]
    engine.dispose()


def test_a_failed_file_is_replaced_when_stored_later(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    sha = "d" * 64
    failed = SubmissionRecord(source_file="x.xlsx", sha256=sha, data_source=None, year=None, status="failed",
                              message="internal error", rejections=[{"sheet": None, "source_row": None,
                                                                     "reason": "internal error", "raw": None}])
    save_submission(engine, failed)
    assert stored_status(engine, sha) == "failed"
    save_submission(engine, _record(sha))
    assert stored_status(engine, sha) == "stored"
    counts = _counts(engine)
    assert (counts["submissions"], counts["exposures"], counts["rejections"]) == (1, 1, 0)
    engine.dispose()


def test_rows_read_equal_stored_plus_rejected_for_every_sheet(small_damaged_survey, ingest):
    run = ingest(small_damaged_survey.files[0].parent)
    sheets = run.sheets
    data = sheets[sheets["status"] == "data"]
    assert len(data) >= 8  # every file, some split over sheets
    assert (data["rows_read"] == data["rows_stored"] + data["rows_rejected"]).all()
    stored = run.exposures.groupby(["source_file", "sheet"]).size()
    rejected = run.rejections.fillna({"sheet": ""}).groupby(["source_file", "sheet"]).size()
    for row in data.itertuples(index=False):
        key = (row.source_file, row.sheet)
        assert row.rows_stored == stored.get(key, 0), key
        assert row.rows_rejected == rejected.get(key, 0), key
    subs = run.table("submissions").set_index("source_file")
    per_file = data.groupby("source_file")[["rows_read", "rows_stored", "rows_rejected"]].sum()
    pd.testing.assert_frame_equal(subs.loc[per_file.index, per_file.columns], per_file, check_dtype=False,
                                  check_names=False)
    t = run.summary.totals()
    assert (t["rows_read"], t["rows_stored"], t["rows_rejected"]) == tuple(per_file.sum())


def test_export_has_the_contract_columns_then_flags(small_damaged_survey, ingest, tmp_path):
    run = ingest(small_damaged_survey.files[0].parent)
    out = tmp_path / "export.csv"
    n = export_csv(run.db, str(out))
    with out.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == [*CONTRACT, "flags"]
    assert list(EXPORT_COLUMNS) == CONTRACT
    assert n == len(rows) - 1 == len(small_damaged_survey.truth)
    exported = pd.read_csv(out, keep_default_na=False, dtype=str)
    assert set(exported.loc[exported["source_file"].str.endswith(".csv"), "sheet"]) == {""}
    assert "" not in set(exported.loc[~exported["source_file"].str.endswith(".csv"), "sheet"])


def test_source_row_is_the_row_number_excel_shows(write_xlsx, write_csv, ingest, tmp_path):
    rows = survey_rows([template_row(1, 9003, 10.0), [], [], template_row(1, 9003, 13.0)], header_row=20)
    xlsx = write_xlsx("AeSt_Nord_2023.xlsx", rows)
    csv_file = write_csv("AeSt_Sued_2023.csv", [["Datenquelle", "", "AeSt Sued"], [], *survey_rows(
        [template_row(2, 9003, "11"), template_row(2, 9003, "12")], header_row=1)])
    run = ingest(xlsx, csv_file)
    out = tmp_path / "export.csv"
    export_csv(run.db, str(out))
    exported = pd.read_csv(out, keep_default_na=False)
    got = exported[["source_file", "sheet", "source_row", "dap_cgycm2"]].values.tolist()
    assert got == [
        ["AeSt_Nord_2023.xlsx", "Exposure data", 21, 10.0],
        ["AeSt_Nord_2023.xlsx", "Exposure data", 24, 13.0],
        ["AeSt_Sued_2023.csv", "", 4, 11.0],
        ["AeSt_Sued_2023.csv", "", 5, 12.0],
    ]
    # and the cells in those rows hold those values
    from openpyxl import load_workbook

    ws = load_workbook(xlsx)["Exposure data"]
    assert (ws["C21"].value, ws["C24"].value) == (10.0, 13.0)
    lines = csv_file.read_text(encoding="utf-8").splitlines()
    assert lines[3].startswith("2,9003,11") and lines[4].startswith("2,9003,12")


# --- PostgreSQL ---------------------------------------------------------------


def test_postgres_test_fails_in_ci_without_a_server(monkeypatch):
    monkeypatch.delenv("DRL_ANALYSIS_TEST_POSTGRES_URL", raising=False)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        postgres_url_or_skip()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        postgres_url_or_skip()


@pytest.fixture
def fresh_postgres_db():
    """A new, empty PostgreSQL database on the test server, dropped afterwards.

    Created with a linguistic (ICU en-US) collation where the server offers
    one, as many servers use: text then sorts differently from SQLite.
    """
    url = sa.engine.make_url(postgres_url_or_skip())
    name = f"drl_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        try:
            conn.execute(sa.text(
                f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"
            ))
        except sa.exc.DBAPIError:
            conn.execute(sa.text(f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8'"))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


@pytest.mark.postgres
def test_postgres_stores_and_exports_the_same_as_sqlite(small_damaged_survey, write_xlsx, fresh_postgres_db, tmp_path):
    folder = small_damaged_survey.files[0].parent
    # Sheet names whose order depends on the collation ("C-Bogen" before "angiographie" bytewise).
    extra = write_xlsx("AeSt_Ost_2024.xlsx", {
        "angiographie": survey_rows([template_row(1, 9101, 2500.0)], source="Aerztliche Stelle Ost", year=2024),
        "C-Bogen": survey_rows([template_row(1, 9107, 1500.0)], source="Aerztliche Stelle Ost", year=2024),
    })
    sqlite_url = f"sqlite:///{tmp_path / 'drl.sqlite'}"
    summaries = {}
    for label, url in (("sqlite", sqlite_url), ("postgres", fresh_postgres_db)):
        summaries[label] = ingest_paths([folder, extra], url, progress=False)
        export_csv(url, str(tmp_path / f"{label}.csv"))
    assert summaries["postgres"].totals() == summaries["sqlite"].totals()
    assert summaries["postgres"].totals()["files_stored"] == len(small_damaged_survey.files) + 1
    pg_bytes = (tmp_path / "postgres.csv").read_bytes()
    assert pg_bytes == (tmp_path / "sqlite.csv").read_bytes()
    assert len(pg_bytes.splitlines()) == len(small_damaged_survey.truth) + 2 + 1
    for table in ("repairs", "rejections", "sheets"):
        pg = load_table(fresh_postgres_db, table).drop(columns=["id", "submission_id"])
        lite = load_table(sqlite_url, table).drop(columns=["id", "submission_id"])
        pd.testing.assert_frame_equal(pg, lite, check_dtype=False)
    # Ingesting again adds nothing there either.
    again = ingest_paths([folder], fresh_postgres_db, progress=False)
    assert {f.status for f in again.files} == {"duplicate"}
    assert len(load_exposures(fresh_postgres_db)) == len(small_damaged_survey.truth) + 2
    sa.create_engine(fresh_postgres_db).dispose()


def test_sqlite_database_folder_is_created(tmp_path):
    from drl_analysis.store.database import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'new' / 'deeper' / 'drl.sqlite'}")
    engine.dispose()
    assert (tmp_path / "new" / "deeper" / "drl.sqlite").exists()


def test_unreachable_database_is_one_line_naming_the_url_without_its_password(capsys):
    from drl_analysis.cli import main

    code = main(["export", "--db", "postgresql+psycopg://drl:secret@127.0.0.1:1/none", "--out", "x.csv"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1
    assert "cannot open postgresql+psycopg://drl:***@127.0.0.1:1/none" in err and "secret" not in err

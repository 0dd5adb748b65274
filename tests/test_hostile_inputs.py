"""Hostile and unlucky inputs: no file takes a batch down, no cell becomes a formula.

Each test builds one kind of bad input next to good files and asserts what a
user needs: the other files stored, a one-line reason for the bad one,
nothing written as a formula, nothing lost.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from conftest import postgres_url_or_skip, survey_rows, template_row

from drl_analysis.cli import main
from drl_analysis.core.tables import neutralise_text, write_csv, write_xlsx
from drl_analysis.ingest.overview import accounting_tables, write_accounting
from drl_analysis.store import load_exposures, load_table

FIRST = 12
HOSTILE = ["=cmd|' /C calc'!A0", '=HYPERLINK("http://example.invalid","x")', "+1+1", "@SUM(1)", "-2+3", "\t=1"]


def _good(write_xlsx, n: int) -> list[Path]:
    return [write_xlsx(f"AeSt_Nord_202{i}.xlsx", survey_rows([template_row(i + 1, 9003, 10.0 + i)], year=2020 + i))
            for i in range(n)]


def _rewrite_sheet(path: Path, out: Path, change) -> Path:
    """Copy an xlsx, changing the XML of its first worksheet."""
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = change(data.decode()).encode()
            zout.writestr(info, data)
    return out


def _far_cell(text: str, dimension: str | None) -> str:
    text = text.replace("</sheetData>", '<row r="1048576"><c r="XFD1048576" t="n"><v>1</v></c></row></sheetData>')
    if dimension is not None:
        import re
        text = re.sub(r'<dimension ref="[^"]*"\s*/>', f'<dimension ref="{dimension}"/>', text)
    return text


@pytest.mark.parametrize("jobs", [1, 2])
def test_sheet_declaring_the_whole_grid_is_refused_and_the_others_stored(write_xlsx, ingest, tmp_path, jobs):
    good = _good(write_xlsx, 4)
    bad = _rewrite_sheet(good[0], tmp_path / "in" / "AeSt_Sued_2023.xlsx", lambda t: _far_cell(t, "A1:XFD1048576"))
    run = ingest(tmp_path / "in", jobs=jobs)
    outcome = {f.source_file: f for f in run.summary.files}
    assert [outcome[p.name].status for p in good] == ["stored"] * 4
    assert outcome[bad.name].status == "failed"
    assert "17,179,869,184 cells" in outcome[bad.name].message and "--max-cells" in outcome[bad.name].message


def test_sheet_hiding_a_far_cell_crashes_only_its_worker(write_xlsx, ingest, tmp_path):
    good = _good(write_xlsx, 3)
    # The declared dimension lies (A1:I12); the reader crashes on the real extent.
    bad = _rewrite_sheet(good[0], tmp_path / "in" / "AeSt_Sued_2023.xlsx", lambda t: _far_cell(t, "A1:I12"))
    run = ingest(tmp_path / "in", jobs=2, max_memory_mb=1024)
    outcome = {f.source_file: f for f in run.summary.files}
    assert [outcome[p.name].status for p in good] == ["stored"] * 3
    assert outcome[bad.name].status == "failed"
    assert outcome[bad.name].message.startswith("the reader crashed on this file (signal")
    subs = run.table("submissions").set_index("source_file")
    assert subs.loc[bad.name, "status"] == "failed"


def test_one_stray_cell_far_below_is_no_million_rejections(write_xlsx, ingest, tmp_path):
    rows = survey_rows([template_row(1, 9003, 10.0)])
    rows.extend([[] for _ in range(1_048_575 - len(rows))])
    rows.append(["x"])
    path = write_xlsx("AeSt_Nord_2023.xlsx", rows)
    start = time.monotonic()
    run = ingest(path)
    assert time.monotonic() - start < 60
    t = run.summary.totals()
    assert t["rows_stored"] == 1
    assert t["rows_read"] == t["rows_stored"] + t["rows_rejected"] < 10
    assert run.rejections["source_row"].max() == 1_048_576


def test_kill_of_the_ingest_leaves_no_worker_behind(write_xlsx, tmp_path):
    for i in range(40):
        write_xlsx(f"AeSt_{i:02d}_2023.xlsx", survey_rows([template_row(i, 9003, 10.0 + k) for k in range(300)]))
    script = textwrap.dedent(f"""
        import sys
        from drl_analysis.ingest import ingest_paths
        ingest_paths([{str(tmp_path / 'in')!r}], {f'sqlite:///{tmp_path / "db.sqlite"}'!r}, progress=False, jobs=2)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=Path(__file__).parent.parent)
    deadline = time.monotonic() + 120
    children: list[int] = []
    while time.monotonic() < deadline and not children:
        time.sleep(0.2)
        out = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout
        children = [int(x) for x in out.split()]
    assert children, "the ingest started no worker"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(1.0)
    alive = [pid for pid in children if Path(f"/proc/{pid}").exists()
             and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]]
    assert alive == []


def test_two_ingests_into_one_database_wait_for_each_other(write_xlsx, tmp_path):
    for i in range(6):
        write_xlsx(f"a/AeSt_A{i}_2023.xlsx", survey_rows([template_row(i, 9003, 10.0 + k) for k in range(50)]))
        write_xlsx(f"b/AeSt_B{i}_2023.xlsx", survey_rows([template_row(i, 9004, 20.0 + k) for k in range(50)]))
        write_xlsx(f"c/AeSt_C{i}_2023.xlsx", survey_rows([template_row(i, 9005, 30.0 + k) for k in range(50)]))
    db = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    key = hashlib.sha256(str((tmp_path / "shared.sqlite").resolve()).encode()).hexdigest()[:24]
    lock_file = Path(tempfile.gettempdir()) / f"drl-analysis-ingest-{key}.lock"
    errors: list[BaseException] = []

    def run(folder):
        from drl_analysis.ingest import ingest_paths
        try:
            ingest_paths([tmp_path / "in" / folder], db, progress=False, jobs=1)
        except BaseException as exc:  # noqa: BLE001 - the test reports it
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(f,)) for f in ("a", "b", "c")]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert len(load_exposures(db)) == 900
    assert (load_table(db, "submissions")["status"] == "stored").sum() == 18
    assert not lock_file.exists()  # no lock file left behind in the temporary folder


@pytest.mark.parametrize("text", HOSTILE)
def test_no_text_from_a_submission_becomes_a_formula(write_csv, ingest, tmp_path, text):
    rows = survey_rows([template_row(text, 9003, "10"), template_row(2, 9003, "11")], header_row=1)
    run = ingest(write_csv("AeSt_Nord_2023.csv", rows, delimiter=";"))
    stored = run.exposures.set_index("source_row")
    assert stored.loc[2, "facility_id"] == text.strip()  # the raw value in the database
    out = tmp_path / "export.csv"
    assert main(["export", "--db", run.db, "--out", str(out)]) == 0
    cells = pd.read_csv(out, dtype=str, keep_default_na=False)["facility_id"].tolist()
    assert all(not c.startswith(("=", "+", "@", "\t", "\r")) and not (c.startswith("-") and not c[1:].replace(".", "").isdigit())
               for c in cells), cells
    written = write_accounting(accounting_tables(run.db), tmp_path / "acc")
    for p in written:
        assert not any(line.startswith(("=", "+", "@")) or ",=" in line for line in p.read_text().splitlines())


def test_xlsx_we_write_has_no_formula_cell(tmp_path):
    frame = pd.DataFrame({"facility_id": HOSTILE, "dap_cgycm2": range(len(HOSTILE))})
    path = write_xlsx({"t": frame}, tmp_path / "t.xlsx")
    ws = openpyxl.load_workbook(path)["t"]
    cells = [c for row in ws.iter_rows(min_row=2) for c in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    assert [c.value for c in ws["A"][1:]] == HOSTILE  # the raw text, as a string


def test_csv_neutralising_keeps_numbers_and_ordinary_ids(tmp_path):
    assert [neutralise_text(v) for v in ["-1.5", "+3", "-", "KH-07", "12", 5]] == ["-1.5", "+3", "-", "KH-07", "12", 5]
    frame = pd.DataFrame({"x": HOSTILE})
    text = write_csv(frame, tmp_path / "x.csv").read_text()
    assert all(line.startswith(("'", "\"'", "x")) for line in text.splitlines())


def test_a_long_facility_id_is_stored_on_sqlite(write_xlsx, ingest):
    long_id = "KH " + "x" * 183
    run = ingest(write_xlsx("AeSt_Nord_2023.xlsx", survey_rows([template_row(long_id, 9003, 10.0)])))
    assert run.exposures["facility_id"].tolist() == [long_id]


@pytest.mark.postgres
def test_a_long_facility_id_is_stored_on_postgres_and_the_batch_goes_on(write_xlsx, ingest, tmp_path):
    import sqlalchemy as sa

    url = postgres_url_or_skip()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for table in ("rejections", "repairs", "exposures", "sheets", "submissions"):
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table} CASCADE")
    engine.dispose()
    long_id = "KH " + "x" * 183
    for i in range(4):
        write_xlsx(f"AeSt_{i}_2023.xlsx", survey_rows([template_row(long_id if i == 1 else i, 9003, 10.0)]))
    run = ingest(tmp_path / "in", db=url)
    assert [f.status for f in run.summary.files] == ["stored"] * 4
    assert long_id in run.exposures["facility_id"].tolist()


def test_utf16_csv_is_read(tmp_path, ingest):
    path = tmp_path / "in" / "AeSt_Nord_2023.csv"
    path.parent.mkdir(parents=True)
    rows = survey_rows([template_row(1, 9003, "10,5")], header_row=1)
    text = "\n".join(";".join(str(v) for v in r) for r in rows) + "\n"
    path.write_bytes(text.encode("utf-16"))
    run = ingest(path)
    assert run.exposures["dap_cgycm2"].tolist() == [10.5]


def test_a_csv_cell_over_128_kb_is_read_without_a_traceback(tmp_path, ingest, caplog):
    path = tmp_path / "in" / "AeSt_Nord_2023.csv"
    path.parent.mkdir(parents=True)
    rows = survey_rows([template_row(1, 9003, "10"), template_row(1, 9003, "11")], header_row=1)
    rows[1][0] = "x" * 200_000  # a huge facility ID
    path.write_text("\n".join(",".join(str(v) for v in r) for r in rows) + "\n")
    run = ingest(path)
    assert run.summary.files[0].status == "stored"
    assert "Traceback" not in caplog.text
    assert run.exposures["dap_cgycm2"].tolist() == [10.0, 11.0]


def test_the_same_rows_resaved_with_other_line_ends_are_refused_naming_the_first(tmp_path, ingest):
    folder = tmp_path / "in"
    folder.mkdir()
    rows = survey_rows([template_row(1, 9003, "10"), template_row(2, 9003, "11")], header_row=1)
    text = "\n".join(",".join(str(v) for v in r) for r in rows) + "\n"
    (folder / "AeSt_Nord_2023.csv").write_bytes(text.encode())
    (folder / "resaved").mkdir()
    (folder / "resaved" / "AeSt_Nord_2023.csv").write_bytes(text.replace("\n", "\r\n").encode())
    run = ingest(folder)
    outcome = {f.source_file: f for f in run.summary.files}
    assert outcome["AeSt_Nord_2023.csv"].status == "stored"
    assert outcome["resaved/AeSt_Nord_2023.csv"].status == "duplicate"
    assert "stored file AeSt_Nord_2023.csv" in outcome["resaved/AeSt_Nord_2023.csv"].message
    assert len(run.exposures) == 2


def test_a_file_that_failed_before_is_read_again_not_called_stored(write_xlsx, ingest, tmp_path, monkeypatch):
    import drl_analysis.ingest.submission as submission

    path = write_xlsx("AeSt_Nord_2023.xlsx", survey_rows([template_row(1, 9003, 10.0)]))
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    real = submission.repair_sheet

    def boom(*a, **k):
        raise RuntimeError("boom")

    monkeypatch.setattr(submission, "repair_sheet", boom)
    first = ingest(path, db=db)
    assert first.summary.files[0].status == "failed"
    monkeypatch.setattr(submission, "repair_sheet", real)
    second = ingest(path, db=db)
    assert second.summary.files[0].status == "stored"
    assert len(second.exposures) == 1


def test_hidden_sheet_is_read_and_said_so(tmp_path, ingest):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Exposure data"
    for r, row in enumerate(survey_rows([template_row(1, 9003, 10.0)]), start=1):
        for c, v in enumerate(row, start=1):
            if v not in ("", None):
                ws.cell(r, c, v)
    hidden = wb.create_sheet("Alt")
    hidden.sheet_state = "hidden"
    hidden["A1"] = "old"
    path = tmp_path / "in" / "AeSt_Nord_2023.xlsx"
    path.parent.mkdir(parents=True)
    wb.save(path)
    run = ingest(path)
    assert "sheet 'Alt' is hidden in the workbook; read all the same" in run.summary.files[0].notes


def test_ingest_of_a_missing_folder_creates_no_database(tmp_path, capsys):
    db = tmp_path / "db.sqlite"
    assert main(["ingest", str(tmp_path / "nothing"), "--db", f"sqlite:///{db}"]) == 2
    assert not db.exists()
    assert "no such file or folder" in capsys.readouterr().err


def test_a_duplicate_header_column_is_named_as_such(write_xlsx, ingest):
    header = ["ID", "Exam code", "DAP [cGy·cm²]", "DAP [cGy·cm²] (2)"]
    run = ingest(write_xlsx("AeSt_Nord_2023.xlsx", survey_rows([[1, 9003, 10.0, 11.0]], header=header)))
    assert run.exposures["dap_cgycm2"].tolist() == [10.0]
    notes = run.summary.files[0].notes
    assert any("names dap_cgycm2 again; 'DAP [cGy·cm²]' was read, this one kept out" in n for n in notes), notes


# --- Pseudonymised tables in the order of what they publish -----------------------------------------------

ORDER_KEY_TEXT = "order test key: a test key, not a secret"
ORDER_SOURCES = [f"Aerztliche Stelle {c}" for c in "ABCDE"]


def _run_tables_in_real_order(folder: Path) -> Path:
    """The tables of a run, every one in the order of the real names and IDs (as the analysis writes them)."""
    tables = folder / "tables"
    (tables / "03_drl_quartiles").mkdir(parents=True)
    (tables / "04_clustering").mkdir()
    pd.DataFrame({"exam_code": ["1020"], "exam_name": ["Facial bones"], "quantity": ["ctdivol_mgy"],
                  "n_facilities": [16], "n_exams": [600], "p50": [16.0], "p75": [21.5], "current_drl": [20.0],
                  "status": ["proposed"], "n_facilities_below_min": [0], "n_exams_below_min": [0],
                  "n_excluded_implausible": [0], "n_excluded_phantom": [0],
                  "n_excluded_weight": [0]}).to_csv(tables / "03_drl_quartiles" / "drl_table.csv", index=False)
    # Facilities 1-6 of the first data source, then facility 1 of each other one: all above the DRL for one exam.
    rows = [(ORDER_SOURCES[0], str(i)) for i in range(1, 7)] + [(s, "1") for s in ORDER_SOURCES[1:]]
    pd.DataFrame({"alert": "facility_above_drl", "data_source": [s for s, _ in rows],
                  "facility_id": [f for _, f in rows], "exam_code": "1020", "quantity": "ctdivol_mgy",
                  "facility_medians": 25.0}).to_csv(tables / "04_clustering" / "alerts.csv", index=False)
    # Clusters numbered in the order of the real names, as the analysis numbers them.
    pd.DataFrame({"data_source": ORDER_SOURCES, "cluster": [1, 2, 2, 3, 3], "median_dose_to_drl": 1.0,
                  "n_values": 100}).to_csv(tables / "04_clustering" / "source_clusters.csv", index=False)
    return tables


def test_pseudonymised_tables_follow_the_pseudonyms_not_the_real_names(tmp_path, monkeypatch):
    from drl_analysis.reporting import report
    from drl_analysis.reporting.pseudonyms import Pseudonymiser, PseudonymKey

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    key = PseudonymKey.from_text(ORDER_KEY_TEXT)
    names = Pseudonymiser(key)
    real_sources = [names.source(s) for s in ORDER_SOURCES]
    real_facilities = [names.facility(ORDER_SOURCES[0], str(i)) for i in range(1, 7)]
    # The case is built so that the order of the real names and the order of the pseudonyms differ.
    assert real_sources != sorted(real_sources) and real_facilities != sorted(real_facilities)

    tables = _run_tables_in_real_order(tmp_path)
    written = report.write_report(tables, tmp_path / "report", survey="test", key=key, manifest_file=None)
    folder = written.pseudonymised.pdf.parent
    alerts = pd.read_csv(folder / "annual_report_pseudonymised_alerts.csv", dtype=str)
    clusters = pd.read_csv(folder / "annual_report_pseudonymised_source_clusters.csv", dtype=str)
    sheet = pd.read_excel(folder / "annual_report_pseudonymised_tables.xlsx", sheet_name="alerts", dtype=str, engine="openpyxl")

    first_source = alerts[alerts["facility_id"].isin(real_facilities)]
    assert list(first_source["facility_id"]) == sorted(real_facilities)
    assert list(alerts.drop_duplicates("data_source")["data_source"]) == sorted(real_sources)
    assert list(sheet["facility_id"]) == list(alerts["facility_id"])
    # Clusters are numbered in the order of the pseudonyms: cluster 1 holds the first pseudonym.
    assert list(clusters["data_source"]) == sorted(
        real_sources, key=lambda s: (clusters.set_index("data_source").loc[s, "cluster"], s))
    assert clusters.set_index("data_source").loc[sorted(real_sources)[0], "cluster"] == "1"


# --- The pseudonym key: no published fingerprint, no weak key ---------------------------------------------

def test_the_pseudonymised_edition_carries_no_key_fingerprint(tmp_path, monkeypatch):
    from drl_analysis.reporting import report
    from drl_analysis.reporting.pseudonyms import PseudonymKey

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    written = report.write_report(_run_tables_in_real_order(tmp_path), tmp_path / "report", survey="test",
                                  key=PseudonymKey.from_text(ORDER_KEY_TEXT), manifest_file=None)
    pdf = subprocess.run(["pdftotext", str(written.pseudonymised.pdf), "-"], capture_output=True, text=True,
                         check=True).stdout
    assert "Pseudonymised edition" in pdf and "fingerprint" not in pdf.lower()
    for path in written.pseudonymised.tables.values():
        assert "fingerprint" not in path.read_text().lower(), path.name


def test_the_key_fingerprint_of_the_manifest_is_slow_to_test_and_salted():
    from drl_analysis.reporting.pseudonyms import PseudonymKey

    key = PseudonymKey.from_text(ORDER_KEY_TEXT)
    record = key.fingerprint()
    assert record["kdf"] == "scrypt" and record["n"] >= 2**14 and len(record["salt"]) >= 32
    assert key.matches(record) and not PseudonymKey.from_text(ORDER_KEY_TEXT + "!").matches(record)
    assert key.fingerprint()["fingerprint"] != record["fingerprint"]


@pytest.mark.parametrize(("text", "reason"), [
    ("a short key", "it has 11 characters; it needs at least 16"),
    ("abababababababab1", "only 3 distinct characters; it needs at least 8"),
    ("abcabcabcabcabca", "only 3 distinct characters"),
    ("1234567890123456", "it repeats the pattern '1234567890'"),
    ("abcdefgh" * 3, "it repeats the pattern 'abcdefgh'"),
    ("abcdefghijklmnopqrst", "a sequence of consecutive characters"),
    ("9876543210987654", "it repeats the pattern"),
    ("ZYXWVUTSRQPONMLK", "a sequence of consecutive characters"),
])
@pytest.mark.parametrize("where", ["file", "environment"])
def test_a_weak_key_is_refused_naming_where_it_came_from_and_why(text, reason, where, tmp_path, monkeypatch):
    from drl_analysis.core.errors import UserError
    from drl_analysis.reporting.pseudonyms import ENV_VAR, load_key

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv(ENV_VAR, raising=False)
    path = tmp_path / "weak.key"
    path.write_text(text + "\n")
    if where == "environment":
        monkeypatch.setenv(ENV_VAR, text)
    with pytest.raises(UserError) as err:
        load_key(path if where == "file" else None)
    message = str(err.value)
    assert reason in message
    assert (f"key file {path}" if where == "file" else f"environment variable {ENV_VAR}") in message


def test_a_created_key_is_random_and_strong(tmp_path, monkeypatch):
    from drl_analysis.reporting.pseudonyms import ENV_VAR, key_weakness, load_key

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv(ENV_VAR, raising=False)
    key = load_key()
    text = (tmp_path / "config" / "drl-analysis" / "pseudonym.key").read_text().strip()
    assert key.created and len(bytes.fromhex(text)) * 8 >= 128 and key_weakness(text) == ""
    # A good key of the user's own is taken.
    monkeypatch.setenv(ENV_VAR, "correct horse battery staple")
    assert not load_key().created


def test_a_run_with_a_key_file_says_the_key_came_from_that_file(tmp_path, monkeypatch, capsys):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    from drl_analysis.core.paths import PROJECT_ROOT
    from drl_analysis.reporting.pseudonyms import ENV_VAR, SOURCE_ENV_VAR

    monkeypatch.setenv("PYTHONPATH", str(PROJECT_ROOT))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.delenv(SOURCE_ENV_VAR, raising=False)
    # A notebook that pseudonymises says where its key came from, as notebook 05 does.
    parameters = new_code_cell('out_dir: str = ""  # folder for the note\npseudonymise: bool = True  # use the key')
    parameters.metadata["tags"] = ["parameters"]
    body = new_code_cell("from pathlib import Path\nfrom drl_analysis.reporting.pseudonyms import load_key\n"
                         "source = load_key(create=False).source\nprint('key from', source)\n"
                         "Path(out_dir).mkdir(parents=True, exist_ok=True)\n"
                         "(Path(out_dir) / 'key_source.txt').write_text(source)")
    nb = new_notebook(cells=[parameters, body])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (tmp_path / "notebooks").mkdir()
    nbformat.write(nb, tmp_path / "notebooks" / "10_key.ipynb")
    (tmp_path / "input" / "surveys").mkdir(parents=True)
    (tmp_path / "input" / "surveys" / "a.csv").write_text("a\n1\n")
    key_file = tmp_path / "team.key"
    key_file.write_text("a team key of the test, not a secret\n")

    status = main(["run", "--survey", "s", "--input", str(tmp_path / "input"), "--out", str(tmp_path / "out"),
                   "--notebooks", str(tmp_path / "notebooks"), "--pseudonym-key-file", str(key_file)])
    printed = capsys.readouterr()
    assert status == 0, printed
    assert f"key from key file {key_file}" in printed.err
    assert "environment variable" not in printed.out + printed.err
    version = (tmp_path / "out" / "s" / "latest").resolve()
    assert (version / "tables" / "10_key" / "key_source.txt").read_text() == "key file team.key"
    manifest = __import__("json").loads((version / "manifest.json").read_text())
    assert manifest["pseudonym_key"]["source"] == "key file team.key"


# --- verify checks everything the manifest lists ------------------------------------------------------------

DB_BODY = '''import sqlite3
from pathlib import Path
import pandas as pd
out = Path(out_dir); out.mkdir(parents=True, exist_ok=True)
con = sqlite3.connect("drl.sqlite")
con.execute("CREATE TABLE submissions (id INTEGER PRIMARY KEY, source_file TEXT)")
con.execute("CREATE TABLE exposures (id INTEGER PRIMARY KEY, submission_id INTEGER, dap REAL)")
con.executemany("INSERT INTO submissions VALUES (?, ?)", [(1, "a.xlsx"), (2, "b.xlsx")])
con.executemany("INSERT INTO exposures VALUES (?, ?, ?)", [(i, 1 + i % 2, 1.5 * i) for i in range(1, 1001)])
con.commit(); con.close()
pd.DataFrame({"n": [1000]}).to_csv(out / "counts.csv", index=False)
(out / "report.pdf").write_bytes(b"%PDF-1.4 a stand-in for a report")'''


def _version_with_a_database(tmp_path, monkeypatch) -> Path:
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    from drl_analysis.core.paths import PROJECT_ROOT
    from drl_analysis.reporting.pseudonyms import ENV_VAR

    monkeypatch.setenv("PYTHONPATH", str(PROJECT_ROOT))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv(ENV_VAR, raising=False)
    parameters = new_code_cell('out_dir: str = ""  # folder for the tables')
    parameters.metadata["tags"] = ["parameters"]
    nb = new_notebook(cells=[parameters, new_code_cell(DB_BODY)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (tmp_path / "notebooks").mkdir()
    nbformat.write(nb, tmp_path / "notebooks" / "10_db.ipynb")
    (tmp_path / "input" / "surveys").mkdir(parents=True)
    (tmp_path / "input" / "surveys" / "a.csv").write_text("a\n1\n")
    assert main(["run", "--survey", "s", "--input", str(tmp_path / "input"), "--out", str(tmp_path / "out"),
                 "--notebooks", str(tmp_path / "notebooks")]) == 0
    return (tmp_path / "out" / "s" / "latest").resolve()


def _verify(folder: Path, capsys) -> tuple[int, str]:
    capsys.readouterr()
    status = main(["verify", str(folder)])
    return status, capsys.readouterr().out


def test_verify_names_database_tables_whose_rows_changed(tmp_path, monkeypatch, capsys):
    import sqlite3

    version = _version_with_a_database(tmp_path, monkeypatch)
    status, out = _verify(version, capsys)
    assert status == 0, out
    con = sqlite3.connect(version / "drl.sqlite")
    con.execute("DELETE FROM exposures WHERE id % 2 = 0")
    con.commit()
    con.close()
    status, out = _verify(version, capsys)
    assert status != 0
    assert "drl.sqlite, table exposures: 1,000 rows recorded, 500 now" in out
    assert "table submissions" not in out and "manifest.json" not in out


def test_verify_names_an_edited_manifest_page_pdf_and_workbook(tmp_path, monkeypatch, capsys):
    import json

    version = _version_with_a_database(tmp_path, monkeypatch)
    manifest = json.loads((version / "manifest.json").read_text())
    # Someone makes the manifest agree with a changed table by editing its hash.
    counts = next(o for o in manifest["outputs"] if o["path"] == "tables/10_db/counts.csv")
    counts["sha256"] = "0" * 64
    (version / "manifest.json").write_text(json.dumps(manifest, indent=2))
    page = version / "html" / "10_db.html"
    page.write_text(page.read_text().replace("</body>", "<script>alert(1)</script></body>"))
    pdf = version / "tables" / "10_db" / "report.pdf"
    pdf.write_bytes(pdf.read_bytes() + b"%% appended")
    [xlsx] = (version / "tables" / "10_db").glob("*.xlsx")
    xlsx.write_bytes(xlsx.read_bytes()[:-10])
    status, out = _verify(version, capsys)
    assert status != 0
    assert "manifest.json: altered since the run" in out
    for rel in ("html/10_db.html", "tables/10_db/report.pdf", xlsx.relative_to(version).as_posix()):
        assert f"{rel}: changed since the run" in out, rel


# --- Images that declare or inflate to more than the OCR decodes --------------------------------------------

def _png_declaring(path: Path, width: int, height: int) -> Path:
    """A PNG whose header declares width x height, with almost no data behind it."""
    import struct
    import zlib as _zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", _zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", _zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


def _dicom(path: Path, rows: int, columns: int, pixel_bytes: int, *, deflated: bool) -> Path:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian, SecondaryCaptureImageStorage

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = "1.2.3.4.5"
    meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian if deflated else ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = SecondaryCaptureImageStorage, "1.2.3.4.5"
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = rows, columns, 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = b"\0" * pixel_bytes
    ds.save_as(path, enforce_file_format=True)
    return path


def test_images_too_large_to_decode_are_named_with_the_limit_and_the_others_read(tmp_path):
    from drl_analysis.synthetic import screens

    folder = tmp_path / "screens"
    folder.mkdir()
    screen = screens.random_screen(__import__("numpy").random.default_rng(3), layouts=("clarityiq_en",),
                                   degrade=False, file_format="png")
    good = screens.write_screen(screen, folder / "good", seed=3)
    limit = 2_000_000
    # Deflated zeros: a file of a few KB that inflates to 12 MB (declaring only 100 x 100 pixels).
    bomb = _dicom(folder / "bomb.dcm", 100, 100, 12_000_000, deflated=True)
    assert bomb.stat().st_size < 100_000
    declared = _dicom(folder / "declared.dcm", 60_000, 60_000, 64, deflated=False)
    png = _png_declaring(folder / "huge.png", 100_000, 100_000)
    wide = _png_declaring(folder / "wide.png", 2_000, 1_500)

    out = tmp_path / "ocr.csv"
    status = main(["ocr", str(folder), "--out", str(out), "--jobs", "1", "--no-progress", "--max-pixels", str(limit)])
    assert status == 0
    rows = pd.read_csv(out, dtype=str, keep_default_na=False).set_index("source_file")
    assert rows.loc[good.name, "needs_review"] == "False" and rows.loc[good.name, "dap_total_gycm2"]
    reasons = {name: rows.loc[name, "reason"] for name in (bomb.name, declared.name, png.name, wide.name)}
    assert all(rows.loc[name, "needs_review"] == "True" for name in reasons)
    assert "inflates to more than 8,000,000 bytes" in reasons[bomb.name]
    assert "declares 60,000 x 60,000 x 1 frames = 3,600,000,000 pixels" in reasons[declared.name]
    assert "10,000,000,000 pixels" in reasons[png.name]
    assert "2,000 x 1,500 = 3,000,000 pixels" in reasons[wide.name]
    assert all("above the limit of 2,000,000 pixels" in r or "2,000,000 pixels; not decoded" in r
               for r in reasons.values()), reasons
    assert all("--max-pixels" in r for r in reasons.values())


def test_the_default_limit_refuses_a_screen_of_60_megapixels(tmp_path):
    from drl_analysis.ocr.images import MAX_PIXELS, ImageError, load_image

    assert MAX_PIXELS == 50_000_000
    with pytest.raises(ImageError, match="10,000 x 6,000 = 60,000,000 pixels, above the limit of 50,000,000"):
        load_image(_png_declaring(tmp_path / "big.png", 10_000, 6_000))


# --- What calamine does not say: Excel error values and hidden rows -----------------------------------------

def _workbook(path: Path, rows: list[list], change=None) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Exposure data"
    for r, row in enumerate(rows, start=1):
        for c, v in enumerate(row, start=1):
            if v not in ("", None):
                ws.cell(r, c, v)
    if change is not None:
        change(ws)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


@pytest.mark.parametrize("error", ["#DIV/0!", "#N/A", "#VALUE!", "#REF!"])
def test_an_excel_error_value_is_named_in_the_rejection(tmp_path, ingest, error):
    first = FIRST  # the first data row of the template (Excel row 12)

    def errors(ws):
        ws.cell(first + 1, 3).value = error  # the DAP of the second data row
        ws.cell(first + 1, 3).data_type = "e"

    rows = survey_rows([template_row(1, 9003, 10.0), template_row(2, 9003, 12.0), template_row(3, 9003, 11.0)])
    run = ingest(_workbook(tmp_path / "in" / "AeSt_Nord_2023.xlsx", rows, errors))
    assert sorted(run.exposures["source_row"]) == [first, first + 2]
    rejected = run.rejection(first + 1)
    assert f"the cell holds the Excel error {error}" in rejected["reason"]
    # "#N/A" reads as a missing value (as "n/a" does): the row has no dose; any other error is no number.
    expected = "no dose value" if error == "#N/A" else "unreadable value in dap_cgycm2"
    assert rejected["reason"].startswith(expected + " (dap_cgycm2: the cell holds the Excel error")
    assert error in rejected["raw"]


@pytest.mark.parametrize("error", ["#REF!", "#N/A"])
def test_an_excel_error_as_facility_id_is_never_stored_nor_filled_down(tmp_path, ingest, error):
    def errors(ws):
        ws.cell(FIRST + 2, 1).value = error  # the ID of the third row, in a sheet that gives IDs per block
        ws.cell(FIRST + 2, 1).data_type = "e"

    rows = survey_rows([template_row(1, 9003, 10.0), template_row("", 9003, 11.0), template_row("x", 9003, 12.0),
                        template_row("", 9003, 13.0), template_row(2, 9003, 14.0), template_row("", 9003, 15.0)])
    run = ingest(_workbook(tmp_path / "in" / "AeSt_Nord_2023.xlsx", rows, errors))
    stored = run.exposures.set_index("source_row")["facility_id"].to_dict()
    assert stored == {FIRST: "1", FIRST + 1: "1", FIRST + 4: "2", FIRST + 5: "2"}
    assert run.rejection(FIRST + 2)["reason"] == f"facility ID missing (facility_id: the cell holds the Excel error {error})"
    assert run.rejection(FIRST + 3)["reason"] == "facility ID missing"  # below the error: whose it is, nobody knows


def test_hidden_rows_are_read_and_said_so(tmp_path, ingest):
    def hide(ws):
        for r in (FIRST + 1, FIRST + 3):
            ws.row_dimensions[r].hidden = True

    rows = survey_rows([template_row(i, 9003, 10.0 + i) for i in range(1, 6)])
    run = ingest(_workbook(tmp_path / "in" / "AeSt_Nord_2023.xlsx", rows, hide))
    assert len(run.exposures) == 5  # hidden rows are data: read as any other
    assert "sheet 'Exposure data': 2 hidden rows were read" in run.summary.files[0].notes

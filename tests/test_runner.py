"""drl-analysis run and verify: versions, manifest, parameters, failures, latest, batches."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from pipeline_run import TEST_KEY_TEXT, sample_run

from drl_analysis import cli
from drl_analysis.core.errors import UserError
from drl_analysis.core.paths import PROJECT_ROOT, SAMPLE_DIR
from drl_analysis.pipeline import notebooks as notebooks_module
from drl_analysis.pipeline import run as runner
from drl_analysis.pipeline import verify as verifier
from drl_analysis.reporting.pseudonyms import ENV_VAR, PseudonymKey

KEY = PseudonymKey.from_text("runner test key, not a secret")


@pytest.fixture(autouse=True)
def kernel_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(PROJECT_ROOT))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv(ENV_VAR, raising=False)


def write_notebook(folder: Path, name: str, parameters: str, body: str) -> Path:
    nb = new_notebook(cells=[new_markdown_cell(f"# {name}"), new_code_cell(parameters), new_code_cell(body)])
    nb.cells[1].metadata["tags"] = ["parameters"]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


COUNT_PARAMETERS = '''input_dir: str = ""  # folder of survey files
out_dir: str = ""  # folder for the table
factor: int = 1  # each file counts this many times
label: str = "files"  # name of the count'''

# Lists the input files with a size (no time, sorted), so a rerun writes the same table.
COUNT_BODY = '''from pathlib import Path
import pandas as pd
files = sorted(p for p in Path(input_dir).rglob("*") if p.is_file())
out = Path(out_dir); out.mkdir(parents=True, exist_ok=True)
sizes = [p.stat().st_size * factor for p in files]
pd.DataFrame({"file": [p.name for p in files], "bytes": sizes}).to_csv(out / "counts.csv", index=False)
pd.DataFrame({"label": [label], "n": [len(files) * factor]}).to_csv(out / "total.csv", index=False)
Path("cwd.txt").write_text(str(Path.cwd()))'''


@pytest.fixture
def tiny(tmp_path):
    """Two quick notebooks (10 counts the input files, 20 sums the counts) and a survey input."""
    nbs = tmp_path / "notebooks"
    write_notebook(nbs, "10_count_files", COUNT_PARAMETERS, COUNT_BODY)
    write_notebook(
        nbs, "20_sum_counts", 'out_dir: str = ""  # folder for the sum\nfactor: int = 1  # also declared here',
        'import pandas as pd\nfrom pathlib import Path\nt = pd.read_csv("tables/10_count_files/counts.csv")\n'
        'Path(out_dir).mkdir(parents=True, exist_ok=True)\n'
        'pd.DataFrame({"bytes": [int(t["bytes"].sum())]}).to_csv(Path(out_dir) / "sum.csv", index=False)',
    )
    data = tmp_path / "input" / "surveys"
    data.mkdir(parents=True)
    for i, text in enumerate(["a,b\n1,2\n", "a,b\n3,4\n5,6\n", "x\n"]):
        (data / f"source_{i}.csv").write_text(text)
    return nbs, tmp_path / "input", tmp_path / "out"


def args(**kw) -> runner.RunOptions:
    return runner.RunOptions(**kw)


# --- parameters -----------------------------------------------------------


def test_unknown_parameter_is_refused_naming_it_and_the_notebooks(tiny):
    nbs, data, out = tiny
    with pytest.raises(UserError) as err:
        runner.run([runner.Plan("s", data, parameters={"factr": 2})], out, notebook_dir=nbs, key=KEY, progress=False)
    message = str(err.value)
    assert "'factr'" in message and "10_count_files" in message and "20_sum_counts" in message
    assert "\n" not in message
    assert not out.exists()  # refused before anything ran


def test_parameter_of_the_wrong_type_is_refused(tiny):
    nbs, data, out = tiny
    with pytest.raises(UserError, match=r"'factor': 10_count_files expects a int, not 'two'"):
        runner.run([runner.Plan("s", data, parameters={"factor": "two"})], out, notebook_dir=nbs, progress=False)


def test_parameters_the_runner_sets_cannot_be_given(tiny):
    nbs, data, out = tiny
    with pytest.raises(UserError, match="'out_dir' is set by the runner"):
        runner.run([runner.Plan("s", data, parameters={"out_dir": "/elsewhere"})], out, notebook_dir=nbs, progress=False)


def test_real_notebooks_declare_typed_parameters_the_runner_can_read():
    notebooks = runner.discover()
    names = [nb.name for nb in notebooks]
    assert names == sorted(names) and "02_repair" in names and "05_report" in names
    repair = next(nb for nb in notebooks if nb.name == "02_repair")
    # Read by parsing the cell as Python (papermill's own line pattern gives up on a comment holding "=").
    assert repair.parameters == {"input_dir": "str", "rdsr_dir": "str", "db_url": "str", "data_source": "str",
                                 "year": "int", "out_dir": "str"}
    with pytest.raises(UserError, match="'min_per_facilty' is declared by no notebook"):
        runner.check_parameters({"min_per_facilty": 5}, notebooks)


def test_a_parameters_cell_with_code_is_refused(tmp_path):
    write_notebook(tmp_path, "10_bad", "import os\nx: int = 1  # a number", "pass")
    with pytest.raises(UserError, match="10_bad.ipynb: its parameters cell may hold only"):
        runner.discover(tmp_path)


def test_numbers_for_text_parameters_become_text(tiny):
    nbs, _, _ = tiny
    assert runner.check_parameters({"label": 1020}, runner.discover(nbs)) == {"label": "1020"}


# --- plans ----------------------------------------------------------------


def test_each_year_given_is_one_survey():
    plans, _ = runner.plans_from_options(args(years=["2022", "2023", "2024"]))
    assert [(p.survey, p.years) for p in plans] == [("sample-2022", "2022"), ("sample-2023", "2023"), ("sample-2024", "2024")]
    plans, _ = runner.plans_from_options(args(years=["2021-2023"]))
    assert [(p.survey, p.years) for p in plans] == [("sample-2021-2023", "2021-2023")]
    plans, _ = runner.plans_from_options(args(years=["2024"], survey="annual"))
    assert [(p.survey, p.years) for p in plans] == [("annual", "2024")]
    plans, _ = runner.plans_from_options(args())
    assert [(p.survey, p.input_dir, p.years) for p in plans] == [("sample", SAMPLE_DIR, "")]


def test_params_file_lists_surveys_with_their_own_parameters(tmp_path, tiny):
    _, data, _ = tiny
    (tmp_path / "batch.yaml").write_text(
        "out: results\nparameters:\n  factor: 2\nsurveys:\n"
        f"  - survey: y2023\n    input: {data}\n    years: 2023\n"
        f"  - survey: y2024\n    input: {data}\n    years: 2024\n    parameters: {{factor: 3}}\n"
    )
    plans, out = runner.plans_from_options(args(params=str(tmp_path / "batch.yaml")))
    assert out == tmp_path / "results"
    assert [(p.survey, p.years, p.parameters) for p in plans] == [
        ("y2023", "2023", {"factor": 2}), ("y2024", "2024", {"factor": 3})]


def test_params_file_with_a_stray_key_is_refused(tmp_path):
    (tmp_path / "p.yaml").write_text("min_per_facility: 5\n")
    with pytest.raises(UserError, match="unknown key 'min_per_facility'.*under 'parameters:'"):
        runner.plans_from_options(args(params=str(tmp_path / "p.yaml")))


def test_survey_name_must_be_a_folder_name():
    with pytest.raises(UserError, match="survey name 'my survey'"):
        runner.plans_from_options(args(survey="my survey"))


# --- running --------------------------------------------------------------


def test_run_writes_a_version_with_manifest_tables_and_latest(tiny):
    nbs, data, out = tiny
    [result] = runner.run([runner.Plan("s", data, parameters={"factor": 2})], out, notebook_dir=nbs, key=KEY,
                          progress=False)
    folder = result.folder
    assert result.status == "complete"
    assert re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{8}", folder.name)
    assert (out / "s" / "latest").resolve() == folder
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    # Inputs with their sha256, computed here independently.
    files = {f["path"]: f["sha256"] for f in manifest["inputs"]["files"]}
    assert files == {f"surveys/source_{i}.csv": hashlib.sha256((data / "surveys" / f"source_{i}.csv").read_bytes()).hexdigest()
                     for i in range(3)}
    assert manifest["parameters"]["user"] == {"factor": 2}
    assert manifest["parameters"]["notebooks"]["10_count_files"]["out_dir"] == "tables/10_count_files"
    assert [n["status"] for n in manifest["notebooks"]] == ["ok", "ok"]
    assert all(n["duration_s"] > 0 for n in manifest["notebooks"])
    assert manifest["started_utc"] <= manifest["finished_utc"]
    assert {"python", "pandas", "papermill", "drl-analysis"} <= set(manifest["packages"])
    assert manifest["git"]["commit"] is None or re.fullmatch(r"[0-9a-f]{40}", manifest["git"]["commit"])
    assert manifest["row_counts"]["tables"]["tables/10_count_files/counts.csv"] == 3
    assert manifest["pseudonym_key"] is None  # no notebook pseudonymises here
    # The table: 3 files, bytes doubled (factor 2 reached the notebook), and 20 read 10's table.
    counts = pd.read_csv(folder / "tables" / "10_count_files" / "counts.csv")
    assert counts["bytes"].tolist() == [2 * len("a,b\n1,2\n"), 2 * len("a,b\n3,4\n5,6\n"), 2 * len("x\n")]
    assert pd.read_csv(folder / "tables" / "20_sum_counts" / "sum.csv")["bytes"].item() == counts["bytes"].sum()
    # Kernel ran in the version's folder; executed notebooks, xlsx copies, pages and index are there.
    assert (folder / "cwd.txt").read_text().endswith(".incomplete")
    assert (folder / "notebooks" / "10_count_files.ipynb").is_file()
    assert (folder / "tables" / "10_count_files" / "10_count_files.xlsx").is_file()
    assert (folder / "html" / "10_count_files.html").is_file() and (folder / "html" / "index.html").is_file()
    assert "factor" in (folder / "parameters.yaml").read_text()


def test_version_hash_follows_inputs_and_parameters(tiny):
    nbs, data, out = tiny
    plan = lambda p: runner.Plan("s", data, parameters=p)  # noqa: E731
    a, b, c = (runner.run([plan(p)], out, notebook_dir=nbs, progress=False)[0] for p in ({}, {}, {"factor": 3}))
    hashes = [r.folder.name.split("-", 1)[1][:8] for r in (a, b, c)]
    assert hashes[0] == hashes[1] != hashes[2]
    # Same inputs and parameters in the same second: a new folder all the same, never an overwrite.
    assert len({a.folder, b.folder, c.folder}) == 3
    assert (out / "s" / "latest").resolve() == max((a.folder, b.folder, c.folder), key=lambda p: p.name)


def test_failing_notebook_leaves_no_complete_version_and_says_which_and_why(tiny, capsys):
    nbs, data, out = tiny
    write_notebook(nbs, "15_divide", 'factor: int = 1  # divisor', "x = 1 / (factor - factor)")
    [result] = runner.run([runner.Plan("s", data)], out, notebook_dir=nbs, key=KEY, progress=False)
    assert result.status == "failed"
    assert result.folder.name.endswith(".failed")
    survey = out / "s"
    assert runner.complete_versions(survey) == []
    assert not (survey / "latest").exists()
    assert not any(runner.VERSION_PATTERN.match(p.name) for p in survey.iterdir())
    manifest = json.loads((result.folder / "manifest.json").read_text())
    assert manifest["status"] == "failed"
    assert manifest["failure"]["notebook"] == "15_divide"
    assert "ZeroDivisionError" in manifest["failure"]["error"]
    assert [n["status"] for n in manifest["notebooks"]] == ["ok", "failed"]  # 20 never ran
    assert "15_divide" in (result.folder / "FAILED.txt").read_text()


def test_failing_run_on_the_command_line_names_the_notebook(tiny, capsys, monkeypatch):
    nbs, data, out = tiny
    write_notebook(nbs, "15_divide", 'factor: int = 1  # divisor', "x = 1 / (factor - factor)")
    monkeypatch.setattr(notebooks_module, "NOTEBOOK_DIR", nbs)
    status = cli.main(["run", "--input", str(data), "--out", str(out), "--survey", "s"])
    err = capsys.readouterr().err
    assert status == 1
    assert "notebook 15_divide failed: ZeroDivisionError" in err


def test_notebook_without_its_input_is_skipped(tiny):
    nbs, data, out = tiny
    # 01 reads dose-report images: the input has none, so it is skipped, and the others run.
    write_notebook(nbs, "01_ocr_extraction", 'input_dir: str = ""  # images\nout_file: str = ""  # table',
                   "raise RuntimeError('must not run without images')")
    [result] = runner.run([runner.Plan("s", data)], out, notebook_dir=nbs, progress=False)
    assert result.status == "complete"
    status = {n["name"]: n["status"] for n in result.manifest["notebooks"]}
    assert status == {"01_ocr_extraction": "skipped", "10_count_files": "ok", "20_sum_counts": "ok"}


def test_notebook_with_images_in_its_input_runs(tiny):
    nbs, data, out = tiny
    write_notebook(nbs, "01_ocr_extraction", 'input_dir: str = ""  # images\nout_file: str = ""  # table',
                   "from pathlib import Path\n"
                   "Path(out_file).write_text('n\\n' + str(len(list(Path(input_dir).glob('*.png')))) + '\\n')")
    (data / "dose_reports").mkdir()
    (data / "dose_reports" / "screen.png").write_bytes(b"\x89PNG")
    [result] = runner.run([runner.Plan("s", data)], out, notebook_dir=nbs, progress=False)
    assert (result.folder / "tables" / "01_ocr_extraction" / "dose_reports.csv").read_text() == "n\n1\n"
    assert "dose_reports/screen.png" in {f["path"] for f in result.manifest["inputs"]["files"]}


def test_several_surveys_in_one_call_give_one_version_each(tiny):
    nbs, data, out = tiny
    plans = [runner.Plan(f"s-{y}", data, years=str(y)) for y in (2022, 2023)]
    results = runner.run(plans, out, notebook_dir=nbs, progress=False)
    assert [r.status for r in results] == ["complete", "complete"]
    assert [r.folder.parent.name for r in results] == ["s-2022", "s-2023"]
    assert [(out / s / "latest").resolve() for s in ("s-2022", "s-2023")] == [r.folder for r in results]


def test_progress_names_each_notebook_and_the_overall_count(tiny, tmp_path):
    nbs, data, out = tiny
    log = tmp_path / "progress.txt"
    with open(log, "w") as stream:
        runner.run([runner.Plan("s", data)], out, notebook_dir=nbs, progress=True, stream=stream)
    text = log.read_text()
    assert "[1/2] s: 10_count_files done in" in text
    assert "[2/2] s: 20_sum_counts done in" in text


def test_latest_is_a_file_where_symlinks_are_impossible(tmp_path, monkeypatch):
    survey = tmp_path / "s"
    for name in ("20240101T000000Z-aaaaaaaa", "20240102T000000Z-bbbbbbbb"):
        (survey / name).mkdir(parents=True)
        (survey / name / "manifest.json").write_text('{"status": "complete"}')
    (survey / "20240103T000000Z-cccccccc.failed").mkdir()

    def no_symlinks(*a, **k):
        raise OSError("symlinks are not supported here")

    monkeypatch.setattr(os, "symlink", no_symlinks)
    runner.update_latest(survey)
    assert (survey / "latest").read_text().strip() == "20240102T000000Z-bbbbbbbb"
    assert runner.resolve_latest(survey) == survey / "20240102T000000Z-bbbbbbbb"


# --- verify ---------------------------------------------------------------


def test_verify_passes_on_an_unchanged_version_and_names_a_tampered_table_and_row(tiny, monkeypatch, capsys):
    nbs, data, out = tiny
    monkeypatch.setattr(notebooks_module, "NOTEBOOK_DIR", nbs)
    [result] = runner.run([runner.Plan("s", data, parameters={"factor": 2})], out, progress=False)
    assert cli.main(["verify", str(result.folder)]) == 0
    assert "all 3 tables identical" in capsys.readouterr().out

    tampered = out / "s" / "copy"
    shutil.copytree(result.folder, tampered)
    counts = tampered / "tables" / "10_count_files" / "counts.csv"
    counts.write_text(counts.read_text().replace("source_1.csv,24", "source_1.csv,25"))
    assert cli.main(["verify", str(tampered)]) == 1
    printed = capsys.readouterr().out
    assert "DIFFERS  tables/10_count_files/counts.csv: rows 2 differ (row 2, column bytes: published '25', rerun '24')" in printed
    assert "sum.csv" not in printed


def test_verify_says_when_an_input_changed(tiny, monkeypatch):
    nbs, data, out = tiny
    monkeypatch.setattr(notebooks_module, "NOTEBOOK_DIR", nbs)
    [result] = runner.run([runner.Plan("s", data)], out, progress=False)
    (data / "surveys" / "source_0.csv").write_text("a,b\n9,9\n")
    check = verifier.verify(result.folder, progress=False)
    assert not check.ok
    assert check.differences == ["input surveys/source_0.csv: changed since the run (sha256 differs)"]


def test_verify_names_a_published_file_changed_since_the_run(tiny, monkeypatch):
    nbs, data, out = tiny
    monkeypatch.setattr(notebooks_module, "NOTEBOOK_DIR", nbs)
    [result] = runner.run([runner.Plan("s", data)], out, progress=False)
    manifest = json.loads((result.folder / "manifest.json").read_text())
    listed = {o["path"] for o in manifest["outputs"]}
    assert {"datapackage.json", "pipeline.yaml", "parameters.yaml", "html/10_count_files.html"} <= listed
    page = result.folder / "html" / "10_count_files.html"
    page.write_text(page.read_text() + "<!-- edited -->")
    check = verifier.verify(result.folder, progress=False)
    assert check.differences == ["html/10_count_files.html: changed since the run (its SHA-256 differs from the manifest's)"]


def test_verify_refuses_a_failed_run(tmp_path):
    (tmp_path / "v.failed").mkdir()
    (tmp_path / "v.failed" / "manifest.json").write_text('{"status": "failed"}')
    with pytest.raises(UserError, match="not a complete version"):
        verifier.verify(tmp_path / "v.failed", progress=False)


# --- the full pipeline on the bundled sample ----------------------------------


def test_full_run_on_the_sample_writes_every_artefact(tmp_path_factory, worker_id):
    folder = sample_run(tmp_path_factory, worker_id)
    manifest = json.loads((folder / "manifest.json").read_text())
    ran = [n["name"] for n in manifest["notebooks"] if n["status"] == "ok"]
    assert {"01_ocr_extraction", "02_repair", "03_drl_quartiles", "04_clustering", "05_report"} == set(ran)
    for name in ran:
        assert (folder / "notebooks" / f"{name}.ipynb").is_file()
        assert (folder / "html" / f"{name}.html").is_file()
    index = (folder / "html" / "index.html").read_text()
    assert all(f"{name}.html" in index for name in ran) and "annual_report.pdf" in index
    # Tables (CSV and xlsx), figures, both PDFs, the database; no stray SQLite journal.
    assert (folder / "tables" / "03_drl_quartiles" / "drl_table.csv").is_file()
    assert list((folder / "tables").rglob("*.xlsx"))
    assert list((folder / "figures").rglob("*.png"))
    assert (folder / "report" / "annual_report.pdf").stat().st_size > 20_000
    assert (folder / "report" / "pseudonymised" / "annual_report_pseudonymised.pdf").stat().st_size > 20_000
    assert not list(folder.glob("*.sqlite-wal"))
    # Row counts in the manifest agree with the files and with the database.
    drl = pd.read_csv(folder / "tables" / "03_drl_quartiles" / "drl_table.csv")
    assert manifest["row_counts"]["tables"]["tables/03_drl_quartiles/drl_table.csv"] == len(drl)
    truth = pd.read_csv(SAMPLE_DIR / "truth" / "exposures.csv.gz", usecols=["data_source"])
    rdsr_truth = pd.read_csv(SAMPLE_DIR / "truth" / "rdsr.csv", usecols=["outcome"])
    assert manifest["row_counts"]["database"]["exposures"] == len(truth) + (rdsr_truth["outcome"] == "stored").sum()
    # Inputs: the survey files, the dose reports (RDSR) and, when notebook 01 ran, the
    # dose-report images; not the truth folder.
    folders = ["surveys", "rdsr"] + (["dose_reports"] if "01_ocr_extraction" in ran else [])
    expected = sorted(p.relative_to(SAMPLE_DIR).as_posix() for f in folders for p in (SAMPLE_DIR / f).rglob("*")
                      if p.is_file())
    assert [f["path"] for f in manifest["inputs"]["files"]] == expected
    # The report's DRL table is the run's DRL table (same exams, same P75).
    rep = pd.read_csv(folder / "report" / "annual_report_drl.csv", dtype={"exam_code": str})
    drl = pd.read_csv(folder / "tables" / "03_drl_quartiles" / "drl_table.csv", dtype={"exam_code": str})
    merged = rep.merge(drl, on=["exam_code", "quantity"], suffixes=("_report", "_run"))
    same = (merged["p75_report"] == merged["p75_run"]) | (merged["p75_report"].isna() & merged["p75_run"].isna())
    assert len(merged) == len(drl) and same.all()


def test_pseudonym_key_is_never_written_into_a_run(tmp_path_factory, worker_id):
    folder = sample_run(tmp_path_factory, worker_id)
    needle = TEST_KEY_TEXT.encode()
    for path in folder.rglob("*"):
        if path.is_file():
            assert needle not in path.read_bytes(), path


def test_verify_reproduces_the_sample_run_and_catches_a_tampered_drl_table(tmp_path_factory, worker_id, tmp_path,
                                                                           monkeypatch):
    folder = sample_run(tmp_path_factory, worker_id)
    monkeypatch.setenv(ENV_VAR, TEST_KEY_TEXT)
    check = verifier.verify(folder, progress=False, keep=tmp_path / "rerun")
    assert check.ok, check.differences
    assert not check.skipped  # with the run's key the pseudonymised tables are checked too
    assert any(name.startswith("report/pseudonymised/") for name in check.identical)
    assert "tables/03_drl_quartiles/drl_table.csv" in check.identical

    tampered = tmp_path / "tampered"
    shutil.copytree(folder, tampered)
    table = tampered / "tables" / "03_drl_quartiles" / "drl_table.csv"
    frame = pd.read_csv(table, dtype=str, keep_default_na=False)
    frame.loc[2, "p75"] = str(float(frame.loc[2, "p75"]) * 0.9)
    frame.to_csv(table, index=False, lineterminator="\n")
    [rerun] = runner.complete_versions(tmp_path / "rerun" / "sample")
    compared = verifier.compare_versions(tampered, rerun)
    assert compared.differences == [d for d in compared.differences if d.startswith("tables/03_drl_quartiles/drl_table.csv")]
    assert compared.differences[0].startswith("tables/03_drl_quartiles/drl_table.csv: rows 3 differ (row 3, column p75")


def test_verify_takes_the_runs_key_file_for_the_pseudonymised_tables(tmp_path, monkeypatch, capsys):
    seen = {}

    def fake_verify(folder, **kwargs):
        seen.update(kwargs, folder=folder)
        return verifier.Verification(Path(folder))

    monkeypatch.setattr(verifier, "verify", fake_verify)
    key = tmp_path / "run.key"
    assert cli.main(["verify", str(tmp_path / "v1"), "--pseudonym-key-file", str(key)]) == 0
    assert seen["key_file"] == str(key) and Path(seen["folder"]) == tmp_path / "v1"


def test_a_run_on_the_sample_writes_no_machine_path(tmp_path_factory, worker_id):
    folder = sample_run(tmp_path_factory, worker_id)
    roots = {str(PROJECT_ROOT), str(folder.parent.resolve())}
    leaks = []
    for path in folder.rglob("*"):
        if path.suffix in {".ipynb", ".json", ".csv", ".html", ".yaml", ".txt"} and path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            leaks += [f"{path.relative_to(folder)}: {root}" for root in roots if root in text]
    assert leaks == []


def test_kernels_get_their_environment_and_folder_and_this_process_keeps_its_own(tiny):
    nbs, data, out = tiny
    write_notebook(nbs, "30_environment", 'out_dir: str = ""  # folder for the note',
                   "import os\nfrom pathlib import Path\nPath(out_dir).mkdir(parents=True, exist_ok=True)\n"
                   "Path(out_dir, 'environment.txt').write_text("
                   "os.environ['PYTHONHASHSEED'] + ',' + os.environ['TQDM_DISABLE'] + ',' + Path.cwd().name)")
    before, cwd = dict(os.environ), os.getcwd()
    [result] = runner.run([runner.Plan("s", data)], out, notebook_dir=nbs, progress=False)
    assert dict(os.environ) == before and os.getcwd() == cwd
    seen = (result.folder / "tables" / "30_environment" / "environment.txt").read_text().split(",")
    assert seen[:2] == ["0", "1"] and seen[2].endswith(".incomplete")


# --- own notebooks, several problems at once ------------------------------------


def test_a_run_of_own_notebooks_records_their_folder_and_verify_reruns_them(tiny):
    nbs, data, out = tiny
    [result] = runner.run([runner.Plan("s", data, parameters={"factor": 2})], out, notebook_dir=nbs, progress=False)
    assert result.manifest["notebook_folder"] == str(nbs.resolve())  # outside the project: as it is
    check = verifier.verify(result.folder, progress=False)
    assert check.ok, check.differences
    assert "tables/10_count_files/counts.csv" in check.identical


def test_a_run_of_the_default_notebooks_records_no_folder(tiny, monkeypatch):
    nbs, data, out = tiny
    monkeypatch.setattr(notebooks_module, "NOTEBOOK_DIR", nbs)
    [result] = runner.run([runner.Plan("s", data)], out, progress=False)
    assert "notebook_folder" not in result.manifest


def test_parameter_problems_of_several_surveys_are_reported_together_once_each(tiny):
    nbs, data, out = tiny
    plans = [runner.Plan("a", data, parameters={"factr": 2}), runner.Plan("b", data, parameters={"factr": 2, "factor": "x"})]
    with pytest.raises(UserError) as err:
        runner.run(plans, out, notebook_dir=nbs, progress=False)
    message = str(err.value)
    assert message.startswith("2 problems:\n")
    assert message.count("'factr'") == 1 and "did you mean 'factor'?" in message
    assert "survey b: parameter 'factor': 10_count_files expects a int, not 'x'" in message
    assert not out.exists()

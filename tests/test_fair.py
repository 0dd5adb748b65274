"""FAIR descriptions of a version and its release: datapackage.json (Frictionless),
ro-crate-metadata.json (Workflow Run Crate), the deposit bundle, CITATION.cff."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import yaml
from pipeline_run import TEST_KEY_TEXT, sample_run

from drl_analysis import __version__
from drl_analysis.core.columns import describe_column
from drl_analysis.core.errors import UserError
from drl_analysis.core.paths import PACKAGE_DIR, PROJECT_ROOT, SAMPLE_DIR
from drl_analysis.pipeline import datapackage, release
from drl_analysis.pipeline.manifest import write_manifest

CFF_SCHEMA = Path(__file__).parent / "data" / "cff-schema-1.2.0.json"


@pytest.fixture(scope="module")
def version(tmp_path_factory, worker_id):
    return sample_run(tmp_path_factory, worker_id)


@pytest.fixture(scope="module")
def bundle(version, tmp_path_factory):
    """The default (pseudonymised) release of the sample version, unpacked."""
    out = tmp_path_factory.mktemp("release")
    written = release.release(version, out / "deposit.zip")
    with zipfile.ZipFile(written.path) as zf:
        zf.extractall(out / "unpacked")
    [top] = (out / "unpacked").iterdir()
    return written, top


def frictionless_report(path: Path):
    from frictionless import validate

    return validate(str(path))


def manifest_of(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


# --- datapackage.json -------------------------------------------------------


def test_every_csv_column_the_sample_run_writes_has_a_description(version):
    undocumented = []
    for path in sorted(version.rglob("*.csv")):
        with open(path, newline="", encoding="utf-8") as fh:
            header = next(csv.reader(fh), [])
        undocumented += [f"{path.relative_to(version)}: {c}" for c in header if not describe_column(c, path.name)]
    assert undocumented == [], "describe these columns in drl_analysis/core/columns.py"


def test_column_descriptions_carry_units():
    assert describe_column("dap_cgycm2") == "dose-area product, cGy·cm² (= µGy·m²)"
    assert "mGy·cm" in describe_column("dlp_mgycm")
    assert "2023" in describe_column("qcd_dose_to_drl_2023")


def test_sample_version_has_a_valid_data_package_with_every_table(version):
    package = json.loads((version / "datapackage.json").read_text())
    tables = sorted(p.relative_to(version).as_posix() for p in version.rglob("*.csv"))
    assert sorted(r["path"] for r in package["resources"]) == tables
    drl = next(r for r in package["resources"] if r["path"] == "tables/03_drl_quartiles/drl_table.csv")
    fields = {f["name"]: f for f in drl["schema"]["fields"]}
    assert fields["exam_code"]["type"] == "string" and fields["p75"]["type"] == "number"
    assert "proposed diagnostic reference level" in fields["p75"]["description"]
    assert drl["schema"]["primaryKey"] == ["exam_code", "quantity"]
    assert drl["schema"]["missingValues"] == [""]
    assert drl["hash"].startswith("sha256:")
    assert package["licenses"][0]["name"] == datapackage.DATA_LICENSE["name"]
    assert package["version"] == version.name
    # The data package is an output of the run: the manifest lists it with its SHA-256.
    assert "datapackage.json" in {o["path"] for o in manifest_of(version)["outputs"]}
    report = frictionless_report(version / "datapackage.json")
    assert report.valid, [(t.place, t.flatten(["rowNumber", "fieldName", "message"])[:3]) for t in report.tasks if not t.valid]


def test_validation_names_a_table_with_text_in_a_number_column(version, tmp_path):
    copy = tmp_path / version.name
    shutil.copytree(version, copy)
    table = copy / "tables" / "03_drl_quartiles" / "drl_table.csv"
    frame = pd.read_csv(table, dtype=str, keep_default_na=False)
    frame.loc[2, "p75"] = "about 900"
    frame.to_csv(table, index=False, lineterminator="\n")
    report = frictionless_report(copy / "datapackage.json")
    assert not report.valid
    invalid = {task.place: task.flatten(["rowNumber", "fieldName", "type"]) for task in report.tasks if not task.valid}
    assert list(invalid) == ["tables/03_drl_quartiles/drl_table.csv"]
    assert [4, "p75", "type-error"] in invalid["tables/03_drl_quartiles/drl_table.csv"]  # row 4 = data row 3


# --- ro-crate-metadata.json -------------------------------------------------


def test_sample_crate_loads_and_lists_one_action_per_executed_notebook(version):
    from rocrate.rocrate import ROCrate

    crate = ROCrate(version)
    manifest = manifest_of(version)
    ran = [n for n in manifest["notebooks"] if n["status"] == "ok"]
    actions = {a.id: a for a in crate.get_by_type("CreateAction")}
    per_notebook = {i: a for i, a in actions.items() if i != "#run"}
    assert sorted(per_notebook) == sorted(f"#run-{n['name']}" for n in ran)
    for n in ran:
        action = per_notebook[f"#run-{n['name']}"]
        assert action["instrument"].id.endswith(f"notebooks/{n['name']}.ipynb")
        assert action["instrument"]["sha256"] == n["sha256"]
        assert action["startTime"] == n["started_utc"].replace("Z", "+00:00")
        assert action["endTime"] == n["finished_utc"].replace("Z", "+00:00")
        assert any(r.id == f"notebooks/{n['name']}.ipynb" for r in action["result"])
    repair = per_notebook["#run-02_repair"]
    inputs = [o for o in repair["object"] if o.id.startswith("#input-")]
    # Notebook 02 reads the survey files and the dose reports (RDSR).
    assert {o["sha256"] for o in inputs} == {f["sha256"] for f in manifest["inputs"]["files"]
                                               if f["path"].startswith(("surveys/", "rdsr/"))}
    assert crate.mainEntity.id == "pipeline.yaml"
    assert crate.root_dataset["license"].id == datapackage.DATA_LICENSE["path"]
    software = crate.get("https://github.com/drl-analysis/drl-analysis")
    assert software["softwareVersion"] == __version__
    text = (version / "ro-crate-metadata.json").read_text()
    assert manifest["pseudonym_key"]["fingerprint"] in text and TEST_KEY_TEXT not in text


def _offline_context_cache(cache: Path) -> None:
    """The RO-Crate 1.1 JSON-LD context in the validator's HTTP cache (the tests run without network).

    It is made from the context the rocrate package ships (RO-Crate 1.3, a superset of 1.1's terms)
    with the four Bioschemas terms mapped as RO-Crate 1.1 maps them."""
    import rocrate
    from requests.adapters import HTTPAdapter
    from requests_cache import CachedSession
    from urllib3 import HTTPResponse

    doc = json.loads((Path(rocrate.__file__).parent / "data" / "ro-crate.jsonld").read_text())
    doc["@id"] = "https://w3id.org/ro/crate/1.1/context"
    doc["@context"].update({
        "ComputationalWorkflow": "https://bioschemas.org/ComputationalWorkflow",
        "FormalParameter": "https://bioschemas.org/FormalParameter",
        "input": "https://bioschemas.org/ComputationalWorkflow#input",
        "output": "https://bioschemas.org/ComputationalWorkflow#output",
    })
    body = json.dumps(doc).encode()

    class Local(HTTPAdapter):
        def send(self, request, **kwargs):
            raw = HTTPResponse(body=io.BytesIO(body), headers={"Content-Type": "application/ld+json"}, status=200,
                               preload_content=False, request_url=request.url)
            return self.build_response(request, raw)

    session = CachedSession(cache_name=str(cache), backend="sqlite", expire_after=-1, allowable_codes=(200,))
    session.mount("https://", Local())
    for accept in ("application/ld+json, application/json", "application/ld+json, application/json, */*;q=0.1"):
        session.get("https://w3id.org/ro/crate/1.1/context", headers={"Accept": accept})
    session.close()


def roc_validate(folder: Path, cache: Path, severity: str = "REQUIRED"):
    from rocrate_validator import services
    from rocrate_validator.models import ValidationSettings

    _offline_context_cache(cache)
    settings = ValidationSettings(rocrate_uri=str(folder), profile_identifier="workflow-run-crate-0.5",
                                  requirement_severity=severity, offline=True, cache_path=str(cache),
                                  skip_availability_check=True)
    return services.validate(settings)


@pytest.mark.parametrize("which", ["version", "bundle"])
def test_crate_passes_the_workflow_run_crate_profile_at_required_level(which, version, bundle, tmp_path):
    pytest.importorskip("rocrate_validator", reason="roc-validator is not installed")
    folder = version if which == "version" else bundle[1]
    result = roc_validate(folder, tmp_path / "http-cache")
    assert result.passed(), [f"{i.check.identifier}: {i.message}" for i in result.get_issues()]


# --- the release ------------------------------------------------------------


def _sample_names() -> list[str]:
    truth = pd.read_csv(SAMPLE_DIR / "truth" / "exposures.csv.gz", usecols=["data_source", "source_file"], dtype=str)
    sources = sorted(truth["data_source"].unique())
    files = sorted(p.name for p in SAMPLE_DIR.rglob("*") if p.is_file() and "truth" not in p.parts)
    stems = sorted({Path(f).stem for f in files})
    parts = sorted({w for s in sources for w in s.split() if w not in ("Aerztliche", "Stelle")})
    return sources + [s.replace(" ", "_") for s in sources] + files + stems + parts + ["data/raw"]


def _texts(path: Path) -> list[str]:
    """What a person or a program could read in a file: its bytes as text, a PDF's text, a workbook's cells."""
    raw = path.read_bytes()
    texts = [raw.decode("utf-8", errors="replace")]
    if path.suffix == ".pdf":
        texts.append(subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout)
    if path.suffix in (".xlsx", ".zip"):
        with zipfile.ZipFile(path) as zf:
            texts += [zf.read(n).decode("utf-8", errors="replace") for n in zf.namelist()]
    return texts


def test_default_release_names_no_data_source_facility_or_input_file(bundle, version):
    written, top = bundle
    assert written.edition == "pseudonymised edition"
    names = _sample_names()
    leaks = []
    for path in sorted(p for p in top.rglob("*") if p.is_file()):
        for text in _texts(path):
            leaks += [f"{path.relative_to(top)}: {n}" for n in names if n in text]
    assert leaks == []
    # Facilities and data sources appear only as pseudonyms in every table column that holds them.
    for path in top.rglob("*.csv"):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        for column, pattern in (("facility_id", r"F-[A-Z]{8}"), ("data_source", r"S-[A-Z]{8}")):
            if column in frame:
                values = [v for v in frame[column] if v]
                assert all(re.fullmatch(pattern, v) for v in values), (path.name, column, values[:3])
    assert not any(p.name in ("manifest.json", "parameters.yaml", "drl.sqlite") for p in top.rglob("*"))
    published = "".join(text for p in top.rglob("*") if p.is_file() for text in _texts(p))
    assert TEST_KEY_TEXT not in published
    # Nothing to test a guessed key against: neither the fingerprint nor its salt.
    recorded = json.loads((version / "manifest.json").read_text())["pseudonym_key"]
    assert recorded["fingerprint"] not in published and recorded["salt"] not in published


def test_default_release_holds_the_publication_pages_and_they_pass_the_leak_test(version, bundle):
    from drl_analysis.reporting import public
    from drl_analysis.reporting.pseudonyms import find_leaks

    written, top = bundle
    pages = top / "html" / "pseudonymised"
    assert {f"{stem}.html" for stem, _ in public.PAGES} <= {p.name for p in pages.iterdir()}
    assert any(pages.glob("figures/*.svg"))
    # Only the publication pages: no identified notebook page or index.
    assert sorted(p.relative_to(top).as_posix() for p in (top / "html").rglob("*.html")) == \
        sorted(f"html/pseudonymised/{stem}.html" for stem, _ in public.PAGES)
    # The pages link to what the bundle holds (the pseudonymised PDF among it), and to nothing outside it.
    for page in pages.glob("*.html"):
        for href in re.findall(r"href='([^'#]+)'", page.read_text(encoding="utf-8")):
            if not href.startswith("http"):
                assert (page.parent / href).resolve().is_file(), (page.name, href)
    # The run's leak test, with every name the version knows, over every text file of the bundle.
    ids = public.run_identifiers(version, manifest_of(version))
    files = [p for p in top.rglob("*") if p.is_file() and p.suffix in release.TEXT_SUFFIXES]
    assert any(p.suffix == ".svg" for p in files)
    assert find_leaks(((p.name, p.read_text(encoding="utf-8")) for p in files), ids) == []
    readme = (top / "README.md").read_text()
    assert "`html/pseudonymised/`" in readme


def test_release_refuses_a_bundle_that_would_name_a_data_source(version, tmp_path):
    copy = tmp_path / version.name
    shutil.copytree(version, copy)
    page = copy / "html" / "pseudonymised" / "drl.html"
    source = pd.read_csv(SAMPLE_DIR / "truth" / "exposures.csv.gz", usecols=["data_source"])["data_source"].iloc[0]
    page.write_text(page.read_text(encoding="utf-8").replace("</body>", f"<p>{source}</p></body>"), encoding="utf-8")
    # As if the page had been made so: its checksum in the manifest too.
    manifest = manifest_of(copy)
    entry = next(o for o in manifest["outputs"] if o["path"] == "html/pseudonymised/drl.html")
    entry["sha256"], entry["bytes"] = release.sha256_file(page), page.stat().st_size
    write_manifest(copy / "manifest.json", manifest)  # with its own seal recomputed
    with pytest.raises(UserError, match=r"html/pseudonymised/drl\.html: data source"):
        release.release(copy, tmp_path / "x.zip")
    assert not (tmp_path / "x.zip").exists()
    # The identified bundle is not for publication, and is made.
    assert release.release(copy, tmp_path / "identified.zip", identified=True).path.is_file()


def test_release_validates_on_its_own_and_is_byte_identical(version, bundle, tmp_path):
    written, top = bundle
    report = frictionless_report(top / "datapackage.json")
    assert report.valid, [(t.place, t.flatten(["rowNumber", "fieldName", "message"])[:3]) for t in report.tasks if not t.valid]
    package = json.loads((top / "datapackage.json").read_text())
    assert all(r["path"].startswith("report/pseudonymised/") for r in package["resources"])
    from rocrate.rocrate import ROCrate

    crate = ROCrate(top)
    held = {p.relative_to(top).as_posix() for p in top.rglob("*") if p.is_file()}
    described = {e.id for e in crate.data_entities if not e.id.startswith("http")}
    assert described <= held  # the crate is restricted to what is in the zip
    assert len([a for a in crate.get_by_type("CreateAction") if a.id != "#run"]) == 5
    for line in (top / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split("  ", 1)
        assert release.sha256_file(top / name) == digest, name
    cff = yaml.safe_load((top / "CITATION.cff").read_text())
    assert cff["version"] == __version__
    readme = (top / "README.md").read_text()
    assert "frictionless validate datapackage.json" in readme and "not** in this deposit" in readme
    again = release.release(version, tmp_path / "again.zip")
    assert again.path.read_bytes() == written.path.read_bytes()
    with zipfile.ZipFile(again.path) as zf:
        infos = zf.infolist()
    assert [i.filename for i in infos] == sorted(i.filename for i in infos)
    assert {i.date_time for i in infos} == {release.ZIP_TIME}


def test_identified_release_adds_the_identified_edition_and_says_so(version, tmp_path):
    written = release.release(version, tmp_path / "identified.zip", identified=True)
    names = set(written.files)
    assert {"manifest.json", "tables/03_drl_quartiles/drl_table.csv", "report/annual_report.pdf",
            "report/pseudonymised/annual_report_pseudonymised.pdf"} <= names
    with zipfile.ZipFile(written.path) as zf:
        readme = zf.read(next(n for n in zf.namelist() if n.endswith("/README.md"))).decode()
    assert "**identified** edition" in readme and "not for open publication" in readme


def test_release_refuses_a_changed_failed_or_incomplete_version(version, tmp_path):
    changed = tmp_path / version.name
    shutil.copytree(version, changed)
    table = changed / "report" / "annual_report_drl.csv"
    table.write_text(table.read_text().replace("Cranium", "Skull", 1))
    with pytest.raises(UserError, match=r"report/annual_report_drl\.csv: changed since the run"):
        release.release(changed, tmp_path / "x.zip")
    (changed / "notes.txt").write_text("added later")
    table.unlink()
    with pytest.raises(UserError, match=r"annual_report_drl\.csv: listed in the manifest, but missing.*notes\.txt"):
        release.release(changed, tmp_path / "x.zip")
    failed = tmp_path / "20240101T000000Z-aaaaaaaa.failed"
    failed.mkdir()
    (failed / "manifest.json").write_text('{"status": "failed"}')
    with pytest.raises(UserError, match="not a complete version"):
        release.release(failed, tmp_path / "x.zip")
    incomplete = tmp_path / "20240101T000000Z-bbbbbbbb"
    incomplete.mkdir()
    (incomplete / "manifest.json").write_text('{"status": "running"}')
    with pytest.raises(UserError, match="not a complete version"):
        release.release(incomplete, tmp_path / "x.zip")
    assert not (tmp_path / "x.zip").exists()


def test_release_on_the_command_line(version, tmp_path, capsys):
    from drl_analysis import cli

    assert cli.main(["release", str(version), "--out", str(tmp_path / "d.zip")]) == 0
    assert "pseudonymised edition" in capsys.readouterr().out
    assert cli.main(["release", str(version), "--out", str(tmp_path / "d.tar")]) == 2


# --- CITATION.cff -----------------------------------------------------------


def test_citation_version_is_the_package_version():
    cff = yaml.safe_load((PROJECT_ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert str(cff["version"]) == __version__
    assert f'version = "{__version__}"' in (PROJECT_ROOT / "pyproject.toml").read_text()


def test_citation_is_valid_against_the_cff_schema(bundle):
    import jsonschema

    schema = json.loads(CFF_SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())
    for path in (PROJECT_ROOT / "CITATION.cff", bundle[1] / "CITATION.cff"):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(doc)]
        assert errors == [], path
    broken = {**yaml.safe_load((PROJECT_ROOT / "CITATION.cff").read_text()), "license": "not-a-licence"}
    assert list(validator.iter_errors(broken))


# --- layering ---------------------------------------------------------------


def test_library_modules_import_neither_argparse_nor_the_command_line():
    offenders = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        if "cli" in path.relative_to(PACKAGE_DIR).parts or path.parent.name != "pipeline":
            continue
        text = path.read_text(encoding="utf-8")
        if re.search(r"^\s*(import argparse|from \.\.cli|from drl_analysis\.cli|import drl_analysis\.cli)", text, re.M):
            offenders.append(path.name)
    assert offenders == []

"""The annual report (PDF, both editions) and the HTML pages of a run."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import nbformat
import numpy as np
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from pipeline_run import TEST_KEY_TEXT, sample_run

from drl_analysis.core.errors import UserError
from drl_analysis.reporting import report
from drl_analysis.reporting.pseudonyms import ENV_VAR, PseudonymKey

KEY = PseudonymKey.from_text("report test key, not a secret")
SOURCES = ["Aerztliche Stelle Nord", "Aerztliche Stelle Sued"]


@pytest.fixture(autouse=True)
def own_config_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv(ENV_VAR, raising=False)


def pdf_text(path, *, layout: bool = True) -> str:
    args = ["pdftotext", *(["-layout"] if layout else []), str(path), "-"]
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout


#: A facility named by a number, as in "facility 3", "Facility: 3", "facility ID 3".
FACILITY_LABEL = re.compile(r"(?i)\bfacilit(y|ies)( id)?[ \t:#]{1,3}\d+\b")


@pytest.fixture(scope="module")
def run_tables(tmp_path_factory):
    """The tables of a small run: two data sources with facilities 1-4, three exams, two years."""
    tables = tmp_path_factory.mktemp("run") / "tables"
    (tables / "02_repair").mkdir(parents=True)
    (tables / "03_drl_quartiles").mkdir()
    (tables / "04_clustering").mkdir()
    (tables / "01_ocr_extraction").mkdir()
    pd.DataFrame({"source_file": ["a.png", "b.dcm", "c.jpg"], "layout": ["clarityiq_en", "clarityiq_de", ""],
                  "needs_review": [False, True, True]}).to_csv(tables / "01_ocr_extraction" / "dose_reports.csv", index=False)
    pd.DataFrame({
        "data_source": SOURCES * 2, "year": [2022, 2022, 2023, 2023], "files": [1, 1, 1, 1],
        "rows_read": [110, 120, 130, 140], "rows_stored": [100, 115, 125, 135], "rows_rejected": [10, 5, 5, 5],
        "values_repaired": [3, 4, 5, 6], "rows_flagged": [1, 0, 2, 0], "balanced": [True] * 4,
    }).to_csv(tables / "02_repair" / "ingest_by_source_year.csv", index=False)
    drl = pd.DataFrame({
        "exam_code": ["1020", "9003", "9101", "9102"],
        "exam_name": ["Facial bones", "Chest p.a.", "Coronary angiography", "PCI (PTCA)"],
        "quantity": ["ctdivol_mgy", "dap_cgycm2", "dap_cgycm2", "dap_cgycm2"], "n_facilities": [16, 12, 5, 0],
        "n_exams": [600, 290, 150, 0],
        "p25": [12.0, 7.0, np.nan, np.nan], "p50": [16.25, 8.3, 3051.0, np.nan], "p75": [21.5, 9.54, np.nan, np.nan],
        "qcd": [0.28, 0.15, np.nan, np.nan],
        "p75_ci_low": [16.0, np.nan, np.nan, np.nan], "p75_ci_high": [25.0, np.nan, np.nan, np.nan],
        "current_drl": [20.0, 12.0, np.nan, 6500.0], "drl_edition": ["DE-2016", "DE-2022", "", "DE-2022"],
        "share_facilities_above_drl": [0.375, 0.0, np.nan, np.nan], "share_exams_above_drl": [0.3, 0.05, np.nan, np.nan],
        "status": ["proposed", "proposed", "typical_value_only", "no_facility_with_enough_exams"],
        "status_note": ["", "", "median of 5 facilities; a proposed DRL needs 11 facilities with at least 10 exams",
                        "4 facilities with fewer than 10 exams each; none counts"],
        "typical_value": [np.nan, np.nan, 3051.0, np.nan],
        "p75_ci_order_low": [15.5, 7.1, np.nan, np.nan], "p75_ci_order_high": [26.0, 11.9, np.nan, np.nan],
        "p75_ci_order_coverage": [0.957, 0.954, np.nan, np.nan], "n_values": [610, 300, 150, 30],
        "unit": ["mGy", "cGy·cm²", "cGy·cm²", "cGy·cm²"], "p75_to_drl": [1.075, 0.795, np.nan, np.nan],
        "n_facilities_below_min": [0, 1, 0, 4], "n_exams_below_min": [0, 9, 0, 30],
        "n_excluded_implausible": [10, 1, 0, 0], "n_excluded_phantom": [0, 0, 0, 0], "n_excluded_weight": [0, 0, 0, 0],
        "quantile_method": ["weibull"] * 4, "min_per_facility": [10] * 4, "min_facilities": [11] * 4,
        "years": ["2022-2023"] * 4, "bootstrap_resamples": [2000] * 4, "seed": [7] * 4,
    })
    drl.to_csv(tables / "03_drl_quartiles" / "drl_table.csv", index=False)
    pd.DataFrame({
        "exam_code": ["1020", "1020", "9003", "9003"], "quantity": ["ctdivol_mgy", "ctdivol_mgy", "dap_cgycm2", "dap_cgycm2"],
        "year": [2022, 2023, 2022, 2023], "current_drl": [20.0, 20.0, 12.0, 12.0],
        "share_exams_above_drl": [0.25, 0.35, 0.1, 0.0],
    }).to_csv(tables / "03_drl_quartiles" / "drl_by_year.csv", index=False)
    pd.DataFrame({
        "alert": ["facility_above_drl", "facility_above_drl"], "data_source": SOURCES, "facility_id": ["3", "4"],
        "exam_code": ["1020", "1020"], "quantity": ["ctdivol_mgy"] * 2, "years": ["2022;2023", "2023"],
        "evidence": ["facility 3 of Aerztliche Stelle Nord is above", "facility 4 of Aerztliche Stelle Sued"],
    }).to_csv(tables / "04_clustering" / "alerts.csv", index=False)
    pd.DataFrame({
        "exam_code": ["1020", "9003", "9101"], "exam_name": ["Facial bones", "Chest p.a.", "Coronary angiography"],
        "cluster": [0, 1, 1], "median_dose_to_drl_2022": [1.1, 0.7, 0.8],
    }).to_csv(tables / "04_clustering" / "exam_clusters.csv", index=False)
    pd.DataFrame({
        "data_source": SOURCES, "cluster": [0, 1], "qcd_dose_to_drl_2022": [0.2, 0.4],
        "median_dose_to_drl": [0.9, 1.2], "n_values": [300, 280], "note": ["", "imputed from Aerztliche Stelle Nord"],
    }).to_csv(tables / "04_clustering" / "source_clusters.csv", index=False)
    pd.DataFrame({"parameter": ["z_threshold", "k", "min_alert_years", "quantile_method", "n_init", "k_max", "years"],
                  "value": ["3.5", "by silhouette", "2", "weibull", "20", "8", "2022;2023"],
                  "meaning": [""] * 7}).to_csv(tables / "04_clustering" / "parameters.csv", index=False)
    return tables


MANIFEST = {"survey": "test", "version": "20240301T101500Z-0123abcd", "started_utc": "2024-03-01T10:15:00Z",
            "inputs": {"folder": "data/raw/test", "files": [
                {"path": "surveys/Aerztliche_Stelle_Nord_2023.xlsx", "bytes": 10, "sha256": "f" * 64},
                {"path": "surveys/Aerztliche_Stelle_Sued_2023.xlsx", "bytes": 10, "sha256": "0" * 64}]}}


@pytest.fixture(scope="module")
def written(run_tables):
    """The report of the small run, both editions (made once: a PDF takes seconds)."""
    manifest = run_tables.parent / "manifest.json"
    manifest.write_text(json.dumps(MANIFEST))
    return report.write_report(run_tables, run_tables.parent / "report", survey="test", key=KEY,
                               manifest_file=manifest, institution="Landesamt für Strahlenschutz (example)",
                               authors="A. Author and B. Author")


def test_summary_counts_come_from_the_run_tables(run_tables):
    tables = report.build_report_tables(report.read_tables(report.locate_tables(run_tables)), years="2023")
    summary = dict(zip(tables["summary"]["item"], tables["summary"]["value"]))
    # Only 2023 counts: rows stored 125 + 135.
    assert summary["exposure rows stored"] == 260
    # P75 above the current DRL: 1020 (21.5 > 20); 9003 is below; 9101 has a typical value only.
    assert summary["of these with P75 above the current DRL"] == 1
    assert summary["of these with a current DRL"] == 2
    assert summary["exam codes and quantities with a proposed DRL (P75)"] == 2
    assert summary["exam codes and quantities with a typical value only"] == 1
    assert summary["exam codes and quantities without a facility with enough exams"] == 1
    assert summary["alerts"] == 2
    # OCR: three images, two recognised as dose reports, two marked for review.
    assert summary["dose-report screens (images) read by OCR"] == 3
    assert summary["of these recognised as dose reports"] == 2
    assert summary["of these marked for review"] == 2
    assert summary["clusters of exam codes"] == 2 and summary["clusters of data sources"] == 2


def test_pdf_shows_the_numbers_of_the_drl_table(written):
    rep = written
    assert rep.identified.pdf.read_bytes().startswith(b"%PDF")
    text = pdf_text(rep.identified.pdf)
    assert "Annual report on diagnostic reference levels" in " ".join(text.split())
    # P75 21.5 mGy of exam 1020 with its bootstrap interval 16–25, the distribution-free one 15.5–26,
    # and the ratio to the DRL 20: 1.075 -> 1.07/1.08.
    row = next(line for line in text.splitlines() if line.startswith("1020"))
    assert "21.5" in row and "16–25" in row and "15.5–26" in row and re.search(r"1\.0[78]", row)
    assert "weibull" in text  # the percentile method is printed


def test_pseudonymised_edition_names_no_source_and_no_facility_id(written):
    rep = written
    # The identified edition names them, so the checks below can see a name where there is one.
    assert "Aerztliche Stelle Nord" in pdf_text(rep.identified.pdf, layout=False)
    text = pdf_text(rep.pseudonymised.pdf)
    for name in ["Aerztliche", "Nord", "Sued"]:
        assert name not in text
    assert not FACILITY_LABEL.search(pdf_text(rep.pseudonymised.pdf, layout=False))
    alerts = pd.read_csv(rep.pseudonymised.tables["alerts"], dtype=str)
    sources = pd.read_csv(rep.pseudonymised.tables["source_clusters"], dtype=str)
    assert alerts["facility_id"].str.fullmatch(r"F-[A-Z]{8}").all()
    for frame in (alerts, sources):
        assert frame["data_source"].str.fullmatch(r"S-[A-Z]{8}").all()
    assert "note" not in sources.columns
    # The free-text evidence names facilities: it is not carried into the report at all.
    assert "evidence" not in alerts.columns
    for path in rep.pseudonymised.tables.values():
        assert "Aerztliche" not in path.read_text()
    assert "S-" in text and "F-" in text


def test_pseudonymised_edition_keeps_one_facility_under_one_pseudonym(written, run_tables):
    raw = pd.read_csv(run_tables / "04_clustering" / "alerts.csv", dtype=str)
    identified = written.tables["alerts"]
    pseudo = written.pseudonymised_tables["alerts"]
    # Each (data source, facility ID) pair gets its own pseudonym, and one data source keeps one
    # pseudonym across tables.
    assert list(identified["facility_id"]) == list(raw["facility_id"])
    assert pseudo["facility_id"].nunique() == raw[["data_source", "facility_id"]].drop_duplicates().shape[0]
    from drl_analysis.reporting.pseudonyms import Pseudonymiser

    p = Pseudonymiser(KEY)
    assert sorted(p.source(s) for s in raw["data_source"]) == sorted(pseudo["data_source"])
    sources = written.pseudonymised_tables["source_clusters"]
    assert set(sources["data_source"]) == {p.source(s) for s in SOURCES}


def test_pseudonymised_tables_are_ordered_by_pseudonym_never_by_name(written):
    # The identified tables are in the order of the names; the pseudonymised ones in the order of the
    # pseudonyms (or values), so the order tells nothing about which pseudonym is which name.
    alerts = written.pseudonymised_tables["alerts"]
    keys = list(zip(alerts["alert"], alerts["data_source"], alerts["facility_id"]))
    assert keys == sorted(keys)
    sources = written.pseudonymised_tables["source_clusters"]
    assert list(zip(sources["cluster"], sources["data_source"])) == sorted(zip(sources["cluster"], sources["data_source"]))
    # Input files by number, numbered in the order of their SHA-256, not of their names.
    inputs = written.pseudonymised_tables["provenance"].query("kind == 'input'")
    assert list(inputs["item"]) == ["input file 1", "input file 2"] and list(inputs["value"]) == ["0" * 64, "f" * 64]


def test_method_section_lists_the_parameters_of_the_drl_and_the_analysis(written):
    params = written.tables["parameters"].drop_duplicates("parameter").set_index("parameter")
    assert params.loc["quantile_method", "value"] == "weibull"
    assert params.loc["min_per_facility", "value"] == "10"
    assert params.loc["k", "value"] == "by silhouette" and params.loc["z_threshold", "from"] == "parameters.csv"
    text = pdf_text(written.identified.pdf)
    assert re.search(r"Outlier: robust z beyond\s+3\.5", text)
    # Readers see names, each parameter once, and no internal settings.
    assert "k_max" not in text and "n_init" not in text and "z_threshold" not in text
    assert len(re.findall(r"Percentile method\s+weibull", text)) == 1


def test_pdf_has_a_title_page_contents_and_the_years_really_used(written):
    pages = pdf_text(written.identified.pdf, layout=False).split("\f")
    title = " ".join(pages[0].split())
    for text in ("Annual report on diagnostic reference levels", "Survey test", "Survey years 2022-2023",
                 "Landesamt für Strahlenschutz (example)", "A. Author and B. Author", "2024-03-01",
                 "Identified edition"):
        assert text in title, text
    assert "all stored" not in " ".join(pdf_text(written.identified.pdf).split())
    contents = " ".join(pages[1].split())
    for number, section in [("1", "Introduction"), ("3.1", "Proposed DRLs"), ("3.2", "Typical values and exams "
                            "without a DRL"), ("4", "Methods"), ("5", "Limitations"), ("A", "Parameters"),
                            ("B", "Data provenance")]:
        assert re.search(rf"{re.escape(number)} {re.escape(section)} \.*\s*\d+", contents), section
    # Each heading of the contents stands on the page the contents give.
    for number, section, page in re.findall(r"(\d(?:\.\d)?|[AB]) ([A-Z][^.]+?) \.+\s*(\d+)", contents):
        assert f"{number} {section.strip()}" in " ".join(pages[int(page) - 1].split()), (section, page)


def test_pdf_says_in_words_what_the_numbers_rest_on(written):
    text = " ".join(pdf_text(written.identified.pdf, layout=False).split())
    # Introduction, the count of DRLs and their facilities, typical values and exams left without a DRL.
    assert "1 Introduction This report proposes diagnostic reference levels (DRLs)" in text
    assert ("Of 4 exam codes and dose quantities in the survey, 2 have a proposed DRL (P75), resting on 12 to 16 "
            "facilities (median 14).") in text
    assert "1 has only a typical value (the median of 5 facilities)" in text
    assert "1 has no facility with 10 exams (4 facilities with fewer, left out)." in text
    # Methods in prose: selection, percentile method, intervals with their measured coverage, phantoms.
    assert "Which values count" in text and "CT phantoms" in text and "percentile method 'weibull'" in text
    assert "74.2 % at 5, 92.2 % at 10, 92.5 % at 20, 94.2 % at 40, 94.1 % at 80 facilities" in text
    assert "A proposed DRL needs at least 11 facilities" in text
    # Limitations: few facilities and excluded data.
    assert "Few facilities: the 2 proposed DRLs rest on 12 to 16 facilities; 2 of them on fewer than 20" in text
    assert "Excluded data: 11 values flagged implausible at ingest" in text
    # The typical value is shown as such, with no P75.
    row = next(line for line in pdf_text(written.identified.pdf).splitlines() if line.startswith("9101"))
    assert "3051" in row or "3050" in row


def test_alert_text_fits_the_years_of_the_survey(run_tables, tmp_path):
    one_year = shutil.copytree(run_tables, tmp_path / "tables")
    frame = pd.read_csv(one_year / "04_clustering" / "parameters.csv", dtype=str)
    frame.loc[frame["parameter"] == "years", "value"] = "2023"
    frame.to_csv(one_year / "04_clustering" / "parameters.csv", index=False)
    drl = pd.read_csv(one_year / "03_drl_quartiles" / "drl_table.csv", dtype=str)
    drl["years"] = "2023"
    drl.to_csv(one_year / "03_drl_quartiles" / "drl_table.csv", index=False)
    rep = report.write_report(one_year, tmp_path / "report", survey="test", pseudonymise=False)
    text = " ".join(pdf_text(rep.identified.pdf, layout=False).split())
    assert "With one survey year (2023), a facility alert means" in text
    assert "several of the years" not in text and "Survey year 2023" in text


def test_pdf_may_not_fetch_anything_from_the_network(tmp_path):
    document = "<html><body><p>x</p><img src='http://example.org/logo.png'></body></html>"
    with pytest.raises(BaseException, match="example.org"):
        report.write_pdf(document, tmp_path / "x.pdf", base_dir=tmp_path)


def test_missing_drl_table_is_a_user_error_naming_it(tmp_path):
    (tmp_path / "tables").mkdir()
    with pytest.raises(UserError, match="drl_table.csv"):
        report.write_report(tmp_path / "tables", tmp_path / "report", key=KEY)


def test_two_tables_of_one_name_are_refused(run_tables, tmp_path):
    tables = shutil.copytree(run_tables, tmp_path / "tables")
    (tables / "other").mkdir()
    (tables / "other" / "drl_table.csv").write_text("exam_code\n1\n")
    with pytest.raises(UserError, match="2 files named drl_table.csv"):
        report.locate_tables(tables)


def test_notebook_page_hides_code_and_carries_plotly_offline(tmp_path):
    figure = {"data": [{"type": "bar", "x": ["a", "b"], "y": [1, 2]}], "layout": {"title": {"text": "doses"}}}
    nb = new_notebook(cells=[
        new_markdown_cell("# A page"),
        new_code_cell("hidden_code_marker = 1\nfig", outputs=[
            new_output("display_data", data={report.PLOTLY_MIME: figure, "text/plain": "Figure"})
        ]),
        new_code_cell("fig2", outputs=[new_output("display_data", data={report.PLOTLY_MIME: figure})]),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "page.ipynb"
    nbformat.write(nb, path)
    page = report.notebook_html(path, tmp_path / "page.html").read_text()
    assert "hidden_code_marker" not in page
    assert page.count("Plotly.newPlot") == 2
    # plotly.js is inlined once; no script is loaded from anywhere.
    assert len(page) > 1_000_000
    assert not re.search(r"<script[^>]+src=['\"]https?:", page)


def test_index_page_lists_pages_parameters_and_manifest(tmp_path):
    (tmp_path / "html").mkdir()
    (tmp_path / "html" / "02_repair.html").write_text("<html></html>")
    manifest = {
        "survey": "sample", "version": "20240101T000000Z-0123abcd",
        "parameters": {"user": {"min_per_facility": 20}, "years": "2022", "notebooks": {}},
        "notebooks": [{"name": "02_repair", "status": "ok", "duration_s": 3.2},
                      {"name": "01_ocr_extraction", "status": "skipped", "reason": "no input in dose_reports/"}],
        "inputs": {"folder": "data/raw/sample", "files": [{"path": "surveys/a.csv", "bytes": 10, "sha256": "ab" * 32}]},
        "outputs": [],
    }
    index = report.write_index(tmp_path, manifest, {"02_repair": tmp_path / "html" / "02_repair.html"},
                               tmp_path / "html" / "index.html").read_text()
    assert "href='02_repair.html'" in index
    assert "min_per_facility" in index and "20" in index
    assert "skipped" in index and "surveys/a.csv" in index
    assert "href='../manifest.json'" in index


def test_sample_run_pseudonymised_pdf_and_tables_hold_no_source_name_or_facility_id(tmp_path_factory, worker_id):
    folder = sample_run(tmp_path_factory, worker_id)
    truth = pd.read_csv(report.PROCESSED_DIR.parent / "raw" / "sample" / "truth" / "exposures.csv.gz",
                        usecols=["data_source", "facility_id"], dtype=str).drop_duplicates()
    sources = sorted(truth["data_source"].unique())
    words = sorted({w for s in sources for w in s.split()})  # "Aerztliche", "Stelle", "Mitte", "Nord", ...
    edition = folder / "report" / "pseudonymised"
    text = pdf_text(next(edition.glob("*.pdf")))
    for word in words:
        assert not re.search(rf"\b{word}\b", text), word
    assert not FACILITY_LABEL.search(pdf_text(next(edition.glob("*.pdf")), layout=False))
    raw_ids = set(truth["facility_id"])
    for csv in edition.glob("*.csv"):
        frame = pd.read_csv(csv, dtype=str, keep_default_na=False)
        content = csv.read_text()
        assert not any(word in content for word in words if len(word) > 3), csv.name
        for col in ("data_source", "facility_id"):
            if col in frame.columns:
                assert not set(frame[col]) & (raw_ids | set(sources)), (csv.name, col)
    # The figures are drawn from the pseudonymised tables; their PNG carry no text layer to check,
    # so check that every figure of the edition was drawn by the report (no copy of a notebook figure).
    assert {p.name.split("_pseudonymised_")[0] for p in edition.glob("*.png")} == {"annual_report"}
    manifest = json.loads((folder / "manifest.json").read_text())
    assert PseudonymKey.from_text(TEST_KEY_TEXT).matches(manifest["pseudonym_key"])


def test_a_source_name_left_in_any_cell_stops_the_pseudonymised_edition():
    tables = {"notes": pd.DataFrame({"note": ["reported late by Aerztliche Stelle Sued"]})}
    with pytest.raises(RuntimeError, match="aerztliche stelle sued"):
        report.pseudonymise_tables(tables, KEY, known_sources=SOURCES)

"""What a reader sees on the pages of a run: the identified notebook pages and
index (internal), the pseudonymised publication pages, and their leak test."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from bs4 import BeautifulSoup
from pipeline_run import sample_run

from drl_analysis.core.paths import PROJECT_ROOT, SAMPLE_DIR
from drl_analysis.reporting import public
from drl_analysis.reporting.format import format_value, readable, significant, table_html
from drl_analysis.reporting.pseudonyms import Identifiers, find_leaks

#: A facility named by a number, as in "facility 3", "Facility: 3", "facility ID 3".
FACILITY_LABEL = re.compile(r"(?i)\bfacilit(y|ies)( id)?[ \t:#]{1,3}\d+\b")


def soup(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(encoding="utf-8"), features="html.parser")


def visible_text(page: BeautifulSoup) -> str:
    page = BeautifulSoup(str(page), features="html.parser")
    for tag in page(["script", "style"]):
        tag.decompose()
    return " ".join(page.get_text(" ").split())


def significant_digits(cell: str) -> int:
    digits = cell.replace(",", "").replace("-", "").lstrip("0.")
    return len(digits.replace(".", "").rstrip("0")) if "." in cell else 0


@pytest.fixture(scope="module")
def run(tmp_path_factory, worker_id):
    return sample_run(tmp_path_factory, worker_id)


# --------------------------------------------------------------------------
# Formatting: one place for pages and PDF
# --------------------------------------------------------------------------


def test_numbers_are_written_to_their_precision():
    assert [significant(v) for v in (1334.6, 16.755, 0.0012345, 28152.5, 9.0)] == ["1330", "16.8", "0.00123",
                                                                                   "28,200", "9"]
    assert format_value(float("nan"), "dose") == "–" and format_value(None, "count") == "–"
    assert format_value(0.375, "share") == "38 %" and format_value(12, "count") == "12"
    shown = readable(pd.DataFrame({"exam_code": ["1020"], "quantity": ["ctdivol_mgy"], "unit": ["mGy"],
                                   "p75": [16.755], "p75_ci_low": [float("nan")], "share_exams_above_drl": [0.3]}),
                     ["exam_code", "quantity", "p75", "p75_ci_low", "share_exams_above_drl"])
    assert list(shown.columns) == ["Exam code", "Quantity [unit]", "P75 (proposed DRL)", "P75 bootstrap 95 % CI, low",
                                   "Exams above current DRL [%]"]
    assert shown.iloc[0].tolist() == ["1020", "CTDIvol [mGy]", "16.8", "–", "30"]


def test_an_empty_table_is_a_sentence_and_a_long_one_is_complete():
    assert table_html(pd.DataFrame(columns=["exam_code"]), caption="x", empty="No alert.") == \
        "<p class='empty-table'>No alert.</p>"
    long = pd.DataFrame({"exam_code": [str(i) for i in range(500)], "n_exams": range(500)})
    markup = table_html(long, caption="All exams.", number=3)
    assert markup.count("<tr>") == 501 and "Table 3." in markup and "overflow:auto" in markup
    assert "<th scope='col' class='c-exam_code'>Exam code</th>" in markup and "dataframe" not in markup
    # A short table is shown whole (sideways scrolling only), not cut by a box of its own height.
    short = table_html(long.head(20), caption="Some exams.")
    assert short.count("<tr>") == 21 and "max-height" not in short and "overflow-x:auto" in short
    assert format_value("air_kerma_total_mgy: readings uncertain", "reasons") == "Total air kerma [mGy]: readings uncertain"


# --------------------------------------------------------------------------
# The identified pages (internal)
# --------------------------------------------------------------------------


def test_index_says_which_pages_are_which_and_shows_headline_results(run):
    index = soup(run / "html" / "index.html")
    text = visible_text(index)
    assert "Identified edition (internal)" in text and "Pseudonymised edition (for publication)" in text
    assert index.find("a", href="pseudonymised/index.html") is not None
    assert re.search(r"Of \d+ exam codes and dose quantities in the survey, \d+ ha(ve|s) a proposed DRL", text)
    assert "03 · DRL quartiles" in text  # pages by their titles
    # No machine path: the input folder by its name, the manifest by a link.
    manifest = json.loads((run / "manifest.json").read_text())
    assert str(PROJECT_ROOT) not in str(index) and str(run.parent) not in str(index)
    assert "<pre>" not in str(index) and index.find("a", href="../manifest.json") is not None
    assert len(manifest["inputs"]["files"]) == len(index.find_all("table")[-2].find_all("tr")) - 1


@pytest.mark.parametrize("name", ["01_ocr_extraction", "02_repair", "03_drl_quartiles", "04_clustering", "05_report"])
def test_notebook_pages_are_publishable(run, name):
    page = soup(run / "html" / f"{name}.html")
    text = visible_text(page)
    # A way back, and which edition this is.
    assert page.find("a", href="index.html") is not None and "Identified edition" in text
    # No pandas output: no index column, no raw frames cut to "n rows × m columns", no NaN.
    assert page.find("table", class_="dataframe") is None
    assert not re.search(r"\d+ rows × \d+ columns", text) and not re.search(r"\bNaN\b", text)
    # Every figure has a number, a caption and a description; no empty heading.
    assert "No description has been provided" not in str(page)
    for img in page.find_all("img"):
        assert img.get("alt") and len(img["alt"]) > 20, img.get("alt")
    figures = page.find_all("figure", class_="figure")
    assert figures and all(f.find("figcaption").get_text().startswith("Figure ") for f in figures)
    tables = page.find_all("figure", class_="table")
    assert tables and all(t.find("figcaption").get_text().startswith("Table ") for t in tables)
    headings = [h.get_text(" ", strip=True).rstrip("¶").strip() for h in page.find_all("h2")]
    assert "Parameters" not in headings
    # The contents list the headings of the page, in order, and nothing else.
    contents = next(p for p in page.find_all("p") if p.get_text().startswith("Contents."))
    entries = [re.sub(r"^\d+\.\s*", "", e.strip()) for e in contents.get_text().removeprefix("Contents.").split("·")]
    assert entries == [h for h in headings if h in entries] and set(entries) <= set(headings), (entries, headings)
    # Numbers in tables to their precision: at most three significant figures after a decimal point.
    for cell in page.select("table.drl-table td.num"):
        assert significant_digits(cell.get_text()) <= 3, cell.get_text()


def test_ocr_and_repair_pages_name_columns_with_units_and_say_what_is_empty(run):
    ocr = soup(run / "html" / "01_ocr_extraction.html")
    heads = [th.get_text() for th in ocr.select("table.drl-table th")]
    assert {"File", "Total DAP [Gy·cm²]", "Fluoroscopy time [min]", "Total air kerma [mGy]", "To review"} <= set(heads)
    assert not any("_" in h for h in heads), heads  # no raw column name
    cells = [td.get_text() for td in ocr.select("table.drl-table td.c-reason, table.drl-table td.c-review_fields")]
    assert cells and not any(re.search(r"\b[a-z]+_[a-z_]+\b", c) for c in cells), cells  # fields by their labels
    text = visible_text(ocr)
    assert "Quartiles of each value" in text and "Total DAP [Gy·cm²]" in text.split("Quartiles of each value")[1]
    repair = soup(run / "html" / "02_repair.html")
    heads = [th.get_text() for th in repair.select("table.drl-table th")]
    assert {"Data source", "Rows read", "Rows stored", "Rows rejected", "Read = stored + rejected"} <= set(heads)
    assert not any("_" in h for h in heads), heads
    text = visible_text(repair)
    assert re.search(r"[\d,]+ rows read = [\d,]+ stored \+ [\d,]+ rejected\.", text)
    # No raw log under the heading "Ingest": the details are the tables below it.
    assert "Inferences to review (rows touched" not in text and "Database: sqlite" not in text
    # The sample's failed files are listed in a table, each with its reason.
    failed = pd.read_csv(run / "tables" / "02_repair" / "ingest_failed_files.csv")
    assert len(failed) and all(Path(f).name in text for f in failed["source_file"])


def test_drl_page_shows_statuses_in_words(run):
    text = visible_text(soup(run / "html" / "03_drl_quartiles.html"))
    table = pd.read_csv(run / "tables" / "03_drl_quartiles" / "drl_table.csv", dtype={"exam_code": str})
    proposed = int((table["status"] == "proposed").sum())
    assert f"Of {len(table)} exam codes and dose quantities in the survey, {proposed} have a proposed DRL" in text
    assert "Typical values: the median of fewer facilities than a proposed DRL needs." in text


# --------------------------------------------------------------------------
# The pseudonymised pages (for publication)
# --------------------------------------------------------------------------


def sample_identifiers(run: Path) -> tuple[list[str], set[str]]:
    truth = pd.read_csv(SAMPLE_DIR / "truth" / "exposures.csv.gz", usecols=["data_source", "facility_id"],
                        dtype=str).drop_duplicates()
    return sorted(truth["data_source"].unique()), set(truth["facility_id"])


def test_pseudonymised_pages_of_the_sample_name_no_source_facility_file_or_path(run):
    folder = run / "html" / public.PUBLIC_DIR
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    assert {p.name for p in files} >= {"index.html", "drl.html", "analysis.html", "methods.html"}
    assert any(p.suffix == ".svg" for p in files)
    sources, ids = sample_identifiers(run)
    words = sorted({w for s in sources for w in s.split()})  # "Aerztliche", "Stelle", "Mitte", ...
    manifest = json.loads((run / "manifest.json").read_text())
    names = {Path(f["path"]).name for f in manifest["inputs"]["files"]}
    for path in files:
        content = path.read_text(encoding="utf-8")
        for word in words:
            assert not re.search(rf"\b{word}\b", content), (path.name, word)
        for name in names | {Path(n).stem for n in names}:
            assert name not in content, (path.name, name)
        for root in (str(PROJECT_ROOT), str(run.parent), str(Path.home())):
            assert root not in content, (path.name, root)
        assert not FACILITY_LABEL.search(content), path.name
    # Facility columns hold pseudonyms only, and data sources too.
    for path in [p for p in files if p.suffix == ".html"]:
        page = soup(path)
        for table in page.find_all("table", class_="drl-table"):
            heads = [th.get_text() for th in table.find_all("th")]
            for col, pattern in (("Facility", r"F-[A-Z]{8}"), ("Data source", r"S-[A-Z]{8}")):
                if col in heads:
                    i = heads.index(col)
                    cells = [tr.find_all("td")[i].get_text() for tr in table.find("tbody").find_all("tr")]
                    assert all(re.fullmatch(pattern, c) for c in cells), (path.name, col, cells[:3])
    # The same check the run made, with every name it knows.
    ids = public.run_identifiers(run, manifest)
    assert find_leaks(((p.name, p.read_text(encoding="utf-8")) for p in files), ids) == []


def test_pseudonymised_pages_are_publishable(run):
    folder = run / "html" / public.PUBLIC_DIR
    index = soup(folder / "index.html")
    text = visible_text(index)
    assert "Headline results" in text and "pseudonymised edition" in text and "for publication" in text
    assert index.find("a", href=re.compile(r"annual_report_pseudonymised\.pdf$")) is not None
    for stem, _ in public.PAGES:
        page = soup(folder / f"{stem}.html")
        if stem != "index":
            assert page.find("a", href="index.html") is not None
        assert "NaN" not in visible_text(page) and "No description" not in str(page)
        for img in page.find_all("img"):
            assert len(img.get("alt", "")) > 20 and (folder / img["src"]).is_file()
    methods = visible_text(soup(folder / "methods.html"))
    assert "Limitations" in methods and "Which values count" in methods


def test_a_name_planted_in_a_pseudonymised_table_stops_the_pages(run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run / "report", copy / "report")
    shutil.copy(run / "drl.sqlite", copy / "drl.sqlite")
    manifest = json.loads((run / "manifest.json").read_text())
    summary = copy / "report" / "pseudonymised" / "annual_report_pseudonymised_summary.csv"
    frame = pd.read_csv(summary)
    sources, _ = sample_identifiers(run)
    frame.loc[len(frame)] = [f"files of {sources[0]}", 1]
    frame.to_csv(summary, index=False)
    with pytest.raises(RuntimeError, match="data source"):
        public.write_public_pages(copy, manifest)
    assert not (copy / "html" / public.PUBLIC_DIR).exists()


def test_leak_finder_sees_names_in_html_json_and_url_forms():
    ids = Identifiers(sources=("Ärztliche Stelle <Süd> & Co",), facility_ids=("KH-Zürich/7", "3"),
                      file_names=("umfrage_sued.xlsx",), paths=("/home/someone/data",))
    texts = [
        ("a.html", "<td>&Auml;rztliche Stelle &lt;Süd&gt; &amp; Co</td>"),
        ("b.html", '{"name": "\\u00c4rztliche Stelle <S\\u00fcd> & Co"}'),
        ("c.html", "<a href='KH-Z%C3%BCrich/7'>x</a>"),
        ("d.svg", "<text>facility 3</text>"),
        ("e.html", "saved in /home/someone/data/out"),
        ("f.html", "<p>S-ABCDEFGH F-HBNQZEAV 1030 CTDIvol 3 facilities</p>"),
    ]
    found = find_leaks(texts, ids)
    assert any(f.startswith("a.html: data source") for f in found)
    assert any(f.startswith("b.html: data source") for f in found)
    assert any(f.startswith("c.html: facility ID 'KH-Zürich/7'") for f in found)
    assert "d.svg: facility ID '3'" in found and any(f.startswith("e.html: machine path") for f in found)
    assert not any(f.startswith("f.html") for f in found)

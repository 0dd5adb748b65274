"""The review queue: the page of doubtful readings, corrections.csv, and corrections read back in."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from drl_analysis.cli import main
from drl_analysis.core.errors import UserError
from drl_analysis.ocr import batch, page, review
from drl_analysis.synthetic import screens


@pytest.fixture(scope="module")
def screens_to_review(tmp_path_factory):
    """Four clean screens: one right, one with a row cut away, one whose kerma total is no sum, one right."""
    folder = tmp_path_factory.mktemp("review") / "in"
    folder.mkdir()
    rng = np.random.default_rng(40)
    truth, printed = {}, {}
    for i in range(4):
        screen = screens.random_screen(rng, layouts=(("clarityiq_en", "clarityiq_de")[i % 2],), degrade=False,
                                       file_format="png")
        if i == 2:
            # The screen itself prints a total that is not the sum of its parts.
            total = screen.truth["air_kerma_total_mgy"] + 100.0
            screen.truth["air_kerma_total_mgy"] = total
            screen.values["air_kerma_total_mgy"] = f"{total:.0f}"
            screen.units["air_kerma_total_mgy"] = "mGy"
        path = screens.write_screen(screen, folder / f"screen_{i}", seed=i)
        if i == 1:
            image = np.array(Image.open(path).convert("L"))
            row = page.locate(image).table()[4]  # the fluoroscopy DAP row
            image[int(row.top) - 2:int(row.bottom) + 2, :] = int(np.median(image))
            Image.fromarray(image).save(path)
        truth[path.name], printed[path.name] = screen.truth, screen.values
    return folder, truth, printed


@pytest.fixture(scope="module")
def reviewed(screens_to_review, tmp_path_factory):
    folder, truth, _ = screens_to_review
    table = batch.read_reports([folder], jobs=1, progress=False, crops=True)
    out = tmp_path_factory.mktemp("review_page")
    return table, review.write_review(table, out), truth


def test_marked_reports_name_their_doubtful_fields(reviewed):
    table, _, _ = reviewed
    rows = table.set_index("source_file")
    assert list(rows["needs_review"]) == [False, True, True, False]
    assert rows.loc["screen_1.png", "review_fields"] == "dap_fluoro_gycm2"
    assert set(rows.loc["screen_2.png", "review_fields"].split(", ")) == {
        "air_kerma_total_mgy", "air_kerma_frontal_mgy", "air_kerma_lateral_mgy"}
    assert rows.loc["screen_0.png", "review_fields"] == ""
    assert (table["source"] == "ocr").all()
    assert set(table.loc[~table["needs_review"], "crops"].map(len)) == {0}


def test_the_review_page_is_self_contained_and_shows_crops_values_and_reasons(reviewed):
    table, page_path, _ = reviewed
    text = page_path.read_text(encoding="utf-8")
    assert "2 of 4 reports to review" in text
    for name in ("screen_1.png", "screen_2.png"):
        assert f'<section id="{name}">' in text
    assert "screen_0.png" not in text and "screen_3.png" not in text
    # Nine fields per marked report, a crop for each row found (one row was cut away), and the screen.
    assert len(re.findall(r'<img alt="crop of [a-z_0-9]+" src="data:image/png;base64,', text)) == 8 + 9
    assert len(re.findall(r'src="data:image/jpeg;base64,', text)) == 2
    assert "row not found" in text and "air_kerma_sum check fails" in text
    assert text.count('<tr class="doubt">') == 1 + 3
    # Offline: nothing fetched from anywhere.
    assert not re.search(r"(src|href)=\"(?!data:)", text) and "http" not in text.replace("http-equiv", "")
    kerma = table.set_index("source_file").loc["screen_2.png", "air_kerma_total_mgy"]
    assert f"{kerma:.9g} mGy" in text


def test_corrections_file_lists_each_doubtful_field(reviewed):
    table, page_path, _ = reviewed
    corrections = pd.read_csv(page_path.parent / "corrections.csv", dtype=str, keep_default_na=False)
    assert list(corrections.columns) == list(review.CORRECTION_COLUMNS)
    assert sorted(zip(corrections["source_file"], corrections["field"])) == sorted(
        [("screen_1.png", "dap_fluoro_gycm2")]
        + [("screen_2.png", c) for c in ("air_kerma_total_mgy", "air_kerma_frontal_mgy", "air_kerma_lateral_mgy")])
    assert (corrections["corrected_value"] == "").all()
    assert corrections.set_index("field").loc["dap_fluoro_gycm2", "value_read"] == ""


def filled(page_path: Path, truth: dict, out: Path, only: set[str] | None = None, sep: str = ",",
           decimal: str = ".") -> Path:
    corrections = pd.read_csv(page_path.parent / "corrections.csv", dtype=str, keep_default_na=False)
    for i, row in corrections.iterrows():
        if only is None or row["field"] in only:
            corrections.loc[i, "corrected_value"] = f"{truth[row['source_file']][row['field']]:.10g}".replace(
                ".", decimal)
    corrections.to_csv(out, index=False, sep=sep)
    return out


def test_corrections_round_trip_through_the_command(screens_to_review, reviewed, tmp_path):
    folder, truth, _ = screens_to_review
    _, page_path, _ = reviewed
    fixes = filled(page_path, truth, tmp_path / "corrections.csv")
    out = tmp_path / "reports.csv"
    again = tmp_path / "again"
    args = ["ocr", str(folder), "--out", str(out), "--jobs", "1", "--no-progress"]
    assert main(args + ["--corrections", str(fixes), "--review", str(again)]) == 0
    table = pd.read_csv(out).set_index("source_file")
    assert not table["needs_review"].any()
    assert list(table["source"]) == ["ocr", "corrected", "corrected", "ocr"]
    assert table.loc["screen_1.png", "corrected_fields"] == "dap_fluoro_gycm2"
    assert table.loc["screen_1.png", "dap_fluoro_gycm2"] == pytest.approx(truth["screen_1.png"]["dap_fluoro_gycm2"])
    assert table.loc["screen_2.png", "reason"].startswith("corrected by hand")
    for name, values in truth.items():
        for column, value in values.items():
            assert table.loc[name, column] == pytest.approx(value), (name, column)
    # The next review has nobody to review, and keeps the corrections made for the run after.
    assert "0 of 4 reports to review" in (again / "index.html").read_text(encoding="utf-8")
    kept = pd.read_csv(again / "corrections.csv", dtype=str, keep_default_na=False)
    assert len(kept) == 4 and (kept["corrected_value"] != "").all()


def test_a_report_stays_marked_until_every_doubtful_field_is_corrected(screens_to_review, reviewed, tmp_path):
    _, page_path, truth = reviewed
    table = batch.read_reports([screens_to_review[0]], jobs=1, progress=False)
    fixes = filled(page_path, truth, tmp_path / "c.csv", only={"air_kerma_total_mgy", "dap_fluoro_gycm2"},
                   sep=";", decimal=",")
    corrected = review.apply_corrections(table, fixes).set_index("source_file")
    assert not corrected.loc["screen_1.png", "needs_review"]
    assert corrected.loc["screen_2.png", "needs_review"]  # frontal and lateral not corrected
    assert corrected.loc["screen_2.png", "source"] == "corrected"
    assert corrected.loc["screen_2.png", "air_kerma_total_mgy"] == pytest.approx(
        truth["screen_2.png"]["air_kerma_total_mgy"])


@pytest.mark.parametrize("row, message", [
    ("nowhere.png,dap_total_gycm2,,12.5", "no image 'nowhere.png' among the images read"),
    ("screen_1.png,dap_totl_gycm2,,12.5", "'dap_totl_gycm2' is no output column"),
    ("screen_1.png,dap_fluoro_gycm2,,twelve", "'twelve' is no number"),
    ("screen_1.png,exposure_series,,2.5", "is a count"),
    ("screen_1.png,dap_fluoro_gycm2,,12 Gy cm2", "not a plain number"),
])
def test_a_corrections_file_naming_unknown_files_or_fields_is_refused_and_nothing_applied(
        screens_to_review, tmp_path, capsys, row, message):
    folder = screens_to_review[0]
    fixes = tmp_path / "corrections.csv"
    good = "screen_2.png,air_kerma_total_mgy,,100"
    fixes.write_text(f"source_file,field,value_read,corrected_value\n{good}\n{row}\n", encoding="utf-8")
    out = tmp_path / "reports.csv"
    args = ["ocr", str(folder), "--out", str(out), "--jobs", "1", "--no-progress", "--corrections", str(fixes)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "line 3" in err and "Nothing was applied" in err
    assert not out.exists()


def test_a_corrections_file_without_its_columns_is_refused(screens_to_review, tmp_path):
    fixes = tmp_path / "c.csv"
    fixes.write_text("file,value\nscreen_1.png,3\n", encoding="utf-8")
    table = pd.DataFrame({"source_file": ["screen_1.png"], "needs_review": [True]})
    with pytest.raises(UserError, match="no column corrected_value, field, source_file"):
        review.apply_corrections(table, fixes)


# --------------------------------------------------------------------------- in a browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (Debian package chromium)")
def test_the_review_page_shows_its_crops_and_values_in_a_browser(screens_to_review, reviewed, tmp_path):
    """Headless Chromium loads the page offline and shows every crop; the screenshot shows crops and values."""
    table, page_path, _ = reviewed
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
             "--disable-background-networking", "--virtual-time-budget=5000"]
    url = page_path.resolve().as_uri()
    dom = subprocess.run(flags + ["--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
    shown = re.search(r'data-images="(\d+)" data-images-shown="(\d+)"', dom)
    assert shown and shown.group(1) == shown.group(2) == str(8 + 9 + 2), dom[:500]
    shot = tmp_path / "review.png"
    subprocess.run(flags + [f"--screenshot={shot}", "--window-size=1400,1000", url], capture_output=True,
                   timeout=120, check=True)
    image = np.asarray(Image.open(shot).convert("L"))
    assert image.shape == (1000, 1400) and image.std() > 20
    import pytesseract

    text = pytesseract.image_to_string(image)
    assert "reports to review" in text and "row not found" in text
    # The first marked report fills the window: the numbers its crops show, and the values read beside them.
    printed = screens_to_review[2]["screen_1.png"]
    report = table.set_index("source_file").loc["screen_1.png"]
    crops_seen = [c for c in ("dap_total_gycm2", "exposure_images", "air_kerma_lateral_mgy") if printed[c] in text]
    values_seen = [c for c in ("dap_total_gycm2", "exposure_images", "air_kerma_lateral_mgy")
                   if f"{float(report[c]):.9g}" in text]
    assert len(crops_seen) >= 2 and len(values_seen) >= 2, text

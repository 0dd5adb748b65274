"""Reading dose-report screens: layouts, file formats, bad images, the Tesseract engines, the command line."""

from __future__ import annotations

import ctypes.util
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from ocr_truth import fields_right
from PIL import Image, ImageDraw

from drl_analysis.cli import main
from drl_analysis.core.errors import UserError
from drl_analysis.ocr import batch, engines, layouts, page, reader
from drl_analysis.synthetic import screens

# --------------------------------------------------------------------------- layouts


def test_shipped_layouts_are_english_and_german_clarityiq():
    assert layouts.available_layouts() == ("clarityiq_de", "clarityiq_en")
    en, de = layouts.load_layout("clarityiq_en"), layouts.load_layout("clarityiq_de")
    assert en.columns == de.columns == layouts.OCR_FIELDS
    assert (en.language, de.language) == ("en", "de")
    assert {c.name for c in en.checks} == {"dap_sum", "air_kerma_sum", "exposure_zero"}


def test_unknown_layout_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="--layout"):
        layouts.load_layout("siemens_x")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\ntitle: t\nlanguage: fr\nfields: []\n", encoding="utf-8")
    with pytest.raises(UserError, match="language"):
        layouts.load_layout(bad)


# --------------------------------------------------------------------------- images


@pytest.fixture(scope="module")
def every_format(tmp_path_factory):
    """One clean screen per file format and DICOM pixel encoding, English and German, with truth."""
    folder = tmp_path_factory.mktemp("every_format")
    rng = np.random.default_rng(12)
    rows = []
    kinds = [(fmt, None) for fmt in ("png", "jpg", "tif", "bmp")] + [("dcm", k) for k in screens.DICOM_KINDS]
    for i, (fmt, kind) in enumerate(kinds):
        screen = screens.random_screen(rng, layouts=(("clarityiq_en", "clarityiq_de")[i % 2],), degrade=False,
                                       file_format=fmt)
        screen.style.dicom_kind = kind
        path = screens.write_screen(screen, folder / f"{fmt}_{i}", seed=i)
        rows.append({"source_file": path.name, "layout": screen.layout.name, **screen.truth})
    truth = pd.DataFrame(rows)
    table = batch.read_reports([folder], jobs=1, progress=False)
    return truth, table, folder


def test_every_input_format_is_read_right(every_format):
    truth, table, _ = every_format
    right, total, wrong = fields_right(table, truth)
    assert right == total, wrong
    assert not table["needs_review"].any(), table[["source_file", "reason"]]
    assert table["consistent"].all()
    by_file = dict(zip(table["source_file"].map(lambda p: Path(p).name), table["layout"]))
    assert all(by_file[f] == lay for f, lay in zip(truth["source_file"], truth["layout"]))
    assert {Path(p).suffix for p in table["source_file"]} == {".png", ".jpg", ".tif", ".bmp", ".dcm"}
    # Named relative to the folder read, so tables carry no machine paths.
    assert set(table["source_file"]) == set(truth["source_file"])


def test_corrupt_and_foreign_images_get_a_row_with_the_reason(tmp_path, every_format):
    folder = tmp_path / "mixed"
    folder.mkdir()
    good = pd.Series(every_format[0]["source_file"])
    shutil.copy(every_format[2] / good.iloc[0], folder / good.iloc[0])
    png = (every_format[2] / good[good.str.endswith(".png")].iloc[0]).read_bytes()
    (folder / "truncated.png").write_bytes(png[: len(png) // 3])
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "garbage.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\x07" * 300)
    noise = np.random.default_rng(0).integers(0, 256, (300, 500), dtype=np.uint8)
    Image.fromarray(noise).save(folder / "noise.png")
    letter = Image.new("L", (700, 400), 255)
    draw = ImageDraw.Draw(letter)
    for i, line in enumerate(["Dear colleague,", "thank you for the referral of", "the patient seen on 3 May.",
                              "Findings were unremarkable.", "Kind regards"]):
        draw.text((40, 40 + 60 * i), line, fill=0, font=screens._font(screens.ScreenStyle(scale=1.2)))
    letter.save(folder / "letter.png")
    (folder / "notes.txt").write_text("not an image", encoding="utf-8")

    table = batch.read_reports([folder], jobs=1, progress=False)
    names = table["source_file"].map(lambda p: Path(p).name).tolist()
    assert names == sorted(names) and "notes.txt" not in names
    rows = table.set_index(table["source_file"].map(lambda p: Path(p).name))
    for bad in ("truncated.png", "empty.jpg", "garbage.dcm", "noise.png", "letter.png"):
        assert rows.loc[bad, "needs_review"], bad
        assert rows.loc[bad, "reason"], bad
        assert pd.isna(rows.loc[bad, "dap_total_gycm2"]), bad
    assert "unreadable" in rows.loc["empty.jpg", "reason"] and "unreadable" in rows.loc["garbage.dcm", "reason"]
    assert "no dose report" in rows.loc["letter.png", "reason"]
    assert not rows.loc[good.iloc[0], "needs_review"]


def test_rotated_screen_with_border_is_straightened_and_its_rows_found():
    rng = np.random.default_rng(5)
    screen = screens.random_screen(rng, layouts=("clarityiq_en",), degrade=False)
    screen.style.rotation_deg, screen.style.border = 0.8, (60, 10, 5, 70)
    gray = np.asarray(screens.render_screen(screen).convert("L"))
    found = page.locate(gray)
    # PIL turns counter-clockwise; the reader undoes it in image coordinates (y down).
    assert found.angle_deg == pytest.approx(-0.8, abs=0.1)
    assert len(found.table()) == len(screen.layout.fields)
    assert found.dark == screen.style.dark


def test_slivers_of_a_broken_frame_edge_far_right_are_no_part_of_a_row():
    rng = np.random.default_rng(5)
    screen = screens.random_screen(rng, layouts=("clarityiq_en",), degrade=False)
    gray = np.asarray(screens.render_screen(screen).convert("L")).copy()
    rows = page.locate(gray).table()
    assert len(rows) == len(screen.layout.fields)
    # Pieces of a faint vertical edge, as JPEG leaves of a thin frame, each within one row's band.
    ink = 255 if screen.style.dark else 0
    x = gray.shape[1] - 20
    for row in rows[2:4]:
        gray[int(row.top) + 2:int(row.bottom) - 2, x:x + 2] = ink
    found = page.locate(gray)
    assert len(found.table()) == len(screen.layout.fields)
    assert all(r.value[1] < x - 10 for r in found.table())
    # A lone narrow value far from its label stays the value.
    assert all(r.value is not None for r in found.table())


def test_rows_are_matched_by_their_labels_when_one_is_missing(tmp_path):
    rng = np.random.default_rng(3)
    screen = screens.random_screen(rng, layouts=("clarityiq_en",), degrade=False, file_format="png")
    image = np.array(screens.render_screen(screen).convert("L"))
    row = page.locate(image).table()[4]  # Fluoroscopy Cumulative DAP
    image[int(row.top) - 2:int(row.bottom) + 2, :] = int(np.median(image))
    Image.fromarray(image).save(tmp_path / "cut.png")
    result = batch.read_reports([tmp_path / "cut.png"], jobs=1, progress=False).iloc[0]
    assert result["needs_review"] and "rows not found: dap_fluoro_gycm2" in result["reason"]
    assert pd.isna(result["dap_fluoro_gycm2"])
    for column in layouts.OCR_FIELDS:
        if column != "dap_fluoro_gycm2":
            assert result[column] == pytest.approx(screen.truth[column]), column


# --------------------------------------------------------------------------- Tesseract engines


def require_tesseract_library() -> None:
    """Skip where no Tesseract library is installed; where one is, it must load and work."""
    problem = engines._library_problem()
    if problem and ctypes.util.find_library("tesseract") is None:
        pytest.skip(problem)
    assert not problem, problem


@pytest.fixture(scope="module")
def few_degraded(tmp_path_factory):
    """Six degraded renders of every kind, with truth."""
    folder = tmp_path_factory.mktemp("few_degraded")
    return folder, screens.write_reports(folder, n=6, seed=31, degrade=True)


@pytest.mark.parametrize("engine", ["library", "process"])
def test_each_tesseract_engine_reads_degraded_screens_right(engine, few_degraded):
    """Tesseract's library in the process and Tesseract processes through pytesseract read the same values."""
    if engine == "library":
        require_tesseract_library()
    folder, truth = few_degraded
    table = batch.read_reports([folder], jobs=1, progress=False, engine=engine)
    right, total, wrong = fields_right(table, truth)
    # One of the six prints "8.730 cGy·cm²" on a screen whose other numbers show no notation: 87.3
    # or 0.0873 Gy·cm². The field size that 87.3 Gy·cm² and the air kerma give is plausible, and that
    # of 0.0873 is not: taken in the layout's notation, and the table says what decided it.
    assert (table["notation_from"] == "field size").sum() == 1, table[["source_file", "notation_from"]]
    assert not table["needs_review"].astype(bool).any(), table[["source_file", "reason"]]
    assert (right, len(wrong)) == (total, 0), wrong


def test_engine_is_chosen_by_parameter_or_environment(monkeypatch):
    monkeypatch.delenv(engines.ENGINE_VARIABLE, raising=False)
    assert engines.resolve_engine("process") == "process"
    monkeypatch.setenv(engines.ENGINE_VARIABLE, "process")
    assert engines.resolve_engine() == "process"
    monkeypatch.setenv(engines.ENGINE_VARIABLE, "gpu")
    with pytest.raises(UserError, match=engines.ENGINE_VARIABLE):
        engines.resolve_engine()
    with pytest.raises(UserError, match="engine"):
        engines.resolve_engine("tesseract")


def test_without_the_tesseract_library_auto_falls_back_to_processes(monkeypatch):
    monkeypatch.delenv(engines.ENGINE_VARIABLE, raising=False)
    monkeypatch.setattr(engines, "_library_problem", lambda: "the Tesseract library cannot be loaded (test)")
    assert engines.resolve_engine() == "process"
    with pytest.raises(UserError, match="cannot be loaded"):
        engines.resolve_engine("library")


@pytest.mark.parametrize("seed", [21, 27, 58])
def test_a_lone_zero_in_bold_type_is_read_by_the_library(seed):
    """Alone on its line a bold 0 is as much an o, and Tesseract reads nothing; beside a copy of itself, a 0."""
    require_tesseract_library()
    screen = screens.random_screen(np.random.default_rng(seed), layouts=("clarityiq_en",), degrade=False)
    screen.style.font = "DejaVuSans-Bold.ttf"
    screen.values["air_kerma_lateral_mgy"], screen.truth["air_kerma_lateral_mgy"] = "0", 0.0
    report = reader.ReportReader(Path("screen.png"), [screen.layout])
    report.page = page.locate(np.asarray(screens.render_screen(screen).convert("L")))
    report.map(screen.layout, dict(enumerate(range(len(screen.layout.fields)))), report.page.table())
    row = report.rows["air_kerma_lateral_mgy"]
    request = report.crop("number", "air_kerma_lateral_mgy", row,
                          (row.value[0], row.value[0] + 1.2 * report.page.char_px), 0)
    assert [w.text for w in engines.read_alone(engines.tesseract_library(), request.image, request.whitelist)] == ["0"]


# --------------------------------------------------------------------------- command line


def test_command_writes_the_contract_columns_and_a_quartile_sheet(tmp_path):
    truth = screens.write_reports(tmp_path / "in", n=8, seed=3, degrade=False)
    out = tmp_path / "out" / "reports.xlsx"
    assert main(["ocr", str(tmp_path / "in"), "--out", str(out), "--jobs", "1", "--no-progress"]) == 0
    sheets = pd.read_excel(out, sheet_name=None, engine="openpyxl")
    reports, quartiles = sheets["reports"], sheets["quartiles"].set_index("column")
    contract = ["source_file", "layout", *layouts.OCR_FIELDS, "consistent", "needs_review"]
    assert list(reports.columns[: len(contract)]) == contract
    assert {f"conf_{c}" for c in layouts.OCR_FIELDS} | {f"raw_{c}" for c in layouts.OCR_FIELDS} | {"reason"} <= set(reports)
    assert len(reports) == len(truth)
    good = reports[~reports["needs_review"]]
    expected = good["fluoro_time_min"].quantile([0.25, 0.5, 0.75])  # pandas' default is linear
    assert quartiles.loc["fluoro_time_min", ["p25", "p50", "p75"]].tolist() == pytest.approx(expected.tolist())
    assert quartiles.loc["fluoro_time_min", "n"] == len(good)
    assert (quartiles["quantile_method"] == "linear").all()


def test_command_csv_is_sorted_by_file_and_exits_zero_with_reports_to_review(tmp_path):
    screens.write_reports(tmp_path / "in", n=3, seed=4, degrade=False)
    Image.fromarray(np.full((200, 300), 128, np.uint8)).save(tmp_path / "in" / "blank.png")
    out = tmp_path / "reports.csv"
    assert main(["ocr", str(tmp_path / "in"), "--out", str(out), "--jobs", "1", "--no-progress"]) == 0
    table = pd.read_csv(out)
    assert table["source_file"].tolist() == sorted(table["source_file"])
    assert table.set_index(table["source_file"].map(lambda p: Path(p).name)).loc["blank.png", "needs_review"]


def test_command_refuses_an_output_that_is_neither_csv_nor_xlsx(tmp_path, capsys):
    assert main(["ocr", str(tmp_path), "--out", str(tmp_path / "out.json")]) == 2
    assert "--out" in capsys.readouterr().err


def test_command_fails_when_no_image_is_a_dose_report(tmp_path):
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (200, 300), dtype=np.uint8)).save(tmp_path / "a.png")
    assert main(["ocr", str(tmp_path), "--out", str(tmp_path / "o.csv"), "--jobs", "1", "--no-progress"]) == 1


def test_missing_path_and_custom_layout_file(tmp_path, capsys):
    assert main(["ocr", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o.csv")]) == 2
    assert "nowhere" in capsys.readouterr().err
    # A layout is data: a copy under another name reads the same screens.
    custom = tmp_path / "my_screen.yaml"
    text = (layouts.LAYOUT_DIR / "clarityiq_en.yaml").read_text(encoding="utf-8")
    custom.write_text(text.replace("name: clarityiq_en", "name: my_screen"), encoding="utf-8")
    truth = screens.write_reports(tmp_path / "in", n=2, seed=6, degrade=False, layouts=("clarityiq_en",))
    table = batch.read_reports([tmp_path / "in"], layout=custom, jobs=1, progress=False)
    assert (table["layout"] == "my_screen").all()
    right, total, wrong = fields_right(table, truth)
    assert right == total, wrong

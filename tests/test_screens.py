"""The seeded dose-report screen generator: varied renders whose ground truth keeps the screen's checks."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pydicom
import pytest

from drl_analysis.core.numbers import parse_number
from drl_analysis.ocr import images, layouts
from drl_analysis.synthetic import screens

DAP = ("dap_total_gycm2", "dap_exposure_gycm2", "dap_fluoro_gycm2")
KERMA = ("air_kerma_total_mgy", "air_kerma_frontal_mgy", "air_kerma_lateral_mgy")


def _printed_value(text: str, notation: str) -> tuple[float, float]:
    """Value and half display step of a printed number, read without the OCR module."""
    decimal = "," if notation == "de" else "."
    digits = text.split(decimal)[1] if decimal in text else ""
    return parse_number(text, notation).value, 0.5 * 10.0 ** -len(digits)


@pytest.mark.parametrize("layout", ["clarityiq_en", "clarityiq_de"])
def test_printed_totals_equal_the_sum_of_their_parts_up_to_display_rounding(layout):
    lay = layouts.load_layout(layout)
    rng = np.random.default_rng(3)
    for _ in range(200):
        fmt = screens.random_number_format(rng, lay.language)
        values, units, _ = screens.random_values(rng, lay, fmt)
        for group in (DAP, KERMA):
            assert len({units[c] for c in group}) == 1, "one unit per quantity on a screen"
            (total, t_half), *parts = (_printed_value(values[c], fmt.notation) for c in group)
            slack = t_half + sum(h for _, h in parts)
            assert abs(total - sum(v for v, _ in parts)) <= slack + 1e-9, (values, units)


def test_number_formats_do_not_follow_the_layouts_decimals():
    """Every notation, grouping, 0-3 decimals and every time format turn up; decimals vary within one layout."""
    lay = layouts.load_layout("clarityiq_en")
    rng = np.random.default_rng(11)
    seen: dict[str, set] = {"notation": set(), "group": set(), "decimals": set(), "time": set()}
    for _ in range(400):
        fmt = screens.random_number_format(rng, lay.language)
        values, _, _ = screens.random_values(rng, lay, fmt)
        seen["notation"].add(fmt.notation)
        seen["time"].add(fmt.time)
        text = values["dap_total_gycm2"]
        decimal = "," if fmt.notation == "de" else "."
        seen["decimals"].add(len(text.split(decimal)[1]) if decimal in text else 0)
        seen["group"].update(ch for ch in values["exposure_images"] if not ch.isdigit())
    assert seen["notation"] == {"en", "de"}
    assert seen["time"] == set(screens.TIME_FORMATS)
    assert seen["decimals"] == {0, 1, 2, 3}
    assert seen["group"] == {",", ".", " ", "\u202f"}


def test_ground_truth_is_the_printed_value_in_canonical_units():
    lay = layouts.load_layout("clarityiq_de")
    rng = np.random.default_rng(8)
    seen_units = set()
    for _ in range(300):
        fmt = screens.random_number_format(rng, lay.language)
        values, units, truth = screens.random_values(rng, lay, fmt)
        seen_units.add(units["dap_total_gycm2"].replace("·", " ").replace(" x ", " ").replace("*", " "))
        printed, _ = _printed_value(values["dap_total_gycm2"], fmt.notation)
        per_gycm2 = {"Gy cm²": 1, "mGy cm²": 1000, "cGy cm²": 100, "µGy m²": 100}
        unit = units["dap_total_gycm2"].replace("·", " ").replace(" x ", " ").replace("*", " ")
        assert truth["dap_total_gycm2"] == pytest.approx(printed / per_gycm2[unit])
        time = values["fluoro_time_min"]
        if units["fluoro_time_min"] == "s":
            assert truth["fluoro_time_min"] == pytest.approx(int("".join(c for c in time if c.isdigit())) / 60)
        if ":" in time:
            *h, m, s = (int(x) for x in time.split(":"))
            assert truth["fluoro_time_min"] == pytest.approx(60 * sum(h) + m + s / 60)
    assert seen_units == {"Gy cm²", "mGy cm²", "cGy cm²", "µGy m²"}


def test_a_batch_covers_languages_polarities_sizes_formats_and_units(tmp_path):
    truth = screens.write_reports(tmp_path, n=40, seed=1)
    assert set(truth["layout"]) == {"clarityiq_en", "clarityiq_de"}
    assert set(truth["style_dark"]) == {True, False}
    assert set(truth["style_file_format"]) == set(screens.FORMATS)
    assert truth["style_scale"].between(0.5, 1.5).all()
    assert truth["style_scale"].max() - truth["style_scale"].min() > 0.6
    assert truth["style_rotation_deg"].abs().max() <= 1.0 and (truth["style_rotation_deg"] != 0).any()
    assert truth["style_jpeg_quality"].dropna().between(30, 90).all()
    assert truth["style_font"].nunique() >= 4
    assert {"min", "s"} <= set(truth["unit_fluoro_time_min"])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(truth["source_file"])


def test_same_seed_writes_the_same_files(tmp_path):
    def digests(folder):
        screens.write_reports(folder, n=6, seed=4)
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}

    assert digests(tmp_path / "a") == digests(tmp_path / "b")


@pytest.mark.parametrize("photometric,bits", screens.DICOM_KINDS)
def test_dicom_secondary_capture_stores_the_displayed_image(tmp_path, photometric, bits):
    image = np.tile(np.linspace(0, 255, 64).astype(np.uint8), (32, 1))
    path = screens.write_dicom(tmp_path / "sc.dcm", image, photometric, bits)
    ds = pydicom.dcmread(path)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7"  # Secondary Capture Image Storage
    assert ds.PhotometricInterpretation == photometric
    assert ds.BitsAllocated == (8 if photometric == "RGB" else bits)
    stored = ds.pixel_array.astype(float)
    if photometric == "MONOCHROME1":  # 0 is white
        assert stored[0, 0] > stored[0, -1]
    shown = images.load_image(path).astype(int)
    assert np.abs(shown - image.astype(int)).max() <= 2


def test_bundled_sample_is_small_and_keeps_its_ground_truth(tmp_path):
    truth = screens.write_sample_reports(tmp_path, n=12, seed=0)
    images = [p for p in tmp_path.iterdir() if p.suffix != ".csv"]
    assert len(images) == 12
    assert sum(p.stat().st_size for p in images) < 2.0e6
    assert {p.suffix for p in images} == {".jpg", ".png", ".dcm", ".tif", ".bmp"}
    written = pd.read_csv(tmp_path / "ground_truth.csv")
    assert written["source_file"].tolist() == truth["source_file"].tolist()
    assert np.allclose(written["dap_total_gycm2"], truth["dap_total_gycm2"])

"""Accuracy on a batch of degraded renders whose numbers are printed in every format, independent of the layout.

The screens (:mod:`drl_analysis.synthetic.screens`) print each number with
0–3 decimals drawn per row, by significant digits or with trailing zeros
dropped, thousands separators of either notation or spaces, the time as
minutes, mm:ss, hh:mm:ss or seconds, in every DAP unit, English and German,
dark and light, six fonts, sizes 0.5–1.5, rotated, blurred, noisy, JPEG,
PNG, TIFF, BMP and DICOM.
"""

from __future__ import annotations

import pytest
from ocr_truth import fields_right

from drl_analysis.ocr import batch, engines
from drl_analysis.synthetic import screens

SEED = 2025
N = 120


@pytest.fixture(scope="module")
def read_batch(tmp_path_factory):
    folder = tmp_path_factory.mktemp("accuracy")
    truth = screens.write_reports(folder, n=N, seed=SEED, degrade=True)
    if engines.resolve_engine("auto") != "library":
        pytest.skip("the accuracy batch is read with Tesseract's library in the process")
    table = batch.read_reports([folder], jobs=2, progress=False, engine="library")
    return truth, table


def test_number_formats_vary_beyond_the_layouts_decimals(read_batch):
    truth, _ = read_batch
    assert set(truth["format_time"]) == set(screens.TIME_FORMATS)
    assert set(truth["format_grouping"]) == set(screens.GROUPINGS)
    assert set(truth["format_decimals"]) == set(screens.DECIMAL_STYLES)
    assert set(truth["format_notation"]) == {"en", "de"}


def test_fields_are_read_right_and_no_wrong_value_is_left_unmarked(read_batch):
    truth, table = read_batch
    right, total, wrong = fields_right(table, truth)
    assert right / total >= 0.995, wrong
    assert wrong["needs_review"].all(), wrong[~wrong["needs_review"]]


def test_few_fully_right_reports_are_marked_for_review(read_batch):
    truth, table = read_batch
    _, _, wrong = fields_right(table, truth)
    names = table["source_file"].str.rsplit("/", n=1).str[-1]
    fully_right = ~names.isin(set(wrong["file"]))
    marked = table.loc[fully_right, "needs_review"]
    assert marked.mean() < 0.05, table.loc[fully_right & table["needs_review"], ["source_file", "reason"]]

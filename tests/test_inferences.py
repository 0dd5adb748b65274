"""The per-file confidence summary: one list of inference rules for survey files
and DICOM dose reports, counted alike in the ingest summary and in the files to
review of notebook 02 (``accounting_tables(...)["inferences_by_file"]``)."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pandas as pd
import pytest

from drl_analysis.ingest.inferences import (
    COLUMN_RULES,
    INFERENCE_RULES,
    inference_counts,
    record_inference_counts,
)
from drl_analysis.ingest.overview import accounting_tables
from drl_analysis.ingest.rdsr import QUIRK_RULES
from drl_analysis.synthetic import rdsr as gen
from drl_analysis.synthetic.rdsr import XrayEvent, example_ct, example_projection

SOURCE_FOLDER = "Aerztliche_Stelle_Nord_2024"


def test_every_vendor_quirk_of_the_rdsr_reader_is_an_inference():
    assert set(QUIRK_RULES) <= set(INFERENCE_RULES)
    assert COLUMN_RULES <= set(INFERENCE_RULES)


def test_counts_of_repair_records_equal_those_of_the_repairs_table():
    records = [
        ("S1", None, "dap_cgycm2", "DFP [µGy*m²]", "dap_cgycm2", "header_matched"),
        ("S1", None, "dlp_mgycm", "DLP", "dlp_mgycm", "header_matched"),
        ("S1", 5, "dap_cgycm2", "12,5", "12.5", "notation_from_sheet"),
        ("S1", 5, "dlp_mgycm", "3,5", "3.5", "notation_from_sheet"),
        ("S1", 6, "dap_cgycm2", "1,5", "1.5", "notation_from_sheet"),
        ("S2", 5, "exam_code", "Thorax", "9003", "exam_code_from_name"),
        ("S2", 7, "weight_kg", "0", "", "not_an_inference"),
        ("RDSR", 1, "template", "", "TID 10011", "rdsr_template_inferred"),
    ]
    frame = pd.DataFrame(records, columns=["sheet", "source_row", "column", "before", "after", "rule"])
    expected = {"header_matched": 2, "notation_from_sheet": 2, "exam_code_from_name": 1, "rdsr_template_inferred": 1}
    assert inference_counts(frame) == expected
    assert record_inference_counts(records) == expected
    assert list(record_inference_counts(records)) == list(inference_counts(frame))


@pytest.mark.parametrize(("study", "rule"), [
    (example_ct(quirks=("no_template_id",)), "rdsr_template_inferred"),
    (example_projection(quirks=("private_container",)), "rdsr_private_container"),
    (example_ct(weight_text="0"), "rdsr_weight_zero"),
])
def test_an_rdsr_file_with_an_inferred_value_is_among_the_files_to_review(tmp_path, ingest, study, rule):
    folder = tmp_path / SOURCE_FOLDER
    gen.write_rdsr(study, folder / "report.dcm")
    gen.write_rdsr(example_ct("plain"), folder / "plain.dcm")
    run = ingest(folder)

    table = accounting_tables(run.db)["inferences_by_file"]
    assert table[["source_file", "rule", "touched", "unit", "rows_read"]].to_dict("records") == [
        {"source_file": "report.dcm", "rule": rule, "touched": 1, "unit": "rows", "rows_read": 1}
    ]
    assert table["inference"].tolist() == [INFERENCE_RULES[rule]]
    assert table["share"].tolist() == [1.0]

    outcomes = {f.source_file: f for f in run.summary.files}
    assert outcomes["report.dcm"].inferences == {rule: 1}
    assert outcomes["plain.dcm"].inferences == {}
    review = "\n".join(run.summary.review_lines())
    assert f"report.dcm (1 rows, 100% inferred): {rule} 1" in review
    assert "plain.dcm" not in review


def test_a_cumulative_update_is_an_inference_of_the_file_that_replaces(tmp_path, ingest):
    full = example_projection("full", events=[
        XrayEvent("fluoroscopy", "single", "P", Decimal("1000"), Decimal("100"), Decimal("300"), "2.25.11"),
        XrayEvent("stationary", "single", "P", Decimal("2000"), Decimal("200"), Decimal("5"), "2.25.12"),
    ])
    partial = dataclasses.replace(full, sop_uid="2.25.999", events=full.events[:1])
    folder = tmp_path / SOURCE_FOLDER
    gen.write_rdsr(partial, folder / "a.dcm")
    gen.write_rdsr(full, folder / "b.dcm")
    run = ingest(folder)

    table = accounting_tables(run.db)["inferences_by_file"]
    assert table[["source_file", "rule", "touched"]].values.tolist() == [["b.dcm", "rdsr_cumulative_update", 1]]
    outcomes = {f.source_file: f for f in run.summary.files}
    assert outcomes["b.dcm"].inferences == {"rdsr_cumulative_update": 1}
    assert outcomes["a.dcm"].inferences == {}

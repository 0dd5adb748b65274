"""The reader on submissions from the independent damage generator (tests/forge).

A fixed, derandomized set of hypothesis-drawn submissions at damage level 1
and level 3 is written, ingested into SQLite and scored against the truth:
at least 99.5 % of the exposures must be stored right, none wrong, and every
row read must be stored or rejected. The report of a failure lists the
per-kind table and the failure classes with examples
(``python -m tests.forge.score`` prints the same for larger batches).

The generator itself is checked too: its truth is in canonical units, each
damage kind really leaves its mark in the file, and a spec always gives the
same file.
"""

from __future__ import annotations

import csv
import math
import re

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from tests.forge import reader
from tests.forge.score import score
from tests.forge.surveys import (
    DAP_UNITS,
    DATA_SOURCES,
    EXTRA_COLUMNS,
    KINDS,
    MISSING_MARKERS,
    NUMERIC,
    PHANTOM_WORDS,
    RUNNING_NUMBER_NAMES,
    TEMPLATE_HEADER,
    FileSpec,
    catalogue,
    draw_specs,
    generate_batch,
    generate_file,
)

#: Submissions per level: enough to meet every kind several times, few enough
#: for the whole module to run in well under a minute on one core.
EXAMPLES = {1: 100, 3: 100}
REPORT_CHARS = 12000


@pytest.fixture(scope="module", params=sorted(EXAMPLES), ids=lambda level: f"level{level}")
def scored(request, tmp_path_factory):
    level = request.param
    root = tmp_path_factory.mktemp(f"forge_level{level}")
    batch = generate_batch(draw_specs(EXAMPLES[level], level), root / "files")
    url = f"sqlite:///{root / 'forge.sqlite'}"
    summary = reader.ingest_paths([root / "files"], url, progress=False, jobs=1)
    return batch, summary, score(batch, url, summary=summary)


def _report(sc) -> str:
    text = sc.report(examples=2)
    return text if len(text) <= REPORT_CHARS else text[:REPORT_CHARS] + "\n[... report cut]"


def test_forge_exposures_are_stored_right(scored):
    batch, summary, sc = scored
    assert sc.totals["exposures"] == len(batch.truth) > 0
    assert sc.right_share >= 0.995, _report(sc)


def test_forge_nothing_is_stored_wrong(scored):
    _, _, sc = scored
    assert sc.totals["wrong"] == 0 and sc.totals["junk_stored"] == 0, _report(sc)


def test_forge_rows_read_are_stored_or_rejected(scored):
    _, summary, _ = scored
    t = summary.totals()
    assert t["rows_read"] == t["rows_stored"] + t["rows_rejected"], t


# --------------------------------------------------------------------------- the generator itself


def test_truth_is_canonical_and_plausible(tmp_path):
    batch = generate_batch(draw_specs(40, 3), tmp_path)
    t = batch.truth
    exams = catalogue()
    assert set(t["exam_code"]) <= set(exams)
    assert set(t["data_source"]) <= set(DATA_SOURCES)
    assert t["year"].between(2000, 2100).all()
    for column in ("facility_id", "exam_code"):
        values = t[column].tolist()
        assert all(isinstance(v, str) and v == " ".join(v.split()) and "\u200b" not in v for v in values)
        assert not any(re.fullmatch(r"\d+\.0", v) for v in values)
    quantity = t["exam_code"].map(lambda c: exams[c].quantity)
    for q in ("dap_cgycm2", "agd_mgy", "ctdivol_mgy"):
        assert t.loc[quantity == q, q].notna().all()
        assert t.loc[quantity != q, q].isna().all()
    assert t["dap_cgycm2"].dropna().between(0.01, 200000).all()
    assert t["agd_mgy"].dropna().between(0.05, 30).all()
    assert t["dlp_mgycm"].dropna().between(1, 30000).all()
    assert t["ctdivol_mgy"].dropna().between(0.05, 500).all()
    ct = quantity == "ctdivol_mgy"
    assert t.loc[ct, "ctdi_phantom_cm"].isin([16, 32]).all()
    assert t.loc[~ct, ["ctdi_phantom_cm", "dlp_mgycm"]].isna().all().all()
    reference = t.loc[ct, "exam_code"].map(lambda c: exams[c].phantom)
    assert (t.loc[ct, "ctdi_phantom_cm"] == reference).mean() > 0.75
    assert t["weight_kg"].dropna().between(40, 130).all() and t["weight_kg"].isna().any()
    assert t["age_years"].dropna().between(18, 95).all() and t["age_years"].isna().any()
    for c in NUMERIC:  # values rounded as people write them
        v = t[c].dropna().to_numpy()
        assert np.allclose(v, np.round(v, 2))
    # typical values sit near the catalogue's DRL (median within a factor of 3)
    for code, group in t[quantity == "dap_cgycm2"].groupby("exam_code"):
        if len(group) >= 5:
            assert exams[code].typical / 3 < group["dap_cgycm2"].median() < exams[code].typical * 3


def test_dap_in_other_units_is_scaled_in_the_file(tmp_path):
    checked = 0
    for seed in range(6):
        truth, _, rec = generate_file(FileSpec(seed, frozenset({"dap_unit"}), "xlsx"), tmp_path, f"s{seed}/")
        ws = load_workbook(tmp_path / rec["source_file"])["Exposure data"]
        header = [c.value for c in ws[11]]
        col = next(j for j, h in enumerate(header, start=1) if h and str(h).startswith("DAP"))
        unit = re.search(r"\[(.*)\]", header[col - 1]).group(1)
        factor = next(f for f, spellings in DAP_UNITS.values() if unit in spellings)
        assert factor != 1.0 or unit.startswith(("µ", "μ", "u"))
        for row in truth:
            if not math.isnan(row["dap_cgycm2"]):
                cell = ws.cell(row=row["source_row"], column=col).value
                assert math.isclose(cell * factor, row["dap_cgycm2"], rel_tol=1e-9), (unit, cell, row["dap_cgycm2"])
                checked += 1
    assert checked > 20


def _cells(path, fmt):
    """{sheet: rows of cell values} of a generated file (CSV: one sheet "")."""
    if fmt.startswith("csv"):
        encoding = "cp1252" if fmt.endswith("cp1252") else "utf-8-sig"
        with open(path, encoding=encoding, newline="") as fh:
            rows = list(csv.reader(fh, delimiter=";" if "_de" in fmt else ","))
        return {"": [[v if v != "" else None for v in r] for r in rows]}
    wb = load_workbook(path)
    return {ws.title: [list(r) for r in ws.iter_rows(values_only=True)] for ws in wb.worksheets}


def _header_cells(cells, junk):
    heads = junk[junk["what"] == "header row"]
    return [(s, cells[s][r - 1]) for s, r in zip(heads["sheet"], heads["source_row"])]


def _data_cells(cells, truth):
    return [v for s, r in zip(truth["sheet"], truth["source_row"]) for v in cells[s][r - 1]]


def _texts(values):
    return [v for v in values if isinstance(v, str)]


_TEMPLATE = list(TEMPLATE_HEADER.values())
_CODES = set(catalogue())
_NAMES = {n for e in catalogue().values() for n in e.names}

#: Per damage kind: the format its file is written in and what must be seen in it.
MARKS = {
    "header_translated": ("xlsx", lambda c, t, j, f: any(
        any(h and h not in _TEMPLATE for h in row) for _, row in _header_cells(c, j))),
    "columns_reordered": ("xlsx", lambda c, t, j, f: any(
        [h for h in row if h] != _TEMPLATE for _, row in _header_cells(c, j))),
    "extra_columns": ("xlsx", lambda c, t, j, f: any(
        set(row) & set(EXTRA_COLUMNS) for _, row in _header_cells(c, j))),
    "header_row_moved": ("xlsx", lambda c, t, j, f: (j.loc[j["what"] == "header row", "source_row"] != 11).any()),
    "two_row_header": ("xlsx", lambda c, t, j, f: any(
        re.search(r"kg|mGy|cm", " ".join(str(v) for v in c[s][r - 1] if v))
        for s, r in zip(j.loc[j["what"] == "unit row", "sheet"], j.loc[j["what"] == "unit row", "source_row"]))),
    "dap_unit": ("xlsx", lambda c, t, j, f: any(
        re.search(r"\b(Gy|dGy|mGy|µGy|μGy|uGy)", str(h)) and not re.search(r"cGy", str(h))
        for _, row in _header_cells(c, j) for h in row if h and "DAP" in str(h))),
    "numbers_as_text_de": ("xlsx", lambda c, t, j, f: any(
        re.fullmatch(r"\d+,\d+", v) for v in _texts(_data_cells(c, t)))),
    "numbers_as_text_en": ("xlsx", lambda c, t, j, f: any(
        re.fullmatch(r"\d+\.\d+", v) for v in _texts(_data_cells(c, t)))),
    "thousands_separators": ("csv_de", lambda c, t, j, f: any(
        re.fullmatch(r"\d{1,3}([. \u00a0]\d{3})+(,\d+)?", v) for v in _texts(_data_cells(c, t)))),
    "units_in_cells": ("xlsx", lambda c, t, j, f: any(
        re.fullmatch(r"[\d.,]+ ?(mGy|mGy·cm|mGy\*cm|kg|J\.|Jahre|J|\S*Gy\S*)", v) for v in _texts(_data_cells(c, t)))),
    "missing_markers": ("xlsx", lambda c, t, j, f: bool(set(_texts(_data_cells(c, t))) & set(MISSING_MARKERS))),
    "phantom_words": ("xlsx", lambda c, t, j, f: bool(
        set(_texts(_data_cells(c, t))) & {w for ws in PHANTOM_WORDS.values() for w in ws})),
    "exam_code_text": ("xlsx", lambda c, t, j, f: any(
        re.search(r"\d{4}", v) and re.search(r"[A-Za-z]", v) for v in _texts(_data_cells(c, t)))),
    "exam_name_only": ("xlsx", lambda c, t, j, f: bool(set(_texts(_data_cells(c, t))) & _NAMES)),
    "facility_once_per_block": ("csv_en", lambda c, t, j, f: any(
        v is None for v in (r["facility_id"] for r in t["cells"])) and t["facility_id"].duplicated().any()),
    "merged_facility_cells": ("xlsx", lambda c, t, j, f: any(
        ws.merged_cells.ranges for ws in load_workbook(f).worksheets)),
    "facility_id_float": ("xlsx", lambda c, t, j, f: any(
        re.fullmatch(r"\d+[.,]0", str(r["facility_id"])) for r in t["cells"])),
    "running_number": ("xlsx", lambda c, t, j, f: all(
        row[0] in RUNNING_NUMBER_NAMES for _, row in _header_cells(c, j))),
    "whitespace_in_ids": ("xlsx", lambda c, t, j, f: any(
        v != v.strip() or "\u200b" in v or "\u00a0" in v for v in _texts(_data_cells(c, t)))),
    "summary_rows": ("xlsx", lambda c, t, j, f: any(
        w in ("total or mean row", "count row", "note row") and txt in [str(v) for v in c[s][r - 1]]
        for s, r, w, txt in zip(j["sheet"], j["source_row"], j["what"], j["text"]))),
    "empty_rows_inside": ("xlsx", lambda c, t, j, f: any(
        not any(c[s][r - 1]) and t["source_row"].min() < r < t["source_row"].max()
        for s, r in zip(j.loc[j["what"] == "empty row", "sheet"], j.loc[j["what"] == "empty row", "source_row"]))),
    "repeated_header": ("xlsx", lambda c, t, j, f: (j["what"] == "repeated header row").any()),
    "continuation_sheets": ("xlsx", lambda c, t, j, f: t["sheet"].nunique() > 1),
    "sheet_per_exam": ("xlsx", lambda c, t, j, f: t["sheet"].nunique() > 1 and all(
        (g["exam_code"].nunique() == 1 and (g["exam_code"].iloc[0] in s or any(n == s for n in _NAMES)))
        for s, g in t.groupby("sheet")) and not any(
        "Examination code" in row for _, row in _header_cells(c, j))),
    "meta_in_filename_only": ("xlsx", lambda c, t, j, f: not any(
        "Data source" in row or "Year" in row for rows in c.values() for row in rows)
        and re.search(r"_20\d\d\.", f.name)),
    "filename_without_meta": ("xlsx", lambda c, t, j, f: not re.search(r"20\d\d", f.name) and any(
        "Data source" in row for row in c["Exposure data"])),
}


def test_every_kind_has_a_mark():
    assert set(MARKS) == set(KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_leaves_its_mark_in_the_file(kind, tmp_path):
    fmt, mark = MARKS[kind]
    seen = 0
    for seed in range(3):
        spec = FileSpec(seed, frozenset({kind}), fmt, level=3)
        truth, junk, rec = generate_file(spec, tmp_path, f"s{seed}/")
        assert kind in rec["kinds"], rec["kinds"]
        t, j = pd.DataFrame(truth), pd.DataFrame(junk, columns=["sheet", "source_row", "what", "text"])
        path = tmp_path / rec["source_file"]
        seen += bool(mark(_cells(path, fmt), t, j, path))
    assert seen >= 2, f"{kind}: the damage shows in {seen} of 3 files"


def test_the_truth_matches_the_clean_cells(tmp_path):
    """Without damage, each truth row's cells hold its values as they are."""
    truth, _, rec = generate_file(FileSpec(11), tmp_path)
    ws = load_workbook(tmp_path / rec["source_file"])["Exposure data"]
    assert [c.value for c in ws[11]] == _TEMPLATE
    assert ws["A5"].value == "Data source" and ws["A7"].value == "Year"
    for row in truth:
        cells = [c.value for c in ws[row["source_row"]]]
        assert str(cells[0]) == row["facility_id"] and str(cells[1]) == row["exam_code"]
        for v, column in zip(cells[2:], NUMERIC):
            assert (v is None and math.isnan(row[column])) or v == row[column]
        assert row["data_source"] == ws["C5"].value and row["year"] == ws["C7"].value


def test_specs_and_files_are_reproducible(tmp_path):
    assert draw_specs(15, 3) == draw_specs(15, 3)
    spec = draw_specs(15, 3)[-1]
    a, ja, ra = generate_file(spec, tmp_path, "a/")
    b, jb, rb = generate_file(spec, tmp_path, "b/")
    assert pd.DataFrame(a).drop(columns="source_file").equals(pd.DataFrame(b).drop(columns="source_file"))
    assert [{**r, "source_file": ""} for r in ja] == [{**r, "source_file": ""} for r in jb]
    csv_spec = FileSpec(spec.seed, spec.kinds, "csv_de", spec.level)  # workbooks carry a time stamp
    _, _, rc = generate_file(csv_spec, tmp_path, "c/")
    _, _, rd = generate_file(csv_spec, tmp_path, "d/")
    assert (tmp_path / rc["source_file"]).read_bytes() == (tmp_path / rd["source_file"]).read_bytes()

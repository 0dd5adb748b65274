"""One selection policy: the DRL tables and the outlier analysis count the same values.

Also the catalogue as an immutable value (several DRL quantities per exam, no
stale cache) and outliers that are dose outliers, not data-quality flags.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from drl_analysis.analysis import outliers
from drl_analysis.analysis.analyse import analyse
from drl_analysis.analysis.clustering import dose_to_drl
from drl_analysis.cli import main
from drl_analysis.core.catalogue import load_catalogue
from drl_analysis.core.paths import CATALOGUE_FILE
from drl_analysis.ingest.template import write_template
from drl_analysis.stats import drl
from drl_analysis.stats.selection import STATUS_NAMES, select_values
from drl_analysis.synthetic.surveys import SurveyModel, simulate_exposures
from tests.test_drl import exposures_frame, store

#: A DLP DRL for the cranium CT (1010) beside its CTDIvol DRL, as the German CT DRLs give both.
DLP_1010 = 1050.0


def catalogue_with_dlp(tmp_path):
    """The shipped catalogue with a DLP DRL for exam 1010 (CTDIvol and DLP, as German CT DRLs)."""
    raw = pd.read_csv(CATALOGUE_FILE, dtype=str, keep_default_na=False)
    row = raw[raw["exam_code"] == "1010"].iloc[[0]].copy()
    row["quantity"], row["drl_value"], row["unit"] = "dlp_mgycm", str(DLP_1010), "mGy·cm"
    path = tmp_path / "catalogue_ct_dlp.csv"
    pd.concat([raw, row], ignore_index=True).to_csv(path, index=False)
    return path


def tricky_survey(seed: int = 4) -> pd.DataFrame:
    """Two sources of six facilities, twelve exams each of: 1010 (CTDIvol and DLP,
    a few in the 32 cm phantom against its 16 cm reference), the unknown CT code
    1999 (four facilities at 32 cm, two at 16 cm, so both phantoms) and 9003 (DAP);
    some values flagged at ingest (unit slips, out of range)."""
    rng = np.random.default_rng(seed)
    rows = []
    for source in ("A", "B"):
        for fac in range(1, 7):
            level = rng.lognormal(0.0, 0.3)
            for i in range(12):
                ph = 32.0 if i == 0 and fac % 3 == 0 else 16.0
                ctdi = 55 * level * rng.lognormal(0, 0.2) * (0.4 if ph == 32 else 1.0)
                rows.append({"data_source": source, "facility_id": str(fac), "exam_code": "1010",
                             "ctdivol_mgy": ctdi, "dlp_mgycm": ctdi * 17, "ctdi_phantom_cm": ph})
                ph = 32.0 if fac <= 4 else 16.0
                ctdi = 12 * level * rng.lognormal(0, 0.2) * (2.5 if ph == 16 else 1.0)
                rows.append({"data_source": source, "facility_id": str(fac), "exam_code": "1999",
                             "ctdivol_mgy": ctdi, "dlp_mgycm": ctdi * 30, "ctdi_phantom_cm": ph,
                             "flags": "unknown_exam_code"})
                rows.append({"data_source": source, "facility_id": str(fac), "exam_code": "9003",
                             "dap_cgycm2": 10 * level * rng.lognormal(0, 0.25)})
    frame = exposures_frame(rows)
    dap = frame.index[frame["dap_cgycm2"].notna()][:4]
    frame.loc[dap, "dap_cgycm2"] *= 100
    frame.loc[dap, "flags"] = "unit_slip_x100:dap_cgycm2"
    ct = frame.index[frame["exam_code"] == "1010"][5:7]
    frame.loc[ct, "ctdivol_mgy"] = 900.0
    frame.loc[ct, "flags"] = "out_of_range:ctdivol_mgy"
    return frame


def test_drl_and_analyse_count_the_same_values_of_the_same_database(tmp_path, capsys):
    catalogue = catalogue_with_dlp(tmp_path)
    url = store(tmp_path, tricky_survey())
    assert main(["drl", "--db", url, "--out", str(tmp_path / "drl"), "--catalogue", str(catalogue),
                 "--bootstrap", "0"]) == 0
    assert main(["analyse", "--db", url, "--out", str(tmp_path / "an"), "--catalogue", str(catalogue)]) == 0
    capsys.readouterr()
    table = pd.read_csv(tmp_path / "drl" / "drl_table.csv", dtype={"exam_code": str})
    excluded = pd.read_csv(tmp_path / "an" / "excluded_values.csv", dtype={"exam_code": str})

    # The DRL table counts the exams of counted facilities and of those below the minimum.
    drl_counted = table.set_index(["exam_code", "quantity"])
    drl_counted = (drl_counted["n_exams"] + drl_counted["n_exams_below_min"]).sort_index()
    totals = excluded.groupby(["exam_code", "quantity"])["n_total"].first()
    left_out = excluded.groupby(["exam_code", "quantity"])["n_values"].sum()
    analysed = (totals - left_out).reindex(drl_counted.index)
    assert analysed.tolist() == drl_counted.tolist()

    # ... and leave out the same values for the same reasons.
    by_status = excluded.pivot_table(index=["exam_code", "quantity"], columns="status", values="n_values",
                                     aggfunc="sum", fill_value=0)
    drl_rows = table.set_index(["exam_code", "quantity"])
    for (code, quantity), row in drl_rows.iterrows():
        got = by_status.loc[(code, quantity)] if (code, quantity) in by_status.index else pd.Series(dtype=int)
        assert row["n_excluded_implausible"] == got.get("implausible_at_ingest", 0) + got.get("not_positive", 0)
        assert row["n_excluded_phantom"] == got.get("other_phantom", 0)

    # The unknown CT code: its 16 cm values (two facilities of each source) are left out
    # by both, 32 cm being the phantom most of its values state; never pooled.
    unknown = drl_rows.loc[("1999", "ctdivol_mgy")]
    assert unknown["n_excluded_phantom"] == 2 * 2 * 12 and unknown["ctdi_phantom_cm"] == 32
    assert by_status.loc[("1999", "ctdivol_mgy"), "other_phantom"] == 48

    # Several DRL quantities per exam: both rows, each with its current DRL.
    assert drl_rows.loc[("1010", "ctdivol_mgy"), "current_drl"] == 60
    assert drl_rows.loc[("1010", "dlp_mgycm"), "current_drl"] == DLP_1010


def test_the_selection_gives_every_value_one_status_and_the_drl_table_agrees(tmp_path):
    frame = tricky_survey()
    catalogue = load_catalogue(catalogue_with_dlp(tmp_path))
    chosen = select_values(frame, catalogue).frame()
    assert set(chosen["status"]) <= set(STATUS_NAMES)
    assert chosen.groupby(["row", "quantity"]).size().max() == 1
    used = chosen[chosen["status"] == "used"].assign(exam_code=lambda d: frame["exam_code"].to_numpy()[d["row"]])
    table = drl.drl_table(frame, catalogue, min_per_facility=1, n_bootstrap=0).set_index(["exam_code", "quantity"])
    assert used.groupby(["exam_code", "quantity"]).size().sort_index().tolist() == table["n_exams"].sort_index().tolist()
    scored = outliers.dose_values(frame, catalogue)
    assert scored["status"].tolist() == chosen["status"].tolist()


def test_clusters_and_template_handle_several_drl_quantities_per_exam(tmp_path):
    catalogue = load_catalogue(catalogue_with_dlp(tmp_path))
    assert catalogue.drl_quantities("1010") == ("ctdivol_mgy", "dlp_mgycm")
    assert catalogue.drl_quantities("9003") == ("dap_cgycm2",)
    assert catalogue.drl_quantities("1999") == ()
    ratios = dose_to_drl(tricky_survey(), catalogue)
    assert set(ratios.loc[ratios["exam_code"] == "1010", "quantity"]) == {"ctdivol_mgy", "dlp_mgycm"}
    path = write_template(tmp_path / "template.xlsx", catalogue=catalogue)
    from openpyxl import load_workbook

    sheet = load_workbook(path)["Examination codes"]
    row = next(r for r in sheet.iter_rows(values_only=True) if r[0] == 1010)
    assert "ctdivol_mgy" in row[3] and "dlp_mgycm" in row[3]


def test_an_edited_catalogue_file_is_read_again_and_an_unchanged_one_is_not(tmp_path):
    path = catalogue_with_dlp(tmp_path)
    first = load_catalogue(path)
    assert load_catalogue(path) is first
    assert first.current_drl("1010", "dlp_mgycm") == (DLP_1010, "DE-2016")
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    raw.loc[(raw["exam_code"] == "1010") & (raw["quantity"] == "dlp_mgycm"), "drl_value"] = "950"
    raw.to_csv(path, index=False)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    again = load_catalogue(path)
    assert again.current_drl("1010", "dlp_mgycm") == (950.0, "DE-2016")
    assert first.current_drl("1010", "dlp_mgycm") == (DLP_1010, "DE-2016")  # a value, unchanged


def test_the_catalogue_cannot_be_edited_in_place_only_replaced(tmp_path):
    catalogue = load_catalogue()
    before = catalogue.current_drl("9003", "dap_cgycm2")
    drls = catalogue.drls
    drls.loc[drls["exam_code"] == "9003", "drl_value"] = 1.0  # edits a copy
    assert catalogue.current_drl("9003", "dap_cgycm2") == before
    with pytest.raises(AttributeError):
        catalogue.source = "elsewhere"
    edited = catalogue.with_drl("9003", "dap_cgycm2", before[1], 99.0)
    assert edited.current_drl("9003", "dap_cgycm2") == (99.0, before[1])
    assert catalogue.current_drl("9003", "dap_cgycm2") == before


def test_outliers_of_clean_data_with_unknown_codes_are_few_and_the_unknown_codes_are_data_quality():
    model = SurveyModel(facilities_per_source=10, exams=("1030", "9003", "9010", "9201"), exams_per_facility=3,
                        patients_per_exam=(8, 20), other_phantom_share=0.0)
    frame = simulate_exposures(model, seed=11).drop(columns="facility_level").reset_index(drop=True)
    frame = frame.head(4000).copy()
    frame["source_file"], frame["sheet"], frame["source_row"] = "f.csv", "", np.arange(2, len(frame) + 2)
    frame["flags"] = ""
    # Exam codes the catalogue does not know (new codes of a medical body).
    unknown = frame["exam_code"] == "9010"
    frame.loc[unknown, "exam_code"] = "9990"
    frame.loc[unknown, "flags"] = "unknown_exam_code"
    rng = np.random.default_rng(11)
    slips = rng.choice(np.flatnonzero(frame["dap_cgycm2"].notna()), size=30, replace=False)
    frame.loc[slips, "dap_cgycm2"] *= 100
    result = analyse(frame, load_catalogue(), k=2)
    found = result.tables["outliers"]
    slipped = set(frame.loc[slips, "source_row"])
    named = set(found.loc[found["reason_kind"] == "unit_slip", "source_row"])
    assert slipped <= named
    clean_listed = found[~found["source_row"].isin(slipped)]
    assert len(clean_listed) < 0.01 * (len(frame) - len(slips))
    quality = result.tables["data_quality"]
    assert set(quality.loc[quality["issue"] == "unknown_exam_code", "exam_code"]) == {"9990"}
    assert (quality["issue"] == "unknown_exam_code").sum() == frame.loc[unknown, ["dap_cgycm2"]].notna().sum().sum()

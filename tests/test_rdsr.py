"""DICOM dose reports (RDSR) read into the survey tables: templates, units,
localizers and phantoms, vendor quirks, the procedure map, duplicates and
cumulative updates, patients, bad inputs, and a generated set against its truth."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import math
import sqlite3
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from conftest import survey_rows, template_row

from drl_analysis import cli
from drl_analysis.core.errors import UserError
from drl_analysis.ingest import rdsr as reader
from drl_analysis.ingest.overview import accounting_tables
from drl_analysis.ingest.rdsr import CONCEPTS, QUIRKS, ProcedureMap, read_report
from drl_analysis.ingest.rdsr import writer as rdsr_writer
from drl_analysis.store.database import load_rdsr, load_table
from drl_analysis.synthetic import rdsr as gen
from drl_analysis.synthetic.rdsr import CtEvent, XrayEvent, example_ct, example_projection

SOURCE_FOLDER = "Aerztliche_Stelle_Nord_2024"


@pytest.fixture
def put(tmp_path):
    """Write a study into ``tmp_path/in/<folder>/``: ``put(study, folder=..., name=..., **encoding)``."""

    def write(study, folder: str = SOURCE_FOLDER, name: str | None = None, **kwargs) -> Path:
        return gen.write_rdsr(study, tmp_path / "in" / folder / (name or study.file_name), **kwargs)

    return write


def _stored(run) -> pd.DataFrame:
    return load_rdsr(run.db)


def _only(run) -> pd.Series:
    rows = _stored(run)
    assert len(rows) == 1, run.summary.text()
    return rows.iloc[0]


def _rules(run) -> list[str]:
    return sorted(load_table(run.db, "repairs")["rule"])


def _rejection(run) -> str:
    r = load_table(run.db, "rejections")
    assert len(r) == 1, r.to_string()
    return r["reason"].iloc[0]


def _failure(run) -> str:
    failed = [f for f in run.summary.files if f.status == "failed"]
    assert len(failed) == 1, run.summary.text()
    return failed[0].message


# --- templates ---------------------------------------------------------------


def test_ct_report_gives_the_dlp_total_and_the_largest_ctdivol_of_its_scans(put, ingest):
    events = [
        CtEvent("localizer", "Topogramm", None, Decimal("4"), 32, "2.25.1"),
        CtEvent("spiral", "Thorax", Decimal("8.5"), Decimal("300"), 32, "2.25.2"),
        CtEvent("sequenced", "Thorax 2", Decimal("12.25"), Decimal("96"), 32, "2.25.3"),
        CtEvent("stationary", "Bolus", Decimal("3"), Decimal("1.5"), 32, "2.25.4"),
    ]
    run = ingest(put(example_ct(events=events, description="CT Thorax")))
    row = _only(run)
    assert row["source_file"] == "ct.dcm"
    assert row["dlp_mgycm"] == pytest.approx(401.5, rel=1e-12)
    assert row["ctdivol_mgy"] == 12.25
    assert row["ctdi_phantom_cm"] == 32
    assert row["exam_code"] == "1030"
    assert row["sheet"] == "RDSR" and row["source_row"] == 1
    assert row["template"] == "ct"
    assert math.isnan(row["dap_cgycm2"])


def test_localizer_is_left_out_of_ctdivol_even_when_it_is_the_largest(put, ingest):
    events = [
        CtEvent("localizer", "Topogramm", Decimal("90"), Decimal("10"), 16, "2.25.1"),
        CtEvent("spiral", "Kopf", Decimal("48"), Decimal("700"), 16, "2.25.2"),
    ]
    run = ingest(put(example_ct(events=events)))
    row = _only(run)
    assert row["ctdivol_mgy"] == 48
    assert row["dlp_mgycm"] == 710  # the DLP total counts every event


def test_report_of_localizers_only_stores_its_dlp_without_ctdivol(put, ingest):
    events = [CtEvent("localizer", "Topogramm", Decimal("0.3"), Decimal("6"), 32, "2.25.1")]
    run = ingest(put(example_ct(events=events)))
    row = _only(run)
    assert row["dlp_mgycm"] == 6 and math.isnan(row["ctdivol_mgy"]) and math.isnan(row["ctdi_phantom_cm"])


@pytest.mark.parametrize("phantom", [16, 32])
def test_ctdivol_phantom_is_that_of_its_event(put, ingest, phantom):
    other = 48 - phantom  # 32 or 16
    events = [
        CtEvent("spiral", "A", Decimal("20"), Decimal("300"), phantom, "2.25.1"),
        CtEvent("spiral", "B", Decimal("10"), Decimal("200"), other, "2.25.2"),
    ]
    run = ingest(put(example_ct(events=events)))
    row = _only(run)
    assert (row["ctdivol_mgy"], row["ctdi_phantom_cm"]) == (20, phantom)
    assert "mixed_phantoms:dlp_mgycm" in row["flags"]


def test_study_on_one_phantom_is_not_flagged_mixed(put, ingest):
    assert "mixed_phantoms" not in _only(ingest(put(example_ct())))["flags"]


def test_ctdivol_of_an_event_without_phantom_is_not_stored_and_logged(put, ingest):
    events = [CtEvent("spiral", "Kopf", Decimal("50"), Decimal("800"), None, "2.25.2")]
    run = ingest(put(example_ct(events=events)))
    row = _only(run)
    assert math.isnan(row["ctdivol_mgy"]) and math.isnan(row["ctdi_phantom_cm"]) and row["dlp_mgycm"] == 800
    assert _rules(run) == ["rdsr_ctdivol_without_phantom"]


def test_projection_report_gives_dap_total_and_its_parts(put, ingest):
    run = ingest(put(example_projection()))
    row = _only(run)
    assert row["dap_cgycm2"] == pytest.approx(3000, rel=1e-12)
    assert row["dap_fluoro_cgycm2"] == pytest.approx(1000, rel=1e-12)
    assert row["dap_acquisition_cgycm2"] == pytest.approx(2000, rel=1e-12)
    assert row["fluoro_time_min"] == pytest.approx(5, rel=1e-12)
    assert row["dose_rp_mgy"] == pytest.approx(300, rel=1e-12)
    assert row["exam_code"] == "9101" and row["template"] == "projection"
    assert math.isnan(row["dlp_mgycm"]) and math.isnan(row["ctdivol_mgy"])
    assert _rules(run) == []


def test_biplane_report_sums_both_planes(put, ingest):
    events = [
        XrayEvent("fluoroscopy", "A", "P", Decimal("500"), Decimal("40"), Decimal("120"), "2.25.1"),
        XrayEvent("fluoroscopy", "B", "P", Decimal("300"), Decimal("30"), Decimal("60"), "2.25.2"),
        XrayEvent("stationary", "A", "P", Decimal("700"), Decimal("70"), Decimal("4"), "2.25.3"),
    ]
    row = _only(ingest(put(example_projection(events=events))))
    assert row["dap_cgycm2"] == pytest.approx(1500, rel=1e-12)
    assert row["dap_fluoro_cgycm2"] == pytest.approx(800, rel=1e-12)
    assert row["dap_acquisition_cgycm2"] == pytest.approx(700, rel=1e-12)
    assert row["fluoro_time_min"] == pytest.approx(3, rel=1e-12)
    assert row["dose_rp_mgy"] == pytest.approx(140, rel=1e-12)


def test_radiography_report_has_no_fluoroscopy_parts(put, ingest):
    events = [XrayEvent("stationary", "single", "Thorax", Decimal("12.5"), Decimal("1"), Decimal("0.02"), "2.25.1")]
    study = example_projection(events=events, radiography=True, description="Thorax p.a.")
    row = _only(ingest(put(study)))
    assert row["dap_cgycm2"] == 12.5 and row["exam_code"] == "9003"
    assert all(math.isnan(row[c]) for c in ("dap_fluoro_cgycm2", "dap_acquisition_cgycm2", "fluoro_time_min"))
    assert row["dose_rp_mgy"] == pytest.approx(1, rel=1e-12)


# --- units -------------------------------------------------------------------


@pytest.mark.parametrize("unit", list(gen.DAP_UNITS))
def test_dap_unit_from_its_ucum_code(put, ingest, unit):
    row = _only(ingest(put(example_projection(units={"dap": unit, "dose": "Gy", "time": "s"}))))
    assert row["dap_cgycm2"] == pytest.approx(3000, rel=1e-12)
    assert row["dap_fluoro_cgycm2"] == pytest.approx(1000, rel=1e-12)


@pytest.mark.parametrize("unit", list(gen.DOSE_UNITS))
def test_dose_at_reference_point_unit_from_its_ucum_code(put, ingest, unit):
    row = _only(ingest(put(example_projection(units={"dap": "Gy.m2", "dose": unit, "time": "s"}))))
    assert row["dose_rp_mgy"] == pytest.approx(300, rel=1e-12)


@pytest.mark.parametrize("unit", list(gen.DLP_UNITS))
def test_dlp_unit_from_its_ucum_code(put, ingest, unit):
    row = _only(ingest(put(example_ct(units={"dlp": unit, "ctdivol": "mGy"}))))
    assert row["dlp_mgycm"] == pytest.approx(805, rel=1e-12)
    assert row["ctdivol_mgy"] == 50


def _with_unit(data: bytes, old: str, new: str) -> bytes:
    """The file with one unit code replaced (same length, so nothing else moves)."""
    assert len(old) == len(new)
    return data.replace(old.encode(), new.encode())


@pytest.mark.parametrize(("unit", "why"), [
    ("R.cm2", "unknown unit 'R.cm2' of Dose Area Product Total (UCUM code not known)"),
    ("mGy.m", "unknown unit 'mGy.m' of Dose Area Product Total (UCUM code not known)"),
    ("gy.m2", "unknown unit 'gy.m2' of Dose Area Product Total (UCUM code not known)"),
])
def test_unknown_unit_rejects_the_study_with_its_reason(tmp_path, ingest, unit, why):
    study = example_projection(events=[
        XrayEvent("stationary", "single", "P", Decimal("2000"), Decimal("200"), Decimal("5"), "2.25.1")])
    data = gen.rdsr_bytes(study)
    # Only the DAP total's unit: the first Gy.m2 after the DAP total concept.
    at = data.index(b"113722")
    head, tail = data[:at], data[at:]
    path = tmp_path / SOURCE_FOLDER / "x.dcm"
    path.parent.mkdir()
    path.write_bytes(head + tail.replace(b"Gy.m2", unit.encode(), 1))
    run = ingest(path.parent)
    assert _stored(run).empty
    assert _rejection(run) == why
    t = run.summary.totals()
    assert (t["rows_read"], t["rows_stored"], t["rows_rejected"]) == (1, 0, 1)


def test_unit_of_another_quantity_rejects_the_study(tmp_path, ingest):
    study = example_ct(units={"dlp": "mGy.cm", "ctdivol": "mGy"})
    data = gen.rdsr_bytes(study)
    at = data.index(b"113813")  # CT Dose Length Product Total
    path = tmp_path / SOURCE_FOLDER / "x.dcm"
    path.parent.mkdir()
    path.write_bytes(data[:at] + data[at:].replace(b"mGy.cm", b"Gy.m2 ", 1))
    run = ingest(path.parent)
    assert _rejection(run) == "unit 'Gy.m2' of CT Dose Length Product Total is not a unit of dose-length product"


def test_unit_not_coded_in_ucum_rejects_the_study(tmp_path, ingest):
    data = gen.rdsr_bytes(example_ct())
    at = data.index(b"113813")
    path = tmp_path / SOURCE_FOLDER / "x.dcm"
    path.parent.mkdir()
    path.write_bytes(data[:at] + data[at:].replace(b"UCUM", b"99XY", 1))
    run = ingest(path.parent)
    assert _rejection(run) == "unknown unit 'mGy.cm' of CT Dose Length Product Total: coded in scheme '99XY', not UCUM"


# --- missing accumulated container, quirks --------------------------------------


def test_projection_report_without_accumulated_container_sums_its_events_and_logs_it(put, ingest):
    run = ingest(put(example_projection(quirks=("no_accumulated",))))
    row = _only(run)
    assert row["dap_cgycm2"] == pytest.approx(3000, rel=1e-12)
    assert row["dap_fluoro_cgycm2"] == pytest.approx(1000, rel=1e-12)
    assert row["dap_acquisition_cgycm2"] == pytest.approx(2000, rel=1e-12)
    assert row["fluoro_time_min"] == pytest.approx(5, rel=1e-12)
    assert row["dose_rp_mgy"] == pytest.approx(300, rel=1e-12)
    assert _rules(run) == ["rdsr_events_summed"]
    assert "no Accumulated X-Ray Dose Data; values summed over 2 irradiation events" in run.summary.files[0].notes


def test_ct_report_without_accumulated_container_sums_the_event_dlps(put, ingest):
    run = ingest(put(example_ct(quirks=("no_accumulated",))))
    assert _only(run)["dlp_mgycm"] == 805
    assert _rules(run) == ["rdsr_events_summed"]


@pytest.mark.parametrize("kind", ["ct", "projection"])
def test_missing_template_identifier_is_inferred_and_logged(put, ingest, kind):
    study = (example_ct if kind == "ct" else example_projection)(quirks=("no_template_id",))
    run = ingest(put(study))
    assert _only(run)["template"] == kind
    repair = load_table(run.db, "repairs").iloc[0]
    assert repair["rule"] == "rdsr_template_inferred"
    assert repair["after"] == ("TID 10011" if kind == "ct" else "TID 10001")


def test_dose_containers_inside_a_private_container_are_read_and_logged(put, ingest):
    run = ingest(put(example_projection(quirks=("private_container",))))
    assert _only(run)["dap_cgycm2"] == pytest.approx(3000, rel=1e-12)
    repair = load_table(run.db, "repairs").iloc[0]
    assert (repair["rule"], repair["before"]) == ("rdsr_private_container", f"{gen.PRIVATE_SCHEME}:RADSUM")


def test_dap_of_the_listed_device_model_is_read_in_its_real_unit_and_logged(put, ingest):
    device = dataclasses.replace(gen.EXAMPLE_XA_DEVICE, model=gen.QUIRK_MODEL)
    run = ingest(put(example_projection(device=device, quirks=("dap_unit_of_model",))))
    row = _only(run)
    assert row["dap_cgycm2"] == pytest.approx(3000, rel=1e-12)  # written 300 "Gy.m2", meaning dGy·cm²
    repair = load_table(run.db, "repairs").iloc[0]
    assert (repair["rule"], repair["before"], repair["after"]) == ("rdsr_dap_unit_of_model", "300 Gy.m2",
                                                                     "300 dGy.cm2")


def test_dap_of_other_device_models_is_read_as_coded(put, ingest):
    # The same numbers from a model not on the list: read as Gy·m², far out of range.
    row = _only(ingest(put(example_projection(quirks=("dap_unit_of_model",)))))
    assert row["dap_cgycm2"] == pytest.approx(300e6, rel=1e-12)
    assert "out_of_range:dap_cgycm2" in row["flags"]


def test_weight_zero_is_read_as_missing_and_logged(put, ingest):
    run = ingest(put(example_ct(weight_text="0")))
    assert math.isnan(_only(run)["weight_kg"])
    assert _rules(run) == ["rdsr_weight_zero"]


def test_every_documented_quirk_is_covered_here():
    tested = {"rdsr_template_inferred", "rdsr_private_container", "rdsr_dap_unit_of_model", "rdsr_weight_zero",
              "rdsr_events_summed"}
    assert {q.rule for q in QUIRKS} == tested
    assert set(gen.QUIRK_NAMES) == {"no_template_id", "private_container", "dap_unit_of_model", "weight_zero",
                                    "no_accumulated"}


def test_older_snomed_rt_codes_read_as_snomed_ct(put, ingest):
    events = [
        CtEvent("localizer", "Topo", Decimal("60"), Decimal("5"), 16, "2.25.1"),
        CtEvent("spiral", "Kopf", Decimal("50"), Decimal("800"), 16, "2.25.2"),
    ]
    ct = _only(ingest(put(example_ct(events=events, srt_codes=True))))
    assert ct["ctdivol_mgy"] == 50  # the spiral (SRT P5-08001) counts, the localizer does not
    xa = _only(ingest(put(example_projection(srt_codes=True, quirks=("no_accumulated",)), folder="b_2024")))
    assert xa["dap_fluoro_cgycm2"] == pytest.approx(1000, rel=1e-12)  # fluoroscopy as SRT P5-06000


def test_every_concept_read_is_in_pydicoms_code_dictionary():
    from pydicom.sr._snomed_dict import mapping
    from pydicom.sr.codedict import codes

    for name, (scheme, keyword, value) in CONCEPTS.items():
        code = getattr(getattr(codes, scheme), keyword)
        assert (code.scheme_designator, code.value) == (scheme, value), name
    for srt, sct in reader.SRT_EQUIVALENTS.items():
        assert mapping["SRT"][srt] == sct and mapping["SCT"][sct] == srt
    snomed = {v for s, _, v in CONCEPTS.values() if s == "SCT"} - {"116152004"}
    assert snomed == set(reader.SRT_EQUIVALENTS.values())


# --- encodings -------------------------------------------------------------------


@pytest.mark.parametrize("encoding", [
    {"undefined": True},
    {"syntax": gen.IMPLICIT_LE},
    {"syntax": gen.DEFLATED_LE},
    {"syntax": gen.IMPLICIT_LE, "undefined": True},
])
def test_other_encodings_give_the_same_values(put, ingest, encoding):
    row = _only(ingest(put(example_projection(), **encoding)))
    assert row["dap_cgycm2"] == pytest.approx(3000, rel=1e-12)
    assert row["fluoro_time_min"] == pytest.approx(5, rel=1e-12)


def test_big_endian_file_is_read_through_pydicom(tmp_path, ingest):
    import pydicom

    ds = pydicom.dcmread(io.BytesIO(gen.rdsr_bytes(example_ct())))
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.2"
    path = tmp_path / SOURCE_FOLDER / "be.dcm"
    path.parent.mkdir()
    try:
        pydicom.dcmwrite(path, ds, little_endian=False, implicit_vr=False, force_encoding=True)
    except TypeError:  # pydicom < 3
        ds.is_little_endian, ds.is_implicit_VR = False, False
        ds.save_as(path, write_like_original=False)
    assert path.read_bytes()[128:132] == b"DICM"
    row = _only(ingest(path.parent))
    assert (row["dlp_mgycm"], row["ctdivol_mgy"]) == (805, 50)


def _totals_by_pydicom(items, quirks: tuple, found: dict) -> dict:
    """DLP and DAP totals of a report as pydicom's data model gives them (canonical units)."""
    for it in items:
        c = it.ConceptNameCodeSequence[0]
        if it.ValueType == "NUM" and c.CodeValue in ("113813", "113722"):
            mv = it.MeasuredValueSequence[0]
            unit = mv.MeasurementUnitsCodeSequence[0].CodeValue
            family = "dap" if c.CodeValue == "113722" else "dlp"
            exp = (gen.DAP_UNITS if family == "dap" else gen.DLP_UNITS)[unit]
            if "dap_unit_of_model" in quirks:
                exp = gen.DAP_UNITS["dGy.cm2"]
            found.setdefault(family, []).append(float(Decimal(str(mv.NumericValue)).scaleb(exp)))
        if "ContentSequence" in it:
            _totals_by_pydicom(it.ContentSequence, quirks, found)
    return found


def test_reader_agrees_with_pydicom_on_generated_reports(tmp_path):
    """An independent check of both the generator and the byte parser: the
    values pydicom finds by walking each report equal what the reader stores."""
    import pydicom

    g = gen.write_rdsrs(tmp_path, 40, seed=4, bad_rate=0, update_rate=0, resend_rate=0)
    for path, study in zip(g.files, g.studies):
        ds = pydicom.dcmread(path)
        found = _totals_by_pydicom(ds.ContentSequence, study.quirks, {})
        rep = read_report(path, data_source="X")
        if study.kind == "ct" and "no_accumulated" not in study.quirks:
            assert rep.exposure["dlp_mgycm"] == pytest.approx(sum(found["dlp"]), rel=1e-9)
        elif study.kind == "projection" and "no_accumulated" not in study.quirks:
            assert rep.exposure["dap_cgycm2"] == pytest.approx(sum(found["dap"]), rel=1e-9)
        assert ds.SOPClassUID == gen.RDSR_SOP_CLASS


# --- patient, year, facility, data source ------------------------------------


@pytest.mark.parametrize(("text", "years"), [
    ("045Y", 45.0), ("006M", 0.5), ("010W", 70 / 365.25), ("003D", 3 / 365.25), ("000D", 0.0),
])
def test_age_from_patients_age(put, ingest, text, years):
    assert _only(ingest(put(example_ct(age_text=text))))["age_years"] == pytest.approx(years, rel=1e-12)


def test_age_from_birth_date_and_study_date(put, ingest):
    study = example_ct(age_text=None, birth_date=dt.date(1980, 3, 5))
    assert _only(ingest(put(study)))["age_years"] == pytest.approx(16071 / 365.25, rel=1e-12)


def test_patients_age_wins_over_birth_date(put, ingest):
    study = example_ct(age_text="044Y", birth_date=dt.date(1980, 3, 5))
    assert _only(ingest(put(study)))["age_years"] == 44


@pytest.mark.parametrize(("text", "rule", "years"), [("45Y", "rdsr_age_format", 45.0),
                                                     ("45", "unreadable_value", None)])
def test_age_written_otherwise_is_logged(tmp_path, ingest, text, rule, years):
    data = gen.rdsr_bytes(example_ct(age_text="045Y", birth_date=dt.date(1979, 3, 5)))
    path = tmp_path / SOURCE_FOLDER / "x.dcm"
    path.parent.mkdir()
    path.write_bytes(data.replace(b"045Y", text.encode().ljust(4)))
    run = ingest(path.parent)
    age = _only(run)["age_years"]
    assert age == pytest.approx(years if years is not None else 16437 / 365.25, rel=1e-12)
    assert _rules(run) == [rule]


def test_weight_from_patients_weight(put, ingest):
    assert _only(ingest(put(example_ct(weight_text="72.5"))))["weight_kg"] == 72.5


def test_year_from_study_date_else_content_date_else_given(put, ingest):
    assert _only(ingest(put(example_ct(study_date=dt.date(2023, 12, 31)))))["year"] == 2023
    no_study_date = example_ct("b", study_date=None, content_time=dt.datetime(2022, 1, 2, 3, 4))
    run = ingest(put(no_study_date, folder="b_2024"))
    assert _only(run)["year"] == 2022
    assert "no study date; the year from the content date" in run.summary.files[0].notes


def test_facility_is_the_device_observer_uid_by_default(put, ingest):
    assert _only(ingest(put(example_ct())))["facility_id"] == gen.EXAMPLE_CT_DEVICE.uid


@pytest.mark.parametrize(("mode", "expected"), [("station", "CT01"), ("institution", "Klinikum Nordstadt")])
def test_facility_from_station_or_institution(put, ingest, mode, expected):
    row = _only(ingest(put(example_ct()), rdsr_facility=mode))
    assert row["facility_id"] == expected


def test_data_source_from_the_folder_name_else_from_the_option(put, ingest):
    assert _only(ingest(put(example_ct())))["data_source"] == "Aerztliche Stelle Nord"
    path = put(example_ct("b"), folder="export")
    assert _only(ingest(path, data_source="Aerztliche Stelle Ost"))["data_source"] == "Aerztliche Stelle Ost"


def test_report_without_data_source_is_rejected_with_its_reason(put, ingest):
    run = ingest(put(example_ct(), folder="export"))
    assert _rejection(run).startswith("no data source: put the file in a folder named like")


def test_identifying_fields_are_not_stored(put, ingest, tmp_path):
    study = example_ct()
    run = ingest(put(study))
    con = sqlite3.connect(run.db.removeprefix("sqlite:///"))
    dump = "\n".join(con.iterdump())
    for secret in (study.sop_uid, study.study_uid, study.series_uid, "SYNTHETIC^PATIENT", study.events[0].uid):
        assert secret not in dump
    assert study.device.uid in dump  # the facility ID the survey tables need


# --- the procedure map -------------------------------------------------------------


def _map(tmp_path, rows: list[str], name: str = "map.csv") -> Path:
    path = tmp_path / name
    path.write_text("report,field,pattern,exam_code\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_exact_pattern_matches_case_insensitively_ignoring_surrounding_spaces(tmp_path, put, ingest):
    path = _map(tmp_path, ["ct,study_description,  ct schädel NATIV ,1010"])
    row = _only(ingest(put(example_ct(description=" CT Schädel nativ")), procedure_map=path))
    assert (row["exam_code"], row["map_row"]) == ("1010", 2)


def test_exact_pattern_does_not_match_a_part_of_the_text(tmp_path, put, ingest):
    path = _map(tmp_path, ["ct,study_description,CT Schädel,1010"])
    assert _only(ingest(put(example_ct()), procedure_map=path))["exam_code"] is None


def test_regular_expression_pattern(tmp_path, put, ingest):
    path = _map(tmp_path, [r"ct,study_description,re:sch(ä|ae)del\s+nativ$,1010"])
    row = _only(ingest(put(example_ct(description="CCT / SCHAEDEL  nativ")), procedure_map=path))
    assert row["exam_code"] == "1010"


def test_first_matching_row_wins_in_file_order(tmp_path, put, ingest):
    path = _map(tmp_path, ["ct,study_description,re:thorax,1030", "ct,study_description,re:thorax.*becken,1065"])
    row = _only(ingest(put(example_ct(description="CT Thorax/Abdomen/Becken")), procedure_map=path))
    assert row["exam_code"] == "1030"


def test_map_row_applies_to_its_report_kind_only(tmp_path, put, ingest):
    path = _map(tmp_path, ["projection,study_description,re:schädel,9001", ",study_description,re:schädel,1010"])
    assert _only(ingest(put(example_ct()), procedure_map=path))["exam_code"] == "1010"


@pytest.mark.parametrize(("row", "changes"), [
    ("ct,requested_procedure,CT KOPF NATIV,1010", {"requested": "ct kopf nativ"}),
    ("ct,protocol,re:^kopf,1010", {}),
    ("ct,procedure_code,RP-CT-17,1010", {"procedure_code": ("RP-CT-17", "99ORBIS", "CT Kopf")}),
    ("ct,procedure_code,99ORBIS:RP-CT-17,1010", {"procedure_code": ("RP-CT-17", "99ORBIS", "CT Kopf")}),
])
def test_every_field_of_the_map(tmp_path, put, ingest, row, changes):
    path = _map(tmp_path, [row])
    study = example_ct(description="Untersuchung", **changes)
    assert _only(ingest(put(study), procedure_map=path))["exam_code"] == "1010"


def test_unmapped_study_is_stored_flagged_and_summarised_by_description(tmp_path, put, ingest):
    put(example_ct("a", description="CT Sonderprotokoll"))
    put(example_ct("b", description="CT Sonderprotokoll"))
    put(example_projection("c", description="Phlebographie"))
    put(example_ct("d"))
    run = ingest(tmp_path / "in")
    rows = _stored(run)
    assert len(rows) == 4
    unmapped = rows[rows["exam_code"].isna()]
    assert len(unmapped) == 3 and (unmapped["flags"] == "unmapped_procedure").all()
    table = accounting_tables(run.db)["unmapped_procedures"]
    assert table[["report", "study_description", "studies"]].values.tolist() == [
        ["ct", "CT Sonderprotokoll", 2], ["projection", "Phlebographie", 1]]


@pytest.mark.parametrize(("text", "why"), [
    ("report,field,pattern\nct,study_description,x\n", "the first line must name exactly the columns"),
    ("report,field,pattern,exam_code\nmr,study_description,x,1\n",
     "line 2: report 'mr' is not ct, projection or empty"),
    ("report,field,pattern,exam_code\nct,modality,x,1\n", "line 2: field 'modality' is not one of"),
    ("report,field,pattern,exam_code\nct,protocol,re:(,1\n", "line 2: '(' is not a regular expression"),
    ("report,field,pattern,exam_code\nct,protocol, ,1\n", "line 2: the pattern is empty"),
    ("report,field,pattern,exam_code\nct,protocol,x,\n", "line 2: the exam code is empty"),
])
def test_bad_procedure_map_is_refused_naming_line_and_reason(tmp_path, text, why):
    path = tmp_path / "map.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UserError, match=why.replace("(", r"\(").replace(")", r"\)")):
        ProcedureMap.load(path)


def test_shipped_map_gives_catalogue_exam_codes_to_the_generated_studies(catalogue):
    m = ProcedureMap.load()
    assert all(rule.exam_code in catalogue.codes for rule in m.rules)
    for description, code, *_ in gen.CT_STUDIES:
        assert m.match("ct", {"study_description": (description,)})[0] == code, description
    for description, code, *_ in gen.PROJECTION_STUDIES:
        assert m.match("projection", {"study_description": (description,)})[0] == code, description


# --- duplicates and cumulative updates ------------------------------------------


def test_same_report_sent_again_adds_nothing(put, ingest, tmp_path):
    study = example_ct()
    put(study)
    put(dataclasses.replace(study, bad="resent"), name="ct_again.dcm")  # other bytes, same SOP instance
    run = ingest(tmp_path / "in")
    assert len(_stored(run)) == 1
    assert _rejection(run) == f"the same report (SOP instance) was read before from {SOURCE_FOLDER}/ct.dcm"
    again = ingest(tmp_path / "in", db=run.db)
    assert again.summary.totals()["files_already_stored"] == 2 and len(_stored(again)) == 1


def _partial_and_full():
    full = example_projection("full", events=[
        XrayEvent("fluoroscopy", "single", "P", Decimal("1000"), Decimal("100"), Decimal("300"), "2.25.11"),
        XrayEvent("stationary", "single", "P", Decimal("2000"), Decimal("200"), Decimal("5"), "2.25.12"),
        XrayEvent("stationary", "single", "P", Decimal("500"), Decimal("50"), Decimal("3"), "2.25.13"),
    ], content_time=dt.datetime(2024, 3, 5, 11, 0))
    partial = dataclasses.replace(full, file_name="partial.dcm", sop_uid="2.25.999", events=full.events[:2],
                                  content_time=dt.datetime(2024, 3, 5, 10, 30))
    return partial, full


@pytest.mark.parametrize("order", ["partial first", "full first"])
def test_cumulative_update_replaces_the_earlier_report(put, ingest, tmp_path, order):
    partial, full = _partial_and_full()
    names = ("a.dcm", "b.dcm") if order == "partial first" else ("b.dcm", "a.dcm")
    put(partial, name=names[0])
    put(full, name=names[1])
    run = ingest(tmp_path / "in")
    row = _only(run)
    assert row["dap_cgycm2"] == pytest.approx(3500, rel=1e-12)
    reason = _rejection(run)
    if order == "partial first":
        assert reason == f"replaced by the cumulative update in {SOURCE_FOLDER}/b.dcm (same study and device)"
        assert _rules(run) == ["rdsr_cumulative_update"]
    else:
        assert reason == (f"a partial report of a study and device whose cumulative update is stored from "
                          f"{SOURCE_FOLDER}/a.dcm")
    t = run.summary.totals()
    assert (t["rows_read"], t["rows_stored"], t["rows_rejected"]) == (2, 1, 1)
    subs = load_table(run.db, "submissions")
    assert (subs["rows_read"] == subs["rows_stored"] + subs["rows_rejected"]).all()


def test_cumulative_update_in_a_later_ingest_replaces_the_stored_report(put, ingest, tmp_path):
    partial, full = _partial_and_full()
    first = ingest(put(partial))
    assert _only(first)["dap_cgycm2"] == pytest.approx(3000, rel=1e-12)
    run = ingest(put(full, folder="later_2024"), db=first.db, data_source="Aerztliche Stelle Nord")
    assert _only(run)["dap_cgycm2"] == pytest.approx(3500, rel=1e-12)
    subs = load_table(run.db, "submissions").set_index("source_file")
    assert subs.loc["partial.dcm", ["rows_read", "rows_stored", "rows_rejected"]].tolist() == [1, 0, 1]
    repair = load_table(run.db, "repairs").iloc[0]
    assert (repair["rule"], repair["before"], repair["after"]) == ("rdsr_cumulative_update", "3000.0 (partial.dcm)",
                                                                     "3500.0")
    statuses = load_table(run.db, "rdsr").set_index("submission_id")["status"].tolist()
    assert statuses == ["replaced", "stored"]


def test_reports_without_event_uids_are_ordered_by_content_time(tmp_path, put, ingest):
    partial, full = _partial_and_full()
    no_uid = [dataclasses.replace(e, uid="") for e in full.events]
    put(dataclasses.replace(full, events=no_uid), name="b.dcm")
    put(dataclasses.replace(partial, events=no_uid[:2]), name="a.dcm")
    run = ingest(tmp_path / "in")
    assert _only(run)["dap_cgycm2"] == pytest.approx(3500, rel=1e-12)


def test_other_events_of_the_same_study_are_kept_both(put, ingest, tmp_path):
    partial, full = _partial_and_full()
    put(dataclasses.replace(partial, events=full.events[:1]), name="a.dcm")
    put(dataclasses.replace(full, events=full.events[1:]), name="b.dcm")
    assert len(_stored(ingest(tmp_path / "in"))) == 2


# --- bad inputs --------------------------------------------------------------------


@pytest.mark.parametrize(("bad", "why"), [
    ("not_dicom", "not a DICOM file (no 'DICM' marker at byte 128)"),
    ("image", "DICOM, but not a structured report: CT Image Storage"),
    ("other_sr", "an SR document that is not a radiation dose report (Basic Text SR Storage, TID 2000, "
                 "titled 'Diagnostic imaging report')"),
    ("mammography", "a mammography dose report (TID 10001, procedure reported: Mammography): mammography "
                    "reports are not read"),
    ("radiopharmaceutical", "a radiopharmaceutical radiation dose report (TID 10021): only CT (TID 10011) and "
                            "projection X-ray (TID 10001) dose reports are read"),
])
def test_bad_input_fails_with_a_one_line_reason(put, ingest, bad, why):
    study = (example_ct if bad == "radiopharmaceutical" else example_projection)(bad=bad)
    run = ingest(put(study))
    assert _failure(run) == why
    assert _stored(run).empty


@pytest.mark.parametrize("fraction", [0.05, 0.2, 0.5, 0.8, 0.95, 0.999])
def test_truncated_file_fails_and_is_never_read_in_part(tmp_path, ingest, fraction):
    data = gen.rdsr_bytes(example_projection())
    path = tmp_path / SOURCE_FOLDER / "cut.dcm"
    path.parent.mkdir()
    path.write_bytes(data[: max(133, int(len(data) * fraction))])
    run = ingest(path.parent)
    assert _failure(run).startswith(("truncated", "corrupt"))
    assert _stored(run).empty


def test_file_with_a_broken_element_fails_as_corrupt(tmp_path, ingest):
    data = gen.rdsr_bytes(example_ct())
    at = data.index(b"\x40\x00\x24\xa1UI")  # (0040,A124) UID, VR UI
    path = tmp_path / SOURCE_FOLDER / "broken.dcm"
    path.parent.mkdir()
    path.write_bytes(data[:at + 4] + b"\x00\x00" + data[at + 6:])
    run = ingest(path.parent)
    assert _failure(run) == "corrupt (element (0040,A124) has no value representation)"


def test_nul_characters_in_texts_are_left_out(tmp_path, ingest):
    data = gen.rdsr_bytes(example_ct(description="CT Schädel nativ"))
    path = tmp_path / SOURCE_FOLDER / "nul.dcm"
    path.parent.mkdir()
    path.write_bytes(data.replace("Schädel".encode(), b"Sch\x00adel"))  # same length
    run = ingest(path.parent)
    assert load_table(run.db, "rdsr")["study_description"].iloc[0] == "CT Schadel nativ"


def test_a_report_the_database_refuses_fails_alone(tmp_path, ingest, monkeypatch):
    import sqlalchemy as sa

    for name in ("a", "b", "c"):
        gen.write_rdsr(example_ct(name), tmp_path / SOURCE_FOLDER / f"{name}.dcm")
    write_batch = rdsr_writer._write_batch

    def refusing(conn, pending):
        if any(p.read.source_file.endswith("b.dcm") and p.read.state == "read" for p in pending):
            raise sa.exc.OperationalError("INSERT", {}, Exception("disk I/O error"))
        return write_batch(conn, pending)

    monkeypatch.setattr(rdsr_writer, "_write_batch", refusing)
    run = ingest(tmp_path / SOURCE_FOLDER, jobs=1)
    assert sorted(_stored(run)["source_file"]) == ["a.dcm", "c.dcm"]
    failed = [f for f in run.summary.files if f.status == "failed"]
    assert [f.source_file for f in failed] == ["b.dcm"]
    assert failed[0].message == "the database refused the file (disk I/O error)"
    subs = load_table(run.db, "submissions").set_index("source_file")
    assert subs.loc["b.dcm", "status"] == "failed"
    t = run.summary.totals()
    assert t["rows_read"] == t["rows_stored"] + t["rows_rejected"] == 2


def test_empty_file_fails(tmp_path, ingest):
    path = tmp_path / "empty.dcm"
    path.write_bytes(b"")
    assert _failure(ingest(path)) == "the file is empty (0 bytes)"


def test_dicom_files_are_found_by_content_without_suffix(tmp_path, ingest):
    folder = tmp_path / SOURCE_FOLDER
    (folder / "sub").mkdir(parents=True)
    (folder / "1.2.826.0.1.3680043.8.498.1").write_bytes(gen.rdsr_bytes(example_ct("a")))
    (folder / "sub" / "IM0001").write_bytes(gen.rdsr_bytes(example_ct("b")))
    (folder / "notes").write_text("not DICOM")
    run = ingest(folder)
    assert len(_stored(run)) == 2 and run.summary.totals()["files"] == 2
    named = ingest(folder / "sub" / "IM0001", data_source="Aerztliche Stelle Nord")  # its folder names none
    assert len(_stored(named)) == 1


def test_a_file_that_is_neither_survey_nor_dicom_named_explicitly_is_refused(tmp_path, ingest):
    path = tmp_path / "README"
    path.write_text("hello")
    assert _failure(ingest(path)).startswith("not a survey file")


# --- with workbooks, accounting, command line -----------------------------------------


def test_rdsrs_and_workbooks_in_one_ingest_with_correct_accounting(tmp_path, put, ingest, write_xlsx):
    write_xlsx("Aerztliche_Stelle_Nord_2024.xlsx", survey_rows([template_row(1, 9003, dap=12.0),
                                                                 template_row(1, 9003, dap="x")], year=2024))
    put(example_ct("a"))
    put(example_projection("b"))
    put(example_projection("c", bad="truncated"))
    put(example_ct("d"), folder="no_source")
    run = ingest(tmp_path / "in")
    t = run.summary.totals()
    assert (t["files"], t["files_stored"], t["files_failed"]) == (5, 4, 1)
    assert t["rows_read"] == t["rows_stored"] + t["rows_rejected"] == 5
    assert t["rows_stored"] == 3
    e = run.exposures
    assert sorted(e["sheet"]) == ["Exposure data", "RDSR", "RDSR"]
    by = accounting_tables(run.db)["by_source_year"]
    assert by["balanced"].all()
    again = ingest(tmp_path / "in", db=run.db)
    assert again.summary.totals()["files_already_stored"] == 4 and len(again.exposures) == 3


def test_parallel_workers_store_what_one_process_stores(tmp_path, ingest):
    g = gen.write_rdsrs(tmp_path / "in", 60, seed=8)
    one = ingest(tmp_path / "in", jobs=1)
    two = ingest(tmp_path / "in", jobs=2)
    cols = ["source_file", "facility_id", "exam_code", "dap_cgycm2", "dlp_mgycm", "ctdivol_mgy", "flags"]
    pd.testing.assert_frame_equal(_stored(one)[cols], _stored(two)[cols])
    assert len(g.files) == 60


def test_command_line_options(tmp_path, put, capsys):
    put(example_ct())
    path = _map(tmp_path, ["ct,study_description,re:nativ,1010"])
    db = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    assert cli.main(["ingest", str(tmp_path / "in"), "--db", db, "--rdsr-facility", "station",
                     "--procedure-map", str(path), "--no-progress"]) == 0
    row = load_rdsr(db).iloc[0]
    assert (row["facility_id"], row["map_row"]) == ("CT01", 2)
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n")
    assert cli.main(["ingest", str(tmp_path / "in"), "--db", db, "--procedure-map", str(bad)]) == 2
    assert "first line must name exactly the columns" in capsys.readouterr().err


# --- a generated set against its truth ---------------------------------------------

_TRUTH_NUMBERS = ["dap_cgycm2", "dlp_mgycm", "ctdivol_mgy", "ctdi_phantom_cm", "weight_kg", "age_years",
                  "dap_fluoro_cgycm2", "dap_acquisition_cgycm2", "fluoro_time_min", "dose_rp_mgy"]


def _wrong_values(f: str, tr, row: pd.Series, rules: pd.Series) -> list:
    """How a stored report differs from its truth row ``tr`` (empty: not at all)."""
    wrong = []
    for c in _TRUTH_NUMBERS:
        a, b = float(getattr(tr, c)), row[c]
        if not ((math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9)):
            wrong.append((f, c, a, b))
    for c in ("data_source", "year", "facility_id", "template"):
        if str(getattr(tr, c)) != str(row[c]):
            wrong.append((f, c, getattr(tr, c), row[c]))
    code = tr.exam_code if isinstance(tr.exam_code, str) else None
    if code != (row["exam_code"] if isinstance(row["exam_code"], str) else None):
        wrong.append((f, "exam_code", tr.exam_code, row["exam_code"]))
    if ("unmapped_procedure" in row["flags"]) != (code is None):
        wrong.append((f, "flags", row["flags"]))
    if ("mixed_phantoms" in row["flags"]) != bool(tr.mixed_phantoms):
        wrong.append((f, "mixed", row["flags"]))
    expected = tr.repair_rules if isinstance(tr.repair_rules, str) else ""
    if rules.get(f, "") != expected:
        wrong.append((f, "repairs", expected, rules.get(f, "")))
    return wrong


def _wrong_against_truth(run, truth: pd.DataFrame) -> list:
    """Every way the stored reports differ from their truth (empty: none)."""
    stored = _stored(run).set_index("source_file")
    subs = load_table(run.db, "submissions").set_index("source_file")
    rejections = load_table(run.db, "rejections").set_index("source_file")
    repairs = load_table(run.db, "repairs")
    rules = repairs[repairs["rule"] != "rdsr_cumulative_update"].groupby("source_file")["rule"].apply(
        lambda r: ";".join(sorted(r)))
    wrong = []
    for tr in truth.itertuples():
        f = tr.source_file
        reason = tr.reason if isinstance(tr.reason, str) else ""
        if tr.outcome == "failed":
            if not (subs.loc[f, "status"] == "failed" and reason in subs.loc[f, "message"]):
                wrong.append((f, "failure", reason, subs.loc[f, "message"]))
        elif tr.outcome == "rejected":
            if f in stored.index or reason not in rejections.loc[f, "reason"]:
                wrong.append((f, "rejection", reason))
        elif f not in stored.index:
            wrong.append((f, "not stored", rejections["reason"].get(f)))
        else:
            wrong += _wrong_values(f, tr, stored.loc[f], rules)
    t = run.summary.totals()
    if not (t["rows_read"] == t["rows_stored"] + t["rows_rejected"] and t["rows_stored"] == len(stored)
            == (truth["outcome"] == "stored").sum() and t["files_failed"] == (truth["outcome"] == "failed").sum()):
        wrong.append(("totals", t))
    return wrong


@pytest.mark.slow
def test_one_thousand_generated_rdsrs_are_stored_with_every_value_right(tmp_path, ingest):
    g = gen.write_rdsrs(tmp_path / "in", 1000, seed=2025, quirk_rate=0.15, bad_rate=0.03, update_rate=0.04,
                        resend_rate=0.03)
    assert set(g.truth["outcome"]) == {"stored", "rejected", "failed"}
    run = ingest(tmp_path / "in", jobs=2)
    wrong = _wrong_against_truth(run, g.truth)
    assert not wrong, wrong[:10]


# --- the bundled sample ---------------------------------------------------------------


def _sample_truth() -> pd.DataFrame:
    from drl_analysis.core.paths import SAMPLE_DIR

    return pd.read_csv(SAMPLE_DIR / "truth" / "rdsr.csv", dtype={"exam_code": str, "facility_id": str})


def test_bundled_sample_rdsrs_are_what_the_seeded_script_writes(tmp_path):
    from drl_analysis.core.paths import SAMPLE_DIR

    g = gen.write_sample(tmp_path)
    bundled = sorted(p.relative_to(SAMPLE_DIR / "rdsr") for p in (SAMPLE_DIR / "rdsr").rglob("*") if p.is_file())
    assert bundled == sorted(p.relative_to(tmp_path) for p in g.files)
    for rel in bundled:
        assert (tmp_path / rel).read_bytes() == (SAMPLE_DIR / "rdsr" / rel).read_bytes(), rel
    assert g.truth.to_csv(index=False, lineterminator="\n") == (SAMPLE_DIR / "truth" / "rdsr.csv").read_text()


def test_bundled_sample_rdsrs_read_back_as_their_truth(ingest):
    from drl_analysis.core.paths import SAMPLE_DIR

    run = ingest(SAMPLE_DIR / "rdsr")
    truth = _sample_truth()
    assert set(truth["outcome"]) == {"stored", "rejected", "failed"}
    assert not _wrong_against_truth(run, truth)
    assert set(_rules(run)) >= {q.rule for q in QUIRKS} | {"rdsr_cumulative_update"}


def test_sample_devices_count_as_facilities_of_the_drl_table(ingest):
    from drl_analysis.core.paths import SAMPLE_DIR
    from drl_analysis.stats.drl import facility_medians
    from drl_analysis.stats.drl_tables import drl_table

    run = ingest(SAMPLE_DIR / "surveys", SAMPLE_DIR / "rdsr")
    devices = set(_stored(run)["facility_id"])
    medians = facility_medians(run.exposures)
    counted = medians[medians["facility_id"].isin(devices) & medians["counted"]]
    wanted = {("1010", "ctdivol_mgy"), ("1030", "ctdivol_mgy"), ("1060", "ctdivol_mgy"), ("9101", "dap_cgycm2")}
    assert wanted <= set(zip(counted["exam_code"], counted["quantity"]))
    # The DRL table counts them: one facility more per exam than the survey files alone give.
    surveys_only = ingest(SAMPLE_DIR / "surveys").exposures
    with_rdsr = drl_table(run.exposures, n_bootstrap=0).set_index(["exam_code", "quantity"])["n_facilities"]
    without = drl_table(surveys_only, n_bootstrap=0).set_index(["exam_code", "quantity"])["n_facilities"]
    for key in wanted:
        assert with_rdsr[key] == without.get(key, 0) + 1, key


@pytest.fixture
def postgres_db():
    """A new, empty PostgreSQL database on the test server, dropped afterwards."""
    import uuid

    import sqlalchemy as sa
    from conftest import postgres_url_or_skip

    url = sa.engine.make_url(postgres_url_or_skip())
    name = f"drl_rdsr_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8'"))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


@pytest.mark.postgres
def test_postgres_stores_the_same_reports_as_sqlite(tmp_path, put, ingest, postgres_db):
    gen.write_rdsrs(tmp_path / "in" / "set", 80, seed=9, update_rate=0.1, resend_rate=0.05, bad_rate=0.05)
    partial, full = _partial_and_full()
    put(partial)
    sqlite_run = ingest(tmp_path / "in")
    pg_run = ingest(tmp_path / "in", db=postgres_db)
    later = tmp_path / "later" / SOURCE_FOLDER
    gen.write_rdsr(full, later / "full.dcm")
    for run in (sqlite_run, pg_run):
        ingest(later, db=run.db)
    assert pg_run.summary.totals() == sqlite_run.summary.totals()
    a, b = _stored(sqlite_run), _stored(pg_run)
    pd.testing.assert_frame_equal(a, b, check_dtype=False)
    for table in ("repairs", "rejections", "sheets", "rdsr"):
        pg = load_table(postgres_db, table).drop(columns=["id", "submission_id"])
        lite = load_table(sqlite_run.db, table).drop(columns=["id", "submission_id"])
        pd.testing.assert_frame_equal(pg, lite, check_dtype=False)

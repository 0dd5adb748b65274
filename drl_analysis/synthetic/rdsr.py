"""Seeded synthetic X-Ray Radiation Dose SRs (RDSR) with their ground truth.

Real dose reports cannot be shared, so the RDSR reader
(:mod:`drl_analysis.ingest.rdsr`) is tested on generated ones that are built
as devices build them: CT Radiation Dose reports (TID 10011) with localizer,
spiral, sequenced and stationary acquisitions on the IEC head (16 cm) and
body (32 cm) phantoms, and Projection X-Ray Radiation Dose reports (TID
10001) from angiography and fluoroscopy systems (fluoroscopy and acquisition
events, single plane and biplane) and from radiography systems. Every
concept is taken from pydicom's DICOM code dictionary.

Variations the reader must handle:

* units: DAP in ``Gy.m2``, ``dGy.cm2``, ``cGy.cm2``, ``mGy.cm2`` or
  ``uGy.m2``; dose at the reference point in ``Gy`` or ``mGy``; DLP in
  ``mGy.cm`` or ``Gy.cm``; times in ``s``;
* older coding: SNOMED RT (``SRT``) codes where current reports use SNOMED CT;
* patient age as ``045Y``, ``006M``, ``010W``, ``003D``, or only a birth date;
* the vendor quirks listed in :data:`drl_analysis.ingest.rdsr.QUIRKS`
  (:data:`QUIRK_NAMES` here): a missing template identifier, the dose data in a
  private container, DAP coded in one unit but written in another by the
  fictitious device model :data:`QUIRK_MODEL`, a weight of 0 for "not
  entered", no accumulated dose container (the reader sums the events);
* the same report sent twice (same SOP instance, other bytes) and cumulative
  updates (a later report of the same study and device with more events);
* bad inputs: text named ``.dcm``, DICOM images, SR documents of other kinds,
  mammography and radiopharmaceutical dose reports, truncated files, units
  no reader knows.

:func:`write_rdsrs` writes a set of files and returns their truth: for every
file, whether a correct reader stores it, rejects its study (and why) or
cannot read it (and why), and the values it stores, in canonical units.
Values are drawn as short decimals and written by exact decimal scaling, so
the truth does not depend on the reader's unit conversion.

Everything is drawn from ``numpy.random.default_rng(seed)``: the same
arguments give the same files, byte for byte.
"""

from __future__ import annotations

import datetime as dt
import math
import struct
import zlib
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

#: SOP classes written.
RDSR_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.88.67"
RADIOPHARMACEUTICAL_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.88.68"
BASIC_TEXT_SR_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.88.11"
CT_IMAGE_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.2"

#: Manufacturer of every generated device (fictitious).
MANUFACTURER = "DRL-Synthetic"
#: The fictitious fluoroscopy model whose DAP is coded ``Gy.m2`` but written in dGy·cm²
#: (the reader's quirk list knows it).
QUIRK_MODEL = "FluoroSim Q"
#: Vendor quirks the generator can plant (see :data:`drl_analysis.ingest.rdsr.QUIRKS`).
QUIRK_NAMES: tuple[str, ...] = (
    "no_template_id",
    "private_container",
    "dap_unit_of_model",
    "weight_zero",
    "no_accumulated",
)
#: Private coding scheme of the private container quirk.
PRIVATE_SCHEME = "99DRLSYN"

#: Canonical value per unit, as an exact power of ten: value_canonical = value * 10**exp.
DAP_UNITS: dict[str, int] = {"Gy.m2": 6, "Gy.cm2": 2, "dGy.cm2": 1, "cGy.cm2": 0, "mGy.cm2": -1, "uGy.m2": 0}
DOSE_UNITS: dict[str, int] = {"Gy": 3, "mGy": 0}
DLP_UNITS: dict[str, int] = {"mGy.cm": 0, "Gy.cm": 3}

#: CT studies: description, exam code the shipped procedure map gives, phantom (cm),
#: typical CTDIvol (mGy), scan length (cm), protocol.
CT_STUDIES: tuple[tuple[str, str | None, int, float, float, str], ...] = (
    ("CT Schädel nativ", "1010", 16, 45.0, 15.0, "Kopf nativ"),
    ("CCT", "1010", 16, 45.0, 15.0, "Routine Kopf"),
    ("CT Thorax", "1030", 32, 7.0, 32.0, "Thorax KM"),
    ("CT Abdomen/Becken", "1060", 32, 11.0, 45.0, "Abdomen Becken KM"),
    ("CT Thorax/Abdomen/Becken", "1065", 32, 10.0, 65.0, "Stamm KM"),
    ("CT NNH", "1021", 16, 6.0, 10.0, "NNH low dose"),
    ("CT LWS", "1041", 32, 8.0, 20.0, "LWS Knochen"),
    ("CT Sonderprotokoll Studie 7", None, 32, 9.0, 30.0, "Studie 7"),
)
#: Projection studies: description, exam code of the shipped map, kind
#: ("angio": fluoroscopy and acquisitions; "radiography": one or two exposures),
#: typical DAP (cGy·cm²), protocol.
PROJECTION_STUDIES: tuple[tuple[str, str | None, str, float, str], ...] = (
    ("Koronarangiographie", "9101", "angio", 2500.0, "Cardio LCA/RCA"),
    ("PTCA", "9102", "angio", 4000.0, "Cardio PCI"),
    ("Koronarangiographie mit PCI", "9103", "angio", 4500.0, "Cardio CA PCI"),
    ("TAVI", "9104", "angio", 6000.0, "TAVI"),
    ("Thorax p.a.", "9003", "radiography", 10.0, "Thorax pa"),
    ("Becken a.p.", "9010", "radiography", 180.0, "Becken ap"),
    ("Phlebographie Bein links", None, "angio", 300.0, "Phlebo"),
)

_SRT = {  # SNOMED CT -> SNOMED RT codes older reports use (pydicom's mapping)
    "77477000": "P5-08000",
    "116152004": "P5-08001",
    "44491008": "P5-06000",
}


@dataclass(frozen=True)
class Device:
    """A dose-reporting device."""

    kind: str  # "ct" or "projection"
    model: str
    station: str
    institution: str
    uid: str
    manufacturer: str = MANUFACTURER
    software: str = "1.0"


@dataclass
class CtEvent:
    """One CT irradiation event (TID 10013)."""

    acquisition: str  # "localizer", "spiral", "sequenced", "stationary"
    protocol: str
    ctdivol: Decimal | None  # mGy
    dlp: Decimal  # mGy·cm
    phantom: int | None  # 16, 32 or None (not given)
    uid: str


@dataclass
class XrayEvent:
    """One projection irradiation event (TID 10003)."""

    event_type: str  # "fluoroscopy", "stationary", "rotational"
    plane: str  # "single", "A", "B"
    protocol: str
    dap: Decimal  # cGy·cm²
    dose_rp: Decimal  # mGy
    duration: Decimal  # s
    uid: str


@dataclass
class Study:
    """One RDSR to write, and what a correct reader makes of it.

    ``outcome`` is ``"stored"``, ``"rejected"`` (the study is read and
    rejected; ``reason`` holds a part of the reason) or ``"failed"`` (the
    file cannot be read as a dose report; ``reason`` likewise).
    """

    kind: str  # "ct" or "projection"
    device: Device
    file_name: str
    sop_uid: str
    study_uid: str
    series_uid: str
    study_date: dt.date | None
    content_time: dt.datetime
    description: str
    requested: str | None = None
    procedure_code: tuple[str, str, str] | None = None  # value, scheme, meaning
    age_text: str | None = None
    birth_date: dt.date | None = None
    weight_text: str | None = None
    events: list = field(default_factory=list)
    units: dict[str, str] = field(default_factory=dict)  # "dap", "dose", "dlp", "ctdivol", "time"
    quirks: tuple[str, ...] = ()
    srt_codes: bool = False
    radiography: bool = False  # a radiography system: no fluoroscopy, accumulated TID 10007 only
    exam_code: str | None = None
    outcome: str = "stored"
    reason: str = ""
    bad: str | None = None  # how a bad input is made (see write_rdsr)


# ---------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------


def _short(x: float, digits: int = 4) -> Decimal:
    """``x`` rounded to ``digits`` significant digits, as an exact decimal."""
    if x <= 0:
        return Decimal(0)
    exp = math.floor(math.log10(x)) - digits + 1
    return Decimal(round(x / 10**exp)).scaleb(exp).normalize()


def ds_text(value: Decimal) -> str:
    """A decimal as DICOM DS text (at most 16 characters), exactly."""
    value = value.normalize()
    text = format(value, "f")
    if len(text) > 16:
        text = format(value, "E").replace("E+", "E")
    if len(text) > 16:  # pragma: no cover - values are drawn short
        raise ValueError(f"{value} does not fit a DS")
    return text


def _in_unit(canonical: Decimal, exp: int) -> Decimal:
    """A canonical value expressed in a unit ``10**exp`` canonical units large."""
    return canonical.scaleb(-exp).normalize()


def _uid(rng: np.random.Generator) -> str:
    return "2.25." + str(int.from_bytes(rng.bytes(16), "big"))


def _age_text(days: int, form: str) -> str:
    if form == "D":
        return f"{days:03d}D"
    if form == "W":
        return f"{days // 7:03d}W"
    if form == "M":
        return f"{int(days / 30.4375):03d}M"
    return f"{int(days / 365.25):03d}Y"


def age_years(text: str | None, birth: dt.date | None, study: dt.date | None) -> float:
    """The age in years a correct reader gives (the truth's rule)."""
    if text:
        n, unit = int(text[:-1]), text[-1]
        return {"Y": float(n), "M": n / 12, "W": n * 7 / 365.25, "D": n / 365.25}[unit]
    if birth and study:
        return (study - birth).days / 365.25
    return math.nan


# ---------------------------------------------------------------------------
# Drawing studies
# ---------------------------------------------------------------------------


def make_devices(seed: int = 0, n_ct: int = 3, n_projection: int = 3, quirk_device: bool = True) -> list[Device]:
    """Devices of a few fictitious hospitals; with ``quirk_device`` one more
    fluoroscopy system of :data:`QUIRK_MODEL`."""
    rng = np.random.default_rng([seed, 7])
    out = []
    hospitals = ("Klinikum Nordstadt", "Kreiskrankenhaus Süd", "Praxis am Markt", "Herzzentrum West")
    for i in range(n_ct):
        out.append(Device("ct", ("Tomo 64", "Tomo 128", "Tomo Dual")[i % 3], f"CT{i + 1:02d}",
                          hospitals[i % len(hospitals)], _uid(rng)))
    for i in range(n_projection):
        model = ("AngioLab 2", "DigiRad 5", "AngioLab Bi")[i % 3]
        out.append(Device("projection", model, f"XA{i + 1:02d}", hospitals[(i + 1) % len(hospitals)], _uid(rng)))
    if quirk_device:
        out.append(Device("projection", QUIRK_MODEL, "XAQ", hospitals[3], _uid(rng), software="2.1"))
    return out


def _ct_events(rng, phantom: int, ctdivol: float, length: float, protocol: str, mixed: bool) -> list[CtEvent]:
    events = []
    for _ in range(int(rng.integers(1, 3))):  # one or two localizers
        ctdivol_localizer = _short(rng.uniform(0.05, 0.3), 2) if rng.random() < 0.5 else None
        events.append(CtEvent("localizer", "Topogramm", ctdivol_localizer,
                              _short(rng.uniform(1, 15), 3), phantom if rng.random() < 0.8 else None, _uid(rng)))
    n = int(rng.integers(1, 4))
    for k in range(n):
        kind = "spiral" if k == 0 or rng.random() < 0.6 else ("sequenced" if rng.random() < 0.7 else "stationary")
        p = 32 if (mixed and k == n - 1) else phantom
        c = ctdivol * float(rng.lognormal(0, 0.25)) * (0.6 if k else 1.0)
        ln = length * float(rng.uniform(0.7, 1.2)) if kind != "stationary" else 0.5
        cv = _short(c, 3)
        events.append(CtEvent(kind, protocol if k == 0 else f"{protocol} {k + 1}", cv, _short(float(cv) * ln, 4), p,
                              _uid(rng)))
    return events


def _xray_events(rng, kind: str, dap: float, biplane: bool, protocol: str) -> list[XrayEvent]:
    events = []
    if kind == "radiography":
        for _ in range(int(rng.integers(1, 3))):
            d = _short(dap * float(rng.lognormal(0, 0.3)), 3)
            events.append(XrayEvent("stationary", "single", protocol, d, _short(float(d) * 0.08, 3),
                                    _short(rng.uniform(0.005, 0.1), 2), _uid(rng)))
        return events
    planes = ("A", "B") if biplane else ("single",)
    n = int(rng.integers(3, 9))
    total = dap * float(rng.lognormal(0, 0.5))
    shares = rng.dirichlet(np.ones(n))
    for k in range(n):
        fluoro = k % 2 == 0
        d = _short(total * shares[k], 3)
        if d == 0:
            d = Decimal("0.1")
        plane = planes[k % len(planes)]
        etype = "fluoroscopy" if fluoro else ("rotational" if rng.random() < 0.1 else "stationary")
        dur = _short(rng.uniform(20, 400) if fluoro else rng.uniform(2, 12), 3)
        events.append(XrayEvent(etype, plane, protocol, d, _short(float(d) * 0.12, 3), dur, _uid(rng)))
    return events


def draw_study(rng: np.random.Generator, device: Device, year: int, index: int, *,
               quirk: str | None = None, srt_codes: bool = False, description: str | None = None) -> Study:
    """One stored study of ``device`` in ``year`` (``quirk``: one of :data:`QUIRK_NAMES`;
    ``description``: one of :data:`CT_STUDIES` or :data:`PROJECTION_STUDIES`, else drawn)."""
    day = dt.date(year, 1, 1) + dt.timedelta(days=int(rng.integers(0, 365)))
    hour, minute, second = int(rng.integers(7, 19)), int(rng.integers(0, 60)), int(rng.integers(0, 60))
    content = dt.datetime.combine(day, dt.time(hour, minute, second))
    child = rng.random() < 0.1
    days_old = int(rng.integers(2, 3 * 365)) if child else int(rng.integers(3 * 365, 90 * 365))
    birth = day - dt.timedelta(days=days_old)
    if days_old < 28:
        forms = ["D", "W", "birth"]
    elif days_old < 3 * 365:
        forms = ["M", "W", "birth"]
    else:
        forms = ["Y", "Y", "Y", "birth"]
    form = str(rng.choice(forms))
    age_text = None if form == "birth" else _age_text(days_old, form)
    weight = _short(float(np.clip(rng.normal(78, 14), 40, 160)) if not child else days_old / 365 * 3 + 3.5, 3)
    name = f"{device.station.lower()}_{year}_{index:05d}.dcm"
    study = Study(
        kind=device.kind, device=device, file_name=name, sop_uid=_uid(rng), study_uid=_uid(rng),
        series_uid=_uid(rng), study_date=day, content_time=content, description="",
        age_text=age_text, birth_date=birth if (age_text is None or rng.random() < 0.5) else None,
        weight_text=ds_text(weight), srt_codes=srt_codes,
    )
    if device.kind == "ct":
        pick = int(rng.integers(len(CT_STUDIES)))
        if description is not None:
            pick = [s[0] for s in CT_STUDIES].index(description)
        desc, code, phantom, ctdi, length, protocol = CT_STUDIES[pick]
        mixed = phantom == 16 and rng.random() < 0.1
        study.events = _ct_events(rng, phantom, ctdi * float(rng.lognormal(0, 0.3)), length, protocol, mixed)
        study.units = {"dlp": "mGy.cm" if rng.random() < 0.9 else "Gy.cm", "ctdivol": "mGy"}
    else:
        studies = [s for s in PROJECTION_STUDIES if (s[2] == "radiography") == device.model.startswith("DigiRad")]
        pick = int(rng.integers(len(studies)))
        if description is not None:
            pick = [s[0] for s in studies].index(description)
        desc, code, kind, dap, protocol = studies[pick]
        biplane = device.model.endswith("Bi")
        study.events = _xray_events(rng, kind, dap, biplane, protocol)
        study.radiography = kind == "radiography"
        study.units = {"dap": str(rng.choice(["Gy.m2", "Gy.m2", "Gy.m2", "dGy.cm2", "cGy.cm2", "mGy.cm2", "uGy.m2"])),
                       "dose": "Gy" if rng.random() < 0.8 else "mGy", "time": "s"}
        if device.model == QUIRK_MODEL:
            study.units["dap"] = "Gy.m2"
            study.quirks = ("dap_unit_of_model",)
    study.description = desc
    study.exam_code = code
    if rng.random() < 0.3:
        study.requested = desc.upper()
    if quirk:
        if quirk == "dap_unit_of_model":
            raise ValueError("the DAP unit quirk belongs to the device model; draw a study of that device")
        study.quirks = (*study.quirks, quirk)
    if "weight_zero" in study.quirks:
        study.weight_text = "0"
    return study


def _example_uid(seed: str) -> str:
    import hashlib

    return "2.25." + str(int.from_bytes(hashlib.sha256(seed.encode()).digest()[:16], "big"))


#: The devices of :func:`example_ct` and :func:`example_projection`.
EXAMPLE_CT_DEVICE = Device("ct", "Tomo 64", "CT01", "Klinikum Nordstadt", _example_uid("example ct device"))
EXAMPLE_XA_DEVICE = Device("projection", "AngioLab 2", "XA01", "Herzzentrum West", _example_uid("example xa device"))


def example_ct(name: str = "ct", events: list[CtEvent] | None = None, **changes) -> Study:
    """A CT report with explicit values, for tests and examples: by default a
    localizer and a head spiral (CTDIvol 50 mGy, DLP 800 mGy·cm) of 2024-03-05;
    ``changes`` replace any field of :class:`Study`. UIDs follow from ``name``."""
    if events is None:
        events = [
            CtEvent("localizer", "Topogramm", Decimal("0.2"), Decimal("5"), 16, _example_uid(f"{name} e1")),
            CtEvent("spiral", "Kopf nativ", Decimal("50"), Decimal("800"), 16, _example_uid(f"{name} e2")),
        ]
    study = Study(
        kind="ct", device=EXAMPLE_CT_DEVICE, file_name=f"{name}.dcm", sop_uid=_example_uid(f"{name} sop"),
        study_uid=_example_uid(f"{name} study"), series_uid=_example_uid(f"{name} series"),
        study_date=dt.date(2024, 3, 5), content_time=dt.datetime(2024, 3, 5, 10, 30),
        description="CT Schädel nativ", age_text="045Y", weight_text="80", events=events,
        units={"dlp": "mGy.cm", "ctdivol": "mGy"}, exam_code="1010",
    )
    return replace(study, **changes)


def example_projection(name: str = "xa", events: list[XrayEvent] | None = None, **changes) -> Study:
    """A projection X-ray report with explicit values: by default a coronary
    angiography of 2024-03-05 with a fluoroscopy event (DAP 1000 cGy·cm²,
    Dose (RP) 100 mGy, 300 s) and an acquisition (DAP 2000 cGy·cm², 200 mGy,
    5 s), DAP in Gy.m2, dose in Gy."""
    if events is None:
        events = [
            XrayEvent("fluoroscopy", "single", "Cardio", Decimal("1000"), Decimal("100"), Decimal("300"),
                      _example_uid(f"{name} e1")),
            XrayEvent("stationary", "single", "Cardio", Decimal("2000"), Decimal("200"), Decimal("5"),
                      _example_uid(f"{name} e2")),
        ]
    study = Study(
        kind="projection", device=EXAMPLE_XA_DEVICE, file_name=f"{name}.dcm", sop_uid=_example_uid(f"{name} sop"),
        study_uid=_example_uid(f"{name} study"), series_uid=_example_uid(f"{name} series"),
        study_date=dt.date(2024, 3, 5), content_time=dt.datetime(2024, 3, 5, 10, 30),
        description="Koronarangiographie", age_text="060Y", weight_text="90", events=events,
        units={"dap": "Gy.m2", "dose": "Gy", "time": "s"}, exam_code="9101",
    )
    return replace(study, **changes)


# ---------------------------------------------------------------------------
# Truth of one study
# ---------------------------------------------------------------------------


TRUTH_COLUMNS: tuple[str, ...] = (
    "source_file", "outcome", "reason", "data_source", "year", "facility_id", "exam_code", "dap_cgycm2",
    "dlp_mgycm", "ctdivol_mgy", "ctdi_phantom_cm", "weight_kg", "age_years", "dap_fluoro_cgycm2",
    "dap_acquisition_cgycm2", "fluoro_time_min", "dose_rp_mgy", "template", "repair_rules", "mixed_phantoms",
)


def study_truth(study: Study, source_file: str, data_source: str | None) -> dict:
    """What a correct reader stores for ``study`` (canonical units; NaN: none)."""
    nan = math.nan
    row = dict.fromkeys(TRUTH_COLUMNS, nan)
    row.update(source_file=source_file, outcome=study.outcome, reason=study.reason, data_source=data_source,
               year=study.study_date.year if study.study_date else study.content_time.year,
               facility_id=study.device.uid, exam_code=study.exam_code, template=study.kind,
               repair_rules="", mixed_phantoms=False)
    rules = []
    if study.kind == "ct":
        row["dlp_mgycm"] = float(sum(e.dlp for e in study.events))
        best = None
        for e in study.events:
            if e.acquisition != "localizer" and e.ctdivol is not None and (best is None or e.ctdivol > best.ctdivol):
                best = e
        if best is not None:
            if best.phantom in (16, 32):
                row["ctdivol_mgy"] = float(best.ctdivol)
                row["ctdi_phantom_cm"] = float(best.phantom)
            else:
                rules.append("rdsr_ctdivol_without_phantom")
        phantoms = {e.phantom for e in study.events if e.phantom in (16, 32)}
        row["mixed_phantoms"] = len(phantoms) > 1
        if "no_accumulated" in study.quirks:
            rules.append("rdsr_events_summed")
    else:
        ev = study.events
        row["dap_cgycm2"] = float(sum(e.dap for e in ev))
        fl = [e for e in ev if e.event_type == "fluoroscopy"]
        acq = [e for e in ev if e.event_type != "fluoroscopy"]
        row["dose_rp_mgy"] = float(sum(e.dose_rp for e in ev))
        summed = "no_accumulated" in study.quirks
        if summed:  # the reader sums the events: a part without events is not known
            row["dap_fluoro_cgycm2"] = float(sum(e.dap for e in fl)) if fl else nan
            row["dap_acquisition_cgycm2"] = float(sum(e.dap for e in acq)) if acq else nan
            row["fluoro_time_min"] = float(sum(e.duration for e in fl) / 60) if fl else nan
            rules.append("rdsr_events_summed")
        elif not study.radiography:  # the report states the parts (0 where none)
            row["dap_fluoro_cgycm2"] = float(sum(e.dap for e in fl))
            row["dap_acquisition_cgycm2"] = float(sum(e.dap for e in acq))
            row["fluoro_time_min"] = float(sum(e.duration for e in fl) / 60)
        if "dap_unit_of_model" in study.quirks:
            rules.append("rdsr_dap_unit_of_model")
    if "no_template_id" in study.quirks:
        rules.append("rdsr_template_inferred")
    if "private_container" in study.quirks:
        rules.append("rdsr_private_container")
    if "weight_zero" in study.quirks:
        rules.append("rdsr_weight_zero")
    else:
        row["weight_kg"] = float(Decimal(study.weight_text)) if study.weight_text else nan
    row["age_years"] = age_years(study.age_text, study.birth_date, study.study_date)
    row["repair_rules"] = ";".join(sorted(rules))
    return row


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------
#
# A report is built as a tree of plain dicts (pydicom keyword -> value; a list
# of dicts for a sequence) and encoded here: pydicom's writer costs some 20 ms
# a report, which a benchmark of 10,000 reports cannot afford. Keywords, tags
# and VRs come from pydicom's data dictionary, concepts from its code
# dictionary; the tests read every kind of generated file back with pydicom.

EXPLICIT_LE = "1.2.840.10008.1.2.1"
IMPLICIT_LE = "1.2.840.10008.1.2"
DEFLATED_LE = "1.2.840.10008.1.2.1.99"
_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
_UNDEFINED = 0xFFFFFFFF
_TAG_VR: dict[str, tuple[int, bytes]] = {}


def _tag_vr(keyword: str) -> tuple[int, bytes]:
    hit = _TAG_VR.get(keyword)
    if hit is None:
        from pydicom.datadict import dictionary_VR, tag_for_keyword

        tag = tag_for_keyword(keyword)
        if tag is None:
            raise KeyError(f"no DICOM keyword {keyword!r}")
        hit = _TAG_VR[keyword] = (tag, dictionary_VR(tag).encode())
    return hit


def _value(vr: bytes, value) -> bytes:
    if isinstance(value, bytes):
        data = value
    else:
        data = str(value).encode("utf-8")
    if len(data) % 2:
        data += b"\0" if vr in (b"UI", b"OB", b"UN") else b" "
    return data


def encode_dataset(node: dict, *, explicit: bool = True, undefined: bool = False) -> bytes:
    """A data set (keyword -> value; lists of dicts for sequences) in little endian,
    explicit or implicit VR, sequences and items of defined or undefined length."""
    parts = []
    for tag, vr, value in sorted((*_tag_vr(k), v) for k, v in node.items()):
        group, elem = tag >> 16, tag & 0xFFFF
        if vr == b"SQ":
            items = []
            for item in value:
                body = encode_dataset(item, explicit=explicit, undefined=undefined)
                if undefined:
                    items.append(struct.pack("<HHI", 0xFFFE, 0xE000, _UNDEFINED) + body
                                 + struct.pack("<HHI", 0xFFFE, 0xE00D, 0))
                else:
                    items.append(struct.pack("<HHI", 0xFFFE, 0xE000, len(body)) + body)
            body = b"".join(items)
            if undefined:
                body += struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
            length = _UNDEFINED if undefined else len(body)
        else:
            body = _value(vr, value)
            length = len(body)
        if not explicit:
            parts.append(struct.pack("<HHI", group, elem, length) + body)
        elif vr in _LONG_VRS:
            parts.append(struct.pack("<HH2s2xI", group, elem, vr, length) + body)
        else:
            parts.append(struct.pack("<HH2sH", group, elem, vr, length) + body)
    return b"".join(parts)


def encode_file(node: dict, sop_class: str, sop_instance: str, *, syntax: str = EXPLICIT_LE,
                undefined: bool = False) -> bytes:
    """A DICOM file: preamble, ``DICM``, file meta (explicit VR little endian) and the data set."""
    meta = encode_dataset({
        "FileMetaInformationVersion": b"\x00\x01",
        "MediaStorageSOPClassUID": sop_class,
        "MediaStorageSOPInstanceUID": sop_instance,
        "TransferSyntaxUID": syntax,
        "ImplementationClassUID": "1.2.826.0.1.3680043.10.1472.1",
        "ImplementationVersionName": "DRL_SYNTHETIC",
    })
    group_length = struct.pack("<HH2sHI", 0x0002, 0x0000, b"UL", 4, len(meta))
    body = encode_dataset(node, explicit=syntax != IMPLICIT_LE, undefined=undefined)
    if syntax == DEFLATED_LE:
        z = zlib.compressobj(9, zlib.DEFLATED, -15)
        body = z.compress(body) + z.flush()
    return b"\0" * 128 + b"DICM" + group_length + meta + body


def _code(code, srt: bool = False) -> dict:
    """A pydicom Code as a code item; SNOMED CT codes as SNOMED RT with ``srt``."""
    if srt and code.scheme_designator == "SCT" and code.value in _SRT:
        return {"CodeValue": _SRT[code.value], "CodingSchemeDesignator": "SRT", "CodeMeaning": code.meaning}
    return {"CodeValue": code.value, "CodingSchemeDesignator": code.scheme_designator, "CodeMeaning": code.meaning}


def _plain(scheme: str, value: str, meaning: str) -> dict:
    return {"CodeValue": value, "CodingSchemeDesignator": scheme, "CodeMeaning": meaning}


def _item(rel: str, vtype: str, concept, **values) -> dict:
    name = concept if isinstance(concept, dict) else _code(concept)
    return {"RelationshipType": rel, "ValueType": vtype, "ConceptNameCodeSequence": [name], **values}


def _container(concept, children, rel: str = "CONTAINS") -> dict:
    return _item(rel, "CONTAINER", concept, ContinuityOfContent="SEPARATE", ContentSequence=children)


def _num(concept, value: Decimal, unit: str, rel: str = "CONTAINS") -> dict:
    mv = {"NumericValue": ds_text(value), "MeasurementUnitsCodeSequence": [_plain("UCUM", unit, unit)]}
    return _item(rel, "NUM", concept, MeasuredValueSequence=[mv])


def _code_item(concept, code, rel: str = "CONTAINS", srt: bool = False) -> dict:
    return _item(rel, "CODE", concept, ConceptCodeSequence=[_code(code, srt)])


def _text(concept, text: str, rel: str = "CONTAINS") -> dict:
    return _item(rel, "TEXT", concept, TextValue=text)


def _uidref(concept, uid: str, rel: str = "CONTAINS") -> dict:
    return _item(rel, "UIDREF", concept, UID=uid)


def _codes():
    from pydicom.sr.codedict import codes

    return codes


def _observer(study: Study) -> list:
    D = _codes().DCM
    dev = study.device
    return [
        _code_item(D.ObserverType, D.Device, rel="HAS OBS CONTEXT"),
        _uidref(D.DeviceObserverUID, dev.uid, rel="HAS OBS CONTEXT"),
        _text(D.DeviceObserverName, dev.station, rel="HAS OBS CONTEXT"),
        _text(D.DeviceObserverManufacturer, dev.manufacturer, rel="HAS OBS CONTEXT"),
        _text(D.DeviceObserverModelName, dev.model, rel="HAS OBS CONTEXT"),
    ]


def _ct_content(study: Study) -> tuple[list, list]:
    """(accumulated container, event containers) of a CT report."""
    codes = _codes()
    D, S = codes.DCM, codes.SCT
    srt = study.srt_codes
    dlp_unit = study.units.get("dlp", "mGy.cm")
    dlp_exp = DLP_UNITS[dlp_unit]
    acq_type = {"localizer": D.ConstantAngleAcquisition, "spiral": S.SpiralAcquisition,
                "sequenced": D.SequencedAcquisition, "stationary": D.StationaryAcquisitionCT}
    phantom_code = {16: D.IECHeadDosimetryPhantom, 32: D.IECBodyDosimetryPhantom}
    events = []
    for e in study.events:
        dose = []
        if e.ctdivol is not None:
            dose.append(_num(D.MeanCtdivol, e.ctdivol, study.units.get("ctdivol", "mGy")))
        if e.phantom is not None:
            dose.append(_code_item(D.CtdiwPhantomType, phantom_code[e.phantom]))
        dose.append(_num(D.DLP, _in_unit(e.dlp, dlp_exp), dlp_unit))
        params = [_num(D.ExposureTime, Decimal("0.5") if e.acquisition == "localizer" else Decimal("4.2"), "s")]
        events.append(_container(D.CTAcquisition, [
            _text(D.AcquisitionProtocol, e.protocol),
            _code_item(D.CTAcquisitionType, acq_type[e.acquisition], srt=srt),
            _uidref(D.IrradiationEventUID, e.uid),
            _container(D.CTAcquisitionParameters, params),
            _container(D.CTDose, dose),
        ]))
    total = sum((e.dlp for e in study.events), Decimal(0))
    accumulated = [_container(D.CTAccumulatedDoseData, [
        _num(D.TotalNumberOfIrradiationEvents, Decimal(len(study.events)), "{events}"),
        _num(D.CTDoseLengthProductTotal, _in_unit(total, dlp_exp), dlp_unit),
    ])]
    return accumulated, events


def _projection_content(study: Study) -> tuple[list, list]:
    """(accumulated containers, one per plane; event containers) of a projection report."""
    codes = _codes()
    D, S = codes.DCM, codes.SCT
    srt = study.srt_codes
    dap_unit = study.units.get("dap", "Gy.m2")
    # The quirk model writes dGy·cm² numbers under the code Gy.m2.
    dap_exp = DAP_UNITS["dGy.cm2"] if "dap_unit_of_model" in study.quirks else DAP_UNITS[dap_unit]
    dose_unit = study.units.get("dose", "Gy")
    dose_exp = DOSE_UNITS[dose_unit]
    plane_code = {"single": D.SinglePlane, "A": D.PlaneA, "B": D.PlaneB}
    type_code = {"fluoroscopy": S.Fluoroscopy, "stationary": D.StationaryAcquisition,
                 "rotational": D.RotationalAcquisition}
    events = []
    for e in study.events:
        events.append(_container(D.IrradiationEventXRayData, [
            _code_item(D.AcquisitionPlane, plane_code[e.plane]),
            _uidref(D.IrradiationEventUID, e.uid),
            _code_item(D.IrradiationEventType, type_code[e.event_type], srt=srt),
            _text(D.AcquisitionProtocol, e.protocol),
            _num(D.DoseAreaProduct, _in_unit(e.dap, dap_exp), dap_unit),
            _num(D.DoseRP, _in_unit(e.dose_rp, dose_exp), dose_unit),
            _num(D.IrradiationDuration, e.duration, "s"),
        ]))

    def total(items, attr):
        return sum((getattr(e, attr) for e in items), Decimal(0))

    accumulated = []
    for plane in dict.fromkeys(e.plane for e in study.events):
        ev = [e for e in study.events if e.plane == plane]
        fl = [e for e in ev if e.event_type == "fluoroscopy"]
        acq = [e for e in ev if e.event_type != "fluoroscopy"]
        children = [_code_item(D.AcquisitionPlane, plane_code[plane])]
        if not study.radiography:  # TID 10004: fluoroscopy and acquisition parts, per plane
            children += [
                _num(D.FluoroDoseAreaProductTotal, _in_unit(total(fl, "dap"), dap_exp), dap_unit),
                _num(D.FluoroDoseRPTotal, _in_unit(total(fl, "dose_rp"), dose_exp), dose_unit),
                _num(D.TotalFluoroTime, total(fl, "duration"), "s"),
                _num(D.AcquisitionDoseAreaProductTotal, _in_unit(total(acq, "dap"), dap_exp), dap_unit),
                _num(D.AcquisitionDoseRPTotal, _in_unit(total(acq, "dose_rp"), dose_exp), dose_unit),
                _num(D.TotalAcquisitionTime, total(acq, "duration"), "s"),
            ]
        children += [  # TID 10007
            _num(D.DoseAreaProductTotal, _in_unit(total(ev, "dap"), dap_exp), dap_unit),
            _num(D.DoseRPTotal, _in_unit(total(ev, "dose_rp"), dose_exp), dose_unit),
        ]
        accumulated.append(_container(D.AccumulatedXRayDoseData, children))
    return accumulated, events


def rdsr_dataset(study: Study) -> dict:
    """The data set of ``study`` as a tree of dicts (pydicom keywords)."""
    codes = _codes()
    D, S = codes.DCM, codes.SCT
    dev = study.device
    ds: dict = {
        "SpecificCharacterSet": "ISO_IR 192",
        "SOPClassUID": RDSR_SOP_CLASS,
        "SOPInstanceUID": study.sop_uid,
        "ContentDate": study.content_time.strftime("%Y%m%d"),
        "ContentTime": study.content_time.strftime("%H%M%S"),
        "AccessionNumber": "",
        "Modality": "SR",
        "Manufacturer": dev.manufacturer,
        "InstitutionName": dev.institution,
        "ReferringPhysicianName": "",
        "StationName": dev.station,
        "StudyDescription": study.description,
        "ManufacturerModelName": dev.model,
        "PatientName": "SYNTHETIC^PATIENT",
        "PatientID": "SYN" + study.sop_uid[-8:],
        "PatientBirthDate": study.birth_date.strftime("%Y%m%d") if study.birth_date else "",
        "PatientSex": "O",
        "SoftwareVersions": dev.software,
        "StudyInstanceUID": study.study_uid,
        "SeriesInstanceUID": study.series_uid,
        "StudyID": "1",
        "SeriesNumber": "1",
        "InstanceNumber": "1",
        "ValueType": "CONTAINER",
        "ConceptNameCodeSequence": [_code(D.XRayRadiationDoseReport)],
        "ContinuityOfContent": "SEPARATE",
        "CompletionFlag": "COMPLETE",
        "VerificationFlag": "UNVERIFIED",
    }
    if study.study_date:
        ds["StudyDate"] = study.study_date.strftime("%Y%m%d")
        ds["StudyTime"] = "080000"
    if study.procedure_code:
        value, scheme, meaning = study.procedure_code
        ds["ProcedureCodeSequence"] = [_plain(scheme, value, meaning)]
    if study.age_text:
        ds["PatientAge"] = study.age_text
    if study.weight_text is not None:
        ds["PatientWeight"] = study.weight_text
    if study.requested:
        ds["ReferencedRequestSequence"] = [{"RequestedProcedureDescription": study.requested}]
    if "no_template_id" not in study.quirks:
        ds["ContentTemplateSequence"] = [{"MappingResource": "DCMR",
                                          "TemplateIdentifier": "10011" if study.kind == "ct" else "10001"}]
    procedure = S.ComputedTomography if study.kind == "ct" else D.ProjectionXRay
    content = [_code_item(D.ProcedureReported, procedure, rel="HAS CONCEPT MOD", srt=study.srt_codes)]
    content += _observer(study)
    content.append(_item("HAS OBS CONTEXT", "DATETIME", D.StartOfXRayIrradiation,
                         DateTime=study.content_time.strftime("%Y%m%d%H%M%S")))
    accumulated, events = _ct_content(study) if study.kind == "ct" else _projection_content(study)
    if "no_accumulated" in study.quirks:
        accumulated = []
    if "private_container" in study.quirks:
        content.append(_container(_plain(PRIVATE_SCHEME, "RADSUM", "Radiation summary"), accumulated + events))
    else:
        content += accumulated + events
    ds["ContentSequence"] = content
    return ds


def _image_dataset(study: Study) -> dict:
    """A CT image (no SR): DICOM, but not a dose report."""
    return {
        "SOPClassUID": CT_IMAGE_SOP_CLASS, "SOPInstanceUID": study.sop_uid, "StudyInstanceUID": study.study_uid,
        "SeriesInstanceUID": study.series_uid, "Modality": "CT", "Rows": b"\x02\x00", "Columns": b"\x02\x00",
        "SamplesPerPixel": b"\x01\x00", "PhotometricInterpretation": "MONOCHROME2", "BitsAllocated": b"\x10\x00",
        "BitsStored": b"\x10\x00", "HighBit": b"\x0f\x00", "PixelRepresentation": b"\x00\x00",
        "PixelData": b"\x00" * 8,
    }


def rdsr_bytes(study: Study, *, syntax: str = EXPLICIT_LE, undefined: bool = False) -> bytes:
    """The file ``write_rdsr`` writes for ``study`` (a bad input as ``study.bad`` names it)."""
    bad = study.bad
    if bad == "not_dicom":
        return f"Dosisbericht {study.sop_uid}\nDLP 350 mGy*cm\n".encode("utf-8")
    codes = _codes()
    D, S = codes.DCM, codes.SCT
    sop_class = RDSR_SOP_CLASS
    ds = rdsr_dataset(study)
    if bad == "image":
        ds, sop_class = _image_dataset(study), CT_IMAGE_SOP_CLASS
    elif bad == "mammography":
        ds["ContentSequence"][0]["ConceptCodeSequence"] = [_code(S.Mammography)]
        for item in ds["ContentSequence"]:
            if item["ConceptNameCodeSequence"][0]["CodeValue"] == D.AccumulatedXRayDoseData.value:
                item["ContentSequence"].append(_num(D.AccumulatedAverageGlandularDose, Decimal("1.2"), "mGy"))
    elif bad == "radiopharmaceutical":
        sop_class = ds["SOPClassUID"] = RADIOPHARMACEUTICAL_SOP_CLASS
        ds["ConceptNameCodeSequence"] = [_code(D.RadiopharmaceuticalRadiationDoseReport)]
        ds["ContentTemplateSequence"] = [{"MappingResource": "DCMR", "TemplateIdentifier": "10021"}]
        ds["ContentSequence"] = [_code_item(D.Radiopharmaceutical, D.Radiopharmaceutical)]
    elif bad == "other_sr":
        sop_class = ds["SOPClassUID"] = BASIC_TEXT_SR_SOP_CLASS
        ds["ConceptNameCodeSequence"] = [_plain("LN", "18748-4", "Diagnostic imaging report")]
        ds["ContentTemplateSequence"] = [{"MappingResource": "DCMR", "TemplateIdentifier": "2000"}]
        ds["ContentSequence"] = [_text(_plain("DCM", "121071", "Finding"), "Kein Befund.")]
    elif bad == "unknown_unit":
        # The DAP or DLP total in a unit UCUM spells but no dose report uses (roentgen).
        totals = (D.DoseAreaProductTotal.value, D.CTDoseLengthProductTotal.value)
        for item in ds["ContentSequence"]:
            for child in item.get("ContentSequence", ()):
                if child["ConceptNameCodeSequence"][0]["CodeValue"] in totals:
                    child["MeasuredValueSequence"][0]["MeasurementUnitsCodeSequence"][0]["CodeValue"] = "R.cm2"
    elif bad == "resent":  # the same report again, written by another system
        syntax = IMPLICIT_LE
    data = encode_file(ds, sop_class, study.sop_uid, syntax=syntax, undefined=undefined)
    if bad == "truncated":
        data = data[: int(len(data) * 0.6)]
    return data


def write_rdsr(study: Study, path: str | Path, **kwargs) -> Path:
    """Write ``study`` as a DICOM file (or the bad input ``study.bad`` names); see :func:`rdsr_bytes`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(rdsr_bytes(study, **kwargs))
    return path


# ---------------------------------------------------------------------------
# A set of files with their truth
# ---------------------------------------------------------------------------


@dataclass
class GeneratedRdsrs:
    """Files written by :func:`write_rdsrs` and their truth.

    ``truth`` has one row per file (:data:`TRUTH_COLUMNS`); ``studies`` the
    studies in file order.
    """

    folder: Path
    files: list[Path]
    truth: pd.DataFrame
    studies: list[Study]


#: Bad inputs :func:`write_rdsrs` can plant, with the outcome and a part of the reason.
BAD_INPUTS: dict[str, tuple[str, str]] = {
    "not_dicom": ("failed", "not a DICOM file"),
    "image": ("failed", "not a structured report"),
    "other_sr": ("failed", "not a radiation dose report"),
    "mammography": ("failed", "mammography"),
    "radiopharmaceutical": ("failed", "radiopharmaceutical"),
    "truncated": ("failed", "truncated"),
    "unknown_unit": ("rejected", "unknown unit"),
}


def _labels(name: str):
    from ..ingest.headers import labels_from_name

    return labels_from_name(name)


def write_rdsrs(
    folder: str | Path,
    n: int,
    seed: int = 0,
    *,
    years: tuple[int, ...] = (2023, 2024),
    devices: list[Device] | None = None,
    quirk_rate: float = 0.1,
    bad_rate: float = 0.02,
    update_rate: float = 0.03,
    resend_rate: float = 0.02,
    srt_rate: float = 0.1,
    data_source_folders: dict[str, str] | None = None,
) -> GeneratedRdsrs:
    """Write about ``n`` RDSR files into ``folder`` and return them with their truth.

    Parameters
    ----------
    folder : str or Path
    n : int
        Files to write (cumulative updates and resent copies count).
    seed : int
    years : tuple of int
        Study years.
    devices : list of Device, optional
        Default :func:`make_devices` of ``seed``.
    quirk_rate, bad_rate, update_rate, resend_rate, srt_rate : float
        Shares of studies with a vendor quirk, of bad inputs, of studies sent
        first as a partial report and then updated, of reports sent twice,
        of reports with SNOMED RT codes.
    data_source_folders : dict, optional
        Device station -> folder name (inside ``folder``) that names the data
        source, such as ``"Aerztliche_Stelle_Nord_2024"``; default one folder
        ``Aerztliche_Stelle_Nord_<first year>`` for every device.

    Returns
    -------
    GeneratedRdsrs
        ``truth.data_source`` is the data source the folder name gives.
    """
    folder = Path(folder)
    rng = np.random.default_rng(seed)
    devices = devices or make_devices(seed)
    default_folder = f"Aerztliche_Stelle_Nord_{years[0]}"
    folders = {d.station: (data_source_folders or {}).get(d.station, default_folder) for d in devices}
    quirk_choices = [q for q in QUIRK_NAMES if q != "dap_unit_of_model"]
    plans: list[Study] = []
    i = 0
    while len(plans) < n:
        device = devices[int(rng.integers(len(devices)))]
        year = int(rng.choice(years))
        quirk = str(rng.choice(quirk_choices)) if rng.random() < quirk_rate else None
        study = draw_study(rng, device, year, i, quirk=quirk, srt_codes=rng.random() < srt_rate)
        i += 1
        r = rng.random()
        if r < bad_rate:
            bad = str(rng.choice(list(BAD_INPUTS)))
            if bad == "mammography" and device.kind == "ct":
                bad = "radiopharmaceutical"
            study.bad = bad
            study.outcome, study.reason = BAD_INPUTS[bad]
            study.quirks = tuple(q for q in study.quirks if q == "dap_unit_of_model")
            if bad == "unknown_unit" and "no_accumulated" in study.quirks:  # pragma: no cover
                study.quirks = ()
            study.file_name = study.file_name.replace(".dcm", "_x.dcm")
            plans.append(study)
        elif (r < bad_rate + update_rate and len(plans) < n - 1 and len(study.events) >= 3
              and "no_accumulated" not in study.quirks):
            # First a partial report (fewer events, earlier), then the full one.
            cut = len(study.events) - 1
            partial = replace(study, events=study.events[:cut], sop_uid=_uid(rng),
                              content_time=study.content_time - dt.timedelta(minutes=20),
                              file_name=study.file_name.replace(".dcm", "_a.dcm"),
                              outcome="rejected", reason="cumulative")
            full = replace(study, file_name=study.file_name.replace(".dcm", "_b.dcm"))
            plans += [partial, full]
        elif r < bad_rate + update_rate + resend_rate and len(plans) < n - 1:
            copy = replace(study, file_name=study.file_name.replace(".dcm", "_resent.dcm"), bad="resent",
                           outcome="rejected", reason="same report")
            plans += [study, copy]
        else:
            plans.append(study)
    rows, files = [], []
    for study in plans:
        sub = folders[study.device.station]
        path = folder / sub / study.file_name
        write_rdsr(study, path)
        files.append(path)
        source = _labels(sub)[0]
        rows.append(study_truth(study, f"{sub}/{study.file_name}", source))
    truth = pd.DataFrame(rows, columns=list(TRUTH_COLUMNS))
    return GeneratedRdsrs(folder, files, truth, plans)


# ---------------------------------------------------------------------------
# The bundled sample
# ---------------------------------------------------------------------------

#: Folders of the sample's RDSRs: the data source and year their names give.
SAMPLE_FOLDERS = {"ct": "Aerztliche_Stelle_Nord_2024", "projection": "Aerztliche_Stelle_Sued_2024"}


def write_sample(folder: str | Path, seed: int = 2025, per_exam: int = 12) -> GeneratedRdsrs:
    """The RDSRs of the bundled sample (``data/raw/sample/rdsr/``), with their truth.

    Two CT scanners of the data source "Aerztliche Stelle Nord" and an
    angiography system of "Aerztliche Stelle Sued" report ``per_exam``
    studies each of CT cranium (1010, 16 cm), CT thorax (1030) and CT
    abdomen/pelvis (1060), and coronary angiographies (9101), all in 2024:
    enough for each device to count as a facility in the DRL statistics.
    Among them: studies the shipped procedure map does not know, each vendor
    quirk, a cumulative update, a report sent twice, a mammography report
    and a truncated file.
    """
    folder = Path(folder)
    rng = np.random.default_rng([seed, 14])
    ct_a = Device("ct", "Tomo 64", "CT-NORD-1", "Klinikum Nordstadt", _uid(rng))
    ct_b = Device("ct", "Tomo 128", "CT-NORD-2", "Kreiskrankenhaus Nordheide", _uid(rng))
    xa = Device("projection", "AngioLab 2", "HKL-SUED", "Herzzentrum Sued", _uid(rng))
    xq = Device("projection", QUIRK_MODEL, "HKL-SUED-2", "Herzzentrum Sued", _uid(rng), software="2.1")
    plans: list[Study] = []

    def add(device: Device, description: str, quirk: str | None = None) -> Study:
        study = draw_study(rng, device, 2024, len(plans), quirk=quirk, description=description)
        study.events = study.events[:4] if device.kind == "projection" else study.events[:3]  # small files
        study.file_name = f"{device.station.lower()}_{len(plans):03d}.dcm"
        plans.append(study)
        return study

    quirks = {("ct_a", 0): "no_template_id", ("ct_b", 1): "no_accumulated", ("ct_b", 12): "private_container",
              ("xa", 2): "weight_zero"}
    for k in range(per_exam):
        add(ct_a, "CT Schädel nativ", quirks.get(("ct_a", k)))
        add(ct_b, "CT Thorax", quirks.get(("ct_b", k)))
        add(ct_b, "CT Abdomen/Becken", quirks.get(("ct_b", per_exam + k)))
        add(xa, "Koronarangiographie", quirks.get(("xa", k)))
    add(ct_a, "CT Sonderprotokoll Studie 7")
    add(xa, "Phlebographie Bein links")
    add(xq, "Koronarangiographie")
    # A cumulative update: the first report of a study, then the full one (which counts).
    full = next(s for s in plans if s.device is xa and len(s.events) >= 3 and not s.quirks)
    partial = replace(full, events=full.events[:-1], sop_uid=_uid(rng),
                      content_time=full.content_time - dt.timedelta(minutes=20),
                      file_name=full.file_name.replace(".dcm", "_1.dcm"), outcome="rejected",
                      reason="cumulative")
    full.file_name = full.file_name.replace(".dcm", "_2.dcm")  # read after the partial one, which it replaces
    plans.append(partial)
    # The same report again, as another system wrote it.
    first = next(s for s in plans if s.device is ct_a and not s.quirks)
    plans.append(replace(first, file_name=first.file_name.replace(".dcm", "_resent.dcm"), bad="resent",
                         outcome="rejected", reason="same report"))
    for bad, device in (("mammography", xa), ("truncated", ct_b)):
        study = draw_study(rng, device, 2024, len(plans),
                           description="Koronarangiographie" if device is xa else "CT Thorax")
        study.file_name = f"{device.station.lower()}_{len(plans):03d}_{bad}.dcm"
        study.bad = bad
        study.outcome, study.reason = BAD_INPUTS[bad]
        plans.append(study)
    rows, files = [], []
    for study in plans:
        sub = SAMPLE_FOLDERS[study.kind]
        path = write_rdsr(study, folder / sub / study.file_name)
        files.append(path)
        rows.append(study_truth(study, f"{sub}/{study.file_name}", _labels(sub)[0]))
    return GeneratedRdsrs(folder, files, pd.DataFrame(rows, columns=list(TRUTH_COLUMNS)), plans)

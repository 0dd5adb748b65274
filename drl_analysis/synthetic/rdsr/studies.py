"""The studies the generator draws: devices, irradiation events, units and
the study lists, drawn from a seed, and the fixed examples of the tests.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field, replace
from decimal import Decimal

import numpy as np

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

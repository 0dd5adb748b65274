"""A set of generated files with their truth (:func:`write_rdsrs`: good
reports, quirks, resends, cumulative updates and bad inputs), and the
bundled sample (:func:`write_sample`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from .encode import write_rdsr
from .studies import QUIRK_MODEL, QUIRK_NAMES, Device, Study, _uid, draw_study, make_devices
from .truth import TRUTH_COLUMNS, study_truth


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
    from ...ingest.headers import labels_from_name

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

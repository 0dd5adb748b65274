"""Encoding studies as DICOM files: the SR content tree of a dose report, and
its bytes in explicit or implicit VR little endian, or deflated.

A report is built as a tree of plain dicts (pydicom keyword -> value; a list
of dicts for a sequence) and encoded here: pydicom's writer costs some 20 ms
a report, which a benchmark of 10,000 reports cannot afford. Keywords, tags
and VRs come from pydicom's data dictionary, concepts from its code
dictionary; the tests read every kind of generated file back with pydicom.
"""

from __future__ import annotations

import struct
import zlib
from decimal import Decimal
from pathlib import Path

from .studies import (
    _SRT,
    BASIC_TEXT_SR_SOP_CLASS,
    CT_IMAGE_SOP_CLASS,
    DAP_UNITS,
    DLP_UNITS,
    DOSE_UNITS,
    PRIVATE_SCHEME,
    RADIOPHARMACEUTICAL_SOP_CLASS,
    RDSR_SOP_CLASS,
    Study,
    _in_unit,
    ds_text,
)

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

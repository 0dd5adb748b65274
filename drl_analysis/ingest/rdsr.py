"""Reading DICOM X-Ray Radiation Dose SRs (RDSR) into the survey tables.

Modern CT and X-ray systems, and dose-management systems, send one X-Ray
Radiation Dose SR per study (SOP class 1.2.840.10008.5.1.4.1.1.88.67).
``drl-analysis ingest`` reads them next to the survey workbooks
(:mod:`drl_analysis.ingest.batch` hands every DICOM file to
:func:`ingest_files`): one exposure row per report, sheet ``RDSR``, row 1,
with the same accounting (rows read = stored + rejected), repairs and
rejections as a workbook.

What is read
    Everything by coded concept, a (coding scheme, code value) pair from
    pydicom's DICOM code dictionary (:data:`CONCEPTS`; SNOMED RT codes of
    older reports are mapped to SNOMED CT as pydicom maps them,
    :data:`SRT_EQUIVALENTS`), never by the code meaning shown to people. The
    table is checked against pydicom's dictionaries by the tests; reading
    needs no import of pydicom.

    * CT Radiation Dose (TID 10011): DLP = CT Dose Length Product Total of
      the CT Accumulated Dose Data; CTDIvol = the largest Mean CTDIvol of the
      irradiation events that are not localizers (CT Acquisition Type
      Constant Angle Acquisition), the first in document order on a tie; its
      phantom from that event's CTDIw Phantom Type (IEC Head Dosimetry
      Phantom 16 cm, IEC Body Dosimetry Phantom 32 cm). A study whose events
      lie on both phantoms is flagged ``mixed_phantoms:dlp_mgycm`` (its DLP
      total mixes them).
    * Projection X-Ray Radiation Dose (TID 10001; radiography, fluoroscopy,
      interventional): DAP = Dose Area Product Total of the Accumulated
      X-Ray Dose Data, summed over the acquisition planes (biplane systems
      report one container per plane); further values, each summed over the
      planes that state it: Fluoro and Acquisition Dose Area Product Total,
      Total Fluoro Time, Dose (RP) Total (the dose at the reference point;
      for biplane systems the sum over both planes' reference points).
    * Without the accumulated container the irradiation events are summed
      (repair ``rdsr_events_summed``): DLP of every CT event; DAP, Dose (RP)
      of every projection event, the fluoroscopy part over Fluoroscopy
      events, the acquisition part over the others, fluoroscopy time from
      the Irradiation Duration of the Fluoroscopy events.
    * Units from each value's UCUM measurement unit
      (:data:`drl_analysis.core.units.UCUM_CODES`); an unknown unit rejects
      the study with its reason.
    * Patient: weight from Patient's Weight (kg); age from Patient's Age
      (``045Y``, ``006M``, ``010W``, ``003D``; Y = years, M = 1/12, W = 7/365.25,
      D = 1/365.25 year), else from Patient's Birth Date and the study date
      (days / 365.25); year from the Study Date, else the Content Date.
    * Facility (``--rdsr-facility``): ``device`` (default) the Device
      Observer UID, else the Station Name; ``station``; ``institution``.
      Data source: the name of the nearest folder around the file (up to the
      input folder) that reads as data source and year
      (``Aerztliche_Stelle_Nord_2024/``, as a workbook's file name does), else
      ``--data-source``.
    * Exam code from the procedure map (:class:`ProcedureMap`); a study the
      map does not cover is stored with no exam code and flagged
      ``unmapped_procedure``.

What is stored beyond the exposure
    A row of table ``rdsr`` per report: SHA-256 of its SOP Instance, Study
    Instance, Device Observer and irradiation event UIDs (to find the same
    report or study again; the UIDs themselves are not kept), the texts the
    map matched, the values above, and the values as read with their units
    (``values_read``).

Duplicates and cumulative updates
    The same SOP instance sent again adds nothing (its study is rejected:
    ``the same report (SOP instance) was read before from FILE``). A report
    of a study and device already stored whose irradiation events include
    all of the stored one's and more is a cumulative update: it replaces the
    stored one (whose row is then rejected, ``replaced by the cumulative
    update in FILE``; repair ``rdsr_cumulative_update``); a report whose
    events are all in the stored one, or that shares only some of them, is
    rejected; one with other events of the same study is stored beside it.
    Reports without event UIDs are compared by content date and time.

Plausibility
    Values outside their quantity's range are flagged ``out_of_range`` as in
    workbooks, exam codes the catalogue does not know ``unknown_exam_code``.
    Machine-written values are not checked for unit slips (a slip is a typing
    error; the known vendor deviations are :data:`QUIRKS`, each a logged repair).

Bad inputs (one-line reasons; the file is recorded as failed)
    not a DICOM file; DICOM but not a structured report; an SR document that
    is no radiation dose report; a dose report of another template
    (mammography, radiopharmaceutical, patient radiation dose); truncated or
    corrupt files.

Speed
    pydicom reads a file lazily; its per-attribute access costs some 36 times
    the read when a whole SR tree is walked. This module therefore parses the
    file's bytes itself (explicit and implicit VR little endian, deflated;
    big endian through pydicom), builds plain objects of the content items
    it needs while parsing, and looks concepts up in dicts. Workers read;
    the main process writes batches of reports in one transaction each
    (see ``benchmarks/rdsr.md``).
"""

from __future__ import annotations

import csv
import datetime as dt
import gc
import hashlib
import json
import logging
import math
import os
import re
import struct
import sys
import traceback
import unicodedata
import zlib
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import NamedTuple

from ..core.catalogue import Catalogue
from ..core.columns import (
    EXPOSURE_COLUMNS,
    FLAG_MIXED_PHANTOMS,
    FLAG_OUT_OF_RANGE,
    FLAG_UNKNOWN_EXAM,
    FLAG_UNMAPPED_PROCEDURE,
    NUMERIC_COLUMNS,
    PHANTOMS_CM,
    QUANTITIES,
    flag_token,
)
from ..core.errors import UserError
from ..core.paths import PACKAGE_DATA
from ..core.units import UnknownUnit, ucum_factor

log = logging.getLogger(__name__)

#: Sheet name and row of every RDSR exposure.
SHEET = "RDSR"
ROW = 1

#: The shipped procedure map (an editable default; ``--procedure-map FILE`` replaces it).
PROCEDURE_MAP_FILE = PACKAGE_DATA / "procedure_map.csv"
#: Ways to name the facility of a report (``--rdsr-facility``).
FACILITY_MODES: tuple[str, ...] = ("device", "station", "institution")

# ---------------------------------------------------------------------------
# Concepts
# ---------------------------------------------------------------------------

#: Every concept read: name -> (coding scheme, keyword in pydicom's code
#: dictionary ``pydicom.sr.codedict.codes``, code value). The tests check
#: each against the dictionary.
CONCEPTS: dict[str, tuple[str, str, str]] = {
    "xray_dose_report": ("DCM", "XRayRadiationDoseReport", "113701"),
    "radiopharmaceutical_dose_report": ("DCM", "RadiopharmaceuticalRadiationDoseReport", "113500"),
    "patient_dose_report": ("DCM", "PatientRadiationDoseReport", "128401"),
    "procedure_reported": ("DCM", "ProcedureReported", "121058"),
    "computed_tomography": ("SCT", "ComputedTomography", "77477000"),
    "projection_xray": ("DCM", "ProjectionXRay", "113704"),
    "mammography": ("SCT", "Mammography", "71651007"),
    "device_observer_uid": ("DCM", "DeviceObserverUID", "121012"),
    "acquisition_protocol": ("DCM", "AcquisitionProtocol", "125203"),
    "irradiation_event_uid": ("DCM", "IrradiationEventUID", "113769"),
    # CT (TID 10011, 10012, 10013)
    "ct_accumulated": ("DCM", "CTAccumulatedDoseData", "113811"),
    "dlp_total": ("DCM", "CTDoseLengthProductTotal", "113813"),
    "ct_acquisition": ("DCM", "CTAcquisition", "113819"),
    "ct_acquisition_type": ("DCM", "CTAcquisitionType", "113820"),
    "constant_angle": ("DCM", "ConstantAngleAcquisition", "113805"),
    "ct_dose": ("DCM", "CTDose", "113829"),
    "mean_ctdivol": ("DCM", "MeanCtdivol", "113830"),
    "ctdiw_phantom": ("DCM", "CtdiwPhantomType", "113835"),
    "iec_head_phantom": ("DCM", "IECHeadDosimetryPhantom", "113690"),
    "iec_body_phantom": ("DCM", "IECBodyDosimetryPhantom", "113691"),
    "dlp": ("DCM", "DLP", "113838"),
    # Projection X-ray (TID 10001, 10002, 10003, 10004, 10007)
    "accumulated_xray": ("DCM", "AccumulatedXRayDoseData", "113702"),
    "dap_total": ("DCM", "DoseAreaProductTotal", "113722"),
    "fluoro_dap_total": ("DCM", "FluoroDoseAreaProductTotal", "113726"),
    "acquisition_dap_total": ("DCM", "AcquisitionDoseAreaProductTotal", "113727"),
    "total_fluoro_time": ("DCM", "TotalFluoroTime", "113730"),
    "dose_rp_total": ("DCM", "DoseRPTotal", "113725"),
    "xray_event": ("DCM", "IrradiationEventXRayData", "113706"),
    "irradiation_event_type": ("DCM", "IrradiationEventType", "113721"),
    "fluoroscopy": ("SCT", "Fluoroscopy", "44491008"),
    "dap": ("DCM", "DoseAreaProduct", "122130"),
    "dose_rp": ("DCM", "DoseRP", "113738"),
    "irradiation_duration": ("DCM", "IrradiationDuration", "113742"),
    # Mammography (TID 10005)
    "accumulated_agd": ("DCM", "AccumulatedAverageGlandularDose", "111637"),
}
_K = {name: (scheme, value) for name, (scheme, _, value) in CONCEPTS.items()}
_PHANTOM_CM = {_K["iec_head_phantom"]: 16.0, _K["iec_body_phantom"]: 32.0}
#: Content items read (with what they contain); the others are skipped unread,
#: but for containers of private schemes (99...), which are searched.
_WANTED = frozenset(_K[n] for n in (
    "procedure_reported", "device_observer_uid", "acquisition_protocol", "irradiation_event_uid",
    "ct_accumulated", "dlp_total", "ct_acquisition", "ct_acquisition_type", "ct_dose", "mean_ctdivol",
    "ctdiw_phantom", "dlp", "accumulated_xray", "dap_total", "fluoro_dap_total", "acquisition_dap_total",
    "total_fluoro_time", "dose_rp_total", "xray_event", "irradiation_event_type", "dap", "dose_rp",
    "irradiation_duration", "accumulated_agd",
))

RDSR_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.88.67"
_SR_SOP_PREFIX = "1.2.840.10008.5.1.4.1.1.88."
TEMPLATE_CT = "10011"
TEMPLATE_PROJECTION = "10001"
_REPORT_OF_TEMPLATE = {TEMPLATE_CT: "ct", TEMPLATE_PROJECTION: "projection"}
_TEMPLATE_OF_REPORT = {"ct": TEMPLATE_CT, "projection": TEMPLATE_PROJECTION}
#: Other dose report templates, by root concept, and what they are called.
_OTHER_DOSE_REPORTS = {
    _K["radiopharmaceutical_dose_report"]: ("10021", "a radiopharmaceutical radiation dose report"),
    _K["patient_dose_report"]: ("10030", "a patient radiation dose report"),
}

# ---------------------------------------------------------------------------
# Vendor quirks
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Quirk:
    """A known deviation of reports from the standard and how it is read.

    Every quirk met is a repair with ``rule`` in the repairs table.
    """

    rule: str
    deviation: str
    handling: str
    evidence: str


#: The documented list of vendor quirks the reader handles; each is tested.
QUIRKS: tuple[Quirk, ...] = (
    Quirk("rdsr_template_inferred", "no template identifier (the Content Template Sequence is missing)",
          "the template is taken from Procedure reported, else from the dose containers present",
          "the sequence is mandatory, yet reports without it occur (OpenREM's importer checks for them)"),
    Quirk("rdsr_private_container",
          "the accumulated dose data or the irradiation events inside a container coded in a private "
          "scheme (99...) instead of directly under the report",
          "containers of private schemes under the report are searched for the standard containers",
          "vendors code extra content in private schemes (such as 99PHI-IXR-XPER); a wrapped container is "
          "read where it is and the wrapping logged"),
    Quirk("rdsr_dap_unit_of_model", "DAP coded in one UCUM unit but written in another by a device model",
          "the model's values are read in their real unit (DAP_UNIT_QUIRKS)",
          "only the test generator's fictitious model is listed; add a real model only with evidence "
          "(a conformance statement or a measurement) and name it there"),
    Quirk("rdsr_weight_zero", "Patient's Weight 0 where no weight was entered", "read as missing",
          "a weight of 0 kg is impossible; devices write it when the operator enters none"),
    Quirk("rdsr_events_summed", "no accumulated dose container", "the irradiation events are summed",
          "the accumulated container is mandatory; reports that lack it still list every event"),
)
QUIRK_RULES: tuple[str, ...] = tuple(q.rule for q in QUIRKS)


@dataclass(frozen=True)
class DapUnitQuirk:
    """A device model that writes its DAP in ``real`` while coding it ``coded``."""

    manufacturer: str
    model: str  # regular expression, matched in full, case-insensitively
    coded: str
    real: str
    evidence: str


DAP_UNIT_QUIRKS: tuple[DapUnitQuirk, ...] = (
    DapUnitQuirk("DRL-Synthetic", r"FluoroSim Q", "Gy.m2", "dGy.cm2",
                 "the fictitious device of drl_analysis.synthetic.rdsr (tests)"),
)

# ---------------------------------------------------------------------------
# DICOM bytes
# ---------------------------------------------------------------------------


class NotDicom(Exception):
    """A file that is not DICOM, or that is truncated or corrupt; the message says which."""


_HDR = struct.Struct("<HH2sH")
_IMPLICIT_HDR = struct.Struct("<HHI")
_U32 = struct.Struct("<I")
_LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"})
_SHORT_VRS = frozenset({b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FD", b"FL", b"IS", b"LO", b"LT", b"PN",
                        b"SH", b"SL", b"SS", b"ST", b"TM", b"UI", b"UL", b"US"})
_ITEM, _ITEM_END, _SEQ_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_UNDEFINED = 0xFFFFFFFF
_PIXEL_DATA = 0x7FE00010
_MAX_DEPTH = 48
#: Sequences read where the VR is not written (implicit VR) or written UN.
_SQ_TAGS = frozenset({
    0x00081032,  # Procedure Code Sequence
    0x00321064,  # Requested Procedure Code Sequence
    0x00400275,  # Request Attributes Sequence
    0x004008EA,  # Measurement Units Code Sequence
    0x0040A043,  # Concept Name Code Sequence
    0x0040A168,  # Concept Code Sequence
    0x0040A300,  # Measured Value Sequence
    0x0040A370,  # Referenced Request Sequence
    0x0040A372,  # Performed Procedure Code Sequence
    0x0040A504,  # Content Template Sequence
    0x0040A730,  # Content Sequence
})

_IMPLICIT_LE = "1.2.840.10008.1.2"
_EXPLICIT_BE = "1.2.840.10008.1.2.2"
_DEFLATED = "1.2.840.10008.1.2.1.99"
_MAX_INFLATED = 256 * 2**20


#: Pseudo-tag under which a parsed content item keeps its concept key.
_KEY = -1
#: Sequences of codes (concept name, concept code, measurement units), parsed
#: once per distinct encoding and shared (read-only) between reports.
_CODE_SEQUENCES = frozenset({0x0040A043, 0x0040A168, 0x004008EA})
_SEQUENCE_CACHE: dict = {}


def _is_sequence(tag: int, vr: bytes | None, length: int) -> bool:
    # A sequence written UN is encoded in implicit VR little endian.
    return vr == b"SQ" or (vr == b"UN" and (length == _UNDEFINED or tag in _SQ_TAGS))


def _sequence_value(buf: bytes, pos: int, tag: int, vr: bytes, length: int, explicit: bool, depth: int,
                    content: bool):
    """A sequence element's items and the position after it (``content``: read its
    items as SR content items)."""
    inner = explicit and vr == b"SQ"
    if content:
        return _sequence(buf, pos, length, inner, depth + 1, sr=True)
    if tag in _CODE_SEQUENCES and length != _UNDEFINED:
        # Code sequences repeat from report to report, byte for byte.
        stop = pos + length
        raw = (inner, buf[pos:stop])
        hit = _SEQUENCE_CACHE.get(raw)
        if hit is None:
            hit, _ = _sequence(buf, pos, length, inner, depth + 1)
            if len(_SEQUENCE_CACHE) < 20_000:
                _SEQUENCE_CACHE[raw] = hit
        return hit, stop
    return _sequence(buf, pos, length, inner, depth + 1)


def _unwanted(item: dict) -> bool:
    """Whether a content item, its concept name just read, is one the reader never needs."""
    names = item[_CONCEPT_NAME]
    key = item[_KEY] = _code_key(names[0] if names else None)
    return key not in _WANTED and not (key and key[0][:2] == "99")


def _dataset(buf: bytes, pos: int, end: int, explicit: bool, depth: int, delimited: bool, top: bool = False,
             sr: bool = False):
    """Elements from ``pos`` to ``end`` (or to an item delimiter when ``delimited``):
    ``({tag: bytes or list of dicts}, position after)``.

    With ``sr`` the elements are those of an SR content item: once its
    concept name is read, an item whose concept the reader never needs is
    skipped (returned as None) when its length is known; a content sequence
    inside is read the same way. (The hot loop of the reader: the common
    explicit-VR element is handled inline, everything else in helpers.)
    """
    out: dict = {}
    n = len(buf)
    unpack, unpack_u32 = _HDR.unpack_from, _U32.unpack_from
    while pos < end:
        if pos + 12 > n:
            return _tail(buf, pos, end, explicit, out, delimited)
        group, elem, vr, length = unpack(buf, pos)
        tag = group << 16 | elem
        if not explicit or group == 0xFFFE:
            tag, vr, length, pos = _other_header(buf, pos, explicit, out, delimited)
            if vr is _END:
                return out, pos
        elif vr in _LONG_VRS:
            length, pos = unpack_u32(buf, pos + 8)[0], pos + 12
        elif vr in _SHORT_VRS:
            pos += 8
        else:
            raise NotDicom(f"corrupt (element ({group:04X},{elem:04X}) has no value representation)")
        if top and tag >= _PIXEL_DATA:
            return out, end
        if (vr == b"SQ" or vr == b"UN") and _is_sequence(tag, vr, length):
            out[tag], pos = _sequence_value(buf, pos, tag, vr, length, explicit, depth, tag == _CONTENT and (sr or top))
            if sr and tag == _CONCEPT_NAME and not delimited and _unwanted(out):
                return None, end
            continue
        stop = pos + length
        if stop > n or length == _UNDEFINED:
            _bad_length(tag, length)
        out[tag] = buf[pos:stop]
        pos = stop
    if delimited or pos != end:
        raise NotDicom("truncated (an item has no end)" if delimited
                       else "corrupt (an element runs past the end of its item)")
    return out, pos


#: Marks the end of an item met where an element header was expected.
_END = object()


def _other_header(buf: bytes, pos: int, explicit: bool, out: dict, delimited: bool):
    """Tag, VR, length and value position of an element in implicit VR, or of an
    item tag (``_END`` as VR for the item delimiter that ends a delimited item)."""
    group, elem, length = _IMPLICIT_HDR.unpack_from(buf, pos)
    tag = group << 16 | elem
    if group == 0xFFFE:
        if tag == _ITEM_END and delimited:
            return tag, _END, 0, pos + 8
        raise NotDicom(f"corrupt (an item tag ({group:04X},{elem:04X}) where an element belongs)")
    if explicit:  # pragma: no cover - explicit headers of group FFFE only come here
        raise NotDicom(f"corrupt (element ({group:04X},{elem:04X}))")
    return tag, (b"SQ" if (length == _UNDEFINED or tag in _SQ_TAGS) else None), length, pos + 8


def _tail(buf: bytes, pos: int, end: int, explicit: bool, out: dict, delimited: bool):
    """The last elements of a buffer, where fewer than 12 bytes are left: only an
    item delimiter or a short element fits."""
    n = len(buf)
    while pos < end:
        if pos + 8 > n:
            raise NotDicom("truncated (the file ends inside an element)")
        group, elem, vr, length = _HDR.unpack_from(buf, pos)
        if not explicit or group == 0xFFFE:
            tag, vr, length, pos = _other_header(buf, pos, explicit, out, delimited)
            if vr is _END:
                return out, pos
        elif vr in _SHORT_VRS:
            tag, pos = group << 16 | elem, pos + 8
        else:
            raise NotDicom("truncated (the file ends inside an element)")
        stop = pos + length
        if stop > n or length == _UNDEFINED:
            raise NotDicom("truncated (the file ends inside an element)")
        out[tag] = [] if vr == b"SQ" else buf[pos:stop]  # a sequence here is empty: its length is 0
        pos = stop
    if delimited or pos != end:
        raise NotDicom("truncated (an item has no end)" if delimited
                       else "corrupt (an element runs past the end of its item)")
    return out, pos


def _bad_length(tag: int, length: int) -> None:
    if length == _UNDEFINED:
        raise NotDicom(f"corrupt (element ({tag >> 16:04X},{tag & 0xFFFF:04X}) of undefined length)")
    raise NotDicom("truncated (the file ends inside an element)")


def _sequence(buf: bytes, pos: int, length: int, explicit: bool, depth: int, sr: bool = False):
    if depth > _MAX_DEPTH:
        raise NotDicom("corrupt (sequences nested too deeply)")
    n = len(buf)
    end = n if length == _UNDEFINED else pos + length
    if end > n:
        raise NotDicom("truncated (a sequence runs past the end of the file)")
    items = []
    unpack = _IMPLICIT_HDR.unpack_from
    while pos < end:
        if pos + 8 > n:
            raise NotDicom("truncated (the file ends inside a sequence)")
        group, elem, item_length = unpack(buf, pos)
        tag = group << 16 | elem
        pos += 8
        if tag == _SEQ_END and length == _UNDEFINED:
            return items, pos
        if tag != _ITEM:
            raise NotDicom(f"corrupt (({group:04X},{elem:04X}) where a sequence item belongs)")
        if item_length == _UNDEFINED:
            item, pos = _dataset(buf, pos, n, explicit, depth, delimited=True, sr=sr)
        else:
            stop = pos + item_length
            if stop > end:
                raise NotDicom("truncated (an item runs past the end of its sequence)")
            item, pos = _dataset(buf, pos, stop, explicit, depth, delimited=False, sr=sr)
        if item is not None:
            items.append(_as_item(item) if sr else item)
    if length == _UNDEFINED:
        raise NotDicom("truncated (a sequence has no end)")
    return items, pos


def parse_dicom(data: bytes, path: Path | None = None) -> tuple[dict, dict]:
    """File meta and data set of a DICOM file's bytes: ``(meta, dataset)``.

    Values are raw bytes, sequences lists of dicts; nothing is decoded. Big
    endian files are read through pydicom (``path`` needed).

    Raises
    ------
    NotDicom
        Not a DICOM file (no ``DICM`` at byte 128), truncated or corrupt.
    """
    if len(data) < 132 or data[128:132] != b"DICM":
        raise NotDicom("not a DICOM file (no 'DICM' marker at byte 128)")
    meta: dict = {}
    pos, n = 132, len(data)
    while pos + 8 <= n:
        group, elem, vr, length = _HDR.unpack_from(data, pos)
        if group != 0x0002:
            break
        if vr in _LONG_VRS:
            length = _U32.unpack_from(data, pos + 8)[0]
            pos += 12
        else:
            pos += 8
        if pos + length > n:
            raise NotDicom("truncated (the file ends inside its file meta information)")
        meta[group << 16 | elem] = data[pos:pos + length]
        pos += length
    syntax = _text_ascii(meta.get(0x00020010, b""))
    if not syntax:
        raise NotDicom("corrupt (no transfer syntax in the file meta information)")
    explicit = syntax != _IMPLICIT_LE
    body, start = data, pos
    if syntax == _DEFLATED:
        try:
            inflater = zlib.decompressobj(-15)
            body = inflater.decompress(data[pos:], _MAX_INFLATED)
        except zlib.error as exc:
            raise NotDicom(f"corrupt (its deflated data set does not inflate: {exc})") from None
        if inflater.unconsumed_tail:
            raise NotDicom("refused: its deflated data set inflates beyond 256 MB")
        start = 0
    elif syntax == _EXPLICIT_BE:
        body, start, explicit = _reencoded(path), 0, True
    dataset, _ = _dataset(body, start, len(body), explicit, 0, delimited=False, top=True)
    return meta, dataset


def _reencoded(path: Path | None) -> bytes:
    """The data set of a big endian file, written again in explicit VR little endian by pydicom."""
    import io

    import pydicom

    if path is None:  # pragma: no cover - callers pass the path
        raise NotDicom("big endian data set without a file to read it from")
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.1"
        buf = io.BytesIO()
        try:
            pydicom.dcmwrite(buf, ds, little_endian=True, implicit_vr=False, force_encoding=True)
        except TypeError:  # pragma: no cover - pydicom < 3
            ds.is_little_endian, ds.is_implicit_VR = True, False
            pydicom.dcmwrite(buf, ds, write_like_original=False)
    except Exception as exc:  # noqa: BLE001 - any failure of the library is a corrupt file
        raise NotDicom(f"corrupt ({exc.__class__.__name__}: {exc})") from None
    data = buf.getvalue()
    return data[_meta_end(data):]


def _meta_end(data: bytes) -> int:
    """Where the data set starts: after the preamble and the file meta group."""
    pos = 132
    while pos + 8 <= len(data):
        group, _, vr, length = _HDR.unpack_from(data, pos)
        if group != 0x0002:
            break
        if vr in _LONG_VRS:
            length = _U32.unpack_from(data, pos + 8)[0]
            pos += 12 + length
        else:
            pos += 8 + length
    return pos


def _text_ascii(raw: bytes | None) -> str:
    """A value of an ASCII VR (UI, CS, DA, DT, TM, AS, DS, IS), padding removed."""
    if not raw:
        return ""
    text = raw.decode("latin-1").strip(" \x00")
    # A NUL inside a value is no character of these VRs (and PostgreSQL refuses it in text).
    return text.replace("\x00", "") if "\x00" in text else text


class _Text:
    """Decodes text values in the data set's character set."""

    def __init__(self, specific_character_set: bytes | None):
        terms = [t.strip() for t in _text_ascii(specific_character_set).split("\\")] if specific_character_set else []
        self.terms = [t for t in terms] or [""]
        self.simple = self.terms in ([""], ["ISO_IR 6"], ["ISO_IR 100"], ["ISO_IR 192"])
        self.codec = "utf-8" if self.terms == ["ISO_IR 192"] else "latin-1"
        self._encodings = None

    def __call__(self, raw: bytes | None) -> str:
        if not raw:
            return ""
        if self.simple:
            text = raw.decode(self.codec, "replace")
        else:
            from pydicom.charset import convert_encodings, decode_bytes

            if self._encodings is None:
                self._encodings = convert_encodings(list(self.terms))
            text = decode_bytes(raw, self._encodings, set())
        text = text.strip(" \x00")
        return text.replace("\x00", "") if "\x00" in text else text


# ---------------------------------------------------------------------------
# The SR tree
# ---------------------------------------------------------------------------

_VALUE_TYPE, _CONCEPT_NAME, _CONTENT = 0x0040A040, 0x0040A043, 0x0040A730
_CONCEPT_CODE, _MEASURED, _UNITS = 0x0040A168, 0x0040A300, 0x004008EA
_NUMERIC, _FLOAT_VALUE = 0x0040A30A, 0x0040A161
_TEXT_VALUE, _UID_VALUE, _DATETIME = 0x0040A160, 0x0040A124, 0x0040A120
_CODE_VALUE, _SCHEME, _MEANING, _LONG_CODE, _URN_CODE = 0x00080100, 0x00080102, 0x00080104, 0x00080119, 0x00080120


#: SNOMED RT codes of older reports for the SNOMED CT concepts read, as
#: pydicom's SNOMED mapping gives them (the tests check each against it);
#: no other SNOMED RT code needs mapping, as no other is compared.
SRT_EQUIVALENTS: dict[str, str] = {
    "P5-08000": CONCEPTS["computed_tomography"][2],
    "P5-40010": CONCEPTS["mammography"][2],
    "P5-06000": CONCEPTS["fluoroscopy"][2],
}


_CODE_KEYS: dict = {}


def _code_key(item: dict | None) -> tuple[str, str] | None:
    """(scheme, value) of a code item; SNOMED RT mapped to SNOMED CT."""
    if not item:
        return None
    value = item.get(_CODE_VALUE) or item.get(_LONG_CODE) or item.get(_URN_CODE)
    raw = (item.get(_SCHEME), value)
    key = _CODE_KEYS.get(raw)
    if key is not None:
        return key
    key = (_text_ascii(raw[0]), _text_ascii(value))
    if key[0] in ("SRT", "SNM3") and key[1] in SRT_EQUIVALENTS:
        key = ("SCT", SRT_EQUIVALENTS[key[1]])
    if len(_CODE_KEYS) < 50_000:
        _CODE_KEYS[raw] = key
    return key


def _first(seq) -> dict | None:
    return seq[0] if isinstance(seq, list) and seq else None


class Item:
    """One content item: its concept ``key``, value type and raw elements."""

    __slots__ = ("key", "vtype", "raw", "children")

    def __init__(self, key, vtype, raw, children):
        self.key = key
        self.vtype = vtype
        self.raw = raw
        self.children = children

    def find(self, name: str) -> Item | None:
        key = _K[name]
        for child in self.children:
            if child.key == key:
                return child
        return None

    def find_all(self, name: str) -> list[Item]:
        key = _K[name]
        return [c for c in self.children if c.key == key]

    @property
    def code(self) -> tuple[str, str] | None:
        """The value of a CODE item."""
        return _code_key(_first(self.raw.get(_CONCEPT_CODE)))

    @property
    def meaning(self) -> str:
        """The code meaning of a CODE item's value (for messages only)."""
        item = _first(self.raw.get(_CONCEPT_CODE))
        return _text_ascii(item.get(_MEANING)) if item else ""


_VALUE_TYPES: dict[bytes, str] = {}


def _as_item(raw: dict) -> Item:
    """A content item read (its content sequence read into items already)."""
    vtype = raw.get(_VALUE_TYPE) or b""
    name = _VALUE_TYPES.get(vtype)
    if name is None:
        name = _text_ascii(vtype)
        if len(_VALUE_TYPES) < 64:
            _VALUE_TYPES[vtype] = name
    key = raw.get(_KEY) or _code_key(_first(raw.get(_CONCEPT_NAME)))
    return Item(key, name, raw, raw.get(_CONTENT) or ())


class Rejected(Exception):
    """The study of a report cannot be stored; the message says why."""


def _number(item: Item, what: str) -> tuple[float, str, str]:
    """Value, UCUM unit code and the text as read of a NUM item."""
    mv = _first(item.raw.get(_MEASURED))
    if mv is None:
        raise Rejected(f"{what} has no measured value")
    text = _text_ascii(mv.get(_NUMERIC))
    try:
        value = float(text)
    except ValueError:
        fp = mv.get(_FLOAT_VALUE)
        if fp and len(fp) == 8:
            value = struct.unpack("<d", fp)[0]
            text = repr(value)
        else:
            raise Rejected(f"{what} is not a number ({text!r})") from None
    if not math.isfinite(value):
        raise Rejected(f"{what} is not a finite number ({text!r})")
    unit = _first(mv.get(_UNITS))
    scheme, code = _code_key(unit) if unit else ("", "")
    if not code:
        raise Rejected(f"{what} has no measurement unit")
    if scheme != "UCUM":
        raise Rejected(f"unknown unit {code!r} of {what}: coded in scheme {scheme!r}, not UCUM")
    return value, code, text


_FAMILY_NAMES = {"dap": "dose-area product", "dose": "dose", "dlp": "dose-length product", "time": "time"}


_FACTORS: dict[tuple[str, str], float] = {}


def _converted(value: float, unit: str, family: str, what: str) -> float:
    factor = _FACTORS.get((family, unit))
    if factor is not None:
        return value * factor
    try:
        factor = _FACTORS[(family, unit)] = ucum_factor(family, unit)
        return value * factor
    except UnknownUnit:
        known = any(unit in codes for codes in _ucum_codes().values())
        if known:
            raise Rejected(f"unit {unit!r} of {what} is not a unit of {_FAMILY_NAMES[family]}") from None
        raise Rejected(f"unknown unit {unit!r} of {what} (UCUM code not known)") from None


def _ucum_codes():
    from ..core.units import UCUM_CODES

    return UCUM_CODES


# ---------------------------------------------------------------------------
# The procedure map
# ---------------------------------------------------------------------------

MAP_COLUMNS: tuple[str, ...] = ("report", "field", "pattern", "exam_code")
MAP_REPORTS: tuple[str, ...] = ("ct", "projection", "")
MAP_FIELDS: tuple[str, ...] = ("study_description", "requested_procedure", "protocol", "procedure_code")


def _fold(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip().casefold()


@dataclass(frozen=True)
class MapRule:
    line: int
    report: str
    field: str
    pattern: str
    exam_code: str
    regex: re.Pattern | None


class ProcedureMap:
    """Exam codes for studies, from a CSV file with columns ``report, field, pattern, exam_code``.

    ``report`` is ``ct``, ``projection`` or empty (both); ``field`` one of
    ``study_description``, ``requested_procedure``, ``protocol``,
    ``procedure_code``; ``pattern`` the text, matched case-insensitively with
    surrounding spaces ignored, or ``re:`` and a regular expression searched
    in the text (case-insensitively; anchor it with ``^`` and ``$``). The
    first matching row wins, in file order.
    """

    def __init__(self, rules: list[MapRule], source: str):
        self.rules = rules
        self.source = source
        self._cache: dict = {}

    @classmethod
    def load(cls, path: str | Path | None = None) -> ProcedureMap:
        """Read and check a map file (default: the shipped one).

        Raises
        ------
        UserError
            Naming the file, the line and what is wrong.
        """
        path = Path(path) if path else PROCEDURE_MAP_FILE
        where = f"--procedure-map {path}" if path != PROCEDURE_MAP_FILE else f"procedure map {path.name}"
        try:
            text = path.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise UserError(f"{where}: no such file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"{where}: cannot read it ({exc})") from None
        reader = csv.reader(text.splitlines())
        header = next(reader, None)
        if header is None or [h.strip() for h in header] != list(MAP_COLUMNS):
            raise UserError(f"{where}: the first line must name exactly the columns {', '.join(MAP_COLUMNS)}")
        rules = []
        for line, row in enumerate(reader, start=2):
            if not any(v.strip() for v in row):
                continue
            if len(row) != len(MAP_COLUMNS):
                raise UserError(f"{where}: line {line} has {len(row)} cells, not {len(MAP_COLUMNS)}")
            report, fld, pattern, code = (row[0].strip().lower(), row[1].strip(), row[2], row[3].strip())
            if report not in MAP_REPORTS:
                raise UserError(f"{where}: line {line}: report {row[0]!r} is not ct, projection or empty")
            if fld not in MAP_FIELDS:
                raise UserError(f"{where}: line {line}: field {row[1]!r} is not one of {', '.join(MAP_FIELDS)}")
            if not pattern.strip() or pattern.strip() == "re:":
                raise UserError(f"{where}: line {line}: the pattern is empty")
            if not code:
                raise UserError(f"{where}: line {line}: the exam code is empty")
            regex = None
            if pattern.startswith("re:"):
                try:
                    regex = re.compile(unicodedata.normalize("NFC", pattern[3:]), re.IGNORECASE)
                except re.error as exc:
                    raise UserError(
                        f"{where}: line {line}: {pattern[3:]!r} is not a regular expression ({exc})") from None
            else:
                pattern = _fold(pattern)
            rules.append(MapRule(line, report, fld, pattern, code, regex))
        return cls(rules, str(path))

    def match(self, report: str, fields: dict[str, tuple[str, ...]]) -> tuple[str | None, int | None]:
        """The exam code and the map's line for a study, or ``(None, None)``."""
        key = (report, *(fields.get(f, ()) for f in MAP_FIELDS))
        hit = self._cache.get(key)
        if hit is None:
            hit = self._match(report, fields)
            if len(self._cache) < 100_000:
                self._cache[key] = hit
        return hit

    def _match(self, report: str, fields: dict[str, tuple[str, ...]]) -> tuple[str | None, int | None]:
        folded = {f: [(v, _fold(v)) for v in fields.get(f, ()) if v and v.strip()] for f in MAP_FIELDS}
        for rule in self.rules:
            if rule.report and rule.report != report:
                continue
            for raw, low in folded[rule.field]:
                if rule.regex is not None:
                    if rule.regex.search(unicodedata.normalize("NFC", raw.strip())):
                        return rule.exam_code, rule.line
                elif low == rule.pattern:
                    return rule.exam_code, rule.line
        return None, None


# ---------------------------------------------------------------------------
# Reading one report
# ---------------------------------------------------------------------------


@dataclass
class RdsrOptions:
    """How reports are read: the facility (``--rdsr-facility``) and the procedure map."""

    facility: str = "device"
    procedure_map: ProcedureMap | None = None

    def __post_init__(self):
        if self.facility not in FACILITY_MODES:
            raise UserError(f"--rdsr-facility: {self.facility!r} is not one of {', '.join(FACILITY_MODES)}")
        if self.procedure_map is None:
            self.procedure_map = ProcedureMap.load()


@dataclass
class Report:
    """One file as read: a failure, or a study to store or reject.

    ``exposure`` holds the exposure row; ``rejected`` the reason its study is
    not stored (then ``exposure`` is None); ``repairs`` tuples ``(column,
    before, after, rule)``; ``document`` the row of table ``rdsr``.
    """

    source_file: str
    sha256: str
    failed: str | None = None
    template: str = ""
    data_source: str | None = None
    year: int | None = None
    exposure: dict | None = None
    rejected: str | None = None
    repairs: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    document: dict = field(default_factory=dict)
    events: frozenset = frozenset()
    values_read: dict = field(default_factory=dict)
    #: Stored before (same SHA-256): not read.
    duplicate: bool = False
    #: The file could not be opened: nothing is stored for it.
    unreadable: bool = False


def _key(text: str) -> str:
    """A UID's SHA-256 (hex, 32 digits): the report is found again without keeping the UID."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _date(text: str) -> dt.date | None:
    text = text.strip()
    if len(text) >= 8 and text[:8].isdigit():
        try:
            return dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
        except ValueError:
            return None
    return None


_AGE = re.compile(r"^(\d{3})([DWMY])$")
_AGE_LOOSE = re.compile(r"^\s*(\d{1,3})\s*([DWMY])\s*$", re.IGNORECASE)
_AGE_FACTOR = {"Y": 1.0, "M": 1 / 12, "W": 7 / 365.25, "D": 1 / 365.25}


def _age(text: str) -> float:
    n, unit = int(text[:-1]), text[-1].upper()
    if unit == "Y":
        return float(n)
    if unit == "M":
        return n / 12
    if unit == "W":
        return n * 7 / 365.25
    return n / 365.25


def _flags(row: dict, known_codes, unmapped: bool, mixed: bool) -> str:
    tokens = []
    for column in NUMERIC_COLUMNS:
        value = row.get(column)
        if value is None or value != value:
            continue
        if column == "ctdi_phantom_cm":
            bad = value not in PHANTOMS_CM
        else:
            q = QUANTITIES[column]
            bad = value < q.low or value > q.high
        if bad:
            tokens.append(flag_token(FLAG_OUT_OF_RANGE, column))
    if unmapped:
        tokens.append(FLAG_UNMAPPED_PROCEDURE)
    elif row.get("exam_code") not in known_codes:
        tokens.append(FLAG_UNKNOWN_EXAM)
    if mixed:
        tokens.append(flag_token(FLAG_MIXED_PHANTOMS, "dlp_mgycm"))
    return ";".join(sorted(set(tokens)))


def _summed_events(events: list[Item], dap_value) -> tuple[float, dict]:
    """DAP and the further values of a projection report, summed over its
    irradiation events (``dap_value(item, what)`` reads a DAP item)."""
    daps, doses, fluoro, acquisition, fluoro_time = [], [], [], [], []
    for index, ev in enumerate(events, start=1):
        item = ev.find("dap")
        if item is None:
            raise Rejected(f"no Dose Area Product Total, and irradiation event {index} has no DAP")
        value = dap_value(item, f"DAP of event {index}")
        daps.append(value)
        kind = ev.find("irradiation_event_type")
        is_fluoro = kind is not None and kind.code == _K["fluoroscopy"]
        (fluoro if is_fluoro else acquisition).append(value)
        doses.append(_event_value(ev, "dose_rp", "dose", f"Dose (RP) of event {index}"))
        if is_fluoro:
            fluoro_time.append(_event_value(ev, "irradiation_duration", "time",
                                            f"Irradiation Duration of event {index}"))
    extra = {
        "dap_fluoro_cgycm2": sum(fluoro) if fluoro else math.nan,
        "dap_acquisition_cgycm2": sum(acquisition) if acquisition else math.nan,
        "fluoro_time_min": sum(fluoro_time) if fluoro_time and None not in fluoro_time else math.nan,
        "dose_rp_mgy": sum(doses) if None not in doses else math.nan,
    }
    return sum(daps), extra


def _event_value(event: Item, name: str, family: str, what: str) -> float | None:
    """A NUM item of an event in its family's canonical unit, or None when the event has none."""
    item = event.find(name)
    if item is None:
        return None
    v, u, _ = _number(item, what)
    return _converted(v, u, family, what)


class _Reader:
    """Reads reports with one set of options (in a worker process)."""

    def __init__(self, catalogue: Catalogue, options: RdsrOptions, data_source: str | None, year: int | None,
                 max_bytes: int | None):
        self.catalogue = catalogue
        self.codes = frozenset(catalogue.codes)
        self.options = options
        self.data_source = data_source
        self.year = year
        self.max_bytes = max_bytes
        self._folder_labels: dict[str, tuple[str | None, int | None]] = {}

    # -- the file ----------------------------------------------------------

    def read(self, path: Path, source_file: str, already: frozenset | set = frozenset()) -> Report:
        """Read one file; its SHA-256 is taken from the bytes read (a file stored
        before, by its SHA-256 in ``already``, is not parsed: ``rep.duplicate``)."""
        rep = Report(source_file, "")
        try:
            size = path.stat().st_size
            if self.max_bytes is not None and size > self.max_bytes:
                rep.sha256 = _sha256_file(path)
                if rep.sha256 in already:
                    rep.duplicate = True
                    return rep
                raise NotDicom(f"the file is {size / 2**20:.3g} MB, more than the limit of "
                               f"{self.max_bytes / 2**20:.3g} MB (--max-file-mb)")
            data = path.read_bytes()
        except NotDicom as exc:
            rep.failed = str(exc)
            return rep
        except OSError as exc:
            rep.failed = f"cannot open the file ({exc.strerror or exc})"
            rep.unreadable = True
            return rep
        rep.sha256 = hashlib.sha256(data).hexdigest()
        if rep.sha256 in already:
            rep.duplicate = True
            return rep
        try:
            if not data:
                raise NotDicom("the file is empty (0 bytes)")
            meta, ds = parse_dicom(data, path)
            self._read_dataset(rep, path, meta, ds)
        except NotDicom as exc:
            rep.failed = str(exc)
        except Rejected as exc:
            rep.rejected = str(exc)
            rep.exposure = None
        return rep

    def _read_dataset(self, rep: Report, path: Path, meta: dict, ds: dict) -> None:
        text = _Text(ds.get(0x00080005))
        sop_class = _text_ascii(ds.get(0x00080016)) or _text_ascii(meta.get(0x00020002))
        content = ds.get(_CONTENT)
        root_key = _code_key(_first(ds.get(_CONCEPT_NAME)))
        is_sr = sop_class.startswith(_SR_SOP_PREFIX) or (
            _text_ascii(ds.get(_VALUE_TYPE)) == "CONTAINER" and isinstance(content, list))
        if not is_sr:
            raise NotDicom(f"DICOM, but not a structured report: {_sop_name(sop_class)}")
        tpl = _first(ds.get(0x0040A504))
        template = _text_ascii(tpl.get(0x0040DB00)) if tpl else ""
        root_meaning = _text_ascii(_first(ds.get(_CONCEPT_NAME)).get(_MEANING)) if root_key else ""
        if root_key in _OTHER_DOSE_REPORTS:
            number, what = _OTHER_DOSE_REPORTS[root_key]
            raise NotDicom(f"{what} (TID {template or number}): only CT (TID 10011) and projection X-ray "
                           "(TID 10001) dose reports are read")
        if root_key != _K["xray_dose_report"]:
            raise NotDicom(
                f"an SR document that is not a radiation dose report ({_sop_name(sop_class)}"
                + (f", TID {template}" if template else "")
                + (f", titled {root_meaning!r}" if root_meaning else "") + ")"
            )
        items = content if isinstance(content, list) else []
        rep.template = self._template(rep, items, template)

        # Containers: directly under the report, or inside private ones.
        found = self._containers(rep, items)
        study = self._study(rep, path, ds, text, items, found)
        if rep.template == "ct":
            self._ct(rep, found)
        else:
            self._projection(rep, found, ds, text)
        self._finish(rep, study)

    def _template(self, rep: Report, items: list[Item], template: str) -> str:
        reported = next((i for i in items if i.key == _K["procedure_reported"]), None)
        procedure = reported.code if reported else None
        if procedure == _K["mammography"]:
            raise NotDicom(f"a mammography dose report (TID {template or TEMPLATE_PROJECTION}, procedure reported: "
                           "Mammography): mammography reports are not read")
        if _has_agd(items):
            raise NotDicom(f"a mammography dose report (TID {template or TEMPLATE_PROJECTION}, accumulated average "
                           "glandular dose): mammography reports are not read")
        by_procedure = {_K["computed_tomography"]: "ct", _K["projection_xray"]: "projection"}.get(procedure)
        if template:
            kind = _REPORT_OF_TEMPLATE.get(template)
            if kind is None:
                raise NotDicom(f"an X-ray radiation dose report of template TID {template}: only TID 10011 (CT) "
                               "and TID 10001 (projection X-ray) are read")
            if by_procedure and by_procedure != kind:
                raise NotDicom(f"corrupt: template TID {template} but procedure reported "
                               f"{reported.meaning or procedure[1]!r}")
            return kind
        kind = by_procedure
        how = "procedure reported"
        if kind is None:
            ct = any(_walk_keys(items, _K["ct_accumulated"])) or any(_walk_keys(items, _K["ct_acquisition"]))
            xr = any(_walk_keys(items, _K["accumulated_xray"])) or any(_walk_keys(items, _K["xray_event"]))
            if ct == xr:
                raise NotDicom("an X-ray radiation dose report without template identifier whose template cannot "
                               "be told from its content")
            kind, how = ("ct" if ct else "projection"), "dose containers"
        rep.repairs.append(("template", "", f"TID {_TEMPLATE_OF_REPORT[kind]}", "rdsr_template_inferred"))
        rep.notes.append(f"no template identifier; TID {_TEMPLATE_OF_REPORT[kind]} from the {how}")
        return kind

    def _containers(self, rep: Report, items: list[Item]) -> dict[str, list[Item]]:
        names = ("ct_accumulated", "ct_acquisition") if rep.template == "ct" else ("accumulated_xray", "xray_event")
        keys = {_K[n]: n for n in names}
        found: dict[str, list[Item]] = {n: [] for n in names}
        private: list[str] = []

        def visit(level: list[Item], wrapper: str | None, depth: int) -> None:
            for it in level:
                name = keys.get(it.key)
                if name is not None:
                    found[name].append(it)
                    if wrapper and wrapper not in private:
                        private.append(wrapper)
                elif it.vtype == "CONTAINER" and it.key and it.key[0].startswith("99") and depth < 4:
                    visit(it.children, f"{it.key[0]}:{it.key[1]}", depth + 1)

        visit(items, None, 0)
        for wrapper in private:
            rep.repairs.append(("", wrapper, "", "rdsr_private_container"))
            rep.notes.append(f"dose containers inside the private container {wrapper}")
        return found

    # -- CT ----------------------------------------------------------------

    def _ct(self, rep: Report, found: dict[str, list[Item]]) -> None:
        events = found["ct_acquisition"]
        read = rep.values_read
        event_uids = []
        best = None  # (ctdivol, phantom, index)
        phantoms = set()
        event_dlps = []
        localizers = 0
        for index, ev in enumerate(events, start=1):
            uid = ev.find("irradiation_event_uid")
            if uid is not None:
                event_uids.append(_text_ascii(uid.raw.get(_UID_VALUE)))
            acq = ev.find("ct_acquisition_type")
            localizer = acq is not None and acq.code == _K["constant_angle"]
            localizers += localizer
            dose = ev.find("ct_dose")
            dlp_item = dose.find("dlp") if dose else None
            if dlp_item is not None:
                v, u, t = _number(dlp_item, f"DLP of event {index}")
                event_dlps.append(_converted(v, u, "dlp", f"DLP of event {index}"))
            else:
                event_dlps.append(None)
            phantom_item = dose.find("ctdiw_phantom") if dose else None
            phantom = _PHANTOM_CM.get(phantom_item.code) if phantom_item is not None else None
            if phantom is not None:
                phantoms.add(phantom)
            ctdi_item = dose.find("mean_ctdivol") if dose else None
            if ctdi_item is None or localizer:
                continue
            v, u, t = _number(ctdi_item, f"Mean CTDIvol of event {index}")
            ctdivol = _converted(v, u, "dose", f"Mean CTDIvol of event {index}")
            if best is None or ctdivol > best[0]:
                best = (ctdivol, phantom, index, f"{t} {u}", phantom_item.meaning if phantom_item else "")
        rep.events = frozenset(_key(u) for u in event_uids if u)
        rep.document["n_events"] = len(events)
        acc = found["ct_accumulated"]
        dlp = None
        if acc:
            if len(acc) > 1:
                raise Rejected("more than one CT Accumulated Dose Data container")
            total = acc[0].find("dlp_total")
            if total is not None:
                v, u, t = _number(total, "CT Dose Length Product Total")
                dlp = _converted(v, u, "dlp", "CT Dose Length Product Total")
                read["dlp_total"] = f"{t} {u}"
        if dlp is None:
            if not events:
                raise Rejected("no DLP: neither a CT Dose Length Product Total nor irradiation events")
            if any(d is None for d in event_dlps):
                raise Rejected("no CT Dose Length Product Total, and not every irradiation event has a DLP")
            dlp = sum(event_dlps)
            why = "no CT Accumulated Dose Data" if not acc else "no CT Dose Length Product Total"
            rep.repairs.append(("dlp_mgycm", "", repr(dlp), "rdsr_events_summed"))
            rep.notes.append(f"{why}; DLP summed over {len(events)} irradiation events")
        ctdivol = phantom = math.nan
        if best is not None:
            read["ctdivol"] = f"{best[3]} (event {best[2]}, {best[4] or 'no phantom'})"
            if best[1] is None:
                rep.repairs.append(("ctdivol_mgy", repr(best[0]), "", "rdsr_ctdivol_without_phantom"))
                rep.notes.append(f"the largest CTDIvol (event {best[2]}) names no IEC head or body phantom; "
                                 "CTDIvol not stored")
            else:
                ctdivol, phantom = best[0], best[1]
        else:
            rep.notes.append("no irradiation event other than localizers with a CTDIvol")
        rep.exposure = {"dlp_mgycm": dlp, "ctdivol_mgy": ctdivol, "ctdi_phantom_cm": phantom, "dap_cgycm2": math.nan}
        rep.document["_mixed"] = len(phantoms) > 1
        rep.notes.append(f"CT dose report (TID 10011), {len(events)} irradiation events, {localizers} localizers")

    # -- projection ------------------------------------------------------------

    @staticmethod
    def _dap_unit(rep: Report, unit: str, manufacturer: str, model: str) -> str:
        """The unit a DAP coded ``unit`` is really written in, by the device model's quirk (if any)."""
        for q in DAP_UNIT_QUIRKS:
            if unit == q.coded and manufacturer.casefold() == q.manufacturer.casefold() and re.fullmatch(
                    q.model, model, re.IGNORECASE):
                rep.document["_dap_quirk"] = q
                return q.real
        return unit

    def _projection(self, rep: Report, found: dict[str, list[Item]], ds: dict, text: _Text) -> None:
        events = found["xray_event"]
        accs = found["accumulated_xray"]
        read = rep.values_read
        event_uids = []
        quirk_logged = False
        manufacturer, model = text(ds.get(0x00080070)), text(ds.get(0x00081090))

        def dap_value(item: Item, what: str) -> float:
            nonlocal quirk_logged
            v, u, t = _number(item, what)
            real = self._dap_unit(rep, u, manufacturer, model)
            value = _converted(v, real, "dap", what)
            if real != u and not quirk_logged:
                quirk_logged = True
                q = rep.document["_dap_quirk"]
                rep.repairs.append(("dap_cgycm2", f"{t} {u}", f"{t} {real}", "rdsr_dap_unit_of_model"))
                rep.notes.append(f"DAP of {q.manufacturer} {q.model} coded {u} read as {real} (known quirk)")
            return value

        def total(name: str, family: str, what: str) -> float:
            values = []
            for k, acc in enumerate(accs, start=1):
                item = acc.find(name)
                if item is None:
                    continue
                where = what if len(accs) == 1 else f"{what} (plane {k})"
                if family == "dap":
                    values.append(dap_value(item, where))
                else:
                    v, u, t = _number(item, where)
                    values.append(_converted(v, u, family, where))
                read.setdefault(name, []).append(_read_text(item))
            return sum(values) if values else math.nan

        for ev in events:
            uid = ev.find("irradiation_event_uid")
            if uid is not None:
                event_uids.append(_text_ascii(uid.raw.get(_UID_VALUE)))
        rep.events = frozenset(_key(u) for u in event_uids if u)
        rep.document["n_events"] = len(events)
        dap = math.nan
        if accs and all(a.find("dap_total") is not None for a in accs):
            dap = total("dap_total", "dap", "Dose Area Product Total")
            extra = {
                "dap_fluoro_cgycm2": total("fluoro_dap_total", "dap", "Fluoro Dose Area Product Total"),
                "dap_acquisition_cgycm2": total("acquisition_dap_total", "dap", "Acquisition Dose Area Product Total"),
                "fluoro_time_min": total("total_fluoro_time", "time", "Total Fluoro Time"),
                "dose_rp_mgy": total("dose_rp_total", "dose", "Dose (RP) Total"),
            }
            planes = f", {len(accs)} planes" if len(accs) > 1 else ""
        else:
            if not events:
                raise Rejected("no DAP: neither a Dose Area Product Total nor irradiation events")
            dap, extra = _summed_events(events, dap_value)
            why = "no Accumulated X-Ray Dose Data" if not accs else "no Dose Area Product Total"
            rep.repairs.append(("dap_cgycm2", "", repr(dap), "rdsr_events_summed"))
            rep.notes.append(f"{why}; values summed over {len(events)} irradiation events")
            planes = ""
        rep.exposure = {"dap_cgycm2": dap, "dlp_mgycm": math.nan, "ctdivol_mgy": math.nan,
                        "ctdi_phantom_cm": math.nan}
        rep.document.update(extra)
        rep.notes.append(f"projection X-ray dose report (TID 10001), {len(events)} irradiation events{planes}")

    # -- the study -----------------------------------------------------------

    def _study(self, rep: Report, path: Path, ds: dict, text: _Text, items: list[Item],
               found: dict[str, list[Item]]) -> dict:
        """Data source, year, facility, exam code and patient of a report (the document's fields set)."""
        doc = rep.document
        study_date = _date(_text_ascii(ds.get(0x00080020)))
        content_date = _date(_text_ascii(ds.get(0x00080023)))
        folder_source, folder_year = self._folder(path, rep.source_file)
        year = study_date.year if study_date else None
        if year is None and content_date:
            year = content_date.year
            rep.notes.append("no study date; the year from the content date")
        rep.data_source = folder_source or self.data_source
        rep.year = year or folder_year or self.year
        station = text(ds.get(0x00081010))
        device_uid = ""
        for it in items:
            if it.key == _K["device_observer_uid"]:
                device_uid = _text_ascii(it.raw.get(_UID_VALUE))
                break
        mode = self.options.facility
        if mode == "device":
            facility = device_uid or station
            if not device_uid and station:
                rep.notes.append("no Device Observer UID; the facility is the station name")
            missing = "no Device Observer UID and no Station Name"
        elif mode == "station":
            facility, missing = station, "no Station Name (--rdsr-facility station)"
        else:
            facility, missing = text(ds.get(0x00080080)), "no Institution Name (--rdsr-facility institution)"
        manufacturer = text(ds.get(0x00080070))
        model = text(ds.get(0x00081090))
        fields = self._procedure_fields(ds, text, found)
        exam_code, line = self.options.procedure_map.match(rep.template, fields)
        if exam_code is None:
            rep.notes.append("the procedure map gives no exam code")
        weight, age = self._patient(rep, ds, study_date or content_date)
        sop = _text_ascii(ds.get(0x00080018))
        study_uid = _text_ascii(ds.get(0x0020000D))
        content_dt = _text_ascii(ds.get(0x00080023)) + _text_ascii(ds.get(0x00080033))
        doc.update(
            template=rep.template,
            sop_key=_key(sop) if sop else None,
            study_key=_key(study_uid) if study_uid else None,
            device_key=_key(device_uid) if device_uid else _key(f"station:{manufacturer}|{model}|{station}"),
            content_datetime=content_dt or None,
            manufacturer=manufacturer or None,
            model=model or None,
            study_description=(fields["study_description"] or (None,))[0],
            requested_procedure=(fields["requested_procedure"] or (None,))[0],
            protocol=" | ".join(fields["protocol"][:5]) or None,
            procedure_code=(fields["procedure_code"] or (None,))[0],
            map_row=line,
        )
        return {"facility_id": facility or None, "exam_code": exam_code, "weight_kg": weight, "age_years": age,
                "_missing": missing}

    def _finish(self, rep: Report, study: dict) -> None:
        """The exposure row of a report whose values are read; or why its study is rejected."""
        rep.document["event_keys"] = json.dumps(sorted(rep.events))
        row = dict(rep.exposure)
        row.update(facility_id=study["facility_id"], exam_code=study["exam_code"], weight_kg=study["weight_kg"],
                   age_years=study["age_years"], agd_mgy=math.nan)
        if not row["facility_id"]:
            raise Rejected(f"no facility: the report has {study['_missing']}")
        if rep.data_source is None:
            raise Rejected("no data source: put the file in a folder named like 'Aerztliche_Stelle_Nord_2024' "
                           "or give --data-source")
        if rep.year is None:
            raise Rejected("no survey year: the report has no study or content date; give --year")
        row["flags"] = _flags(row, self.codes, row["exam_code"] is None, rep.document.get("_mixed", False))
        rep.exposure = row

    def _procedure_fields(self, ds: dict, text: _Text, found: dict[str, list[Item]]) -> dict[str, tuple[str, ...]]:
        description = text(ds.get(0x00081030))
        requested = [text(ds.get(0x00321060))]
        codes = []
        for seq_tag in (0x0040A370, 0x00400275):
            for req in ds.get(seq_tag) or ():
                requested.append(text(req.get(0x00321060)))
                codes += _codes_of(req.get(0x00321064))
        codes += _codes_of(ds.get(0x00081032)) + _codes_of(ds.get(0x0040A372))
        protocols = [text(ds.get(0x00181030))]
        for name in ("ct_acquisition", "xray_event"):
            for ev in found.get(name, ()):
                p = ev.find("acquisition_protocol")
                if p is not None:
                    protocols.append(text(p.raw.get(_TEXT_VALUE)))
        return {
            "study_description": (description,) if description else (),
            "requested_procedure": tuple(dict.fromkeys(r for r in requested if r)),
            "protocol": tuple(dict.fromkeys(p for p in protocols if p)),
            "procedure_code": tuple(dict.fromkeys(codes)),
        }

    def _patient(self, rep: Report, ds: dict, study_date: dt.date | None) -> tuple[float, float]:
        weight = math.nan
        raw_weight = _text_ascii(ds.get(0x00101030))
        if raw_weight:
            try:
                weight = float(raw_weight)
            except ValueError:
                rep.repairs.append(("weight_kg", raw_weight, "", "unreadable_value"))
            else:
                if weight == 0:
                    weight = math.nan
                    rep.repairs.append(("weight_kg", raw_weight, "", "rdsr_weight_zero"))
                elif not math.isfinite(weight):
                    weight = math.nan
                    rep.repairs.append(("weight_kg", raw_weight, "", "unreadable_value"))
        age = math.nan
        raw_age = _text_ascii(ds.get(0x00101010))
        if raw_age:
            if _AGE.match(raw_age):
                age = _age(raw_age)
            else:
                m = _AGE_LOOSE.match(raw_age)
                if m:
                    age = _age(m.group(1) + m.group(2))
                    rep.repairs.append(("age_years", raw_age, repr(age), "rdsr_age_format"))
                else:
                    rep.repairs.append(("age_years", raw_age, "", "unreadable_value"))
        if age != age:
            birth = _date(_text_ascii(ds.get(0x00100030)))
            if birth and study_date and birth <= study_date:
                age = (study_date - birth).days / 365.25
        return weight, age

    def _folder(self, path: Path, source_file: str) -> tuple[str | None, int | None]:
        """Data source and year named by the nearest folder around the file that
        names both, up to the input folder it was found in."""
        from .headers import labels_from_name

        folder = os.path.dirname(os.fspath(path))
        for _ in range(source_file.count("/") + 1):
            hit = self._folder_labels.get(folder)
            if hit is None:
                hit = self._folder_labels[folder] = labels_from_name(os.path.basename(folder))
            if hit[0]:
                return hit
            parent = os.path.dirname(folder)
            if parent == folder:
                break
            folder = parent
        return None, None


def _read_text(item: Item) -> str:
    mv = _first(item.raw.get(_MEASURED))
    unit = _first(mv.get(_UNITS)) if mv else None
    return f"{_text_ascii(mv.get(_NUMERIC)) if mv else ''} {_text_ascii(unit.get(_CODE_VALUE)) if unit else ''}".strip()


def _codes_of(seq) -> list[str]:
    out = []
    for item in seq or ():
        key = _code_key(item)
        if key and key[1]:
            out += [key[1], f"{key[0]}:{key[1]}"]
    return out


def _has_agd(items: list[Item], depth: int = 0) -> bool:
    """Whether an accumulated X-ray dose container (directly under the report or
    in a private container) holds an accumulated average glandular dose."""
    agd, acc = _K["accumulated_agd"], _K["accumulated_xray"]
    for it in items:
        if it.key == acc and any(c.key == agd for c in it.children):
            return True
        private = it.vtype == "CONTAINER" and it.key and it.key[0][:2] == "99"
        if private and depth < 4 and _has_agd(it.children, depth + 1):
            return True
    return False


def _walk_keys(items: list[Item], key: tuple[str, str]):
    for it in items:
        if it.key == key:
            yield it
        if it.children:
            yield from _walk_keys(it.children, key)


def _sop_name(uid: str) -> str:
    if not uid:
        return "no SOP class"
    from pydicom.uid import UID

    name = UID(uid).name
    return name if name != uid else f"SOP class {uid}"


def _sha256_file(path: Path) -> str:
    from .submission import sha256_file

    return sha256_file(path)


def read_report(path: str | Path, source_file: str | None = None, *, catalogue: Catalogue | None = None,
                options: RdsrOptions | None = None, data_source: str | None = None, year: int | None = None,
                max_bytes: int | None = None) -> Report:
    """Read one file as an RDSR (nothing is stored); for tests and single files."""
    from ..core.catalogue import load_catalogue

    path = Path(path)
    reader = _Reader(catalogue or load_catalogue(), options or RdsrOptions(), data_source, year, max_bytes)
    return reader.read(path, source_file or path.name)


# ---------------------------------------------------------------------------
# Ingest: workers read, this process writes
# ---------------------------------------------------------------------------

_WORKER: dict = {}


def _worker_reader() -> tuple[_Reader, frozenset]:
    """This worker's reader, made from what the ingest gave its workers."""
    from .workers import settings

    value = settings()
    if _WORKER.get("value") is not value:
        catalogue, options, data_source, year, max_bytes, already = value
        _WORKER.update(value=value, reader=_Reader(catalogue, options, data_source, year, max_bytes), already=already)
    return _WORKER["reader"], _WORKER["already"]


class Read(NamedTuple):
    """What a worker sends back for one file: the report's rows and what the
    writer needs to find duplicates and cumulative updates (a tuple: cheap to
    pass between processes)."""

    k: int
    source_file: str
    sha256: str
    state: str  # "read", "failed" (recorded), "unreadable" (not recorded) or "duplicate" (stored before)
    message: str | None
    template: str
    data_source: str | None
    year: int | None
    rejected: str | None
    value: float | None  # DAP (projection) or DLP (CT) of a stored report
    sop: str | None
    study: str | None
    device: str | None
    content: str
    events: frozenset
    notes: tuple
    raw: str | None
    rows: tuple | None


def _pack(k: int, rep: Report) -> Read:
    if rep.duplicate:
        return Read(k, rep.source_file, rep.sha256, "duplicate", None, "", None, None, None, None, None, None, None,
                    "", frozenset(), (), None, None)
    if rep.unreadable:
        return Read(k, rep.source_file, rep.sha256, "unreadable", rep.failed, "", None, None, None, None, None, None,
                    None, "", frozenset(), (), None, None)
    if rep.failed is not None:
        return Read(k, rep.source_file, rep.sha256, "failed", rep.failed, "", None, None, None, None, None, None, None,
                    "", frozenset(), (), None, _rows(rep))
    doc, e = rep.document, rep.exposure
    value = None
    if e is not None and rep.rejected is None:
        value = e.get("dap_cgycm2") if rep.template == "projection" else e.get("dlp_mgycm")
    raw = json.dumps(rep.values_read, ensure_ascii=False, sort_keys=True) if rep.values_read else None
    return Read(k, rep.source_file, rep.sha256, "read", None, rep.template, rep.data_source, rep.year, rep.rejected,
                value, doc.get("sop_key"), doc.get("study_key"), doc.get("device_key"),
                doc.get("content_datetime") or "", rep.events, tuple(rep.notes), raw, _rows(rep, raw))


def _read_chunk(chunk: list[tuple[int, Path, str]]) -> list[tuple[tuple, str | None]]:
    """Read a chunk of files in a worker (:func:`drl_analysis.ingest.workers.run_jobs`):
    ``(Read as a plain tuple, traceback or None)`` per file (a plain tuple
    unpickles some 7 times faster than a named one)."""
    reader, already = _worker_reader()
    out = []
    for k, path, name in chunk:
        try:
            out.append((tuple(_pack(k, reader.read(path, name, already))), None))
        except Exception as exc:  # noqa: BLE001 - a bug of ours must not stop the other files
            try:
                sha = _sha256_file(path)
            except OSError:
                sha = ""
            rep = Report(name, sha, failed=f"internal error while reading ({exc.__class__.__name__}: {exc}); "
                                           "please report it")
            out.append((tuple(_pack(k, rep)), traceback.format_exc()))
    return out


def _crashed(chunk: list[tuple[int, Path, str]], why: str, *, jobs: int, value, max_memory_mb: int | None) -> list:
    """Results for a chunk whose worker died twice: its files read once more, each
    alone, so that only the file that kills its reader fails."""
    from .submission import sha256_file
    from .workers import run_jobs

    if len(chunk) == 1:
        k, path, name = chunk[0]
        try:
            sha = sha256_file(path)
        except OSError:
            sha = ""
        rep = Report(name, sha, failed=f"the reader crashed on this file ({why}); the other files were read")
        return [(tuple(_pack(k, rep)), None)]
    again = partial(_crashed, jobs=jobs, value=value, max_memory_mb=max_memory_mb)
    out = []
    for _, result in run_jobs([[job] for job in chunk], _read_chunk, again, jobs=jobs, value=value,
                              max_memory_mb=max_memory_mb):
        out += result
    return out


def ingest_files(
    todo: list[tuple[int, Path, str]],
    engine,
    *,
    catalogue: Catalogue,
    options: RdsrOptions | None = None,
    already: set[str] | frozenset = frozenset(),
    data_source: str | None = None,
    year: int | None = None,
    max_bytes: int | None = None,
    jobs: int = 0,
    progress: bool = True,
    max_memory_mb: int | None = None,
) -> dict:
    """Read and store RDSR files: ``todo`` holds ``(index, path, name)``.

    Returns ``{index: FileOutcome}``. Workers
    (:func:`drl_analysis.ingest.workers.run_jobs`: forked, with a memory
    limit, replaced when one dies) read the files in chunks and hash them as
    they read them (files whose SHA-256 is in ``already`` are not parsed);
    this process checks duplicates and cumulative updates against what is
    stored and writes batches of reports, each in one transaction.
    """
    from tqdm import tqdm

    from .workers import run_jobs

    options = options or RdsrOptions()
    jobs = jobs or os.cpu_count() or 1
    value = (catalogue, options, data_source, year, max_bytes, frozenset(already))
    per_chunk = max(1, min(64, len(todo) // max(1, jobs * 8)))
    chunks = [todo[i:i + per_chunk] for i in range(0, len(todo), per_chunk)]
    crashed = partial(_crashed, jobs=jobs, value=value, max_memory_mb=max_memory_mb)
    bar = tqdm(total=len(todo), desc="ingest RDSR", unit="file", disable=not progress or len(todo) < 5 or None,
               file=sys.stderr)
    writer = Writer(engine)
    # Objects made so far are left out of the garbage collector's passes: in
    # the forked workers they would be copied page by page, here walked again
    # and again.
    gc.freeze()
    try:
        for _, chunk in run_jobs(chunks, _read_chunk, crashed, jobs=jobs, value=value, max_memory_mb=max_memory_mb):
            for fields, error in chunk:
                read = Read._make(fields)
                if error:
                    log.error("internal error while reading %s:\n%s", read.source_file, error)
                writer.add(read)
            writer.flush_if_full()
            bar.update(len(chunk))
        writer.flush()
    finally:
        gc.unfreeze()
        bar.close()
    return writer.outcomes


class _Stored:
    """A stored report as the writer knows it (for duplicates and updates)."""

    __slots__ = ("submission_id", "source_file", "events", "content", "value", "pending", "outcome")

    def __init__(self, submission_id, source_file, events, content, value, pending=None, outcome=None):
        self.submission_id = submission_id
        self.source_file = source_file
        self.events = events
        self.content = content
        self.value = value
        self.pending = pending  # the _Pending of this batch, or None when in the database
        self.outcome = outcome  # the FileOutcome when read in this run


# Positions in the sheet row of a report (see _rows).
_SHEET_REASON, _SHEET_STORED, _SHEET_REJECTED = 2, 9, 10


class _Pending:
    """One report waiting in the batch, with its rows (changed where the writer rejects it)."""

    __slots__ = ("read", "outcome", "status", "submission", "exposure", "sheet", "repairs", "rejection", "document",
                 "notes", "stored_entry", "replaces")

    def __init__(self, read: Read, outcome):
        self.read = read
        self.outcome = outcome
        sub, self.exposure, sheet, repairs, self.rejection, document = read.rows
        self.submission, self.sheet, self.repairs = dict(sub), list(sheet) if sheet else None, list(repairs)
        self.document = list(document) if document else None
        self.notes = list(read.notes)
        self.status = "stored" if self.exposure is not None else "rejected"
        self.stored_entry = None
        self.replaces: list[tuple[_Stored, str]] = []  # stored reports in the database it replaces, and why

    def reject(self, reason: str) -> None:
        self.status = "rejected"
        self.exposure = None
        self.rejection = (SHEET, ROW, reason, self.read.raw)
        self.submission.update(rows_stored=0, rows_rejected=1, n_flagged=0)
        self.sheet[_SHEET_STORED], self.sheet[_SHEET_REJECTED] = 0, 1
        self.document[_DOC_STATUS] = "rejected"

    def add_repair(self, repair: tuple, note: str) -> None:
        self.repairs.append((SHEET, ROW, *repair))
        self.notes.append(note)
        self.submission["message"] = self.sheet[_SHEET_REASON] = "; ".join(self.notes)
        self.submission["n_repairs"] = len(self.repairs)

    def fill(self) -> None:
        o, sub = self.outcome, self.submission
        o.rows_stored, o.rows_rejected = sub["rows_stored"], sub["rows_rejected"]
        o.repairs, o.flagged = len(self.repairs), sub["n_flagged"]
        o.reasons = {self.rejection[2]: 1} if self.rejection else {}
        o.notes = list(self.notes)
        o.message = "; ".join(self.notes)


class Writer:
    """Stores reports in batches; knows every stored report's keys."""

    BATCH = 500

    def __init__(self, engine):
        import sqlalchemy as sa

        from ..store.database import rdsr, submissions

        self.engine = engine
        self.outcomes: dict = {}
        self.seen: set[str] = set()
        self.pending: list[_Pending] = []
        self.by_sop: dict[str, str] = {}
        self.by_study: dict[tuple[str, str], list[_Stored]] = {}
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(rdsr.c.submission_id, submissions.c.source_file, rdsr.c.status, rdsr.c.sop_key,
                          rdsr.c.study_key, rdsr.c.device_key, rdsr.c.event_keys, rdsr.c.content_datetime)
                .join(submissions, submissions.c.id == rdsr.c.submission_id)
                .where(rdsr.c.status.in_(("stored", "replaced")))
            ).all()
            # Reports stored (not replaced) have their exposure.
            values = dict(conn.exec_driver_sql(
                "SELECT e.submission_id, COALESCE(e.dap_cgycm2, e.dlp_mgycm) FROM exposures e "
                "JOIN rdsr r ON r.submission_id = e.submission_id WHERE r.status = 'stored'").all())
        for sub_id, source, status, sop, study, device, events, content in rows:
            if sop:
                self.by_sop[sop] = source
            if study and status == "stored":
                entry = _Stored(sub_id, source, frozenset(json.loads(events or "[]")), content or "",
                                values.get(sub_id))
                self.by_study.setdefault((study, device), []).append(entry)

    # -- deciding ----------------------------------------------------------

    def add(self, read: Read) -> None:
        from .submission import FileOutcome

        k = read.k
        if read.state == "duplicate" or (read.sha256 and read.sha256 in self.seen):
            self.outcomes[k] = FileOutcome(source_file=read.source_file, status="duplicate",
                                           message="already stored (same sha256)")
            return
        if read.state == "unreadable":
            self.outcomes[k] = FileOutcome(source_file=read.source_file, status="failed", message=read.message)
            return
        self.seen.add(read.sha256)
        if read.state == "failed":
            self.outcomes[k] = FileOutcome(source_file=read.source_file, status="failed", message=read.message)
            self.pending.append(_Pending(read, self.outcomes[k]))
            return
        outcome = FileOutcome(source_file=read.source_file, status="stored", data_source=read.data_source,
                              year=read.year, sheets_with_data=1, rows_read=1)
        self.outcomes[k] = outcome
        p = _Pending(read, outcome)
        if p.status == "stored":
            self._check_duplicates(p)
        self.pending.append(p)
        p.fill()

    def _check_duplicates(self, p: _Pending) -> None:
        read = p.read
        if read.sop and read.sop in self.by_sop:
            p.reject(f"the same report (SOP instance) was read before from {self.by_sop[read.sop]}")
            return
        entry = _Stored(None, read.source_file, read.events, read.content, read.value, p, p.outcome)
        if read.study:
            same = self.by_study.setdefault((read.study, read.device), [])
            for old in list(same):
                verdict = _compare(entry, old)
                if verdict == "keep_both":
                    continue
                if verdict == "replace":
                    self._replace(old, p)
                    same.remove(old)
                    continue
                reasons = {
                    "same": f"the same irradiation events as the report stored from {old.source_file}",
                    "partial": f"a partial report of a study and device whose cumulative update is stored from "
                               f"{old.source_file}",
                    "overlap": f"shares irradiation events with the report stored from {old.source_file}, but "
                               "neither holds all of the other's",
                    "older": f"an earlier report of the study and device stored from {old.source_file} "
                             "(a cumulative update replaces it)",
                }
                p.reject(reasons[verdict])
                return
            same.append(entry)
            p.stored_entry = entry
        if read.sop:
            self.by_sop[read.sop] = read.source_file

    def _replace(self, old: _Stored, p: _Pending) -> None:
        """``p`` is the cumulative update of ``old``: ``old``'s study is rejected, logged in ``p``."""
        reason = f"replaced by the cumulative update in {p.read.source_file} (same study and device)"
        column = "dap_cgycm2" if p.read.template == "projection" else "dlp_mgycm"
        p.add_repair((column, f"{_num_text(old.value)} ({old.source_file})", _num_text(p.read.value),
                      "rdsr_cumulative_update"),
                     f"cumulative update of the report in {old.source_file}, which it replaces")
        if old.pending is not None:
            old.pending.reject(reason)
            old.pending.fill()
        else:
            p.replaces.append((old, reason))
            if old.outcome is not None:  # stored earlier in this run
                o = old.outcome
                o.rows_stored, o.rows_rejected, o.flagged, o.reasons = 0, 1, 0, {reason: 1}

    # -- writing -----------------------------------------------------------

    def flush_if_full(self) -> None:
        if len(self.pending) >= self.BATCH:
            self.flush()

    def flush(self) -> None:
        """Write the batch in one transaction; if the database refuses it, each
        report in a transaction of its own, so that a refused report fails alone."""
        import sqlalchemy as sa

        if not self.pending:
            return
        try:
            with self.engine.begin() as conn:
                ids = _write_batch(conn, self.pending)
        except sa.exc.SQLAlchemyError as exc:
            ids = {}
            for p in self.pending:
                try:
                    if len(self.pending) == 1:
                        raise exc
                    with self.engine.begin() as conn:
                        ids.update(_write_batch(conn, [p]))
                except sa.exc.SQLAlchemyError as refused:
                    self._refused(p, refused)
        # What is now in the database is known by its submission id.
        for p in self.pending:
            if p.stored_entry is not None and p.read.sha256 in ids:
                p.stored_entry.submission_id, p.stored_entry.pending = ids[p.read.sha256], None
        self.pending = []

    def _refused(self, p: _Pending, exc: Exception) -> None:
        """Record a report the database refused as a failed file. The stored
        reports it was to replace stay as they are; a report of the same batch
        it replaced stays rejected (ingest the refused file again once the
        database takes it)."""
        import sqlalchemy as sa

        why = " ".join(str(getattr(exc, "orig", None) or exc).split())[:300]
        log.warning("the database refused %s: %s", p.read.source_file, why)
        reason = f"the database refused the file ({why})"
        o = p.outcome
        o.status, o.message, o.notes = "failed", reason, []
        o.rows_read = o.rows_stored = o.rows_rejected = o.repairs = o.flagged = 0
        o.reasons = {}
        if p.read.study:
            same = self.by_study.setdefault((p.read.study, p.read.device), [])
            if p.stored_entry in same:  # not stored after all
                same.remove(p.stored_entry)
            same += [old for old, _ in p.replaces]  # still stored
        p.stored_entry = None
        failed = _Pending(p.read._replace(state="failed", message=reason,
                                          rows=_rows(Report(p.read.source_file, p.read.sha256, failed=reason))), o)
        try:
            with self.engine.begin() as conn:
                _write_batch(conn, [failed])
        except sa.exc.SQLAlchemyError:  # the failure is reported all the same
            log.exception("could not record the failure of %s", p.read.source_file)


def _num_text(value) -> str:
    return "" if value is None or value != value else repr(float(value))


def _compare(new: _Stored, old: _Stored) -> str:
    """How a new report of a study and device relates to a stored one.

    ``replace`` (a cumulative update), ``same``, ``partial``, ``overlap``,
    ``older`` (no event UIDs, earlier content time) or ``keep_both`` (other
    irradiation events of the same study).
    """
    if new.events and old.events:
        if new.events == old.events:
            return "same"
        if old.events < new.events:
            return "replace"
        if new.events < old.events:
            return "partial"
        if new.events & old.events:
            return "overlap"
        return "keep_both"
    if new.content and old.content:
        if new.content > old.content:
            return "replace"
        return "older" if new.content < old.content else "same"
    return "same"


def _statement(dialect, table: str, names: list[str]) -> str:
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    quote = dialect.identifier_preparer.quote
    return f"INSERT INTO {table} ({', '.join(quote(n) for n in names)}) VALUES ({', '.join([mark] * len(names))})"


def _clean(v):
    if isinstance(v, float) and v != v:
        return None
    return v


_SHEET_NAMES = ["sheet", "status", "reason", "header_row", "column_map", "unknown_columns", "data_source", "year",
                "rows_read", "rows_stored", "rows_rejected"]
_REPAIR_NAMES = ["sheet", "source_row", "column", "before", "after", "rule"]
_REJECTION_NAMES = ["sheet", "source_row", "reason", "raw"]
_COLUMN_MAP = {kind: json.dumps({"template": f"TID {tid}"}) for kind, tid in _TEMPLATE_OF_REPORT.items()}


def _document_names() -> list[str]:
    from ..store.database import rdsr

    return [c.name for c in rdsr.columns if c.name not in ("id", "submission_id")]


def _rows(rep: Report, raw: str | None = None) -> tuple:
    """The rows of a report for each table, without their submission id:
    ``(submission, exposure, sheet, repairs, rejection, document)``; ``raw``:
    the values as read, as JSON."""
    failed = rep.failed is not None
    if failed:
        submission = {"source_file": rep.source_file, "sha256": rep.sha256, "status": "failed", "message": rep.failed,
                      "n_sheets": 0, "rows_read": 0, "rows_stored": 0, "rows_rejected": 1, "n_repairs": 0,
                      "n_flagged": 0}
        return submission, None, None, [], (None, None, rep.failed, None), None
    stored = rep.rejected is None and rep.exposure is not None
    flags = rep.exposure.get("flags", "") if stored else ""
    notes = "; ".join(rep.notes) or None
    submission = {"source_file": rep.source_file, "sha256": rep.sha256, "data_source": rep.data_source,
                  "year": rep.year, "status": "stored", "message": notes, "n_sheets": 1, "rows_read": 1,
                  "rows_stored": int(stored), "rows_rejected": 1 - int(stored), "n_repairs": len(rep.repairs),
                  "n_flagged": int(bool(flags))}
    exposure = rejection = None
    if stored:
        e = rep.exposure
        exposure = (SHEET, ROW, rep.data_source, rep.year, *[_clean(e.get(c)) for c in EXPOSURE_COLUMNS], flags)
    else:
        rejection = (SHEET, ROW, rep.rejected, raw)
    sheet = (SHEET, "data", notes, None, _COLUMN_MAP.get(rep.template), "[]", rep.data_source, rep.year, 1,
             int(stored), 1 - int(stored))
    repairs = [(SHEET, ROW, column, before, after, rule) for column, before, after, rule in rep.repairs]
    values = dict(rep.document, status="stored" if stored else "rejected", values_read=raw)
    document = tuple(_clean(values.get(n)) for n in _DOCUMENT_NAMES)
    return submission, exposure, sheet, repairs, rejection, document


def _write_batch(conn, pending: list[_Pending]) -> dict[str, int]:
    """Write one batch in the open transaction ``conn``; return ``{sha256: submission id}``."""
    from ..store.database import EXPOSURE_NAMES, _statements, submissions

    dialect = conn.dialect
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    now = _statements(dialect).datetime(dt.datetime.now(dt.timezone.utc).replace(tzinfo=None))
    shas = [p.read.sha256 for p in pending]
    ids: dict = {}
    if shas:
        marks = ", ".join([mark] * len(shas))
        conn.exec_driver_sql(f"DELETE FROM submissions WHERE status = 'failed' AND sha256 IN ({marks})", tuple(shas))
        sub_names = [c.name for c in submissions.columns if c.name != "id"]
        rows = [tuple(now if n == "ingested_at" else p.submission.get(n) for n in sub_names) for p in pending]
        conn.exec_driver_sql(_statement(dialect, "submissions", sub_names), rows)
        ids = dict(conn.exec_driver_sql(f"SELECT sha256, id FROM submissions WHERE sha256 IN ({marks})",
                                        tuple(shas)).all())
    tables = {"exposures": [], "sheets": [], "repairs": [], "rejections": [], "rdsr": []}
    for p in pending:
        sub = ids[p.read.sha256]
        if p.exposure is not None:
            tables["exposures"].append((sub, *p.exposure))
        if p.sheet is not None:
            tables["sheets"].append((sub, *p.sheet))
        tables["repairs"] += [(sub, *r) for r in p.repairs]
        if p.rejection is not None:
            tables["rejections"].append((sub, *p.rejection))
        if p.document is not None:
            tables["rdsr"].append((sub, *p.document))
    names = {"exposures": EXPOSURE_NAMES, "sheets": _SHEET_NAMES, "repairs": _REPAIR_NAMES,
             "rejections": _REJECTION_NAMES, "rdsr": _DOCUMENT_NAMES}
    for table, values in tables.items():
        if values:
            conn.exec_driver_sql(_statement(dialect, table, ["submission_id", *names[table]]), values)
    for old, reason in (u for p in pending for u in p.replaces):
        sub = old.submission_id
        conn.exec_driver_sql(f"DELETE FROM exposures WHERE submission_id = {mark}", (sub,))
        conn.exec_driver_sql(
            f"UPDATE submissions SET rows_stored = 0, rows_rejected = 1, n_flagged = 0 WHERE id = {mark}", (sub,))
        conn.exec_driver_sql(f"UPDATE sheets SET rows_stored = 0, rows_rejected = 1 WHERE submission_id = {mark}",
                             (sub,))
        conn.exec_driver_sql(f"UPDATE rdsr SET status = 'replaced' WHERE submission_id = {mark}", (sub,))
        conn.exec_driver_sql(_statement(dialect, "rejections", ["submission_id", *_REJECTION_NAMES]),
                             [(sub, SHEET, ROW, reason, None)])
    return ids


_DOCUMENT_NAMES = _document_names()
_DOC_STATUS = _DOCUMENT_NAMES.index("status")

"""Reading one RDSR file into a report: its exposure row, the study's
facility, exam code and patient, repairs, notes and the row of table ``rdsr``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ...core.catalogue import Catalogue
from ...core.columns import (
    FLAG_MIXED_PHANTOMS,
    FLAG_OUT_OF_RANGE,
    FLAG_UNKNOWN_EXAM,
    FLAG_UNMAPPED_PROCEDURE,
    NUMERIC_COLUMNS,
    PHANTOMS_CM,
    QUANTITIES,
    flag_token,
)
from ...core.errors import UserError
from .concepts import (
    _K,
    _OTHER_DOSE_REPORTS,
    _PHANTOM_CM,
    _REPORT_OF_TEMPLATE,
    _SR_SOP_PREFIX,
    _TEMPLATE_OF_REPORT,
    TEMPLATE_PROJECTION,
)
from .dicom import NotDicom, parse_dicom
from .procedure_map import ProcedureMap
from .quirks import DAP_UNIT_QUIRKS
from .tree import (
    _CONCEPT_NAME,
    _CONTENT,
    _MEANING,
    _TEXT_VALUE,
    _UID_VALUE,
    _VALUE_TYPE,
    Item,
    _code_key,
    _codes_of,
    _first,
    _has_agd,
    _read_text,
    _Text,
    _text_ascii,
    _walk_keys,
)
from .values import _AGE, _AGE_LOOSE, Rejected, _age, _converted, _date, _number

#: Ways to name the facility of a report (``--rdsr-facility``).
FACILITY_MODES: tuple[str, ...] = ("device", "station", "institution")


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
        from ..headers import labels_from_name

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


def _sop_name(uid: str) -> str:
    if not uid:
        return "no SOP class"
    from pydicom.uid import UID

    name = UID(uid).name
    return name if name != uid else f"SOP class {uid}"


def _sha256_file(path: Path) -> str:
    from ..submission import sha256_file

    return sha256_file(path)


def read_report(path: str | Path, source_file: str | None = None, *, catalogue: Catalogue | None = None,
                options: RdsrOptions | None = None, data_source: str | None = None, year: int | None = None,
                max_bytes: int | None = None) -> Report:
    """Read one file as an RDSR (nothing is stored); for tests and single files."""
    from ...core.catalogue import load_catalogue

    path = Path(path)
    reader = _Reader(catalogue or load_catalogue(), options or RdsrOptions(), data_source, year, max_bytes)
    return reader.read(path, source_file or path.name)

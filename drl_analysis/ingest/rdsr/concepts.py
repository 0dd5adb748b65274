"""The coded concepts an RDSR is read by, the SOP class and templates read,
and the SNOMED RT codes of older reports.

Concepts are (coding scheme, code value) pairs from pydicom's DICOM code
dictionary, never the code meanings shown to people; the tests check the
table against pydicom's dictionaries, and reading needs no import of pydicom.
"""

from __future__ import annotations

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


#: SNOMED RT codes of older reports for the SNOMED CT concepts read, as
#: pydicom's SNOMED mapping gives them (the tests check each against it);
#: no other SNOMED RT code needs mapping, as no other is compared.
SRT_EQUIVALENTS: dict[str, str] = {
    "P5-08000": CONCEPTS["computed_tomography"][2],
    "P5-40010": CONCEPTS["mammography"][2],
    "P5-06000": CONCEPTS["fluoroscopy"][2],
}

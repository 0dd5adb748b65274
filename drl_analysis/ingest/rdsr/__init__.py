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
    the read when a whole SR tree is walked. The reader therefore parses the
    file's bytes itself (explicit and implicit VR little endian, deflated;
    big endian through pydicom), builds plain objects of the content items
    it needs while parsing, and looks concepts up in dicts. Workers read;
    the main process writes batches of reports in one transaction each
    (see ``benchmarks/rdsr.md``).

Modules
    :mod:`.concepts` (the coded concepts read), :mod:`.quirks` (the vendor
    deviations handled), :mod:`.dicom` (bytes to data set), :mod:`.tree`
    (the SR content items), :mod:`.values` (numbers in canonical units,
    dates, ages), :mod:`.procedure_map`, :mod:`.reader` (one file to one
    report), :mod:`.rows` (a report's table rows), :mod:`.writer`
    (duplicates, cumulative updates, batches) and :mod:`.run`
    (:func:`ingest_files`). The names below are the package's interface;
    names with a leading underscore are shared only inside it.
"""

from __future__ import annotations

from .concepts import CONCEPTS, RDSR_SOP_CLASS, SRT_EQUIVALENTS, TEMPLATE_CT, TEMPLATE_PROJECTION
from .dicom import NotDicom, parse_dicom
from .procedure_map import MAP_COLUMNS, MAP_FIELDS, MAP_REPORTS, PROCEDURE_MAP_FILE, MapRule, ProcedureMap
from .quirks import DAP_UNIT_QUIRKS, QUIRK_RULES, QUIRKS, DapUnitQuirk, Quirk
from .reader import FACILITY_MODES, RdsrOptions, Report, read_report
from .rows import ROW, SHEET, Read
from .run import ingest_files
from .tree import Item
from .values import Rejected
from .writer import Writer

__all__ = [
    "CONCEPTS",
    "DAP_UNIT_QUIRKS",
    "FACILITY_MODES",
    "MAP_COLUMNS",
    "MAP_FIELDS",
    "MAP_REPORTS",
    "PROCEDURE_MAP_FILE",
    "QUIRKS",
    "QUIRK_RULES",
    "RDSR_SOP_CLASS",
    "ROW",
    "SHEET",
    "SRT_EQUIVALENTS",
    "TEMPLATE_CT",
    "TEMPLATE_PROJECTION",
    "DapUnitQuirk",
    "Item",
    "MapRule",
    "NotDicom",
    "ProcedureMap",
    "Quirk",
    "RdsrOptions",
    "Read",
    "Rejected",
    "Report",
    "Writer",
    "ingest_files",
    "parse_dicom",
    "read_report",
]

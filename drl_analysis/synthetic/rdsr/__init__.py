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

Modules: :mod:`.studies` (devices, events and studies, drawn or fixed),
:mod:`.truth` (what a correct reader stores of a study), :mod:`.encode`
(the SR tree and its DICOM bytes) and :mod:`.sets` (sets of files with their
truth, the bundled sample). The names below are the generator's interface.
"""

from __future__ import annotations

from .encode import DEFLATED_LE, EXPLICIT_LE, IMPLICIT_LE, encode_dataset, encode_file, rdsr_bytes, rdsr_dataset, write_rdsr
from .sets import BAD_INPUTS, SAMPLE_FOLDERS, GeneratedRdsrs, write_rdsrs, write_sample
from .studies import (
    BASIC_TEXT_SR_SOP_CLASS,
    CT_IMAGE_SOP_CLASS,
    CT_STUDIES,
    DAP_UNITS,
    DLP_UNITS,
    DOSE_UNITS,
    EXAMPLE_CT_DEVICE,
    EXAMPLE_XA_DEVICE,
    MANUFACTURER,
    PRIVATE_SCHEME,
    PROJECTION_STUDIES,
    QUIRK_MODEL,
    QUIRK_NAMES,
    RADIOPHARMACEUTICAL_SOP_CLASS,
    RDSR_SOP_CLASS,
    CtEvent,
    Device,
    Study,
    XrayEvent,
    age_years,
    draw_study,
    ds_text,
    example_ct,
    example_projection,
    make_devices,
)
from .truth import TRUTH_COLUMNS, study_truth

__all__ = [
    "BAD_INPUTS",
    "BASIC_TEXT_SR_SOP_CLASS",
    "CT_IMAGE_SOP_CLASS",
    "CT_STUDIES",
    "DAP_UNITS",
    "DEFLATED_LE",
    "DLP_UNITS",
    "DOSE_UNITS",
    "EXAMPLE_CT_DEVICE",
    "EXAMPLE_XA_DEVICE",
    "EXPLICIT_LE",
    "IMPLICIT_LE",
    "MANUFACTURER",
    "PRIVATE_SCHEME",
    "PROJECTION_STUDIES",
    "QUIRK_MODEL",
    "QUIRK_NAMES",
    "RADIOPHARMACEUTICAL_SOP_CLASS",
    "RDSR_SOP_CLASS",
    "SAMPLE_FOLDERS",
    "TRUTH_COLUMNS",
    "CtEvent",
    "Device",
    "GeneratedRdsrs",
    "Study",
    "XrayEvent",
    "age_years",
    "draw_study",
    "ds_text",
    "encode_dataset",
    "encode_file",
    "example_ct",
    "example_projection",
    "make_devices",
    "rdsr_bytes",
    "rdsr_dataset",
    "study_truth",
    "write_rdsr",
    "write_rdsrs",
    "write_sample",
]

"""Known vendor deviations of dose reports from the standard, and how each is read.

Every quirk met is logged as a repair with its rule (:data:`QUIRK_RULES`); the
per-file confidence summary counts them as inferences
(:data:`drl_analysis.ingest.inferences.INFERENCE_RULES`).
"""

from __future__ import annotations

from dataclasses import dataclass


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

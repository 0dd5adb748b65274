"""Seeded synthetic survey data: clean exposures, and the damaged files built from them.

:func:`simulate_exposures` draws clean exposures (canonical units) from a
simple model of a national survey: data sources (medical bodies) hold
facilities; a facility performs some exams every year; its practice sets a
persistent dose level per exam around the catalogue DRL; patients scatter
around it with their weight. :func:`write_survey` (see below) turns such
exposures into submission files with the kinds of damage seen in practice,
and keeps the ground truth of what a correct reader must store.

Everything is drawn from ``numpy.random.default_rng(seed)``: the same
arguments give the same data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .catalogue import Catalogue, load_catalogue
from .columns import EXPOSURE_COLUMNS

#: Data sources of the generated surveys (fictitious medical bodies).
DEFAULT_SOURCES: tuple[str, ...] = (
    "Aerztliche Stelle Nord",
    "Aerztliche Stelle Sued",
    "Aerztliche Stelle West",
    "Aerztliche Stelle Ost",
    "Aerztliche Stelle Mitte",
)

# Typical value where the catalogue gives no DRL (canonical units).
_TYPICAL_WITHOUT_DRL = {"dap_cgycm2": 100.0, "agd_mgy": 1.5, "dlp_mgycm": 500.0, "ctdivol_mgy": 12.0}
# Scan length in cm that turns CTDIvol into DLP, by reference phantom.
_SCAN_LENGTH_CM = {16.0: 16.0, 32.0: 38.0}


@dataclass
class SurveyModel:
    """Parameters of :func:`simulate_exposures`.

    Attributes
    ----------
    sources : tuple of str
        Data source names.
    years : tuple of int
    facilities_per_source : int
        Facilities per data source; IDs 1..n, so IDs repeat across sources.
    exams : tuple of str or None
        Exam codes to draw from; None takes every catalogue exam with a DRL
        quantity.
    exams_per_facility : int
        How many exams each facility performs (drawn once per facility).
    patients_per_exam : (int, int)
        Range of exposures per facility, exam and year (inclusive).
    facility_level : float
        Median facility dose as a fraction of the DRL (P75 of facility
        medians then lands near the DRL).
    facility_sigma : float or dict
        Log-scale spread of facility levels; a dict gives one per source
        (dispersed medical bodies).
    exam_level : dict
        Exam code -> factor on its dose level, optionally per year:
        ``{"1010": 1.3}`` or ``{"1010": {2022: 1.1, 2023: 1.4}}``.
    patient_sigma : float
        Log-scale spread of patients around their facility's level.
    year_drift : float
        Log-scale spread of a facility's level from one year to the next.
    other_phantom_share : float
        Share of CT exposures whose CTDIvol is referenced to the other
        phantom (16 cm values are 2.5 x the 32 cm value).
    missing_weight_share : float
        Share of exposures without a patient weight.
    """

    sources: tuple[str, ...] = DEFAULT_SOURCES
    years: tuple[int, ...] = (2022, 2023)
    facilities_per_source: int = 12
    exams: tuple[str, ...] | None = None
    exams_per_facility: int = 6
    patients_per_exam: tuple[int, int] = (8, 25)
    facility_level: float = 0.7
    facility_sigma: float | dict[str, float] = 0.35
    exam_level: dict = field(default_factory=dict)
    patient_sigma: float = 0.3
    year_drift: float = 0.08
    other_phantom_share: float = 0.02
    missing_weight_share: float = 0.1


def exam_quantities(catalogue: Catalogue) -> dict[str, str]:
    """The dose quantity generated for each exam code (its DRL quantity)."""
    q = catalogue.drls.drop_duplicates("exam_code").set_index("exam_code")["quantity"].to_dict()
    # Exams listed without any DRL keep the quantity of their modality.
    for row in catalogue.exams.itertuples(index=False):
        q.setdefault(row.exam_code, "ctdivol_mgy" if row.modality == "CT" else "dap_cgycm2")
    return dict(sorted(q.items()))


def _reference_value(catalogue: Catalogue, code: str, quantity: str) -> float:
    value, _ = catalogue.current_drl(code, quantity)
    return value if value is not None else _TYPICAL_WITHOUT_DRL[quantity]


def _exam_factor(model: SurveyModel, code: str, year: int) -> float:
    level = model.exam_level.get(code, 1.0)
    if isinstance(level, dict):
        return float(level.get(year, 1.0))
    return float(level)


def simulate_exposures(
    model: SurveyModel | None = None,
    *,
    seed: int = 0,
    catalogue: Catalogue | None = None,
) -> pd.DataFrame:
    """Draw clean exposures of a survey.

    Parameters
    ----------
    model : SurveyModel, optional
        The survey's parameters; the defaults give about 10,000 exposures.
    seed : int
        Seed of ``numpy.random.default_rng``.
    catalogue : Catalogue, optional
        Exam codes and DRLs to draw around (default: the shipped catalogue).

    Returns
    -------
    pandas.DataFrame
        One row per exposure: ``data_source, year`` and the columns of
        :data:`drl_analysis.columns.EXPOSURE_COLUMNS` in canonical units
        (NaN where a quantity does not apply), plus ``facility_level``, the
        facility's true dose level for the exam and year (canonical units).
        Sorted by data source, year, facility, exam.
    """
    model = model or SurveyModel()
    catalogue = catalogue or load_catalogue()
    rng = np.random.default_rng(seed)
    quantities = exam_quantities(catalogue)
    exams = list(model.exams) if model.exams is not None else list(quantities)
    per_facility = min(model.exams_per_facility, len(exams))
    parts = []
    for source in model.sources:
        sigma = model.facility_sigma.get(source, 0.35) if isinstance(model.facility_sigma, dict) else model.facility_sigma
        for fac in range(1, model.facilities_per_source + 1):
            chosen = sorted(str(c) for c in rng.choice(exams, size=per_facility, replace=False))
            base = {code: rng.normal(np.log(model.facility_level), sigma) for code in chosen}
            for year in model.years:
                for code in chosen:
                    quantity = quantities[code]
                    level = (
                        _reference_value(catalogue, code, quantity)
                        * _exam_factor(model, code, year)
                        * np.exp(base[code] + rng.normal(0.0, model.year_drift))
                    )
                    n = int(rng.integers(model.patients_per_exam[0], model.patients_per_exam[1] + 1))
                    weight = np.clip(rng.normal(76.0, 14.0, n), 35.0, 180.0).round(0)
                    value = level * (weight / 76.0) ** 1.2 * np.exp(rng.normal(0.0, model.patient_sigma, n))
                    frame = {
                        "data_source": source,
                        "year": year,
                        "facility_id": str(fac),
                        "exam_code": code,
                        "weight_kg": np.where(rng.random(n) < model.missing_weight_share, np.nan, weight),
                        "age_years": rng.integers(18, 91, n).astype(float),
                        "facility_level": level,
                    }
                    if quantity == "ctdivol_mgy":
                        phantom = catalogue.reference_phantom(code) or 32.0
                        other = rng.random(n) < model.other_phantom_share
                        ctdi = np.where(other & (phantom == 32.0), value * 2.5, value)
                        ctdi = np.where(other & (phantom == 16.0), value / 2.5, ctdi)
                        used = np.where(other, 48.0 - phantom, phantom)
                        frame["ctdivol_mgy"] = ctdi.round(2)
                        frame["dlp_mgycm"] = (value * _SCAN_LENGTH_CM[phantom] * rng.normal(1.0, 0.1, n)).round(1)
                        frame["ctdi_phantom_cm"] = used
                    elif quantity == "agd_mgy":
                        frame["agd_mgy"] = value.round(2)
                    else:
                        frame["dap_cgycm2"] = value.round(1)
                    parts.append(pd.DataFrame(frame))
    out = pd.concat(parts, ignore_index=True)
    for col in EXPOSURE_COLUMNS:
        if col not in out:
            out[col] = np.nan
    out = out[["data_source", "year", *EXPOSURE_COLUMNS, "facility_level"]]
    return out.reset_index(drop=True)

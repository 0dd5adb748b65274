"""Units of dose quantities and their conversion to the canonical units.

Canonical units (see :mod:`drl_analysis.core.columns`): DAP in cGy·cm² (= µGy·m²),
AGD, CTDIvol and air kerma in mGy, DLP in mGy·cm, weight in kg, age in years,
time in minutes, phantom diameter in cm.

Conversion facts (``domain-notes.md``): 1 Gy·cm² = 10 dGy·cm² = 100 cGy·cm²
= 1000 mGy·cm² = 100 µGy·m²; 1 cGy·cm² = 1 µGy·m².
"""

from __future__ import annotations

import re

#: Which family of units each column takes.
FAMILY_OF_COLUMN: dict[str, str] = {
    "dap_cgycm2": "dap",
    "agd_mgy": "dose",
    "ctdivol_mgy": "dose",
    "dlp_mgycm": "dlp",
    "weight_kg": "mass",
    "age_years": "age",
    "ctdi_phantom_cm": "length",
}

#: The canonical unit of each family, as written in reports.
CANONICAL_UNIT: dict[str, str] = {
    "dap": "cGy·cm²",
    "dose": "mGy",
    "dlp": "mGy·cm",
    "mass": "kg",
    "age": "years",
    "length": "cm",
    "time": "min",
}

_GRAY_PREFIX = {"": 1.0, "d": 0.1, "c": 0.01, "m": 1e-3, "u": 1e-6}
_LENGTH_CM = {"m": 100.0, "dm": 10.0, "cm": 1.0, "mm": 0.1}
_DAP_RE = re.compile(r"^(?P<p>[dcmu]?)gy(?P<l>m|dm|cm|mm)2$")
_DLP_RE = re.compile(r"^(?P<p>[dcmu]?)gy(?P<l>m|dm|cm|mm)$")
_DOSE_RE = re.compile(r"^(?P<p>[dcmu]?)(?:gy|sv)$")

_WORD_UNITS = {
    "mass": {"kg": 1.0, "kilogramm": 1.0, "kilogram": 1.0, "g": 1e-3, "lb": 0.45359237, "lbs": 0.45359237},
    "age": {
        "years": 1.0, "year": 1.0, "y": 1.0, "yr": 1.0, "yrs": 1.0, "a": 1.0, "j": 1.0, "jahre": 1.0,
        "jahr": 1.0, "jahren": 1.0, "lebensjahre": 1.0, "lj": 1.0,
        "months": 1 / 12, "month": 1 / 12, "monate": 1 / 12, "monat": 1 / 12,
        "mo": 1 / 12, "mon": 1 / 12,
        # Neonates: ages in weeks or days (a year of 365.25 days).
        "weeks": 7 / 365.25, "week": 7 / 365.25, "wochen": 7 / 365.25, "woche": 7 / 365.25, "wo": 7 / 365.25,
        "days": 1 / 365.25, "day": 1 / 365.25, "tage": 1 / 365.25, "tag": 1 / 365.25, "tagen": 1 / 365.25,
    },
    "length": {"cm": 1.0, "mm": 0.1},
    "time": {"min": 1.0, "mins": 1.0, "minutes": 1.0, "minuten": 1.0, "m": 1.0, "s": 1 / 60, "sec": 1 / 60,
             "sek": 1 / 60, "seconds": 1 / 60, "sekunden": 1 / 60, "h": 60.0, "std": 60.0},
}


class UnknownUnit(ValueError):
    """A unit text that no rule of the family reads."""


#: Words that may stand before a unit in a header or units row.
_UNIT_LEAD = re.compile(r"^(?:in|en|unit|units|einheit|einheiten|masseinheit)\b\s*:?\s*(?=\S)")
#: Text that names a unit of some kind (a dose, a length, a mass, a time), readable or not.
_UNIT_WORD = re.compile(r"(?:^|[^a-z])[cmdµμu]?(?:gy|gray|sv)|\b[cmdµu]?m(?:2|²)?\b|\bkg\b|\blbs?\b|\bg\b|pfund|"
                        r"jahre?\b|years?\b|monate?\b|months?\b|wochen?\b|weeks?\b|tage?\b|days?\b|\bj\.")


def looks_like_unit(text: str) -> bool:
    """Whether ``text`` names a unit of some kind (``"mGy x m"``, ``"Monate"``), readable or not;
    ``"Summe"`` or ``"alle Patienten"`` name none."""
    return bool(_UNIT_WORD.search(str(text).lower()))


def normalise_unit(text: str) -> str:
    """Fold a unit's spelling: ``"cGy x cm²"`` -> ``"cgycm2"``, ``"µGy·m²"`` -> ``"ugym2"``."""
    t = text.strip().lower()
    # "in mGy·cm²", "Einheit: kg": the words before a unit are no part of it.
    t = _UNIT_LEAD.sub("", t)
    t = t.replace("µ", "u").replace("μ", "u").replace("²", "2").replace("^2", "2")
    t = re.sub(r"(?<=[a-z2])\s*[x×*·⋅.\-]\s*(?=[a-z])", "", t)
    t = re.sub(r"[\s\[\]()]", "", t)
    return t


def unit_factor(family: str, text: str) -> float:
    """Factor that turns a value in unit ``text`` into the family's canonical unit.

    Parameters
    ----------
    family : {"dap", "dose", "dlp", "mass", "age", "length", "time"}
    text : str
        The unit as written, e.g. ``"Gy cm²"``, ``"µGy x m²"``, ``"mGy*cm"``.

    Returns
    -------
    float
        ``value_canonical = value * factor``.

    Raises
    ------
    UnknownUnit
        If the text is no unit of that family.

    Examples
    --------
    >>> unit_factor("dap", "Gy·cm²")
    100.0
    >>> unit_factor("dap", "µGy x m²")
    1.0
    """
    t = normalise_unit(text)
    if family == "dap":
        m = _DAP_RE.match(t)
        if m:
            gray_cgy = _GRAY_PREFIX[m["p"]] * 100.0
            return _round(gray_cgy * _LENGTH_CM[m["l"]] ** 2)
    elif family == "dlp":
        m = _DLP_RE.match(t)
        if m:
            return _round(_GRAY_PREFIX[m["p"]] * 1000.0 * _LENGTH_CM[m["l"]])
    elif family == "dose":
        # "mSv" stands for mGy in the BfS template's AGD header (a typo).
        m = _DOSE_RE.match(t)
        if m:
            return _round(_GRAY_PREFIX[m["p"]] * 1000.0)
    elif family in _WORD_UNITS:
        factor = _WORD_UNITS[family].get(t.rstrip("."))
        if factor is not None:
            return factor
    else:
        raise ValueError(f"unknown unit family {family!r}")
    raise UnknownUnit(f"{text!r} is not a unit of {family}")


def _round(x: float) -> float:
    # 1e-6 * 100 * 1e4 must be exactly 1.0, not 0.9999999999.
    return float(f"{x:.12g}")


#: UCUM codes of the units a DICOM dose report (RDSR) may give, by family.
#: DICOM codes units in UCUM, case-sensitively (scheme ``UCUM``); only these
#: exact spellings are read, each converted by :func:`unit_factor`.
UCUM_CODES: dict[str, tuple[str, ...]] = {
    "dap": ("Gy.m2", "Gy.cm2", "dGy.cm2", "cGy.cm2", "mGy.cm2", "uGy.m2"),
    "dose": ("Gy", "mGy", "uGy"),
    "dlp": ("mGy.cm", "Gy.cm"),
    "time": ("s", "min"),
    "mass": ("kg", "g"),
    "length": ("cm", "mm"),
}


def ucum_factor(family: str, code: str) -> float:
    """Factor that turns a value in the UCUM unit ``code`` into the family's canonical unit.

    Raises
    ------
    UnknownUnit
        If ``code`` is not one of :data:`UCUM_CODES` of that family.

    Examples
    --------
    >>> ucum_factor("dap", "Gy.m2")
    1000000.0
    >>> ucum_factor("time", "s") == 1 / 60
    True
    """
    if code not in UCUM_CODES.get(family, ()):
        raise UnknownUnit(f"{code!r} is not a UCUM unit of {family} this reader knows")
    return unit_factor(family, code)

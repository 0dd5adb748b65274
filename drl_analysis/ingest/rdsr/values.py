"""Values of content items in canonical units, dates and patient ages.

A value that cannot be read rejects the study of its report
(:class:`Rejected`, with the reason).
"""

from __future__ import annotations

import datetime as dt
import math
import re
import struct

from ...core.units import UnknownUnit, ucum_factor
from .tree import _FLOAT_VALUE, _MEASURED, _NUMERIC, _UNITS, Item, _code_key, _first, _text_ascii


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
    from ...core.units import UCUM_CODES

    return UCUM_CODES


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

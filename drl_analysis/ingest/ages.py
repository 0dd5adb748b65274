"""Ages worked out from a birth date and the date of the exam.

Exports of dose-management systems and RIS give the patient's birth date and
the study date instead of an age. Where a sheet has no age column but exactly
one column of each, the age is the time between the two dates in years of
365.25 days, each row logged as a repair (``age_from_birth_date``, an inference
the per-file summary counts). Dates are read only where they cannot be read
two ways: date cells, ``24.05.1972``, ``1972-05-24`` (a time after it is
ignored), ``24/05/1972`` only when the day is over 12. An age below 0 or over
130 years is no age; the row keeps no age then, as when a date is missing.
"""

from __future__ import annotations

import datetime as dt
import math
import re

import numpy as np

from .headers import fold

#: A header of the birth date, and of the date of the exam.
_BIRTH = re.compile(r"geburt|birth|\bdob\b")
_EXAM_DATE = re.compile(r"(studien|untersuchungs|aufnahme|leistungs|study|exam\w*|acquisition|procedure)\s*datum|"
                        r"(study|exam\w*|acquisition|procedure)\s*date|^datum$|^date$")
_DMY = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})")
_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[ T][\d:.]+)?")
_SLASH = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")


def date_columns(header_cells: list) -> tuple[int | None, int | None]:
    """The columns of the birth date and the exam's date: ``(birth, exam)``; both None
    unless the header names exactly one of each."""
    birth = [c for c, v in enumerate(header_cells) if isinstance(v, str) and _BIRTH.search(fold(v))]
    exam = [c for c, v in enumerate(header_cells)
            if isinstance(v, str) and c not in birth and _EXAM_DATE.search(fold(v))]
    return (birth[0], exam[0]) if len(birth) == 1 and len(exam) == 1 else (None, None)


def read_date(value: object) -> dt.date | None:
    """A date from a cell, or None where there is none or it reads two ways."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        return None
    text = value.strip()
    for pattern, order in ((_DMY, "dmy"), (_ISO, "ymd"), (_SLASH, "dmy")):
        m = pattern.fullmatch(text)
        if m is None:
            continue
        a, b, c = (int(x) for x in m.groups())
        day, month, year = (a, b, c) if order == "dmy" else (c, b, a)
        if pattern is _SLASH and day <= 12:
            return None  # 05/04/1972: April or May, nobody can tell
        try:
            return dt.date(year, month, day)
        except ValueError:
            return None
    return None


def ages_from_dates(birth: np.ndarray, exam: np.ndarray) -> np.ndarray:
    """Ages in years (NaN where a date is missing or the age is not one) for pairs of cells."""
    out = np.full(len(birth), math.nan)
    for i, (b, e) in enumerate(zip(birth, exam)):
        born, seen = read_date(b), read_date(e)
        if born is None or seen is None:
            continue
        years = (seen - born).days / 365.25
        if 0 <= years <= 130:
            out[i] = years
    return out

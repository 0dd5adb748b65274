"""Reading the cells of a number column: notation, units, markers, comments.

Numbers typed as text in German or English notation, with thousands
separators, units in the cell (``"12,5 mGy"``), approximate values
(``"ca. 80"``) and comments (``"61 (geschätzt)"``) are read once per distinct
text; every change is logged with its rule (see :mod:`drl_analysis.ingest.repair`).
A text that reads as no value of its column is marked unreadable: its row is
rejected, never stored with an empty value.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..core.numbers import Notation, parse_number
from ..core.units import FAMILY_OF_COLUMN, UnknownUnit, unit_factor
from .cells import _is_empty, clean_text, is_missing_marker

if TYPE_CHECKING:
    from .repair_log import _Log


@dataclass(frozen=True)
class _NumberCell:
    value: float
    rule: str | None
    ambiguous_alt: float | None = None


_GROUP_SPACE = re.compile(r"\d[\s'\u00a0\u202f\u2009]\d")


@lru_cache(maxsize=200_000)
def _parse_text_number(
    text: str, family: str | None, header_factor: float, notation: Notation | None, in_workbook: bool
) -> _NumberCell:
    """Read one text cell of a numeric column; the rule is None when nothing changed."""
    t = clean_text(text)
    if is_missing_marker(t):
        return _NumberCell(math.nan, "missing_marker")
    special = _special_form(t, family, header_factor)
    if special is not None:
        return special
    remark = None
    m = _APPROXIMATE.match(t)
    if m and m.end() < len(t):
        t, remark = t[m.end():], "approximate_value"
    try:
        parsed = parse_number(t, notation)
    except ValueError:
        return _NumberCell(math.nan, "unreadable_value")
    factor = header_factor
    rule = None
    number_part = t
    if parsed.unit:
        if family is None:
            return _NumberCell(math.nan, "unreadable_value")
        unit, comment = _unit_and_comment(parsed.unit, family)
        if unit is None and comment is None:
            return _NumberCell(math.nan, "unreadable_value")
        if unit:
            factor = unit_factor(family, unit)
            rule = "unit_in_cell"
        if comment:
            remark = remark or "comment_in_cell"
        number_part = t[: len(t) - len(parsed.unit)]
    if remark is not None:
        value = parsed.value * factor
        if parsed.ambiguous:
            return _NumberCell(math.nan, "unreadable_value")
        return _NumberCell(value, remark)
    if parsed.ambiguous:
        return _NumberCell(parsed.value * factor, "ambiguous_notation", parsed.alternative * factor)
    if rule is None:
        rule = _plain_rule(t, number_part, parsed.notation, notation, in_workbook)
    if rule is None and t != text.strip():
        rule = "number_as_text"  # a spreadsheet's text marker ("'356,2") taken off
    return _NumberCell(parsed.value * factor, rule)


#: "ca. 80", "~16.4", "etwa 75": an approximate value, read as the number.
def _plain_rule(t: str, number_part: str, shown: Notation | None, notation: Notation | None,
                in_workbook: bool) -> str | None:
    """The rule of a number written without unit or remark: how its text was read."""
    if notation is not None and shown == notation and parse_number(t).ambiguous:
        # "1.234" reads two ways alone; the sheet's other numbers decided.
        return "notation_from_sheet"
    used = shown or notation
    if _GROUP_SPACE.search(number_part) or (used == "de" and "." in number_part) or (
        used == "en" and "," in number_part
    ):
        return "thousands_separator"
    if "," in number_part:
        return "decimal_comma" if in_workbook else None
    return "number_as_text" if in_workbook else None


def _special_form(t: str, family: str | None, header_factor: float) -> _NumberCell | None:
    """Scientific notation, or an age in years and months; None for any other text."""
    if family == "age":
        m = _YEARS_AND_MONTHS.fullmatch(t)
        if m:  # "77 Jahre 9 Monate"
            return _NumberCell(int(m[1]) + int(m[2]) / 12, "unit_in_cell")
    m = _SCIENTIFIC.fullmatch(t)
    if m:
        # "7.726e2", "1,23E+03" (Excel's display in German): never thousands groups here.
        return _NumberCell(float(f"{m[1].replace(',', '.')}e{m[2]}") * header_factor, "scientific_notation")
    return None


#: An age in years and months: "77 Jahre 9 Monate", "1 J. 2 Mon.", "3 years 4 months".
_YEARS_AND_MONTHS = re.compile(
    r"(\d{1,3})\s*(?:jahre?|j\.?|years?|yrs?|y)\s*,?\s*(?:und|and|u\.)?\s*(\d{1,2})\s*(?:monate?|mon\.?|months?|mo)\.?",
    re.I)
#: A number in scientific notation: mantissa (one decimal separator at most), e or E, exponent.
_SCIENTIFIC = re.compile(r"([+-]?\d+(?:[.,]\d+)?)\s*[eE]\s*([+-]?\d{1,3})")
_APPROXIMATE = re.compile(r"^(ca\.?|circa|approx\.?|etwa|rd\.?|~|\u2248)\s*", re.I)
_FAMILIES = ("dap", "dose", "dlp", "mass", "age", "length", "time")
#: Words that open a comment after a number ("lt. Protokoll", "geschätzt").
_COMMENT_WORD = re.compile(
    r"(lt|laut|gem|gemaess|gemäß|geschaetzt|geschätzt|geschaetzt|estimated|est|nach|siehe|s|vgl|approx|ca|"
    r"circa|gemessen|measured|korrigiert|corrected|aus|from|per|see)\b\.?", re.I)


def _unit_and_comment(rest: str, family: str) -> tuple[str | None, str | None]:
    """What follows a number in a cell: ``(unit, comment)``.

    ``"mGy"`` is a unit; ``"(geschätzt)"`` or ``"lt. Protokoll"`` a comment (text
    without a digit that is no unit of any kind); ``"kg (geschätzt)"`` both.
    A unit of another kind (``"kg"`` in an age cell) gives ``(None, None)``:
    the cell is unreadable.
    """
    rest = rest.strip()
    unit_text, _, comment = rest.partition("(")
    comment = ("(" + comment) if comment else ""
    words = unit_text.split()
    for k in range(len(words), -1, -1):
        head, tail = " ".join(words[:k]), " ".join(words[k:])
        if head:
            try:
                unit_factor(family, head.rstrip("."))
            except UnknownUnit:
                continue
        extra = " ".join(x for x in (tail, comment) if x)
        if extra and (re.search(r"\d", extra) or _is_unit_of_any(extra)
                      or not (extra.startswith("(") or _COMMENT_WORD.match(extra))):
            return None, None
        if not head and not extra:
            return None, None
        return head or "", extra or None
    return None, None


def _is_unit_of_any(text: str) -> bool:
    for family in _FAMILIES:
        try:
            unit_factor(family, text.strip("() .").strip())
            return True
        except UnknownUnit:
            continue
    return False


_TYPE_OF = np.frompyfunc(type, 1, 1)
_DECIMAL = re.compile(r"(\d+)([.,])(\d+)")


def _parse_texts(
    texts, family: str | None, header_factor: float, notation: Notation | None, in_workbook: bool
) -> tuple[list[float], list[str | None], list[tuple[int, float]]]:
    """Values, rules and ambiguous alternatives ``(k, alt)`` of distinct text cells.

    Plain digits (``"1234"``) and plain decimals (``"12,5"``, ``"12.5"``) that
    read the same in either notation are read here directly, as
    :func:`_parse_text_number` reads them; everything else goes through it.
    """
    values: list[float] = []
    rules: list[str | None] = []
    alts: list[tuple[int, float]] = []
    text_rule = "number_as_text" if in_workbook else None
    comma_rule = "decimal_comma" if in_workbook else None
    for k, u in enumerate(texts):
        if u.isascii():
            if u.isdigit():
                values.append(float(u) * header_factor)
                rules.append(text_rule)
                continue
            m = _DECIMAL.fullmatch(u)
            if m is not None:
                whole, sep, frac = m.groups()
                # "1.234" / "1,234" are ambiguous; left to the full reader.
                if not (len(frac) == 3 and whole != "0" and len(whole) <= 3):
                    values.append(float(whole + "." + frac) * header_factor)
                    rules.append(comma_rule if sep == "," else text_rule)
                    continue
        if not u.strip():
            values.append(math.nan)
            rules.append(None)
            continue
        p = _parse_text_number(u, family, header_factor, notation, in_workbook)
        values.append(p.value)
        rules.append(p.rule)
        if p.ambiguous_alt is not None:
            alts.append((k, p.ambiguous_alt))
    return values, rules, alts


def _numeric_column(
    arr: np.ndarray, column: str, header_factor: float, notation: Notation | None, in_workbook: bool,
    rows: np.ndarray, log: _Log,
) -> tuple[np.ndarray, dict[int, float], np.ndarray]:
    """Canonical floats for one numeric column; logs repairs.

    ``arr`` is an object array of raw cells; numbers are converted in one
    step, text cells once per distinct text. Returns the values, the
    ambiguous cells ``{position: other reading}`` and a mask of unreadable
    cells (text that reads as no value of the column: their rows are
    rejected, so nothing is logged for them here).
    """
    family = FAMILY_OF_COLUMN.get(column)
    out = np.full(len(arr), np.nan)
    unreadable = np.zeros(len(arr), dtype=bool)
    if not len(arr):
        return out, {}, unreadable
    types = _TYPE_OF(arr)
    is_float = types == float  # noqa: E721 - elementwise on an array of types
    is_str = types == str  # noqa: E721
    out[is_float] = arr[is_float].astype(float) * header_factor
    for i in np.flatnonzero(~is_float & ~is_str):
        v = arr[i]
        if isinstance(v, int) and not isinstance(v, bool):
            out[i] = float(v) * header_factor
        elif not _is_empty(v):
            unreadable[i] = True
    ambiguous: dict[int, float] = {}
    idx = np.flatnonzero(is_str)
    if len(idx):
        codes, uniques = pd.factorize(arr[idx])
        values, rules_of, alts = _parse_texts(uniques, family, header_factor, notation, in_workbook)
        value_table = np.array(values, dtype=float)
        out[idx] = value_table[codes]
        rules = np.array(rules_of, dtype=object)[codes]
        bad = rules == "unreadable_value"
        if bad.any():
            unreadable[idx[bad]] = True
            rules[bad] = None
        has_rule = rules != None  # noqa: E711 - elementwise on an object array
        if has_rule.any():
            # The logged text of each distinct value that was repaired (most values are not).
            after_table = np.full(len(values), None, dtype=object)
            for k in np.unique(codes[has_rule]):
                v = values[k]
                after_table[k] = None if v != v else repr_number(v)
            for rule in sorted(set(rules[has_rule])):
                sel = rules == rule
                at = idx[sel]
                log.repairs_at(rows[at], column, arr[at], after_table[codes[sel]], rule)
        for k, alt in alts:
            for i in idx[codes == k]:
                ambiguous[int(i)] = alt
    return out, ambiguous, unreadable


def repr_number(x: float) -> str:
    """A float as a repair log writes it: shortest round-trip text."""
    return repr(float(x)) if not float(x).is_integer() else str(int(x))

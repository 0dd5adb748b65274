"""Numbers, units and times as Tesseract reads them off a dose-report screen, in the layout's units.

Numbers go through :func:`drl_analysis.core.numbers.parse_number` (German and
English notation) and units through :func:`drl_analysis.core.units.unit_factor`.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from functools import lru_cache

from ..core.numbers import parse_number
from ..core.units import normalise_unit, unit_factor
from .engines import Word
from .layouts import Field

# Letters Tesseract reads for digits when it reads a number without a whitelist.
DIGIT_LOOKALIKES = str.maketrans({"O": "0", "o": "0", "D": "0", "Q": "0", "I": "1", "l": "1", "|": "1",
                                   "!": "1", "S": "5", "B": "8", "Z": "2"})
#: Spaces a screen prints between digit groups ("1 234,5"; a narrow no-break space is read as a space).
GROUP_SPACES = " \u00a0\u202f\u2009"
# A number: digits (or letters read for digits) and separators; a space only before a group of three digits.
NUMBER_HEAD = re.compile(r"^(?P<lead>[^\w]*)(?P<num>[0-9ODQIl|!SBZo](?:[0-9ODQIl|!SBZo.,:]|[ \u00a0\u202f\u2009]"
                         r"(?=\d{3}(?!\d)))*)\s*(?P<rest>.*)$")
_COUNT_RE = re.compile(r"^\d{1,3}(?:[.,\s\u202f]\d{3})+$|^\d+$")
_CLOCK_RE = re.compile(r"^(?:(\d{1,2}):(?=\d\d:))?(\d{1,3}):([0-5]\d)$")
#: Unit texts a clock time may carry: the clock's own, or minutes.
_CLOCK_UNITS = ("mm:ss", "hh:mm:ss", "min")
#: Units of a time printed as a clock.
CLOCK_UNITS = _CLOCK_UNITS[:2]


@dataclass
class Reading:
    """One reading of a field's value from the screen.

    Attributes
    ----------
    text : str
        The text read (number and, where read, its unit).
    conf : float
        Tesseract's confidence in the number, 0–100.
    value : float or None
        The value in the field's canonical unit; None if unreadable.
    half_step : float
        Half the display step of the printed number, canonical unit (the
        rounding a sum check must allow).
    unit : str
        The unit as the layout spells it (``"mGy·cm²"``); empty for counts.
    problem : str
        Why the reading is not valid; empty when it is.
    variant : int
        Preprocessing variant that produced it.
    usual : bool
        The number has the decimals the layout says the screen usually
        prints (a hint: screens and software versions differ).
    alternative : float or None
        For a number that reads differently in the other notation
        (``1,234``: 1234 or 1.234), the value in the other one.
    doubt : str
        Why the reading, though valid, cannot be taken without review
        (the screen's notation unclear for an ambiguous number); empty if none.
    decimals : int
        Digits after the decimal separator (seconds after a clock's colon).
    zero_point : bool
        A number read with a leading zero (``0419``): screens print none, so
        a separator after the zero was lost, and :attr:`value` is the number
        with it put back (0.419). Such a reading is not valid by itself (see
        :attr:`problem`); a sum may take it (see
        :func:`drl_analysis.ocr.trust.decimals_by_sum`).
    """

    text: str
    conf: float
    value: float | None = None
    half_step: float = 0.0
    unit: str = ""
    problem: str = ""
    variant: int = 0
    usual: bool = True
    alternative: float | None = None
    doubt: str = ""
    decimals: int = 0
    zero_point: bool = False

    @property
    def valid(self) -> bool:
        return self.value is not None and not self.problem


@lru_cache(maxsize=4096)
def fold_unit(text: str) -> str:
    """A unit text as Tesseract reads it, folded for comparison.

    ``"Gy-cm?"`` -> ``"gycm2"``, ``"mm:ss"`` -> ``"mmss"``.
    """
    t = text.strip()
    if t.endswith(("?", "*", "'", "\"")):  # a superscript two read as punctuation
        t = t[:-1] + "²"
    t = normalise_unit(t)
    # Punctuation between letters is a misread multiplication dot ("Gy:m²") or the colon of mm:ss.
    t = re.sub(r"[^a-z0-9]", "", t)
    t = re.sub(r"^[pywqj](?=gy)", "u", t)  # the µ of µGy read as a Latin letter
    return re.sub(r"(?<=[a-z])x(?=c?m)", "", t)  # "cGyxcm2": the 'x' is a multiplication sign


def _edit_distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


@lru_cache(maxsize=4096)
def close_units(text: str, units: tuple[str, ...]) -> tuple[str, ...]:
    """The units among ``units`` nearest to ``text`` (one misread character at most), in order."""
    folded = fold_unit(text)
    if not folded:
        return ()
    scored = [(_edit_distance(folded, fold_unit(u)), u) for u in units]
    best = min(d for d, _ in scored)
    return tuple(u for d, u in scored if d == best) if best <= 1 else ()


_AREA_UNIT = re.compile(r"^(?P<prefix>[a-z]?)g[yvj](?P<area>[a-z0-9]*)$")


def guess_area_unit(text: str, units: tuple[str, ...]) -> str | None:
    """A dose-area unit from a garbled reading: its prefix before "Gy" and whether "cm" or "m" follows.

    Tesseract often garbles the small "cm²" ("cGytem", "Gy cn") and drops the
    µ of "µGy·m²" ("Gy m2"); the prefix and the area are what matter. Returns
    None unless exactly one of ``units`` fits.

    >>> guess_area_unit("cGy*cn=", ("Gy·cm²", "cGy·cm²", "µGy·m²"))
    'cGy·cm²'
    >>> guess_area_unit("Gy x m2", ("Gy·cm²", "cGy·cm²", "µGy·m²"))
    'µGy·m²'
    """
    m = _AREA_UNIT.match(fold_unit(text))
    if not m:
        return None
    area = m["area"].rstrip("2")
    if not area or area[-1] not in "mn":
        return None
    area = "cm" if len(area) > 1 else "m"
    shapes = {}
    for u in units:
        um = _AREA_UNIT.match(fold_unit(u))
        if um:
            shapes[u] = (um["prefix"], "cm" if um["area"].rstrip("2").endswith("cm") else "m")
    fits = [u for u, shape in shapes.items() if shape == (m["prefix"], area)]
    if not fits and area == "m" and not m["prefix"]:
        fits = [u for u, shape in shapes.items() if shape[1] == "m"]  # the µ was lost
    return fits[0] if len(fits) == 1 else None


@lru_cache(maxsize=4096)
def partial_unit(text: str, units: tuple[str, ...]) -> str | None:
    """The unit of which ``text`` is the beginning, when exactly one of ``units`` begins so.

    At small sizes Tesseract reads a unit in part ("Gy c", "Gyc", "mGycm").
    A unit whose µ may have been lost ("Gy m²" for µGy·m²) counts as
    beginning without it, so that "Gy" fits Gy·cm² and µGy·m² alike and
    stays undecided.

    >>> partial_unit("Gy c", ("Gy·cm²", "mGy·cm²", "cGy·cm²", "µGy·m²"))
    'Gy·cm²'
    >>> partial_unit("Gy", ("Gy·cm²", "mGy·cm²", "cGy·cm²", "µGy·m²")) is None
    True
    """
    folded = fold_unit(text)
    if len(folded) < 2:
        return None
    fits, blocked = set(), False
    for u in units:
        full = fold_unit(u)
        if full.startswith(folded) and len(folded) < len(full):
            fits.add(u)
        elif full.startswith("u") and full[1:].startswith(folded):
            blocked = True  # as much the unit with its µ lost
    return fits.pop() if len(fits) == 1 and not blocked else None


def match_unit(text: str, units: tuple[str, ...], prefer: str | None = None) -> str | None:
    """The unit among ``units`` that ``text`` spells, allowing one misread character or a cut end.

    Returns None when no unit is that close or two are equally close, unless
    ``prefer`` (the unit another row of the same quantity shows) is one of
    them. A text that is the beginning of exactly one unit is that unit
    (see :func:`partial_unit`).

    >>> match_unit("Gy-cm?", ("Gy·cm²", "mGy·cm²"))
    'Gy·cm²'
    >>> match_unit("uGy m2", ("Gy·cm²", "µGy·m²"))
    'µGy·m²'
    """
    near = close_units(text, units)
    if len(near) == 1:
        return near[0]
    if not near:
        return partial_unit(text, units)
    return prefer if prefer in near else None


def _decimals(num: str, decimal_sep: str) -> int:
    if decimal_sep in num:
        return len(num) - num.rindex(decimal_sep) - 1
    return 0


def parse_reading(text: str, field: Field, notation: str, unit: str | None = None, conf: float = 100.0,
                  variant: int = 0, prefer_unit: str | None = None) -> Reading:
    """Read a field's value from the text Tesseract returned for its value region.

    Numbers may have 0–3 decimals and thousands separators in either
    notation (``1,234.5``, ``1.234,5``, ``1 234,5``); the fluoroscopy time
    may be minutes with decimals, ``mm:ss``, ``hh:mm:ss`` or seconds; counts
    may have thousands separators. The decimals the layout expects are a
    hint (:attr:`Reading.usual`), not a rule.

    Parameters
    ----------
    text : str
        Number and unit as read, e.g. ``"1,765 mGy"``, ``"24:42 mm:ss"``, ``"90"``.
    field : Field
        The row being read; gives the units and the plausible range.
    notation : {"en", "de"}
        The screen's number notation; decides ``1,765`` and ``1.765``.
    unit : str, optional
        The unit when it was read elsewhere (another row of the same unit);
        then ``text`` holds the number only.
    conf : float
        Tesseract's confidence in the number (0–100).
    variant : int
        Preprocessing variant, recorded in the reading.
    prefer_unit : str, optional
        Unit of another row of the same quantity: decides between two units
        a misread text is equally close to.

    Returns
    -------
    Reading
        With ``problem`` saying why it is not valid, if it is not.
    """
    reading = Reading(text=text.strip(), conf=conf, variant=variant)
    m = NUMBER_HEAD.match(text.strip())
    if not m:
        reading.problem = "no number"
        return reading
    if m["lead"].strip():
        # A sign before the number is often a digit misread ("$25" for 525), never a screen's.
        reading.problem = f"{m['lead'].strip()!r} before the number"
        return reading
    num = m["num"].translate(DIGIT_LOOKALIKES).rstrip(".,:")
    if num != m["num"].rstrip(".,:"):
        reading.conf = min(reading.conf, 50.0)  # a letter read as a digit is doubtful
    rest = m["rest"].strip()
    if not re.search(r"\d", num):
        reading.problem = "no number"
        return reading
    if field.quantity == "count":
        # A count row prints no unit: more text is a misread ("1]" for 11).
        reading.problem = (f"unexpected text {rest!r} after the count" if rest
                           else "" if _COUNT_RE.match(num) else f"{num!r} is no count")
        if reading.problem:
            return reading
        value, half = float(re.sub(r"\D", "", num)), 0.5
    elif field.quantity == "time" and ":" in num:
        value, half = _clock(num, rest, unit, field, reading)
        if reading.problem:
            return reading
    elif re.match(r"0\d", num):
        return _leading_zero(reading, num, rest, field, notation, unit, prefer_unit)
    else:
        shown = unit if unit is not None else match_unit(rest, field.units, prefer_unit)
        if shown is None:
            return _unit_undecided(text, num, rest, field, notation, conf, variant, reading)
        if shown in CLOCK_UNITS:
            reading.problem = f"{num} {shown} is no time"
            return reading
        try:
            parsed = parse_number(num, notation)  # type: ignore[arg-type]
        except ValueError:
            reading.problem = f"{num!r} is no number"
            return reading
        used = parsed.notation or notation
        d = _decimals(num.rstrip(GROUP_SPACES), "," if used == "de" else ".")
        family = field.quantity
        factor = unit_factor(family, shown) / unit_factor(family, field.unit)
        value, half = parsed.value * factor, 0.5 * 10.0 ** (-d) * factor
        reading.unit, reading.decimals = shown, d
        allowed = field.decimals_for(shown, parsed.value)
        reading.usual = not allowed or d in allowed
        other = parse_number(num, None)  # type: ignore[arg-type]
        if other.ambiguous:
            reading.alternative = (other.alternative if other.value == parsed.value else other.value) * factor
    reading.value, reading.half_step = value, half
    if not field.low <= value <= field.high:
        reading.problem = f"{value:g} {field.unit} outside {field.low:g}–{field.high:g}"
    return reading


def _leading_zero(reading: Reading, num: str, rest: str, field: Field, notation: str, unit: str | None,
                  prefer_unit: str | None) -> Reading:
    """A number read with a leading zero ("05" for 0.5): not valid, its value the one with the point after the zero."""
    # Screens print no leading zeros: a decimal point was lost.
    problem = f"{num}: a leading zero, a decimal point may be lost"
    if re.fullmatch(r"0\d{1,3}", num) and field.quantity != "count":
        # The point can only stand after the zero: the value with it, for a sum to confirm.
        point = "," if notation == "de" else "."
        restored = parse_reading(f"0{point}{num[1:]} {rest}", field, notation, unit, reading.conf, reading.variant,
                                 prefer_unit)
        if restored.valid:
            reading = dataclasses.replace(restored, text=reading.text, conf=reading.conf, zero_point=True)
    reading.problem = problem
    return reading


def _clock(num: str, rest: str, unit: str | None, field: Field, reading: Reading) -> tuple[float, float]:
    """Minutes and half their display step from a clock time (``12:21``, ``1:02:03``); sets ``reading.problem``."""
    clock = _CLOCK_RE.match(num)
    if unit is not None:
        shown = unit
    elif rest:
        shown = match_unit(rest, tuple(dict.fromkeys(field.units + _CLOCK_UNITS)))
    else:
        shown = "hh:mm:ss" if num.count(":") == 2 else "mm:ss"
    if not clock or shown not in _CLOCK_UNITS or (shown == "hh:mm:ss") != (clock.group(1) is not None):
        reading.problem = f"{num} {rest}".strip() + " is no time"
        return 0.0, 0.0
    hours, minutes, seconds = (int(g) if g else 0 for g in clock.groups())
    if hours and minutes > 59:
        reading.problem = f"{num} is no time"
        return 0.0, 0.0
    reading.unit, reading.decimals = shown, 2
    return hours * 60 + minutes + seconds / 60.0, 0.5 / 60.0


def _unit_undecided(text: str, num: str, rest: str, field: Field, notation: str, conf: float, variant: int,
                    reading: Reading) -> Reading:
    """A reading whose unit text is no unit of the field, or is as near to two of them."""
    near = close_units(rest, field.units)
    if len(near) > 1:
        # "Gy m²" is as near to µGy·m² as to Gy·cm²: keep the one the plausible range allows,
        # and let a second reading confirm it.
        fits = [r for r in (parse_reading(num, field, notation, u, conf, variant) for u in near) if r.valid]
        if len(fits) > 1:
            # Tesseract drops a leading µ far more often than a letter inside the unit ("Gy m²"
            # for µGy·m² rather than for Gy·cm²): the µ reading, to be confirmed.
            folded = fold_unit(rest)
            fits = [r for r in fits if fold_unit(r.unit) == "u" + folded] or fits
        if len(fits) == 1:
            fits[0].text, fits[0].conf = text.strip(), min(fits[0].conf, 80.0)
            return fits[0]
    elif field.quantity == "dap":
        guess = guess_area_unit(rest, field.units)
        if guess is not None:
            guessed = parse_reading(num, field, notation, guess, conf, variant)
            guessed.text, guessed.conf = text.strip(), min(guessed.conf, 80.0)  # to be confirmed
            return guessed
    reading.problem = f"unit {rest!r} not one of {', '.join(field.units)}"
    return reading


#: Sizes of the X-ray field at the interventional reference point, cm², that a
#: dose–area product and an air kerma can give together (1000 × DAP in Gy·cm²
#: / air kerma in mGy). Collimated fields there are some 20 to 600 cm² (a
#: 5 cm square on a child's heart to a 30 × 40 cm detector's full field,
#: scaled to the reference point); the band is wider than that on both
#: sides, and narrower than the factor 1000 between the two notations'
#: values of a number like ``1,234``.
FIELD_CM2 = (15.0, 2000.0)


#: The totals whose ratio is the field size: DAP (Gy·cm²) and air kerma (mGy).
FIELD_TOTALS = ("dap_total_gycm2", "air_kerma_total_mgy")


def field_cm2(dap_gycm2: float | None, kerma_mgy: float | None) -> float | None:
    """The X-ray field at the reference point a total DAP and air kerma give, cm²; None if either is missing or 0."""
    if not dap_gycm2 or not kerma_mgy:
        return None
    return 1000.0 * dap_gycm2 / kerma_mgy


def plausible_field(dap_gycm2: float | None, kerma_mgy: float | None) -> bool | None:
    """Whether a total DAP and air kerma give a plausible field size (:data:`FIELD_CM2`); None if either is missing or 0."""
    size = field_cm2(dap_gycm2, kerma_mgy)
    return None if size is None else FIELD_CM2[0] <= size <= FIELD_CM2[1]


def ambiguity(reading: Reading, unit: str) -> str:
    """What a number that reads differently in the two notations may be: ``1,234 may be 1234 or 1.234 mGy``."""
    return f"{NUMBER_HEAD.match(reading.text)['num']} may be {reading.value:g} or {reading.alternative:g} {unit}"


def check_sum(total: Reading, parts: list[Reading]) -> bool:
    """Whether ``total`` equals the sum of ``parts`` up to the rounding of the displayed numbers."""
    if total.value is None or any(p.value is None for p in parts):
        return False
    slack = total.half_step + sum(p.half_step for p in parts)
    return abs(total.value - sum(p.value for p in parts)) <= slack * (1 + 1e-9) + 1e-12



def words_text(words: list[Word]) -> str:
    """The words' texts joined, a number Tesseract split at a separator joined again."""
    text = " ".join(w.text for w in words)
    # "1, 765", "1 ,765" and "1 , 765": a number Tesseract split at its separator.
    text = re.sub(r"(\d)\s+([.,:])\s+(?=\d)", r"\1\2", text)
    text = re.sub(r"(\d[.,:])\s+(?=\d)", r"\1", text)
    return re.sub(r"(\d)\s+(?=[.,:]\d)", r"\1", text)


_GROUP_WORD = re.compile(r"^\d{3}(?!\d)")


def number_words(words: list[Word]) -> int:
    """How many leading words make up the number (1 unless split at a separator or a group space)."""
    k = 1
    while k < len(words):
        if (words[k].text in (",", ".", ":") and k + 1 < len(words) and words[k + 1].text[:1].isdigit()
                and words[k - 1].text[-1:].isdigit()):
            k += 2  # the separator read as a word of its own: "188 , 082"
            continue
        split = words[k - 1].text.endswith((",", ".", ":")) or words[k].text.startswith((",", ".", ":"))
        # "1 234,5": a group of three digits after a space continues the number.
        group = words[k - 1].text[-1:].isdigit() and _GROUP_WORD.match(words[k].text) is not None
        if not ((split and re.search(r"\d", words[k].text)) or group):
            break
        k += 1
    return k



"""Reading numbers written as text, in German or English notation.

Survey cells and dose-report screens write numbers as people do: ``1.234,5``
(German), ``1,234.5`` (English), ``12,5``, ``1 234``, ``24,7 mGy``. Some are
ambiguous: ``1.765`` is one thousand seven hundred sixty-five in German and
one point seven six five in English. Such a number is resolved with the
notation of its sheet or screen; without one it is reported as ambiguous.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Literal

Notation = Literal["de", "en"]

# Spaces that people and programs put between digit groups.
_GROUP_SPACES = "\u00a0\u202f\u2009 '’"
_NUMBER_RE = re.compile(
    r"^\s*(?P<sign>[+\-−]?)\s*(?P<body>\d[\d.,\u00a0\u202f\u2009 '’]*\d|\d|[.,]\d+)\s*(?P<rest>.*?)\s*$"
)
_PLAIN_DECIMAL = re.compile(r"(\d+)([.,])(\d+)")
_GROUPED_EN = re.compile(r"^\d{1,3}(,\d{3})+(\.\d+)?$")
_GROUPED_DE = re.compile(r"^\d{1,3}(\.\d{3})+(,\d+)?$")


@dataclass(frozen=True)
class ParsedNumber:
    """A number read from text.

    Attributes
    ----------
    value : float
        The number; for an ambiguous text the reading in ``notation``.
    unit : str
        Text after the number (e.g. ``"mGy"``), stripped; empty if none.
    notation : {"de", "en"} or None
        The notation the text shows or was read in; None where it shows none
        (e.g. ``"12"``).
    ambiguous : bool
        True when the text reads differently in the two notations and no
        notation was given, e.g. ``"1.234"``.
    alternative : float or None
        For an ambiguous text, the reading in the other notation.
    """

    value: float
    unit: str = ""
    notation: Notation | None = None
    ambiguous: bool = False
    alternative: float | None = None


def _strip_groups(body: str) -> str:
    return "".join(ch for ch in body if ch not in _GROUP_SPACES)


def _read(body: str, notation: Notation) -> float:
    if notation == "de":
        return float(body.replace(".", "").replace(",", "."))
    return float(body.replace(",", ""))


@lru_cache(maxsize=200_000)
def shown_notation(body: str) -> tuple[Notation | None, bool]:
    """The notation a digit string shows: ``(notation, ambiguous)``.

    ``("de", False)`` for ``"12,5"`` or ``"1.234,5"``; ``(None, False)`` for
    ``"12"``; ``(None, True)`` for ``"1.234"`` or ``"1,234"``. Raises
    ValueError for text that is no number in either notation (``"1,2,3"``).
    """
    body = _strip_groups(body)
    has_dot, has_comma = "." in body, "," in body
    if has_dot and has_comma:
        if body.rfind(",") > body.rfind("."):
            if _GROUPED_DE.match(body):
                return "de", False
        elif _GROUPED_EN.match(body):
            return "en", False
        raise ValueError(f"mixed separators in {body!r}")
    for sep, grouped, decimal in ((".", _GROUPED_DE, "en"), (",", _GROUPED_EN, "de")):
        if sep in body:
            if body.count(sep) > 1:
                if grouped.match(body):
                    return ("de" if sep == "." else "en"), False
                raise ValueError(f"repeated separator in {body!r}")
            whole, frac = body.split(sep)
            if len(frac) == 3 and whole and whole != "0" and len(whole) <= 3:
                return None, True
            return decimal, False  # type: ignore[return-value]
    return None, False


def parse_number(text: str, notation: Notation | None = None) -> ParsedNumber:
    """Read a number written as text, with an optional unit after it.

    Parameters
    ----------
    text : str
        The cell or screen text, e.g. ``"1.234,5"``, ``"24,7 mGy"``, ``"1 765"``.
    notation : {"de", "en"}, optional
        The notation of the sheet or screen, used only where the text itself
        is ambiguous (``"1.765"``).

    Returns
    -------
    ParsedNumber

    Raises
    ------
    ValueError
        If the text holds no number.
    """
    m = _NUMBER_RE.match(text)
    if not m:
        raise ValueError(f"no number in {text!r}")
    body = _strip_groups(m["body"])
    if body[0] in ".,":
        body = "0" + body
    shown, ambiguous = shown_notation(body)
    sign = -1.0 if m["sign"] in ("-", "−") else 1.0
    unit = m["rest"]
    if ambiguous:
        if notation is not None:
            return ParsedNumber(sign * _read(body, notation), unit, notation)
        other = "de" if "." in body else "en"
        return ParsedNumber(
            sign * _read(body, "en" if other == "de" else "de"),
            unit,
            None,
            True,
            sign * _read(body, other),
        )
    value = _read(body, shown or notation or "en")
    return ParsedNumber(sign * value, unit, shown)


def detect_notation(texts: Iterable[str]) -> Notation | None:
    """The notation that the unambiguous numbers among ``texts`` show.

    Returns the notation shown by most of them, None where none shows one.
    """
    return decide_notation(*notation_votes(texts))


def notation_votes(texts: Iterable[str]) -> tuple[int, int]:
    """How many of ``texts`` show German and how many English notation."""
    votes = {"de": 0, "en": 0, None: 0}
    for text in texts:
        if text.isascii():
            # Plain digits show no notation; a plain decimal shows its
            # separator's unless it reads as a thousands group ("1.234").
            if text.isdigit():
                continue
            m = _PLAIN_DECIMAL.fullmatch(text)
            if m is not None:
                whole, sep, frac = m.groups()
                if not (len(frac) == 3 and whole != "0" and len(whole) <= 3):
                    votes["de" if sep == "," else "en"] += 1
                continue
        votes[_shown_by_text(text)] += 1
    return votes["de"], votes["en"]


def decide_notation(de: int, en: int) -> Notation | None:
    """The notation most texts show (see :func:`notation_votes`); None on a tie."""
    if de == en:
        return None
    return "de" if de > en else "en"


@lru_cache(maxsize=200_000)
def _shown_by_text(text: str) -> Notation | None:
    """The notation one text shows (None for no number or no notation)."""
    m = _NUMBER_RE.match(text)
    if not m:
        return None
    try:
        shown, _ = shown_notation(m["body"])
    except ValueError:
        return None
    return shown

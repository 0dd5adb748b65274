"""Reading single text cells: invisible characters and missing-value markers.

One place decides what a cell's text says before any other reading of it: a
missing marker in any spelling (``k.A.``, ``k. A.``, ``K.A``, ``n. a.``, ``/``)
is "no value" in every column, and no zero-width space or non-breaking space
survives into an ID or a code.
"""

from __future__ import annotations

import datetime as dt
import math

#: Texts that mean "no value", compared after :func:`marker_key` (case, spaces
#: and dots do not count: ``k.A.``, ``k. A.``, ``K.A``, ``n. a.`` are one marker).
MISSING_MARKERS = frozenset(
    {"", "-", "--", "---", "\u2013", "\u2014", "na", "n/a", "ka", "k/a", "?", "??", "???", "nan", "none",
     "null", "keineangabe", "keineangaben", "unbekannt", "unknown", "x", "xx", "/", "//", "-/-", "nv", "n/v",
     "nb", "n/b", "nichtbekannt", "nichtangegeben", "nz", "nichtzutreffend", "notapplicable", "notavailable",
     "notknown", "entfaellt", "entfällt", "fehlt", "#n/a", "#nv", "#na", "ohne", "leer", "empty", "missing",
     "unk", "unbek", "*", "nicht erfasst", "nichterfasst", "ne"}
)
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
_SPACES = dict.fromkeys(map(ord, "\u00a0\u202f\u2007\u2009\u2002\u2003"), " ")


def clean_text(text: str) -> str:
    """A text cell without invisible characters (zero-width spaces, soft hyphens,
    byte-order marks), odd spaces as plain ones, trimmed, and without the
    apostrophe a spreadsheet puts before a number or code kept as text
    (``"'356,2"``, ``"'9003"``: it is no part of the value)."""
    t = text.translate(_INVISIBLE).translate(_SPACES).strip()
    if t[:1] == "'" and len(t) > 1:
        t = t[1:].lstrip()
    return t


def marker_key(text: str) -> str:
    """A cell's text folded for comparing with :data:`MISSING_MARKERS`."""
    return "".join(clean_text(text).lower().split()).replace(".", "")


def is_missing_marker(text: str) -> bool:
    """Whether a text cell says "no value": ``-``, ``k.A.``, ``K. A``, ``n. a.``, ``/``...

    >>> [is_missing_marker(t) for t in ["k. A.", "K.A", "n.a.", "/", "Kopf", "12"]]
    [True, True, True, True, False, False]
    """
    return marker_key(text) in MISSING_MARKERS


def _is_empty(v: object) -> bool:
    return v is None or (isinstance(v, str) and not v.strip()) or (isinstance(v, float) and math.isnan(v))


def _cell_text(v: object) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, (dt.datetime, dt.date, dt.time)):
        return v.isoformat()
    return str(v)

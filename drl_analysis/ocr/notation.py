"""The number notation of a screen: ``1,234.5`` (English) or ``1.234,5`` (German), from its own numbers.

The layout's language gives the notation a screen usually prints, but
screens and software versions differ. Numbers that show a notation
(``12,5``, ``1,234.5``) vote for it; a number that reads differently in the
two notations (``1,234``: 1234 or 1.234) votes for the one in which alone it
is plausible; and the screen's sums may hold in one notation only. Where
that leaves the screen unclear, the dose–area product and the air kerma at
the reference point tell a third thing: their ratio is the size of the
X-ray field there (see :func:`~drl_analysis.ocr.values.plausible_field`),
and a notation that makes it a fraction of a square centimetre or several
square metres is not the screen's; nor does one row's notation outweigh it.
A time in the other notation on a screen whose notation is clear is a
clock's colon misread, and refused. A number the screen's notation leaves
ambiguous is marked doubtful (see
:attr:`drl_analysis.ocr.values.Reading.doubt`): no reading again can
settle it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from ..core.numbers import shown_notation
from .layouts import Layout
from .trust import options
from .values import FIELD_TOTALS, GROUP_SPACES, NUMBER_HEAD, Reading, ambiguity, check_sum, plausible_field

Readings = dict[str, list[Reading]]

#: How a screen's notation was decided (the ``notation_from`` column).
FROM_NUMBERS, FROM_SUMS, FROM_FIELD, UNCLEAR, NOT_NEEDED = "numbers", "sums", "field size", "unclear", ""
#: One field's numbers show the notation, and the field size speaks for the other: its numbers are marked.
AGAINST_FIELD = "one number, against the field size"


_NAMES = {"en": "English", "de": "German"}


def _other(notation: str) -> str:
    return "de" if notation == "en" else "en"


def votes(layout: Layout, readings: Readings, parsed_in: str) -> dict[str, int]:
    """How many fields show German and how many English notation.

    A field votes with the notation its readings' numbers show (``12,5``,
    ``1,234.5``, ``1,056`` images or seconds), when they show one only: a
    comma read as a point (``14,5`` and ``14.5`` from two variants) casts no
    vote. Or, showing none, with a number that reads differently in the two
    notations (``1,234``) when only one of its values (in ``parsed_in``, the
    notation the readings were parsed in, and the other) is plausible.
    """
    counts = {"de": 0, "en": 0}
    for column, found_readings in readings.items():
        field = layout.field(column)
        shown = {n for r in found_readings if r.valid for n in [_shown(r.text, _whole(field.quantity, r.unit))] if n}
        if shown:
            if len(shown) == 1:
                counts[shown.pop()] += 1
            continue
        for r in found_readings:
            if r.alternative is not None and r.value is not None:
                here, there = (field.low <= v <= field.high for v in (r.value, r.alternative))
                if here != there:
                    counts[parsed_in if here else _other(parsed_in)] += 1
                    break
    return counts


def _whole(quantity: str, unit: str) -> bool:
    """Whether a field's numbers are whole: counts, and times in seconds."""
    return quantity == "count" or quantity == "time" and unit == "s"


def _shown(text: str, whole: bool = False) -> str | None:
    """The notation a reading's number shows by itself (``12,5``: German), or None.

    A ``whole`` number (a count, seconds) groups thousands: its ``1,056`` is
    English, ``1.056`` German.
    """
    m = NUMBER_HEAD.match(text)
    # A separator after the last digit is a speck or the unit's edge, no notation ("432.").
    body = "".join(ch for ch in m["num"] if ch not in GROUP_SPACES).rstrip(".,:") if m else ""
    try:
        shown, ambiguous = shown_notation(body) if body and ":" not in body else (None, False)
    except ValueError:
        return None
    if ambiguous and whole:
        return "en" if "," in body else "de"
    return shown


def sums_hold(layout: Layout, readings: Readings) -> bool | None:
    """Whether the sum checks hold for each field's best reading; None when none can be tested.

    A value outside its plausible range takes part as read: its range has
    cast its vote already (see :func:`votes`), and a unit misread or a
    separator lost can push a value out of range in both notations, so the
    range must not count twice against the notation it was parsed in
    (``5.470 Gy·cm²`` beside ``80,6``: the sums hold in both, the screen is
    unclear).
    """
    best = {}
    for column, found_readings in readings.items():
        found = options(found_readings)
        if found:
            best[column] = found[0][2]
            continue
        field = layout.field(column)
        valued = [r for r in found_readings if r.value is not None and not field.low <= r.value <= field.high]
        if valued:
            best[column] = max(valued, key=lambda r: r.conf)
    tested = [check_sum(best[k.total], [best[p] for p in k.parts]) for k in layout.checks
              if not k.zero_together and all(c in best for c in (k.total, *k.parts))]
    return all(tested) if tested else None


def _field_fits(readings: Readings) -> bool:
    """Whether the totals as best read (see :func:`~drl_analysis.ocr.trust.options`) give a plausible field size."""
    best = [options(readings.get(c, [])) for c in FIELD_TOTALS]
    return all(best) and plausible_field(best[0][0][2].value, best[1][0][2].value) is True


def read_in_screen_notation(layout: Layout, parse: Callable[[str], Readings]) -> tuple[Readings, str, str]:
    """The readings of a screen in its notation, ambiguous numbers marked doubtful where it is unclear.

    Parameters
    ----------
    layout : Layout
    parse : callable
        ``parse(notation)`` turns the words read into readings in that
        notation (``"en"`` or ``"de"``).

    Returns
    -------
    readings : dict
        Output column -> readings, in the notation most of the screen's
        numbers show (the layout language's on a tie). A number that reads
        differently in the two notations is doubtful when the votes are not
        three to one (none cast included: the layout's usual decimals are a
        hint, and a screen may print the other language's notation), unless
        the screen's sums hold in one notation only, or the field size
        (:data:`~drl_analysis.ocr.values.FIELD_CM2`) is plausible in the
        notation of the votes (the layout language's, when none is cast) and
        not in the other. Where the field size alone speaks for the other
        notation, the readings are taken in it and stay doubtful.
    notation : {"en", "de"}
        The notation the readings are in.
    notation_from : str
        How it was decided: ``numbers`` (the votes), ``sums``, ``field size``,
        ``unclear`` (doubtful), :data:`AGAINST_FIELD` (one field's numbers
        against the field size: the numbers that depend on the notation are
        to be marked once reading ends), or empty when no number depends on it.
    """
    language = layout.language
    readings = parse(language)
    if not any(r.alternative is not None for rs in readings.values() for r in rs):
        return readings, language, NOT_NEEDED  # every number reads the same in both notations
    count = votes(layout, readings, language)
    notation = _other(language) if count[_other(language)] > count[language] else language
    if notation != language:
        readings = parse(notation)
    # A separator misread on one row ("0,000" for 0.000) is outvoted three to one.
    clear = count[notation] > 0 and count[notation] >= 3 * count[_other(notation)]
    basis, hint = FROM_NUMBERS, ""
    if clear and count[notation] == 1 and not _field_fits(readings) and _field_fits(parse(_other(notation))):
        # One field's numbers against the field size: a point read as a comma alike by every variant of one
        # row ("1.99 Gy" read "1,99") would make every other ambiguous number 1000 times off. Read on; what
        # still depends on the notation in the end is marked (see reader).
        readings, basis = parse(notation), AGAINST_FIELD
    if not clear and any(r.alternative is not None for rs in readings.values() for r in rs):
        # The screen's sums hold in one notation only: "1,902 = 1,116 + 786" is English.
        twin = _other(notation)
        holds = {notation: sums_hold(layout, readings)}
        fits = {notation: _field_fits(readings)}
        twin_readings = parse(twin)
        holds[twin] = sums_hold(layout, twin_readings)
        fits[twin] = _field_fits(twin_readings)
        basis = FROM_SUMS
        if holds[twin] and holds[notation] is False:
            readings, clear, notation = twin_readings, True, twin
        else:
            readings = parse(notation)
            clear = bool(holds[notation]) and holds[twin] is False
        if not clear and fits[notation] and not fits[twin]:
            # Two things agree: the votes (or, none cast, the layout's language) and the field size.
            basis, clear = FROM_FIELD, True
        elif not clear and fits[twin] and not fits[notation]:
            # The field size alone against the votes: its notation is likelier, but one sign is no proof.
            readings, notation = parse(twin), twin
            hint = f" (taken as {_NAMES[twin]}: only in it do dose–area product and air kerma give a plausible field size)"
    for column, found_readings in readings.items():
        field = layout.field(column)
        for i, r in enumerate(found_readings):
            r.doubt = ""
            if r.alternative is not None and not clear:
                r.doubt = f"{ambiguity(r, field.unit)}: the screen's notation is unclear{hint}"
            elif clear and field.quantity == "time" and r.valid and _shown(r.text) == _other(notation):
                # A time in the other notation on a screen whose notation is clear: a clock's colon read as a
                # comma or point ("10:12" read "10,12" beside "7.20" and "29.175"). No sum watches the time.
                found_readings[i] = dataclasses.replace(r, problem=(
                    f"{NUMBER_HEAD.match(r.text)['num']}: {_NAMES[_other(notation)]} notation on a screen that "
                    f"prints {_NAMES[notation]}, a colon may be read as a separator"))
    return readings, notation, basis if clear else UNCLEAR

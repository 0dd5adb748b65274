"""Which reading of each field to take, and whether it can be trusted or the report needs review.

A value is safe when two readings (from different preprocessing variants)
agree, or one reading has confidence :data:`ACCEPT_CONF` or more, no reading
of another value is nearly as well supported, and the screen's checks hold
(total = sum of parts up to display rounding; exposure rows zero together).
Otherwise another variant is read while one is left; what stays unsafe is a
doubt, and the report needs review.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from .layouts import Check, Field, Layout
from .values import DIGIT_LOOKALIKES, FIELD_TOTALS, NUMBER_HEAD, Reading, check_sum, field_cm2, plausible_field

#: A number read once with at least this confidence (0–100) is taken without
#: a second reading that agrees with it. Sum checks cannot stand in for it:
#: they allow the display rounding of every term, so a misread last digit
#: (445 for 446) or a part's decimals (7.96 for 7.56 beside a total of 354)
#: pass them.
ACCEPT_CONF = 95.0
#: A single reading of a field a sum check watches is taken with this confidence
#: when the sum holds with it.
SUM_ACCEPT_CONF = 90.0
#: Digits a zero with a dot or bar inside is read as.
ZERO_MISREADS = frozenset("689")
#: Two readings that agree are taken if the better was read with at least
#: this confidence: a font's dotted zero misread as 8 or 6 agrees with itself.
AGREE_CONF = 60.0

#: A single reading of another value with less confidence than this does not
#: contest two readings that agree with confidence 90 or more.
NOISE_CONF = 25.0
#: Readings with decimals other than the layout's usual ones, in a field no holding
#: sum check vouches for, are taken when two agree and the better has this confidence:
#: a colon read as a point ("10,10 min" for 10:10) agrees with itself.
UNUSUAL_CONF = 85.0

#: A distinct value read for a field: (readings agreeing, best confidence, best reading).
Option = tuple[int, float, Reading]


@dataclass
class Settlement:
    """The readings chosen for a report's fields, and what stays doubtful.

    Attributes
    ----------
    chosen : dict
        Output column -> the reading taken.
    doubts : list of str
        Why the report needs review (empty when every value is safe).
    consistent : bool or None
        The screen's checks hold (True), fail (False), or cannot be tested
        because values are missing (None).
    safe : dict
        Output column -> whether its value is safe.
    doubtful : dict
        Output column -> why its value is doubtful, for every field a
        reviewer should look at.
    """

    chosen: dict[str, Reading] = field(default_factory=dict)
    doubts: list[str] = field(default_factory=list)
    consistent: bool | None = True
    safe: dict[str, bool] = field(default_factory=dict)
    doubtful: dict[str, str] = field(default_factory=dict)
    # Columns safe but for decimals other than the layout's usual ones: a holding sum check vouches for them.
    unusual: set[str] = field(default_factory=set)
    # Columns of sum checks that cannot be tested yet (a term has no reading).
    untested: set[str] = field(default_factory=set)
    # Columns a holding sum will vouch for once its other terms are safe.
    waiting: set[str] = field(default_factory=set)
    # Total and part of a sum whose other parts all read zero, each to the other (see :func:`copies`).
    copies: dict[str, str] = field(default_factory=dict)

    def doubt(self, columns: list[str], reason: str) -> None:
        """Record a doubt about ``columns`` (a report-level reason, and each field's)."""
        self.doubts.append(reason)
        for c in columns:
            self.doubtful.setdefault(c, reason)


def options(readings: list[Reading], keep: Callable[[Reading], bool] = lambda r: r.valid) -> list[Option]:
    """Distinct values read for a field, best supported first (of the valid readings, or those ``keep`` keeps)."""
    groups: dict[float, list[Reading]] = {}
    for r in readings:
        if keep(r):
            groups.setdefault(round(r.value, 9), []).append(r)
    found = [(len(g), max(r.conf for r in g), max(g, key=lambda r: r.conf)) for g in groups.values()]
    return sorted(found, key=lambda o: (o[0], o[1]), reverse=True)


def _number_shape(reading: Reading) -> tuple[str, int]:
    """The digits of the number read, and how many separators (``.``, ``,``, ``:``) stand between them."""
    m = NUMBER_HEAD.match(reading.text)
    num = m["num"].translate(DIGIT_LOOKALIKES).rstrip(".,:") if m else ""
    return re.sub(r"\D", "", num), sum(ch in ".,:" for ch in num)


def separator_first(found: list[Option]) -> list[Option]:
    """Options of a field a sum watches, a decimal separator read twice put before its loss.

    Tesseract loses a separator joined to a digit (a comma under the next
    digit in tight serif fonts at small sizes: ``121,5`` read ``1215``) far
    more often than it invents one between digits. Where two readings agree
    on a number with decimals and other readings show the same digits without
    any separator, those others are the separator lost: they neither contest
    nor outvote it. The sum check still has to hold with the number taken.
    """
    for option in found:
        digits, seps = _number_shape(option[2])
        if option[0] < 2 or not seps or not option[2].decimals:
            continue
        lost = [o for o in found if o is not option and _number_shape(o[2]) == (digits, 0)]
        if lost:
            return [option] + [o for o in found if o is not option and all(o is not x for x in lost)]
    return found


def summed(layout: Layout) -> set[str]:
    """Fields a sum check of the layout watches."""
    return {c for check in layout.checks if not check.zero_together for c in (check.total, *check.parts)}


def settle(layout: Layout, mapped: set[str], readings: dict[str, list[Reading]],
           retry: Callable[[Field], bool], final: bool = False) -> Settlement:
    """Choose each mapped field's reading; ask for more readings where the choice is not safe yet.

    Parameters
    ----------
    layout : Layout
    mapped : set of str
        Output columns whose row was found on the screen.
    readings : dict
        Output column -> every reading of it so far.
    retry : callable
        ``retry(field)`` asks for another reading of the field and returns
        True, or returns False when none is left (or none may be asked).
    final : bool, default False
        No more reading: what is not safe now is a doubt.

    Returns
    -------
    Settlement
    """
    result = Settlement()
    chosen, safe = result.chosen, result.safe
    result.copies = copies(layout, readings)
    watched = summed(layout) - set(result.copies)
    for f in layout.fields:
        column = f.column
        if column not in mapped:
            continue
        found = options(readings.get(column, []))
        if not found:
            retry(f)
            continue
        if column in watched:
            found = separator_first(found)
        chosen[column] = found[0][2]
        safe[column], sum_vouches = _judge(found, column in watched)
        if sum_vouches:
            result.unusual.add(column)
    for check in layout.checks:
        _apply_check(check, layout, readings, result, retry, mapped)
    if final:
        _field_size(layout, result)
    retried: set[str] = set()
    waiting = []
    for column, ok in safe.items():
        if ok:
            continue
        if not final and column in result.unusual and column in result.untested:
            continue  # its sum may vouch for it once the other terms are read
        if column in result.waiting:
            waiting.append(column)
            continue
        if _read_again(layout, column, chosen[column], retry, result):
            retried.add(column)
    for column in waiting:
        partners = {c for k in layout.checks if column in (k.total, *k.parts) for c in (k.total, *k.parts)}
        if not final and partners & retried:
            continue  # the sum fixes it once its other terms, being read again, are safe
        _read_again(layout, column, chosen[column], retry, result)
    return result


def _field_size(layout: Layout, result: Settlement) -> None:
    """Doubt the values whose separators may all be lost, where the field size says so.

    A comma lost alike in every row of a quantity passes the sums
    (``6012 = 4092 + 1920`` for ``601,2 = 409,2 + 192,0``) and the ranges,
    and in a total and its copy (``419,3`` beside a lateral 0) no sum
    watches it. The totals of dose–area product and air kerma give the size
    of the X-ray field at the reference point (see
    :func:`~drl_analysis.ocr.values.plausible_field`): where it is
    implausible, and the quantity's non-zero values are all whole numbers
    that a separator before their last one to three digits would make
    plausible, they are marked.
    """
    chosen = result.chosen
    dap, kerma = (chosen.get(c) for c in FIELD_TOTALS)
    if dap is None or kerma is None or plausible_field(dap.value, kerma.value) is not False:
        return
    for quantity, total in (("dap", dap), ("dose", kerma)):
        group = [f.column for f in layout.fields
                 if f.quantity == quantity and f.column in chosen and chosen[f.column].value]
        if not group or any(chosen[c].decimals for c in group):
            continue
        for k in range(1, min(3, len(_number_shape(total)[0]) - 1) + 1):
            scaled = (dap.value / 10 ** k, kerma.value) if quantity == "dap" else (dap.value, kerma.value / 10 ** k)
            if plausible_field(*scaled):
                result.doubt(group, f"{', '.join(group)}: {dap.value:g} Gy·cm² and {kerma.value:g} mGy give an X-ray "
                                    f"field of {field_cm2(dap.value, kerma.value):.3g} cm² at the reference point; "
                                    f"with a decimal separator lost in {total.text.split()[0]} it would be "
                                    f"{field_cm2(*scaled):.3g} cm²")
                return


def copies(layout: Layout, readings: dict[str, list[Reading]]) -> dict[str, str]:
    """Total and part of each sum whose other parts all read zero, read alike, each mapped to the other.

    They print the same number (``3 023 = 3 023 + 0``), in the same font:
    a digit misread alike in both rows passes the sum. Each is judged as a
    field no sum watches; the sum vouches for one only once the other is
    safe by its own readings.
    """
    out: dict[str, str] = {}
    for check in layout.checks:
        if check.zero_together or len(check.parts) < 2:
            continue
        best = {c: options(readings.get(c, [])) for c in (check.total, *check.parts)}
        if all(best.values()):
            nonzero = [c for c in check.parts if best[c][0][2].value != 0]
            if len(nonzero) != 1:
                continue
            total, part = best[check.total][0][2], best[nonzero[0]][0][2]
            # Printed alike: a total with other decimals than its part ("236.272", "236") is read apart.
            if total.value == part.value and total.decimals == part.decimals:
                out[check.total], out[nonzero[0]] = nonzero[0], check.total
    return out


def _judge(found: list[Option], watched: bool) -> tuple[bool, bool]:
    """Whether a field's best reading is safe by itself, and, if not, whether a holding sum makes it safe."""
    best = found[0]
    reading = best[2]
    # Readings of other values count against it: two low-confidence readings agreeing on a 3
    # do not outweigh a confident reading of a 5, nor two readings of 7715 one of 775. A
    # single reading Tesseract itself gives almost no confidence does not count against two
    # confident ones.
    # A zero with a dot or bar inside is read as 6, 8 or 9 by several variants alike: where no
    # sum tells them apart, a reading that has a 0 where the others have one of these
    # ("0:13:11" beside three "6:13:11") is not outvoted.
    # Likewise a separator joined to the next digit is lost by most variants alike ("14,3 min" read
    # "143" by four, "14,3" by one): where no sum tells, a reading of the same digits with a
    # separator contests one without.
    contested = any((o[0] + 2 > best[0] or o[1] >= best[1]
                     or not watched and o[1] >= NOISE_CONF and _zero_twins(o[2], reading)
                     or not watched and o[1] >= AGREE_CONF and _lost_separator(reading, o[2]))
                    and not (o[0] == 1 and o[1] < NOISE_CONF and best[0] >= 2 and best[1] >= 90)
                    for o in found[1:])
    # Where no sum watches the field, confident readings of other values count together, whatever
    # they read: "01:30:01" read "01:30:04" by three variants (Liberation Mono's 1 at 13 px), and
    # "01:30:02" and "01:30:01" by the other two.
    dissent = sum(o[0] for o in found[1:] if o[1] >= AGREE_CONF)
    contested = contested or not watched and dissent > 0 and dissent + 2 > best[0]
    if reading.doubt or contested:
        return False, False
    # A single confident reading is taken. A zero with a dot or bar inside, once read as 6, 8
    # or 9 with confidence 97 ("10" in a bold monospaced font read as 16), has its dot or bar
    # cleared before reading (images.prepare), and the crop is searched for one wherever such
    # a digit is read (glyphs.barred_zeros): of 3,584 first readings of counts and times with
    # confidence 85 or more (1,320 screens: the generator's seeds 1, 3, 4, 99 and 120
    # browser-rendered), none was wrong.
    alone_ok = best[1] >= ACCEPT_CONF
    # Two readings that agree, or three whatever Tesseract's confidence (it is low for a
    # thin space inside a number, not for its digits). Where no sum watches the field, nothing
    # else catches a digit that several variants misread alike (a thin serif 7 read 1 in "775"
    # by three variants, confidences 37, 73 and 43; the next two read "7715"): there two must
    # be confident, or four agree with none of the others contesting them.
    if watched:
        agreed = best[0] >= 2 and best[1] >= AGREE_CONF or best[0] >= 3
    else:
        agreed = best[0] >= 2 and best[1] >= UNUSUAL_CONF or best[0] >= 4 and best[1] >= AGREE_CONF
    # Where a sum check watches the field, a reading nearly as confident is taken once the sum
    # holds with it (no digit misread at 93-95 in 5,600 readings of six fonts; a lost point or
    # digit breaks the sum or shows in the crop).
    summed_ok = watched and best[1] >= SUM_ACCEPT_CONF
    if reading.usual:
        safe = agreed or alone_ok
        return safe, not safe and summed_ok
    # Decimals other than the layout's usual ones are taken when the reading is confident
    # and stable across preprocessing variants, or when the screen's sum holds with it. A
    # whole number where the layout prints decimals, in a field no sum watches, may have lost
    # its separator in every variant that reads the crop small: four must agree.
    stable = best[0] >= 4 or watched or reading.decimals > 0
    safe = agreed and best[1] >= UNUSUAL_CONF and stable
    return safe, not safe and watched and (summed_ok or agreed)


def _zero_twins(a: Reading, b: Reading) -> bool:
    """Whether two readings' digits differ, and only where one has a 0 and the other a 6, 8 or 9."""
    da, db = _number_shape(a)[0], _number_shape(b)[0]
    return len(da) == len(db) and da != db and all(
        x == y or "0" in (x, y) and (x + y).replace("0", "", 1) in ZERO_MISREADS for x, y in zip(da, db))


def _group_read_as_point(whole: Reading, other: Reading) -> bool:
    """Whether ``other`` reads the digits of ``whole`` with a decimal separator where ``whole`` groups thousands."""
    digits = _number_shape(whole)[0]
    return not whole.decimals and other.decimals == 3 and len(digits) > 3 and digits == _number_shape(other)[0]


def _lost_separator(whole: Reading, other: Reading) -> bool:
    """Whether ``whole`` reads the digits of ``other`` without the separator ``other`` shows."""
    digits, seps = _number_shape(whole)
    other_digits, other_seps = _number_shape(other)
    return seps == 0 and other_seps > 0 and digits == other_digits


def _read_again(layout: Layout, column: str, reading: Reading, retry: Callable[[Field], bool],
                result: Settlement) -> bool:
    """Ask for another reading of an unsafe field; record a doubt when none is left. True if one was asked for."""
    # A doubt another preprocessing variant cannot settle (the screen's notation) is not read again.
    if not reading.doubt and retry(layout.field(column)):
        return True
    result.doubt([column], f"{column}: {reading.doubt or 'readings uncertain'}")
    return False


def _apply_check(check: Check, layout: Layout, readings: dict[str, list[Reading]], result: Settlement,
                 retry: Callable[[Field], bool], mapped: set[str]) -> None:
    chosen, safe = result.chosen, result.safe
    cols = [check.total, *check.parts]
    if check.zero_together:
        zeros = {chosen[c].value == 0 for c in cols if c in chosen}
        if zeros == {True} and any(safe.get(c) for c in cols):
            # One safe zero vouches for the others (a lone "0" gets a low confidence).
            safe.update({c: True for c in cols if c in chosen})
        if len(zeros) > 1:
            retried = [retry(layout.field(c)) for c in cols]
            if not any(retried):
                result.consistent = False
                result.doubt(cols, f"{check.name} check fails: {', '.join(cols)} are not all zero "
                                   f"or all non-zero")
        return
    complete = all(c in chosen for c in cols)
    if complete and check_sum(chosen[check.total], [chosen[c] for c in check.parts]):
        for c in cols:
            if c in result.unusual:
                safe[c] = True
        result.waiting |= vouch(check, chosen, safe)
        return
    lost = decimals_by_sum(check, layout, chosen, safe, readings)
    if lost:
        for c, reading in lost.items():
            chosen[c], safe[c] = reading, True
        result.waiting |= vouch(check, chosen, safe)
        return
    if not complete:
        result.consistent = None if result.consistent is not False else False
        if all(c in mapped for c in cols):
            result.untested.update(cols)  # testable once every term is read
        return
    # The most supported readings do not add up: look for readings that do.
    fits = [combo for combo in itertools.product(*(options(readings.get(c, [])) for c in cols))
            if check_sum(combo[0][2], [o[2] for o in combo[1:]])]
    if fits:
        combo = max(fits, key=lambda cb: (sum(o[0] for o in cb), sum(o[1] for o in cb)))
        for c, option in zip(cols, combo):
            # Safe only if the fitting reading is the field's most supported one, or its digits are, read
            # twice confidently, and only a separator differs ("22 410" with a group space read "22.410"
            # by three variants: 22.41 or 22410, and the sum tells which).
            same = option[2].value == chosen[c].value
            safe[c] = safe.get(c, False) and same or not same and option[0] >= 2 and option[1] >= UNUSUAL_CONF \
                and len(fits) == 1 and _group_read_as_point(option[2], chosen[c])
            chosen[c] = option[2]
    retried = [retry(layout.field(c)) for c in cols]
    if not fits and not any(retried):
        result.consistent = False
        result.doubt(cols, f"{check.name} check fails: {check.total} is not the sum of {' + '.join(check.parts)}")


def fixed_by_sum(check: Check, chosen: dict[str, Reading], column: str) -> bool:
    """Whether the other terms of a sum, if they were read right, fix ``column`` at the value read.

    The others give the term's exact value up to their display rounding
    (``implied ± H``); when every value in that range rounds to one and the
    same number at the term's own display step, and the term was read as
    that number, no misread digit could have passed: a lateral 0 beside
    equal totals, a total "109" beside "27.3" and "81.7".
    """
    reading = chosen[column]
    others = [o for o in (check.total, *check.parts) if o != column]
    if column == check.total:
        implied = sum(chosen[o].value for o in check.parts)
    else:
        implied = chosen[check.total].value - sum(chosen[o].value for o in check.parts if o != column)
    if abs(implied - reading.value) <= 1e-9 * max(1.0, abs(implied)):
        return True
    step = 2 * reading.half_step
    if step <= 0:
        return False
    slack = sum(chosen[o].half_step for o in others) * (1 + 1e-9) + 1e-12
    low, high = (round((implied + d) / step) for d in (-slack, slack))
    # Not at a tie either: a value just at a rounding boundary could be shown either way.
    at_tie = any(abs(((implied + d) / step) % 1 - 0.5) < 1e-9 for d in (-slack, slack))
    return low == high and not at_tie and abs(low * step - reading.value) <= 1e-9 * max(1.0, abs(reading.value))


def decimals_by_sum(check: Check, layout: Layout, chosen: dict[str, Reading], safe: dict[str, bool],
                    readings: dict[str, list[Reading]]) -> dict[str, Reading]:
    """Terms read as whole numbers whose decimal separators were lost, put back where the sum puts them.

    Tesseract loses a comma joined to the next digit (``151,258`` read
    ``151258``), in one term of a sum or in several. Where a sum fails (or a
    term was read only out of its plausible range), every term is a safe
    reading or a whole number whose digits are sure (two readings agree with
    confidence :data:`AGREE_CONF`, or one has :data:`ACCEPT_CONF`; out of range
    included), and the sum holds with a separator put back before the last
    one, two or three digits of the fewest terms possible (each in its
    plausible range) at exactly one choice of places, those terms are taken
    with their separators: their digits were read, their sizes are the
    sum's (``157 = 83.7 + 73.3`` from ``733``; ``151.258 = 86.958 + 64.3``
    from ``151258`` and ``643``). Where two choices of as many terms make the
    sum hold, or every term would move (a tenth of each would hold as well),
    the screen does not tell which: nothing is taken. A number read with a
    leading zero (``0419``) can have its point in one place only, after the
    zero (see :attr:`~drl_analysis.ocr.values.Reading.zero_point`): it fixes
    the scale, so every term may move (``1.824 = 1.405 + 0.419`` from
    ``1824``, ``1405`` and ``0419``).

    Returns
    -------
    dict
        Output column -> its reading with the separator; empty if none is put back.
    """
    cols = [check.total, *check.parts]
    places: dict[str, list[Reading]] = {}
    for c in cols:
        field, reading = layout.field(c), chosen.get(c)
        whole = _sure_whole_number(field, readings.get(c, []))
        if whole is None:
            if reading is None or not safe.get(c):
                return {}
            continue  # a safe reading that is no sure whole number stands as read
        digits = _number_shape(whole)[0]
        places[c] = [whole] if whole.zero_point else [
            r for d in range(0, min(3, len(digits) - 1) + 1) for r in [_with_decimals(whole, d)]
            if field.low <= r.value <= field.high]
    # The fewest terms put back that make the sum hold ("517 = 5173 + 0": 517.3 alone, not
    # 51.7 = 51.73 + 0 as well); where two choices of as many terms hold, the screen does not tell.
    choices = [places.get(c, [chosen.get(c)]) for c in cols]
    by_moves: dict[int, list[tuple[Reading, ...]]] = {}
    for combo in itertools.product(*choices):
        if check_sum(combo[0], list(combo[1:])):
            moved = sum(_moved(chosen.get(c), r) for c, r in zip(cols, combo))
            by_moves.setdefault(moved, []).append(combo)
    if not by_moves:
        return {}
    fits = by_moves[min(by_moves)]
    # Every term moved, the sum would hold at a tenth of each as well: only the ranges would tell,
    # unless a term's point could stand at one place only ("0419"; "000" is 0 at every place).
    pinned = any(places.get(c) and places[c][0].zero_point and places[c][0].value for c in cols)
    if len(fits) != 1 or not 0 < min(by_moves) < len(cols) + pinned:
        return {}
    return {c: dataclasses.replace(r, problem="", zero_point=False) if r.zero_point else r
            for c, r in zip(cols, fits[0]) if _moved(chosen.get(c), r)}


def _moved(chosen: Reading | None, reading: Reading) -> bool:
    return chosen is None or abs(reading.value - chosen.value) > 1e-9 * max(1.0, abs(reading.value))


def _with_decimals(whole: Reading, d: int) -> Reading:
    """A whole number's reading with a decimal separator before its last ``d`` digits (itself for 0)."""
    if d == 0 and whole.valid:
        return whole
    scale = 10.0 ** d
    return dataclasses.replace(whole, value=whole.value / scale, half_step=whole.half_step / scale, decimals=d,
                               usual=True, alternative=None, problem="")


def _sure_whole_number(field: Field, readings: list[Reading]) -> Reading | None:
    """The field's most supported reading if it is a whole number (no decimals) whose digits are sure; else None.

    Readings out of the field's plausible range count (a lost separator makes a number too large).
    """
    found = options(readings, lambda r: r.value is not None and not r.doubt
                    and (r.valid or r.zero_point or not field.low <= r.value <= field.high))
    if not found:
        return None
    count, conf, best = found[0]
    digits, seps = _number_shape(best)
    if best.zero_point:
        pass  # "0419": its point can only stand after the zero, where the value has it
    elif best.decimals or not digits or digits.startswith("0") or seps and best.valid:
        # Separators in a whole number are thousands separators; where they make it too large, the
        # last may be a decimal comma read as a point ("1.007,427" read "1.007.427").
        return None
    return best if conf >= ACCEPT_CONF or count >= 2 and conf >= AGREE_CONF else None


def vouch(check: Check, chosen: dict[str, Reading], safe: dict[str, bool]) -> set[str]:
    """Make safe the terms of a holding sum that its other, safe terms fix (see :func:`fixed_by_sum`).

    Returns the terms the others would fix if they were safe: they need no
    other reading while the others are being read again.
    """
    cols = [check.total, *check.parts]
    waiting = set()
    for c in cols:
        reading = chosen[c]
        if safe.get(c) or reading.doubt or reading.conf < AGREE_CONF or not fixed_by_sum(check, chosen, c):
            continue
        if all(safe.get(o) for o in cols if o != c):
            safe[c] = True
        else:
            waiting.add(c)
    return waiting

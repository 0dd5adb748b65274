"""Reading one dose-report screen: its layout from the labels, then each value, pass by pass.

A :class:`ReportReader` holds one image's state between Tesseract passes
over a batch (see :mod:`drl_analysis.ocr.batch`): it asks for crops
(:attr:`ReportReader.pending`), takes the words read for them
(:meth:`ReportReader.take`), and after each pass decides what to read next
(:meth:`ReportReader.advance`):

1. the first row's label tells the layout and with it the language (the
   number notation); where the table does not have the layout's rows, every
   label is read and aligned to the layout's;
2. per quantity, the first row's number and unit are read; the other rows'
   numbers are read alone once their unit matched that row's by image;
3. readings are checked against the crop itself (:mod:`drl_analysis.ocr.glyphs`)
   and chosen and trusted by :mod:`drl_analysis.ocr.trust`; doubtful values
   are read again from other preprocessing variants.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..core.units import normalise_unit
from .engines import Word
from .glyphs import barred_zeros, comma_tail, digit_blobs, digit_gaps, separators
from .images import LABEL_CAP, MAX_PIXELS, VARIANTS, ImageError, load_image, prepare
from .layouts import Field, Layout, available_layouts, load_layout  # noqa: F401  (imported from here before the split)
from .notation import AGAINST_FIELD, read_in_screen_notation
from .page import Page, Row, locate, number_span
from .review import report_images
from .trust import ZERO_MISREADS, Settlement, settle
from .values import (
    CLOCK_UNITS,
    DIGIT_LOOKALIKES,
    NUMBER_HEAD,
    Reading,
    ambiguity,
    fold_unit,
    number_words,
    parse_reading,
    words_text,
)

#: Similarity (0–1) a label read must reach to be taken for a layout's label.
LABEL_MATCH = 0.7
#: Width, in capital heights, of the beginning of the first row's label that is read first.
LABEL_START = 3.5
#: A label's beginning decides between layouts when it fits one this much better than any other.
LABEL_MARGIN = 0.2


def _fold_label(text: str) -> str:
    t = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]", "", t)


def label_similarity(read: str, label: str) -> float:
    """Similarity (0–1) of a label as read to a layout's label, ignoring case, accents and punctuation."""
    a, b = _fold_label(read), _fold_label(label)
    if not a or not b:
        return 0.0
    return difflib.SequenceMatcher(None, a, b).ratio()


def label_start_similarity(read: str, label: str) -> float:
    """Similarity (0–1) of the beginning of a label as read to the beginning of a layout's label."""
    a, b = _fold_label(read), _fold_label(label)
    if not a or not b:
        return 0.0
    return max(difflib.SequenceMatcher(None, a, b[:n]).ratio() for n in range(max(1, len(a) - 1), len(a) + 3))


def align_labels(read: list[str], labels: list[str]) -> tuple[float, dict[int, int]]:
    """Match labels read (in screen order) to a layout's labels (in order): score and field -> line."""
    n, m = len(read), len(labels)
    sim = np.array([[label_similarity(r, lab) for lab in labels] for r in read]) if n and m else np.zeros((n, m))
    best = np.zeros((n + 1, m + 1))
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            take = best[i - 1, j - 1] + (sim[i - 1, j - 1] if sim[i - 1, j - 1] >= LABEL_MATCH else -1e9)
            best[i, j] = max(best[i - 1, j], best[i, j - 1], take)
    pairs: dict[int, int] = {}
    i, j = n, m
    while i > 0 and j > 0:
        if best[i, j] == best[i - 1, j]:
            i -= 1
        elif best[i, j] == best[i, j - 1]:
            j -= 1
        else:
            pairs[j - 1] = i - 1
            i, j = i - 1, j - 1
    return float(best[n, m]) / max(m, 1), pairs


@dataclass
class Request:
    """A crop to be read by Tesseract, and what it is for."""

    image: np.ndarray
    kind: str  # "label", "full" (number and unit) or "number"
    key: object  # line index for labels, output column for values
    variant: int
    box: tuple[float, float, float, float]
    scale: float  # slot pixels per image pixel
    whitelist: str = ""  # characters Tesseract may read (library engine); empty: all
    shape: dict = dataclass_field(default_factory=dict)  # (left, right) -> what the crop shows there, computed once


_DIGITS = "0123456789"
#: The square of an area unit as Tesseract reads it ("cm²", "cm?", "m2").
_SQUARE = re.compile(r"m[²?2]")


@lru_cache(maxsize=256)
def _whitelist(field: Field, with_unit: bool) -> str:
    """Characters a value crop may show: digits and separators, and with its unit the units' letters.

    Units are printed in several spellings ("Gy·cm²", "Gy x cm2", "µGy*m²"):
    the letters of every unit of the field and the signs joining them.
    """
    chars = _DIGITS + (".,:" if field.quantity != "count" else ".,")
    if with_unit and field.units:
        letters = "".join(field.units) + "".join(normalise_unit(u) for u in field.units)
        # Tesseract reads a superscript two as "?", the µ as "u" or "y"; refusing them lowers its confidence.
        chars += letters + "·*x-²?µuy"
    # The space must be allowed: without it Tesseract runs number and unit into one word.
    return "".join(dict.fromkeys(c for c in chars + " " if c == " " or not c.isspace()))


def _structure(layout: Layout | None) -> tuple:
    return tuple((f.column, f.quantity, f.units) for f in layout.fields) if layout else ()


def reading_from_words(field: Field, request: Request, words: list[Word], unit: str | None, notation: str,
                       char_px: float) -> tuple[Reading, tuple[str, float, float] | None]:
    """A reading from the words of one request, and where its unit is printed if it was read exactly.

    ``unit`` is the unit of the field's quantity as read so far (None if none
    was); ``char_px`` the capital height of the page. The reading is checked
    against what the crop shows: separators, digits and barred zeros.
    """
    if not words:
        return Reading("", 0.0, problem="nothing read", variant=request.variant), None
    k = number_words(words)
    conf = min(w.conf for w in words[:k])
    geometry = None
    if request.kind == "number":
        number = words_text(words[:k])
        if unit is None:
            return Reading(number, conf, problem="unit not read", variant=request.variant), None
        reading = parse_reading(number, field, notation, unit=unit, conf=conf, variant=request.variant)
        reading.text = f"{number} {unit}"
        # More than a number: the crop reached into the unit. A lone sign after it is the edge of
        # the unit's first letter cut off (the digits are counted in the image below).
        rest = words_text(words[k:])
        if rest and not re.fullmatch(r"[.,:;'`´‘’-]+", rest):
            reading.problem = reading.problem or f"unexpected text {rest!r}"
    else:
        reading = parse_reading(words_text(words), field, notation, conf=conf, variant=request.variant,
                                prefer_unit=unit)
        # The unit is taken as read when Tesseract was sure of it, or spelled it exactly and was
        # unsure only of the word with the square (a superscript two read as "?"). A word without
        # it read with little confidence may have lost a prefix ("cGy" read "Gy", confidence 0):
        # then each row's unit is read with its number.
        unsure = [w for w in words[k:] if w.conf < 60]
        if reading.valid and len(words) > k and (not unsure or (
                all(_SQUARE.search(w.text) for w in unsure)
                and fold_unit(words_text(words[k:])) == fold_unit(reading.unit))):
            left = request.box[0] + words[k].left / request.scale
            right = request.box[0] + words[k - 1].right / request.scale
            geometry = (reading.unit, left, right)
    if reading.valid:
        # The number runs from the slot's start (it is the first thing in the value) to where the unit
        # begins: words Tesseract dropped lie there too.
        end = words[k].left if len(words) > k else request.image.shape[1] + 1
        last = words[k - 1]
        lead = re.match(r"[\d.,:]*", last.text).end()
        if 0 < lead < len(last.text):
            # Number and unit run into one word ("413s"): the number ends about where its characters do.
            end = min(end, int(last.left + (last.right - last.left) * lead / len(last.text)))
        span = (0, end)
        cap = request.scale * char_px
        key = (span, bool(ZERO_MISREADS & set(reading.text)))
        if key not in request.shape:
            # A zero with a bar inside is read as 0 or as a 6, 8 or 9: only then is it looked for.
            barred = barred_zeros(request.image, *span, cap) if key[1] else 0
            # Only a time in minutes has no sum to catch a comma lost: only there is its tail looked for.
            tail = field.quantity == "time" and comma_tail(request.image, *span, cap)
            request.shape[key] = (separators(request.image, *span, cap), barred, digit_blobs(request.image, *span, cap),
                                  digit_gaps(request.image, *span, cap), tail)
        reading.problem = _shape_problem(reading, field, *request.shape[key])
        if reading.problem:
            geometry = None
    return reading, geometry


def _shape_problem(reading: Reading, field: Field, seps: tuple[int, int] | None, barred: int, blobs: int,
                   gaps: tuple[int, tuple[int, ...]] | None, tail: bool = False) -> str:
    """Why the crop contradicts the number read (separators, digits, barred zeros); empty if it does not."""
    number = NUMBER_HEAD.match(reading.text)["num"].translate(DIGIT_LOOKALIKES).rstrip(".,:")
    digits = sum(ch.isdigit() for ch in number)
    # Tesseract drops small points ("3.6" read as "36"); a separator it read but the blobs do
    # not show is usually one that touches a digit.
    if seps is not None and seps[0] > sum(ch in ".,:" for ch in number):
        return f"{number}: fewer separators read than the image shows"
    shown, read = (seps[1], number.count(":")) if seps is not None else (0, 0)
    # A colon read as a point ("10,10" for 10:10) or a point as a colon: minutes or a clock. Where
    # the screen's unit is a clock (mm:ss), a colon read is what it prints; the image showing
    # fewer is a colon's upper dot lost in the blur ("9:08 mm:ss").
    if shown > read or shown < read and (shown or seps[0] >= read) and reading.unit not in CLOCK_UNITS:
        return f"{number}: the image shows {shown} colon(s)"
    if blobs > digits:
        # A thin 1 lost at small sizes ("7" for 17); touching digits make fewer blobs, never more.
        return f"{number}: fewer digits read than the image shows"
    if barred > number.count("0"):
        return "a zero with a bar may be read as another digit"
    if gaps is not None and gaps[0] > digits:
        # Digits joined by blur or a tight font count by their width: "7.23" read as "7.3".
        return f"{number}: fewer digits read than the image shows"
    if tail and not reading.decimals and not reading.usual and ":" not in number:
        # A whole number of minutes where the screen prints decimals, and a digit hangs below the others:
        # a comma joined to it ("2,3" read "23"). No sum watches the time.
        return f"{number}: the image shows a comma's tail that was not read"
    if gaps is not None and gaps[0] == digits:
        # Room for a separator between two digits where none was read: a point lost, its ink
        # joined to a digit. Where a thousands separator stands (three, six... digits before the
        # decimals), a lost one changes nothing: narrow spaces between digit groups often are.
        read_at, seen = set(), 0
        for ch in number:
            if ch.isdigit():
                seen += 1
            else:
                read_at.add(seen)
        whole = digits - reading.decimals
        lost = [p for p in gaps[1] if p not in read_at and not (p < whole and (whole - p) % 3 == 0)]
        if lost:
            return f"{number}: the image shows a separator after digit {lost[0]} that was not read"
    return ""


class ReportReader:
    """Reading one image: its state between Tesseract passes over a batch.

    Parameters
    ----------
    path : Path
        The image file.
    layouts : list of Layout
        The layouts it may show.
    max_pixels : int, default :data:`~drl_analysis.ocr.images.MAX_PIXELS`
        Largest image decoded (see :func:`~drl_analysis.ocr.images.load_image`).
    """

    def __init__(self, path: Path, layouts: list[Layout], max_pixels: int = MAX_PIXELS):
        self.path = path
        self.layouts = layouts
        self.max_pixels = max_pixels
        self.page: Page | None = None
        self.layout: Layout | None = None
        self.rows: dict[str, Row] = {}
        self.readings: dict[str, list[Reading]] = {}
        self.attempts: dict[str, int] = {}
        # Field -> (unit, where its unit starts, where its number ends), from a reading of number and unit.
        self.units_read: dict[str, tuple[str, float, float]] = {}
        self.labels_read: dict[object, str] = {}
        self.label_score = 0.0
        self.pending: list[Request] = []
        self.problems: list[str] = []
        # The screen's number notation and how it was decided (see :mod:`drl_analysis.ocr.notation`).
        self.notation, self.notation_from = "", ""
        self.done = False
        self.fast: list[Layout] = []
        self.table: list[Row] = []
        self.raw: dict[str, list[tuple[Request, list[Word]]]] = {}
        self.layout_decided = False
        self.changed = False
        self._memo: dict = {}  # (request, layout, unit) -> (request, reading, unit geometry)
        self._final = False
        self.label_cut: dict[int, bool] = {}  # first labels read in part only

    # -- geometry and requests
    def crop(self, kind: str, key, row: Row, span: tuple[float, float], variant: int) -> Request:
        """A request to read ``span`` of ``row`` (a label, number and unit, or a number) in a variant."""
        page = self.page
        cap = page.char_px
        # A number cut from before its unit ends in the blank between them: no margin there.
        right = 0.0 if kind == "number" else 0.4 * cap
        box = (span[0] - 0.4 * cap, row.top - 0.25 * cap, span[1] + right, row.bottom + 0.25 * cap)
        v = VARIANTS[variant] if kind != "label" else {"cap": LABEL_CAP}
        image = prepare(page.crop(box, v["cap"]), v)
        whitelist = "" if kind == "label" else _whitelist(self.layout.field(key), kind == "full")
        return Request(image, kind, key, variant, box, v["cap"] / cap, whitelist=whitelist)

    def start(self) -> None:
        """Find the table and ask for the first labels (and values, where the layout is clear by the rows)."""
        try:
            self.page = locate(load_image(self.path, self.max_pixels))
        except ImageError as exc:
            self.fail(f"unreadable image: {exc}")
            return
        page = self.page
        if page.char_px <= 0 or len(page.rows) < 3:
            self.fail("no dose report: no table of labels and values found")
            return
        self.table = page.table()
        n = len(self.table)
        self.fast = [lay for lay in self.layouts if len(lay.fields) <= n <= len(lay.fields) + 2]
        if self.fast:
            # The first row's label tells the layout (and the language); the
            # other rows follow in the layout's order.
            shortest = min(len(lay.fields) for lay in self.fast)
            for offset in range(min(3, n - shortest + 1)):
                # Its beginning tells the layouts that ship apart ("Total D", "Gesamt-"): Tesseract's time
                # grows with the characters read.
                row = self.table[offset]
                end = min(row.label[1], row.label[0] + LABEL_START * page.char_px)
                self.label_cut[offset] = end < row.label[1]
                self.pending.append(self.crop("label", offset, row, (row.label[0], end), 0))
            if all(len(lay.fields) == n for lay in self.fast):
                self.map(self.fast[0], {i: i for i in range(n)}, self.table)
                self._plan_values()
        else:
            self._request_all_labels()

    def _request_all_labels(self) -> None:
        self.table = []
        for i, row in enumerate(self.page.rows):
            if ("all", i) not in self.labels_read:
                self.pending.append(self.crop("label", ("all", i), row, row.label, 0))

    def map(self, layout: Layout, pairs: dict[int, int], rows: list[Row]) -> None:
        """Take ``layout``, its field ``j`` on ``rows[pairs[j]]``."""
        self.layout = layout
        self.rows = {layout.fields[j].column: rows[i] for j, i in pairs.items()}

    def _in_flight(self, column: str) -> bool:
        return any(r.key == column for r in self.pending)

    def _unit_source(self, field: Field) -> Field | None:
        """The field whose unit reading this field's number takes.

        The first row of the same quantity whose unit was read exactly; while
        none was, a row of the quantity with a narrow value (its number is
        short to read with the unit), or the field itself. Time and counts
        read their own.
        """
        if field.quantity == "count":
            return None
        same = [f for f in self.layout.fields if f.quantity == field.quantity and f.column in self.rows]
        for f in same:
            if f.column in self.units_read:
                return f
        if field.quantity == "time" or not same:
            return field
        # Of three rows the second narrowest: the narrowest is often a lone "0", which reads worst.
        by_width = sorted(same, key=lambda f: self.rows[f.column].value[1] - self.rows[f.column].value[0])
        return by_width[1] if len(by_width) >= 3 else by_width[0]

    def _request_value(self, field: Field) -> None:
        """Next reading of a field: the number alone once its unit was read, else number and unit."""
        column = field.column
        attempt = self.attempts.get(column, 0)
        if attempt >= len(VARIANTS) or self._in_flight(column):
            return
        row = self.rows[column]
        source = self._unit_source(field)
        if source is not None and source.column in self.units_read:
            _, unit_left, number_right = self.units_read[source.column]
            if source is field:
                span = (row.value[0], (unit_left + number_right) / 2)
            else:
                span = number_span(self.page, row, self.rows[source.column], unit_left)
            if span is not None:
                self.attempts[column] = attempt + 1
                self.pending.append(self.crop("number", column, row, span, attempt))
                return
        elif source is not None and source is not field and attempt == 0:
            if self._in_flight(source.column) or not self.readings.get(source.column):
                return  # wait for the first row's unit
        self.attempts[column] = attempt + 1
        self.pending.append(self.crop("full", column, row, row.value, attempt))

    def _plan_values(self) -> None:
        for field in self.layout.fields:
            if field.column in self.rows and not self.readings.get(field.column):
                self._request_value(field)

    def retry(self, field: Field) -> bool:
        """Ask for another reading of ``field`` if a variant is left; False if none is (or reading is over)."""
        if self._final or field.column not in self.rows:
            return False
        if self.attempts.get(field.column, 0) >= len(VARIANTS):
            return False
        if not self._in_flight(field.column):
            self._request_value(field)
        return True

    def fail(self, reason: str) -> None:
        """Stop reading this image: ``reason`` says why."""
        self.problems.append(reason)
        self.done = True
        self.pending = []

    # -- results
    def take(self, request: Request, words: list[Word]) -> None:
        """Take Tesseract's words for one of this report's requests."""
        self.changed = True
        if request.kind == "label":
            self.labels_read[request.key] = words_text(words)
        else:
            self.raw.setdefault(request.key, []).append((request, words))

    def _parse(self) -> None:
        """Turn the words read into readings, in the screen's notation (see :mod:`drl_analysis.ocr.notation`)."""
        self.readings, self.notation, self.notation_from = read_in_screen_notation(self.layout, self._parse_in)

    def _parse_in(self, notation: str) -> dict[str, list[Reading]]:
        """Turn the words read into readings in ``notation`` (also kept as :attr:`readings`).

        Readings of number and unit come first: they tell each quantity's
        unit (and where it is printed), which the number-only readings take
        and which decides between units a misread text is equally close to.
        """
        self.readings, self.units_read = {}, {}
        # A unit some row of the quantity spells unmistakably ("uGy m2"): it decides for rows of
        # the same quantity whose reading is as near to two units ("Gy m2": µGy·m² or Gy·cm²).
        hints: dict[str, str] = {}
        for sweep in ("units", "all"):
            if sweep == "all":
                self.readings = {}
            for kind in ("full", "number") if sweep == "all" else ("full",):
                for field in self.layout.fields:
                    for request, words in self.raw.get(field.column, []):
                        if request.kind != kind:
                            continue
                        source = self._unit_source(field)
                        known = source is not None and source.column in self.units_read
                        unit = self.units_read[source.column][0] if known else None
                        if unit is None and kind == "full":
                            unit = hints.get(field.quantity)
                        key = (id(request), self.layout.name, unit, notation)
                        if key not in self._memo:
                            self._memo[key] = (request, *reading_from_words(
                                field, request, words, unit, notation, self.page.char_px))
                        _, reading, geometry = self._memo[key]
                        if geometry is not None and field.column not in self.units_read:
                            self.units_read[field.column] = geometry
                        if sweep == "units" and reading.valid and reading.unit and field.quantity not in hints:
                            rest = words_text(words[number_words(words):])
                            if fold_unit(rest) == fold_unit(reading.unit):
                                hints[field.quantity] = reading.unit
                        self.readings.setdefault(field.column, []).append(reading)
        return self.readings

    def advance(self) -> None:
        """Decide after a pass: the layout, then which values to read (again)."""
        self.pending = []
        if self.done or not self.changed:
            return
        self.changed = False
        if self.layout is None or not self.layout_decided:
            if not self._decide_layout():
                return
        self._parse()
        self._plan_values()
        settle(self.layout, set(self.rows), self.readings, self.retry)

    def _decide_layout(self) -> bool:
        if any(isinstance(k, tuple) for k in self.labels_read):
            return self._decide_by_all_labels()
        choices = []
        for offset, text in self.labels_read.items():
            for lay in self.fast:
                if offset + len(lay.fields) <= len(self.table):
                    similarity = label_start_similarity if self.label_cut.get(offset) else label_similarity
                    choices.append((similarity(text, lay.fields[0].label), -offset, lay))
        sim, neg_offset, layout = max(choices, key=lambda t: (t[0], t[1])) if choices else (0.0, 0, None)
        rivals = [c for c in choices if c[1] == neg_offset and c[2] is not layout and c[0] > sim - LABEL_MARGIN]
        if layout is not None and self.label_cut.get(-neg_offset) and (rivals or sim < LABEL_MATCH):
            # The label's beginning fits two layouts, or none well: read the whole label.
            offset = -neg_offset
            self.label_cut[offset] = False
            row = self.table[offset]
            self.pending.append(self.crop("label", offset, row, row.label, 0))
            return False
        if layout is None or sim < LABEL_MATCH:
            self.fast = []
            self._request_all_labels()
            self.layout, self.rows, self.raw, self.attempts = None, {}, {}, {}
            return False
        self.label_score = sim
        offset = -neg_offset
        if offset != 0 or _structure(layout) != _structure(self.layout):
            self.raw, self.attempts = {}, {}
        self.map(layout, {j: offset + j for j in range(len(layout.fields))}, self.table)
        self.layout_decided = True
        return True

    def _decide_by_all_labels(self) -> bool:
        rows = self.page.rows
        read = [self.labels_read.get(("all", i), "") for i in range(len(rows))]
        score, pairs, layout = max(((*align_labels(read, [f.label for f in lay.fields]), lay)
                                    for lay in self.layouts), key=lambda t: t[0])
        if score < LABEL_MATCH * 0.66 or len(pairs) < max(3, 2 * len(layout.fields) // 3):
            names = ", ".join(lay.name for lay in self.layouts)
            self.fail(f"no dose report: labels of {names} not found")
            return False
        self.label_score = score
        self.raw, self.attempts = {}, {}
        self.map(layout, pairs, rows)
        self.layout_decided = True
        if len(pairs) < len(layout.fields):
            missing = [f.column for j, f in enumerate(layout.fields) if j not in pairs]
            self.problems.append(f"rows not found: {', '.join(missing)}")
        return True

    # -- the output row
    def result(self, crops: bool = False) -> dict:
        """The report's output row: values in canonical units, confidences, texts read, review mark and reason.

        ``review_fields`` names the fields a reviewer should look at (every
        field when the doubt is the report's, not a field's); with ``crops``,
        a marked report's row holds ``crops``: what the review page shows
        (see :func:`drl_analysis.ocr.review.report_images`) and each field's reason.
        """
        row: dict = {"source_file": str(self.path), "layout": self.layout.name if self.layout else ""}
        if self.layout is None or self.done and not self.readings:
            columns = self.layout.columns if self.layout else tuple(dict.fromkeys(
                c for lay in self.layouts for c in lay.columns))
            row.update({"consistent": None, "needs_review": True, "reason": "; ".join(self.problems),
                        "review_fields": ", ".join(columns)})
            if crops:
                row["crops"] = {**report_images(self.page, {}), "reasons": {}}
            return row
        if self.changed:  # words taken since the last pass's decisions
            self._parse()
        self._final = True
        return _output_row(self, settle(self.layout, set(self.rows), self.readings, self.retry, final=True), row,
                           crops)


def _output_row(report: ReportReader, settlement: Settlement, row: dict, crops: bool) -> dict:
    """``row`` completed with a read report's values, confidences, texts, review mark, reasons and crops."""
    layout = report.layout
    problems, reasons = list(report.problems), {}
    for field in layout.fields:
        column = field.column
        reading = settlement.chosen.get(column)
        readings = report.readings.get(column, [])
        if reading is None:
            last = readings[-1] if readings else None
            reasons[column] = (last.problem if last is not None
                               else "nothing read" if column in report.rows else "row not found")
            if column in report.rows:
                problems.append(f"{column}: {reasons[column]}")
            row[column] = np.nan
            row[f"conf_{column}"] = last.conf if last else np.nan
            row[f"raw_{column}"] = last.text if last else ""
        else:
            row[column] = reading.value
            row[f"conf_{column}"] = reading.conf
            row[f"raw_{column}"] = reading.text
    problems += settlement.doubts
    for column, why in settlement.doubtful.items():
        reasons.setdefault(column, why)
    if report.notation_from == AGAINST_FIELD:
        for column, reading in settlement.chosen.items():
            if reading.alternative is not None and column not in reasons:
                reasons[column] = (f"{ambiguity(reading, layout.field(column).unit)}: one row's numbers show the "
                                   f"notation, the field size of dose–area product and air kerma the other")
                problems.append(f"{column}: {reasons[column]}")
    complete = all(isinstance(row.get(f.column), float) and not np.isnan(row[f.column]) for f in layout.fields)
    row["consistent"] = settlement.consistent if complete or settlement.consistent is False else None
    row["needs_review"] = bool(problems) or not complete
    row["notation"], row["notation_from"] = report.notation, report.notation_from
    row["reason"] = "; ".join(problems)
    doubtful = [c for c in layout.columns if c in reasons]
    row["review_fields"] = ", ".join(doubtful or (layout.columns if row["needs_review"] else ()))
    if crops and row["needs_review"]:
        row["crops"] = {**report_images(report.page, report.rows), "reasons": reasons}
    return row

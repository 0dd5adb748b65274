"""Where the text of a dose-report screen lies: table rows split into label and value.

:func:`locate` removes the background, undoes a rotation of up to two
degrees, finds text lines from the ink's projection and splits each line at
the column gap into label and value, whatever the size, border or polarity.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass
class Row:
    """A text line of the screen: its band and the boxes of its label and value.

    Coordinates are pixels of the full-size image after the rotation
    :attr:`Page.angle_deg` was undone. ``value`` spans everything right of
    the label: the value and its unit; None for lines without a column gap.
    ``cap`` is the line's own capital height.
    """

    top: float
    bottom: float
    label: tuple[float, float]
    value: tuple[float, float] | None
    cap: float = 0.0


@dataclass
class Page:
    """Where the text of an image lies.

    Attributes
    ----------
    gray : ndarray of shape (h, w), uint8
        The image as displayed.
    char_px : float
        Height of capitals and digits in pixels of ``gray``; 0 when no text was found.
    angle_deg : float
        Rotation to undo (counter-clockwise, degrees).
    dark : bool
        The screen shows light text on a dark background.
    lines : list of Row
        Text lines, top to bottom, including title and footnotes.
    """

    gray: np.ndarray
    char_px: float
    angle_deg: float
    dark: bool
    lines: list[Row]

    @property
    def rows(self) -> list[Row]:
        """Lines that look like table rows: a label at the label column, then a short value.

        A value region wider than 24 capitals is running text (a footnote),
        not a value.
        """
        rows = [r for r in self.lines if r.value is not None and r.value[1] - r.value[0] <= 24 * self.char_px]
        if rows:
            left = float(np.median([r.label[0] for r in rows]))
            rows = [r for r in rows if abs(r.label[0] - left) <= 2.0 * self.char_px]
        return rows

    def table(self) -> list[Row]:
        """The longest run of :attr:`rows` at an even pitch: the table, top to bottom."""
        rows = self.rows
        if len(rows) < 3:
            return rows
        centres = np.array([(r.top + r.bottom) / 2 for r in rows])
        pitch = np.diff(centres)
        step = float(np.median(pitch))
        best, start = (0, 0), 0
        for i, d in enumerate(pitch, start=1):
            if abs(d - step) > 0.2 * step:
                start = i
            if i - start + 1 > best[1] - best[0]:
                best = (start, i + 1)
        return rows[best[0]:best[1]]

    def crop(self, box: tuple[float, float, float, float], height_px: float) -> np.ndarray:
        """Cut a box out of the straightened image, scaled so that characters are ``height_px`` tall.

        Parameters
        ----------
        box : (x0, top, x1, bottom)
            In straightened full-size coordinates (see :class:`Row`).
        height_px : float
            Character height wanted in the crop.

        Returns
        -------
        ndarray, uint8
            Dark text on a light background, whatever the screen's polarity.
        """
        x0, top, x1, bottom = box
        s = height_px / self.char_px
        h, w = self.gray.shape
        rot = np.vstack([cv2.getRotationMatrix2D((w / 2.0, h / 2.0), self.angle_deg, 1.0), [0, 0, 1]])
        m = (np.array([[s, 0, -s * x0], [0, s, -s * top], [0, 0, 1]]) @ rot)[:2]
        size = (max(1, int(round((x1 - x0) * s))), max(1, int(round((bottom - top) * s))))
        interp = cv2.INTER_LANCZOS4 if s > 2 else cv2.INTER_CUBIC if s > 1 else cv2.INTER_AREA
        out = cv2.warpAffine(self.gray, m, size, flags=interp, borderMode=cv2.BORDER_REPLICATE)
        return out if not self.dark else 255 - out


def _text_strength(gray: np.ndarray, dark: bool) -> np.ndarray:
    """Ink strength with the local background removed (0 = background)."""
    ink = gray if dark else 255 - gray  # ink bright on a darker background
    # An opening wider than any stroke keeps the background (also shaded rows and borders).
    k = cv2.getStructuringElement(cv2.MORPH_RECT, (9, 9))
    return cv2.subtract(ink, cv2.morphologyEx(ink, cv2.MORPH_OPEN, k))


def _is_dark(gray: np.ndarray) -> bool:
    """Light text on a dark screen?

    The screen's background is the median of the image's centre (borders
    of another colour lie outside it); text is what stands out from it, and
    on a dark screen more pixels stand out brighter than darker.
    """
    h, w = gray.shape
    centre = gray[h // 5: h - h // 5, w // 5: w - w // 5]
    background = _median_u8(centre)
    brighter = int(np.count_nonzero(centre > background + 40))
    darker = int(np.count_nonzero(centre < background - 40))
    if brighter + darker < 0.002 * centre.size:
        return background < 128
    return brighter > darker


def _median_u8(image: np.ndarray) -> float:
    """``np.median`` of an 8-bit image, from its histogram (ten times faster on a large image)."""
    cumulative = np.cumsum(cv2.calcHist([np.ascontiguousarray(image)], [0], None, [256], [0, 256]).ravel())
    n = int(cumulative[-1])
    low, high = np.searchsorted(cumulative, [(n - 1) // 2 + 1, n // 2 + 1])
    return (float(low) + float(high)) / 2.0


def _percentile(values: np.ndarray, q: float) -> float:
    """``np.percentile(values, q)`` (linear interpolation) without its overhead on small arrays."""
    v = np.sort(values, axis=None)
    pos = q / 100.0 * (v.size - 1)
    i = int(pos)
    return float(v[i]) if i + 1 >= v.size else float(v[i] + (pos - i) * (v[i + 1] - v[i]))


def _ink_threshold(strength: np.ndarray) -> float:
    t, _ = cv2.threshold(strength, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return max(float(t), 25.0)


def _skew_deg(mask: np.ndarray) -> float:
    """The small rotation (degrees, within ±2) that makes text lines horizontal.

    Maximises the sharpness (sum of squares) of the ink's projection along
    the tilted direction; ink is counted in 8-pixel column blocks and split
    between neighbouring bins, which keeps the score smooth.
    """
    h, w = mask.shape
    block = 8
    nb = w // block
    if nb < 4:
        return 0.0
    counts = mask[:, : nb * block].reshape(h, nb, block).sum(axis=2, dtype=np.int32)
    ys, bs = np.nonzero(counts)
    if ys.size < 20:
        return 0.0
    weights = counts[ys, bs].astype(np.float64)
    xs = (bs + 0.5) * block
    xs = xs - np.average(xs, weights=weights)
    ys = ys.astype(np.float64) + w * np.tan(np.radians(2.0)) + 2
    size = int(h + 2 * w * np.tan(np.radians(2.0)) + 6)

    def score(deg: float) -> float:
        yy = ys - xs * np.tan(np.radians(deg))
        i = yy.astype(np.int64)
        frac = yy - i
        hist = np.bincount(i, weights * (1 - frac), size) + np.bincount(i + 1, weights * frac, size)
        return float(np.dot(hist, hist))

    best = max(np.arange(-2.0, 2.01, 0.2), key=score)
    best = max(np.arange(best - 0.2, best + 0.201, 0.04), key=score)
    return float(best)


def _rules(mask: np.ndarray, long_h: int, long_v: int) -> np.ndarray:
    """Mask of horizontal lines at least ``long_h`` and vertical ones at least ``long_v`` pixels long."""
    h, w = mask.shape
    lines = np.zeros_like(mask)
    if long_h <= w:
        lines |= cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (long_h, 1)))
    if long_v <= h:
        lines |= cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, long_v)))
    return cv2.dilate(lines, np.ones((3, 3), np.uint8)) if lines.any() else lines


def _boxes(mask: np.ndarray) -> np.ndarray:
    """Bounding boxes ``(x, y, w, h)`` of the connected blobs of ``mask``, shape (n, 4)."""
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return np.zeros((0, 4), np.int64)
    return np.array([cv2.boundingRect(c) for c in contours], dtype=np.int64)


def _char_height(boxes: np.ndarray) -> float:
    """Height of capitals and digits from the blob heights.

    Lower-case letters are about 0.75 of it, capitals, digits, ascenders
    and descenders about 1.0: the upper quartile lands in the upper group,
    whose median is then taken.
    """
    w, h = boxes[:, 2], boxes[:, 3]
    h = h[(h >= 3) & (w <= 4 * h) & (h < 300) & (w * h >= 8)]
    if h.size < 5:
        return 0.0
    upper = _percentile(h, 75)
    near = h[(h >= 0.85 * upper) & (h <= 1.5 * upper)]
    return float(np.median(near)) if near.size else upper


#: Pixels of the image on which lines are found; larger images are shrunk first.
_GEOMETRY_AREA = 300_000
#: Blank (capital heights) beyond which ink at a line's right end is apart from its text,
#: and the width (capital heights) below which such ink is a sliver of a rule, not text.
_FAR_GAP, _SLIVER = 8.0, 0.5


def locate(gray: np.ndarray) -> Page:
    """Find the text lines of a dose-report screen and split them into label and value.

    Works on screens of either polarity and any size, with borders, offsets,
    rules and a small rotation: on a copy shrunk to about 0.2 megapixels the
    background is removed with a morphological opening, the skew is found
    from the projection of the ink, characters are connected blobs, lines are
    runs of their vertical projection, and a gap wider than 1.6 capital
    heights separates a line's label from its value.

    Parameters
    ----------
    gray : ndarray of shape (h, w), uint8

    Returns
    -------
    Page
    """
    h0, w0 = gray.shape
    f = min(1.0, float(np.sqrt(_GEOMETRY_AREA / (h0 * w0))))
    size = (max(1, round(w0 * f)), max(1, round(h0 * f)))
    small = cv2.resize(gray, size, interpolation=cv2.INTER_AREA) if f < 1 else gray
    dark = _is_dark(small)
    strength = _text_strength(small, dark)
    threshold = _ink_threshold(strength)
    angle = _skew_deg((strength > threshold).astype(np.uint8))
    if abs(angle) > 0.05:
        h, w = strength.shape
        rot = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), angle, 1.0)
        strength = cv2.warpAffine(strength, rot, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
    mask = (strength > threshold).astype(np.uint8)
    # Rules and frames span much of the screen; faint ones are found on a
    # lower threshold. Text has no straight run that long.
    faint = (strength > 0.5 * threshold).astype(np.uint8)
    rules = _rules(faint, max(25, mask.shape[1] // 4), max(25, mask.shape[0] // 5))
    if rules.any():
        mask[rules > 0] = 0
    boxes = _boxes(mask)
    char_px = _char_height(boxes)
    if char_px <= 0:
        return Page(gray, 0.0, angle, dark, [])
    # Short vertical bars (column separators): no character is taller than
    # about 1.6 capitals.
    rules = _rules(mask, mask.shape[1] + 1, max(8, int(2.5 * char_px)))
    if rules.any():
        mask[rules > 0] = 0
        boxes = _boxes(mask)
    x, y, w, h = boxes.T
    chars = (h >= 0.35 * char_px) & (h <= 3.0 * char_px)
    starts = np.zeros(mask.shape[0] + 2, np.int32)
    np.add.at(starts, y[chars], 1)
    np.add.at(starts, y[chars] + h[chars], -1)
    profile = np.cumsum(starts)[: mask.shape[0] + 1]
    on = (profile > 0).astype(np.int8)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], on])))
    lines: list[Row] = []
    # Word gaps reach 1.0 capital height (1.25 in a monospaced title), column gaps 2.0.
    col_gap = 1.6 * char_px
    cy = y + h / 2.0
    for top, bottom in zip(edges[0::2], edges[1::2]):
        if bottom - top < 0.5 * char_px:
            continue
        inside = chars & (cy >= top) & (cy < bottom)
        if not inside.any():
            continue
        xs0, xs1 = x[inside], x[inside] + w[inside]
        order = np.argsort(xs0)
        xs0, xs1 = xs0[order], xs1[order]
        reach = np.maximum.accumulate(xs1)
        # A sliver far right of a label and its value (a piece of a frame's faint edge that JPEG broke
        # up, cut by the line's band) is no part of the line: it would make the value as wide as a
        # footnote. (A lone "1" far right of its label is the value.)
        gaps = xs0[1:] - reach[:-1]
        far = np.flatnonzero(gaps > _FAR_GAP * char_px)
        if far.size and reach[-1] - xs0[far[-1] + 1] < _SLIVER * char_px and (gaps[:far[-1]] > col_gap).any():
            xs0, xs1, reach = xs0[:far[-1] + 1], xs1[:far[-1] + 1], reach[:far[-1] + 1]
        split = np.flatnonzero(xs0[1:] - reach[:-1] > col_gap)
        if split.size:
            i = int(split[0])
            label, value = (xs0[0] / f, reach[i] / f), (xs0[i + 1] / f, reach[-1] / f)
        else:
            label, value = (xs0[0] / f, reach[-1] / f), None
        cap = _percentile(h[inside], 75) / f
        lines.append(Row(top / f, bottom / f, (float(label[0]), float(label[1])),
                         None if value is None else (float(value[0]), float(value[1])), cap))
    return Page(gray, char_px / f, angle, dark, lines)




def number_span(page: Page, row: Row, model: Row, unit_left: float) -> tuple[float, float] | None:
    """Where the number of ``row`` lies if its unit looks like the one ``model`` prints from ``unit_left`` on.

    The unit of ``model`` was read; if the end of ``row``'s value matches it
    by image (normalised correlation at least 0.75), ``row``'s number runs
    from its value's start to the blank before that unit. None otherwise.
    """
    cap = page.char_px
    unit_w = model.value[1] - unit_left
    start = row.value[1] - unit_w  # where this row's unit begins, if it is the same unit
    if start - row.value[0] < 0.3 * cap:
        return None
    # Cut in the blank between number and unit, never through a letter.
    size = 16.0
    band = page.crop((row.value[0], row.top, row.value[1], row.bottom), size)
    _, ink = cv2.threshold(band, 0, 1, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    blank = np.concatenate([[0], (ink.sum(axis=0) == 0).astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(blank))
    scale = size / cap
    gaps = [(row.value[0] + a / scale, row.value[0] + b / scale) for a, b in zip(edges[0::2], edges[1::2])]
    gaps = [g for g in gaps if g[1] - g[0] >= 0.12 * cap and abs(g[1] - start) <= 0.4 * cap]
    if not gaps:
        return None
    a, b = min(gaps, key=lambda g: abs(g[1] - start))
    end = (a + b) / 2
    if end - row.value[0] < 0.3 * cap:
        return None
    mid_a, mid_b = (model.top + model.bottom) / 2, (row.top + row.bottom) / 2
    template = page.crop((unit_left - 0.1 * cap, mid_a - 0.8 * cap, model.value[1] + 0.1 * cap,
                          mid_a + 0.8 * cap), size)
    region = page.crop((start - 0.5 * cap, mid_b - 1.2 * cap, row.value[1] + 0.5 * cap,
                        mid_b + 1.2 * cap), size)
    if template.shape[0] > region.shape[0] or template.shape[1] > region.shape[1] or template.std() < 5:
        return None
    score = float(cv2.matchTemplate(region, template, cv2.TM_CCOEFF_NORMED).max())
    return (row.value[0], end) if score >= 0.75 else None

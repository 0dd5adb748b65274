"""What a number's crop shows by itself: separators, digits and barred zeros, counted from its ink.

Tesseract drops small points, thin ones and reads a zero with a dot or bar
inside as 8 or 6; these checks count what the image shows, independently of
what Tesseract read, so that such a reading is not taken.
"""

from __future__ import annotations

import cv2
import numpy as np

# The checks look at one crop several times: its ink and blobs are computed once.
_INK_CACHE: dict[int, tuple[np.ndarray, np.ndarray, tuple]] = {}


def _ink(image: np.ndarray) -> np.ndarray:
    """Ink of a dark-on-light crop (255 = ink), smoothed against noise specks, Otsu's threshold."""
    cached = _INK_CACHE.get(id(image))
    if cached is not None and cached[0] is image:
        return cached[1]
    smooth = cv2.GaussianBlur(image, (3, 3), 0)
    _, ink = cv2.threshold(smooth, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    _, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    blobs = tuple(stats[1:, i].astype(float) for i in range(5))
    if len(_INK_CACHE) > 64:
        _INK_CACHE.clear()
    _INK_CACHE[id(image)] = (image, ink, blobs)
    return ink


def _blob_stats(image: np.ndarray) -> tuple[np.ndarray, ...]:
    """``x, y, w, h, area`` of the ink blobs of a crop (see :func:`_ink`)."""
    _ink(image)
    return _INK_CACHE[id(image)][2]


def separators(image: np.ndarray, left: int, right: int, cap: float) -> tuple[int, int] | None:
    """How many decimal or thousands separators (``.``, ``,``, ``:``) a number's image shows, and how many are colons.

    Counts blobs of a point's size that sit on the baseline in a gap between
    two neighbouring digit-sized blobs within ``left..right`` (slot
    pixels); a colon is such a point with another one above it (its upper
    dot is not counted again). Noise specks are smoothed away first. None
    when the image shows fewer than two digits.
    """
    x, y, w, h, area = _blob_stats(image)
    centre = x + w / 2
    inside = (centre >= left - 0.2 * cap) & (centre <= right + 0.2 * cap)
    digits = inside & (h >= 0.55 * cap) & (h <= 1.5 * cap) & (w <= 2.5 * cap)
    if digits.sum() < 2:
        return None
    base = float(np.median((y + h)[digits]))
    order = np.argsort(x[digits])
    d_left, d_right = x[digits][order], (x + w)[digits][order]
    points = inside & ~digits & (h >= 0.1 * cap) & (h <= 0.45 * cap) & (w <= 0.45 * cap) & (area >= (0.12 * cap) ** 2)
    count = colons = 0
    for i in np.flatnonzero(points):
        if not (base - 0.25 * cap <= y[i] + h[i] <= base + 0.35 * cap):
            continue  # not on the baseline: a colon's upper dot, a multiplication dot, a speck
        # In a gap between two neighbouring digits, clear of both.
        before = np.flatnonzero(d_right <= x[i] + 1)
        after = np.flatnonzero(d_left >= x[i] + w[i] - 1)
        if before.size and after.size and before[-1] + 1 == after[0]:
            count += 1
            # A point above it, at half the digits' height: the upper dot of a colon.
            above = points & (np.abs(centre - centre[i]) <= 0.25 * cap) & (y + h <= y[i] - 0.1 * cap) \
                & (y + h >= base - 0.85 * cap)
            colons += bool(above.any())
    return count, colons


def digit_blobs(image: np.ndarray, left: int, right: int, cap: float) -> int:
    """How many blobs of a digit's size lie within ``left..right`` (slot pixels)."""
    x, _, w, h, _ = _blob_stats(image)
    centre = x + w / 2
    # Wider blobs are touching digits (fewer blobs, never more) or a shaded band's edge.
    # Lower-case letters of a unit run into the number ("433s") are shorter than digits.
    tall = (h >= 0.85 * cap) & (h <= 1.5 * cap) & (w <= 1.0 * cap)
    return int((tall & (centre >= left) & (centre <= right)).sum())


def barred_zeros(image: np.ndarray, left: int, right: int, cap: float) -> int:
    """How many zeros with a bar or dot inside ("θ") a number's image shows.

    Such a zero, in bold monospaced fonts at small sizes, has two holes like
    an 8, and Tesseract reads it as 8 or 6; but the ink between its holes
    runs from wall to wall, while an 8 pinches at its waist (at most about
    0.8 of its width).
    """
    ink = _ink(image)
    contours, hierarchy = cv2.findContours(ink, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return 0
    count = 0
    for i, (_, _, child, parent) in enumerate(hierarchy[0]):
        if parent != -1:
            continue
        x, y, w, h = cv2.boundingRect(contours[i])
        # One digit (not two merged ones): about as tall as a capital, narrower than tall.
        if not (0.55 * cap <= h <= 1.5 * cap) or w > 0.85 * h:
            continue
        if not (left - 0.2 * cap <= x + w / 2 <= right + 0.2 * cap):
            continue
        holes = []
        while child != -1:
            hx, hy, hw, hh = cv2.boundingRect(contours[child])
            if hw * hh >= (0.08 * cap) ** 2:
                holes.append((hy, hy + hh, hx, hx + hw))
            child = hierarchy[0][child][0]
        if len(holes) != 2:
            continue
        (_, upper_end, ua, ub), (lower_start, _, la, lb) = sorted(holes)
        if lower_start < upper_end or min(ub, lb) <= max(ua, la):
            continue  # side by side, not one above the other
        rows = ink[upper_end:max(lower_start, upper_end + 1), x:x + w] > 0
        if rows.size and rows.sum(axis=1).max() >= 0.9 * w:
            count += 1
    return count




def digit_gaps(image: np.ndarray, left: int, right: int, cap: float) -> tuple[int, tuple[int, ...]] | None:
    """How many digits a number's image shows, and where it leaves room for a separator between them.

    Digit blobs are the tall blobs within ``left..right`` (slot pixels). Blur
    and tight fonts join neighbouring digits: a blob wider than any digit
    (1.1 capital heights) counts as two, one wider than 1.85 as three. A
    separator, dot, comma, colon or space, leaves a blank of at least 0.45
    capital heights between two digits, where neighbouring digits of screen
    fonts leave at most 0.35 (measured on renders of six fonts at sizes
    0.5–1.5), whether Tesseract read the separator or not, and whether or not
    blur joined a dot to a digit.

    Returns
    -------
    (int, tuple of int) or None
        The digits counted and, for each wide gap, how many digits stand
        before it; None when no digit is seen or a blob is wider than three.
    """
    x, _, w, h, _ = _blob_stats(image)
    centre = x + w / 2
    # Lower-case letters of a unit (x-height, at most 0.72 of a capital) are not digits.
    tall = (h >= 0.8 * cap) & (h <= 1.5 * cap) & (centre >= left - 0.2 * cap) & (centre <= right)
    if not tall.any():
        return None
    order = np.argsort(x[tall])
    xs, ws = x[tall][order], w[tall][order]
    counts = np.searchsorted([1.1 * cap, 1.85 * cap, 2.6 * cap], ws, side="right") + 1
    if counts.max() > 3:
        return None
    ends = np.cumsum(counts)
    # A blank between two blobs, and their digits' centres (a joined pair's split evenly) far apart.
    blank = xs[1:] - (xs[:-1] + ws[:-1])
    last_centre = xs[:-1] + ws[:-1] * (1 - 0.5 / counts[:-1])
    first_centre = xs[1:] + ws[1:] * 0.5 / counts[1:]
    wide = (blank >= 0.45 * cap) & (first_centre - last_centre >= 1.0 * cap)
    return int(ends[-1]), tuple(int(ends[i]) for i in np.flatnonzero(wide))


def comma_tail(image: np.ndarray, left: int, right: int, cap: float) -> bool:
    """Whether a digit of a number's image reaches below the others by a comma's tail.

    Digits stand on one baseline. A comma that blur or a tight serif joins
    to its neighbour (``2,3`` in STIXGeneral at half size) hangs below it:
    that digit's blob ends at least 0.1 capital heights lower than the
    others (the median of three or more, the other of two). On the time
    crops of four generator batches (1,200 screens) it finds the separator
    Tesseract lost in 9 of 22 crops (a point has no tail; every one of the 4
    screens whose lost separator was a comma), and flags 2 of 229 crops of
    whole numbers. At 7 pixels a capital, one pixel is 0.15 capital heights:
    a round digit hinted a pixel below the others ("23" in STIXGeneral at 9
    or 10 pixels) is flagged too, and its reading refused, never taken.
    """
    x, y, w, h, _ = _blob_stats(image)
    centre = x + w / 2
    tall = (h >= 0.7 * cap) & (h <= 1.6 * cap) & (w <= 3 * cap) & (centre >= left) & (centre <= right)
    bottoms = (y + h)[tall]
    if bottoms.size < 2:
        return False
    floor = np.median(bottoms) if bottoms.size > 2 else bottoms.min()
    return bool(bottoms.max() - floor >= 0.1 * cap)


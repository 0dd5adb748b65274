"""Reading dose values off dose-report screens (screenshots and DICOM secondary captures).

Interventional systems show a dose summary at the end of a procedure (the
Philips "Dose Report ClarityIQ": total, exposure and fluoroscopy DAP, series,
images, fluoroscopy time, air kerma); it often reaches the archive only as an
image. :func:`read_reports` reads such images in bulk:

1. **Layouts are data.** A YAML file per screen type
   (``drl_analysis/data/layouts``) names the title, the rows (label, output
   column, unit family, printed units, plausible range, number format) and
   the screen's checks; the language gives the number notation.
2. **Find, don't crop fixed boxes.** :func:`locate` removes the background,
   undoes a rotation of up to two degrees, finds text lines from the ink's
   projection and splits each line at the column gap into label and value,
   whatever the size, border or polarity.
3. **Tesseract in the process, one crop per call.** Starting a Tesseract
   process costs 65–80 ms, reading a small crop 2–4 ms: each worker process
   loads Tesseract's C library once (:class:`TesseractLibrary`, through
   ctypes) and reads every crop on its own in single-line mode, with a
   whitelist of the characters the crop may hold (digits and separators;
   with a unit, the units' letters). Its time grows with the characters read
   and the crop's pixels, so crops are small (capital height 12–17 pixels on
   a first reading) and few characters are read: the first pass reads the
   first row's label (which picks the layout) and, per quantity, the first
   row's number and unit; later passes read the other rows' numbers alone,
   once their unit was matched by image to that row's, and the re-readings.
   Without the library (``engine="process"``, or when it cannot be loaded)
   the crops of a chunk of images are stacked on one page and read by one
   Tesseract process per pass through pytesseract (:func:`run_tesseract`).
4. **Trust is earned.** A number is taken when two readings from different
   preprocessing variants agree, or one has confidence ``ACCEPT_CONF`` (in
   the time and the counts, which no sum check watches, only without a 6, 8
   or 9, the digits a decorated zero is read as), and no reading of another
   value is nearly as frequent or as confident; it must fit the screen's
   number format (a lost decimal point shows), the digits and separators
   seen in the image (a lost thin 1, a zero with a bar read as 8), the
   plausible range, and the screen's sums (total = exposure + fluoroscopy
   DAP, total = frontal + lateral air kerma, up to display rounding).
   Otherwise other variants are read; what stays doubtful marks the report
   ``needs_review`` with the reason. Images that cannot be decoded or hold
   no dose report get a row with the reason too.

Numbers go through :func:`drl_analysis.core.numbers.parse_number` (German and
English notation) and units through :func:`drl_analysis.core.units.unit_factor`.
"""

from __future__ import annotations

import difflib
import itertools
import os
import re
import unicodedata
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import yaml
from tqdm.auto import tqdm

from ..core.errors import UserError
from ..core.numbers import parse_number
from ..core.paths import PACKAGE_DATA, relative_names
from ..core.units import normalise_unit, unit_factor

#: Folder of the screen layouts that ship with the package.
LAYOUT_DIR = PACKAGE_DATA / "layouts"

_QUANTITIES = ("dap", "dose", "time", "count")


@dataclass(frozen=True)
class Field:
    """One row of a dose-report screen.

    Attributes
    ----------
    column : str
        Output column, named with its canonical unit (``dap_total_gycm2``).
    label : str
        The row's label as the screen prints it.
    quantity : {"dap", "dose", "time", "count"}
        Unit family (see :func:`drl_analysis.core.units.unit_factor`); counts have no unit.
    unit : str
        Canonical unit of the column (``"Gy·cm²"``, ``"mGy"``, ``"min"``; empty for counts).
    units : tuple of str
        Units the screen may print next to the value.
    low, high : float
        Plausible range in the canonical unit.
    decimals : dict
        The screen's number format: printed unit -> ``((from, decimals), ...)``
        by the printed value, largest ``from`` first; units not listed are
        not checked.
    """

    column: str
    label: str
    quantity: str
    unit: str
    units: tuple[str, ...]
    low: float
    high: float
    decimals: tuple[tuple[str, tuple[tuple[float, int], ...]], ...] = ()

    def decimals_for(self, unit: str, shown: float) -> set[int]:
        """Decimals the screen prints for ``shown`` in ``unit`` (empty set: no rule).

        A value just at a step (``100.0`` rounded up from 99.96) may keep the
        decimals of the step below.
        """
        for u, steps in self.decimals:
            if u == unit:
                def rule(x: float) -> int:
                    return next((d for bound, d in steps if x >= bound), steps[-1][1])

                allowed = {rule(abs(shown)), rule(abs(shown) * (1 - 1e-3))}
                return allowed | {0} if shown == 0 else allowed
        return set()


@dataclass(frozen=True)
class Check:
    """A rule the screen's values keep.

    ``total = sum(parts)`` up to display rounding; or, when ``zero_together``
    is set, the fields ``(total, *parts)`` are all zero or none is (no
    exposure series, no exposure images, no exposure DAP).
    """

    name: str
    total: str
    parts: tuple[str, ...]
    zero_together: bool = False


@dataclass(frozen=True)
class Layout:
    """A dose-report screen: title, rows in screen order, language and checks.

    Attributes
    ----------
    name : str
    title : str
        The screen's title line.
    language : {"en", "de"}
        Screen language; gives the number notation (``1,765.5`` or ``1.765,5``).
    fields : tuple of Field
        The rows, top to bottom.
    checks : tuple of Check
    footnote : str
        Text under the table, if any (only drawn by the screen generator).
    vendor : str
    """

    name: str
    title: str
    language: str
    fields: tuple[Field, ...]
    checks: tuple[Check, ...] = ()
    footnote: str = ""
    vendor: str = ""

    @property
    def columns(self) -> tuple[str, ...]:
        """Output columns of the fields, in screen order."""
        return tuple(f.column for f in self.fields)

    def field(self, column: str) -> Field:
        """The field writing ``column``."""
        for f in self.fields:
            if f.column == column:
                return f
        raise KeyError(column)


def _layout_from_dict(data: dict, source: str) -> Layout:
    def need(mapping: dict, key: str, where: str):
        if key not in mapping:
            raise UserError(f"layout {source}: {where} has no {key!r}")
        return mapping[key]

    if not isinstance(data, dict):
        raise UserError(f"layout {source}: not a mapping of name, title, language and fields")
    fields = []
    for i, f in enumerate(need(data, "fields", "the file")):
        where = f"field {i + 1}"
        quantity = str(need(f, "quantity", where))
        if quantity not in _QUANTITIES:
            raise UserError(f"layout {source}: {where} has quantity {quantity!r}, not one of {_QUANTITIES}")
        low, high = (float(x) for x in f.get("range", (0.0, float("inf"))))
        units = tuple(str(u) for u in f.get("units", ()))
        if quantity != "count" and not units:
            raise UserError(f"layout {source}: {where} lists no units")
        decimals = []
        for unit, rule in (f.get("decimals") or {}).items():
            if unit not in units:
                raise UserError(f"layout {source}: {where} has decimals for {unit!r}, not one of its units")
            try:
                steps = ((0.0, int(rule)),) if isinstance(rule, int) else tuple(
                    sorted(((float(b), int(d)) for b, d in rule), reverse=True))
            except (TypeError, ValueError):
                raise UserError(f"layout {source}: {where}: decimals of {unit!r} must be a number or "
                                f"[[from, decimals], ...]") from None
            decimals.append((str(unit), steps))
        fields.append(
            Field(
                column=str(need(f, "column", where)),
                label=str(need(f, "label", where)),
                quantity=quantity,
                unit=str(f.get("unit", units[0] if units else "")),
                units=units,
                low=low,
                high=high,
                decimals=tuple(decimals),
            )
        )
    columns = {f.column for f in fields}
    checks = []
    for c in data.get("checks", ()) or ():
        if "zero_together" in c:
            cols = [str(x) for x in c["zero_together"]]
            check = Check(str(c["name"]), cols[0], tuple(cols[1:]), zero_together=True)
        else:
            check = Check(str(c["name"]), str(c["total"]), tuple(str(p) for p in c["parts"]))
        unknown = {check.total, *check.parts} - columns
        if unknown:
            raise UserError(f"layout {source}: check {check.name} names unknown columns {sorted(unknown)}")
        checks.append(check)
    language = str(need(data, "language", "the file"))
    if language not in ("en", "de"):
        raise UserError(f"layout {source}: language {language!r} is not 'en' or 'de'")
    return Layout(
        name=str(need(data, "name", "the file")),
        title=str(need(data, "title", "the file")),
        language=language,
        fields=tuple(fields),
        checks=tuple(checks),
        footnote=str(data.get("footnote", "")),
        vendor=str(data.get("vendor", "")),
    )


@lru_cache(maxsize=None)
def _load_layout_file(path: str) -> Layout:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise UserError(f"layout {path}: cannot be read ({exc})") from None
    return _layout_from_dict(data, path)


def available_layouts() -> tuple[str, ...]:
    """Names of the layouts that ship with the package, sorted."""
    return tuple(sorted(p.stem for p in LAYOUT_DIR.glob("*.yaml")))


def load_layout(name: str | Path) -> Layout:
    """A screen layout by name (``"clarityiq_en"``) or from a YAML file path.

    Raises
    ------
    UserError
        If no layout of that name ships and no such file exists.
    """
    path = Path(name)
    if path.suffix.lower() in (".yaml", ".yml"):
        if not path.is_file():
            raise UserError(f"--layout: no layout file {path}")
        return _load_layout_file(str(path.resolve()))
    file = LAYOUT_DIR / f"{name}.yaml"
    if not file.is_file():
        raise UserError(f"--layout: no layout named {name!r}; known: {', '.join(available_layouts())} or auto")
    return _load_layout_file(str(file))


# --------------------------------------------------------------------------- images

#: File suffixes taken from folders (a file without suffix is taken when it is DICOM).
IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".dcm", ".dicom")


class ImageError(ValueError):
    """An input file that holds no readable image; the message says why."""


def _is_dicom(path: Path) -> bool:
    if path.suffix.lower() in (".dcm", ".dicom"):
        return True
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return head[128:132] == b"DICM"


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr
    arr = arr.astype(np.float32)
    lo, hi = float(arr.min()), float(arr.max())
    if hi <= lo:
        return np.zeros(arr.shape, np.uint8)
    return ((arr - lo) * (255.0 / (hi - lo))).astype(np.uint8)


def _read_dicom(path: Path) -> np.ndarray:
    import pydicom

    try:
        ds = pydicom.dcmread(path, force=True)
    except Exception as exc:  # pydicom raises many kinds on broken files
        raise ImageError(f"not a readable DICOM file ({type(exc).__name__}: {exc})") from None
    if "PixelData" not in ds:
        raise ImageError("DICOM file without pixel data")
    try:
        arr = ds.pixel_array
    except Exception as exc:
        syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "unknown")
        raise ImageError(f"DICOM pixel data cannot be decoded (transfer syntax {syntax}: {exc})") from None
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    if frames > 1:
        arr = arr[0]
    if samples == 3 or arr.ndim == 3:
        if photometric.startswith("YBR"):
            from pydicom.pixels import convert_color_space

            arr = convert_color_space(arr, photometric, "RGB")
        arr = cv2.cvtColor(_to_uint8(arr), cv2.COLOR_RGB2GRAY)
        return arr
    bits = int(ds.get("BitsStored", arr.dtype.itemsize * 8))
    if arr.dtype != np.uint8:
        # Scale the stored bit range, not min..max, so that faint screens stay faint.
        low, high = float(arr.min()), float(arr.max())
        top = float(2**bits - 1) if low >= 0 and high <= 2**bits - 1 else high
        low = min(low, 0.0)
        arr = cv2.convertScaleAbs(arr.astype(np.float32) if arr.dtype.kind == "i" else arr,
                                  alpha=255.0 / max(top - low, 1.0), beta=-255.0 * low / max(top - low, 1.0))
    if photometric == "MONOCHROME1":
        arr = 255 - arr
    return arr


def load_image(path: str | Path) -> np.ndarray:
    """Read an image file as an 8-bit grey image as it is displayed.

    Parameters
    ----------
    path : str or Path
        PNG, JPEG, TIFF, BMP or DICOM (any bit depth; MONOCHROME1 is inverted;
        RGB and YBR are turned grey; of several frames the first is read).

    Returns
    -------
    ndarray of shape (h, w), uint8

    Raises
    ------
    ImageError
        If the file holds no decodable image; the message says why.
    """
    path = Path(path)
    if _is_dicom(path):
        arr = _read_dicom(path)
    else:
        try:
            data = np.fromfile(path, dtype=np.uint8)
        except OSError as exc:
            raise ImageError(f"cannot be read ({exc.strerror})") from None
        # Grey decoding skips JPEG's colour conversion; deep (16-bit) images keep their depth.
        arr = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE | cv2.IMREAD_ANYDEPTH) if data.size else None
        if arr is None:
            try:
                from PIL import Image

                with Image.open(path) as im:
                    arr = np.asarray(im.convert("L"))
            except Exception:
                raise ImageError("not a readable image (corrupt or unknown format)") from None
        if arr.ndim == 3:
            if arr.shape[2] == 4:
                arr = arr[:, :, :3]
            arr = cv2.cvtColor(_to_uint8(arr), cv2.COLOR_BGR2GRAY)
        arr = _to_uint8(arr)
    if arr.ndim != 2 or min(arr.shape) < 16:
        raise ImageError(f"image of shape {arr.shape} is too small for a dose report")
    return np.ascontiguousarray(arr)


# --------------------------------------------------------------------------- geometry


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

        A value region wider than 16 capitals is running text (a footnote),
        not a value.
        """
        rows = [r for r in self.lines if r.value is not None and r.value[1] - r.value[0] <= 16 * self.char_px]
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


# --------------------------------------------------------------------------- values

# Letters Tesseract reads for digits when it reads a number without a whitelist.
_DIGIT_LOOKALIKES = str.maketrans({"O": "0", "o": "0", "D": "0", "Q": "0", "I": "1", "l": "1", "|": "1",
                                   "!": "1", "S": "5", "B": "8", "Z": "2"})
_NUMBER_HEAD = re.compile(r"^(?P<lead>[^\w]*)(?P<num>[0-9ODQIl|!SBZo][0-9ODQIl|!SBZo.,:]*)\s*(?P<rest>.*)$")
_COUNT_RE = re.compile(r"^\d{1,3}(?:[.,]\d{3})+$|^\d+$")
_CLOCK_RE = re.compile(r"^(?:(\d{1,2}):)?(\d{1,3}):([0-5]\d)$")


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
    """

    text: str
    conf: float
    value: float | None = None
    half_step: float = 0.0
    unit: str = ""
    problem: str = ""
    variant: int = 0

    @property
    def valid(self) -> bool:
        return self.value is not None and not self.problem


@lru_cache(maxsize=4096)
def _fold_unit(text: str) -> str:
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
    folded = _fold_unit(text)
    if not folded:
        return ()
    scored = [(_edit_distance(folded, _fold_unit(u)), u) for u in units]
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
    m = _AREA_UNIT.match(_fold_unit(text))
    if not m:
        return None
    area = m["area"].rstrip("2")
    if not area or area[-1] not in "mn":
        return None
    area = "cm" if len(area) > 1 else "m"
    shapes = {}
    for u in units:
        um = _AREA_UNIT.match(_fold_unit(u))
        if um:
            shapes[u] = (um["prefix"], "cm" if um["area"].rstrip("2").endswith("cm") else "m")
    fits = [u for u, shape in shapes.items() if shape == (m["prefix"], area)]
    if not fits and area == "m" and not m["prefix"]:
        fits = [u for u, shape in shapes.items() if shape[1] == "m"]  # the µ was lost
    return fits[0] if len(fits) == 1 else None


def match_unit(text: str, units: tuple[str, ...], prefer: str | None = None) -> str | None:
    """The unit among ``units`` that ``text`` spells, allowing one misread character.

    Returns None when no unit is that close or two are equally close, unless
    ``prefer`` (the unit another row of the same quantity shows) is one of them.

    >>> match_unit("Gy-cm?", ("Gy·cm²", "mGy·cm²"))
    'Gy·cm²'
    >>> match_unit("uGy m2", ("Gy·cm²", "µGy·m²"))
    'µGy·m²'
    """
    near = close_units(text, units)
    if len(near) == 1:
        return near[0]
    return prefer if prefer in near else None


def _decimals(num: str, decimal_sep: str) -> int:
    if decimal_sep in num:
        return len(num) - num.rindex(decimal_sep) - 1
    return 0


def parse_reading(text: str, field: Field, notation: str, unit: str | None = None, conf: float = 100.0,
                  variant: int = 0, prefer_unit: str | None = None) -> Reading:
    """Read a field's value from the text Tesseract returned for its value region.

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
    m = _NUMBER_HEAD.match(text.strip())
    if not m:
        reading.problem = "no number"
        return reading
    if m["lead"].strip():
        # A sign before the number is often a digit misread ("$25" for 525), never a screen's.
        reading.problem = f"{m['lead'].strip()!r} before the number"
        return reading
    num = m["num"].translate(_DIGIT_LOOKALIKES).rstrip(".,:")
    if num != m["num"].rstrip(".,:"):
        reading.conf = min(reading.conf, 50.0)  # a letter read as a digit is doubtful
    rest = m["rest"].strip()
    if not re.search(r"\d", num):
        reading.problem = "no number"
        return reading
    decimal_sep = "," if notation == "de" else "."
    if field.quantity == "count":
        if rest:  # a count row prints no unit: more text is a misread ("1]" for 11)
            reading.problem = f"unexpected text {rest!r} after the count"
            return reading
        if not _COUNT_RE.match(num):
            reading.problem = f"{num!r} is no count"
            return reading
        value, half = float(re.sub(r"\D", "", num)), 0.5
        reading.unit = ""
    elif field.quantity == "time" and ":" in num:
        clock = _CLOCK_RE.match(num)
        shown = unit if unit is not None else (match_unit(rest, tuple(dict.fromkeys(field.units + ("min",))))
                                               if rest else "mm:ss")
        if not clock or shown not in ("mm:ss", "min"):
            reading.problem = f"{num} {rest}".strip() + " is no time"
            return reading
        hours, minutes, seconds = (int(g) if g else 0 for g in clock.groups())
        value, half = hours * 60 + minutes + seconds / 60.0, 0.5 / 60.0
        reading.unit = shown
    else:
        shown = unit if unit is not None else match_unit(rest, field.units, prefer_unit)
        near = close_units(rest, field.units) if unit is None and shown is None else ()
        if len(near) > 1:
            # "Gy m²" is as near to µGy·m² as to Gy·cm²: keep the one the screen's format and the
            # plausible range allow, and let a second reading confirm it.
            fits = [r for r in (parse_reading(text, field, notation, u, conf, variant) for u in near) if r.valid]
            if len(fits) > 1:
                # Tesseract drops a leading µ far more often than a letter inside the unit ("Gy m²"
                # for µGy·m² rather than for Gy·cm²): the µ reading, to be confirmed.
                folded = _fold_unit(rest)
                fits = [r for r in fits if _fold_unit(r.unit) == "u" + folded] or fits
            if len(fits) == 1:
                fits[0].conf = min(fits[0].conf, 80.0)
                return fits[0]
        if shown is None and not near and field.quantity == "dap":
            guess = guess_area_unit(rest, field.units)
            if guess is not None:
                reading = parse_reading(num, field, notation, guess, conf, variant)
                reading.text, reading.conf = text.strip(), min(reading.conf, 80.0)  # to be confirmed
                return reading
        if shown is None or shown == "mm:ss":
            reading.problem = f"unit {rest!r} not one of {', '.join(field.units)}"
            return reading
        try:
            parsed = parse_number(num, notation)  # type: ignore[arg-type]
        except ValueError:
            reading.problem = f"{num!r} is no number"
            return reading
        used = parsed.notation or notation
        d = _decimals(num, "," if used == "de" else ".")
        allowed = field.decimals_for(shown, parsed.value)
        if allowed and d not in allowed:
            # The screen's format: a lost decimal point ("304" for 30.4) shows here.
            reading.problem = f"{num} has {d} decimals; the screen prints {'/'.join(map(str, sorted(allowed)))}"
            return reading
        family = field.quantity
        factor = unit_factor(family, shown) / unit_factor(family, field.unit)
        value, half = parsed.value * factor, 0.5 * 10.0 ** (-d) * factor
        reading.unit = shown
    reading.value, reading.half_step = value, half
    if not field.low <= value <= field.high:
        reading.problem = f"{value:g} {field.unit} outside {field.low:g}–{field.high:g}"
    return reading


def check_sum(total: Reading, parts: list[Reading]) -> bool:
    """Whether ``total`` equals the sum of ``parts`` up to the rounding of the displayed numbers."""
    if total.value is None or any(p.value is None for p in parts):
        return False
    slack = total.half_step + sum(p.half_step for p in parts)
    return abs(total.value - sum(p.value for p in parts)) <= slack * (1 + 1e-9) + 1e-12


# --------------------------------------------------------------------------- Tesseract

#: Preprocessing variants of a value crop, tried in this order: capital
#: height in pixels, binarised (Otsu), sharpened.
VARIANTS: tuple[dict, ...] = (
    {"cap": 17, "binary": False, "sharpen": True},
    {"cap": 26, "binary": True, "sharpen": False},
    {"cap": 16, "binary": False, "sharpen": False},
    {"cap": 32, "binary": False, "sharpen": False},
    {"cap": 28, "binary": True, "sharpen": True},
)
# Read alone, a crop costs Tesseract time per pixel too: labels need no more than this.
_LABEL_CAP = 12
# psm 6: a block of lines; the slots are stacked with blank space between.
# No inverted-text retry: every slot is dark on light already.
_TESSERACT_CONFIG = "--psm 6 -c tessedit_do_invert=0"


@dataclass
class Word:
    """A word Tesseract read in a slot: its horizontal extent (slot pixels), text and confidence."""

    left: int
    right: int
    text: str
    conf: float


def _prepare(crop: np.ndarray, variant: dict) -> np.ndarray:
    """Contrast-stretch a dark-on-light crop, clear dots inside zeros; binarise or sharpen as the variant says."""
    cumulative = cv2.calcHist([crop], [0], None, [256], [0, 256]).ravel().cumsum()
    lo, hi = (float(np.searchsorted(cumulative, q * cumulative[-1])) for q in (0.02, 0.90))
    if hi - lo >= 8:
        crop = cv2.convertScaleAbs(crop, alpha=255.0 / (hi - lo), beta=-255.0 * lo / (hi - lo))
    otsu, ink = cv2.threshold(crop, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    # Ink inside a glyph's hole: the dot or slash of a programmer's zero, which Tesseract
    # reads as 8 or 6. No digit, separator or unit letter has ink in a hole. Blur joins a
    # dot to the ring; the ink's dark core (a lower threshold) often keeps them apart.
    _, core = cv2.threshold(crop, 0.5 * otsu, 255, cv2.THRESH_BINARY_INV)
    for mask in (ink, core):
        contours, hierarchy = cv2.findContours(mask, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)
        if hierarchy is None:
            continue
        for i, (_, _, _, parent) in enumerate(hierarchy[0]):
            if parent >= 0 and hierarchy[0][parent][3] >= 0:
                cv2.drawContours(crop, contours, i, 255, thickness=cv2.FILLED)
                cv2.drawContours(crop, contours, i, 255, thickness=2)
    # A rule under or over the row (a table's lines) runs through the whole crop, whose text starts
    # after a blank margin; beside a lone "0" it makes Tesseract read nothing.
    rule = ink.shape[1] - int(0.2 * variant.get("cap", 20))
    if rule > variant.get("cap", 20) and np.count_nonzero(ink, axis=1).max() >= rule:
        lines = cv2.morphologyEx(ink, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (rule, 1)))
        if lines.any():
            crop[cv2.dilate(lines, np.ones((3, 3), np.uint8)) > 0] = 255
    if variant.get("sharpen"):
        blur = cv2.GaussianBlur(crop, (0, 0), 1.2)
        crop = cv2.addWeighted(crop, 1.7, blur, -0.7, 0)
    if variant.get("binary"):
        _, crop = cv2.threshold(cv2.GaussianBlur(crop, (3, 3), 0), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return crop


#: Page segmentation mode of the library engine: the image is one line of text.
_SINGLE_LINE = 7
#: Resolution declared to Tesseract (dots per inch); it only steers its noise
#: filters, and at this value none removes a decimal point of the crops' size.
_SLOT_PPI = 70
#: White margin around a crop read on its own (pixels).
_SLOT_PAD = 8
#: Tesseract engines: in this process through the C library, or a process per pass (pytesseract).
ENGINES: tuple[str, ...] = ("auto", "library", "process")
#: Environment variable choosing the engine when the caller does not.
ENGINE_VARIABLE = "DRL_OCR_ENGINE"


class TesseractLibrary:
    """Tesseract's C API in this process (``libtesseract``, through ctypes).

    Reading a small crop in-process costs about 0.1 ms plus 0.5 ms per
    character; a Tesseract process costs 65–80 ms to start. The library is
    initialised once per process (about 60 ms) and reads one crop per call
    in single-line mode, with a character whitelist per crop.

    Parameters
    ----------
    lang : str, default "eng"
        Tesseract language data.

    Raises
    ------
    OSError
        If the library cannot be loaded or initialised.
    """

    def __init__(self, lang: str = "eng"):
        import ctypes

        lib = _load_library()
        name = lib._name
        ptr, text, num = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
        for fn, args, res in (
            ("TessBaseAPICreate", [], ptr),
            ("TessBaseAPIInit3", [ptr, text, text], num),
            ("TessBaseAPISetVariable", [ptr, text, text], num),
            ("TessBaseAPISetPageSegMode", [ptr, num], None),
            ("TessBaseAPISetImage", [ptr, ptr, num, num, num, num], None),
            ("TessBaseAPISetSourceResolution", [ptr, num], None),
            ("TessBaseAPIGetTsvText", [ptr, num], ptr),
            ("TessDeleteText", [ptr], None),
            ("TessBaseAPIEnd", [ptr], None),
            ("TessBaseAPIDelete", [ptr], None),
        ):
            f = getattr(lib, fn)
            f.argtypes, f.restype = args, res
        self._lib, self._string_at = lib, ctypes.string_at
        self._api = lib.TessBaseAPICreate()
        if not self._api or lib.TessBaseAPIInit3(self._api, None, lang.encode()) != 0:
            raise OSError(f"Tesseract ({name}) could not load its {lang!r} language data")
        lib.TessBaseAPISetVariable(self._api, b"tessedit_do_invert", b"0")  # every crop is dark on light
        # Tesseract prints statistics of an empty crop; they belong to no one's console.
        lib.TessBaseAPISetVariable(self._api, b"debug_file", os.devnull.encode())
        lib.TessBaseAPISetPageSegMode(self._api, _SINGLE_LINE)
        self._whitelist: str | None = None

    def read(self, image: np.ndarray, whitelist: str = "") -> list[Word]:
        """The words of one line of dark text on a light background.

        Parameters
        ----------
        image : ndarray of shape (h, w), uint8
        whitelist : str, default ""
            Characters Tesseract may read; empty allows all.

        Returns
        -------
        list of Word
            Left to right, in pixels of ``image``.
        """
        if self._api is None:
            raise RuntimeError("Tesseract library closed")
        lib, api = self._lib, self._api
        if whitelist != self._whitelist:
            lib.TessBaseAPISetVariable(api, b"tessedit_char_whitelist", whitelist.encode())
            self._whitelist = whitelist
        pad = _SLOT_PAD
        page = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=255)
        h, w = page.shape
        lib.TessBaseAPISetImage(api, page.ctypes.data, w, h, 1, w)  # Tesseract copies the pixels
        lib.TessBaseAPISetSourceResolution(api, _SLOT_PPI)
        raw = lib.TessBaseAPIGetTsvText(api, 0)
        if not raw:
            return []
        try:
            tsv = self._string_at(raw).decode("utf-8", "replace")
        finally:
            lib.TessDeleteText(raw)
        words = []
        for line in tsv.splitlines():
            f = line.split("\t")
            # Level 5 rows are words: level, page, block, par, line, word, left, top, width, height, conf, text.
            if len(f) == 12 and f[0] == "5" and f[11].strip():
                left = int(f[6]) - pad
                words.append(Word(left, left + int(f[8]), f[11].strip(), float(f[10])))
        return sorted(words, key=lambda word: word.left)

    def close(self) -> None:
        """Free Tesseract's memory (also done when the process exits)."""
        if self._api is not None:
            self._lib.TessBaseAPIEnd(self._api)
            self._lib.TessBaseAPIDelete(self._api)
            self._api = None


_LIBRARY: list[TesseractLibrary | OSError] = []


def tesseract_library() -> TesseractLibrary | None:
    """The process's :class:`TesseractLibrary`, created on first use; None if it cannot be loaded.

    Worker processes forked after it was created share it (each its own copy):
    Tesseract initialises once (60 ms) instead of once per worker.
    """
    import atexit

    if not _LIBRARY:
        try:
            _LIBRARY.append(TesseractLibrary())
            atexit.register(_LIBRARY[0].close)
        except (OSError, AttributeError) as exc:  # no such library, or one without the C API
            _LIBRARY.append(OSError(str(exc)))
    return None if isinstance(_LIBRARY[0], OSError) else _LIBRARY[0]


def resolve_engine(engine: str | None = None) -> str:
    """The Tesseract engine to use: ``"library"`` or ``"process"``.

    Parameters
    ----------
    engine : {"auto", "library", "process"}, optional
        ``"library"``: Tesseract's C library in each worker process (fast);
        ``"process"``: one Tesseract process per pass through pytesseract;
        ``"auto"``: the library when it loads, else processes. By default
        the environment variable ``DRL_OCR_ENGINE``, else ``"auto"``.

    Raises
    ------
    UserError
        If the engine is unknown, or ``"library"`` is asked for and cannot be loaded.
    """
    chosen = engine or os.environ.get(ENGINE_VARIABLE) or "auto"
    if chosen not in ENGINES:
        where = "engine" if engine else ENGINE_VARIABLE
        raise UserError(f"{where}: {chosen!r} is not one of {', '.join(ENGINES)}")
    if chosen == "process":
        return chosen
    problem = _library_problem()
    if problem:
        if chosen == "library":
            raise UserError(f"engine 'library': {problem}; use engine 'process'")
        return "process"
    return "library"


@lru_cache(maxsize=1)
def _load_library():
    """``libtesseract`` loaded through ctypes (once per process; forked workers inherit it).

    Tesseract runs its networks on OpenMP threads, which on busy cores only
    compete with the other workers (and each other). The OpenMP runtime reads
    ``OMP_THREAD_LIMIT`` when it is loaded, with Tesseract: so the limit is 1
    while the library loads, and the environment is left as it was.

    Raises
    ------
    OSError
        If the library cannot be found or loaded.
    """
    import ctypes
    import ctypes.util
    import sys

    # The system's library, then one installed into this environment (conda's tesseract).
    names = [ctypes.util.find_library("tesseract")]
    names += [str(Path(sys.prefix) / "lib" / n) for n in ("libtesseract.so.5", "libtesseract.5.dylib",
                                                          "libtesseract.dylib")]
    names += ["libtesseract.so.5"]
    before = os.environ.get("OMP_THREAD_LIMIT")
    os.environ["OMP_THREAD_LIMIT"] = "1"
    try:
        problems = []
        for name in dict.fromkeys(n for n in names if n):
            try:
                return ctypes.CDLL(name)
            except OSError as exc:
                problems.append(str(exc))
        raise OSError("; ".join(problems))
    finally:
        if before is None:
            del os.environ["OMP_THREAD_LIMIT"]
        else:
            os.environ["OMP_THREAD_LIMIT"] = before


@lru_cache(maxsize=1)
def _library_problem() -> str:
    """Why the Tesseract library cannot be used here; empty if it can.

    Loads the library without initialising it (that costs 60 ms and is done
    once, by :func:`tesseract_library`).
    """
    try:
        _load_library().TessBaseAPIGetTsvText  # noqa: B018 - the C API, not only the C++ one
    except (OSError, AttributeError) as exc:
        return f"the Tesseract library cannot be loaded ({exc})"
    return ""


def run_tesseract(slots: list[np.ndarray], workdir: str | Path) -> list[list[Word]]:
    """Read many small text images with one Tesseract process.

    The slots are stacked on one page with blank space between them and read
    as a block of lines (page segmentation mode 6); each word is given back
    to the slot it lies in. One process for many slots saves Tesseract's
    start-up (tens of milliseconds) per slot.

    Parameters
    ----------
    slots : list of ndarray, uint8
        Dark text on a light background.
    workdir : str or Path
        Folder for the page image.

    Returns
    -------
    list of list of Word
        The words of each slot, left to right.
    """
    import pytesseract

    if not slots:
        return []
    pad = 16
    tops, y = [], pad
    for im in slots:
        tops.append(y)
        y += im.shape[0] + max(14, im.shape[0] // 2)
    page = np.full((y + pad, max(im.shape[1] for im in slots) + 2 * pad), 255, np.uint8)
    for im, top in zip(slots, tops):
        page[top:top + im.shape[0], pad:pad + im.shape[1]] = im
    path = Path(workdir) / "slots.bmp"  # BMP: written ten times faster than PNG, read as fast
    cv2.imwrite(str(path), page)
    data = pytesseract.image_to_data(str(path), lang="eng", config=_TESSERACT_CONFIG,
                                     output_type=pytesseract.Output.DICT)
    words: list[list[Word]] = [[] for _ in slots]
    bottoms = [t + im.shape[0] for t, im in zip(tops, slots)]
    for text, left, top, width, height, conf in zip(data["text"], data["left"], data["top"], data["width"],
                                                    data["height"], data["conf"]):
        text = str(text).strip()
        if not text:
            continue
        centre = top + height / 2.0
        i = int(np.searchsorted(tops, centre, side="right")) - 1
        if 0 <= i < len(slots) and centre <= bottoms[i] + 7:
            words[i].append(Word(int(left) - pad, int(left) + int(width) - pad, text, float(conf)))
    for w in words:
        w.sort(key=lambda word: word.left)
    return words


# --------------------------------------------------------------------------- one report

#: A number read once with at least this confidence (0–100) is taken without
#: a second reading that agrees with it. Sum checks cannot stand in for it:
#: they allow the display rounding of every term, so a misread last digit
#: (445 for 446) or a part's decimals (7.96 for 7.56 beside a total of 354)
#: pass them.
ACCEPT_CONF = 95.0
#: Digits a zero with a dot or bar inside is read as.
_ZERO_MISREADS = frozenset("689")
#: Two readings that agree are taken if the better was read with at least
#: this confidence: a font's dotted zero misread as 8 or 6 agrees with itself.
AGREE_CONF = 60.0
#: Similarity (0–1) a label read must reach to be taken for a layout's label.
LABEL_MATCH = 0.7
#: Most Tesseract passes over a batch (first reading, units, retries).
MAX_PASSES = 6


def _fold_label(text: str) -> str:
    t = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]", "", t)


def label_similarity(read: str, label: str) -> float:
    """Similarity (0–1) of a label as read to a layout's label, ignoring case, accents and punctuation."""
    a, b = _fold_label(read), _fold_label(label)
    if not a or not b:
        return 0.0
    return difflib.SequenceMatcher(None, a, b).ratio()


def _align(read: list[str], labels: list[str]) -> tuple[float, dict[int, int]]:
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


def _words_text(words: list[Word]) -> str:
    text = " ".join(w.text for w in words)
    # "1, 765", "1 ,765" and "1 , 765": a number Tesseract split at its separator.
    text = re.sub(r"(\d)\s+([.,:])\s+(?=\d)", r"\1\2", text)
    text = re.sub(r"(\d[.,:])\s+(?=\d)", r"\1", text)
    return re.sub(r"(\d)\s+(?=[.,:]\d)", r"\1", text)


def _number_words(words: list[Word]) -> int:
    """How many leading words make up the number (1 unless split at a separator)."""
    k = 1
    while k < len(words):
        if (words[k].text in (",", ".", ":") and k + 1 < len(words) and words[k + 1].text[:1].isdigit()
                and words[k - 1].text[-1:].isdigit()):
            k += 2  # the separator read as a word of its own: "188 , 082"
            continue
        split = words[k - 1].text.endswith((",", ".", ":")) or words[k].text.startswith((",", ".", ":"))
        if not (split and re.search(r"\d", words[k].text)):
            break
        k += 1
    return k


# The image checks below look at one crop several times: its ink and blobs are computed once.
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


def _separators(image: np.ndarray, left: int, right: int, cap: float) -> int | None:
    """How many decimal or thousands separators (``.``, ``,``, ``:``) a number's image shows.

    Counts blobs of a point's size that sit on the baseline in a gap between
    two neighbouring digit-sized blobs within ``left..right`` (slot
    pixels); a colon's upper dot is not counted. Noise specks are smoothed
    away first. None when the image shows fewer than two digits.
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
    count = 0
    for i in np.flatnonzero(inside & ~digits):
        if not (0.1 * cap <= h[i] <= 0.45 * cap and w[i] <= 0.45 * cap and area[i] >= (0.12 * cap) ** 2):
            continue
        if not (base - 0.25 * cap <= y[i] + h[i] <= base + 0.35 * cap):
            continue  # not on the baseline: a colon's upper dot, a multiplication dot, a speck
        # In a gap between two neighbouring digits, clear of both.
        before = np.flatnonzero(d_right <= x[i] + 1)
        after = np.flatnonzero(d_left >= x[i] + w[i] - 1)
        if before.size and after.size and before[-1] + 1 == after[0]:
            count += 1
    return count


def _digit_blobs(image: np.ndarray, left: int, right: int, cap: float) -> int:
    """How many blobs of a digit's size lie within ``left..right`` (slot pixels)."""
    x, _, w, h, _ = _blob_stats(image)
    centre = x + w / 2
    # Wider blobs are touching digits (fewer blobs, never more) or a shaded band's edge.
    # Lower-case letters of a unit run into the number ("433s") are shorter than digits.
    tall = (h >= 0.85 * cap) & (h <= 1.5 * cap) & (w <= 1.0 * cap)
    return int((tall & (centre >= left) & (centre <= right)).sum())


def _barred_zeros(image: np.ndarray, left: int, right: int, cap: float) -> int:
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


@dataclass
class _Request:
    image: np.ndarray
    kind: str  # "label", "full" (number and unit) or "number"
    key: object  # line index for labels, output column for values
    variant: int
    box: tuple[float, float, float, float]
    scale: float  # slot pixels per image pixel
    whitelist: str = ""  # characters Tesseract may read (library engine); empty: all
    separators: dict = dataclass_field(default_factory=dict)  # (left, right) -> separators seen, computed once


_DIGITS = "0123456789"


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


class _Report:
    """Reading one image: its state between Tesseract passes over a batch."""

    def __init__(self, path: Path, layouts: list[Layout]):
        self.path = path
        self.layouts = layouts
        self.page: Page | None = None
        self.layout: Layout | None = None
        self.rows: dict[str, Row] = {}
        self.readings: dict[str, list[Reading]] = {}
        self.attempts: dict[str, int] = {}
        # Field -> (unit, where its unit starts, where its number ends), from a reading of number and unit.
        self.units_read: dict[str, tuple[str, float, float]] = {}
        self.labels_read: dict[int, str] = {}
        self.label_score = 0.0
        self.pending: list[_Request] = []
        self.problems: list[str] = []
        self.done = False
        self.fast: list[Layout] = []
        self.table: list[Row] = []
        self.raw: dict[str, list[tuple[_Request, list[Word]]]] = {}
        self.layout_decided = False
        self.changed = False
        self._memo: dict = {}  # (request, layout, unit) -> (request, reading, unit geometry)
        self.doubts: list[str] = []
        self.consistent: bool | None = None

    # -- geometry and requests
    def _crop(self, kind: str, key, row: Row, span: tuple[float, float], variant: int) -> _Request:
        page = self.page
        cap = page.char_px
        # A number cut from before its unit ends in the blank between them: no margin there.
        right = 0.0 if kind == "number" else 0.4 * cap
        box = (span[0] - 0.4 * cap, row.top - 0.25 * cap, span[1] + right, row.bottom + 0.25 * cap)
        v = VARIANTS[variant] if kind != "label" else {"cap": _LABEL_CAP}
        image = _prepare(page.crop(box, v["cap"]), v)
        whitelist = "" if kind == "label" else _whitelist(self.layout.field(key), kind == "full")
        return _Request(image, kind, key, variant, box, v["cap"] / cap, whitelist=whitelist)

    def start(self) -> None:
        try:
            self.page = locate(load_image(self.path))
        except ImageError as exc:
            self._fail(f"unreadable image: {exc}")
            return
        page = self.page
        if page.char_px <= 0 or len(page.rows) < 3:
            self._fail("no dose report: no table of labels and values found")
            return
        self.table = page.table()
        n = len(self.table)
        self.fast = [lay for lay in self.layouts if len(lay.fields) <= n <= len(lay.fields) + 2]
        if self.fast:
            # The first row's label tells the layout (and the language); the
            # other rows follow in the layout's order.
            shortest = min(len(lay.fields) for lay in self.fast)
            for offset in range(min(3, n - shortest + 1)):
                self.pending.append(self._crop("label", offset, self.table[offset], self.table[offset].label, 0))
            if all(len(lay.fields) == n for lay in self.fast):
                self._map(self.fast[0], {i: i for i in range(n)}, self.table)
                self._plan_values()
        else:
            self._request_all_labels()

    def _request_all_labels(self) -> None:
        self.table = []
        for i, row in enumerate(self.page.rows):
            if ("all", i) not in self.labels_read:
                self.pending.append(self._crop("label", ("all", i), row, row.label, 0))

    def _map(self, layout: Layout, pairs: dict[int, int], rows: list[Row]) -> None:
        self.layout = layout
        self.rows = {layout.fields[j].column: rows[i] for j, i in pairs.items()}

    def _representative(self, field: Field) -> Field | None:
        """The first mapped row of the same quantity: its unit is read, the others' are compared to it."""
        if field.quantity in ("count", "time"):
            return None
        for f in self.layout.fields:
            if f.quantity == field.quantity and f.column in self.rows:
                return f if f.column != field.column else None
        return None

    def _in_flight(self, column: str) -> bool:
        return any(r.key == column for r in self.pending)

    def _unit_source(self, field: Field) -> Field | None:
        """The field whose unit reading this field's number takes.

        The first row of the same quantity whose unit was read exactly; while
        none was, the representative (or the field itself).
        """
        if field.quantity == "count":
            return None
        same = [f for f in self.layout.fields if f.quantity == field.quantity and f.column in self.rows]
        for f in same:
            if f.column in self.units_read:
                return f
        return self._representative(field) or field

    def _request_value(self, field: Field) -> None:
        """Next reading of a field: the number alone once its unit was read, else number and unit."""
        column = field.column
        attempt = self.attempts.get(column, 0)
        if attempt >= len(VARIANTS) or self._in_flight(column):
            return
        row = self.rows[column]
        source = self._unit_source(field)
        if source is not None and source.column in self.units_read:
            if source is field:
                _, unit_left, number_right = self.units_read[column]
                span = (row.value[0], (unit_left + number_right) / 2)
            else:
                span = self._number_span(source, row)
            if span is not None:
                self.attempts[column] = attempt + 1
                self.pending.append(self._crop("number", column, row, span, attempt))
                return
        elif source is not None and source is not field and attempt == 0:
            if self._in_flight(source.column) or not self.readings.get(source.column):
                return  # wait for the representative's unit
        self.attempts[column] = attempt + 1
        self.pending.append(self._crop("full", column, row, row.value, attempt))

    def _number_span(self, rep: Field, row: Row) -> tuple[float, float] | None:
        """Where the number of ``row`` lies if its unit looks like the representative's, else None."""
        _, unit_left, _ = self.units_read[rep.column]
        rep_row = self.rows[rep.column]
        page, cap = self.page, self.page.char_px
        unit_w = rep_row.value[1] - unit_left
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
        mid_a, mid_b = (rep_row.top + rep_row.bottom) / 2, (row.top + row.bottom) / 2
        template = page.crop((unit_left - 0.1 * cap, mid_a - 0.8 * cap, rep_row.value[1] + 0.1 * cap,
                              mid_a + 0.8 * cap), size)
        region = page.crop((start - 0.5 * cap, mid_b - 1.2 * cap, row.value[1] + 0.5 * cap,
                            mid_b + 1.2 * cap), size)
        if template.shape[0] > region.shape[0] or template.shape[1] > region.shape[1] or template.std() < 5:
            return None
        score = float(cv2.matchTemplate(region, template, cv2.TM_CCOEFF_NORMED).max())
        return (row.value[0], end) if score >= 0.75 else None

    def _plan_values(self) -> None:
        for field in self.layout.fields:
            if field.column in self.rows and not self.readings.get(field.column):
                self._request_value(field)

    # -- results
    def take(self, request: _Request, words: list[Word]) -> None:
        """Take Tesseract's words for one of this report's requests."""
        self.changed = True
        if request.kind == "label":
            self.labels_read[request.key] = _words_text(words)
        else:
            self.raw.setdefault(request.key, []).append((request, words))

    def _parse(self) -> None:
        """Turn the words read into readings, in the current layout's notation.

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
                        key = (id(request), self.layout.name, unit)
                        if key not in self._memo:
                            self._memo[key] = (request, *self._reading(field, request, words, unit))
                        _, reading, geometry = self._memo[key]
                        if geometry is not None and field.column not in self.units_read:
                            self.units_read[field.column] = geometry
                        if sweep == "units" and reading.valid and reading.unit and field.quantity not in hints:
                            rest = _words_text(words[_number_words(words):])
                            if _fold_unit(rest) == _fold_unit(reading.unit):
                                hints[field.quantity] = reading.unit
                        self.readings.setdefault(field.column, []).append(reading)

    def _reading(self, field: Field, request: _Request, words: list[Word],
                 unit: str | None) -> tuple[Reading, tuple[str, float, float] | None]:
        """A reading from the words of one request, and where its unit is printed if it was read exactly.

        ``unit`` is the unit of the field's quantity as read so far (None if none was).
        """
        notation = self.layout.language
        if not words:
            return Reading("", 0.0, problem="nothing read", variant=request.variant), None
        k = _number_words(words)
        conf = min(w.conf for w in words[:k])
        geometry = None
        if request.kind == "number":
            number = _words_text(words[:k])
            if unit is None:
                return Reading(number, conf, problem="unit not read", variant=request.variant), None
            reading = parse_reading(number, field, notation, unit=unit, conf=conf, variant=request.variant)
            reading.text = f"{number} {unit}"
            if len(words) > k:  # more than a number: the crop reached into the unit
                reading.problem = reading.problem or f"unexpected text {_words_text(words[k:])!r}"
        else:
            reading = parse_reading(_words_text(words), field, notation, conf=conf, variant=request.variant,
                                    prefer_unit=unit)
            # The unit is taken as read when Tesseract was sure of it, or spelled it exactly (its
            # confidence suffers from a superscript two read as "?", not from the letters).
            if reading.valid and len(words) > k and (min(w.conf for w in words[k:]) >= 60
                                                     or _fold_unit(_words_text(words[k:])) == _fold_unit(reading.unit)):
                left = request.box[0] + words[k].left / request.scale
                right = request.box[0] + words[k - 1].right / request.scale
                geometry = (reading.unit, left, right)
        if reading.valid:
            # The number runs from the slot's start (it is the first thing in the value) to where the unit
            # begins: words Tesseract dropped lie there too.
            end = words[k].left if len(words) > k else request.image.shape[1] + 1
            span = (0, end)
            cap = request.scale * self.page.char_px
            if span not in request.separators:
                request.separators[span] = (_separators(request.image, *span, cap),
                                            _barred_zeros(request.image, *span, cap),
                                            _digit_blobs(request.image, *span, cap))
            separators, barred, blobs = request.separators[span]
            number = _NUMBER_HEAD.match(reading.text)["num"].translate(_DIGIT_LOOKALIKES).rstrip(".,:")
            digits = sum(ch.isdigit() for ch in number)
            # Tesseract drops small points ("3.6" read as "36"); a separator it read but the blobs do
            # not show is usually one that touches a digit.
            if separators is not None and separators > sum(ch in ".,:" for ch in number):
                reading.problem = f"{number}: fewer separators read than the image shows"
            elif blobs > digits:
                # A thin 1 lost at small sizes ("7" for 17); touching digits make fewer blobs, never more.
                reading.problem = f"{number}: fewer digits read than the image shows"
            elif barred > number.count("0"):
                reading.problem = "a zero with a bar may be read as another digit"
            if reading.problem:
                geometry = None
        return reading, geometry

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
        self._settle(final=False)

    def _decide_layout(self) -> bool:
        if any(isinstance(k, tuple) for k in self.labels_read):
            rows = self.page.rows
            read = [self.labels_read.get(("all", i), "") for i in range(len(rows))]
            best = max(((*_align(read, [f.label for f in lay.fields]), lay) for lay in self.layouts),
                       key=lambda t: t[0])
            score, pairs, layout = best
            if score < LABEL_MATCH * 0.66 or len(pairs) < max(3, 2 * len(layout.fields) // 3):
                names = ", ".join(lay.name for lay in self.layouts)
                self._fail(f"no dose report: labels of {names} not found")
                return False
            self.label_score = score
            self.raw, self.attempts = {}, {}
            self._map(layout, pairs, rows)
            self.layout_decided = True
            if len(pairs) < len(layout.fields):
                missing = [f.column for j, f in enumerate(layout.fields) if j not in pairs]
                self.problems.append(f"rows not found: {', '.join(missing)}")
            return True
        choices = []
        for offset, text in self.labels_read.items():
            for lay in self.fast:
                if offset + len(lay.fields) <= len(self.table):
                    choices.append((label_similarity(text, lay.fields[0].label), -offset, lay))
        sim, neg_offset, layout = max(choices, key=lambda t: (t[0], t[1])) if choices else (0.0, 0, None)
        if layout is None or sim < LABEL_MATCH:
            self.fast = []
            self._request_all_labels()
            self.layout, self.rows, self.raw, self.attempts = None, {}, {}, {}
            return False
        self.label_score = sim
        offset = -neg_offset
        if offset != 0 or _structure(layout) != _structure(self.layout):
            self.raw, self.attempts = {}, {}
        self._map(layout, {j: offset + j for j in range(len(layout.fields))}, self.table)
        self.layout_decided = True
        return True

    @property
    def _summed(self) -> set[str]:
        """Fields a sum check of the layout watches."""
        return {c for check in self.layout.checks if not check.zero_together for c in (check.total, *check.parts)}

    def _settle(self, final: bool) -> dict[str, Reading]:
        """Choose each field's reading; ask for more readings where the choice is not safe yet.

        A value is safe when two readings (from different preprocessing)
        agree, or one reading has confidence ``ACCEPT_CONF`` or more; and
        every sum check holds. Otherwise another variant is read while one
        is left; what stays unsafe is a doubt (the report needs review).
        """
        layout = self.layout
        chosen: dict[str, Reading] = {}
        safe: dict[str, bool] = {}
        self.doubts = []
        self.consistent = True
        for field in layout.fields:
            column = field.column
            if column not in self.rows:
                continue
            options = self._options(column)
            if not options:
                self._retry(field, final)
                continue
            best = options[0]
            chosen[column] = best[2]
            # Readings of other values count against it: two low-confidence readings agreeing on a 3
            # do not outweigh a confident reading of a 5, nor two readings of 7715 one of 775.
            contested = any(o[0] + 2 > best[0] or o[1] >= best[1] for o in options[1:])
            # A single confident reading is taken where a sum check watches the field. Time and
            # counts have none: there it must not hold a digit that a zero with a dot or bar inside
            # is read as ("10" in a bold monospaced font read as 16 with confidence 97).
            alone_ok = best[1] >= ACCEPT_CONF and (column in self._summed or not _ZERO_MISREADS & set(best[2].text))
            safe[column] = not contested and ((best[0] >= 2 and best[1] >= AGREE_CONF) or alone_ok)
        for check in layout.checks:
            cols = [check.total, *check.parts]
            if check.zero_together:
                zeros = {chosen[c].value == 0 for c in cols if c in chosen}
                if zeros == {True} and any(safe.get(c) for c in cols):
                    # One safe zero vouches for the others (a lone "0" gets a low confidence).
                    safe.update({c: True for c in cols if c in chosen})
                if len(zeros) > 1:
                    retried = [self._retry(layout.field(c), final) for c in cols]
                    if not any(retried):
                        self.consistent = False
                        self.doubts.append(f"{check.name} check fails: {', '.join(cols)} are not all zero "
                                           f"or all non-zero")
                continue
            if any(c not in chosen for c in cols):
                self.consistent = None if self.consistent is not False else False
                continue
            if check_sum(chosen[check.total], [chosen[c] for c in check.parts]):
                self._vouch(check, chosen, safe)
                continue
            # The most supported readings do not add up: look for readings that do.
            fits = [combo for combo in itertools.product(*(self._options(c) for c in cols))
                    if check_sum(combo[0][2], [o[2] for o in combo[1:]])]
            if fits:
                combo = max(fits, key=lambda cb: (sum(o[0] for o in cb), sum(o[1] for o in cb)))
                for c, option in zip(cols, combo):
                    # Safe only if the fitting reading is the field's most supported one.
                    safe[c] = safe.get(c, False) and option[2].value == chosen[c].value
                    chosen[c] = option[2]
            retried = [self._retry(layout.field(c), final) for c in cols]
            if not fits and not any(retried):
                self.consistent = False
                self.doubts.append(f"{check.name} check fails: {check.total} is not the sum of "
                                   f"{' + '.join(check.parts)}")
        for column, ok in safe.items():
            if not ok and not self._retry(layout.field(column), final):
                self.doubts.append(f"{column}: readings uncertain")
        return chosen

    @staticmethod
    def _vouch(check: Check, chosen: dict[str, Reading], safe: dict[str, bool]) -> None:
        """A term the other, safe terms of a holding sum fix exactly is safe too (a lateral 0 beside equal totals)."""
        cols = [check.total, *check.parts]
        for c in cols:
            others = [o for o in cols if o != c]
            if safe.get(c) or not all(safe.get(o) for o in others):
                continue
            if c == check.total:
                implied = sum(chosen[o].value for o in check.parts)
            else:
                implied = chosen[check.total].value - sum(chosen[o].value for o in check.parts if o != c)
            if abs(implied - chosen[c].value) <= 1e-9 * max(1.0, abs(implied)):
                safe[c] = True

    def _options(self, column: str) -> list[tuple[int, float, Reading]]:
        """Distinct values read for a field: (readings agreeing, best confidence, best reading), best first."""
        groups: dict[float, list[Reading]] = {}
        for r in self.readings.get(column, []):
            if r.valid:
                groups.setdefault(round(r.value, 9), []).append(r)
        options = [(len(g), max(r.conf for r in g), max(g, key=lambda r: r.conf)) for g in groups.values()]
        return sorted(options, key=lambda o: (o[0], o[1]), reverse=True)

    def _retry(self, field: Field, final: bool) -> bool:
        """Ask for another reading of ``field`` if a variant is left; False if none is."""
        if final or field.column not in self.rows:
            return False
        if self.attempts.get(field.column, 0) >= len(VARIANTS):
            return False
        if not self._in_flight(field.column):
            self._request_value(field)
        return True

    def _fail(self, reason: str) -> None:
        self.problems.append(reason)
        self.done = True
        self.pending = []

    # -- the output row
    def result(self) -> dict:
        row: dict = {"source_file": str(self.path), "layout": self.layout.name if self.layout else ""}
        if self.layout is None or self.done and not self.readings:
            row.update({"consistent": None, "needs_review": True, "reason": "; ".join(self.problems)})
            return row
        self._parse()
        chosen = self._settle(final=True)
        problems = list(self.problems)
        for field in self.layout.fields:
            column = field.column
            reading = chosen.get(column)
            readings = self.readings.get(column, [])
            if reading is None:
                last = readings[-1] if readings else None
                if last is not None:
                    problems.append(f"{column}: {last.problem}")
                elif column in self.rows:
                    problems.append(f"{column}: nothing read")
                row[column] = np.nan
                row[f"conf_{column}"] = last.conf if last else np.nan
                row[f"raw_{column}"] = last.text if last else ""
            else:
                row[column] = reading.value
                row[f"conf_{column}"] = reading.conf
                row[f"raw_{column}"] = reading.text
        problems += self.doubts
        complete = all(isinstance(row.get(f.column), float) and not np.isnan(row[f.column])
                       for f in self.layout.fields)
        row["consistent"] = self.consistent if complete or self.consistent is False else None
        row["needs_review"] = bool(problems) or not complete
        row["reason"] = "; ".join(problems)
        return row


# --------------------------------------------------------------------------- batches

#: Output columns of the ClarityIQ rows, in the contract's order.
OCR_FIELDS: tuple[str, ...] = (
    "dap_total_gycm2",
    "dap_exposure_gycm2",
    "exposure_series",
    "exposure_images",
    "dap_fluoro_gycm2",
    "fluoro_time_min",
    "air_kerma_total_mgy",
    "air_kerma_frontal_mgy",
    "air_kerma_lateral_mgy",
)


def _candidate_layouts(layout: str | Path | Layout) -> list[Layout]:
    if isinstance(layout, Layout):
        return [layout]
    if str(layout) == "auto":
        names = available_layouts()
        if not names:
            raise UserError("--layout: no layouts ship with the package")
        return [load_layout(n) for n in names]
    return [load_layout(layout)]


def _read_slot(library: TesseractLibrary, request: _Request) -> list[Word]:
    """Read one crop with the library; a lone glyph that gives nothing is read beside a copy of itself.

    Alone on its line a "0" is as much an "o" (the line gives no size to
    compare with), and with a digits-only whitelist Tesseract then reads
    nothing; as "00" it reads it.
    """
    words = library.read(request.image, request.whitelist)
    if words or request.kind == "label":
        return words
    image = request.image
    _, ink = cv2.threshold(image, 0, 1, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    cols = np.flatnonzero(ink.any(axis=0))
    if cols.size == 0:
        return []
    # The glyph and a copy of it close by, as two digits of one number would stand.
    left, right = int(cols[0]), int(cols[-1]) + 1
    glyph = image[:, left:right]
    gap = np.full((image.shape[0], max(2, image.shape[0] // 8)), 255, np.uint8)
    twice = library.read(np.hstack([image[:, :left], glyph, gap, glyph, image[:, right:]]), request.whitelist)
    text = "".join(w.text for w in twice)
    if len(text) == 2 and text[0] == text[1]:
        return [Word(twice[0].left, twice[0].right, text[0], min(w.conf for w in twice))]
    return []


def _read_chunk(paths: list[str], layouts: list[Layout], engine: str = "process") -> list[dict]:
    """Read a few images: each crop by the Tesseract library, or one Tesseract process per pass.

    ``engine`` is ``"library"`` or ``"process"`` (see :func:`resolve_engine`);
    a worker whose library does not initialise uses processes.
    """
    import tempfile

    cv2.setNumThreads(1)  # one worker per core: threads would only compete
    library = tesseract_library() if engine == "library" else None
    if library is None:
        # One Tesseract process at a time per worker: its OpenMP threads would only compete.
        os.environ["OMP_THREAD_LIMIT"] = "1"
    reports = [_Report(Path(p), layouts) for p in paths]
    for report in reports:
        try:
            report.start()
        except Exception as exc:  # one bad image must not stop the batch
            report._fail(f"error while reading: {type(exc).__name__}: {exc}")
    with tempfile.TemporaryDirectory(prefix="drl-ocr-") as workdir:
        for _ in range(MAX_PASSES):
            requests = [(r, q) for r in reports for q in r.pending]
            if not requests:
                break
            if library is not None:
                words = [_read_slot(library, q) for _, q in requests]
            else:
                words = run_tesseract([q.image for _, q in requests], workdir)
            for (report, request), w in zip(requests, words):
                report.take(request, w)
            for report in reports:
                try:
                    report.advance()
                except Exception as exc:
                    report._fail(f"error while reading: {type(exc).__name__}: {exc}")
    return [report.result() for report in reports]


def collect_images(paths: Iterable[str | Path]) -> list[Path]:
    """The image files among ``paths``: files as given, folders searched recursively.

    In folders, files with an image suffix (:data:`IMAGE_SUFFIXES`) and
    files without a suffix that are DICOM are taken; hidden files are skipped.

    Raises
    ------
    UserError
        If a path does not exist.
    """
    found: set[Path] = set()
    for p in paths:
        path = Path(p)
        if path.is_dir():
            for f in path.rglob("*"):
                if not f.is_file() or any(part.startswith(".") for part in f.relative_to(path).parts):
                    continue
                if f.suffix.lower() in IMAGE_SUFFIXES or (not f.suffix and _is_dicom(f)):
                    found.add(f)
        elif path.is_file():
            found.add(path)
        else:
            raise UserError(f"{path}: no such file or folder")
    return sorted(found, key=lambda f: str(f))


def result_columns(layouts: Iterable[Layout]) -> list[str]:
    """Columns of :func:`read_reports`' table: the contract's first, then confidences, raw texts, reason."""
    fields = list(OCR_FIELDS)
    for lay in layouts:
        fields += [c for c in lay.columns if c not in fields]
    return (["source_file", "layout", *fields, "consistent", "needs_review"]
            + [f"conf_{c}" for c in fields] + [f"raw_{c}" for c in fields] + ["reason"])


def read_reports(
    paths: Iterable[str | Path],
    layout: str | Path | Layout = "auto",
    jobs: int = 0,
    progress: bool = True,
    chunk_size: int | None = None,
    engine: str | None = None,
) -> pd.DataFrame:
    """Read the dose values off dose-report screen images.

    Each image is straightened, its table rows are found, the first row's
    label identifies the layout (and so the language and number notation),
    and each value crop is read by Tesseract in single-line mode (see
    ``engine``). A value whose row shares a unit with an earlier row is
    read as a number only, after its unit was matched to that row's by image.
    Numbers that fail their pattern or range, sums that fail the screen's
    checks, and unchecked numbers read with low confidence are read again
    from other preprocessing variants; what stays doubtful is marked
    ``needs_review``.

    Parameters
    ----------
    paths : iterable of str or Path
        Image files (PNG, JPEG, TIFF, BMP, DICOM) and folders (searched recursively).
    layout : str, Path or Layout, default "auto"
        A layout name (see :func:`available_layouts`), a layout YAML file,
        or ``"auto"`` to try every shipped layout.
    jobs : int, default 0
        Worker processes; 0 uses every core, 1 reads in this process.
    progress : bool, default True
        Show a progress bar (tqdm).
    chunk_size : int, optional
        Images per task of a worker; by default up to 64, spread evenly over
        the workers (at least four tasks per worker with the library engine).
    engine : {"auto", "library", "process"}, optional
        How Tesseract is run (see :func:`resolve_engine`): ``"library"`` in
        each worker process through its C library, ``"process"`` as one
        Tesseract process per pass over a chunk (pytesseract); ``"auto"``
        takes the library when it loads. Default: the environment variable
        ``DRL_OCR_ENGINE``, else ``"auto"``.

    Returns
    -------
    pandas.DataFrame
        One row per image, sorted by ``source_file``: ``source_file, layout``,
        the values in canonical units (DAP in Gy·cm², fluoroscopy time in
        minutes, air kerma in mGy, counts), ``consistent`` (the screen's sum
        checks hold; empty when values are missing), ``needs_review``, then
        ``conf_<column>`` (Tesseract's confidence 0–100), ``raw_<column>``
        (text read; for rows whose unit was matched by image, the number
        read and that unit) and ``reason`` (why a report needs review).

    Raises
    ------
    UserError
        If a path does not exist or the layout is unknown.
    """
    layouts = _candidate_layouts(layout)
    engine = resolve_engine(engine)
    files = collect_images(paths)
    columns = result_columns(layouts)
    if not files:
        return pd.DataFrame(columns=columns)
    jobs = _jobs(jobs)
    if chunk_size is None:
        if engine == "process":
            # Each pass over a chunk starts one Tesseract (~65 ms): large chunks, one or a few per worker.
            n_chunks = jobs * int(np.ceil(len(files) / (jobs * 64)))
        else:
            # A chunk costs nothing of its own: four or more per worker keep the workers busy to the end.
            n_chunks = jobs * max(4, int(np.ceil(len(files) / (jobs * 64))))
        chunk_size = int(np.ceil(len(files) / n_chunks))
    chunks = [[str(f) for f in files[i:i + chunk_size]] for i in range(0, len(files), chunk_size)]
    # What every worker needs, done once here: forked workers inherit it.
    if engine == "library":
        tesseract_library()
    if any(_is_dicom(f) for f in files):
        import pydicom  # noqa: F401
    rows: list[dict] = []
    bar = tqdm(total=len(files), unit="image", desc="OCR", disable=not progress)
    try:
        if jobs == 1 or len(chunks) == 1:
            for chunk in chunks:
                rows += _read_chunk(chunk, layouts, engine)
                bar.update(len(chunk))
        else:
            with ProcessPoolExecutor(max_workers=min(jobs, len(chunks))) as pool:
                futures = {pool.submit(_read_chunk, chunk, layouts, engine): len(chunk) for chunk in chunks}
                for future in as_completed(futures):
                    rows += future.result()
                    bar.update(futures[future])
    finally:
        bar.close()
    table = pd.DataFrame(rows)
    for c in columns:
        if c not in table:
            table[c] = np.nan
    # Name images relative to the folder they were found in: no machine paths in tables.
    names = relative_names(list(paths), files)
    table["source_file"] = table["source_file"].map({str(f): names[f] for f in files})
    table = table[columns].sort_values("source_file", ignore_index=True)
    table["needs_review"] = table["needs_review"].astype(bool)
    table["consistent"] = table["consistent"].astype("boolean")
    for c in table.columns:
        if c.endswith(("_gycm2", "_min", "_mgy")) and table[c].dtype.kind == "f":
            # Unit factors leave float noise (72.19200000000001): keep 12 significant digits.
            table[c] = table[c].map(lambda x: float(f"{x:.12g}") if x == x else x)
    for c in ("exposure_series", "exposure_images"):
        # Counts are whole numbers: written as 3, not 3.0.
        if c in table and table[c].dropna().map(float.is_integer).all():
            table[c] = table[c].astype("Int64")
    table["reason"] = table["reason"].fillna("")
    return table


def _jobs(jobs: int) -> int:
    if jobs < 0:
        raise UserError(f"--jobs: {jobs} is not a number of worker processes (0 = all cores)")
    return jobs or os.cpu_count() or 1


# --------------------------------------------------------------------------- outputs

#: Quantile method of the quartiles sheet (numpy's default, = Excel QUARTILE.INC).
QUANTILE_METHOD = "linear"


def quartiles(table: pd.DataFrame, method: str = QUANTILE_METHOD) -> pd.DataFrame:
    """Quartiles of each value over the reports not marked ``needs_review``.

    Parameters
    ----------
    table : pandas.DataFrame
        As returned by :func:`read_reports`.
    method : str, default "linear"
        numpy quantile method, recorded in the result.

    Returns
    -------
    pandas.DataFrame
        One row per value column (units in its name): ``n`` (reports with a
        value), ``p25``, ``p50``, ``p75``, ``quantile_method``, ``basis``.
    """
    fields = [c for c in table.columns if c not in ("source_file", "layout", "consistent", "needs_review", "reason")
              and not c.startswith(("conf_", "raw_"))]
    good = table[~table["needs_review"].astype(bool)] if "needs_review" in table else table
    rows = []
    for column in fields:
        values = pd.to_numeric(good[column], errors="coerce").dropna().to_numpy(float)
        q = np.quantile(values, [0.25, 0.5, 0.75], method=method) if values.size else [np.nan] * 3
        rows.append({"column": column, "n": int(values.size), "p25": q[0], "p50": q[1], "p75": q[2],
                     "quantile_method": method, "basis": "reports not marked needs_review"})
    return pd.DataFrame(rows, columns=["column", "n", "p25", "p50", "p75", "quantile_method", "basis"])


def write_table(table: pd.DataFrame, out: str | Path) -> Path:
    """Write the OCR table as CSV, or as xlsx with a second sheet of quartiles.

    Parameters
    ----------
    table : pandas.DataFrame
        As returned by :func:`read_reports`.
    out : str or Path
        ``.csv`` or ``.xlsx``; the folder is created.

    Raises
    ------
    UserError
        If the suffix is neither.
    """
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise UserError(f"--out: {out} must end in .csv or .xlsx")
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        table.to_csv(out, index=False)
    else:
        with pd.ExcelWriter(out, engine="openpyxl") as writer:
            table.to_excel(writer, sheet_name="reports", index=False)
            quartiles(table).to_excel(writer, sheet_name="quartiles", index=False)
    return out


def command(args) -> int:
    """``drl-analysis ocr PATH... --out FILE [--layout NAME|auto] [--jobs N] [--no-progress]``.

    Returns 0 when at least one image was read as a dose report (even if
    some need review), 1 when none could be.
    """
    out = Path(args.out)
    if out.suffix.lower() not in (".csv", ".xlsx"):
        raise UserError(f"--out: {out} must end in .csv or .xlsx")
    _jobs(args.jobs)
    table = read_reports(args.paths, layout=args.layout, jobs=args.jobs, progress=not args.no_progress)
    if table.empty:
        raise UserError(f"no image files in {', '.join(map(str, args.paths))}")
    write_table(table, out)
    read = int(table["layout"].astype(bool).sum())
    review = int(table["needs_review"].sum())
    print(f"{len(table)} images, {read} read as dose reports, {review} need review -> {out}")
    return 0 if read else 1


# --------------------------------------------------------------------------- for notebooks


def field_crops(path: str | Path, layout: str | Path | Layout = "auto",
                height_px: float = 24.0) -> dict[str, np.ndarray]:
    """The value crops of one report, as the reader sees them (for review).

    Parameters
    ----------
    path : str or Path
        An image file.
    layout : str, Path or Layout, default "auto"
    height_px : float, default 24
        Capital height of the crops in pixels.

    Returns
    -------
    dict
        Output column -> grey crop of its row (label and value), dark on
        light; empty when the image holds no table.
    """
    layouts = _candidate_layouts(layout)
    try:
        page = locate(load_image(path))
    except ImageError:
        return {}
    if page.char_px <= 0:
        return {}
    table = page.table()
    candidates = [lay for lay in layouts if len(lay.fields) <= len(table)]
    if not candidates:
        return {}
    lay = candidates[0]
    offset = len(table) - len(lay.fields)  # extra rows above the table: a title in the table's font
    crops = {}
    for field, row in zip(lay.fields, table[offset:]):
        cap = page.char_px
        box = (row.label[0] - 0.4 * cap, row.top - 0.3 * cap, row.value[1] + 0.4 * cap, row.bottom + 0.3 * cap)
        crops[field.column] = page.crop(box, height_px)
    return crops


def plot_review(table: pd.DataFrame, max_reports: int = 6, max_fields: int = 3, folder: str | Path | None = None):
    """Show the rows of the reports that need review, one figure (matplotlib).

    Parameters
    ----------
    table : pandas.DataFrame
        As returned by :func:`read_reports`.
    max_reports : int, default 6
    max_fields : int, default 3
        Rows shown per report: the fields named in its reason first.
    folder : str or Path, optional
        The folder the images were read from (``source_file`` is relative to
        it), so that their crops can be shown; default the current folder.

    Returns
    -------
    matplotlib.figure.Figure or None
        None when no report needs review.
    """
    import matplotlib.pyplot as plt

    review = table[table["needs_review"]].head(max_reports)
    if review.empty:
        return None
    panels = []
    for _, row in review.iterrows():
        crops = field_crops(Path(folder or ".") / row["source_file"], row["layout"] or "auto")
        named = [c for c in crops if c in str(row["reason"])]
        for column in (named + [c for c in crops if c not in named])[:max_fields]:
            value = row.get(column)
            shown = "not read" if pd.isna(value) else f"{value:.6g}"
            panels.append((f"{Path(row['source_file']).name}: {column} = {shown}", crops[column]))
        if not crops:
            panels.append((f"{Path(row['source_file']).name}: {row['reason']}", None))
    fig, axes = plt.subplots(len(panels), 1, figsize=(8, 0.9 * len(panels) + 0.5), squeeze=False)
    for ax, (title, image) in zip(axes[:, 0], panels):
        if image is not None:
            ax.imshow(image, cmap="gray", vmin=0, vmax=255)
        ax.set_title(title, fontsize=8, loc="left")
        ax.axis("off")
    fig.tight_layout()
    return fig


def plot_histograms(table: pd.DataFrame):
    """Histograms of total DAP [Gy·cm²], fluoroscopy time [min] and total air kerma [mGy].

    Over the reports not marked ``needs_review``; returns the matplotlib figure.
    """
    import matplotlib.pyplot as plt

    good = table[~table["needs_review"]]
    panels = [("dap_total_gycm2", "Total DAP [Gy·cm²]"), ("fluoro_time_min", "Fluoroscopy time [min]"),
              ("air_kerma_total_mgy", "Total air kerma [mGy]")]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    for ax, (column, label) in zip(axes, panels):
        values = pd.to_numeric(good.get(column), errors="coerce").dropna()
        ax.hist(values, bins=min(20, max(5, len(values) // 2)), color="#4c72b0")
        ax.set_xlabel(label)
        ax.set_ylabel("Reports")
    fig.suptitle(f"{len(good)} reports not marked needs_review")
    fig.tight_layout()
    return fig

"""Reading dose values off dose-report screens (screenshots and DICOM secondary captures)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import yaml

from .errors import UserError
from .paths import PACKAGE_DATA

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
        Unit family (see :func:`drl_analysis.units.unit_factor`); counts have no unit.
    unit : str
        Canonical unit of the column (``"Gy·cm²"``, ``"mGy"``, ``"min"``; empty for counts).
    units : tuple of str
        Units the screen may print next to the value.
    low, high : float
        Plausible range in the canonical unit.
    """

    column: str
    label: str
    quantity: str
    unit: str
    units: tuple[str, ...]
    low: float
    high: float


@dataclass(frozen=True)
class Check:
    """A sum the screen guarantees: ``total = sum(parts)`` up to display rounding."""

    name: str
    total: str
    parts: tuple[str, ...]


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
        fields.append(
            Field(
                column=str(need(f, "column", where)),
                label=str(need(f, "label", where)),
                quantity=quantity,
                unit=str(f.get("unit", units[0] if units else "")),
                units=units,
                low=low,
                high=high,
            )
        )
    columns = {f.column for f in fields}
    checks = []
    for c in data.get("checks", ()) or ():
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
        arr = arr.astype(np.float32)
        top = float(2**bits - 1) if arr.max() <= 2**bits - 1 and arr.min() >= 0 else float(arr.max())
        low = 0.0 if arr.min() >= 0 else float(arr.min())
        arr = ((arr - low) * (255.0 / max(top - low, 1.0))).clip(0, 255).astype(np.uint8)
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
        arr = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
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
        interp = cv2.INTER_CUBIC if s > 1 else cv2.INTER_AREA
        out = cv2.warpAffine(self.gray, m, size, flags=interp, borderMode=cv2.BORDER_REPLICATE)
        return out if not self.dark else 255 - out


def _text_strength(gray: np.ndarray, dark: bool) -> np.ndarray:
    """Ink strength with the local background removed (0 = background)."""
    ink = gray if dark else 255 - gray  # ink bright on a darker background
    # An opening wider than any stroke keeps the background (also shaded rows and borders).
    k = cv2.getStructuringElement(cv2.MORPH_RECT, (9, 9))
    return cv2.subtract(ink, cv2.morphologyEx(ink, cv2.MORPH_OPEN, k))


def _is_dark(gray: np.ndarray) -> bool:
    """Light text on a dark screen? The background is what most pixels show."""
    otsu, _ = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return float(np.count_nonzero(gray > otsu)) < 0.5 * gray.size


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
    upper = float(np.percentile(h, 75))
    near = h[(h >= 0.85 * upper) & (h <= 1.5 * upper)]
    return float(np.median(near)) if near.size else upper


#: Pixels of the image on which lines are found; larger images are shrunk first.
_GEOMETRY_AREA = 300_000


def locate(gray: np.ndarray) -> Page:
    """Find the text lines of a dose-report screen and split them into label and value.

    Works on screens of either polarity and any size, with borders, offsets,
    rules and a small rotation: on a copy shrunk to about 0.3 megapixels the
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
    small = cv2.resize(gray, (max(1, round(w0 * f)), max(1, round(h0 * f))), interpolation=cv2.INTER_AREA) if f < 1 else gray
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
    profile = np.zeros(mask.shape[0] + 1, np.int32)
    for yy, hh in zip(y[chars], h[chars]):
        profile[yy:yy + hh] += 1
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
        cap = float(np.percentile(h[inside], 75)) / f
        lines.append(Row(top / f, bottom / f, (float(label[0]), float(label[1])),
                         None if value is None else (float(value[0]), float(value[1])), cap))
    return Page(gray, char_px / f, angle, dark, lines)

"""Image files: finding them, decoding them (PNG, JPEG, TIFF, BMP, DICOM) and preparing crops for Tesseract.

No file is decoded whose size its header declares above a limit
(:data:`MAX_PIXELS`), and a deflated DICOM file is not inflated beyond
:data:`INFLATED_BYTES_PER_PIXEL` bytes per pixel of that limit: a small file
must not take the memory of a batch (875 KB of deflated zeros inflate to 2.7 GB).
"""

from __future__ import annotations

import re
import struct
import warnings
import zlib
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from ..core.errors import UserError
from ..core.paths import DICOM_SUFFIXES, IMAGE_SUFFIXES, has_dicom_preamble

#: Largest image decoded by default, in pixels (width x height x frames); a
#: dose-report screen has one to ten megapixels.
MAX_PIXELS = 50_000_000
#: A deflated DICOM file may inflate to this many bytes per pixel of the limit
#: (16-bit RGB needs 6; a screen has one frame of 1-3 bytes per pixel).
INFLATED_BYTES_PER_PIXEL = 4
#: Transfer syntax of a DICOM file deflated as a whole.
_DEFLATED = "1.2.840.10008.1.2.1.99"


class ImageError(ValueError):
    """An input file that holds no readable image; the message says why."""


def _too_large(what: str, pixels: int, max_pixels: int) -> ImageError:
    return ImageError(f"{what} {pixels:,} pixels, above the limit of {max_pixels:,} pixels "
                      "(not decoded; raise the limit with --max-pixels)")


def is_dicom(path: Path) -> bool:
    """Whether a screen is a DICOM capture: by its suffix, else by its preamble."""
    return path.suffix.lower() in DICOM_SUFFIXES or has_dicom_preamble(path)


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr
    arr = arr.astype(np.float32)
    lo, hi = float(arr.min()), float(arr.max())
    if hi <= lo:
        return np.zeros(arr.shape, np.uint8)
    return ((arr - lo) * (255.0 / (hi - lo))).astype(np.uint8)


#: What pydicom raises on a broken file or pixel data it cannot decode (a truncated
#: file, a wrong length, an unknown transfer syntax, a missing decoder).
_DICOM_ERRORS: tuple[type[BaseException], ...] = (OSError, EOFError, ValueError, KeyError, IndexError, TypeError,
                                                  AttributeError, NotImplementedError, RuntimeError, struct.error)


def _check_inflated_size(path: Path, max_bytes: int) -> None:
    """Inflate a deflated DICOM file chunk by chunk, keeping nothing, and refuse it beyond ``max_bytes``."""
    import pydicom

    try:
        meta = pydicom.filereader.read_file_meta_info(path)
    except Exception:  # noqa: BLE001 - not a file with a meta header: dcmread names the problem
        return
    if str(meta.get("TransferSyntaxUID", "")) != _DEFLATED:
        return
    inflate = zlib.decompressobj(-zlib.MAX_WBITS)
    total = 0
    with open(path, "rb") as fh:
        # Preamble and "DICM" (132 bytes), the group length element (12), then the rest of the meta header.
        fh.seek(132 + 12 + int(meta.get("FileMetaInformationGroupLength", 0)))
        while chunk := fh.read(1 << 16):
            try:
                data = inflate.decompress(chunk, 1 << 22)
            except zlib.error as exc:
                raise ImageError(f"deflated DICOM data cannot be inflated ({exc})") from None
            while True:
                total += len(data)
                if total > max_bytes:
                    raise ImageError(f"deflated DICOM file inflates to more than {max_bytes:,} bytes "
                                     f"({INFLATED_BYTES_PER_PIXEL} bytes per pixel of the limit of "
                                     f"{max_bytes // INFLATED_BYTES_PER_PIXEL:,} pixels; not decoded, raise the "
                                     "limit with --max-pixels)")
                if not inflate.unconsumed_tail:
                    break
                data = inflate.decompress(inflate.unconsumed_tail, 1 << 22)


def _check_dicom_size(ds, max_pixels: int) -> None:
    """Refuse pixel data whose header declares more than ``max_pixels`` before it is decoded."""
    try:
        rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
        bits = int(ds.get("BitsAllocated", 8) or 8)
    except (TypeError, ValueError) as exc:
        raise ImageError(f"DICOM header with an unreadable image size ({exc})") from None
    pixels = rows * cols * frames
    if pixels > max_pixels:
        raise _too_large(f"DICOM header declares {rows:,} x {cols:,} x {frames:,} frames =", pixels, max_pixels)
    decoded = pixels * samples * max(bits, 8) // 8
    if decoded > max_pixels * 8:
        raise ImageError(f"DICOM pixel data would decode to {decoded:,} bytes ({samples} samples of {bits} bits), "
                         f"above {max_pixels * 8:,} bytes (8 per pixel of the limit of {max_pixels:,} pixels; "
                         "not decoded, raise the limit with --max-pixels)")


def _read_dicom(path: Path, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    import pydicom
    from pydicom.errors import InvalidDicomError

    _check_inflated_size(path, max_pixels * INFLATED_BYTES_PER_PIXEL)
    try:
        ds = pydicom.dcmread(path, force=True)
    except (InvalidDicomError, *_DICOM_ERRORS) as exc:
        raise ImageError(f"not a readable DICOM file ({type(exc).__name__}: {exc})") from None
    if "PixelData" not in ds:
        raise ImageError("DICOM file without pixel data")
    _check_dicom_size(ds, max_pixels)
    try:
        arr = ds.pixel_array
    except _DICOM_ERRORS as exc:
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


def _check_image_size(path: Path, max_pixels: int) -> None:
    """Refuse a PNG, JPEG, TIFF or BMP file whose header declares more than ``max_pixels``.

    Pillow reads the header only; a file it cannot identify is left to the decoder.
    """
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                width, height = im.size
    except Image.DecompressionBombError as exc:
        # Pillow refuses to open it at all; its message has the declared size.
        declared = re.search(r"Image size \((\d+) pixels\)", str(exc))
        if declared:
            raise _too_large("header declares", int(declared.group(1)), max_pixels) from None
        raise _too_large("header declares more than", 2 * int(Image.MAX_IMAGE_PIXELS or 0), max_pixels) from None
    except (OSError, ValueError, SyntaxError):
        return
    if width * height > max_pixels:
        raise _too_large(f"header declares {width:,} x {height:,} =", width * height, max_pixels)


def load_image(path: str | Path, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Read an image file as an 8-bit grey image as it is displayed.

    Parameters
    ----------
    path : str or Path
        PNG, JPEG, TIFF, BMP or DICOM (any bit depth; MONOCHROME1 is inverted;
        RGB and YBR are turned grey; of several frames the first is read).
    max_pixels : int, default :data:`MAX_PIXELS`
        Largest image decoded (width x height x frames), checked in the
        file's header before any pixel is decoded; a deflated DICOM file may
        inflate to :data:`INFLATED_BYTES_PER_PIXEL` bytes per pixel of it.

    Returns
    -------
    ndarray of shape (h, w), uint8

    Raises
    ------
    ImageError
        If the file holds no decodable image, or one larger than
        ``max_pixels``; the message says why.
    """
    path = Path(path)
    if is_dicom(path):
        arr = _read_dicom(path, max_pixels)
    else:
        _check_image_size(path, max_pixels)
        try:
            data = np.fromfile(path, dtype=np.uint8)
        except OSError as exc:
            raise ImageError(f"cannot be read ({exc.strerror})") from None
        # Grey decoding skips JPEG's colour conversion; deep (16-bit) images keep their depth.
        arr = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE | cv2.IMREAD_ANYDEPTH) if data.size else None
        if arr is None:
            from PIL import Image

            try:
                with Image.open(path) as im:
                    arr = np.asarray(im.convert("L"))
            except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
                raise ImageError("not a readable image (corrupt or unknown format)") from None
        if arr.ndim == 3:
            if arr.shape[2] == 4:
                arr = arr[:, :, :3]
            arr = cv2.cvtColor(_to_uint8(arr), cv2.COLOR_BGR2GRAY)
        arr = _to_uint8(arr)
    if arr.ndim != 2 or min(arr.shape) < 16:
        raise ImageError(f"image of shape {arr.shape} is too small for a dose report")
    return np.ascontiguousarray(arr)



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
                if f.suffix.lower() in IMAGE_SUFFIXES or (not f.suffix and is_dicom(f)):
                    found.add(f)
        elif path.is_file():
            found.add(path)
        else:
            raise UserError(f"{path}: no such file or folder")
    return sorted(found, key=lambda f: str(f))


# --------------------------------------------------------------------------- crops

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
LABEL_CAP = 12


def prepare(crop: np.ndarray, variant: dict) -> np.ndarray:
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
    _clear_zero_bars(crop, ink)
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




def _clear_zero_bars(crop: np.ndarray, ink: np.ndarray) -> None:
    """Clear the dot or bar of a programmer's zero that blur joined to its ring (in place).

    At small sizes the dot inside a zero ("0" with a dot, as in DejaVu Sans
    Mono) runs into the ring and splits its hole into two, one above the
    other, which Tesseract reads as 8 or 6. The ink between such holes runs
    from wall to wall, and the zero's outline is widest there, while an 8's
    outline pinches at its waist (narrower than above and below it): the
    zero's bar is cleared, leaving one hole. Two holes side by side (the dot joined to
    the ring above and below) are joined likewise; no digit has them, and
    two touching zeros are wider than tall.
    """
    contours, hierarchy = cv2.findContours(ink, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return
    for i, (_, _, child, parent) in enumerate(hierarchy[0]):
        if parent != -1 or child == -1:
            continue
        x, y, w, h = cv2.boundingRect(contours[i])
        if h < 8 or w > 0.85 * h:
            continue  # not one glyph of a number
        holes = []
        while child != -1:
            hx, hy, hw, hh = cv2.boundingRect(contours[child])
            if hw * hh >= max(4, (0.08 * h) ** 2):
                holes.append((hx, hy, hw, hh))
            child = hierarchy[0][child][0]
        if len(holes) != 2:
            continue
        # A hole's contour runs on the ink around it: the bar is the rows from the upper's last to the lower's first.
        (ax, ay, aw, ah), (bx, by, bw, bh) = sorted(holes, key=lambda b: b[1])
        if by >= ay + ah - 1 and min(ax + aw, bx + bw) > max(ax, bx) + 2 and by - (ay + ah) <= 0.3 * h:
            # One above the other: a bar from wall to wall between them, not an 8's waist.
            # An 8's outline pinches at its waist: narrower there than above and below it.
            glyph = ink[y:y + h, x:x + w] > 0
            cols = np.arange(w)
            span = np.where(glyph.any(axis=1), np.where(glyph, cols, -1).max(axis=1)
                            - np.where(glyph, cols, w).min(axis=1) + 1, 0)
            bar = slice(ay + ah - 1 - y, by + 1 - y)
            waist = span[bar].min()
            pinched = waist < min(span[:bar.start].max(initial=0), span[bar.stop:].max(initial=0)) - max(1.0, 0.1 * w)
            if not pinched and glyph[bar].sum(axis=1).max() >= 0.9 * w:
                crop[ay + ah - 1:by + 1, max(ax, bx) + 1:min(ax + aw, bx + bw) - 1] = 255
            continue
        (lx, ly, lw, lh), (rx, ry, rw, rh) = sorted(holes)
        top, bottom = max(ly, ry), min(ly + lh, ry + rh)
        if min(lh, rh) >= 0.5 * h and bottom - top >= 0.4 * h and lx + lw - 1 <= rx <= lx + lw + 0.3 * w:
            crop[top + 1:bottom - 1, lx + lw - 1:rx + 1] = 255

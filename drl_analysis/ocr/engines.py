"""Tesseract, run in this process through its C library or as processes through pytesseract."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from ..core.errors import UserError

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


def read_alone(library: TesseractLibrary, image: np.ndarray, whitelist: str = "", lone_glyph: bool = True) -> list[Word]:
    """Read one crop with the library; with ``lone_glyph``, a glyph that gives nothing is read beside a copy of itself.

    Alone on its line a "0" is as much an "o" (the line gives no size to
    compare with), and with a digits-only whitelist Tesseract then reads
    nothing; as "00" it reads it.
    """
    words = library.read(image, whitelist)
    if words or not lone_glyph:
        return words
    _, ink = cv2.threshold(image, 0, 1, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    cols = np.flatnonzero(ink.any(axis=0))
    if cols.size == 0:
        return []
    # The glyph and a copy of it close by, as two digits of one number would stand.
    left, right = int(cols[0]), int(cols[-1]) + 1
    glyph = image[:, left:right]
    gap = np.full((image.shape[0], max(2, image.shape[0] // 8)), 255, np.uint8)
    twice = library.read(np.hstack([image[:, :left], glyph, gap, glyph, image[:, right:]]), whitelist)
    text = "".join(w.text for w in twice)
    if len(text) == 2 and text[0] == text[1]:
        return [Word(twice[0].left, twice[0].right, text[0], min(w.conf for w in twice))]
    return []

"""Seeded synthetic dose-report screens with their ground truth.

Real screenshots of dose-report screens cannot be shared, so the OCR reader is
tested on renders that vary as screens do: both languages of a layout, dark
and light screens, several fonts and sizes (0.5–1.5 x), units of DAP
(Gy·cm², mGy·cm², cGy·cm², µGy·m²) and of fluoroscopy time (min, mm:ss, s),
borders and offsets, rotation up to a degree, blur, noise, JPEG compression,
and the file formats PNG, JPEG, TIFF, BMP and DICOM secondary capture
(MONOCHROME2, MONOCHROME1, RGB; 8 and 16 bit).

The ground truth is what the screen displays, converted to the canonical
units of the output columns; it satisfies the screen's own checks (total DAP
= exposure + fluoroscopy DAP, total = frontal + lateral air kerma) up to the
rounding of the displayed values, because the totals are rounded from exact
sums as a device does.

Everything is drawn from ``numpy.random.default_rng(seed)``: the same
arguments give the same files, byte for byte.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from ..ocr.layouts import Layout, available_layouts, load_layout

#: Fonts shipped inside matplotlib; no download needed.
FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
FONTS: tuple[str, ...] = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSerif.ttf",
    "STIXGeneral.ttf",
    "DejaVuSansMono-Bold.ttf",
)
#: File formats :func:`write_screen` writes, by suffix.
FORMATS: tuple[str, ...] = ("png", "jpg", "tif", "bmp", "dcm")
#: DICOM pixel encodings: photometric interpretation and bits allocated.
DICOM_KINDS: tuple[tuple[str, int], ...] = (
    ("MONOCHROME2", 8),
    ("MONOCHROME2", 16),
    ("MONOCHROME1", 8),
    ("MONOCHROME1", 16),
    ("RGB", 8),
)
#: Font size in pixels at scale 1.
BASE_FONT_PX = 22

# How the screen prints a DAP unit: prefix, then one of these spellings.
_DAP_SPELLINGS = ("{p}Gy cm²", "{p}Gy·cm²", "{p}Gy x cm²", "{p}Gy*cm²")
# Factor from Gy·cm² to the printed unit, by prefix and area unit.
_DAP_UNITS = {"Gy·cm²": ("", "cm", 1.0), "mGy·cm²": ("m", "cm", 1000.0), "cGy·cm²": ("c", "cm", 100.0),
              "µGy·m²": ("µ", "m", 100.0)}


@dataclass
class ScreenStyle:
    """How one screen looks and is stored.

    Attributes
    ----------
    font : str
        Font file name in :data:`FONT_DIR`.
    scale : float
        Size factor; the font is ``BASE_FONT_PX * scale`` pixels.
    dark : bool
        Light text on a dark screen (True) or dark text on a light one.
    background, foreground : tuple of int
        RGB colours of screen and text.
    value_align : {"right", "left"}
        Alignment of the value column.
    unit_attached : bool
        Unit printed right after the value (one space) instead of in its own column.
    row_pitch : float
        Row distance in font heights.
    column_gap : float
        Gap between label and value column, in font heights.
    rules, box, shading : bool
        Horizontal lines between rows, a frame around the table, alternate row shading.
    border : tuple of int
        Border added around the screen (left, top, right, bottom) in pixels.
    border_colour : tuple of int
    rotation_deg : float
        Counter-clockwise rotation of the whole image.
    blur : float
        Gaussian blur radius in pixels (up to 0.6 x the scale).
    noise : float
        Standard deviation of added Gaussian noise (grey levels).
    jpeg_quality : int or None
        JPEG compression on the way (also for non-JPEG files: a capture that went through JPEG).
    file_format : str
        One of :data:`FORMATS`.
    dicom_kind : tuple (str, int) or None
        Photometric interpretation and bits allocated for DICOM files.
    grey : bool
        Store a single grey channel (else RGB) in PNG/TIFF/BMP.
    """

    font: str = "DejaVuSans.ttf"
    scale: float = 1.0
    dark: bool = True
    background: tuple[int, int, int] = (18, 22, 30)
    foreground: tuple[int, int, int] = (235, 235, 235)
    value_align: str = "right"
    unit_attached: bool = False
    row_pitch: float = 1.8
    column_gap: float = 3.0
    rules: bool = False
    box: bool = False
    shading: bool = False
    border: tuple[int, int, int, int] = (0, 0, 0, 0)
    border_colour: tuple[int, int, int] = (0, 0, 0)
    rotation_deg: float = 0.0
    blur: float = 0.0
    noise: float = 0.0
    jpeg_quality: int | None = None
    file_format: str = "png"
    dicom_kind: tuple[str, int] | None = None
    grey: bool = False


@dataclass
class Screen:
    """A dose-report screen to render: its layout, printed texts, truth and style.

    Attributes
    ----------
    layout : Layout
    values : dict
        Output column -> printed value text (``"1,765"``).
    units : dict
        Output column -> printed unit text (``"mGy"``; ``""`` for counts).
    truth : dict
        Output column -> displayed value in the column's canonical unit.
    style : ScreenStyle
    number_format : NumberFormat, optional
        How the values were printed.
    """

    layout: Layout
    values: dict[str, str]
    units: dict[str, str]
    truth: dict[str, float]
    style: ScreenStyle
    number_format: NumberFormat | None = None


#: Thousands separators a screen may print: none, the notation's own, a space, a narrow no-break space.
GROUPINGS: tuple[str, ...] = ("none", "notation", "space", "thin")
_GROUP_CHARS = {"none": "", "space": " ", "thin": "\u202f"}
#: How a screen prints its decimals: a fixed count per row (0–3, drawn per
#: row), significant digits (2–4 per screen), or up to 1–3 decimals with
#: trailing zeros dropped (27.0 printed "27").
DECIMAL_STYLES: tuple[str, ...] = ("per_row", "significant", "trimmed")
#: How a screen prints the fluoroscopy time, with the unit texts it may print next to it.
TIME_FORMATS: dict[str, tuple[str, ...]] = {
    "min": ("min",),
    "mm:ss": ("mm:ss", "min", ""),
    "hh:mm:ss": ("hh:mm:ss", ""),
    "s": ("s",),
}


@dataclass
class NumberFormat:
    """How one screen prints its numbers, independent of the layout's usual format.

    Attributes
    ----------
    notation : {"en", "de"}
        Decimal comma or point (``1,234.5`` or ``1.234,5``).
    grouping : str
        Thousands separator, one of :data:`GROUPINGS`.
    decimals : str
        One of :data:`DECIMAL_STYLES`.
    digits : int
        Significant digits (``"significant"``, 2–4) or most decimals (``"trimmed"``, 1–3).
    time : str
        Format of the fluoroscopy time, a key of :data:`TIME_FORMATS`.
    """

    notation: str = "en"
    grouping: str = "notation"
    decimals: str = "per_row"
    digits: int = 3
    time: str = "min"

    @property
    def group(self) -> str:
        """The thousands separator printed."""
        if self.grouping == "notation":
            return "," if self.notation == "en" else "."
        return _GROUP_CHARS[self.grouping]

    def row_decimals(self, rng: np.random.Generator, x: float) -> int | None:
        """Decimals for a value ``x`` in its printed unit (None: trailing zeros are dropped, see :meth:`text`)."""
        if self.decimals == "per_row":
            return int(rng.integers(0, 4))
        if self.decimals == "significant":
            return min(3, max(0, self.digits - 1 - int(np.floor(np.log10(abs(x)))))) if x else 0
        return None

    def text(self, x: float, decimals: int | None) -> tuple[str, float]:
        """The printed text of ``x`` and the value it shows."""
        # No more than seven digits in all: screens have no room for 45,123.456.
        room = max(0, 7 - len(str(int(abs(round(x))))))
        if decimals is None:
            most = min(self.digits, room)
            shown = round(x, most)
            text = f"{shown:,.{most}f}"
            text = text.rstrip("0").rstrip(".") if "." in text else text
        else:
            decimals = min(decimals, room)
            shown = round(x, decimals)
            text = f"{shown:,.{decimals}f}"
        text = text.replace(",", "\0").replace(".", "," if self.notation == "de" else ".")
        text = text.replace("\0", self.group)
        return text, float(shown)


def random_number_format(rng: np.random.Generator, language: str) -> NumberFormat:
    """Draw how a screen prints numbers: mostly in its language's notation, every grouping, decimal style and time format."""
    notation = language if rng.random() < 0.9 else ("de" if language == "en" else "en")
    decimals = str(rng.choice(DECIMAL_STYLES))
    return NumberFormat(
        notation=notation,
        grouping=str(rng.choice(GROUPINGS, p=[0.3, 0.4, 0.2, 0.1])),
        decimals=decimals,
        digits=int(rng.integers(2, 5)) if decimals == "significant" else int(rng.integers(1, 4)),
        time=str(rng.choice(list(TIME_FORMATS), p=[0.4, 0.3, 0.15, 0.15])),
    )


def format_number(value: float, decimals: int, notation: str, thousands: bool = True) -> str:
    """A number as a screen of ``notation`` prints it.

    >>> format_number(1765, 0, "en"), format_number(1765, 0, "de"), format_number(24.7, 1, "de")
    ('1,765', '1.765', '24,7')
    """
    fmt = NumberFormat(notation=notation, grouping="notation" if thousands else "none")
    return fmt.text(value, decimals)[0]


def _dap_text(rng, unit: str) -> str:
    prefix, area, _ = _DAP_UNITS[unit]
    spelling = str(rng.choice(_DAP_SPELLINGS))
    text = spelling.format(p=prefix)
    return text.replace("cm²", "m²") if area == "m" else text


def _time_text(rng: np.random.Generator, fmt: NumberFormat, minutes: float) -> tuple[str, str, float]:
    """Printed fluoroscopy time, its unit text, and the time shown in minutes."""
    unit = str(rng.choice(TIME_FORMATS[fmt.time]))
    seconds = int(round(minutes * 60))
    if fmt.time == "mm:ss":
        return f"{seconds // 60}:{seconds % 60:02d}", unit, seconds / 60.0
    if fmt.time == "hh:mm:ss":
        hours = f"{seconds // 3600:02d}" if rng.random() < 0.5 else str(seconds // 3600)
        return f"{hours}:{seconds // 60 % 60:02d}:{seconds % 60:02d}", unit, seconds / 60.0
    if fmt.time == "s":
        text, shown = fmt.text(seconds, 0)
        return text, unit, shown / 60.0
    decimals = fmt.row_decimals(rng, minutes)
    if decimals is not None:
        decimals = min(decimals, 2)
    text, shown = fmt.text(minutes, decimals)
    return text, unit, shown


def random_values(rng: np.random.Generator, layout: Layout,
                  number_format: NumberFormat | None = None) -> tuple[dict, dict, dict]:
    """Draw one procedure's dose values and print them as a screen would.

    The procedure is drawn in canonical units (DAP in Gy·cm², air kerma in
    mGy, time in minutes); totals are exact sums, then every row is rounded
    to the precision it is printed with, on its own. The number format is
    drawn at random (see :func:`random_number_format`), not taken from the
    layout's usual decimals.

    Parameters
    ----------
    rng : numpy.random.Generator
    layout : Layout
        Must have the ClarityIQ rows (the columns of ``OCR_FIELDS`` in
        :mod:`drl_analysis.ocr.layouts`).
    number_format : NumberFormat, optional
        How numbers are printed; drawn when None.

    Returns
    -------
    values, units, truth : dict
        Printed value texts, printed unit texts, and the displayed values in
        canonical units, each by output column.
    """
    fmt = number_format or random_number_format(rng, layout.language)
    fluoro_only = rng.random() < 0.06
    exp_dap = 0.0 if fluoro_only else float(np.clip(rng.lognormal(np.log(40.0), 1.1), 0.05, 1500.0))
    flu_dap = float(np.clip(rng.lognormal(np.log(60.0), 1.0), 0.05, 1500.0))
    series = 0 if fluoro_only else int(rng.integers(1, 41))
    images = int(series * rng.integers(3, 61))
    minutes = float(np.clip(rng.lognormal(np.log(12.0), 0.9), 0.2, 300.0))
    per_dap = float(rng.lognormal(np.log(5.0), 0.4))
    frontal = (exp_dap + flu_dap) * per_dap
    lateral = 0.0 if rng.random() < 0.5 else frontal * float(rng.uniform(0.15, 0.9))
    exact = {
        "dap_total_gycm2": exp_dap + flu_dap,
        "dap_exposure_gycm2": exp_dap,
        "dap_fluoro_gycm2": flu_dap,
        "air_kerma_total_mgy": frontal + lateral,
        "air_kerma_frontal_mgy": frontal,
        "air_kerma_lateral_mgy": lateral,
    }
    values: dict[str, str] = {}
    units: dict[str, str] = {}
    truth: dict[str, float] = {}

    dap_unit = str(rng.choice(list(_DAP_UNITS), p=[0.55, 0.15, 0.15, 0.15]))
    dap_printed = _dap_text(rng, dap_unit)
    factor = _DAP_UNITS[dap_unit][2]
    # Screens switch to Gy for large doses only.
    kerma_gy = exact["air_kerma_total_mgy"] >= 1000 and rng.random() < 0.25
    kerma_factor = 1e-3 if kerma_gy else 1.0
    for cols, f, unit in ((("dap_total_gycm2", "dap_exposure_gycm2", "dap_fluoro_gycm2"), factor, dap_printed),
                          (("air_kerma_total_mgy", "air_kerma_frontal_mgy", "air_kerma_lateral_mgy"),
                           kerma_factor, "Gy" if kerma_gy else "mGy")):
        for col in cols:
            x = exact[col] * f
            values[col], shown = fmt.text(x, fmt.row_decimals(rng, x))
            units[col] = unit
            truth[col] = shown / f

    for col, n in (("exposure_series", series), ("exposure_images", images)):
        values[col], _ = fmt.text(n, 0)
        units[col] = ""
        truth[col] = float(n)

    values["fluoro_time_min"], units["fluoro_time_min"], truth["fluoro_time_min"] = _time_text(rng, fmt, minutes)
    return values, units, truth


def random_style(rng: np.random.Generator, degrade: bool = True, file_format: str | None = None,
                 scale: tuple[float, float] | None = None, compact: bool = False) -> ScreenStyle:
    """Draw how a screen looks and is stored.

    Parameters
    ----------
    rng : numpy.random.Generator
    degrade : bool, default True
        Draw sizes 0.5–1.5 x, borders, rotation up to 1 degree, blur, noise
        and JPEG quality 30–90; False gives clean screens at 0.9–1.2 x.
    file_format : str, optional
        One of :data:`FORMATS`; drawn when None.
    scale : (float, float), optional
        Range of the size factor instead of the default.
    compact : bool, default False
        Keep files small: grey pixels, 8-bit DICOM, noise only in JPEG files.
    """
    dark = bool(rng.random() < 0.6)
    if dark:
        bg = tuple(int(v) for v in rng.integers(0, 60, 3))
        fg = tuple(int(v) for v in rng.integers(190, 256, 3))
    else:
        bg = tuple(int(v) for v in rng.integers(200, 256, 3))
        fg = tuple(int(v) for v in rng.integers(0, 70, 3))
    fmt = file_format or str(rng.choice(FORMATS, p=[0.25, 0.3, 0.1, 0.1, 0.25]))
    style = ScreenStyle(
        font=str(rng.choice(FONTS)),
        scale=float(rng.uniform(*(scale or ((0.5, 1.5) if degrade else (0.9, 1.2))))),
        dark=dark,
        background=bg,
        foreground=fg,
        value_align=str(rng.choice(["right", "left"], p=[0.7, 0.3])),
        unit_attached=bool(rng.random() < 0.25),
        row_pitch=float(rng.uniform(1.5, 2.2)),
        column_gap=float(rng.uniform(1.5, 5.0)),
        rules=bool(rng.random() < 0.25),
        box=bool(rng.random() < 0.25),
        shading=bool(rng.random() < 0.2),
        file_format=fmt,
        grey=bool(rng.random() < 0.4),
    )
    if fmt == "dcm":
        style.dicom_kind = DICOM_KINDS[int(rng.integers(len(DICOM_KINDS)))]
    if compact:
        style.grey = True
        if style.dicom_kind is not None:
            style.dicom_kind = ("MONOCHROME1" if style.dicom_kind[0] == "MONOCHROME1" else "MONOCHROME2", 8)
    if degrade:
        if rng.random() < 0.7:
            style.border = tuple(int(v) for v in rng.integers(0, 80, 4))
            style.border_colour = tuple(int(v) for v in rng.choice([0, 40, 128, 255], 1).repeat(3))
        style.rotation_deg = float(rng.uniform(-1.0, 1.0)) if rng.random() < 0.6 else 0.0
        # Slight blur relative to the letters: the same radius would wash out half-size text.
        style.blur = float(rng.uniform(0.0, 0.6)) * style.scale if rng.random() < 0.5 else 0.0
        style.noise = float(rng.uniform(0.0, 8.0)) if rng.random() < 0.5 else 0.0
        if compact and fmt != "jpg":
            style.noise = 0.0
        if fmt == "jpg" or rng.random() < 0.4:
            style.jpeg_quality = int(rng.integers(30, 91))
    elif fmt == "jpg":
        style.jpeg_quality = 90
    return style


def random_screen(
    rng: np.random.Generator,
    layouts: tuple[str, ...] | None = None,
    degrade: bool = True,
    file_format: str | None = None,
    scale: tuple[float, float] | None = None,
    compact: bool = False,
) -> Screen:
    """Draw a whole screen: layout (language), values and style.

    Parameters
    ----------
    rng : numpy.random.Generator
    layouts : tuple of str, optional
        Layout names to draw from; default every shipped layout.
    degrade : bool, default True
        See :func:`random_style`.
    file_format : str, optional
        One of :data:`FORMATS`; drawn when None.
    scale : (float, float), optional
        Range of the size factor (see :func:`random_style`).
    compact : bool, default False
        Keep files small (see :func:`random_style`).
    """
    names = layouts or available_layouts()
    layout = load_layout(str(rng.choice(list(names))))
    number_format = random_number_format(rng, layout.language)
    values, units, truth = random_values(rng, layout, number_format)
    return Screen(layout, values, units, truth, random_style(rng, degrade, file_format, scale, compact), number_format)


def _font(style: ScreenStyle, factor: float = 1.0) -> ImageFont.FreeTypeFont:
    size = max(6, int(round(BASE_FONT_PX * style.scale * factor)))
    return ImageFont.truetype(str(FONT_DIR / style.font), size)


def render_screen(screen: Screen, rng: np.random.Generator | None = None) -> Image.Image:
    """Draw the screen as an RGB image, with all of its style's degradations but the file's.

    Parameters
    ----------
    screen : Screen
    rng : numpy.random.Generator, optional
        Source of the noise; default ``default_rng(0)``.

    Returns
    -------
    PIL.Image.Image
        RGB image; JPEG compression is applied by :func:`write_screen`.
    """
    rng = rng or np.random.default_rng(0)
    st, layout = screen.style, screen.layout
    font, title_font, note_font = _font(st), _font(st, 1.25), _font(st, 0.7)
    px = font.size
    draw0 = ImageDraw.Draw(Image.new("RGB", (8, 8)))

    def width(text: str, f=font) -> int:
        return int(np.ceil(draw0.textlength(text, font=f)))

    labels = [f.label for f in layout.fields]
    cols = layout.columns
    values = [screen.values[c] for c in cols]
    units = [screen.units[c] for c in cols]
    if st.unit_attached:
        values = [f"{v} {u}".strip() for v, u in zip(values, units)]
        units = [""] * len(units)
    margin = int(px * 1.2)
    x_label = margin
    x_value = x_label + max(width(t) for t in labels) + int(st.column_gap * px)
    value_w = max(width(v) for v in values)
    x_unit = x_value + value_w + int(0.6 * px)
    table_w = x_unit + max([width(u) for u in units] + [0]) + margin
    note_w = width(layout.footnote, note_font) + 2 * margin if layout.footnote else 0
    w = max(table_w, note_w, width(layout.title, title_font) + 2 * margin)
    pitch = int(round(st.row_pitch * px))
    y_title = margin
    y0 = y_title + int(2.2 * px)
    h = y0 + pitch * len(labels) + int(1.0 * px) + (int(2.0 * px) if layout.footnote else 0) + margin
    img = Image.new("RGB", (w, h), st.background)
    draw = ImageDraw.Draw(img)
    dim = tuple(int(0.55 * a + 0.45 * b) for a, b in zip(st.foreground, st.background))
    shade = tuple(int(0.9 * b + 0.1 * a) for a, b in zip(st.foreground, st.background))
    draw.text((x_label, y_title), layout.title, font=title_font, fill=st.foreground)
    for i, (label, value, unit) in enumerate(zip(labels, values, units)):
        y = y0 + i * pitch
        top, bottom = y - (pitch - px) // 2, y - (pitch - px) // 2 + pitch
        if st.shading and i % 2 == 1:
            draw.rectangle([margin // 2, top, w - margin // 2, bottom - 1], fill=shade)
        if st.rules:
            draw.line([margin // 2, bottom, w - margin // 2, bottom], fill=dim, width=max(1, px // 18))
        draw.text((x_label, y), label, font=font, fill=st.foreground)
        xv = x_value + value_w - width(value) if st.value_align == "right" else x_value
        draw.text((xv, y), value, font=font, fill=st.foreground)
        if unit:
            draw.text((x_unit, y), unit, font=font, fill=st.foreground)
    if st.box:
        draw.rectangle([margin // 3, y0 - pitch // 2, w - margin // 3, y0 + pitch * len(labels)],
                       outline=dim, width=max(1, px // 14))
    if layout.footnote:
        draw.text((x_label, y0 + pitch * len(labels) + int(0.8 * px)), layout.footnote, font=note_font, fill=dim)

    left, top, right, bottom = st.border
    if any(st.border):
        framed = Image.new("RGB", (w + left + right, h + top + bottom), st.border_colour)
        framed.paste(img, (left, top))
        img = framed
    if st.rotation_deg:
        img = img.rotate(st.rotation_deg, resample=Image.BICUBIC, expand=True,
                         fillcolor=st.border_colour if any(st.border) else st.background)
    if st.blur:
        img = img.filter(ImageFilter.GaussianBlur(st.blur))
    if st.noise:
        arr = np.asarray(img, dtype=np.float32)
        arr = arr + rng.normal(0.0, st.noise, arr.shape[:2])[..., None]
        img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    return img


def _jpeg_roundtrip(img: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    return Image.open(buf).convert(img.mode)


def write_dicom(path: str | Path, pixels: np.ndarray, photometric: str = "MONOCHROME2", bits: int = 8,
                uid_seed: str = "0") -> Path:
    """Write an image as a DICOM secondary capture (uncompressed).

    Parameters
    ----------
    path : str or Path
    pixels : ndarray of shape (h, w) or (h, w, 3), uint8
        The image as it should be displayed.
    photometric : {"MONOCHROME2", "MONOCHROME1", "RGB"}
        MONOCHROME1 stores inverted values (0 = white), as the standard defines.
    bits : {8, 16}
        Bits allocated; 16-bit files store 12 significant bits.
    uid_seed : str
        Makes the UIDs deterministic.
    """
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    path = Path(path)
    if photometric == "RGB":
        arr = pixels if pixels.ndim == 3 else np.repeat(pixels[..., None], 3, axis=2)
        bits = 8
    else:
        arr = pixels if pixels.ndim == 2 else np.asarray(Image.fromarray(pixels).convert("L"))
        if bits == 16:
            arr = (arr.astype(np.uint32) * 4095 // 255).astype(np.uint16)
        if photometric == "MONOCHROME1":
            arr = (4095 if bits == 16 else 255) - arr
    arr = np.ascontiguousarray(arr.astype(np.uint16 if bits == 16 else np.uint8))
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[uid_seed, "sop"])
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.preamble = b"\0" * 128
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid(entropy_srcs=[uid_seed, "study"])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=[uid_seed, "series"])
    ds.Modality = "OT"
    ds.ConversionType = "WSD"
    ds.SeriesDescription = "Dose Report"
    ds.Rows, ds.Columns = int(arr.shape[0]), int(arr.shape[1])
    ds.SamplesPerPixel = 3 if photometric == "RGB" else 1
    ds.PhotometricInterpretation = photometric
    if photometric == "RGB":
        ds.PlanarConfiguration = 0
    ds.BitsAllocated = bits
    ds.BitsStored = 12 if bits == 16 else 8
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 0
    ds.PixelData = arr.tobytes()
    try:
        pydicom.dcmwrite(path, ds, enforce_file_format=True)
    except TypeError:  # pydicom < 3
        pydicom.dcmwrite(path, ds, write_like_original=False)
    return path


def write_screen(screen: Screen, path: str | Path, seed: int = 0) -> Path:
    """Render ``screen`` and store it in its style's file format.

    Parameters
    ----------
    screen : Screen
    path : str or Path
        The suffix is replaced by the style's format.
    seed : int, default 0
        Seed of the noise.

    Returns
    -------
    Path
        The file written.
    """
    st = screen.style
    path = Path(path).with_suffix("." + st.file_format)
    img = render_screen(screen, np.random.default_rng(seed))
    if st.grey and st.file_format in ("png", "tif", "bmp", "jpg"):
        img = img.convert("L")
    if st.jpeg_quality and st.file_format != "jpg":
        img = _jpeg_roundtrip(img, st.jpeg_quality)
    if st.file_format == "jpg":
        img.save(path, format="JPEG", quality=st.jpeg_quality or 90)
    elif st.file_format == "png":
        img.save(path, format="PNG", optimize=True)
    elif st.file_format == "tif":
        img.save(path, format="TIFF", compression="tiff_deflate")
    elif st.file_format == "bmp":
        img.save(path, format="BMP")
    elif st.file_format == "dcm":
        photometric, bits = st.dicom_kind or ("MONOCHROME2", 8)
        write_dicom(path, np.asarray(img), photometric, bits, uid_seed=f"{seed}-{path.name}")
    else:
        raise ValueError(f"unknown file format {st.file_format!r}; use one of {FORMATS}")
    return path


def write_reports(
    folder: str | Path,
    n: int = 50,
    seed: int = 0,
    degrade: bool = True,
    layouts: tuple[str, ...] | None = None,
    formats: tuple[str, ...] | None = None,
    prefix: str = "report",
    scale: tuple[float, float] | None = None,
    compact: bool = False,
) -> pd.DataFrame:
    """Write ``n`` dose-report screens into ``folder`` and return their ground truth.

    Parameters
    ----------
    folder : str or Path
        Created if missing.
    n : int, default 50
    seed : int, default 0
    degrade : bool, default True
        See :func:`random_style`.
    layouts : tuple of str, optional
        Layout names; default every shipped layout.
    formats : tuple of str, optional
        File formats to cycle through (one of :data:`FORMATS` each); drawn when None.
    prefix : str, default "report"
        File names are ``{prefix}_{i:04d}.{format}``.
    scale : (float, float), optional
        Range of the size factor (see :func:`random_style`).
    compact : bool, default False
        Keep files small (see :func:`random_style`).

    Returns
    -------
    pandas.DataFrame
        One row per file, sorted by ``source_file`` (the file name): the
        layout, the displayed values in canonical units (the output columns
        of :func:`drl_analysis.ocr.batch.read_reports`), the printed texts and units,
        and the style.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        fmt = formats[i % len(formats)] if formats else None
        screen = random_screen(rng, layouts, degrade, fmt, scale, compact)
        path = write_screen(screen, folder / f"{prefix}_{i:04d}", seed=seed * 100_003 + i)
        row = {"source_file": path.name, "layout": screen.layout.name, **screen.truth}
        row.update({f"text_{c}": screen.values[c] for c in screen.layout.columns})
        row.update({f"unit_{c}": screen.units[c] for c in screen.layout.columns})
        if screen.number_format is not None:
            row.update({f"format_{k}": v for k, v in asdict(screen.number_format).items()})
        style = asdict(screen.style)
        row.update({f"style_{k}": (str(v) if isinstance(v, tuple) else v) for k, v in style.items()})
        rows.append(row)
    return pd.DataFrame(rows).sort_values("source_file", ignore_index=True)


def write_sample_reports(folder: str | Path, n: int = 12, seed: int = 0) -> pd.DataFrame:
    """Write the small bundled sample: ``n`` varied screens, kept small on disk.

    Like :func:`write_reports` with degraded renders in every file format,
    at sizes 0.5–0.8 x, grey and 8-bit (uncompressed BMP and DICOM files
    grow with area and depth), noise only in JPEG files; writes the ground truth as ``ground_truth.csv`` next to the
    images and returns it.
    """
    folder = Path(folder)
    truth = write_reports(folder, n, seed, degrade=True, formats=("jpg", "png", "dcm", "jpg", "tif", "bmp"),
                          prefix="dose_report", scale=(0.5, 0.8), compact=True)
    truth.to_csv(folder / "ground_truth.csv", index=False)
    return truth

"""Reading submitted files into raw sheets: xlsx, xlsm, xls, ods and csv.

Workbooks are parsed with python-calamine (about 6 times faster than openpyxl
on xlsx). Before parsing, a file is checked for what it really is: its size,
its magic bytes (a PDF named ``.xlsx``, an xlsx named ``.xls``), encryption
(password-protected workbooks are OLE containers with an ``EncryptedPackage``
stream) and XML with a document type declaration (an XML bomb; workbooks never
declare entities), which defusedxml refuses to expand.

Every expected problem raises :class:`FileRejected` with one sentence.
"""

from __future__ import annotations

import csv
import io
import os
import re
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import defusedxml.ElementTree as defused_et
import python_calamine as calamine
from defusedxml import DefusedXmlException

from ..core.paths import DICOM_SUFFIXES, has_dicom_preamble

WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods")
SUPPORTED_SUFFIXES = (*WORKBOOK_SUFFIXES, ".csv")

_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_FOREIGN_MAGIC = {
    b"%PDF": "a PDF document",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"\x1f\x8b": "a gzip archive",
    b"7z\xbc\xaf": "a 7z archive",
    b"Rar!": "a RAR archive",
}
# A sheet part that inflates beyond this many times its compressed size and
# beyond _BOMB_MIN_BYTES is refused as a zip bomb.
_BOMB_RATIO = 1000
_BOMB_MIN_BYTES = 500 * 2**20


class FileRejected(Exception):
    """A file that cannot be read; the message is the reason, one sentence."""


@dataclass(frozen=True)
class Limits:
    """How large a sheet may be before it is refused unread.

    A workbook of a few kilobytes can declare a cell at XFD1048576; its reader
    would then ask for the whole grid (17 billion cells). Such a sheet is
    refused with its extent named, before any cell is loaded.

    Attributes
    ----------
    max_cells : int
        Rows x columns of a sheet's used area (default 20 million).
    max_rows : int
        Rows of a sheet (default 1,048,576, all Excel has).
    max_columns : int
        Columns of a sheet (default 1,000).
    """

    max_cells: int = 20_000_000
    max_rows: int = 1_048_576
    max_columns: int = 1_000


DEFAULT_LIMITS = Limits()
#: A run of more empty rows than this is the sheet's empty area, not rows of
#: data: it is left out (the rows after it keep their numbers), so that a stray
#: cell at A1048576 does not turn a million empty rows into rejections.
EMPTY_GAP = 100
#: Sheets of fewer rows are taken as they are (their empty rows cost little).
COMPACT_FROM_ROWS = 10_000
_CELL_REF = re.compile(rb'<(?:c|row)\b[^>]*?\br="([A-Z]{0,3})(\d+)"')
_DIMENSION = re.compile(rb'<dimension\b[^>]*\bref="([A-Z]{1,3})(\d+)(?::([A-Z]{1,3})(\d+))?"')


def _column_number(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ch - 64
    return n


def _check_extent(name: str, rows: int, columns: int, limits: Limits, how: str) -> None:
    if rows > limits.max_rows or columns > limits.max_columns or rows * columns > limits.max_cells:
        raise FileRejected(
            f"refused: sheet {name} {how} {rows:,} rows x {columns:,} columns ({rows * columns:,} cells), more "
            f"than the limits of {limits.max_rows:,} rows, {limits.max_columns:,} columns and "
            f"{limits.max_cells:,} cells (--max-rows, --max-columns, --max-cells)"
        )


def _sheet_extent(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limits: Limits, head: bytes) -> None:
    """Refuse an xlsx sheet whose used area is beyond ``limits``.

    The declared dimension (``<dimension ref="A1:XFD1048576"/>``) is read from
    the part's head; where it is missing the cell references are scanned. A
    sheet that declares less than it holds is caught by the worker that reads
    it (its crash fails that file alone).
    """
    m = _DIMENSION.search(head[:4096])
    if m is not None:
        c0, r0, c1, r1 = m.groups()
        c1, r1 = c1 or c0, r1 or r0
        rows = int(r1) - int(r0) + 1
        columns = _column_number(c1) - _column_number(c0) + 1
        _check_extent(info.filename, rows, columns, limits, "declares")
        return
    with zf.open(info) as fh:
        max_row = max_col = 0
        tail = b""
        chunk = fh.read(1 << 20)
        while chunk:
            data = tail + chunk
            for col, row in _CELL_REF.findall(data):
                max_row = max(max_row, int(row))
                if col:
                    max_col = max(max_col, _column_number(col))
            tail = data[-256:]
            chunk = fh.read(1 << 20)
    _check_extent(info.filename, max_row, max(max_col, 1), limits, "spans")


@dataclass
class RawSheet:
    """The cells of one sheet as the reader found them.

    ``rows[i]`` is row ``i + 1`` as Excel numbers it. A CSV record may span
    several lines (a quoted cell with a line break): ``line_numbers[i]`` is
    then the 1-based line on which record ``i`` starts.
    Empty cells are ``""``; numbers are floats; dates are datetime objects.
    ``merged`` lists merged ranges as ``((row0, col0), (row1, col1))``,
    0-based and inclusive.
    """

    name: str
    rows: list[list]
    merged: list[tuple[tuple[int, int], tuple[int, int]]] = field(default_factory=list)
    line_numbers: list[int] | None = None
    #: The sheet is hidden in the workbook (it is read all the same, with a note).
    hidden: bool = False
    #: Rows hidden in the sheet that hold cells (read all the same, with a note).
    hidden_rows: int = 0

    def row_number(self, i: int) -> int:
        """The 1-based row (Excel) or line (CSV) number of ``rows[i]``."""
        return self.line_numbers[i] if self.line_numbers is not None else i + 1


@dataclass
class RawFile:
    """A submitted file as read: its kind, its sheets and notes on how it was read."""

    kind: str
    sheets: list[RawSheet]
    notes: list[str] = field(default_factory=list)


def _sniff_kind(path: Path, head: bytes) -> str:
    """The real kind of a file from its first bytes: xlsx, ods, xls, csv."""
    if head.startswith(_ZIP_MAGIC):
        try:
            with zipfile.ZipFile(path) as zf:
                names = set(zf.namelist())
                if "xl/workbook.xml" in names:
                    return "xlsx"
                if "mimetype" in names and b"spreadsheet" in zf.read("mimetype"):
                    return "ods"
        except zipfile.BadZipFile:
            raise FileRejected("corrupt or truncated workbook (its zip structure is broken)") from None
        raise FileRejected("a zip archive that holds no workbook")
    if head.startswith(_OLE_MAGIC):
        return "ole"
    for magic, what in _FOREIGN_MAGIC.items():
        if head.startswith(magic):
            raise FileRejected(f"not a workbook: the file is {what}")
    if head.lstrip().lower().startswith((b"<!doctype html", b"<html")):
        raise FileRejected("not a workbook: the file is an HTML page")
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise FileRejected("not a workbook: the file holds binary data of an unknown kind")
    return "csv"


def _check_zip(path: Path, limits: Limits = DEFAULT_LIMITS) -> dict[str, SheetMarks]:
    """Refuse XML bombs and zip bombs inside an xlsx or ods, and xlsx sheets beyond ``limits``.

    Returns the error cells and hidden rows of the xlsx sheets, by sheet name
    (see :class:`SheetMarks`), found in the same reading of each sheet's XML.
    """
    by_part: dict[str, SheetMarks] = {}
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if not info.filename.endswith((".xml", ".rels")):
                    continue
                if info.file_size > _BOMB_MIN_BYTES and info.file_size > _BOMB_RATIO * max(info.compress_size, 1):
                    raise FileRejected(
                        f"refused: {info.filename} inflates to {info.file_size / 2**20:.0f} MB "
                        f"from {info.compress_size / 2**10:.0f} kB (a zip bomb)"
                    )
                sheet = info.filename.startswith("xl/worksheets/") and info.filename.count("/") == 2
                with zf.open(info) as fh:
                    # A document type declaration stands before the root element.
                    head = fh.read(65536)
                    if sheet:
                        _sheet_extent(zf, info, limits, head)
                        # Within the limits: the rest of the sheet, for its error cells and
                        # hidden rows (one reading of the XML for both).
                        found = _scan_marks(head + fh.read())
                        if found is not None:
                            by_part[info.filename] = found
                if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
                    data = zf.read(info) if info.file_size < 2**20 else head
                    try:
                        defused_et.fromstring(data)
                    except DefusedXmlException as exc:
                        raise FileRejected(
                            f"refused: {info.filename} declares XML entities ({exc.__class__.__name__}), "
                            "as an XML bomb does; workbooks never do"
                        ) from None
                    except defused_et.ParseError:
                        pass
            if not by_part:
                return {}
            try:
                return {name: by_part[part] for name, part in _sheet_parts(zf).items() if part in by_part}
            except KeyError:
                return {}  # no workbook.xml or its relations: the reader names what is wrong
    except zipfile.BadZipFile:
        raise FileRejected("corrupt or truncated workbook (its zip structure is broken)") from None
    except (EOFError, zipfile.LargeZipFile, OSError) as exc:
        raise FileRejected(f"corrupt or truncated workbook ({exc})") from None


def _is_encrypted_ole(path: Path) -> bool:
    data = path.read_bytes()
    return "EncryptedPackage".encode("utf-16-le") in data or b"EncryptionInfo" in data


def _read_workbook(path: Path, by_content: bool = False, marks: dict[str, SheetMarks] | None = None) -> list[RawSheet]:
    try:
        if by_content:
            # calamine picks its reader by the file name; a renamed file is
            # read by what it holds.
            with path.open("rb") as fh:
                wb = calamine.CalamineWorkbook.from_filelike(fh)
        else:
            wb = calamine.CalamineWorkbook.from_path(str(path))
    except calamine.PasswordError:
        raise FileRejected("password-protected workbook: save it without a password and send it again") from None
    except (calamine.ZipError, calamine.XmlError) as exc:
        raise FileRejected(f"corrupt or truncated workbook ({_short(exc)})") from None
    except calamine.CalamineError as exc:
        raise FileRejected(f"corrupt or unreadable workbook ({_short(exc)})") from None
    sheets = []
    try:
        for meta in wb.sheets_metadata:
            if str(meta.typ).rsplit(".", 1)[-1] != "WorkSheet":
                continue  # chart sheets hold no cells
            sheet = wb.get_sheet_by_name(meta.name)
            rows = sheet.to_python(skip_empty_area=False)
            hidden_rows = _apply_marks(rows, (marks or {}).get(meta.name))
            merged = sheet.merged_cell_ranges or []
            hidden = str(meta.visible).rsplit(".", 1)[-1] != "Visible"
            raw = _without_empty_areas(RawSheet(meta.name, rows, list(merged), hidden=hidden))
            raw.hidden_rows = hidden_rows
            sheets.append(raw)
    except calamine.PasswordError:
        raise FileRejected("password-protected workbook: save it without a password and send it again") from None
    except calamine.CalamineError as exc:
        raise FileRejected(f"corrupt or truncated workbook ({_short(exc)})") from None
    finally:
        wb.close()
    return sheets


#: Error values of Excel cells; calamine reads them as empty cells, so their text is put back from the sheet's XML.
EXCEL_ERRORS = frozenset({"#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A", "#GETTING_DATA",
                          "#SPILL!", "#CALC!", "#FIELD!", "#BLOCKED!", "#CONNECT!", "#BUSY!", "#UNKNOWN!"})
_XML_ATTR = re.compile(rb'([\w:]+)="([^"]*)"')
_SHEET_ELEMENT = re.compile(rb"<(?:\w+:)?sheet\b([^>]*)>")
_RELATIONSHIP = re.compile(rb"<(?:\w+:)?Relationship\b([^>]*)>")
_ERROR_CELL = re.compile(rb'<c\b([^>]*\bt="e"[^>]*)>(.*?)</c>', re.S)
_ERROR_VALUE = re.compile(rb"<v>([^<]*)</v>")
_HIDDEN_ROW = re.compile(rb'<row\b([^>]*\bhidden="(?:1|true)"[^>]*)>')


@dataclass
class SheetMarks:
    """What calamine does not tell of an xlsx sheet: its error cells and hidden rows.

    Attributes
    ----------
    errors : dict
        ``(row, column)`` (0-based) to the error's text, e.g. ``"#DIV/0!"``.
    hidden_rows : list of int
        1-based numbers of the rows hidden in the sheet.
    """

    errors: dict[tuple[int, int], str] = field(default_factory=dict)
    hidden_rows: list[int] = field(default_factory=list)


def _attributes(text: bytes) -> dict[str, str]:
    import html

    return {k.decode(): html.unescape(v.decode("utf-8", "replace")) for k, v in _XML_ATTR.findall(text)}


def _sheet_parts(zf: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name -> its part in the zip (``xl/worksheets/sheet1.xml``)."""
    rels = {}
    for m in _RELATIONSHIP.finditer(zf.read("xl/_rels/workbook.xml.rels")):
        a = _attributes(m.group(1))
        target = a.get("Target", "")
        rels[a.get("Id")] = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
    parts = {}
    for m in _SHEET_ELEMENT.finditer(zf.read("xl/workbook.xml")):
        raw = m.group(1)
        a = _attributes(raw)
        rid = next((v.decode() for k, v in _XML_ATTR.findall(raw) if k.endswith(b":id")), None)
        if "name" in a and rid in rels:
            parts[a["name"]] = rels[rid]
    return parts


def _cell_position(ref: str) -> tuple[int, int] | None:
    m = re.fullmatch(r"([A-Z]{1,3})(\d+)", ref)
    return (int(m.group(2)) - 1, _column_number(m.group(1).encode()) - 1) if m else None


def _scan_marks(data: bytes) -> SheetMarks | None:
    """The error cells and hidden rows in one sheet's XML; None when it has neither."""
    found = SheetMarks()
    if b't="e"' in data:
        for m in _ERROR_CELL.finditer(data):
            where = _cell_position(_attributes(m.group(1)).get("r", ""))
            value = _ERROR_VALUE.search(m.group(2))
            if where is not None and value is not None:
                found.errors[where] = value.group(1).decode("utf-8", "replace").strip()
    if b"hidden=" in data:
        for m in _HIDDEN_ROW.finditer(data):
            r = _attributes(m.group(1)).get("r", "")
            if r.isdigit():
                found.hidden_rows.append(int(r))
    return found if found.errors or found.hidden_rows else None


def _apply_marks(rows: list[list], marks: SheetMarks | None) -> int:
    """Put the text of error cells into ``rows``; the number of hidden rows that hold a cell."""
    if marks is None:
        return 0
    for (r, c), text in marks.errors.items():
        if r < len(rows) and c < len(rows[r]) and rows[r][c] in ("", None):
            rows[r][c] = text
    return sum(1 for r in marks.hidden_rows if r <= len(rows) and not _is_blank(rows[r - 1]))


def _is_blank(row: list) -> bool:
    return row.count("") + row.count(None) == len(row)


def _without_empty_areas(sheet: RawSheet) -> RawSheet:
    """The sheet without runs of more than :data:`EMPTY_GAP` empty rows (and
    without trailing empty rows); the rows left keep their numbers. Sheets of
    fewer than :data:`COMPACT_FROM_ROWS` rows are returned as they are."""
    rows = sheet.rows
    n = len(rows)
    if n < COMPACT_FROM_ROWS:
        return sheet
    end = n
    while end and _is_blank(rows[end - 1]):
        end -= 1
    if end == n and n <= EMPTY_GAP:
        return sheet
    keep: list[int] = []
    run: list[int] = []
    for i in range(end):
        if _is_blank(rows[i]):
            run.append(i)
            continue
        if len(run) <= EMPTY_GAP:
            keep.extend(run)
        run = []
        keep.append(i)
    if len(keep) == n:
        return sheet
    numbers = [sheet.row_number(i) for i in keep]
    position = {old: new for new, old in enumerate(keep)}
    merged = []
    for (r0, c0), (r1, c1) in sheet.merged:
        if r0 in position:
            inside = [position[r] for r in range(r0, r1 + 1) if r in position]
            merged.append(((position[r0], c0), (inside[-1], c1)))
    return RawSheet(sheet.name, [rows[i] for i in keep], merged, numbers, sheet.hidden)


def _megabytes(n_bytes: int) -> str:
    # Whole megabytes hide the difference between a file and a small limit.
    mb = n_bytes / 2**20
    return f"{mb:.0f} MB" if mb >= 100 else f"{mb:.3g} MB"


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:160] if text else exc.__class__.__name__


def decode_text(data: bytes) -> tuple[str, str]:
    """Text of a CSV file and its encoding: UTF-16 with its byte-order mark, UTF-8
    (with or without BOM), else Windows-1252 or, where its letters say so, Mac Roman."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("utf-8-sig"), "utf-8-sig"
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"
    # Excel's "CSV (Macintosh)" writes Mac Roman: "Gerät" reads "GerŠt" in Windows-1252.
    # The reading that gives the letters and signs of a German survey, not odd signs, wins.
    mac = data.decode("mac_roman")
    if _text_score(mac) > _text_score(text):
        return mac, "mac_roman"
    return text, "cp1252"


#: Letters and signs of a German survey file, and signs a wrong 8-bit decoding gives instead.
_EXPECTED_CHARS = frozenset("äöüÄÖÜßµ²³·°éè×–")
_ODD_CHARS = frozenset("ŠšŸŽžŒœ†‡ˆ˜™›‹¸‰ﬂﬁ√∆◊ıÆÍ¿¡¬ƒ≈«»…ŸÏ")


def _text_score(text: str) -> int:
    high = Counter(_NON_ASCII.findall(text))
    return sum(n for ch, n in high.items() if ch in _EXPECTED_CHARS) - sum(
        n for ch, n in high.items() if ch in _ODD_CHARS)


_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def sniff_delimiter(text: str) -> str:
    """The delimiter of a CSV text among ``;``, tab and ``,``.

    The one whose count per line is most often the same and non-zero over the
    first lines wins; ``;`` before tab before ``,`` on a tie, since German
    files write decimal commas inside ``;``-separated fields.
    """
    lines = [ln for ln in text.splitlines()[:200] if ln.strip()]
    best, best_score = ",", -1
    for delim in (";", "\t", ","):
        counts = [ln.count(delim) for ln in lines]
        nonzero = [c for c in counts if c]
        if not nonzero:
            continue
        mode = max(set(nonzero), key=nonzero.count)
        score = sum(1 for c in counts if c == mode) * (1 if mode else 0)
        if score > best_score:
            best, best_score = delim, score
    return best


#: Longest CSV cell read (characters); a longer one refuses the file.
MAX_CSV_CELL = 1 << 20


def _read_csv(path: Path, limits: Limits = DEFAULT_LIMITS) -> tuple[list[RawSheet], list[str]]:
    text, encoding = decode_text(path.read_bytes())
    delim = sniff_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
    rows, lines = [], []
    previous_end = 0
    limit = csv.field_size_limit()
    csv.field_size_limit(MAX_CSV_CELL)
    try:
        for record in reader:
            rows.append(list(record))
            lines.append(previous_end + 1)
            previous_end = reader.line_num
            if len(record) > limits.max_columns or len(rows) > limits.max_rows:
                _check_extent("of the CSV file", len(rows), len(record), limits, "holds at least")
    except csv.Error as exc:
        raise FileRejected(f"unreadable CSV at line {reader.line_num + 1} ({_short(exc)}; "
                           f"cells are read up to {MAX_CSV_CELL:,} characters)") from None
    finally:
        csv.field_size_limit(limit)
    # csv rows may be ragged; sheets are rectangular.
    width = max((len(r) for r in rows), default=0)
    rows = [r + [""] * (width - len(r)) for r in rows]
    name = {";": "semicolon", "\t": "tab", ",": "comma"}[delim]
    numbers = lines if lines != list(range(1, len(rows) + 1)) else None
    sheet = _without_empty_areas(RawSheet("", rows, line_numbers=numbers))
    return [sheet], [f"CSV, {encoding}, {name}-separated"]


def read_file(path: str | Path, max_bytes: int | None = None, limits: Limits = DEFAULT_LIMITS) -> RawFile:
    """Read a submitted file into raw sheets.

    Parameters
    ----------
    path : str or Path
    max_bytes : int, optional
        Larger files are refused unread.
    limits : Limits
        Largest sheet read (rows, columns, cells).

    Raises
    ------
    FileRejected
        With one sentence saying why the file cannot be read.
    """
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        raise FileRejected("the file is empty (0 bytes)")
    if max_bytes is not None and size > max_bytes:
        raise FileRejected(
            f"the file is {_megabytes(size)}, more than the limit of {_megabytes(max_bytes)} (--max-file-mb)"
        )
    with path.open("rb") as fh:
        head = fh.read(4096)
    kind = _sniff_kind(path, head)
    suffix = path.suffix.lower()
    notes: list[str] = []
    if kind == "ole":
        if _is_encrypted_ole(path):
            raise FileRejected("password-protected workbook: save it without a password and send it again")
        kind = "xls"
    expected = {".xlsx": "xlsx", ".xlsm": "xlsx", ".xls": "xls", ".ods": "ods", ".csv": "csv"}.get(suffix)
    if expected and expected != kind:
        notes.append(f"the file is {kind} although its name ends in {suffix}; read as {kind}")
    if kind == "csv":
        sheets, csv_notes = _read_csv(path, limits)
        return RawFile("csv", sheets, notes + csv_notes)
    marks = _check_zip(path, limits) if kind in ("xlsx", "ods") else {}
    sheets = _read_workbook(path, by_content=expected != kind, marks=marks if kind == "xlsx" else None)
    notes.extend(f"sheet {s.name!r} is hidden in the workbook; read all the same" for s in sheets if s.hidden)
    notes.extend(f"sheet {s.name!r}: {s.hidden_rows} hidden row{'s' if s.hidden_rows != 1 else ''} "
                 f"{'were' if s.hidden_rows != 1 else 'was'} read" for s in sheets if s.hidden_rows)
    return RawFile(kind, sheets, notes)


def is_dicom_candidate(path: str | Path) -> bool:
    """Whether ingest reads a file found by :func:`find_files` as DICOM (not as a survey file)."""
    return os.path.splitext(os.fspath(path))[1].lower() not in SUPPORTED_SUFFIXES


def find_files(paths: list[str | Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Files to ingest from files and folders (folders searched recursively).

    Returns ``(files, problems)``: the supported files, sorted, and for each
    path that is missing or a named file of an unsupported kind, the reason.
    Survey files are known by their suffix, DICOM files by theirs
    (:data:`DICOM_SUFFIXES`) or by their content (files named by their UID
    have no suffix or a number for one). Other files inside folders (images,
    notes) are passed over silently; Office lock files (``~$name.xlsx``) too.
    """
    found: set[Path] = set()
    problems: list[tuple[Path, str]] = []
    known = (*SUPPORTED_SUFFIXES, *DICOM_SUFFIXES)
    for p in map(Path, paths):
        if p.is_dir():
            for f in p.rglob("*"):
                if f.name.startswith("~$") or not f.is_file():
                    continue
                suffix = f.suffix.lower()
                if suffix in known or (suffix not in _NOT_DICOM and has_dicom_preamble(f)):
                    found.add(f)
        elif p.is_file():
            if p.suffix.lower() in known or has_dicom_preamble(p):
                found.add(p)
            else:
                problems.append((p, f"not a survey file (supported: {', '.join(SUPPORTED_SUFFIXES)}) "
                                    "nor a DICOM file"))
        else:
            problems.append((p, "no such file or folder"))
    return sorted(found), problems


# Suffixes of files that are never looked into for DICOM content inside folders.
_NOT_DICOM = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".pdf", ".txt", ".md", ".json",
                        ".yaml", ".yml", ".xml", ".html", ".zip", ".gz", ".7z", ".py", ".ipynb", ".docx", ".doc",
                        ".pptx", ".log", ".sqlite", ".db"})

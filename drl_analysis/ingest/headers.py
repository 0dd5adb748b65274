"""Finding the header row of a sheet and matching its columns by meaning.

Submitted sheets rename, translate, reorder and add columns, move the header
row, and write units in brackets, after "in", or on a second line. A header
cell is folded (case, accents, line breaks, punctuation), its unit taken out
and read with :func:`drl_analysis.core.units.unit_factor`, and the rest matched
against German and English names of the canonical columns.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

from ..core.units import FAMILY_OF_COLUMN, UnknownUnit, looks_like_unit, normalise_unit, unit_factor

# Column patterns, tried in this order on the folded header text (so that
# "CTDI-Phantom" is a phantom before it is a CTDI, and "Untersuchungsdatum"
# is nothing before it is an exam).
_PATTERNS: list[tuple[str, re.Pattern]] = [
    ("ignore", re.compile(
        r"datum|date|uhrzeit|time|bemerkung|kommentar|comment|note|hinweis|patient\s*id|pat\s*id|patienten\s*id|"
        r"geburt|birth|sex|geschlecht|"
        # a device's type, model or maker is no facility ID
        r"geraete?\s*(typ|modell|bezeichnung|name)|geraetetyp|device\s*(type|model|name)|\bmodell?\b|hersteller|"
        r"manufacturer|\bvendor\b")),
    ("ctdi_phantom_cm", re.compile(r"phantom|pruefkoerper|^kopf\s*/?\s*koerper$")),
    ("ctdivol_mgy", re.compile(r"\bctdi\s*vol\b|\bctdivol\b|\bctdi\b|\bctdi\s*w\b")),
    ("dlp_mgycm", re.compile(r"\bdlp\b|dosis\s*laengen\s*produkt|dosislaengenprodukt|dose\s*length\s*product")),
    (
        "dap_cgycm2",
        re.compile(
            r"\bdap\b|\bdfp\b|\bfdp\b|\bkap\b|\bpka\b|dosis\s*flaechen\s*produkt|flaechen\s*dosis\s*produkt|"
            r"dose\s*area\s*product|kerma\s*area\s*product|kerma\s*flaechen\s*produkt"
        ),
    ),
    ("agd_mgy", re.compile(r"\bagd\b|\bmgd\b|glandular|parenchymdosis|druesendosis")),
    ("weight_kg", re.compile(r"weight|gewicht|\bgew\b|\bwt\b")),
    ("age_years", re.compile(r"\b(age|alter)\b|patientenalter|lebensalter|\bpat\s*alter")),
    ("year", re.compile(r"^(survey\s*)?(year|jahr|erhebungsjahr|berichtsjahr)$")),
    ("exam_name", re.compile(r"(exam\w*|untersuchung\w*)\s*(name|bezeichnung|beschreibung)|^bezeichnung$|^description$")),
    ("exam_code", re.compile(r"exam|untersuchung|\bcode\b|\bukz\b")),
    # Weaker names of an exam-code column: taken only when no stronger one is
    # there, and only when the column's cells read as exam codes.
    ("exam_code", re.compile(r"procedure|prozedur|leistung|\bprotokoll|\bprotocol")),
    (
        "facility_id",
        re.compile(
            r"\bid\b|facility|einrichtung|betreiber|standort|kennung|praxis|klinik|institution|hospital|"
            r"krankenhaus|site"
        ),
    ),
    # A device or unit names the facility only where no column names it
    # better ("Gerät" often holds the device model, not an ID).
    ("facility_id", re.compile(r"device|geraet|anlage|station\s*name|stationsname|arbeitsplatz|\bae\s*title")),
]

#: Rank of a header match: the template's own header text, a name of the
#: column, a weaker name (``"Protokoll"`` for an exam code).
RANK_EXACT, RANK_NAME, RANK_WEAK = 0, 1, 2


_BRACKETS = re.compile(r"[\[(]([^\])]*)[\])]")
_IN_UNIT = re.compile(r"\b(?:in|unit|einheit)\s*:?\s+(.+)$")
_ALTERNATIVES = re.compile(r"\s*(?:\bbzw\b\.?|\boder\b|\bor\b|\bresp\b\.?|/|,|;)\s*")

#: Label cells above the header that name the data source or the year.
_SOURCE_LABEL = re.compile(
    r"^(data\s*source|datenquelle|quelle|(zahn)?aerztliche\s*stelle|meldende\s*stelle|zustaendige\s*stelle|"
    r"medical\s*body|source)\s*:?$")
_YEAR_LABEL = re.compile(r"^(year|jahr|erhebungsjahr|berichtsjahr|survey\s*year)\s*:?$")


def fold(text: object) -> str:
    """Fold a header or label cell: lower case, umlauts as ae/oe/ue, ß as ss,
    line breaks and punctuation as spaces."""
    t = str(text).replace("\u00df", "ss").lower()
    t = t.replace("ä", "ae").replace("ö", "oe").replace("ü", "ue")
    t = unicodedata.normalize("NFKD", t).encode("ascii", "ignore").decode()
    t = re.sub(r"[\s_\-.:*#]+", " ", t)
    return t.strip()


def _raw_unit_text(text: str) -> tuple[str, str]:
    """Split a header cell into (name part, unit part)."""
    t = str(text).replace("\n", " ").replace("\r", " ")
    units = _BRACKETS.findall(t)
    name = _BRACKETS.sub(" ", t)
    if not units:
        m = _IN_UNIT.search(name)
        if m:
            units = [m.group(1)]
            name = name[: m.start()]
    return name, " ".join(units)


def _trailing_unit(name: str, column: str) -> tuple[str, str]:
    """A unit written after the name without brackets (``"DFP dGy*cm2"``,
    ``"Gew. kg"``): ``(name, unit)``; the unit is empty where the last words
    are no unit of the column."""
    family = FAMILY_OF_COLUMN.get(column)
    words = name.split()
    if family is None or len(words) < 2:
        return name, ""
    for k in (1, 2):
        if len(words) <= k:
            break
        tail = " ".join(words[-k:])
        try:
            unit_factor(family, tail.rstrip("."))
        except UnknownUnit:
            continue
        return " ".join(words[:-k]), tail
    return name, ""


@dataclass
class ColumnMatch:
    """One header cell matched to a canonical column.

    ``rank`` says how sure the match is: :data:`RANK_EXACT` for the template's
    own header text, :data:`RANK_NAME` for a name of the column,
    :data:`RANK_WEAK` for a weaker name.
    """

    index: int
    header: str
    column: str
    unit_text: str = ""
    factor: float = 1.0
    unit_note: str | None = None
    rank: int = RANK_NAME
    #: The header gives a unit that cannot be read ("mGy x m"): the column's values
    #: are not read in any unit, their rows are rejected (see :func:`unit_is_unknown`).
    unit_unknown: bool = False


@dataclass
class HeaderMatch:
    """The header of a sheet: its row (0-based), matched and unknown columns.

    ``candidates`` holds, for each canonical column, every header cell that
    names it, the surest first; ``columns`` the one in use.
    """

    row: int
    columns: dict[str, ColumnMatch]
    unknown: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    candidates: dict[str, list[ColumnMatch]] = field(default_factory=dict)
    #: Columns that hold the unit of a dose column row by row ("Einheit DFP"):
    #: ``{dose column: column index}``.
    unit_columns: dict[str, int] = field(default_factory=dict)
    #: A dose given in one column per phantom ("CTDIvol Kopf 16 cm",
    #: "CTDIvol Körper 32 cm"): ``{dose column: {16: match, 32: match}}``.
    phantom_split: dict[str, dict[int, ColumnMatch]] = field(default_factory=dict)

    @property
    def score(self) -> int:
        return len(self.columns)

    def use(self, column: str, match: ColumnMatch | None) -> None:
        """Read ``column`` from ``match`` instead (None: the sheet has no such column)."""
        old = self.columns.get(column)
        if old is not None and old.header not in self.unknown:
            self.unknown.append(old.header)
        if match is None:
            self.columns.pop(column, None)
            return
        self.columns[column] = match
        if match.header in self.unknown:
            self.unknown.remove(match.header)


def match_column(text: object) -> tuple[str | None, str]:
    """The canonical column a header cell names, and its unit text.

    Returns ``(None, "")`` for cells that name no known column, and
    ``("ignore", ...)`` for columns that are known not to be exposure data
    (dates, comments, patient IDs).

    >>> match_column("DAP [cGy x cm² bzw. µGy x m²]")
    ('dap_cgycm2', 'cGy x cm² bzw. µGy x m²')
    >>> match_column("CTDI-Phantom")
    ('ctdi_phantom_cm', '')
    """
    if isinstance(text, str):
        return _match_text(text)
    return None, ""


@lru_cache(maxsize=50_000)
def _match_text(text: str) -> tuple[str | None, str]:
    column, unit, _ = _match_ranked(text)
    return column, unit


@lru_cache(maxsize=50_000)
@lru_cache(maxsize=50_000)
def _match_ranked(text: str) -> tuple[str | None, str, int]:
    """``(column, unit text, rank)`` for a header cell; once per distinct text."""
    if not text:
        return None, "", RANK_WEAK
    exact = _exact_headers().get(fold(text))
    if exact is not None:
        column, unit = exact
        return column, unit, RANK_EXACT
    name, unit = _raw_unit_text(text)
    folded = fold(name)
    if not folded or len(folded) > 80:
        return None, "", RANK_WEAK
    seen: set[str] = set()
    for column, pattern in _PATTERNS:
        if pattern.search(folded):
            if not unit.strip():
                name, unit = _trailing_unit(name, column)
            return column, unit.strip(), (RANK_WEAK if column in seen else RANK_NAME)
        seen.add(column)
    # A unit alone may say what a column holds ("Gy*cm²" with no name).
    return None, "", RANK_WEAK


@lru_cache(maxsize=1)
def _exact_headers() -> dict[str, tuple[str, str]]:
    """The survey template's header cells, folded: ``{text: (column, unit text)}``; those of
    its earlier versions too ("AGD [mSv]", "Age", "CTDI-Phantom"), so that old forms read
    as exactly as new ones."""
    from .template_layout import FORMER_TEMPLATE_HEADERS, TEMPLATE_COLUMNS, TEMPLATE_HEADER

    out = {}
    for header in (*FORMER_TEMPLATE_HEADERS, TEMPLATE_HEADER):
        for text, column in zip(header, TEMPLATE_COLUMNS):
            out[fold(text)] = (column, _raw_unit_text(text)[1].strip())
    return out


@lru_cache(maxsize=4096)
def read_header_unit(column: str, unit_text: str) -> tuple[float, str | None]:
    """Factor to canonical units for a header's unit text, and a note if unreadable.

    Alternatives such as ``"cGy x cm² bzw. µGy x m²"`` must agree.
    """
    family = FAMILY_OF_COLUMN.get(column)
    if family is None or not unit_text.strip():
        return 1.0, None
    factors = set()
    unreadable = []
    for part in _ALTERNATIVES.split(unit_text):
        if not part.strip():
            continue
        try:
            factors.add(unit_factor(family, part))
        except UnknownUnit:
            unreadable.append(part)
    if not factors:
        # Words that are no unit beside one that is ("vol mGy" from "CTDI(vol) [mGy"):
        # the unit is the one word that reads as a unit of the column.
        words = [w for w in re.split(r"[\s\[\]()]+", unit_text) if w]
        readable = {}
        for w in words:
            try:
                readable[w] = unit_factor(family, w)
            except UnknownUnit:
                pass
        rest = [w for w in words if w not in readable]
        if len(set(readable.values())) == 1 and not any(looks_like_unit(w) for w in rest):
            return next(iter(readable.values())), None
    if len(factors) == 1:
        return factors.pop(), None
    if len(factors) > 1:
        return 1.0, f"the header gives units that disagree ({unit_text!r}); values read as canonical"
    if normalise_unit(unit_text) in ("", "-"):
        return 1.0, None
    return 1.0, f"unknown unit {unit_text!r} in the header; values read in the canonical unit"


def unit_is_unknown(note: str | None, unit_text: str) -> bool:
    """Whether a header's unit that :func:`read_header_unit` could not read names a unit
    all the same ("mGy x m", "Gy / cGy"): then no unit can be assumed for the column's
    values. Text that names no unit ("Summe") leaves the column in its canonical unit."""
    return note is not None and looks_like_unit(unit_text)


def find_header(rows: list[list], max_scan: int = 60, *, need_exam: bool = True) -> HeaderMatch | None:
    """The header row of a sheet holding exposure data, or None.

    A header must name the exam code (unless ``need_exam`` is False) and at
    least one dose quantity; among the first ``max_scan`` rows the one naming
    the most canonical columns wins.
    """
    best: HeaderMatch | None = None
    for r, row in enumerate(rows[:max_scan]):
        if sum(1 for v in row if v.__class__ is float) >= 2:
            continue  # two numbers or more: a row of data, no header (a header names its columns)
        hm = header_from_row(r, row, need_exam=need_exam)
        if hm is None:
            continue
        if best is None or hm.score > best.score:
            best = hm
    return best


def header_from_row(r: int, row: list, *, need_exam: bool = True) -> HeaderMatch | None:
    """Read row ``r`` as a header; None unless it names an exam code and a dose.

    With ``need_exam=False`` a row naming a dose and a facility ID will do
    (a sheet per exam, the exam given by the sheet's name). Where several
    cells name one column, the surest name wins (the template's own text
    before a name before a weaker name, then the leftmost); the others stay
    candidates, for a check of the cells below.
    """
    if sum(1 for cell in row if isinstance(cell, str) and cell) < 2:
        return None  # a header names at least a dose and an exam code or facility ID
    candidates: dict[str, list[ColumnMatch]] = {}
    unknown: list[str] = []
    notes: list[str] = []
    unit_cells: list[tuple[int, str]] = []
    for c, cell in enumerate(row):
        if not isinstance(cell, str):
            continue
        if _is_unit_column(cell):
            unit_cells.append((c, cell.strip()))
            continue
        column, unit, rank = _match_ranked(cell) if cell else (None, "", RANK_WEAK)
        if column is None or column == "ignore":
            if cell.strip():
                unknown.append(cell.strip())
            continue
        factor, note = read_header_unit(column, unit)
        candidates.setdefault(column, []).append(ColumnMatch(c, cell.strip(), column, unit, factor, note, rank,
                                                             unit_is_unknown(note, unit)))
    if "exam_code" not in candidates and "exam_name" in candidates:
        candidates["exam_code"] = [ColumnMatch(m.index, m.header, "exam_code", rank=m.rank)
                                   for m in candidates.pop("exam_name")]
    columns: dict[str, ColumnMatch] = {}
    for column, found in candidates.items():
        found.sort(key=lambda m: (m.rank, m.index))
        columns[column] = found[0]
        unknown.extend(m.header for m in found[1:])
        if found[0].unit_unknown:
            notes.append(f"column {found[0].header!r}: unit {found[0].unit_text!r} cannot be read; its values are "
                         "not read, their rows are rejected")
        elif found[0].unit_note:
            notes.append(f"column {found[0].header!r}: {found[0].unit_note}")
    if not DOSE_COLUMNS & set(columns):
        return None
    if "exam_code" not in columns and (need_exam or "facility_id" not in columns):
        return None
    header = HeaderMatch(r, columns, unknown, notes, candidates)
    _attach_unit_columns(header, unit_cells)
    _find_phantom_split(header)
    return header


def _attach_unit_columns(header: HeaderMatch, unit_cells: list[tuple[int, str]]) -> None:
    """Columns that give a dose's unit row by row ("Einheit DFP"; "Einheit" alone:
    the nearest dose column to its left)."""
    for c, text in unit_cells:
        named = _match_ranked(_UNIT_COLUMN.sub(" ", fold(text)).strip())[0]
        if named not in DOSE_COLUMNS:
            left = [m for m in header.columns.values() if m.column in DOSE_COLUMNS and m.index < c]
            named = max(left, key=lambda m: m.index).column if left else None
        if named in header.columns and named not in header.unit_columns:
            header.unit_columns[named] = c
            header.notes.append(f"column {text!r} gives the unit of {named} row by row")
        else:
            header.unknown.append(text)


def _find_phantom_split(header: HeaderMatch) -> None:
    """A CT dose given in one column per phantom ("CTDIvol Kopf 16 cm", "CTDIvol Körper 32 cm")."""
    for column in ("ctdivol_mgy", "dlp_mgycm"):
        split = {}
        for m in header.candidates.get(column, []):
            sizes = [size for size, pattern in _PHANTOM_IN_HEADER.items() if pattern.search(fold(m.header))]
            if len(sizes) == 1 and sizes[0] not in split:
                split[sizes[0]] = m
        if len(split) == 2:
            header.phantom_split[column] = split
            for m in split.values():
                if m.header in header.unknown:
                    header.unknown.remove(m.header)
            header.notes.append(f"{column} given in one column per phantom "
                                f"({split[16].header!r}, {split[32].header!r})")


@lru_cache(maxsize=50_000)
def _is_unit_column(text: str) -> bool:
    return bool(_UNIT_COLUMN.search(fold(text)))


#: A header cell of a column that holds units ("Einheit DFP", "Unit").
_UNIT_COLUMN = re.compile(r"^(mass)?einheit(en)?\b|^units?\b|\b(mass)?einheit$|\bunit$")
#: A phantom named in a dose column's header.
_PHANTOM_IN_HEADER = {
    16: re.compile(r"kopf|head|schaedel|\b16\s*(cm)?\b"),
    32: re.compile(r"koerper|body|rumpf|\b32\s*(cm)?\b"),
}


DOSE_COLUMNS = frozenset({"dap_cgycm2", "agd_mgy", "dlp_mgycm", "ctdivol_mgy"})


#: A digit that is no exponent of a unit ("cm2", "m^2"): the cell holds a number.
_HOLDS_NUMBER = re.compile(r"\d(?<![a-zA-Z]\d)(?<!\^\d)|\d\d")


def read_unit_row(rows: list[list], header: HeaderMatch) -> bool:
    """Take units from a row right under the header, as some submissions write them.

    The row counts as a units row when it holds no number, no exam code, and
    at least one cell that reads as a unit of its column (``"Gy·cm²"`` under
    DAP). Its units replace those of the header (a note says so). Returns
    True when the row was one, so that data start a row later.
    """
    r = header.row + 1
    if r >= len(rows):
        return False
    row = rows[r]
    if any(isinstance(v, (int, float)) and not isinstance(v, bool) for v in row):
        return False
    # Cells that continue the names of the header ("Einrichtung" over "ID",
    # "Untersuchung" over "Code") belong to a header of two rows as well.
    for column in ("exam_code", "facility_id"):
        m = header.columns.get(column)
        if m is None or m.index >= len(row) or not str(row[m.index]).strip():
            continue
        cell = row[m.index]
        if not isinstance(cell, str) or match_column(cell)[0] not in (column, "exam_name"):
            return False
    found, unknown = {}, {}
    for column, m in header.columns.items():
        cell = row[m.index] if m.index < len(row) else ""
        if not isinstance(cell, str) or not cell.strip() or column in ("exam_code", "facility_id"):
            continue
        if FAMILY_OF_COLUMN.get(column) is None:
            return False
        text = cell.strip()
        if _HOLDS_NUMBER.search(text):
            return False  # "22,9 cGy·cm²", "54 J.": a row of data that gives units in its cells
        factor, note = read_header_unit(column, text.strip("[]()"))
        if note is None:
            found[column] = (text, factor)
        elif looks_like_unit(text):
            unknown[column] = text  # a unit, but none of this column's: its values cannot be read
        else:
            return False
    if not found:
        return False
    for column, (text, factor) in found.items():
        m = header.columns[column]
        m.unit_text, m.factor, m.unit_note, m.unit_unknown = text, factor, None, False
    for column, text in unknown.items():
        m = header.columns[column]
        m.unit_text, m.factor, m.unit_unknown = text, 1.0, True
        m.unit_note = f"unknown unit {text!r} under the header"
        header.notes.append(f"column {m.header!r}: unknown unit {text!r} in row {r + 1}; its values are not read")
    header.notes.append(f"units read from row {r + 1}, under the header")
    return True


def _year(value: object) -> int | None:
    """The survey year a label's value gives: ``2023``, ``"2023"``, ``"Jahr 2023"``,
    a date (its year: a year's first or last day names the year)."""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.year if 1990 <= value.year <= 2100 else None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        y = int(value)
        return y if 1990 <= y <= 2100 and y == value else None
    found = set(_FILE_YEAR.findall(str(value)))
    return int(found.pop()) if len(found) == 1 else None


def find_labels(rows: list[list], stop: int) -> tuple[str | None, int | None]:
    """Data source and year written in label cells above row ``stop``.

    The template puts "Data source" in row 5 and "Year" in row 7 with the
    value in column C; submissions move them, so any label cell with a value
    to its right counts.
    """
    source = year = None
    for row in rows[:stop]:
        for c, cell in enumerate(row):
            if not isinstance(cell, str) or not cell.strip():
                continue
            label = fold(cell)
            is_source = bool(_SOURCE_LABEL.match(label))
            is_year = bool(_YEAR_LABEL.match(label))
            if not (is_source or is_year):
                continue
            value = next((v for v in row[c + 1 :] if v not in ("", None)), None)
            if value is None:
                continue
            if is_source and source is None:
                source = str(value).strip()
            elif is_year and year is None:
                year = _year(value)
    return source, year


_FILE_YEAR = re.compile(r"(?<!\d)((?:19|20)\d\d)(?!\d)")
#: A date in a file name: 2025-01-15, 2025_01_15, 20250115, 15.01.2025.
_DATE_IN_NAME = re.compile(
    r"(?<!\d)(?:(?:19|20)\d\d[-_.]?(?:0[1-9]|1[0-2])[-_.]?(?:0[1-9]|[12]\d|3[01])"
    r"|(?:0?[1-9]|[12]\d|3[01])[-_.](?:0?[1-9]|1[0-2])[-_.](?:19|20)\d\d)(?!\d)")


def labels_from_name(stem: str) -> tuple[str | None, int | None]:
    """Data source and year from a file or sheet name such as ``Aerztliche_Stelle_Nord_2023``.

    The year is a 4-digit 19xx/20xx number; the data source is the rest,
    read only when the name holds a year too (``survey.xlsx`` names no source).
    """
    # A date in the name is when the file was made ("Export_2025-01-15"), not the survey year.
    stem = _DATE_IN_NAME.sub(" ", stem)
    years = set(_FILE_YEAR.findall(stem))
    if len(years) != 1:
        return None, None  # no year, or several ("2023_2024"): the name says no one year
    m = _FILE_YEAR.search(stem)
    year = int(m.group(1))
    # Numbers after the year count parts ("_001", "Teil 2"); before it they
    # belong to the name ("Aerztliche Stelle 01").
    after = re.sub(r"\b(part|teil)?\s*\d{1,3}\b", " ", stem[m.end() :].replace("_", " "), flags=re.I)
    # So do versions and copies ("_c", "_b", "_korr", "_neu", "(1)").
    after = re.sub(r"\b([a-z]|rev\d*|korr|korrigiert|corrected|neu|new|kopie|copy|alt|old)\b", " ", after, flags=re.I)
    rest = stem[: m.start()].replace("_", " ") + " " + after
    rest = re.sub(r"\b(drl|survey|erhebung|daten|data|export|final|v\d+)\b", " ", rest, flags=re.I)
    rest = re.sub(r"\(\s*\)|\[\s*\]", " ", rest)  # brackets emptied above ("(1)")
    rest = re.sub(r"[\s\-.]+", " ", rest).strip()
    return (rest or None), year


def year_of_sheet_name(name: str) -> int | None:
    """The year a sheet name gives, e.g. "2023" or "Daten 2023"."""
    m = _FILE_YEAR.search(name)
    return int(m.group(1)) if m else None

"""Damaged survey submissions with ground truth.

A submission is drawn from a :class:`FileSpec` (a seed, a set of damage kinds,
a file format and a damage level). The seed drives ``numpy.random.default_rng``,
which draws the clean exposures (canonical units) and every random choice of
the damage; the kinds switch the damage on. :func:`file_specs` is the
hypothesis strategy that combines kinds at random; :func:`draw_specs` draws a
fixed, reproducible list of specs from it; :func:`generate_batch` writes the
files into a folder and returns the truth.

Truth
-----
``Batch.truth`` has one row per exposure written: ``source_file, sheet,
source_row`` (1-based, as Excel shows it; the line number for CSV; sheet ""
for CSV), ``data_source, year``, the canonical columns :data:`CANONICAL`,
``kinds`` (the damage kinds applied to the row's file, with its format as
``format:<fmt>``), and for failure reports ``cells`` (what was written in each
canonical column) and ``headers`` (the header text of each canonical column).
``Batch.non_exposure`` lists the rows written that must not be stored (header,
unit, repeated-header, empty, total/mean and note rows) with ``what`` and
``text``. A row of a sheet that is in neither (title, labels, the "IDs" and
"Examination codes" sheets) must not be stored either.

Damage kinds
------------
See :data:`KINDS`; each has a docstring-like entry in :data:`KIND_NOTES`.
Level 1 combines up to three kinds at base rates; level ``L`` multiplies the
per-cell rates and counts by ``L`` (capped) and combines more kinds.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import math
import re
import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

CATALOGUE_CSV = Path(__file__).resolve().parents[2] / "drl_analysis" / "data" / "exam_catalogue.csv"

KEY = ["source_file", "sheet", "source_row"]
NUMERIC = ["dap_cgycm2", "agd_mgy", "dlp_mgycm", "ctdivol_mgy", "ctdi_phantom_cm", "weight_kg", "age_years"]
CANONICAL = ["facility_id", "exam_code", *NUMERIC]
TRUTH_COLUMNS = [*KEY, "data_source", "year", *CANONICAL, "kinds", "cells", "headers"]

TITLE = "Intervention or diagnostic examination using x-rays"
TEMPLATE_HEADER = {
    "facility_id": "ID of the facility or device",
    "exam_code": "Examination code",
    "dap_cgycm2": "DAP [cGy x cm² bzw. µGy x m²]",
    "agd_mgy": "AGD [mSv]",
    "dlp_mgycm": "DLP [mGy x cm]",
    "ctdivol_mgy": "CTDIvol [mGy]",
    "ctdi_phantom_cm": "CTDI-Phantom",
    "weight_kg": "Patient weight [kg]",
    "age_years": "Age",
}
#: The template's names without their units (the first row of a two-row header).
TEMPLATE_NAMES = {
    "facility_id": "ID of the facility or device",
    "exam_code": "Examination code",
    "dap_cgycm2": "DAP",
    "agd_mgy": "AGD",
    "dlp_mgycm": "DLP",
    "ctdivol_mgy": "CTDIvol",
    "ctdi_phantom_cm": "CTDI-Phantom",
    "weight_kg": "Patient weight",
    "age_years": "Age",
}
#: Other names a submitter gives the columns (German and English).
OTHER_NAMES = {
    "facility_id": ["Einrichtung", "Einrichtungs-ID", "ID Einrichtung", "Facility ID", "Betreiber/Gerät",
                    "ID der Einrichtung bzw. des Gerätes", "Standort", "Facility"],
    "exam_code": ["Untersuchungscode", "Untersuchung", "Code", "Exam code", "Untersuchungsart",
                  "Code der Untersuchung", "Examination"],
    "dap_cgycm2": ["DFP", "KAP", "Dosisflächenprodukt", "Flächendosisprodukt", "Dose area product", "DAP"],
    "agd_mgy": ["AGD", "Mittlere Parenchymdosis", "Parenchymdosis", "Average glandular dose", "MGD"],
    "dlp_mgycm": ["DLP", "Dosislängenprodukt", "Dose length product"],
    "ctdivol_mgy": ["CTDIvol", "CTDI vol", "CTDI(vol)", "CTDI_vol"],
    "ctdi_phantom_cm": ["Phantom", "CTDI-Phantom", "Phantomgröße", "Phantomdurchmesser", "CTDI phantom"],
    "weight_kg": ["Gewicht", "Körpergewicht", "Patientengewicht", "Weight", "Patient weight"],
    "age_years": ["Alter", "Patientenalter", "Alter des Patienten", "Age"],
}
#: Unit texts per column; for DAP per unit with the factor to cGy·cm².
DAP_UNITS = {
    "cGy·cm²": (1.0, ["cGy·cm²", "cGy x cm²", "cGy*cm²", "cGy cm^2", "cGycm²"]),
    "µGy·m²": (1.0, ["µGy·m²", "µGy x m²", "μGy*m²", "uGy*m2"]),
    "Gy·cm²": (100.0, ["Gy·cm²", "Gy x cm²", "Gy*cm2", "Gycm²"]),
    "dGy·cm²": (10.0, ["dGy·cm²", "dGy x cm²", "dGy*cm2"]),
    "mGy·cm²": (0.1, ["mGy·cm²", "mGy x cm²", "mGy*cm2"]),
}
OTHER_UNITS = {
    "agd_mgy": ["mGy"],
    "dlp_mgycm": ["mGy·cm", "mGy x cm", "mGy*cm", "mGycm"],
    "ctdivol_mgy": ["mGy"],
    "ctdi_phantom_cm": ["cm"],
    "weight_kg": ["kg"],
    "age_years": ["Jahre", "years", "J."],
}
#: Units written inside cells (``"12,5 mGy"``), per column, with the separator choices.
CELL_UNITS = {
    "agd_mgy": ["mGy"],
    "dlp_mgycm": ["mGy·cm", "mGy*cm"],
    "ctdivol_mgy": ["mGy"],
    "weight_kg": ["kg"],
    "age_years": ["J.", "Jahre", "J"],
}
MISSING_MARKERS = ["k.A.", "k. A.", "K.A", "n. a.", "-", "/", "n.a.", "?"]
PHANTOM_WORDS = {16: ["Kopf", "head", "16 cm", "16cm", "Head", "Kopfphantom"],
                 32: ["Körper", "body", "32 cm", "32cm", "Body", "Körperphantom"]}
EXTRA_COLUMNS = {
    "Bemerkung": [None, None, None, "s. Protokoll", "Notfall", "wiederholt", "mit KM", "ok"],
    "Protokoll": ["s. Protokoll", "120", "Routine", "Low Dose", "nativ", "Spirale", "Standard"],
    "Untersuchungsdatum": ["<date>"],
    "Gerät": ["Somatom Force", "Revolution CT", "DigitalDiagnost", "Allura Xper", "Selenia Dimensions"],
    "Geschlecht": ["m", "w", "w", "m", "d"],
    "kV": [80, 100, 120, 120, 140],
}
RUNNING_NUMBER_NAMES = ["Lfd. Nr.", "Nr.", "lfd. Nr", "Nr", "#"]
SUMMARY_LABELS = ["Summe", "Mittelwert", "Mittelwert:", "Gesamt", "Total", "Mean", "Median", "Durchschnitt"]
COUNT_LABELS = ["n = {n}", "Anzahl: {n}", "Anzahl Untersuchungen: {n}"]
NOTE_LABELS = ["Bemerkung: Dosiswerte aus dem Dosismanagementsystem exportiert", "Hinweis: Gewicht teils geschätzt",
               "* CTDIvol laut Dosisprotokoll", "Quelle: RIS-Export", "Erstellt am 12.01.2024 von MTRA Schulz",
               "Anmerkung: Werte ohne Gewähr"]
DATA_SOURCES = ["Landesstelle Alpha", "Aerztliche Stelle Nordmark", "Qualitaetssicherung Rheinland",
                "Strahlenschutzstelle Hanse", "Pruefstelle Suedwest"]
YEARS = [2021, 2022, 2023, 2024]
FORMATS = ["xlsx", "csv_de", "csv_en", "csv_de_cp1252", "csv_en_cp1252", "ods", "xls"]
#: Formats as hypothesis draws them (xlsx the most frequent, as in real submissions).
FORMAT_CHOICES = ["xlsx", "xlsx", "xlsx", "csv_de", "xlsx", "csv_en", "csv_de_cp1252", "xls", "ods",
                  "csv_en_cp1252", "xlsx"]
PLAUSIBLE = {"dap_cgycm2": (0.01, 200000.0), "agd_mgy": (0.05, 30.0), "dlp_mgycm": (1.0, 30000.0),
             "ctdivol_mgy": (0.05, 500.0)}

KIND_NOTES = {
    "header_translated": "columns renamed or translated (Einrichtung, DFP, Gewicht in kg, ...), units in [], () or after 'in'",
    "columns_reordered": "columns in another order",
    "extra_columns": "free-text columns (Bemerkung, Protokoll, Untersuchungsdatum, Gerät, ...) anywhere",
    "header_row_moved": "the header in another row than 11",
    "two_row_header": "column names in one row, their units in the row below",
    "dap_unit": "DAP in Gy·cm², dGy·cm², mGy·cm² or µGy·m² (header says so; values scaled)",
    "numbers_as_text_de": "numbers typed as text in German notation (12,5)",
    "numbers_as_text_en": "numbers typed as text in English notation (12.5)",
    "thousands_separators": "numbers >= 1000 with thousands separators (1.234,5 / 1 234,5 / 1\u00a0234,5 / "
                            "1,234.5); all numbers text",
    "units_in_cells": "numbers with their unit in the cell (12,5 mGy, 75kg, 45 J.)",
    "missing_markers": "k.A., n. a., -, /, ? ... where a value is missing (any column, incl. phantom of radiography)",
    "phantom_words": "phantom as Kopf, Körper, head, body, 32 cm, 16cm",
    "exam_code_text": "exam code with words: '1010 Cranium', 'Code 1010', '1010 - Hirnschädel'",
    "exam_name_only": "exam given only by its German or English name",
    "facility_once_per_block": "rows grouped by facility, the ID only on the first row of each block",
    "merged_facility_cells": "facility ID in merged cells over its block (xlsx/xls)",
    "facility_id_float": "numeric facility IDs written as 12.0 / 12,0 (text or float)",
    "running_number": "a running-number column first (Lfd. Nr., Nr.)",
    "whitespace_in_ids": "spaces, non-breaking and zero-width spaces around IDs and codes",
    "summary_rows": "totals, means, counts and notes under the data",
    "empty_rows_inside": "empty rows between data rows",
    "repeated_header": "the header row repeated inside the data",
    "continuation_sheets": "data split over several sheets",
    "sheet_per_exam": "one sheet per exam (code or name in the sheet name), no exam-code column",
    "meta_in_filename_only": "no Data source / Year cells; only the file name names them",
    "filename_without_meta": "the file name names neither data source nor year; only the cells do",
}
KINDS = tuple(KIND_NOTES)

_NUMBER_ROLES = set(NUMERIC)
_XLS_SHEET_BAD = re.compile(r"[\[\]:*?/\\]")


# --------------------------------------------------------------------------- catalogue


@dataclass(frozen=True)
class Exam:
    code: str
    name: str
    modality: str
    quantity: str
    phantom: float  # reference phantom (cm) of CT exams, NaN else
    typical: float  # a typical value of ``quantity`` (the DRL where the catalogue has one)
    names: tuple[str, ...]  # names that identify the exam unambiguously (English first)


def _fold(text: str) -> str:
    return " ".join(str(text).casefold().split())


@lru_cache(maxsize=1)
def catalogue() -> dict[str, Exam]:
    """The exam catalogue, one entry per code (plain CSV read)."""
    cat = pd.read_csv(CATALOGUE_CSV, dtype={"exam_code": str})
    typical_default = {"ctdivol_mgy": 12.0, "dap_cgycm2": 100.0, "agd_mgy": 2.0}
    owners: dict[str, set[str]] = {}
    for row in cat.itertuples():
        for name in [row.exam_name, *str(row.aliases if isinstance(row.aliases, str) else "").split(";")]:
            if name and name.strip():
                owners.setdefault(_fold(name), set()).add(row.exam_code)
    exams = {}
    for code, group in cat.groupby("exam_code", sort=True):
        row = group.iloc[0]
        drl = group["drl_value"].max()
        names = [row.exam_name, *(str(row.aliases).split(";") if isinstance(row.aliases, str) else [])]
        unique = tuple(
            dict.fromkeys(n.strip() for n in names
                          if n.strip() and owners[_fold(n)] == {code} and not re.search(r"\d{4}", n))
        )
        exams[code] = Exam(
            code=code, name=row.exam_name, modality=row.modality, quantity=row.quantity,
            phantom=float(row.ctdi_phantom_cm) if row.modality == "CT" else math.nan,
            typical=float(drl) if pd.notna(drl) else typical_default[row.quantity],
            names=unique,
        )
    return exams


# --------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class FileSpec:
    """One submission: a seed for every random draw, the damage kinds, the format, the level."""

    seed: int
    kinds: frozenset = frozenset()
    fmt: str = "xlsx"
    level: int = 1


def file_specs(level: int = 1, kinds: frozenset | None = None, fmt: str | None = None):
    """Hypothesis strategy of :class:`FileSpec`: kinds combined at random.

    Level 1 combines 0-3 kinds; level ``L`` > 1 combines ``L`` to ``3 L`` kinds.
    ``kinds`` or ``fmt`` fix the kinds or the format instead.
    """
    from hypothesis import strategies as st

    lo, hi = (0, 3) if level <= 1 else (level, 3 * level)
    return st.builds(
        FileSpec,
        seed=st.integers(0, 2**32 - 1),
        kinds=(st.just(frozenset(kinds)) if kinds is not None
               else st.frozensets(st.sampled_from(KINDS), min_size=lo, max_size=min(hi, len(KINDS)))),
        fmt=st.just(fmt) if fmt else st.sampled_from(FORMAT_CHOICES),
        level=st.just(level),
    )


def draw_specs(n: int, level: int = 1, kinds: frozenset | None = None, fmt: str | None = None) -> list[FileSpec]:
    """``n`` distinct specs drawn by hypothesis, the same on every run (derandomized)."""
    from hypothesis import HealthCheck, Phase, given, settings

    specs: list[FileSpec] = []

    @settings(max_examples=n + n // 4 + 5, derandomize=True, deadline=None, database=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(spec=file_specs(level, kinds, fmt))
    def collect(spec):
        specs.append(spec)

    collect()
    return list(dict.fromkeys(specs))[:n]


# --------------------------------------------------------------------------- numbers


def number_text(value: float, notation: str, thousands: str | None = None) -> str:
    """``value`` as typed: shortest digits, ``notation`` "de" (12,5) or "en" (12.5);
    ``thousands`` a separator for values >= 1000 ("." "," " ")."""
    s = np.format_float_positional(float(value), trim="-")
    sign = "-" if s.startswith("-") else ""
    s = s.lstrip("-")
    whole, _, frac = s.partition(".")
    if thousands and len(whole) > 3:
        groups = []
        while len(whole) > 3:
            groups.insert(0, whole[-3:])
            whole = whole[:-3]
        whole = thousands.join([whole, *groups])
    dec = "," if notation == "de" else "."
    return sign + whole + (dec + frac if frac else "")


def _scaled(value: float, factor: float) -> float:
    """``value`` in canonical units as written in a unit ``factor`` times smaller."""
    return float(f"{value / factor:.12g}")


def _round(value: float, column: str) -> float:
    if column in ("dap_cgycm2", "dlp_mgycm"):
        digits = 2 if value < 10 else 1 if value < 10000 else 0
    else:
        digits = 2 if value < 10 else 1
    return round(float(value), digits)


# --------------------------------------------------------------------------- clean truth


def _facility_pool(rng: np.random.Generator, k: int, numeric_first: bool = False) -> list:
    makers = [
        lambda: int(rng.integers(1, 400)),
        lambda: f"KH-{int(rng.integers(1, 30)):02d}",
        lambda: f"Praxis Dr. Weiß {int(rng.integers(1, 9))}",
        lambda: f"RAD {int(rng.integers(1, 20))}",
        lambda: f"MVZ Süd CT{int(rng.integers(1, 4))}",
        lambda: f"Klinikum Ost Haus {'ABCD'[int(rng.integers(0, 4))]}",
        lambda: f"G{int(rng.integers(100, 999))}",
    ]
    out: list = [makers[0]()] if numeric_first else []
    while len(out) < k:
        f = makers[int(rng.integers(0, len(makers)))]()
        if f not in out:
            out.append(f)
    return out


def draw_exposures(rng: np.random.Generator, n: int, n_facilities: int, numeric_id: bool = False) -> pd.DataFrame:
    """``n`` clean exposures in canonical units (facility IDs as written: int or str;
    ``numeric_id``: the first facility has a numeric ID)."""
    exams = catalogue()
    by_modality: dict[str, list[str]] = {}
    for code, e in exams.items():
        by_modality.setdefault(e.modality, []).append(code)
    facilities = _facility_pool(rng, n_facilities, numeric_id)
    offered = {}
    for f in facilities:
        modalities = list(rng.choice(["CT", "radiography", "interventional", "mammography"],
                                     size=int(rng.integers(1, 3)), replace=False, p=[0.4, 0.35, 0.15, 0.1]))
        codes = [c for m in modalities for c in by_modality[m]]
        offered[f] = list(rng.choice(codes, size=min(len(codes), int(rng.integers(1, 5))), replace=False))
    rows = []
    for _ in range(n):
        f = facilities[int(rng.integers(0, len(facilities)))]
        code = str(offered[f][int(rng.integers(0, len(offered[f])))])
        e = exams[code]
        r = dict.fromkeys(NUMERIC, math.nan)
        if e.quantity == "ctdivol_mgy":
            r["ctdivol_mgy"] = rng.lognormal(math.log(0.75 * e.typical), 0.35)
            phantom = e.phantom if rng.random() < 0.9 else (48.0 - e.phantom)
            r["ctdi_phantom_cm"] = phantom
            if rng.random() < 0.9:
                length = rng.lognormal(math.log(15.0 if e.phantom == 16 else 35.0), 0.25)
                r["dlp_mgycm"] = r["ctdivol_mgy"] * length
        elif e.quantity == "dap_cgycm2":
            r["dap_cgycm2"] = rng.lognormal(math.log(0.7 * e.typical), 0.6)
        else:
            r["agd_mgy"] = rng.lognormal(math.log(0.8 * e.typical), 0.3)
        for c, (lo, hi) in PLAUSIBLE.items():
            if not math.isnan(r[c]):
                r[c] = _round(min(max(r[c], lo), hi), c)
        if rng.random() > 0.15:
            w = float(np.clip(rng.normal(78, 17), 40, 130))
            r["weight_kg"] = round(w, 1) if rng.random() < 0.2 else float(round(w))
        if rng.random() > 0.1:
            r["age_years"] = float(int(rng.integers(18, 96)))
        rows.append({"facility": f, "facility_id": str(f), "exam_code": code, **r})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- layout


@dataclass
class Col:
    role: str  # a canonical column, "runno" or "extra"
    name: str  # names-row text (single-row header: with its unit)
    unit: str = ""  # the unit-row text of a two-row header
    factor: float = 1.0  # canonical = written x factor
    extra: str = ""  # the extra column's kind (a key of EXTRA_COLUMNS)
    cell_unit: str = ""  # unit written inside cells under units_in_cells


@dataclass
class SheetOut:
    name: str
    grid: list[list] = field(default_factory=list)
    merges: list[tuple[int, int, int, int]] = field(default_factory=list)  # r1, c1, r2, c2 (1-based)
    truth: list[dict] = field(default_factory=list)
    junk: list[dict] = field(default_factory=list)

    def put(self, row: int, col: int, value) -> None:
        while len(self.grid) < row:
            self.grid.append([])
        line = self.grid[row - 1]
        while len(line) < col:
            line.append(None)
        line[col - 1] = value


@dataclass
class Batch:
    """Generated files and their truth."""

    folder: Path
    truth: pd.DataFrame
    non_exposure: pd.DataFrame
    files: list[dict]


class _Builder:
    """Builds one submission from a spec."""

    def __init__(self, spec: FileSpec, source_file_prefix: str = ""):
        self.spec = spec
        # The kinds and the format take part in the seed: specs that share a
        # seed (hypothesis reuses values) still get different exposures.
        mix = zlib.crc32(",".join(sorted(spec.kinds) + [spec.fmt]).encode())
        self.rng = np.random.default_rng([spec.seed, mix, int(spec.level)])
        self.level = max(1, int(spec.level))
        self.csv = spec.fmt.startswith("csv")
        self.kinds = self._effective_kinds(set(spec.kinds))
        self.prefix = source_file_prefix

    # ---- choices

    def rate(self, base: float) -> float:
        return min(1.0, base * self.level)

    def count(self, lo: int, hi: int) -> int:
        return int(self.rng.integers(lo * self.level, hi * self.level + 1))

    def pick(self, items):
        return items[int(self.rng.integers(0, len(items)))]

    def _effective_kinds(self, kinds: set) -> set:
        fmt = self.spec.fmt
        if self.csv:
            kinds -= {"continuation_sheets", "sheet_per_exam", "numbers_as_text_de", "numbers_as_text_en"}
            if "merged_facility_cells" in kinds:
                kinds = (kinds - {"merged_facility_cells"}) | {"facility_once_per_block"}
        if fmt == "ods" and "merged_facility_cells" in kinds:
            kinds = (kinds - {"merged_facility_cells"}) | {"facility_once_per_block"}
        if {"continuation_sheets", "sheet_per_exam"} <= kinds:
            kinds.discard(self.pick(["continuation_sheets", "sheet_per_exam"]))
        if {"meta_in_filename_only", "filename_without_meta"} <= kinds:
            kinds.discard(self.pick(["meta_in_filename_only", "filename_without_meta"]))
        if {"numbers_as_text_de", "numbers_as_text_en"} <= kinds:
            kinds.discard(self.pick(["numbers_as_text_de", "numbers_as_text_en"]))
        if "sheet_per_exam" in kinds:
            kinds -= {"exam_code_text", "exam_name_only"}  # there is no exam column
        return kinds

    # ---- the file

    def build(self, index: int) -> dict:
        k, rng = self.kinds, self.rng
        self.source = self.pick(DATA_SOURCES)
        self.year = int(self.pick(YEARS))
        n = int(rng.integers(12, 41))
        self.ex = draw_exposures(rng, n, int(rng.integers(1, 6)), numeric_id="facility_id_float" in k)
        if k & {"facility_once_per_block", "merged_facility_cells"}:
            self.ex = self.ex.sort_values("facility_id", kind="stable").reset_index(drop=True)
        if self.csv:
            self.notation = "de" if "_de" in self.spec.fmt else "en"
        elif "numbers_as_text_en" in k:
            self.notation = "en"
        elif "numbers_as_text_de" in k:
            self.notation = "de"
        else:
            self.notation = self.pick(["de", "en"])
        self.text_rate = self.rate(0.35) if k & {"numbers_as_text_de", "numbers_as_text_en"} else 0.0
        self.thousands = None
        if "thousands_separators" in k:
            self.thousands = self.pick([".", ".", " ", "\u00a0"]) if self.notation == "de" else ","
            self.text_rate = 1.0
        self.columns = self._columns()
        self.two_row = "two_row_header" in k
        self.runno = 0
        sheets = self._sheets()
        stem = f"{self.source.replace(' ', '_')}_{self.year}"
        if "filename_without_meta" in k:
            stem = self.pick(["Erhebung", "DRL_Daten", "Rueckmeldung", "Dosiswerte_Export", "Tabelle1"])
        ext = {"xlsx": "xlsx", "ods": "ods", "xls": "xls"}.get(self.spec.fmt, "csv")
        name = f"{self.prefix}{stem}.{ext}"
        self.source_file = name
        return {"name": name, "sheets": sheets}

    def _columns(self) -> list[Col]:
        k, rng = self.kinds, self.rng
        dap_key = "cGy·cm²"
        if "dap_unit" in k:
            dap_key = self.pick(["Gy·cm²", "dGy·cm²", "mGy·cm²", "µGy·m²", "Gy·cm²"])
        self.dap_factor, dap_spellings = DAP_UNITS[dap_key]
        if dap_key == "cGy·cm²" and "dap_unit" not in k:
            dap_spellings = ["cGy·cm²", "cGy x cm²", "µGy·m²"]
        dap_unit = self.pick(dap_spellings)
        translated = "header_translated" in k
        unit_style = self.pick(["[{}]", "({})", "in {}", "[{}]"])
        two_row = "two_row_header" in k
        cols = []
        for role in CANONICAL:
            units = [dap_unit] if role == "dap_cgycm2" else OTHER_UNITS.get(role, [""])
            unit = self.pick(units)
            factor = self.dap_factor if role == "dap_cgycm2" else 1.0
            if translated and rng.random() < self.rate(0.7):
                name = self.pick(OTHER_NAMES[role])
                if role == "facility_id" or role == "exam_code":
                    unit = ""
                elif role == "dap_cgycm2" and dap_key == "cGy·cm²" and rng.random() < 0.3:
                    unit = ""  # "DFP" alone: the survey's unit
                elif role != "dap_cgycm2" and rng.random() < 0.3:
                    unit = ""
            elif two_row:
                name = TEMPLATE_NAMES[role]
                unit = unit if role not in ("facility_id", "exam_code") else ""
                if role == "agd_mgy":
                    unit = "mGy"
                if role == "ctdi_phantom_cm" and rng.random() < 0.5:
                    unit = ""
            else:
                name = TEMPLATE_HEADER[role]
                unit = ""
                if role == "dap_cgycm2" and "dap_unit" in k:
                    name = f"DAP [{dap_unit}]"
            if two_row:
                col = Col(role, name, f"{self.pick(['[{}]', '({})', '{}'])}".format(unit) if unit else "", factor)
            else:
                text = name if not unit else (f"{name} {unit_style.format(unit)}" if unit_style != "in {}"
                                              else f"{name} in {unit}")
                col = Col(role, text, "", factor)
            if role == "dap_cgycm2":
                col.cell_unit = dap_unit
            elif role in CELL_UNITS:
                col.cell_unit = self.pick(CELL_UNITS[role])
            cols.append(col)
        if "columns_reordered" in k:
            order = list(rng.permutation(len(cols)))
            if order == list(range(len(cols))):
                order = order[::-1]
            cols = [cols[i] for i in order]
        if "extra_columns" in k:
            n_extra = min(self.count(1, 2), len(EXTRA_COLUMNS))
            for extra in rng.choice(list(EXTRA_COLUMNS), size=n_extra, replace=False):
                extra = str(extra)
                pos = int(rng.integers(0, len(cols) + 1))
                cols.insert(pos, Col("extra", extra, "", extra=extra))
        if "running_number" in k:
            cols.insert(0, Col("runno", self.pick(RUNNING_NUMBER_NAMES)))
        return cols

    # ---- sheets

    def _sheets(self) -> list[SheetOut]:
        k, rng = self.kinds, self.rng
        idx = list(range(len(self.ex)))
        parts: list[tuple[str, list[int], str | None, str]] = []  # name, rows, exam code of the sheet, layout
        if "sheet_per_exam" in k:
            style = self.pick(["code", "code_name", "modality_code", "name"])
            # A file whose name names neither source nor year must say them in
            # its cells, which a header in row 1 leaves no room for.
            layout = "template" if "filename_without_meta" in k else self.pick(["top", "template"])
            for code in dict.fromkeys(self.ex["exam_code"]):
                e = catalogue()[code]
                names = [n for n in e.names if len(n) <= 31 and not _XLS_SHEET_BAD.search(n)]
                if style == "name" and names:
                    sheet = self.pick(names)
                elif style == "code_name" and len(f"{code} {e.name}") <= 31 and not _XLS_SHEET_BAD.search(e.name):
                    sheet = f"{code} {e.name}"
                elif style == "modality_code":
                    prefix = {"CT": "CT", "radiography": "RÖ", "interventional": "IR"}.get(e.modality, "MG")
                    sheet = f"{prefix} {code}"
                else:
                    sheet = code
                rows = [i for i in idx if self.ex.at[i, "exam_code"] == code]
                parts.append((sheet, rows, code, layout))
        elif "continuation_sheets" in k and len(idx) >= 6:
            n_parts = int(rng.integers(2, 4))
            cuts = sorted(rng.choice(np.arange(2, len(idx) - 1), size=n_parts - 1, replace=False).tolist())
            chunks = np.split(np.array(idx), cuts)
            cont = self.pick(["top", "none", "template"])
            names = self.pick([["Exposure data", "Exposure data (2)", "Exposure data (3)"],
                               ["Exposure data", "Fortsetzung", "Fortsetzung 2"],
                               ["Exposure data", "Blatt 2", "Blatt 3"],
                               ["Exposure data", "Seite 2", "Seite 3"]])
            for j, chunk in enumerate(chunks):
                parts.append((names[j], chunk.tolist(), None, "template" if j == 0 else cont))
        else:
            parts.append(("Exposure data", idx, None, "template"))
        sheets = []
        for j, (name, rows, code, layout) in enumerate(parts):
            sheets.append(self._sheet(name, rows, code, layout, last=(j == len(parts) - 1)))
        if not self.csv:
            sheets.extend(self._template_sheets())
        return sheets

    def _template_sheets(self) -> list[SheetOut]:
        ids = SheetOut("IDs")
        ids.put(1, 1, "ID")
        ids.put(1, 2, "Name of the facility or device")
        for r, f in enumerate(dict.fromkeys(self.ex["facility"]), start=2):
            ids.put(r, 1, f)
            ids.put(r, 2, f"Einrichtung {r - 1}")
        codes = SheetOut("Examination codes")
        for c, t in enumerate(["Examination code", "Examination", "Modality", "DRL"], start=1):
            codes.put(1, c, t)
        for r, e in enumerate(catalogue().values(), start=2):
            for c, v in enumerate([int(e.code), e.name, e.modality, e.typical], start=1):
                codes.put(r, c, v)
        return [ids, codes]

    def _sheet(self, name: str, rows: list[int], sheet_code: str | None, layout: str, last: bool) -> SheetOut:
        k, rng = self.kinds, self.rng
        sh = SheetOut(name if not self.csv else "")
        cols = [c for c in self.columns if not (sheet_code and c.role == "exam_code")]
        # header row and the cells above it
        if layout == "template":
            h = 11
            if "header_row_moved" in k:
                h = self.pick([1, 2, 3, 5, 8, 14, 17, 22])
                if "filename_without_meta" in k and h < 3:
                    h = 3
        elif layout == "top":
            h = 1
        else:  # no header: data from row 1
            h = 0
        if layout == "template":
            if h >= 9:
                sh.put(2, 2, TITLE)
            if "meta_in_filename_only" not in k and h >= 3:
                rs, ry = (h - 6, h - 4) if h >= 9 else (1, 3) if h >= 4 else (1, 2)
                sh.put(rs, 1, "Data source")
                sh.put(rs, 3, self.source)
                sh.put(ry, 1, "Year")
                sh.put(ry, 3, self.year)
        headers = {c.role: c.name + (f" / {c.unit}" if c.unit else "") for c in cols if c.role in CANONICAL}
        r = h
        if h:
            self._header_rows(sh, h, cols, "header row")
            r = h + (1 if self.two_row else 0)
        # the body: data rows and the rows that are not exposures
        body: list[tuple] = [("data", i) for i in rows]
        if "empty_rows_inside" in k and len(rows) > 2:
            for _ in range(self.count(1, 1)):
                body.insert(int(rng.integers(1, len(body))), ("empty",))
        if "repeated_header" in k and len(rows) > 3 and h:
            for _ in range(self.count(1, 1)):
                body.insert(int(rng.integers(2, len(body))), ("header",))
        if "summary_rows" in k and last:
            if rng.random() < 0.5:
                body.append(("empty",))
            for _ in range(self.count(1, 2)):
                body.append(("summary",))
        prev_fac = None
        for item in body:
            r += 1
            if item[0] == "data":
                i = item[1]
                fac = self.ex.at[i, "facility"]
                first_of_run = prev_fac is None or prev_fac != fac
                self._data_row(sh, r, cols, i, sheet_code, first_of_run)
                prev_fac = fac
                ex = self.ex.loc[i]
                sh.truth[-1].update(
                    data_source=self.source, year=self.year,
                    **{c: ex[c] for c in CANONICAL}, headers=headers,
                )
                if sheet_code:
                    sh.truth[-1]["exam_code"] = sheet_code
                continue
            prev_fac = None
            if item[0] == "empty":
                if not self.csv or rng.random() < 0.5:
                    sh.put(r, 1, None)
                else:
                    for c in range(1, len(cols) + 1):
                        sh.put(r, c, "")
                sh.junk.append({"source_row": r, "what": "empty row", "text": ""})
            elif item[0] == "header":
                self._header_rows(sh, r, cols, "repeated header row")
                if self.two_row:
                    r += 1
            else:
                self._summary_row(sh, r, cols, rows)
        # merged facility cells over each run of data rows of one facility
        if "merged_facility_cells" in k:
            fcol = next(j for j, c in enumerate(cols, start=1) if c.role == "facility_id")
            runs = []
            for t in sh.truth:
                if runs and runs[-1][1] == t["source_row"] - 1 and runs[-1][2] == t["facility_id"]:
                    runs[-1][1] = t["source_row"]
                else:
                    runs.append([t["source_row"], t["source_row"], t["facility_id"]])
            sh.merges = [(a, fcol, b, fcol) for a, b, _ in runs if b > a]
        return sh

    def _header_rows(self, sh: SheetOut, r: int, cols: list[Col], what: str) -> None:
        for j, c in enumerate(cols, start=1):
            sh.put(r, j, c.name)
        sh.junk.append({"source_row": r, "what": what, "text": " | ".join(c.name for c in cols)})
        if self.two_row:
            for j, c in enumerate(cols, start=1):
                sh.put(r + 1, j, c.unit or None)
            sh.junk.append({"source_row": r + 1, "what": "unit row" if what == "header row" else "repeated unit row",
                            "text": " | ".join(c.unit for c in cols)})

    def _summary_row(self, sh: SheetOut, r: int, cols: list[Col], rows: list[int]) -> None:
        kind = self.pick(["sum", "sum", "count", "note"])
        dose_cols = [j for j, c in enumerate(cols, start=1) if c.role in ("dap_cgycm2", "dlp_mgycm", "ctdivol_mgy", "agd_mgy")]
        label_col = self.pick([1, 1, 2]) if len(cols) > 2 else 1
        if dose_cols and label_col in dose_cols:
            label_col = 1 if 1 not in dose_cols else next(j for j in range(1, len(cols) + 1) if j not in dose_cols)
        if kind == "sum":
            label = self.pick(SUMMARY_LABELS)
            sh.put(r, label_col, label)
            for j in dose_cols:
                c = cols[j - 1]
                vals = self.ex.loc[rows, c.role].dropna()
                if len(vals):
                    v = vals.sum() if label in ("Summe", "Gesamt", "Total") else vals.mean()
                    sh.put(r, j, self._number(c, _round(_scaled(v, c.factor), c.role), allow_unit=False))
            sh.junk.append({"source_row": r, "what": "total or mean row", "text": label})
        elif kind == "count":
            label = self.pick(COUNT_LABELS).format(n=len(rows))
            sh.put(r, label_col, label)
            sh.junk.append({"source_row": r, "what": "count row", "text": label})
        else:
            label = self.pick(NOTE_LABELS)
            sh.put(r, 1, label)
            sh.junk.append({"source_row": r, "what": "note row", "text": label})

    # ---- cells

    def _number(self, c: Col, w: float, allow_unit: bool = True):
        """A written number: a real number, or text in the file's notation, maybe with its unit."""
        rng = self.rng
        unit = allow_unit and "units_in_cells" in self.kinds and c.cell_unit and rng.random() < self.rate(0.3)
        text = self.csv or unit or (self.text_rate and rng.random() < self.text_rate)
        if not text:
            return int(w) if float(w).is_integer() and c.role in ("weight_kg", "age_years", "ctdi_phantom_cm", "runno") else w
        s = number_text(w, self.notation, self.thousands)
        if unit:
            s += self.pick(["", " "]) + c.cell_unit if c.role in ("weight_kg", "age_years") else " " + c.cell_unit
        return s

    def _ws(self, text: str) -> str:
        """Whitespace damage around (and inside) an ID or code."""
        rng = self.rng
        left = self.pick(["", " ", "  ", "\u00a0", "\u200b", " \u00a0"])
        right = self.pick(["", " ", "\u00a0", "\u200b", "  ", "\u200b "])
        if not left and not right:
            right = " "
        if " " in text and rng.random() < 0.3:
            text = text.replace(" ", "\u00a0", 1)
        return left + text + right

    def _data_row(self, sh: SheetOut, r: int, cols: list[Col], i: int, sheet_code: str | None, first_of_run: bool):
        k, rng = self.kinds, self.rng
        ex = self.ex.loc[i]
        self.runno += 1
        cells = {}
        for j, c in enumerate(cols, start=1):
            v = None
            if c.role == "runno":
                v = self.runno if not self.csv else str(self.runno)
            elif c.role == "extra":
                v = self._extra(c.extra)
            elif c.role == "facility_id":
                f = ex["facility"]
                blank = k & {"facility_once_per_block", "merged_facility_cells"} and not first_of_run
                if blank:
                    v = None
                elif isinstance(f, (int, np.integer)):
                    v = int(f)
                    if "facility_id_float" in k and rng.random() < self.rate(0.5):
                        # a spreadsheet stores 12.0 like 12; as text it shows
                        v = float(f) if not self.csv and rng.random() < 0.3 else number_text(f, self.notation) + (
                            ",0" if self.notation == "de" else ".0")
                    if "whitespace_in_ids" in k and rng.random() < self.rate(0.3):
                        v = self._ws(str(f))
                else:
                    v = f
                    if "whitespace_in_ids" in k and rng.random() < self.rate(0.3):
                        v = self._ws(f)
            elif c.role == "exam_code":
                code = ex["exam_code"]
                e = catalogue()[code]
                v = int(code)
                roll = rng.random()
                if "exam_name_only" in k and e.names and roll < self.rate(0.3):
                    v = self.pick(list(e.names))
                elif "exam_code_text" in k and roll < self.rate(0.3):
                    alias = self.pick(list(e.names)) if e.names else e.name
                    v = self.pick([f"{code} {e.name}", f"Code {code}", f"{code} - {alias}", f"{code} ({alias})"])
                if "whitespace_in_ids" in k and rng.random() < self.rate(0.3):
                    v = self._ws(str(v))
            else:
                canon = ex[c.role]
                if pd.isna(canon):
                    if "missing_markers" in k and rng.random() < self.rate(0.2):
                        v = self.pick(MISSING_MARKERS)
                elif c.role == "ctdi_phantom_cm" and "phantom_words" in k and rng.random() < self.rate(0.4):
                    v = self.pick(PHANTOM_WORDS[int(canon)])
                else:
                    v = self._number(c, _scaled(float(canon), c.factor))
            if self.csv and v is not None and not isinstance(v, str):
                v = self._csv_text(v)
            sh.put(r, j, v)
            if c.role in CANONICAL:
                cells[c.role] = v
        if sheet_code:
            cells["exam_code"] = f"(sheet {sh.name!r})"
        sh.truth.append({"source_row": r, "cells": cells})

    def _extra(self, kind: str):
        v = self.pick(EXTRA_COLUMNS[kind])
        if v == "<date>":
            d = dt.date(self.year, 1, 1) + dt.timedelta(days=int(self.rng.integers(0, 365)))
            style = self.pick(["date", "iso", "de"]) if not self.csv else self.pick(["iso", "de"])
            if style == "date":
                return dt.datetime(d.year, d.month, d.day)
            return d.isoformat() if style == "iso" else d.strftime("%d.%m.%Y")
        return v

    def _csv_text(self, v) -> str:
        if isinstance(v, (dt.date, dt.datetime)):
            return v.strftime("%d.%m.%Y")
        if isinstance(v, (int, np.integer)):
            return str(int(v))
        return number_text(float(v), self.notation, None)


# --------------------------------------------------------------------------- writers


def _cell_for_file(v):
    if isinstance(v, np.generic):
        return v.item()
    return v


def write_xlsx(path: Path, sheets: list[SheetOut]) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    for sh in sheets:
        ws = wb.create_sheet(sh.name)
        for r, line in enumerate(sh.grid, start=1):
            for c, v in enumerate(line, start=1):
                if v is not None:
                    ws.cell(row=r, column=c, value=_cell_for_file(v))
        for r1, c1, r2, c2 in sh.merges:
            ws.merge_cells(start_row=r1, start_column=c1, end_row=r2, end_column=c2)
    wb.save(path)


def write_xls(path: Path, sheets: list[SheetOut]) -> None:
    import xlwt

    wb = xlwt.Workbook(encoding="utf-8")
    date_style = xlwt.easyxf(num_format_str="DD.MM.YYYY")
    for sh in sheets:
        ws = wb.add_sheet(sh.name)
        merged = {}
        for r1, c1, r2, c2 in sh.merges:
            merged[(r1, c1)] = (r2, c2)
        covered = {(r, c) for (r1, c1), (r2, c2) in merged.items() for r in range(r1, r2 + 1) for c in range(c1, c2 + 1)}
        for (r1, c1), (r2, c2) in merged.items():
            ws.write_merge(r1 - 1, r2 - 1, c1 - 1, c2 - 1, _cell_for_file(sh.grid[r1 - 1][c1 - 1]))
        for r, line in enumerate(sh.grid, start=1):
            for c, v in enumerate(line, start=1):
                if v is None or (r, c) in covered:
                    continue
                v = _cell_for_file(v)
                if isinstance(v, dt.datetime):
                    ws.write(r - 1, c - 1, v, date_style)
                else:
                    ws.write(r - 1, c - 1, v)
    wb.save(str(path))


def write_ods(path: Path, sheets: list[SheetOut]) -> None:
    from odf.opendocument import OpenDocumentSpreadsheet
    from odf.table import Table, TableCell, TableRow
    from odf.text import P

    doc = OpenDocumentSpreadsheet()
    for sh in sheets:
        table = Table(name=sh.name)
        for line in sh.grid:
            tr = TableRow()
            for v in line:
                v = _cell_for_file(v)
                if v is None or v == "":
                    tr.addElement(TableCell())
                elif isinstance(v, dt.datetime):
                    cell = TableCell(valuetype="date", datevalue=v.strftime("%Y-%m-%d"))
                    cell.addElement(P(text=v.strftime("%d.%m.%Y")))
                    tr.addElement(cell)
                elif isinstance(v, (int, float)):
                    cell = TableCell(valuetype="float", value=repr(v) if isinstance(v, float) else str(v))
                    cell.addElement(P(text=str(v)))
                    tr.addElement(cell)
                else:
                    cell = TableCell(valuetype="string")
                    cell.addElement(P(text=str(v)))
                    tr.addElement(cell)
            table.addElement(tr)
        doc.spreadsheet.addElement(table)
    doc.save(str(path))


def write_csv(path: Path, sheet: SheetOut, fmt: str, rng: np.random.Generator) -> None:
    delimiter = ";" if "_de" in fmt else ","
    cp1252 = fmt.endswith("cp1252")
    encoding = "cp1252" if cp1252 else ("utf-8-sig" if rng.random() < 0.5 else "utf-8")
    lines = []
    for line in sheet.grid:
        out = []
        for v in line:
            s = "" if v is None else str(v)
            if cp1252:
                s = s.replace("\u200b", "").replace("\u03bc", "\u00b5")
            out.append(s)
        lines.append(out)
    with open(path, "w", encoding=encoding, newline="") as fh:
        csv.writer(fh, delimiter=delimiter, lineterminator="\r\n").writerows(lines)


# --------------------------------------------------------------------------- batches


def generate_file(spec: FileSpec, folder: Path, prefix: str = "") -> tuple[list[dict], list[dict], dict]:
    """Write one submission into ``folder`` (under ``prefix``, a sub-folder such as
    ``"f003/"``); return its truth rows, its non-exposure rows and a file record."""
    b = _Builder(spec, prefix)
    out = b.build(0)
    path = Path(folder) / out["name"]
    path.parent.mkdir(parents=True, exist_ok=True)
    sheets: list[SheetOut] = out["sheets"]
    if spec.fmt == "xlsx":
        write_xlsx(path, sheets)
    elif spec.fmt == "xls":
        write_xls(path, sheets)
    elif spec.fmt == "ods":
        write_ods(path, sheets)
    else:
        write_csv(path, sheets[0], spec.fmt, b.rng)
    kinds = tuple(sorted(b.kinds)) + (f"format:{spec.fmt}",)
    truth, junk = [], []
    for sh in sheets:
        for t in sh.truth:
            truth.append({"source_file": out["name"], "sheet": sh.name, **t, "kinds": kinds})
        for j in sh.junk:
            junk.append({"source_file": out["name"], "sheet": sh.name, **j, "kinds": kinds})
    record = {"source_file": out["name"], "spec": spec, "kinds": kinds, "sheets": [s.name for s in sheets],
              "data_source": b.source, "year": b.year}
    return truth, junk, record


def generate_batch(specs: list[FileSpec], folder: str | Path) -> Batch:
    """Write every spec's submission into its own sub-folder of ``folder``."""
    folder = Path(folder)
    truth, junk, files = [], [], []
    seen: set[str] = set()
    for n, spec in enumerate(specs):
        t, j, rec = generate_file(spec, folder, prefix=f"f{n:03d}/")
        sha = hashlib.sha256((folder / rec["source_file"]).read_bytes()).hexdigest()
        if sha in seen:  # the reader stores a file once; a second copy has no truth of its own
            (folder / rec["source_file"]).unlink()
            continue
        seen.add(sha)
        truth += t
        junk += j
        files.append(rec)
    truth_df = pd.DataFrame(truth)
    for c in NUMERIC:
        truth_df[c] = truth_df[c].astype(float)
    truth_df["year"] = truth_df["year"].astype(int)
    truth_df = truth_df[TRUTH_COLUMNS]
    junk_df = pd.DataFrame(junk, columns=[*KEY, "what", "text", "kinds"])
    return Batch(folder=folder, truth=truth_df, non_exposure=junk_df, files=files)


def describe(spec: FileSpec) -> str:
    return json.dumps({"seed": spec.seed, "kinds": sorted(spec.kinds), "fmt": spec.fmt, "level": spec.level})

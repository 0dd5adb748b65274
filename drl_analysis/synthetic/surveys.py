"""Seeded synthetic survey data: clean exposures, and the damaged files built from them.

:func:`simulate_exposures` draws clean exposures (canonical units) from a
simple model of a national survey: data sources (medical bodies) hold
facilities; a facility performs some exams every year; its practice sets a
persistent dose level per exam around the catalogue DRL; patients scatter
around it with their weight. :func:`write_survey` (see below) turns such
exposures into submission files with the kinds of damage seen in practice,
and keeps the ground truth of what a correct reader must store.

Everything is drawn from ``numpy.random.default_rng(seed)``: the same
arguments give the same data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..core.catalogue import Catalogue, load_catalogue
from ..core.columns import EXPOSURE_COLUMNS

#: Data sources of the generated surveys (fictitious medical bodies).
DEFAULT_SOURCES: tuple[str, ...] = (
    "Aerztliche Stelle Nord",
    "Aerztliche Stelle Sued",
    "Aerztliche Stelle West",
    "Aerztliche Stelle Ost",
    "Aerztliche Stelle Mitte",
)

# Typical value where the catalogue gives no DRL (canonical units).
_TYPICAL_WITHOUT_DRL = {"dap_cgycm2": 100.0, "agd_mgy": 1.5, "dlp_mgycm": 500.0, "ctdivol_mgy": 12.0}
# Scan length in cm that turns CTDIvol into DLP, by reference phantom.
_SCAN_LENGTH_CM = {16.0: 16.0, 32.0: 38.0}


@dataclass
class SurveyModel:
    """Parameters of :func:`simulate_exposures`.

    Attributes
    ----------
    sources : tuple of str
        Data source names.
    years : tuple of int
    facilities_per_source : int
        Facilities per data source; IDs 1..n, so IDs repeat across sources.
    exams : tuple of str or None
        Exam codes to draw from; None takes every catalogue exam with a DRL
        quantity.
    exams_per_facility : int
        How many exams each facility performs (drawn once per facility).
    patients_per_exam : (int, int)
        Range of exposures per facility, exam and year (inclusive).
    facility_level : float
        Median facility dose as a fraction of the DRL (P75 of facility
        medians then lands near the DRL).
    facility_sigma : float or dict
        Log-scale spread of facility levels; a dict gives one per source
        (dispersed medical bodies).
    exam_level : dict
        Exam code -> factor on its dose level, optionally per year:
        ``{"1010": 1.3}`` or ``{"1010": {2022: 1.1, 2023: 1.4}}``.
    patient_sigma : float
        Log-scale spread of patients around their facility's level.
    year_drift : float
        Log-scale spread of a facility's level from one year to the next.
    other_phantom_share : float
        Share of CT exposures whose CTDIvol is referenced to the other
        phantom (16 cm values are 2.5 x the 32 cm value).
    missing_weight_share : float
        Share of exposures without a patient weight.
    """

    sources: tuple[str, ...] = DEFAULT_SOURCES
    years: tuple[int, ...] = (2022, 2023)
    facilities_per_source: int = 12
    exams: tuple[str, ...] | None = None
    exams_per_facility: int = 6
    patients_per_exam: tuple[int, int] = (8, 25)
    facility_level: float = 0.7
    facility_sigma: float | dict[str, float] = 0.35
    exam_level: dict = field(default_factory=dict)
    patient_sigma: float = 0.3
    year_drift: float = 0.08
    other_phantom_share: float = 0.02
    missing_weight_share: float = 0.1


def exam_quantities(catalogue: Catalogue) -> dict[str, str]:
    """The one dose quantity generated for each exam code (test data only: the
    analysis takes every quantity of :meth:`Catalogue.drl_quantities`)."""
    # The first DRL quantity of each exam (the catalogue's order); exams listed
    # without any DRL keep the quantity of their modality.
    q = {}
    for row in catalogue.exams.itertuples(index=False):
        given = catalogue.drl_quantities(row.exam_code)
        q[row.exam_code] = given[0] if given else ("ctdivol_mgy" if row.modality == "CT" else "dap_cgycm2")
    return dict(sorted(q.items()))


def _reference_value(catalogue: Catalogue, code: str, quantity: str) -> float:
    value, _ = catalogue.current_drl(code, quantity)
    return value if value is not None else _TYPICAL_WITHOUT_DRL[quantity]


def _exam_factor(model: SurveyModel, code: str, year: int) -> float:
    level = model.exam_level.get(code, 1.0)
    if isinstance(level, dict):
        return float(level.get(year, 1.0))
    return float(level)


def simulate_exposures(
    model: SurveyModel | None = None,
    *,
    seed: int = 0,
    catalogue: Catalogue | None = None,
) -> pd.DataFrame:
    """Draw clean exposures of a survey.

    Parameters
    ----------
    model : SurveyModel, optional
        The survey's parameters; the defaults give about 10,000 exposures.
    seed : int
        Seed of ``numpy.random.default_rng``.
    catalogue : Catalogue, optional
        Exam codes and DRLs to draw around (default: the shipped catalogue).

    Returns
    -------
    pandas.DataFrame
        One row per exposure: ``data_source, year`` and the columns of
        :data:`drl_analysis.core.columns.EXPOSURE_COLUMNS` in canonical units
        (NaN where a quantity does not apply), plus ``facility_level``, the
        facility's true dose level for the exam and year (canonical units).
        Sorted by data source, year, facility, exam.
    """
    model = model or SurveyModel()
    catalogue = catalogue or load_catalogue()
    rng = np.random.default_rng(seed)
    quantities = exam_quantities(catalogue)
    exams = list(model.exams) if model.exams is not None else list(quantities)
    per_facility = min(model.exams_per_facility, len(exams))
    parts = []
    for source in model.sources:
        sigma = model.facility_sigma.get(source, 0.35) if isinstance(model.facility_sigma, dict) else model.facility_sigma
        for fac in range(1, model.facilities_per_source + 1):
            chosen = sorted(str(c) for c in rng.choice(exams, size=per_facility, replace=False))
            base = {code: rng.normal(np.log(model.facility_level), sigma) for code in chosen}
            for year in model.years:
                for code in chosen:
                    quantity = quantities[code]
                    level = (
                        _reference_value(catalogue, code, quantity)
                        * _exam_factor(model, code, year)
                        * np.exp(base[code] + rng.normal(0.0, model.year_drift))
                    )
                    n = int(rng.integers(model.patients_per_exam[0], model.patients_per_exam[1] + 1))
                    weight = np.clip(rng.normal(76.0, 14.0, n), 35.0, 180.0).round(0)
                    value = level * (weight / 76.0) ** 1.2 * np.exp(rng.normal(0.0, model.patient_sigma, n))
                    frame = {
                        "data_source": source,
                        "year": year,
                        "facility_id": str(fac),
                        "exam_code": code,
                        "weight_kg": np.where(rng.random(n) < model.missing_weight_share, np.nan, weight),
                        "age_years": rng.integers(18, 91, n).astype(float),
                        "facility_level": level,
                    }
                    if quantity == "ctdivol_mgy":
                        phantom = catalogue.reference_phantom(code) or 32.0
                        other = rng.random(n) < model.other_phantom_share
                        ctdi = np.where(other & (phantom == 32.0), value * 2.5, value)
                        ctdi = np.where(other & (phantom == 16.0), value / 2.5, ctdi)
                        used = np.where(other, 48.0 - phantom, phantom)
                        frame["ctdivol_mgy"] = ctdi.round(2)
                        frame["dlp_mgycm"] = (ctdi * _SCAN_LENGTH_CM[phantom] * rng.normal(1.0, 0.1, n)).round(1)
                        frame["ctdi_phantom_cm"] = used
                    elif quantity == "agd_mgy":
                        frame["agd_mgy"] = value.round(2)
                    else:
                        frame["dap_cgycm2"] = value.round(1)
                    parts.append(pd.DataFrame(frame))
    out = pd.concat(parts, ignore_index=True)
    for col in EXPOSURE_COLUMNS:
        if col not in out:
            out[col] = np.nan
    out = out[["data_source", "year", *EXPOSURE_COLUMNS, "facility_level"]]
    return out.reset_index(drop=True)


# ---------------------------------------------------------------------------
# Damaged submission files with ground truth
# ---------------------------------------------------------------------------

#: Header spellings seen in submissions, per canonical column: (text, unit factor).
#: The factor turns a canonical value into the value written under that header.
HEADER_VARIANTS: dict[str, list[tuple[str, float]]] = {
    "facility_id": [("ID of the facility or device", 1), ("Einrichtungs-ID", 1), ("Facility ID", 1),
                    ("Betreiber-Nr.", 1), ("Geräte-ID", 1), ("ID", 1), ("Standort/Kennung", 1)],
    "exam_code": [("Examination code", 1), ("Untersuchungscode", 1), ("Exam code", 1), ("Untersuchung", 1),
                  ("Code", 1), ("Untersuchungsart", 1)],
    "dap_cgycm2": [("DAP [cGy x cm² bzw. µGy x m²]", 1), ("DFP [cGy*cm²]", 1), ("DAP (µGy·m²)", 1),
                   ("Dosisflächenprodukt [Gy x cm²]", 0.01), ("DAP\n[mGy*cm2]", 10), ("DFP in dGy cm²", 0.1),
                   ("KAP [Gy·cm²]", 0.01), ("DAP", 1)],
    "agd_mgy": [("AGD [mSv]", 1), ("AGD [mGy]", 1), ("Mittlere Parenchymdosis (mGy)", 1), ("MGD [µGy]", 1000)],
    "dlp_mgycm": [("DLP [mGy x cm]", 1), ("DLP (mGy*cm)", 1), ("Dosislängenprodukt [mGy·cm]", 1), ("DLP [Gy x cm]", 0.001)],
    "ctdivol_mgy": [("CTDIvol [mGy]", 1), ("CTDI vol (mGy)", 1), ("CTDIvol", 1), ("CTDI_vol [µGy]", 1000)],
    "ctdi_phantom_cm": [("CTDI-Phantom", 1), ("Phantom [cm]", 1), ("CTDI phantom", 1), ("Phantomgröße", 1)],
    "weight_kg": [("Patient weight [kg]", 1), ("Gewicht (kg)", 1), ("Körpergewicht", 1), ("Weight", 1)],
    "age_years": [("Age", 1), ("Alter [Jahre]", 1), ("Patientenalter", 1), ("Age (years)", 1)],
}
_EXTRA_COLUMNS = ["Bemerkung", "Untersuchungsdatum", "Patienten-ID", "Gerät", "Comment", "Station"]
_MISSING_WRITTEN = ["", "-", "n.a.", "k.A.", "?", "NA"]


@dataclass
class GeneratedSurvey:
    """Files written by :func:`write_survey` and what a correct reader stores.

    Attributes
    ----------
    files : list of Path
    truth : pandas.DataFrame
        One row per exposure written: ``source_file, sheet, source_row``,
        ``data_source, year``, the canonical columns (the values a reader must
        store, including planted unit slips) and ``expected_flags`` (the
        unit-slip tokens a reader must set).
    non_exposures : pandas.DataFrame
        One row per written row that is no exposure: ``source_file, sheet,
        source_row, kind`` (a reader must store none of them).
    """

    files: list
    truth: pd.DataFrame
    non_exposures: pd.DataFrame


def _fmt_number(x: float, notation: str, rng: np.random.Generator, thousands: bool) -> str:
    """A number as a person types it, e.g. ``1.234,5`` or ``12,5``."""
    text = repr(float(x)) if not float(x).is_integer() else str(int(x))
    if "e" in text:
        text = f"{x:.6f}".rstrip("0").rstrip(".")
    whole, _, frac = text.partition(".")
    sign = ""
    if whole.startswith("-"):
        sign, whole = "-", whole[1:]
    if thousands and len(whole) > 3:
        groups = []
        while len(whole) > 3:
            groups.insert(0, whole[-3:])
            whole = whole[:-3]
        groups.insert(0, whole)
        whole = ("." if notation == "de" else ",").join(groups)
    dec = "," if notation == "de" else "."
    return sign + whole + (dec + frac if frac else "")


def _unambiguous(text: str) -> bool:
    from ..core.numbers import shown_notation

    try:
        return not shown_notation(text.split(" ")[0])[1]
    except ValueError:
        return False


@dataclass
class _Style:
    fmt: str
    notation: str
    text_numbers: float  # share of numeric cells typed as text
    header_variant: dict
    order: list
    extras: list
    header_at: int  # 0-based row of the header
    labels: bool  # data source / year cells above the header
    name_labels: bool  # data source and year in the file name
    exam_style: str
    id_style: str
    merged_ids: bool
    split: str  # none | modality | continuation
    junk: float  # share of rows followed by a non-exposure row
    slips: float
    unit_in_cell: float
    words: bool  # missing markers and phantom words ("Kopf") in cells


def _choose_style(rng: np.random.Generator, fmt: str, damage: float) -> _Style:
    def p(x: float) -> bool:
        return bool(rng.random() < x * damage)

    variant = {}
    for col, options in HEADER_VARIANTS.items():
        variant[col] = options[0] if not p(0.6) else options[int(rng.integers(len(options)))]
    order = list(HEADER_VARIANTS)
    if p(0.4):
        order = [order[i] for i in rng.permutation(len(order))]
    extras = [str(x) for x in rng.choice(_EXTRA_COLUMNS, size=int(rng.integers(1, 3)), replace=False)] if p(0.35) else []
    notation = "de" if (fmt != "csv" and p(0.5)) or (fmt == "csv" and rng.random() < 0.5) else "en"
    labels = not p(0.4)
    return _Style(
        fmt=fmt,
        notation=notation,
        text_numbers=(1.0 if fmt == "csv" else (float(rng.choice([0.05, 0.3, 1.0])) if p(0.5) else 0.0)),
        header_variant=variant,
        order=order,
        extras=extras,
        header_at=10 if labels and not p(0.3) else int(rng.integers(0, 16)) + (8 if labels else 0),
        labels=labels,
        name_labels=not labels or p(0.5),
        exam_style=str(rng.choice(["number", "text", "code_name", "name", "prefixed"])) if p(0.6) else "number",
        id_style=str(rng.choice(["number", "text", "padded"])) if p(0.5) else "number",
        merged_ids=fmt == "xlsx" and p(0.2),
        split=str(rng.choice(["modality", "continuation"])) if fmt in ("xlsx", "ods") and p(0.3) else "none",
        junk=0.01 * damage,
        slips=0.002 * damage,
        unit_in_cell=0.03 if p(0.3) else 0.0,
        words=damage > 0,
    )


def _exam_cell(code: str, style: _Style, catalogue: Catalogue, rng: np.random.Generator) -> object:
    name = catalogue.exam_name(code) or ""
    kind = style.exam_style
    if kind == "number":
        return int(code)
    if kind == "text":
        return code
    if kind == "code_name":
        return f"{code} {name}"
    if kind == "prefixed":
        return f"Code {code}"
    # by name: the catalogue name or a German alias
    row = catalogue.exams.loc[catalogue.exams["exam_code"] == code].iloc[0]
    aliases = [a for a in str(row.aliases or "").split(";") if a.strip()]
    options = [name, *aliases]
    pick = options[int(rng.integers(len(options)))]
    return pick if catalogue.code_for_name(pick) == code else name


def _id_cell(fid: str, style: _Style) -> object:
    if style.id_style == "number" and fid.isdigit():
        return int(fid)
    if style.id_style == "padded":
        return f" {fid} "
    return fid


def _value_cell(
    value: float, column: str, factor: float, style: _Style, rng: np.random.Generator, in_csv: bool
) -> tuple[object, float]:
    """The cell written for a canonical value, and the canonical value a reader gets back."""
    if np.isnan(value):
        if style.words and column in ("weight_kg", "age_years") and rng.random() < 0.3:
            return str(rng.choice(_MISSING_WRITTEN)), np.nan
        return "", np.nan
    if column == "ctdi_phantom_cm":
        if style.words and rng.random() < 0.15:
            word = {16.0: ["Kopf", "head", "16 cm"], 32.0: ["Körper", "body", "32 cm"]}[float(value)]
            return str(rng.choice(word)), value
        return (int(value) if not in_csv else str(int(value))), value
    written = float(f"{value * factor:.10g}")
    back = written / factor
    if in_csv or rng.random() < style.text_numbers:
        text = _fmt_number(written, style.notation, rng, thousands=bool(rng.random() < 0.3))
        if not _unambiguous(text):
            text = _fmt_number(written, style.notation, rng, thousands=False)
            if not _unambiguous(text):
                # A person writing 1234 in German notation without a decimal part
                # would write "1234" or "1.234"; keep it unambiguous here.
                text = str(int(written)) if float(written).is_integer() else text
        if style.unit_in_cell and rng.random() < style.unit_in_cell and column in ("weight_kg",):
            text += " kg"
        return text, back
    return written, back


def _render_submission(  # noqa: C901 - one branch per kind of damage, in the order a reader meets them
    part: pd.DataFrame, source: str, year: int, stem: str, style: _Style, catalogue: Catalogue,
    rng: np.random.Generator,
) -> tuple[dict[str, list[list]], list[dict], list[dict], list]:
    """Sheets (name -> rows), truth rows, non-exposure rows and merged ranges of one file."""
    from ..core.columns import EXPOSURE_COLUMNS as COLS

    in_csv = style.fmt == "csv"
    header = [style.header_variant[c][0] for c in style.order] + style.extras
    factors = {c: style.header_variant[c][1] for c in style.order}
    quantities = exam_quantities(catalogue)

    groups: list[tuple[str, pd.DataFrame]]
    if style.split == "modality":
        mod = part["exam_code"].map(lambda c: str(catalogue.modality(c)))
        groups = [(f"{m}", g) for m, g in part.groupby(mod, sort=True)]
    elif style.split == "continuation" and len(part) > 20:
        cut = len(part) // 2
        groups = [("Exposure data", part.iloc[:cut]), ("Exposure data (2)", part.iloc[cut:])]
    else:
        groups = [("Exposure data" if not in_csv else "", part)]

    sheets: dict[str, list[list]] = {}
    truth: list[dict] = []
    junk: list[dict] = []
    merged: list = []
    for g, (sheet_name, frame) in enumerate(groups):
        rows: list[list] = []
        continuation = style.split == "continuation" and g > 0
        if not continuation:
            for _ in range(style.header_at):
                rows.append([])
            if style.labels and style.header_at >= 7:
                rows[1] = ["", "Intervention or diagnostic examination using x-rays"]
                rows[4] = ["Data source", "", source]
                rows[6] = ["Year", "", year if not in_csv else str(year)]
            rows.append(list(header))
        block_start = None
        prev_id = None
        for rec in frame.itertuples(index=False):
            r = rec._asdict()
            values = {}
            cells = []
            for col in style.order:
                if col == "facility_id":
                    cells.append(_id_cell(r["facility_id"], style))
                    values[col] = r["facility_id"]
                elif col == "exam_code":
                    cells.append(_exam_cell(r["exam_code"], style, catalogue, rng))
                    values[col] = r["exam_code"]
                else:
                    v = r[col]
                    cell, back = _value_cell(v, col, factors[col], style, rng, in_csv)
                    cells.append(cell)
                    values[col] = back
            cells += ["" for _ in style.extras]
            if style.extras and rng.random() < 0.3:
                cells[len(style.order)] = str(rng.choice(["ok", "Wiederholung", "Kind", "Notfall"]))
            flags = ""
            quantity = quantities.get(r["exam_code"])
            if quantity and rng.random() < style.slips and not np.isnan(values.get(quantity, np.nan)):
                k = int(rng.choice([10, 100, 1000]))
                i = style.order.index(quantity)
                written = cells[i]
                number = float(written) if isinstance(written, (int, float)) else None
                if number is not None:
                    cells[i] = float(f"{number * k:.10g}")
                    values[quantity] = cells[i] / factors[quantity]
                    flags = f"unit_slip_x{k}:{quantity}"
            rows.append(cells)
            row_no = len(rows)
            if style.merged_ids:
                if r["facility_id"] != prev_id:
                    if block_start is not None and row_no - 1 > block_start:
                        merged.append((sheet_name, block_start, row_no - 1))
                    block_start = row_no
                prev_id = r["facility_id"]
            truth.append({"source_file": stem, "sheet": sheet_name, "source_row": row_no,
                          "data_source": source, "year": year,
                          **{c: values.get(c, np.nan) for c in COLS}, "expected_flags": flags})
            if rng.random() < style.junk:
                if style.merged_ids and block_start is not None:
                    # A merged ID range keeps only its top cell: end it before the junk row.
                    if row_no > block_start:
                        merged.append((sheet_name, block_start, row_no))
                    block_start, prev_id = None, None
                kind = str(rng.choice(["empty row", "note row", "repeated header row"]))
                if kind == "empty row":
                    rows.append([])
                elif kind == "note row":
                    rows.append(["Bemerkung: Gerät im Juni getauscht"])
                else:
                    rows.append(list(header))
                junk.append({"source_file": stem, "sheet": sheet_name, "source_row": len(rows), "kind": kind})
        if style.merged_ids and block_start is not None and len(rows) > block_start:
            merged.append((sheet_name, block_start, len(rows)))
        if rng.random() < 0.5 * (1 if style.junk else 0):
            dap_i = style.order.index("dap_cgycm2")
            total = [""] * len(header)
            total[dap_i] = float(frame["dap_cgycm2"].sum(skipna=True))
            total[1 if dap_i == 0 else 0] = "Summe"
            rows.append([])
            junk.append({"source_file": stem, "sheet": sheet_name, "source_row": len(rows), "kind": "empty row"})
            rows.append(total)
            junk.append({"source_file": stem, "sheet": sheet_name, "source_row": len(rows), "kind": "total or summary row"})
        sheets[sheet_name] = rows
    return sheets, truth, junk, merged


def _write_xlsx(path, sheets: dict, merged: list, id_col: int, catalogue: Catalogue, with_template_sheets: bool) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append([None if v == "" else v for v in row])
        for sheet_name, r0, r1 in merged:
            if sheet_name != name:
                continue
            col = id_col + 1
            # Merged cells keep only their top-left value.
            for r in range(r0 + 1, r1 + 1):
                ws.cell(r, col).value = None
            ws.merge_cells(start_row=r0, start_column=col, end_row=r1, end_column=col)
    if with_template_sheets:
        ids = wb.create_sheet("IDs")
        ids.append(["ID of the facility or device", "Name of the facility or device"])
        codes = wb.create_sheet("Examination codes")
        codes.append(["Exam code", "Exam name"])
        for row in catalogue.exams.itertuples(index=False):
            codes.append([row.exam_code, row.exam_name])
    wb.save(path)


def _write_xls(path, sheets: dict) -> None:
    import xlwt

    wb = xlwt.Workbook(encoding="utf-8")
    for name, rows in sheets.items():
        ws = wb.add_sheet(name[:31])
        for r, row in enumerate(rows):
            for c, v in enumerate(row):
                if v != "":
                    ws.write(r, c, v)
    wb.save(str(path))


def _write_ods(path, sheets: dict) -> None:
    with pd.ExcelWriter(path, engine="odf") as writer:
        for name, rows in sheets.items():
            width = max((len(r) for r in rows), default=1)
            frame = pd.DataFrame([list(r) + [""] * (width - len(r)) for r in rows])
            frame = frame.map(lambda v: None if v == "" else v)
            frame.to_excel(writer, sheet_name=name, header=False, index=False)


def _write_csv(path, rows: list[list], notation: str) -> None:
    import csv

    delim, encoding = (";", "cp1252") if notation == "de" else (",", "utf-8")
    with open(path, "w", newline="", encoding=encoding, errors="replace") as fh:
        w = csv.writer(fh, delimiter=delim)
        for row in rows:
            w.writerow(["" if v is None else v for v in row])


def write_survey(
    out_dir,
    exposures: pd.DataFrame | None = None,
    *,
    seed: int = 0,
    damage: float = 1.0,
    formats: dict[str, float] | None = None,
    files_per_source_year: int = 1,
    catalogue: Catalogue | None = None,
) -> GeneratedSurvey:
    """Write survey submissions with realistic damage, and their ground truth.

    Parameters
    ----------
    out_dir : str or Path
        Folder to write into (created).
    exposures : pandas.DataFrame, optional
        Clean exposures from :func:`simulate_exposures` (default: its defaults).
    seed : int
        Seed for the damage.
    damage : float, default 1.0
        Scales how often each kind of damage occurs (0 writes clean templates).
    formats : dict, optional
        Share of each file format, e.g. ``{"xlsx": 0.6, "csv": 0.2, "xls": 0.1, "ods": 0.1}``.
    files_per_source_year : int, default 1
        Splits each data source's year over this many files (by facility).
    catalogue : Catalogue, optional

    Returns
    -------
    GeneratedSurvey
    """
    from pathlib import Path

    catalogue = catalogue or load_catalogue()
    exposures = simulate_exposures(seed=seed, catalogue=catalogue) if exposures is None else exposures
    formats = formats or {"xlsx": 0.6, "csv": 0.2, "xls": 0.1, "ods": 0.1}
    names, weights = list(formats), np.array(list(formats.values()), dtype=float)
    rng = np.random.default_rng(seed + 7919)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files, truth, junk = [], [], []
    for (source, year), part in exposures.groupby(["data_source", "year"], sort=True):
        facilities = sorted(part["facility_id"].unique(), key=lambda s: (len(s), s))
        chunks = np.array_split(np.array(facilities, dtype=object), files_per_source_year)
        for n, chunk in enumerate(chunks):
            sub = part[part["facility_id"].isin(set(chunk))]
            if sub.empty:
                continue
            fmt = str(rng.choice(names, p=weights / weights.sum()))
            style = _choose_style(rng, fmt, damage)
            slug = source.replace(" ", "_")
            suffix = f"_{n + 1:03d}" if files_per_source_year > 1 else ""
            short = f"submission_{slug.rsplit('_', 1)[-1]}{year % 100}{suffix}.{fmt}"
            stem = f"{slug}_{year}{suffix}.{fmt}" if style.name_labels else short
            if not style.name_labels and not style.labels:
                style.labels, style.header_at = True, max(style.header_at, 8)
            sheets, t_rows, j_rows, merged = _render_submission(sub, source, int(year), stem, style, catalogue, rng)
            path = out / stem
            id_col = style.order.index("facility_id")
            if fmt == "xlsx":
                _write_xlsx(path, sheets, merged, id_col, catalogue, with_template_sheets=style.labels)
            elif fmt == "xls":
                _write_xls(path, sheets)
            elif fmt == "ods":
                _write_ods(path, sheets)
            else:
                _write_csv(path, next(iter(sheets.values())), style.notation)
            files.append(path)
            truth.extend(t_rows)
            junk.extend(j_rows)
    truth_frame = pd.DataFrame(truth)
    return GeneratedSurvey(files, truth_frame, pd.DataFrame(junk, columns=["source_file", "sheet", "source_row", "kind"]))

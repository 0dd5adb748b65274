"""DRL statistics from the survey database to the written tables.

:func:`drl_from_database` loads the stored exposures and computes the tables
(:mod:`drl_analysis.stats.drl_tables`); :func:`write_drl_outputs` writes
``drl_table.csv``, ``drl_by_year.csv`` (full precision), ``drl_tables.xlsx``
(rounded for readers, with a sheet of parameters) and ``drl_parameters.json``.
This module is what notebook ``03_drl_quartiles`` and ``drl-analysis drl``
call; it also re-exports the computing functions, so ``drl.drl_table`` and
the like keep working.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.catalogue import Catalogue, load_catalogue
from ..core.columns import CT_QUANTITIES, DOSE_QUANTITIES, QUANTITIES
from ..core.errors import UserError
from ..core.paths import PROCESSED_DIR
from ..core.tables import no_formulas, write_csv
from ..core.years import format_years, parse_years
from ..store.urls import existing_database
from .drl_inputs import check_edition  # noqa: F401  (re-exported)
from .drl_status import (  # noqa: F401  (re-exported)
    DRL_STATUSES,
    MIN_FACILITIES,
    empty_table_reason,
    pick_exam,
    status_counts,
    status_summary,
)
from .drl_tables import (  # noqa: F401  (re-exported: the public names of the DRL statistics)
    CI_METHOD,
    CI_ORDER_METHOD,
    CONTRACT_COLUMNS,
    DETAIL_COLUMNS,
    FACILITY_KEYS,
    PARAMETER_COLUMNS,
    DrlResult,
    compute_drl,
    drl_by_year,
    drl_parameters,
    drl_table,
)
from .facilities import counted_values, facility_medians, facility_values  # noqa: F401  (re-exported)
from .quantiles import (  # noqa: F401  (re-exported)
    CI_LEVEL,
    CI_MIN_FACILITIES,
    QUANTILE_METHODS,
    bootstrap_ci,
    bootstrap_distribution,
    check_quantile_method,
    order_statistic_ci,
    qcd,
    quartiles,
)
from .selection import WEIGHT_EXEMPT_QUANTITIES  # noqa: F401  (re-exported)

logger = logging.getLogger(__name__)

#: Names of the files :func:`write_drl_outputs` writes.
OUTPUT_FILES: dict[str, str] = {
    "table": "drl_table.csv",
    "by_year": "drl_by_year.csv",
    "xlsx": "drl_tables.xlsx",
    "parameters": "drl_parameters.json",
}



def drl_from_database(
    db_url: str = "",
    *,
    years: str | Sequence[str | int] | None = None,
    catalogue: Catalogue | str | Path | None = None,
    min_per_facility: int = 10,
    min_facilities: int = MIN_FACILITIES,
    quantile_method: str = "linear",
    facility_statistic: str = "median",
    weight_range_kg: tuple[float, float] | str | None = None,
    edition: str | None = None,
    n_bootstrap: int = 2000,
    random_state: int = 0,
) -> DrlResult:
    """Load the stored exposures and compute the DRL tables.

    Parameters
    ----------
    db_url : str, default ""
        SQLAlchemy URL; "" takes the package's default SQLite database.
    years : str or sequence, optional
        ``"2021-2023"``, ``"2021,2023"``, ``[2022, 2023]``; None or "" for all.
    catalogue : Catalogue, str or Path, optional
        A catalogue or its CSV file (default: the shipped one).
    weight_range_kg : (float, float) or str, optional
        ``(50, 90)`` or ``"50-90"``; None or "" for no restriction.
    min_per_facility, min_facilities, quantile_method, facility_statistic, edition, n_bootstrap, random_state
        As in :func:`drl_table`; ``edition=""`` means the newest.

    Returns
    -------
    DrlResult

    Raises
    ------
    UserError
        For a missing database, no exposures in the selected years, or a bad parameter.
    """
    from ..core.paths import default_db_url
    from ..store.database import load_exposures

    year_list = parse_years(years)
    if isinstance(weight_range_kg, str):
        weight_range_kg = parse_range(weight_range_kg, "weight_range_kg") if weight_range_kg else None
    if not isinstance(catalogue, Catalogue):
        catalogue = load_catalogue(catalogue)
    check_quantile_method(quantile_method)
    edition = check_edition(catalogue, edition or None)
    url = existing_database(db_url or default_db_url())
    exposures = load_exposures(url, year_list)
    if exposures.empty:
        which = f" for the years {format_years(year_list)}" if year_list else ""
        raise UserError(f"--db: the database holds no exposures{which}")
    logger.info("drl: %d exposures loaded (years %s)", len(exposures), format_years(year_list) or "all")
    result = compute_drl(
        exposures,
        catalogue,
        min_per_facility=min_per_facility,
        min_facilities=min_facilities,
        quantile_method=quantile_method,
        facility_statistic=facility_statistic,
        weight_range_kg=weight_range_kg,
        edition=edition,
        years=year_list,
        n_bootstrap=n_bootstrap,
        random_state=random_state,
    )
    if result.empty_reason:
        logger.warning("no proposed DRL: %s", result.empty_reason)
    return result


def parse_range(value: str | None, name: str) -> tuple[float, float] | None:
    """A numeric range ``"50-90"`` -> ``(50.0, 90.0)``; None stays None."""
    if value is None:
        return None
    try:
        lo, hi = (float(x) for x in value.split("-", 1))
    except ValueError:
        raise UserError(f"{name}: {value!r} is not a range such as 50-90") from None
    if hi < lo:
        raise UserError(f"{name}: {value!r} has its upper end below its lower end")
    return lo, hi


def round_significant(values: np.ndarray | pd.Series, digits: int = 3) -> np.ndarray:
    """Round to ``digits`` significant figures (NaN stays NaN), for readers only.

    >>> round_significant(np.array([1234.5, 0.012345, 0.0]), 3).tolist()
    [1230.0, 0.0123, 0.0]
    """
    x = np.asarray(values, dtype=float)
    out = x.copy()
    ok = np.isfinite(x) & (x != 0)
    decimals = digits - 1 - np.floor(np.log10(np.abs(x[ok]))).astype(int)
    out[ok] = [round(float(v), int(d)) for v, d in zip(x[ok], decimals)]
    return out


def _reader_columns(unit: str, min_per_facility: int, by_year: bool, ct: bool) -> dict[str, str]:
    cols = {
        "exam_code": "Exam code",
        "exam_name": "Exam",
        **({"year": "Year"} if by_year else {}),
        "status": "Status",
        "n_facilities": "Facilities counted",
        "n_exams": "Exams counted",
        "p25": f"P25 [{unit}]",
        "p50": f"P50, achievable dose [{unit}]",
        "p75": f"P75, proposed DRL [{unit}]",
        "qcd": "QCD",
        "p75_ci_low": f"P75 95 % CI low* [{unit}]",
        "p75_ci_high": f"P75 95 % CI high* [{unit}]",
        "p75_ci_order_low": f"P75 distribution-free 95 % CI low* [{unit}]",
        "p75_ci_order_high": f"P75 distribution-free 95 % CI high* [{unit}]",
        "typical_value": f"Typical value (median, too few facilities for a DRL) [{unit}]",
        "p50_ci_low": f"P50 95 % CI low* [{unit}]",
        "p50_ci_high": f"P50 95 % CI high* [{unit}]",
        "current_drl": f"Current DRL [{unit}]",
        "drl_edition": "DRL edition",
        "p75_to_drl": "P75 / current DRL",
        "share_facilities_above_drl": "Facilities above current DRL [%]",
        "share_exams_above_drl": "Exams above current DRL [%]",
        "n_facilities_below_min": f"Facilities left out (< {min_per_facility} exams)",
        "n_exams_below_min": "Exams of facilities left out",
        "n_excluded_implausible": "Values left out: flagged implausible",
        "n_excluded_phantom": "Values left out: other CTDI phantom",
        "n_excluded_weight": "Values left out: weight outside range or missing",
        "mean_weight_kg": "Mean weight of counted patients [kg]",
        "ctdi_phantom_cm": "CTDI phantom [cm]",
    }
    if not ct:
        del cols["n_excluded_phantom"], cols["ctdi_phantom_cm"]
    return cols


def _reader_table(table: pd.DataFrame, quantity: str, min_per_facility: int, by_year: bool) -> pd.DataFrame:
    unit = QUANTITIES[quantity].unit
    cols = _reader_columns(unit, min_per_facility, by_year, quantity in CT_QUANTITIES)
    sub = table[table["quantity"] == quantity]
    out = pd.DataFrame(index=sub.index)
    for col, label in cols.items():
        v = sub[col]
        if col == "status":
            v = v.map(lambda x: DRL_STATUSES.get(x, x))
        elif col in ("p25", "p50", "p75", "p75_ci_low", "p75_ci_high", "p50_ci_low", "p50_ci_high", "current_drl",
                     "p75_ci_order_low", "p75_ci_order_high", "typical_value"):
            v = round_significant(v.to_numpy(dtype=float), 3)
        elif col == "qcd":
            v = v.round(3)
        elif col == "p75_to_drl":
            v = v.round(2)
        elif col.startswith("share_"):
            v = (v * 100).round(1)
        elif col == "mean_weight_kg":
            v = v.round(1)
        out[label] = v
    return out.reset_index(drop=True)


def parameter_rows(parameters: dict[str, object]) -> pd.DataFrame:
    """The parameters of a DRL result as a table for readers: Parameter, Value, Meaning."""
    meaning = {
        "facility_statistic": "A facility's value per exam: its median (or mean, pre-2022 German practice)",
        "quantile_method": "numpy percentile method of p25, p50, p75 (linear = Excel QUARTILE.INC)",
        "min_per_facility": "A facility counts only with at least this many exams of the exam and quantity",
        "min_facilities": "A proposed DRL (P75) needs at least this many counted facilities; fewer give a typical value",
        "years": "Survey years used",
        "years_requested": "Year filter given by the user",
        "weight_range_kg": "Patients kept, kg (empty: all)",
        "weight_range_exempt": "Quantities the weight range does not restrict (mammography: all breast sizes)",
        "edition_requested": "Catalogue edition of the current DRL (newest: the newest per exam and quantity)",
        "catalogue": "Exam catalogue",
        "catalogue_editions": "Editions the catalogue knows",
        "bootstrap_resamples": "Bootstrap resamples of facilities for the confidence intervals",
        "seed": "Seed of the bootstrap",
        "ci_method": "* Confidence intervals",
        "ci_order_method": "* Distribution-free interval of P75",
        "ci_min_facilities": "Intervals are left out below these numbers of facilities (coverage under 90 %)",
        "drl_definition": "Proposed DRL",
        "share_exams_above_drl": "Share of exams above the current DRL",
        "package_version": "drl-analysis version",
    }
    rows = [{"Parameter": k, "Value": str(v), "Meaning": meaning.get(k, "")} for k, v in parameters.items()]
    rows.append({
        "Parameter": "rounding",
        "Value": "doses 3 significant figures, QCD 3 decimals, shares 0.1 %",
        "Meaning": "This workbook rounds for readers; the CSV files keep full precision",
    })
    return pd.DataFrame(rows)


def _format_sheet(ws, widths: Sequence[int], freeze: str) -> None:
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for i, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = w
    ws.freeze_panes = freeze


def write_drl_xlsx(result: DrlResult, path: str | Path) -> Path:
    """Write both tables for readers: one sheet per table and quantity (units in
    the headers, rounded, header row and exam columns frozen) and a sheet
    ``Parameters`` stating how they were computed."""
    path = Path(path)
    min_n = int(result.parameters["min_per_facility"])
    with pd.ExcelWriter(path, engine="openpyxl") as xw:
        for prefix, table, by_year in (("DRL", result.table, False), ("By year", result.by_year, True)):
            present = [q for q in DOSE_QUANTITIES if (table["quantity"] == q).any()]
            for q in present:
                name = f"{prefix} {QUANTITIES[q].label} ({QUANTITIES[q].unit})"
                frame = _reader_table(table, q, min_n, by_year)
                frame.to_excel(xw, sheet_name=name, index=False)
                widths = [10, 34, *([7] if by_year else []), *[14] * (frame.shape[1] - (3 if by_year else 2))]
                _format_sheet(xw.sheets[name], widths, "D2" if by_year else "C2")
        params = parameter_rows(result.parameters)
        params.to_excel(xw, sheet_name="Parameters", index=False)
        _format_sheet(xw.sheets["Parameters"], [24, 60, 70], "A2")
        no_formulas(xw.book)
    return path


def write_drl_outputs(result: DrlResult, out_dir: str | Path | None = None) -> dict[str, Path]:
    """Write ``drl_table.csv``, ``drl_by_year.csv``, ``drl_tables.xlsx`` and
    ``drl_parameters.json`` into ``out_dir``.

    Parameters
    ----------
    result : DrlResult
    out_dir : str or Path, optional
        Created if missing; default ``data/processed/drl`` of the project.

    Returns
    -------
    dict of str to Path
        The written files by kind (keys of :data:`OUTPUT_FILES`).
    """
    out = Path(out_dir) if out_dir else PROCESSED_DIR / "drl"
    out.mkdir(parents=True, exist_ok=True)
    paths = {k: out / v for k, v in OUTPUT_FILES.items()}
    # CSV keeps full precision (shortest repr that round-trips).
    write_csv(result.table, paths["table"])
    write_csv(result.by_year, paths["by_year"])
    write_drl_xlsx(result, paths["xlsx"])
    doc = {
        "parameters": result.parameters,
        "n_exposures": int(result.n_exposures),
        "rows": {"drl_table": int(len(result.table)), "drl_by_year": int(len(result.by_year))},
        "status_counts": {str(k): int(v) for k, v in result.table["status"].value_counts(sort=False).items()},
        "summary": result.summary(),
        "files": [p.name for p in paths.values()],
    }
    paths["parameters"].write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return paths

"""The inputs of the DRL tables: the options and the exposures checked, and the
exposures prepared once (facility keys factorised, the values that count per
quantity, as :mod:`drl_analysis.stats.selection` decides).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..core.catalogue import Catalogue
from ..core.columns import DOSE_QUANTITIES
from ..core.errors import UserError
from .quantiles import check_quantile_method
from .selection import _labels, select_values

_REQUIRED = ("data_source", "facility_id", "exam_code")


def check_edition(catalogue: Catalogue, edition: str | None, *, name: str = "edition") -> str | None:
    """Return ``edition`` (None = newest per exam) if the catalogue gives it.

    Raises
    ------
    UserError
        For an edition the catalogue does not know; the message lists the known ones.
    """
    if edition is None or edition == "":
        return None
    known = catalogue.editions
    if edition not in known:
        raise UserError(f"{name}: the catalogue has no edition {edition!r}; known editions: {', '.join(known)}")
    return str(edition)


def _check_options(
    min_per_facility: int,
    min_facilities: int,
    quantile_method: str,
    facility_statistic: str,
    weight_range_kg: tuple[float, float] | None,
    n_bootstrap: int,
    random_state: int,
) -> None:
    check_quantile_method(quantile_method)
    if isinstance(min_per_facility, bool) or not isinstance(min_per_facility, (int, np.integer)) or min_per_facility < 1:
        raise UserError(f"min_per_facility: must be a whole number of at least 1, not {min_per_facility!r}")
    if isinstance(min_facilities, bool) or not isinstance(min_facilities, (int, np.integer)) or min_facilities < 1:
        raise UserError(f"min_facilities: must be a whole number of at least 1, not {min_facilities!r}")
    if facility_statistic not in ("median", "mean"):
        raise UserError(f"facility_statistic: must be 'median' or 'mean', not {facility_statistic!r}")
    if weight_range_kg is not None:
        lo, hi = weight_range_kg
        if not (np.isfinite(lo) and np.isfinite(hi)) or hi < lo:
            raise UserError(f"weight_range_kg: {weight_range_kg!r} is not a range (low, high) in kg")
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, (int, np.integer)) or n_bootstrap < 0:
        raise UserError(f"n_bootstrap: must be a whole number of at least 0, not {n_bootstrap!r}")
    if isinstance(random_state, bool) or not isinstance(random_state, (int, np.integer)) or random_state < 0:
        raise UserError(f"random_state: the seed must be a whole number of at least 0, not {random_state!r}")


def _check_exposures(exposures: pd.DataFrame) -> None:
    if not isinstance(exposures, pd.DataFrame):
        raise TypeError(f"exposures must be a pandas DataFrame, not {type(exposures).__name__}")
    missing = [c for c in _REQUIRED if c not in exposures.columns]
    if missing:
        raise ValueError(f"exposures lack the column(s) {', '.join(missing)}")
    if not any(q in exposures.columns for q in DOSE_QUANTITIES):
        raise ValueError(f"exposures hold none of the dose columns {', '.join(DOSE_QUANTITIES)}")


@dataclass
class _Prepared:
    """Exposures factorised once: integer codes and the selection per quantity."""

    n_rows: int
    exam_idx: np.ndarray  # -1 where the exam code is missing
    exam_codes: list[str]
    fac_idx: np.ndarray
    fac_source: list[str]
    fac_id: list[str]
    year_idx: np.ndarray  # -1 where the year is missing
    years: list[int]
    weight: np.ndarray
    ref_phantom: np.ndarray  # per exam, cm (NaN: none)
    values: dict[str, np.ndarray] = field(default_factory=dict)
    counted: dict[str, np.ndarray] = field(default_factory=dict)
    implausible: dict[str, np.ndarray] = field(default_factory=dict)
    phantom: dict[str, np.ndarray] = field(default_factory=dict)
    weight_out: dict[str, np.ndarray] = field(default_factory=dict)


def _prepare(
    exposures: pd.DataFrame,
    catalogue: Catalogue,
    *,
    weight_range_kg: tuple[float, float] | None,
    years: Iterable[int] | None,
) -> _Prepared:
    _check_exposures(exposures)
    if years is not None and "year" in exposures.columns:
        exposures = exposures[exposures["year"].isin([int(y) for y in years])]
    n = len(exposures)
    selection = select_values(exposures, catalogue, weight_range_kg=weight_range_kg)
    src_idx, src_uni = pd.factorize(exposures["data_source"], use_na_sentinel=False)
    id_idx, id_uni = pd.factorize(exposures["facility_id"], use_na_sentinel=False)
    fac_idx, fac_uni = pd.factorize(src_idx.astype(np.int64) * max(len(id_uni), 1) + id_idx)
    src_labels, id_labels = _labels(src_uni), _labels(id_uni)
    fac_uni = np.asarray(fac_uni, dtype=np.int64)
    fac_source = [src_labels[k // max(len(id_uni), 1)] for k in fac_uni]
    fac_id = [id_labels[k % max(len(id_uni), 1)] for k in fac_uni]
    if "year" in exposures.columns:
        year_idx, year_uni = pd.factorize(exposures["year"])
        year_list = [int(y) for y in year_uni]
    else:
        year_idx, year_list = np.full(n, -1), []
    weight = exposures["weight_kg"].to_numpy(dtype=float, na_value=np.nan) if "weight_kg" in exposures else np.full(n, np.nan)
    prep = _Prepared(
        n_rows=n,
        exam_idx=selection.exam_idx,
        exam_codes=selection.exam_codes,
        fac_idx=np.asarray(fac_idx),
        fac_source=fac_source,
        fac_id=fac_id,
        year_idx=np.asarray(year_idx),
        years=year_list,
        weight=weight,
        ref_phantom=selection.reference_phantom,
    )
    for q, sel in selection.quantities.items():
        prep.values[q] = sel.values
        prep.counted[q] = sel.counted
        prep.implausible[q] = sel.has("implausible_at_ingest", "not_positive")
        prep.phantom[q] = sel.has("other_phantom")
        prep.weight_out[q] = sel.has("weight_outside_range")
    return prep

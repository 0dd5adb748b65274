"""The values of the notebooks' parameters, checked before anything runs.

:func:`drl_analysis.pipeline.notebooks.check_parameters` checks each user
parameter's name and type against what the notebooks declare; this module
checks its value where the parameter has a range or a closed set of values
(a percentile method, an edition of the catalogue, a count of at least 1),
with the same rules the library applies when the notebook runs. A wrong value
is thus refused when ``drl-analysis run`` starts, not after the notebooks
before it have run. Parameters not listed here (free text such as a title)
are checked for their type only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from ..core.errors import UserError, suggestion


def _one_of(value: object, allowed: Sequence[str], what: str) -> str | None:
    if value in allowed:
        return None
    return f"{value!r} is not {what}{suggestion(str(value), allowed)} (one of {', '.join(allowed)})"


def _at_least(low: int, note: str = "") -> Callable[[object], str | None]:
    def check(value: object) -> str | None:
        if value >= low:  # type: ignore[operator]  (the type is checked before)
            return None
        return f"must be at least {low}{note}, not {value!r}"

    return check


def _quantile_method(value: object) -> str | None:
    from ..stats.quantiles import QUANTILE_METHODS

    return _one_of(value, QUANTILE_METHODS, "a numpy percentile method")


def _edition(value: object) -> str | None:
    if value == "":
        return None
    from ..core.catalogue import load_catalogue

    return _one_of(value, tuple(load_catalogue().editions), "an edition of the exam-code catalogue")


def _weight_range(value: object) -> str | None:
    if value == "":
        return None
    from ..stats.drl import parse_range

    try:
        parse_range(str(value), "weight_range")
    except UserError as exc:
        return str(exc).removeprefix("weight_range: ")
    return None


def _clusters(value: object) -> str | None:
    if value == 0 or value >= 2:  # type: ignore[operator]
        return None
    return f"must be 0 (chosen by the silhouette) or at least 2 clusters, not {value!r}"


def _year(value: object) -> str | None:
    if value == 0 or 1900 <= value <= 2100:  # type: ignore[operator]
        return None
    return f"must be a year such as 2024, or 0 for none, not {value!r}"


def _outlier_parameter(name: str) -> Callable[[object], str | None]:
    def check(value: object) -> str | None:
        from ..analysis.outliers import OutlierParameters

        try:
            OutlierParameters(**{name: value})
        except UserError as exc:
            return str(exc).removeprefix(f"{name}: ")
        return None

    return check


def _layout(value: object) -> str | None:
    from ..ocr.layouts import available_layouts

    if value == "auto" or value in available_layouts() or Path(str(value)).expanduser().is_file():
        return None
    known = ("auto", *available_layouts())
    return f"{value!r} is neither a layout nor a layout file{suggestion(str(value), known)} (layouts: {', '.join(known)})"


#: Parameter name -> its check: None when the value is good, else what is wrong with it.
VALUE_CHECKS: dict[str, Callable[[object], str | None]] = {
    "quantile_method": _quantile_method,
    "edition": _edition,
    "weight_range": _weight_range,
    "min_per_facility": _at_least(1),
    "bootstrap": _at_least(0, " (0: no interval)"),
    "seed": _at_least(0),
    "k": _clusters,
    "jobs": _at_least(0, " (0: every core)"),
    "year": _year,
    "layout": _layout,
    "z_threshold": _outlier_parameter("z_threshold"),
    "slip_min_decades": _outlier_parameter("slip_min_decades"),
    "min_alert_years": _outlier_parameter("min_alert_years"),
    "implausible_share_threshold": _outlier_parameter("implausible_share_threshold"),
}


def value_problem(name: str, value: object) -> str | None:
    """What is wrong with a parameter's value (its type already checked), or None."""
    check = VALUE_CHECKS.get(name)
    problem = check(value) if check is not None else None
    return f"parameter {name!r}: {problem}" if problem else None

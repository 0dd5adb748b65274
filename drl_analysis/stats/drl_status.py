"""The status of a DRL table's rows and what a DRL table says in words.

Each row of the DRL table has a ``status`` (:data:`DRL_STATUSES`): a proposed
DRL needs :data:`MIN_FACILITIES` counted facilities by default. This module
gives the sentence of a row (:func:`status_note`), the counts and summary of
a table (:func:`status_counts`, :func:`status_summary`), why a table proposes
no DRL (:func:`empty_table_reason`) and the exam its figures show
(:func:`pick_exam`). Computing the tables is :mod:`drl_analysis.stats.drl_tables`.
"""

from __future__ import annotations

import pandas as pd

from ..core.errors import UserError

#: What a row of the DRL table gives, by its ``status``, with the sentence the outputs use.
DRL_STATUSES: dict[str, str] = {
    "proposed": "proposed DRL (P75 of the facility medians)",
    "typical_value_only": "typical value only (median of fewer facilities than a proposed DRL needs)",
    "no_facility_with_enough_exams": "no facility with enough exams of this code",
    "no_value_counted": "every value left out (flagged implausible, other CTDI phantom or weight range)",
}

#: The default of ``min_facilities``: the fewest counted facilities for a
#: proposed DRL. ICRP 135 (2017) sets local DRLs from the medians of about 10 to
#: 20 rooms and calls the median of fewer a "typical value"; 11 is the fewest
#: from which P75 has a distribution-free 95 % interval (even the widest,
#: smallest to largest facility median, covers with 1 - 0.75**n - 0.25**n:
#: 94.4 % at 10, 95.8 % at 11). The percentile bootstrap needs 16 facilities
#: before its coverage stays above 90 % (``benchmarks/coverage.md``), so from
#: 11 to 15 facilities only the distribution-free interval is given.
MIN_FACILITIES = 11


def status_note(status: str, n_facilities: int, n_below: int, min_per_facility: int, min_facilities: int) -> str:
    """The sentence a DRL table row gives for its status.

    >>> status_note("typical_value_only", 4, 1, 10, 11)
    'median of 4 facilities; a proposed DRL needs 11 facilities with at least 10 exams'
    """
    if status == "proposed":
        return f"P75 of {n_facilities} facilities with at least {min_per_facility} exams"
    if status == "typical_value_only":
        return (f"median of {n_facilities} facilit{'y' if n_facilities == 1 else 'ies'}; a proposed DRL needs "
                f"{min_facilities} facilities with at least {min_per_facility} exams")
    if status == "no_facility_with_enough_exams":
        return (f"{n_below} facilit{'y' if n_below == 1 else 'ies'} with fewer than {min_per_facility} exams "
                "each; none counts")
    return DRL_STATUSES.get(status, status)


def empty_table_reason(
    table: pd.DataFrame, parameters: dict[str, object] | None = None, n_exposures: int | None = None
) -> str:
    """Why a DRL table proposes no DRL, as the notebook and the report say it; "" when it proposes one.

    >>> empty_table_reason(pd.DataFrame(), {"min_per_facility": 10})
    'no exam code has a facility with at least 10 exams; lower `min_per_facility` or add years'
    """
    if "status" in table.columns and (table["status"] == "proposed").any():
        return ""
    if "status" not in table.columns and not table.empty:
        return ""  # a table of an older version: every row was a proposed DRL
    if n_exposures == 0:
        return "the survey holds no exposures in the years selected"
    params = parameters or {}
    n = params.get("min_per_facility", "min_per_facility")
    if table.empty or not (table["n_facilities"] > 0).any():
        return f"no exam code has a facility with at least {n} exams; lower `min_per_facility` or add years"
    need = params.get("min_facilities", table["min_facilities"].iloc[0] if "min_facilities" in table else "")
    best = table.sort_values(["n_facilities", "exam_code"], ascending=[False, True], kind="stable").iloc[0]
    return (f"no exam code has the {need} facilities with at least {n} exams that a proposed DRL needs (at most "
            f"{int(best['n_facilities'])}, exam {best['exam_code']}); the table gives typical values (medians) instead")


def status_counts(table: pd.DataFrame) -> pd.DataFrame:
    """How many rows of a DRL table have each status, and on how many facilities they rest.

    Returns
    -------
    pandas.DataFrame
        One row per status present, in the order of :data:`DRL_STATUSES`:
        ``status``, ``rows``, ``facilities_min``, ``facilities_median``,
        ``facilities_max`` (counted facilities), ``facilities_below_min`` (all
        facilities with too few exams, summed) and ``exams`` (counted exams).
    """
    cols = ["status", "rows", "facilities_min", "facilities_median", "facilities_max", "facilities_below_min", "exams"]
    if table.empty or "status" not in table.columns:
        return pd.DataFrame(columns=cols)
    out = []
    for status in DRL_STATUSES:
        part = table[table["status"] == status]
        if part.empty:
            continue
        n = part["n_facilities"]
        below = part["n_facilities_below_min"] if "n_facilities_below_min" in part else pd.Series(0, index=part.index)
        out.append((status, len(part), int(n.min()), float(n.median()), int(n.max()),
                    int(below.fillna(0).sum()), int(part["n_exams"].fillna(0).sum())))
    return pd.DataFrame(out, columns=cols)


def _range(lo: int, hi: int, what: str) -> str:
    return f"{lo} {what}" if lo == hi else f"{lo} to {hi} {what}"


def status_summary(table: pd.DataFrame, parameters: dict[str, object] | None = None) -> str:
    """In words: how many DRLs the table proposes, on how many facilities, and what else it holds.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`drl_table` (or the report's DRL table, with ``status``).
    parameters : dict, optional
        :func:`drl_parameters`; default the parameter columns of the table.

    Examples
    --------
    >>> t = pd.DataFrame({"status": ["proposed", "typical_value_only"], "n_facilities": [12, 3],
    ...                   "n_facilities_below_min": [0, 2], "n_exams": [400, 90], "exam_code": ["1", "2"]})
    >>> status_summary(t, {"min_facilities": 11, "min_per_facility": 10})  # doctest: +NORMALIZE_WHITESPACE
    'Of 2 exam codes and dose quantities in the survey, 1 has a proposed DRL (P75), resting on 12 facilities.
    1 has only a typical value (the median of 3 facilities), since a proposed DRL needs at least 11 facilities
    with at least 10 exams each.'
    """
    if table.empty:
        return "The survey holds no exam code with a dose value in the years selected."
    params = dict(parameters or {})
    for key in ("min_facilities", "min_per_facility"):
        if key not in params and key in table.columns and len(table):
            params[key] = int(table[key].iloc[0])
    need, per = params.get("min_facilities", MIN_FACILITIES), params.get("min_per_facility", 10)
    counts = status_counts(table).set_index("status")

    def n_of(status: str) -> int:
        return int(counts.loc[status, "rows"]) if status in counts.index else 0

    total = len(table)
    proposed = n_of("proposed")
    parts = [f"Of {total} exam code{'s' if total != 1 else ''} and dose quantit{'ies' if total != 1 else 'y'} in "
             f"the survey, "]
    if proposed:
        c = counts.loc["proposed"]
        parts[0] += (f"{proposed} ha{'ve' if proposed != 1 else 's'} a proposed DRL (P75), resting on "
                     f"{_range(int(c['facilities_min']), int(c['facilities_max']), 'facilities')}"
                     + (f" (median {c['facilities_median']:g})" if c["facilities_min"] != c["facilities_max"] else "")
                     + ".")
    else:
        parts[0] += "none has a proposed DRL (P75)."
    typical = n_of("typical_value_only")
    if typical:
        c = counts.loc["typical_value_only"]
        lo, hi = int(c["facilities_min"]), int(c["facilities_max"])
        parts.append(f"{typical} ha{'ve' if typical != 1 else 's'} only a typical value (the median of "
                     f"{_range(lo, hi, 'facilities' if hi != 1 else 'facility')}), since a proposed DRL needs at "
                     f"least {need} facilities with at least {per} exams each.")
    none = n_of("no_facility_with_enough_exams")
    if none:
        c = counts.loc["no_facility_with_enough_exams"]
        parts.append(f"{none} ha{'ve' if none != 1 else 's'} no facility with {per} exams "
                     f"({int(c['facilities_below_min'])} facilities with fewer, left out).")
    left = n_of("no_value_counted")
    if left:
        parts.append(f"{left} ha{'ve' if left != 1 else 's'} no value that counts (every value flagged "
                     "implausible, of the other CTDI phantom or outside the weight range).")
    return " ".join(parts)


def pick_exam(table: pd.DataFrame, exam_code: str | None = None) -> tuple[str, str]:
    """The (exam code, quantity) with the most counted facilities, for figures.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`drl_table`.
    exam_code : str, optional
        Choose among this exam's quantities only; None or "" chooses among
        all rows, preferring those with a current DRL.

    Raises
    ------
    UserError
        If ``exam_code`` has no row with a counted facility in the table.
    """
    rows = table[table["n_facilities"] > 0] if "n_facilities" in table.columns else table
    if exam_code:
        rows = rows[rows["exam_code"].astype(str) == str(exam_code)]
        if rows.empty:
            raise UserError(f"exam_code: the DRL table has no row with a counted facility for exam {exam_code!r}")
    if rows.empty:
        raise UserError(f"the DRL table has no counted facility: {empty_table_reason(table)}")
    ranked = rows.assign(_drl=rows["current_drl"].notna()).sort_values(
        ["_drl", "n_facilities", "exam_code"], ascending=[False, False, True], kind="stable"
    )
    best = ranked.iloc[0]
    return str(best["exam_code"]), str(best["quantity"])

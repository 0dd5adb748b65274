"""The annual report's text, tables and figures as sections of HTML, written
from the report's tables: the PDF (:mod:`drl_analysis.reporting.pdf`) puts
them on pages after a title page and a table of contents, the publication
pages (:mod:`drl_analysis.reporting.public`) spread them over a few pages.

Everything a section says comes from the tables it is given (the identified
or the pseudonymised edition), so both editions and both media say the same;
tables and figures are numbered once per document, with captions and
alternative texts written from their data.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..analysis.outliers import DATA_QUALITY_ISSUES, REASON_PHRASES
from ..core.columns import QUANTITIES
from ..core.years import parse_years
from ..stats.drl_status import MIN_FACILITIES, empty_table_reason, status_summary
from ..stats.quantiles import CI_MIN_FACILITIES, MEASURED_COVERAGE
from .format import Numbering, drl_text, figure_html, format_value, interval_text, table_html
from .tables import drl_status, shown_parameters

e = html.escape


@dataclass
class ReportContext:
    """What the report says about itself: survey, years, edition, date, who made it."""

    title: str = "Annual report on diagnostic reference levels"
    survey: str = ""
    years: str = ""  # the years the numbers come from, e.g. "2022-2024"
    edition: str = ""  # one line: which edition and what that means
    pseudonymised: bool = False
    version: str = ""
    date: str = ""  # the run's date (YYYY-MM-DD), from its manifest
    institution: str = ""
    authors: str = ""


@dataclass
class Section:
    """One numbered section: its key, title, HTML body and the page it goes on in the pages."""

    key: str
    title: str
    body: str
    page: str
    number: str = ""


@dataclass
class Document:
    """The report's sections, figure and table counts included."""

    context: ReportContext
    sections: list[Section] = field(default_factory=list)
    numbering: Numbering = field(default_factory=Numbering)

    def section(self, key: str) -> Section | None:
        return next((s for s in self.sections if s.key == key), None)

    @staticmethod
    def numbering_hint(key: str) -> str:
        """The number of a section ("results": the heading over 3.1 to 3.5)."""
        return "3" if key == "results" else _NUMBERS.get(key, "")


def _p(*sentences: str) -> str:
    return "<p>" + " ".join(e(s) for s in sentences if s) + "</p>"


def _quantity(q: str) -> str:
    return QUANTITIES[q].label if q in QUANTITIES else str(q)


def _years_count(years: str) -> int:
    try:
        return len(parse_years(years)) if years else 0
    except Exception:  # noqa: BLE001 - a free-text year label
        return 0


def _given(tables: Mapping[str, pd.DataFrame]) -> dict[str, str]:
    """The run's parameters by name (the DRL's first, then the analysis')."""
    params = tables.get("parameters")
    out: dict[str, str] = {}
    if params is None or params.empty:
        return out
    for name, value, source in zip(params["parameter"], params["value"], params["from"]):
        key = f"analysis.{name}" if source == "parameters.csv" else name
        out.setdefault(key, "" if pd.isna(value) else str(value))
    return out


def _int(value: object, default: int) -> int:
    try:
        return int(float(str(value)))
    except (TypeError, ValueError):
        return default


def _pct(x: float) -> str:
    return format_value(x, "coverage").replace(".0 %", " %")


# ---------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------


def _introduction(doc: Document, tables: Mapping[str, pd.DataFrame]) -> str:
    c = doc.context
    years = f"the survey years {c.years}" if _years_count(c.years) != 1 else f"the survey year {c.years}"
    drl = tables.get("drl")
    n_rows = 0 if drl is None else len(drl)
    parts = [
        _p(f"This report proposes diagnostic reference levels (DRLs) from the patient-dose survey "
           f"{c.survey or '(unnamed)'} for {years or 'all stored years'}, compares them with the DRLs in force, "
           "and points to practice that deserves a closer look."),
        _p("A DRL is set at the 75th percentile (P75) of the distribution of facility medians of one examination "
           "and dose quantity; the median of that distribution (P50) is the achievable dose (ICRP Publication 135, "
           "2017). Where too few facilities took part, the median of their values is given as a typical value "
           "instead: the 75th percentile of a handful of facilities is no reference level."),
        _p(f"The survey holds {n_rows} combinations of exam code and dose quantity. Section "
           f"{doc.numbering_hint('results')} gives the proposed DRLs, the typical values and the exams the survey "
           "cannot say anything about, the share of exams above the current DRL by year, outlying values, "
           "alerts and clusters; the methods and the limitations follow."),
        _p("Every number in this report comes from the tables of the run that made it; those tables are "
           "published beside the report (CSV and xlsx), and the run can be repeated from its manifest "
           "(drl-analysis verify)."),
    ]
    return "".join(parts)


def _data(doc: Document, tables: Mapping[str, pd.DataFrame]) -> str:
    summary = tables.get("summary")
    drl = tables.get("drl")
    parts = []
    if drl is not None and len(drl):
        parts.append(_p(status_summary(drl, _drl_params(tables))))
    parts.append(table_html(summary, caption="The survey and the run in numbers.", number=_next_table(doc, summary),
                            columns={"item": "Item", "value": "Value"}, kinds={"value": "count"}, scroll=False,
                            empty="The run wrote no summary."))
    return "".join(parts)


def _drl_params(tables: Mapping[str, pd.DataFrame]) -> dict[str, int]:
    given = _given(tables)
    return {"min_facilities": _int(given.get("min_facilities"), MIN_FACILITIES),
            "min_per_facility": _int(given.get("min_per_facility"), 10)}


def _next_table(doc: Document, frame: pd.DataFrame | None) -> int | None:
    return doc.numbering.table() if frame is not None and len(frame) else None


def _figure(doc: Document, src: Callable[[str], str | None], kind: str, caption: str, alt: str) -> str:
    where = src(kind)
    if not where or not alt:
        return ""
    return figure_html(where, caption=caption, alt=alt, number=doc.numbering.figure(),
                       css_class="tall" if kind == "heatmap" else "")


def _coverage_sentence() -> str:
    def at(name: str) -> str:
        pairs = [(n, v[name]) for n, v in MEASURED_COVERAGE.items() if np.isfinite(v[name])]
        return ", ".join(f"{_pct(v)} at {n}" for n, v in pairs)

    return (f"In simulated surveys (lognormal facility medians, 4,000 surveys per size; benchmarks/coverage.md) the "
            f"bootstrap interval of P75 contained the true P75 in {at('p75_bootstrap')} facilities, the "
            f"distribution-free interval in {at('p75_order')} facilities (it exists from 11 on), and the bootstrap "
            f"interval of P50 the true P50 in {at('p50_bootstrap')} facilities. An interval is shown only where its "
            f"coverage stayed at or above 90 %: the bootstrap interval of P75 from "
            f"{CI_MIN_FACILITIES['p75_bootstrap']} facilities on (it covers only 86–90 % at 13 to 15), that of P50 "
            f"from {CI_MIN_FACILITIES['p50_bootstrap']}.")


def _methods(doc: Document, tables: Mapping[str, pd.DataFrame]) -> str:
    given = _given(tables)
    drl = tables.get("drl")
    per = _int(given.get("min_per_facility"), 10)
    need = _int(given.get("min_facilities"), MIN_FACILITIES)
    statistic = given.get("facility_statistic", "median") or "median"
    method = given.get("quantile_method", "linear") or "linear"
    method_note = {"linear": " (Excel's QUARTILE.INC)", "weibull": " (Excel's QUARTILE.EXC)"}.get(method, "")
    resamples = _int(given.get("bootstrap_resamples"), 0)
    weight = given.get("weight_range_kg", "")
    sums = {}
    if drl is not None and len(drl):
        for col in ("n_excluded_implausible", "n_excluded_phantom", "n_excluded_weight"):
            sums[col] = int(pd.to_numeric(drl.get(col, pd.Series(dtype=float)), errors="coerce").fillna(0).sum())
    selection = _p(
        "Which values count is decided once, for every statistic of the run. A dose value is left out when it has "
        "no exam code, when ingest flagged it implausible (outside the plausible range of its quantity, or a "
        "suspected unit slip within its submission), when it is not positive, or when it is a CT value "
        "(CTDIvol, DLP) stated for another CTDI phantom than its exam's reference phantom"
        + (f", or when the patient's weight lies outside {weight} kg or is missing (not for mammography)" if weight
           and weight not in ("–", "nan") else "")
        + ". Nothing is corrected or rescaled; each value left out is counted"
        + (f": {sums['n_excluded_implausible']} implausible values, {sums['n_excluded_phantom']} CT values of the "
           f"other phantom" + (f" and {sums['n_excluded_weight']} values outside the weight range"
                               if sums.get("n_excluded_weight") else "") if sums else "")
        + "."
    )
    phantoms = _p(
        "CT dose indices depend on the phantom they are referenced to: values for the 16 cm (head) phantom are "
        "two to three times those for the 32 cm (body) phantom of the same exposure. Head exams are referenced to "
        "16 cm and all others to 32 cm (the catalogue's assumption); an exam code the catalogue does not know takes "
        "the phantom most of its values state. Values of the other phantom are never pooled with the reference "
        "values. A CT value that states no phantom is taken to be in the reference phantom and listed among the "
        "data-quality findings."
    )
    facilities = _p(
        f"A facility is a pair of data source and facility ID (IDs repeat across data sources). For each exam code "
        f"and dose quantity, a facility counts with at least {per} counted exams; its {statistic} over them is its "
        f"value. P25, P50 and P75 of the facility values are computed with the percentile method '{method}'"
        f"{method_note}; the method matters at 10 to 30 facilities. A proposed DRL needs at least {need} facilities: "
        "ICRP 135 sets local DRLs from about 10 to 20 rooms and calls the median of fewer a typical value, and 11 "
        "is the fewest facilities for which P75 has a 95 % confidence interval that does not depend on the shape "
        f"of the distribution. With 1 to {need - 1} facilities the report gives their median as a typical value, "
        "without P25, P75 or intervals."
    )
    intervals = _p(
        "Two 95 % confidence intervals of P75 are given; they are this project's addition, not prescribed by any "
        "authority. The distribution-free interval lies between two of the facility values, chosen from the "
        "binomial distribution so that it covers the true P75 with at least 95 % whatever the shape of the "
        "distribution (the table of the run states its exact coverage). The bootstrap interval resamples facilities "
        f"with replacement ({resamples:,} resamples, fixed seed) and takes the 2.5th and 97.5th percentiles of the "
        "resampled P75; it covers less than 95 % with few facilities.",
        _coverage_sentence(),
    ) if resamples else _p(
        "The distribution-free 95 % interval of P75 lies between two of the facility values, chosen from the "
        "binomial distribution so that it covers the true P75 with at least 95 % whatever the shape of the "
        "distribution; it is this project's addition. The run computed no bootstrap intervals.",
        _coverage_sentence(),
    )
    compare = _p(
        "Each proposed DRL is compared with the DRL in force from the exam-code catalogue (the newest edition per "
        "exam unless the run named one): the ratio P75 / current DRL, the share of facilities whose value lies "
        "above the current DRL and the share of exams above it. Exam codes the catalogue does not know have no DRL "
        "to compare with."
    )
    analysis = _p(
        "Single values are judged on a log10 scale against their exam's values and their facility's values "
        f"(robust z, median and MAD; outliers beyond {given.get('analysis.z_threshold', '3.5')}); an outlier at "
        "least half a decade off is named a suspected unit slip with the nearest power of ten. Facilities whose "
        "median lies above the current DRL in several years raise an alert, as do data sources with a large share "
        "of implausible values. Exam codes are clustered by their dose/DRL profile over the years and data "
        "sources by the dispersion of their dose/DRL (KMeans with a fixed seed, the number of clusters chosen by "
        "the silhouette unless the run fixed it)."
    )
    return ("<h3>Which values count</h3>" + selection + "<h3>CT phantoms</h3>" + phantoms
            + "<h3>Facility values and percentiles</h3>" + facilities + "<h3>Confidence intervals</h3>" + intervals
            + "<h3>Comparison with the current DRLs</h3>" + compare + "<h3>Outliers, alerts and clusters</h3>"
            + analysis)


def _drl_view(drl: pd.DataFrame) -> pd.DataFrame:
    out = drl.copy()
    lo, hi = out.get("p75_ci_low"), out.get("p75_ci_high")
    out["p75_bootstrap_ci"] = [interval_text(a, b) for a, b in zip(lo, hi)] if lo is not None else "–"
    olo, ohi = out.get("p75_ci_order_low"), out.get("p75_ci_order_high")
    out["p75_order_ci"] = [interval_text(a, b) for a, b in zip(olo, ohi)] if olo is not None else "–"
    out["current_drl_text"] = [drl_text(v, ed) for v, ed in zip(out["current_drl"], out.get("drl_edition", [None] * len(out)))]
    return out


def _ratio_alt(proposed: pd.DataFrame) -> str:
    rated = proposed.dropna(subset=["p75_to_drl"]) if "p75_to_drl" in proposed else proposed.iloc[0:0]
    if rated.empty:
        return ""
    lo = rated.loc[rated["p75_to_drl"].idxmin()]
    hi = rated.loc[rated["p75_to_drl"].idxmax()]
    above = int((rated["p75_to_drl"] > 1).sum())
    return (f"Horizontal bar chart of P75 divided by the current DRL for {len(rated)} exam codes and quantities, "
            f"from {lo['p75_to_drl']:.2f} ({lo['exam_code']} {_quantity(lo['quantity'])}) to {hi['p75_to_drl']:.2f} "
            f"({hi['exam_code']} {_quantity(hi['quantity'])}); {above} lie above 1, the current DRL.")


def _proposed(doc: Document, tables: Mapping[str, pd.DataFrame], src) -> str:
    drl = tables.get("drl")
    if drl is None:
        return _p("This run has no DRL table.")
    status = drl_status(drl)
    proposed = drl[status == "proposed"]
    if proposed.empty:
        return _p(f"No proposed DRL: {empty_table_reason(drl, _drl_params(tables))}.")
    n = proposed["n_facilities"]
    parts = [_p(
        f"{len(proposed)} exam codes and quantities have a proposed DRL, resting on {int(n.min())} to "
        f"{int(n.max())} facilities." if n.min() != n.max() else
        f"{len(proposed)} exam code{'s' if len(proposed) != 1 else ''} and quantit"
        f"{'ies' if len(proposed) != 1 else 'y'} ha{'ve' if len(proposed) != 1 else 's'} a proposed DRL, resting on "
        f"{int(n.min())} facilities.",
        "P75 of the facility medians is the proposed DRL, P50 the achievable dose; doses are in the unit given "
        "with the quantity. The intervals marked * are this project's addition (see the methods).")]
    with_drl = proposed.dropna(subset=["p75_to_drl"]) if "p75_to_drl" in proposed else proposed.iloc[0:0]
    if len(with_drl):
        parts.append(_figure(doc, src, "ratio", "P75 of this survey's facility medians divided by the current DRL, "
                             "for each proposed DRL that has a current DRL; red bars lie above the current DRL.",
                             _ratio_alt(with_drl)))
    cols = ["exam_code", "exam_name", "quantity", "n_facilities", "n_exams", "p50", "p75", "p75_bootstrap_ci",
            "p75_order_ci", "current_drl_text", "p75_to_drl", "share_facilities_above_drl"]
    parts.append(table_html(_drl_view(proposed), caption="Proposed DRLs (P75 of the facility medians) against the "
                            "current DRLs.", number=doc.numbering.table(), columns=cols,
                            note="* 95 % confidence intervals, this project's addition: "
                            "bootstrap over facilities (from "
                            f"{CI_MIN_FACILITIES['p75_bootstrap']} facilities) and distribution-free between two "
                            "facility values (from 11 facilities); – where an interval is not given."))
    return "".join(parts)


def _typical(doc: Document, tables: Mapping[str, pd.DataFrame]) -> str:
    drl = tables.get("drl")
    if drl is None:
        return _p("This run has no DRL table.")
    status = drl_status(drl)
    params = _drl_params(tables)
    typical = drl[status == "typical_value_only"]
    none = drl[status.isin(["no_facility_with_enough_exams", "no_value_counted"])]
    parts = []
    if typical.empty:
        parts.append(_p("Every exam code and quantity with a counted facility has enough facilities for a "
                        "proposed DRL."))
    else:
        parts.append(_p(
            f"{len(typical)} exam codes and quantities have fewer than {params['min_facilities']} facilities with at "
            f"least {params['min_per_facility']} exams. Their typical value is the median of the facility medians; "
            "it is no reference level and says little beyond the facilities that took part."))
        cols = ["exam_code", "exam_name", "quantity", "n_facilities", "n_exams", "typical_value", "current_drl_text",
                "share_facilities_above_drl"]
        parts.append(table_html(_drl_view(typical), caption="Typical values (median of fewer facilities than a proposed DRL "
                                "needs).", number=doc.numbering.table(), columns=cols))
    if none.empty:
        parts.append(_p("Every exam code and quantity of the survey has at least one facility that counts."))
    else:
        parts.append(_p(
            f"{len(none)} exam codes and quantities of the survey have no facility that counts: each of their "
            f"facilities reported fewer than {params['min_per_facility']} exams, or every value was left out. They "
            "are listed so that nothing the survey holds goes unmentioned."))
        cols = ["exam_code", "exam_name", "quantity", "status", "n_facilities_below_min", "n_exams_below_min",
                "n_values", "n_excluded_implausible", "n_excluded_phantom"]
        parts.append(table_html(none, caption="Exam codes and quantities without a facility that counts.",
                                number=doc.numbering.table(), columns=cols))
    return "".join(parts)


def _heatmap_alt(share: pd.DataFrame) -> str:
    data = share.dropna(subset=["share_exams_above_drl"])
    if data.empty:
        return ""
    top = data.loc[data["share_exams_above_drl"].idxmax()]
    years = sorted({int(y) for y in data["year"]})
    rows = data[["exam_code", "quantity"]].drop_duplicates()
    return (f"Heat map of the share of exams above the current DRL: {len(rows)} exam codes and quantities (rows) by "
            f"survey year ({', '.join(map(str, years))}); the largest share is "
            f"{format_value(top['share_exams_above_drl'], 'share')} ({top['exam_code']} "
            f"{_quantity(top['quantity'])}, {int(top['year'])}).")


def _share_above(doc: Document, tables: Mapping[str, pd.DataFrame], src) -> str:
    share = tables.get("share_above")
    if share is None:
        return _p("This run has no DRL table by year.")
    has_drl = share.dropna(subset=["current_drl"]) if "current_drl" in share else share.iloc[0:0]
    if has_drl.empty:
        return _p("No exam code with a current DRL has a facility with enough exams in any one year.")
    figure = _figure(doc, src, "heatmap", "Share of the exams of each exam code and quantity whose dose exceeds the "
                     "current DRL, by survey year (exams of the facilities that count).", _heatmap_alt(has_drl))
    return _p("The share of exams above the current DRL counts the exams of the facilities that count for the exam "
              "in that year, whatever the number of facilities.") + (figure or _p("The figure was not drawn."))


def _alerts_text(alerts: pd.DataFrame, tables: Mapping[str, pd.DataFrame]) -> str:
    given = _given(tables)
    years = given.get("years", "")
    n_years = _years_count(years)
    m = _int(given.get("analysis.min_alert_years"), 2)
    if n_years == 1:
        return (f"With one survey year ({years}), a facility alert means that the facility's median lay above the "
                "current DRL in that year.")
    return (f"A facility alert means that the facility's median lay above the current DRL in at least {m} of the "
            f"years it reported, or in every year it reported (one year is enough for a facility that reported once)"
            f"; the survey covers {n_years or 'several'} years ({years}).")


def _outliers(doc: Document, tables: Mapping[str, pd.DataFrame]) -> str:
    if "outliers_by_reason" not in tables and "alerts" not in tables:
        return _p("This run has no outlier analysis.")
    parts = []
    outliers = tables.get("outliers_by_reason")
    if outliers is not None and len(outliers):
        view = outliers.assign(reason=outliers["reason"].map(lambda r: REASON_PHRASES.get(r, r)))
        parts.append(_p(f"{int(outliers['values'].sum())} dose values lie far from their exam's or their facility's "
                        "values; suspected unit slips are named."))
        parts.append(table_html(view, caption="Dose outliers by kind and quantity.", number=doc.numbering.table(),
                                columns=["reason", "quantity", "values"], scroll=False))
    else:
        parts.append(_p("No dose value lies far enough from its exam's or its facility's values to be an outlier."))
    quality = tables.get("data_quality_by_issue")
    if quality is not None and len(quality):
        parts.append(_p(f"{int(quality['values'].sum())} data-quality findings concern the data rather than the dose "
                        "(listed value by value in data_quality.csv)."))
        view = quality.assign(issue=quality["issue"].map(lambda i: DATA_QUALITY_ISSUES.get(i, i).split(":")[0]
                                                         .split(" (")[0]))
        parts.append(table_html(view, caption="Data-quality findings by issue and quantity.",
                                number=doc.numbering.table(), columns=["issue", "quantity", "values"], scroll=False))
    elif quality is not None:
        parts.append(_p("No data-quality finding."))
    alerts = tables.get("alerts")
    if alerts is None or alerts.empty:
        parts.append(_p("No alert."))
        return "".join(parts)
    facility = alerts[alerts["alert"] == "facility_above_drl"] if "alert" in alerts else alerts.iloc[0:0]
    if len(facility):
        parts.append(_p(f"{len(facility)} facility alerts.", _alerts_text(facility, tables)))
        cols = ["data_source", "facility_id", "exam_code", "quantity", "years", "years_reported", "facility_medians",
                "drl", "drl_edition"]
        parts.append(table_html(facility, caption="Facilities above the current DRL (years above, the years "
                                "reported and the facility's median per year, in the unit of the quantity).",
                                number=doc.numbering.table(),
                                columns={c: h for c, h in zip(cols, ["Data source", "Facility", "Exam code",
                                         "Quantity [unit]", "Years above the DRL", "Years reported",
                                         "Facility median by year", "Current DRL", "DRL edition"])}))
    other = alerts.drop(facility.index)
    if len(other):
        parts.append(_p(f"{len(other)} data sources have a large share of implausible dose values."))
        parts.append(table_html(other, caption="Data sources with a large share of implausible dose values.",
                                number=doc.numbering.table(),
                                columns=["data_source", "n_implausible", "n_values", "share_implausible"],
                                scroll=False))
    return "".join(parts)


def _clusters_alt(sizes: pd.DataFrame) -> str:
    parts = []
    for what, part in sizes.groupby("clustered", sort=False):
        parts.append(f"{what}: {len(part)} clusters of {', '.join(str(int(n)) for n in part['members'])} members")
    return "Bar charts of the members per cluster; " + "; ".join(parts) + "."


def _sources_alt(frame: pd.DataFrame) -> str:
    data = frame.dropna(subset=["median_dose_to_drl"])
    lo, hi = data["median_dose_to_drl"].min(), data["median_dose_to_drl"].max()
    return (f"Horizontal bar chart of the median dose/DRL of {len(data)} data sources, from {lo:.2f} to {hi:.2f}, "
            "coloured by cluster.")


def _clusters(doc: Document, tables: Mapping[str, pd.DataFrame], src) -> str:
    sizes = tables.get("cluster_sizes")
    if sizes is None or sizes.empty:
        return _p("This run has no clustering, or too few exam codes and data sources to cluster.")
    parts = [_p("Exam codes are grouped by their dose/DRL profile over the years, data sources (medical bodies) by "
                "the dispersion of their dose/DRL. A cluster is a description, not a judgement: the tables show "
                "what sets each apart.")]
    parts.append(_figure(doc, src, "clusters", "Members per cluster, exam codes and data sources.",
                         _clusters_alt(sizes)))
    parts.append(table_html(sizes.assign(clustered=sizes["clustered"].str.capitalize()),
                            caption="Members per cluster.", number=doc.numbering.table(), scroll=False))
    exams = tables.get("exam_clusters")
    if exams is not None and len(exams):
        view = exams.sort_values(["cluster", "exam_code"], kind="stable")
        parts.append(table_html(view, caption="Exam codes by cluster.", number=doc.numbering.table(),
                                columns=["cluster", "exam_code", "exam_name"]))
    sources = tables.get("source_clusters")
    if sources is not None and len(sources):
        if "median_dose_to_drl" in sources and sources["median_dose_to_drl"].notna().any():
            parts.append(_figure(doc, src, "sources", "Median dose/DRL of each data source's values, coloured by "
                                 "its cluster; 1 is the current DRL.", _sources_alt(sources)))
        parts.append(table_html(sources, caption="Data sources by cluster.", number=doc.numbering.table(),
                                columns=["data_source", "cluster", "median_dose_to_drl", "n_values", "n_exam_codes"],
                                scroll=False))
    return "".join(parts)


def _limitations(doc: Document, tables: Mapping[str, pd.DataFrame]) -> str:
    drl = tables.get("drl")
    params = _drl_params(tables)
    items = []
    if drl is not None and len(drl):
        status = drl_status(drl)
        proposed = drl[status == "proposed"]
        few = proposed[proposed["n_facilities"] < 20]
        if len(proposed):
            items.append(f"Few facilities: the {len(proposed)} proposed DRLs rest on {int(proposed['n_facilities'].min())}"
                         f" to {int(proposed['n_facilities'].max())} facilities; {len(few)} of them on fewer than 20, "
                         "where P75 is uncertain by tens of per cent (see the intervals).")
        typical = int((status == "typical_value_only").sum())
        if typical:
            items.append(f"For {typical} exam codes and quantities fewer than {params['min_facilities']} facilities "
                         "counted: they have a typical value only, which describes those facilities and is no "
                         "reference level.")
        below = int(pd.to_numeric(drl.get("n_facilities_below_min"), errors="coerce").fillna(0).sum())
        below_exams = int(pd.to_numeric(drl.get("n_exams_below_min"), errors="coerce").fillna(0).sum())
        if below:
            items.append(f"Excluded data: across exam codes, {below} facilities reported fewer than "
                         f"{params['min_per_facility']} exams of a code ({below_exams} exams in all) and do not count "
                         "for it.")
        left = {c: int(pd.to_numeric(drl.get(c), errors="coerce").fillna(0).sum())
                for c in ("n_excluded_implausible", "n_excluded_phantom", "n_excluded_weight")}
        if any(left.values()):
            items.append(f"Excluded data: {left['n_excluded_implausible']} values flagged implausible at ingest, "
                         f"{left['n_excluded_phantom']} CT values of the other phantom"
                         + (f" and {left['n_excluded_weight']} values outside the weight range" if left[
                             "n_excluded_weight"] else "")
                         + " were left out; if they are real doses, the DRLs are biased low.")
    items += [
        "The facilities report their own data, and those that take part are no random sample of all facilities; "
        "the intervals describe the spread of the facilities that took part, not how representative they are.",
        "The bootstrap interval covers less than its nominal 95 % with few facilities; where it is given beside the "
        "distribution-free interval, the wider of the two is the safer reading.",
        "Exam codes the catalogue does not know have no DRL to compare with, and their CT phantom is inferred from "
        "the data.",
    ]
    if doc.context.pseudonymised:
        items.append("Data sources and facilities appear as keyed pseudonyms, stable for one key; the identified "
                     "edition, for internal use, names them.")
    return "<ul>" + "".join(f"<li>{e(i)}</li>" for i in items) + "</ul>"


def _parameters(doc: Document, tables: Mapping[str, pd.DataFrame]) -> str:
    shown = shown_parameters(tables.get("parameters"))
    return (_p("The choices of the run; every output of the run states them, and the report's parameter table "
               "(written beside it) lists the technical settings too.")
            + table_html(shown, caption="Parameters of the run.", number=_next_table(doc, shown),
                         columns={"label": "Parameter", "value": "Value"}, kinds={"value": "text"}, scroll=False,
                         empty="The run states no parameters."))


def _provenance(doc: Document, tables: Mapping[str, pd.DataFrame]) -> str:
    prov = tables.get("provenance")
    text = _p("Every number in this report comes from the tables the run wrote. The run's manifest lists its inputs "
              "with their SHA-256, the parameters and the software; drl-analysis verify reruns it and compares every "
              "table.")
    if doc.context.pseudonymised:
        text += _p("Input files appear by number and SHA-256 only: their names often carry the data source.")
    return text + table_html(prov, caption="Inputs and software of the run.", number=_next_table(doc, prov),
                             columns={"kind": "Kind", "item": "Item", "value": "Value"}, scroll=True,
                             empty="The run's manifest was not available.")


#: The sections in order: key, title, the page of the publication pages it goes on.
SECTIONS: tuple[tuple[str, str, str], ...] = (
    ("introduction", "Introduction", "index"),
    ("data", "The survey in numbers", "index"),
    ("drl", "Proposed DRLs", "drl"),
    ("typical", "Typical values and exams without a DRL", "drl"),
    ("share_above", "Exams above the current DRL, by year", "drl"),
    ("outliers", "Outliers, data quality and alerts", "analysis"),
    ("clusters", "Clusters of exam codes and data sources", "analysis"),
    ("methods", "Methods", "methods"),
    ("limitations", "Limitations", "methods"),
    ("parameters", "Parameters", "methods"),
    ("provenance", "Data provenance", "methods"),
)

#: Section numbers: results are grouped under one heading in the PDF.
_NUMBERS = {"introduction": "1", "data": "2", "drl": "3.1", "typical": "3.2", "share_above": "3.3",
            "outliers": "3.4", "clusters": "3.5", "methods": "4", "limitations": "5", "parameters": "A",
            "provenance": "B"}


def build_document(
    tables: Mapping[str, pd.DataFrame],
    figure_src: Callable[[str], str | None] | Mapping[str, str],
    context: ReportContext,
) -> Document:
    """The report's sections from its tables.

    Parameters
    ----------
    tables : mapping of str to DataFrame
        As :func:`drl_analysis.reporting.tables.build_report_tables` (or its
        pseudonymised edition) returns, or as read back from its CSV files.
    figure_src : callable or mapping
        Figure kind (``ratio``, ``heatmap``, ``clusters``, ``sources``) -> the
        ``src`` of its image; a figure without one is left out with its number.
    context : ReportContext
    """
    src = figure_src if callable(figure_src) else (lambda kind: figure_src.get(kind))
    doc = Document(context)
    builders = {
        "introduction": lambda: _introduction(doc, tables),
        "data": lambda: _data(doc, tables),
        "drl": lambda: _proposed(doc, tables, src),
        "typical": lambda: _typical(doc, tables),
        "share_above": lambda: _share_above(doc, tables, src),
        "outliers": lambda: _outliers(doc, tables),
        "clusters": lambda: _clusters(doc, tables, src),
        "methods": lambda: _methods(doc, tables),
        "limitations": lambda: _limitations(doc, tables),
        "parameters": lambda: _parameters(doc, tables),
        "provenance": lambda: _provenance(doc, tables),
    }
    for key, title, page in SECTIONS:
        doc.sections.append(Section(key, title, builders[key](), page, _NUMBERS[key]))
    return doc


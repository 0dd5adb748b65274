"""Figures of the DRL statistics.

Matplotlib/seaborn figures for notebooks and PDF reports, and plotly versions
of the per-exam histogram and the heatmap for interactive HTML reports. Every
function takes the tables of :mod:`drl_analysis.stats.drl` (``drl_table``,
``drl_by_year``, ``facility_medians``, ``counted_values``), draws one figure
and returns its Axes (or plotly Figure); axes carry the dose unit.

Facilities appear by rank, never by name or ID, so the figures can go into
a pseudonymised report unchanged.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..core.catalogue import Catalogue, edition_year, load_catalogue
from ..core.columns import QUANTITIES, header_label

# One colour per marker, the same in every figure.
COLOURS = {"p25": "#7f7f7f", "p50": "#1f77b4", "p75": "#d62728", "drl": "#000000"}


def _quantity_label(quantity: str) -> str:
    if quantity not in QUANTITIES:
        raise ValueError(f"unknown quantity {quantity!r}")
    return header_label(quantity)


def _row(table: pd.DataFrame, exam_code: str, quantity: str) -> pd.Series:
    hit = table[(table["exam_code"].astype(str) == str(exam_code)) & (table["quantity"] == quantity)]
    if hit.empty:
        raise ValueError(f"the table has no row for exam {exam_code!r} and quantity {quantity!r}")
    return hit.iloc[0]


def _statistic(row: pd.Series) -> str:
    return str(row.get("facility_statistic", "median") or "median")


def _title(row: pd.Series) -> str:
    name = f" {row['exam_name']}" if isinstance(row.get("exam_name"), str) and row["exam_name"] else ""
    return f"{row['exam_code']}{name}"


def _axes(ax, figsize):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _empty(ax, message: str):
    """An axes that says why there is nothing to draw (a notebook keeps running)."""
    ax = _axes(ax, (6, 1.5))
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()
    return ax


def _markers(row: pd.Series) -> list[tuple[str, float, str, str]]:
    """(key, value, label, line style) of the quartiles and the current DRL."""
    unit = QUANTITIES[row["quantity"]].unit
    proposed = str(row.get("status", "proposed")) == "proposed"
    out = [
        ("p25", row["p25"], f"P25 {row['p25']:.3g} {unit}", ":"),
        ("p50", row["p50"], (f"P50 (achievable dose) {row['p50']:.3g} {unit}" if proposed
                             else f"Typical value (median) {row['p50']:.3g} {unit}"), "--"),
        ("p75", row["p75"], f"P75 (proposed DRL) {row['p75']:.3g} {unit}", "-"),
    ]
    if pd.notna(row["current_drl"]):
        out.append(("drl", row["current_drl"], f"Current DRL {row['drl_edition']} {row['current_drl']:.3g} {unit}", "-."))
    # A row without a proposed DRL has no P25 and P75: no line for them.
    return [m for m in out if pd.notna(m[1])]


def _integer_axis(axis) -> None:
    """Counts get whole-number ticks only."""
    import matplotlib.ticker

    axis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))


def describe_histogram(facilities: pd.DataFrame, table: pd.DataFrame, exam_code: str, quantity: str) -> str:
    """An alternative text for :func:`facility_histogram`, written from its data."""
    row = _row(table, exam_code, quantity)
    sel = facilities[(facilities["exam_code"].astype(str) == str(exam_code)) & (facilities["quantity"] == quantity)
                     & facilities["counted"].astype(bool)]
    unit = QUANTITIES[quantity].unit
    values = sel["value"].to_numpy(dtype=float)
    text = (f"Histogram of the facility {_statistic(row)}s of {_title(row)}, {QUANTITIES[quantity].label}: "
            f"{len(values)} facilities from {values.min():.3g} to {values.max():.3g} {unit}")
    marks = "; ".join(label for _, _, label, _ in _markers(row))
    return f"{text}; lines at {marks}." if marks else f"{text}."


def facility_histogram(
    facilities: pd.DataFrame,
    table: pd.DataFrame,
    exam_code: str,
    quantity: str,
    *,
    bins: int | str = "auto",
    ax=None,
):
    """Histogram of one exam's facility medians with P25, P50, P75 and the current DRL.

    Parameters
    ----------
    facilities : pandas.DataFrame
        :func:`drl_analysis.stats.drl.facility_medians` (or ``DrlResult.facilities``):
        only rows with ``counted`` are drawn.
    table : pandas.DataFrame
        :func:`drl_analysis.stats.drl.drl_table`, for the quartiles and the DRL.
    exam_code : str
    quantity : str
        A dose column such as ``"ctdivol_mgy"``; the x axis is in its unit.
    bins : int or str, default "auto"
        As :func:`numpy.histogram_bin_edges`.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    row = _row(table, exam_code, quantity)
    sel = facilities[
        (facilities["exam_code"].astype(str) == str(exam_code))
        & (facilities["quantity"] == quantity)
        & facilities["counted"].astype(bool)
    ]
    if "year" in sel.columns and "year" in table.columns and pd.notna(row.get("year")):
        sel = sel[sel["year"] == row["year"]]
    values = sel["value"].to_numpy(dtype=float)
    ax = _axes(ax, (7, 4))
    ax.hist(values, bins=np.histogram_bin_edges(values, bins=bins), color="#c6dbef", edgecolor="#4a6f8a")
    for key, value, label, style in _markers(row):
        ax.axvline(value, color=COLOURS[key], linestyle=style, linewidth=1.6, label=label)
    ax.set_xlabel(f"Facility {_statistic(row)} of {_quantity_label(quantity)}")
    ax.set_ylabel("Facilities [count]")
    _integer_axis(ax.yaxis)
    ax.set_title(f"{_title(row)}: {int(row['n_facilities'])} facilities, {int(row['n_exams'])} exams")
    ax.legend(fontsize="small", frameon=False)
    return ax


def facility_boxes(
    values: pd.DataFrame,
    table: pd.DataFrame,
    exam_code: str,
    quantity: str,
    *,
    max_facilities: int = 40,
    log_scale: bool = False,
    ax=None,
):
    """Each counted facility's exams as a box with points, against the current DRL.

    Facilities are ordered by their median and shown by rank. With more than
    ``max_facilities`` facilities, evenly spaced ranks are shown (the title
    says so), so the picture of the whole distribution is kept.

    Parameters
    ----------
    values : pandas.DataFrame
        :func:`drl_analysis.stats.drl.counted_values` of this exam and quantity:
        ``data_source, facility_id, value``.
    table : pandas.DataFrame
        :func:`drl_analysis.stats.drl.drl_table` (its ``min_per_facility`` column
        decides which facilities count).
    exam_code, quantity : str
    max_facilities : int, default 40
    log_scale : bool, default False
        A logarithmic dose axis, for exams whose facilities differ by factors.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    row = _row(table, exam_code, quantity)
    min_n = int(row.get("min_per_facility", 1))
    data = values.assign(facility=values["data_source"].astype(str) + "\x1f" + values["facility_id"].astype(str))
    stats = data.groupby("facility")["value"].agg(["size", "median"])
    stats = stats[stats["size"] >= min_n].sort_values(["median"], kind="stable")
    if stats.empty:
        raise ValueError(f"no facility of exam {exam_code!r} has {min_n} exams of {quantity}")
    shown = np.arange(1, len(stats) + 1)
    if len(stats) > max_facilities:
        shown = np.unique(np.linspace(1, len(stats), max_facilities).round().astype(int))
    groups = dict(tuple(data.groupby("facility")["value"]))
    boxes = [groups[stats.index[r - 1]].to_numpy(dtype=float) for r in shown]
    ax = _axes(ax, (9, 4))
    positions = np.arange(len(shown))
    ax.boxplot(
        boxes, positions=positions, widths=0.6, showfliers=False, patch_artist=True,
        boxprops={"facecolor": "#c6dbef", "edgecolor": "#4a6f8a", "linewidth": 0.8},
        medianprops={"color": "#4a6f8a"}, whiskerprops={"color": "#4a6f8a"}, capprops={"color": "#4a6f8a"},
    )
    # Fixed jitter seed: the same data always give the same picture.
    jitter = np.random.default_rng(0)
    for pos, vals in zip(positions, boxes):
        ax.scatter(pos + jitter.uniform(-0.25, 0.25, vals.size), vals, s=4, color="#4a6f8a", alpha=0.5,
                   linewidths=0)
    order = [int(r) for r in shown]
    for key, value, label, style in _markers(row):
        if key in ("p75", "drl"):
            ax.axhline(value, color=COLOURS[key], linestyle=style, linewidth=1.4, label=label)
    if log_scale:
        ax.set_yscale("log")
    ax.set_xlabel("Facility rank by its median (1 = lowest)")
    ax.set_ylabel(f"{_quantity_label(quantity)} per exam")
    step = max(1, len(order) // 20)
    ax.set_xticks(positions[::step], [str(r) for r in order[::step]])
    note = f", {len(order)} of {len(stats)} shown" if len(order) < len(stats) else ""
    ax.set_title(f"{_title(row)}: exams per facility{note}")
    ax.legend(fontsize="small", frameon=False)
    return ax


def _heatmap_frame(by_year: pd.DataFrame, quantity: str | None) -> pd.DataFrame:
    data = by_year[by_year["current_drl"].notna()]
    if quantity is not None:
        data = data[data["quantity"] == quantity]
    if data.empty:
        raise ValueError("no exam with a current DRL in the table" + (f" for {quantity}" if quantity else ""))
    label = data["exam_code"].astype(str) + " " + data["quantity"].map(lambda q: QUANTITIES[q].label)
    grid = (data.assign(label=label, share=data["share_exams_above_drl"] * 100.0)
            .pivot_table(index="label", columns="year", values="share", aggfunc="first", sort=True))
    grid.columns = [int(c) for c in grid.columns]
    return grid


def share_above_heatmap(by_year: pd.DataFrame, *, quantity: str | None = None, ax=None):
    """Share of exams above the current DRL by exam code and survey year.

    Parameters
    ----------
    by_year : pandas.DataFrame
        :func:`drl_analysis.stats.drl.drl_by_year`; exams without a current DRL are left out.
    quantity : str, optional
        Only this dose quantity (default: every quantity with a DRL).
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
        Without any exam with a current DRL, an axes that says so.
    """
    import seaborn as sns

    try:
        grid = _heatmap_frame(by_year, quantity)
    except ValueError as exc:
        return _empty(ax, str(exc))
    ax = _axes(ax, (max(6.0, 2.5 + 0.9 * grid.shape[1]), max(2.5, 1.2 + 0.22 * grid.shape[0])))
    sns.heatmap(
        grid, ax=ax, cmap="Reds", vmin=0, vmax=100, annot=True, fmt=".0f", linewidths=0.5,
        cbar_kws={"label": "Exams above current DRL [%]"}, annot_kws={"fontsize": "small"},
    )
    ax.set_xlabel("Survey year")
    ax.set_ylabel("Exam code and quantity")
    ax.set_title("Share of exams above the current DRL [%]")
    return ax


def p75_trend(
    by_year: pd.DataFrame,
    exam_code: str,
    quantity: str,
    catalogue: Catalogue | None = None,
    *,
    ax=None,
):
    """P75 (with its bootstrap interval) and P50 over the survey years against the DRL editions.

    Each catalogue edition that gives a DRL for the exam is drawn as a step
    from its year on, so a reader sees which DRL applied when.

    Parameters
    ----------
    by_year : pandas.DataFrame
        :func:`drl_analysis.stats.drl.drl_by_year`.
    exam_code, quantity : str
    catalogue : Catalogue, optional
        Source of the DRL editions (default: the shipped catalogue).
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
        Without a year of this exam in ``by_year``, an axes that says so.
    """
    catalogue = catalogue or load_catalogue()
    rows = by_year[(by_year["exam_code"].astype(str) == str(exam_code)) & (by_year["quantity"] == quantity)]
    rows = rows.sort_values("year")
    if rows.empty:
        return _empty(ax, f"no year with enough facilities for exam {exam_code} and {quantity}")
    years = rows["year"].to_numpy(dtype=int)
    ax = _axes(ax, (7, 4))
    err = np.vstack([rows["p75"] - rows["p75_ci_low"], rows["p75_ci_high"] - rows["p75"]])
    has_ci = np.isfinite(err).all()
    ax.errorbar(
        years, rows["p75"], yerr=err if has_ci else None, color=COLOURS["p75"], marker="o", capsize=4,
        label="P75 (proposed DRL)" + (", 95 % bootstrap CI*" if has_ci else ""),
    )
    ax.plot(years, rows["p50"], color=COLOURS["p50"], marker="s", linestyle="--", label="P50 (achievable dose)")
    drls = catalogue.drls[(catalogue.drls["exam_code"] == str(exam_code)) & (catalogue.drls["quantity"] == quantity)]
    drls = drls.assign(y=drls["edition"].map(edition_year)).sort_values("y")
    lo, hi = years.min() - 0.5, years.max() + 0.5
    starts = drls["y"].tolist()
    for i, d in enumerate(drls.itertuples(index=False)):
        start = max(float(d.y), lo)
        end = min(float(starts[i + 1]) if i + 1 < len(starts) else hi, hi)
        if end > start:
            ax.hlines(d.drl_value, start, end, colors=COLOURS["drl"], linestyles="-.", linewidth=1.4)
            ax.annotate(f"DRL {d.edition}", (start, d.drl_value), textcoords="offset points", xytext=(2, 3),
                        fontsize="small")
    ax.set_xticks(years)
    ax.set_xlim(lo, hi)
    ax.set_xlabel("Survey year")
    ax.set_ylabel(f"{_quantity_label(quantity)}")
    row = rows.iloc[-1]
    ax.set_title(f"{_title(row)}: P75 over the years")
    ax.legend(fontsize="small", frameon=False)
    if has_ci:
        ax.figure.text(0.01, 0.01, "* project's addition, not prescribed by any authority", fontsize="x-small")
    return ax


# --------------------------------------------------------------------------
# Interactive versions (plotly) for HTML reports
# --------------------------------------------------------------------------


def facility_histogram_plotly(facilities: pd.DataFrame, table: pd.DataFrame, exam_code: str, quantity: str):
    """Interactive :func:`facility_histogram`: a plotly Figure.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    import plotly.graph_objects as go

    row = _row(table, exam_code, quantity)
    sel = facilities[
        (facilities["exam_code"].astype(str) == str(exam_code))
        & (facilities["quantity"] == quantity)
        & facilities["counted"].astype(bool)
    ]
    fig = go.Figure(go.Histogram(x=sel["value"], marker_color="#9ecae1", name="Facilities",
                                 hovertemplate="%{x}: %{y} facilities<extra></extra>"))
    dash = {":": "dot", "--": "dash", "-": "solid", "-.": "dashdot"}
    for key, value, label, style in _markers(row):
        fig.add_vline(x=float(value), line_color=COLOURS[key], line_dash=dash[style])
        # An invisible trace puts each marker line in the legend.
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name=label,
                                 line={"color": COLOURS[key], "dash": dash[style]}))
    fig.update_layout(
        title=f"{_title(row)}: {int(row['n_facilities'])} facilities, {int(row['n_exams'])} exams",
        xaxis_title=f"Facility {_statistic(row)} of {_quantity_label(quantity)}",
        yaxis_title="Facilities [count]",
        template="plotly_white",
        bargap=0.05,
    )
    # Counts: whole-number ticks only (about six of them).
    fig.update_yaxes(tickformat="d", dtick=max(1, int(np.ceil(len(sel) / 6))), rangemode="tozero")
    return fig


def share_above_heatmap_plotly(by_year: pd.DataFrame, *, quantity: str | None = None):
    """Interactive :func:`share_above_heatmap`: a plotly Figure.

    Returns
    -------
    plotly.graph_objects.Figure
        Without any exam with a current DRL, a figure that says so.
    """
    import plotly.graph_objects as go

    try:
        grid = _heatmap_frame(by_year, quantity)
    except ValueError as exc:
        fig = go.Figure()
        fig.add_annotation(text=str(exc), showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
        fig.update_layout(template="plotly_white", xaxis_visible=False, yaxis_visible=False)
        return fig
    text = grid.map(lambda v: "" if pd.isna(v) else f"{v:.0f}")
    fig = go.Figure(
        go.Heatmap(
            z=grid.to_numpy(), x=[str(c) for c in grid.columns], y=list(grid.index), zmin=0, zmax=100,
            colorscale="Reds", text=text.to_numpy(), texttemplate="%{text}",
            colorbar={"title": {"text": "Exams above current DRL [%]"}},
            hovertemplate="%{y}, %{x}: %{z:.1f} % of exams above the current DRL<extra></extra>",
        )
    )
    fig.update_layout(
        title="Share of exams above the current DRL [%]",
        xaxis_title="Survey year",
        yaxis_title="Exam code and quantity",
        yaxis={"autorange": "reversed", "type": "category"},
        xaxis={"type": "category"},
        template="plotly_white",
        height=max(300, 120 + 22 * grid.shape[0]),
    )
    return fig

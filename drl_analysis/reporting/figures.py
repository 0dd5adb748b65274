"""Static figures of the annual report, drawn from the report's own tables (PNG),
and the interactive versions notebook 05 shows."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.columns import QUANTITIES
from .tables import REPORT_NAME

# ---------------------------------------------------------------------------
# Static figures for the PDF
# ---------------------------------------------------------------------------


def _save(fig, path: Path) -> Path:
    """PNG, or SVG whose text stays text (pages search it for names, and readers can select it).

    No timestamp or software version in the file, so a rerun writes the same bytes.
    """
    import matplotlib
    import matplotlib.pyplot as plt

    if Path(path).suffix == ".svg":
        with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "drl-analysis"}):
            fig.savefig(path, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    else:
        fig.savefig(path, dpi=150, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return path


def heatmap_figure(share_above: pd.DataFrame, path: str | Path) -> Path | None:
    """Share of exams above the current DRL, exam × year, as PNG
    (:func:`drl_analysis.stats.figures.share_above_heatmap`).

    Parameters
    ----------
    share_above : DataFrame
        Columns exam_code, quantity, year, current_drl, share_exams_above_drl (fraction).
    path : str or Path

    Returns
    -------
    Path or None
        None when no exam has a current DRL.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from ..stats.figures import share_above_heatmap

    if share_above is None or "current_drl" not in share_above or share_above["current_drl"].notna().sum() == 0:
        return None
    ax = share_above_heatmap(share_above)
    return _save(ax.figure, Path(path))


def share_above_plotly(share_above: pd.DataFrame | None):
    """The heatmap as an interactive plotly figure, for the HTML page (None without data)."""
    from ..stats.figures import share_above_heatmap_plotly

    if share_above is None or share_above.empty:
        return None
    return share_above_heatmap_plotly(share_above)


def exam_clusters_plotly(exam_clusters: pd.DataFrame | None):
    """Exam codes by cluster as an interactive scatter (for the HTML page).

    x: the mean over the years of the exam's median dose/DRL; y: the mean of
    its QCD of dose/DRL (both dimensionless, from ``exam_clusters.csv``);
    colour: the cluster; hover: exam code and name.

    Returns
    -------
    plotly.graph_objects.Figure or None
        None without the features.
    """
    import plotly.graph_objects as go

    if exam_clusters is None or exam_clusters.empty:
        return None
    medians = [c for c in exam_clusters.columns if c.startswith("median_dose_to_drl_")]
    qcds = [c for c in exam_clusters.columns if c.startswith("qcd_dose_to_drl_")]
    if not medians or not qcds:
        return None
    frame = exam_clusters.assign(x=exam_clusters[medians].mean(axis=1), y=exam_clusters[qcds].mean(axis=1))
    fig = go.Figure()
    for cluster, part in frame.dropna(subset=["x", "y"]).groupby("cluster", sort=True):
        names = part["exam_name"] if "exam_name" in part else part["exam_code"]
        fig.add_trace(go.Scatter(
            x=part["x"], y=part["y"], mode="markers", name=f"cluster {cluster}",
            text=part["exam_code"].astype(str) + " " + names.astype(str),
            hovertemplate="%{text}<br>median dose/DRL %{x:.2f}, QCD %{y:.2f}<extra></extra>",
            marker={"size": 10},
        ))
    fig.add_vline(x=1.0, line_dash="dot", line_color="black")
    fig.update_layout(
        title="Exam codes by cluster",
        xaxis_title="median dose / current DRL, mean over the years [ratio]",
        yaxis_title="QCD of dose / current DRL, mean over the years [ratio]",
        template="plotly_white",
    )
    return fig


def ratio_figure(drl: pd.DataFrame, path: str | Path) -> Path | None:
    """P75 of this survey divided by the current DRL, per exam and quantity, as PNG."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if drl is None or "p75_to_drl" not in drl.columns:
        return None
    frame = drl.dropna(subset=["p75_to_drl"])
    if frame.empty:
        return None
    labels = frame["exam_code"].astype(str) + " " + frame["quantity"].map(
        lambda q: QUANTITIES[q].label if q in QUANTITIES else str(q)
    )
    fig, ax = plt.subplots(figsize=(6.5, max(1.5, 0.16 * len(frame) + 0.9)))
    colours = np.where(frame["p75_to_drl"] > 1, "#c0392b", "#2e86c1")
    ax.barh(labels, frame["p75_to_drl"], color=colours, height=0.6 if len(frame) > 3 else 0.4)
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.invert_yaxis()
    ax.tick_params(axis="y", labelsize=8 if len(frame) <= 30 else 6)
    ax.set_xlabel("P75 of facility medians / current DRL [ratio, 1 = at the DRL]")
    ax.set_title("Proposed DRL (P75) against the current DRL")
    return _save(fig, Path(path))


def cluster_figure(cluster_sizes: pd.DataFrame | None, path: str | Path) -> Path | None:
    """Members per cluster, exam codes and data sources side by side, as PNG."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    if cluster_sizes is None or cluster_sizes.empty:
        return None
    kinds = list(dict.fromkeys(cluster_sizes["clustered"]))
    fig, axes = plt.subplots(1, len(kinds), figsize=(3.4 * len(kinds), 2.6), squeeze=False)
    for ax, kind in zip(axes[0], kinds):
        part = cluster_sizes[cluster_sizes["clustered"] == kind]
        ax.bar(part["cluster"].astype(str), part["members"], color="#7d3c98")
        ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_xlabel("cluster")
        ax.set_ylabel(f"{kind} [count]")
        ax.set_title(f"Clusters of {kind}")
    fig.tight_layout()
    return _save(fig, Path(path))


def source_figure(source_clusters: pd.DataFrame | None, path: str | Path) -> Path | None:
    """Median dose/DRL per data source, coloured by cluster, as PNG.

    The bars are labelled with the table's ``data_source`` column: names in
    the identified edition, pseudonyms in the pseudonymised one.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if source_clusters is None or "median_dose_to_drl" not in source_clusters.columns:
        return None
    frame = source_clusters.dropna(subset=["median_dose_to_drl"])
    if frame.empty:
        return None
    colours = plt.get_cmap("tab10")
    clusters = frame["cluster"].fillna(-1).astype(int)
    fig, ax = plt.subplots(figsize=(6, max(2.0, 0.3 * len(frame) + 1.0)))
    ax.barh(frame["data_source"].astype(str), frame["median_dose_to_drl"],
            color=[colours(c % 10) if c >= 0 else "#999999" for c in clusters])
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.invert_yaxis()
    ax.set_xlabel("median dose / current DRL [ratio, 1 = at the DRL]")
    ax.set_title("Data sources by cluster (colour)")
    return _save(fig, Path(path))


#: Each figure: the table it is drawn from, its drawing function and its file name.
FIGURES = {
    "ratio": ("drl", "ratio_figure", "p75_to_drl"),
    "heatmap": ("share_above", "heatmap_figure", "share_above_drl"),
    "clusters": ("cluster_sizes", "cluster_figure", "clusters"),
    "sources": ("source_clusters", "source_figure", "source_clusters"),
}


def make_figures(
    tables: Mapping[str, pd.DataFrame],
    out_dir: str | Path,
    *,
    prefix: str = REPORT_NAME,
    drawn: Mapping[str, tuple[pd.DataFrame, Path]] | None = None,
    fmt: str = "png",
) -> dict[str, Path]:
    """The report's static figures, drawn from its tables only.

    Parameters
    ----------
    tables : mapping of str to DataFrame
    out_dir : str or Path
    prefix : str
        File names are ``<prefix>_<figure>.png``.
    drawn : mapping, optional
        Figure -> (its table, its PNG) already drawn for another edition: a
        figure whose table is identical is copied instead of drawn again.
    fmt : {"png", "svg"}, default "png"
        PNG for the PDF; SVG (text kept as text) for the pages.

    Returns
    -------
    dict of str to Path
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    made = {}
    for kind, (table, function, name) in FIGURES.items():
        frame, path = tables.get(table), out_dir / f"{prefix}_{name}.{fmt}"
        if frame is None:
            continue
        if drawn and kind in drawn and drawn[kind][0].equals(frame) and Path(drawn[kind][1]).suffix == path.suffix:
            shutil.copyfile(drawn[kind][1], path)
            made[kind] = path
        elif (result := globals()[function](frame, path)) is not None:
            made[kind] = result
    return made

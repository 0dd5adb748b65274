"""Figures of the outlier, alert and clustering analysis.

Every function returns a :class:`matplotlib.figure.Figure` (made without
pyplot, so no global state and no display needed); :func:`save` writes it as
PNG. Data-source names are drawn only through the ``labels`` mapping a
caller passes (a report replaces them with pseudonyms); exam codes are shown
with their catalogue names.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy.cluster.hierarchy import dendrogram

from ..core.catalogue import Catalogue, load_catalogue
from ..core.columns import header_label
from .clustering import ClusterResult

#: Colour and marker of each outlier reason kind.
KIND_STYLE: dict[str, tuple[str, str, str]] = {
    "unit_slip": ("#d62728", "X", "suspected unit slip"),
    "far_above": ("#ff7f0e", "^", "far above"),
    "far_below": ("#1f77b4", "v", "far below"),
    "ingest_flag": ("#9467bd", "s", "flagged at ingest"),
    "not_positive": ("#7f7f7f", "o", "not positive"),
}
_CLUSTER_COLOURS = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666"]


def save(fig: Figure, path: str | Path, *, dpi: int = 150) -> Path:
    """Write ``fig`` as PNG and return the path."""
    path = Path(path)
    fig.savefig(path, dpi=dpi, format="png", bbox_inches="tight")
    return path


def exam_label(code: str, catalogue: Catalogue | None = None, *, width: int = 28) -> str:
    """``"1010 Cranium"``, the name shortened to ``width`` characters."""
    catalogue = catalogue or load_catalogue()
    name = catalogue.exam_name(code) or ""
    if len(name) > width:
        name = name[: width - 1].rstrip() + "…"
    return f"{code} {name}".strip()


def outlier_figure(
    scored: pd.DataFrame,
    outliers: pd.DataFrame,
    quantity: str,
    catalogue: Catalogue | None = None,
    *,
    seed: int = 0,
) -> Figure:
    """Outliers of one dose quantity on their exams' distributions.

    Parameters
    ----------
    scored : pandas.DataFrame
        :func:`drl_analysis.analysis.outliers.score_values` output.
    outliers : pandas.DataFrame
        :func:`drl_analysis.analysis.outliers.value_outliers` output.
    quantity : str
        A dose column, e.g. ``"dap_cgycm2"``.
    catalogue : Catalogue, optional
    seed : int, default 0
        Seed of the horizontal jitter of outlier markers.

    Returns
    -------
    matplotlib.figure.Figure
        One box per exam code (values used in the references; box = quartiles,
        whiskers = 5th and 95th percentiles) on a log axis in the quantity's
        unit, outliers marked by reason.
    """
    catalogue = catalogue or load_catalogue()
    used = scored[(scored["quantity"] == quantity) & (scored["status"] == "used") & (scored["value"] > 0)]
    out = outliers[(outliers["quantity"] == quantity) & (outliers["value"] > 0)]
    codes = sorted(set(used["exam_code"]) | set(out["exam_code"]))
    fig = Figure(figsize=(max(4.5, 0.42 * len(codes) + 2.5), 5.2))
    ax = fig.add_subplot()
    if not codes:
        ax.text(0.5, 0.5, "no values", ha="center", va="center", transform=ax.transAxes)
        return fig
    pos = {c: i for i, c in enumerate(codes)}
    data = [used.loc[used["exam_code"] == c, "value"].to_numpy() for c in codes]
    have = [i for i, d in enumerate(data) if len(d)]
    if have:
        ax.boxplot(
            [data[i] for i in have],
            positions=have,
            whis=(5, 95),
            showfliers=False,
            widths=0.6,
            patch_artist=True,
            boxprops={"facecolor": "#dddddd", "edgecolor": "#555555"},
            medianprops={"color": "black"},
        )
    rng = np.random.default_rng(seed)
    for kind, (colour, marker, text) in KIND_STYLE.items():
        o = out[out["reason_kind"] == kind]
        if o.empty:
            continue
        x = o["exam_code"].map(pos).to_numpy(dtype=float) + rng.uniform(-0.2, 0.2, len(o))
        ax.scatter(
            x, o["value"], c=colour, marker=marker, s=36, label=f"{text} ({len(o)})", zorder=3, edgecolors="none"
        )
    ax.set_yscale("log")
    ax.set_xticks(range(len(codes)))
    ax.set_xticklabels([exam_label(c, catalogue) for c in codes], rotation=90, fontsize=8)
    ax.set_xlim(-0.7, len(codes) - 0.3)
    ax.set_ylabel(f"{header_label(quantity)}, log scale")
    ax.set_xlabel("exam code")
    ax.set_title(f"{header_label(quantity)}: outliers on each exam's distribution (box: quartiles, whiskers: P5–P95)")
    ax.grid(axis="y", which="major", alpha=0.3)
    if not out.empty:
        ax.legend(loc="best", fontsize=8, frameon=True)
    fig.tight_layout()
    return fig


def _labels_for(items: list[str], labels: dict[str, str] | None) -> list[str]:
    labels = labels or {}
    return [labels.get(i, i) for i in items]


def has_clusters(result: ClusterResult) -> bool:
    """Whether a clustering has something to draw (no figure without data)."""
    return result.k is not None and len(result.items) > 1


def cluster_figure(result: ClusterResult, *, labels: dict[str, str] | None = None, title: str = "") -> Figure:
    """Clusters on the first two principal components, and the silhouette by k.

    Parameters
    ----------
    result : ClusterResult
    labels : dict, optional
        Item id -> shown label (exam names, or pseudonyms of data sources);
        ids are shown where absent.
    title : str
        Figure title, e.g. ``"Exam codes by dose/DRL"``.
    """
    fig = Figure(figsize=(12, 5.2))
    ax, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2.2, 1]})
    names = _labels_for(result.items, labels)
    clusters = result.table.loc[result.items, "cluster"] if result.items else pd.Series(dtype="Int64")
    if result.k is None:
        ax.text(0.5, 0.5, "too few items to cluster", ha="center", va="center", transform=ax.transAxes)
    else:
        for c in range(1, result.k + 1):
            sel = (clusters == c).to_numpy()
            colour = _CLUSTER_COLOURS[(c - 1) % len(_CLUSTER_COLOURS)]
            ax.scatter(
                result.pca[sel, 0], result.pca[sel, 1], c=colour, s=50, label=f"cluster {c}",
                edgecolors="black", linewidths=0.4,
            )
        for (x, y), name in zip(result.pca, names):
            ax.annotate(name, (x, y), xytext=(4, 3), textcoords="offset points", fontsize=7)
        ax.legend(fontsize=8, loc="best")
    ev = result.pca_explained
    ax.set_xlabel(f"principal component 1 ({ev[0]:.0%} of variance)" if np.isfinite(ev[0]) else "principal component 1")
    ax.set_ylabel(f"principal component 2 ({ev[1]:.0%} of variance)" if np.isfinite(ev[1]) else "principal component 2")
    chosen = f"k = {result.k}, {result.k_chosen_by}" if result.k is not None else "not clustered"
    ax.set_title(f"{title}: KMeans clusters ({chosen})" if title else f"KMeans clusters ({chosen})")
    ax.grid(alpha=0.3)
    sel = result.selection
    if not sel.empty:
        ax2.plot(sel["k"], sel["silhouette"], marker="o", color="#333333")
        if result.k in set(sel["k"]):
            s = float(sel.loc[sel["k"] == result.k, "silhouette"].iloc[0])
            ax2.scatter([result.k], [s], s=120, facecolors="none", edgecolors="#d62728", linewidths=2, label="k used")
            ax2.legend(fontsize=8)
        ax2.set_xticks([int(k) for k in sel["k"]])
    ax2.set_xlabel("number of clusters k")
    ax2.set_ylabel("mean silhouette (dimensionless)")
    ax2.set_title("Choice of k")
    ax2.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def dendrogram_figure(result: ClusterResult, *, labels: dict[str, str] | None = None, title: str = "") -> Figure:
    """Ward dendrogram of the clustered items, cut at the k used.

    Parameters are those of :func:`cluster_figure`.
    """
    n = len(result.items)
    fig = Figure(figsize=(8, max(3.0, 0.3 * n + 1.5)))
    ax = fig.add_subplot()
    if result.linkage is None:
        ax.text(0.5, 0.5, "too few items to cluster", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    Z = result.linkage
    k = result.k or 1
    # Colour the branches below the height that leaves k clusters.
    cut = (Z[-k, 2] + Z[-k + 1, 2]) / 2 if 1 < k < n else 0.0
    dendrogram(
        Z,
        labels=_labels_for(result.items, labels),
        orientation="right",
        color_threshold=cut,
        above_threshold_color="#888888",
        ax=ax,
        leaf_font_size=8,
    )
    if cut:
        ax.axvline(cut, color="#d62728", linestyle="--", linewidth=1, label=f"cut for k = {k}")
        ax.legend(fontsize=8, loc="lower right")
    ax.set_xlabel("Ward linkage distance (standardised, reliability-weighted features)")
    ax.set_title(f"{title}: agglomerative clustering (Ward)" if title else "Agglomerative clustering (Ward)")
    fig.tight_layout()
    return fig


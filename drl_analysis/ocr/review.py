"""What a reviewer needs: the crops the reader cut for a report's fields, shown beside the values read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .images import ImageError, load_image
from .layouts import Layout, candidate_layouts
from .page import locate


def field_crops(path: str | Path, layout: str | Path | Layout = "auto",
                height_px: float = 24.0) -> dict[str, np.ndarray]:
    """The value crops of one report, as the reader sees them (for review).

    Parameters
    ----------
    path : str or Path
        An image file.
    layout : str, Path or Layout, default "auto"
    height_px : float, default 24
        Capital height of the crops in pixels.

    Returns
    -------
    dict
        Output column -> grey crop of its row (label and value), dark on
        light; empty when the image holds no table.
    """
    layouts = candidate_layouts(layout)
    try:
        page = locate(load_image(path))
    except ImageError:
        return {}
    if page.char_px <= 0:
        return {}
    table = page.table()
    candidates = [lay for lay in layouts if len(lay.fields) <= len(table)]
    if not candidates:
        return {}
    lay = candidates[0]
    offset = len(table) - len(lay.fields)  # extra rows above the table: a title in the table's font
    crops = {}
    for field, row in zip(lay.fields, table[offset:]):
        cap = page.char_px
        box = (row.label[0] - 0.4 * cap, row.top - 0.3 * cap, row.value[1] + 0.4 * cap, row.bottom + 0.3 * cap)
        crops[field.column] = page.crop(box, height_px)
    return crops


def plot_review(table: pd.DataFrame, max_reports: int = 6, max_fields: int = 3, folder: str | Path | None = None):
    """Show the rows of the reports that need review, one figure (matplotlib).

    Parameters
    ----------
    table : pandas.DataFrame
        As returned by :func:`read_reports`.
    max_reports : int, default 6
    max_fields : int, default 3
        Rows shown per report: the fields named in its reason first.
    folder : str or Path, optional
        The folder the images were read from (``source_file`` is relative to
        it), so that their crops can be shown; default the current folder.

    Returns
    -------
    matplotlib.figure.Figure or None
        None when no report needs review.
    """
    import matplotlib.pyplot as plt

    review = table[table["needs_review"]].head(max_reports)
    if review.empty:
        return None
    panels = []
    for _, row in review.iterrows():
        crops = field_crops(Path(folder or ".") / row["source_file"], row["layout"] or "auto")
        named = [c for c in crops if c in str(row["reason"])]
        for column in (named + [c for c in crops if c not in named])[:max_fields]:
            value = row.get(column)
            shown = "not read" if pd.isna(value) else f"{value:.6g}"
            panels.append((f"{Path(row['source_file']).name}: {column} = {shown}", crops[column]))
        if not crops:
            panels.append((f"{Path(row['source_file']).name}: {row['reason']}", None))
    fig, axes = plt.subplots(len(panels), 1, figsize=(8, 0.9 * len(panels) + 0.5), squeeze=False)
    for ax, (title, image) in zip(axes[:, 0], panels):
        if image is not None:
            ax.imshow(image, cmap="gray", vmin=0, vmax=255)
        ax.set_title(title, fontsize=8, loc="left")
        ax.axis("off")
    fig.tight_layout()
    return fig

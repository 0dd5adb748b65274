"""Reading dose-report screens in bulk: worker processes, Tesseract passes, the output table.

:func:`read_reports` reads images in chunks, each in a worker process; per
chunk, the crops every report asks for are read in passes (Tesseract's
library in the process, one crop per call, or one Tesseract process per pass
over the chunk), until no report asks for more or :data:`MAX_PASSES` were
read.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..core.errors import UserError
from ..core.paths import relative_names
from .engines import read_alone, resolve_engine, run_tesseract, tesseract_library
from .images import MAX_PIXELS, collect_images, is_dicom
from .layouts import OCR_FIELDS, Layout, candidate_layouts
from .reader import ReportReader

#: Most Tesseract passes over a chunk (first reading, units, retries).
MAX_PASSES = 6


@contextlib.contextmanager
def one_thread_each() -> Iterator[None]:
    """OpenCV on one thread, and Tesseract processes with one OpenMP thread, while a batch is read.

    Every worker runs on one core beside the others: threads would only
    compete. Set in the calling process before the workers are forked (they
    inherit it; OpenCV's thread pool must not be reconfigured in a forked
    child, whose pool threads did not come along), and restored afterwards.
    """
    threads = cv2.getNumThreads()
    before = os.environ.get("OMP_THREAD_LIMIT")
    cv2.setNumThreads(1)
    os.environ["OMP_THREAD_LIMIT"] = "1"
    try:
        yield
    finally:
        cv2.setNumThreads(threads)
        if before is None:
            os.environ.pop("OMP_THREAD_LIMIT", None)
        else:
            os.environ["OMP_THREAD_LIMIT"] = before


def read_chunk(paths: list[str], layouts: list[Layout], engine: str = "process", crops: bool = False,
               max_pixels: int = MAX_PIXELS) -> list[dict]:
    """Read a few images: each crop by the Tesseract library, or one Tesseract process per pass.

    ``engine`` is ``"library"`` or ``"process"`` (see :func:`resolve_engine`);
    a worker whose library does not initialise uses processes; an image
    larger than ``max_pixels`` is not decoded (its row says so). Returns one
    output row per image (see :meth:`ReportReader.result`). Run it inside
    :func:`one_thread_each`.
    """
    library = tesseract_library() if engine == "library" else None
    with tempfile.TemporaryDirectory(prefix="drl-ocr-") as workdir:
        reports = [ReportReader(Path(p), layouts, max_pixels) for p in paths]
        for report in reports:
            report.start()
        for _ in range(MAX_PASSES):
            requests = [(r, q) for r in reports for q in r.pending]
            if not requests:
                break
            if library is not None:
                words = [read_alone(library, q.image, q.whitelist, lone_glyph=q.kind != "label") for _, q in requests]
            else:
                words = run_tesseract([q.image for _, q in requests], workdir)
            for (report, request), w in zip(requests, words):
                report.take(request, w)
            for report in reports:
                report.advance()
        return [report.result(crops) for report in reports]


def result_columns(layouts: Iterable[Layout]) -> list[str]:
    """Columns of :func:`read_reports`' table: the contract's first, then confidences, raw texts, reason."""
    fields = list(OCR_FIELDS)
    for lay in layouts:
        fields += [c for c in lay.columns if c not in fields]
    return (["source_file", "layout", *fields, "consistent", "needs_review"]
            + [f"conf_{c}" for c in fields] + [f"raw_{c}" for c in fields]
            + ["notation", "notation_from", "reason", "review_fields", "source", "corrected_fields"])


def read_reports(
    paths: Iterable[str | Path],
    layout: str | Path | Layout = "auto",
    jobs: int = 0,
    progress: bool = True,
    chunk_size: int | None = None,
    engine: str | None = None,
    crops: bool = False,
    max_pixels: int = MAX_PIXELS,
) -> pd.DataFrame:
    """Read the dose values off dose-report screen images.

    Each image is straightened, its table rows are found, the first row's
    label identifies the layout (and so the language and number notation),
    and each value crop is read by Tesseract in single-line mode (see
    ``engine``). A value whose row shares a unit with an earlier row is
    read as a number only, after its unit was matched to that row's by image.
    Numbers that fail their pattern or range, sums that fail the screen's
    checks, and unchecked numbers read with low confidence are read again
    from other preprocessing variants; what stays doubtful is marked
    ``needs_review``.

    Parameters
    ----------
    paths : iterable of str or Path
        Image files (PNG, JPEG, TIFF, BMP, DICOM) and folders (searched recursively).
    layout : str, Path or Layout, default "auto"
        A layout name (see :func:`available_layouts`), a layout YAML file,
        or ``"auto"`` to try every shipped layout.
    jobs : int, default 0
        Worker processes; 0 uses every core, 1 reads in this process.
    progress : bool, default True
        Show a progress bar (tqdm).
    chunk_size : int, optional
        Images per task of a worker; by default up to 64, spread evenly over
        the workers (at least four tasks per worker with the library engine).
    engine : {"auto", "library", "process"}, optional
        How Tesseract is run (see :func:`resolve_engine`): ``"library"`` in
        each worker process through its C library, ``"process"`` as one
        Tesseract process per pass over a chunk (pytesseract); ``"auto"``
        takes the library when it loads. Default: the environment variable
        ``DRL_OCR_ENGINE``, else ``"auto"``.
    crops : bool, default False
        Keep, for each report marked ``needs_review``, the crops the review
        page shows, in a column ``crops`` (see :func:`drl_analysis.ocr.review.write_review`).
    max_pixels : int, default :data:`~drl_analysis.ocr.images.MAX_PIXELS`
        Largest image decoded (width x height x frames, as its header
        declares it); a larger one, or a deflated DICOM file that inflates
        beyond it, is marked ``needs_review`` with the reason, and the batch
        goes on.

    Returns
    -------
    pandas.DataFrame
        One row per image, sorted by ``source_file``: ``source_file, layout``,
        the values in canonical units (DAP in Gy·cm², fluoroscopy time in
        minutes, air kerma in mGy, counts), ``consistent`` (the screen's sum
        checks hold; empty when values are missing), ``needs_review``, then
        ``conf_<column>`` (Tesseract's confidence 0–100), ``raw_<column>``
        (text read; for rows whose unit was matched by image, the number
        read and that unit), ``notation`` (``en`` or ``de``: how the
        screen's numbers were read) and ``notation_from`` (what decided it:
        ``numbers``, ``sums``, ``field size``, ``unclear``, ``one number,
        against the field size``; empty when no
        number depends on it, see :mod:`drl_analysis.ocr.notation`),
        ``reason`` (why a report needs review),
        ``review_fields`` (the fields to look at), ``source`` (``ocr``;
        ``corrected`` once corrections are applied, see
        :func:`drl_analysis.ocr.review.apply_corrections`) and
        ``corrected_fields``; with ``crops``, ``crops``.

    Raises
    ------
    UserError
        If a path does not exist or the layout is unknown.
    """
    layouts = candidate_layouts(layout)
    engine = resolve_engine(engine)
    files = collect_images(paths)
    columns = result_columns(layouts)
    if not files:
        return pd.DataFrame(columns=columns)
    jobs = _jobs(jobs)
    if chunk_size is None:
        if engine == "process":
            # Each pass over a chunk starts one Tesseract (~65 ms): large chunks, one or a few per worker.
            n_chunks = jobs * int(np.ceil(len(files) / (jobs * 64)))
        else:
            # A chunk costs nothing of its own: four or more per worker keep the workers busy to the end.
            n_chunks = jobs * max(4, int(np.ceil(len(files) / (jobs * 64))))
        chunk_size = int(np.ceil(len(files) / n_chunks))
    chunks = [[str(f) for f in files[i:i + chunk_size]] for i in range(0, len(files), chunk_size)]
    # What every worker needs, done once here: forked workers inherit it.
    if engine == "library":
        tesseract_library()
    if any(is_dicom(f) for f in files):
        import pydicom  # noqa: F401
    rows: list[dict] = []
    bar = tqdm(total=len(files), unit="image", desc="OCR", disable=not progress)
    try:
        with one_thread_each():
            if jobs == 1 or len(chunks) == 1:
                for chunk in chunks:
                    rows += read_chunk(chunk, layouts, engine, crops, max_pixels)
                    bar.update(len(chunk))
            else:
                with ProcessPoolExecutor(max_workers=min(jobs, len(chunks))) as pool:
                    futures = {pool.submit(read_chunk, chunk, layouts, engine, crops, max_pixels): len(chunk)
                               for chunk in chunks}
                    for future in as_completed(futures):
                        rows += future.result()
                        bar.update(futures[future])
    finally:
        bar.close()
    # Name images relative to the folder they were found in: no machine paths in tables.
    names = relative_names(list(paths), files)
    return _table(rows, columns, {str(f): names[f] for f in files}, crops)


def _table(rows: list[dict], columns: list[str], names: dict[str, str], crops: bool) -> pd.DataFrame:
    """The output rows as :func:`read_reports`' table: its columns, sorted, values tidied."""
    table = pd.DataFrame(rows)
    for c in columns:
        if c not in table:
            table[c] = np.nan
    table["source_file"] = table["source_file"].map(names)
    table = table[columns + (["crops"] if crops else [])].sort_values("source_file", ignore_index=True)
    table["needs_review"] = table["needs_review"].astype(bool)
    table["consistent"] = table["consistent"].astype("boolean")
    for c in table.columns:
        if c.endswith(("_gycm2", "_min", "_mgy")) and table[c].dtype.kind == "f":
            # Unit factors leave float noise (72.19200000000001): keep 12 significant digits.
            table[c] = table[c].map(lambda x: float(f"{x:.12g}") if x == x else x)
    for c in ("exposure_series", "exposure_images"):
        # Counts are whole numbers: written as 3, not 3.0.
        if c in table and table[c].dropna().map(float.is_integer).all():
            table[c] = table[c].astype("Int64")
    table["reason"] = table["reason"].fillna("")
    table["review_fields"] = table["review_fields"].fillna("")
    table["source"], table["corrected_fields"] = "ocr", ""
    if crops:
        table["crops"] = table["crops"].map(lambda c: c if isinstance(c, dict) else {})
    return table


def _jobs(jobs: int) -> int:
    if jobs < 0:
        raise UserError(f"--jobs: {jobs} is not a number of worker processes (0 = all cores)")
    return jobs or os.cpu_count() or 1


#: Quantile method of the quartiles sheet (numpy's default, = Excel QUARTILE.INC).
QUANTILE_METHOD = "linear"


def quartiles(table: pd.DataFrame, method: str = QUANTILE_METHOD) -> pd.DataFrame:
    """Quartiles of each value over the reports not marked ``needs_review``.

    Parameters
    ----------
    table : pandas.DataFrame
        As returned by :func:`read_reports`.
    method : str, default "linear"
        numpy quantile method, recorded in the result.

    Returns
    -------
    pandas.DataFrame
        One row per value column (units in its name): ``n`` (reports with a
        value), ``p25``, ``p50``, ``p75``, ``quantile_method``, ``basis``.
    """
    fields = [c for c in table.columns if f"conf_{c}" in table.columns]
    good = table[~table["needs_review"].astype(bool)] if "needs_review" in table else table
    rows = []
    for column in fields:
        values = pd.to_numeric(good[column], errors="coerce").dropna().to_numpy(float)
        q = np.quantile(values, [0.25, 0.5, 0.75], method=method) if values.size else [np.nan] * 3
        rows.append({"column": column, "n": int(values.size), "p25": q[0], "p50": q[1], "p75": q[2],
                     "quantile_method": method, "basis": "reports not marked needs_review"})
    return pd.DataFrame(rows, columns=["column", "n", "p25", "p50", "p75", "quantile_method", "basis"])


def write_table(table: pd.DataFrame, out: str | Path) -> Path:
    """Write the OCR table as CSV, or as xlsx with a second sheet of quartiles.

    Parameters
    ----------
    table : pandas.DataFrame
        As returned by :func:`read_reports` (a ``crops`` column is left out).
    out : str or Path
        ``.csv`` or ``.xlsx``; the folder is created.

    Raises
    ------
    UserError
        If the suffix is neither.
    """
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise UserError(f"--out: {out} must end in .csv or .xlsx")
    out.parent.mkdir(parents=True, exist_ok=True)
    table = table.drop(columns=["crops"], errors="ignore")  # images belong on the review page
    if suffix == ".csv":
        table.to_csv(out, index=False)
    else:
        with pd.ExcelWriter(out, engine="openpyxl") as writer:
            table.to_excel(writer, sheet_name="reports", index=False)
            quartiles(table).to_excel(writer, sheet_name="quartiles", index=False)
    return out


def plot_histograms(table: pd.DataFrame):
    """Histograms of total DAP [Gy·cm²], fluoroscopy time [min] and total air kerma [mGy].

    Over the reports not marked ``needs_review``; returns the matplotlib figure.
    """
    import matplotlib.pyplot as plt

    good = table[~table["needs_review"]]
    panels = [("dap_total_gycm2", "Total DAP [Gy·cm²]"), ("fluoro_time_min", "Fluoroscopy time [min]"),
              ("air_kerma_total_mgy", "Total air kerma [mGy]")]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    for ax, (column, label) in zip(axes, panels):
        values = pd.to_numeric(good.get(column), errors="coerce").dropna()
        ax.hist(values, bins=min(20, max(5, len(values) // 2)), color="#4c72b0")
        ax.set_xlabel(label)
        ax.set_ylabel("Reports")
    fig.suptitle(f"{len(good)} reports not marked for review")
    fig.tight_layout()
    return fig


def describe_histograms(table: pd.DataFrame) -> str:
    """The alternative text of :func:`plot_histograms`'s figure, from the values it shows."""
    good = table[~table["needs_review"]]
    parts = []
    for column, label, unit in (("dap_total_gycm2", "total DAP", "Gy·cm²"), ("fluoro_time_min", "fluoroscopy time", "min"),
                                ("air_kerma_total_mgy", "total air kerma", "mGy")):
        values = pd.to_numeric(good.get(column), errors="coerce").dropna()
        parts.append(f"{label} from {values.min():.3g} to {values.max():.3g} {unit}" if len(values)
                     else f"{label}: no value")
    return f"Three histograms over the {len(good)} reports not marked for review: " + "; ".join(parts) + "."

"""Reports of a run (the modules of this package, brought together): HTML pages of the notebooks and the annual report as PDF.

HTML, identified edition (internal)
    :func:`notebook_html` turns an executed notebook into one page with the
    code hidden; plotly figures become interactive figures with plotly.js
    inlined once per page, so the page works offline. :func:`write_index`
    writes the index page of a run: which pages are which, headline results,
    its pages, reports, parameters and inputs.

HTML, pseudonymised edition (for publication)
    :func:`write_public_pages` writes ``html/pseudonymised/`` from the
    pseudonymised report's tables and figures only, and checks every page and
    figure for the run's names before it leaves them
    (:mod:`drl_analysis.reporting.public`).

The annual report (``notebooks/05_report.ipynb``)
    :func:`write_report` reads the tables a run wrote (notebooks 02–04),
    builds the report's own tables from them (:func:`build_report_tables`),
    writes them (CSV and xlsx) with static matplotlib figures, and renders
    the report to PDF with WeasyPrint (HTML and CSS to PDF: no browser, no
    LaTeX, no network). The PDF shows only these tables and figures drawn
    from them, so every number in it comes from the run's own tables.

The pseudonymised edition
    The same report with every data source and facility replaced by a keyed
    pseudonym (:mod:`drl_analysis.reporting.pseudonyms`): the tables are pseudonymised
    first, then the figures are drawn and the PDF rendered from them, and the
    edition is checked for original names before it is written. Free-text
    columns that could name a facility are not carried into the report.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..core.errors import UserError
from ..core.paths import PROCESSED_DIR
from ..core.tables import write_csv, write_xlsx
from .figures import (  # noqa: F401  (re-exported)
    FIGURES,
    cluster_figure,
    exam_clusters_plotly,
    heatmap_figure,
    make_figures,
    ratio_figure,
    share_above_plotly,
    source_figure,
)
from .pages import (  # noqa: F401
    PLOTLY_MIME,
    inline_plotly,
    notebook_figures,
    notebook_html,
    write_index,
)
from .pdf import report_html, write_pdf  # noqa: F401  (re-exported)
from .pseudonyms import PseudonymKey
from .public import write_public_pages  # noqa: F401  (re-exported)
from .tables import (  # noqa: F401  (re-exported)
    ANALYSIS_PARAMETERS,
    ID_COLUMNS,
    PSEUDONYMISED_DIR,
    REPORT_NAME,
    SOURCE_FILES,
    build_report_tables,
    load_manifest,
    locate_tables,
    pseudonymise_tables,
    read_tables,
    years_used,
)

#: The line that names the identified edition.
IDENTIFIED_EDITION = "Identified edition: names data sources and facilities. For internal use."

#: The line that names the pseudonymised edition (PDF and pages).
PSEUDONYMISED_EDITION = ("Pseudonymised edition: data sources (S-…) and facilities (F-…) are keyed pseudonyms, "
                         "stable for one key. For publication.")


@dataclass
class ReportPaths:
    """What :func:`write_report` wrote for one edition."""

    pdf: Path
    tables: dict[str, Path] = field(default_factory=dict)
    xlsx: Path | None = None
    figures: dict[str, Path] = field(default_factory=dict)



def write_tables(tables: Mapping[str, pd.DataFrame], out_dir: str | Path, *, prefix: str) -> tuple[dict[str, Path], Path]:
    """Write each table as ``<prefix>_<name>.csv`` and all as one ``<prefix>_tables.xlsx``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, frame in tables.items():
        p = out_dir / f"{prefix}_{name}.csv"
        write_csv(frame, p)
        written[name] = p
    xlsx = write_xlsx(tables, out_dir / f"{prefix}_tables.xlsx")
    return written, xlsx


@dataclass
class Report:
    """The annual report of a run: its tables and what was written."""

    tables: dict[str, pd.DataFrame]
    identified: ReportPaths
    pseudonymised: ReportPaths | None = None
    pseudonymised_tables: dict[str, pd.DataFrame] | None = None
    key_source: str | None = None
    text: dict = field(default_factory=dict)

    def document(self, *, pseudonymised: bool = False):
        """The report's sections as the PDF shows them, figures inlined (for a notebook or a page).

        Returns
        -------
        drl_analysis.reporting.document.Document
        """
        from .document import ReportContext, build_document
        from .format import png_data_uri

        if pseudonymised and self.pseudonymised is None:
            raise ValueError("this report has no pseudonymised edition")
        paths = self.pseudonymised if pseudonymised else self.identified
        tables = self.pseudonymised_tables if pseudonymised else self.tables
        figures = {kind: png_data_uri(Path(path).read_bytes()) for kind, path in paths.figures.items()}
        edition = PSEUDONYMISED_EDITION if pseudonymised else IDENTIFIED_EDITION
        context = ReportContext(**self.text, edition=edition, pseudonymised=pseudonymised)
        return build_document(tables, figures, context)


def write_report(
    tables_dir: str | Path | None,
    out_dir: str | Path | None,
    *,
    manifest_file: str | Path | None = None,
    survey: str = "",
    years: str = "",
    title: str = "Annual report on diagnostic reference levels",
    institution: str = "",
    authors: str = "",
    pseudonymise: bool = True,
    key: PseudonymKey | None = None,
) -> Report:
    """Write the annual report of a run: tables, figures and PDF, and its pseudonymised edition.

    Parameters
    ----------
    tables_dir : str or Path, optional
        Where the run's tables are (see :func:`locate_tables`).
    out_dir : str or Path, optional
        Folder for the report; default ``data/processed/report``. The
        pseudonymised edition goes into its subfolder ``pseudonymised/``.
    manifest_file : str or Path, optional
        The run's ``manifest.json`` (parameters, inputs, software).
    survey, years, title : str
        Shown in the report; ``years`` ``""`` shows the years the DRL
        statistics found in the data.
    institution, authors : str
        Shown on the title page when given (with the run's date from the
        manifest; the tables hold no date).
    pseudonymise : bool, default True
        Also write the pseudonymised edition.
    key : PseudonymKey, optional
        Default :func:`drl_analysis.reporting.pseudonyms.load_key` (environment or the
        user's key file).

    Returns
    -------
    Report
    """
    from .pseudonyms import load_key

    out = Path(out_dir) if out_dir else PROCESSED_DIR / "report"
    sources = read_tables(locate_tables(tables_dir))
    if "drl" not in sources:
        raise UserError(
            f"tables_dir: no {SOURCE_FILES['drl']} under {tables_dir or PROCESSED_DIR}; run notebook 03 first"
        )
    manifest = load_manifest(manifest_file)
    survey = survey or manifest.get("survey", "")
    tables = build_report_tables(sources, manifest, survey=survey, years=years)
    text = dict(title=title, survey=survey, years=years_used(sources, years), version=manifest.get("version", ""),
                date=str(manifest.get("started_utc") or "")[:10], institution=institution, authors=authors)
    report = Report(tables=tables, text=text, identified=_write_edition(
        tables, out, prefix=REPORT_NAME, **text, edition=IDENTIFIED_EDITION,
    ))
    if pseudonymise:
        key = key or load_key()
        ingest = sources.get("ingest")
        known = ingest["data_source"].dropna().unique() if ingest is not None else ()
        pseudo = pseudonymise_tables(tables, key, known_sources=known)
        report.pseudonymised_tables = pseudo
        report.key_source = key.source
        # Figures whose table names no one are the same in both editions: copied, not drawn again.
        drawn = {kind: (tables[FIGURES[kind][0]], path) for kind, path in report.identified.figures.items()}
        report.pseudonymised = _write_edition(
            pseudo, out / PSEUDONYMISED_DIR, prefix=f"{REPORT_NAME}_pseudonymised", **text, drawn=drawn,
            pseudonymised=True, edition=PSEUDONYMISED_EDITION,
        )
    return report


def _write_edition(tables, out: Path, *, prefix: str, drawn=None, **text) -> ReportPaths:
    written, xlsx = write_tables(tables, out, prefix=prefix)
    figures = make_figures(tables, out, prefix=prefix, drawn=drawn)
    pdf = write_pdf(report_html(tables, figures, **text), out / f"{prefix}.pdf", base_dir=out)
    return ReportPaths(pdf=pdf, tables=written, xlsx=xlsx, figures=figures)

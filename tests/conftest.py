"""Shared fixtures: small survey files written on the fly, and an ingest helper.

Every fixture writes into ``tmp_path``; nothing is read from the repository's
data folders. Builders take the rows of a sheet as lists (row 1 first), so a
test shows the damage it is about in its own body.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from drl_analysis.core.catalogue import load_catalogue
from drl_analysis.ingest.batch import IngestSummary, ingest_paths
from drl_analysis.ingest.template import TEMPLATE_HEADER
from drl_analysis.store.database import load_exposures, load_table

SOURCE = "Aerztliche Stelle Nord"
YEAR = 2023
#: Row (1-based, as Excel shows it) of the template's header; data start below.
HEADER_ROW = 11


def survey_rows(
    data: list[list],
    header: list | tuple = TEMPLATE_HEADER,
    *,
    source: str | None = SOURCE,
    year: object = YEAR,
    header_row: int = HEADER_ROW,
) -> list[list]:
    """Rows of an exposure sheet laid out like the template.

    "Data source" in row 5 and "Year" in row 7 with their values in column C
    (left out when None), the header in ``header_row`` (1-based), ``data``
    right below it: ``data[0]`` lands in Excel row ``header_row + 1``.
    """
    rows: list[list] = [[] for _ in range(header_row - 1)]
    if header_row > 7:
        rows[1] = ["", "Intervention or diagnostic examination using x-rays"]
        if source is not None:
            rows[4] = ["Data source", "", source]
        if year is not None:
            rows[6] = ["Year", "", year]
    rows.append(list(header))
    rows.extend(list(r) for r in data)
    return rows


def template_row(
    facility_id: object = 1,
    exam_code: object = 9003,
    dap: object = "",
    agd: object = "",
    dlp: object = "",
    ctdivol: object = "",
    phantom: object = "",
    weight: object = "",
    age: object = "",
) -> list:
    """One data row in the template's column order."""
    return [facility_id, exam_code, dap, agd, dlp, ctdivol, phantom, weight, age]


def _xlsx(path: Path, sheets: dict[str, list[list]], merged: dict[str, list[str]] | None = None) -> Path:
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for r, row in enumerate(rows, start=1):
            for c, value in enumerate(row, start=1):
                if value is not None and value != "":
                    ws.cell(r, c, value)
        for ref in (merged or {}).get(name, []):
            ws.merge_cells(ref)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


@pytest.fixture
def write_xlsx(tmp_path):
    """Write an .xlsx: ``write_xlsx(name, {sheet: rows}, merged={sheet: ["A12:A14"]})``.

    Values keep their Python type: a float is a number cell, a str a text cell.
    """

    def write(name: str, sheets: dict[str, list[list]] | list[list], merged=None) -> Path:
        if isinstance(sheets, list):
            sheets = {"Exposure data": sheets}
        return _xlsx(tmp_path / "in" / name, sheets, merged)

    return write


@pytest.fixture
def write_csv(tmp_path):
    """Write a CSV: ``write_csv(name, rows, delimiter=";", encoding="cp1252")``."""

    def write(name: str, rows: list[list], delimiter: str = ",", encoding: str = "utf-8") -> Path:
        path = tmp_path / "in" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding=encoding) as fh:
            writer = csv.writer(fh, delimiter=delimiter)
            for row in rows:
                writer.writerow(["" if v is None else v for v in row])
        return path

    return write


@dataclass
class Ingested:
    """An ingest run and what it left in its database."""

    summary: IngestSummary
    db: str

    @property
    def exposures(self) -> pd.DataFrame:
        return load_exposures(self.db)

    def table(self, name: str) -> pd.DataFrame:
        return load_table(self.db, name)

    @property
    def repairs(self) -> pd.DataFrame:
        return self.table("repairs")

    @property
    def rejections(self) -> pd.DataFrame:
        return self.table("rejections")

    @property
    def sheets(self) -> pd.DataFrame:
        return self.table("sheets")

    def repair(self, column: str, row: int | None, rule: str | None = None) -> dict:
        """The one repair logged for ``column`` in Excel row ``row`` (optionally of one rule)."""
        r = self.repairs
        hit = r[(r["column"] == column) & (r["source_row"] == row if row is not None else r["source_row"].isna())]
        if rule is not None:
            hit = hit[hit["rule"] == rule]
        assert len(hit) == 1, f"expected one repair of {column} in row {row}, found:\n{r.to_string()}"
        return hit.iloc[0].to_dict()

    def rejection(self, row: int) -> dict:
        """The rejection logged for Excel row ``row``, with ``raw`` decoded from JSON."""
        r = self.rejections
        hit = r[r["source_row"] == row]
        assert len(hit) == 1, f"expected one rejection of row {row}, found:\n{r.to_string()}"
        out = hit.iloc[0].to_dict()
        out["raw"] = json.loads(out["raw"]) if out["raw"] else None
        return out

    def value(self, column: str, row: int, sheet: str | None = None):
        """The stored value of ``column`` for Excel row ``row``."""
        e = self.exposures
        hit = e[e["source_row"] == row]
        if sheet is not None:
            hit = hit[hit["sheet"] == sheet]
        assert len(hit) == 1, f"expected one exposure from row {row}, found {len(hit)}"
        return hit.iloc[0][column]


@pytest.fixture
def ingest(tmp_path):
    """Ingest files into a fresh SQLite database in ``tmp_path``: ``ingest(path, ..., year=2023)``."""
    counter = iter(range(1000))

    def run(*paths, db: str | None = None, **kwargs) -> Ingested:
        db = db or f"sqlite:///{tmp_path / f'drl_{next(counter)}.sqlite'}"
        kwargs.setdefault("progress", False)
        summary = ingest_paths(list(paths), db, **kwargs)
        return Ingested(summary, db)

    return run


@pytest.fixture(scope="session")
def catalogue():
    """The shipped exam-code catalogue."""
    return load_catalogue()


def postgres_url_or_skip() -> str:
    """The test server's URL; skipped without one, a failure in CI."""
    url = os.environ.get("DRL_ANALYSIS_TEST_POSTGRES_URL")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("CI is set but DRL_ANALYSIS_TEST_POSTGRES_URL is not: the PostgreSQL test must run in CI")
        pytest.skip("DRL_ANALYSIS_TEST_POSTGRES_URL is not set")
    return url


@pytest.fixture(scope="session")
def small_damaged_survey(tmp_path_factory):
    """Six generated submissions (3 data sources x 2 years; xlsx, xls, ods and csv,
    some split over sheets) with heavy damage, and their ground truth.

    Seed 5 draws every format and a few planted unit slips.
    """
    from drl_analysis.synthetic.surveys import SurveyModel, simulate_exposures, write_survey

    model = SurveyModel(
        sources=("Aerztliche Stelle Nord", "Aerztliche Stelle Sued", "Aerztliche Stelle West"),
        facilities_per_source=3,
        years=(2023, 2024),
        exams_per_facility=3,
    )
    folder = tmp_path_factory.mktemp("small_damaged_survey")
    return write_survey(
        folder, simulate_exposures(model, seed=5), seed=5, damage=2,
        formats={"xlsx": 0.4, "csv": 0.2, "xls": 0.2, "ods": 0.2},
    )


@pytest.fixture(scope="session")
def damaged_national_survey(tmp_path_factory):
    """Damaged submissions of the default survey model (5 data sources, 2 years,
    about 12,000 exposures, every kind of damage) at seed 0, with their truth."""
    from drl_analysis.synthetic.surveys import simulate_exposures, write_survey

    folder = tmp_path_factory.mktemp("damaged_national_survey")
    return write_survey(folder, simulate_exposures(seed=0), seed=0)

"""``drl-analysis analyse`` and notebook 04_clustering on a stored survey with planted faults."""

from __future__ import annotations

import hashlib

import nbformat
import numpy as np
import pandas as pd
import papermill as pm
import pytest

from drl_analysis.analysis.analyse import TABLE_FILES
from drl_analysis.analysis.clustering import cluster_data_sources
from drl_analysis.analysis.figures import cluster_figure, dendrogram_figure
from drl_analysis.analysis.outliers import OUTLIER_COLUMNS
from drl_analysis.cli import main
from drl_analysis.core.catalogue import load_catalogue
from drl_analysis.core.columns import EXPOSURE_COLUMNS
from drl_analysis.core.paths import NOTEBOOK_DIR, PROJECT_ROOT
from drl_analysis.store.database import SubmissionRecord, make_engine, save_submission
from drl_analysis.synthetic.surveys import SurveyModel, exam_quantities, simulate_exposures

CATALOGUE = load_catalogue()
QUANTITY = exam_quantities(CATALOGUE)
DOSES = ("dap_cgycm2", "agd_mgy", "dlp_mgycm", "ctdivol_mgy")
FIGURES = (
    "exam_clusters_pca.png",
    "exam_clusters_dendrogram.png",
    "source_clusters_pca.png",
    "source_clusters_dendrogram.png",
)


def store(exposures: pd.DataFrame, url: str) -> pd.DataFrame:
    """Store one submission per data source and year; return the exposures with
    the file, sheet and row each was stored under."""
    engine = make_engine(url)
    parts = []
    for (source, year), part in exposures.groupby(["data_source", "year"], sort=True):
        name = f"{source} {year}.xlsx"
        part = part.assign(source_file=name, sheet="Daten", source_row=np.arange(2, len(part) + 2), flags="")
        cols = ["sheet", "source_row", "data_source", "year", *EXPOSURE_COLUMNS, "flags"]
        save_submission(engine, SubmissionRecord(
            source_file=name, sha256=hashlib.sha256(name.encode()).hexdigest(), data_source=source,
            year=int(year), exposures=part[cols], rows_read=len(part)))
        parts.append(part)
    engine.dispose()
    return pd.concat(parts)


def facility_exam(frame: pd.DataFrame) -> pd.Series:
    """(data source, facility, exam code) of each row, positionally indexed."""
    return pd.Series(list(zip(frame["data_source"], frame["facility_id"], frame["exam_code"])))


def planted_survey(seed: int = 31):
    """A three-year survey whose facilities all sit well below the DRL, with faults planted.

    Returns the exposures and the planted faults: 15 unit slips (5 each of
    x10, x100, x1000) in random rows, four facility-exams raised above the
    DRL in two or three years (to be alerted) and one raised in one year of
    three (not to be alerted).
    """
    model = SurveyModel(years=(2021, 2022, 2023), facilities_per_source=8, facility_level=0.4,
                        facility_sigma=0.15, year_drift=0.05, patients_per_exam=(12, 22))
    exposures = simulate_exposures(model, seed=seed).drop(columns="facility_level").reset_index(drop=True)
    rng = np.random.default_rng(seed + 1)
    keys = exposures[["data_source", "facility_id", "exam_code"]].drop_duplicates().to_numpy()
    raised = [tuple(k) for k in keys[rng.choice(len(keys), 5, replace=False)]]
    for i, (source, fac, code) in enumerate(raised):
        years = [[2021, 2022, 2023], [2022, 2023], [2021, 2022], [2021, 2023], [2022]][i]
        rows = ((exposures["data_source"] == source) & (exposures["facility_id"] == fac)
                & (exposures["exam_code"] == code) & exposures["year"].isin(years))
        exposures.loc[rows, list(DOSES)] *= 4.0
    quantity = exposures["exam_code"].map(QUANTITY)
    reference = exposures["exam_code"].map(CATALOGUE.reference_phantom)
    raised_rows = facility_exam(exposures).isin(raised)
    eligible = ~raised_rows & ~((quantity == "ctdivol_mgy") & (exposures["ctdi_phantom_cm"] != reference))
    slip_rows = rng.choice(np.flatnonzero(eligible.to_numpy()), 15, replace=False)
    factors = np.repeat([10.0, 100.0, 1000.0], 5)
    for row, factor in zip(slip_rows, factors):
        exposures.loc[row, quantity[row]] *= factor
    return exposures, {
        "slip_rows": slip_rows,
        "slip_quantities": quantity[slip_rows].to_numpy(),
        "alerted": set(raised[:4]),
        "raised": set(raised),
    }


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("survey")
    url = f"sqlite:///{folder / 'survey.sqlite'}"
    exposures, truth = planted_survey()
    stored = store(exposures, url)
    slips = stored.loc[truth["slip_rows"], ["source_file", "sheet", "source_row"]]
    slips = slips.assign(quantity=truth["slip_quantities"])
    return {"url": url, "stored": stored, "slips": slips, **truth}


@pytest.fixture(scope="module")
def two_runs(planted, tmp_path_factory):
    folder = tmp_path_factory.mktemp("runs")
    outs = []
    for name in ("first", "second"):
        out = folder / name
        assert main(["analyse", "--db", planted["url"], "--out", str(out), "--seed", "3"]) == 0
        outs.append(out)
    return outs


def test_analyse_writes_every_table_figure_and_the_workbook(two_runs):
    out = two_runs[0]
    for filename in [*TABLE_FILES.values(), *FIGURES, "analysis.xlsx"]:
        assert (out / filename).stat().st_size > 0, filename
    for quantity in DOSES:
        png = (out / f"outliers_{quantity}.png").read_bytes()
        assert png.startswith(b"\x89PNG") and len(png) > 10_000


def test_outliers_csv_lists_every_planted_slip_with_the_unit_slip_reason(planted, two_runs):
    found = pd.read_csv(two_runs[0] / "outliers.csv", dtype={"facility_id": str, "exam_code": str, "sheet": str})
    assert list(found.columns[: len(OUTLIER_COLUMNS)]) == list(OUTLIER_COLUMNS)
    hits = planted["slips"].merge(found, on=["source_file", "sheet", "source_row", "quantity"], how="left")
    assert hits["reason"].str.startswith("suspected unit slip").all(), hits[["source_row", "reason"]]


def test_clean_rows_listed_as_outliers_stay_under_one_percent(planted, two_runs):
    found = pd.read_csv(two_runs[0] / "outliers.csv", dtype={"facility_id": str, "exam_code": str, "sheet": str})
    stored = planted["stored"]
    raised = facility_exam(stored).isin(planted["raised"])
    clean = stored[~raised.to_numpy()].drop(index=planted["slip_rows"], errors="ignore")
    listed = clean.merge(found[["source_file", "source_row"]].drop_duplicates(), on=["source_file", "source_row"])
    assert len(listed) / len(clean) < 0.01


def test_alerts_csv_names_every_facility_planted_above_the_drl_and_no_other(planted, two_runs):
    table = pd.read_csv(two_runs[0] / "alerts.csv", dtype={"facility_id": str, "exam_code": str, "years": str})
    facility = table[table["alert"] == "facility_above_drl"]
    assert set(zip(facility["data_source"], facility["facility_id"], facility["exam_code"])) == planted["alerted"]
    assert (table["alert"] == "facility_above_drl").all()
    assert facility["drl"].notna().all() and facility["facility_medians"].str.contains(":").all()


def test_cluster_tables_start_with_the_contract_columns(two_runs):
    exams = pd.read_csv(two_runs[0] / "exam_clusters.csv", dtype={"exam_code": str})
    assert list(exams.columns[:3]) == ["exam_code", "exam_name", "cluster"]
    assert exams.columns[3] == "median_dose_to_drl_2021"
    assert exams.set_index("exam_code").loc["1010", "exam_name"] == "Cranium"
    sources = pd.read_csv(two_runs[0] / "source_clusters.csv")
    assert list(sources.columns[:3]) == ["data_source", "cluster", "qcd_dose_to_drl_2021"]
    assert len(sources) == 5 and sources["cluster"].notna().all()


def test_two_runs_with_the_same_seed_write_identical_tables(two_runs):
    first, second = two_runs
    for filename in TABLE_FILES.values():
        assert (first / filename).read_bytes() == (second / filename).read_bytes(), filename
    sheets_first = pd.read_excel(first / "analysis.xlsx", sheet_name=None, engine="openpyxl")
    sheets_second = pd.read_excel(second / "analysis.xlsx", sheet_name=None, engine="openpyxl")
    assert sheets_first.keys() == sheets_second.keys()
    for name in sheets_first:
        pd.testing.assert_frame_equal(sheets_first[name], sheets_second[name])


def test_workbook_holds_every_table_and_the_parameters(two_runs):
    sheets = pd.read_excel(two_runs[0] / "analysis.xlsx", sheet_name=None, engine="openpyxl")
    assert list(sheets) == [*TABLE_FILES, "notes"]
    parameters = sheets["parameters"].set_index("parameter")["value"].astype(str)
    assert parameters["seed"] == "3" and parameters["years"] == "2021;2022;2023"
    assert parameters["k"] == "by silhouette" and parameters["z_threshold"] == "3.5"
    assert len(sheets["outliers"]) == len(pd.read_csv(two_runs[0] / "outliers.csv"))


def test_years_and_k_options_are_applied_and_recorded(planted, tmp_path):
    out = tmp_path / "recent"
    assert main(["analyse", "--db", planted["url"], "--out", str(out), "--years", "2022-2023", "--k", "2"]) == 0
    parameters = pd.read_csv(out / "parameters.csv").set_index("parameter")["value"]
    assert parameters["years"] == "2022;2023"
    assert parameters["k_exam_codes"] == "2" and parameters["k_data_sources"] == "2"
    assert set(pd.read_csv(out / "outliers.csv")["year"]) <= {2022, 2023}
    exams = pd.read_csv(out / "exam_clusters.csv")
    assert "median_dose_to_drl_2021" not in exams.columns and set(exams["cluster"].dropna()) == {1, 2}


def test_empty_database_is_one_clear_error(tmp_path, capsys):
    from drl_analysis.store.database import make_engine

    url = f"sqlite:///{tmp_path / 'empty.sqlite'}"
    make_engine(url).dispose()
    assert main(["analyse", "--db", url, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "holds no exposures" in err


def test_a_missing_database_file_is_refused_as_drl_refuses_it(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'missing.sqlite'}"
    for command in ("analyse", "drl"):
        assert main([command, "--db", url, "--out", str(tmp_path / "out")]) == 2
        assert "there is no database file" in capsys.readouterr().err
    assert not (tmp_path / "missing.sqlite").exists()


def test_k_below_two_is_refused_naming_the_option(planted, tmp_path, capsys):
    assert main(["analyse", "--db", planted["url"], "--out", str(tmp_path / "out"), "--k", "1"]) == 2
    assert "--k" in capsys.readouterr().err


def test_source_figures_show_the_labels_given_not_the_stored_names(planted):
    _, result = cluster_data_sources(planted["stored"], CATALOGUE, seed=0)
    sources = sorted(planted["stored"]["data_source"].unique())
    labels = {source: f"Source {chr(65 + i)}" for i, source in enumerate(sources)}
    scatter = cluster_figure(result, labels=labels, title="Data sources")
    shown = {t.get_text() for t in scatter.axes[0].texts}
    assert shown == set(labels.values())
    tree = dendrogram_figure(result, labels=labels)
    ticks = {t.get_text() for t in tree.axes[0].get_yticklabels()}
    assert ticks == set(labels.values())


def test_clustering_notebook_runs_on_a_stored_survey_and_writes_the_outputs(planted, tmp_path, monkeypatch):
    # The kernel imports the package from this checkout, installed or not.
    monkeypatch.setenv("PYTHONPATH", str(PROJECT_ROOT))
    out = tmp_path / "analysis"
    executed = tmp_path / "04_clustering.ipynb"
    pm.execute_notebook(
        str(NOTEBOOK_DIR / "04_clustering.ipynb"),
        str(executed),
        parameters={"db_url": planted["url"], "years": "2021-2023", "k": 0, "seed": 2, "out_dir": str(out)},
        kernel_name="python3",
        cwd=str(tmp_path),
        progress_bar=False,
    )
    found = pd.read_csv(out / "outliers.csv", dtype={"facility_id": str, "exam_code": str, "sheet": str})
    hits = planted["slips"].merge(found, on=["source_file", "sheet", "source_row", "quantity"])
    assert len(hits) == len(planted["slips"]) and hits["reason_kind"].eq("unit_slip").all()
    alerts = pd.read_csv(out / "alerts.csv", dtype={"facility_id": str, "exam_code": str})
    assert set(zip(alerts["data_source"], alerts["facility_id"], alerts["exam_code"])) == planted["alerted"]
    assert set(pd.read_excel(out / "analysis.xlsx", sheet_name=None, engine="openpyxl")) == {*TABLE_FILES, "notes"}
    for filename in FIGURES:
        assert (out / filename).stat().st_size > 10_000
    notebook = nbformat.read(executed, as_version=4)
    markdown = [
        "".join(o["data"]["text/markdown"])
        for cell in notebook.cells if cell.cell_type == "code"
        for o in cell.outputs if "data" in o and "text/markdown" in o["data"]
    ]
    assert any("**Exam codes**" in m and "**Data sources**" in m for m in markdown)
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    images = sum("image/png" in o.get("data", {}) for o in outputs)
    assert images >= len(FIGURES) + 1


def test_no_figure_without_data_one_data_source_draws_no_source_clusters(tmp_path):
    model = SurveyModel(sources=("Only source",), years=(2022, 2023), facilities_per_source=8,
                        exams=("9003", "9005", "1030", "9201"), patients_per_exam=(10, 15))
    url = f"sqlite:///{tmp_path / 'one.sqlite'}"
    store(simulate_exposures(model, seed=4).drop(columns="facility_level"), url)
    out = tmp_path / "out"
    assert main(["analyse", "--db", url, "--out", str(out)]) == 0
    assert not (out / "source_clusters_pca.png").exists() and not (out / "source_clusters_dendrogram.png").exists()
    assert (out / "exam_clusters_pca.png").is_file()
    # An outlier figure only for a quantity with values that count.
    assert {p.name for p in out.glob("outliers_*.png")} == {f"outliers_{q}.png" for q in
                                                           ("dap_cgycm2", "agd_mgy", "ctdivol_mgy", "dlp_mgycm")}

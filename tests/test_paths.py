"""Where the package finds its files and writes its outputs: a source checkout, or an
installed package working in the current folder (see also tests/test_wheel.py)."""

from __future__ import annotations

import os
import subprocess
import sys

from drl_analysis.core import paths
from drl_analysis.pipeline.kernel import kernel_environment


def test_this_checkout_is_recognised_as_one():
    assert paths.CHECKOUT == paths.PROJECT_ROOT == paths.PACKAGE_DIR.parent
    assert paths.NOTEBOOK_DIR == paths.CHECKOUT / "notebooks"
    assert paths.SAMPLE_DIR == paths.CHECKOUT / "data" / "raw" / "sample"
    assert paths.CITATION_FILE == paths.CHECKOUT / "CITATION.cff"


def test_only_a_folder_with_this_projects_pyproject_and_notebooks_is_a_checkout(tmp_path):
    assert paths._checkout(tmp_path) is None  # site-packages: no pyproject.toml
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "another-project"\n')
    assert paths._checkout(tmp_path) is None
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "drl-analysis"\n')
    assert paths._checkout(tmp_path) == tmp_path


def test_the_project_folder_can_be_named_by_the_environment(tmp_path):
    code = "from drl_analysis.core import paths; print(paths.PROJECT_ROOT); print(paths.default_db_url())"
    env = {**os.environ, "PYTHONPATH": str(paths.PACKAGE_DIR.parent), paths.ROOT_ENV: str(tmp_path)}
    root, url = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                               check=True, cwd=tmp_path).stdout.split()
    assert root == str(tmp_path)
    assert url == f"sqlite:///{tmp_path}/data/processed/drl.sqlite"
    assert list(tmp_path.iterdir()) == []  # the default database's folder is not made until ingest makes it


def test_kernels_resolve_paths_as_the_command_does():
    env = kernel_environment(base={"PYTHONPATH": "elsewhere"})
    assert env[paths.ROOT_ENV] == str(paths.PROJECT_ROOT)
    # From a checkout, the checkout's package comes first on the kernels' path.
    assert env["PYTHONPATH"].split(os.pathsep) == [str(paths.CHECKOUT), "elsewhere"]


def test_link_sample_makes_the_bundled_sample_appear_where_checkout_paths_point(tmp_path):
    link = paths.link_sample(tmp_path)
    assert link == tmp_path / "data" / "raw" / "sample"
    assert (link / "surveys").is_dir() and (link / "dose_reports").is_dir()
    assert link.resolve() == paths.SAMPLE_DIR.resolve()
    assert paths.link_sample(tmp_path) == link  # twice: left as it is


def test_the_runner_and_ocr_take_the_same_screens(tmp_path):
    """One list of screen suffixes: a folder of `.dicom` captures is the OCR notebook's input,
    as `drl-analysis ocr` reads it (the runner's own list had lacked `.dicom`)."""
    from drl_analysis.ocr.images import collect_images
    from drl_analysis.pipeline.notebooks import inspect, notebook_input

    shots = tmp_path / "input" / "dose_reports"
    shots.mkdir(parents=True)
    (shots / "screen.dicom").write_bytes(b"\0" * 128 + b"DICM")
    nb = inspect(next(paths.NOTEBOOK_DIR.glob("01_*.ipynb")))
    assert notebook_input(tmp_path / "input", nb) == shots
    assert [p.name for p in collect_images([shots])] == ["screen.dicom"]

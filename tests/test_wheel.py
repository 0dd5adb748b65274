"""The package as a user gets it: a wheel built offline from the sdist, installed into a
fresh virtual environment, and run from a folder outside the repository.

How the fresh environment gets the dependencies without a network: the venv is made
without pip or packages, and a ``.pth`` file puts the site-packages of the interpreter
running the tests (which has every dependency) *after* its own site-packages, as
``--system-site-packages`` would for a base interpreter. That interpreter's site-packages
may hold this checkout installed editable, but its ``.pth`` files are not processed (a
path line in a ``.pth`` adds the folder only), so only the wheel's ``drl_analysis`` can
be imported, and the tests check that it is (``drl_analysis.__file__``, in the command
and in the notebook kernels). The dependencies' Jupyter data (nbconvert's templates, the
kernel spec) lie in that interpreter's prefix, named by ``JUPYTER_PATH``. The wheel is
installed with ``--no-deps --no-index``.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from openpyxl import load_workbook
from pipeline_run import TEST_KEY_TEXT

from drl_analysis import __version__
from drl_analysis.core.paths import PROJECT_ROOT

pytestmark = pytest.mark.slow

#: Folders of a working checkout that are not part of the project's sources.
_NOT_SOURCES = shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.egg-info", "build", "dist", ".pytest_cache",
                                      ".hypothesis", ".ipynb_checkpoints", "processed", "out")


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path
    python: Path
    script: Path
    site_packages: Path


def _run(command: list, *, cwd: Path, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    done = subprocess.run([str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, command))} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


def _copy_checkout(target: Path) -> None:
    """The project's files as a clean clone has them (what git tracks or would track), else the tree
    without generated folders."""
    listed = subprocess.run(["git", "-C", str(PROJECT_ROOT), "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], capture_output=True, timeout=60)
    if listed.returncode != 0:
        shutil.copytree(PROJECT_ROOT, target, ignore=_NOT_SOURCES)
        return
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = PROJECT_ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def _clean_env(**extra: str) -> dict:
    """This process's environment without what would point a command at the checkout."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "DRL_ANALYSIS_ROOT")}
    shared = Path(sys.prefix) / "share" / "jupyter"  # the dependencies' data files (see the module's text)
    env["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(shared), os.environ.get("JUPYTER_PATH", "")]))
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    """The wheel, built from the sdist without network or build isolation, installed into a fresh venv."""
    if tuple(int(p) for p in metadata.version("setuptools").split(".")[:2]) < (77, 0):
        pytest.fail("the wheel test builds with this environment's setuptools, which must be 77 or newer "
                    "(pip install -e '.[test]' installs it)")
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    _copy_checkout(source)
    # The sdist, then the wheel from the unpacked sdist: what `python -m build` does, so that
    # MANIFEST.in is checked too.
    sdists = root / "sdist"
    build = "import sys, setuptools.build_meta as b; print(b.build_sdist(sys.argv[1]))"
    name = _run([sys.executable, "-c", build, sdists], cwd=source).stdout.strip().splitlines()[-1]
    with tarfile.open(sdists / name) as tar:
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}  # Python 3.11.4 and later
        tar.extractall(root / "unpacked", **safe)
    unpacked = next((root / "unpacked").iterdir())
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index",
          "--disable-pip-version-check", "-w", root / "wheels", unpacked], cwd=root)
    (wheel,) = (root / "wheels").glob("drl_analysis-*.whl")

    venv = root / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=root)
    python = venv / "bin" / "python"
    purelib = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                        cwd=root, env=_clean_env()).stdout.strip())
    (purelib / "_test_dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    _run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--ignore-installed",
          "--disable-pip-version-check", "--no-warn-script-location", wheel], cwd=root, env=_clean_env())
    return Installed(wheel, venv, python, venv / "bin" / "drl-analysis", purelib)


def _user_env(installed: Installed, home: Path) -> dict:
    return _clean_env(PATH=f"{installed.venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
                      XDG_CONFIG_HOME=str(home / "config"), MPLCONFIGDIR=str(home / "matplotlib"),
                      DRL_ANALYSIS_PSEUDONYM_KEY=TEST_KEY_TEXT)


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder`` with its size and modification time (bytecode caches aside)."""
    return {p.relative_to(folder).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


def test_wheel_carries_the_notebooks_the_sample_and_every_data_file(installed):
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    notebooks = sorted(p.name for p in (PROJECT_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert notebooks and all(f"drl_analysis/notebooks/{n}" in names for n in notebooks)
    sample = PROJECT_ROOT / "data" / "raw" / "sample"
    files = [f.relative_to(sample).as_posix() for f in sorted(sample.rglob("*")) if f.is_file()]
    assert {"surveys", "dose_reports", "truth"} <= {f.split("/")[0] for f in files}
    for f in files:  # all but the sample's truth, which is for the tests only
        assert (f"drl_analysis/data/sample/{f}" in names) == (not f.startswith("truth/")), f
    assert "drl_analysis/data/CITATION.cff" in names
    # Every data file of the package (catalogue, layouts, templates, fonts), not only Python modules.
    data = sorted(p.relative_to(PROJECT_ROOT).as_posix() for p in (PROJECT_ROOT / "drl_analysis").rglob("*")
                  if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts)
    assert "drl_analysis/data/exam_catalogue.csv" in data
    assert [d for d in data if d not in names] == []


def test_installed_package_runs_the_sample_and_writes_the_template_from_another_folder(installed, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    env = _user_env(installed, tmp_path)
    before = _snapshot(installed.venv)

    where = _run([installed.python, "-c", "import drl_analysis; print(drl_analysis.__file__)"], cwd=work, env=env)
    assert Path(where.stdout.strip()).is_relative_to(installed.site_packages)

    # The main job on the bundled sample, in the current folder's data/processed/.
    done = _run([installed.script, "run"], cwd=work, env=env, timeout=900)
    assert "sample: version" in done.stdout, done.stdout + done.stderr
    version = (work / "data" / "processed" / "sample" / "latest").resolve()
    manifest = json.loads((version / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert {n["name"] for n in manifest["notebooks"] if n["status"] == "ok"} >= {"02_repair", "05_report"}
    assert manifest["packages"]["drl-analysis"] == __version__
    assert manifest["git"] == {"commit": None, "dirty": None}  # an installed package is no checkout
    assert (version / "report" / "annual_report.pdf").stat().st_size > 20_000
    assert (version / "tables" / "03_drl_quartiles" / "drl_table.csv").is_file()

    # The survey template.
    _run([installed.script, "template", "survey.xlsx", "--year", "2025"], cwd=work, env=env)
    assert load_workbook(work / "survey.xlsx").sheetnames == ["Instructions", "Exposure data", "IDs",
                                                              "Examination codes"]

    # A reading command looks for the default database in the current folder, and creates nothing.
    empty = tmp_path / "empty"
    empty.mkdir()
    refused = subprocess.run([installed.script, "drl", "--out", "drl"], cwd=empty, env=env, capture_output=True,
                             text=True, timeout=120)
    assert refused.returncode == 2
    assert str(empty / "data" / "processed" / "drl.sqlite") in refused.stderr
    assert list(empty.iterdir()) == []

    assert _snapshot(installed.venv) == before, "the run wrote into the virtual environment"


def test_own_notebooks_run_in_kernels_that_import_the_installed_package(installed, tmp_path):
    own = tmp_path / "my_notebooks"
    nb = new_notebook(cells=[
        new_code_cell('out_dir: str = ""  # folder for the note'),
        new_code_cell("import json, sys\nfrom pathlib import Path\nimport drl_analysis\n"
                      "from drl_analysis.core import paths\nPath(out_dir).mkdir(parents=True, exist_ok=True)\n"
                      "Path(out_dir, 'where.json').write_text(json.dumps({'package': drl_analysis.__file__, "
                      "'python': sys.executable, 'root': str(paths.PROJECT_ROOT), 'installed': paths.CHECKOUT is None}))"),
    ])
    nb.cells[0].metadata["tags"] = ["parameters"]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    own.mkdir()
    nbformat.write(nb, own / "10_where.ipynb")
    work = tmp_path / "work"
    (work / "input" / "surveys").mkdir(parents=True)
    (work / "input" / "surveys" / "a.csv").write_text("a\n1\n")
    env = _user_env(installed, tmp_path)
    _run([installed.script, "run", "--notebooks", own, "--input", "input", "--survey", "probe"], cwd=work, env=env)
    version = (work / "data" / "processed" / "probe" / "latest").resolve()
    seen = json.loads((version / "tables" / "10_where" / "where.json").read_text())
    assert Path(seen["package"]).is_relative_to(installed.site_packages)
    assert Path(seen["python"]).parent == installed.venv / "bin"
    assert Path(seen["root"]) == work.resolve() and seen["installed"]  # paths resolved as the command did
    manifest = json.loads((version / "manifest.json").read_text())
    assert manifest["notebook_folder"] == str(own.resolve())  # verify reruns the same notebooks


_COLAB_PROBE = r'''
import sys
from pathlib import Path

import nbformat
import papermill as pm

import drl_analysis
from drl_analysis.pipeline.kernel import _kernel_manager_class

content, out = Path(sys.argv[1]), Path(sys.argv[2])
nb = nbformat.read(Path(drl_analysis.__file__).parent / "notebooks" / "02_repair.ipynb", as_version=4)
setup = next(c for c in nb.cells if c.cell_type == "code")
# Colab's module, and its pip line done already: the wheel is what `pip install git+...` builds.
lines = [line[:len(line) - len(line.lstrip())] + "pass  # installed: " + line.strip()
         if line.strip().startswith("!pip") else line for line in setup.source.splitlines()]
setup.source = ("import sys, types\nsys.modules['google.colab'] = types.ModuleType('google.colab')\n"
                + "\n".join(lines).replace("/content/drl-analysis", str(content / "drl-analysis")))
nbformat.write(nb, out / "02_colab.ipynb")
env = {k: v for k, v in __import__("os").environ.items() if k != "DRL_ANALYSIS_ROOT"}
pm.execute_notebook(str(out / "02_colab.ipynb"), str(out / "02_colab.out.ipynb"), kernel_name="python3",
                    kernel_manager_class=_kernel_manager_class(env, content), progress_bar=False)
'''


def test_the_colab_setup_cell_works_with_the_installed_package(installed, tmp_path):
    """The notebooks' first cell as Colab runs it (Colab's module present, the package installed as
    pip installs it from the repository), then notebook 02 with its default parameters: the
    bundled sample is found through the cell's link and the outputs land in the cell's project folder."""
    content = tmp_path / "content"
    content.mkdir()
    env = _user_env(installed, tmp_path)
    probe = tmp_path / "probe.py"
    probe.write_text(_COLAB_PROBE)
    _run([installed.python, probe, content, tmp_path], cwd=tmp_path, env=env, timeout=600)
    project = content / "drl-analysis"
    sample = project / "data" / "raw" / "sample"
    assert sample.is_dir() and (sample / "surveys").is_dir()
    assert sample.resolve().is_relative_to(installed.site_packages)  # the bundled sample, linked
    assert (project / "data" / "processed" / "drl.sqlite").stat().st_size > 100_000
    executed = nbformat.read(tmp_path / "02_colab.out.ipynb", as_version=4)
    errors = [o for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert errors == []

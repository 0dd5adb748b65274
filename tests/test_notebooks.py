"""Every notebook: its skeleton, committed without outputs, and executed on the bundled sample.

Execution: the shared sample run (``pipeline_run.sample_run``) executes every
notebook with papermill, kernel ``python3``, exactly as ``drl-analysis run``
does; the tests here check each executed notebook for errors and outputs.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys

import nbformat
import pytest
import yaml
from pipeline_run import sample_run

from drl_analysis.core.paths import NOTEBOOK_DIR, PROJECT_ROOT, REPOSITORY_URL
from drl_analysis.pipeline.notebooks import NOTEBOOK_PATTERN

NOTEBOOKS = sorted(p for p in NOTEBOOK_DIR.glob("*.ipynb") if NOTEBOOK_PATTERN.match(p.name))
IDS = [p.stem for p in NOTEBOOKS]


def parameters_cell(nb):
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, "exactly one cell tagged parameters"
    return cells[0]


def test_notebooks_are_numbered_and_named_in_lower_case():
    assert {"02_repair", "05_report"} <= {p.stem for p in NOTEBOOKS}
    numbers = [p.name[:2] for p in NOTEBOOKS]
    assert len(set(numbers)) == len(numbers), "two notebooks share a number"
    for path in NOTEBOOKS:
        assert re.fullmatch(r"\d\d_[a-z0-9]+(_[a-z0-9]+)*\.ipynb", path.name), path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_opens_with_title_and_colab_setup_cell(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[0].cell_type == "markdown"
    assert nb.cells[0].source.startswith(f"# {path.stem[:2]} ")
    for word in ("**Aim.**", "**Reads**", "**Writes**"):
        assert word in nb.cells[0].source, word
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    assert '"google.colab" in sys.modules' in first_code.source
    # Colab installs the package as pip installs a wheel (notebooks and sample inside it), not editable,
    # and links the bundled sample where the notebooks' default parameters look for it.
    assert f'pip -q install "drl-analysis @ git+{REPOSITORY_URL}"' in first_code.source
    assert "install -e" not in first_code.source and "git clone" not in first_code.source
    assert "link_sample()" in first_code.source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_readme_has_an_open_in_colab_badge_for_the_notebook(path):
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    repo = REPOSITORY_URL.removeprefix("https://github.com/")
    link = f"(https://colab.research.google.com/github/{repo}/blob/main/notebooks/{path.name})"
    assert f"[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)]{link}" in readme


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_parameters_are_typed_literals_with_a_comment_each(path):
    nb = nbformat.read(path, as_version=4)
    cell = parameters_cell(nb)
    lines = [line for line in cell.source.splitlines() if line.strip()]
    for line in lines:
        code, _, comment = line.partition("  # ")
        assert comment.strip(), f"no comment: {line}"
        node = ast.parse(code).body[0]
        assert isinstance(node, ast.AnnAssign), f"not 'name: type = value': {line}"
        value = ast.literal_eval(node.value)
        assert type(value).__name__ == ast.unparse(node.annotation), line


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_is_committed_without_outputs_and_with_kernel_python3(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata.kernelspec.name == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    assert "papermill" not in nb.metadata


def test_pre_commit_hook_strips_outputs_and_keeps_the_parameters_tag(tmp_path):
    config = yaml.safe_load((PROJECT_ROOT / ".pre-commit-config.yaml").read_text())
    hook = next(h for repo in config["repos"] for h in repo["hooks"] if h["id"] == "nbstripout")
    assert re.search(hook["files"], "notebooks/05_report.ipynb")
    # Run the hook's command as pre-commit would, with this environment's nbstripout.
    command = [sys.executable, "-m", "nbstripout", *hook.get("args", [])]
    nb = nbformat.read(NOTEBOOK_DIR / "02_repair.ipynb", as_version=4)
    cell = parameters_cell(nb)
    cell.outputs = [nbformat.v4.new_output("stream", text="ran")]
    cell.execution_count = 4
    cell.metadata["papermill"] = {"duration": 1.2}
    nb.metadata["papermill"] = {"parameters": {"db_url": "sqlite:///x"}}
    path = tmp_path / "02_repair.ipynb"
    nbformat.write(nb, path)
    subprocess.run([*command, str(path)], check=True, cwd=tmp_path)
    stripped = nbformat.read(path, as_version=4)
    cell = parameters_cell(stripped)
    assert cell.metadata["tags"] == ["parameters"]
    assert cell.outputs == [] and cell.execution_count is None
    assert "papermill" not in stripped.metadata and "papermill" not in cell.metadata


# --- executed on the bundled sample ----------------------------------------------


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_runs_on_the_sample_without_error(path, tmp_path_factory, worker_id):
    folder = sample_run(tmp_path_factory, worker_id)
    manifest = json.loads((folder / "manifest.json").read_text())
    entry = next(n for n in manifest["notebooks"] if n["name"] == path.stem)
    if entry["status"] == "skipped":
        pytest.skip(f"{path.stem}: {entry['reason']} in the bundled sample")
    assert entry["status"] == "ok"
    executed = nbformat.read(folder / "notebooks" / path.name, as_version=4)
    assert executed.metadata.papermill["parameters"] == manifest["parameters"]["notebooks"][path.stem]
    code = [c for c in executed.cells if c.cell_type == "code"]
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert errors == []
    # Every code cell ran (papermill stops at the first error), and the notebook showed something.
    assert all(c.execution_count for c in code)
    assert sum(len(c.outputs) for c in code) >= 3
    # It wrote into its own folder of the run.
    out = folder / manifest["parameters"]["notebooks"][path.stem].get("out_dir", f"tables/{path.stem}")
    assert any(p.is_file() for p in out.rglob("*")), f"{path.stem} wrote nothing into {out}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_page_hides_code(path, tmp_path_factory, worker_id):
    folder = sample_run(tmp_path_factory, worker_id)
    page = folder / "html" / f"{path.stem}.html"
    if not page.exists():
        pytest.skip(f"{path.stem} did not run on the bundled sample")
    text = page.read_text()
    assert "import " not in re.sub(r"<script.*?</script>", "", text, flags=re.S)
    assert not re.search(r"<script[^>]+src=['\"]https?:", text)

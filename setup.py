"""The build's one step beyond pyproject.toml: the notebooks, the bundled sample
and CITATION.cff go into the wheel as package data.

They live at the top of the repository (``notebooks/``, ``data/raw/sample/``,
``CITATION.cff``), where the README, Colab and the tests find them. A wheel
carries copies inside the package (``drl_analysis/notebooks/``,
``drl_analysis/data/sample/``, ``drl_analysis/data/CITATION.cff``), where an
installed package looks for them (``drl_analysis/core/paths.py``). An editable
install reads them from the checkout. ``MANIFEST.in`` puts them into the sdist,
so that a wheel built from the sdist has them too.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

#: What is copied into the package: repository path -> (path in the package, file pattern).
BUNDLED = {
    "notebooks": ("drl_analysis/notebooks", "[0-9][0-9]_*.ipynb"),
    "data/raw/sample": ("drl_analysis/data/sample", "**/*"),
    "CITATION.cff": ("drl_analysis/data/CITATION.cff", None),
}
#: Folders left out: what a correct reader of the sample stores, which only the tests read.
NOT_BUNDLED = ("data/raw/sample/truth",)


def bundled_files(root: Path) -> dict[Path, str]:
    """Each file to bundle -> its path inside the build folder."""
    files = {}
    for source, (target, pattern) in BUNDLED.items():
        path = root / source
        if pattern is None:
            files[path] = target
            continue
        for f in sorted(path.glob(pattern)):
            rel = f.relative_to(path)
            skipped = any(f.is_relative_to(root / n) for n in NOT_BUNDLED)
            if f.is_file() and not skipped and not any(part.startswith(".") for part in rel.parts):
                files[f] = f"{target}/{rel.as_posix()}"
    return files


class BuildPy(build_py):
    """build_py that also copies the bundled files into the package."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads them from the checkout
        missing = [source for source in BUNDLED if not Path(source).exists()]
        if missing:
            raise SystemExit(f"setup.py: cannot bundle {', '.join(missing)}: not in the source tree")
        for source, target in bundled_files(Path.cwd()).items():
            out = Path(self.build_lib) / target
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, out)


setup(cmdclass={"build_py": BuildPy})

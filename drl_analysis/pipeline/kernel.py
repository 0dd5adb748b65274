"""Executing a notebook: the kernel's environment, papermill, failures, progress."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

from ..core.paths import CHECKOUT, PROJECT_ROOT, ROOT_ENV
from ..reporting.pseudonyms import ENV_VAR, SOURCE_ENV_VAR
from .notebooks import KERNEL, Notebook


class Progress:
    """Overall and per-notebook progress on stderr.

    On a terminal: an overall bar over all notebooks of all surveys and
    papermill's bar over the cells of the current notebook. Otherwise one
    line per notebook. ``enabled=False`` prints nothing.
    """

    def __init__(self, total: int, enabled: bool = True, stream=None):
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.total = total
        self.done = 0
        self.bar = None
        if self.tty:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc="run", unit="notebook", position=0, file=self.stream)

    def cell_bar(self, survey: str, name: str) -> bool | dict:
        """papermill's ``progress_bar`` argument for one notebook."""
        if not self.tty:
            return False
        return {"desc": f"{survey} {name}", "leave": False, "position": 1, "file": self.stream}

    def start(self, survey: str, name: str) -> None:
        if self.bar is not None:
            self.bar.set_description(f"run {survey}")
        elif self.enabled:
            print(f"[{self.done + 1}/{self.total}] {survey}: {name} …", file=self.stream, flush=True)

    def finish(self, survey: str, name: str, status: str, seconds: float | None = None) -> None:
        self.done += 1
        timing = f" in {seconds:.1f} s" if seconds is not None else ""
        if self.bar is not None:
            self.bar.update(1)
            self.bar.write(f"{survey}: {name} {status}{timing}", file=self.stream)
        elif self.enabled:
            print(f"[{self.done}/{self.total}] {survey}: {name} {status}{timing}", file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class NotebookFailed(Exception):
    """A notebook raised; ``user_error`` when it was a :class:`UserError`."""

    def __init__(self, notebook: str, ename: str, evalue: str, traceback: str, cell: int | None):
        self.notebook = notebook
        self.ename = ename
        self.evalue = evalue
        self.traceback = traceback
        self.cell = cell
        super().__init__(f"notebook {notebook} failed: {ename}: {evalue}")

    @property
    def user_error(self) -> bool:
        return self.ename in ("UserError", "CatalogueError")


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def kernel_environment(
    key_text: str | None = None, base: Mapping[str, str] | None = None, key_source: str | None = None
) -> dict[str, str]:
    """The environment of the kernels, made from ``base`` (default: this
    process's environment, which is left as it is): this package first on the
    path when it runs from a source checkout (an installed package is found by
    the kernel's interpreter, which is this one), the project folder
    (``DRL_ANALYSIS_ROOT``: the kernels work in the run's folder but resolve
    paths as this process does), plotly figures as data (turned into offline
    HTML later), a fixed hash seed, no progress bars inside notebooks (the run
    shows its own; in a page they are noise), and the pseudonym key (never a
    notebook parameter, so never in an output) with where the run took it
    from (``key_source``), so that a notebook names the key file rather than
    the environment variable that carried the key to it."""
    env = dict(os.environ if base is None else base)
    if CHECKOUT is not None:
        path = env.get("PYTHONPATH", "")
        env["PYTHONPATH"] = os.pathsep.join([str(CHECKOUT)] + ([path] if path else []))
    env[ROOT_ENV] = str(PROJECT_ROOT)
    env["PLOTLY_RENDERER"] = "plotly_mimetype"
    env["PYTHONHASHSEED"] = "0"
    env["TQDM_DISABLE"] = "1"
    # tqdm.auto warns in a kernel without ipywidgets, before any bar is made.
    warnings = env.get("PYTHONWARNINGS", "")
    env["PYTHONWARNINGS"] = ",".join(filter(None, [warnings, "ignore:IProgress not found"]))
    env.pop(SOURCE_ENV_VAR, None)
    if key_text is not None:
        env[ENV_VAR] = key_text
        if key_source:
            env[SOURCE_ENV_VAR] = key_source
    return env


def _kernel_manager_class(env: Mapping[str, str], cwd: Path):
    """A kernel manager that starts its kernel with ``env`` in ``cwd``: papermill
    hands the class to nbclient, which starts the kernel through it, so neither
    the environment nor the working folder of this process changes."""
    from jupyter_client.manager import AsyncKernelManager

    class RunKernelManager(AsyncKernelManager):
        async def start_kernel(self, **kw):  # type: ignore[override]
            kw["env"] = dict(env)
            kw["cwd"] = str(cwd)
            return await super().start_kernel(**kw)

    return RunKernelManager


@contextlib.contextmanager
def _quiet_papermill() -> Iterator[None]:
    """papermill warns about parameters it cannot parse or does not know; the runner has
    already parsed and checked them, so these warnings would only mislead."""
    log = logging.getLogger("papermill")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def execute(nb: Notebook, out: Path, parameters: dict, cwd: Path, progress_bar, env: Mapping[str, str]) -> None:
    """Execute one notebook with papermill into ``out``, its kernel in ``cwd`` with ``env``.

    Raises
    ------
    NotebookFailed
        When a cell raised, or the kernel died, timed out or could not start.
    """
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    try:
        with _quiet_papermill():
            pm.execute_notebook(
                str(nb.path),
                str(out),
                parameters=parameters,
                kernel_name=KERNEL,
                # The kernel's working folder and environment (not papermill's cwd, which
                # would change this process's working folder while the notebook runs).
                kernel_manager_class=_kernel_manager_class(env, cwd),
                progress_bar=progress_bar,
                log_output=False,
                request_save_on_cell_execute=False,
                # The kernel's own log (e.g. its note that it talks over local TCP) is noise here;
                # its errors reach us through papermill.
                extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
            )
    except PapermillExecutionError as exc:
        tb = _ANSI.sub("", "\n".join(exc.traceback or []))
        raise NotebookFailed(nb.name, exc.ename, _ANSI.sub("", str(exc.evalue)), tb, exc.exec_count) from None
    except Exception as exc:  # the kernel died, timed out or could not start
        raise NotebookFailed(nb.name, type(exc).__name__, str(exc).strip().splitlines()[0] if str(exc).strip() else "",
                             "", None) from exc
    _relative_papermill_paths(out, nb)


def _relative_papermill_paths(executed: Path, nb: Notebook) -> None:
    """papermill records where the notebook came from and went to as machine
    paths; keep them relative (to the project, and to the version folder)."""
    import nbformat

    doc = nbformat.read(executed, as_version=4)
    meta = doc.metadata.get("papermill", {})
    try:
        meta["input_path"] = nb.path.resolve().relative_to(PROJECT_ROOT).as_posix()
    except ValueError:
        meta["input_path"] = nb.path.name
    meta["output_path"] = f"notebooks/{executed.name}"
    nbformat.write(doc, executed)



"""One full pipeline run on the bundled sample, shared by the tests that inspect it.

The run takes tens of seconds, so it is made once per test session: the
first pytest-xdist worker that needs it runs it under a file lock, the others
wait and read where it is.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
from pathlib import Path

import pytest

from drl_analysis.core.paths import PROJECT_ROOT, SAMPLE_DIR
from drl_analysis.pipeline import run as runner
from drl_analysis.reporting.pseudonyms import ENV_VAR, PseudonymKey

#: The pseudonym key of the shared run (a test key, not a secret).
TEST_KEY_TEXT = "key-of-the-test-run-0123456789abcdef"


@contextlib.contextmanager
def _environment(config_home: Path):
    mp = pytest.MonkeyPatch()
    try:
        # The kernels import the package from this checkout, installed or not.
        mp.setenv("PYTHONPATH", str(PROJECT_ROOT))
        # Never touch the user's configuration folder (the pseudonym key lives there).
        mp.setenv("XDG_CONFIG_HOME", str(config_home))
        mp.delenv(ENV_VAR, raising=False)
        yield
    finally:
        mp.undo()


def sample_run(tmp_path_factory, worker_id: str) -> Path:
    """The version folder of the full sample run (made once per session)."""
    root = tmp_path_factory.getbasetemp()
    if worker_id != "master":
        root = root.parent  # shared by the xdist workers of this session
    base = root / "sample-run"
    base.mkdir(exist_ok=True)
    done = base / "done.json"
    with open(base / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if done.exists():
                return Path(json.loads(done.read_text())["folder"])
            with _environment(base / "config"):
                key = PseudonymKey.from_text(TEST_KEY_TEXT, "the test key")
                plan = runner.Plan("sample", SAMPLE_DIR)
                result = runner.run([plan], base / "out", key=key, progress=False)[0]
            if result.status != "complete":
                raise AssertionError(f"the sample run failed: {result.error}")
            done.write_text(json.dumps({"folder": str(result.folder)}))
            return result.folder
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def environment(config_home: Path):
    """The environment of the shared run, for tests that run the pipeline again."""
    return _environment(config_home)


def with_key(monkeypatch) -> None:
    """Give the test key through the environment, as a user would."""
    monkeypatch.setenv(ENV_VAR, TEST_KEY_TEXT)

"""``drl-analysis verify``: rerun a version from its manifest into a temporary
folder and compare every table (CSV) with the published one, after checking
that the inputs and the published files are those the manifest lists.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import UserError
from ..reporting.pseudonyms import ENV_VAR
from .layout import PSEUDONYMISED
from .manifest import check_outputs, read_manifest, resolve_recorded_input, sha256_file
from .notebooks import discover
from .plans import Plan

log = logging.getLogger(__name__)


@dataclass
class Verification:
    """The outcome of :func:`verify`."""

    folder: Path
    identical: list[str] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences


def compare_table(published: Path, rerun: Path, name: str) -> str | None:
    """How two CSV tables differ, in one line, or None when they are identical.

    Rows are numbered from 1 (the first row under the header).
    """
    if published.read_bytes() == rerun.read_bytes():
        return None
    import pandas as pd

    a = pd.read_csv(published, dtype=str, keep_default_na=False)
    b = pd.read_csv(rerun, dtype=str, keep_default_na=False)
    if list(a.columns) != list(b.columns):
        gone = [c for c in b.columns if c not in a.columns]
        new = [c for c in a.columns if c not in b.columns]
        return f"{name}: columns differ (published has {new or 'none'} extra, lacks {gone or 'none'})"
    n = min(len(a), len(b))
    diff = (a.iloc[:n].to_numpy() != b.iloc[:n].to_numpy())
    rows = [i + 1 for i in range(n) if diff[i].any()]
    parts = []
    if rows:
        first = rows[0] - 1
        col = a.columns[int(diff[first].argmax())]
        shown = ", ".join(map(str, rows[:10])) + (f" and {len(rows) - 10} more" if len(rows) > 10 else "")
        parts.append(
            f"rows {shown} differ (row {rows[0]}, column {col}: published {a.iat[first, a.columns.get_loc(col)]!r}, "
            f"rerun {b.iat[first, b.columns.get_loc(col)]!r})"
        )
    if len(a) != len(b):
        parts.append(f"published has {len(a)} rows, rerun {len(b)}")
    if not parts:  # same cells, other bytes (line ends, quoting)
        parts.append("same cells, different bytes (line ends or quoting)")
    return f"{name}: " + "; ".join(parts)


def compare_versions(published: str | Path, rerun: str | Path, *, skip: Sequence[str] = ()) -> Verification:
    """Compare every CSV table of two version folders.

    Parameters
    ----------
    published, rerun : str or Path
        Version folders.
    skip : sequence of str
        Folder prefixes (relative paths) not compared, e.g. the pseudonymised
        tables when the key is not at hand.
    """
    published, rerun = Path(published), Path(rerun)
    result = Verification(published)

    def tables(root: Path) -> dict[str, Path]:
        return {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*.csv"))}

    a, b = tables(published), tables(rerun)
    for name in sorted(set(a) | set(b)):
        if any(name.startswith(s) for s in skip):
            result.skipped.append(name)
        elif name not in b:
            result.differences.append(f"{name}: published, but the rerun does not write it")
        elif name not in a:
            result.differences.append(f"{name}: written by the rerun, missing from the published version")
        else:
            message = compare_table(a[name], b[name], name)
            (result.differences.append(message) if message else result.identical.append(name))
    return result


def plan_from_manifest(manifest: Mapping) -> Plan:
    """The plan that reproduces a version."""
    return Plan(
        survey=manifest["survey"],
        input_dir=resolve_recorded_input(manifest["inputs"]["folder"]),
        years=manifest["parameters"].get("years", ""),
        parameters=dict(manifest["parameters"].get("user", {})),
    )


def verify(
    folder: str | Path,
    *,
    progress: bool = True,
    keep: str | Path | None = None,
    stream=None,
    key_file: str | Path | None = None,
) -> Verification:
    """Rerun a version from its manifest and compare every table with the published one.

    Parameters
    ----------
    folder : str or Path
        A complete version folder.
    progress : bool, default True
    keep : str or Path, optional
        Write the rerun under this folder (kept) instead of a temporary one.
    stream : file, optional
        Where the rerun's progress goes; default stderr.
    key_file : str or Path, optional
        The pseudonym key file the run used; default the environment variable
        or the user's key file.

    Returns
    -------
    Verification
        ``ok`` when every table is identical; ``differences`` say which table
        and rows differ. Pseudonymised tables are compared only with the key
        the run used (same fingerprint); otherwise they are listed as skipped.
    """
    folder = Path(folder).resolve()
    manifest = read_manifest(folder)
    plan = plan_from_manifest(manifest)
    result = Verification(folder)
    if not plan.input_dir.is_dir():
        raise UserError(f"{folder}: its input folder {plan.input_dir} is missing")
    recorded = {f["path"]: f["sha256"] for f in manifest["inputs"]["files"]}
    for rel, sha in recorded.items():
        p = plan.input_dir / rel
        if not p.is_file():
            result.differences.append(f"input {rel}: missing")
        elif sha256_file(p) != sha:
            result.differences.append(f"input {rel}: changed since the run (sha256 differs)")
    if result.differences:
        return result
    # The published files as the run wrote them; a changed table is also named by the comparison below.
    result.differences += check_outputs(folder, manifest)

    key, skip = None, []
    recorded_key = manifest.get("pseudonym_key")
    if recorded_key:
        from ..reporting.pseudonyms import PseudonymKey, load_key

        try:
            key = load_key(key_file, create=False)
        except UserError:
            if key_file is not None:
                raise
            key = None
        if key is None or not key.matches(recorded_key):
            skip.append(f"{PSEUDONYMISED}/")
            log.warning(
                "the pseudonymised tables need the run's key (this key's fingerprint is not the manifest's); "
                "give it with --pseudonym-key-file or set %s to check them too", ENV_VAR)
            # The rerun still writes a pseudonymised edition; a throwaway key keeps the user's key file untouched.
            key = PseudonymKey(secrets.token_hex(32).encode(), "a throwaway key for the rerun")
    recorded_folder = manifest.get("notebook_folder")  # the run's own notebooks (--notebooks), if any
    notebook_dir = resolve_recorded_input(recorded_folder) if recorded_folder else None
    notebooks = discover(notebook_dir)
    changed = [nb.name for nb in notebooks
               if any(e["name"] == nb.name and e["sha256"] != sha256_file(nb.path) for e in manifest["notebooks"])]
    if changed:
        log.warning("notebooks changed since the run: %s", ", ".join(changed))

    with contextlib.ExitStack() as stack:
        root = Path(keep) if keep else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="drl-verify-")))
        from .run import run  # the runner imports this module's neighbours; import it when needed

        results = run([plan], root, notebook_dir=notebook_dir, key=key, progress=progress, stream=stream)
        rerun = results[0]
        if rerun.status != "complete":
            err = rerun.error
            result.differences.append(f"the rerun failed: {err}")
            return result
        compared = compare_versions(folder, rerun.folder, skip=skip)
    result.identical, result.skipped = compared.identical, compared.skipped
    result.differences += compared.differences
    return result



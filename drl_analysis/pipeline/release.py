"""``drl-analysis release``: a version as a deposit bundle (zip) for a repository such as Zenodo.

By default the bundle holds the **pseudonymised** edition only: the
pseudonymised report with its tables and figures, the publication pages
(``html/pseudonymised/``, with their SVG figures), the pipeline description,
and, made for the bundle, a Data Package and an RO-Crate that describe just
what is in it, ``CITATION.cff`` with the package version of the run,
``SHA256SUMS`` and a README that says what the deposit is and how to check
it. ``identified=True`` adds the identified edition: every file of the
version (tables, report, notebooks, pages, database, manifest).

A release refuses a version folder that is incomplete or failed, and one
whose files do not have the SHA-256 its manifest lists (naming each file).
A pseudonymised bundle is searched for the run's data sources, facility IDs,
input file names and machine paths before it is written, as the run searched
its publication pages; a finding refuses the release.
The zip is built deterministically (entries sorted, fixed timestamps and
permissions), so the same version gives the same bytes.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import UserError
from ..core.paths import CITATION_FILE as CITATION_PATH
from ..core.paths import REPOSITORY_URL
from . import crate, datapackage
from .layout import (
    CRATE,
    DATAPACKAGE,
    FAILED_SUFFIX,
    INCOMPLETE_SUFFIX,
    INDEX,
    MANIFEST,
    PIPELINE_FILE,
    PSEUDONYMISED,
    PSEUDONYMISED_HTML,
)
from .manifest import check_outputs, read_manifest, sha256_file

README = "README.md"
CHECKSUMS = "SHA256SUMS"
#: Files of a bundle searched as text for identifying names (the PDF is made from the tables searched).
TEXT_SUFFIXES = (".html", ".svg", ".csv", ".json", ".md", ".yaml", ".cff", ".txt")
#: Timestamp of every zip entry (the earliest a zip can hold): the bytes depend on the content only.
ZIP_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Bundle:
    """A written release: the zip, its edition, the files in it (relative to its top folder) and its SHA-256."""

    path: Path
    edition: str
    files: tuple[str, ...]
    sha256: str


def check_version(folder: str | Path) -> dict:
    """The manifest of a version fit for release.

    Raises
    ------
    UserError
        When the folder is incomplete or failed, has no manifest, or a file
        differs from the SHA-256 its manifest lists (each such file named).
    """
    folder = Path(folder)
    if folder.name.endswith((INCOMPLETE_SUFFIX, FAILED_SUFFIX)):
        raise UserError(f"{folder}: not a complete version (its run did not finish)")
    manifest = read_manifest(folder)
    if not manifest.get("outputs"):
        raise UserError(f"{folder}: its manifest lists no output files with their SHA-256; rerun it")
    problems = check_outputs(folder, manifest)
    if problems:
        raise UserError(f"{folder}: does not pass verify's checksums: " + "; ".join(problems))
    return manifest


def _selected(manifest: Mapping, identified: bool) -> list[str]:
    """The version's files that go into the bundle."""
    listed = [o["path"] for o in manifest["outputs"] if o["path"] != DATAPACKAGE]
    if identified:
        return sorted(listed + [MANIFEST, INDEX])
    public = (f"{PSEUDONYMISED}/", f"{PSEUDONYMISED_HTML}/")
    return sorted(p for p in listed if p.startswith(public) or p == PIPELINE_FILE)


def find_bundle_leaks(staging: str | Path, folder: str | Path, manifest: Mapping) -> list[str]:
    """What in a staged pseudonymised bundle names the run's data sources, facilities, input files or paths.

    The same search as the run's on its publication pages
    (:func:`drl_analysis.reporting.pseudonyms.find_leaks`, with the names of
    :func:`drl_analysis.reporting.public.run_identifiers`), over every text
    file of the bundle (:data:`TEXT_SUFFIXES`). One message per finding.
    """
    from ..reporting.pseudonyms import find_leaks
    from ..reporting.public import run_identifiers

    staging = Path(staging)
    texts = ((p.relative_to(staging).as_posix(), p.read_text(encoding="utf-8", errors="replace"))
             for p in sorted(staging.rglob("*")) if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES)
    return find_leaks(texts, run_identifiers(folder, manifest))


def citation_text(manifest: Mapping, path: str | Path | None = None) -> str:
    """``CITATION.cff`` of the project with the version (and commit) of the run's package."""
    import yaml

    path = Path(path) if path else CITATION_PATH
    version = manifest.get("packages", {}).get("drl-analysis", "")
    commit = (manifest.get("git") or {}).get("commit")
    if path.is_file():
        text = path.read_text(encoding="utf-8")
    else:
        text = yaml.safe_dump({
            "cff-version": "1.2.0", "message": "If you use drl-analysis, please cite it as below.",
            "title": "drl-analysis", "type": "software", "authors": [{"name": "drl-analysis contributors"}],
            "license": "GPL-3.0-or-later", "repository-code": REPOSITORY_URL, "version": version,
        }, sort_keys=False, allow_unicode=True)
    text = re.sub(r"(?m)^version:.*$", f"version: {version}", text)
    text = re.sub(r"(?m)^commit:.*\n", "", text)
    if commit:
        text = text.rstrip("\n") + f'\ncommit: "{commit}"\n'
    return text


def readme_text(manifest: Mapping, files: Sequence[str], identified: bool, top: str) -> str:
    """The bundle's README: what the deposit is and how to check it."""
    survey, version = manifest["survey"], manifest["version"]
    software = manifest.get("packages", {}).get("drl-analysis", "")
    commit = (manifest.get("git") or {}).get("commit") or "unknown"
    years = manifest.get("parameters", {}).get("years") or "all survey years"
    key = manifest.get("pseudonym_key") or {}
    lines = [
        f"# Patient-dose survey {survey}, version {version}",
        "",
        f"This deposit holds the results of drl-analysis {software} (commit {commit}) for the patient-dose "
        f"survey {survey} ({years}): diagnostic reference levels (the 75th percentile of facility medians, "
        "with bootstrap confidence intervals), outliers, alerts, clusters and the annual report "
        f"(run from {manifest.get('started_utc')} to {manifest.get('finished_utc')}).",
        "",
        "## Editions",
        "",
        f"- `{PSEUDONYMISED}/` (the annual report as PDF, its tables as CSV and xlsx, its figures) and "
        f"`{PSEUDONYMISED_HTML}/` (the publication pages, `index.html` first, with their SVG figures; they work "
        "offline): the **pseudonymised** edition. Every data source is replaced by `S-` and every "
        "facility by `F-` followed by eight letters: a keyed hash (HMAC-SHA-256), the same for one key in every "
        "run and not reversible without it"
        + (" (neither the key nor a fingerprint to test a guessed key against is in this deposit)." if key else ".")
        + " Input files appear by number and SHA-256 only.",
    ]
    if identified:
        lines += [
            "- Everything else (`tables/`, `report/`, `notebooks/`, `figures/`, the notebook pages in `html/`, "
            "`drl.sqlite`, "
            f"`{MANIFEST}`, `parameters.yaml`): the **identified** edition. It names data sources, facilities "
            "and input files: **this deposit is not for open publication**.",
        ]
    else:
        lines += ["- The identified edition (names of data sources, facilities and input files) is **not** in this deposit."]
    lines += [
        "",
        "## What is in it",
        "",
        f"- `{DATAPACKAGE}`: a Frictionless Data Package: every CSV table with its Table Schema (column types, "
        "descriptions with units, primary keys), size and SHA-256.",
        f"- `{CRATE}`: an RO-Crate (Workflow Run Crate 0.5): the run, one action per notebook with its "
        "notebook, inputs (by SHA-256), parameters, results and times; the software and its versions.",
        f"- `{PIPELINE_FILE}`: the notebooks the run executed, in order, and the parameters each declares.",
        f"- `{crate.CITATION_FILE}`: how to cite the software, at the version that made these results.",
        f"- `{CHECKSUMS}`: the SHA-256 of every other file.",
        f"- {len(files)} files in all.",
        "",
        "## How to check it",
        "",
        "```bash",
        f"cd {top}",
        f"sha256sum -c {CHECKSUMS}                              # every file as released",
        f"frictionless validate {DATAPACKAGE}                 # every table against its schema and hash",
        "rocrate-validator validate -p workflow-run-crate-0.5 .   # the run's description",
        "```",
        "",
        "Whoever holds the input files (SHA-256 in the crate) can rerun the version with drl-analysis "
        f"{software} at commit {commit} (`drl-analysis verify VERSION_FOLDER` reruns it and compares every table).",
        "",
        "## Licence and citation",
        "",
        f"The tables, figures and reports are licensed {datapackage.DATA_LICENSE['title']} "
        f"({datapackage.DATA_LICENSE['name']}); drl-analysis itself is GPL-3.0-or-later ({REPOSITORY_URL}). "
        f"Cite the software with `{crate.CITATION_FILE}`.",
        "",
    ]
    return "\n".join(lines)


def _zip(staging: Path, top: str, out: Path) -> list[str]:
    """Write ``staging`` as ``out`` under the folder ``top``: sorted entries, fixed times and permissions."""
    names = sorted(p.relative_to(staging).as_posix() for p in staging.rglob("*") if p.is_file())
    tmp = out.with_name(out.name + ".tmp")
    with zipfile.ZipFile(tmp, "w") as zf:
        for name in names:
            info = zipfile.ZipInfo(f"{top}/{name}", date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, so that the permissions below are read
            info.external_attr = (0o100644 & 0xFFFF) << 16
            zf.writestr(info, (staging / name).read_bytes(), compresslevel=9)
    tmp.replace(out)
    return names


def release(folder: str | Path, out: str | Path, *, identified: bool = False) -> Bundle:
    """Write a version's deposit bundle.

    Parameters
    ----------
    folder : str or Path
        A complete version folder.
    out : str or Path
        The zip to write (its folder must exist).
    identified : bool, default False
        Add the identified edition.

    Returns
    -------
    Bundle

    Raises
    ------
    UserError
        When the version is incomplete, failed or changed since its run (see
        :func:`check_version`), or ``out`` cannot be written.
    """
    folder = Path(folder).resolve()
    out = Path(out)
    if out.suffix.lower() != ".zip":
        raise UserError(f"--out: {out} must end in .zip")
    if not out.parent.is_dir():
        raise UserError(f"--out: the folder {out.parent} does not exist")
    try:
        out.resolve().relative_to(folder)
        raise UserError(f"--out: {out} lies inside the version folder, which is never changed")
    except ValueError:
        pass
    manifest = check_version(folder)
    edition = "identified and pseudonymised editions" if identified else "pseudonymised edition"
    top = datapackage.resource_name(f"{manifest['survey']}-{manifest['version']}"
                                    + ("" if identified else "-pseudonymised"))
    with tempfile.TemporaryDirectory(prefix="drl-release-") as tmp:
        staging = Path(tmp) / top
        staging.mkdir()
        for rel in _selected(manifest, identified):
            dest = staging / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(folder / rel, dest)
        (staging / crate.CITATION_FILE).write_text(citation_text(manifest), encoding="utf-8")
        datapackage.write_datapackage(staging, manifest, datapackage.csv_tables(staging), pseudonymised=not identified)
        files = sorted(p.relative_to(staging).as_posix() for p in staging.rglob("*") if p.is_file())
        (staging / README).write_text(readme_text(manifest, files + [README, CHECKSUMS, CRATE], identified, top),
                                      encoding="utf-8")
        files.append(README)
        crate.write_crate(staging, manifest, sorted(files), pseudonymised=not identified)
        files.append(CRATE)
        if not identified:
            leaks = find_bundle_leaks(staging, folder, manifest)
            if leaks:
                raise UserError(f"{folder}: the pseudonymised bundle would name what it must not: "
                                + "; ".join(leaks[:20]) + ("; ..." if len(leaks) > 20 else ""))
        sums = "".join(f"{sha256_file(staging / f)}  {f}\n" for f in sorted(files))
        (staging / CHECKSUMS).write_text(sums, encoding="utf-8")
        names = _zip(staging, top, out)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    return Bundle(out, edition, tuple(names), digest)

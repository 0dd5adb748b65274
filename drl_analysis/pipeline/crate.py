"""``ro-crate-metadata.json``: a run as an RO-Crate (Workflow Run Crate 0.5).

The crate says what a version is and how it came about, in terms any RO-Crate
tool reads:

- the root dataset: name, description, licence of the results, authors and
  citation (from ``CITATION.cff``), date, and every file it holds with its
  size and SHA-256;
- the workflow (``mainEntity``): the pipeline's notebooks run in order by
  ``drl-analysis run``, at the commit of the run, with the package
  ``drl-analysis`` and the software it used (versions from the manifest);
- one ``CreateAction`` for the whole run and one per executed notebook, each
  with its instrument (the notebook), its objects (input files by SHA-256,
  parameter values), its results (the files it wrote that the crate holds)
  and its start and end times.

The pseudonym key never appears; the identified edition names its fingerprint,
as the manifest does, the pseudonymised edition not even that. In
the pseudonymised edition (a release's default) input files appear by number
and SHA-256 only, and parameters that name a folder or a data source are withheld.
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..core.paths import CITATION_FILE as CITATION_PATH
from ..core.paths import REPOSITORY_URL
from .datapackage import DATA_LICENSE
from .layout import CRATE, DATAPACKAGE, FIGURES, HTML, MANIFEST, NOTEBOOKS, PIPELINE_FILE
from .manifest import sha256_file

#: The profiles the crate conforms to.
PROFILES = {
    "https://w3id.org/ro/wfrun/process/0.5": "Process Run Crate",
    "https://w3id.org/ro/wfrun/workflow/0.5": "Workflow Run Crate",
    "https://w3id.org/workflowhub/workflow-ro-crate/1.0": "Workflow RO-Crate",
}
#: Notebook parameters whose values are withheld from the pseudonymised edition
#: (a folder name or a data source may name a medical body).
WITHHELD = ("input_dir", "rdsr_dir", "data_source")
WITHHELD_TEXT = "withheld in the pseudonymised edition"
CITATION_FILE = "CITATION.cff"
#: Where the software the manifest names is found.
SOFTWARE_URLS = {
    "python": "https://www.python.org/",
    "tesseract": "https://github.com/tesseract-ocr/tesseract",
}

#: The Data Package specification.
FRICTIONLESS = "https://specs.frictionlessdata.io/data-package/"
#: The status of an action that completed (the profiles write it as text).
COMPLETED = "http://schema.org/CompletedActionStatus"

_PARAM_TYPES = {bool: "Boolean", int: "Integer", float: "Float", str: "Text"}


def read_citation(path: str | Path | None = None) -> dict:
    """The project's ``CITATION.cff`` as a mapping (the checkout's, or the copy an installed package
    carries; empty when it is not at hand)."""
    import yaml

    path = Path(path) if path else CITATION_PATH
    if not path.is_file():
        return {}
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    return doc if isinstance(doc, dict) else {}


def _time(text: str | None) -> str | None:
    """A UTC time of the manifest (``...Z``) as the profiles write it (``...+00:00``)."""
    return text[:-1] + "+00:00" if text and text.endswith("Z") else text


def _one_or_many(refs: list[dict]) -> dict | list[dict]:
    """RO-Crate 1.1 writes a single value, not a list of one."""
    return refs[0] if len(refs) == 1 else refs


def _ref(entity_id: str) -> dict:
    return {"@id": entity_id}


def _refs(ids: Sequence[str]) -> list[dict]:
    return [_ref(i) for i in ids]


def _media_type(path: str) -> str:
    special = {".ipynb": "application/x-ipynb+json", ".yaml": "application/yaml", ".sqlite": "application/vnd.sqlite3",
               ".cff": "application/yaml", ".md": "text/markdown", ".csv": "text/csv", ".json": "application/json"}
    suffix = Path(path).suffix.lower()
    return special.get(suffix) or mimetypes.guess_type(path)[0] or "application/octet-stream"


def _authors(citation: Mapping) -> list[dict]:
    out = []
    for i, a in enumerate(citation.get("authors") or [], 1):
        if not isinstance(a, dict):
            continue
        person = a.get("family-names") or a.get("given-names")
        name = " ".join(filter(None, [a.get("given-names"), a.get("name-particle"), a.get("family-names")])) or a.get("name")
        entity = {"@id": a.get("orcid") or f"#author-{i}", "@type": "Person" if person else "Organization", "name": name}
        if not person:
            entity["url"] = a.get("website") or REPOSITORY_URL
        if a.get("affiliation"):
            entity["affiliation"] = a["affiliation"]
        out.append(entity)
    return out or [{"@id": "#author-1", "@type": "Organization", "name": "drl-analysis contributors",
                    "url": REPOSITORY_URL}]


def _notebook_url(commit: str, path: str) -> str:
    return f"{REPOSITORY_URL}/blob/{commit}/{path}"


def _prefix_of(input_dir: str, folder: str) -> str | None:
    """The input files' prefix of a notebook's input folder within the run's input folder."""
    if input_dir == folder:
        return ""
    if input_dir.startswith(folder.rstrip("/") + "/"):
        return input_dir[len(folder.rstrip("/")) + 1:].rstrip("/") + "/"
    return None


def _value(value: object) -> object:
    return value if isinstance(value, (bool, int, float)) else str(value)


class _Builder:
    """Builds the crate part by part; each method adds one kind of entity."""

    def __init__(self, folder: Path, manifest: Mapping, files: list[str], pseudonymised: bool, citation: Mapping):
        from rocrate.rocrate import ROCrate

        self.folder, self.manifest, self.files, self.held = folder, manifest, files, set(files)
        self.pseudonymised, self.citation = pseudonymised, citation
        self.packages = dict(manifest.get("packages", {}))
        self.software_version = self.packages.get("drl-analysis") or str(citation.get("version", ""))
        git = manifest.get("git") or {}
        self.commit = git.get("commit") or f"v{self.software_version}"
        self.dirty = git.get("dirty")
        self.outputs = {o["path"]: o for o in manifest.get("outputs", [])}
        self.crate = ROCrate(version="1.1")
        self.crate.metadata.extra_terms = {"sha256": "http://schema.org/sha256"}  # schema.org, not in the 1.1 context
        self.add = self.crate.add_jsonld
        self.app_id, self.citation_id = REPOSITORY_URL, "#citation"
        self.python_lang, self.pipeline_lang = "#jupyter-python", "#drl-analysis-pipeline"
        self.license_id = DATA_LICENSE["path"]
        self.software_license = f"https://spdx.org/licenses/{citation.get('license', 'GPL-3.0-or-later')}"
        self.authors = _authors(citation)
        self.input_ids: dict[str, str] = {}
        self.notebook_ids: list[str] = []
        self.action_ids: list[str] = []

    def context(self) -> None:
        """Licences, profiles, authors, the software and its citation, the languages."""
        add = self.add
        add({"@id": self.license_id, "@type": "CreativeWork", "name": DATA_LICENSE["title"],
             "identifier": DATA_LICENSE["name"]})
        add({"@id": self.software_license, "@type": "CreativeWork",
             "name": self.citation.get("license", "GPL-3.0-or-later")})
        for pid, name in PROFILES.items():
            add({"@id": pid, "@type": "CreativeWork", "name": name, "version": pid.rsplit("/", 1)[-1]})
        for a in self.authors:
            add(dict(a))
        authors = _one_or_many(_refs([a["@id"] for a in self.authors]))
        requirement_ids = []
        for name, ver in sorted(self.packages.items()):
            if name == "drl-analysis" or not ver:
                continue
            pid = SOFTWARE_URLS.get(name, f"https://pypi.org/project/{name}/")
            add({"@id": pid, "@type": "SoftwareApplication", "name": name, "softwareVersion": str(ver), "url": pid})
            requirement_ids.append(pid)
        add({"@id": self.app_id, "@type": "SoftwareApplication", "name": "drl-analysis",
             "description": str(self.citation.get("abstract", "")).strip() or "drl-analysis",
             "softwareVersion": self.software_version, "url": REPOSITORY_URL,
             "license": _ref(self.software_license), "author": authors,
             "softwareRequirements": _refs(requirement_ids)})
        add({"@id": self.citation_id, "@type": "CreativeWork", "name": str(self.citation.get("title", "drl-analysis")),
             "author": authors, "version": self.software_version, "url": REPOSITORY_URL,
             "description": str(self.citation.get("message", "")).strip(), "about": _ref(self.app_id)})
        add({"@id": self.python_lang, "@type": "ComputerLanguage", "name": "Python 3 (Jupyter notebooks run by papermill)",
             "alternateName": "ipynb", "url": "https://jupyter.org/", "version": self.packages.get("python", "3")})
        add({"@id": self.pipeline_lang, "@type": "ComputerLanguage", "name": "drl-analysis pipeline description (YAML)",
             "url": f"{REPOSITORY_URL}#reproducible-runs", "version": self.software_version})

    def data_files(self) -> None:
        """Every file the crate holds, with its size and SHA-256."""
        notes = {
            MANIFEST: {"description": "the run's manifest: inputs, parameters, software, times, outputs with SHA-256"},
            "README.md": {"description": "what this deposit is and how to check it", "about": _ref("./")},
            CITATION_FILE: {"description": "how to cite drl-analysis, at the version of the run (Citation File Format)",
                            "about": _ref(self.app_id)},
            DATAPACKAGE: {"description": "Frictionless Data Package: every CSV table with its Table Schema",
                          "conformsTo": _ref(FRICTIONLESS)},
        }
        for rel in self.files:
            entry = {"@type": "File", "name": Path(rel).name, "encodingFormat": _media_type(rel)}
            listed, path = self.outputs.get(rel), self.folder / rel
            if listed and path.is_file() and listed.get("bytes") == path.stat().st_size:
                entry.update(contentSize=str(listed["bytes"]), sha256=listed["sha256"])
            elif path.is_file():
                entry.update(contentSize=str(path.stat().st_size), sha256=sha256_file(path))
            entry.update(notes.get(rel, {}))
            self.crate.add_file(dest_path=rel, properties=entry)
        if DATAPACKAGE in self.held:
            self.add({"@id": FRICTIONLESS, "@type": "CreativeWork", "name": "Frictionless Data Package"})

    def inputs(self) -> None:
        """Input files: by name in the identified edition, by number only in the pseudonymised one."""
        for i, f in enumerate(self.manifest.get("inputs", {}).get("files", []), 1):
            iid = f"#input-{i}"
            self.input_ids[f["path"]] = iid
            entity = {"@id": iid, "@type": "CreativeWork", "name": f"input file {i}" if self.pseudonymised else f["path"],
                      "contentSize": str(f["bytes"]), "sha256": f["sha256"],
                      "description": "an input file of the run, not part of this crate; known by its SHA-256"}
            if not self.pseudonymised:
                entity["encodingFormat"] = _media_type(f["path"])
            self.add(entity)

    def parameter(self, prefix: str, name: str, value: object, withheld: bool = False) -> tuple[str, str]:
        """A FormalParameter and the PropertyValue it took; returns their ids."""
        fid, vid = f"#{prefix}param-{name}", f"#{prefix}value-{name}"
        self.add({"@id": fid, "@type": "FormalParameter", "name": name,
                  "additionalType": _PARAM_TYPES.get(type(value), "Text"), "valueRequired": False,
                  "conformsTo": _ref("https://bioschemas.org/profiles/FormalParameter/1.0-RELEASE"),
                  "workExample": _ref(vid)})
        self.add({"@id": vid, "@type": "PropertyValue", "name": name,
                  "value": WITHHELD_TEXT if withheld else _value(value), "exampleOfWork": _ref(fid)})
        return fid, vid

    def notebook(self, nb: Mapping) -> None:
        """A notebook of the pipeline, its parameters and, when it ran, the action that ran it."""
        name = nb["name"]
        nid = _notebook_url(self.commit, nb.get("path") or f"notebooks/{name}.ipynb")
        self.notebook_ids.append(nid)
        params = self.manifest.get("parameters", {}).get("notebooks", {}).get(name, {})
        formal_ids, values = [], []
        for pname, pvalue in sorted(params.items()):
            withheld = self.pseudonymised and pname in WITHHELD and pvalue not in ("", None)
            fid, vid = self.parameter(f"{name}-", pname, pvalue, withheld)
            formal_ids.append(fid)
            values.append(vid)
        self.add({"@id": nid, "@type": ["File", "SoftwareSourceCode"], "name": f"{name}.ipynb",
                  "description": f"notebook {name} of drl-analysis {self.software_version}, as it was at the run "
                                 "(its SHA-256 is that of the notebook run)",
                  "sha256": nb["sha256"], "encodingFormat": "application/x-ipynb+json", "version": self.software_version,
                  **({"contentSize": str(nb["bytes"])} if nb.get("bytes") is not None else {}),
                  "sdDatePublished": _time(self.manifest.get("started_utc")), "url": nid,
                  "programmingLanguage": _ref(self.python_lang), "input": _one_or_many(_refs(formal_ids))})
        if nb.get("status") != "ok":
            return
        objects = list(values)
        folder = str(self.manifest.get("inputs", {}).get("folder", ""))
        for key in ("input_dir", "rdsr_dir"):  # the input folders a notebook read
            prefix = _prefix_of(str(params[key]), folder) if params.get(key) else None
            if prefix is not None:
                objects = [iid for p, iid in self.input_ids.items() if p.startswith(prefix)] + objects
        objects = list(dict.fromkeys(objects))
        aid = f"#run-{name}"
        self.add({"@id": aid, "@type": "CreateAction", "name": f"Run of notebook {name}",
                  "description": f"drl-analysis run executed notebook {name} with papermill (kernel "
                                 f"{self.manifest.get('kernel', 'python3')}) in the version folder",
                  "instrument": _ref(nid), "object": _one_or_many(_refs(objects)),
                  "result": _one_or_many(_refs(self.results(name, params))),
                  "startTime": _time(nb.get("started_utc")), "endTime": _time(nb.get("finished_utc")),
                  "actionStatus": COMPLETED})
        self.action_ids.append(aid)

    def results(self, name: str, params: Mapping) -> list[str]:
        """What a notebook wrote that the crate holds, and a note on what it wrote that the crate does not."""
        out_dir = params.get("out_dir") or (str(Path(params["out_file"]).parent) if params.get("out_file") else None)
        prefixes = [f"{NOTEBOOKS}/{name}.ipynb", f"{FIGURES}/{name}/", f"{HTML}/{name}.html"]
        if out_dir:
            prefixes.append(out_dir.rstrip("/") + "/")

        def written(rel: str) -> bool:
            return any(rel == p or (p.endswith("/") and rel.startswith(p)) for p in prefixes)

        results = [rel for rel in self.files if written(rel)]
        withheld = [rel for rel in self.outputs if written(rel) and rel not in self.held]
        if withheld:  # written by the notebook, but not in this crate (the identified edition)
            wid = f"#{name}-results-not-included"
            folders = ", ".join(sorted({r.split("/")[0] + "/" for r in withheld}))
            self.add({"@id": wid, "@type": "CreativeWork", "name": f"what notebook {name} wrote in the identified edition",
                      "description": f"{len(withheld)} files under {folders} of the version; not part of this crate"})
            results.append(wid)
        return results

    def workflow_run(self) -> None:
        """The workflow (``pipeline.yaml``) and the action that ran it."""
        manifest = self.manifest
        run_params = {"survey": manifest["survey"], "years": manifest.get("parameters", {}).get("years", "")}
        run_params.update(manifest.get("parameters", {}).get("user", {}))
        formal, values = [], []
        for pname, pvalue in sorted(run_params.items()):
            fid, vid = self.parameter("", pname, pvalue)
            formal.append(fid)
            values.append(vid)
        pipeline = {"@type": ["File", "SoftwareSourceCode", "ComputationalWorkflow"],
                    "name": "drl-analysis run: the pipeline's notebooks in order",
                    "description": "the notebooks notebooks/NN_*.ipynb, executed in the order of their numbers by "
                                   f"drl-analysis run {self.software_version}"
                                   + (" (with uncommitted changes)" if self.dirty else ""),
                    "encodingFormat": "application/yaml", "programmingLanguage": _ref(self.pipeline_lang),
                    "version": self.software_version, "hasPart": _refs(self.notebook_ids), "input": _refs(formal),
                    "softwareRequirements": _ref(self.app_id), "license": _ref(self.software_license),
                    "url": f"{REPOSITORY_URL}/tree/{self.commit}",
                    "conformsTo": _ref("https://bioschemas.org/profiles/ComputationalWorkflow/1.0-RELEASE")}
        if PIPELINE_FILE in self.held:
            self.crate.get(PIPELINE_FILE).properties().update(pipeline)
        else:
            self.add({"@id": PIPELINE_FILE, **pipeline})
        extra = []
        key = manifest.get("pseudonym_key")
        if key and not self.pseudonymised:
            # Internal editions only: a published fingerprint would let anyone test guessed keys.
            self.add({"@id": "#pseudonym-key", "@type": "PropertyValue", "name": "pseudonym key fingerprint",
                      "value": key["fingerprint"], "description": "fingerprint of the key of the pseudonyms "
                      f"({key.get('kdf', 'HMAC-SHA-256')}" + (f", salt {key['salt']}" if key.get("salt") else "")
                      + "); the key itself is never written"})
            extra.append("#pseudonym-key")
        if "parameters.yaml" in self.held:
            extra.append("parameters.yaml")
        self.add({"@id": "#run", "@type": "CreateAction",
                  "name": f"drl-analysis run of survey {manifest['survey']}, version {manifest['version']}",
                  "description": "every notebook of the pipeline executed in order; then figures, pages, xlsx copies, "
                                 "data package and manifest written",
                  "instrument": _ref(PIPELINE_FILE), "object": _refs(list(self.input_ids.values()) + values + extra),
                  "result": _refs([f for f in self.files if f not in ("parameters.yaml", PIPELINE_FILE)]),
                  "startTime": _time(manifest.get("started_utc")), "endTime": _time(manifest.get("finished_utc")),
                  "actionStatus": COMPLETED})
        self.action_ids.insert(0, "#run")

    def root(self, description: str | None) -> None:
        """The root dataset: what the crate is, its licence, authors, citation, profiles and parts."""
        manifest, survey = self.manifest, self.manifest["survey"]
        edition = "pseudonymised edition" if self.pseudonymised else "identified edition"
        years = manifest.get("parameters", {}).get("years") or "all survey years"
        root = self.crate.root_dataset
        root["name"] = f"drl-analysis results: survey {survey}, version {manifest['version']} ({edition})"
        root["description"] = description or (
            f"Results of drl-analysis {self.software_version} for the patient-dose survey {survey} ({years}): "
            "DRL statistics, outliers, alerts, clusters and the annual report, with the provenance of the run. "
            + ("Data sources and facilities appear as keyed pseudonyms; input files by number and SHA-256."
               if self.pseudonymised else "This edition names data sources, facilities and input files.")
        )
        root["datePublished"] = _time(manifest.get("finished_utc") or manifest.get("started_utc"))
        root["version"] = manifest["version"]
        root["license"] = _ref(self.license_id)
        root["author"] = _one_or_many(_refs([a["@id"] for a in self.authors]))
        root["citation"] = _ref(CITATION_FILE if CITATION_FILE in self.held else self.citation_id)
        root["keywords"] = ["radiation protection", "diagnostic reference levels", "patient dose", survey]
        root["conformsTo"] = _refs(list(PROFILES))
        root["mainEntity"] = _ref(PIPELINE_FILE)
        root["mentions"] = _refs(self.action_ids)
        root["hasPart"] = _refs(self.files + ([] if PIPELINE_FILE in self.held else [PIPELINE_FILE]) + self.notebook_ids)
        self.crate.metadata["conformsTo"] = [_ref("https://w3id.org/ro/crate/1.1"),
                                             _ref("https://w3id.org/workflowhub/workflow-ro-crate/1.0")]


def build_crate(
    folder: str | Path,
    manifest: Mapping,
    files: Sequence[str] | None = None,
    *,
    pseudonymised: bool = False,
    citation: Mapping | None = None,
    description: str | None = None,
):
    """The RO-Crate of a version (a :class:`rocrate.rocrate.ROCrate`).

    Parameters
    ----------
    folder : str or Path
        The folder the crate describes (a version, or a release being built).
    manifest : mapping
        The version's manifest.
    files : sequence of str, optional
        Relative paths of the files the crate holds; default every file in
        ``folder`` but the crate itself.
    pseudonymised : bool
        Input files by number and SHA-256 only; withhold :data:`WITHHELD` parameters.
    citation : mapping, optional
        ``CITATION.cff`` as read by :func:`read_citation`; default the project's.
    description : str, optional
        The root dataset's description; default one made from the manifest.
    """
    folder = Path(folder)
    if files is None:
        files = [p.relative_to(folder).as_posix() for p in folder.rglob("*")
                 if p.is_file() and p.relative_to(folder).as_posix() != CRATE]
    builder = _Builder(folder, manifest, sorted(files), pseudonymised,
                       read_citation() if citation is None else citation)
    builder.context()
    builder.data_files()
    builder.inputs()
    for nb in manifest.get("notebooks", []):
        builder.notebook(nb)
    builder.workflow_run()
    builder.root(description)
    return builder.crate


def crate_json(crate) -> str:
    """The crate's metadata file, as text: sorted keys, entities in the order added."""
    return json.dumps(crate.metadata.generate(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_crate(
    folder: str | Path,
    manifest: Mapping,
    files: Sequence[str] | None = None,
    *,
    pseudonymised: bool = False,
    citation: Mapping | None = None,
    description: str | None = None,
) -> Path:
    """Write ``ro-crate-metadata.json`` into ``folder`` (see :func:`build_crate`); returns its path."""
    folder = Path(folder)
    crate = build_crate(folder, manifest, files, pseudonymised=pseudonymised, citation=citation,
                        description=description)
    out = folder / CRATE
    out.write_text(crate_json(crate), encoding="utf-8")
    return out

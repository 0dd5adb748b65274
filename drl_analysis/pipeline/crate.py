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

The pseudonym key never appears, only its fingerprint, as in the manifest. In
the pseudonymised edition (a release's default) input files appear by number
and SHA-256 only, and parameters that name a folder or a data source are withheld.
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..core.paths import PROJECT_ROOT, REPOSITORY_URL
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
WITHHELD = ("input_dir", "data_source")
WITHHELD_TEXT = "withheld in the pseudonymised edition"
CITATION_FILE = "CITATION.cff"
#: Where the software the manifest names is found.
SOFTWARE_URLS = {
    "python": "https://www.python.org/",
    "tesseract": "https://github.com/tesseract-ocr/tesseract",
}

#: The status of an action that completed (the profiles write it as text).
COMPLETED = "http://schema.org/CompletedActionStatus"

_PARAM_TYPES = {bool: "Boolean", int: "Integer", float: "Float", str: "Text"}


def read_citation(path: str | Path | None = None) -> dict:
    """The project's ``CITATION.cff`` as a mapping (empty when it is not at hand, e.g. an installed package)."""
    import yaml

    path = Path(path) if path else PROJECT_ROOT / CITATION_FILE
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
    from rocrate.rocrate import ROCrate

    folder = Path(folder)
    if files is None:
        files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                       if p.is_file() and p.relative_to(folder).as_posix() != CRATE)
    files = sorted(files)
    held = set(files)
    citation = read_citation() if citation is None else citation
    survey, version = manifest["survey"], manifest["version"]
    packages = dict(manifest.get("packages", {}))
    software_version = packages.get("drl-analysis") or str(citation.get("version", ""))
    commit = (manifest.get("git") or {}).get("commit") or f"v{software_version}"
    dirty = (manifest.get("git") or {}).get("dirty")
    edition = "pseudonymised edition" if pseudonymised else "identified edition"

    crate = ROCrate(version="1.1")
    crate.metadata.extra_terms = {"sha256": "http://schema.org/sha256"}  # in schema.org, not in the 1.1 context
    add = crate.add_jsonld

    # Licence, profiles, authors
    license_id = DATA_LICENSE["path"]
    add({"@id": license_id, "@type": "CreativeWork", "name": DATA_LICENSE["title"], "identifier": DATA_LICENSE["name"]})
    software_license = f"https://spdx.org/licenses/{citation.get('license', 'GPL-3.0-or-later')}"
    add({"@id": software_license, "@type": "CreativeWork", "name": citation.get("license", "GPL-3.0-or-later")})
    for pid, name in PROFILES.items():
        add({"@id": pid, "@type": "CreativeWork", "name": name, "version": pid.rsplit("/", 1)[-1]})
    authors = _authors(citation)
    for a in authors:
        add(dict(a))

    # The software: drl-analysis and what it used
    requirement_ids = []
    for name, ver in sorted(packages.items()):
        if name == "drl-analysis" or not ver:
            continue
        pid = SOFTWARE_URLS.get(name, f"https://pypi.org/project/{name}/")
        add({"@id": pid, "@type": "SoftwareApplication", "name": name, "softwareVersion": str(ver), "url": pid})
        requirement_ids.append(pid)
    app_id = REPOSITORY_URL
    add({
        "@id": app_id, "@type": "SoftwareApplication", "name": "drl-analysis",
        "description": str(citation.get("abstract", "")).strip() or "drl-analysis",
        "softwareVersion": software_version, "url": REPOSITORY_URL,
        "license": _ref(software_license), "author": _one_or_many(_refs([a["@id"] for a in authors])),
        "softwareRequirements": _refs(requirement_ids),
    })
    citation_id = "#citation"
    add({
        "@id": citation_id, "@type": "CreativeWork", "name": str(citation.get("title", "drl-analysis")),
        "author": _one_or_many(_refs([a["@id"] for a in authors])), "version": software_version, "url": REPOSITORY_URL,
        "description": str(citation.get("message", "")).strip(),
        "about": _ref(app_id),
    })
    python_lang = "#jupyter-python"
    add({"@id": python_lang, "@type": "ComputerLanguage", "name": "Python 3 (Jupyter notebooks run by papermill)",
         "alternateName": "ipynb", "url": "https://jupyter.org/", "version": packages.get("python", "3")})

    # Files the crate holds
    outputs = {o["path"]: o for o in manifest.get("outputs", [])}
    for rel in files:
        entry = {"@type": "File", "name": Path(rel).name, "encodingFormat": _media_type(rel)}
        listed = outputs.get(rel)
        path = folder / rel
        if listed and path.is_file() and listed.get("bytes") == path.stat().st_size:
            entry.update(contentSize=str(listed["bytes"]), sha256=listed["sha256"])
        elif path.is_file():
            entry.update(contentSize=str(path.stat().st_size), sha256=sha256_file(path))
        if rel == MANIFEST:
            entry["description"] = "the run's manifest: inputs, parameters, software, times, outputs with SHA-256"
        elif rel == "README.md":
            entry["description"] = "what this deposit is and how to check it"
            entry["about"] = _ref("./")
        elif rel == CITATION_FILE:
            entry["description"] = "how to cite drl-analysis, at the version of the run (Citation File Format)"
            entry["about"] = _ref(app_id)
        elif rel == DATAPACKAGE:
            entry["description"] = "Frictionless Data Package: every CSV table with its Table Schema"
            entry["conformsTo"] = _ref("https://specs.frictionlessdata.io/data-package/")
        crate.add_file(dest_path=rel, properties=entry)
    if DATAPACKAGE in held:
        add({"@id": "https://specs.frictionlessdata.io/data-package/", "@type": "CreativeWork",
             "name": "Frictionless Data Package"})

    # Inputs: by name in the identified edition, by number only in the pseudonymised one
    input_folder = manifest.get("inputs", {}).get("folder", "")
    input_ids: dict[str, str] = {}
    for i, f in enumerate(manifest.get("inputs", {}).get("files", []), 1):
        iid = f"#input-{i}"
        input_ids[f["path"]] = iid
        entity = {"@id": iid, "@type": "CreativeWork", "name": f"input file {i}" if pseudonymised else f["path"],
                  "contentSize": str(f["bytes"]), "sha256": f["sha256"],
                  "description": "an input file of the run, not part of this crate; known by its SHA-256"}
        if not pseudonymised:
            entity["encodingFormat"] = _media_type(f["path"])
        add(entity)

    # The notebooks, their parameters, and one action per executed notebook
    per_nb = manifest.get("parameters", {}).get("notebooks", {})
    notebook_ids, action_ids = [], []
    for nb in manifest.get("notebooks", []):
        name = nb["name"]
        nb_path = nb.get("path") or f"notebooks/{name}.ipynb"
        nid = _notebook_url(commit, nb_path)
        notebook_ids.append(nid)
        formal_ids = []
        params = per_nb.get(name, {})
        values = []
        for pname, pvalue in sorted(params.items()):
            fid, vid = f"#{name}-param-{pname}", f"#{name}-value-{pname}"
            withheld = pseudonymised and pname in WITHHELD and pvalue not in ("", None)
            add({"@id": fid, "@type": "FormalParameter", "name": pname,
                 "additionalType": _PARAM_TYPES.get(type(pvalue), "Text"), "valueRequired": False,
                 "conformsTo": _ref("https://bioschemas.org/profiles/FormalParameter/1.0-RELEASE"),
                 "workExample": _ref(vid)})
            add({"@id": vid, "@type": "PropertyValue", "name": pname,
                 "value": WITHHELD_TEXT if withheld else (pvalue if isinstance(pvalue, (bool, int, float)) else str(pvalue)),
                 "exampleOfWork": _ref(fid)})
            formal_ids.append(fid)
            values.append(vid)
        add({"@id": nid, "@type": ["File", "SoftwareSourceCode"], "name": f"{name}.ipynb",
             "description": f"notebook {name} of drl-analysis {software_version}, as it was at the run "
                            "(its SHA-256 is that of the notebook run)",
             "sha256": nb["sha256"], "encodingFormat": "application/x-ipynb+json", "version": software_version,
             **({"contentSize": str(nb["bytes"])} if nb.get("bytes") is not None else {}),
             "sdDatePublished": _time(manifest.get("started_utc")), "url": nid,
             "programmingLanguage": _ref(python_lang), "input": _one_or_many(_refs(formal_ids))})
        if nb.get("status") != "ok":
            continue
        objects = list(values)
        nb_input = params.get("input_dir")
        if nb_input is not None:
            prefix = _prefix_of(str(nb_input), str(input_folder))
            if prefix is not None:
                objects = [iid for p, iid in input_ids.items() if p.startswith(prefix)] + objects
        out_dir = params.get("out_dir") or (str(Path(params["out_file"]).parent) if params.get("out_file") else None)
        prefixes = [f"{NOTEBOOKS}/{name}.ipynb", f"{FIGURES}/{name}/", f"{HTML}/{name}.html"]
        if out_dir:
            prefixes.append(out_dir.rstrip("/") + "/")
        def written(rel: str) -> bool:
            return any(rel == p or (p.endswith("/") and rel.startswith(p)) for p in prefixes)

        results = [rel for rel in files if written(rel)]
        withheld = [rel for rel in outputs if written(rel) and rel not in held]
        if withheld:  # written by the notebook, but not in this crate (the identified edition)
            wid = f"#{name}-results-not-included"
            add({"@id": wid, "@type": "CreativeWork", "name": f"what notebook {name} wrote in the identified edition",
                 "description": f"{len(withheld)} files under {', '.join(sorted({r.split('/')[0] + '/' for r in withheld}))} "
                                "of the version; not part of this crate"})
            results.append(wid)
        aid = f"#run-{name}"
        add({"@id": aid, "@type": "CreateAction", "name": f"Run of notebook {name}",
             "description": f"drl-analysis run executed notebook {name} with papermill (kernel "
                            f"{manifest.get('kernel', 'python3')}) in the version folder",
             "instrument": _ref(nid), "object": _one_or_many(_refs(objects)),
             "result": _one_or_many(_refs(results)),
             "startTime": _time(nb.get("started_utc")), "endTime": _time(nb.get("finished_utc")),
             "actionStatus": COMPLETED})
        action_ids.append(aid)

    # The workflow and the run of it
    pipeline_lang = "#drl-analysis-pipeline"
    wf_id = PIPELINE_FILE
    run_params = {"survey": survey, "years": manifest.get("parameters", {}).get("years", "")}
    run_params.update(manifest.get("parameters", {}).get("user", {}))
    wf_formal, wf_values = [], []
    for pname, pvalue in sorted(run_params.items()):
        fid, vid = f"#param-{pname}", f"#value-{pname}"
        add({"@id": fid, "@type": "FormalParameter", "name": pname,
             "additionalType": _PARAM_TYPES.get(type(pvalue), "Text"), "valueRequired": False,
             "conformsTo": _ref("https://bioschemas.org/profiles/FormalParameter/1.0-RELEASE"),
             "workExample": _ref(vid)})
        add({"@id": vid, "@type": "PropertyValue", "name": pname,
             "value": pvalue if isinstance(pvalue, (bool, int, float)) else str(pvalue), "exampleOfWork": _ref(fid)})
        wf_formal.append(fid)
        wf_values.append(vid)
    pipeline = {"@type": ["File", "SoftwareSourceCode", "ComputationalWorkflow"],
                "name": "drl-analysis run: the pipeline's notebooks in order",
                "description": "the notebooks notebooks/NN_*.ipynb, executed in the order of their numbers by "
                               f"drl-analysis run {software_version}" + (" (with uncommitted changes)" if dirty else ""),
                "encodingFormat": "application/yaml", "programmingLanguage": _ref(pipeline_lang),
                "version": software_version, "hasPart": _refs(notebook_ids), "input": _refs(wf_formal),
                "softwareRequirements": _ref(app_id), "license": _ref(software_license),
                "url": f"{REPOSITORY_URL}/tree/{commit}",
                "conformsTo": _ref("https://bioschemas.org/profiles/ComputationalWorkflow/1.0-RELEASE")}
    add({"@id": pipeline_lang, "@type": "ComputerLanguage", "name": "drl-analysis pipeline description (YAML)",
         "url": f"{REPOSITORY_URL}#reproducible-runs", "version": software_version})
    if wf_id in held:
        crate.get(wf_id).properties().update(pipeline)
    else:
        add({"@id": wf_id, **pipeline})
    key = manifest.get("pseudonym_key")
    extra_objects = []
    if key:
        add({"@id": "#pseudonym-key", "@type": "PropertyValue", "name": "pseudonym key fingerprint",
             "value": key["fingerprint"],
             "description": "fingerprint of the key of the pseudonyms (HMAC-SHA-256); the key itself is never written"})
        extra_objects.append("#pseudonym-key")
    if "parameters.yaml" in held:
        extra_objects.append("parameters.yaml")
    run_id = "#run"
    add({"@id": run_id, "@type": "CreateAction",
         "name": f"drl-analysis run of survey {survey}, version {version}",
         "description": "every notebook of the pipeline executed in order; then figures, pages, xlsx copies, "
                        "data package and manifest written",
         "instrument": _ref(wf_id), "object": _refs(list(input_ids.values()) + wf_values + extra_objects),
         "result": _refs([f for f in files if f not in ("parameters.yaml", wf_id)]),
         "startTime": _time(manifest.get("started_utc")), "endTime": _time(manifest.get("finished_utc")),
         "actionStatus": COMPLETED})

    root = crate.root_dataset
    years = manifest.get("parameters", {}).get("years") or "all survey years"
    root["name"] = f"drl-analysis results: survey {survey}, version {version} ({edition})"
    root["description"] = description or (
        f"Results of drl-analysis {software_version} for the patient-dose survey {survey} ({years}): "
        "DRL statistics, outliers, alerts, clusters and the annual report, with the provenance of the run. "
        + ("Data sources and facilities appear as keyed pseudonyms; input files by number and SHA-256."
           if pseudonymised else "This edition names data sources, facilities and input files.")
    )
    root["datePublished"] = _time(manifest.get("finished_utc") or manifest.get("started_utc"))
    root["version"] = version
    root["license"] = _ref(license_id)
    root["author"] = _one_or_many(_refs([a["@id"] for a in authors]))
    root["citation"] = _ref(CITATION_FILE if CITATION_FILE in held else citation_id)
    root["keywords"] = ["radiation protection", "diagnostic reference levels", "patient dose", survey]
    root["conformsTo"] = _refs(list(PROFILES))
    root["mainEntity"] = _ref(wf_id)
    root["mentions"] = _refs([run_id] + action_ids)
    root["hasPart"] = _refs(files + ([] if wf_id in held else [wf_id]) + notebook_ids)
    crate.metadata["conformsTo"] = [_ref("https://w3id.org/ro/crate/1.1"),
                                    _ref("https://w3id.org/workflowhub/workflow-ro-crate/1.0")]
    return crate


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

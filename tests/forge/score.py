"""Scoring the reader on a generated batch: right, wrong and rejected rows,
per damage kind and by failure class.

A truth row is *right* when it is stored (joined on source_file, sheet,
source_row) with every value equal (numbers within rtol 1e-6, NaN equal to
NaN, text exactly), *wrong* when it is stored with any value differing, and
*rejected* when it is not stored. A stored row that is no exposure (a header,
total, note or empty row, or a row the truth does not know) counts as wrong
too ("junk").

Command line::

    python -m tests.forge.score --examples 200 --level 1
    python -m tests.forge.score --examples 200 --level 3
    python -m tests.forge.score --examples 40 --kinds sheet_per_exam --format xlsx

``--kinds`` and ``--format`` fix the damage kinds and the file format (to see
one kind's failures without the others), ``--keep DIR`` keeps the files and
the database, ``--show N`` the examples per failure class. The shares per kind
count every exposure of a file under each of its kinds, so a kind that meets
a failing one in a file shares its failures; fix the kinds to separate them.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import reader
from .surveys import CANONICAL, FORMATS, KEY, KINDS, NUMERIC, Batch, draw_specs, generate_batch

COMPARED = ["data_source", "year", *CANONICAL]
OVERALL = "ALL"
NO_DAMAGE = "(no damage kind)"


@dataclass
class Score:
    """The outcome of :func:`score`."""

    rows: pd.DataFrame  # one row per truth exposure: KEY, kinds, outcome, diff columns, reason
    junk: pd.DataFrame  # stored rows that are no exposures: KEY, what, text, kinds
    table: pd.DataFrame  # per kind: files, exposures, right, wrong, rejected (shares), junk_stored
    totals: dict = field(default_factory=dict)

    @property
    def right_share(self) -> float:
        return self.totals["right"] / max(1, self.totals["exposures"])

    @property
    def wrong_count(self) -> int:
        return self.totals["wrong"] + self.totals["junk_stored"]

    def report(self, examples: int = 3) -> str:
        return format_report(self, examples)


def _same_number(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    both_nan = np.isnan(a) & np.isnan(b)
    with np.errstate(invalid="ignore"):
        close = np.isclose(a, b, rtol=1e-6, atol=0.0)
    return both_nan | close


def _text(series: pd.Series) -> np.ndarray:
    return np.array([None if (v is None or (isinstance(v, float) and math.isnan(v))) else str(v) for v in series],
                    dtype=object)


def score(truth: pd.DataFrame | Batch, url: str, non_exposure: pd.DataFrame | None = None,
          summary=None) -> Score:
    """Compare the exposures stored at ``url`` with ``truth``.

    ``truth`` is a batch's truth (or the :class:`Batch`, whose non-exposure
    rows are then used too); ``summary`` the ingest summary, whose failed
    files explain rows that are neither stored nor rejected.
    """
    if isinstance(truth, Batch):
        non_exposure = truth.non_exposure if non_exposure is None else non_exposure
        truth = truth.truth
    truth = truth.copy()
    truth["sheet"] = truth["sheet"].fillna("")
    stored = reader.load_exposures(url)
    stored["sheet"] = stored["sheet"].fillna("")
    rejections = reader.load_table(url, "rejections")
    if len(rejections):
        rejections["sheet"] = rejections["sheet"].fillna("")
        rejections = rejections.drop_duplicates(KEY)[[*KEY, "reason", "raw"]]
    else:
        rejections = pd.DataFrame(columns=[*KEY, "reason", "raw"])
    for frame in (truth, stored, rejections):  # empty tables come back with object columns
        frame["source_row"] = pd.to_numeric(frame["source_row"]).fillna(-1).astype("int64")
        frame["source_file"] = frame["source_file"].astype(object)
        frame["sheet"] = frame["sheet"].astype(object)
    failed = {}
    if summary is not None:
        failed = {f.source_file: f.message for f in summary.files if f.status != "stored"}

    m = truth.merge(stored[[*KEY, *COMPARED]], on=KEY, how="left", suffixes=("", "_stored"), indicator=True)
    is_stored = (m["_merge"] == "both").to_numpy()
    diffs = []
    for c in COMPARED:
        if c in NUMERIC:
            same = _same_number(m[c].to_numpy(float), m[f"{c}_stored"].to_numpy(float))
        elif c == "year":
            a = m[c].to_numpy(float)
            b = pd.to_numeric(m[f"{c}_stored"], errors="coerce").to_numpy(float)
            same = _same_number(a, b)
        else:
            same = _text(m[c]) == _text(m[f"{c}_stored"])
        diffs.append(np.where(is_stored & ~same, c, ""))
    diff_cols = [",".join(x for x in parts if x) for parts in zip(*diffs)] if diffs else [""] * len(m)
    m["diff"] = diff_cols
    m["outcome"] = np.where(~is_stored, "rejected", np.where(m["diff"] != "", "wrong", "right"))
    m = m.drop(columns="_merge").merge(rejections, on=KEY, how="left")
    m["reason"] = [
        r if isinstance(r, str) else (f"file not stored: {failed[f]}" if f in failed else "not stored, no rejection recorded")
        for r, f in zip(m["reason"], m["source_file"])
    ]
    m.loc[m["outcome"] != "rejected", "reason"] = None

    # stored rows that are no exposures
    truth_keys = set(map(tuple, truth[KEY].itertuples(index=False)))
    extra = stored[np.array([tuple(k) not in truth_keys for k in stored[KEY].itertuples(index=False)], dtype=bool)]
    if non_exposure is not None and len(non_exposure):
        ne = non_exposure.copy()
        ne["sheet"] = ne["sheet"].fillna("")
        junk = extra.merge(ne, on=KEY, how="left")
    else:
        junk = extra.assign(what=np.nan, text=np.nan, kinds=np.nan)
    file_kinds = truth.drop_duplicates("source_file").set_index("source_file")["kinds"].to_dict()
    junk["what"] = junk["what"].fillna("row the truth does not know (title, label, other sheet, shifted row?)")
    junk["kinds"] = [k if isinstance(k, tuple) else file_kinds.get(f, ()) for k, f in zip(junk["kinds"], junk["source_file"])]

    m["header_line"] = ""
    if non_exposure is not None and len(non_exposure):
        heads = non_exposure[non_exposure["what"] == "header row"]
        line = {(f, sh if isinstance(sh, str) else ""): t
                for f, sh, t in zip(heads["source_file"], heads["sheet"], heads["text"])}
        m["header_line"] = [line.get((f, sh), "(no header row)") for f, sh in zip(m["source_file"], m["sheet"])]
    table = _table(m, junk)
    totals = {
        "files": int(truth["source_file"].nunique()),
        "exposures": len(m),
        "right": int((m["outcome"] == "right").sum()),
        "wrong": int((m["outcome"] == "wrong").sum()),
        "rejected": int((m["outcome"] == "rejected").sum()),
        "junk_stored": len(junk),
    }
    return Score(rows=m, junk=junk, table=table, totals=totals)


def _table(m: pd.DataFrame, junk: pd.DataFrame) -> pd.DataFrame:
    counts: dict[str, dict] = defaultdict(lambda: {"files": set(), "exposures": 0, "right": 0, "wrong": 0,
                                                   "rejected": 0, "junk_stored": 0})

    def labels(kinds: tuple) -> list[str]:
        damage = [k for k in kinds if not k.startswith("format:")]
        return [OVERALL, *kinds, *([] if damage else [NO_DAMAGE])]

    for f, kinds, outcome in zip(m["source_file"], m["kinds"], m["outcome"]):
        for lab in labels(kinds):
            c = counts[lab]
            c["files"].add(f)
            c["exposures"] += 1
            c[outcome] += 1
    for f, kinds in zip(junk["source_file"], junk["kinds"]):
        for lab in labels(kinds):
            counts[lab]["junk_stored"] += 1
            counts[lab]["files"].add(f)
    rows = []
    for lab, c in counts.items():
        n = c["exposures"]
        rows.append({
            "kind": lab, "files": len(c["files"]), "exposures": n,
            "right": c["right"] / n if n else math.nan,
            "wrong": c["wrong"] / n if n else math.nan,
            "rejected": c["rejected"] / n if n else math.nan,
            "junk_stored": c["junk_stored"],
        })
    table = pd.DataFrame(rows)
    table["_all"] = table["kind"] == OVERALL
    table = table.sort_values(["_all", "right", "kind"], ascending=[False, True, True]).drop(columns="_all")
    return table.reset_index(drop=True)


# --------------------------------------------------------------------------- failure classes


def _hint(column: str, truth, stored) -> str:
    """What kind of difference: a factor, a missing value, text."""
    if column in NUMERIC or column == "year":
        t = float(truth) if truth is not None and not pd.isna(truth) else math.nan
        s = float(stored) if stored is not None and not pd.isna(stored) else math.nan
        if math.isnan(s):
            return "stored missing, truth has a value"
        if math.isnan(t):
            return "stored a value, truth missing"
        if t and s:
            ratio = s / t
            exp = round(math.log10(abs(ratio)))
            if exp and math.isclose(abs(ratio), 10.0**exp, rel_tol=1e-6):
                return f"stored = truth x 1e{exp:+d}"
        return "other number"
    if stored is None or (isinstance(stored, float) and math.isnan(stored)):
        return "stored missing"
    return "other text"


def failure_classes(sc: Score) -> dict[str, pd.DataFrame]:
    """Failures grouped by class: ``"wrong <column>: <hint>"``, ``"rejected: <reason>"``,
    ``"junk stored: <what>"``; each a DataFrame of example rows."""
    classes: dict[str, list[dict]] = defaultdict(list)
    for row in sc.rows[sc.rows["outcome"] == "wrong"].itertuples(index=False):
        r = row._asdict()
        for c in r["diff"].split(","):
            hint = _hint(c, r[c], r[f"{c}_stored"])
            classes[f"wrong {c}: {hint}"].append({
                **{k: r[k] for k in KEY}, "kinds": _kinds(r["kinds"]),
                "header": (r["headers"] or {}).get(c, "") if isinstance(r["headers"], dict) else "",
                "cell": repr((r["cells"] or {}).get(c)) if isinstance(r["cells"], dict) else "",
                "truth": r[c], "stored": r[f"{c}_stored"],
            })
    for row in sc.rows[sc.rows["outcome"] == "rejected"].itertuples(index=False):
        r = row._asdict()
        classes[f"rejected: {_reason_class(r['reason'])}"].append({
            **{k: r[k] for k in KEY}, "kinds": _kinds(r["kinds"]), "reason": r["reason"],
            "raw": r.get("raw") if isinstance(r.get("raw"), str) else "",
            "cells": _cells_text(r["cells"]), "header_line": r.get("header_line", ""),
        })
    for row in sc.junk.itertuples(index=False):
        r = row._asdict()
        classes[f"junk stored: {r['what']}"].append({
            **{k: r[k] for k in KEY}, "kinds": _kinds(r["kinds"]),
            "text": r.get("text") if isinstance(r.get("text"), str) else "",
            "stored": "; ".join(f"{c}={r[c]!r}" for c in ("facility_id", "exam_code", "dap_cgycm2", "ctdivol_mgy",
                                                              "agd_mgy") if c in r and not pd.isna(r[c])),
        })
    out = {k: pd.DataFrame(v) for k, v in classes.items()}
    return dict(sorted(out.items(), key=lambda kv: -len(kv[1])))


def _reason_class(reason: str) -> str:
    """A rejection reason without its particulars (quoted text, numbers, parentheses)."""
    text = re.sub(r"\s*\(.*\)\s*$", "", str(reason))
    return re.sub(r"'[^']*'|\"[^\"]*\"|\d+(\.\d+)?", "…", text)[:120]


def _kinds(kinds) -> str:
    return ", ".join(kinds) if isinstance(kinds, tuple) else str(kinds)


def _cells_text(cells) -> str:
    if not isinstance(cells, dict):
        return ""
    return "; ".join(f"{k}={v!r}" for k, v in cells.items() if v is not None)


def format_report(sc: Score, examples: int = 3) -> str:
    t = sc.totals
    n = max(1, t["exposures"])
    lines = [
        f"{t['files']} files, {t['exposures']} exposures: right {t['right'] / n:.2%}, wrong {t['wrong'] / n:.2%}, "
        f"rejected {t['rejected'] / n:.2%}; non-exposure rows stored: {t['junk_stored']}",
        "",
        "Per damage kind (shares of the exposures in files with that kind):",
    ]
    table = sc.table.copy()
    for c in ("right", "wrong", "rejected"):
        table[c] = table[c].map(lambda v: "" if pd.isna(v) else f"{v:7.2%}")
    lines.append(table.to_string(index=False))
    classes = failure_classes(sc)
    if classes:
        lines += ["", "Failure classes (rows; examples):"]
    for name, frame in classes.items():
        lines.append(f"\n== {name}  ({len(frame)} rows in {frame['source_file'].nunique()} files)")
        shown = frame.drop_duplicates("source_file").head(examples)
        for r in shown.to_dict("records"):
            where = f"{r['source_file']} [{r['sheet']}] row {r['source_row']}"
            if name.startswith("wrong"):
                lines.append(f"  {where}: header {r['header']!r} cell {r['cell']} -> stored {r['stored']!r}, "
                             f"truth {r['truth']!r}")
            elif name.startswith("rejected"):
                lines.append(f"  {where}: reason {r['reason']!r}; cells {r['cells']}")
                if r["raw"]:
                    lines.append(f"      raw {r['raw'][:240]}")
                lines.append(f"      header {r['header_line'][:240]}")
            else:
                lines.append(f"  {where}: {r['text']!r} stored as {r['stored']}")
            lines.append(f"      kinds: {r['kinds']}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- running


def run(examples: int, level: int, folder: str | Path | None = None, jobs: int = 1,
        kinds: frozenset | None = None, fmt: str | None = None):
    """Draw ``examples`` specs, write them, ingest them into a fresh SQLite
    database and score; returns (batch, summary, score)."""
    specs = draw_specs(examples, level, kinds, fmt)
    with tempfile.TemporaryDirectory(prefix="forge-") as tmp:
        root = Path(folder) if folder else Path(tmp)
        batch = generate_batch(specs, root / "files")
        url = f"sqlite:///{root / 'forge.sqlite'}"
        summary = reader.ingest_paths([root / "files"], url, progress=False, jobs=jobs)
        sc = score(batch, url, summary=summary)
    return batch, summary, sc


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.forge.score", description=__doc__.split("\n\n")[0])
    p.add_argument("--examples", type=int, default=200, help="submissions to generate (default 200)")
    p.add_argument("--level", type=int, default=1, help="damage level: 1, or 3 for three times the damage")
    p.add_argument("--show", type=int, default=3, help="examples shown per failure class")
    p.add_argument("--keep", metavar="DIR", help="write the files and the database here and keep them")
    p.add_argument("--jobs", type=int, default=1, help="reader worker processes (default 1)")
    p.add_argument("--kinds", help="only these damage kinds, comma-separated ('' for none); default: drawn")
    p.add_argument("--format", choices=FORMATS, help="only this file format; default: drawn")
    a = p.parse_args(argv)
    kinds = None if a.kinds is None else frozenset(k for k in a.kinds.split(",") if k)
    unknown = (kinds or frozenset()) - set(KINDS)
    if unknown:
        p.error(f"unknown kinds {sorted(unknown)}; known: {', '.join(KINDS)}")
    start = time.perf_counter()
    if a.keep:
        Path(a.keep).mkdir(parents=True, exist_ok=True)
    batch, summary, sc = run(a.examples, a.level, a.keep, a.jobs, kinds, a.format)
    t = summary.totals()
    print(f"level {a.level}: {a.examples} examples in {time.perf_counter() - start:.1f} s")
    print(f"reader: rows read {t['rows_read']} = stored {t['rows_stored']} + rejected {t['rows_rejected']}"
          + ("" if t["rows_read"] == t["rows_stored"] + t["rows_rejected"] else "  (MISMATCH)")
          + f"; files failed {t['files_failed']}")
    print(sc.report(a.show))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Ingesting RDSR files: forked workers read them in chunks, this process
checks and writes them (:func:`ingest_files`).
"""

from __future__ import annotations

import gc
import logging
import os
import sys
import traceback
from functools import partial
from pathlib import Path

from ...core.catalogue import Catalogue
from .reader import RdsrOptions, Report, _Reader, _sha256_file
from .rows import Read, _pack
from .writer import Writer

log = logging.getLogger(__package__)


_WORKER: dict = {}


def _worker_reader() -> tuple[_Reader, frozenset]:
    """This worker's reader, made from what the ingest gave its workers."""
    from ..workers import settings

    value = settings()
    if _WORKER.get("value") is not value:
        catalogue, options, data_source, year, max_bytes, already = value
        _WORKER.update(value=value, reader=_Reader(catalogue, options, data_source, year, max_bytes), already=already)
    return _WORKER["reader"], _WORKER["already"]


def _read_chunk(chunk: list[tuple[int, Path, str]]) -> list[tuple[tuple, str | None]]:
    """Read a chunk of files in a worker (:func:`drl_analysis.ingest.workers.run_jobs`):
    ``(Read as a plain tuple, traceback or None)`` per file (a plain tuple
    unpickles some 7 times faster than a named one)."""
    reader, already = _worker_reader()
    out = []
    for k, path, name in chunk:
        try:
            out.append((tuple(_pack(k, reader.read(path, name, already))), None))
        except Exception as exc:  # noqa: BLE001 - a bug of ours must not stop the other files
            try:
                sha = _sha256_file(path)
            except OSError:
                sha = ""
            rep = Report(name, sha, failed=f"internal error while reading ({exc.__class__.__name__}: {exc}); "
                                           "please report it")
            out.append((tuple(_pack(k, rep)), traceback.format_exc()))
    return out


def _crashed(chunk: list[tuple[int, Path, str]], why: str, *, jobs: int, value, max_memory_mb: int | None) -> list:
    """Results for a chunk whose worker died twice: its files read once more, each
    alone, so that only the file that kills its reader fails."""
    from ..submission import sha256_file
    from ..workers import run_jobs

    if len(chunk) == 1:
        k, path, name = chunk[0]
        try:
            sha = sha256_file(path)
        except OSError:
            sha = ""
        rep = Report(name, sha, failed=f"the reader crashed on this file ({why}); the other files were read")
        return [(tuple(_pack(k, rep)), None)]
    again = partial(_crashed, jobs=jobs, value=value, max_memory_mb=max_memory_mb)
    out = []
    for _, result in run_jobs([[job] for job in chunk], _read_chunk, again, jobs=jobs, value=value,
                              max_memory_mb=max_memory_mb):
        out += result
    return out


def ingest_files(
    todo: list[tuple[int, Path, str]],
    engine,
    *,
    catalogue: Catalogue,
    options: RdsrOptions | None = None,
    already: set[str] | frozenset = frozenset(),
    data_source: str | None = None,
    year: int | None = None,
    max_bytes: int | None = None,
    jobs: int = 0,
    progress: bool = True,
    max_memory_mb: int | None = None,
) -> dict:
    """Read and store RDSR files: ``todo`` holds ``(index, path, name)``.

    Returns ``{index: FileOutcome}``. Workers
    (:func:`drl_analysis.ingest.workers.run_jobs`: forked, with a memory
    limit, replaced when one dies) read the files in chunks and hash them as
    they read them (files whose SHA-256 is in ``already`` are not parsed);
    this process checks duplicates and cumulative updates against what is
    stored and writes batches of reports, each in one transaction.
    """
    from tqdm import tqdm

    from ..workers import run_jobs

    options = options or RdsrOptions()
    jobs = jobs or os.cpu_count() or 1
    value = (catalogue, options, data_source, year, max_bytes, frozenset(already))
    per_chunk = max(1, min(64, len(todo) // max(1, jobs * 8)))
    chunks = [todo[i:i + per_chunk] for i in range(0, len(todo), per_chunk)]
    crashed = partial(_crashed, jobs=jobs, value=value, max_memory_mb=max_memory_mb)
    bar = tqdm(total=len(todo), desc="ingest RDSR", unit="file", disable=not progress or len(todo) < 5 or None,
               file=sys.stderr)
    writer = Writer(engine)
    # Objects made so far are left out of the garbage collector's passes: in
    # the forked workers they would be copied page by page, here walked again
    # and again.
    gc.freeze()
    try:
        for _, chunk in run_jobs(chunks, _read_chunk, crashed, jobs=jobs, value=value, max_memory_mb=max_memory_mb):
            for fields, error in chunk:
                read = Read._make(fields)
                if error:
                    log.error("internal error while reading %s:\n%s", read.source_file, error)
                writer.add(read)
            writer.flush_if_full()
            bar.update(len(chunk))
        writer.flush()
    finally:
        gc.unfreeze()
        bar.close()
    return writer.outcomes

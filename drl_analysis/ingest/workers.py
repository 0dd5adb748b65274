"""Reading files in worker processes, so that one file's crash fails that file alone.

A workbook can crash its reader outright (a native library that aborts on an
allocation of half a terabyte) or eat the machine's memory. Files are
therefore always read in forked worker processes, each with a memory limit,
each ending when the process that started it ends (a ``kill -9`` of the ingest
leaves no workers behind). When a worker dies, the pool is replaced; the file
it was reading is read once more alone, and if that worker dies too, the file
is reported failed with the reason, and the other files go on.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing as mp
import os
import resource
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

log = logging.getLogger(__name__)

#: Memory a worker may take (MB) unless told otherwise.
DEFAULT_MAX_MEMORY_MB = 4096

_STATE: dict = {}


def settings():
    """What the ingest gave its workers (set in each worker by the pool)."""
    return _STATE["settings"]


def _die_with_parent() -> None:
    """Ask Linux to end this process when its parent ends."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:  # pragma: no cover - no C library to ask
        return
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGKILL)


def _limit_memory(max_memory_mb: int | None) -> None:
    if not max_memory_mb:
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    limit = int(max_memory_mb) << 20
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))


def _init_worker(value, max_memory_mb: int | None, parent: int) -> None:
    _die_with_parent()
    if os.getppid() != parent:  # the parent ended before the line above took effect
        os._exit(1)
    _limit_memory(max_memory_mb)
    _STATE["settings"] = value


def _solo(read_job: Callable, job, value, max_memory_mb, parent, conn) -> None:
    _init_worker(value, max_memory_mb, parent)
    conn.send(read_job(job))
    conn.close()


def _read_alone(read_job: Callable, job, ctx, value, max_memory_mb) -> tuple[object, str | None]:
    """Read one job in a process of its own: ``(result, None)`` or ``(None, why it died)``."""
    receive, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_solo, args=(read_job, job, value, max_memory_mb, os.getpid(), send), daemon=True)
    proc.start()
    send.close()
    try:
        result = receive.recv()
    except EOFError:
        result = None
    proc.join()
    if result is not None:
        return result, None
    code = proc.exitcode
    if code is not None and code < 0:
        why = f"signal {signal.Signals(-code).name}"
    else:
        why = f"exit status {code}"
    return None, why


def run_jobs(
    todo: Sequence,
    read_job: Callable,
    crashed: Callable[[object, str], object],
    *,
    jobs: int,
    value,
    max_memory_mb: int | None = DEFAULT_MAX_MEMORY_MB,
) -> Iterator[tuple[object, object]]:
    """``(job, read_job(job))`` for every job, in the order of ``todo``.

    Parameters
    ----------
    todo : sequence
        The jobs (picklable).
    read_job : callable
        A module-level function run in a worker on each job; it reads
        :func:`settings` for what the ingest gave its workers.
    crashed : callable
        ``crashed(job, why)`` gives the result for a job whose worker died
        twice (``why``: the signal or exit status).
    jobs : int
        Worker processes (at least one).
    value : object
        What :func:`settings` returns in the workers.
    max_memory_mb : int, optional
        Memory limit of each worker (``RLIMIT_DATA``); None for none.
    """
    if not todo:
        return
    if "fork" not in mp.get_all_start_methods():  # pragma: no cover - Windows: no isolation
        _STATE["settings"] = value
        for job in todo:
            yield job, read_job(job)
        return
    ctx = mp.get_context("fork")
    pending = list(todo)
    while pending:
        pool = ProcessPoolExecutor(max(1, min(jobs, len(pending))), mp_context=ctx, initializer=_init_worker,
                                   initargs=(value, max_memory_mb, os.getpid()))
        broken = None
        try:
            futures = [pool.submit(read_job, job) for job in pending]
            for i, job in enumerate(pending):
                try:
                    result = futures[i].result()
                except BrokenProcessPool:
                    broken = i
                    break
                futures[i] = None  # the result is the caller's now; do not keep every file's rows
                yield job, result
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        if broken is None:
            return
        # One of the files in flight killed its worker: read the first one
        # that failed alone; the rest go to a new pool.
        suspect = pending[broken]
        result, why = _read_alone(read_job, suspect, ctx, value, max_memory_mb)
        if why is not None:
            log.warning("a worker died reading a file (%s); the file is reported failed", why)
            result = crashed(suspect, why)
        yield suspect, result
        pending = pending[broken + 1:]

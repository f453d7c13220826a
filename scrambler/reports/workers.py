"""A report computation run in a spawned worker process while the report goes on in this one.

The report's library checks are single-threaded and take seconds each (sdmetrics' column pair trends):
in a worker process they run on the machine's other core instead of after the rest. The caller samples its
frames first, so a worker gets a few thousand rows, never a panel. Spawned, not forked: the parent may hold
thread pools (numpy's, the sampler's) a fork would copy. The worker process is kept for the next report of
the same process, so a library it imports is imported once (the test suite builds dozens of reports; a
fresh process per report imported sdmetrics each time). Where no process can be started, or the worker
dies, the same function runs here, with the same result.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pickle import PicklingError
from typing import Any

_pool: ProcessPoolExecutor | None = None


def _shared_pool() -> ProcessPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    return _pool


class Worker:
    """``fn(*args)`` in the worker process (``parallel``) or, when asked for, here."""

    def __init__(self, fn: Callable[..., Any], *args: Any, parallel: bool = True) -> None:
        self.fn, self.args = fn, args
        self.future: Future[Any] | None = None
        if parallel:
            try:
                self.future = _shared_pool().submit(fn, *args)
            except (OSError, RuntimeError):  # no processes here (a sandbox), or a broken pool: inline
                _forget_pool()
                self.future = None

    def result(self) -> Any:
        if self.future is not None:
            try:
                return self.future.result()
            except (BrokenProcessPool, PicklingError):  # the worker died, or the call could not reach it: here
                _forget_pool()
            # an error of the function itself is raised as it would be here, not computed a second time
        return self.fn(*self.args)


def _forget_pool() -> None:
    """Drop a pool that failed, so that the next report starts a new worker."""
    global _pool
    if _pool is not None:
        _pool.shutdown(wait=False, cancel_futures=True)
        _pool = None


def release() -> None:
    """End the worker process now: the command is done and nothing more will be asked of it. A graceful exit of
    a process that imported sdmetrics (with torch, before ``fidelity._without_torch``) took over a second,
    which the command otherwise waited for at exit (1.4 s of a 5.8 s run on a 595-person panel). The worker
    holds nothing left to keep."""
    global _pool
    pool, _pool = _pool, None
    procs = list((getattr(pool, "_processes", None) or {}).values())  # pid -> process; private: read defensively
    for proc in procs:
        proc.terminate()
    if pool is not None:
        # Wait for the pool's own manager thread, which reaps the ended process: joining the process here as
        # well raced it (two threads waiting on one pid; the loser saw no exit status and the process still
        # looked alive, once in a CI run).
        pool.shutdown(wait=True, cancel_futures=True)
    for proc in procs:
        proc.join(timeout=5)

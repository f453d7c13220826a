"""A report computation run in a spawned worker process while the report goes on in this one.

The report's library checks are single-threaded and take seconds each (sdmetrics' column pair trends,
anonymeter's singling-out query search): in worker processes they run on the machine's other cores instead
of taking turns. The caller samples its frames first, so a worker gets a few thousand rows, never a panel.
Spawned, not forked: the parent may hold thread pools (numpy's, the sampler's) a fork would copy. Where no
process can be started, or the worker dies, the same function runs here, with the same result.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any


class Worker:
    """``fn(*args)`` in a worker process (``parallel``) or, when asked for, here."""

    def __init__(self, fn: Callable[..., Any], *args: Any, parallel: bool = True) -> None:
        self.fn, self.args = fn, args
        self.pool: ProcessPoolExecutor | None = None
        self.future: Future[Any] | None = None
        if parallel:
            try:
                self.pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
                self.future = self.pool.submit(fn, *args)
            except (OSError, RuntimeError):  # no processes here (a sandbox): inline, in result()
                self.pool = self.future = None

    def result(self) -> Any:
        if self.future is not None:
            try:
                return self.future.result()
            except Exception:  # noqa: BLE001 - a worker that died (BrokenProcessPool, ...): run it here
                pass
            finally:
                assert self.pool is not None
                self.pool.shutdown()
        return self.fn(*self.args)

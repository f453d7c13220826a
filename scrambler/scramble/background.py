"""A job on a daemon thread whose result the caller collects later (see :class:`Background`)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class Background:
    """``job()`` on a daemon thread; ``result()`` waits for it and raises what it raised. Daemon: a run
    stopped by an error or Ctrl-C during the draw exits at once instead of waiting for the index build (tens
    of seconds at full scale)."""

    def __init__(self, job: Callable[[], Any]) -> None:
        self._value: Any = None
        self._error: BaseException | None = None

        def run() -> None:
            try:
                self._value = job()
            except BaseException as exc:  # handed to the caller of result()
                self._error = exc

        self._thread = threading.Thread(target=run, name="scrambler-input-index", daemon=True)
        self._thread.start()

    def result(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value

"""What a command is doing, while it does it: stages with their times, on stderr (stdout stays for results).

A command names its stages (``with progress.stage("read input"): ...``). When a stage ends, one line
``scrambler COMMAND: STAGE done in 1.2 s`` goes to stderr, on a terminal or not, so a log of a batch run
shows where the time went. On a terminal a live line runs meanwhile: a bar when the library reports steps
through :meth:`Progress.update` (the ``progress`` callbacks of population and scramble), else a ticking
clock, so that a 40-second stage never looks hung.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import TextIO

from tqdm import tqdm

TICK_S = 0.5  # how often the clock of a stage without steps is redrawn on a terminal


class Progress:
    def __init__(self, command: str = "", enabled: bool | None = None, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.command = command
        self.enabled = self.stream.isatty() if enabled is None else enabled  # live bars only on a terminal
        self.bars: dict[str, tqdm] = {}
        self.current: str | None = None
        self.times: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    # -- stages --------------------------------------------------------------------------------------------

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time a stage; print its line when it ends (not when it fails: the error says what happened)."""
        outer, self.current = self.current, name
        start = time.perf_counter()
        if self.enabled:
            self._open(name)
        try:
            yield
        finally:
            self._close(name)
            self.current = outer
        seconds = time.perf_counter() - start
        self.times[name] = self.times.get(name, 0.0) + seconds
        prefix = f"scrambler {self.command}: " if self.command else ""
        print(f"{prefix}{name} done in {seconds:.1f} s", file=self.stream, flush=True)

    def _open(self, name: str) -> None:
        with self._lock:
            self.bars[name] = tqdm(total=None, desc=name, leave=False, file=self.stream,
                                   bar_format="{desc}: {elapsed}", dynamic_ncols=True)
        if self._ticker is None:
            self._ticker = threading.Thread(target=self._tick, name="scrambler-progress", daemon=True)
            self._ticker.start()

    def _close(self, name: str) -> None:
        with self._lock:
            bar = self.bars.pop(name, None)
            if bar is not None:
                bar.close()

    def _tick(self) -> None:
        while not self._stop.wait(TICK_S):
            with self._lock:
                for bar in self.bars.values():
                    bar.refresh()

    # -- steps within a stage (the library's progress callback) ----------------------------------------------

    def update(self, step: str, done: int, total: int) -> None:
        """``done`` of ``total`` steps of ``step``; inside a stage it drives that stage's bar."""
        if not self.enabled:
            return
        with self._lock:
            key = self.current if self.current in self.bars else step
            bar = self.bars.get(key)
            if bar is None:
                bar = self.bars[key] = tqdm(total=total, desc=step, unit="step", leave=False, file=self.stream,
                                            dynamic_ncols=True)
            if bar.total != total:
                bar.total = total
                bar.bar_format = None  # from a clock to a bar: tqdm's default layout
            bar.set_description_str(step if step == key else f"{key}: {step}", refresh=False)
            bar.n = done
            bar.refresh()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        with self._lock:
            for bar in self.bars.values():
                bar.close()
            self.bars.clear()

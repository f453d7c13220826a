"""The main draw in parts: output persons are independent of each other in the draw (each is drawn from its
own anchor, its own donors and its own past), so they are split into fixed parts, each drawn over every
period with a generator of its own.

Why processes: the draw is Python-bound (a call per variable, per period, per group of rows, on arrays of a
few hundred thousand values); two threads drawing two halves gained 10%, the GIL held the rest. Where the
platform forks and nothing else runs, the second part is drawn in a forked process writing into the output's
arrays in shared memory, while this process draws the first. Elsewhere (no fork, other threads alive, a
model-based block whose sampler is not fork-safe) the parts are drawn one after the other, period by period.

The output depends on the seed and the number of parts (fixed by the output size), never on whether a fork
ran: the parts read only what is theirs (their rows of the output, their generator) or what every process
computes alike (donor pools, rare tuples, perturbation shifts: each from a seed of its own).
"""

from __future__ import annotations

import mmap
import os
import pickle
import signal
import threading
from collections.abc import Callable

import numpy as np

from scrambler.errors import Issue, UnsatisfiableError
from scrambler.panel import Panel

#: from this many output persons, the draw may be in two parts (below it a part would be too small to pay a fork)
TWO_PARTS_FROM = 50_000
#: up to this many output persons (above it, the child's donor pools beside the parent's raise the peak)
TWO_PARTS_UP_TO = 2_000_000


def split(persons: int, input_persons: int, forkable: bool) -> list[np.ndarray]:
    """The output rows of each part: two contiguous halves where a forked second process pays, else one part.
    It pays where the draw's work per output person dominates: not where the donor pools of a much larger
    input do (each process builds its own: 1,000,000 -> 100,000 drew 30% slower in two parts), nor below
    TWO_PARTS_FROM or above TWO_PARTS_UP_TO persons, nor when a block's sampler cannot be forked
    (``forkable``). A function of the sizes and the spec only, never of the machine: the output must not
    depend on whether a fork was possible."""
    if not forkable or not TWO_PARTS_FROM <= persons <= TWO_PARTS_UP_TO or 2 * persons < input_persons:
        return [np.arange(persons)]
    half = persons // 2
    return [np.arange(half), np.arange(half, persons)]


def can_fork() -> bool:
    """Whether a forked child may draw a part: only a lone main thread forks (a lock held by another thread
    at the fork would stay held in the child forever)."""
    return (hasattr(os, "fork") and threading.current_thread() is threading.main_thread()
            and threading.active_count() == 1)


def share(panel: Panel) -> None:
    """Move the panel's value arrays into anonymous shared memory, so that a forked child's draw lands in
    them (the arrays keep their shape, dtype and values; everything else reads them as before)."""
    for values in (panel.static, panel.periodic):
        for name, array in values.items():
            if array.nbytes == 0:
                continue
            buffer = mmap.mmap(-1, array.nbytes)  # anonymous and MAP_SHARED: seen by a child forked after
            shared = np.frombuffer(buffer, dtype=array.dtype).reshape(array.shape)
            shared[...] = array
            values[name] = shared


def draw_parts(parts: int, periods: int, draw: Callable[[int, int], None], finish: Callable[[int], None],
               fork: bool, started: Callable[[], None] | None = None,
               progress: Callable[[int], None] | None = None) -> None:
    """``draw(part, t)`` for every part and period, ``finish(t)`` once a period is drawn (per process);
    ``started`` runs here once any fork has happened (a thread started before it would not be forked safely);
    ``progress(t)`` after each period of the first part. With ``fork`` and two parts the second is drawn in a
    child process (its arrays must be shared: see share)."""
    if parts == 1 or not fork:
        if started:
            started()
        for t in range(periods):
            for p in range(parts):
                draw(p, t)
            finish(t)
            if progress:
                progress(t)
        return
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: part 1, every period; reports how it ended through the pipe, never returns
        os.close(read_end)

        def second() -> None:
            for t in range(periods):
                draw(1, t)
                finish(t)

        _child(write_end, second)
    os.close(write_end)
    try:
        if started:
            started()
        for t in range(periods):
            draw(0, t)
            finish(t)
            if progress:
                progress(t)
        failure = _join(pid, read_end)
    except BaseException:
        _kill(pid)
        raise
    finally:
        os.close(read_end)
    if failure is not None:
        raise failure


def _child(write_end: int, work: Callable[[], None]) -> None:
    code = 0
    try:
        _die_with_parent()
        work()
        payload = pickle.dumps(None)
    except BaseException as error:  # noqa: BLE001 - every failure goes back to the parent, which raises it
        code = 1
        try:
            payload = pickle.dumps(error)
        except Exception:  # noqa: BLE001 - an unpicklable error still reaches the parent, as text
            payload = pickle.dumps(UnsatisfiableError([Issue(code="draw-failed", message=repr(error))]))
    try:
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(payload)
    finally:
        os._exit(code)  # no cleanup of the parent's state (atexit, buffered output) in the child


def _join(pid: int, read_end: int) -> BaseException | None:
    chunks = []
    while chunk := os.read(read_end, 1 << 16):
        chunks.append(chunk)
    _, status = os.waitpid(pid, 0)
    if chunks:
        result = pickle.loads(b"".join(chunks))  # our own child's bytes, through a pipe only it holds
        if isinstance(result, BaseException):
            return result
        if result is None and os.waitstatus_to_exitcode(status) == 0:
            return None
    return UnsatisfiableError([Issue(code="draw-failed", message="the process drawing the second half of the "
                                     f"persons ended without a result (exit status {status}); nothing was written")])


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def _die_with_parent() -> None:
    """The child ends with the parent (Linux): a parent killed mid-draw leaves no orphan drawing on."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass

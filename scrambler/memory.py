"""Refuse a run that cannot fit in memory before it starts, with the figures, instead of a MemoryError (or the
kernel's OOM killer) after minutes of work.

The engine holds the panel in numpy arrays: about one value per person, variable and period, plus working
copies. Measured peaks (benchmarks/README.md and ``/usr/bin/time -v`` on the default spec, 304 values
per person): population 100,000 persons 356 MB and 20,000 persons 172 MB, so ~2.3 KB (7.6 bytes per value)
above the interpreter's own ~125 MB; scramble 7.5 M -> 7.5 M persons 10.3 GB in session 11, 12.7-14.1 GB with
reports in sessions 12-18 (~2.8-3.1 bytes per value of input plus output), 9.3 GB in session 19 (the guard in
blocks, time values float32, the input let go before the write), ~8 GB since session 20 (the input cut down
after the draw: scramble.remnant): the 4.5 below stays above all of them.
"""

from __future__ import annotations

import functools
import json
import os
import resource
from pathlib import Path
from typing import Any

from scrambler.errors import Issue, ScramblerError
from scrambler.spec.model import DatasetSpec

MARGIN = 50 * 2**20  # modules loaded later (the check, the writers), small arrays
# virtual size a small run reaches anyway (VmPeak of a 1,000-person population: 942 MB, of which ~300 MB at
# the time of the check; the rest is thread stacks and allocator arenas reserved but hardly used)
VIRTUAL_BASE = 900 * 2**20
#: below this many persons, pages a stage frees are soon reused: handing them back and faulting them in
#: again cost more (200,000 -> 200,000: +0.6 s of 14.2, three runs each) than the ~100 MB they weigh
TRIM_PERSONS = 2_000_000
BYTES_PER_VALUE = {"population": 8.0, "scramble": 4.5}


def values_per_person(spec: DatasetSpec) -> int:
    periods = len(spec.panel.periods)
    return sum(1 if var.is_static else periods for var in spec.variables.values())


def estimate(spec: DatasetSpec, persons: int, kind: str) -> int:
    """Estimated memory in bytes a run over ``persons`` persons (input plus output for scramble) adds to the
    process as it stands (interpreter and libraries already loaded), with a margin for what loads later."""
    return int(MARGIN + persons * values_per_person(spec) * BYTES_PER_VALUE[kind])


def available() -> int | None:
    """Bytes this process can still add: the least of the free memory, what the address-space limit
    (``ulimit -v``) leaves beyond the process's current size, and the cgroup limit (containers); None when
    none is known. The address-space limit counts virtual memory, ~0.9 GB of which the interpreter, numpy,
    pyarrow and their thread arenas reserve in any run (VIRTUAL_BASE)."""
    limits = []
    status = _proc_kb("/proc/meminfo", "MemAvailable:")
    if status is not None:
        limits.append(status)
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        limits.append(max(0, soft - max(VIRTUAL_BASE, _proc_kb("/proc/self/status", "VmSize:") or 0)))
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 2**60:
            limits.append(max(0, int(text) - (_proc_kb("/proc/self/status", "VmRSS:") or 0)))
    return min(limits) if limits else None


def _proc_kb(path: str, key: str) -> int | None:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def require_memory(spec: DatasetSpec, persons: int, kind: str, option: str = "--persons") -> None:
    need = estimate(spec, persons, kind)
    have = available()
    if os.environ.get("SCRAMBLER_SKIP_MEMORY_CHECK") or have is None or need <= have:
        return
    raise ScramblerError([Issue(code="too-big", message=f"{option} {persons:,} needs about {gb(need)} of memory "
                                f"(estimate: {values_per_person(spec)} values per person in {spec.name}), but "
                                f"only {gb(have)} is available; use fewer persons or a larger machine"
                                + (" or --engine dask (docs/distributed.md)" if kind == "scramble" else ""))])


def give_back(persons: int) -> None:
    """Hand freed memory back to the system, in a run over ``persons`` persons (the larger of input and
    output) of at least TRIM_PERSONS: Arrow's pool's unused buffers, then the C heap's free pages. numpy's
    arrays under glibc's mmap threshold (up to 32 MB: every column of up to a few million persons) come from
    per-thread heaps, which keep their freed pages: reading 1,000,000 persons left RSS at 1.36 GB beside a
    0.52 GB panel after the pool's release, 0.66 GB after ``malloc_trim``. Called where a stage has freed
    its working copies (each decoded table, the end of the draw and of the guard, before the check)."""
    if persons < TRIM_PERSONS:
        return
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    trim = _glibc("malloc_trim")
    if trim is not None:
        trim(0)


def lean_heap(persons: int) -> None:
    """In a draw of at least TRIM_PERSONS output persons: every allocation of MMAP_THRESHOLD or more gets pages
    of its own from now on, given back when it is freed.

    Why: glibc raises its mmap threshold to the size of the largest block freed so far (up to 32 MiB), so a
    7.5-million-person run's arrays of one byte to four bytes per person (7-29 MiB: masks, codes, donors,
    donor pools, time values) came from the heaps, whose freed pages stay with the process until
    ``malloc_trim``, scattered between live arrays. At the end of the 7.5M -> 7.5M draw the heaps held
    1,555 MiB of which 917 were in use, and the process had peaked at 7,741 MiB so far; with the threshold
    fixed at 1 MiB 7,463, at 8 MiB 7,480 (benchmarks/README.md, session 23). Not while reading an input, nor
    for a small output: there the heaps' reuse pays (a page given back is faulted in again at the next array:
    reading 7.5 million persons with it took 42.6 and 45.5 s, 37.5 and 36.5 without, and its peak is not the
    run's). Process-wide and once: glibc only (elsewhere the allocator decides)."""
    mallopt = _glibc("mallopt") if persons >= TRIM_PERSONS else None
    if mallopt is not None:
        mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)


#: see lean_heap: above the 2 MiB of the draw's chunk temporaries (CHUNK rows of int64), at or below the
#: 4 MiB from which numpy asks for huge pages
MMAP_THRESHOLD = 4 * 2**20
_M_MMAP_THRESHOLD = -3  # glibc's malloc.h


@functools.cache
def _glibc(name: str) -> Any:
    """A function of glibc, or None where the C library is another (macOS, musl, Windows: their allocators
    return pages themselves)."""
    try:
        import ctypes

        return getattr(ctypes.CDLL("libc.so.6"), name)
    except (OSError, AttributeError):
        return None


def gb(n: int) -> str:
    return f"{n / 2**30:,.1f} GB"


def input_persons(folder: str | Path) -> int:
    """Persons in an input folder as its manifest records them (0 when unknown: then only the output counts)."""
    try:
        persons = json.loads((Path(folder) / "manifest.json").read_text(encoding="utf-8")).get("persons", 0)
    except (OSError, ValueError, AttributeError):
        return 0
    return persons if isinstance(persons, int) and persons > 0 else 0


class Spilled:
    """An object (numpy arrays in dataclasses and dicts) held in an unnamed temporary file instead of memory
    while a stage does not read it, then read back once (:meth:`load`). The file has no name from the start
    (``tempfile.TemporaryFile``, in TMPDIR), so nothing stays on disk when the process ends, however it ends;
    its pages sit in the system's cache, which the system may drop under pressure, not in the process. Pickle
    protocol 5 writes an array's bytes as they are, without a copy in memory."""

    def __init__(self, value: Any) -> None:
        import pickle
        import tempfile

        self._file = tempfile.TemporaryFile(prefix="scrambler-")
        pickle.dump(value, self._file, protocol=5)
        self._file.flush()

    def load(self) -> Any:
        import pickle

        self._file.seek(0)
        try:
            return pickle.load(self._file)
        finally:
            self._file.close()

"""memory.lean_heap: from TRIM_PERSONS persons on, an array of MMAP_THRESHOLD or more gets pages of its own (and
gives them back when freed) even after glibc raised its dynamic threshold; below it, nothing changes. Each case
runs in a fresh interpreter: the setting is process-wide and glibc's threshold moves with what was freed."""

from __future__ import annotations

import ctypes
import subprocess
import sys

import pytest

from scrambler.memory import MMAP_THRESHOLD, TRIM_PERSONS

PROBE = """
import ctypes, sys
import numpy as np
from scrambler.memory import lean_heap

class Mallinfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Mallinfo2
big = np.ones(24 * 2**20, dtype=np.uint8)  # mmapped, and freeing it raises glibc's threshold to 24 MiB
del big
lean_heap(int(sys.argv[1]))
before = libc.mallinfo2().hblkhd
block = np.ones(3 * {threshold} // 2, dtype=np.uint8)  # between the fixed and the raised threshold
print(libc.mallinfo2().hblkhd - before >= block.nbytes)
"""


def _own_pages(persons: int) -> bool:
    code = PROBE.replace("{threshold}", str(MMAP_THRESHOLD))
    proc = subprocess.run([sys.executable, "-c", code, str(persons)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip() == "True"


def _glibc_mallinfo2() -> bool:
    try:
        return hasattr(ctypes.CDLL("libc.so.6"), "mallinfo2")
    except OSError:
        return False


@pytest.mark.skipif(not _glibc_mallinfo2(), reason="glibc's mallinfo2 reads where an allocation came from")
def test_large_runs_give_arrays_pages_of_their_own() -> None:
    assert _own_pages(TRIM_PERSONS)
    assert not _own_pages(TRIM_PERSONS - 1)  # a small run keeps glibc's own choice (its heaps' reuse pays)

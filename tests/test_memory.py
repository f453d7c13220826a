"""memory.lean_heap: from TRIM_PERSONS persons on, an array of MMAP_THRESHOLD or more gets pages of its own (and
gives them back when freed) even after glibc raised its dynamic threshold; below it, nothing changes. Each case
runs in a fresh interpreter: the setting is process-wide and glibc's threshold moves with what was freed.
Where the array lies tells it apart: inside the heap ([heap] in /proc/self/maps) or in pages of its own. (A
first version compared glibc's mmapped total before and after, which another thread's allocation can move: it
failed once in a full CI run.)"""

from __future__ import annotations

import ctypes
import subprocess
import sys
from pathlib import Path

import pytest

from scrambler.memory import MMAP_THRESHOLD, TRIM_PERSONS

PROBE = """
import sys
import numpy as np
from scrambler.memory import lean_heap

def heap() -> list[tuple[int, int]]:
    ranges = []
    for line in open("/proc/self/maps"):
        if line.rstrip().endswith("[heap]"):
            low, high = line.split()[0].split("-")
            ranges.append((int(low, 16), int(high, 16)))
    return ranges

big = np.ones(24 * 2**20, dtype=np.uint8)  # mmapped, and freeing it raises glibc's threshold to 24 MiB
del big
lean_heap(int(sys.argv[1]))
block = np.ones(3 * {threshold} // 2, dtype=np.uint8)  # between the fixed and the raised threshold
address = block.ctypes.data
print(not any(low <= address < high for low, high in heap()))
"""


def _own_pages(persons: int) -> bool:
    code = PROBE.replace("{threshold}", str(MMAP_THRESHOLD))
    proc = subprocess.run([sys.executable, "-c", code, str(persons)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip() == "True"


def _glibc() -> bool:
    try:
        return hasattr(ctypes.CDLL("libc.so.6"), "mallopt")
    except OSError:
        return False


@pytest.mark.skipif(not _glibc() or not Path("/proc/self/maps").exists(), reason="glibc's heap, seen in /proc")
def test_large_runs_give_arrays_pages_of_their_own() -> None:
    assert _own_pages(TRIM_PERSONS)
    assert not _own_pages(TRIM_PERSONS - 1)  # a small run keeps glibc's own choice (its heaps' reuse pays)

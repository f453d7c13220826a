"""memory.lean_heap: from TRIM_PERSONS persons on, an array of MMAP_THRESHOLD or more gets pages of its own (and
gives them back when freed) even after glibc raised its dynamic threshold; below it, nothing changes. Each case
runs in a fresh interpreter: the setting is process-wide and glibc's threshold moves with what was freed.
glibc's own mark tells it apart: the IS_MMAPPED bit (2) of the size field just before the block (numpy's
default allocator hands out malloc's pointer as the array's data). This test failed in CI whenever it shared a
pytest worker with tests/test_distributed.py: dask's nanny had left MALLOC_TRIM_THRESHOLD_ in os.environ, the
probe inherited it, and any MALLOC_*_ variable turns glibc's dynamic threshold off (scrambler.distributed now
restores the environment; the probe also runs without them)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from scrambler.memory import MMAP_THRESHOLD, TRIM_PERSONS, _glibc

PROBE = """
import ctypes
import sys
import numpy as np
from scrambler.memory import lean_heap

big = np.ones(24 * 2**20, dtype=np.uint8)  # mmapped, and freeing it raises glibc's threshold to 24 MiB
del big
lean_heap(int(sys.argv[1]))
block = np.ones(3 * {threshold} // 2, dtype=np.uint8)  # between the fixed and the raised threshold
size_field = ctypes.c_size_t.from_address(block.ctypes.data - ctypes.sizeof(ctypes.c_size_t)).value
print(bool(size_field & 2))  # IS_MMAPPED
"""


def _own_pages(persons: int) -> bool:
    code = PROBE.replace("{threshold}", str(MMAP_THRESHOLD))
    # glibc's defaults: any MALLOC_*_ variable (dask's nanny sets MALLOC_TRIM_THRESHOLD_) turns its dynamic
    # threshold off, and the small run's array got pages of its own too
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    proc = subprocess.run([sys.executable, "-c", code, str(persons)], capture_output=True, text=True, timeout=120,
                          env=env)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip() == "True"


@pytest.mark.skipif(_glibc("mallopt") is None or not Path("/proc/self/maps").exists(), reason="glibc's heap, seen in /proc")
def test_large_runs_give_arrays_pages_of_their_own() -> None:
    assert _own_pages(TRIM_PERSONS)
    assert not _own_pages(TRIM_PERSONS - 1)  # a small run keeps glibc's own choice (its heaps' reuse pays)

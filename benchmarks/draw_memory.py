"""Where the draw's memory is, period by period: read an input as ``scrambler scramble`` does, scramble it with
the input handed over, and at the end of each period of the main draw print the process's resident set and
high-water mark (``/proc/self/status``), glibc's heap figures (``mallinfo2``: heaps, of which in use, and
mmapped blocks) and, after the last period, the arrays Python containers refer to; then exit (nothing written).

    .venv/bin/python benchmarks/draw_memory.py --input /tmp/full11/population [--persons N] [--seed 1]
        [--mmap-threshold BYTES]

``--mmap-threshold`` fixes glibc's mmap threshold first (``mallopt(M_MMAP_THRESHOLD)``), to compare with
``memory.lean_heap``'s choice. Arrow's pool is jemalloc unless ARROW_DEFAULT_MEMORY_POOL says otherwise, as in
the CLI. Used for the session-23 table in README.md (glibc only).
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import os
import sys
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "jemalloc")  # before pyarrow loads, as scrambler's CLI does

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scrambler.datasets import read_dataset  # noqa: E402
from scrambler.memory import _M_MMAP_THRESHOLD  # noqa: E402
from scrambler.reports.write import report_rows  # noqa: E402
from scrambler.scramble import pipeline  # noqa: E402
from scrambler.scramble.proposals import MethodProposals  # noqa: E402
from scrambler.spec import load_spec  # noqa: E402

MIB = 2**20


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]


LIBC = ctypes.CDLL("libc.so.6")
LIBC.mallinfo2.restype = _Mallinfo2


def _status() -> str:
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    rss, hwm = (int(fields[k].split()[0]) // 1024 for k in ("VmRSS", "VmHWM"))
    info = LIBC.mallinfo2()
    return (f"resident {rss:,} MiB, high-water {hwm:,} MiB; heaps {info.arena // MIB:,} MiB "
            f"(in use {info.uordblks // MIB:,}), mmapped {info.hblkhd // MIB:,} MiB in {info.hblks} blocks")


def _arrays() -> None:
    """The numpy arrays (their bases) Python containers refer to, grouped by dtype and shape, largest first."""
    seen: dict[int, np.ndarray] = {}
    for obj in gc.get_objects():
        values = (obj.values() if isinstance(obj, dict) else obj if isinstance(obj, list | tuple)
                  else vars(obj).values() if hasattr(obj, "__dict__") else ())
        for value in values:
            if isinstance(value, np.ndarray):
                base = value
                while isinstance(base.base, np.ndarray):
                    base = base.base
                seen[id(base)] = base
    groups = Counter((a.dtype.str, a.shape) for a in seen.values() if a.nbytes >= MIB)
    print(f"  arrays reachable: {sum(a.nbytes for a in seen.values()) // MIB:,} MiB in {len(seen)}")
    for (dtype, shape), count in sorted(groups.items(), key=lambda kv: -kv[1] * np.prod(kv[0][1]) *
                                        np.dtype(kv[0][0]).itemsize):
        print(f"    {count} x {dtype} {shape}: {count * np.prod(shape) * np.dtype(dtype).itemsize // MIB:,} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--spec", type=Path, default=ROOT / "constraints" / "arbeidsreserve-24-130")
    parser.add_argument("--persons", type=int, help="output persons (default: as many as the input)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--mmap-threshold", type=int)
    args = parser.parse_args()
    if args.mmap_threshold:
        LIBC.mallopt(_M_MMAP_THRESHOLD, args.mmap_threshold)
    spec = load_spec(args.spec)
    periods = len(spec.panel.periods)
    start = time.perf_counter()
    finish = MethodProposals.finish_period

    def measured(self: MethodProposals, t: int) -> None:
        print(f"period {t} drawn at {time.perf_counter() - start:.1f} s: {_status()}", flush=True)
        if t == periods - 1:
            _arrays()
            os._exit(0)
        finish(self, t)

    MethodProposals.finish_period = measured  # type: ignore[method-assign]
    source = read_dataset(spec, args.input, source_ids=False)
    print(f"read {source.n:,} persons in {time.perf_counter() - start:.1f} s: {_status()}", flush=True)
    pipeline.scramble(spec, source, args.persons or source.n, args.seed, check=False, processes=2,
                      hand_over=report_rows(source.n, args.seed))


if __name__ == "__main__":
    main()

"""Where a run's memory goes over time: run a command, sample the resident memory of its process and its children
every 0.5 s, and print the largest figure of each 10-second window beside the stage lines the command printed.

    .venv/bin/python benchmarks/memtrace.py -- .venv/bin/scrambler scramble constraints/arbeidsreserve-24-130 \\
        --input /tmp/full11/population --out /tmp/out --persons 7500000 --seed 1 --force

A forked child (the draw's second process) shares most of its pages with its parent: the sum counts them twice,
so the draw's figures are above what one process holds (``/usr/bin/time -v`` in scramble_full.py reports the
largest single process). Used for the session-19 table in README.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import time

import psutil

INTERVAL_S = 0.5
WINDOW_S = 10


def _rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:  # ended between the listing and the reading
            pass
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command, after --")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given")
    start = time.perf_counter()
    child = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    lines: list[tuple[float, str]] = []

    def read() -> None:
        assert child.stderr is not None
        for line in child.stderr:
            lines.append((time.perf_counter() - start, line.rstrip()))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    proc = psutil.Process(child.pid)
    windows: dict[int, int] = {}
    while child.poll() is None:
        try:
            rss = _rss(proc)
        except psutil.Error:
            break
        at = int((time.perf_counter() - start) // WINDOW_S)
        windows[at] = max(windows.get(at, 0), rss)
        time.sleep(INTERVAL_S)
    code = child.wait()
    reader.join(timeout=5)
    events = sorted(lines)
    for at in sorted(windows):
        said = [text for when, text in events if at * WINDOW_S <= when < (at + 1) * WINDOW_S and "done in" in text]
        print(f"{at * WINDOW_S:6d} s  {windows[at] / 2**20:9,.0f} MiB  {'; '.join(said)}")
    peak = max(windows.values(), default=0)
    print(f"peak {peak / 2**20:,.0f} MiB, wall {time.perf_counter() - start:.1f} s, exit {code}")
    return code


if __name__ == "__main__":
    sys.exit(main())

"""Shared helpers of the benchmark scripts: run a command as a subprocess and measure its wall time, CPU time
and peak memory; describe the machine.

Peak memory: ``/usr/bin/time -v`` ("Maximum resident set size") when present, else psutil polling of the
child's RSS (and its children's) every 50 ms. CPU time: user + system of the child, from ``getrusage``.
"""

from __future__ import annotations

import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "constraints" / "arbeidsreserve-24-130"
GNU_TIME = "/usr/bin/time"


@dataclass
class Run:
    label: str
    command: list[str]
    wall_s: float
    cpu_s: float
    peak_mib: float
    returncode: int
    stdout: str
    stderr: str
    peak_method: str

    def ok(self) -> bool:
        return self.returncode == 0

    def tail(self, lines: int = 15) -> str:
        text = (self.stdout + "\n" + self.stderr).replace("\r", "\n")
        keep = [line for line in text.splitlines() if line.strip() and "Command being timed" not in line
                and not line.startswith("\t")]
        return "\n".join(keep[-lines:])


def scrambler_command() -> list[str]:
    """`scrambler` of the interpreter running this script (the venv's)."""
    return [sys.executable, "-m", "scrambler"]


def run(label: str, command: list[str], log_dir: Path | None = None, echo: bool = True) -> Run:
    """Run ``command``; wall time from here, CPU time from getrusage(RUSAGE_CHILDREN), peak RSS as above."""
    use_time = os.path.exists(GNU_TIME) and os.access(GNU_TIME, os.X_OK)
    full = [GNU_TIME, "-v", *command] if use_time else command
    if echo:
        print(f"[{label}] {' '.join(command)}", flush=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    peak = 0
    if use_time:
        out, err = proc.communicate()
    else:
        out, err, peak = _poll(proc)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    method = "psutil polling (50 ms)"
    if use_time:
        method = "/usr/bin/time -v"
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", err)
        peak = int(m.group(1)) * 1024 if m else 0
        err = err[: m.start()] if m else err
        err = re.sub(r"\tCommand being timed:.*", "", err, flags=re.S)
    result = Run(label, command, wall, cpu, peak / 2**20, proc.returncode, out, err, method)
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        (log_dir / f"{label}.log").write_text(f"$ {' '.join(command)}\n{out}\n--- stderr ---\n{err}")
    if echo:
        print(f"[{label}] exit {proc.returncode}, wall {wall:.1f} s, cpu {cpu:.1f} s, peak {result.peak_mib:.0f} MiB",
              flush=True)
    return result


def _poll(proc: subprocess.Popen[str]) -> tuple[str, str, int]:
    import threading

    import psutil

    chunks: dict[str, list[str]] = {"out": [], "err": []}

    def reader(stream: object, key: str) -> None:
        for line in stream:  # type: ignore[attr-defined]
            chunks[key].append(line)

    threads = [threading.Thread(target=reader, args=(proc.stdout, "out"), daemon=True),
               threading.Thread(target=reader, args=(proc.stderr, "err"), daemon=True)]
    for t in threads:
        t.start()
    peak = 0
    try:
        parent = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                rss = parent.memory_info().rss + sum(c.memory_info().rss for c in parent.children(recursive=True))
                peak = max(peak, rss)
            except psutil.Error:
                pass
            time.sleep(0.05)
    except psutil.Error:
        pass
    proc.wait()
    for t in threads:
        t.join()
    return "".join(chunks["out"]), "".join(chunks["err"]), peak


def _cmd(args: list[str]) -> str:
    try:
        return subprocess.run(args, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "n/a"


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for pkg in ("scrambler", "numpy", "pandas", "pyarrow", "sdv", "sdmetrics", "rdt", "copulas", "psutil"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = "-"
    free = _cmd(["free", "-g"]).splitlines()
    mem = free[1].split()[1] + " GB RAM" if len(free) > 1 else "?"
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return {"nproc": _cmd(["nproc"]) if shutil.which("nproc") else str(os.cpu_count()), "memory": mem, "cpu": cpu,
            "python": platform.python_version(), "platform": platform.platform(),
            "versions": ", ".join(f"{k} {v}" for k, v in versions.items()), "load_average": load}


def format_machine(info: dict[str, str]) -> str:
    return (f"machine: {info['nproc']} cores (nproc), {info['memory']} (free -g), CPU {info['cpu']}, "
            f"{info['platform']}, Python {info['python']}\npackages: {info['versions']}\n"
            f"load average (1/5/15 min) at start: {info['load_average']}")

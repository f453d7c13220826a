#!/usr/bin/env python3
"""Set up a virtual environment (once) and run a project command inside it.

Only the standard library is used here so that a fresh machine with Python 3.11 and pip suffices:

    python3 dev.py demo      # set up, then run `scrambler demo` (the embedded default job)
    python3 dev.py test      # set up, then run ruff, mypy and the whole test suite
    python3 dev.py -- ARGS   # set up, then run `scrambler ARGS`

The environment lives in `.venv/`; it is rebuilt when `pyproject.toml` or `pip-constraints.txt` change.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".installed"


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for name in ("pyproject.toml", "pip-constraints.txt"):
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


def ensure_env() -> None:
    """Create .venv and install the project with its dev extras, pinned by pip-constraints.txt."""
    wanted = _fingerprint()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    if not (BIN / "python").exists():
        print("dev.py: creating .venv", flush=True)
        venv.create(VENV, with_pip=True)
    # The constraints file keeps torch on the local CPU build (sdv depends on torch).
    cmd = [str(BIN / "python"), "-m", "pip", "install", "--quiet", "-c", str(ROOT / "pip-constraints.txt"),
           "-e", f"{ROOT}[dev]"]
    print("dev.py: installing dependencies (first run takes a few minutes)", flush=True)
    subprocess.run(cmd, check=True)
    STAMP.write_text(wanted)


def run(args: list[str]) -> int:
    return subprocess.call(args, cwd=ROOT)


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help"}:
        print(__doc__)
        return 0
    ensure_env()
    cmd, rest = argv[0], argv[1:]
    py = str(BIN / "python")
    if cmd == "demo":
        return run([str(BIN / "scrambler"), "demo", *rest])
    if cmd == "test":
        for step in ([py, "-m", "ruff", "check", "scrambler", "tests", "benchmarks"],
                     [py, "-m", "mypy"],
                     [py, "-m", "pytest", *rest]):
            code = run(step)
            if code != 0:
                return code
        return 0
    if cmd == "--":
        return run([str(BIN / "scrambler"), *rest])
    print(f"dev.py: unknown command {cmd!r}; use demo, test or -- ARGS", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

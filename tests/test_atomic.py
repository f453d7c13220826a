"""Atomic output folders: complete output or nothing, never a partial folder; no overwrite without --force."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from scrambler.errors import OutputExistsError
from scrambler.output import atomic_folder

REPO = Path(__file__).resolve().parents[1]
MINI = REPO / "tests" / "fixtures" / "mini"
PERSONS = "60000"  # about 1-2 s of work on an idle machine


def cli(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "scrambler", *map(str, args)]


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cli(*args), capture_output=True, text=True, timeout=120, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_writes_beside_target_and_moves_when_complete(tmp_path: Path) -> None:
    target = tmp_path / "out"
    with atomic_folder(target) as tmp:
        assert tmp.parent == target.parent and tmp != target
        assert not target.exists(), "the target must not appear before the output is complete"
        (tmp / "a.txt").write_text("x")
    assert (target / "a.txt").read_text() == "x"
    assert not tmp.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_failure_inside_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "out"
    with pytest.raises(RuntimeError), atomic_folder(target) as tmp:
        (tmp / "a.txt").write_text("x")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_failure_keeps_old_output(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), atomic_folder(target, force=True) as tmp:
        (tmp / "new.txt").write_text("new")
        raise RuntimeError("boom")
    assert snapshot(target) == {"old.txt": b"old"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_no_overwrite_without_force_library(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(OutputExistsError), atomic_folder(target):
        pass
    assert snapshot(target) == {"old.txt": b"old"}


@pytest.mark.parametrize("command", ["population", "scramble", "sample"])
def test_cli_refuses_existing_output(tmp_path: Path, command: str) -> None:
    pop = tmp_path / "pop"
    assert run("population", MINI, "--persons", "80", "--out", pop, "--seed", "1").returncode == 0
    target = tmp_path / "target"
    target.mkdir()
    (target / "precious.txt").write_text("keep me")
    args = {"population": ["population", MINI, "--persons", "50", "--out", target, "--seed", "2"],
            "scramble": ["scramble", MINI, "--input", pop, "--out", target, "--persons", "20", "--seed", "2"],
            "sample": ["sample", pop, "--spec", MINI, "--persons", "20", "--out", target]}[command]
    proc = run(*args)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "[output-exists]" in proc.stderr and "--force" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert snapshot(target) == {"precious.txt": b"keep me"}
    proc = run(*args, "--force")
    assert proc.returncode == 0, proc.stderr
    assert not (target / "precious.txt").exists() and (target / "manifest.json").is_file()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.fixture(scope="module")
def old_output(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, bytes], float]:
    """A complete output to interrupt over, and how long a full run takes."""
    folder = tmp_path_factory.mktemp("old") / "out"
    start = time.perf_counter()
    proc = run("population", MINI, "--persons", PERSONS, "--out", folder, "--seed", "1")
    elapsed = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr
    return folder, snapshot(folder), elapsed


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
@pytest.mark.parametrize("with_old", [True, False], ids=["over-old-output", "fresh"])
def test_kill_leaves_old_output_or_nothing(tmp_path: Path, old_output: tuple[Path, dict[str, bytes], float],
                                           sig: signal.Signals, with_old: bool) -> None:
    source, expected, elapsed = old_output
    rng = random.Random(f"{sig}-{with_old}")
    moments = sorted(rng.uniform(0.1, 1.0) * elapsed for _ in range(3))
    for i, moment in enumerate(moments):
        target = tmp_path / f"out{i}"
        if with_old:
            shutil.copytree(source, target)
        args = ["population", MINI, "--persons", PERSONS, "--out", target, "--seed", "2"]
        proc = subprocess.Popen(cli(*args, *(["--force"] if with_old else [])), cwd=REPO, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
        time.sleep(moment)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
        assert "Traceback" not in err, err
        if sig == signal.SIGINT and proc.returncode not in (0,):
            assert proc.returncode in (130, -signal.SIGINT), (proc.returncode, err)
        if target.exists():
            now = snapshot(target)
            if now != expected:
                # the run got past its final move before the signal landed: a complete new output
                assert sorted(now) == sorted(expected), f"partial output after {sig!r}: {sorted(now)}"
                assert b'"seed": 2' in now["manifest.json"]
            for path in target.rglob("*.parquet"):
                pq.read_table(path)
            if not with_old:
                assert proc.returncode == 0 or b'"seed": 2' in now["manifest.json"]
        else:
            assert not with_old, "the old output disappeared"
        # stray temporary folders may remain after SIGKILL (nothing can clean up), but never under the target name
        for stray in tmp_path.iterdir():
            assert stray.name.startswith((".out", "out")), stray


def test_interrupt_turned_into_another_error_is_reported_as_interrupt(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """Some C routines (numpy's string functions) replace the KeyboardInterrupt raised inside them by their own
    TypeError, as CI once saw during ``np.char.zfill``: the run is still reported as interrupted, exit 130, no
    traceback, and the target is left as it was."""
    from scrambler.cli import main as cli_main
    from scrambler.cli import validate

    target = tmp_path / "out"

    def fake_run(args: object) -> int:
        with atomic_folder(target) as tmp:
            (tmp / "half.txt").write_text("x")
            try:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(5)
            except KeyboardInterrupt:
                raise TypeError("result array type does not match underlying function") from None
        return 0

    monkeypatch.setattr(validate, "run", fake_run)
    monkeypatch.setattr(cli_main._Interrupts, "seen", False)
    previous = signal.getsignal(signal.SIGINT)
    try:
        code = cli_main.main(["validate", str(MINI)])
    finally:
        signal.signal(signal.SIGINT, previous)
    assert code == 130
    assert "interrupted" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_other_errors_are_not_disguised_as_interrupts(monkeypatch: pytest.MonkeyPatch) -> None:
    from scrambler.cli import main as cli_main
    from scrambler.cli import validate

    def broken(args: object) -> int:
        raise TypeError("a bug")

    monkeypatch.setattr(validate, "run", broken)
    monkeypatch.setattr(cli_main._Interrupts, "seen", False)
    previous = signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(TypeError, match="a bug"):
            cli_main.main(["validate", str(MINI)])
    finally:
        signal.signal(signal.SIGINT, previous)

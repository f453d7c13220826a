"""Atomic output folders: complete output or nothing, never a partial folder; no overwrite without --force."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
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
    (target / "manifest.json").write_text("{}")  # a scrambler output: --force may replace it
    with pytest.raises(RuntimeError), atomic_folder(target, force=True) as tmp:
        (tmp / "new.txt").write_text("new")
        raise RuntimeError("boom")
    assert snapshot(target) == {"manifest.json": b"{}"}
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
    # --force replaces only a scrambler output (it has the manifest), never a folder of someone's own files
    proc = run(*args, "--force")
    assert proc.returncode == 1 and "[output-not-scrambler]" in proc.stderr, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert snapshot(target) == {"precious.txt": b"keep me"}
    shutil.rmtree(target)
    shutil.copytree(pop, target)
    proc = run(*args, "--force")
    assert proc.returncode == 0, proc.stderr
    assert (target / "manifest.json").read_bytes() != (pop / "manifest.json").read_bytes()  # the new output
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
    # from Python's own handler, as a fresh process has it: a test run earlier in this worker (a dask cluster,
    # another in-process command) may have left another one, and the signal then never reached the run
    signal.signal(signal.SIGINT, signal.default_int_handler)
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


@pytest.mark.parametrize("before", [None, "system"])
def test_in_process_run_gives_the_callers_environment_back(monkeypatch: pytest.MonkeyPatch, capsys,
                                                           before: str | None) -> None:
    """The command chooses pyarrow's memory pool through the environment for the processes it starts; a
    caller in the same process (a notebook) finds its own value, or none, afterwards -- on success and on error."""
    from scrambler.cli import main as cli_main

    if before is None:
        monkeypatch.delenv(cli_main.POOL, raising=False)
    else:
        monkeypatch.setenv(cli_main.POOL, before)
    seen: list[str | None] = []
    real = cli_main._main
    monkeypatch.setattr(cli_main, "_main", lambda argv: seen.append(os.environ.get(cli_main.POOL)) or 0)
    assert cli_main.main(["validate", str(MINI)]) == 0
    chosen = "system" if cli_main._address_space_capped() or sys.platform != "linux" else "jemalloc"
    assert seen == [before or chosen]  # the run itself had a pool chosen
    assert os.environ.get(cli_main.POOL) == before
    monkeypatch.setattr(cli_main, "_main", real)  # the real command: a spec folder that does not exist, exit 1
    assert cli_main.main(["validate", str(MINI.parent / "no-such-spec")]) == 1
    assert "no-such-spec" in capsys.readouterr().err
    assert os.environ.get(cli_main.POOL) == before


# --- nothing is lost: an output never overlaps an input; leftovers of killed runs; permissions ---------------


def test_library_force_refuses_folder_without_manifest(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "mine.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match="output-not-scrambler"), atomic_folder(target, force=True):
        pass
    assert snapshot(target) == {"mine.txt": b"mine"}


def test_output_onto_a_file_is_refused(tmp_path: Path) -> None:
    for target in (tmp_path / "file", tmp_path / "file" / "below"):
        (tmp_path / "file").write_text("data")
        with pytest.raises(OutputExistsError, match="output-is-file"), atomic_folder(target, force=True):
            pass
        assert (tmp_path / "file").read_text() == "data"


def test_leftover_of_killed_run_is_removed_and_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)  # that process has exited: its pid names a killed run's folder
    killed = tmp_path / f".out.tmp-{dead_pid}-abc123"
    legacy = tmp_path / ".out.tmp-k2j4_x9q"  # the name older versions used (no pid)
    live = tmp_path / f".out.tmp-{os.getppid()}-def456"  # a run still going (our parent is alive)
    other = tmp_path / ".other.tmp-1-abc"  # another target's: not ours to touch
    for folder in (killed, legacy, live, other):
        folder.mkdir()
        (folder / "t.parquet").write_text("half")
    with atomic_folder(tmp_path / "out") as tmp:
        (tmp / "a.txt").write_text("x")
    assert not killed.exists() and not legacy.exists()
    assert live.exists() and other.exists()
    err = capsys.readouterr().err
    assert str(killed) in err and str(legacy) in err and "killed" in err


def test_output_folder_follows_umask(tmp_path: Path) -> None:
    previous = os.umask(0o027)
    try:
        with atomic_folder(tmp_path / "out") as tmp:
            (tmp / "sub").mkdir()
            (tmp / "a.txt").write_text("x")
    finally:
        os.umask(previous)
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o750
    assert (tmp_path / "out" / "a.txt").stat().st_mode & 0o777 == 0o640


@pytest.fixture(scope="module")
def small_pop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pop = tmp_path_factory.mktemp("small") / "pop"
    proc = run("population", MINI, "--persons", "60", "--out", pop, "--seed", "1")
    assert proc.returncode == 0, proc.stderr
    return pop


def _overlap_cases(pop: Path, spec: Path, run_dir: Path) -> list[tuple[str, list[str | Path]]]:
    return [
        ("scramble out=input", ["scramble", MINI, "--input", pop, "--out", pop, "--persons", "20", "--force"]),
        ("scramble out inside input", ["scramble", MINI, "--input", pop, "--out", pop / "x", "--persons", "20"]),
        ("scramble out contains input", ["scramble", MINI, "--input", pop, "--out", pop.parent, "--persons", "20",
                                         "--force"]),
        ("scramble out=spec", ["scramble", spec, "--input", pop, "--out", spec, "--persons", "20", "--force"]),
        ("population out=spec", ["population", spec, "--persons", "20", "--out", spec, "--force"]),
        ("population out inside spec", ["population", spec, "--persons", "20", "--out", spec / "pop"]),
        ("sample out=population", ["sample", pop, "--spec", MINI, "--persons", "10", "--out", pop, "--force"]),
        ("sample out inside spec", ["sample", pop, "--spec", spec, "--persons", "10", "--out", spec / "s"]),
        ("export out=data", ["export", pop, "--spec", MINI, "--format", "csv", "--out", pop]),
        ("export out contains spec", ["export", pop, "--spec", spec, "--format", "csv", "--out", spec.parent]),
        ("demo out contains spec", ["demo", "--spec", spec, "--out", spec.parent, "--population", "50"]),
        ("report out=input", ["report", run_dir, "--spec", MINI, "--input", pop, "--out", pop, "--fast"]),
        ("report out=run", ["report", run_dir, "--spec", MINI, "--input", pop, "--out", run_dir, "--fast"]),
    ]


def test_output_overlapping_an_input_is_refused_before_any_work(tmp_path: Path, small_pop: Path) -> None:
    """``scramble --input X --out X --force`` once replaced the input: every command that writes refuses an
    --out equal to, inside, or containing one of its inputs, and every input stays byte-identical."""
    pop = tmp_path / "data" / "pop"
    shutil.copytree(small_pop, pop)
    spec = tmp_path / "specs" / "mini"
    shutil.copytree(MINI, spec)
    run_dir = tmp_path / "run"
    assert run("scramble", MINI, "--input", pop, "--out", run_dir, "--persons", "20", "--no-reports").returncode == 0
    before = {folder: snapshot(folder) for folder in (pop, spec, run_dir)}
    cases = _overlap_cases(pop, spec, run_dir)
    with ThreadPoolExecutor(max_workers=3) as pool:
        procs = list(pool.map(lambda case: run(*case[1]), cases))
    for (name, _), proc in zip(cases, procs, strict=True):
        assert proc.returncode == 1, f"{name}: exit {proc.returncode}\n{proc.stdout}{proc.stderr}"
        assert "[output-overlaps-input]" in proc.stderr and "Traceback" not in proc.stderr, f"{name}: {proc.stderr}"
        assert "seconds" not in proc.stdout and "->" not in proc.stdout, f"{name}: work was done: {proc.stdout}"
    for folder, files in before.items():
        assert snapshot(folder) == files, f"{folder} changed"
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["pop"]

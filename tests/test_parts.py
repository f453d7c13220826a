"""The main draw in two parts (scramble.parts): the second half of the persons drawn in a forked process must
give exactly what drawing both halves here gives, and a failure or death of the child must come back as a
clear error, never as a half-drawn output."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest

from scrambler.errors import Issue, UnsatisfiableError
from scrambler.population import generate_population
from scrambler.scramble import parts
from scrambler.scramble.pipeline import content_hash, scramble
from scrambler.spec import DatasetSpec

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the platform cannot fork")


def test_split_depends_on_sizes_only() -> None:
    assert len(parts.split(parts.TWO_PARTS_FROM - 1, 10, True)) == 1  # too small to pay a fork
    two = parts.split(parts.TWO_PARTS_FROM + 1, parts.TWO_PARTS_FROM, True)
    assert [len(r) for r in two] == [parts.TWO_PARTS_FROM // 2, parts.TWO_PARTS_FROM // 2 + 1]
    assert np.array_equal(np.concatenate(two), np.arange(parts.TWO_PARTS_FROM + 1))  # every row, once
    assert len(parts.split(100_000, 1_000_000, True)) == 1  # the input's donor pools dominate
    assert len(parts.split(100_000, 100_000, False)) == 1  # a block that cannot be forked


def test_forked_draw_equals_the_draw_in_this_process(mini_spec: DatasetSpec, monkeypatch: pytest.MonkeyPatch
                                                     ) -> None:
    """Same seed, same parts: the same panel whether the second half was drawn by a forked child or here,
    and a different one than a single part (so the comparison is not between two identical draws)."""
    source = generate_population(mini_spec, 400, 3)
    single = content_hash(scramble(mini_spec, source, 600, 9).panel)
    monkeypatch.setattr(parts, "TWO_PARTS_FROM", 100)
    forks: list[int] = []
    real_fork = os.fork

    def counted() -> int:
        pid = real_fork()
        if pid:
            forks.append(pid)
        return pid

    monkeypatch.setattr(parts, "can_fork", lambda: True)  # pytest's own threads hold no lock the child needs
    monkeypatch.setattr(os, "fork", counted)
    forked = scramble(mini_spec, source, 600, 9, processes=2)
    assert len(forks) == 1 and forked.report is not None and forked.report.ok
    here = scramble(mini_spec, source, 600, 9, processes=1)
    assert len(forks) == 1  # processes=1 never forks
    assert content_hash(forked.panel) == content_hash(here.panel) != single


def _draw_failing_in_child(part: int, t: int) -> None:
    if part == 1 and t == 1:
        raise UnsatisfiableError([Issue(code="unsatisfiable", variable="x", message="no value left in part 1")])


def test_an_error_in_the_child_is_raised_here() -> None:
    finished: list[int] = []
    with pytest.raises(UnsatisfiableError) as raised:
        parts.draw_parts(2, 3, _draw_failing_in_child, finished.append, fork=True)
    assert [(i.code, i.variable, i.message) for i in raised.value.issues] == [
        ("unsatisfiable", "x", "no value left in part 1")]  # the child's issues, whole
    assert finished == [0, 1, 2]  # this process drew its part to the end before raising the child's error


def test_a_child_killed_mid_draw_is_an_error_not_a_result() -> None:
    def draw(part: int, t: int) -> None:
        if part == 1:
            os.kill(os.getpid(), signal.SIGKILL)

    with pytest.raises(UnsatisfiableError) as raised:
        parts.draw_parts(2, 2, draw, lambda t: None, fork=True)
    assert raised.value.issues[0].code == "draw-failed" and "without a result" in raised.value.issues[0].message


def test_shared_arrays_keep_values_and_take_the_childs_writes(mini_spec: DatasetSpec) -> None:
    panel = generate_population(mini_spec, 50, 1)
    before = {n: v.copy() for n, v in panel.periodic.items()}
    parts.share(panel)
    assert all(np.array_equal(panel.periodic[n], v, equal_nan=True) for n, v in before.items())
    name = next(n for n, v in panel.periodic.items() if v.dtype.kind == "i")

    def draw(part: int, t: int) -> None:
        if part == 1:
            panel.periodic[name][t, 25:] = 7

    parts.draw_parts(2, panel.periodic[name].shape[0], draw, lambda t: None, fork=True)
    assert (panel.periodic[name][:, 25:] == 7).all()  # written by the child, seen here
    assert np.array_equal(panel.periodic[name][:, :25], before[name][:, :25])


def test_the_child_dies_with_a_killed_parent(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A run killed mid-draw (SIGKILL, no cleanup) must not leave its child drawing on as an orphan."""
    import subprocess
    import sys
    import time

    pid_file = tmp_path / "child"
    script = f"""
import os, time
from scrambler.scramble import parts
def draw(part, t):
    if part == 1:
        open({str(pid_file)!r}, "w").write(str(os.getpid()))
        time.sleep(60)
parts.draw_parts(2, 1, draw, lambda t: None, fork=True)
"""
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[1])
    for _ in range(200):
        if pid_file.exists() and pid_file.read_text():
            break
        time.sleep(0.05)
    child = int(pid_file.read_text())
    parent.kill()
    parent.wait(timeout=10)
    for _ in range(100):  # the kernel delivers the child's SIGKILL at the parent's death
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        os.kill(child, signal.SIGKILL)
        pytest.fail("the child outlived its killed parent")


@pytest.mark.parametrize("name", ["psid-cornwell-rupert", "males-ecdat"])
def test_forked_draw_on_real_panels(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ground the engine did not grow up with: each real public panel of the corpus (specs written from its
    documentation) scrambled into 60,000 persons, which the draw takes in two parts - forked and not, the
    same panel, every rule kept."""
    from corpus.load import CORPUS, write_folder

    from scrambler.datasets import read_dataset
    from scrambler.spec import load_spec

    spec = load_spec(CORPUS / name)
    source = read_dataset(spec, write_folder(name, tmp_path / name), source_ids=False)
    assert len(parts.split(60_000, source.n, True)) == 2
    monkeypatch.setattr(parts, "can_fork", lambda: True)
    forked = scramble(spec, source, 60_000, 3, processes=2)
    here = scramble(spec, source, 60_000, 3, processes=1)
    assert content_hash(forked.panel) == content_hash(here.panel)
    assert forked.report is not None and forked.report.ok and forked.gaps == []

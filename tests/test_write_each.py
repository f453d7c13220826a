"""``write_each``: exporters write tables on two threads; the files come back in the tables' order whatever
finishes first, and a failing table raises without leaving a temporary file."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from scrambler.formats._atomic import Staging, write_atomic, write_each, write_text_atomic


def test_files_come_back_in_the_order_of_the_items(tmp_path: Path) -> None:
    names = ["slow", "a", "b", "c"]
    threads: set[int] = set()

    def write(name: str) -> list[Path]:
        threads.add(threading.get_ident())
        if name == "slow":
            time.sleep(0.2)  # finishes last
        return [write_text_atomic(tmp_path / f"{name}.txt", name), write_text_atomic(tmp_path / f"{name}.2", name)]

    written = write_each(names, write)
    assert written == [tmp_path / f"{n}{s}" for n in names for s in (".txt", ".2")]
    assert all(p.read_text() == p.stem for p in written)
    assert len(threads) == 2  # the slow one did not hold up the others


def test_a_failing_item_raises_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    def write(name: str) -> list[Path]:
        if name == "bad":
            def fail(tmp: Path) -> None:
                tmp.write_text("half")
                raise ValueError("bad table")

            return [write_atomic(tmp_path / "bad.txt", fail)]
        return [write_text_atomic(tmp_path / f"{name}.txt", name)]

    with pytest.raises(ValueError, match="bad table"):
        write_each(["x", "bad", "y"], write)
    assert not (tmp_path / "bad.txt").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_staged_files_are_published_together_or_not_at_all(tmp_path: Path) -> None:
    """``staged``: files written on two threads appear under their names only when the block ends well; an
    error afterwards (a bad table found late) removes every one of them and leaves older files alone."""
    from scrambler.formats._atomic import map_each, staged

    (tmp_path / "b.txt").write_text("older")

    def save(stage: Staging, name: str) -> Path:
        def write(tmp: Path) -> None:
            assert not (tmp_path / f"{name}.txt").exists() or name == "b"  # nothing published yet
            tmp.write_text(name)

        return stage.write(tmp_path / f"{name}.txt", write)

    with pytest.raises(ValueError, match="found late"), staged() as stage:
        map_each(["a", "b", "c"], lambda name: save(stage, name))
        assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == ["b.txt"]
        raise ValueError("found late")
    assert [p.name for p in tmp_path.iterdir()] == ["b.txt"] and (tmp_path / "b.txt").read_text() == "older"

    with staged() as stage:
        written = map_each(["a", "b", "c"], lambda name: save(stage, name))
    assert written == [tmp_path / f"{n}.txt" for n in "abc"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt", "c.txt"]
    assert all(p.read_text() == p.stem for p in written)

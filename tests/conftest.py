"""Shared fixtures: the mini spec, copies of spec folders to break, and the command line."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from scrambler.spec import DatasetSpec, load_spec

# Every Issue made anywhere in the suite (subprocesses inherit this) must carry a catalogued code.
os.environ["SCRAMBLER_STRICT_CODES"] = "1"
#: variables others set, not a leak of ours: pytest names the running test; scikit-learn (imported by the
#: reports' sdmetrics and anonymeter) and polars set theirs with setdefault when first imported, once per process
SET_BY_OTHERS = frozenset({"PYTEST_CURRENT_TEST", "KMP_DUPLICATE_LIB_OK", "KMP_INIT_AT_FORK", "_RJEM_MALLOC_CONF"})

REPO = Path(__file__).resolve().parent.parent
MINI = REPO / "tests" / "fixtures" / "mini"
ARBEIDSRESERVE = REPO / "constraints" / "arbeidsreserve-24-130"

CopySpec = Callable[[Path], Path]
RunCli = Callable[..., subprocess.CompletedProcess[str]]


def replace_once(path: Path, old: str, new: str) -> None:
    """Replace text that must occur exactly once, so a break never silently misses its target."""
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {path}"
    path.write_text(text.replace(old, new), encoding="utf-8")


@pytest.fixture(scope="session")
def mini_spec() -> DatasetSpec:
    return load_spec(MINI)


@pytest.fixture
def copy_spec(tmp_path: Path) -> CopySpec:
    """Copy a spec folder under tmp_path (keeping its folder name) and return the copy's path."""

    def copy(source: Path) -> Path:
        target = tmp_path / "specs" / source.name
        shutil.copytree(source, target)
        return target

    return copy


@pytest.fixture(scope="session")
def run_cli() -> RunCli:
    """Run ``python -m scrambler ARGS`` from the repository root; returns the completed process (text)."""

    def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "scrambler", *map(str, args)], capture_output=True,
                              text=True, cwd=REPO, timeout=120)

    return run


@pytest.fixture(scope="session")
def edit() -> Callable[[Path, str, str], None]:
    """``edit(path, old, new)``: replace text that occurs exactly once in a file."""
    return replace_once


@pytest.fixture(scope="session")
def mini_dir() -> Path:
    return MINI


@pytest.fixture(scope="session")
def arbeidsreserve_dir() -> Path:
    return ARBEIDSRESERVE


DECLARED_PERSONS = 150
# 18/088 declares 2003-03..2015-12 (154 monthly tables); tests that run the engine or the readers over its
# tables take its last year, so the suite stays fast: the paths (month grain, three table families, every
# variable and format) are the same.
TRIM_FROM = {"incapacity-barometer-18-088": "2015-01"}


def load_declared(name: str, trim: bool = True) -> DatasetSpec:
    """The declared spec constraints/<name> (validated on load), over its last year where TRIM_FROM says."""
    import dataclasses

    from scrambler.spec.time import parse_period

    spec = load_spec(REPO / "constraints" / name)
    if trim and name in TRIM_FROM:
        start = parse_period(TRIM_FROM[name], spec.panel.grain)
        spec = dataclasses.replace(
            spec, panel=dataclasses.replace(spec.panel, start=start),
            tables=tuple(dataclasses.replace(t, periods=tuple(p for p in t.periods if p >= start))
                         for t in spec.tables))
    return spec


@pytest.fixture(scope="session")
def declared_population(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``declared_population(name)``: a small population folder of the declared spec constraints/<name>,
    generated once per session (export and package tests share it)."""
    from scrambler.datasets import write_dataset
    from scrambler.population import generate_population

    made: dict[str, Path] = {}

    def make(name: str) -> Path:
        if name not in made:
            spec = load_spec(REPO / "constraints" / name)
            folder = tmp_path_factory.mktemp("declared") / name
            panel = generate_population(spec, DECLARED_PERSONS, seed=1)
            write_dataset(panel, folder, {"command": "test"}, "test population", with_source=True)
            made[name] = folder
        return made[name]

    return make


def _handlers() -> dict[int, object]:
    return {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}


def _left_as_found(environment: Mapping[str, str], folder: str, handlers: Mapping[int, object], what: str) -> None:
    """Assert that the environment, the working folder and the Ctrl-C and SIGTERM handlers are as they were,
    after putting them back (so one leak fails one test, not every one after it)."""
    changed = sorted(k for k in environment.keys() | os.environ.keys()
                     if environment.get(k) != os.environ.get(k) and k not in SET_BY_OTHERS)
    now = os.getcwd()
    for name in changed:
        if name in environment:
            os.environ[name] = environment[name]
        else:
            del os.environ[name]
    os.chdir(folder)
    moved = {signal.Signals(n).name: h for n, h in _handlers().items() if h is not handlers[n]}
    for number, handler in handlers.items():
        signal.signal(number, handler)  # type: ignore[arg-type]
    assert not changed, f"{what} left environment variables changed: {changed}"
    assert not moved, f"{what} left signal handlers changed: {moved}"
    assert now == folder, f"{what} left the working folder at {now!r}, not {folder!r}"


@pytest.fixture(autouse=True)
def _test_leaves_process_as_found() -> Iterator[None]:
    """Fail the test that leaves the process's environment, working folder or Ctrl-C/SIGTERM handlers changed
    (monkeypatch's changes are undone before this runs). Tests share pytest workers: a later test's
    subprocesses inherit the first two, its in-process commands meet the handlers. CI failed once because
    dask's nanny left MALLOC_TRIM_THRESHOLD_ in os.environ and a memory probe in another file inherited it
    (benchmarks/README.md, session 24)."""
    environment, folder, handlers = dict(os.environ), os.getcwd(), _handlers()
    yield
    _left_as_found(environment, folder, handlers, "this test")


@pytest.fixture(scope="module", autouse=True)
def _module_leaves_process_as_found() -> Iterator[None]:
    """The same for a test file with its module-scoped fixtures (a dask cluster set up once per file may hold
    its variables while it runs, never after)."""
    environment, folder, handlers = dict(os.environ), os.getcwd(), _handlers()
    yield
    _left_as_found(environment, folder, handlers, "this test file")

"""Atomic output folders: write into a temporary folder beside the target, move into place when complete.

A run that dies (SIGINT, SIGKILL, power loss) leaves the target as it was: the old output or nothing.
An existing target is only replaced with ``force=True``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from scrambler.errors import Issue, OutputExistsError

MANIFEST = "manifest.json"  # every folder scrambler writes has one; --force replaces nothing else


@contextmanager
def atomic_folder(target: str | Path, force: bool = False) -> Iterator[Path]:
    target = Path(target)
    check_target(target, force)
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_leftovers(target)
    # the temporary name carries our pid, so a later run can tell a killed run's leftover from a live one
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-{os.getpid()}-", dir=target.parent))
    try:
        tmp.chmod(0o777 & ~_umask())  # mkdtemp makes 0700; the published folder follows the umask like mkdir
        yield tmp
        _fsync_tree(tmp)
        if target.exists():
            if _exchange(tmp, target):  # one atomic step: the target is always the old or the new folder
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                old = target.with_name(f".{target.name}.old-{os.getpid()}")
                os.replace(target, old)
                os.replace(tmp, target)
                shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def refuse_overlap(out: str | Path, inputs: Mapping[str, str | Path | None]) -> None:
    """Refuse an output that is, lies inside, or contains an input of the command (``inputs``: option name ->
    path), before any work: replacing it would destroy the input (``scramble --input X --out X --force``)
    or write into it. Paths are compared after resolving symbolic links."""
    target = Path(out).resolve()
    issues = []
    for option, given in inputs.items():
        if given is None:
            continue
        source = Path(given).resolve()
        if target == source:
            how = "is"
        elif source in target.parents:
            how = "lies inside"
        elif target in source.parents:
            how = "contains"
        else:
            continue
        issues.append(Issue(code="output-overlaps-input", file=str(out),
                            message=f"the output folder {how} the {option} {given}; writing it would destroy "
                            "or change an input. Choose an --out outside every input"))
    if issues:
        raise OutputExistsError(issues)


def check_target(target: Path, force: bool) -> None:
    """Refuse, before any work, a target that is a file, or an existing folder without --force, or (even
    with --force) a folder that is not a scrambler output: --force must never delete someone's own files."""
    refuse_file_in_path(target)
    if not target.exists():
        return
    if not force:
        raise OutputExistsError([Issue(code="output-exists", file=str(target),
                                       message="the output folder exists; use --force to replace it")])
    if not (target / MANIFEST).is_file():
        raise OutputExistsError([Issue(code="output-not-scrambler", file=str(target),
                                       message=f"the output folder exists and has no {MANIFEST}, so it is not "
                                       "a scrambler output; --force replaces only those. Move it away or "
                                       "choose another --out")])


def refuse_file_in_path(target: str | Path) -> None:
    """Refuse an output folder path where a file stands at the path or at one of its parents."""
    target = Path(target)
    for path in (target, *target.parents):
        if path.exists() and not path.is_dir():
            where = "the output path is a file" if path == target else f"{path} is a file"
            raise OutputExistsError([Issue(code="output-is-file", file=str(path),
                                           message=f"{where}, not a folder; choose another --out")])


def prepare_output(out: str | Path, force: bool, inputs: Mapping[str, str | Path | None]) -> None:
    """All output checks a command makes before doing any work (see refuse_overlap and check_target)."""
    refuse_overlap(out, inputs)
    check_target(Path(out), force)


def clean_leftovers(target: Path) -> list[Path]:
    """Remove the temporary folders of earlier runs into ``target`` that were killed (SIGKILL, power cut) and
    could not clean up; a leftover whose run is still alive is kept. Each removal is announced on stderr."""
    removed: list[Path] = []
    if not target.parent.is_dir():
        return removed
    for path in sorted(target.parent.glob(f".{glob_escape(target.name)}.*-*")):
        match = re.fullmatch(rf"\.{re.escape(target.name)}\.(?:tmp-(\d+)-\w+|tmp-\w+|old-(\d+))", path.name)
        if not match or not path.is_dir():
            continue
        pid = match.group(1) or match.group(2)
        if pid is not None and _alive(int(pid)):
            continue
        shutil.rmtree(path, ignore_errors=True)
        print(f"removed {path}: the unfinished output of an earlier run that was killed", file=sys.stderr)
        removed.append(path)
    return removed


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return mask


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically with Linux's renameat2(RENAME_EXCHANGE); False where unsupported."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return bool(renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0)


def _fsync_tree(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            with path.open("rb") as fh:
                os.fsync(fh.fileno())


def write_tables(folder: Path, tables: Mapping[str, pa.Table], statistics: tuple[str, ...] = ()) -> dict[str, int]:
    """Each table as NAME.parquet (zstd). Column statistics (min/max per row group) only for ``statistics``
    (the identifier: what a reader filters or joins on); for the hundred code columns of a table they cost
    30% of the write (200,000 persons' six tables: 2.1 -> 1.5 s) and no reader of a scrambled set uses them."""
    counts = {}
    for name, table in tables.items():
        pq.write_table(table, folder / f"{name}.parquet", compression="zstd",
                       write_statistics=[c for c in statistics if c in table.column_names])
        counts[name] = table.num_rows
    return counts


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")

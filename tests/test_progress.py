"""People see what happens: stage lines with their times (on a terminal and off it), help text with defaults on
every option of every command, and the documented ``dev.py lock`` command."""

from __future__ import annotations

import argparse
import io
import re
import subprocess
import sys
from pathlib import Path

from scrambler.cli.main import COMMANDS, build_parser
from scrambler.cli.progress import Progress

REPO = Path(__file__).resolve().parent.parent
STAGE = re.compile(r"^scrambler (\w+): (.+) done in (\d+\.\d) s$", re.M)


def stages(text: str, command: str) -> list[str]:
    return [name for cmd, name, _ in STAGE.findall(text) if cmd == command]


def test_population_and_check_print_one_line_per_stage_off_a_terminal(tmp_path: Path, mini_dir: Path,
                                                                       run_cli) -> None:
    out = tmp_path / "pop"
    done = run_cli("population", mini_dir, "--persons", "200", "--out", out)
    assert done.returncode == 0, done.stderr
    assert stages(done.stderr, "population") == ["generate", "write and check"]
    assert "\r" not in done.stderr and "step/s" not in done.stderr  # no bar when stderr is a pipe
    assert not STAGE.search(done.stdout)  # stdout stays for the result
    checked = run_cli("check", mini_dir, out, "--json")
    assert checked.returncode == 0, checked.stderr
    assert stages(checked.stderr, "check") == ["check"]
    assert checked.stdout.lstrip().startswith("{")  # --json output is not mixed with progress


def test_export_prints_a_stage_per_format(tmp_path: Path, mini_dir: Path, run_cli) -> None:
    pop = tmp_path / "pop"
    assert run_cli("population", mini_dir, "--persons", "100", "--out", pop).returncode == 0
    done = run_cli("export", pop, "--spec", mini_dir, "--format", "csv,stata", "--out", tmp_path / "x")
    assert done.returncode == 0, done.stderr
    assert stages(done.stderr, "export") == ["read", "write csv", "write stata"]


def test_failed_stage_prints_no_done_line() -> None:
    stream = io.StringIO()
    try:
        with Progress("x", enabled=False, stream=stream) as progress, progress.stage("boom"):
            raise ValueError("stop")
    except ValueError:
        pass
    assert stream.getvalue() == ""


def test_terminal_shows_a_live_bar_then_the_stage_line() -> None:
    stream = io.StringIO()
    with Progress("population", enabled=True, stream=stream) as progress, progress.stage("generate"):
        for t in range(1, 5):
            progress.update("population", t, 4)
    text = stream.getvalue()
    assert "generate: population" in text and "4/4" in text  # the bar, drawn with carriage returns
    assert text.rstrip().splitlines()[-1].endswith(" s") and "scrambler population: generate done in" in text
    assert progress.times["generate"] >= 0


def test_every_option_of_every_command_says_what_it_does_and_its_default() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(sub.choices) == set(COMMANDS)
    for name, command in sub.choices.items():
        text = command.format_help()
        for action in command._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            label = action.option_strings[0] if action.option_strings else action.dest
            assert action.help, f"scrambler {name} {label} has no help text"
            if action.option_strings and action.default not in (None, False, argparse.SUPPRESS):
                formatted = command._get_formatter()._expand_help(action)  # what --help prints for it
                assert "default" in formatted, f"scrambler {name} {label}: default {action.default!r} not said"
        assert "(default: None)" not in text and "(default: False)" not in text


def test_help_of_a_command_shows_defaults_as_printed(run_cli) -> None:
    done = run_cli("sample", "--help")
    assert done.returncode == 0
    assert re.search(r"--persons PERSONS\s+number of whole persons drawn \(default: 10000\)", done.stdout)


def test_dev_py_lists_the_lock_command() -> None:
    done = subprocess.run([sys.executable, str(REPO / "dev.py"), "--help"], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0
    line = next(x for x in done.stdout.splitlines() if "dev.py lock" in x)
    assert "pip-constraints.txt" in line and "tests" in line

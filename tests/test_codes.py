"""The error-code catalogue (scrambler/codes.py) is complete and nothing in it is dead.

Codes reach an Issue in several ways: ``Issue("code", ...)``, ``Issue(code="code", ...)``, a reader's
``issue("code", ...)``, or an ``(code, message)`` pair handed on. The first three are found in the source by
their syntax; every Issue made while the suite runs is also checked (conftest sets SCRAMBLER_STRICT_CODES, so an
uncatalogued code fails the test that raises it, wherever it comes from).
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from scrambler.codes import CATALOGUE, MEANINGS, Code, markdown
from scrambler.errors import Issue, ScramblerError

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "scrambler"
SLUG = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
CALLS = {"Issue", "issue", "_issue"}


def _strings(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return _strings(node.body) + _strings(node.orelse)
    return []


def raised_codes() -> dict[str, str]:
    """code -> first place, for every code written as an Issue's code in scrambler/."""
    found: dict[str, str] = {}
    for path in sorted(SOURCE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            candidates: list[str] = []
            if isinstance(node, ast.Call):
                func = node.func
                name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
                if name in CALLS and node.args:
                    candidates += _strings(node.args[0])
                for keyword in node.keywords:
                    if keyword.arg == "code":
                        candidates += _strings(keyword.value)
            elif isinstance(node, ast.Tuple) and len(node.elts) == 2 and isinstance(node.elts[1], ast.JoinedStr):
                # (code, f"message") pairs handed on to an Issue later (the export name rules)
                candidates += [s for s in _strings(node.elts[0]) if SLUG.fullmatch(s) and "-" in s]
            for code in candidates:
                found.setdefault(code, f"{path.relative_to(ROOT)}:{node.lineno}")  # type: ignore[attr-defined]
    return found


def test_every_code_raised_is_catalogued() -> None:
    missing = {code: where for code, where in raised_codes().items() if code not in MEANINGS}
    assert missing == {}, f"add these to scrambler/codes.py: {missing}"


def test_every_catalogued_code_is_raised_somewhere() -> None:
    text = "\n".join(p.read_text(encoding="utf-8") for p in SOURCE.rglob("*.py") if p.name != "codes.py")
    dead = [c for c in MEANINGS if f'"{c}"' not in text and f"[{c}]" not in text]
    assert dead == [], f"catalogued but never raised: {dead}"


def test_catalogue_lists_each_code_once_with_a_meaning() -> None:
    codes = [code for entries in CATALOGUE.values() for code, _ in entries]
    assert len(codes) == len(set(codes)), sorted(c for c in codes if codes.count(c) > 1)
    assert all(SLUG.fullmatch(c) for c in codes)
    assert all(m.strip() and "\n" not in m for m in MEANINGS.values())
    assert Code("bad-argument") == "bad-argument" and Code.BAD_ARGUMENT == "bad-argument"


def test_docs_page_is_generated_from_the_catalogue() -> None:
    page = (ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
    assert page == markdown(), "regenerate: python -m scrambler.codes > docs/errors.md"
    printed = subprocess.run([sys.executable, "-m", "scrambler.codes"], capture_output=True, text=True,
                             cwd=ROOT, check=True).stdout
    assert printed == page


def test_an_uncatalogued_code_fails_in_strict_mode_and_a_bare_message_is_refused() -> None:
    assert os.environ.get("SCRAMBLER_STRICT_CODES"), "conftest sets strict mode for the whole suite"
    with pytest.raises(ValueError, match="not in scrambler/codes.py"):
        Issue(code="no-such-code", message="x")
    with pytest.raises(TypeError):
        ScramblerError("a message without a code")  # type: ignore[arg-type]
    assert str(ScramblerError([Issue(code="bad-argument", message="m")])) == "[bad-argument] m"

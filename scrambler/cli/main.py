"""The ``scrambler`` command: a thin layer over the library.

Each command lives in its own module under ``scrambler.cli`` and exposes ``register(subparsers)``, which adds
its sub-parser and sets ``func`` to a function ``(args) -> int`` (the exit code). Errors raised on purpose
(:class:`scrambler.errors.ScramblerError`) are printed to stderr without a traceback and give exit 1.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from scrambler.errors import ScramblerError

COMMANDS = ["validate", "check", "population", "sample", "scramble", "demo", "report", "export", "smallcell"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scrambler", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"scrambler.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"scrambler.cli.{name}":
                continue  # command not built yet
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args))
    except ScramblerError as exc:
        print(f"scrambler {args.command}: error", file=sys.stderr)
        print(str(exc), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"scrambler {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

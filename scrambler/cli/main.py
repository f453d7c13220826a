"""The ``scrambler`` command: a thin layer over the library.

Each command lives in its own module under ``scrambler.cli`` and exposes ``register(subparsers)``, which adds
its sub-parser and sets ``func`` to a function ``(args) -> int`` (the exit code). Errors raised on purpose
(:class:`scrambler.errors.ScramblerError`) are printed to stderr without a traceback and give exit 1.
"""

from __future__ import annotations

import _thread
import argparse
import errno
import importlib
import os
import signal
import sys
import threading
import types

from scrambler.cli.arguments import check_arguments
from scrambler.errors import ScramblerError

COMMANDS = {
    "validate": "check a dataset specification",
    "check": "check a dataset against a spec",
    "population": "generate a synthetic stand-in population",
    "sample": "draw the phase-1 sample of whole persons",
    "scramble": "make the scrambled dataset",
    "demo": "run the whole story on the embedded default dataset",
    "report": "regenerate the internal and shareable reports of a run",
    "export": "write a dataset in researchers' formats",
    "smallcell": "check aggregated tables for small cells",
    "draft": "draft a spec from a dataset folder",
    "import": "convert an extract (CSV, Stata, SPSS, SAS, PostgreSQL) into the canonical Parquet folder",
}
#: commands whose module name differs (``import`` is a Python keyword)
MODULES = {"import": "import_data"}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``only``, just that command's module is imported (a CLI call should not pay for
    pandas, SDV or the report stack it does not use), the others are listed by name."""
    parser = argparse.ArgumentParser(prog="scrambler", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, text in COMMANDS.items():
        if only is not None and name != only:
            sub.add_parser(name, help=text)
            continue
        importlib.import_module(f"scrambler.cli.{MODULES.get(name, name)}").register(sub)
    for command in sub.choices.values():
        command.formatter_class = _WithDefaults
    return parser


class _WithDefaults(argparse.RawDescriptionHelpFormatter):
    """Every option's help ends with its default, unless the text already names it (so no command can
    forget to say it); the description keeps its line breaks."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if "default" in text or default in (None, False, argparse.SUPPRESS) or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"


#: how long after a lost Ctrl-C it is asked for again (see _Interrupts.unraisable)
REPEAT_INTERRUPT_S = 0.05


class _Interrupts:
    """Remembers that Ctrl-C (SIGINT) arrived. Python raises KeyboardInterrupt at the next bytecode, but a few
    C routines (numpy's string functions among them) turn an exception raised inside them into their own
    TypeError or ValueError; the flag lets :func:`main` still report such a run as interrupted, not crashed."""

    seen = False

    @classmethod
    def handler(cls, signum: int, frame: types.FrameType | None) -> None:
        cls.seen = True
        raise KeyboardInterrupt

    @staticmethod
    def unraisable(info: sys.UnraisableHookArgs) -> None:
        """Python's hook for an exception it cannot raise (one in a weakref callback or a ``__del__``, such as
        importlib's module-lock callback). Ctrl-C landing there was printed as a traceback and lost: the run
        went on and published (test_atomic's random kills caught it). The interrupt is asked for again, from a
        timer thread a moment later: asked for here, Python raised it inside this hook, which is ignored too.
        The main thread then stops as on any Ctrl-C."""
        if info.exc_type is not None and issubclass(info.exc_type, KeyboardInterrupt):
            again = threading.Timer(REPEAT_INTERRUPT_S, _thread.interrupt_main)
            again.daemon = True
            again.start()
            return
        sys.__unraisablehook__(info)


POOL = "ARROW_DEFAULT_MEMORY_POOL"  #: the environment variable naming pyarrow's memory pool


def _address_space_capped() -> bool:
    try:
        import resource

        return resource.getrlimit(resource.RLIMIT_AS)[0] != resource.RLIM_INFINITY
    except (ImportError, OSError, ValueError):
        return False


def main(argv: list[str] | None = None) -> int:
    # Arrow's default pool (mimalloc) keeps freed table buffers for reuse and does not give them back; a run
    # decodes tables one at a time into numpy arrays, so it never reuses them. jemalloc returns them about as
    # fast as mimalloc reads and writes (1 million persons: RSS after reading 1.44 GB with mimalloc, 1.02 GB
    # with jemalloc; the system allocator is as lean but 15% slower). Linux wheels of pyarrow carry jemalloc.
    # Set before pyarrow is imported; a value the user set wins. Dask workers inherit it.
    # Under a capped address space (ulimit -v), the system allocator whatever the environment says (a value
    # inherited from an uncapped parent too): jemalloc's reservations, beside each thread's, made a 50-person
    # run die now and then under a 1 GB cap (a thread's stack or arena not mapped).
    # An in-process caller (a notebook, the tests) gets its environment back when the run ends; the processes
    # the run starts (dask workers) have inherited the choice by then.
    pool_before = os.environ.get(POOL)
    if _address_space_capped():
        os.environ[POOL] = "system"
    os.environ.setdefault(POOL, "jemalloc" if sys.platform == "linux" else "system")
    try:
        return _main(argv)
    finally:
        if pool_before is None:
            os.environ.pop(POOL, None)
        else:
            os.environ[POOL] = pool_before


def _main(argv: list[str] | None) -> int:
    args_list = sys.argv[1:] if argv is None else argv
    chosen = next((a for a in args_list if not a.startswith("-")), None)
    parser = build_parser(chosen if chosen in COMMANDS else None)
    args = parser.parse_args(args_list)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    own = signal.getsignal(signal.SIGINT) is signal.default_int_handler  # not when embedded with its own handler
    hook = sys.unraisablehook
    if own:
        signal.signal(signal.SIGINT, _Interrupts.handler)
        sys.unraisablehook = _Interrupts.unraisable
    try:
        return _run(args)
    finally:
        if own:  # called in-process (tests, notebooks): leave Ctrl-C as it was found
            signal.signal(signal.SIGINT, signal.default_int_handler)
            sys.unraisablehook = hook
        if argv is None and "scrambler.reports.workers" in sys.modules:
            # the command line (not an in-process caller, who may build more reports): end the report worker
            # now rather than wait for its slow graceful exit at interpreter shutdown
            sys.modules["scrambler.reports.workers"].release()


def _run(args: argparse.Namespace) -> int:
    try:
        check_arguments(args)
        return int(args.func(args))
    except ScramblerError as exc:
        print(f"scrambler {args.command}: error", file=sys.stderr)
        print(str(exc), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"scrambler {args.command}: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        # raised before anything was moved into place: atomic_folder removed the unfinished output
        print(f"scrambler {args.command}: error\n[out-of-memory] the run ran out of memory and stopped; nothing "
              "was written. Use fewer persons, --engine dask for scramble, or a machine with more memory",
              file=sys.stderr)
        return 1
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        print(f"scrambler {args.command}: error\n[disk-full] no space left on the device"
              f"{f' writing {exc.filename}' if exc.filename else ''}; the unfinished output was removed and "
              "nothing was published. Free some space or choose another --out", file=sys.stderr)
        return 1
    except Exception:
        if not _Interrupts.seen:
            raise
        # Output folders are written through atomic_folder, whose clean-up has run by now whatever the
        # exception: the target holds the old output or nothing.
        print(f"scrambler {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""Ctrl-C that lands where Python cannot raise it (a ``__del__`` or weakref callback, as importlib's module-lock
callback during an import) must still stop the run, without a traceback: test_atomic's random kills once saw it
printed as "Exception ignored" and the run go on to publish."""

from __future__ import annotations

import signal
import sys
import time

import pytest

from scrambler.cli.main import _Interrupts


class _Dying:
    def __del__(self) -> None:
        raise KeyboardInterrupt  # what our SIGINT handler does, at a moment Python cannot raise it


def _work() -> int:
    return 1


def test_ctrl_c_inside_a_finaliser_is_raised_again_not_printed(capsys: pytest.CaptureFixture[str]) -> None:
    handler, hook = signal.getsignal(signal.SIGINT), sys.unraisablehook
    signal.signal(signal.SIGINT, _Interrupts.handler)
    sys.unraisablehook = _Interrupts.unraisable
    start = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            dying = _Dying()
            del dying  # the interrupt is "ignored" here by Python
            while time.monotonic() - start < 5:
                _work()
                time.sleep(0.001)
    finally:
        signal.signal(signal.SIGINT, handler)
        sys.unraisablehook = hook
    assert time.monotonic() - start < 1  # stopped a moment after, in the main flow
    assert "Traceback" not in capsys.readouterr().err


def test_other_unraisable_errors_still_reach_the_default_hook(capsys: pytest.CaptureFixture[str]) -> None:
    class Broken:
        def __del__(self) -> None:
            raise ValueError("a bug in a finaliser")

    hook = sys.unraisablehook
    sys.unraisablehook = _Interrupts.unraisable
    try:
        broken = Broken()
        del broken
    finally:
        sys.unraisablehook = hook
    assert "a bug in a finaliser" in capsys.readouterr().err

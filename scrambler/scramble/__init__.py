"""The scrambling engine: deliberation 24/130's third dataset."""

from scrambler.scramble.pipeline import ScrambleResult, scramble

__all__ = ["ScrambleResult", "scramble"]

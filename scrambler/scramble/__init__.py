"""The scrambling engine: the scrambled third dataset of a deliberation, from any spec."""

from scrambler.scramble.pipeline import ScrambleResult, scramble

__all__ = ["ScrambleResult", "scramble"]

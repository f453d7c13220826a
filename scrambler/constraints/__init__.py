"""Runtime of the constraints: merged per-variable domains and one module per relation kind.

Each relation kind compiles its specification object into a :class:`~scrambler.constraints.base.CompiledRule`
that answers, vectorised over rows, ``is_valid(frame)`` (one boolean per row), and helps the sampler draw
valid values by construction (``candidate_mask`` for codes, ``bounds`` for numbers).
"""

from scrambler.constraints.base import CompiledRule, Frame, compile_rules

__all__ = ["CompiledRule", "Frame", "compile_rules"]

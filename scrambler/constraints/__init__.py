"""Runtime of the constraints: merged per-variable domains and one module per relation kind.

Each kind module registers a :class:`~scrambler.constraints.registry.RuleKind` (parser, checks, recode
signature, runtime, docs snippet); the stages find kinds through the registry only. Each relation kind compiles its specification object into a :class:`~scrambler.constraints.base.CompiledRule`
that answers, vectorised over rows, ``is_valid(frame)`` (one boolean per row), and helps the sampler draw
valid values by construction (``candidate_mask`` for codes, ``bounds`` for numbers).
"""

from scrambler.constraints.base import CompiledRule, Frame
from scrambler.constraints.registry import compile_rules

__all__ = ["CompiledRule", "Frame", "compile_rules"]

"""The one constrained sampler, shared by the stand-in population generator and the scrambler."""

from scrambler.sampling.models import VariableModel
from scrambler.sampling.sampler import Proposals, Sampler

__all__ = ["Proposals", "Sampler", "VariableModel"]

"""Specification objects (frozen, no pandas state) and the loader that builds them from YAML and CSV."""

from scrambler.spec.load import load_spec
from scrambler.spec.model import Codelist, DatasetSpec, Variable

__all__ = ["Codelist", "DatasetSpec", "Variable", "load_spec"]

"""scrambler: constraint-driven scrambled development datasets."""

from scrambler.errors import (
    DataError,
    Issue,
    OutputExistsError,
    ScramblerError,
    SpecError,
    UnsatisfiableError,
)

__all__ = ["DataError", "Issue", "OutputExistsError", "ScramblerError", "SpecError", "UnsatisfiableError"]
__version__ = "0.1.0"

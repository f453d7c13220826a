"""Report settings: the small-cell threshold and the sizes of the sampled checks."""

from __future__ import annotations

from dataclasses import dataclass

SMALL_CELL = 5


@dataclass(frozen=True)
class ReportSettings:
    """How the reports are computed.

    ``small_cell``: no input count below it is shown in the shareable report (and no scrambled count either,
    since a scrambled count can echo the input's); ``rows``: rows sampled per dataset for the fidelity and
    anonymeter checks; ``n_attacks``: anonymeter attacks (singling out uses ``singling_out_attacks``, its
    multivariate query search being the slow part, capped at ``singling_out_attempts`` tries); ``distance_rows`` / ``distance_reference``: scrambled
    rows whose closest input record is searched, and the input records searched.
    """

    small_cell: int = SMALL_CELL
    rows: int = 2000
    n_attacks: int = 500
    singling_out_attacks: int = 200
    singling_out_attempts: int = 50_000
    distance_rows: int = 1000
    distance_reference: int = 20_000
    seed: int = 0
    privacy_attacks: bool = True
    fidelity: bool = True

    def __post_init__(self) -> None:
        from scrambler.errors import Issue, ScramblerError

        bad = [f"{name}={value}" for name, value in (("small_cell", self.small_cell), ("rows", self.rows),
                                                     ("n_attacks", self.n_attacks),
                                                     ("distance_rows", self.distance_rows)) if value < 1]
        if bad:
            raise ScramblerError([Issue(code="bad-argument", message=f"report settings must be at least 1 (got "
                                        f"{', '.join(bad)})")])

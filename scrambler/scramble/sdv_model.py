"""The `model` method: an SDV GaussianCopulaSynthesizer fitted on a block of related variables.

SDV (BUSL-1.1) and torch are imported here only, lazily, so ``check`` and ``validate`` start fast. The model's
samples are proposals: the sampler keeps them where the rules allow and draws inside the constraints
elsewhere - the model never decides validity.
"""

from __future__ import annotations

import warnings

import numpy as np

from scrambler.panel import Panel
from scrambler.scramble.plan import Block
from scrambler.spec.model import DatasetSpec

FIT_ROWS = 20_000
SAMPLE_CAP = 50_000


class ModelSampler:
    def __init__(self, spec: DatasetSpec, source: Panel, seed: int) -> None:
        self.spec, self.source, self.seed = spec, source, seed
        self.fitted: dict[str, object] = {}

    def _frame(self, block: Block, rng: np.random.Generator):  # type: ignore[no-untyped-def]
        import pandas as pd

        src = self.source
        parts = []
        for t in range(len(src.periods)):
            rows = np.nonzero(src.present[t])[0]
            parts.append(pd.DataFrame({v: src.values(v, t)[rows] for v in block.variables}))
        frame = pd.concat(parts, ignore_index=True)
        if len(frame) > FIT_ROWS:
            frame = frame.iloc[rng.choice(len(frame), FIT_ROWS, replace=False)].reset_index(drop=True)
        for v in block.variables:
            if self.spec.variables[v].is_categorical:
                frame[v] = frame[v].astype("int64").astype(str)  # codes as labels; -1 = null
        return frame

    def __call__(self, block: Block, t: int, n: int) -> dict[str, np.ndarray]:
        from sdv.metadata import Metadata
        from sdv.single_table import GaussianCopulaSynthesizer

        rng = np.random.default_rng(np.random.SeedSequence([self.seed, t, len(block.name)]))
        if block.name not in self.fitted:
            frame = self._frame(block, rng)
            with warnings.catch_warnings():  # SDV's advice to save detected metadata: it is rebuilt each run
                warnings.filterwarnings("ignore", message=".*save_to_json.*")
                metadata = Metadata.detect_from_dataframes({"block": frame})
                for v in block.variables:
                    sdtype = "categorical" if self.spec.variables[v].is_categorical else "numerical"
                    metadata.update_column(column_name=v, sdtype=sdtype, table_name="block")
                synth = GaussianCopulaSynthesizer(metadata, enforce_min_max_values=True)
                synth.fit({"block": frame})
            self.fitted[block.name] = synth
        synth = self.fitted[block.name]
        # SDV samples ~24k rows/s: at full scale (millions of rows per period) draw a capped number of model
        # rows and resample them - the same joint distribution at a bounded cost
        drawn = min(n, SAMPLE_CAP)
        sample = synth.sample(num_rows=drawn)  # type: ignore[attr-defined]
        if isinstance(sample, dict):  # SDV 2.0 returns {table: frame}
            sample = sample["block"]
        if drawn < n:
            sample = sample.iloc[rng.integers(0, drawn, size=n)].reset_index(drop=True)
        out: dict[str, np.ndarray] = {}
        for v in block.variables:
            if self.spec.variables[v].is_categorical:
                out[v] = sample[v].astype("int64").to_numpy().astype(np.int16)
            else:
                out[v] = sample[v].to_numpy(dtype=float)
        return out

"""write_checked(hand_over=True), what ``scrambler scramble`` runs: the scrambled panel's arrays are dropped
once its tables are written, and the panel then holds what the independent check decoded from the files.
The reports read it, so it must equal the panel that was written on every cell a table shows."""

from __future__ import annotations

import json
import weakref
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from scrambler import check as check_module
from scrambler import datasets
from scrambler.datasets import read_dataset, write_checked, write_dataset
from scrambler.panel import differs
from scrambler.population import generate_population
from scrambler.scramble import scramble
from scrambler.scramble.pipeline import LABEL
from scrambler.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("spec_dir", [ROOT / "constraints" / "arbeidsreserve-24-130",
                                      ROOT / "tests" / "corpus" / "psid-cornwell-rupert"])
def test_handed_over_panel_holds_what_was_written(tmp_path: Path, spec_dir: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    spec = load_spec(spec_dir)
    # 3,000 -> 2,500 persons: 24/130's every category fits in 2,500 with fewer coverage redraws than in 1,200
    # (5.7 s against 11-12 s for the scramble here)
    write_dataset(generate_population(spec, 3_000, seed=4), tmp_path / "in", {"kind": "population"}, "stand-in")
    result = scramble(spec, read_dataset(spec, tmp_path / "in"), 2_500, seed=4, check=False)
    panel = result.panel
    before = panel.subset(np.arange(panel.n))  # a copy of every array
    written = [weakref.ref(a) for a in [*panel.static.values(), *panel.periodic.values()]]

    # the point of handing over: the written arrays are freed before the check decodes the files again
    alive_at_check: list[int] = []

    def spy(*args: Any) -> Any:
        alive_at_check.append(sum(ref() is not None for ref in written))
        return check_module.checked(*args)

    monkeypatch.setattr(datasets, "checked", spy)
    counts, report = write_checked(panel, tmp_path / "out", result.manifest(4, "test"), LABEL, hand_over=True)

    assert report.ok and report.persons == before.n
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["persons"] == before.n
    assert written and alive_at_check == [0]
    assert all(ref() is None for ref in written)
    assert sorted(panel.static) == sorted(before.static) and sorted(panel.periodic) == sorted(before.periodic)
    # the same persons; align by identifier, whatever order the check decoded them in
    assert np.array_equal(np.sort(panel.ids), np.sort(before.ids))
    here, there = np.argsort(panel.ids), np.argsort(before.ids)
    assert np.array_equal(panel.present[:, here], before.present[:, there])
    for name, values in before.static.items():
        assert not differs(panel.static[name][here], values[there]).any(), name
    shown = 0
    for name, values in before.periodic.items():
        seen = before.is_observed(name, 0) is not None
        for t in range(len(before.periods)):
            mask = before.present[t][there]
            if seen:
                mask &= before.is_observed(name, t)[there]  # type: ignore[index]
            got, want = panel.periodic[name][t][here], values[t][there]
            assert not differs(got[mask], want[mask]).any(), (name, t)
            shown += int(mask.sum())
    assert shown > 0
    # and the decoded panel checks clean on its own (the reports read it)
    assert check_module.check(spec, panel).ok
    assert sum(counts.values()) > 0

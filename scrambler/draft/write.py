"""Writing a draft spec folder: dataset.yaml, variables.yaml, rules.yaml, code lists and rule tables. Every
``source`` is ``TODO``: only a person who has read the deliberation can name the clause that authorises a
variable or a rule, and ``validate`` refuses the draft until they have."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import yaml

from scrambler.draft.layout import Layout
from scrambler.draft.rules import DraftRule
from scrambler.draft.variables import TIME_GRAIN, DraftVariable
from scrambler.output import MANIFEST, atomic_folder, write_json
from scrambler.spec.time import format_period

HEADER = ("# Drafted by `scrambler draft` from {data}: every value below was inferred from the data.\n"
          "# Replace each `source: TODO` with the clause of the deliberation that authorises it (data\n"
          "# minimisation), remove what the deliberation does not authorise, then run `scrambler validate`.\n")


def _dump(path: Path, doc: dict[str, Any], data: str) -> None:
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml: a draft can hold thousands of rules
    text = yaml.dump(doc, Dumper=dumper, sort_keys=False, allow_unicode=True, width=118, default_flow_style=None)
    path.write_text(HEADER.format(data=data) + text, encoding="utf-8")


def _csv(path: Path, rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)


def _period_text(value: int, grain: str) -> Any:
    text = format_period(value, grain)
    return int(text) if grain == "year" else text


def dataset_doc(name: str, layout: Layout, presence: str, variables: dict[str, DraftVariable]) -> dict[str, Any]:
    tables = []
    lo = hi = None
    for fam in layout.families:
        periods = sorted(fam.periods)
        blocks: list[dict[str, Any]] = [{"offset": 0, "variables": list(fam.base)}]
        for suffix, (offset, names) in fam.blocks.items():
            blocks.append({"offset": offset, "suffix": suffix, "variables": names})
        offsets = [b["offset"] for b in blocks]
        first, last = periods[0] + min(offsets), periods[-1] + max(offsets)
        lo = first if lo is None else min(lo, first)
        hi = last if hi is None else max(hi, last)
        tables.append({"name": fam.template, "periods": [fam.texts[p] if layout.grain != "year" else int(fam.texts[p])
                                                          for p in periods], "blocks": blocks})
    assert lo is not None and hi is not None
    return {
        "name": name, "title": f"Draft spec of {name}", "deliberation": "TODO",
        "identifier": layout.identifier,
        "panel": {"grain": layout.grain, "start": _period_text(lo, layout.grain),
                  "end": _period_text(hi, layout.grain), "reference_month": 12, "presence": presence},
        "tables": tables,
    }


def variable_doc(var: DraftVariable, label: str | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {"name": var.name, "type": var.type}
    if var.type in ("categorical", "ordinal"):
        doc["codelist"] = var.name
    if var.timing == "static":
        doc["timing"] = "static"
    if var.scope == "always":
        doc["scope"] = "always"
    doc["label"] = {"en": label or var.name.replace("_", " ").capitalize()}
    doc["source"] = "TODO"
    constraints: dict[str, Any] = {}
    if var.required:
        constraints["required"] = True
    if var.type == "identifier":
        constraints = {"required": True, "unique": True}
    if var.minimum is not None and (var.type in ("integer", "decimal") or var.type in TIME_GRAIN):
        constraints["minimum"], constraints["maximum"] = var.minimum, var.maximum
    if constraints:
        doc["constraints"] = constraints
    if var.type == "decimal":
        doc["decimals"] = var.decimals
    return doc


def write_spec(out: str | Path, name: str, settings: dict[str, Any], layout: Layout, presence: str,
               variables: dict[str, DraftVariable], rules: list[DraftRule], force: bool) -> None:
    """Write the spec atomically, with a manifest of how it was drafted (so that --force may replace it)."""
    data = str(settings["data"])
    with atomic_folder(out, force=force) as tmp:
        write_json(tmp / MANIFEST, settings)
        _dump(tmp / "dataset.yaml", dataset_doc(name, layout, presence, variables), data)
        ident = {"name": layout.identifier, "type": "identifier", "timing": "static",
                 "label": {"en": "Person identifier"}, "source": "TODO",
                 "constraints": {"required": True, "unique": True}}
        _dump(tmp / "variables.yaml", {"variables": [ident, *(variable_doc(v, layout.labels.get(v.name)) for v in variables.values())]},
              data)
        _dump(tmp / "rules.yaml", {"rules": [r.as_yaml() for r in rules]}, data)
        for var in variables.values():
            if var.type in ("categorical", "ordinal"):
                texts = layout.value_labels.get(var.name, {})  # labels the files carry, else the code itself
                _csv(tmp / "codelists" / f"{var.name}.csv",
                     [["code", "label_en"], *([c, texts.get(c, c)] for c in var.codes or [])])
        for rule in rules:
            for rel, rows in rule.files.items():
                _csv(tmp / rel, rows)

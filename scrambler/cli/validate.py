"""``scrambler validate SPEC_DIR``: report every problem of a spec in one go."""

from __future__ import annotations

import argparse
import json

from scrambler.codebook import require_exportable
from scrambler.formats import FORMATS
from scrambler.spec import load_spec


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("validate", help="check a dataset specification", description=__doc__)
    p.add_argument("spec", help="the spec folder, e.g. constraints/<dataset>")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    spec = load_spec(args.spec)
    # every export format must take the spec's names (variables, _code companions, value-label sets)
    require_exportable(spec, FORMATS)
    kinds: dict[str, int] = {}
    for rule in spec.rules:
        kinds[rule.kind] = kinds.get(rule.kind, 0) + 1
    tables = [name for name, _, _ in spec.table_names()]
    if args.json:
        print(json.dumps({"dataset": spec.name, "ok": True, "variables": len(spec.variables),
                          "rules": len(spec.rules), "rule_kinds": kinds, "tables": tables,
                          "fingerprint": spec.fingerprint}, indent=2))
    else:
        kinds_text = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
        print(f"{spec.name}: valid - {len(spec.variables)} variables, {len(spec.rules)} rules ({kinds_text}), "
              f"{len(tables)} tables")
    return 0

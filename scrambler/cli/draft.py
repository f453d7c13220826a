"""``scrambler draft DATA --out SPEC_DIR``: a draft spec from a dataset folder the tool has never seen.

Every ``source`` in the draft is ``TODO``; ``validate`` refuses it until each is filled with the clause of the
deliberation that authorises it (data minimisation).
"""

from __future__ import annotations

import argparse
from collections import Counter

from scrambler.spec.time import GRAINS


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("draft", help="draft a spec from a dataset folder", description=__doc__)
    p.add_argument("data", help="a folder of tables named like name_2021.parquet (Parquet or CSV)")
    p.add_argument("--out", required=True, help="the spec folder to write (its name becomes the dataset name)")
    p.add_argument("--id", dest="identifier", help="the person identifier column (default: the first column "
                   "unique and non-null in every table)")
    p.add_argument("--grain", choices=GRAINS, help="the panel grain (default: from the table names)")
    p.add_argument("--k", type=int, default=5, help="a mined premise or allowed combination stands for at least "
                   "k persons (default 5)")
    p.add_argument("--evidence", type=float, default=5.0, help="keep a mined rule only when chance alone would "
                   "have broken it at least this many times (default 5)")
    p.add_argument("--max-codes", type=int, default=20, help="whole numbers with at most this many distinct "
                   "values become ordinal codes (default 20)")
    p.add_argument("--force", action="store_true", help="replace an existing output folder")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from scrambler.draft import draft
    from scrambler.errors import ScramblerError

    if args.k < 1 or args.max_codes < 2 or args.evidence < 0:
        raise ScramblerError("--k must be >= 1, --max-codes >= 2 and --evidence >= 0")
    result = draft(args.data, args.out, identifier=args.identifier, grain=args.grain, k=args.k,
                   evidence=args.evidence, max_codes=args.max_codes, force=args.force)
    kinds = Counter(r.kind for r in result.rules)
    types = Counter(v.type for v in result.variables.values())
    print(f"{result.name}: {result.persons} persons in {result.tables} tables ({result.grain}), identifier "
          f"{result.identifier}, presence {result.presence}")
    print(f"  {len(result.variables)} variables ({', '.join(f'{t} {n}' for t, n in sorted(types.items()))})")
    print(f"  {len(result.rules)} rules ({', '.join(f'{t} {n}' for t, n in sorted(kinds.items()))})")
    print(f"  -> {args.out}: fill in every 'source: TODO', then run scrambler validate {args.out}")
    return 0

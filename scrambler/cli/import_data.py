"""``scrambler import SPEC_DIR --from PATH --out DIR``: convert an extract once into the canonical Parquet
folder (atomic, with datapackage.json and manifest.json), refusing data that break the spec.

PATH is a folder of table files named after the spec's tables (.parquet, .csv, .csv.gz, .dta, .sav,
.sas7bdat, .xpt), or a PostgreSQL URL (postgresql://user@host:port/db) with --map naming each table's SQL
table or query (docs/bring-your-own-data.md)."""

from __future__ import annotations

import argparse

from scrambler.spec import load_spec


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("import", help="convert an extract into the canonical Parquet folder", description=__doc__)
    p.add_argument("spec", help="the spec folder")
    p.add_argument("--from", dest="source", required=True, metavar="PATH",
                   help="a folder of table files, or a postgresql:// URL")
    p.add_argument("--out", required=True, help="the Parquet folder to write")
    p.add_argument("--map", dest="mapping", metavar="YAML",
                   help="with a database URL: spec table -> SQL table or query (default: same names)")
    p.add_argument("--force", action="store_true", help="replace an existing output folder")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from scrambler.importer import import_dataset

    spec = load_spec(args.spec)
    manifest = import_dataset(spec, args.source, args.out, args.mapping, force=args.force)
    rows = sum(manifest["rows"].values())
    print(f"{spec.name}: imported {len(manifest['rows'])} tables, {rows} rows, {manifest['persons']} persons -> "
          f"{args.out}; check passed ({manifest['verified']['rules']} rules, 0 violations)")
    return 0

"""``scrambler smallcell TABLE``: check an aggregated output table for small and recoverable cells.

Exit 1 when a finding is disclosive (a published count below the threshold, a suppressed cell that can
be derived and is small, a small group left by a difference); exit 0 otherwise, with a one-line summary.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from scrambler.errors import Issue, ScramblerError
from scrambler.smallcell import (
    CODES,
    DEFAULT_SUPPRESSED_MARKERS,
    DEFAULT_THRESHOLD,
    DEFAULT_TOTAL_LABELS,
    SmallCellReport,
    check_table,
    load_table,
)

SHOWN = 20


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "smallcell", help="find small cells and cells recoverable from margins in an output table",
        description=__doc__.splitlines()[0].split(": ", 1)[1])
    p.add_argument("table", help="long table (.csv/.tsv/.txt or .parquet): dimension columns + a count column")
    p.add_argument("--threshold", "-k", type=int, default=DEFAULT_THRESHOLD, metavar="K",
                   help=f"smallest publishable count K; 0 < n < K is disclosive (default {DEFAULT_THRESHOLD})")
    p.add_argument("--count", metavar="COL", help="count column (default: the one named count, n, aantal, ...)")
    p.add_argument("--dim", action="append", metavar="COL",
                   help="a dimension column (repeatable; default: every column but the count)")
    p.add_argument("--total-label", action="append", metavar="LABEL",
                   help="value marking a margin row (repeatable; replaces the defaults "
                        f"{', '.join(DEFAULT_TOTAL_LABELS)}; matched case-insensitively; '' for empty)")
    p.add_argument("--suppressed-marker", action="append", metavar="TEXT",
                   help="count text marking a suppressed cell (repeatable; replaces the defaults "
                        f"{' '.join(DEFAULT_SUPPRESSED_MARKERS)}; empty cells are always suppressed)")
    p.add_argument("--include-zero", action="store_true", help="count zero cells as disclosive too")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.threshold < 1:
        raise ScramblerError([Issue("bad-threshold", f"--threshold must be at least 1, got {args.threshold}")])
    markers = args.suppressed_marker or DEFAULT_SUPPRESSED_MARKERS
    df = load_table(args.table, count_column=args.count, suppressed_markers=markers)
    report = check_table(df, threshold=args.threshold, total_labels=args.total_label or DEFAULT_TOTAL_LABELS,
                         suppressed_markers=markers, include_zero=args.include_zero, dimensions=args.dim,
                         source=args.table)
    print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) if args.json else render(report))
    return 0 if report.ok else 1


def render(report: SmallCellReport) -> str:
    """Human text: a header, the first findings (disclosive first) as a table, "+N more", a summary."""
    disclosive = sum(f.disclosive for f in report.findings)
    head = (f"{report.source}: {report.rows} rows, dimensions {', '.join(report.dimensions)}, count "
            f"{report.count_column!r}, threshold {report.threshold}, {report.suppressed} suppressed, "
            f"{report.recovered} recovered")
    if not report.findings:
        return f"OK {head}: no disclosive cell found"
    lines = [] if disclosive else [f"OK {head}: no disclosive cell found; informative findings:"]
    if disclosive:
        lines.append(f"DISCLOSIVE {head}")
    rows = [(f.code, "yes" if f.disclosive else "no", str(f.row or ""),
             ", ".join(f"{k}={v}" for k, v in f.cell.items()), "" if f.value is None else str(f.value), f.message)
            for f in report.findings[:SHOWN]]
    titles = ("code", "disclosive", "row", "cell", "value", "message")
    widths = [max(len(t), *(len(r[i]) for r in rows)) for i, t in enumerate(titles[:-1])]
    for r in [titles, *rows]:
        lines.append("  ".join(x.ljust(w) for x, w in zip(r, widths, strict=False)) + "  " + r[-1])
    if len(report.findings) > SHOWN:
        lines.append(f"+{len(report.findings) - SHOWN} more (use --json for all)")
    counts = ", ".join(f"{n} {c}" for c in CODES if (n := sum(f.code == c for f in report.findings)))
    lines.append(f"{len(report.findings)} finding(s), {disclosive} disclosive: {counts}")
    lines.extend(f"note: {n}" for n in report.notes)
    return "\n".join(lines)

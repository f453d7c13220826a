"""The constraint certificate: per rule the rows checked and the violations, from :func:`scrambler.check.check`."""

from __future__ import annotations

from typing import Any

from scrambler.check import CheckReport


def certificate(report: CheckReport) -> dict[str, Any]:
    rules = [{"rule": r.rule, "kind": r.kind, "variables": list(r.variables), "reason": r.reason,
              "checked": int(r.checked), "violations": int(r.violations)} for r in report.results]
    return {"ok": report.ok, "persons": int(report.persons), "rules": len(rules),
            "declared_rules": sum(1 for r in rules if r["kind"] not in ("domain", "presence")),
            "row_checks": sum(r["checked"] for r in rules), "violations": int(report.violations),
            "issues": [i.to_dict() for i in report.issues], "results": rules}

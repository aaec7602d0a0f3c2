"""Machine-readable output: the plan (and drift, apply) as stable, versioned JSON.

Layer 6 (render). May import: `planfile` (the one definition of the plan's JSON
shape), `changes`, stdlib. The plan JSON is the plan file without the document text;
`format_version` changes only when consumers must change.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from reconciler.access_diff import to_json as access_to_json
from reconciler.changes import ApplyResult, DriftReport, Plan
from reconciler.planfile import FORMAT_VERSION, change_to_dict, device_to_dict, plan_to_dict


def _dump(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def render_plan(plan: Plan) -> str:
    return _dump(plan_to_dict(plan, include_document=False))


def drift_to_dict(report: DriftReport) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "target": {"name": report.target, "identity": report.identity},
        "clean": report.clean,
        "error": report.error,
        "managed": report.managed,
        "base_commit": report.base_commit,
        "desired_commit": report.desired_commit,
        "out_of_band": [change_to_dict(c) for c in report.out_of_band],
        "pending": [change_to_dict(c) for c in report.pending],
        "conflicts": [change_to_dict(c) for c in report.conflicts],
        "reverts": [change_to_dict(c) for c in report.reverts],
        "device_changes": [device_to_dict(d) for d in report.device_changes],
        "warnings": list(report.warnings),
    }


def render_drift(report: DriftReport) -> str:
    return _dump(drift_to_dict(report))


def render_drift_many(reports: list[DriftReport]) -> str:
    return _dump({"format_version": FORMAT_VERSION,
                  "targets": [drift_to_dict(r) for r in reports]})


def render_apply(result: ApplyResult) -> str:
    data = asdict(result)
    data["changes"] = [change_to_dict(c) for c in result.changes]
    data["device_changes"] = [device_to_dict(d) for d in result.device_changes]
    data["format_version"] = FORMAT_VERSION
    return _dump(data)


def render_diff(changes: list[Any], base: str, head: str, access: Any = None) -> str:
    return _dump({"format_version": FORMAT_VERSION, "base": base, "head": head,
                  "resource_changes": [change_to_dict(c) for c in changes],
                  "access": access_to_json(access) if access is not None else None})

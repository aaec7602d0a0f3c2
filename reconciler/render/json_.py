"""Machine-readable output: every command's JSON as stable, versioned objects.

render/ (step: report). May import: `planfile` (the one definition of the plan's JSON
shape), `diff.access.model` (the access diff's), `changes`, stdlib. Every command's JSON
is one object in the same envelope: `format_version` first, then `command` (the command
that wrote it), then that command's own keys. The plan JSON is the plan file without the
document text; `format_version` changes only when consumers must change.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from typing import Any

from reconciler.diff.access.model import to_json as access_to_json
from reconciler.diff.changes import ApplyResult, DriftReport, Plan
from reconciler.plan.planfile import FORMAT_VERSION, change_to_dict, device_to_dict, plan_to_dict


def _dump(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def envelope(command: str, data: dict[str, Any]) -> dict[str, Any]:
    """`data` in the envelope every command's JSON shares (see the module docstring)."""
    body = {k: v for k, v in data.items() if k not in ("format_version", "command")}
    return {"format_version": FORMAT_VERSION, "command": command, **body}


def stream(command: str, key: str, chunks: Iterable[str]) -> Iterator[str]:
    """The envelope around a JSON array written in `chunks` (a large tailnet's access
    matrix has millions of rows: it is never held as one string)."""
    head = json.dumps(envelope(command, {key: None}), indent=2, ensure_ascii=False)
    yield head[: head.rindex("null")]
    yield from chunks
    yield "\n}\n"


def render(command: str, data: dict[str, Any]) -> str:
    return _dump(envelope(command, data))


def render_plan(plan: Plan, command: str = "plan") -> str:
    return render(command, plan_to_dict(plan, include_document=False))


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
    return render("drift", drift_to_dict(report))


def render_drift_many(reports: list[DriftReport]) -> str:
    return render("drift", {"targets": [drift_to_dict(r) for r in reports]})


def render_apply(result: ApplyResult) -> str:
    data = asdict(result)
    data["changes"] = [change_to_dict(c) for c in result.changes]
    data["device_changes"] = [device_to_dict(d) for d in result.device_changes]
    return render("apply", data)


def nothing_applied(plan: Plan) -> ApplyResult:
    """The apply result of a plan without changes: same shape as any apply's, nothing
    pushed, no time of apply (`applied_at` is empty)."""
    return ApplyResult(target=plan.target, etag_before=plan.prior_etag,
                       etag_after=plan.prior_etag, commit=plan.desired_commit, changes=(),
                       device_changes=(), pushed=False, applied_at="")


def render_diff(changes: list[Any], base: str, head: str, access: Any = None) -> str:
    return render("diff", {"base": base, "head": head,
                           "resource_changes": [change_to_dict(c) for c in changes],
                           "access": access_to_json(access) if access is not None else None})

"""Plan <-> JSON: the versioned, self-contained plan file, and the stable JSON plan format.

Layer 3. May import: `changes`, `errors`, `source`, and `access_diff` (its JSON form).
A plan file holds everything `apply` needs (the exact document to push, the prior ETag
and fingerprint, device-tag changes) and everything a reviewer needs (resource changes,
drift, test results, access changes). It never holds a credential: nothing in a `Plan`
is one, and backend identities carry no secrets.
Files are written atomically (a temporary file in the same directory, then
`os.replace`), so a crash never leaves half a plan that a later apply could read.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from reconciler import redact
from reconciler.access_diff import to_json as access_to_json
from reconciler.access_diff.model import AccessChange, AccessDiff, RuleRef
from reconciler.changes import (
    Action,
    DeviceTagChange,
    FieldChange,
    Message,
    Origin,
    Plan,
    ResourceChange,
    TestFailure,
    TestResults,
)
from reconciler.errors import PlanFileError, UnsupportedPlanFormat
from reconciler.source import Location

FORMAT_VERSION = "1.0"
KIND = "reconciler-plan"


def _field(f: FieldChange) -> dict[str, Any]:
    if f.is_set:
        return {"field": f.field, "added": list(f.added), "removed": list(f.removed),
                "unchanged": f.unchanged}
    return {"field": f.field, "before": f.before, "after": f.after}


def change_to_dict(c: ResourceChange) -> dict[str, Any]:
    return {
        "address": c.address, "section": c.section, "key": c.key,
        "actions": [c.action.value], "origin": c.origin.value,
        "before": c.before, "after": c.after,
        "fields": [_field(f) for f in c.fields], "unchanged_fields": c.unchanged_fields,
        "reason": c.reason, "location": c.location,
    }


def device_to_dict(d: DeviceTagChange) -> dict[str, Any]:
    return {"address": d.address, "device": d.device, "device_id": d.device_id,
            "actions": ["update"], "before": list(d.before), "after": list(d.after),
            "origin": d.origin.value, "location": d.location}


def tests_to_dict(t: TestResults) -> dict[str, Any]:
    out = asdict(t)
    out["failures"] = [asdict(f) for f in t.failures]
    out["server_failures"] = list(t.server_failures)
    out["ok"] = t.ok
    return out


def plan_to_dict(plan: Plan, *, include_document: bool = True) -> dict[str, Any]:
    """The plan as JSON-ready data; `resource_changes[].actions` is a list (scan for
    "delete" to catch every destructive change, as with Terraform's JSON plan)."""
    add, change, destroy = plan.counts()
    out: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "kind": KIND,
        "tool_version": plan.tool_version,
        "created_at": plan.created_at,
        "target": {"name": plan.target, "identity": plan.identity},
        "desired": {"commit": plan.desired_commit, "dirty": plan.desired_dirty,
                    "fingerprint": plan.document_fingerprint},
        "prior": {"etag": plan.prior_etag, "fingerprint": plan.prior_fingerprint,
                  "managed": plan.managed, "adoptable": plan.adoptable,
                  "base_commit": plan.base_commit},
        "resource_drift": [change_to_dict(c) for c in plan.drift],
        "resource_changes": [change_to_dict(c) for c in plan.changes],
        "device_changes": [device_to_dict(d) for d in plan.device_changes],
        "tests": tests_to_dict(plan.tests),
        "messages": [asdict(m) for m in plan.messages],
        "summary": {"add": add, "change": change, "destroy": destroy},
        "applyable": plan.applyable,
        "errored": plan.errored,
        "access": access_to_json(plan.access) if plan.access is not None else None,
    }
    if include_document:
        out["document"] = plan.document
    return out


def _change(d: dict[str, Any]) -> ResourceChange:
    fields = []
    for f in d.get("fields") or []:
        if "added" in f:
            fields.append(FieldChange(f["field"], added=tuple(f["added"]),
                                      removed=tuple(f["removed"]),
                                      unchanged=int(f.get("unchanged", 0)), is_set=True))
        else:
            fields.append(FieldChange(f["field"], before=f.get("before"), after=f.get("after")))
    return ResourceChange(
        address=d["address"], section=d["section"], key=d["key"],
        action=Action(d["actions"][0]), before=d.get("before"), after=d.get("after"),
        fields=tuple(fields), origin=Origin(d.get("origin", "pending")),
        reason=d.get("reason") or "", location=d.get("location"),
        unchanged_fields=int(d.get("unchanged_fields", 0)),
    )


def plan_from_dict(data: dict[str, Any]) -> Plan:
    """The inverse of `plan_to_dict`; a wrong kind or version is UnsupportedPlanFormat."""
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise UnsupportedPlanFormat(
            "not a reconciler plan file",
            "Make a plan with `reconciler plan -o FILE` and apply that file.")
    version = str(data.get("format_version", ""))
    if version.split(".")[0] != FORMAT_VERSION.split(".")[0]:
        raise UnsupportedPlanFormat(
            f"unsupported plan format version {version!r} (this reconciler reads "
            f"{FORMAT_VERSION})",
            "Plan again with this version of reconciler, then apply the new plan.")
    try:
        t = data["tests"]
        tests = TestResults(
            passed=t["passed"], failed=t["failed"], invalid=t["invalid"],
            failures=tuple(TestFailure(f["message"], f.get("location"), f.get("invalid", False))
                           for f in t["failures"]),
            inventory=t.get("inventory", ""), server_checked=t.get("server_checked", False),
            server_ok=t.get("server_ok", True), server_message=t.get("server_message", ""),
            server_failures=tuple(t.get("server_failures") or ()))
        plan = Plan(
            target=data["target"]["name"], identity=data["target"]["identity"],
            desired_commit=data["desired"]["commit"], desired_dirty=data["desired"]["dirty"],
            prior_etag=data["prior"]["etag"], prior_fingerprint=data["prior"]["fingerprint"],
            document=data["document"], document_fingerprint=data["desired"]["fingerprint"],
            changes=[_change(c) for c in data["resource_changes"]],
            drift=[_change(c) for c in data["resource_drift"]],
            device_changes=[DeviceTagChange(
                d["device"], d["device_id"], tuple(d["before"]), tuple(d["after"]),
                Origin(d.get("origin", "pending")), d.get("location"))
                for d in data["device_changes"]],
            tests=tests,
            messages=[Message(m["severity"], m["text"], m.get("location"))
                      for m in data.get("messages") or []],
            managed=data["prior"]["managed"], adoptable=data["prior"].get("adoptable", False),
            base_commit=data["prior"].get("base_commit"),
            created_at=data.get("created_at", ""), tool_version=data.get("tool_version", ""),
            applyable=bool(data["applyable"]), errored=bool(data.get("errored", False)),
            access=access_from_dict(data.get("access")),
        )
    except (KeyError, TypeError, ValueError, IndexError) as e:
        raise PlanFileError(
            f"the plan file is incomplete or damaged ({type(e).__name__}: {e})",
            "Make a new plan with `reconciler plan -o FILE`.") from e
    return plan


_RULE_PART = re.compile(r"\[(\d+)\]|\.?([^.\[\]]+)")


def _rule_ref(data: dict[str, Any]) -> RuleRef:
    """A RuleRef from its JSON form: `grants[3]` back to ("grants", 3), and the location."""
    path = tuple(int(m[1]) if m[1] else m[2] for m in _RULE_PART.finditer(data["path"]))
    location = None
    if data.get("location"):
        file, line, col = str(data["location"]).rsplit(":", 2)
        location = Location(file, int(line), int(col))
    return RuleRef(path, location)


def access_from_dict(data: dict[str, Any] | None) -> AccessDiff | None:
    """The inverse of `access_diff.to_json`, so `show` renders a saved plan's access diff."""
    if not data:
        return None

    def change(c: dict[str, Any]) -> AccessChange:
        return AccessChange(src=c["src"], dst=tuple(c["dst"]), ports=c["ports"],
                            proto=c.get("proto") or "", devices=int(c["devices"]),
                            rules=tuple(_rule_ref(r) for r in c.get("rules") or ()))

    return AccessDiff(gained=tuple(change(c) for c in data.get("gained") or ()),
                      lost=tuple(change(c) for c in data.get("lost") or ()),
                      inventory=data.get("inventory", ""),
                      notes=tuple(data.get("notes") or ()))


def dumps(plan: Plan) -> str:
    # A plan file outlives the run and is shown (`show`) where no credential is held
    # to redact with: a server's echo of one must not be written into it.
    return redact.dumps_json(plan_to_dict(plan), indent=2, ensure_ascii=False) + "\n"


def write(plan: Plan, path: Path) -> None:
    """Write the plan file atomically: a temp file beside it, then os.replace."""
    path = Path(path)
    text = dumps(plan)
    directory = path.parent if str(path.parent) else Path(".")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as e:
        raise PlanFileError(f"cannot write the plan file {path}: {e.strerror or e}") from e


def read(path: Path) -> Plan:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise PlanFileError(f"cannot read the plan file {path}: {e.strerror or e}") from e
    try:
        data = json.loads(text)
    except ValueError as e:
        raise UnsupportedPlanFormat(
            f"{path} is not a reconciler plan file (not JSON)",
            "Make a plan with `reconciler plan -o FILE` and apply that file.") from e
    return plan_from_dict(data)

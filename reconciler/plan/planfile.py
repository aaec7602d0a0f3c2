"""Plan <-> JSON: the versioned, self-contained plan file, and the stable JSON plan format.

plan/ (step: plan, the plan file). May import: `core`, `diff.changes` and
`diff.access` (its JSON form). A plan file holds everything `apply` needs (the exact
document to push, the prior ETag, text and fingerprint, device-tag changes with each
device's planned prior tags) and everything a reviewer needs (resource changes, drift,
test results, access changes and the inventory they were computed over). It never holds
a credential: nothing in a `Plan` is one, backend identities carry no secrets, and the
signing key is only ever an argument here.

Reading is strict: a plan file is a trust boundary (CI artifacts travel between jobs),
so it is checked against the schema below, every field typed and bounded, and the whole
file is refused on the first problem, naming the field. A file carries `integrity`: a
sha256 checksum of its canonical content, and with a key (`RECONCILER_PLAN_KEY`) an
HMAC-SHA256 of the same bytes. The checksum catches damage and careless edits; only the
HMAC stops a deliberate editor, who can recompute a checksum. Whether the recorded
changes follow from the recorded document and prior is checked one layer up
(`plancheck`), because it needs the normaliser and the engine.
Files are written atomically (a temporary file in the same directory, then
`os.replace`), so a crash never leaves half a plan that a later apply could read.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from reconciler.core import atomicfile, redact
from reconciler.core.errors import PlanFileError, UnsupportedPlanFormat
from reconciler.core.inventory import Device, Inventory, User
from reconciler.core.source import Location
from reconciler.diff.access.model import AccessChange, AccessDiff, RuleRef
from reconciler.diff.access.model import to_json as access_to_json
from reconciler.diff.changes import (
    Action,
    DeviceTagChange,
    Expiry,
    FieldChange,
    Message,
    Origin,
    Plan,
    ResourceChange,
    TestFailure,
    TestResults,
)

FORMAT_VERSION = "1.1"
KIND = "reconciler-plan"
#: The environment variable holding the key that signs and verifies plan files.
KEY_ENV = "RECONCILER_PLAN_KEY"

# Bounds: generous for a large tailnet, small enough that a hostile file is refused
# before it costs memory or time.
MAX_FILE_BYTES = 256 * 1024 * 1024
MAX_DOCUMENT = 64 * 1024 * 1024
MAX_TEXT = 1024 * 1024
MAX_NAME = 4096
MAX_ITEMS = 1_000_000
MAX_DEPTH = 64
MAX_INT = 2 ** 53

_HEX64 = re.compile(r"[0-9a-f]{64}")
_COMMIT = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")
_ETAG = re.compile(r'(?:W/)?"?[\x21\x23-\x7e]{1,512}"?')
_SECTION = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
_CHECKSUM = re.compile(r"sha256:[0-9a-f]{64}")
_SIGNATURE = re.compile(r"hmac-sha256:[0-9a-f]{64}")

REMAKE = ("Make a new plan with `reconciler plan -o FILE`; a plan file is never edited "
          "by hand.")


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
        "expiries": [expiry_to_dict(e) for e in c.expiries],
    }


def expiry_to_dict(e: Expiry) -> dict[str, Any]:
    """Just-in-time access a change carries (display only): `subject` is the member's
    login or the entry's address, `expires` ISO 8601 UTC, `seconds_left` counted from
    `created_at` (zero or less: it ran out and the change revokes it)."""
    return {"subject": e.subject, "expires": e.expires, "seconds_left": e.seconds_left,
            "expired": e.expired, "reason": e.reason}


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
        # The plan file: what `show` and `apply` recompute the changes from.
        out["prior"]["document"] = plan.prior_document
        out["access_inventory"] = (inventory_to_dict(plan.access_inventory)
                                   if plan.access_inventory is not None else None)
        out["document"] = plan.document
        if plan.sensitive_tags is not None:
            # Only when set, so plans of repositories without it read as before.
            out["sensitive_tags"] = list(plan.sensitive_tags)
    return out


def inventory_to_dict(inv: Inventory) -> dict[str, Any]:
    """The inventory in the native inventory-file format (what `--inventory` reads)."""
    return {
        "source": inv.source,
        "users": [{"login": u.login, "role": u.role, "id": u.id,
                   "display_name": u.display_name, "shared": u.shared} for u in inv.users],
        "devices": [{"name": d.name, "ipv4": d.ipv4, "ipv6": d.ipv6, "user": d.user,
                     "tags": list(d.tags), "approved_routes": list(d.approved_routes),
                     "advertised_routes": list(d.advertised_routes),
                     "posture": dict(d.posture), "id": d.id, "shared": d.shared}
                    for d in inv.devices],
    }


# --- reading: the schema ----------------------------------------------------------------------


class _Schema:
    """Typed, bounded accessors over parsed JSON; the first problem refuses the file,
    named by its path in the file (`prior.etag: expected a string, got a number`)."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, problem: str) -> PlanFileError:
        return PlanFileError(f"{self.source}: {where}: {problem}; the plan file is refused",
                             REMAKE)

    def obj(self, value: Any, where: str, keys: set[str],
            optional: frozenset[str] = frozenset()) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, f"expected an object, got {_kind(value)}")
        missing = sorted(keys - optional - set(value))
        if missing:
            raise self.fail(where, f"missing field {missing[0]!r}")
        unknown = sorted(set(value) - keys)
        if unknown:
            raise self.fail(where, f"unknown field {unknown[0]!r}")
        return value

    def lst(self, value: Any, where: str, limit: int = MAX_ITEMS) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(where, f"expected a list, got {_kind(value)}")
        if len(value) > limit:
            raise self.fail(where, f"more than {limit} items")
        return value

    def text(self, value: Any, where: str, limit: int = MAX_TEXT,
             pattern: re.Pattern[str] | None = None, nullable: bool = False) -> Any:
        if value is None and nullable:
            return None
        if not isinstance(value, str):
            raise self.fail(where, f"expected a string, got {_kind(value)}")
        if len(value) > limit:
            raise self.fail(where, f"longer than {limit} characters")
        if pattern is not None and not pattern.fullmatch(value):
            raise self.fail(where, f"not a valid value ({_show(value)})")
        return value

    def flag(self, value: Any, where: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(where, f"expected true or false, got {_kind(value)}")
        return value

    def count(self, value: Any, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INT:
            raise self.fail(where, f"expected a count, got {_show(value)}")
        return value

    def choice(self, value: Any, where: str, choices: Callable[[str], Any]) -> Any:
        self.text(value, where, MAX_NAME)
        try:
            return choices(value)
        except ValueError:
            raise self.fail(where, f"not a valid value ({_show(value)})") from None

    def location(self, value: Any, where: str) -> str | None:
        text = self.text(value, where, MAX_NAME, nullable=True)
        if text is not None and not re.fullmatch(r".+:\d{1,9}:\d{1,9}", text, re.S):
            raise self.fail(where, f"not a file:line:col location ({_show(text)})")
        return text

    def strings(self, value: Any, where: str, limit: int = MAX_NAME) -> tuple[str, ...]:
        return tuple(self.text(v, f"{where}[{i}]", limit)
                     for i, v in enumerate(self.lst(value, where)))


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false",
            type(None): "null"}.get(type(value), "a number")


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=True)
    return text if len(text) <= 60 else text[:57] + "..."


def _field_from(s: _Schema, f: Any, where: str) -> FieldChange:
    if isinstance(f, dict) and "added" in f:
        f = s.obj(f, where, {"field", "added", "removed", "unchanged"})
        return FieldChange(s.text(f["field"], f"{where}.field", MAX_NAME),
                           added=tuple(s.lst(f["added"], f"{where}.added")),
                           removed=tuple(s.lst(f["removed"], f"{where}.removed")),
                           unchanged=s.count(f["unchanged"], f"{where}.unchanged"), is_set=True)
    f = s.obj(f, where, {"field", "before", "after"})
    return FieldChange(s.text(f["field"], f"{where}.field", MAX_NAME),
                       before=f["before"], after=f["after"])


_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


def _expiry_from(s: _Schema, e: Any, where: str) -> Expiry:
    e = s.obj(e, where, {"subject", "expires", "seconds_left", "expired", "reason"})
    left = e["seconds_left"]
    if isinstance(left, bool) or not isinstance(left, int) or abs(left) > MAX_INT:
        raise s.fail(f"{where}.seconds_left", f"expected a whole number, got {_show(left)}")
    expiry = Expiry(subject=s.text(e["subject"], f"{where}.subject", MAX_NAME),
                    expires=s.text(e["expires"], f"{where}.expires", 32, _UTC),
                    seconds_left=left, reason=s.text(e["reason"], f"{where}.reason"))
    try:
        datetime.fromisoformat(expiry.expires.replace("Z", "+00:00"))
    except ValueError:
        raise s.fail(f"{where}.expires", f"not a valid time ({_show(expiry.expires)})") from None
    if s.flag(e["expired"], f"{where}.expired") != expiry.expired:
        raise s.fail(f"{where}.expired", "disagrees with seconds_left")
    return expiry


def _change_from(s: _Schema, d: Any, where: str) -> ResourceChange:
    d = s.obj(d, where, {"address", "section", "key", "actions", "origin", "before", "after",
                         "fields", "unchanged_fields", "reason", "location", "expiries"},
              optional=frozenset({"expiries"}))
    actions = s.lst(d["actions"], f"{where}.actions", 1)
    if len(actions) != 1:
        raise s.fail(f"{where}.actions", "expected exactly one action")
    return ResourceChange(
        address=s.text(d["address"], f"{where}.address", MAX_NAME),
        section=s.text(d["section"], f"{where}.section", 64, _SECTION),
        key=s.text(d["key"], f"{where}.key", MAX_NAME),
        action=s.choice(actions[0], f"{where}.actions[0]", Action),
        before=d["before"], after=d["after"],
        fields=tuple(_field_from(s, f, f"{where}.fields[{i}]")
                     for i, f in enumerate(s.lst(d["fields"], f"{where}.fields"))),
        origin=s.choice(d["origin"], f"{where}.origin", Origin),
        reason=s.text(d["reason"], f"{where}.reason"),
        location=s.location(d["location"], f"{where}.location"),
        unchanged_fields=s.count(d["unchanged_fields"], f"{where}.unchanged_fields"),
        expiries=tuple(_expiry_from(s, e, f"{where}.expiries[{i}]") for i, e in
                       enumerate(s.lst(d.get("expiries", []), f"{where}.expiries"))))


def _device_from(s: _Schema, d: Any, where: str) -> DeviceTagChange:
    d = s.obj(d, where, {"address", "device", "device_id", "actions", "before", "after",
                         "origin", "location"})
    change = DeviceTagChange(
        s.text(d["device"], f"{where}.device", MAX_NAME),
        s.text(d["device_id"], f"{where}.device_id", MAX_NAME),
        tuple(sorted(set(s.strings(d["before"], f"{where}.before")))),
        tuple(sorted(set(s.strings(d["after"], f"{where}.after")))),
        s.choice(d["origin"], f"{where}.origin", Origin),
        s.location(d["location"], f"{where}.location"))
    if not change.device_id:
        raise s.fail(f"{where}.device_id", "empty")
    if d["actions"] != ["update"]:
        raise s.fail(f"{where}.actions", 'expected ["update"]')
    if d["address"] != change.address:
        raise s.fail(f"{where}.address", f"does not name device {change.device!r}")
    return change


def _tests_from(s: _Schema, t: Any) -> TestResults:
    t = s.obj(t, "tests", {"passed", "failed", "invalid", "failures", "inventory",
                           "server_checked", "server_ok", "server_message",
                           "server_failures", "ok"})
    failures = []
    for i, f in enumerate(s.lst(t["failures"], "tests.failures")):
        where = f"tests.failures[{i}]"
        f = s.obj(f, where, {"message", "location", "invalid"})
        failures.append(TestFailure(s.text(f["message"], f"{where}.message"),
                                    s.location(f["location"], f"{where}.location"),
                                    s.flag(f["invalid"], f"{where}.invalid")))
    tests = TestResults(
        passed=s.count(t["passed"], "tests.passed"), failed=s.count(t["failed"], "tests.failed"),
        invalid=s.count(t["invalid"], "tests.invalid"), failures=tuple(failures),
        inventory=s.text(t["inventory"], "tests.inventory", MAX_NAME),
        server_checked=s.flag(t["server_checked"], "tests.server_checked"),
        server_ok=s.flag(t["server_ok"], "tests.server_ok"),
        server_message=s.text(t["server_message"], "tests.server_message"),
        server_failures=s.strings(t["server_failures"], "tests.server_failures", MAX_TEXT))
    if s.flag(t["ok"], "tests.ok") != tests.ok:
        raise s.fail("tests.ok", "disagrees with the test counts")
    return tests


def _access_from(s: _Schema, a: Any) -> AccessDiff | None:
    if a is None:
        return None
    a = s.obj(a, "access", {"format_version", "inventory", "counts", "gained", "lost",
                            "notes"})
    s.count(a["format_version"], "access.format_version")

    def change(c: Any, where: str) -> AccessChange:
        c = s.obj(c, where, {"src", "dst", "ip", "proto", "ports", "devices", "rules"})
        rules = []
        for i, r in enumerate(s.lst(c["rules"], f"{where}.rules")):
            # `name` (display only, like the location) is optional: plans saved before
            # rules carried their names lack it.
            r = s.obj(r, f"{where}.rules[{i}]", {"path", "location", "name"},
                      optional=frozenset({"name"}))
            rules.append(_rule_ref({
                "path": s.text(r["path"], f"{where}.rules[{i}].path", MAX_NAME),
                "location": s.location(r["location"], f"{where}.rules[{i}].location"),
                "name": s.text(r.get("name"), f"{where}.rules[{i}].name", MAX_NAME,
                               nullable=True)}))
        out = AccessChange(src=s.text(c["src"], f"{where}.src", MAX_NAME),
                           dst=s.strings(c["dst"], f"{where}.dst"),
                           ports=s.text(c["ports"], f"{where}.ports", MAX_NAME),
                           proto=s.text(c["proto"], f"{where}.proto", 64, nullable=True) or "",
                           devices=s.count(c["devices"], f"{where}.devices"),
                           rules=tuple(rules))
        if s.text(c["ip"], f"{where}.ip", MAX_NAME) != out.ip:
            raise s.fail(f"{where}.ip", "disagrees with proto and ports")
        return out

    diff = AccessDiff(
        gained=tuple(change(c, f"access.gained[{i}]")
                     for i, c in enumerate(s.lst(a["gained"], "access.gained"))),
        lost=tuple(change(c, f"access.lost[{i}]")
                   for i, c in enumerate(s.lst(a["lost"], "access.lost"))),
        inventory=s.text(a["inventory"], "access.inventory", MAX_NAME),
        notes=s.strings(a["notes"], "access.notes", MAX_TEXT))
    counts = s.obj(a["counts"], "access.counts", {"gained", "lost"})
    if counts != {"gained": len(diff.gained), "lost": len(diff.lost)}:
        raise s.fail("access.counts", "disagree with the changes listed")
    return diff


def _inventory_from(s: _Schema, data: Any) -> Inventory | None:
    if data is None:
        return None
    data = s.obj(data, "access_inventory", {"source", "users", "devices"})
    users = []
    for i, u in enumerate(s.lst(data["users"], "access_inventory.users")):
        w = f"access_inventory.users[{i}]"
        u = s.obj(u, w, {"login", "role", "id", "display_name", "shared"})
        users.append(User(login=s.text(u["login"], f"{w}.login", MAX_NAME),
                          role=s.text(u["role"], f"{w}.role", 64),
                          id=s.text(u["id"], f"{w}.id", MAX_NAME),
                          display_name=s.text(u["display_name"], f"{w}.display_name", MAX_NAME),
                          shared=s.flag(u["shared"], f"{w}.shared")))
    devices = []
    for i, d in enumerate(s.lst(data["devices"], "access_inventory.devices")):
        w = f"access_inventory.devices[{i}]"
        d = s.obj(d, w, {"name", "ipv4", "ipv6", "user", "tags", "approved_routes",
                         "advertised_routes", "posture", "id", "shared"})
        posture = d["posture"]
        if not isinstance(posture, dict):
            raise s.fail(f"{w}.posture", f"expected an object, got {_kind(posture)}")
        devices.append(Device(
            name=s.text(d["name"], f"{w}.name", MAX_NAME),
            ipv4=s.text(d["ipv4"], f"{w}.ipv4", 64, nullable=True),
            ipv6=s.text(d["ipv6"], f"{w}.ipv6", 64, nullable=True),
            user=s.text(d["user"], f"{w}.user", MAX_NAME, nullable=True),
            tags=s.strings(d["tags"], f"{w}.tags"),
            approved_routes=s.strings(d["approved_routes"], f"{w}.approved_routes"),
            advertised_routes=s.strings(d["advertised_routes"], f"{w}.advertised_routes"),
            posture=dict(posture), id=s.text(d["id"], f"{w}.id", MAX_NAME),
            shared=s.flag(d["shared"], f"{w}.shared")))
    return Inventory(users=tuple(users), devices=tuple(devices),
                     source=s.text(data["source"], "access_inventory.source", MAX_NAME))


TOP_KEYS = {"format_version", "kind", "tool_version", "created_at", "target", "desired",
            "prior", "resource_drift", "resource_changes", "device_changes", "tests",
            "messages", "summary", "applyable", "errored", "access", "access_inventory",
            "document", "integrity", "sensitive_tags"}


def plan_from_dict(data: Any, source: str = "plan file") -> Plan:
    """The inverse of `plan_to_dict` for a plan file, checked field by field (see the
    module docstring); a wrong kind or version is UnsupportedPlanFormat."""
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise UnsupportedPlanFormat(
            "not a reconciler plan file",
            "Make a plan with `reconciler plan -o FILE` and apply that file.")
    version = data.get("format_version")
    if not isinstance(version, str) or version.split(".")[0] != FORMAT_VERSION.split(".")[0]:
        raise UnsupportedPlanFormat(
            f"unsupported plan format version {_show(version)} (this reconciler reads "
            f"{FORMAT_VERSION})",
            "Plan again with this version of reconciler, then apply the new plan.")
    if version != FORMAT_VERSION:
        raise UnsupportedPlanFormat(
            f"plan format version {_show(version)} carries no checksum (this reconciler "
            f"reads {FORMAT_VERSION})",
            "Plan again with this version of reconciler, then apply the new plan.")
    s = _Schema(source)
    s.obj(data, "plan", TOP_KEYS, optional=frozenset({"sensitive_tags"}))
    target = s.obj(data["target"], "target", {"name", "identity"})
    desired = s.obj(data["desired"], "desired", {"commit", "dirty", "fingerprint"})
    prior = s.obj(data["prior"], "prior", {"etag", "fingerprint", "managed", "adoptable",
                                           "base_commit", "document"})
    messages = []
    for i, m in enumerate(s.lst(data["messages"], "messages")):
        m = s.obj(m, f"messages[{i}]", {"severity", "text", "location"})
        severity = s.text(m["severity"], f"messages[{i}].severity", 16)
        if severity not in ("error", "warning", "notice"):
            raise s.fail(f"messages[{i}].severity", f"not a valid value ({_show(severity)})")
        messages.append(Message(severity, s.text(m["text"], f"messages[{i}].text"),
                                s.location(m["location"], f"messages[{i}].location")))
    etag = s.text(prior["etag"], "prior.etag", 600, _ETAG)
    if etag.removeprefix("W/").strip('"') in ("", "*"):
        # "*" matches any policy: it would turn the staleness check off.
        raise s.fail("prior.etag", f"not a valid value ({_show(etag)})")
    plan = Plan(
        target=s.text(target["name"], "target.name", 256),
        identity=s.text(target["identity"], "target.identity", MAX_NAME),
        desired_commit=s.text(desired["commit"], "desired.commit", 64, _COMMIT, nullable=True),
        desired_dirty=s.flag(desired["dirty"], "desired.dirty"),
        prior_etag=etag,
        prior_fingerprint=s.text(prior["fingerprint"], "prior.fingerprint", 64, _HEX64),
        document=s.text(data["document"], "document", MAX_DOCUMENT),
        document_fingerprint=s.text(desired["fingerprint"], "desired.fingerprint", 64,
                                    _HEX64),
        changes=[_change_from(s, c, f"resource_changes[{i}]")
                 for i, c in enumerate(s.lst(data["resource_changes"], "resource_changes"))],
        drift=[_change_from(s, c, f"resource_drift[{i}]")
               for i, c in enumerate(s.lst(data["resource_drift"], "resource_drift"))],
        device_changes=[_device_from(s, d, f"device_changes[{i}]")
                        for i, d in enumerate(s.lst(data["device_changes"], "device_changes"))],
        tests=_tests_from(s, data["tests"]),
        messages=messages,
        managed=s.flag(prior["managed"], "prior.managed"),
        adoptable=s.flag(prior["adoptable"], "prior.adoptable"),
        base_commit=s.text(prior["base_commit"], "prior.base_commit", 64, _COMMIT,
                           nullable=True),
        created_at=s.text(data["created_at"], "created_at", 64),
        tool_version=s.text(data["tool_version"], "tool_version", 64),
        applyable=s.flag(data["applyable"], "applyable"),
        errored=s.flag(data["errored"], "errored"),
        access=_access_from(s, data["access"]),
        prior_document=s.text(prior["document"], "prior.document", MAX_DOCUMENT),
        access_inventory=_inventory_from(s, data["access_inventory"]),
        sensitive_tags=_sensitive_from(s, data.get("sensitive_tags")),
    )
    if not plan.target or not plan.identity:
        raise s.fail("target", "the target name and identity must not be empty")
    names = [d.device_id for d in plan.device_changes]
    if len(set(names)) != len(names):
        raise s.fail("device_changes", "a device is listed twice")
    summary = {k: s.count(v, f"summary.{k}") for k, v in
               s.obj(data["summary"], "summary", {"add", "change", "destroy"}).items()}
    add, change, destroy = plan.counts()
    if summary != {"add": add, "change": change, "destroy": destroy}:
        raise s.fail("summary", "disagrees with the changes listed")
    if plan.applyable and not (plan.has_changes and plan.tests.ok and not plan.errored):
        raise s.fail("applyable", "true, but the plan's own checks say it is not")
    return plan


def _sensitive_from(s: _Schema, data: Any) -> tuple[str, ...] | None:
    """sensitive_tags: absent (a plan made without it in reconciler.yaml) or tags."""
    if data is None:
        return None
    tags = s.strings(data, "sensitive_tags")
    for i, tag in enumerate(tags):
        if not tag.startswith("tag:"):
            raise s.fail(f"sensitive_tags[{i}]", f"not a tag ({_show(tag)})")
    return tags


_RULE_PART = re.compile(r"\[(\d+)\]|\.?([^.\[\]]+)")


def _rule_ref(data: dict[str, Any]) -> RuleRef:
    """A RuleRef from its JSON form: `grants[3]` back to ("grants", 3), and the location."""
    path = tuple(int(m[1]) if m[1] else m[2] for m in _RULE_PART.finditer(data["path"]))
    location = None
    if data.get("location"):
        file, line, col = str(data["location"]).rsplit(":", 2)
        location = Location(file, int(line), int(col))
    return RuleRef(path, location, data.get("name"))


# --- integrity --------------------------------------------------------------------------------


def canonical_bytes(data: dict[str, Any]) -> bytes:
    """What the checksum and the signature cover: the file's content without `integrity`,
    as canonical JSON (sorted keys, no whitespace), so formatting does not matter."""
    body = {k: v for k, v in data.items() if k != "integrity"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False, allow_nan=False).encode("utf-8")


def _checksum(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def _signature(body: bytes, key: str) -> str:
    return "hmac-sha256:" + hmac.new(key.encode("utf-8"), body, hashlib.sha256).hexdigest()


def dumps(plan: Plan, *, key: str | None = None) -> str:
    """The plan file's text: the plan, its checksum and (with `key`) its HMAC."""
    data = plan_to_dict(plan)
    body = canonical_bytes(data)
    # A plan file outlives the run and is shown (`show`) where no credential is held
    # to redact with: a server's echo of one must not be written into it. Redacted
    # before the checksum, which must cover exactly what the file holds.
    if redact.contains_secret(body.decode("utf-8")):
        data = redact.redact_data(data)
        body = canonical_bytes(data)
    data["integrity"] = {"checksum": _checksum(body),
                         "signature": _signature(body, key) if key else None}
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def write(plan: Plan, path: Path, *, key: str | None = None) -> None:
    """Write the plan file atomically: a temp file beside it, then os.replace."""
    path = Path(path)
    text = dumps(plan, key=key)
    directory = path.parent if str(path.parent) else Path(".")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        atomicfile.replace(directory / path.name, text)
    except OSError as e:
        raise PlanFileError(f"cannot write the plan file {path}: {e.strerror or e}") from e


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # A later duplicate would silently win over what a reviewer read first.
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Deeper than `limit` containers, counted without recursion."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


def parse(raw: bytes, source: str) -> dict[str, Any]:
    """Bytes -> JSON data, refusing what a plan file never holds: invalid UTF-8, NaN,
    duplicate keys, nesting past MAX_DEPTH, numbers the parser will not read."""
    def refuse(why: str) -> PlanFileError:
        return UnsupportedPlanFormat(f"{source} is not a reconciler plan file ({why})",
                                     "Make a plan with `reconciler plan -o FILE` and apply "
                                     "that file.")
    if len(raw) > MAX_FILE_BYTES:
        raise refuse(f"larger than {MAX_FILE_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise refuse(f"invalid UTF-8 at byte {e.start}") from None
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except RecursionError:
        raise refuse("nested too deeply") from None
    except ValueError as e:
        raise refuse(f"not JSON: {str(e)[:120]}") from None
    if _too_deep(data):
        raise refuse(f"nested more than {MAX_DEPTH} deep")
    if not isinstance(data, dict):
        raise refuse("not a JSON object")
    return data


def read(path: Path, *, key: str | None = None) -> Plan:
    """Read, check and verify a plan file; with `key`, it must carry a valid HMAC."""
    try:
        raw = Path(path).read_bytes()
    except OSError as e:
        raise PlanFileError(f"cannot read the plan file {path}: {e.strerror or e}") from e
    return loads(raw, str(path), key=key)


def loads(raw: bytes, source: str, *, key: str | None = None) -> Plan:
    data = parse(raw, source)
    plan = plan_from_dict(data, source)
    s = _Schema(source)
    integrity = s.obj(data["integrity"], "integrity", {"checksum", "signature"})
    checksum = s.text(integrity["checksum"], "integrity.checksum", 80, _CHECKSUM)
    signature = s.text(integrity["signature"], "integrity.signature", 80, _SIGNATURE,
                       nullable=True)
    body = canonical_bytes(data)
    if not hmac.compare_digest(checksum, _checksum(body)):
        raise PlanFileError(
            f"{source}: the checksum does not match the plan's content: the file was "
            "changed after it was written; the plan file is refused", REMAKE)
    if key:
        if signature is None:
            raise PlanFileError(
                f"{source}: the plan is not signed, and {KEY_ENV} is set: only a plan "
                "signed with that key is accepted; the plan file is refused",
                f"Make the plan with {KEY_ENV} set (`reconciler plan -o FILE`).")
        if not hmac.compare_digest(signature, _signature(body, key)):
            raise PlanFileError(
                f"{source}: the plan's signature does not match: it was changed after it "
                f"was signed, or signed with another key; the plan file is refused",
                f"Make a new plan with the key in {KEY_ENV} (`reconciler plan -o FILE`).")
    return plan


def signing_key(env: Any = None) -> str | None:
    """The plan key from the environment (`RECONCILER_PLAN_KEY`), or None when unset."""
    value = (os.environ if env is None else env).get(KEY_ENV)
    return value or None

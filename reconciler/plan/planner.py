"""plan/ (step: plan): a pure function from the three states (plus test results) to a `Plan`.

May import: `changes`, `normalize`, `diff`, `compile`, `desired` (the `Desired`
type only), `metadata` (the `Expired` type only), `inventory`, `problems`, `errors`. No
I/O: `commands.plan` fetches, loads and tests, then calls `build_plan`. Expiries are timed
from the plan's `created_at`, so a saved plan's "time left" can be checked against it.

The three-way view: desired (from git), live (fetched) and base (the desired state at
the commit recorded in the live policy's managed header). When the live document still
has exactly the fingerprint its header records, nothing was edited out of band and live
*is* the base. Otherwise the base is recompiled from git at that commit. Expiry makes
that recompilation time-dependent (an entry that expired since the apply is gone from a
base compiled today), so the caller passes two candidates: compiled now and compiled
with nothing expired; a live resource equal to either one is "as applied".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from reconciler.core.errors import PolicyError
from reconciler.core.inventory import Device
from reconciler.core.problems import Problem
from reconciler.diff import normalize
from reconciler.diff.changes import (
    UNMANAGED_MATCHING_WARNING,
    UNMANAGED_WARNING,
    Action,
    DeviceTagChange,
    Expiry,
    FieldChange,
    Message,
    Origin,
    Plan,
    ResourceChange,
    TestResults,
    utc_iso,
    utc_text,
)
from reconciler.diff.normalize import Resource
from reconciler.diff.resources import classify, device_tag_changes, diff_resources, drift_changes
from reconciler.load.desired import Desired
from reconciler.load.document import ManagedHeader, fingerprint, to_hujson
from reconciler.load.metadata import Expired

REASONS = {
    Origin.DRIFT: "reverts a change made outside git",
    Origin.CONFLICT: "changed both in git and outside git since the last apply",
}


@dataclass(frozen=True)
class LiveState:
    """The live policy as fetched: text, ETag, parsed document, managed header."""

    text: str
    etag: str
    policy: dict[str, Any]
    header: ManagedHeader | None


@dataclass(frozen=True)
class BaseState:
    """The last-applied desired state: one or two compilations at the header's commit
    (see the module docstring), or `exact` when live is known to be it."""

    commit: str | None
    candidates: tuple[Desired, ...] = ()
    exact: bool = False


def names_of(desired: Desired) -> dict[tuple[str, int], str]:
    """(section, index) -> entry name, from the desired state's metadata."""
    out: dict[tuple[str, int], str] = {}
    for path, meta in desired.meta.items():
        if meta.name and len(path) == 2 and isinstance(path[1], int):
            out[(str(path[0]), path[1])] = meta.name
    return out


def live_is_base(live: LiveState) -> bool:
    """The live document is exactly what the last apply pushed (no out-of-band edit)."""
    return live.header is not None and \
        fingerprint(live.policy) == live.header.fingerprint


def locate(desired: Desired, resource: Resource) -> str | None:
    """file:line:col of a desired resource's definition."""
    if resource.index is not None:
        loc = desired.sources.at((resource.section, resource.index))
    elif resource.section == "autoApprovers":
        kind, _, route = resource.key.partition("/")
        loc = desired.sources.at(("autoApprovers", kind, route) if route
                                 else ("autoApprovers", kind))
    elif resource.section == "settings":
        loc = desired.sources.key((resource.key,))
    else:
        loc = desired.sources.key((resource.section, resource.key))
    return str(loc) if loc else None


def build_plan(
    *,
    target: str,
    identity: str,
    desired: Desired,
    live: LiveState,
    base: BaseState | None,
    devices: Sequence[Device] | None,
    tests: TestResults,
    created_at: str = "",
    tool_version: str = "",
    default_policy: Mapping[str, Any] | None = None,
    with_document: bool = True,
) -> Plan:
    """The plan that turns `live` into `desired`, each change classified three ways.

    `with_document=False` leaves `document` empty: a plan only shown (not saved, not
    applied) never needs the text to push, and formatting it is the slow part."""
    dnames = names_of(desired)
    # Live and base share the desired document's work for the entries they have alike.
    want_doc = normalize.Normalized(desired.policy)
    live_doc = normalize.Normalized(live.policy, like=want_doc)
    base_docs = [(normalize.Normalized(b.policy, like=want_doc), names_of(b))
                 for b in (base.candidates if base is not None else ())]
    known: list[tuple[Mapping[str, Any] | normalize.Normalized,
                      Mapping[tuple[str, int], str]]] = [(want_doc, dnames), *base_docs]
    gone = _expired_entries(desired)
    if gone[1]:
        # A named entry that expired since the apply is still in live: it is destroyed
        # under its name, not its content hash (the desired state no longer has it).
        known.append(gone)
    lnames = normalize.recover_names(live_doc, known)
    live_res = normalize.Resources(live_doc, lnames)
    want_res = normalize.Resources(want_doc, dnames)

    bases: list[Mapping[str, Resource]] | None = None
    if base is not None and base.exact:
        bases = [live_res]
    elif base is not None and base.candidates:
        bases = [normalize.Resources(doc, names) for doc, names in base_docs]

    changes = []
    for change in diff_resources(live_res, want_res, locate=lambda r: locate(desired, r)):
        origin = classify(change, live_res, bases)
        reason = REASONS.get(origin, "")
        if change.address == normalize.ALLOW_ALL:
            reason = "; ".join(filter(None, [
                "with neither acls nor grants, Tailscale allows all traffic", reason]))
        changes.append(replace(change, origin=origin, reason=reason))
    changes.extend(ssh_order(live_res, want_res))
    if desired.expired or desired.member_meta or any(m.expires for m in desired.meta.values()):
        jit = _Jit(desired, _plan_time(created_at))
        changes = [_with_expiries(c, jit, want_res) for c in changes]

    drift: list[ResourceChange] = []
    if bases and not (base is not None and base.exact):
        drift = drift_changes(bases[0], live_res, alternates=bases[1:])

    messages = [Message("notice" if not p.is_error else "error", p.message,
                        str(p.location) if p.location else None) for p in desired.notices]
    device_changes = _device_changes(desired, devices, base)

    managed = live.header is not None
    # Nothing to lose: no policy stored yet, or Tailscale's untouched default.
    adoptable = not managed and (not live.text.strip() or (
        default_policy is not None
        and live_doc.essence == normalize.essence(default_policy)))
    # Only a policy change is pushed, or the take-over of an unmanaged policy that already
    # matches git (just imported); formatting the document is the costly part of a large
    # no-change plan, so it is left empty otherwise.
    takes_over = not changes and not managed and not adoptable
    document = (to_hujson(desired.policy, commit=desired.commit, dirty=desired.dirty,
                                   comments=desired.comments)
                if (changes or takes_over) and with_document else "")
    if not managed and not adoptable:
        messages.append(Message("warning", UNMANAGED_MATCHING_WARNING if takes_over
                                else UNMANAGED_WARNING))
    if desired.dirty:
        messages.append(Message("warning", dirty_warning(desired.commit)))
    if base is not None and not base.exact and not base.candidates and base.commit:
        messages.append(Message(
            "warning", f"the last-applied commit {base.commit[:12]} is not in this "
            "repository; changes cannot be told apart from drift"))
    plan = Plan(
        target=target, identity=identity,
        desired_commit=desired.commit, desired_dirty=desired.dirty,
        prior_etag=live.etag,
        prior_fingerprint=live_doc.fingerprint,
        document=document,
        document_fingerprint=want_doc.fingerprint,
        changes=changes, drift=drift, device_changes=device_changes,
        messages=messages, managed=managed, adoptable=adoptable,
        base_commit=live.header.commit if live.header else None,
        created_at=created_at, tool_version=tool_version,
        prior_document=live.text if with_document else "",
    )
    plan.record_tests(tests)
    return plan


def dirty_warning(commit: str | None) -> str:
    """What every format of a plan says when it was made from uncommitted changes."""
    of = f"commit {commit[:12]} plus " if commit else ""
    return ("the desired state has uncommitted changes: this plan is of the working tree "
            f"({of}edits not in git), not of a commit. Commit them and plan again, or "
            "use --require-clean to refuse such plans.")


def _expired_entries(desired: Desired) -> tuple[dict[str, list[Any]],
                                                 dict[tuple[str, int], str]]:
    """The named list entries that expired, as a document with their names (for
    `normalize.recover_names`)."""
    doc: dict[str, list[Any]] = {}
    names: dict[tuple[str, int], str] = {}
    for gone in desired.expired:
        if gone.section in normalize.LIST_SECTIONS and gone.name:
            entries = doc.setdefault(gone.section, [])
            names[(gone.section, len(entries))] = gone.name
            entries.append(gone.value)
    return doc, names


def _plan_time(created_at: str) -> datetime | None:
    try:
        return datetime.fromisoformat(created_at.replace("Z", "+00:00")) if created_at else None
    except ValueError:
        return None


def _expiry(subject: str, expires: datetime, now: datetime | None, reason: str) -> Expiry:
    left = int((expires - now).total_seconds()) if now is not None else 0
    return Expiry(subject, utc_iso(expires), left, reason)


class _Jit:
    """The desired state's just-in-time access, indexed once per plan (a large plan has
    thousands of changes; each looks up only its own group or section)."""

    def __init__(self, desired: Desired, now: datetime | None) -> None:
        self.desired, self.now = desired, now
        self.members: dict[str, list[tuple[str, datetime]]] = {}
        for group, login, expires, _ in desired.member_meta:
            self.members.setdefault(group, []).append((login, expires))
        self.expired: dict[tuple[str, str | None], list[Expired]] = {}
        for gone in desired.expired:
            key = gone.name if gone.section == "groups" else None
            self.expired.setdefault((gone.section, key), []).append(gone)


def _with_expiries(change: ResourceChange, jit: _Jit, want: Mapping[str, Resource]
                   ) -> ResourceChange:
    """The just-in-time access a change carries (display only): in force for what it
    creates or keeps, run out for what it revokes, with "expired at" as the reason."""
    desired, now = jit.desired, jit.now
    found: list[Expiry] = []
    whys: list[str] = []
    expirable = change.origin in (Origin.PENDING, Origin.UNKNOWN)
    if change.section == "groups":
        if change.action is not Action.DELETE and now is not None:
            found += [_expiry(login, expires, now,
                              desired.member_reasons.get((change.key, login), ""))
                      for login, expires in jit.members.get(change.key, ())]
        removed = change.fields[0].removed if change.fields and expirable else ()
        for gone in jit.expired.get(("groups", change.key), ()) if removed else ():
            if gone.value in removed:
                found.append(_expiry(gone.value, gone.expires, now, gone.reason))
                whys.append(f"{gone.value}'s access expired at {utc_text(utc_iso(gone.expires))}"
                            + (f": {gone.reason}" if gone.reason else ""))
    elif change.section in normalize.LIST_SECTIONS:
        if change.action is Action.DELETE:
            for gone in jit.expired.get((change.section, None), ()) if expirable else ():
                if _is(gone, change):
                    found.append(_expiry(change.address, gone.expires, now, gone.reason))
                    whys.append(f"expired at {utc_text(utc_iso(gone.expires))}"
                                + (f": {gone.reason}" if gone.reason else ""))
                    break
        elif now is not None:
            resource = want.get(change.address)
            meta = desired.meta.get((change.section, resource.index)) \
                if resource is not None and resource.index is not None else None
            if meta is not None and meta.expires is not None:
                found.append(_expiry(change.address, meta.expires, now,
                                     meta.description or ""))
    if not found:
        return change
    reason = "; ".join(whys) if whys else change.reason
    return replace(change, expiries=tuple(found), reason=reason)


def _is(gone: Expired, change: ResourceChange) -> bool:
    """The expired entry is the one the change destroys: by name, else by content."""
    if gone.name:
        return bool(gone.name == change.key)
    try:
        value = normalize.normalize_entry(change.section, gone.value)
    except (TypeError, ValueError, AttributeError, KeyError):
        return False
    return bool(normalize.canonical_json(value) == normalize.canonical_json(change.before))


def ssh_order(live: Mapping[str, Resource], desired: Mapping[str, Resource]
               ) -> list[ResourceChange]:
    """SSH rules match in order: the same rules in another order is a change too."""
    before, after = _ssh_addresses(live), _ssh_addresses(desired)
    common = set(before) & set(after)
    old = [a for a in before if a in common]
    new = [a for a in after if a in common]
    if old == new:
        return []
    return [ResourceChange(address="ssh[*]", section="ssh", key="*", action=Action.UPDATE,
                           before=old, after=new,
                           fields=(FieldChange("order", before=old, after=new),),
                           reason="SSH rules are matched in order")]


def _ssh_addresses(res: Mapping[str, Resource]) -> list[str]:
    if isinstance(res, normalize.Resources) and res.partable:
        res = res.part("ssh")  # not every resource of the document
    ordered = sorted((r for r in res.values() if r.section == "ssh" and r.index is not None),
                     key=lambda r: r.index or 0)
    return [r.address for r in ordered]


def _device_changes(desired: Desired, devices: Sequence[Device] | None,
                    base: BaseState | None) -> list[DeviceTagChange]:
    if not desired.devices:
        return []
    if devices is None:
        raise PolicyError([Problem("devices: are managed but the device list was not read")])
    live = {d.name: (d.id, tuple(d.tags)) for d in devices}
    unknown = [name for name in sorted(desired.devices) if name not in live]
    if unknown:
        raise PolicyError(
            [Problem(f'devices["{name}"]: no device named "{name}" in the tailnet',
                     desired.sources.key(("devices", name))) for name in unknown],
            detail="Device names match the device's host name; check `reconciler local "
                   "inventory` or the admin console, or remove the entry.")
    want = {name: list(spec.get("tags") or []) for name, spec in desired.devices.items()}
    base_tags = None
    if base is not None and base.candidates:
        base_tags = {n: list(s.get("tags") or []) for n, s in base.candidates[0].devices.items()}
    out = device_tag_changes(want, live, base_tags)
    return [replace(c, location=_loc(desired, c.device)) for c in out]


def _loc(desired: Desired, device: str) -> str | None:
    loc = desired.sources.key(("devices", device))
    return str(loc) if loc else None

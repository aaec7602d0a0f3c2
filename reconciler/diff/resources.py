"""diff/ (step: diff): resource changes between two normalised policies. The only deepdiff user.

May import: deepdiff, `normalize`, `changes`. Resources are matched by address
(see `normalize.resources`; two `normalize.Resources` part by part, skipping the parts
they share); deepdiff decides which fields of a matched pair differ and each differing
field becomes a `FieldChange` (members added and removed for set-like fields,
before/after otherwise). Output is sorted by address, so plans are stable.

Also here, because they are pure judgements over changes: the three-way classification
(pending / drift / conflict) and `removes_access_only`, the guard of
`apply --revocations-only`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from reconciler.diff.changes import Action, DeviceTagChange, FieldChange, Origin, ResourceChange
from reconciler.diff.normalize import Resource, Resources

#: Field label for resources whose whole value is a set (groups, tagOwners, ...).
VALUE_LABELS = {"groups": "members", "tagOwners": "owners", "ipsets": "addresses",
                "postures": "conditions", "autoApprovers": "approvers",
                "defaultSrcPosture": "postures"}


def changed_fields(before: Any, after: Any) -> list[str]:
    """Top-level fields of two resource values that differ ("" for a non-dict value)."""
    if before == after:
        return []
    if not (isinstance(before, dict) and isinstance(after, dict)):
        return [""]
    # Imported here: 0.02 s that `diff` pays in its forked child (resource changes are
    # worked out there), and commands that show no changed field never pay.
    from deepdiff import DeepDiff

    tree = DeepDiff(before, after, ignore_order=True, view="tree")
    fields: set[str] = set()
    for items in tree.values():
        for item in items:
            path = item.path(output_format="list")
            fields.add(str(path[0]) if path else "")
    if "" in fields:  # deepdiff saw a change of the whole value
        return sorted(set(before) | set(after))
    return sorted(fields)


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def field_change(name: str, before: Any, after: Any) -> FieldChange:
    if (before is None or _is_str_list(before)) and (after is None or _is_str_list(after)) \
            and (before is not None or after is not None):
        old, new = set(before or []), set(after or [])
        return FieldChange(name, added=tuple(sorted(new - old)),
                           removed=tuple(sorted(old - new)), unchanged=len(old & new),
                           is_set=True)
    return FieldChange(name, before=before, after=after)


def resource_fields(section: str, before: Any, after: Any) -> tuple[tuple[FieldChange, ...], int]:
    """(field changes, number of unchanged fields) between two values of one resource."""
    label = VALUE_LABELS.get(section, "value")
    if before is None or after is None or not (isinstance(before, dict)
                                               and isinstance(after, dict)):
        if isinstance(before, dict) or isinstance(after, dict):
            value = before if after is None else after
            side = {} if not isinstance(value, dict) else value
            return tuple(field_change(k, before.get(k) if isinstance(before, dict) else None,
                                      after.get(k) if isinstance(after, dict) else None)
                         for k in side), 0
        return (field_change(label, before, after),), 0
    names = changed_fields(before, after)
    fields = tuple(field_change(n, before.get(n), after.get(n)) for n in names)
    return fields, len(set(before) | set(after)) - len(names)


def diff_resources(
    before: Mapping[str, Resource],
    after: Mapping[str, Resource],
    *,
    locate: Callable[[Resource], str | None] | None = None,
) -> list[ResourceChange]:
    """Changes that turn `before` into `after`, sorted by address (no-ops left out)."""
    if isinstance(before, Resources) and isinstance(after, Resources) \
            and before.partable and after.partable:
        # Part by part (addresses never straddle parts), skipping the parts both share.
        out: list[ResourceChange] = []
        for part in sorted({*before.parts(), *after.parts()}):
            if not before.same_part(after, part):
                out += _diff(before.part(part), after.part(part), locate)
        return sorted(out, key=_address)
    return _diff(before, after, locate)


def _address(change: ResourceChange) -> str:
    return change.address


def _diff(before: Mapping[str, Resource], after: Mapping[str, Resource],
          locate: Callable[[Resource], str | None] | None) -> list[ResourceChange]:
    out: list[ResourceChange] = []
    for addr in sorted(set(before) | set(after)):
        old, new = before.get(addr), after.get(addr)
        if old is not None and new is not None and old.value == new.value:
            continue
        some = new or old
        assert some is not None
        if old is None:
            action = Action.CREATE
        elif new is None:
            action = Action.DELETE
        else:
            action = Action.UPDATE
        fields, unchanged = resource_fields(some.section, old.value if old else None,
                                            new.value if new else None)
        out.append(ResourceChange(
            address=addr, section=some.section, key=some.key, action=action,
            before=old.value if old else None, after=new.value if new else None,
            fields=fields, unchanged_fields=unchanged,
            location=locate(new) if (locate and new is not None) else None,
        ))
    return out


# --- three-way ----------------------------------------------------------------------------

_MISSING = object()


def classify(
    change: ResourceChange,
    live: Mapping[str, Resource],
    bases: Sequence[Mapping[str, Resource]] | None,
) -> Origin:
    """pending (desired != base = live), drift (desired = base != live) or conflict.

    `bases` holds the candidate base states (usually one; see planner for why there can
    be two); live matching any candidate counts as unchanged since the apply.
    """
    if not bases:
        return Origin.UNKNOWN
    live_value = live[change.address].value if change.address in live else _MISSING
    desired_value = change.after if change.action is not Action.DELETE else _MISSING
    candidates = [b[change.address].value if change.address in b else _MISSING for b in bases]
    if any(live_value == c for c in candidates):
        return Origin.PENDING
    if any(desired_value == c for c in candidates):
        return Origin.DRIFT
    return Origin.CONFLICT


def with_origin(change: ResourceChange, origin: Origin, reason: str = "") -> ResourceChange:
    from dataclasses import replace

    return replace(change, origin=origin, reason=reason or change.reason)


def drift_changes(
    base: Mapping[str, Resource], live: Mapping[str, Resource],
    alternates: Sequence[Mapping[str, Resource]] = (),
) -> list[ResourceChange]:
    """Out-of-band edits: base -> live, ignoring resources live has as in an alternate base."""
    out = []
    for change in diff_resources(base, live):
        live_value = live[change.address].value if change.address in live else _MISSING
        if any((alt[change.address].value if change.address in alt else _MISSING) == live_value
               for alt in alternates):
            continue
        out.append(with_origin(change, Origin.DRIFT))
    return out


# --- device tags ---------------------------------------------------------------------------


def device_tag_changes(
    desired: Mapping[str, Sequence[str]],
    live: Mapping[str, tuple[str, Sequence[str]]],
    base: Mapping[str, Sequence[str]] | None = None,
) -> list[DeviceTagChange]:
    """Managed devices whose live tags differ from the desired ones.

    `desired`: name -> tags; `live`: name -> (device id, tags); `base`: name -> tags at the
    last apply. Every desired name must be in `live` (the planner checks first).
    """
    out = []
    for name in sorted(desired):
        want = tuple(sorted(set(desired[name])))
        device_id, have_raw = live[name]
        have = tuple(sorted(set(have_raw)))
        if want == have:
            continue
        if base is None:
            origin = Origin.UNKNOWN
        else:
            was = tuple(sorted(set(base.get(name, have))))
            origin = (Origin.PENDING if was == have else
                      Origin.DRIFT if was == want else Origin.CONFLICT)
        out.append(DeviceTagChange(name, device_id, have, want, origin))
    return out


# --- revocations ---------------------------------------------------------------------------

#: Sections whose entries never grant access (tests only assert things).
NEUTRAL_SECTIONS = frozenset({"tests", "sshTests"})
#: Fields whose members grant access: removing one narrows access.
GRANTING_FIELDS = frozenset({"members", "owners", "approvers", "src", "users", "dst", "ip",
                             "addresses", "accept", "check", "attr", "target"})


def removes_access_only(change: ResourceChange) -> bool:
    """True when applying `change` can only take access away.

    Allowed: entries deleted; members removed from groups, tag owners or approvers;
    sources, destinations, ips or SSH users removed; a destination or ip replaced by a
    narrower one on the same host (`tag:web:*` -> `tag:web:443`); any change to tests.
    Anything that adds, or changes a value in a way we cannot order, is refused.
    """
    if change.section in NEUTRAL_SECTIONS:
        return True
    if change.action is Action.DELETE:
        return True
    if change.action is Action.CREATE:
        return False
    for f in change.fields:
        if not f.is_set or f.field not in GRANTING_FIELDS:
            return False
        if change.section == "ssh" and f.field == "check":
            return False
        for added in f.added:
            if not any(_narrower(added, removed, f.field) for removed in f.removed):
                return False
    return True


def _split_ports(text: str, field: str) -> tuple[str, str] | None:
    """("host", "ports") of an acl dst `host:ports` or a grant ip `proto:ports`."""
    if field == "ip":
        if text == "*":
            return "*", "*"
        head, sep, ports = text.rpartition(":")
        return (head, ports) if sep else ("*", text)
    if field == "dst":
        head, sep, ports = text.rpartition(":")
        return (head, ports) if sep and head else None
    return None


def _port_set(ports: str) -> set[int] | None:
    """Ports of a spec like `22,80-90` (None for `*`, meaning all)."""
    if ports == "*":
        return None
    out: set[int] = set()
    for part in ports.split(","):
        lo, _, hi = part.strip().partition("-")
        if not lo.isdigit() or (hi and not hi.isdigit()):
            return {-1}  # unparseable: never counts as narrower
        out.update(range(int(lo), int(hi or lo) + 1))
    return out


def _narrower(new: Any, old: Any, field: str) -> bool:
    if not (isinstance(new, str) and isinstance(old, str)):
        return False
    a, b = _split_ports(new, field), _split_ports(old, field)
    if a is None or b is None:
        return False
    if field == "ip" and b[0] == "*" and b[1] == "*":
        return True
    if a[0] != b[0]:
        return False
    new_ports, old_ports = _port_set(a[1]), _port_set(b[1])
    if old_ports is None:
        return True
    return new_ports is not None and -1 not in new_ports and new_ports <= old_ports

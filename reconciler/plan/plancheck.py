"""Check a saved plan: do its recorded changes follow from its own content?

plan/ (step: apply, before anything is written). May import: `diff` (changes,
normalize, resources, access), `load.hujson`, `load.document`, `plan.planner` (ssh
order), `plan.planfile` (the JSON form, to compare), `backends.local.seed` (the
default policy, data only), `core`. No I/O.

A plan file records the document to push and the live text it was made against, and
what a reviewer reads: the resource changes and the access diff (with the devices the
plan re-tags carrying their new tags on the after side; a plan that only re-tags
devices compares the prior policy with itself). `show` and `apply`
recompute both from the document and the prior text and refuse the plan when they
differ from the record, so a document edited after review (an added member, a widened
grant) can neither be hidden from `show` nor pushed by `apply`. Names of list entries
are labels the control plane never sees; they are taken from the record, and every
value, action and field is recomputed. Display-only text (reasons, origins, locations,
the names and locations of the rules an access change cites: only their paths are
compared) is not compared, and just-in-time expiries (not in the document either) must
belong to their change; tests are not re-run (their verdict is the plan's, see
`applier`).
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import replace
from datetime import datetime
from typing import Any

from reconciler.core.errors import PlanFileError, ReconcilerError
from reconciler.diff import normalize
from reconciler.diff.changes import FieldChange, Plan, ResourceChange
from reconciler.diff.resources import diff_resources
from reconciler.load import hujson
from reconciler.load.document import fingerprint, read_header
from reconciler.plan.planfile import REMAKE, change_to_dict
from reconciler.plan.planner import ssh_order


def _refuse(source: str, problem: str) -> PlanFileError:
    return PlanFileError(f"{source}: {problem}; the plan file is refused", REMAKE)


def _policy(text: str, what: str, source: str) -> dict[str, Any]:
    if not text.strip():
        return {}
    try:
        policy = hujson.loads(text, file=what)
    except ReconcilerError as e:
        raise _refuse(source, f"the plan's {what} cannot be parsed ({e.summary})") from e
    if not isinstance(policy, dict):
        raise _refuse(source, f"the plan's {what} is not a JSON object")
    return policy


def verify(plan: Plan, source: str = "plan file") -> None:
    """Raise PlanFileError unless the plan's record follows from its document and prior."""
    prior = _policy(plan.prior_document, "prior document", source)
    policy = _policy(plan.document, "document", source) if plan.document else {}
    # Live shares the desired document's work for the entries both have (most of them).
    want_doc = normalize.Normalized(policy)
    live_doc = normalize.Normalized(prior, like=want_doc)
    if live_doc.fingerprint != plan.prior_fingerprint:
        raise _refuse(source, "prior.fingerprint does not match the prior document")
    header = read_header(plan.prior_document)
    if plan.managed != (header is not None):
        raise _refuse(source, "prior.managed disagrees with the prior document's header")
    if plan.adoptable != _adoptable(plan, live_doc):
        raise _refuse(source, "prior.adoptable disagrees with the prior document")
    if not plan.document:
        if plan.changes:
            raise _refuse(source, "the plan records policy changes but holds no document")
        if plan.device_changes:  # re-tagged devices under the unchanged live policy
            _same_access(plan, prior, prior, source)
        elif plan.access is not None:
            raise _refuse(source, "the plan records access changes but changes nothing")
        return
    if want_doc.fingerprint != plan.document_fingerprint:
        raise _refuse(source, "desired.fingerprint does not match the plan's document")
    mine = read_header(plan.document)
    if mine is None or mine.fingerprint != fingerprint(policy) \
            or mine.commit != plan.desired_commit or mine.dirty != plan.desired_dirty:
        raise _refuse(source, "the document's managed header does not match the document "
                              "and the plan's commit")
    _same_changes(plan, live_doc, want_doc, source)
    _expiries_fit(plan, source)
    _same_access(plan, prior, policy, source)


def _adoptable(plan: Plan, live_doc: normalize.Normalized) -> bool:
    """As the planner decides it: unmanaged, and nothing to lose (see `build_plan`)."""
    from reconciler.backends.local.seed import DEFAULT_POLICY

    if plan.managed:
        return False
    if not plan.prior_document.strip():
        return True
    return live_doc.essence == normalize.essence(hujson.loads(DEFAULT_POLICY))


# --- resource changes -------------------------------------------------------------------------


def _names(doc: normalize.Normalized, recorded: list[ResourceChange], side: str
           ) -> dict[tuple[str, int], str]:
    """(section, index) -> the recorded name of each changed list entry of `doc`, found
    by content (`side` is "before" or "after")."""
    names: dict[tuple[str, int], str] = {}
    for change in recorded:
        value = getattr(change, side)
        if change.section not in normalize.LIST_SECTIONS or value is None:
            continue
        section = doc.sections.get(change.section)
        if section is None:
            continue
        text = normalize.canonical_json(value)
        hashes = doc.hashes(change.section)
        for i, (_, entry_text) in enumerate(section.pairs):
            if entry_text == text and (change.section, i) not in names:
                if change.key.split("#", 1)[0] != hashes[i]:
                    names[(change.section, i)] = change.key.split("#", 1)[0]
                break
    return names


def _key(change: ResourceChange) -> str:
    """The parts of a change that say what is pushed, as canonical JSON."""
    data = change_to_dict(change)
    for display_only in ("origin", "reason", "location", "expiries"):
        data.pop(display_only)
    # The plan lists fields in the order the author wrote them; the document, from which
    # they are recomputed, in canonical order. The order is display only.
    data["fields"] = sorted(data["fields"], key=lambda f: str(f.get("field")))
    return normalize.canonical_json(data)


def _same_changes(plan: Plan, live_doc: normalize.Normalized,
                  want_doc: normalize.Normalized, source: str) -> None:
    want_names = _names(want_doc, plan.changes, "after")
    live_names = normalize.recover_names(live_doc, [(want_doc, want_names)])
    live_names.update(_names(live_doc, plan.changes, "before"))
    live_res = normalize.Resources(live_doc, live_names)
    want_res = normalize.Resources(want_doc, want_names)
    recomputed = diff_resources(live_res, want_res)
    changes = [c for c in plan.changes if c.address != "ssh[*]"]
    got = {_key(c): c.address for c in recomputed}
    recorded = {_key(c): c.address for c in changes}
    if len(recorded) != len(changes):
        raise _refuse(source, "a resource change is recorded twice")
    if not _same_order(ssh_order(live_res, want_res),
                       [c for c in plan.changes if c.address == "ssh[*]"]):
        raise _refuse(source, "the order of the SSH rules recorded in the plan differs from "
                              "the order in its document")
    if got.keys() != recorded.keys():
        missing = sorted(got[k] for k in got.keys() - recorded.keys())
        extra = sorted(recorded[k] for k in recorded.keys() - got.keys())
        what = []
        if missing:
            what.append("the document also changes " + ", ".join(missing[:5])
                        + (" (not shown in the plan)" if not extra else ""))
        if extra:
            what.append("recorded " + ", ".join(extra[:5])
                        + " differently from what the document does")
        raise _refuse(source, "the resource changes do not follow from the plan's document "
                              "and prior: " + "; ".join(what))


def _expiries_fit(plan: Plan, source: str) -> None:
    """Expiries are display only (not in the document: the control plane never sees
    them), but each must belong to its change: a member of the group it is shown on (or
    one the change removes, when it ran out), or the entry itself; and its time left
    must be counted from the plan's own clock."""
    created = None
    with contextlib.suppress(ValueError):
        created = datetime.fromisoformat(plan.created_at.replace("Z", "+00:00"))
    for change in plan.changes:
        for e in change.expiries:
            if change.section == "groups":
                removed = change.fields[0].removed if change.fields else ()
                members = removed if e.expired else (change.after or ())
                fits = isinstance(members, list | tuple) and e.subject in members
            else:
                fits = e.subject == change.address
            left = int((datetime.fromisoformat(e.expires.replace("Z", "+00:00"))
                        - created).total_seconds()) if created is not None else e.seconds_left
            if not fits or left != e.seconds_left:
                raise _refuse(source, f"the expiry of {e.subject} shown on {change.address} "
                                      "does not belong to it")


def _same_order(got: list[ResourceChange], recorded: list[ResourceChange]) -> bool:
    """The same reordering of the SSH rules. The record names them by the desired
    state's names, the recomputation by content: the permutation is what must agree."""
    if len(got) != len(recorded):
        return False
    if not got:
        return True
    (mine,), (theirs,) = got, recorded
    old, new = theirs.before, theirs.after
    if not (isinstance(old, list) and isinstance(new, list)
            and all(isinstance(a, str) for a in [*old, *new])
            and len(old) == len(mine.before) and sorted(old) == sorted(new)
            and len(set(old)) == len(old)):
        return False
    label = dict(zip(old, mine.before, strict=True))
    return [label[a] for a in new] == mine.after and \
        theirs.fields == (FieldChange("order", before=old, after=new),)


# --- access changes ---------------------------------------------------------------------------


def _access_key(data: dict[str, Any]) -> str:
    for side in ("gained", "lost"):
        for change in data[side]:
            for rule in change["rules"]:
                # Sources and names are not in the document: paths are compared.
                rule["location"] = rule["name"] = None
            # Rules are listed by location where known: without them, by path.
            change["rules"].sort(key=lambda rule: rule["path"])
    return json.dumps(data, sort_keys=True)


def _same_access(plan: Plan, prior: dict[str, Any], policy: dict[str, Any],
                 source: str) -> None:
    from reconciler.diff.access import access_diff, to_json

    retag = [(d.device, d.device_id, d.after) for d in plan.device_changes]
    try:
        access = access_diff(prior, policy, plan.access_inventory, retag=retag)
    except ReconcilerError:
        access = None  # as at plan time: the plan then carries a warning instead
    if plan.access is None and access is None:
        return
    if plan.access is None or access is None:
        raise _refuse(source, "the access changes do not follow from the plan's document "
                              "and prior (" + ("none recorded" if plan.access is None
                                               else "they cannot be recomputed") + ")")
    if _access_key(to_json(access)) != _access_key(to_json(plan.access)):
        raise _refuse(source, "the access changes recorded in the plan differ from what its "
                              "document does (who gains and who loses access)")
    # The same diff: take its display data (groups, devices' tags) too, which plan files
    # do not keep, so a shown plan draws people as their groups as the fresh one did.
    plan.access = replace(plan.access, groups=access.groups, device_tags=access.device_tags)


def read(path: Any, *, key: str | None = None) -> Plan:
    """A saved plan, checked: schema, checksum, signature (with `key`), and record."""
    from reconciler.plan import planfile

    plan = planfile.read(path, key=key)
    verify(plan, str(path))
    return plan

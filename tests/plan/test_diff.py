"""diff: resource changes with field-level detail, three-way classification, device
tags, and the revocations-only guard."""

from __future__ import annotations

import pytest

from reconciler.diff.changes import Action, Origin
from reconciler.diff.normalize import resources
from reconciler.diff.resources import (
    classify,
    device_tag_changes,
    diff_resources,
    drift_changes,
    removes_access_only,
)

BASE = {
    "groups": {"group:eng": ["alice@x", "bob@x", "carol@x"], "group:old": ["zed@x"]},
    "hosts": {"db": "10.0.0.1"},
    "grants": [{"src": ["group:eng"], "dst": ["tag:web"], "ip": ["tcp:443"]}],
}
NAMES = {("grants", 0): "web"}


def changes(before: dict, after: dict) -> dict:
    return {c.address: c for c in diff_resources(resources(before, NAMES),
                                                  resources(after, NAMES))}


def test_create_update_delete_with_field_changes() -> None:
    after = {
        "groups": {"group:eng": ["alice@x", "bob@x", "dave@x"], "group:new": ["n@x"]},
        "hosts": {"db": "10.0.0.2"},
        "grants": [{"src": ["group:eng"], "dst": ["tag:web"], "ip": ["tcp:443", "tcp:80"],
                    "via": ["tag:r"]}],
    }
    got = changes(BASE, after)
    assert [c.action for c in got.values()] == [
        Action.UPDATE, Action.UPDATE, Action.CREATE, Action.DELETE, Action.UPDATE]
    eng = got['groups["group:eng"]']
    (members,) = eng.fields
    assert (members.field, members.added, members.removed, members.unchanged) == (
        "members", ("dave@x",), ("carol@x",), 2)
    host = got['hosts["db"]'].fields[0]
    assert (host.before, host.after, host.is_set) == ("10.0.0.1", "10.0.0.2", False)
    web = got['grants["web"]']
    assert [f.field for f in web.fields] == ["ip", "via"]
    assert web.fields[0].added == ("tcp:80",) and web.fields[1].added == ("tag:r",)
    assert web.unchanged_fields == 2
    assert got['groups["group:old"]'].after is None
    assert got['groups["group:new"]'].before is None


def test_no_changes_for_equal_documents() -> None:
    assert changes(BASE, BASE) == {}


@pytest.mark.parametrize(("live_eng", "desired_eng", "origin"), [
    # desired != base, live == base: a pending git change
    (["alice@x", "bob@x", "carol@x"], ["alice@x"], Origin.PENDING),
    # desired == base, live != base: an out-of-band edit the plan reverts
    (["alice@x", "bob@x", "carol@x", "mallory@x"], ["alice@x", "bob@x", "carol@x"],
     Origin.DRIFT),
    # both changed
    (["alice@x", "mallory@x"], ["alice@x"], Origin.CONFLICT),
])
def test_three_way_classification(live_eng: list, desired_eng: list, origin: Origin) -> None:
    live = {**BASE, "groups": {**BASE["groups"], "group:eng": live_eng}}
    desired = {**BASE, "groups": {**BASE["groups"], "group:eng": desired_eng}}
    live_res = resources(live, NAMES)
    (change,) = diff_resources(live_res, resources(desired, NAMES))
    assert classify(change, live_res, [resources(BASE, NAMES)]) is origin
    assert classify(change, live_res, None) is Origin.UNKNOWN


def test_a_deleted_resource_reverted_is_drift() -> None:
    live = {**BASE, "hosts": {}}
    live_res = resources(live, NAMES)
    (change,) = diff_resources(live_res, resources(BASE, NAMES))
    assert change.action is Action.CREATE
    assert classify(change, live_res, [resources(BASE, NAMES)]) is Origin.DRIFT
    (edit,) = drift_changes(resources(BASE, NAMES), live_res)
    assert (edit.address, edit.action) == ('hosts["db"]', Action.DELETE)


def test_live_matching_an_alternate_base_is_not_drift() -> None:
    # The base compiled today lost an expired member; live still has it as applied.
    expired_base = {**BASE, "groups": {**BASE["groups"], "group:eng": ["alice@x", "bob@x"]}}
    assert drift_changes(resources(expired_base), resources(BASE),
                         alternates=[resources(BASE)]) == []
    assert len(drift_changes(resources(expired_base), resources(BASE))) == 1


def test_device_tag_changes() -> None:
    desired = {"db-1": ["tag:db", "tag:prod"], "web-1": ["tag:web"]}
    live = {"db-1": ("n1", ("tag:db",)), "web-1": ("n2", ("tag:web",)), "x": ("n3", ())}
    (change,) = device_tag_changes(desired, live, base={"db-1": ["tag:db"]})
    assert (change.device, change.device_id, change.before, change.after, change.origin) == (
        "db-1", "n1", ("tag:db",), ("tag:db", "tag:prod"), Origin.PENDING)
    assert change.address == 'devices["db-1"].tags'
    (drifted,) = device_tag_changes({"db-1": ["tag:db"]}, {"db-1": ("n1", ("tag:prod",))},
                                    base={"db-1": ["tag:db"]})
    assert drifted.origin is Origin.DRIFT


def _one(before: dict, after: dict):  # type: ignore[no-untyped-def]
    (c,) = diff_resources(resources(before, NAMES), resources(after, NAMES))
    return c


@pytest.mark.parametrize(("after", "revocation"), [
    # members removed
    ({**BASE, "groups": {**BASE["groups"], "group:eng": ["alice@x"]}}, True),
    # a member added
    ({**BASE, "groups": {**BASE["groups"], "group:eng": [*BASE["groups"]["group:eng"], "e@x"]}},
     False),
    # an entry deleted
    ({**BASE, "grants": []}, True),
    # ports narrowed: tcp:443 -> tcp:443 only is no change; tcp:* -> tcp:443 narrows
    ({**BASE, "grants": [{"src": ["group:eng"], "dst": ["tag:web"], "ip": ["tcp:8443"]}]},
     False),
    # a host address changed: cannot be ordered, refused
    ({**BASE, "hosts": {"db": "10.0.0.9"}}, False),
    # a new group is created: refused
    ({**BASE, "groups": {**BASE["groups"], "group:x": ["a@x"]}}, False),
])
def test_removes_access_only(after: dict, revocation: bool) -> None:
    assert removes_access_only(_one(BASE, after)) is revocation


def test_narrowed_ports_and_ips_count_as_revocations() -> None:
    wide = {"grants": [{"src": ["g"], "dst": ["tag:web"], "ip": ["tcp:*"]}],
            "acls": [{"action": "accept", "src": ["g"], "dst": ["tag:web:*", "tag:db:1-1000"]}]}
    narrow = {"grants": [{"src": ["g"], "dst": ["tag:web"], "ip": ["tcp:443"]}],
              "acls": [{"action": "accept", "src": ["g"], "dst": ["tag:web:443",
                                                                  "tag:db:22,80"]}]}
    names = {("grants", 0): "g", ("acls", 0): "a"}
    got = diff_resources(resources(wide, names), resources(narrow, names))
    assert len(got) == 2 and all(removes_access_only(c) for c in got)
    got = diff_resources(resources(narrow, names), resources(wide, names))
    assert not any(removes_access_only(c) for c in got)
    # Another host on the same port is not narrower.
    other = {"acls": [{"action": "accept", "src": ["g"], "dst": ["tag:prod:443"]}]}
    (c,) = diff_resources(resources({"acls": [{"action": "accept", "src": ["g"],
                                               "dst": ["tag:web:*"]}]}, names),
                          resources(other, names))
    assert not removes_access_only(c)

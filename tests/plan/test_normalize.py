"""normalize: the canonical essence, fingerprints, resource addresses, name recovery."""

from __future__ import annotations

import json

from reconciler.diff.normalize import (
    content_hash,
    essence,
    fingerprint,
    normalize_entry,
    recover_names,
    resources,
)
from reconciler.load import hujson


def test_set_like_lists_are_trimmed_deduplicated_and_sorted() -> None:
    doc = {
        "groups": {" group:eng ": ["bob@example.com", " alice@example.com", "bob@example.com"]},
        "tagOwners": {"tag:prod": ["group:sre", "autogroup:admin"]},
        "acls": [{"action": "accept", "src": ["b", "a "], "dst": ["tag:x:22", "tag:a:*"]}],
        "ssh": [{"action": "check", "src": ["g"], "dst": ["d"],
                 "users": ["root", "autogroup:nonroot"]}],
        "autoApprovers": {"routes": {"10.0.0.0/8": ["tag:r", "group:a"]}, "exitNode": ["tag:x"]},
    }
    e = essence(doc)
    assert e["groups"] == {"group:eng": ["alice@example.com", "bob@example.com"]}
    assert e["tagOwners"]["tag:prod"] == ["autogroup:admin", "group:sre"]
    assert e["acls"][0]["src"] == ["a", "b"]
    assert e["acls"][0]["dst"] == ["tag:a:*", "tag:x:22"]
    assert e["ssh"][0]["users"] == ["autogroup:nonroot", "root"]
    assert e["autoApprovers"]["routes"]["10.0.0.0/8"] == ["group:a", "tag:r"]


def test_formatting_comments_and_key_order_do_not_change_the_fingerprint() -> None:
    a = hujson.loads('// c\n{"groups": {"group:a": ["x@y.z", "w@y.z"]}, "acls": '
                     '[{"action": "accept", "src": ["*"], "dst": ["*:*"]},],}')
    b = json.loads('{"acls": [{"dst": ["*:*"], "src": ["*"], "action": "accept"}], '
                   '"groups": {"group:a": ["w@y.z", "x@y.z", "w@y.z"]}}')
    assert fingerprint(essence(a)) == fingerprint(essence(b))
    b["groups"]["group:a"].append("v@y.z")
    assert fingerprint(essence(a)) != fingerprint(essence(b))


def test_legacy_acl_keys_and_default_action_are_folded() -> None:
    legacy = normalize_entry("acls", {"users": ["a"], "ports": ["b:*"]})
    modern = normalize_entry("acls", {"action": "accept", "src": ["a"], "dst": ["b:*"]})
    assert legacy == modern


def test_empty_sections_keep_their_meaning() -> None:
    # No rules at all allows everything; an empty acls list denies everything.
    assert essence({}) != essence({"acls": []})
    # Next to grants, an empty acls list adds nothing.
    grants = {"grants": [{"src": ["*"], "dst": ["*"], "ip": ["*"]}]}
    assert essence({**grants, "acls": []}) == essence(grants)
    # Empty mappings and empty test lists mean the same as absent ones.
    assert essence({"groups": {}, "tests": [], "ssh": []}) == essence({})


def test_order_free_sections_are_sorted_but_ssh_keeps_its_order() -> None:
    r1, r2 = {"src": ["a"], "dst": ["b:*"]}, {"src": ["c"], "dst": ["d:*"]}
    assert essence({"acls": [r1, r2]}) == essence({"acls": [r2, r1]})
    s1 = {"action": "accept", "src": ["a"], "dst": ["b"], "users": ["root"]}
    s2 = {"action": "check", "src": ["a"], "dst": ["b"], "users": ["root"]}
    assert essence({"ssh": [s1, s2]}) != essence({"ssh": [s2, s1]})


def test_resource_addresses() -> None:
    doc = {
        "groups": {"group:eng": ["a@x"]},
        "tagOwners": {"tag:prod": ["group:eng"]},
        "hosts": {"db": "10.0.0.1"},
        "acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}],
        "grants": [{"src": ["*"], "dst": ["*"], "ip": ["*"]}],
        "autoApprovers": {"routes": {"10.0.0.0/8": ["tag:r"]}, "exitNode": ["tag:x"]},
        "randomizeClientPort": True,
    }
    addrs = set(resources(doc, {("grants", 0): "all"}))
    acl_hash = content_hash(normalize_entry("acls", doc["acls"][0]))
    assert addrs == {
        'groups["group:eng"]', 'tagOwners["tag:prod"]', 'hosts["db"]',
        f'acls["{acl_hash}"]', 'grants["all"]',
        'autoApprovers.routes["10.0.0.0/8"]', "autoApprovers.exitNode",
        "settings.randomizeClientPort",
    }
    assert len(acl_hash) == 8


def test_identical_unnamed_entries_get_distinct_addresses() -> None:
    rule = {"src": ["*"], "dst": ["*"], "ip": ["*"]}
    res = resources({"grants": [rule, dict(rule)]})
    h = content_hash(normalize_entry("grants", rule))
    assert set(res) == {f'grants["{h}"]', f'grants["{h}#2"]'}


def test_names_are_recovered_by_content_then_by_position() -> None:
    web = {"src": ["group:eng"], "dst": ["tag:web"], "ip": ["tcp:443"]}
    db = {"src": ["group:sre"], "dst": ["tag:db"], "ip": ["*"]}
    base = {"grants": [web, db]}
    base_names = {("grants", 0): "web", ("grants", 1): "db"}
    # Live has the two in another order, and `db` edited out of band.
    db_edited = {**db, "ip": ["tcp:5432", "tcp:22"]}
    live = {"grants": [web, db_edited]}
    names = recover_names(live, [(base, base_names)])
    assert names == {("grants", 0): "web", ("grants", 1): "db"}
    swapped = {"grants": [db, web]}
    assert recover_names(swapped, [(base, base_names)]) == {("grants", 0): "db",
                                                             ("grants", 1): "web"}
    # A brand-new live entry where the named base entry still exists is not given its name.
    extra = {"grants": [web, db, {"src": ["x"], "dst": ["y"], "ip": ["*"]}]}
    assert ("grants", 2) not in recover_names(extra, [(base, base_names)])


def test_allow_all_default_is_a_resource() -> None:
    assert "policy.allowAll" in resources({})
    assert "policy.allowAll" in resources({"groups": {"group:a": ["a@x"]}})
    assert "policy.allowAll" not in resources({"acls": []})
    assert "policy.allowAll" not in resources({"grants": [{"src": ["*"], "dst": ["*"],
                                                           "ip": ["*"]}]})

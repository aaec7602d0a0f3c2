"""Evaluation semantics of policy-semantics.md §2, one corner case per test.

Each test runs real policies through `run_tests` (or the filter builder) against a small
native inventory; the expected outcome comes from the spec section named in the test.
"""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.core.errors import CompileError, PostureError
from reconciler.core.source import Location, SourceMap
from reconciler.engine import compile_policy, filter_rules, inventory_from_data, run_tests
from reconciler.engine.posture import Postures, cmpver

INVENTORY = inventory_from_data({
    "users": [
        {"login": "alice@example.com", "role": "admin"},
        {"login": "bob@example.com"},
        {"login": "carol@other.org"},
        {"login": "sam@partner.net", "shared": True},
    ],
    "devices": [
        {"name": "alice-laptop", "ipv4": "100.64.0.1", "ipv6": "fd7a:115c:a1e0::1",
         "user": "alice@example.com", "posture": {"node:os": "macos", "node:tsVersion": "1.62.1"}},
        {"name": "alice-phone", "ipv4": "100.64.0.2", "ipv6": "fd7a:115c:a1e0::2",
         "user": "alice@example.com", "posture": {"node:os": "ios"}},
        {"name": "bob-laptop", "ipv4": "100.64.0.3", "ipv6": "fd7a:115c:a1e0::3",
         "user": "bob@example.com", "posture": {"node:os": "linux", "node:tsVersion": "1.38.0"}},
        {"name": "carol-pc", "ipv4": "100.64.0.4", "ipv6": "fd7a:115c:a1e0::4",
         "user": "carol@other.org"},
        {"name": "sam-pc", "ipv4": "100.64.0.5", "ipv6": "fd7a:115c:a1e0::5",
         "user": "sam@partner.net"},
        {"name": "web-1", "ipv4": "100.64.1.1", "ipv6": "fd7a:115c:a1e0::101",
         "tags": ["tag:web"]},
        {"name": "db-1", "ipv4": "100.64.1.2", "ipv6": "fd7a:115c:a1e0::102", "tags": ["tag:db"]},
        {"name": "router", "ipv4": "100.64.1.3", "ipv6": "fd7a:115c:a1e0::103",
         "tags": ["tag:router"], "approved_routes": ["10.33.0.0/16"]},
    ],
}, source="test")

BASE: dict[str, Any] = {
    "groups": {"group:eng": ["alice@example.com", "bob@example.com"]},
    "tagOwners": {"tag:web": [], "tag:db": [], "tag:router": []},
    "hosts": {"webhost": "100.64.1.1", "subnet": "10.33.0.0/16"},
}


def run(rules: dict[str, Any], tests: list[dict[str, Any]], **extra: Any) -> list[str]:
    report = run_tests({**BASE, **rules, **extra, "tests": tests}, INVENTORY)
    return [r.status for r in report.results]


def acl(src: list[str], dst: list[str], **kw: Any) -> dict[str, Any]:
    return {"action": "accept", "src": src, "dst": dst, **kw}


def test_acl_dst_keeps_its_own_ports_grant_is_cross_product() -> None:
    tests = [{"src": "group:eng", "accept": ["tag:web:22", "tag:db:5432"]},
             {"src": "group:eng", "deny": ["tag:web:5432"]}]
    assert run({"acls": [acl(["group:eng"], ["tag:web:22", "tag:db:5432"])]}, tests) == \
        ["passed", "passed"]
    grant = {"src": ["group:eng"], "dst": ["tag:web", "tag:db"], "ip": ["22", "5432"]}
    assert run({"grants": [grant]}, tests) == ["passed", "failed"]


def test_missing_rules_allow_all_empty_array_denies_all() -> None:
    tests = [{"src": "bob@example.com", "accept": ["tag:db:1234"]}]
    assert run({}, tests) == ["passed"]
    assert run({"acls": []}, tests) == ["failed"]
    assert run({"grants": []}, tests) == ["failed"]


def test_app_only_grant_gives_no_network_access() -> None:
    grant = {"src": ["*"], "dst": ["tag:web"], "app": {"example.com/cap/x": [{}]}}
    assert run({"grants": [grant]}, [{"src": "bob@example.com", "accept": ["tag:web:80"]}]) == \
        ["failed"]


def test_via_does_not_widen_and_routes_carry_subnet_rules() -> None:
    grant = {"src": ["group:eng"], "dst": ["subnet"], "ip": ["tcp:443"], "via": ["tag:router"]}
    tests = [{"src": "alice@example.com", "accept": ["10.33.1.5:443"]},
             {"src": "alice@example.com", "deny": ["10.34.0.1:443", "tag:router:443"]}]
    assert run({"grants": [grant]}, tests) == ["passed", "passed"]
    compiled = compile_policy({**BASE, "grants": [grant]}, INVENTORY)
    assert filter_rules(compiled, INVENTORY.device("router")) == [{
        "SrcIPs": ["100.64.0.1-100.64.0.3", "fd7a:115c:a1e0::1-fd7a:115c:a1e0::3"],
        "DstPorts": [{"IP": "10.33.0.0/16", "Ports": {"First": 443, "Last": 443}}],
        "IPProto": [6],
    }]
    assert filter_rules(compiled, INVENTORY.device("web-1")) == []


def test_src_is_for_all_devices_on_accept_and_none_on_deny() -> None:
    # Only one of alice's two devices may reach db: accept and deny both fail (∀ / ¬∃).
    rules = {"acls": [acl(["100.64.0.1"], ["tag:db:*"])]}
    tests = [{"src": "alice@example.com", "accept": ["tag:db:5432"]},
             {"src": "alice@example.com", "deny": ["tag:db:5432"]},
             {"src": "100.64.0.1", "accept": ["tag:db:5432"]}]
    assert run(rules, tests) == ["failed", "failed", "passed"]


def test_dst_is_any_address_and_host_alias_is_its_literal_only() -> None:
    rules = {"acls": [acl(["bob@example.com"], ["webhost:80"])]}
    tests = [{"src": "bob@example.com", "accept": ["tag:web:80", "100.64.1.1:80"]},
             {"src": "bob@example.com", "deny": ["[fd7a:115c:a1e0::101]:80"]}]
    assert run(rules, tests) == ["passed", "passed"]


def test_protocols_default_either_tcp_or_udp_and_icmp_port_zero() -> None:
    rules = {"grants": [{"src": ["bob@example.com"], "dst": ["tag:web"], "ip": ["udp:53"]}]}
    assert run(rules, [{"src": "bob@example.com", "accept": ["tag:web:53"]},
                       {"src": "bob@example.com", "proto": "tcp", "deny": ["tag:web:53"]},
                       {"src": "bob@example.com", "proto": "icmp", "deny": ["tag:web:0"]}]) == \
        ["passed", "passed", "passed"]
    rules = {"acls": [acl(["bob@example.com"], ["tag:web:*"])]}
    assert run(rules, [{"src": "bob@example.com", "proto": "icmp", "accept": ["tag:web:0"]},
                       {"src": "bob@example.com", "proto": "17", "accept": ["tag:web:9"]}]) == \
        ["passed", "passed"]
    rules = {"acls": [acl(["bob@example.com"], ["tag:web:80"], proto="tcp")]}
    assert run(rules, [{"src": "bob@example.com", "proto": "icmp", "accept": ["tag:web:0"]}]) \
        == ["failed"]


def test_autogroup_self_and_member_and_tagged() -> None:
    rules = {"acls": [acl(["autogroup:member"], ["autogroup:self:*"]),
                      acl(["autogroup:tagged"], ["tag:db:5432"])]}
    tests = [{"src": "alice@example.com", "accept": ["100.64.0.2:22"]},
             {"src": "alice@example.com", "deny": ["bob@example.com:22"]},
             {"src": "tag:web", "accept": ["tag:db:5432"]},
             {"src": "bob@example.com", "deny": ["tag:db:5432"]}]
    assert run(rules, tests) == ["passed"] * 4


def test_wildcard_src_is_the_tailnet_not_the_internet() -> None:
    rules = {"acls": [acl(["*"], ["tag:web:80"])], "hosts": {**BASE["hosts"], "ext": "8.8.8.8"}}
    assert run(rules, [{"src": "ext", "deny": ["tag:web:80"]},
                       {"src": "carol@other.org", "accept": ["tag:web:80"]}]) == \
        ["passed", "passed"]
    danger = {"acls": [acl(["autogroup:danger-all"], ["tag:web:80"])],
              "hosts": {**BASE["hosts"], "ext": "8.8.8.8"}}
    assert run(danger, [{"src": "ext", "accept": ["tag:web:80"]}]) == ["passed"]


def test_domain_role_and_shared_autogroups() -> None:
    rules = {"acls": [acl(["user:*@example.com"], ["tag:web:80"]),
                      acl(["autogroup:admin"], ["tag:db:22"]),
                      acl(["autogroup:shared"], ["tag:web:8080"])]}
    tests = [{"src": "bob@example.com", "accept": ["tag:web:80"], "deny": ["tag:db:22"]},
             {"src": "carol@other.org", "deny": ["tag:web:80"]},
             {"src": "alice@example.com", "accept": ["tag:db:22"]},
             {"src": "sam@partner.net", "accept": ["tag:web:8080"], "deny": ["tag:web:80"]}]
    assert run(rules, tests) == ["passed"] * 4


def test_ipsets_add_and_remove() -> None:
    ipsets = {"ipset:lab": ["add 10.33.0.0/16", "remove 10.33.5.0/24", "add host:webhost"]}
    rules = {"acls": [acl(["bob@example.com"], ["ipset:lab:443"])]}
    tests = [{"src": "bob@example.com", "accept": ["10.33.1.1:443", "webhost:443"],
              "deny": ["10.33.5.9:443"]}]
    assert run(rules, tests, ipsets=ipsets) == ["passed"]


def test_postures_srcposture_default_and_test_attrs() -> None:
    postures = {"posture:mac": ["node:os == 'macos'", "node:tsVersion >= '1.50'"],
                "posture:linux": ["node:os IN ['linux']"]}
    rules = {"acls": [acl(["group:eng"], ["tag:db:5432"], srcPosture=["posture:mac"]),
                      acl(["group:eng"], ["tag:web:80"])]}
    tests = [{"src": "bob@example.com", "deny": ["tag:db:5432"], "accept": ["tag:web:80"]},
             {"src": "bob@example.com", "accept": ["tag:db:5432"],
              "srcPostureAttrs": {"node:os": "macos", "node:tsVersion": "1.62"}},
             # alice-laptop (macos 1.62.1) complies, alice-phone (ios) does not
             {"src": "alice@example.com", "accept": ["tag:db:5432"]},
             {"src": "alice@example.com", "deny": ["tag:db:5432"]}]
    assert run(rules, tests, postures=postures) == ["passed", "passed", "failed", "failed"]
    # defaultSrcPosture binds rules without their own srcPosture
    tests = [{"src": "bob@example.com", "accept": ["tag:web:80"]},
             {"src": "alice@example.com", "deny": ["tag:web:80"]}]
    assert run(rules, tests, postures=postures, defaultSrcPosture=["posture:linux"]) == \
        ["passed", "passed"]


@pytest.mark.parametrize(("a", "b", "want"), [
    ("1.40", "1.40.0", -1), ("1.62.1", "1.62", 1), ("12", "12.0", -1), ("1.9", "1.10", -1),
    ("13.1", "13.1", 0), ("1.40.0-t123", "1.40.0", 1), ("abc", "abd", -1),
])
def test_cmpver(a: str, b: str, want: int) -> None:
    assert cmpver(a, b) == want
    assert cmpver(b, a) == -want


def test_posture_conditions() -> None:
    p = Postures({"posture:x": ["node:os != 'windows'"], "posture:set": ["custom:tier IS SET"],
                  "posture:unset": ["custom:tier NOT SET"],
                  "posture:num": ["custom:score > 5"]})
    assert p.satisfied(["posture:x"], {"node:os": "linux"})
    assert not p.satisfied(["posture:x"], {})  # unset never matches, even for !=
    assert p.satisfied(["posture:set"], {"custom:tier": "gold"})
    assert p.satisfied(["posture:unset"], {}) and not p.satisfied(["posture:unset"],
                                                                   {"custom:tier": 1})
    assert p.satisfied(["posture:num"], {"custom:score": 7})
    assert not p.satisfied(["posture:num"], {"custom:score": "x"})
    with pytest.raises(PostureError, match="expected an operator after node:os"):
        Postures({"posture:bad": ["node:os ~= 1"]})


def test_failures_carry_source_locations_and_group_by_src() -> None:
    sources = SourceMap({("tests", 0): Location("policies/tests.yaml", 3, 5),
                         ("tests", 1): Location("policies/tests.yaml", 7, 5)})
    policy = {**BASE, "acls": [acl(["bob@example.com"], ["tag:web:80"])],
              "tests": [{"src": "bob@example.com", "accept": ["tag:web:80", "tag:db:22"]},
                        {"src": "bob@example.com", "deny": ["tag:web:80"]},
                        {"src": "tag:web", "accept": ["tag:db:1"]}]}
    report = run_tests(policy, INVENTORY, sources)
    assert [str(r.location) for r in report.failed[:2]] == \
        ["policies/tests.yaml:3:5", "policies/tests.yaml:7:5"]
    assert report.tailscale_failures() == [
        {"user": "bob@example.com", "errors": ['address "tag:db:22": want: Accept, got: Drop',
                                               'address "tag:web:80": want: Drop, got: Accept']},
        {"user": "tag:web", "errors": ['address "tag:db:1": want: Accept, got: Drop']},
    ]


def test_identity_without_devices_fails() -> None:
    policy = {**BASE, "groups": {"group:none": []}, "acls": [acl(["*"], ["*:*"])],
              "tests": [{"src": "group:none", "deny": ["tag:web:80"]}]}
    report = run_tests(policy, INVENTORY)
    assert report.failed and "has no devices" in report.failed[0].errors[0]


def test_synthetic_inventory_is_used_without_one() -> None:
    policy = {"tagOwners": {"tag:web": []},
              "acls": [acl(["dave@example.com"], ["tag:web:443"])],
              "tests": [{"src": "dave@example.com", "accept": ["tag:web:443"],
                         "deny": ["tag:web:80"]}]}
    report = run_tests(policy)
    assert report.ok and report.inventory == "synthetic" and report.assertions == 2


def test_ssh_tests() -> None:
    ssh = [{"action": "check", "src": ["group:eng"], "dst": ["tag:web"], "users": ["root"]},
           {"action": "accept", "src": ["autogroup:member"], "dst": ["autogroup:self"],
            "users": ["autogroup:nonroot", "localpart:*@example.com"]}]
    policy = {**BASE, "ssh": ssh, "sshTests": [
        {"src": "bob@example.com", "dst": ["tag:web"], "check": ["root"], "accept": ["root"]},
        {"src": "bob@example.com", "dst": ["bob@example.com"], "accept": ["bob", "ubuntu"],
         "deny": ["root"]},
        {"src": "bob@example.com", "dst": ["alice@example.com"], "deny": ["ubuntu"]},
        {"src": "bob@example.com", "dst": ["tag:db"], "accept": ["root"]},
        {"src": "bob@example.com", "dst": ["10.0.0.0/8"], "accept": ["root"]},
    ]}
    report = run_tests(policy, INVENTORY)
    assert [r.status for r in report.results] == ["passed", "passed", "passed", "failed",
                                                  "invalid"]
    assert report.results[3].errors == ['address "tag:db" user "root": want: Accept, got: Drop']


def test_odd_rules_raise_reconciler_errors_not_tracebacks() -> None:
    with pytest.raises(CompileError, match="autogroup:self"):
        compile_policy({"acls": [acl(["autogroup:self"], ["*:*"])]}, INVENTORY)
    with pytest.raises(CompileError, match="group:nope"):
        compile_policy({"acls": [acl(["group:nope"], ["*:*"])]}, INVENTORY)
    with pytest.raises(CompileError, match="invalid first integer"):
        compile_policy({"acls": [acl(["*"], ["*:ssh"])]}, INVENTORY)
    with pytest.raises(CompileError, match="must be an object"):
        compile_policy({"acls": ["nope"]}, INVENTORY)

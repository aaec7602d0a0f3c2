"""Odd policies never crash the engine: every failure is a ReconcilerError with a message."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.core.errors import ReconcilerError
from reconciler.engine import access_matrix, compile_policy, explain, filter_rules, run_tests
from reconciler.engine.inventory_io import synthetic_inventory
from tests.conftest import examples

ATOMS = ["*", "tag:a", "group:g", "a@x.com", "autogroup:member", "autogroup:self",
         "autogroup:internet", "autogroup:danger-all", "10.0.0.0/8", "h", "ipset:s", "svc:x",
         "%bad", "", "tag:a:22", "*:*", "a@x.com:80", "[fd7a::1]:22", "1.2.3.4:0",
         "tag:a:1-2", "user:*@x.com", "host:h", "autogroup:admin", "posture:p", "tcp:22",
         "icmp:*", "22", "tag:a:*", "root", "accept", "check"]
KEYS = ["src", "dst", "users", "ip", "proto", "action", "accept", "deny", "check", "via",
        "app", "srcPosture", "srcPostureAttrs", "allow", "user", "ports"]
values = st.recursive(
    st.one_of(st.sampled_from(ATOMS), st.none(), st.integers(-1, 70000), st.booleans()),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)),
    max_leaves=12,
)
sections = st.fixed_dictionaries({}, optional={
    "acls": values, "grants": values, "ssh": values, "tests": values, "sshTests": values,
    "groups": st.one_of(values, st.just({"group:g": ["a@x.com"]})),
    "tagOwners": st.one_of(values, st.just({"tag:a": []})),
    "hosts": st.one_of(values, st.just({"h": "100.64.9.9"})),
    "ipsets": st.one_of(values, st.just({"ipset:s": ["add 10.0.0.0/8", "remove 10.1.0.0/16"]})),
    "postures": st.one_of(values, st.just({"posture:p": ["node:os == 'linux'"]})),
    "defaultSrcPosture": values,
})


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sections)
def test_odd_policies_fail_cleanly(policy: dict[str, Any]) -> None:
    for call in (
        lambda: run_tests(policy),
        lambda: explain(policy, "a@x.com", "tag:a:22"),
        lambda: access_matrix(policy),
        lambda: [filter_rules(c, d) for c in [compile_policy(policy, synthetic_inventory(policy))]
                 for d in c.inventory.devices],
    ):
        try:
            call()
        except ReconcilerError as e:
            assert str(e)



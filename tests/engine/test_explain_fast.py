"""`explain` through the rule index equals the plain scan of every rule.

The allowing rules come from the rules whose dst holds the destination (found through
the dst selectors) and the autogroup:self rules; near misses are scored by counting
unmet conditions through the selectors, and only the nearest are spelled out.
`benchmarks.reference.reference_explain` checks every rule for every source device and
spells out every rule's reasons. On hypothesis-generated tailnets (postures, self,
internet, subnets, protocols, IP and host sources) the two explanations are equal.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.generate import Scale, generate
from benchmarks.reference import reference_explain
from reconciler.core.errors import ReconcilerError
from reconciler.engine import explain, inventory_from_data
from tests.engine.test_access_fast import GROUPS, HOSTS, TAGS, USERS, acl, device, grant

POSTURES = {"posture:linux": ["node:os == 'linux'"]}
postured = st.tuples(grant, st.sampled_from([None, ["posture:linux"]])).map(
    lambda t: {**t[0], "srcPosture": t[1]} if t[1] else t[0])
dev = st.tuples(device, st.sampled_from([None, {"node:os": "linux"}, {"node:os": "mac"}])).map(
    lambda t: {**t[0], "posture": t[1]} if t[1] else t[0])
SRCS = [*USERS, *TAGS, *GROUPS, "h1", "100.64.0.1", "100.64.0.3"]
HOSTS_DST = [*USERS, *TAGS, "h1", "h6", "100.64.0.2", "10.0.0.5", "8.8.8.8"]
question = st.tuples(st.sampled_from(SRCS), st.sampled_from(HOSTS_DST),
                     st.sampled_from([22, 53, 80, 443, 5432, 0]),
                     st.sampled_from([None, "udp", "icmp", "tcp"]))


def _same(policy: dict[str, Any], inventory: Any, src: str, dst: str, proto: str | None,
          near: int = 3) -> None:
    try:
        want = reference_explain(policy, src, dst, proto=proto, inventory=inventory, near=near)
    except Exception as e:  # the reference raises the runner's own errors
        try:
            explain(policy, src, dst, proto=proto, inventory=inventory, near=near)
        except ReconcilerError:
            return
        raise AssertionError(f"the reference refused ({e!r}), explain did not") from None
    got = explain(policy, src, dst, proto=proto, inventory=inventory, near=near)
    assert got.to_dict() == want.to_dict()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(devices=st.lists(dev, min_size=1, max_size=8), acls=st.lists(acl, max_size=4),
       grants=st.lists(postured, max_size=4), q=question, near=st.sampled_from([1, 3, 50]))
def test_explain_equals_reference(devices: list[dict[str, Any]], acls: list[Any],
                                  grants: list[Any], q: tuple[str, str, int, str | None],
                                  near: int) -> None:
    policy = {"groups": GROUPS, "tagOwners": {t: [] for t in TAGS}, "hosts": HOSTS,
              "postures": POSTURES, "acls": acls, "grants": grants}
    inventory = inventory_from_data({
        "users": [{"login": u} for u in USERS],
        "devices": [{"name": f"n{i}", **d} for i, d in enumerate(devices)]})
    src, host, port, proto = q
    _same(policy, inventory, src, f"{host}:{port}", proto, near)


def test_generated_tailnet_explains_as_reference() -> None:
    policy, data = generate(Scale("tiny", 150, 10, 120), 6)
    inventory = inventory_from_data(data)
    groups = sorted(policy["groups"])
    for src, dst in ((groups[0], "tag:t1:22"), (groups[1], "tag:t1:7"),
                     ("user3@example.com", "h2:443"), ("tag:t2", "100.64.0.9:22"),
                     (groups[2], "10.0.3.4:80")):
        _same(policy, inventory, src, dst, None)

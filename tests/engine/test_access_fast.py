"""The access matrix from shared selector rows equals the plain per-rule evaluation.

`reconciler.engine.access` merges per-selector rows along shared prefixes and renders
them a source at a time; `benchmarks.reference.reference_access_matrix` checks every
(rule, source identity, destination identity) by address-set overlap. On
hypothesis-generated tailnets (shared addresses, IPv4-only devices, several
tags per device, self rules, subnets, hosts, protocols, `--from` / `--to`) the two give
the same entries, and the streamed text and JSON are what rendering those entries one
by one gives (the CLI's output before streaming).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import reconciler.cli.engine_cmds  # noqa: F401  (registers the commands on `cli`)
from benchmarks.generate import Scale, generate
from benchmarks.reference import reference_access_matrix
from reconciler.cli import cli
from reconciler.core.errors import CompileError
from reconciler.engine import compute_access, inventory_from_data
from reconciler.plan.planfile import FORMAT_VERSION

USERS = ["a@x.com", "b@x.com", "c@y.com", "d@x.com"]
TAGS = ["tag:web", "tag:db", "tag:ci"]
GROUPS = {"group:eng": ["a@x.com", "b@x.com"], "group:ops": ["c@y.com", "b@x.com"],
          "group:none": []}
HOSTS = {"h1": "100.64.0.1", "lab": "10.0.0.0/24", "h6": "fd7a:115c:a1e0::2"}
ADDRS = ["100.64.0.1", "100.64.0.2", "100.64.0.3", "100.64.0.9", "10.0.0.5"]
ADDRS6 = ["fd7a:115c:a1e0::1", "fd7a:115c:a1e0::2", None]
SRC = [*USERS, *TAGS, *GROUPS, "*", "autogroup:member", "autogroup:tagged", "h1", "lab",
       "100.64.0.0/30", "10.0.0.0/8", "user:*@x.com"]
DST = [*SRC, "autogroup:self", "autogroup:internet", "h6", "100.64.0.9", "0.0.0.0/0"]
PORTS = ["22", "80,443", "1-1024", "*", "443", "5432"]
IPS = ["tcp:22", "udp:53", "*", "443", "icmp:*", "tcp:80-90"]

owner = st.one_of(st.fixed_dictionaries({"user": st.sampled_from(USERS)}),
                  st.fixed_dictionaries({"tags": st.lists(st.sampled_from(TAGS), min_size=1,
                                                          max_size=2, unique=True)}))
device = st.tuples(st.sampled_from(ADDRS), st.sampled_from(ADDRS6), owner).map(
    lambda t: {"ipv4": t[0], "ipv6": t[1], **t[2]})
acl = st.fixed_dictionaries(
    {"action": st.just("accept"), "src": st.lists(st.sampled_from(SRC), min_size=1, max_size=3),
     "dst": st.lists(st.tuples(st.sampled_from(DST), st.sampled_from(PORTS)).map(
         lambda t: f"{t[0]}:{t[1]}"), min_size=1, max_size=3)},
    optional={"proto": st.sampled_from(["tcp", "udp", "icmp"])})
grant = st.fixed_dictionaries(
    {"src": st.lists(st.sampled_from(SRC), min_size=1, max_size=3),
     "dst": st.lists(st.sampled_from(DST), min_size=1, max_size=3),
     "ip": st.lists(st.sampled_from(IPS), min_size=1, max_size=2)})
filters = st.one_of(st.none(), st.sampled_from([*USERS, *TAGS, *GROUPS, "*", "lab", "h1",
                                                "autogroup:member", "100.64.0.2"]))


def _inventory(devices: list[dict[str, Any]]) -> dict[str, Any]:
    out = []
    for i, d in enumerate(devices):
        d = {k: v for k, v in d.items() if v is not None}
        out.append({"name": f"n{i}", **d})
    return {"users": [{"login": u} for u in USERS], "devices": out}


def _check(policy: dict[str, Any], inventory: Any, src: str | None, dst: str | None) -> None:
    try:
        want = reference_access_matrix(policy, inventory, src=src, dst=dst)
    except CompileError as e:
        try:
            compute_access(policy, inventory, src=src, dst=dst)
        except CompileError as mine:
            assert str(mine) == str(e)
            return
        raise AssertionError(f"the reference refused ({e}), the fast path did not") from None
    matrix = compute_access(policy, inventory, src=src, dst=dst)
    assert list(matrix.entries()) == want
    assert "".join(matrix.text()) == "".join(f"{e}\n" for e in want)
    assert "".join(matrix.json()) == json.dumps([e.to_dict() for e in want], indent=2)
    assert bool(matrix) == bool(want)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(devices=st.lists(device, max_size=8), acls=st.lists(acl, max_size=4),
       grants=st.lists(grant, max_size=4), src=filters, dst=filters)
def test_matrix_equals_reference(devices: list[dict[str, Any]], acls: list[Any],
                                 grants: list[Any], src: str | None, dst: str | None) -> None:
    policy = {"groups": GROUPS, "tagOwners": {t: [] for t in TAGS}, "hosts": HOSTS,
              "acls": acls, "grants": grants}
    _check(policy, inventory_from_data(_inventory(devices)), src, dst)


def test_generated_tailnet_equals_reference() -> None:
    """A benchmark tailnet: many sources sharing autogroup:member and group prefixes."""
    policy, data = generate(Scale("tiny", 120, 10, 150), 4)
    inventory = inventory_from_data(data)
    group = sorted(policy["groups"])[0]
    for src, dst in ((None, None), (group, None), (None, "tag:t1"), ("tag:t2", group)):
        _check(policy, inventory, src, dst)


def test_no_rules_means_allow_all_and_empty_matrix_says_so(tmp_path: Path) -> None:
    (tmp_path / "policies").mkdir()
    inv = tmp_path / "inventory.json"
    inv.write_text(json.dumps(_inventory([{"ipv4": "100.64.0.1", "ipv6": None,
                                           "user": "a@x.com"}])))
    (tmp_path / "policies" / "p.json").write_text(json.dumps({"tagOwners": {"tag:web": []}}))
    args = ["-C", str(tmp_path), "access", "--inventory", str(inv)]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0
    assert result.stdout == "a@x.com -> *: tcp/udp/icmp *\na@x.com -> a@x.com: tcp/udp/icmp *\n"
    (tmp_path / "policies" / "p.json").write_text(json.dumps({"acls": []}))
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.stdout == "No access.\n"
    result = CliRunner().invoke(cli, [*args, "--format", "json"], catch_exceptions=False)
    assert json.loads(result.stdout) == {"format_version": FORMAT_VERSION, "command": "access",
                                         "rows": []}

"""The engine's fast paths give exactly what the plain paths give.

* inventory loading: the well-formed-device loops against the per-field checking loops
  (same inventory, or the same error message), on hypothesis-generated inventories;
* compile: rules built without the dataclass `__init__` equal `Rule(...)`;
* test destinations: an IP literal found by `strict_ip` is what `parse_selector` finds;
* the rule index: `verdict`, `allowed` and `allowing_rules` against the one reference
  evaluator (`index.scan_allowed`, which scans every rule), over protocols, wide port
  ranges, posture-bound and autogroup:self rules.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.generate import Scale, generate
from reconciler.core.errors import InventoryError
from reconciler.core.inventory import Inventory
from reconciler.engine import compile_policy, inventory_from_data
from reconciler.engine import inventory_io as io
from reconciler.engine.addrset import parse_ip, strict_ip
from reconciler.engine.compile import Rule
from reconciler.engine.index import scan_allowed, scan_allowing
from reconciler.engine.tests_runner import TCP_OR_UDP, Runner
from reconciler.validate.selectors import Kind, SelectorSyntaxError, parse_selector
from tests.conftest import examples

# --- inventory loading ---------------------------------------------------------------------

ATOMS: list[Any] = [None, "", " ", 0, 1, True, [], {}, "x", " dev ", "100.64.0.1",
                    " 100.64.0.2 ", "fd7a:115c:a1e0::1", "300.1.1.1", "10.0.0.0/24",
                    "alice@example.com", "bob@example.com ", "tag:web", ["tag:web"],
                    ["tag:a", " tag:b "], ["tag:a", ""], [1], ["10.0.0.0/24"], ["bad"],
                    {"node:os": "linux"}, "admin", "member", "owner", "nobody"]
USER_KEYS = ["login", "role", "id", "display_name", "shared", "bogus"]
DEVICE_KEYS = [*sorted(io.DEVICE_KEYS), "bogus"]
atoms = st.sampled_from(ATOMS)
users = st.lists(st.one_of(
    st.sampled_from(["carol@example.com", 7]),
    st.dictionaries(st.sampled_from(USER_KEYS), atoms, max_size=4),
    st.fixed_dictionaries({"login": st.sampled_from(["alice@example.com", " dave@x.com "])},
                          optional={"role": st.sampled_from(["admin", "member", "x"])}),
), max_size=4)
device = st.one_of(
    st.dictionaries(st.sampled_from(DEVICE_KEYS), atoms, max_size=6),
    st.fixed_dictionaries(
        {"name": st.sampled_from(["a", "b", " c ", "a "]),
         "ipv4": st.sampled_from(["100.64.0.1", "100.64.0.9", "", "1.2.3"])},
        optional={"user": st.sampled_from(["alice@example.com", "erin@example.com", "", 3]),
                  "tags": st.sampled_from([["tag:web"], [], ["tag:a", " tag:b "], "tag:x"]),
                  "ipv6": st.sampled_from(["fd7a:115c:a1e0::2", None, "[fd7a::1]"]),
                  "posture": st.sampled_from([{"node:os": "linux"}, None, [], "x"]),
                  "approved_routes": st.sampled_from([["10.0.0.0/24"], ["nope"], []]),
                  "id": st.sampled_from(["n1", 5]), "shared": st.booleans()}),
    st.sampled_from(["laptop", None, 3]),
)
VALID = {"name": "ok", "ipv4": "100.64.0.7", "ipv6": "fd7a:115c:a1e0::7",
         "user": "alice@example.com", "tags": ["tag:web"], "posture": {"node:os": "linux"},
         "approved_routes": ["10.0.0.0/24"], "advertised_routes": ["10.0.0.0/24"],
         "id": "n7", "shared": True}
# a well-formed device with one field dropped or replaced: the fast loop's edge cases
one_off = st.tuples(st.sampled_from(DEVICE_KEYS), st.one_of(atoms, st.just(...))).map(
    lambda kv: {**{k: v for k, v in VALID.items() if k != kv[0]},
                **({} if kv[1] is ... else {kv[0]: kv[1]})})


def _plain(data: Any, monkeypatch: pytest.MonkeyPatch) -> Inventory | str:
    with monkeypatch.context() as m:
        m.setattr(io, "_users_fast", lambda raw: None)
        m.setattr(io, "_devices_fast", lambda raw, source, logins: None)
        return _load(data)


def _load(data: Any) -> Inventory | str:
    try:
        return inventory_from_data(data, source="inv")
    except InventoryError as e:
        return str(e)


def _fields(inv: Inventory | str) -> Any:
    if isinstance(inv, str):
        return inv
    return ([vars(u) for u in inv.users], [dataclasses.asdict(d) for d in inv.devices])


@settings(max_examples=examples(400), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(users, st.lists(st.one_of(device, one_off), max_size=5))
def test_fast_inventory_loops_match_the_checking_loops(
        monkeypatch: pytest.MonkeyPatch, user_list: list[Any], devices: list[Any]) -> None:
    data = {"users": user_list, "devices": devices}
    fast = _load(data)
    assert _fields(fast) == _fields(_plain(data, monkeypatch))
    if not isinstance(fast, str):
        assert all(vars(d).keys() == {f.name for f in dataclasses.fields(d)}
                   for d in fast.devices)


def test_fast_inventory_loops_match_on_every_one_field_change(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for key in DEVICE_KEYS:
        for value in [*ATOMS, ...]:
            changed = {k: v for k, v in VALID.items() if k != key}
            if value is not ...:
                changed[key] = value
            data = {"users": [{"login": "alice@example.com"}],
                    "devices": [{**VALID, "name": "first"}, changed]}
            assert _fields(_load(data)) == _fields(_plain(data, monkeypatch)), (key, value)


def test_fast_inventory_loop_runs_on_well_formed_devices() -> None:
    _, inventory = generate(Scale("tiny", 20, 40, 30), 1)
    assert io._devices_fast(inventory["devices"], "inv", set()) is not None
    assert io._users_fast(inventory["users"]) is not None


# --- compile ---------------------------------------------------------------------------------


def test_compiled_rules_equal_dataclass_rules() -> None:
    policy, inventory = generate(Scale("tiny", 40, 60, 30), 2)
    compiled = compile_policy(policy, inventory_from_data(inventory))
    names = {f.name for f in dataclasses.fields(Rule)}
    for rule in compiled.rules:
        values = {k: v for k, v in vars(rule).items() if k in names}
        assert values.keys() == names
        rebuilt = Rule(**values)
        assert rebuilt == rule and hash(rebuilt) == hash(rule)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rebound_rules_are_the_rules_compiled_over_the_other_inventory(seed: int) -> None:
    """plan's access diff runs over the tailnet plus a device per named identity that
    owns none: the tests' compiled rules rebound to that inventory are what compiling
    the policy over it gives, field by field and set by set."""
    from reconciler.engine.compile import rebound
    from reconciler.engine.inventory_io import with_named_identities

    policy, data = generate(Scale("tiny", 40, 60, 30), seed)
    policy["groups"][sorted(policy["groups"])[0]].append("newcomer@example.com")
    tailnet = inventory_from_data(data)
    wider = with_named_identities(tailnet, policy)
    assert wider is not tailnet
    compiled = compile_policy(policy, tailnet)
    for rule in compiled.rules:  # sets cached over the tailnet: not carried over
        assert rule.src is not None and rule.dst is not None
    moved = rebound(compiled, wider)
    fresh = compile_policy(policy, wider)
    assert moved is not None and moved.inventory is wider
    assert moved.rules == fresh.rules and (moved.allow_all, moved.app_rules) == (
        fresh.allow_all, fresh.app_rules)
    assert [(r.src, r.dst) for r in moved.rules] == [(r.src, r.dst) for r in fresh.rules]
    assert any(r.src != s.src for r, s in zip(moved.rules, compiled.rules, strict=True))
    with_app = {**policy, "grants": [*policy.get("grants", []), {
        "src": ["*"], "dst": ["*"], "app": {"example.com/cap/x": [{}]}}]}
    assert rebound(compile_policy(with_app, tailnet), wider) is None


# --- IP literals -----------------------------------------------------------------------------


@given(st.one_of(st.ip_addresses().map(str), st.text(alphabet="0123456789abcdef:.[]% ",
                                                    max_size=20)))
def test_strict_ip_agrees_with_parse_selector(text: str) -> None:
    point = strict_ip(text)
    if point is None:
        return
    try:
        sel = parse_selector(text)
    except SelectorSyntaxError:
        pytest.fail(f"{text!r}: strict_ip takes it, parse_selector does not")
    assert sel.kind is Kind.IP and parse_ip(sel.value) == point


# --- rule index ------------------------------------------------------------------------------


def _tailnet(seed: int) -> tuple[Runner, list[str]]:
    """A tiny generated tailnet plus rules for every slow path: other protocols, wide
    port ranges, a posture-bound rule, autogroup:self, a CIDR source. Cached per seed."""
    found = _TAILNETS.get(seed)
    if found is not None:
        return found
    policy, inventory = generate(Scale("tiny", 50, 80, 40), seed)
    rnd = random.Random(seed)
    for d in inventory["devices"][::3]:
        d["posture"] = {"node:os": "linux"}
    policy["postures"] = {"posture:linux": ["node:os == 'linux'"]}
    users = sorted({d["user"] for d in inventory["devices"] if "user" in d})
    identities = users + sorted(policy["tagOwners"]) + sorted(policy["groups"])
    extra: list[dict[str, Any]] = [
        {"action": "accept", "src": [rnd.choice(identities)], "proto": proto,
         "dst": [f"{rnd.choice(identities)}:{ports}"]}
        for proto, ports in [("udp", "22"), ("icmp", "*"), ("tcp", "1000-2000"),
                             ("", "1-65535"), ("17", "80,443"), ("", "7")]]
    extra += [{"action": "accept", "src": ["autogroup:member"], "dst": ["autogroup:self:9"]},
              {"action": "accept", "src": ["*"], "dst": ["*:13"],
               "srcPosture": ["posture:linux"]},
              {"action": "accept", "src": ["10.0.0.0/8"], "dst": ["*:22"]}]
    policy["acls"] = [*policy["acls"], *extra]
    found = _TAILNETS[seed] = (
        Runner(compile_policy(policy, inventory_from_data(inventory))), identities)
    return found


_TAILNETS: dict[int, tuple[Runner, list[str]]] = {}
PROTOS = [TCP_OR_UDP, frozenset({6}), frozenset({17}), frozenset({1})]
PORTS = [0, 7, 9, 13, 22, 80, 443, 1500, 5432, 40000]
question = st.tuples(st.integers(1, 4), st.randoms(use_true_random=False),
                     st.sampled_from(PORTS), st.sampled_from(PROTOS))


@settings(max_examples=examples(1000), deadline=None)
@given(question)
def test_index_answers_match_the_reference_scan(
        q: tuple[int, random.Random, int, frozenset[int]]) -> None:
    """`verdict` (every / any source), `allowed` and `allowing_rules` (explain's) give
    what the one reference evaluator, which scans every rule, gives."""
    seed, rnd, port, protos = q
    runner, identities = _tailnet(seed)
    index, compiled = runner.index, runner.compiled
    src_text, host = rnd.choice(identities), rnd.choice(identities)
    srcs = runner.sources_of(src_text, None)
    group = runner.group_of(src_text, srcs, None)
    points, _ = runner.parse_dst(f"{host}:{port}")
    each = [scan_allowed(compiled, index.owner, s, points, port, protos) for s in srcs]
    assert index.verdict(group, points, port, protos, every=True, key=host) \
        == (bool(srcs) and all(each))
    assert index.verdict(group, points, port, protos, every=False, key=host) == any(each)
    for s, ok in zip(srcs, each, strict=True):
        assert index.allowed(s, points, port, protos) == ok
        assert index.allowing_rules(s, points, port, protos) \
            == scan_allowing(compiled, index.owner, s, points, port, protos)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_verdicts_match_a_scan_of_every_rule(seed: int) -> None:
    runner, identities = _tailnet(seed)
    rnd = random.Random(seed)
    index = runner.index
    for _ in range(300):
        src_text = rnd.choice(identities)
        srcs = runner.sources_of(src_text, None)
        group = runner.group_of(src_text, srcs, None)
        host = rnd.choice(identities)
        port = rnd.choice(PORTS)
        protos = rnd.choice(PROTOS)
        points, _ = runner.parse_dst(f"{host}:{port}")
        each = [scan_allowed(runner.compiled, index.owner, s, points, port, protos)
                for s in srcs]
        assert index.verdict(group, points, port, protos, every=True, key=host) \
            == (bool(srcs) and all(each))
        assert index.verdict(group, points, port, protos, every=False, key=host) == any(each)


@settings(max_examples=examples(500), deadline=None)
@given(question)
def test_index_answers_for_address_hosts_match_the_reference_scan(
        q: tuple[int, random.Random, int, frozenset[int]]) -> None:
    """As above with a device address (one family only) or a host alias as the dst: the
    questions whose dst selectors differ per family, or number several."""
    seed, rnd, port, protos = q
    runner, identities = _tailnet(seed)
    index, compiled = runner.index, runner.compiled
    device = rnd.choice(compiled.inventory.devices)
    host = rnd.choice([ip for ip in (device.ipv4, device.ipv6) if ip]
                      + sorted(h for h, ip in runner.resolver.hosts.items() if strict_ip(ip)))
    src_text = rnd.choice(identities)
    srcs = runner.sources_of(src_text, None)
    group = runner.group_of(src_text, srcs, None)
    points, _ = runner.parse_dst_keyed(f"{host}:{port}")[1:]
    each = [scan_allowed(compiled, index.owner, s, points, port, protos) for s in srcs]
    assert index.verdict(group, points, port, protos, every=True, key=host) \
        == (bool(srcs) and all(each))
    assert index.verdict(group, points, port, protos, every=False, key=host) == any(each)


@pytest.mark.parametrize("seed", [1, 2])
def test_point_selectors_are_exact_and_shared(seed: int) -> None:
    """Each device address's selectors (per side) are exactly those whose addresses hold
    it, and points with the same selectors share one frozenset (the index's memory)."""
    runner, _ = _tailnet(seed)
    index = runner.index
    for side, resolve in ((index.src, runner.resolver.src), (index.dst, runner.resolver.dst)):
        by_content: dict[frozenset[int], frozenset[int]] = {}
        for point in index.pid:
            want = frozenset(sid for sel, sid in side.ids.items()
                             if resolve(sel).addrs.contains_int(*point))
            got = side.selectors_at(point)
            assert got == want
            assert type(got) is frozenset
            assert by_content.setdefault(got, got) is got


def test_test_results_pickle_with_their_location_not_the_source_map() -> None:
    """A forked test run sends its report back pickled: each result's location is
    resolved first, so the source map (and the whole policy text) stays behind."""
    import pickle

    from reconciler.engine.tests_runner import run_tests
    from reconciler.load.hujson import load_with_sources
    from reconciler.render.testreport import report_to_dict

    text = ('{"acls": [{"action": "accept", "src": ["tag:a"], "dst": ["tag:b:22"]}],\n'
            ' "tagOwners": {"tag:a": [], "tag:b": []},\n'
            ' "tests": [\n  {"src": "tag:a", "accept": ["tag:b:22"]},\n'
            '  {"src": "tag:a", "accept": ["tag:b:80"]}]}\n' + " " * 100_000)
    policy, sources = load_with_sources(text, file="policy.hujson")
    report = run_tests(policy, None, sources)
    assert [r.status for r in report.results] == ["passed", "failed"]
    payload = pickle.dumps(report)
    assert len(payload) < 10_000  # no policy text in it
    back = pickle.loads(payload)
    assert [str(r.location) for r in back.results] \
        == ["policy.hujson:4:3", "policy.hujson:5:3"] \
        == [str(sources.at(("tests", i))) for i in range(2)]
    assert report_to_dict(back) == report_to_dict(report)

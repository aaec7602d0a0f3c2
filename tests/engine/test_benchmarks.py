"""The benchmark's generator and reference evaluator, at a small scale (fast).

The engine's indexed evaluator and the plain scan-every-rule reference must give the
same verdict on every assertion of a generated tailnet, and every generated test holds
by construction; a wrong fast path in the index would show here.
"""

from __future__ import annotations

import random

import pytest

from benchmarks.generate import SCALES, Scale, generate
from benchmarks.reference import engine_verdicts, reference_verdicts
from reconciler.engine import compile_policy, inventory_from_data, run_tests
from reconciler.engine.tests_runner import Runner

TINY = Scale("tiny", 60, 300, 80)


def test_generator_is_deterministic() -> None:
    assert generate(TINY, 7) == generate(TINY, 7)
    assert generate(TINY, 7) != generate(TINY, 8)
    policy, inventory = generate(SCALES["small"], 1)
    assert len(policy["acls"]) + len(policy["grants"]) == 100
    assert len(inventory["devices"]) == 200
    assert sum(len(t.get("accept", [])) + len(t.get("deny", [])) for t in policy["tests"]) \
        == 1000


def test_generated_tests_hold_and_reference_agrees() -> None:
    policy, inventory = generate(TINY, 3)
    inv = inventory_from_data(inventory)
    report = run_tests(policy, inv)
    assert report.ok and report.assertions == 300
    runner = Runner(compile_policy(policy, inv))
    assert reference_verdicts(runner, policy["tests"]) == engine_verdicts(
        runner, policy["tests"]) == [True] * 300


def test_reference_and_engine_agree_on_random_questions() -> None:
    """Random (not constructed-to-pass) questions, so both verdicts occur."""
    policy, inventory = generate(TINY, 5)
    inv = inventory_from_data(inventory)
    rnd = random.Random(5)
    identities = sorted({d["user"] for d in inventory["devices"] if "user" in d}
                        | set(policy["tagOwners"]) | set(policy["groups"]))
    tests = [{"src": rnd.choice(identities),
              "accept": [f"{rnd.choice(identities)}:{rnd.choice([22, 80, 443, 5432, 7])}"
                         for _ in range(3)],
              "deny": [f"{rnd.choice(identities)}:{rnd.choice([22, 443, 9090])}"]}
             for _ in range(150)]
    runner = Runner(compile_policy(policy, inv))
    ref = reference_verdicts(runner, tests)
    assert ref == engine_verdicts(runner, tests)
    assert 0 < sum(ref) < len(ref)


def test_slow_paths_agree_with_reference() -> None:
    """autogroup:self and posture-bound rules take the engine's per-source path."""
    policy, inventory = generate(TINY, 9)
    for d in inventory["devices"][::2]:
        d["posture"] = {"node:os": "linux"}
    policy["postures"] = {"posture:linux": ["node:os == 'linux'"]}
    policy["acls"] = [*policy["acls"],
                      {"action": "accept", "src": ["autogroup:member"],
                       "dst": ["autogroup:self:7"]},
                      {"action": "accept", "src": ["*"], "dst": ["*:9"],
                       "srcPosture": ["posture:linux"]}]
    inv = inventory_from_data(inventory)
    rnd = random.Random(9)
    users = sorted({d["user"] for d in inventory["devices"] if "user" in d})
    identities = users + sorted(policy["tagOwners"]) + sorted(policy["groups"])
    tests = [{"src": rnd.choice(identities),
              "accept": [f"{rnd.choice(identities)}:{rnd.choice([7, 9, 22])}"],
              "deny": [f"{rnd.choice(users)}:{rnd.choice([7, 9])}"]}
             for _ in range(150)]
    tests += [{"src": u, "accept": [f"{u}:7"]} for u in users[:10]]
    runner = Runner(compile_policy(policy, inv))
    ref = reference_verdicts(runner, tests)
    assert ref == engine_verdicts(runner, tests)
    assert 0 < sum(ref) < len(ref)


def test_compare_prints_old_and_new_side_by_side(capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m benchmarks --compare REV` on a tiny tailnet, against this tree's HEAD:
    one row per command with both sides' figures and the byte-identity of the outputs."""
    from benchmarks.__main__ import main

    assert main(["--compare", "HEAD", "--scales", "0.01", "--runs", "1",
                 "--commands", "access,explain (denied)"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith(("access ", "explain "))]
    assert len(rows) == 2, out
    assert all(row.endswith(" same") and row.count("MB") == 2 for row in rows), out

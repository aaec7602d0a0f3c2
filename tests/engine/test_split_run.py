"""A long test list is split with a forked child: the report is the same as one process's.

Uses the benchmark generator's small tailnet with a few failing and invalid entries
mixed in, so every kind of result crosses the process boundary.
"""

from __future__ import annotations

import os
import sys

import pytest

from benchmarks.generate import SCALES, generate
from reconciler.core.forked import JOBS_ENV
from reconciler.engine import inventory_from_data, run_tests, tests_runner


def _policy() -> tuple[dict, object]:
    policy, inventory = generate(SCALES["small"], 3)
    tests = policy["tests"]
    tests[5] = {**tests[5], "accept": ["tag:nowhere:80"]}  # invalid: unknown tag
    tests[len(tests) - 2] = {**tests[-2], "deny": tests[-2].get("accept", [])[:1],
                             "accept": []}  # fails: what is allowed is asserted denied
    policy["sshTests"] = [{"src": "nobody@example.com", "dst": ["tag:t0"],
                           "accept": ["root"]}]
    return policy, inventory_from_data(inventory, source="generated")


@pytest.mark.skipif(not sys.platform.startswith("linux") or (os.cpu_count() or 1) < 2,
                    reason="splitting needs os.fork and two CPUs")
def test_split_report_equals_the_single_process_report(
        monkeypatch: pytest.MonkeyPatch) -> None:
    policy, inventory = _policy()
    monkeypatch.setenv(JOBS_ENV, "1")
    alone = run_tests(policy, inventory).to_dict()
    monkeypatch.setenv(JOBS_ENV, "2")
    monkeypatch.setattr(tests_runner, "SPLIT_AT", 10)
    split = run_tests(policy, inventory).to_dict()
    assert split == alone
    counts = alone["counts"]
    assert counts["failed"] >= 1 and counts["invalid"] >= 2 and counts["passed"] > 100

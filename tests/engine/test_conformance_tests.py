"""`tests` and `sshTests` against SaaS: a record's tests pass exactly when SaaS answered 200.

Every record of the `policytest` and `sshtest` categories is run against its own
topology. SaaS answers a failing *or invalid* test with 400 `test(s) failed`; a few
400s carry a validation message instead (the sshTests dst checks, an invalid ssh user):
for those the engine must not pass either, and the validator owns the wording.
"""

from __future__ import annotations

import pytest

from reconciler.engine import inventory_from_data, run_tests
from tests.engine.conformance import available, policy_of, records


def test_recordings_are_present() -> None:
    # Missing recordings must fail the run, never turn it into skips.
    assert available(), "conformance recordings not found (tests/data/conformance)"

# record id -> why the engine's verdict differs from SaaS's on purpose (none today)
KNOWN_DISAGREEMENTS: dict[str, str] = {}


@pytest.mark.parametrize("category", ["policytest", "sshtest"])
def test_tests_pass_exactly_when_saas_accepted(
    category: str, capsys: pytest.CaptureFixture[str]
) -> None:
    agree = 0
    unexpected: list[str] = []
    kinds = {"passed": 0, "failed": 0, "invalid": 0}
    for record in records(category):
        report = run_tests(policy_of(record), inventory_from_data(record["topology"]))
        assert report.results, f"{record['id']} has no tests"
        for r in report.results:
            kinds[r.status] += 1
        saas_ok = record["api_response_code"] == 200
        if report.ok == saas_ok:
            agree += 1
            assert record["id"] not in KNOWN_DISAGREEMENTS
        elif record["id"] not in KNOWN_DISAGREEMENTS:
            unexpected.append(
                f"{record['id']}: SaaS {record['api_response_code']}, engine "
                f"{[(r.status, r.errors + r.invalid) for r in report.results]}"
            )
    with capsys.disabled():
        print(f"\n{category}: {agree}/{len(records(category))} records agree "
              f"(entries passed {kinds['passed']}, failed {kinds['failed']}, "
              f"invalid {kinds['invalid']})")
    assert not unexpected, "\n".join(unexpected)


def _record(rid: str) -> dict:
    return next(r for c in ("policytest", "sshtest") for r in records(c) if r["id"] == rid)


def test_failure_wording_matches_saas() -> None:
    record = _record("policytest-deny-fail-user-src-tag-dst")
    report = run_tests(policy_of(record), inventory_from_data(record["topology"]))
    assert report.tailscale_failures() == [
        {"user": "thor@example.org",
         "errors": ['address "tag:server:22": want: Drop, got: Accept']}
    ]
    assert len(report.failed) == 1 and not report.invalid and not report.ok


def test_invalid_is_reported_apart_from_failed() -> None:
    record = _record("policytest-port-shape-range")
    report = run_tests(policy_of(record), inventory_from_data(record["topology"]))
    assert [r.status for r in report.results] == ["invalid"]
    assert not report.failed
    assert "one numeric port" in report.invalid[0].invalid[0]

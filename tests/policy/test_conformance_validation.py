"""The validator against Tailscale SaaS's real answers (tests/data/conformance).

A record answered 400 with a message other than `test(s) failed` must be rejected (at
least one error Problem); a record answered 200 must be accepted (no error Problem).
Records answered 400 `test(s) failed` are the engine's business (failing assertions)
and are not counted; neither is the one 500 (a SaaS fault). A test-shape problem we
report on such a record is fine either way: SaaS rejected it too.

`tailnet_domains`: SaaS associates only the tailnet's own domain, not every domain its
users log in with. ssh-d1 rejects `localpart:*@example.org` although thor@example.org is
a user of the tailnet, while `localpart:*@example.com` (odin, the owner, id 1) is
accepted throughout (ssh-d2..d12). So we pass the domain of the owner (the user with
id 1), not all login domains. The comparison is case-sensitive (ssh-e1 rejects
`EXAMPLE.COM`). Records whose topology has no login e-mail (via-grant-v37..v46) give
None, which skips the check; none of them uses a domain expression.

Known wording gap (not a disagreement; the verdict agrees): ssh-e1's SaaS message says
"PASSKEY is not associated ..." for a policy that reads `localpart:*@EXAMPLE.COM`; the
capture anonymised the policy's domain but not the message, so no validator can print
"PASSKEY" from this input. It is the one rejection whose message cannot match.
"""

from __future__ import annotations

import json
from collections import Counter
from functools import cache
from typing import Any

import pytest

from reconciler.validate.validate import validate_policy
from tests.conftest import CONFORMANCE_DIR

CATEGORIES = ("acl", "grant", "ssh", "policytest", "sshtest", "routes", "nodeattrs")
TESTS_FAILED = "test(s) failed"

# record id -> why we keep disagreeing with SaaS on it. Empty: we agree on every record.
KNOWN_DISAGREEMENTS: dict[str, str] = {}

# Rejections whose SaaS message cannot be reproduced from the recorded input.
UNMATCHABLE_MESSAGES: dict[str, str] = {
    "ssh-e1": "the capture anonymised the domain in the policy but not in the message",
}


@cache
def _records() -> tuple[dict[str, Any], ...]:
    out: list[dict[str, Any]] = []
    for category in CATEGORIES:
        path = CONFORMANCE_DIR / f"{category}.json"
        out.extend(json.loads(path.read_text(encoding="utf-8"))["records"])
    return tuple(out)


def _available() -> bool:
    return all((CONFORMANCE_DIR / f"{c}.json").is_file() for c in CATEGORIES)


def test_recordings_are_present() -> None:
    # Missing recordings must fail loudly, never turn the conformance run into a skip.
    assert _available(), f"conformance recordings not found in {CONFORMANCE_DIR}"


def _message(record: dict[str, Any]) -> str | None:
    body = record.get("api_response_body")
    return body.get("message") if isinstance(body, dict) else None


def _expectation(record: dict[str, Any]) -> str | None:
    """'reject', 'accept', or None when the record is out of scope."""
    code = record["api_response_code"]
    if code == 200:
        return "accept"
    if code == 400 and _message(record) != TESTS_FAILED:
        return "reject"
    return None


def tailnet_domains(record: dict[str, Any]) -> set[str] | None:
    """The tailnet owner's login domain (see the module docstring), or None."""
    for user in record["topology"]["users"]:
        email = user.get("email") or ""
        if user.get("id") == 1 and "@" in email:
            return {email.rsplit("@", 1)[1]}
    return None


def _policy(record: dict[str, Any]) -> Any:
    policy = record["policy"]
    return json.loads(policy) if isinstance(policy, str) else policy


def _errors(record: dict[str, Any]) -> list[str]:
    problems = validate_policy(_policy(record), tailnet_domains=tailnet_domains(record))
    return [p.message for p in problems if p.is_error]


@cache
def _outcomes() -> tuple[tuple[dict[str, Any], str, tuple[str, ...]], ...]:
    out = []
    for record in _records():
        expected = _expectation(record)
        if expected is not None:
            out.append((record, expected, tuple(_errors(record))))
    return tuple(out)


def _agrees(expected: str, errors: tuple[str, ...]) -> bool:
    return bool(errors) if expected == "reject" else not errors


def test_every_record_agrees_with_saas() -> None:
    disagreements = {}
    for record, expected, errors in _outcomes():
        if not _agrees(expected, errors):
            got = "; ".join(errors) if errors else "no errors"
            disagreements[record["id"]] = f"SaaS: {expected} ({_message(record)}), we: {got}"
    unexplained = {k: v for k, v in disagreements.items() if k not in KNOWN_DISAGREEMENTS}
    assert unexplained == {}
    stale = set(KNOWN_DISAGREEMENTS) - set(disagreements)
    assert stale == set(), "KNOWN_DISAGREEMENTS lists records that now agree"


def test_test_failed_records_are_rejected_only_for_test_shapes() -> None:
    """On a `test(s) failed` record, anything we report must be about test shapes:
    any other error would be a validation rule SaaS does not have."""
    wrong = {}
    for record in _records():
        if record["api_response_code"] != 400 or _message(record) != TESTS_FAILED:
            continue
        problems = validate_policy(_policy(record), tailnet_domains=tailnet_domains(record))
        other = [p.message for p in problems if p.is_error and p.code != "test-shape"]
        if other:
            wrong[record["id"]] = other
    assert wrong == {}


def test_all_login_domains_would_not_match_saas() -> None:
    """Why `tailnet_domains` is the owner's domain: with every login domain of the
    topology, ssh-d1 (SaaS: 400) would be accepted."""
    record = next(r for r in _records() if r["id"] == "ssh-d1")
    all_domains = {u["email"].rsplit("@", 1)[1] for u in record["topology"]["users"]}
    assert "example.org" in all_domains
    errors = [
        p for p in validate_policy(_policy(record), tailnet_domains=all_domains) if p.is_error
    ]
    assert errors == []
    assert _errors(record) == [
        "example.org is not associated with this Tailnet and cannot be used in "
        "user:*@<domain> expressions"
    ]


def test_rejections_use_saas_wording() -> None:
    """Every SaaS validation message appears verbatim in one of our messages."""
    mismatched = {}
    for record, expected, errors in _outcomes():
        if expected != "reject" or not errors:
            continue
        wanted = _message(record) or ""
        if not any(wanted in message for message in errors):
            mismatched[record["id"]] = (wanted, errors)
    assert set(mismatched) == set(UNMATCHABLE_MESSAGES), mismatched


def test_print_agreement_per_category(capsys: pytest.CaptureFixture[str]) -> None:
    tally: Counter[tuple[str, str]] = Counter()
    skipped: Counter[str] = Counter()
    for record in _records():
        if _expectation(record) is None:
            skipped[record["category"]] += 1
    for record, expected, errors in _outcomes():
        category = record["category"]
        tally[(category, expected)] += 1
        if _agrees(expected, errors):
            tally[(category, f"{expected}-ok")] += 1
            if expected == "reject" and any((_message(record) or "") in m for m in errors):
                tally[(category, "wording")] += 1
    lines = []
    total_ok = total = 0
    for category in CATEGORIES:
        rej, acc = tally[(category, "reject")], tally[(category, "accept")]
        rej_ok, acc_ok = tally[(category, "reject-ok")], tally[(category, "accept-ok")]
        total_ok += rej_ok + acc_ok
        total += rej + acc
        lines.append(
            f"{category}: {rej_ok + acc_ok}/{rej + acc} "
            f"(rejected {rej_ok}/{rej}, accepted {acc_ok}/{acc}; "
            f"SaaS wording {tally[(category, 'wording')]}/{rej}; "
            f"not counted {skipped[category]})"
        )
    lines.append(f"all: {total_ok}/{total}")
    with capsys.disabled():
        print("\nvalidation conformance (tailscale-saas):")
        for line in lines:
            print("  " + line)
    assert total_ok + len(KNOWN_DISAGREEMENTS) == total

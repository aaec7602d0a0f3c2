"""What the local control plane checks before it stores a policy: parse, validate, test.

backends/ (fetch and push). May import: `hujson`, `policy.validate`, `engine` (each lazily, so
this module loads before they do), `inventory`, `errors`, `backends.base`. Used by the
local backend and by `reconciler serve`, so both refuse exactly what Tailscale would:
an unparsable or invalid policy with its validation message, failing or invalid
tests with `test(s) failed` and Tailscale's `[{"user", "errors"}]` failures.
"""

from __future__ import annotations

from typing import Any

from reconciler.backends.base import ValidationResult
from reconciler.core.errors import ReconcilerError
from reconciler.core.inventory import Inventory

TESTS_FAILED = "test(s) failed"


class PolicyParseError(Exception):
    """The text is not HuJSON (message has Tailscale's `line N, column M:` shape if known)."""


def parse_value(text: str) -> Any:
    """HuJSON (or JSON) text -> Python data; PolicyParseError when it does not parse."""
    from reconciler.load import hujson  # lazy: written alongside this module

    try:
        return hujson.loads(text)
    except (ValueError, ReconcilerError) as e:
        raise PolicyParseError(str(e)) from e


def parse_policy(text: str) -> dict[str, Any]:
    """HuJSON text -> the policy object; PolicyParseError when it is not one."""
    data = parse_value(text)
    if not isinstance(data, dict):
        raise PolicyParseError("policy must be a JSON object")
    return data


def check_document(policy: dict[str, Any], inventory: Inventory) -> ValidationResult:
    """Validate `policy` with Tailscale's rules, then run its tests and sshTests."""
    from reconciler.engine import run_tests  # lazy: written alongside this module
    from reconciler.validate.validate import validate_policy

    problems = [p for p in validate_policy(policy, tailnet_domains=inventory.domains)
                if p.is_error]
    if problems:
        # Tailscale answers with the first problem's message alone; the rest follow it.
        return ValidationResult(ok=False, message="; ".join(p.message for p in problems))
    report = run_tests(policy, inventory)
    if not report.ok:
        return ValidationResult(ok=False, message=TESTS_FAILED,
                                failures=list(report.tailscale_failures()))
    return ValidationResult(ok=True)


def check_text(text: str, inventory: Inventory) -> ValidationResult:
    """`check_document` for a HuJSON text; a parse error is an invalid result, not a raise."""
    try:
        policy = parse_policy(text)
    except PolicyParseError as e:
        return ValidationResult(ok=False, message=str(e))
    return check_document(policy, inventory)


def check_tests(tests: list[Any], stored_text: str, inventory: Inventory) -> ValidationResult:
    """Run an array of tests against the stored policy (validate's first mode)."""
    try:
        policy = parse_policy(stored_text)
    except PolicyParseError as e:
        return ValidationResult(ok=False, message=f"stored policy: {e}")
    trial = {k: v for k, v in policy.items() if k not in ("tests", "sshTests")}
    trial["tests"] = tests
    return check_document(trial, inventory)


def tag_owners(text: str) -> set[str]:
    """The tags the stored policy defines (keys of tagOwners); empty if it cannot parse."""
    try:
        policy = parse_policy(text)
    except PolicyParseError:
        return set()
    owners = policy.get("tagOwners") or {}
    return set(owners) if isinstance(owners, dict) else set()

"""The autogroup:self restrictions (policy-semantics.md 2.5)."""

from __future__ import annotations

import pytest

from reconciler.core.source import Location

from .helpers import FILE, acl, errors, grant, messages, policy, source_map

SELF = "autogroup:self can only be used with users, groups, or supported autogroups"


@pytest.mark.parametrize(
    "src",
    [["*"], ["autogroup:member"], ["group:eng"], ["alice@example.com"], ["autogroup:admin"]],
)
def test_acl_accepts_users_groups_member_and_wildcard(src: list[str]) -> None:
    assert messages(policy(acls=[acl(src, ["autogroup:self:*"])])) == []


@pytest.mark.parametrize(
    "src",
    [["tag:web"], ["autogroup:tagged"], ["100.64.0.1"], ["db1"], ["autogroup:member", "tag:ci"]],
)
def test_acl_rejects_tags_ips_and_hosts(src: list[str]) -> None:
    assert messages(policy(acls=[acl(src, ["autogroup:self:22"])])) == [SELF]


def test_acl_problem_points_at_the_offending_src() -> None:
    doc = policy(acls=[acl(["autogroup:member", "tag:ci"], ["autogroup:self:*"])])
    sm = source_map(("acls", 0), ("acls", 0, "src", 0), ("acls", 0, "src", 1))
    [problem] = errors(doc, sm)
    assert (problem.message, problem.location) == (SELF, Location(FILE, 30, 5))


def test_grant_rejects_wildcard_src_unlike_acls() -> None:
    doc = policy(grants=[grant(["*"], ["autogroup:self"], ip=["*"])])
    assert messages(doc) == [SELF]


@pytest.mark.parametrize("src", [["autogroup:member"], ["group:eng"], ["alice@example.com"]])
def test_grant_accepts_users_and_groups(src: list[str]) -> None:
    assert messages(policy(grants=[grant(src, ["autogroup:self"], ip=["*"])])) == []


def test_autogroup_self_is_never_a_src() -> None:
    doc = policy(grants=[grant(["autogroup:self"], ["*"], ip=["*"])])
    assert messages(doc) == ['"autogroup:self" not valid on the src side of a rule']

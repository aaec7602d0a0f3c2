"""explain (allowing rules with file:line, near misses with reasons) and the access matrix."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.core.errors import ExplainError
from reconciler.core.source import Location, SourceMap
from reconciler.engine import access_matrix, explain

POLICY: dict[str, Any] = {
    "groups": {"group:eng": ["alice@example.com", "bob@example.com"]},
    "tagOwners": {"tag:web": [], "tag:db": []},
    "hosts": {"lab": "10.20.0.0/16"},
    "acls": [
        {"action": "accept", "src": ["group:eng"], "dst": ["tag:web:22,443"]},
        {"action": "accept", "src": ["alice@example.com"], "dst": ["tag:db:5432", "lab:*"]},
    ],
    "grants": [{"src": ["bob@example.com"], "dst": ["tag:web"], "ip": ["tcp:443"]}],
}
SOURCES = SourceMap({("acls", 0): Location("policies/acls.yaml", 2, 3),
                     ("acls", 1): Location("policies/acls.yaml", 5, 3),
                     ("grants", 0): Location("policies/grants.yaml", 1, 3)})


def test_allowed_lists_every_allowing_rule_with_location() -> None:
    e = explain(POLICY, "bob@example.com", "tag:web:443", sources=SOURCES)
    assert e.allowed
    assert [(r.path, str(r.location)) for r in e.rules] == [
        ("acls[0]", "policies/acls.yaml:2:3"), ("grants[0]", "policies/grants.yaml:1:3")]
    data = e.to_dict()
    assert data["allowed"] is True and len(data["rules"]) == 2


def test_denied_gives_nearest_rules_and_reasons() -> None:
    e = explain(POLICY, "bob@example.com", "tag:db:5432", sources=SOURCES)
    assert not e.allowed and e.rules == []
    nearest = e.near_misses[0]
    assert nearest.path == "acls[1]" and str(nearest.location) == "policies/acls.yaml:5:3"
    assert nearest.reasons == ("src alice@example.com does not cover the source",)
    e = explain(POLICY, "alice@example.com", "tag:web:80")
    assert e.near_misses[0].reasons == ("port 80 not in 22,443",)
    e = explain(POLICY, "bob@example.com", "tag:web:443", proto="udp")
    assert e.allowed and [r.path for r in e.rules] == ["acls[0]"]


def test_bad_questions_are_clear_errors() -> None:
    with pytest.raises(ExplainError, match="numeric port"):
        explain(POLICY, "bob@example.com", "tag:web")
    with pytest.raises(ExplainError, match="not defined"):
        explain(POLICY, "tag:nope", "tag:web:22")
    with pytest.raises(ExplainError, match="proto"):
        explain(POLICY, "bob@example.com", "tag:web:22", proto="bogus")


def test_access_matrix_and_filters() -> None:
    rows = {(a.src, a.dst): a.ports for a in access_matrix(POLICY)}
    assert rows == {
        ("alice@example.com", "tag:web"): (("tcp/udp/icmp", "22,443"),),
        ("alice@example.com", "tag:db"): (("tcp/udp/icmp", "5432"),),
        ("alice@example.com", "lab"): (("tcp/udp/icmp", "*"),),
        ("bob@example.com", "tag:web"): (("tcp", "443"), ("tcp/udp/icmp", "22,443")),
    }
    only_bob = access_matrix(POLICY, src="bob@example.com")
    assert {a.src for a in only_bob} == {"bob@example.com"}
    to_db = access_matrix(POLICY, dst="tag:db")
    assert [(a.src, a.dst) for a in to_db] == [("alice@example.com", "tag:db")]

"""Headscale's dialect (reconciler.validate.dialect): refused for a headscale target in
Headscale's words, with file:line:col; a Tailscale target is unchanged. No server is
needed here: the wording was checked against v0.29.2's /policy/check (test_backend.py
and test_fake_parity.py compare it with the real server)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from reconciler.validate.dialect import headscale_problems
from tests.plan.conftest import Repo, make_repo  # noqa: F401  (a fixture)

POSTURES = "postures:\n  posture:mac: [\"node:os == 'macos'\"]\n"


@pytest.mark.parametrize(("policy", "message"), [
    ({"postures": {}}, 'unknown field: "postures"'),
    ({"ipsets": {}}, 'unknown field: "ipsets"'),
    ({"derpMap": {}}, 'unknown field: "derpMap"'),
    ({"acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"], "srcPosture": ["p"]}]},
     'unknown field: "srcPosture"'),
    ({"grants": [{"src": ["ipset:office"], "dst": ["*"], "ip": ["*"]}]},
     'invalid alias format: "ipset:office"'),
    ({"acls": [{"action": "accept", "src": ["autogroup:admin"], "dst": ["*:*"]}]},
     'autogroup not supported for ACL sources: "autogroup:admin", can be '
     "[autogroup:member autogroup:tagged autogroup:danger-all]"),
    ({"tests": [{"src": "a@example.com", "proto": "icmp", "accept": ["b:0"]}]},
     'test protocol must be tcp, udp, sctp, or empty: "icmp"'),
])
def test_what_headscale_refuses(policy: dict, message: str) -> None:
    problems = headscale_problems(policy)
    assert [p.message.split(" (Headscale")[0] for p in problems] == [message]


def test_what_headscale_accepts_is_not_flagged() -> None:
    policy = {
        "Groups": {"group:a": ["alice@"]},  # Headscale matches names case-insensitively
        "tagOwners": {"tag:x": ["group:a"]},
        "acls": [{"action": "accept", "src": ["autogroup:member"],
                  "dst": ["autogroup:internet:*", "autogroup:self:22", "tag:x:443"]}],
        "grants": [{"src": ["autogroup:tagged"], "dst": ["tag:x"], "ip": ["tcp:443"]}],
        "tests": [{"src": "alice@", "proto": "tcp", "accept": ["tag:x:443"]}],
        "randomizeClientPort": True,
    }
    assert headscale_problems(policy) == []


def test_a_tailscale_target_keeps_postures(make_repo: Callable[..., Repo],  # noqa: F811
                                           tmp_path: object) -> None:
    db = f"{tmp_path}/control/local.db"
    repo = make_repo(config=f"targets:\n  local: {{backend: local, path: '{db}'}}\n")
    repo.commit({"policies/postures.yaml": POSTURES}, "postures")
    r = repo.run("plan", "--detailed-exitcode")
    assert r.exit_code == 2, r.output
    assert "unknown field" not in r.output and "Headscale" not in r.output

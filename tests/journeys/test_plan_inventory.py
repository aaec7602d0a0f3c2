"""A plan must not hide lost access: it computes access over the real tailnet.

A repository adopted with `import` from a tailnet behind `reconciler serve`; a plan back
to an older commit removes two people from group:sre. The plan must name their losses
(they exist only in the live policy and the tailnet), count real devices, stay inside
the request budget, and say so when the inventory it used is synthetic.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reconciler.backends.local.seed import empty_seed
from reconciler.backends.local.server import ServeConfig, make_server
from reconciler.backends.local.store import LocalStore
from reconciler.backends.tailscale import TailscaleBackend
from tests.plan.conftest import API_KEY, Repo, RequestLog

ACL = "/api/v2/tailnet/-/acl"

LIVE = """\
{
  // People
  "groups": {
    "group:eng": ["alice@example.com", "bob@example.com"],
    "group:sre": ["frank@example.com", "grace@example.com"],
  },
  "tagOwners": {"tag:prod": ["group:sre"], "tag:db": ["group:sre"]},
  "grants": [
    {"src": ["group:eng"], "dst": ["tag:prod"], "ip": ["tcp:443"]},
    {"src": ["group:sre"], "dst": ["tag:prod", "tag:db"], "ip": ["*"]},
  ],
}
"""


def adopted(make_repo: Callable[..., Repo], serve: Any) -> tuple[Repo, TailscaleBackend]:
    """import -> apply --adopt -> two people join group:sre -> an unrelated commit."""
    backend = TailscaleBackend(base_url=serve.url, kind="api-key",
                               credentials={"api_key": API_KEY})
    backend.push_policy(LIVE, if_match=None)
    config = (f"targets:\n  tailnet: {{backend: tailscale, tailnet: '-', "
              f"base_url: '{serve.url}', timeout: 10}}\n")
    repo = make_repo(config=config, files={})
    repo.env = {"TS_API_KEY": API_KEY}
    r = repo.run("import")
    assert r.exit_code == 0, r.output
    repo.commit(message="import")
    groups = next(p for p in (repo.root / "policies").iterdir() if "group" in p.name)
    text = groups.read_text()
    joined = text.replace('"grace@example.com"',
                          '"grace@example.com", "heidi@example.com", "ivan@example.com"', 1)
    assert joined != text
    repo.commit({str(groups.relative_to(repo.root)): joined}, "heidi and ivan join sre")
    repo.commit({"README.md": "the tailnet's policy\n"}, "unrelated")
    r = repo.run("apply", "--adopt", "--auto-approve")
    assert r.exit_code == 0, r.output
    return repo, backend


def test_plan_back_to_an_older_commit_names_the_lost_access(
        make_repo: Callable[..., Repo], serve: Any, request_log: RequestLog) -> None:
    repo, backend = adopted(make_repo, serve)
    try:
        r = repo.run("diff", "HEAD", "HEAD~2")
        assert "heidi@example.com loses" in r.output, r.output
        for spec in ((), ("--inventory", "backend")):
            request_log.take()
            r = repo.run("plan", "--ref", "HEAD~2", *spec)
            assert r.exit_code == 0, r.output
            requests = request_log.take()
            assert "No access changes" not in r.output, r.output
            for who in ("heidi@example.com", "ivan@example.com"):
                # tag:prod and tag:db: prod-web-1, prod-web-2, db-1, db-2 in the tailnet.
                assert f"- {who} loses all access on tag:db, tag:prod (4 devices)" \
                    in r.output, r.output
            assert "synthetic" not in r.output
            # The policy, the devices (once, for tests and access alike), the validate.
            assert sorted(requests) == sorted([
                ("GET", ACL), ("GET", "/api/v2/tailnet/-/devices"),
                ("POST", ACL + "/validate")]), requests

        r = repo.run("plan", "--ref", "HEAD~2", "--format", "markdown")
        assert "| - | `heidi@example.com` | `*` | `tag:db`, `tag:prod` | 4 |" in r.output, \
            r.output
        r = repo.run("plan", "--ref", "HEAD~2", "--format", "json")
        lost = json.loads(r.output)["access"]["lost"]
        assert sorted((c["src"], c["devices"]) for c in lost) == [
            ("heidi@example.com", 4), ("ivan@example.com", 4)]
    finally:
        backend.close()


def test_roles_are_read_when_a_rule_names_a_role_within_the_budget(
        make_repo: Callable[..., Repo], serve: Any, request_log: RequestLog) -> None:
    """autogroup:admin reaches the admins' devices: the users' roles are read, in place
    of the validate (the tests then ran on the tailnet's own users and devices)."""
    repo, backend = adopted(make_repo, serve)
    try:
        grants = next(p for p in (repo.root / "policies").iterdir() if "grant" in p.name)
        text = grants.read_text()
        admins = text.replace('"src": ["group:eng"]', '"src": ["autogroup:admin"]', 1)
        assert admins != text
        repo.commit({str(grants.relative_to(repo.root)): admins}, "admins, not eng")
        request_log.take()
        r = repo.run("plan")
        assert r.exit_code == 0, r.output
        requests = request_log.take()
        assert sorted(requests) == sorted([
            ("GET", ACL), ("GET", "/api/v2/tailnet/-/devices"),
            ("GET", "/api/v2/tailnet/-/users")]), requests
        # bob is an admin and in group:eng: he keeps it; alice (the owner, in group:eng,
        # not an admin) loses it. Without roles everyone would be a member and lose it.
        assert "- alice@example.com loses tcp:443 on tag:prod (2 devices)" in r.output, \
            r.output
        assert "bob@example.com" not in r.output, r.output
        assert "Access: 0 gained, 1 lost." in r.output
    finally:
        backend.close()


def test_a_synthetic_inventory_is_said_in_every_format(
        make_repo: Callable[..., Repo], serve: Any) -> None:
    repo, backend = adopted(make_repo, serve)
    try:
        outputs = {fmt: repo.run("plan", "--ref", "HEAD~2", "--inventory", "synthetic",
                                 "--format", fmt) for fmt in ("text", "json", "markdown",
                                                              "github")}
        for fmt, r in outputs.items():
            assert r.exit_code == 0, (fmt, r.output)
            assert "synthetic inventory" in r.output, (fmt, r.output)
            assert "device counts are not real" in r.output, (fmt, r.output)
        assert outputs["text"].output.startswith("Warning: access changes and tests")
        assert "::warning::access changes and tests" in outputs["github"].output
        data = json.loads(outputs["json"].output)
        assert data["tests"]["inventory"] == "synthetic"
        # Over live and desired both: the synthetic inventory still sees the losses.
        assert len(data["access"]["lost"]) == 2
        # The default (the tailnet's own inventory) says nothing of the kind.
        for fmt in ("text", "json", "markdown", "github"):
            r = repo.run("plan", "--ref", "HEAD~2", "--format", fmt)
            assert "synthetic inventory" not in r.output, (fmt, r.output)
    finally:
        backend.close()


def test_device_counts_leave_out_devices_made_up_for_a_named_tag(
        make_repo: Callable[..., Repo], serve: Any) -> None:
    """tag:new is carried by no device: eng gains access to it (shown), on no real device
    (no count), while tag:prod's count stays the tailnet's 2."""
    repo, backend = adopted(make_repo, serve)
    try:
        grants = next(p for p in (repo.root / "policies").iterdir() if "grant" in p.name)
        text = grants.read_text()
        more = text.replace('"dst": ["tag:prod"]', '"dst": ["tag:prod", "tag:new"]', 1)
        assert more != text
        tags = next(p for p in (repo.root / "policies").iterdir() if "tag" in p.name)
        owned = tags.read_text().replace('"tag:db":', '"tag:new": ["group:sre"], "tag:db":', 1)
        repo.commit({str(grants.relative_to(repo.root)): more,
                     str(tags.relative_to(repo.root)): owned}, "eng reaches tag:new")
        r = repo.run("plan", "--format", "json")
        gained = json.loads(r.output)["access"]["gained"]
        assert [(c["src"], c["dst"], c["devices"]) for c in gained] == [
            ("group:eng", ["tag:new"], 0)], r.output
    finally:
        backend.close()


def test_a_tailnet_without_devices_stays_within_the_budget_when_a_role_is_named(
        make_repo: Callable[..., Repo], tmp_path: Path) -> None:
    """No device to test or count from: the roles would serve nothing (the inventory is
    synthetic), so the plan reads the policy, the devices and validates: 3 requests."""
    db = tmp_path / "empty" / "local.db"
    LocalStore(db, seed_with=empty_seed)  # a tailnet with no users and no devices
    server = make_server(ServeConfig(db=db, port=0, api_key=API_KEY))
    log = RequestLog()
    server.on_response = log
    server.start()
    try:
        config = (f"targets:\n  tailnet: {{backend: tailscale, tailnet: '-', "
                  f"base_url: '{server.url}', timeout: 10}}\n")
        policy = LIVE.replace('"src": ["group:eng"]', '"src": ["autogroup:admin"]', 1)
        repo = make_repo(config=config, files={"policies/policy.hujson": policy})
        repo.env = {"TS_API_KEY": API_KEY}
        for spec in ((), ("--inventory", "backend")):
            log.take()
            r = repo.run("plan", *spec)
            assert r.exit_code == 0, r.output
            assert "synthetic inventory" in r.output, r.output
            assert sorted(log.take()) == sorted([
                ("GET", ACL), ("GET", "/api/v2/tailnet/-/devices"),
                ("POST", ACL + "/validate")])
    finally:
        server.stop()

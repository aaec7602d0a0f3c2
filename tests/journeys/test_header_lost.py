"""A console edit written through the API as JSON drops the managed HuJSON header.

Applied from git, then someone GETs the policy as JSON, adds carol to group:eng and
POSTs it back as JSON (through the real `reconciler serve`): no comments survive, the
header with them. drift must still file the addition as made outside git (not as
pending in git), apply must not call the policy "not managed", and both say in one
line what happened.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from tests.plan.conftest import API_KEY, Repo

ACL = "/api/v2/tailnet/-/acl"


def json_console_edit(url: str) -> None:
    auth = (API_KEY, "")
    with httpx.Client(base_url=url, auth=auth, timeout=10) as c:
        try:
            got = c.get(ACL, headers={"Accept": "application/json"})
        except httpx.RemoteProtocolError:
            # Seen once in a full run under heavy load (cause not found: the server's
            # connection cap was untouched); reconciler's own client retries a GET on
            # this, so the console edit standing in for a person does too.
            got = c.get(ACL, headers={"Accept": "application/json"})
        policy = got.json()
        policy["groups"]["group:eng"].append("carol@example.com")
        r = c.post(ACL, content=json.dumps(policy), headers={
            "Content-Type": "application/json", "If-Match": got.headers["ETag"]})
        assert r.status_code == 200, r.text
        assert "reconciler:" not in c.get(ACL).text  # the header is gone


def applied_then_edited(make_repo: Callable[..., Repo], serve: Any, *apply: str) -> Repo:
    config = (f"targets:\n  tailnet: {{backend: tailscale, tailnet: '-', "
              f"base_url: '{serve.url}', timeout: 10}}\n")
    repo = make_repo(config=config)
    repo.env = {"TS_API_KEY": API_KEY}
    r = repo.run("apply", "--auto-approve", *apply)
    assert r.exit_code == 0, r.output
    # Later commits, one of them changing the policies (the apply was two writes ago).
    repo.commit({"README.md": "notes\n"}, "docs")
    json_console_edit(serve.url)
    return repo


def test_drift_files_a_json_console_edit_as_made_outside_git(
        make_repo: Callable[..., Repo], serve: Any) -> None:
    repo = applied_then_edited(make_repo, serve)
    applied = repo.repo.head.commit.parents[0].hexsha
    r = repo.run("drift", "--format", "json")
    assert r.exit_code == 2, r.output
    report = json.loads(r.stdout)
    assert [c["address"] for c in report["out_of_band"]] == ['groups["group:eng"]'], r.stdout
    assert report["pending"] == [] and report["conflicts"] == [], r.stdout
    assert report["managed"] is True
    assert report["base_commit"] == applied

    r = repo.run("plan")
    assert r.exit_code == 0, r.output
    lines = [line for line in r.output.splitlines() if "carries no reconciler header" in line]
    assert len(lines) == 1, r.output
    assert f"the last applied commit is taken to be {applied[:12]}" in lines[0]
    assert "# (reverts a change made outside git)" in r.output
    assert "not managed" not in r.output and "--adopt" not in r.output, r.output

    # apply (no --adopt) reverts the console edit and restores the header.
    r = repo.run("apply", "--auto-approve")
    assert r.exit_code == 0, r.output
    assert repo.run("drift").exit_code == 0
    with httpx.Client(base_url=serve.url, auth=(API_KEY, ""), timeout=10) as c:
        live = c.get(ACL).text
    assert "// reconciler: commit=" in live and "carol@example.com" not in live


def test_the_apply_note_names_the_commit_when_there_is_one(
        make_repo: Callable[..., Repo], serve: Any) -> None:
    repo = applied_then_edited(make_repo, serve, "--git-note")
    applied = repo.repo.head.commit.parents[0].hexsha
    r = repo.run("drift")
    assert r.exit_code == 2, r.output
    assert f"taken to be {applied[:12]}, from its apply note (git notes)" in r.output, r.output
    assert 'groups["group:eng"] has changed outside git' in r.output, r.output


def test_drift_of_a_policy_never_applied_by_reconciler_says_so_once(
        local_repo: Repo) -> None:
    """Someone's own policy on a tailnet reconciler has never written: drift warns once,
    with what to do, not twice in two wordings."""
    edited = local_repo.run("local", "edit", "--set", "groups",
                            '{"group:ops": ["olga@example.com"]}')
    assert edited.exit_code == 0, edited.output
    r = local_repo.run("drift")
    assert r.exit_code == 2, r.output
    warnings = [line for line in r.output.splitlines() if "reconciler header" in line]
    assert len(warnings) == 1, r.output
    assert "--adopt" in warnings[0] and "told apart from git changes" in warnings[0]

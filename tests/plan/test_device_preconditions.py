"""Device tags have no If-Match: a saved plan records each managed device's tags as
planned, and `apply` re-reads them (one request) and refuses, naming the device and
how its tags moved, before writing anything: the policy included. Through the real CLI
against the real local store, compared byte for byte."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from reconciler.backends.local.backend import LocalBackend
from tests.plan.conftest import API_KEY, DESIRED, Repo
from tests.plan.test_plan_trust import store_bytes


def router(tags: str) -> dict[str, str]:
    return {"policies/devices.yaml": f"devices:\n  office-router:\n    tags: {tags}\n"}


def store_of(repo: Repo) -> LocalBackend:
    return LocalBackend(repo.root.parent / "control" / "local.db")


def tags_of(repo: Repo, name: str) -> list[str]:
    return sorted(next(d for d in store_of(repo).list_devices() if d.name == name).tags)


def test_a_device_only_plan_made_before_another_tag_change_is_refused(
        local_repo: Repo, tmp_path: Path) -> None:
    """The story of the fault probe: d1 would silently remove tag:monitoring."""
    # The policy (with its tagOwners) is applied first; the router keeps [tag:exit].
    local_repo.commit(router("[tag:exit]"))
    assert local_repo.run("apply", "--auto-approve").exit_code == 0
    assert tags_of(local_repo, "office-router") == ["tag:exit"]

    local_repo.commit(router("[tag:exit, tag:db]"))
    r = local_repo.run("plan", "-o", str(tmp_path / "d1.plan.json"))
    assert r.exit_code == 0, r.output
    assert "+ tag:db" in r.output or '+ "tag:db"' in r.output

    # Another plan adds two tags, and is applied.
    local_repo.commit(router("[tag:exit, tag:monitoring, tag:ci]"))
    assert local_repo.run("plan", "-o", str(tmp_path / "d2.plan.json")).exit_code == 0
    r = local_repo.run("apply", str(tmp_path / "d2.plan.json"))
    assert r.exit_code == 0, r.output
    assert tags_of(local_repo, "office-router") == ["tag:ci", "tag:exit", "tag:monitoring"]

    before = store_bytes(local_repo)
    r = local_repo.run("apply", str(tmp_path / "d1.plan.json"))
    assert r.exit_code == 1, r.output
    assert "Apply complete" not in r.output
    assert 'device "office-router": its tags moved since the plan (+tag:ci, +tag:monitoring)' \
        in r.output
    assert "planned from [tag:exit], now [tag:ci, tag:exit, tag:monitoring]" in r.output
    assert "Nothing was applied" in r.output
    assert store_bytes(local_repo) == before
    assert tags_of(local_repo, "office-router") == ["tag:ci", "tag:exit", "tag:monitoring"]


def test_moved_tags_refuse_before_the_policy_is_pushed(
        make_repo: Callable[..., Repo], tmp_path: Path) -> None:
    """A plan with a policy change and a tag change: the tags move through the API
    after the plan; apply refuses before the first write, so the policy is not pushed
    either (checked before anything, not after the POST)."""
    db = tmp_path / "control" / "local.db"
    repo = make_repo(config=f"targets:\n  local: {{backend: local, path: '{db}'}}\n",
                     files={**DESIRED, **router("[tag:exit, tag:db]")})
    plan = tmp_path / "both.plan.json"
    r = repo.run("plan", "-o", str(plan))
    assert r.exit_code == 0, r.output
    assert '# devices["office-router"].tags will be updated in-place' in r.output
    assert '# grants["eng-web"] will be created' in r.output

    store = store_of(repo)
    device = next(d for d in store.list_devices() if d.name == "office-router")
    store.store.set_device_tags(device.id, ["tag:exit", "tag:staging"], allowed={"tag:staging",
                                                                                 "tag:exit"})
    before = store_bytes(repo)
    r = repo.run("apply", str(plan))
    assert r.exit_code == 1, r.output
    assert 'device "office-router": its tags moved since the plan (+tag:staging)' in r.output
    assert store_bytes(repo) == before
    assert "eng-web" not in store.fetch_policy().text


def test_a_deleted_device_refuses_before_the_policy_is_pushed(
        make_repo: Callable[..., Repo], tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "control" / "local.db"
    repo = make_repo(config=f"targets:\n  local: {{backend: local, path: '{db}'}}\n",
                     files={**DESIRED, **router("[tag:exit, tag:db]")})
    plan = tmp_path / "both.plan.json"
    assert repo.run("plan", "-o", str(plan)).exit_code == 0
    # The device is removed from the tailnet between plan and apply.
    with sqlite3.connect(db) as conn:
        assert conn.execute("DELETE FROM devices WHERE name = 'office-router'").rowcount == 1
    conn.close()
    before = store_bytes(repo)
    r = repo.run("apply", str(plan))
    assert r.exit_code == 1, r.output
    assert 'device "office-router" (' in r.output and "no longer exists" in r.output
    assert store_bytes(repo) == before


def test_a_device_only_plan_checks_the_policy_etag_over_http(
        make_repo: Callable[..., Repo], serve: Any, request_log: Any,
        tmp_path: Path) -> None:
    """No push carries If-Match for a tags-only plan: one read of the devices and one of
    the policy come before the tag write, and a changed policy refuses it."""
    config = (f"targets:\n  tailnet: {{backend: tailscale, tailnet: '-', "
              f"base_url: '{serve.url}', timeout: 10}}\n")
    repo = make_repo(config=config, files={**DESIRED, **router("[tag:exit]")})
    repo.env = {"TS_API_KEY": API_KEY}
    assert repo.run("apply", "--auto-approve").exit_code == 0
    repo.commit(router("[tag:exit, tag:db]"))
    d1 = tmp_path / "d1.plan.json"
    assert repo.run("plan", "-o", str(d1)).exit_code == 0
    d2 = tmp_path / "d2.plan.json"
    assert repo.run("plan", "-o", str(d2)).exit_code == 0

    request_log.take()
    r = repo.run("apply", str(d1))
    assert r.exit_code == 0, r.output
    requests = request_log.take()
    assert requests[:2] == [("GET", "/api/v2/tailnet/-/devices"),
                            ("GET", "/api/v2/tailnet/-/acl")]
    assert len(requests) == 3 and requests[2][0] == "POST" and requests[2][1].endswith("/tags")

    # The policy changes (a member added, applied); the other tags-only plan is stale.
    repo.commit({"policies/groups.yaml": DESIRED["policies/groups.yaml"].replace(
        "bob@example.com]", "bob@example.com, carol@example.com]"), **router("[tag:exit]")})
    assert repo.run("apply", "--auto-approve").exit_code == 0
    before = LocalBackend(serve.db).list_devices()
    request_log.take()
    r = repo.run("apply", str(d2))
    assert r.exit_code == 1, r.output
    assert "Error: Saved plan is stale" in r.output
    assert all(method == "GET" for method, _ in request_log.take())
    assert LocalBackend(serve.db).list_devices() == before

"""The end-to-end story, twice: against `reconciler serve` over HTTP (the tailscale
backend, API key from the environment) and against the local backend in-process.

init -> plan (creates) -> apply -> plan shows no changes -> an edit through the API
behind the tool's back -> drift exits 2 and names it -> plan says it will revert it ->
two plans, one applied, the other refused as stale -> a just-in-time member expires
(clock moved with --now) and `apply --revocations-only` removes it -> import round-trips
(import, then plan shows no changes). Over HTTP the control-plane requests of `plan`
and `apply` are counted from the server's own log.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from reconciler.backends.local.backend import LocalBackend
from reconciler.backends.tailscale import TailscaleBackend
from tests.plan.conftest import API_KEY, DESIRED, Repo, RequestLog

DEVICES = "devices:\n  exit-1:\n    tags: [tag:exit, tag:monitoring]\n"
ACL = "/api/v2/tailnet/-/acl"


def out_of_band_edit(backend: Any) -> None:
    """What an admin does in the console: edit the stored text, comments and all."""
    live = backend.fetch_policy()
    edited = live.text.replace('"bob@example.com"', '"bob@example.com", "carol@example.com"', 1)
    assert edited != live.text
    backend.push_policy(edited, if_match=live.etag)


def story(repo: Repo, make_repo: Callable[..., Repo], config: str, backend: Any,
          log: RequestLog | None) -> None:
    # init: scaffold, then a desired state that fits the demo tailnet, and managed tags.
    r = repo.run("init", "--force")
    assert r.exit_code == 0, r.output
    repo.write({"reconciler.yaml": config})
    for stale in (repo.root / "policies").iterdir():
        stale.unlink()
    repo.commit({**DESIRED, "policies/devices.yaml": DEVICES}, "adopt the demo tailnet")

    # plan: everything is created (the live policy is the untouched default).
    if log:
        log.take()
    r = repo.run("plan", "-o", "first.plan.json", "--detailed-exitcode")
    assert r.exit_code == 2, r.output
    assert '# groups["group:eng"] will be created' in r.output
    assert '# grants["eng-web"] will be created' in r.output
    assert '# devices["exit-1"].tags will be updated in-place' in r.output
    assert "Tests: 2 passed, 0 failed." in r.output
    assert "reconciler apply first.plan.json" in r.output
    if log:
        # policy, device list (tags are managed), validate: 3; the inventory is free.
        assert sorted(log.take()) == sorted([
            ("GET", ACL), ("GET", "/api/v2/tailnet/-/devices"), ("POST", ACL + "/validate")])

    # apply the saved plan: one read of the devices (their tags are the precondition,
    # checked before any write), one POST, one tag POST per changed device, one
    # verifying GET.
    r = repo.run("apply", "first.plan.json")
    assert r.exit_code == 0, r.output
    assert "Apply complete! Resources:" in r.output
    assert "created" in r.output
    if log:
        requests = log.take()
        assert requests[0] == ("GET", "/api/v2/tailnet/-/devices")
        assert requests[1] == ("POST", ACL)
        assert requests[-1] == ("GET", ACL)
        assert sorted(requests[2:-1]) == [("POST", requests[2][1])]
        assert requests[2][1].endswith("/tags")
    exit_1 = next(d for d in backend.list_devices() if d.name == "exit-1")
    assert sorted(exit_1.tags) == ["tag:exit", "tag:monitoring"]
    if log:
        log.take()  # the check just above is ours, not the tool's

    # plan again: nothing to do (and no validate request when nothing changes).
    r = repo.run("plan", "--detailed-exitcode")
    assert r.exit_code == 0, r.output
    assert "No changes." in r.output
    if log:
        assert sorted(log.take()) == [("GET", ACL), ("GET", "/api/v2/tailnet/-/devices")]

    # someone edits the policy behind the tool's back.
    out_of_band_edit(backend)
    r = repo.run("drift")
    assert r.exit_code == 2, r.output
    assert "Changed outside git since the last apply" in r.output
    assert '# groups["group:eng"] has changed outside git' in r.output
    assert '+ "carol@example.com",' in r.output
    r = repo.run("plan")
    assert r.exit_code == 0, r.output
    assert r.output.index("Note: Objects have changed outside of git") < r.output.index(
        "will perform the following actions")
    assert "# (reverts a change made outside git)" in r.output
    assert '- "carol@example.com",' in r.output

    # two plans; the first applied wins, the second is refused as stale.
    assert repo.run("plan", "-o", "a.plan.json").exit_code == 0
    assert repo.run("plan", "-o", "b.plan.json").exit_code == 0
    r = repo.run("apply", "a.plan.json")
    assert r.exit_code == 0, r.output
    before = backend.fetch_policy()
    r = repo.run("apply", "b.plan.json")
    assert r.exit_code == 1, r.output
    assert "Error: Saved plan is stale" in r.output
    assert "Run `reconciler plan` again" in r.output
    assert backend.fetch_policy() == before  # nothing was applied
    assert repo.run("drift").exit_code == 0

    # just-in-time access: grace expires; an unattended revocations-only apply removes her.
    r = repo.run("--now", "2030-01-02T00:00:00Z", "apply", "--revocations-only",
                 "--auto-approve")
    assert r.exit_code == 0, r.output
    assert '- "grace@example.com",' in r.output
    assert ("# (grace@example.com's access expired at 2030-01-01 00:00 UTC: on-call rotation)"
            in r.output)
    assert "Apply complete! Resources: 0 added, 1 changed, 0 destroyed." in r.output
    assert "grace@example.com" not in backend.fetch_policy().text
    assert repo.run("--now", "2030-01-02T00:00:00Z", "drift").exit_code == 0

    # import round-trips: a fresh repository imports the live policy and plans no changes.
    fresh = make_repo("imported", config=config, files={})
    fresh.env = repo.env
    r = fresh.run("import")
    assert r.exit_code == 0, r.output
    assert "wrote policies/groups.hujson" in r.output
    fresh.commit(message="import")
    r = fresh.run("--now", "2030-01-02T00:00:00Z", "plan", "--detailed-exitcode")
    assert r.exit_code == 0, r.output
    assert "No changes." in r.output


def test_story_over_http(make_repo: Callable[..., Repo], serve: Any,
                         request_log: RequestLog) -> None:
    config = (f"targets:\n  tailnet: {{backend: tailscale, tailnet: '-', "
              f"base_url: '{serve.url}', timeout: 10}}\n")
    repo = make_repo()
    repo.env = {"TS_API_KEY": API_KEY}
    backend = TailscaleBackend(base_url=serve.url, kind="api-key",
                               credentials={"api_key": API_KEY})
    try:
        story(repo, make_repo, config, backend, request_log)
    finally:
        backend.close()
    # The key was in the environment the whole time; it never reached output or plans.
    assert API_KEY not in repo.run("plan").output
    for plan_file in repo.root.glob("*.plan.json"):
        assert API_KEY not in plan_file.read_text()


def test_story_local(make_repo: Callable[..., Repo], tmp_path: Path) -> None:
    db = tmp_path / "control" / "local.db"
    config = f"targets:\n  local: {{backend: local, path: '{db}'}}\n"
    repo = make_repo()
    story(repo, make_repo, config, LocalBackend(db), None)


def test_headscale_with_no_policy_yet(make_repo: Callable[..., Repo],
                                      fake_headscale: Any) -> None:
    """A fresh Headscale stores no policy: the first plan creates everything and the
    first apply needs no --adopt (there is nothing to lose)."""
    from tests.backends.conftest import HEADSCALE_KEY

    config = f"targets:\n  hs: {{backend: headscale, base_url: '{fake_headscale.url}'}}\n"
    repo = make_repo(config=config)
    repo.env = {"HEADSCALE_API_KEY": HEADSCALE_KEY}
    r = repo.run("plan", "--detailed-exitcode")
    assert r.exit_code == 2, r.output
    assert '# groups["group:eng"] will be created' in r.output
    r = repo.run("apply", "--auto-approve")
    assert r.exit_code == 0, r.output
    r = repo.run("plan", "--detailed-exitcode")
    assert r.exit_code == 0, r.output

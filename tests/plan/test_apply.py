"""apply: every refusal, the If-Match stale check, adoption, verification, git notes,
and the interactive prompt; against the real local store and a real git repository."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from reconciler.backends.local.backend import LocalBackend
from reconciler.commands.apply import apply
from reconciler.commands.plan import make_plan
from reconciler.commands.session import Session
from reconciler.core.errors import (
    NotApplyable,
    ReconcilerError,
    StalePlanError,
    TestsFailed,
    WrongTarget,
)
from reconciler.diff.changes import TestResults
from reconciler.plan import planfile
from tests.plan.conftest import Repo


def session(repo: Repo, now: str | None = None) -> Session:
    from datetime import datetime

    return Session.open(repo.root, now=datetime.fromisoformat(now) if now else None,
                        env={})


def backend_of(repo: Repo) -> LocalBackend:
    s = session(repo)
    return s.backend(s.target(None))  # type: ignore[return-value]


def test_wrong_target_is_refused(local_repo: Repo) -> None:
    s = session(local_repo)
    plan = make_plan(s)
    with pytest.raises(WrongTarget) as info:
        apply(s, replace(plan, identity="local:/elsewhere.db"))
    assert "Apply it to the target it was made for" in info.value.detail


def test_failing_tests_are_refused_and_nothing_is_pushed(local_repo: Repo) -> None:
    s = session(local_repo)
    plan = make_plan(s)
    before = backend_of(local_repo).fetch_policy()
    with pytest.raises(TestsFailed):
        apply(s, replace(plan, tests=TestResults(passed=1, failed=1)))
    with pytest.raises(NotApplyable):
        apply(s, replace(plan, applyable=False))
    with pytest.raises(NotApplyable):
        apply(s, replace(plan, errored=True))
    with pytest.raises(NotApplyable, match="no document"):
        apply(s, replace(plan, document=""))
    assert backend_of(local_repo).fetch_policy() == before


def test_a_plan_made_against_an_older_policy_is_stale(local_repo: Repo) -> None:
    s = session(local_repo)
    old = make_plan(s)
    apply(s, make_plan(s))
    with pytest.raises(StalePlanError) as info:
        apply(s, old)
    assert info.value.summary == "Saved plan is stale"
    assert old.prior_etag in info.value.detail


def test_unmanaged_live_policy_needs_adopt(local_repo: Repo) -> None:
    backend = backend_of(local_repo)
    live = backend.fetch_policy()
    backend.push_policy('{"acls": [{"action": "accept", "src": ["*"], "dst": ["*:22"]}]}\n',
                        if_match=live.etag)
    s = session(local_repo)
    plan = make_plan(s)
    assert not plan.managed and not plan.adoptable
    assert any("--adopt" in m.text for m in plan.messages)
    with pytest.raises(NotApplyable) as info:
        apply(s, plan)
    assert "reconciler import" in info.value.detail and "--adopt" in info.value.detail
    result = apply(s, plan, adopt=True)
    assert result.pushed
    assert make_plan(s).managed


def test_the_untouched_default_policy_is_adopted_without_the_flag(local_repo: Repo) -> None:
    plan = make_plan(session(local_repo))
    assert not plan.managed and plan.adoptable
    assert apply(session(local_repo), plan).pushed


def test_revocations_only_refuses_a_plan_that_grants(local_repo: Repo) -> None:
    s = session(local_repo)
    with pytest.raises(NotApplyable) as info:
        apply(s, make_plan(s), revocations_only=True)
    assert "could grant access" in info.value.summary
    assert 'grants["eng-web"]' in info.value.detail


def test_verification_after_apply_catches_a_writer_that_lands_in_between(
        local_repo: Repo) -> None:
    class RacedBackend(LocalBackend):
        """The real store; another writer changes the policy right after our push."""

        def push_policy(self, text: str, *, if_match: str | None, source: str = "api") -> str:
            etag = super().push_policy(text, if_match=if_match, source=source)
            edited = text.replace('["frank@example.com"',
                                  '["frank@example.com", "ivan@example.com"', 1)
            assert edited != text
            super().push_policy(edited, if_match=etag)
            return etag

    s = session(local_repo)
    plan = make_plan(s)
    raced = RacedBackend(backend_of(local_repo).store.path)
    with pytest.raises(ReconcilerError, match="verification failed"):
        apply(s, plan, backend=raced)


def test_git_note_records_the_apply(local_repo: Repo) -> None:
    s = session(local_repo)
    result = apply(s, make_plan(s), git_note=True)
    note = local_repo.repo.git.notes("--ref", "reconciler", "show", result.commit)
    assert f"etag_before={result.etag_before}" in note
    assert f"etag_after={result.etag_after}" in note
    assert "target=local" in note


def test_cli_prompt_only_yes_applies(local_repo: Repo) -> None:
    before = backend_of(local_repo).fetch_policy()
    r = local_repo.run("apply", input="y\n")
    assert r.exit_code == 1
    assert "Apply cancelled." in r.output
    assert backend_of(local_repo).fetch_policy() == before
    r = local_repo.run("apply", input="yes\n")
    assert r.exit_code == 0, r.output
    assert "Only 'yes' will be accepted" in r.output
    assert "Apply complete! Resources: " in r.output
    assert backend_of(local_repo).fetch_policy() != before
    r = local_repo.run("apply", "--auto-approve")
    assert r.exit_code == 0 and "No changes." in r.output


def test_cli_apply_json_output(local_repo: Repo, tmp_path: Path) -> None:
    assert local_repo.run("plan", "-o", str(tmp_path / "p.json")).exit_code == 0
    r = local_repo.run("apply", str(tmp_path / "p.json"), "--format", "json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["pushed"] is True and data["target"] == "local"
    assert all(c["actions"] for c in data["changes"])


def test_cli_refuses_a_foreign_plan_file(local_repo: Repo, tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text('{"format_version": "1.0"}')
    r = local_repo.run("apply", str(path))
    assert r.exit_code == 1
    assert "Error: not a reconciler plan file" in r.output


def test_plan_file_from_cli_round_trips(local_repo: Repo, tmp_path: Path) -> None:
    out = tmp_path / "p.json"
    assert local_repo.run("plan", "-o", str(out)).exit_code == 0
    plan = planfile.read(out)
    assert plan.target == "local" and plan.applyable
    assert plan.desired_commit == local_repo.repo.head.commit.hexsha

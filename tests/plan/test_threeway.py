"""The three-way view through the real pipeline: a real git history, the real local
store, the base recompiled from the commit in the live policy's managed header."""

from __future__ import annotations

from datetime import datetime, timezone

from reconciler.commands.apply import apply
from reconciler.commands.plan import make_plan
from reconciler.commands.session import Session
from reconciler.diff.changes import Origin
from reconciler.plan.drift import drift_report
from tests.plan.conftest import DESIRED, Repo


def session(repo: Repo, now: datetime | None = None) -> Session:
    return Session.open(repo.root, now=now, env={})


def edit_live(repo: Repo, old: str, new: str) -> None:
    s = session(repo)
    backend = s.backend(s.target(None))
    live = backend.fetch_policy()
    assert old in live.text
    backend.push_policy(live.text.replace(old, new, 1), if_match=live.etag)


def test_pending_drift_and_conflict_are_told_apart(local_repo: Repo) -> None:
    apply(session(local_repo), make_plan(session(local_repo)))
    # git: eng gains carol (pending) and wiki moves (conflict, see below).
    local_repo.commit({
        "policies/groups.yaml": DESIRED["policies/groups.yaml"].replace(
            "bob@example.com]", "bob@example.com, carol@example.com]"),
        "policies/tags.yaml": DESIRED["policies/tags.yaml"].replace("100.101.0.20",
                                                                    "100.101.0.21"),
    })
    # console: tag:ci gets a second owner (drift) and wiki moves elsewhere (conflict).
    edit_live(local_repo, '"tag:ci":         ["group:sre"]',
              '"tag:ci":         ["group:sre", "group:eng"]')
    edit_live(local_repo, '"100.101.0.20"', '"100.101.0.99"')
    plan = make_plan(session(local_repo))
    origins = {c.address: c.origin for c in plan.changes}
    assert origins == {'groups["group:eng"]': Origin.PENDING,
                       'tagOwners["tag:ci"]': Origin.DRIFT,
                       'hosts["wiki"]': Origin.CONFLICT}
    assert sorted(c.address for c in plan.drift) == ['hosts["wiki"]', 'tagOwners["tag:ci"]']
    report = drift_report(plan)
    assert [c.address for c in report.pending] == ['groups["group:eng"]']
    assert [c.address for c in report.reverts] == ['tagOwners["tag:ci"]']
    assert [c.address for c in report.conflicts] == ['hosts["wiki"]']
    assert not report.clean


def test_an_expiry_since_the_apply_is_pending_even_with_drift_elsewhere(
        local_repo: Repo) -> None:
    apply(session(local_repo), make_plan(session(local_repo)))
    edit_live(local_repo, '"100.101.0.20"', '"100.101.0.99"')  # drift elsewhere
    later = datetime(2030, 1, 2, tzinfo=timezone.utc)  # grace's access has expired
    plan = make_plan(session(local_repo, later))
    origins = {c.address: c.origin for c in plan.changes}
    # The base recompiled today has lost grace too, but live still holds her exactly
    # as applied: her removal is a pending change, not an out-of-band edit.
    assert origins == {'groups["group:sre"]': Origin.PENDING, 'hosts["wiki"]': Origin.DRIFT}
    assert [c.address for c in plan.drift] == ['hosts["wiki"]']


def test_a_renamed_in_git_entry_edit_is_an_update_of_the_named_entry(local_repo: Repo) -> None:
    apply(session(local_repo), make_plan(session(local_repo)))
    # Insert a grant before eng-web and change eng-web's ports: names come from the base.
    local_repo.commit({"policies/access.yaml": DESIRED["policies/access.yaml"].replace(
        "grants:\n", "grants:\n  - name: ci\n    src: [tag:ci]\n    dst: [tag:prod]\n"
                     "    ip: [\"tcp:22\"]\n").replace('ip: ["tcp:443"]',
                                                    'ip: ["tcp:443", "tcp:80"]')})
    plan = make_plan(session(local_repo))
    got = {c.address: c.action.value for c in plan.changes}
    assert got == {'grants["ci"]': "create", 'grants["eng-web"]': "update"}

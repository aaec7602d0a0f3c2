"""`apply --revocations-only` revokes on time whatever else is pending in git.

It pushes the last-applied state with only the expired entries and members removed
(base minus expired), so a nightly job revokes even while an unrelated change waits for
review; the pending change is not applied.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from reconciler.backends.local.backend import LocalBackend
from tests.plan.conftest import ACCESS, Repo

NOW = ("--now", "2030-01-02T00:00:00Z")  # grace's membership expired on 2030-01-01


def test_revocation_applies_while_an_unrelated_change_is_pending(local_repo: Repo) -> None:
    r = local_repo.run("apply", "--auto-approve")
    assert r.exit_code == 0, r.output
    applied = local_repo.repo.head.commit.hexsha
    # An unrelated change waits for review: eng would gain ssh on tag:prod.
    local_repo.commit({"policies/access.yaml": ACCESS + """\
  - name: eng-ssh
    src: [group:eng]
    dst: [tag:prod]
    ip: ["tcp:22"]
"""}, "eng gains ssh (pending review)")

    r = local_repo.run(*NOW, "apply", "--revocations-only", "--auto-approve")
    assert r.exit_code == 0, r.output
    assert '- "grace@example.com",' in r.output
    assert "grace@example.com's access expired at 2030-01-01" in r.output
    assert "eng-ssh" not in r.output
    assert "Apply complete! Resources: 0 added, 1 changed, 0 destroyed." in r.output
    assert f"last applied commit {applied[:12]}" in r.output, r.output

    db = local_repo.root.parent / "control" / "local.db"
    live = LocalBackend(db).fetch_policy().text
    assert "grace@example.com" not in live
    assert "tcp:22" not in live  # the pending change was not applied
    assert applied in live  # the header still names the last-applied commit

    # Nothing left to revoke, and the next drift check sees only the pending change.
    r = local_repo.run(*NOW, "drift", "--format", "json")
    report = json.loads(r.stdout)
    assert report["out_of_band"] == [] and report["conflicts"] == []
    assert [c["address"] for c in report["pending"]] == ['grants["eng-ssh"]'], r.output
    r = local_repo.run(*NOW, "apply", "--revocations-only", "--auto-approve")
    assert r.exit_code == 0, r.output
    assert "No changes." in r.output


def test_revocations_only_needs_a_policy_applied_from_a_commit(
        make_repo: Callable[..., Repo], tmp_path: Path) -> None:
    db = tmp_path / "fresh" / "local.db"
    repo = make_repo(config=f"targets:\n  local: {{backend: local, path: {db}}}\n")
    r = repo.run(*NOW, "apply", "--revocations-only", "--auto-approve")
    assert r.exit_code == 1, r.output
    assert "--revocations-only" in r.output and "Traceback" not in r.output
    from reconciler.backends.local.seed import DEFAULT_POLICY

    assert LocalBackend(db).fetch_policy().text == DEFAULT_POLICY  # nothing was written

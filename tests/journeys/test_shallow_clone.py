"""Drift and plan in a shallow clone without the last-applied commit: say so, exit 1.

The policy is applied from one commit, a console edit lands, more commits follow; CI
checks out `git clone --depth 1`. Without the base commit a console edit cannot be told
apart from a change pending in git; it used to be filed under "pending in git".
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from reconciler.backends.local.backend import LocalBackend
from tests.plan.conftest import TESTS, Repo


def shallow_clone(local_repo: Repo, tmp_path: Path) -> tuple[Repo, Path]:
    r = local_repo.run("apply", "--auto-approve")
    assert r.exit_code == 0, r.output
    db = tmp_path / "control" / "local.db"
    backend = LocalBackend(db)
    live = backend.fetch_policy()
    backend.push_policy(live.text.replace('"bob@example.com"',
                                          '"bob@example.com", "carol@example.com"', 1),
                        if_match=live.etag)
    local_repo.commit({"policies/tests.yaml": TESTS + "  - src: bob@example.com\n"
                                                      "    accept: [\"tag:prod:443\"]\n"},
                      "one more test")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{local_repo.root}",
                    str(clone)], check=True)
    (clone / "reconciler.yaml").write_text(
        f"targets:\n  local: {{backend: local, path: {db}}}\n")
    return Repo(clone, local_repo.repo), db


def test_drift_and_plan_refuse_without_the_base_commit(local_repo: Repo,
                                                         tmp_path: Path) -> None:
    clone, db = shallow_clone(local_repo, tmp_path)
    before = LocalBackend(db).fetch_policy()
    for command in (("drift",), ("plan",), ("drift", "--format", "json"),
                    ("plan", "--format", "json")):
        r = clone.run(*command)
        assert r.exit_code == 1, (command, r.output)
        assert "is not in this shallow clone" in r.output, (command, r.output)
        assert "git fetch --unshallow" in r.output, (command, r.output)
        assert 'groups["group:eng"]' not in r.output  # not misfiled anywhere
        if "json" in command:
            data = json.loads(r.stdout)
            assert "not in this shallow clone" in data["error"], r.stdout
    assert LocalBackend(db).fetch_policy() == before

    # With the history fetched, the console edit is drift, not a pending change.
    subprocess.run(["git", "-C", str(clone.root), "fetch", "-q", "--unshallow"], check=True)
    r = clone.run("drift", "--format", "json")
    assert r.exit_code == 2, r.output
    report = json.loads(r.stdout)
    assert [c["address"] for c in report["out_of_band"]] == ['groups["group:eng"]'], r.output

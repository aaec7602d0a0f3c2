"""Adopting a tailnet as the README says: import the live policy, commit, take it over.

The console's policy already matches git after `import`, so there is nothing to change;
`apply --adopt` must still take it over (write the same policy with reconciler's
header), or the tailnet stays unmanaged: drift cannot tell console edits from git
changes, and the first merged change is refused for want of --adopt. Through the real
CLI, a real git repository and the local store.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.plan.conftest import Repo

CONSOLE = """\
{
  "groups": {
    // People
    "group:eng": ["alice@example.com", "bob@example.com"],
    "group:ops": ["carol@example.com"],
  },
  "tagOwners": {"tag:prod": ["group:ops"], "tag:web": ["group:eng"]},
  "acls": [
    // Engineers use the web tier
    {"action": "accept", "src": ["group:eng"], "dst": ["tag:web:443"]},
    {"action": "accept", "src": ["group:ops"], "dst": ["*:*"]},
  ],
}
"""


def test_import_then_apply_adopt_takes_the_tailnet_over(
        make_repo: Callable[..., Repo], tmp_path: Path) -> None:
    db = tmp_path / "control" / "live.db"
    repo = make_repo(config=f"targets:\n  live: {{backend: local, path: {db}}}\n",
                     files={"README.md": "policy repo\n"})
    console = tmp_path / "console.hujson"
    console.write_text(CONSOLE)
    assert repo.run("local", "edit", "--file", str(console)).exit_code == 0
    r = repo.run("import")
    assert r.exit_code == 0, r.output
    repo.commit(message="import the console's policy")

    plan = repo.run("plan")
    assert plan.exit_code == 0, plan.output
    assert "No changes." in plan.output
    assert "It already matches git: `reconciler apply --adopt` takes it over" in plan.output
    assert repo.run("apply", "--auto-approve").output.count("Apply complete") == 0

    saved = tmp_path / "adopt.plan.json"
    assert repo.run("plan", "-o", str(saved)).exit_code == 0
    r = repo.run("apply", str(saved), "--adopt")
    assert r.exit_code == 0, r.output
    assert "Took over the live policy" in r.output
    live = repo.run("local", "history", "--db", str(db)).output
    assert live.count("\n") >= 2, live  # the console's write, then the take-over

    after = repo.run("plan")
    assert "reconciler header" not in after.output and "No changes." in after.output
    # Managed now: a console edit is filed as made outside git.
    assert repo.run("local", "edit", "--db", str(db), "--set", "groups",
                    '{"group:eng": ["alice@example.com"], "group:ops": '
                    '["carol@example.com"]}').exit_code == 0
    drift = repo.run("drift")
    assert drift.exit_code == 2, drift.output
    assert "Changed outside git since the last apply" in drift.output

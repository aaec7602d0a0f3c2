"""The access diff inside `plan`, `show` and `diff`: who gains and who loses what."""

from __future__ import annotations

import json
from pathlib import Path

from tests.plan.conftest import DESIRED, Repo

WITH_CAROL = DESIRED["policies/groups.yaml"].replace(
    "bob@example.com]", "bob@example.com, carol@example.com]")


def test_plan_says_who_gains_access_and_which_rule(local_repo: Repo, tmp_path: Path) -> None:
    assert local_repo.run("apply", "--auto-approve").exit_code == 0
    local_repo.commit({"policies/groups.yaml": WITH_CAROL})
    out = tmp_path / "p.plan.json"
    r = local_repo.run("plan", "-o", str(out))
    assert r.exit_code == 0, r.output
    text = r.output
    section = text[text.index("Access changes:"):]
    # carol's laptop (the demo tailnet's) gains exactly what group:eng has: tcp:443 on prod.
    assert "+ carol@example.com gains tcp:443 on tag:prod (2 devices)" in section
    assert "policies/access.yaml:2" in section  # the eng-web grant that gives it
    assert "loses" not in section
    assert text.index("Access changes:") < text.index("Tests:")

    data = json.loads(local_repo.run("plan", "--format", "json").output)
    gained = data["access"]["gained"]
    assert [(g["src"], g["dst"], g["ip"]) for g in gained] == [
        ("carol@example.com", ["tag:prod"], "tcp:443")]

    markdown = local_repo.run("plan", "--format", "markdown").output
    assert "```mermaid" in markdown and "carol@example.com" in markdown

    # A saved plan renders the same access changes without the control plane.
    shown = local_repo.run("show", str(out)).output
    assert "+ carol@example.com gains tcp:443 on tag:prod (2 devices)" in shown


def test_no_changes_means_no_access_section(local_repo: Repo) -> None:
    assert local_repo.run("apply", "--auto-approve").exit_code == 0
    r = local_repo.run("plan")
    assert r.exit_code == 0 and "Access changes" not in r.output


def test_diff_between_refs_shows_access_changes(local_repo: Repo) -> None:
    first = local_repo.repo.head.commit.hexsha
    local_repo.commit({"policies/groups.yaml": WITH_CAROL})
    r = local_repo.run("diff", first, "HEAD")
    assert r.exit_code == 0, r.output
    assert "Access changes:" in r.output and "carol@example.com gains tcp:443" in r.output
    data = json.loads(local_repo.run("diff", first, "HEAD", "--format", "json").output)
    assert data["access"]["counts"] == {"gained": 1, "lost": 0}

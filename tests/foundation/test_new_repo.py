"""A new team's first minutes: `init`, commit, plan, apply, test, with the demo target.

The first plan of a new repository must speak of that repository's people and
devices (seeded from the scaffolded tailnet.yaml), never of the example organisation
the checkout's demo store holds; and the local store must never show up in `git
status`, with or without `init`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

DEMO_STRANGERS = ("sam-laptop", "db-1", "staging-web-1", "office-router", "27 devices")


def reconciler(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "RECONCILER_JOBS": "1"}
    return subprocess.run([sys.executable, "-m", "reconciler", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com",
                           *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout


def test_first_plan_of_a_new_repo_speaks_of_its_own_tailnet(tmp_path: Path) -> None:
    repo = tmp_path / "policy"
    assert reconciler(tmp_path, "init", "policy").returncode == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "init")
    plan = reconciler(repo, "plan")
    assert plan.returncode == 0, plan.stderr
    for stranger in DEMO_STRANGERS:
        assert stranger not in plan.stdout
    # The scaffold's own devices and people are who the access diff is about.
    assert "prod-web-1" in plan.stdout and "bob@example.com loses" in plan.stdout
    assert "(inventory: local:" in plan.stdout
    assert git(repo, "status", "--porcelain") == ""
    applied = reconciler(repo, "apply", "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    inventory = reconciler(repo, "local", "inventory")
    assert "ci-runner-1" in inventory.stdout and "sam" not in inventory.stdout
    assert reconciler(repo, "test").returncode == 0
    again = reconciler(repo, "plan", "--detailed-exitcode")
    assert again.returncode == 0, again.stdout


def test_the_store_directory_ignores_itself_without_init(tmp_path: Path) -> None:
    """A repo with only policies/ (no init, no .gitignore): plan leaves git status clean."""
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "groups.yaml").write_text(
        "groups:\n  group:eng: [alice@example.com]\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "policies")
    assert reconciler(tmp_path, "plan").returncode == 0
    assert (tmp_path / ".reconciler" / "local.db").is_file()
    assert git(tmp_path, "status", "--porcelain") == ""


def test_an_empty_seed_starts_with_no_users_or_devices(tmp_path: Path) -> None:
    (tmp_path / "reconciler.yaml").write_text(
        "targets:\n  dev: {backend: local, seed: empty}\n")
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "groups.yaml").write_text(
        "groups:\n  group:eng: [alice@example.com]\n")
    out = reconciler(tmp_path, "local", "inventory", "--format", "json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["command"] == "local inventory" and "format_version" in data
    assert (data["users"], data["devices"]) == ([], [])


@pytest.mark.parametrize(("seed", "message"), [
    ("missing.yaml", "seed file missing.yaml not found"),
    ("[1, 2]", "seed must be demo, empty or the path of an inventory file"),
])
def test_a_bad_seed_is_a_clear_error(tmp_path: Path, seed: str, message: str) -> None:
    (tmp_path / "reconciler.yaml").write_text(
        f"targets:\n  dev: {{backend: local, seed: {seed}}}\n")
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "groups.yaml").write_text(
        "groups:\n  group:eng: [alice@example.com]\n")
    out = reconciler(tmp_path, "local", "inventory")
    assert out.returncode == 1
    assert message in out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr

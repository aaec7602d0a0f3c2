"""Nothing under policies/ is skipped silently: an unreadable file or directory, a link
loop, a link to nothing or a fragment that is not a regular file is a located error
naming the path and what to do (a skipped fragment would plan the removal of what it
grants). A missing or broken policies directory names the path and the next step."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.robust.conftest import NOW, POLICY_COMMANDS, run_cli, run_unprivileged

TEAM = "grants:\n- {src: [group:eng], dst: ['tag:prod'], ip: ['22']}\n"


def test_unreadable_subdirectory_is_an_error_not_a_destroy(repo: Path, restore_modes) -> None:
    team = repo / "policies" / "team"
    team.mkdir()
    (team / "ssh.yaml").write_text(TEAM, encoding="utf-8")
    team.chmod(0)
    for command in ("validate", "plan"):
        result = run_unprivileged(repo, *NOW, command)
        assert result.returncode == 1, (command, result.stdout, result.stderr)
        assert "policies/team:1:1: cannot read this directory (permission denied)" \
            in result.stderr, result.stderr
        assert "chmod" in result.stderr
        assert "destroy" not in result.stdout


def test_mode_000_fragment_is_a_located_error(repo: Path, restore_modes) -> None:
    (repo / "policies" / "team.yaml").write_text(TEAM, encoding="utf-8")
    (repo / "policies" / "team.yaml").chmod(0)
    for command in ("validate", "test", "lint", "plan"):
        result = run_unprivileged(repo, *NOW, command)
        assert result.returncode == 1, (command, result.stdout, result.stderr)
        assert "policies/team.yaml:1:1: cannot read this fragment (permission denied)" \
            in result.stderr, (command, result.stderr)


LINKS = {
    # `ln -s policies policies`, run inside policies/: a link to itself.
    "self loop": ("policies/policies", "policies",
                  "policies/policies:1:1: symbolic link to policies loops back on itself"),
    "dangling": ("policies/team.yaml", "gone.yaml",
                 "policies/team.yaml:1:1: symbolic link to gone.yaml, which does not exist"),
    "loop through a parent": ("policies/a/b/up", "../..",
                              "policies/a/b/up:1:1: a link here leads back to policies"),
}


@pytest.mark.parametrize("case", sorted(LINKS))
def test_broken_links_are_located_errors(repo: Path, case: str) -> None:
    link, target, message = LINKS[case]
    (repo / link).parent.mkdir(parents=True, exist_ok=True)
    (repo / link).symlink_to(target)
    for command in POLICY_COMMANDS:
        outcome = run_cli(repo, *NOW, *command)
        assert outcome.code == 1, (command, outcome.output)
        assert message in outcome.err, (command, outcome.err)
        assert "remove the link" in outcome.err


def test_a_pipe_named_like_a_fragment_is_refused_not_read(repo: Path) -> None:
    os.mkfifo(repo / "policies" / "team.yaml")  # reading it would wait forever
    outcome = run_cli(repo, *NOW, "validate")
    assert outcome.code == 1, outcome.output
    assert "policies/team.yaml:1:1: not a regular file" in outcome.err


def test_linked_directories_are_read(repo: Path, tmp_path_factory) -> None:
    elsewhere = tmp_path_factory.mktemp("common")
    (elsewhere / "team.yaml").write_text(TEAM, encoding="utf-8")
    (repo / "policies" / "common").symlink_to(elsewhere, target_is_directory=True)
    outcome = run_cli(repo, *NOW, "validate")
    assert outcome.code == 0, outcome.output
    assert outcome.out.startswith("Valid: 2 fragment(s); 2 grants"), outcome.out


@pytest.mark.parametrize("make, message", [
    (lambda p: p.symlink_to("policies"),
     "policies directory not found: policies is a symbolic link to policies, which links "
     "back to itself (a loop)"),
    (lambda p: p.symlink_to("nowhere"),
     "policies directory not found: policies is a symbolic link to nowhere, which does not "
     "exist"),
    (lambda p: p.write_text("grants: []\n"), "policies is not a directory"),
    (lambda p: None, "policies directory not found: policies"),
])
def test_broken_policies_directory_names_it_and_the_next_step(repo: Path, make, message
                                                              ) -> None:
    shutil.rmtree(repo / "policies")
    make(repo / "policies")
    for command in POLICY_COMMANDS:
        outcome = run_cli(repo, *NOW, *command)
        assert outcome.code == 1, (command, outcome.output)
        assert f"Error: {message}\n" in outcome.err, (command, outcome.err)
        assert "reconciler init" in outcome.err and "policies:" in outcome.err

"""A fork's pull request gets the offline comment (no secrets, `reconciler diff BASE
HEAD`), through the real `action/run.sh`: it stays under GitHub's comment size however
big the change or however many errors it has, as the plan comment does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import git

from tests.github.test_action import desired_repo, github_env, outputs, run_step  # noqa: F401

COMMENT_LIMIT = 65_536  # GitHub's
MAX_CHARS = 60_000  # reconciler/render/markdown.py: room for the links under it


def _commit(repo: Path, files: dict[str, str], message: str) -> str:
    r = git.Repo(repo)
    for name, text in files.items():
        (repo / name).write_text(text)
    r.index.add(list(files))
    sha = r.index.commit(message).hexsha
    r.close()
    return sha


def _fork_event(path: Path, base: str, head: str) -> None:
    path.write_text(json.dumps({"pull_request": {
        "number": 12, "base": {"sha": base, "repo": {"full_name": "acme/access-policy"}},
        "head": {"sha": head, "repo": {"full_name": "mallory/access-policy"}}}}))


def _many_grants(n: int, src: str = "user{i}@example.com") -> str:
    return "grants:\n" + "".join(
        f"  - src: [{src.format(i=i)}]\n    dst: [tag:prod]\n    ip: [\"tcp:{2000 + i}\"]\n"
        for i in range(n))


def test_a_big_fork_change_is_capped_like_the_plan_comment(
        github_env: dict[str, Any], tmp_path: Path) -> None:  # noqa: F811
    # A tailscale target nobody can reach: the fork's run must not try.
    repo = desired_repo(tmp_path / "repo", "http://127.0.0.1:9")
    base = git.Repo(repo).head.commit.hexsha
    head = _commit(repo, {"policies/zz-fork.yaml": _many_grants(400)
                          + "  - src: [group:contractors]\n    dst: [tag:prod]\n"
                            "    ip: [\"tcp:22\"]\n"}, "a big change from a fork")
    _fork_event(Path(github_env["env"]["GITHUB_EVENT_PATH"]), base, head)
    # Uncapped, this change's markdown is over GitHub's limit: the cap is what saves it.
    whole = subprocess.run([Path(sys.executable).parent / "reconciler", "diff", base, "HEAD",
                            "--format", "markdown", "--max-chars", "10000000"], cwd=repo,
                           capture_output=True, text=True, check=True,
                           env={**os.environ, "NO_COLOR": "1"})
    assert len(whole.stdout) > COMMENT_LIMIT

    proc = run_step("run", github_env["env"], repo, command="plan", target="prod")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = outputs(github_env["output"])
    assert out["offline"] == "true" and out["has-changes"] == "true"
    comment = Path(out["comment-path"]).read_text()
    assert len(comment) <= MAX_CHARS < COMMENT_LIMIT
    assert comment.startswith("<!-- reconciler-plan:prod -->\n### ✅ reconciler offline check")
    assert "**Live state was not consulted.**" in comment
    # Shortened as the plan comment is: the summary, the risky gain and the diagram stay.
    assert "Access: 401 gained, 0 lost." in comment
    assert "> - `group:contractors` gains ssh on `tag:prod`: " in comment
    assert comment.count("```mermaid") == 1
    assert "The resource changes (401) are too long for a comment: `reconciler diff " \
        f"{base} HEAD` lists them." in comment
    assert "<details><summary>Every access statement (401)</summary>" in comment
    # What was posted is that comment.
    assert Path(str(github_env["gh.log"]) + ".body").read_text() == comment

    # The fork's next push has 800 errors, whose list alone is over GitHub's limit:
    # every one is an annotation; the comment lists them while they fit, then counts.
    _commit(repo, {"policies/zz-fork.yaml": _many_grants(800, "group:missing{i}")},
            "a broken change from a fork")
    github_env["output"].write_text("")
    proc = run_step("run", github_env["env"], repo, command="plan", target="prod")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert len([line for line in proc.stdout.splitlines() if line.startswith(
        "::error file=policies/zz-fork.yaml") and ",title=reconciler::" in line]) == 800
    comment = Path(outputs(github_env["output"])["comment-path"]).read_text()
    assert len(comment) <= MAX_CHARS
    assert "**Validation: 800 error(s).**" in comment
    assert "more: see the annotations and the job log" in comment


def test_a_plan_with_many_errors_keeps_its_red_comment_under_the_limit(
        github_env: dict[str, Any], tmp_path: Path) -> None:  # noqa: F811
    repo = desired_repo(tmp_path / "repo", "http://127.0.0.1:9")
    _commit(repo, {"policies/zz-broken.yaml": _many_grants(800, "group:missing{i}")},
            "800 undefined groups")
    proc = run_step("run", github_env["env"], repo, command="plan", target="demo")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert len([line for line in proc.stdout.splitlines()
                if line.startswith("::error file=policies/zz-broken.yaml")]) == 800
    comment = Path(outputs(github_env["output"])["comment-path"]).read_text()
    assert comment.startswith("<!-- reconciler-plan:demo -->\n### ❌ reconciler plan for")
    assert "**The policy is invalid: 800 error(s).**" in comment
    assert len(comment) <= MAX_CHARS
    assert comment.rstrip().endswith("more: see the annotations and the job log")
    assert Path(str(github_env["gh.log"]) + ".body").read_text() == comment

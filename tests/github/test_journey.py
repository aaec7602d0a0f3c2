"""The team journey on GitHub, end to end, through the real `action/run.sh` and the
example workflows' own scripts, against `reconciler serve` (issue 12).

One story on one repository: a team manages its tailnet; pull requests A and B are
opened (plan comments), B is merged and applied, A is merged (stale, planned again,
identical, applied); C is reviewed but D lands first and changes who C's rule reaches,
so nothing of C is applied; an admin edits the console and the nightly drift job opens an
issue, closed after the fix; a just-in-time member expires and the nightly revocation
removes them; an invalid pull request gets a red comment and annotations; a fork's pull
request gets the offline check. Every step checks the Action's outputs, the pull-request
comments and issues (a stateful stand-in for `gh`), the pushed git notes and the live
policy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import git
import yaml

from tests.backends.conftest import (  # noqa: F401  (fixture)
    API_KEY,
    CLIENT_ID,
    CLIENT_SECRET,
    Served,
    serve,
)
from tests.conftest import REPO_ROOT
from tests.github.test_action import (
    RUN_SH,
    console_edit,
    desired_repo,
    live_policy,
    origin_notes,
    outputs,
)

DRIFT_YML = REPO_ROOT / "examples" / "github" / "drift.yml"
EXPIRED = "2027-04-01T00:00:00Z"  # dave's on-call membership of group:sre ends 2027-03-31


def workflow_step(path: Path, job: str, name: str) -> str:
    """The `run:` script of a named step of an example workflow."""
    steps = yaml.safe_load(path.read_text())["jobs"][job]["steps"]
    return next(s["run"] for s in steps if s.get("name") == name)


class GitHub:
    """The repository, its origin, the runner's files and the stateful `gh`."""

    def __init__(self, tmp: Path, url: str) -> None:
        self.tmp = tmp
        self.root = desired_repo(tmp / "repo", url)
        self.repo = git.Repo(self.root)
        self.main = self.repo.active_branch.name
        bin_dir = tmp / "bin"
        bin_dir.mkdir()
        gh = bin_dir / "gh"
        gh.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{Path(__file__).with_name("fake_gh.py")}" "$@"\n')
        gh.chmod(0o755)
        self.state = tmp / "gh-state.json"
        self.output, self.summary = tmp / "output", tmp / "summary"
        self.base_env = {
            "PATH": os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent),
                                     os.environ.get("PATH", "")]),
            "HOME": os.environ.get("HOME", str(tmp)), "NO_COLOR": "1",
            "GITHUB_OUTPUT": str(self.output), "GITHUB_STEP_SUMMARY": str(self.summary),
            "GITHUB_REPOSITORY": "acme/access-policy", "GITHUB_SERVER_URL": "https://github.example",
            "GITHUB_RUN_ID": "7", "GITHUB_ACTOR": "merger", "RUNNER_TEMP": str(tmp / "runner"),
            "GH_STATE": str(self.state), "GH_LOG": str(tmp / "gh.log"), "GH_TOKEN": "unused",
        }

    # --- the runner --------------------------------------------------------------------

    def action(self, event: dict[str, Any] | None, now: str | None = None,
               **inputs: str) -> tuple[subprocess.CompletedProcess, dict[str, str]]:
        """One step `uses: your-org/reconciler@v1`; returns its process and outputs."""
        self.output.write_text("")
        self.summary.write_text("")
        event_path = self.tmp / "event.json"
        event_path.write_text(json.dumps(event or {}))
        env = {**self.base_env, "GITHUB_EVENT_PATH": str(event_path),
               "GITHUB_EVENT_NAME": "pull_request" if event else "push",
               **({"RECONCILER_NOW": now} if now else {}),
               **{f"INPUT_{k.upper()}": v for k, v in inputs.items()}}
        proc = subprocess.run(["bash", str(RUN_SH), "run"], cwd=self.root, env=env,
                              capture_output=True, text=True, check=False, timeout=300)
        return proc, outputs(self.output)

    def workflow_script(self, script: str, **env: str) -> subprocess.CompletedProcess:
        """A workflow's `run:` step as GitHub runs it (bash -e)."""
        return subprocess.run(["bash", "-e", "-c", script], cwd=self.root,
                              env={**self.base_env, **env}, capture_output=True, text=True,
                              check=False, timeout=300)

    # --- GitHub's state ----------------------------------------------------------------

    def gh(self) -> dict[str, Any]:
        return json.loads(self.state.read_text()) if self.state.is_file() else {}

    def comments(self, pr: int) -> list[str]:
        return [c["body"] for c in self.gh().get("comments", {}).get(str(pr), [])]

    def issues(self) -> list[dict[str, Any]]:
        return self.gh().get("issues", [])

    # --- the team ----------------------------------------------------------------------

    def pr_event(self, number: int, fork: bool = False) -> dict[str, Any]:
        head = self.repo.git.rev_parse(f"pr-{number}")
        base = self.repo.git.merge_base(self.main, f"pr-{number}")
        return {"pull_request": {
            "number": number,
            "base": {"sha": base, "repo": {"full_name": "acme/access-policy"}},
            "head": {"sha": head, "repo": {"full_name": "mallory/access-policy" if fork
                                           else "acme/access-policy"}}}}

    def open_pr(self, number: int, files: dict[str, str], fork: bool = False,
                **credentials: str) -> tuple[subprocess.CompletedProcess, dict[str, str]]:
        """Branch from main, commit, and run plan.yml's plan step on the pull request."""
        self.repo.git.checkout("-b", f"pr-{number}", self.main)
        for rel, text in files.items():
            (self.root / rel).parent.mkdir(parents=True, exist_ok=True)
            (self.root / rel).write_text(text)
        self.repo.index.add(list(files))
        self.repo.index.commit(f"pull request {number}")
        result = self.action(self.pr_event(number, fork), command="plan", target="prod",
                             **credentials)
        if "plan-path" in result[1]:  # plan.yml's artifact: reconciler-plan-<head sha>
            artifact = self.tmp / f"reconciler-plan-{number}.json"
            artifact.write_bytes(Path(result[1]["plan-path"]).read_bytes())
        self.repo.git.checkout(self.main)
        return result

    def merge(self, number: int, **env: str) -> tuple[subprocess.CompletedProcess, dict[str, str]]:
        """Merge on GitHub, then apply.yml: apply the reviewed plan of the pull request."""
        self.repo.git.merge("--no-ff", "-m", f"Merge pull request #{number}", f"pr-{number}")
        self.repo.git.push("origin", self.main)
        return self.action(None, command="apply", target="prod", api_key=API_KEY,
                           plan_file=str(self.tmp / f"reconciler-plan-{number}.json"),
                           pull_request=str(number), **env)

    def nightly_drift(self, now: str | None = None) -> tuple[str, subprocess.CompletedProcess]:
        """drift.yml's drift job: the Action, then its issue script."""
        proc, out = self.action(None, now=now, command="drift", target="prod",
                                fail_on_drift="false", oauth_client_id=CLIENT_ID,
                                oauth_secret=CLIENT_SECRET)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        script = workflow_step(DRIFT_YML, "drift", "Open, update or close the drift issue")
        issue = self.workflow_script(script, DRIFT=out["drift"],
                                     SUMMARY="https://github.example/runs/7")
        assert issue.returncode == 0, issue.stdout + issue.stderr
        return out["drift"], issue


GRANT = "grants:\n  - {{src: [{src}], dst: [tag:prod], ip: [\"tcp:{port}\"]}}\n"


def _grants_on(policy: dict[str, Any], port: int) -> list[Any]:
    return [g for g in policy.get("grants", []) if g.get("ip") == [f"tcp:{port}"]]


def test_the_team_journey_on_github(serve: Served, tmp_path: Path) -> None:  # noqa: F811
    hub = GitHub(tmp_path, serve.url)
    secrets = {"api_key": API_KEY}

    # The team adopts the tailnet: the first apply makes it managed, and is recorded.
    proc, out = hub.action(None, command="apply", target="prod", api_key=API_KEY)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert out["has-changes"] == "true"
    assert len(origin_notes(hub.root)) == 1

    # PR A (a grant) and PR B (a member) are opened: each gets one green plan comment.
    groups = (hub.root / "policies" / "groups.yaml").read_text()
    proc, out = hub.open_pr(1, {"policies/acls/zz-a.yaml": GRANT.format(src="group:eng",
                                                                       port=8443)}, **secrets)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert out["has-changes"] == "true" and out["drift"] == "false"
    [comment_a] = hub.comments(1)
    assert comment_a.startswith("<!-- reconciler-plan:prod -->\n### ✅ reconciler plan for `prod`")
    assert "tcp:8443" in comment_a
    proc, out = hub.open_pr(2, {"policies/groups.yaml": groups.replace(
        "    - oscar@example.com\n", "    - oscar@example.com\n    - ivan@example.com\n")},
        **secrets)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(hub.comments(2)) == 1 and "ivan@example.com" in hub.comments(2)[0]

    # B is merged and applied exactly as reviewed.
    proc, out = hub.merge(2)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert out["reviewed-plan"] == "current" and out["has-changes"] == "true"
    assert "ivan@example.com" in live_policy(serve.url)["groups"]["group:finance"]
    assert len(origin_notes(hub.root)) == 2

    # A is merged: its plan is stale (B moved live), the new plan is the same: applied.
    proc, out = hub.merge(1)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert out["reviewed-plan"] == "identical"
    live = live_policy(serve.url)
    assert _grants_on(live, 8443) and "ivan@example.com" in live["groups"]["group:finance"]
    assert len(origin_notes(hub.root)) == 3

    # C (eng may reach prod on 9000) is reviewed; D lands first and adds trent to
    # group:eng. C's rule is unchanged, but it would now reach trent too, which nobody
    # reviewed: nothing of C is applied, and C's comment says so with the new plan.
    proc, _ = hub.open_pr(3, {"policies/acls/zz-c.yaml": GRANT.format(src="group:eng",
                                                                     port=9000)}, **secrets)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc, _ = hub.open_pr(4, {"policies/groups.yaml": (hub.root / "policies" / "groups.yaml")
                              .read_text().replace("    - erin@example.com\n",
                                                   "    - erin@example.com\n"
                                                   "    - trent@example.com\n")}, **secrets)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc, out = hub.merge(4)
    assert proc.returncode == 0 and out["reviewed-plan"] == "current", proc.stdout + proc.stderr
    before = live_policy(serve.url)
    proc, out = hub.merge(3)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert out["reviewed-plan"] == "differs"
    assert live_policy(serve.url) == before and not _grants_on(before, 9000)
    [comment_c] = hub.comments(3)  # the green plan comment, now red
    assert comment_c.startswith("<!-- reconciler-plan:prod -->\n### ❌ reconciler apply for "
                                "`prod` refused: the plan changed")
    # The new plan's access diff, where the difference shows: trent (group:security).
    assert "| + | `group:security` | `tcp:9000` | `tag:prod` |" in comment_c
    assert len(origin_notes(hub.root)) == 4  # D's apply; nothing for C

    # An admin edits the console. The nightly drift job opens an issue.
    console_edit(serve.url)
    drift, _ = hub.nightly_drift()
    assert drift == "true"
    [issue] = hub.issues()
    assert issue["state"] == "open" and issue["labels"] == ["drift"]

    # The fix: a pull request adopts the console edit (and C, still unapplied, goes with
    # it); once merged and applied, the next night closes the issue.
    edited = (hub.root / "policies" / "groups.yaml").read_text().replace(
        "    - bob@example.com\n", "    - bob@example.com\n    - zoe@example.com\n", 1)
    proc, out = hub.open_pr(5, {"policies/groups.yaml": edited}, **secrets)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert out["has-changes"] == "true"  # C's grant, merged but never applied
    proc, out = hub.merge(5)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _grants_on(live_policy(serve.url), 9000)
    drift, _ = hub.nightly_drift()
    assert drift == "false"
    [issue] = hub.issues()
    assert issue["state"] == "closed" and "matches git again" in issue["comments"][-1]

    # A just-in-time member expires: that night the drift job reports the pending
    # revocation, the revocation job removes it, and the next night is clean.
    assert "dave@example.com" in live_policy(serve.url)["groups"]["group:sre"]
    drift, _ = hub.nightly_drift(now=EXPIRED)
    assert drift == "true"
    assert [i["state"] for i in hub.issues()] == ["closed", "open"]
    revoke = workflow_step(DRIFT_YML, "revoke-expired",
                           "Apply revocations only (expired just-in-time access)")
    proc = hub.workflow_script(revoke, TS_OAUTH_CLIENT_ID=CLIENT_ID,
                               TS_OAUTH_CLIENT_SECRET=CLIENT_SECRET, RECONCILER_NOW=EXPIRED)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "dave@example.com" not in live_policy(serve.url)["groups"]["group:sre"]
    # The revocation is in the audit trail that was pushed, like every other apply.
    notes = hub.repo.git.notes("--ref", "reconciler", "list")
    pushed = subprocess.run(["git", "ls-remote", "origin", "refs/notes/reconciler"],
                            cwd=hub.root, capture_output=True, text=True, check=True).stdout
    assert pushed.split()[0] == hub.repo.git.rev_parse("refs/notes/reconciler")
    assert len(notes.splitlines()) >= 1
    drift, _ = hub.nightly_drift(now=EXPIRED)
    assert drift == "false"
    assert [i["state"] for i in hub.issues()] == ["closed", "closed"]

    # An invalid pull request: annotations on the bad lines, a red comment, a failed step.
    proc, out = hub.open_pr(6, {"policies/acls/zz-bad.yaml":
                                GRANT.format(src="group:nope", port=443)}, **secrets)
    assert proc.returncode == 1
    assert ("::error file=policies/acls/zz-bad.yaml,line=2,col=12,title=reconciler::"
            'src=group not found: "group:nope"') in proc.stdout.splitlines()
    [comment] = hub.comments(6)
    assert "### ❌ reconciler plan for `prod` failed" in comment
    assert "`policies/acls/zz-bad.yaml:2:12`" in comment

    # A fork's pull request: no secrets, so the offline check, and the comment says so.
    before = live_policy(serve.url)
    proc, out = hub.open_pr(7, {"policies/acls/zz-fork.yaml":
                                GRANT.format(src="group:finance", port=5432)}, fork=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert out["offline"] == "true" and out["has-changes"] == "true"
    [comment] = hub.comments(7)
    assert "### ✅ reconciler offline check for `prod`" in comment
    assert "**Live state was not consulted.**" in comment and "tcp:5432" in comment
    assert live_policy(serve.url) == before

    # The audit trail: every apply on merge, newest first, from the pushed notes.
    hub.repo.git.fetch("origin", "+refs/notes/reconciler:refs/notes/reconciler")
    history = subprocess.run([str(Path(sys.executable).parent / "reconciler"), "-C",
                              str(hub.root), "history", "--format", "json"],
                             capture_output=True, text=True, check=True)
    applies = json.loads(history.stdout)["applies"]
    # The nightly revocation (no pull request) sits among the merges, with who ran it.
    assert [a.get("pull_request") for a in applies] == ["5", None, "4", "1", "2", None]
    assert all(a.get("actor") for a in applies)
    assert all(a["actor"] == "merger" and a["target"] == "prod" for a in applies)
    hub.repo.close()

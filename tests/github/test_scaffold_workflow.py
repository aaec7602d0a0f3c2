"""The workflow `reconciler init` writes, run as GitHub would run it: a pull request's plan
job saves the plan, the merge's apply job applies exactly that plan.

The user's one edit is made as the workflow's comment says (RECONCILER_TARGET names the
scaffold's local target). GitHub cannot run here, so its parts are stood in for honestly:
each step's shell script is taken from the generated YAML and run by bash with the `${{ ... }}` expressions GitHub
would substitute; GITHUB_OUTPUT and GITHUB_STEP_SUMMARY are real files; the artifact
store is a directory (upload copies into it, download copies out); `gh` is a small
script answering the two API calls the apply job makes, from the test's own records.
The control plane is the scaffold's own local target (a real SQLite store).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import git
import pytest
import yaml

from reconciler.backends.local.store import LocalStore

RECONCILER_BIN = Path(sys.executable).parent
NOW = "2026-12-02T12:00:00Z"
GRANT = 'grants:\n  - {name: dev-8443, src: [group:dev], dst: [tag:prod], ip: ["tcp:8443"]}\n'

FAKE_GH = """#!/usr/bin/env bash
# gh api repos/R/commits/SHA/pulls -> the merged pull request's head; artifacts -> a run id.
case "$2" in
  */pulls) cat "$GH_STATE/pr-head" ;;
  *artifacts?name=*) name="${2##*name=}"; [ -d "$GH_STATE/artifacts/$name" ] && echo 4242 ;;
esac
"""


class StepFailed(Exception):
    """A step's script exited non-zero: the job fails there, as on GitHub."""

    def __init__(self, script: str, output: str) -> None:
        super().__init__(f"{script!r} failed:\n{output}")
        self.script, self.output = script, output


class GitHub:
    """Runs one job of the workflow's steps in `repo`, as a runner would."""

    def __init__(self, repo: Path, tmp: Path, workflow: dict[str, Any]) -> None:
        self.repo, self.tmp, self.workflow = repo, tmp, workflow
        self.state = tmp / "github"
        (self.state / "artifacts").mkdir(parents=True)
        gh = tmp / "bin" / "gh"
        gh.parent.mkdir()
        gh.write_text(FAKE_GH)
        gh.chmod(0o755)
        self.path = f"{gh.parent}:{RECONCILER_BIN}:{os.environ['PATH']}"

    def expressions(self, event: str, sha: str, head: str) -> dict[str, str]:
        return {**{f"env.{k}": v for k, v in self.workflow["env"].items()},
                "github.token": "ghs-test",
                "github.repository": "acme/policy", "github.sha": sha,
                "github.event.pull_request.head.sha": head, "github.event_name": event,
                "secrets.TS_OAUTH_CLIENT_ID": "", "secrets.TS_OAUTH_CLIENT_SECRET": ""}

    def run_job(self, name: str, event: str, sha: str, head: str = "") -> list[str]:
        """Every step of job `name` whose `if` holds; returns what each step ran."""
        values = self.expressions(event, sha, head)

        def sub(text: str) -> str:
            return re.sub(r"\$\{\{\s*([^}]+?)\s*\}\}", lambda m: values[m.group(1)], text)

        job = self.workflow["jobs"][name]
        assert self._holds(job.get("if", "true"), values), f"job {name} would not run"
        outputs: dict[str, dict[str, str]] = {}
        ran = []
        for step in job["steps"]:
            if not self._holds(step.get("if", "true"), values):
                continue
            uses = step.get("uses", "")
            if uses.startswith(("actions/checkout", "actions/setup-python")):
                continue  # the test's checkout and interpreter stand for these
            if "run" in step:
                script = sub(step["run"])
                if script.startswith("pip install"):
                    continue  # this checkout is installed already
                out = self.tmp / "github_output"
                out.write_text("")
                env = {**os.environ, **{k: sub(v) for k, v in self.workflow["env"].items()},
                       "PATH": self.path, "GH_STATE": str(self.state),
                       "GITHUB_OUTPUT": str(out), "GITHUB_STEP_SUMMARY": str(self.summary),
                       "RECONCILER_NOW": NOW,
                       **{k: sub(v) for k, v in (step.get("env") or {}).items()}}
                done = subprocess.run(["bash", "-e", "-c", script], cwd=self.repo, env=env,
                                      capture_output=True, text=True, timeout=300, check=False)
                ran.append(script)
                if done.returncode != 0:
                    raise StepFailed(script, done.stdout + done.stderr)
                if step.get("id"):
                    outputs[step["id"]] = dict(
                        line.split("=", 1) for line in out.read_text().splitlines() if line)
                    values |= {f"steps.{step['id']}.outputs.{k}": v
                               for k, v in outputs[step["id"]].items()}
            elif uses.startswith("actions/upload-artifact"):
                store = self.state / "artifacts" / sub(step["with"]["name"])
                store.mkdir(parents=True)
                shutil.copy(self.repo / step["with"]["path"], store)
                ran.append(f"upload {store.name}")
            elif uses.startswith("actions/download-artifact"):
                args = {k: sub(str(v)) for k, v in step["with"].items()}
                assert args["run-id"] == "4242", args
                shutil.copytree(self.state / "artifacts" / args["name"],
                                self.repo / args["path"])
                ran.append(f"download {args['name']}")
            else:
                raise AssertionError(f"a step this stand-in cannot run: {step}")
        return ran

    @property
    def summary(self) -> Path:
        return self.tmp / "step_summary.md"

    @staticmethod
    def _holds(condition: str, values: dict[str, str]) -> bool:
        # The conditions the scaffold uses: `a == 'b'`, `x != ''`, joined by `&&`.
        def one(term: str) -> bool:
            match = re.match(r"\s*(\S+)\s*(==|!=)\s*'([^']*)'\s*$", term)
            if match is None:
                raise AssertionError(f"a condition this stand-in cannot read: {term!r}")
            left, op, right = match.groups()
            return (values.get(left, "") == right) == (op == "==")

        return condition == "true" or all(one(t) for t in condition.split("&&"))


def enable(repo: Path) -> dict[str, Any]:
    """The user's edit: name the target to plan and apply (the scaffold's local one)."""
    path = repo / ".github/workflows/reconciler.yml"
    text = path.read_text()
    assert '  RECONCILER_TARGET: ""\n' in text
    path.write_text(text.replace('  RECONCILER_TARGET: ""\n', "  RECONCILER_TARGET: demo\n"))
    workflow: dict[str, Any] = yaml.safe_load(path.read_text())
    return workflow


def live_policy(repo: Path) -> str:
    """The scaffold's local control plane's policy, read from its SQLite store."""
    return LocalStore(repo / ".reconciler" / "local.db").policy().text


def reviewed_and_merged(tmp_path: Path, pr: int) -> tuple[Path, git.Repo, GitHub, str]:
    """init's repository with the target named; a pull request giving dev 8443 on prod,
    planned by the workflow's plan job and merged with a merge commit, as GitHub merges.
    Returns the checkout, its git handle, the stand-in GitHub and the step summary the
    reviewer read."""
    repo = tmp_path / "policy-repo"
    subprocess.run([str(RECONCILER_BIN / "reconciler"), "init", str(repo)], check=True,
                   capture_output=True, timeout=120)
    workflow = enable(repo)
    gitrepo = git.Repo(repo)
    with gitrepo.config_writer() as cw:
        cw.set_value("user", "name", "dev").set_value("user", "email", "dev@example.com")
    gitrepo.git.add(A=True)
    gitrepo.index.commit("init")
    github = GitHub(repo, tmp_path, workflow)
    gitrepo.git.checkout("-b", "contractors")
    (repo / "policies" / "dev-8443.yaml").write_text(GRANT)
    gitrepo.git.add(A=True)
    gitrepo.git.commit("-m", "dev gets 8443 on prod")
    head = gitrepo.head.commit.hexsha
    ran = github.run_job("plan", "pull_request", head, head)
    assert f"upload reconciler-plan-{head}" in ran
    reviewed = github.summary.read_text()
    (github.state / "pr-head").write_text(head + "\n")
    gitrepo.git.checkout("main" if "main" in gitrepo.heads else "master")
    gitrepo.git.merge("--no-ff", "-m", f"Merge pull request #{pr}", "contractors")
    return repo, gitrepo, github, reviewed


def test_the_merge_applies_the_plan_reviewed_on_the_pull_request(tmp_path: Path) -> None:
    repo, gitrepo, github, reviewed = reviewed_and_merged(tmp_path, pr=1)
    assert 'grants["dev-8443"]' in reviewed
    # Merged; the live policy is still the old one until the apply job runs.
    before = live_policy(repo)
    ran = github.run_job("apply", "push", gitrepo.head.commit.hexsha)
    assert ran[-1] == "reconciler apply reviewed/plan.json"
    after = live_policy(repo)
    assert "8443" not in before and "8443" in after


def test_the_merge_refuses_a_reviewed_plan_the_live_policy_has_moved_past(
        tmp_path: Path) -> None:
    repo, gitrepo, github, _ = reviewed_and_merged(tmp_path, pr=2)

    # Someone edits the live policy in the console between review and merge.
    edited = live_policy(repo).replace('"*:*"', '"*:22"', 1)
    assert edited != live_policy(repo)
    subprocess.run([str(RECONCILER_BIN / "reconciler"), "-C", str(repo), "local", "edit",
                    "--file", "-"], input=edited, text=True, check=True, capture_output=True,
                   timeout=120)
    with pytest.raises(StepFailed) as failed:
        github.run_job("apply", "push", gitrepo.head.commit.hexsha)
    assert failed.value.script == "reconciler apply reviewed/plan.json"
    assert "Saved plan is stale" in failed.value.output
    assert "Nothing was applied" in failed.value.output
    assert live_policy(repo) == edited  # nothing of the stale plan was written


def test_as_generated_the_workflow_validates_and_tests_and_never_applies_unreviewed(
        tmp_path: Path) -> None:
    repo = tmp_path / "policy-repo"
    subprocess.run([str(RECONCILER_BIN / "reconciler"), "init", str(repo)], check=True,
                   capture_output=True, timeout=120)
    text = (repo / ".github/workflows/reconciler.yml").read_text()
    workflow = yaml.safe_load(text)
    assert workflow["env"]["RECONCILER_TARGET"] == ""
    scripts = [step["run"] for job in workflow["jobs"].values() for step in job["steps"]
               if "run" in step]
    # Nothing is applied without the reviewed plan file, and nothing fresh is applied.
    applies = [s for s in scripts if "reconciler apply" in s]
    assert applies == ["reconciler apply reviewed/plan.json"]
    assert not any("--auto-approve" in s for s in scripts)
    # Until a target is named, every step that talks to a control plane is skipped.
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            if "reconciler plan" in step.get("run", "") or "apply" in step.get("run", ""):
                assert step["if"] == "env.RECONCILER_TARGET != ''", step

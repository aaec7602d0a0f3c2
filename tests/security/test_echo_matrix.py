"""The echo-server matrix: every credential kind x every error status x every command
that talks to a control plane, against a server that echoes what it is sent (in its
error answers, in a 200 validate verdict, and in a 200 live policy).

For each case the real CLI runs in a real git repository against `EchoServer`, and
everything that leaves the process is collected: stdout and stderr of each command,
the plan file, GITHUB_STEP_SUMMARY, `show` of the plan file (markdown and text,
without credentials in the environment, as a later CI job would run it), the drift
webhook's payloads and any file written. The leak oracle (`leaks.py`) decodes all of
it every way a credential could be encoded; no piece of any credential, nor of any
access token the server minted, may be found. Each case also checks that the server
really offered the credentials (so a pass is not a server that echoed nothing) and
that no command crashed (exit 3).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import git
import pytest
from click.testing import CliRunner

import reconciler.cli.plan_cmds
import reconciler.cli.show_cmd  # noqa: F401
from reconciler.cli import cli
from tests.plan.conftest import DESIRED
from tests.security.conftest import KINDS, credentials
from tests.security.echo import EchoServer, Scenario
from tests.security.leaks import Secret, find_leaks


def _repo(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True)
    repo = git.Repo.init(root)
    with repo.config_writer() as cw:
        cw.set_value("user", "name", "Test")
        cw.set_value("user", "email", "test@example.com")
        cw.set_value("commit", "gpgsign", "false")
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    repo.git.add("-A")
    repo.index.commit("desired state")
    repo.close()
    return root


@dataclass
class Repos:
    desired: Path  # the desired state, for plan, apply and drift
    empty: Path  # no fragments yet, for import


@pytest.fixture(scope="module")
def repos(echo_server: EchoServer, tmp_path_factory: pytest.TempPathFactory) -> Repos:
    config = (f"targets:\n"
              f"  ts: {{backend: tailscale, base_url: '{echo_server.url}', timeout: 5}}\n"
              f"  hs: {{backend: headscale, base_url: '{echo_server.url}', timeout: 5}}\n")
    base = tmp_path_factory.mktemp("echo")
    desired = _repo(base / "desired", {".gitignore": "*.json\n", "reconciler.yaml": config,
                                       **DESIRED})
    empty = _repo(base / "empty", {"reconciler.yaml": config, "policies/.keep": ""})
    return Repos(desired, empty)


@dataclass
class Run:
    """Everything the commands of one case let out of the process."""

    outputs: dict[str, str] = field(default_factory=dict)

    def cli(self, label: str, root: Path, args: list[str], env: dict[str, str]) -> int:
        old = Path.cwd()
        try:
            result = CliRunner().invoke(cli, ["-C", str(root), *args], env=env,
                                        catch_exceptions=False)
        finally:
            os.chdir(old)
        text = result.output + (result.stderr or "")
        assert result.exit_code != 3 and "Traceback" not in text, f"{label}: {text}"
        self.outputs[label] = text
        return result.exit_code

    def file(self, label: str, path: Path) -> None:
        if path.exists():
            self.outputs[label] = path.read_text(encoding="utf-8")


def run_case(kind: str, scenario: Scenario, server: EchoServer, repos: Repos,
             tmp: Path) -> tuple[Run, list[Secret]]:
    env, secrets = credentials(kind)
    target = "hs" if kind == "headscale" else "ts"
    server.reset(scenario)
    run = Run()
    plan_file, summary = tmp / "plan.json", tmp / "summary.md"
    ci_env = {**env, "GITHUB_STEP_SUMMARY": str(summary)}
    if scenario.fail == "push":
        run.cli("apply", repos.desired,
                ["apply", "--target", target, "--auto-approve", "--adopt"], env)
        # A push of unknown outcome (5xx) leaves an apply journal: checked for
        # credentials like any file, then removed so the next case starts clean.
        for journal in sorted((repos.desired / ".reconciler" / "journal").glob("*.json")):
            run.file("apply journal", journal)
            journal.unlink()
    else:
        code = run.cli("plan github", repos.desired, ["plan", "--target", target, "-o",
                                                      str(plan_file), "--format", "github"],
                       ci_env)
        run.file("plan file", plan_file)
        run.file("step summary", summary)
        if plan_file.exists():
            json.loads(plan_file.read_text())  # redaction kept the plan file JSON
        live = scenario.fail == "live"
        if scenario.fail == "validate":
            # A 400 from Tailscale's validate is an error; a verdict (200) is saved.
            assert code == 1, run.outputs
            assert plan_file.exists() == (scenario.status == 200 or kind == "headscale")
        if scenario.fail == "validate" or live:
            run.cli("plan text", repos.desired, ["plan", "--target", target, "--format",
                                                 "markdown" if live else "text"], env)
        if plan_file.exists():
            # As a later job would: the saved plan shown with no credential held.
            run.cli("show markdown", repos.desired,
                    ["show", str(plan_file), "--format", "markdown"], {})
            run.cli("show text", repos.desired, ["show", str(plan_file)], {})
            if not live:  # (a live plan would be applied: the push cases cover that)
                run.cli("apply file", repos.desired, ["apply", str(plan_file)], env)
        if scenario.fail != "validate":
            run.cli("drift", repos.desired, ["drift", "--target", target, "--format", "json",
                                             "--notify", server.url + "/notify"], env)
            if live:
                run.cli("drift text", repos.desired, ["drift", "--target", target], env)
            run.cli("import", repos.empty, ["import", "--target", target, "--force"], env)
            for path in sorted((repos.empty / "policies").rglob("*")):
                if path.is_file():
                    run.file(f"imported {path.name}", path)
    for i, body in enumerate(server.notified):
        run.outputs[f"webhook {i}"] = body
    return run, secrets + server.minted_secrets()


API_STATUSES = (400, 401, 403, 404, 429, 500)
CASES = (
    [(k, Scenario("api", s)) for k in KINDS for s in API_STATUSES]
    + [(k, Scenario("token", s)) for k in ("oauth", "workload-identity")
       for s in (400, 401, 500)]
    + [(k, Scenario("validate", s)) for k in KINDS for s in (200, 400)
       if not (k == "headscale" and s == 200)]
    + [(k, Scenario("push", s)) for k in KINDS for s in (400, 403, 412, 500)]
    + [(k, Scenario("live", 200)) for k in KINDS]
)


@pytest.mark.parametrize(("kind", "scenario"), CASES,
                         ids=[f"{k}-{s.fail}-{s.status}" for k, s in CASES])
def test_no_credential_leaves_the_process(kind: str, scenario: Scenario,
                                          echo_server: EchoServer, repos: Repos,
                                          tmp_path: Path) -> None:
    run, secrets = run_case(kind, scenario, echo_server, repos, tmp_path)
    offered = "\n".join(echo_server.echoed)
    assert find_leaks(offered, secrets), "the server echoed no credential: a vacuous case"
    leaks = {label: found for label, text in run.outputs.items()
             if (found := find_leaks(text, secrets))}
    assert leaks == {}, "\n\n".join(f"{k}: {v}\n{run.outputs[k][:2000]}"
                                    for k, v in leaks.items())


@pytest.mark.parametrize("into", [14, 20, 30])
def test_a_credential_cut_by_truncation_leaks_no_piece(into: int, echo_server: EchoServer,
                                                       repos: Repos, tmp_path: Path) -> None:
    """Error messages are cut at 300 characters: one cut `into` characters into the echoed
    API key must not leave its start behind (redaction comes before the cut)."""
    # The echoed message starts "credentials: <the key> Authorization: ...".
    pad = 300 - len("credentials: ") - into
    run, secrets = run_case("api-key", Scenario("api", 404, pad=pad), echo_server, repos,
                            tmp_path)
    leaks = {label: found for label, text in run.outputs.items()
             if (found := find_leaks(text, secrets))}
    assert leaks == {}, leaks


def test_the_console_script_redacts_its_streams_and_plan_file(
        echo_server: EchoServer, repos: Repos, tmp_path: Path) -> None:
    """The installed `reconciler` (main() over the real sys.stdout and sys.stderr, not
    CliRunner), then `show` in a second process holding no credential at all."""
    env, secrets = credentials("oauth")
    echo_server.reset(Scenario("validate", 200))
    script = str(Path(sys.executable).parent / "reconciler")
    plan_file, summary = tmp_path / "plan.json", tmp_path / "summary.md"
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "RECONCILER_JOBS": "1"}
    plan = subprocess.run([script, "-C", str(repos.desired), "plan", "--target", "ts", "-o",
                           str(plan_file), "--format", "github"], capture_output=True,
                          text=True, timeout=120,
                          env={**base, **env, "GITHUB_STEP_SUMMARY": str(summary)})
    assert plan.returncode == 1 and "::error::control-plane validation failed" in plan.stdout
    show = subprocess.run([script, "show", str(plan_file), "--format", "markdown"],
                          capture_output=True, text=True, timeout=120, env=base)
    assert show.returncode == 0 and "Control-plane validation: **failed**" in show.stdout
    secrets += echo_server.minted_secrets()
    assert find_leaks("\n".join(echo_server.echoed), secrets)
    for text in (plan.stdout, plan.stderr, plan_file.read_text(), summary.read_text(),
                 show.stdout, show.stderr):
        assert find_leaks(text, secrets) == [], text

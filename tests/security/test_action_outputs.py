"""The GitHub Action against the echoing control plane: nothing the Action publishes
(the step's log, GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, the plan file, the pull-request
comment) holds a credential, in any encoding.

The Action's shell steps run for real (action/run.sh, the installed `reconciler`,
the stand-in `gh` of tests/github/test_action.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.github.test_action import (  # noqa: F401  (github_env is a fixture)
    desired_repo,
    github_env,
    run_step,
)
from tests.security.echo import EchoServer, Scenario
from tests.security.leaks import Secret, find_leaks

CLIENT_ID = "k1f2e3d4c5b6CNTRL"


@pytest.mark.parametrize(("command", "scenario"), [
    ("plan", Scenario("validate", 200)),
    ("plan", Scenario("token", 400)),
    ("drift", Scenario("api", 403)),
    # The Action's apply does not --adopt, so the echo's live policy is refused before
    # any push: its failure is the first read's.
    ("apply", Scenario("api", 401)),
], ids=["plan-validate-200", "plan-token-400", "drift-api-403", "apply-api-401"])
def test_the_action_publishes_no_credential(command: str, scenario: Scenario,
                                            echo_server: EchoServer,
                                            github_env: dict[str, Any],  # noqa: F811
                                            tmp_path: Path) -> None:
    import secrets

    client_secret = f"tskey-client-{secrets.token_hex(5)}+{secrets.token_hex(4)}/=&x"
    echo_server.reset(scenario)
    repo = desired_repo(tmp_path / "repo", echo_server.url)
    proc = run_step("run", github_env["env"], repo, command=command, target="prod",
                    oauth_client_id=CLIENT_ID, oauth_secret=client_secret)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    held = [Secret("client id", CLIENT_ID), Secret("client secret", client_secret, 13),
            *echo_server.minted_secrets()]
    assert find_leaks("\n".join(echo_server.echoed), held), "nothing was echoed"
    published = {"log": proc.stdout + proc.stderr}
    runner = tmp_path / "runner" / "reconciler"
    for path in [github_env["output"], github_env["summary"],
                 Path(str(github_env["gh.log"]) + ".body"),
                 *(sorted(runner.iterdir()) if runner.is_dir() else [])]:
        if path.is_file():
            published[path.name] = path.read_text(encoding="utf-8")
    if scenario.fail == "validate":
        assert {"plan.json", "comment.md", "summary"} <= published.keys()
    leaks = {name: found for name, text in published.items()
             if (found := find_leaks(text, held))}
    assert leaks == {}, leaks

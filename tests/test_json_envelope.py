"""Every command's JSON output shares one envelope: an object whose first keys are
`format_version` and `command`, then the command's own keys (README, "JSON output").

Runs the real CLI in a scaffolded repository (`reconciler init`) against its embedded
local control plane, so each command prints what a user or the Action would read.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reconciler.plan.planfile import FORMAT_VERSION

RECONCILER = Path(sys.executable).parent / "reconciler"


def run(repo: Path, *args: str, codes: tuple[int, ...] = (0,)) -> dict[str, Any]:
    proc = subprocess.run([str(RECONCILER), "-C", str(repo), *args], capture_output=True,
                          text=True, check=False, timeout=300, env={"PATH": "/usr/bin:/bin",
                                                                   "NO_COLOR": "1"})
    assert proc.returncode in codes, proc.stdout + proc.stderr
    data = json.loads(proc.stdout)
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("envelope") / "repo"
    subprocess.run([str(RECONCILER), "init", str(root)], check=True, capture_output=True)
    git = ["git", "-C", str(root), "-c", "user.name=T", "-c", "user.email=t@example.com",
           "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    return root


def _envelope(data: dict[str, Any], command: str) -> None:
    assert list(data)[:2] == ["format_version", "command"]
    assert data["format_version"] == FORMAT_VERSION
    assert data["command"] == command


@pytest.mark.parametrize(("args", "command", "key"), [
    (("validate",), "validate", "valid"),
    (("test",), "test", "results"),
    (("lint",), "lint", "findings"),
    (("explain", "group:dev", "tag:prod:443"), "explain", "allowed"),
    (("access",), "access", "rows"),
    (("targets",), "targets", "targets"),
    (("diff", "HEAD", "HEAD"), "diff", "resource_changes"),
    (("history",), "history", "applies"),
])
def test_offline_commands_share_the_envelope(repo: Path, args: tuple[str, ...], command: str,
                                             key: str) -> None:
    data = run(repo, *args, "--format", "json")
    _envelope(data, command)
    assert key in data


def test_plan_apply_drift_share_the_envelope_and_apply_without_changes_is_an_apply(
        repo: Path, tmp_path: Path) -> None:
    plan = run(repo, "plan", "--format", "json")
    _envelope(plan, "plan")
    assert plan["kind"] == "reconciler-plan" and plan["summary"]["add"] > 0

    saved = tmp_path / "plan.json"
    subprocess.run([str(RECONCILER), "-C", str(repo), "plan", "-o", str(saved)],
                   check=True, capture_output=True)
    _envelope(run(repo, "show", str(saved), "--format", "json"), "show")
    applied = run(repo, "apply", str(saved), "--format", "json")
    _envelope(applied, "apply")
    assert applied["pushed"] is True and applied["changes"]

    # Nothing left to change: still an apply result, not the plan.
    again = run(repo, "apply", "--auto-approve", "--format", "json")
    _envelope(again, "apply")
    assert again["pushed"] is False
    assert again["changes"] == [] and again["device_changes"] == []
    assert again["target"] == applied["target"] == "demo"
    assert again["etag_before"] == again["etag_after"] == applied["etag_after"]
    assert "kind" not in again and "resource_changes" not in again

    drift = run(repo, "drift", "--format", "json")
    _envelope(drift, "drift")
    assert drift["clean"] is True
    _envelope(run(repo, "plan", "--all", "--format", "json"), "plan")
    _envelope(run(repo, "drift", "--all", "--format", "json"), "drift")


def test_validate_json_of_an_invalid_policy_keeps_the_envelope(tmp_path: Path) -> None:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "bad.yaml").write_text("grants:\n  - src: [group:nope]\n"
                                                     "    dst: ['*']\n    ip: ['*']\n")
    data = run(tmp_path, "validate", "--format", "json", codes=(1,))
    _envelope(data, "validate")
    assert data["valid"] is False
    assert data["problems"][0]["file"] == "policies/bad.yaml"
    assert data["problems"][0]["line"] == 2

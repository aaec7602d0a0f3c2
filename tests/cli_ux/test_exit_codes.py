"""Exit codes and global options through the real CLI.

2 means only "changes or drift"; a usage error (typo'd option, unknown command, bad
value) exits 1 as Terraform's do. `-C` and `--now` work before or after the subcommand.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from tests.conftest import REPO_ROOT


def run(*args: str) -> tuple[int, str]:
    """Exit code and everything printed (stdout and stderr)."""
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def run_stdout(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout


@pytest.fixture
def example(tmp_path: Path) -> Path:
    shutil.copytree(REPO_ROOT / "policies", tmp_path / "policies")
    return tmp_path


@pytest.mark.parametrize(("args", "needle"), [
    (["drift", "--tagret", "prod"], "No such option '--tagret'"),
    (["plna"], "No such command 'plna'"),
    (["--now", "yesterday", "validate"], "not an ISO 8601"),
    (["validate", "--now", "yesterday"], "not an ISO 8601"),
    (["validate", "--format", "yaml"], "Invalid value for '--format'"),
    (["-C", "/nonexistent-dir-for-test", "validate"], "is not a directory"),
    (["validate", "-C", "/nonexistent-dir-for-test"], "is not a directory"),
    (["local", "add-device", "lonely"], "--user LOGIN or at least one --tag"),
    ([], "Usage:"),
])
def test_usage_errors_exit_1_not_the_drift_code(args: list[str], needle: str) -> None:
    code, out = run(*args)
    assert code == 1, out
    assert needle in out
    assert "Traceback" not in out


def test_console_script_exits_1_on_a_typo_d_option(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("reconciler")
    done = subprocess.run([str(exe), "drift", "--tagret", "prod"], cwd=tmp_path,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 1, done.stderr
    assert "Did you mean '--target'?" in done.stderr


def test_now_after_the_subcommand_is_the_same_as_before(example: Path) -> None:
    before = run_stdout("-C", str(example), "--now", "2027-04-01", "compile", "--format", "json")
    after = run_stdout("compile", "--format", "json", "-C", str(example), "--now", "2027-04-01")
    assert before[0] == after[0] == 0, after[1]
    assert before[1] == after[1]
    # The late --now really moved the clock: dave's just-in-time membership expired.
    sre = json.loads(after[1])["groups"]["group:sre"]
    assert "dave@example.com" not in sre
    code, earlier = run_stdout("compile", "--format", "json", "-C", str(example),
                        "--now", "2026-11-23")
    assert code == 0 and "dave@example.com" in json.loads(earlier)["groups"]["group:sre"]


def test_chdir_after_the_subcommand(example: Path, tmp_path: Path) -> None:
    code, out = run("validate", "-C", str(example))
    assert code == 0, out
    assert out.startswith("Valid: 8 fragment(s)")


def test_global_options_after_a_nested_subcommand(tmp_path: Path) -> None:
    db = str(tmp_path / "x.db")
    code, out = run("local", "add-user", "zed@example.com", "--db", db, "--now", "2026-11-23")
    assert code == 0, out
    code, out = run_stdout("local", "inventory", "--db", db, "--format", "json", "-C", str(tmp_path))
    assert code == 0, out
    assert any(u["login"] == "zed@example.com" for u in json.loads(out)["users"])

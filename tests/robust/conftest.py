"""Fixtures for the robustness tests: a small desired-state repository and the real CLI
run in-process, checked for what a user must never see (a traceback, exit 3)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import cli

CONFIG = (
    "policies: policies\n"
    "default_target: demo\n"
    "targets:\n"
    "  demo: {backend: local, path: .reconciler/local.db}\n"
)
BASE = (
    "groups:\n"
    "  group:eng: [alice@example.com]\n"
    "tagOwners:\n"
    "  tag:prod: [group:eng]\n"
    "grants:\n"
    "- {src: [group:eng], dst: [tag:prod], ip: ['*']}\n"
)
NOW = ["--now", "2026-11-23T12:00:00Z"]
# Every command that reads the policy and needs no credentials.
POLICY_COMMANDS = (["validate"], ["test"], ["lint"], ["plan"])


@dataclass
class Outcome:
    code: int
    out: str
    err: str

    @property
    def output(self) -> str:
        return self.out + self.err


def run_cli(root: Path, *args: str) -> Outcome:
    """The real CLI on `root`; never a traceback, never exit 3 (a bug)."""
    before = Path.cwd()
    try:
        result = CliRunner().invoke(cli, ["-C", str(root), *args])
    finally:
        os.chdir(before)  # -C changed it
    outcome = Outcome(result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in outcome.output, outcome.output
    assert outcome.code in (0, 1, 2), (outcome.code, outcome.output, result.exception)
    return outcome


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Path]:
    """reconciler.yaml (a local target) and one valid fragment, policies/base.yaml."""
    (tmp_path / "policies").mkdir()
    (tmp_path / "reconciler.yaml").write_text(CONFIG, encoding="utf-8")
    (tmp_path / "policies" / "base.yaml").write_text(BASE, encoding="utf-8")
    yield tmp_path


def as_unprivileged() -> list[str]:
    """A command prefix under which file modes hold. Root reads a mode-000 file through
    CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH; setpriv starts the command without them
    (still as root, so the temporary directory stays reachable)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv(1): a mode-000 file stays readable")
    drop = "-dac_override,-dac_read_search"
    return [setpriv, f"--inh-caps={drop}", f"--bounding-set={drop}"]


def run_unprivileged(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real CLI in a subprocess for which file permissions hold (see above)."""
    result = subprocess.run(
        [*as_unprivileged(), sys.executable, "-m", "reconciler", "-C", str(root), *args],
        capture_output=True, text=True, timeout=120)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode in (0, 1, 2), (result.returncode, result.stderr)
    return result


@pytest.fixture
def restore_modes(tmp_path: Path) -> Iterator[None]:
    """Give every path its permissions back so pytest can remove the tree."""
    yield
    for path in [tmp_path, *tmp_path.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o755)

"""Fixtures for the robustness tests: a small desired-state repository and the real CLI
run in-process, checked for what a user must never see (a traceback, exit 3)."""

from __future__ import annotations

import os
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

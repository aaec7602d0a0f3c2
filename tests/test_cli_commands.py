"""The lazily imported command modules: the map in `reconciler.cli` is complete and true,
and a command pays only for its own imports."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from reconciler.cli import COMMAND_MODULES, cli

MODULES = sorted(set(COMMAND_MODULES.values()))


def test_every_registered_command_is_mapped_to_its_module() -> None:
    for module in MODULES:
        importlib.import_module(f"reconciler.cli.{module}")
    registered = {name: cmd.callback.__module__ if cmd.callback else ""
                  for name, cmd in cli.commands.items()}
    assert sorted(registered) == sorted(COMMAND_MODULES)
    for name, module in registered.items():
        if name == "local":  # a group: its callback is the group function itself
            assert module == "reconciler.cli.backend_cmds"
            continue
        assert module == f"reconciler.cli.{COMMAND_MODULES[name]}", name


def test_help_lists_every_command() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in COMMAND_MODULES:
        assert f"\n  {name} " in result.output, name


def test_an_unknown_command_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["plna"])
    assert result.exit_code == 1
    assert "No such command 'plna'" in result.output


def test_validate_does_not_import_the_plan_machinery(tmp_path: Path) -> None:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "main.yaml").write_text("groups:\n  group:eng: [a@example.com]\n")
    script = (
        "import sys\n"
        "from reconciler.cli import cli\n"
        f"cli.main(['-C', {str(tmp_path)!r}, 'validate'], standalone_mode=False)\n"
        "print(sorted(m for m in ('deepdiff', 'httpx', 'reconciler.commands.plan', "
        "'reconciler.backends.local.server') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_test_does_not_ask_git(tmp_path: Path) -> None:
    """`test` shows no commit, so it spares importing gitpython even inside a repo."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "main.yaml").write_text(
        "groups:\n  group:eng: [a@example.com]\n"
        "acls:\n  - {action: accept, src: [group:eng], dst: ['group:eng:22']}\n"
        "tests:\n  - {src: a@example.com, accept: ['a@example.com:22']}\n")
    script = (
        "import sys\n"
        "from reconciler.cli import cli\n"
        f"cli.main(['-C', {str(tmp_path)!r}, 'test'], standalone_mode=False)\n"
        "print('git' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip().splitlines() == ["1 passed, 0 failed, 0 invalid (1 assertions; "
                                               "inventory: synthetic)", "False"]


def test_a_command_runs_with_the_tuned_collector_and_restores_it() -> None:
    import gc

    import click

    from reconciler.core.forked import COMMAND_GC_THRESHOLDS

    seen: list[tuple[int, int, int]] = []

    @click.command("probe-gc")
    def probe() -> None:
        seen.append(gc.get_threshold())

    before = gc.get_threshold()
    cli.add_command(probe)
    try:
        result = CliRunner().invoke(cli, ["probe-gc"])
    finally:
        cli.commands.pop("probe-gc")
    assert result.exit_code == 0, result.output
    assert seen == [COMMAND_GC_THRESHOLDS]
    assert gc.get_threshold() == before


def test_the_entry_point_flushes_everything_and_keeps_exit_codes(tmp_path: Path) -> None:
    """main() leaves with os._exit: output must still be whole, exit codes unchanged."""
    (tmp_path / "policies").mkdir()
    tests = "".join(f"  - {{src: a@example.com, accept: ['a@example.com:{p}']}}\n"
                    for p in range(1, 400))
    (tmp_path / "policies" / "main.yaml").write_text(
        "groups:\n  group:eng: [a@example.com]\n"
        "acls:\n  - {action: accept, src: [group:eng], dst: ['group:eng:*']}\n"
        f"tests:\n{tests}")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "reconciler", "-C", str(tmp_path), *args],
                              capture_output=True, text=True, check=False)

    ok = run("test", "--format", "json")
    assert ok.returncode == 0, ok.stderr
    assert len(json.loads(ok.stdout)["results"]) == 399
    assert run("--version").returncode == 0
    assert run("no-such-command").returncode == 1
    (tmp_path / "policies" / "main.yaml").write_text(
        (tmp_path / "policies" / "main.yaml").read_text().replace("group:eng:*", "group:eng:1"))
    failing = run("test")
    assert failing.returncode == 1
    assert failing.stderr.strip().splitlines()[-2].startswith("Error: test(s) failed: 398 failed")

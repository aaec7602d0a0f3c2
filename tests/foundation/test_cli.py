"""The real CLI (click's runner and a subprocess) on the foundation commands."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler import __version__
from reconciler.cli import cli
from tests.conftest import REPO_ROOT

NOW = ["--now", "2026-11-23T12:00:00Z"]


def run(*args: str, cwd: Path | None = None) -> tuple[int, str, str]:
    runner = CliRunner()
    argv = list(args)
    if cwd is not None:
        argv = ["-C", str(cwd), *argv]
    result = runner.invoke(cli, argv, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """A copy of the project's example desired state."""
    shutil.copytree(REPO_ROOT / "policies", tmp_path / "policies")
    return tmp_path


def test_version_and_help() -> None:
    code, out, _ = run("--version")
    assert code == 0 and __version__ in out
    for command in ("validate", "fmt", "compile", "init"):
        code, out, _ = run(command, "--help")
        assert code == 0 and "Usage:" in out, command


def test_validate_the_example(example: Path) -> None:
    code, out, err = run(*NOW, "validate", cwd=example)
    assert code == 0, err
    assert out == "Valid: 8 fragment(s); 1 acls, 14 grants, 4 ssh, 22 tests, 7 sshTests.\n"


def test_validate_reports_every_error_with_position(write_tree) -> None:
    root = write_tree({
        "policies/a.yaml": "grnats: []\ntagOwners: {tag:ok: []}\n",
        "policies/b.yaml": "acls:\n  - {action: accept, src: [group:nope], dst: ['tag:ok:22']}\n",
    })
    code, out, err = run("validate", cwd=root)
    assert code == 1
    assert out == ""
    lines = err.splitlines()
    assert lines[0] == 'policies/a.yaml:1:1: unknown field "grnats" (did you mean "grants"?)'
    assert lines[1].startswith("policies/b.yaml:2:")
    assert "group:nope" in lines[1]
    assert lines[-2].startswith("Error: 2 errors in the policy")
    assert "Traceback" not in err


def test_validate_json_format(write_tree) -> None:
    root = write_tree({"policies/a.yaml": "groups: [x\n"})
    code, out, _ = run("validate", "--format", "json", cwd=root)
    assert code == 1
    report = json.loads(out)
    assert report["valid"] is False
    assert report["problems"][0]["file"] == "policies/a.yaml"
    assert report["problems"][0]["line"] == 2


def test_compile_json_is_deterministic_and_stripped(example: Path) -> None:
    code, first, _ = run(*NOW, "compile", "--format", "json", cwd=example)
    assert code == 0
    doc = json.loads(first)
    assert list(doc)[:3] == ["groups", "tagOwners", "hosts"]
    assert all("name" not in g and "owner" not in g for g in doc["grants"])
    assert "dave@example.com" in doc["groups"]["group:sre"]
    _, second, _ = run(*NOW, "compile", "--format", "json", cwd=example)
    assert first == second
    # After the just-in-time membership expires, dave drops out of group:sre.
    _, later, _ = run("--now", "2027-04-01", "compile", "--format", "json", cwd=example)
    assert "dave@example.com" not in json.loads(later)["groups"]["group:sre"]


def test_compile_hujson_carries_the_managed_header(example: Path) -> None:
    from reconciler.load import hujson
    from reconciler.load.document import fingerprint, read_header

    code, text, _ = run(*NOW, "compile", cwd=example)
    assert code == 0
    header = read_header(text)
    assert header is not None and header.commit is None  # not a git repository
    assert header.fingerprint == fingerprint(hujson.loads(text))
    assert hujson.format(text) == text


def test_fmt_check_and_rewrite(write_tree) -> None:
    root = write_tree({
        "policies/a.yaml": "groups:\n    group:a:   # team a\n    - x@example.com\n",
        "policies/b.hujson": '{"hosts": {"db": "100.64.0.1",},}\n',
        "policies/c.yaml": "tagOwners:\n  tag:x: []\n",
    })
    code, out, _ = run("fmt", "--check", cwd=root)
    assert code == 1
    assert out.splitlines() == ["would reformat policies/a.yaml", "would reformat policies/b.hujson"]
    assert (root / "policies/a.yaml").read_text().startswith("groups:\n    group:a:")  # untouched
    code, out, _ = run("fmt", cwd=root)
    assert code == 0
    text = (root / "policies/a.yaml").read_text()
    assert "# team a" in text and "  - x@example.com" in text
    code, out, _ = run("fmt", "--check", cwd=root)
    assert code == 0, out


def test_fmt_reports_unparsable_files(write_tree) -> None:
    root = write_tree({"policies/a.hujson": '{"hosts": \n'})
    code, _, err = run("fmt", "--check", cwd=root)
    assert code == 1
    assert err.startswith("policies/a.hujson:2:1: ")


def test_example_is_formatted(example: Path) -> None:
    code, out, _ = run("fmt", "--check", cwd=example)
    assert code == 0, out


def test_init_scaffolds_a_working_repository(tmp_path: Path) -> None:
    code, out, _ = run("init", "new", cwd=tmp_path)
    assert code == 0
    repo = tmp_path / "new"
    assert (repo / ".git").is_dir()
    assert (repo / "reconciler.yaml").is_file()
    assert (repo / ".github/workflows/reconciler.yml").is_file()
    for command in (("validate",), ("compile",), ("fmt", "--check")):
        code, out, err = run(*command, cwd=repo)
        assert code == 0, (command, out, err)
    # A second init refuses to overwrite and writes nothing.
    before = (repo / "policies/groups.yaml").read_text()
    (repo / "policies/groups.yaml").write_text(before + "# mine\n")
    code, _, err = run("init", cwd=repo)
    assert code == 1 and "already has" in err
    assert (repo / "policies/groups.yaml").read_text().endswith("# mine\n")


def test_missing_policies_directory_is_a_clean_error(tmp_path: Path) -> None:
    code, _, err = run("validate", cwd=tmp_path)
    assert code == 1
    assert "policies directory not found" in err and "Traceback" not in err


def test_bad_now_is_a_usage_error() -> None:
    code, _, err = run("--now", "yesterday", "validate")
    assert code == 1 and "not an ISO 8601" in err


def test_console_script_and_module_entry_point(example: Path) -> None:
    env = {**os.environ, "NO_COLOR": "1", "RECONCILER_NOW": "2026-11-23T12:00:00Z"}
    for argv in ([sys.executable, "-m", "reconciler"],
                 [str(Path(sys.executable).parent / "reconciler")]):
        proc = subprocess.run([*argv, "-C", str(example), "validate"], capture_output=True,
                              text=True, env=env, check=False)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith("Valid:")

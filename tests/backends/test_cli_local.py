"""`reconciler local ...` through click's CliRunner, and `reconciler serve` as a real
subprocess on a free port."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

import reconciler.cli.backend_cmds  # noqa: F401  (registers the commands on `cli`)
from reconciler.cli import cli
from tests.backends.conftest import API_KEY
from tests.backends.policies import INVALID


def run(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_inventory_lists_the_demo_tailnet(tmp_path: Path) -> None:
    db = str(tmp_path / "x.db")
    code, out, _ = run("local", "inventory", "--db", db)
    assert code == 0
    assert "alice@example.com" in out and "db-1" in out and "tag:db" in out
    code, out, _ = run("local", "inventory", "--db", db, "--format", "json")
    data = json.loads(out)
    assert {"login": "alice@example.com", "role": "owner"}.items() <= data["users"][0].items()


def test_add_user_and_device(tmp_path: Path) -> None:
    db = str(tmp_path / "x.db")
    assert run("local", "add-user", "zed@example.com", "--role", "admin", "--db", db)[0] == 0
    code, out, _ = run("local", "add-device", "zed-box", "--user", "zed@example.com",
                       "--route", "10.9.0.0/24", "--db", db)
    assert code == 0 and "Added device zed-box" in out
    code, out, _ = run("local", "add-device", "ci-9", "--tag", "tag:ci", "--db", db)
    assert code == 0
    data = json.loads(run("local", "inventory", "--db", db, "--format", "json")[1])
    boxes = {d["name"]: d for d in data["devices"]}
    assert boxes["zed-box"]["approved_routes"] == ["10.9.0.0/24"]
    assert boxes["ci-9"]["tags"] == ["tag:ci"]


@pytest.mark.parametrize(("args", "code", "needle"), [
    (["local", "add-device", "lonely"], 1, "--user LOGIN or at least one --tag"),
    (["local", "add-device", "x", "--tag", "prod"], 1, "must start with tag:"),
    (["local", "add-device", "x", "--user", "ghost@example.com"], 1, "user ghost@example.com"),
    (["local", "add-user", "not-an-email"], 1, "is not a login"),
    (["local", "add-user", "alice@example.com"], 1, "already exists"),
    (["local", "edit", "--file", "-", "--set", "groups", "{}"], 1,
     "give only one of --file or --set"),
    (["local", "edit", "--set", "groups", "{nope"], 1, "is not JSON"),
    (["local", "history", "--text", "99"], 1, "no history entry 99"),
])
def test_bad_input_is_a_clear_error(tmp_path: Path, args: list[str], code: int, needle: str
                                    ) -> None:
    result = CliRunner().invoke(cli, [*args, "--db", str(tmp_path / "x.db")])
    assert result.exit_code == code, result.output
    assert needle in result.output
    assert "Traceback" not in result.output


def test_edit_makes_drift_that_history_shows(tmp_path: Path) -> None:
    db = str(tmp_path / "x.db")
    code, out, _ = run("local", "edit", "--db", db, "--set", "groups",
                       '{"group:eng": ["alice@example.com"]}')
    assert code == 0 and "Stored the edited policy" in out
    history = json.loads(run("local", "history", "--db", db, "--format", "json")[1])
    assert history["command"] == "local history"
    assert [h["source"] for h in history["entries"]] == ["seed", "edit"]
    text = run("local", "history", "--db", db, "--text", "2")[1]
    assert '"group:eng"' in text and '"acls"' in text


def test_edit_refuses_an_invalid_policy_unless_forced(tmp_path: Path) -> None:
    db = str(tmp_path / "x.db")
    result = CliRunner().invoke(cli, ["local", "edit", "--db", db, "--file", "-"], input=INVALID)
    assert result.exit_code == 1 and "deny" in result.output
    code, _, _ = run("local", "edit", "--db", db, "--file", "-", "--no-validate", input=INVALID)
    assert code == 0
    assert run("local", "history", "--db", db, "--text", "2")[1] == INVALID


def test_db_defaults_to_the_local_target_path(tmp_path: Path) -> None:
    (tmp_path / "reconciler.yaml").write_text(
        "targets:\n  dev:\n    backend: local\n    path: state/dev.db\n")
    code, _, _ = run("-C", str(tmp_path), "local", "inventory")
    assert code == 0 and (tmp_path / "state" / "dev.db").is_file()


def test_serve_runs_as_a_real_process(tmp_path: Path) -> None:
    env = dict(os.environ, RECONCILER_SERVE_API_KEY=API_KEY)
    code = ("import sys, reconciler.cli.backend_cmds; from reconciler.cli import main; "
            "main(sys.argv[1:])")
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "serve", "--db", str(tmp_path / "s.db"), "--port", "0",
         "--faults", "503@GET"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        url = proc.stdout.readline().removeprefix("URL:").strip()
        assert url.startswith("http://127.0.0.1:")
        # Faults strike authenticated requests: a request without a key is refused
        # first, from its headers alone, and does not use up the fault.
        assert httpx.get(url + "/api/v2/tailnet/-/acl").status_code == 401
        assert httpx.get(url + "/api/v2/tailnet/-/acl",
                         auth=(API_KEY, "")).status_code == 503  # --faults
        response = httpx.get(url + "/api/v2/tailnet/-/acl", auth=(API_KEY, ""))
        assert response.status_code == 200 and response.headers["ETag"]
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=10)
    assert API_KEY not in banner + out + err


def test_serve_without_any_credential_refuses_to_start(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RECONCILER_SERVE_API_KEY", "RECONCILER_SERVE_OAUTH_CLIENT_ID",
                 "RECONCILER_SERVE_OAUTH_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(cli, ["serve", "--db", str(tmp_path / "s.db"), "--port", "0"])
    assert result.exit_code == 1
    assert "RECONCILER_SERVE_API_KEY" in result.output

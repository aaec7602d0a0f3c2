"""`reconciler import` into a YAML repository writes YAML and keeps what it can recover.

The journey: `init` (YAML fragments), a named grant with an owner and an expiry and a
just-in-time group member, commit, apply to the real local store, edit the live policy
out of band (a host added, a grant widened), `import --force`. The fragments come back as YAML, naming the schema, with
the names, owner and expiries of the entries the live policy still holds unchanged;
committed, `plan` shows no changes.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

import git
import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.load.yamlsource import load_yaml

SCHEMA_LINE = "# yaml-language-server: $schema=../schema/policy-fragment.schema.json\n"


def run(root: Path, *args: str) -> tuple[int, str]:
    old = Path.cwd()
    try:
        result = CliRunner().invoke(cli, ["-C", str(root), "--now", "2026-12-02T12:00:00Z",
                                          *args])
    finally:
        os.chdir(old)
    return result.exit_code, result.output


def commit(repo: git.Repo, message: str) -> None:
    repo.git.add("-A")
    repo.git.commit("-q", "-m", message)


def yaml_of(path: Path) -> dict:
    data, _, problems = load_yaml(path.read_text(), file=str(path))
    assert problems == []
    return data


def test_import_into_a_yaml_repo_writes_yaml_and_keeps_names_and_expiries(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "repo"
    assert run(tmp_path, "init", "repo")[0] == 0
    repo = git.Repo(root)
    with repo.config_writer() as cw:
        cw.set_value("user", "name", "Test")
        cw.set_value("user", "email", "test@example.com")
        cw.set_value("commit", "gpgsign", "false")
    groups = root / "policies" / "groups.yaml"
    groups.write_text(groups.read_text().replace(
        "    - carol@example.com",
        '    - {user: carol@example.com, expires: 2030-01-31, reason: "incident 1234"}'
        "  # on call"))
    access = root / "policies" / "access.yaml"
    access.write_text(access.read_text().replace(
        "  - name: ci-deploys\n",
        "  - name: ci-deploys\n    owner: platform-team\n    expires: 2031-05-01T12:00:00Z\n"))
    commit(repo, "desired state")
    code, out = run(root, "apply", "--auto-approve")
    assert code == 0, out

    # Out of band, in the editor (so the console's comments stay): a host added, the
    # dev-web grant widened.
    script = tmp_path / "editor.py"
    script.write_text(
        "import re, sys\nfrom pathlib import Path\npath = Path(sys.argv[1])\n"
        "text = path.read_text()\n"
        "text = re.sub(r'\"tcp:80\"\\]', '\"tcp:80\", \"tcp:8080\"]', text)\n"
        "text = re.sub(r'\"backups\":\\s*\"100.100.10.10\"', "
        "'\"backups\": \"100.100.10.10\", \"wiki\": \"100.100.10.20\"', text)\n"
        "path.write_text(text)\n")
    monkeypatch.setenv("EDITOR", f"{shlex.quote(sys.executable)} {shlex.quote(str(script))}")
    monkeypatch.delenv("VISUAL", raising=False)
    code, out = run(root, "local", "edit")
    assert code == 0, out
    code, out = run(root, "import", "--force")
    assert code == 0, out
    assert "wrote policies/grants.yaml" in out and ".hujson" not in out

    fragments = sorted((root / "policies").glob("*"))
    assert fragments and all(p.suffix == ".yaml" for p in fragments), fragments
    for path in fragments:
        assert path.read_text().startswith(SCHEMA_LINE), path
    grants = yaml_of(root / "policies" / "grants.yaml")["grants"]
    # dev-web, widened out of band, keeps its name (as `plan` names it: by its place).
    assert [g.get("name") for g in grants] == ["admins-everywhere", "dev-web", "ci-deploys"]
    assert grants[1]["ip"] == ["tcp:443", "tcp:80", "tcp:8080"]
    assert grants[0]["description"] == "Administrators reach every device on every port."
    assert grants[2]["owner"] == "platform-team"
    assert grants[2]["expires"] == "2031-05-01T12:00:00Z"
    # The comments, written in YAML, compiled into the live policy, come back.
    groups_text = (root / "policies" / "groups.yaml").read_text()
    assert "# Groups of users." in groups_text and "  # on call" in groups_text
    # A description the compiled policy carries as a comment is a field again, once.
    assert (root / "policies" / "grants.yaml").read_text().count("Administrators reach") == 1
    members = yaml_of(root / "policies" / "groups.yaml")["groups"]["group:dev"]
    assert {"user": "carol@example.com", "expires": "2030-01-31",
            "reason": "incident 1234"} in members
    assert yaml_of(root / "policies" / "hosts.yaml")["hosts"]["wiki"] == "100.100.10.20"
    assert [s["name"] for s in yaml_of(root / "policies" / "ssh.yaml")["ssh"]] == \
        ["admins-ssh"]

    commit(repo, "import the live policy")
    code, out = run(root, "plan", "--detailed-exitcode")
    assert code == 0, out
    assert "No changes." in out


def test_import_with_no_fragments_still_writes_hujson_naming_the_schema(tmp_path: Path
                                                                        ) -> None:
    root = tmp_path / "repo"
    assert run(tmp_path, "init", "repo")[0] == 0
    for path in (root / "policies").glob("*.yaml"):
        path.unlink()
    (root / "schema" / "policy-fragment.schema.json").unlink()
    code, out = run(root, "import")
    assert code == 0, out
    assert "wrote schema/policy-fragment.schema.json" in out
    written = sorted((root / "policies").glob("*"))
    assert written and all(p.suffix == ".hujson" for p in written)
    for path in written:
        assert '"$schema": "../schema/policy-fragment.schema.json"' in path.read_text()
    code, out = run(root, "validate")
    assert code == 0, out

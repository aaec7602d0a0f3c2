"""The plan/drift/diff/import commands through the real CLI: formats, exit codes, --all,
--notify, diff between refs, managed device tags, import's refusals."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from reconciler.backends.local.backend import LocalBackend
from tests.plan.conftest import DESIRED, Repo


def two_targets(tmp_path: Path) -> str:
    return ("default_target: blue\n"
            f"targets:\n  blue: {{backend: local, path: '{tmp_path / 'blue.db'}'}}\n"
            f"  green: {{backend: local, path: '{tmp_path / 'green.db'}'}}\n")


def test_detailed_exitcode_and_formats(local_repo: Repo, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    r = local_repo.run("plan", "--detailed-exitcode")
    assert r.exit_code == 2
    r = local_repo.run("plan")
    assert r.exit_code == 0 and "Plan: " in r.output
    data = json.loads(local_repo.run("plan", "--format", "json").output)
    assert data["format_version"] == "1.1" and data["applyable"] is True
    assert {"create"} <= {a for c in data["resource_changes"] for a in c["actions"]}
    md = local_repo.run("plan", "--format", "markdown").output
    assert md.startswith("<!-- reconciler-plan:local -->\n")
    assert "<details>" in md and "```diff" in md
    summary = tmp_path / "summary.md"
    local_repo.env = {"GITHUB_STEP_SUMMARY": str(summary)}
    gh = local_repo.run("plan", "--format", "github").output
    assert gh.splitlines()[-1].startswith("::notice title=reconciler plan%3A local::Plan:")
    assert summary.read_text().startswith("<!-- reconciler-plan:local -->")


def test_failing_tests_exit_1_with_the_test_location(local_repo: Repo) -> None:
    local_repo.commit({"policies/tests.yaml": "tests:\n  - src: alice@example.com\n"
                                              "    accept: [\"tag:db:5432\"]\n"})
    r = local_repo.run("plan", "--format", "github")
    assert r.exit_code == 1
    assert "::error file=policies/tests.yaml,line=2,col=5,title=test failed::" in r.output


def test_unknown_managed_device_is_an_error_at_plan_time(local_repo: Repo) -> None:
    local_repo.commit({"policies/devices.yaml": "devices:\n  nosuch-1:\n    tags: [tag:db]\n"})
    r = local_repo.run("plan")
    assert r.exit_code == 1
    assert 'policies/devices.yaml:2:3: devices["nosuch-1"]: no device named "nosuch-1"' \
        in r.output


def test_ref_plans_an_older_revision(local_repo: Repo) -> None:
    first = local_repo.repo.head.commit.hexsha
    assert local_repo.run("apply", "--auto-approve").exit_code == 0
    local_repo.commit({"policies/tags.yaml": DESIRED["policies/tags.yaml"]
                       + "  db: 100.101.0.30\n"})
    r = local_repo.run("plan", "--ref", first, "--detailed-exitcode")
    assert r.exit_code == 0, r.output
    r = local_repo.run("plan", "--detailed-exitcode")
    assert r.exit_code == 2 and '# hosts["db"] will be created' in r.output


def test_diff_between_refs(local_repo: Repo) -> None:
    first = local_repo.repo.head.commit.hexsha
    local_repo.commit({"policies/groups.yaml": DESIRED["policies/groups.yaml"].replace(
        "bob@example.com]", "bob@example.com, carol@example.com]")})
    r = local_repo.run("diff", first, "HEAD")
    assert r.exit_code == 0, r.output
    assert '# groups["group:eng"] is changed' in r.output
    assert '+ "carol@example.com",' in r.output
    assert "1 added" not in r.output and "0 added, 1 changed, 0 removed" in r.output
    data = json.loads(local_repo.run("diff", first, "HEAD", "--format", "json").output)
    assert [c["address"] for c in data["resource_changes"]] == ['groups["group:eng"]']
    assert local_repo.run("diff", "HEAD", "HEAD").output.startswith("No changes")
    r = local_repo.run("diff", "nosuchref", "HEAD")
    assert r.exit_code == 1 and 'unknown git revision "nosuchref"' in r.output


def test_plan_and_drift_all_targets(make_repo: Callable[..., Repo], tmp_path: Path) -> None:
    repo = make_repo(config=two_targets(tmp_path))
    r = repo.run("plan", "--all", "--detailed-exitcode")
    assert r.exit_code == 2, r.output
    assert "[blue] started" in r.output and "[green] done" in r.output
    table = r.output[r.output.index("TARGET"):]
    assert "blue" in table and "green" in table and "changes" in table
    assert repo.run("apply", "--target", "green", "--auto-approve").exit_code == 0
    r = repo.run("drift", "--all")
    assert r.exit_code == 2
    lines = r.output[r.output.index("TARGET"):].splitlines()
    assert lines[1].split()[0] == "blue" and lines[1].split()[-1] == "drift"
    assert lines[2].split()[0] == "green" and lines[2].split()[-1] == "clean"
    data = json.loads(repo.run("drift", "--all", "--format", "json").stdout)
    assert [t["clean"] for t in data["targets"]] == [False, True]


def test_all_keeps_going_when_one_target_fails(make_repo: Callable[..., Repo],
                                               tmp_path: Path) -> None:
    config = two_targets(tmp_path) + "  remote: {backend: tailscale, tailnet: '-'}\n"
    repo = make_repo(config=config)
    r = repo.run("plan", "--all")
    assert r.exit_code == 1
    assert "remote" in r.output and "error: no Tailscale credentials" in r.output
    assert 'target "blue"' in r.output  # the others were still planned


class Hook(BaseHTTPRequestHandler):
    bodies: ClassVar[list[Any]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        Hook.bodies.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[str]:
    Hook.bodies = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks/T000/SECRET"
    finally:
        server.shutdown()
        server.server_close()


def test_drift_notify_posts_a_slack_compatible_summary(local_repo: Repo, webhook: str) -> None:
    r = local_repo.run("drift", "--notify", webhook)
    assert r.exit_code == 2
    (body,) = Hook.bodies
    assert body["text"].startswith("reconciler drift check\nlocal: Drift:")
    assert body["drift"] is True and body["targets"][0]["target"]["name"] == "local"
    assert "SECRET" not in r.output  # the URL is a credential; only its host is shown
    r = local_repo.run("drift", "--notify", "http://127.0.0.1:9/hooks/SECRET")
    assert r.exit_code == 1 and "could not send" in r.output and "SECRET" not in r.output


def test_drift_markdown(local_repo: Repo) -> None:
    out = local_repo.run("drift", "--format", "markdown").output
    assert out.startswith("<!-- reconciler-drift:local -->")


def test_import_refuses_to_mix_with_existing_fragments(local_repo: Repo) -> None:
    r = local_repo.run("import")
    assert r.exit_code == 1
    assert "already holds policy fragments" in r.output and "--force" in r.output
    assert (local_repo.root / "policies/groups.yaml").exists()


def test_import_keeps_console_comments(local_repo: Repo, tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "control" / "local.db")
    live = backend.fetch_policy()
    backend.push_policy('{\n  // who is who\n  "groups": {"group:eng": ["alice@example.com"]},'
                        ' // eng only\n  "acls": [{"action": "accept", "src": ["*"], '
                        '"dst": ["*:*"]}],\n}\n', if_match=live.etag)
    r = local_repo.run("import", "--force", "--syntax", "hujson")
    assert r.exit_code == 0, r.output
    groups = (local_repo.root / "policies/groups.hujson").read_text()
    assert "// who is who" in groups and "// eng only" in groups
    assert not (local_repo.root / "policies/access.yaml").exists()
    local_repo.commit(message="import")
    r = local_repo.run("plan", "--detailed-exitcode")
    assert r.exit_code == 0, r.output


def test_an_unparsable_live_policy_is_a_clear_error(local_repo: Repo, tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "control" / "local.db")
    backend.store.write_policy('{"acls": [', if_match=None, source="edit")
    r = local_repo.run("plan")
    assert r.exit_code == 1
    assert 'Error: the live policy of target "local" cannot be parsed' in r.output
    assert "Traceback" not in r.output


def test_drift_notify_reports_a_failed_check(make_repo: Callable[..., Repo], webhook: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A nightly job whose check fails (here: no credentials) still notifies, and exits 1."""
    for name in ("TS_API_KEY", "TS_OAUTH_CLIENT_ID", "TS_OAUTH_CLIENT_SECRET", "TS_ID_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    repo = make_repo(config="targets:\n  remote: {backend: tailscale, tailnet: '-'}\n")
    r = repo.run("drift", "--notify", webhook)
    assert r.exit_code == 1
    assert "no Tailscale credentials" in r.output
    (body,) = Hook.bodies
    assert body["text"].startswith("reconciler drift check\nremote: drift check failed: ")
    assert "no Tailscale credentials" in body["text"]
    assert body["targets"][0]["error"]
    assert "/hooks/T000/SECRET" not in r.output  # the webhook URL is itself a secret

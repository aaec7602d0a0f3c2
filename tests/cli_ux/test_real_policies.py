"""Constructs Tailscale documents and real policies use, accepted through the real CLI.

Each was refused before: `autogroup:members` as an ssh src and nodeAttrs target, grant
app capabilities `tailscale.com/cap/golink` and `.../tailsql`, ssh `recorder` and
`enforceRecorder`, and `autoApprovers.services` keyed by a tag. What stays refused
(SaaS captures grant-a5/k9/k10) is checked beside them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner

from reconciler.cli import cli

REAL = """\
groups:
  group:eng: [alice@example.com]
tagOwners:
  tag:golink: [group:eng]
  tag:tailsql: [group:eng]
  tag:prod: [group:eng]
  tag:recorder: [group:eng]
  tag:web: [group:eng]
grants:
  - src: [autogroup:members]
    dst: [tag:golink]
    app:
      tailscale.com/cap/golink: [{admin: true}]
  - src: [group:eng]
    dst: [tag:tailsql]
    app:
      tailscale.com/cap/tailsql: [{dataSrc: ["*"]}]
ssh:
  - action: accept
    src: [autogroup:members]
    dst: [tag:prod]
    users: [autogroup:nonroot]
    recorder: [tag:recorder]
    enforceRecorder: true
nodeAttrs:
  - target: [autogroup:members]
    attr: [funnel]
autoApprovers:
  services:
    tag:web: [tag:web]
    svc:wiki: [group:eng]
sshTests:
  - src: alice@example.com
    dst: [tag:prod]
    accept: [alice]
    deny: [root]
"""

Tree = Callable[[dict[str, str]], Path]


def cli_run(root: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["-C", str(root), "--now", "2026-11-23", *args])
    return result.exit_code, result.stdout, result.stderr


def test_real_policy_validates_tests_and_compiles(write_tree: Tree) -> None:
    root = write_tree({"policies/main.yaml": REAL})
    code, out, err = cli_run(root, "validate")
    assert code == 0, err
    assert out.startswith("Valid: 1 fragment(s)")
    assert err == ""
    code, out, err = cli_run(root, "test")
    assert code == 0, out + err
    assert "1 passed, 0 failed" in out
    code, out, err = cli_run(root, "compile", "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["ssh"][0]["recorder"] == ["tag:recorder"]
    assert doc["ssh"][0]["enforceRecorder"] is True
    assert doc["autoApprovers"]["services"] == {"tag:web": ["tag:web"], "svc:wiki": ["group:eng"]}
    # lint counts the recorder tag and the service tag key as uses.
    code, out, _ = cli_run(root, "lint")
    assert code == 0, out
    assert "unused-tag" not in out


def test_what_tailscale_refuses_stays_refused(write_tree: Tree) -> None:
    bad = (REAL.replace("tailscale.com/cap/tailsql", "tailscale.com/cap/funnel")
           .replace("    tag:web: [tag:web]", "    tag:wbe: [tag:web]\n    web: [tag:web]")
           .replace("enforceRecorder: true", "enforceRecorder: yes please"))
    root = write_tree({"policies/main.yaml": bad})
    code, _, err = cli_run(root, "validate")
    assert code == 1
    assert "main.yaml:17:7: capability name must not be in the tailscale.com domain" in err
    assert ('autoApprovers.services["tag:wbe"]: tag not found: "tag:wbe" '
            "(did you mean tag:web?)") in err
    assert ('autoApprovers.services["web"]: names must start with \'svc:\' (a service) or '
            "'tag:'") in err
    assert "enforceRecorder" in err and "Traceback" not in err


def test_a_recorder_that_is_no_defined_tag_is_a_warning(write_tree: Tree) -> None:
    root = write_tree({"policies/main.yaml": REAL.replace("recorder: [tag:recorder]",
                                                          "recorder: [tag:recordr, rec-host]")})
    code, out, err = cli_run(root, "validate")
    assert out.startswith("Valid:")
    assert code == 0, err
    assert ('main.yaml:23:16: warning: recorder: tag not found: "tag:recordr" '
            "(did you mean tag:recorder?)") in err
    assert 'main.yaml:23:29: warning: recorder "rec-host": a recorder is named by its tag' in err

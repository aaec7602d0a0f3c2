"""`explain` and `access` validate what they read, not the tests they never run.

A policy whose `tests` hold a malformed entry is still explained (the tests are for
`reconciler test`, which refuses it with file:line); a policy whose rules are broken is
refused by every command, with file:line.
"""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

import reconciler.cli.engine_cmds  # noqa: F401  (registers the commands on `cli`)
from reconciler.cli import cli

POLICY = """\
{
  "tagOwners": {"tag:web": []},
  "acls": [
    {"action": "accept", "src": ["alice@example.com"], "dst": ["tag:web:443"]},
  ],
  "tests": [
    {"src": "alice@example.com", "accept": ["tag:web:1-2"]},
  ],
}
"""


def _run(root: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["-C", str(root), *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_explain_and_access_skip_the_tests_but_not_the_rules(tmp_path: Path) -> None:
    (tmp_path / "policies").mkdir()
    policy = tmp_path / "policies" / "policy.hujson"
    policy.write_text(POLICY)
    code, out, err = _run(tmp_path, "test")
    assert code == 1 and "policies/policy.hujson:7:" in err and "1-2" in err
    code, out, _ = _run(tmp_path, "explain", "alice@example.com", "tag:web:443")
    assert code == 0 and out.startswith("ALLOWED: alice@example.com -> tag:web:443")
    code, out, _ = _run(tmp_path, "access")
    assert code == 0 and out == "alice@example.com -> tag:web: tcp/udp/icmp 443\n"

    policy.write_text(POLICY.replace('"tag:web:443"]', '"tag:nope:443"]'))
    for args in (("explain", "alice@example.com", "tag:web:443"), ("access",)):
        code, out, err = _run(tmp_path, *args)
        assert code == 1 and out == ""
        assert "policies/policy.hujson:4:" in err and "tag:nope" in err

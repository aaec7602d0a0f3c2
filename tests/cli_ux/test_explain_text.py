"""`reconciler explain` text: rules cited by name, grant traffic said once, denied
devices with whose they are."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner

from reconciler.cli import cli

POLICY = """\
groups:
  group:eng: [alice@example.com, bob@example.com]
tagOwners:
  tag:web: []
grants:
  - name: alice-web-https
    src: [alice@example.com]
    dst: [tag:web]
    ip: ["tcp:443"]
  - src: [group:eng]
    dst: [tag:web]
    ip: ["22"]
"""


def explain(root: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["-C", str(root), "explain", *args])
    return result.exit_code, result.stdout


def test_explain_cites_names_and_says_whose_devices_are_denied(
        write_tree: Callable[[dict[str, str]], Path]) -> None:
    root = write_tree({"policies/main.yaml": POLICY})
    code, out = explain(root, "group:eng", "tag:web:443")
    assert code == 0, out
    assert out.splitlines() == [
        "DENIED: group:eng -> tag:web:443 (tcp or udp)",
        'Allowed by:',
        '  policies/main.yaml:6:5: grants["alice-web-https"]: alice@example.com -> tag:web '
        "(tcp:443)",
        "Denied from 1 of 2 source device(s): bob-2 (bob@example.com)",
        "Nearest rules:",
        "  policies/main.yaml:10:5: grants[1]: group:eng -> tag:web (tcp/udp/icmp 22)",
        "    - port 443 not in 22",
    ]
    code, out = explain(root, "group:eng", "tag:web:443", "--format", "json")
    data = json.loads(out)
    assert data["rules"][0]["address"] == 'grants["alice-web-https"]'
    assert data["rules"][0]["path"] == "grants[0]"
    assert data["sources_denied"] == ["bob-2"] and data["sources_total"] == 2

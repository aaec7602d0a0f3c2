"""Every undefined name gets the nearest defined one, through `validate` and `lint`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner

from reconciler.cli import cli

POLICY = """\
groups:
  group:contractors: [sam@example.com]
tagOwners:
  tag:web: [group:contractors]
hosts:
  db1: 100.64.0.1
ipsets:
  ipset:office: [100.64.0.0/24]
postures:
  posture:latest: ["node:os == 'linux'"]
grants:
  - src: [group:contractor]
    dst: [tag:webb]
    ip: ["443"]
    srcPosture: [posture:lates]
  - src: [ipset:ofice, autogroup:membr]
    dst: [db]
    ip: ["*"]
  - src: [group:contractors]
    dst: [web]
    ip: ["22"]
  - src: [group:nope]
    dst: [tag:web]
    ip: ["22"]
tests:
  - src: sam@example.com
    accept: ["tag:wbe:443"]
"""


def test_validate_suggests_the_nearest_defined_name(
        write_tree: Callable[[dict[str, str]], Path]) -> None:
    root = write_tree({"policies/main.yaml": POLICY})
    result = CliRunner().invoke(cli, ["-C", str(root), "validate"])
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    expected = [
        'main.yaml:12:11: src=group not found: "group:contractor" '
        "(did you mean group:contractors?)",
        'main.yaml:13:11: dst="tag:webb": tag not found: "tag:webb" (did you mean tag:web?)',
        'main.yaml:15:18: srcPosture: posture not found: "posture:lates" '
        "(did you mean posture:latest?)",
        'main.yaml:16:11: src=ipset not found: "ipset:ofice" (did you mean ipset:office?)',
        'main.yaml:16:24: src=unknown autogroup: "autogroup:membr" '
        "(did you mean autogroup:member?)",
        'main.yaml:17:11: dst="db": host not found: "db" (did you mean db1?)',
        'main.yaml:20:11: dst="web": host not found: "web" (did you mean tag:web?)',
        # Nothing near "nope": no guess rather than a wild one.
        'main.yaml:22:11: src=group not found: "group:nope"',
        'main.yaml:27:14: tests[0]: "tag:wbe:443": tag not found: "tag:wbe" '
        "(did you mean tag:web?)",
    ]
    for want in expected:
        assert any(line.endswith(want) for line in lines), (want, lines)


def test_lint_suggests_the_nearest_defined_name(
        write_tree: Callable[[dict[str, str]], Path]) -> None:
    # Without the tests section: lint validates first, and an invalid test entry is a
    # validation error that stops it (issue 17 item 7); undefined names in rules are
    # lint's own findings.
    root = write_tree({"policies/main.yaml": POLICY.split("tests:")[0]})
    result = CliRunner().invoke(cli, ["-C", str(root), "lint"])
    assert result.exit_code == 1
    out = result.output
    assert 'group "group:contractor" is used here but not defined in groups\n' \
           "    suggestion: did you mean group:contractors? (or define it in groups)" in out
    assert 'host "db" is used here but not defined in hosts\n' \
           "    suggestion: did you mean db1? (or define it in hosts)" in out
    assert 'group "group:nope" is used here but not defined in groups\n' \
           "    suggestion: define it in groups, or fix the spelling" in out


def test_nearest_name_ignores_the_shared_prefix() -> None:
    from reconciler.core.suggest import nearest_name

    assert nearest_name("tag:nope", ["tag:ok"]) is None
    assert nearest_name("tag:wbe", ["group:web", "tag:web"]) == "tag:web"
    assert nearest_name("web", ["tag:web", "group:web2"]) == "tag:web"
    assert nearest_name("group:Contractors", ["group:contractors"]) == "group:contractors"
    assert nearest_name("x", []) is None
    assert nearest_name("ipset:y", ["ipset:x"]) is None

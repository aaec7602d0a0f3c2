"""`reconciler test | explain | access` through click's CliRunner on a real desired-state dir."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

import reconciler.cli.engine_cmds  # noqa: F401  (registers the commands on `cli`)
from reconciler.cli import cli

POLICY = """\
// The example tailnet.
{
  "groups": {"group:eng": ["alice@example.com", "bob@example.com"]},
  "tagOwners": {"tag:web": [], "tag:db": []},
  "acls": [
    {"action": "accept", "src": ["group:eng"], "dst": ["tag:web:443"]},
    {"action": "accept", "src": ["alice@example.com"], "dst": ["tag:db:5432"]},
  ],
  "tests": [
    {"src": "alice@example.com", "accept": ["tag:web:443", "tag:db:5432"]},
    {"src": "bob@example.com", "accept": ["tag:db:5432"]},   // fails: bob has no db rule
    {"src": "bob@example.com", "accept": ["tag:web:443"], "deny": ["tag:web:22"]},
  ],
}
"""


def run(cwd: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["-C", str(cwd), "--now", "2026-11-23T12:00:00Z", *args],
                                catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "policy.hujson").write_text(POLICY)
    return tmp_path


def test_text_output_and_exit_code(repo: Path) -> None:
    code, out, err = run(repo, "test")
    assert code == 1
    assert 'policies/policy.hujson:11:' in out  # the failing test's file:line
    assert 'address "tag:db:5432": want: Accept, got: Drop' in out
    assert "2 passed, 1 failed, 0 invalid" in out
    assert "test(s) failed" in err


def test_invalid_test_exits_1_with_location(repo: Path) -> None:
    # The validator (run by the loader) rejects malformed tests before the engine runs.
    text = POLICY.replace('"deny": ["tag:web:22"]', '"deny": ["tag:web:1-2"]')
    (repo / "policies" / "policy.hujson").write_text(text)
    code, _, err = run(repo, "test")
    assert code == 1 and "policies/policy.hujson:12:" in err and "1-2" in err


def test_json_and_junit(repo: Path) -> None:
    code, out, _ = run(repo, "test", "--format", "json")
    data = json.loads(out)
    assert code == 1 and data["counts"] == {"passed": 2, "failed": 1, "invalid": 0,
                                            "assertions": 5}
    assert data["failures"][0]["user"] == "bob@example.com"
    code, out, _ = run(repo, "test", "--format", "junit")
    suite = ET.fromstring(out.split("\n", 1)[1]).find("testsuite")
    assert code == 1 and suite is not None
    cases = suite.findall("testcase")
    assert len(cases) == 3 and suite.get("failures") == "1" and suite.get("errors") == "0"
    assert cases[1].find("failure") is not None and cases[2].find("failure") is None
    assert cases[0].get("file") == "policies/policy.hujson"


def test_passing_tests_exit_zero(repo: Path) -> None:
    text = POLICY.replace('    {"src": "bob@example.com", "accept": ["tag:db:5432"]},'
                          '   // fails: bob has no db rule\n', "")
    (repo / "policies" / "policy.hujson").write_text(text)
    code, out, _ = run(repo, "test")
    assert code == 0 and "2 passed, 0 failed, 0 invalid" in out


def test_inventory_option(repo: Path) -> None:
    inv = repo / "inventory.yaml"
    inv.write_text("devices: [{name: web, ipv4: 100.64.0.9, tags: [tag:web]},"
                   " {name: a, ipv4: 100.64.0.1, user: alice@example.com}]\n")
    code, out, _ = run(repo, "test", "--inventory", str(inv), "--format", "json")
    data = json.loads(out)
    assert data["inventory"] == str(inv)
    # bob has no device in this inventory: his test fails for that reason
    assert any("user not found" in " ".join(r["invalid"]) or "no devices" in " ".join(r["errors"])
               for r in data["results"] if r["src"] == "bob@example.com")
    inv.write_text("devices: [{name: x}]\n")
    code, _, err = run(repo, "test", "--inventory", str(inv))
    assert code == 1 and "devices[0]" in err and "Traceback" not in err


def test_explain(repo: Path) -> None:
    code, out, _ = run(repo, "explain", "alice@example.com", "tag:db:5432")
    assert code == 0 and out.startswith("ALLOWED")
    assert "policies/policy.hujson:7:" in out
    code, out, _ = run(repo, "explain", "bob@example.com", "tag:db:5432", "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["allowed"] is False and data["rules"] == []
    assert data["near_misses"][0]["path"] == "acls[1]"
    code, _, err = run(repo, "explain", "bob@example.com", "tag:db")
    assert code == 1 and "numeric port" in err


def test_access(repo: Path) -> None:
    code, out, _ = run(repo, "access", "--format", "json")
    rows = json.loads(out)["rows"]
    assert code == 0
    assert {(r["from"], r["to"]) for r in rows} == {
        ("alice@example.com", "tag:web"), ("bob@example.com", "tag:web"),
        ("alice@example.com", "tag:db")}
    code, out, _ = run(repo, "access", "--from", "bob@example.com")
    assert code == 0 and out.strip() == "bob@example.com -> tag:web: tcp/udp/icmp 443"


def test_report_json_is_the_same_document_with_one_line_per_result() -> None:
    from reconciler.render.testreport import report_json

    results = [{"section": "tests", "index": i, "src": f'a"{i}', "errors": ["x\ny"]}
               for i in range(3)]
    data = {"ok": False, "inventory": '"results": "@results@"', "counts": {"passed": 1},
            "results": results, "failures": [{"src": "s", "errors": ["e"]}]}
    text = report_json(data)
    assert json.loads(text) == data
    assert [line.strip().rstrip(",") for line in text.splitlines()
            if '"section"' in line] == [json.dumps(r) for r in results]
    empty = {**data, "results": []}
    assert json.loads(report_json(empty)) == empty
    # A src that spells the cut text, and results of another shape, stay whole.
    tricky = [{"section": "tests", "src": '}, {"section": '}, {"index": 1, "section": "x"}]
    odd = {**data, "results": tricky}
    assert json.loads(report_json(odd)) == odd
    assert len([line for line in report_json(odd).splitlines() if '"section"' in line]) == 2


def test_text_report_colours_each_failing_entry_as_click_would() -> None:
    import click

    from reconciler.engine import run_tests
    from reconciler.render.testreport import render_text

    policy = {"acls": [{"action": "accept", "src": ["alice@example.com"], "dst": ["*:22"]}],
              "tests": [{"src": "alice@example.com", "accept": ["100.64.0.1:80"]},
                        {"src": "alice@example.com", "accept": ["100.64.0.1:22"]}]}
    report = run_tests(policy)
    plain = render_text(report)
    head = "tests[0] src 'alice@example.com': failed"
    assert plain.splitlines()[0] == head
    assert plain.endswith("1 passed, 1 failed, 0 invalid "
                          f"({report.assertions} assertions; inventory: {report.inventory})\n")
    coloured = render_text(report, color=True).splitlines()
    assert coloured[0] == click.style(head, fg="red", bold=True)
    assert coloured[1:] == plain.splitlines()[1:]

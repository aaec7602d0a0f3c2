"""`reconciler lint`: one test per check, settings, formats and exit codes (real CLI)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import reconciler.cli.lint_cmds  # noqa: F401  (registers the command until the lead wires it)
from reconciler.cli import cli
from reconciler.core.errors import ConfigError
from reconciler.lint import LintSettings
from reconciler.load.config import load_config
from tests.conftest import ENG_WEB_POLICY

BASE = "\n" + ENG_WEB_POLICY + """\
tests:
  - src: alice@example.com
    accept: ["tag:web:443"]
"""


def run(root: Path, *args: str, now: str = "2026-11-23") -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["-C", str(root), "--now", now, "lint", *args])
    return result.exit_code, result.output


def tree(tmp_path: Path, extra: str = "", base: str = BASE, config: str = "") -> Path:
    (tmp_path / "policies").mkdir(exist_ok=True)
    (tmp_path / "policies" / "a.yaml").write_text(base)
    if extra:
        (tmp_path / "policies" / "b.yaml").write_text(extra)
    if config:
        (tmp_path / "reconciler.yaml").write_text(config)
    return tmp_path


def findings(root: Path, **kw: str) -> list[dict]:
    _code, out = run(root, "--format", "json", **kw)
    return json.loads(out)["findings"]


def codes(root: Path) -> list[str]:
    return sorted(f["code"] for f in findings(root))


def test_clean_policy_has_no_findings_and_full_coverage(tmp_path: Path) -> None:
    code, out = run(tree(tmp_path))
    assert code == 0
    assert out.strip() == "Lint: 0 errors, 0 warnings, 0 info. Test coverage: 1 of 1 rules (100%)."


def test_undefined_names_are_errors_and_exit_1(tmp_path: Path) -> None:
    root = tree(tmp_path, "grants:\n  - src: [group:ops]\n    dst: [tag:db, ipset:x, nas]\n"
                          "    ip: ['22']\n    srcPosture: [posture:ok]\n")
    code, out = run(root)
    assert code == 1
    assert "policies/b.yaml:2:11: error: [undefined-group] group \"group:ops\" is used" in out
    got = {f["code"] for f in findings(root)}
    assert {"undefined-group", "undefined-tag", "undefined-ipset", "undefined-host",
            "undefined-posture"} <= got


def test_unused_and_empty_definitions(tmp_path: Path) -> None:
    root = tree(tmp_path, "groups:\n  group:idle: []\ntagOwners:\n  tag:old: [group:eng]\n"
                          "hosts:\n  nas: 100.100.0.9\nipsets:\n  ipset:lan: ['add 10.0.0.0/8']\n"
                          "postures:\n  posture:mac: [\"node:os == 'macos'\"]\n")
    found = {(f["code"], f["line"]) for f in findings(root)}
    assert {("unused-group", 2), ("empty-group", 2), ("unused-tag", 4), ("unused-host", 6),
            ("unused-ipset", 8), ("unused-posture", 10)} <= found


def test_shadowed_rule_names_the_covering_rule(tmp_path: Path) -> None:
    root = tree(tmp_path, "grants:\n  - name: alice-web\n    src: [alice@example.com]\n"
                          "    dst: [tag:web]\n    ip: ['tcp:443']\n")
    (f,) = [f for f in findings(root) if f["code"] == "shadowed-rule"]
    assert f["file"] == "policies/b.yaml" and f["line"] == 2
    assert 'grants[1] "alice-web" gives no access that grants[0] "eng-web"' in f["message"]


def test_equal_rules_report_only_the_later_one(tmp_path: Path) -> None:
    root = tree(tmp_path, "grants:\n  - src: [group:eng]\n    dst: [tag:web]\n    ip: ['tcp:443']\n")
    shadow = [f for f in findings(root) if f["code"] == "shadowed-rule"]
    assert [f["message"].split()[0] for f in shadow] == ["grants[1]"]


def test_allow_all_and_danger_all(tmp_path: Path) -> None:
    root = tree(tmp_path, "acls:\n  - action: accept\n    src: ['*']\n    dst: ['*:*']\n"
                          "  - action: accept\n    src: [autogroup:danger-all]\n"
                          "    dst: ['tag:web:80']\n")
    got = {(f["code"], f["line"]) for f in findings(root)}
    assert ("allow-all", 2) in got and ("danger-all", 6) in got


def test_policy_without_rules_is_allow_all(tmp_path: Path) -> None:
    root = tree(tmp_path, base="groups:\n  group:eng: [alice@example.com]\n"
                               "tagOwners:\n  tag:web: [group:eng]\n")
    assert "allow-all" in codes(root)


def test_broad_tag_owners(tmp_path: Path) -> None:
    members = "".join(f"    - u{i}@example.com\n" for i in range(3))
    root = tree(tmp_path, "groups:\n  group:all:\n" + members + "tagOwners:\n"
                "  tag:a: [autogroup:member]\n  tag:b: [group:all]\n"
                "grants:\n  - src: [tag:a, tag:b]\n    dst: [tag:web]\n    ip: ['1']\n",
                config="lint:\n  big_group_members: 3\n")
    broad = sorted(f["message"].split()[0] for f in findings(root)
                   if f["code"] == "broad-tag-owner")
    assert broad == ["tag:a", "tag:b"]


def test_ssh_accept_as_root(tmp_path: Path) -> None:
    root = tree(tmp_path, "ssh:\n  - action: accept\n    src: [group:eng]\n    dst: [tag:web]\n"
                          "    users: [root]\n  - action: check\n    src: [group:eng]\n"
                          "    dst: [tag:web]\n    users: [root]\n")
    assert [f["line"] for f in findings(root) if f["code"] == "ssh-root-accept"] == [2]


def test_untested_rules_and_coverage(tmp_path: Path) -> None:
    root = tree(tmp_path, "grants:\n  - src: [bob@example.com]\n    dst: [tag:web]\n"
                          "    ip: ['tcp:22']\nssh:\n  - action: check\n    src: [group:eng]\n"
                          "    dst: [tag:web]\n    users: [root]\n"
                          "sshTests:\n  - src: alice@example.com\n    dst: [tag:web]\n"
                          "    check: [root]\n")
    _code, out = run(root, "--format", "json")
    report = json.loads(out)
    assert report["coverage"] == {"covered": 2, "total": 3, "percent": 66.7,
                                  "untested": ["grants[1]"]}
    assert [f["line"] for f in report["findings"] if f["code"] == "rule-untested"] == [2]


def test_jit_expiring_and_expired(tmp_path: Path) -> None:
    root = tree(tmp_path, "groups:\n  group:oncall:\n"
                          "    - {user: carol@example.com, expires: 2026-11-27}\n"
                          "    - {user: dave@example.com, expires: 2027-01-01}\n"
                          "    - {user: erin@example.com, expires: 2026-11-01}\n"
                          "grants:\n  - name: temp\n    expires: 2026-11-25\n"
                          "    src: [group:oncall]\n    dst: [tag:web]\n    ip: ['tcp:8443']\n")
    got = [(f["code"], f["line"], f["message"]) for f in findings(root)
           if f["code"].startswith("jit-")]
    assert ("jit-expiring", 3,
            "carol@example.com leaves group:oncall at 2026-11-27 00:00 UTC (in 4 days)") in got
    assert any(c == "jit-expiring" and "temp" in m and "2026-11-25" in m for c, _, m in got)
    assert not any("dave" in m for _, _, m in got)  # beyond the 7-day default
    assert any(c == "jit-expired" and line == 5 for c, line, _ in got)


def test_severity_overrides_and_off(tmp_path: Path) -> None:
    root = tree(tmp_path, "groups:\n  group:idle: [x@example.com]\n",
                config="lint:\n  severity:\n    unused-group: error\n    rule-untested: off\n")
    code, out = run(root)
    assert code == 1 and "error: [unused-group]" in out


def test_bad_settings_are_a_clear_config_error(tmp_path: Path) -> None:
    (tmp_path / "reconciler.yaml").write_text(
        "lint:\n  severity:\n    unusd-group: error\n    allow-all: fatal\n"
        "  expiring_within_days: soon\n  colour: red\n")
    with pytest.raises(ConfigError) as e:
        LintSettings.from_config(load_config(tmp_path).lint)
    detail = e.value.detail or ""
    assert 'unknown check "unusd-group" (did you mean "unused-group"?)' in detail
    assert '"fatal" is not one of error, warning, info, off' in detail
    assert "expiring_within_days must be a whole number" in detail
    assert 'unknown field "colour"' in detail
    code, out = run(tree(tmp_path))
    assert code == 1 and "Error:" in out


def test_github_format(tmp_path: Path) -> None:
    root = tree(tmp_path, "groups:\n  group:idle: [x@example.com]\n")
    code, out = run(root, "--format", "github")
    assert code == 0
    assert ("::warning file=policies/b.yaml,line=2,title=unused-group::group \"group:idle\" is "
            "defined but nothing uses it") in out


def test_example_organisation(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    code, out = run(repo, "--format", "json", now="2027-03-28")
    report = json.loads(out)
    assert code == 0 and report["counts"]["error"] == 0
    assert {f["code"] for f in report["findings"]} <= {"rule-untested", "jit-expiring",
                                                       "risky-access"}
    # Risky by the rule of the plan's diagram (README, Risky access), and intended:
    # production is tag:prod (no sensitive_tags here), SSH and every port are risky there.
    assert sorted(f["message"] for f in report["findings"] if f["code"] == "risky-access") == [
        'grants[10] "sre-infrastructure" gives group:sre every port on tag:prod: every port, '
        "sensitive tag:prod",
        'grants[5] "security-audit" gives group:security ssh on tag:prod: ssh, sensitive '
        "tag:prod",
        'grants[9] "ci-deploys" gives tag:ci ssh on tag:prod: ssh, sensitive tag:prod']
    assert any(f["code"] == "jit-expiring" and "dave@example.com" in f["message"]
               for f in report["findings"])


RISKY = """tagOwners:
  tag:db: [group:eng]
  tag:prod: [group:eng]
grants:
  - name: eng-db-ssh
    src: [group:eng]
    dst: [tag:db]
    ip: ["tcp:22"]
  - src: [group:eng]
    dst: [tag:prod]
    ip: ["tcp:22", "tcp:443"]
acls:
  - action: accept
    src: [group:eng]
    dst: ["tag:prod:443"]
"""


def test_risky_access_follows_the_configured_sensitive_tags(tmp_path: Path) -> None:
    """The plan's rule (README, Risky access): SSH is one reason, a sensitive destination
    another; which tags are sensitive is sensitive_tags in reconciler.yaml, else those
    named like production."""
    root = tree(tmp_path, RISKY)

    def risky() -> list[str]:
        return [f"{f['line']}: {f['message']}" for f in findings(root)
                if f["code"] == "risky-access"]

    assert risky() == ["9: grants[2] gives group:eng ssh on tag:prod: ssh, sensitive tag:prod"]
    (root / "reconciler.yaml").write_text("sensitive_tags: [tag:db]\n")
    assert risky() == ['5: grants[1] "eng-db-ssh" gives group:eng ssh on tag:db: ssh, '
                       "sensitive tag:db"]
    assert run(root)[0] == 0  # info: it does not fail the check

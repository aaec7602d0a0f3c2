"""Invalid input never reaches the steps after validation: every command reports the
validator's located problems and exits 1 (nulls, lone surrogates, lint on an invalid
policy, diff between revisions); options and settings out of range are one clear
error (exit 1), not a traceback."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.core.errors import ConfigError
from reconciler.load.config import load_config
from tests.conftest import commit_files
from tests.robust.conftest import NOW, POLICY_COMMANDS, run_cli, run_unprivileged

NULLS = {
    "null in src": ("grants:\n- {src: [null], dst: ['*'], ip: ['*']}\n",
                    "policies/zz.yaml:2:10: grants[1].src[0]: expected a string, got null"),
    "null host": ("hosts: {db: null}\n",
                  'policies/zz.yaml:1:13: hosts["db"]: expected a string, got null'),
    "empty item in grants": ("grants:\n-\n",
                             "policies/zz.yaml:2:2: grants[1]: expected an object, got null"),
    "null posture": ("postures: {'posture:x': null}\n",
                     'policies/zz.yaml:1:25: postures["posture:x"]: expected a list of '
                     "strings, got null"),
    "null ssh users": ("ssh:\n- {action: accept, src: [group:eng], dst: [tag:prod], "
                       "users: [null]}\n",
                       "policies/zz.yaml:2:63: ssh[0].users[0]: expected a string, got null"),
}


@pytest.mark.parametrize("case", sorted(NULLS))
def test_nulls_fail_every_command_with_a_location(repo: Path, case: str) -> None:
    text, message = NULLS[case]
    (repo / "policies" / "zz.yaml").write_text(text, encoding="utf-8")
    for command in POLICY_COMMANDS:
        outcome = run_cli(repo, *NOW, *command)
        assert outcome.code == 1, (command, outcome.output)
        assert message in outcome.err, (command, outcome.err)
        assert "[compile-error]" not in outcome.output


LINT_INVALID = {
    "accept is a number": ("tests: [{src: alice@example.com, accept: 4}]\n",
                           "policies/zz.yaml:1:42: tests[0].accept: expected a list of "
                           "strings, got integer"),
    "NUL in a host": ('hosts: {db: "100.64.0.1\\0"}\n',
                      'policies/zz.yaml:1:13: hosts["db"]: "100.64.0.1\\x00": invalid IP'),
    "bad port": ("grants:\n- {src: ['*'], dst: ['*'], ip: ['tcp:99999']}\n",
                 'policies/zz.yaml:2:33: port range "99999": invalid first integer'),
}


@pytest.mark.parametrize("case", sorted(LINT_INVALID))
def test_lint_reports_the_validators_problems(repo: Path, case: str) -> None:
    text, message = LINT_INVALID[case]
    (repo / "policies" / "zz.yaml").write_text(text, encoding="utf-8")
    for fmt in ("text", "json", "github"):
        outcome = run_cli(repo, *NOW, "lint", "--format", fmt)
        assert outcome.code == 1, outcome.output
        assert message in outcome.err, outcome.err
        assert "compile-error" not in outcome.output


def test_lint_still_reports_undefined_names_as_findings(repo: Path) -> None:
    (repo / "policies" / "zz.yaml").write_text(
        "grants:\n- {src: [group:nope], dst: ['*'], ip: ['*']}\n", encoding="utf-8")
    outcome = run_cli(repo, *NOW, "lint")
    assert outcome.code == 1
    assert "policies/zz.yaml:2:10: error: [undefined-group]" in outcome.out, outcome.output


def test_lone_surrogate_fails_validate_not_plan(repo: Path) -> None:
    """`validate` passed and `plan` died writing it as UTF-8."""
    (repo / "policies" / "zz.yaml").write_text(
        'groups: {"group:x": ["a\\ud800@example.com"]}\n', encoding="utf-8")
    for command in POLICY_COMMANDS:
        outcome = run_cli(repo, *NOW, *command)
        assert outcome.code == 1, (command, outcome.output)
        assert "policies/zz.yaml:1:22: a \\u escape here writes half of a UTF-16 " \
               "surrogate pair" in outcome.err, (command, outcome.err)


def test_diff_between_revisions_validates_them(repo: Path, git_repo) -> None:  # type: ignore[no-untyped-def]
    root = Path(git_repo.working_tree_dir or ".")
    commit_files(git_repo, {"reconciler.yaml": (repo / "reconciler.yaml").read_text(),
                            "policies/base.yaml": (repo / "policies/base.yaml").read_text()},
                 "base")
    commit_files(git_repo, {"policies/zz.yaml": "postures: {'posture:x': null}\n"}, "null")
    outcome = run_cli(root, *NOW, "diff", "HEAD~1", "HEAD")
    assert outcome.code == 1, outcome.output
    assert 'policies/zz.yaml:1:25: postures["posture:x"]: expected a list' in outcome.err


@pytest.mark.parametrize("now", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"])
def test_now_at_the_edge_of_time_is_one_error(repo: Path, now: str) -> None:
    for command in POLICY_COMMANDS:
        outcome = run_cli(repo, "--now", now, *command)
        assert outcome.code == 1, (command, outcome.output)
        assert f"Error: --now {now[:19]}" in outcome.err and "out of range" in outcome.err


def test_now_in_another_zone_still_works(repo: Path) -> None:
    outcome = run_cli(repo, "--now", "9998-06-01T23:00:00-05:00", "lint")
    assert outcome.code == 0, outcome.output


def test_huge_lint_horizon_is_not_a_crash(repo: Path) -> None:
    (repo / "reconciler.yaml").write_text(
        "lint: {expiring_within_days: 100000000000}\n", encoding="utf-8")
    (repo / "policies" / "zz.yaml").write_text(
        "grants:\n- {src: ['*'], dst: ['*'], ip: ['*'], expires: '9999-12-30'}\n",
        encoding="utf-8")
    outcome = run_cli(repo, *NOW, "lint")
    assert outcome.code == 0, outcome.output
    assert "[jit-expiring] grants[1] expires at 9999-12-30 00:00 UTC (in " in outcome.out


@pytest.mark.parametrize("url, reason", [
    ("http://[::1", "must look like http(s)://host[:port][/path]"),
    ("http://[::1/x", "must look like http(s)://host[:port][/path]"),
    ("http://a\\x01b", "must not contain spaces or control characters"),
    ("http://host:99999", "has an invalid port 99999"),
    ("http://user:secret@host", "must look like http(s)://host[:port][/path]"),
])
@pytest.mark.parametrize("backend", ["tailscale", "headscale"])
def test_unusable_base_url_is_a_located_config_error(repo: Path, monkeypatch, url: str,
                                                      reason: str, backend: str) -> None:
    monkeypatch.setenv("TS_API_KEY", "tskey-api-x")
    monkeypatch.setenv("HEADSCALE_API_KEY", "hskey-x")
    (repo / "reconciler.yaml").write_text(
        f'targets:\n  t: {{backend: {backend}, base_url: "{url}"}}\n', encoding="utf-8")
    for command in (["plan"], ["drift"], ["import"]):
        outcome = run_cli(repo, *NOW, *command)
        assert outcome.code == 1, (command, outcome.output)
        assert f'reconciler.yaml:2:6: target "t": base_url {reason}' in outcome.err
    assert "secret" not in outcome.output


_URL_PARTS = st.sampled_from([
    *"aZ9-.:/[]@%?#_~!$&'()*+,;= \\^{}|`\"<>\x00\x7f\u00e9\u2603",
    "::1", "[::1]", "[fe80::1%eth0]", "%zz", "%41", "xn--", "xn--bcher-kva", "99999",
       "65535", "0", "localhost", "127.0.0.1", "1.2.3.4.5", "a--b", "\ud800"])


@settings(max_examples=1500, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.sampled_from(["http://", "https://"]), st.lists(_URL_PARTS, max_size=8).map("".join))
def test_every_base_url_config_accepts_is_one_httpx_can_request(tmp_path: Path, scheme: str,
                                                                rest: str) -> None:
    url = scheme + rest
    (tmp_path / "reconciler.yaml").write_text(
        f"targets:\n  t: {{backend: headscale, base_url: {json.dumps(url)}}}\n",
        encoding="utf-8")
    try:
        target = load_config(tmp_path).target("t")
    except ConfigError:
        return
    with httpx.Client(base_url=target.base_url) as client:
        client.build_request("GET", target.base_url + "/api/v1/policy")


def test_invalid_notify_url_is_refused_before_the_drift_check(repo: Path) -> None:
    outcome = run_cli(repo, *NOW, "drift", "--notify", "http://[::1/x")
    assert outcome.code == 1, outcome.output
    assert "Error: --notify needs an http:// or https:// URL with a host" in outcome.err
    assert not (repo / ".reconciler").exists()  # the drift check never ran


def test_init_in_a_read_only_directory(tmp_path: Path, restore_modes) -> None:
    target = tmp_path / "ro"
    target.mkdir()
    target.chmod(0o555)
    result = run_unprivileged(target, "init")
    assert result.returncode == 1, result.stderr
    assert "Error: cannot write in .: Permission denied" in result.stderr
    assert "Pick a directory you can write to" in result.stderr


def test_import_into_a_read_only_directory(repo: Path, restore_modes) -> None:
    assert run_cli(repo, *NOW, "plan").code == 0  # creates the local store
    for path in (repo / "policies").iterdir():
        path.unlink()
    (repo / "policies").chmod(0o555)
    result = run_unprivileged(repo, *NOW, "import")
    assert result.returncode == 1, result.stderr
    assert "Error: cannot write the imported fragments in policies/: Permission denied" \
        in result.stderr
    assert os.listdir(repo / "policies") == []


@pytest.mark.parametrize("separator", ["\\u000c", "\\u001c", "\\u0085", "\\u2028"])
def test_a_problem_stays_one_line_whatever_the_names_hold(repo: Path, separator: str) -> None:
    """str.splitlines() (and some terminals) break lines at these: found by the fuzz."""
    (repo / "policies" / "zz.json").write_text(
        f'{{"defaultSrcPosture": ["0{separator}0"]}}', encoding="utf-8")
    outcome = run_cli(repo, *NOW, "validate")
    assert outcome.code == 1
    lines = outcome.err.splitlines()
    assert len(lines) == 3, lines
    assert lines[0].startswith("policies/zz.json:1:24: ") and "posture:" in lines[0]


@pytest.mark.parametrize("text", ['{"grants": [,]}', '{"hosts": {,}}'])
def test_a_lone_comma_in_hujson_is_an_error_not_an_empty_list(repo: Path, text: str) -> None:
    """The fast HuJSON reader blanked it as a trailing comma: `[,]` read as `[]`."""
    (repo / "policies" / "zz.hujson").write_text(text, encoding="utf-8")
    outcome = run_cli(repo, *NOW, "validate")
    assert outcome.code == 1, outcome.output
    column = text.index(",") + 1
    assert outcome.err.startswith(f"policies/zz.hujson:1:{column}: invalid character ','"), \
        outcome.err


@pytest.mark.parametrize("name, data, message", [
    ("inv.yaml", b"devices: " + b"[" * 600 + b"]" * 600, "not valid YAML: nested too deeply"),
    ("inv.json", b'{"devices": ' + b"[" * 5000 + b"]" * 5000 + b"}",
     "not valid JSON: nested too deeply"),
    ("inv.yaml", b"devices: [{name: a, ipv4: " + b"9" * 4301 + b"}]",
     "a value cannot be read: Exceeds the limit (4300 digits)"),
    ("inv.yaml", b"devices: [{name: 2025-02-30}]",
     "a value cannot be read: day is out of range for month"),
    ("inv.yaml", b"\xff\xfe", "not UTF-8 text"),
])
def test_hostile_inventory_file_is_one_error(repo: Path, name: str, data: bytes,
                                             message: str) -> None:
    (repo / name).write_bytes(data)
    for command in ("test", "lint"):
        outcome = run_cli(repo, *NOW, command, "--inventory", name)
        assert outcome.code == 1, (command, outcome.output)
        assert f"Error: {name}: {message}" in outcome.err, (command, outcome.err)


@pytest.mark.parametrize("config, message", [
    ('targets:\n  t: {backend: local, path: "a\\0b"}\n',
     'reconciler.yaml:2:6: target "t": path must be a file path (no control characters)'),
    ("targets:\n  t: {backend: headscale, base_url: 'http://127.0.0.1:9', timeout: .nan}\n",
     'reconciler.yaml:2:6: target "t": timeout must be a positive number of seconds'),
    ("targets:\n  t: {backend: headscale, base_url: 'http://127.0.0.1:9', timeout: .inf}\n",
     'reconciler.yaml:2:6: target "t": timeout must be a positive number of seconds'),
    ("targets:\n  t: {backend: tailscale, tailnet: 'a/../../x?y'}\n",
     'reconciler.yaml:2:6: target "t": tailnet must be "-" or a tailnet name'),
    ('policies: "\\ud800"\n', "reconciler.yaml:1:11: policies must be a directory path"),
    ('policies: "a\\0b"\n', "reconciler.yaml:1:11: policies must be a directory path"),
])
def test_unusable_setting_is_a_located_config_error(repo: Path, monkeypatch, config: str,
                                                    message: str) -> None:
    monkeypatch.setenv("TS_API_KEY", "tskey-api-x")
    monkeypatch.setenv("HEADSCALE_API_KEY", "hskey-x")
    (repo / "reconciler.yaml").write_text(config, encoding="utf-8")
    outcome = run_cli(repo, *NOW, "plan", "--target", "t") if "targets" in config \
        else run_cli(repo, *NOW, "validate")
    assert outcome.code == 1, outcome.output
    assert message in outcome.err, outcome.err


def test_policies_path_too_long_is_one_error(repo: Path) -> None:
    (repo / "reconciler.yaml").write_text("policies: " + "a" * 300 + "\n", encoding="utf-8")
    outcome = run_cli(repo, *NOW, "validate")
    assert outcome.code == 1, outcome.output
    assert "Error: cannot read the policies directory aaaa" in outcome.err
    assert "(file name too long)" in outcome.err


BAD_TEST = "tests:\n- {src: alice@example.com, accept: ['tag:nope:22']}\n"
GOOD_TEST = "tests:\n- {src: alice@example.com, accept: ['tag:prod:22']}\n"


def _two_revisions(repo: Path, git_repo, base: dict[str, str],  # type: ignore[no-untyped-def]
                   head: dict[str, str]) -> Path:
    commit_files(git_repo, {"reconciler.yaml": (repo / "reconciler.yaml").read_text(),
                            "policies/base.yaml": (repo / "policies/base.yaml").read_text(),
                            **base}, "base")
    commit_files(git_repo, head, "head")
    return Path(git_repo.working_tree_dir or ".")


@pytest.mark.parametrize("head", [BAD_TEST, GOOD_TEST, BAD_TEST + "tagOwners: {tag:nope: []}\n"])
def test_diff_reports_the_bases_invalid_tests(repo: Path, git_repo, head: str) -> None:  # type: ignore[no-untyped-def]
    """The base's tests are checked whatever the head's say: the same invalid test in
    both (the head's checks failed too), fixed in the head, or the same tests in both
    with the head defining the tag they name. The base's errors (its line 3) come
    first."""
    root = _two_revisions(repo, git_repo, {"policies/zz.yaml": "# base\n" + BAD_TEST},
                          {"policies/zz.yaml": head})
    outcome = run_cli(root, *NOW, "diff", "HEAD~1", "HEAD")
    assert outcome.code == 1, outcome.output
    assert 'policies/zz.yaml:3:37: tests[0]: "tag:nope:22"' in outcome.err, outcome.err


def test_diff_reports_the_bases_errors_before_a_bad_head(repo: Path, git_repo) -> None:  # type: ignore[no-untyped-def]
    root = _two_revisions(repo, git_repo, {"policies/zz.yaml": BAD_TEST},
                          {"policies/zz.yaml": GOOD_TEST})
    outcome = run_cli(root, *NOW, "diff", "HEAD~1", "no-such-revision")
    assert outcome.code == 1, outcome.output
    assert 'tests[0]: "tag:nope:22"' in outcome.err and "no-such-revision" not in outcome.err
    outcome = run_cli(root, *NOW, "diff", "HEAD", "no-such-revision")
    assert outcome.code == 1 and 'unknown git revision "no-such-revision"' in outcome.err


def test_diff_reports_the_heads_invalid_tests(repo: Path, git_repo) -> None:  # type: ignore[no-untyped-def]
    root = _two_revisions(repo, git_repo, {"policies/zz.yaml": GOOD_TEST},
                          {"policies/zz.yaml": BAD_TEST})
    outcome = run_cli(root, *NOW, "diff", "HEAD~1", "HEAD")
    assert outcome.code == 1, outcome.output
    assert 'policies/zz.yaml:2:37: tests[0]: "tag:nope:22"' in outcome.err, outcome.err
    outcome = run_cli(root, *NOW, "diff", "HEAD~1", "HEAD~1")
    assert outcome.code == 0, outcome.output


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_diff_reports_a_rule_that_does_not_compile_where_it_is_written(  # type: ignore[no-untyped-def]
        repo: Path, git_repo, monkeypatch: pytest.MonkeyPatch, jobs: str) -> None:
    """`diff` validates both revisions beside the access diff (in a forked child with two
    CPUs, after it with one): the access diff fails first on a rule naming an undefined
    group, and what the reader gets is the validation's error at its file:line:col, as
    a plain `validate` would say it, not the compiler's."""
    monkeypatch.setenv("RECONCILER_JOBS", jobs)
    root = _two_revisions(
        repo, git_repo, {"policies/zz.yaml": GOOD_TEST},
        {"policies/zz.yaml": GOOD_TEST + "acls:\n- {action: accept, src: [group:nope], "
                                          "dst: ['tag:prod:22']}\n"})
    outcome = run_cli(root, *NOW, "diff", "HEAD~1", "HEAD")
    assert outcome.code == 1, outcome.output
    said = run_cli(root, *NOW, "validate")
    assert said.code == 1
    where = [line for line in said.err.splitlines() if "group:nope" in line]
    assert where and where[0].startswith("policies/zz.yaml:4:"), said.err
    assert where[0] in outcome.err, outcome.err
    # And with both revisions valid, one CPU or two tell the same.
    fixed = _two_revisions(repo, git_repo, {"policies/zz.yaml": GOOD_TEST},
                           {"policies/zz.yaml": GOOD_TEST.replace("tag:prod:22", "tag:prod:443")})
    first = run_cli(fixed, *NOW, "diff", "HEAD~1", "HEAD")
    monkeypatch.setenv("RECONCILER_JOBS", "2" if jobs == "1" else "1")
    assert run_cli(fixed, *NOW, "diff", "HEAD~1", "HEAD") == first
    assert first.code == 0 and "tag:prod" in first.out, first.output

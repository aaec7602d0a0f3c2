"""The desired-state loader: files, merge, positions, metadata, git revisions."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from reconciler.core.errors import ConfigError, PolicyError
from reconciler.core.source import Location
from reconciler.load.desired import load_desired
from tests.conftest import commit_files

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)

BASE = {
    "policies/10-groups.yaml": (
        "groups:\n"
        "  group:eng: [alice@example.com, bob@example.com]\n"
        "tagOwners:\n"
        "  tag:prod: [group:eng]\n"
    ),
    "policies/20-rules.yaml": (
        "grants:\n"
        "  - name: eng-prod\n"
        "    src: [group:eng]\n"
        "    dst: [tag:prod]\n"
        "    ip: ['tcp:443']\n"
    ),
}


def messages(err: pytest.ExceptionInfo[PolicyError]) -> list[str]:
    return [str(p) for p in err.value.problems]


def test_merges_fragments_in_sorted_order_and_keeps_positions(write_tree) -> None:
    root = write_tree({
        **BASE,
        "policies/sub/30-more.hujson": (
            '{\n  // a comment\n  "grants": [\n    {"src": ["group:eng"], "dst": ["tag:prod"],'
            ' "ip": ["22"]},\n  ],\n}\n'
        ),
    })
    desired = load_desired(root, now=NOW)
    assert [g["ip"] for g in desired.policy["grants"]] == [["tcp:443"], ["22"]]
    assert desired.files == [
        "policies/10-groups.yaml", "policies/20-rules.yaml", "policies/sub/30-more.hujson",
    ]
    assert desired.where(("grants", 0, "dst", 0)) == Location("policies/20-rules.yaml", 4, 11)
    assert desired.where(("grants", 1, "ip", 0)) == Location("policies/sub/30-more.hujson", 4, 56)
    assert desired.where(("groups", "group:eng", 1)) == Location("policies/10-groups.yaml", 2, 34)
    # Metadata is stripped from the document but kept for addressing.
    assert "name" not in desired.policy["grants"][0]
    assert desired.meta[("grants", 0)].name == "eng-prod"


def test_same_key_in_two_files_names_both_places(write_tree) -> None:
    root = write_tree({**BASE, "policies/30-dup.yaml": "groups:\n  group:eng: [carol@example.com]\n"})
    with pytest.raises(PolicyError) as err:
        load_desired(root, now=NOW)
    assert messages(err) == [
        'policies/30-dup.yaml:2:3: groups["group:eng"] is defined twice: first at '
        "policies/10-groups.yaml:2:3"
    ]


def test_scalar_setting_twice_is_an_error(write_tree) -> None:
    root = write_tree({
        **BASE,
        "policies/a.yaml": "randomizeClientPort: true\n",
        "policies/b.yaml": "randomizeClientPort: false\n",
    })
    with pytest.raises(PolicyError) as err:
        load_desired(root, now=NOW)
    assert messages(err) == [
        'policies/b.yaml:1:1: "randomizeClientPort" is defined twice: first at policies/a.yaml:1:1'
    ]


def test_every_error_of_the_run_is_reported_together(write_tree) -> None:
    root = write_tree({
        **BASE,
        "policies/bad1.yaml": "groups: [unclosed\n",
        "policies/bad2.yaml": "tagOwners:\n  tag:x: []\n  tag:x: []\n",
        "policies/bad3.hujson": "{\"acls\": [}\n",
    })
    with pytest.raises(PolicyError) as err:
        load_desired(root, now=NOW)
    files = [p.location.file for p in err.value.problems]
    assert files == ["policies/bad1.yaml", "policies/bad2.yaml", "policies/bad3.hujson"]
    assert "duplicate key \"tag:x\"" in messages(err)[1]
    assert messages(err)[1].startswith("policies/bad2.yaml:3:3: ")


def test_fragment_must_be_a_mapping(write_tree) -> None:
    root = write_tree({**BASE, "policies/list.yaml": "- a\n- b\n"})
    with pytest.raises(PolicyError) as err:
        load_desired(root, now=NOW)
    assert messages(err) == [
        "policies/list.yaml:1:1: a fragment must be a mapping of policy sections, not a list"
    ]


def test_missing_policies_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="policies directory not found: policies"):
        load_desired(tmp_path, now=NOW)


def test_expired_entries_and_members_are_dropped_with_a_notice(write_tree) -> None:
    root = write_tree({
        "policies/groups.yaml": (
            "groups:\n"
            "  group:eng:\n"
            "    - alice@example.com\n"
            "    - {user: bob@example.com, expires: 2026-11-01, reason: incident}\n"
            "    - {user: carol@example.com, expires: '2026-12-01T00:00:00Z'}\n"
            "tagOwners:\n  tag:prod: []\n"
        ),
        "policies/rules.yaml": (
            "grants:\n"
            "  - {name: temp, expires: 2026-11-20, src: [group:eng], dst: [tag:prod], ip: ['*']}\n"
            "  - {name: keep, src: [group:eng], dst: [tag:prod], ip: ['tcp:22']}\n"
        ),
    })
    desired = load_desired(root, now=NOW)
    assert desired.policy["groups"]["group:eng"] == ["alice@example.com", "carol@example.com"]
    assert desired.policy["grants"] == [{"src": ["group:eng"], "dst": ["tag:prod"], "ip": ["tcp:22"]}]
    # Locations follow the kept entries to their new indexes.
    assert desired.where(("groups", "group:eng", 1)).line == 5
    assert desired.where(("grants", 0)).line == 3
    assert desired.meta[("grants", 0)].name == "keep"
    notices = [str(n) for n in desired.notices]
    assert any("bob@example.com" in n and "expired" in n for n in notices)
    assert any('"temp" expired' in n for n in notices)
    # Move the clock back: everything is in force again.
    earlier = load_desired(root, now=datetime(2026, 10, 1, tzinfo=timezone.utc))
    assert len(earlier.policy["groups"]["group:eng"]) == 3
    assert len(earlier.policy["grants"]) == 2


def test_bad_metadata_is_reported(write_tree) -> None:
    root = write_tree({
        "policies/p.yaml": (
            "tagOwners: {tag:prod: []}\n"
            "groups:\n  group:a: [{user: x@example.com, expires: soon}, {expires: 2027-01-01}]\n"
            "grants:\n"
            "  - {name: '', src: ['*'], dst: [tag:prod], ip: ['*']}\n"
            "  - {name: dup, src: ['*'], dst: [tag:prod], ip: ['22']}\n"
            "  - {name: dup, src: ['*'], dst: [tag:prod], ip: ['23']}\n"
        ),
    })
    with pytest.raises(PolicyError) as err:
        load_desired(root, now=NOW)
    text = "\n".join(messages(err))
    assert "expires 'soon' is not a date" in text
    assert "needs `user: <login>`" in text
    assert "name must be a non-empty string" in text
    assert 'name "dup" is used twice' in text


def test_devices_section_is_kept_apart_and_checked(write_tree) -> None:
    root = write_tree({
        **BASE,
        "policies/devices.yaml": (
            "devices:\n  db-1: {tags: [tag:prod]}\n  db-2: {tags: [tag:nope], colour: red}\n"
        ),
    })
    with pytest.raises(PolicyError) as err:
        load_desired(root, now=NOW)
    assert messages(err) == [
        'policies/devices.yaml:3:17: devices["db-2"]: tag not found: "tag:nope" (define it in tagOwners)',
        'policies/devices.yaml:3:28: devices["db-2"]: unknown field "colour"',
    ]


def test_reads_any_git_revision_without_checkout(git_repo) -> None:
    root = Path(git_repo.working_tree_dir)
    first = commit_files(git_repo, BASE, "first")
    commit_files(git_repo, {"policies/20-rules.yaml": BASE["policies/20-rules.yaml"].replace(
        "tcp:443", "tcp:8443")}, "second")
    (root / "policies" / "20-rules.yaml").write_text("grants: [oops\n")  # dirty, broken tree
    old = load_desired(root, ref=first, now=NOW)
    assert old.policy["grants"][0]["ip"] == ["tcp:443"]
    assert old.commit == first and not old.dirty
    head = load_desired(root, ref="HEAD", now=NOW)
    assert head.policy["grants"][0]["ip"] == ["tcp:8443"]
    assert head.where(("grants", 0, "ip", 0)).file == "policies/20-rules.yaml"
    with pytest.raises(PolicyError):
        load_desired(root, now=NOW)  # the working tree is what is broken


def test_working_tree_reports_commit_and_dirty(git_repo) -> None:
    root = Path(git_repo.working_tree_dir)
    sha = commit_files(git_repo, BASE, "first")
    clean = load_desired(root, now=NOW)
    assert (clean.commit, clean.dirty) == (sha, False)
    (root / "policies" / "30-new.yaml").write_text("hosts: {db: 100.64.0.9}\n")
    dirty = load_desired(root, now=NOW)
    assert (dirty.commit, dirty.dirty) == (sha, True)


def test_unknown_revision_is_a_clear_error(git_repo) -> None:
    from reconciler.core.errors import GitError

    root = Path(git_repo.working_tree_dir)
    commit_files(git_repo, BASE, "first")
    with pytest.raises(GitError, match='unknown git revision "nope"'):
        load_desired(root, ref="nope", now=NOW)

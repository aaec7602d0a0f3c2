"""Just-in-time access is visible to the reviewer, through the real CLI.

A real git repository, the local SQLite store as the control plane, `--now` fixing the
clock. A contractor is added for a few days (a group member `{user, expires, reason}`
and a named grant with `expires`): every plan format shows until when (UTC) and how long
is left; after the expiry the grant is destroyed under its name; lint counts exactly;
a saved plan with expiries passes `show` and `apply`, and one whose expiry was edited is
refused.
"""

from __future__ import annotations

import json
from pathlib import Path

from reconciler.plan import planfile
from tests.plan.conftest import ACCESS, GROUPS, Repo

APPLIED = "2026-12-01T09:00:00Z"
NOON = "2026-12-02T12:00:00Z"  # 2 days 12 h before the contractor's access ends
AFTER = "2026-12-06T00:00:00Z"  # a day after it ended

CONTRACTOR = {
    "policies/groups.yaml": GROUPS + """\
  group:vendor:
    - {user: vic@vendor.example, expires: 2026-12-05, reason: "migration INC-42"}
""",
    "policies/access.yaml": ACCESS + """\
  - name: contractor-ssh
    description: vendor migration, INC-42
    expires: 2026-12-05
    src: [group:vendor]
    dst: [tag:prod]
    ip: ["tcp:22"]
""",
}
MEMBER_LINE = ("# vic@vendor.example until 2026-12-05 00:00 UTC (2 days 12 h left): "
               "migration INC-42")
GRANT_LINE = ("# in force until 2026-12-05 00:00 UTC (2 days 12 h left): "
              "vendor migration, INC-42")


def _applied_then_contractor(repo: Repo) -> None:
    r = repo.run("--now", APPLIED, "apply", "--auto-approve")
    assert r.exit_code == 0, r.output
    repo.commit(CONTRACTOR, "vic, a contractor, until December 5th")


def _after(lines: list[str], header: str) -> str:
    """The line right after a resource's `# ... will be ...` header."""
    i = next(i for i, line in enumerate(lines) if line.strip() == header)
    return lines[i + 1].strip()


def test_text_plan_shows_each_expiry_under_its_resource(local_repo: Repo) -> None:
    _applied_then_contractor(local_repo)
    r = local_repo.run("--now", NOON, "plan")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert _after(lines, '# groups["group:vendor"] will be created') == MEMBER_LINE
    assert _after(lines, '# grants["contractor-ssh"] will be created') == GRANT_LINE


def test_updated_group_shows_the_new_members_expiry(local_repo: Repo) -> None:
    r = local_repo.run("--now", APPLIED, "apply", "--auto-approve")
    assert r.exit_code == 0, r.output
    local_repo.commit({"policies/groups.yaml": GROUPS.replace(
        "group:eng: [alice@example.com, bob@example.com]",
        "group:eng:\n    - alice@example.com\n    - bob@example.com\n"
        "    - {user: vic@vendor.example, expires: '2026-12-03T18:30:00+01:00'}")})
    r = local_repo.run("--now", NOON, "plan")
    assert r.exit_code == 0, r.output
    # A zoned time is that instant, shown in UTC.
    assert _after(r.output.splitlines(), '# groups["group:eng"] will be updated in-place') \
        == "# vic@vendor.example until 2026-12-03 17:30 UTC (1 day 5 h left)"


def test_markdown_comment_lists_expiries_outside_the_collapsed_plan(local_repo: Repo) -> None:
    _applied_then_contractor(local_repo)
    r = local_repo.run("--now", NOON, "plan", "--format", "markdown")
    assert r.exit_code == 0, r.output
    head, _, block = r.output.partition("<details>")
    assert ("**Just-in-time access** (times in UTC; time left as of 2026-12-02 12:00 UTC):"
            in head)
    assert ('- `groups["group:vendor"]`: ' + MEMBER_LINE[2:]) in head
    assert ('- `grants["contractor-ssh"]`: ' + GRANT_LINE[2:]) in head
    assert "  " + MEMBER_LINE in block  # and in the diff, under its resource


def test_json_plan_gives_structured_expiries(local_repo: Repo) -> None:
    _applied_then_contractor(local_repo)
    r = local_repo.run("--now", NOON, "plan", "--format", "json")
    assert r.exit_code == 0, r.output
    changes = {c["address"]: c for c in json.loads(r.stdout)["resource_changes"]}
    left = 2 * 86400 + 12 * 3600
    assert changes['groups["group:vendor"]']["expiries"] == [
        {"subject": "vic@vendor.example", "expires": "2026-12-05T00:00:00Z",
         "seconds_left": left, "expired": False, "reason": "migration INC-42"}]
    assert changes['grants["contractor-ssh"]']["expiries"] == [
        {"subject": 'grants["contractor-ssh"]', "expires": "2026-12-05T00:00:00Z",
         "seconds_left": left, "expired": False, "reason": "vendor migration, INC-42"}]


def test_saved_plan_with_expiries_passes_show_and_apply(local_repo: Repo) -> None:
    _applied_then_contractor(local_repo)
    r = local_repo.run("--now", NOON, "plan", "-o", "jit.plan.json")
    assert r.exit_code == 0, r.output
    r = local_repo.run("show", "jit.plan.json")
    assert r.exit_code == 0, r.output
    assert MEMBER_LINE in r.output and GRANT_LINE in r.output
    r = local_repo.run("apply", "jit.plan.json")
    assert r.exit_code == 0, r.output
    assert "Apply complete! Resources: 2 added, 0 changed, 0 destroyed." in r.output


def test_saved_plan_with_an_edited_expiry_is_refused(local_repo: Repo) -> None:
    _applied_then_contractor(local_repo)
    assert local_repo.run("--now", NOON, "plan", "-o", "jit.plan.json").exit_code == 0
    path = local_repo.root / "jit.plan.json"
    data = json.loads(path.read_text())
    for change in data["resource_changes"]:
        for expiry in change["expiries"]:
            expiry["seconds_left"] += 30 * 86400  # "a month left" for the same instant
    _rewrite(path, data)
    r = local_repo.run("show", "jit.plan.json")
    assert r.exit_code == 1, r.output
    assert "does not belong to it; the plan file is refused" in r.output
    assert "Traceback" not in r.output


def _rewrite(path: Path, data: dict) -> None:
    """A careless edit that recomputes the checksum (no key: nothing signs the plan)."""
    data.pop("integrity")
    data["integrity"] = {"checksum": planfile._checksum(planfile.canonical_bytes(data)),
                         "signature": None}
    path.write_text(json.dumps(data, indent=2))


def test_expired_entry_is_destroyed_under_its_name(local_repo: Repo) -> None:
    _applied_then_contractor(local_repo)
    assert local_repo.run("--now", NOON, "apply", "--auto-approve").exit_code == 0
    r = local_repo.run("--now", AFTER, "plan")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert _after(lines, '# grants["contractor-ssh"] will be destroyed') == \
        "# (expired at 2026-12-05 00:00 UTC: vendor migration, INC-42)"
    assert _after(lines, '# groups["group:vendor"] will be updated in-place') == \
        "# (vic@vendor.example's access expired at 2026-12-05 00:00 UTC: migration INC-42)"
    r = local_repo.run("--now", AFTER, "plan", "--format", "json")
    changes = json.loads(r.stdout)["resource_changes"]
    assert sorted(c["address"] for c in changes) == [
        'grants["contractor-ssh"]', 'groups["group:vendor"]']
    grant = next(c for c in changes if c["section"] == "grants")
    assert grant["actions"] == ["delete"] and grant["key"] == "contractor-ssh"
    assert grant["expiries"][0]["expired"] is True
    assert grant["expiries"][0]["seconds_left"] == -86400
    # Saved, shown and applied: the recomputation takes the name from the record.
    assert local_repo.run("--now", AFTER, "plan", "-o", "rev.plan.json").exit_code == 0
    r = local_repo.run("show", "rev.plan.json")
    assert r.exit_code == 0, r.output
    assert '# grants["contractor-ssh"] will be destroyed' in r.output
    r = local_repo.run("apply", "rev.plan.json")
    assert r.exit_code == 0, r.output
    assert '# grants["contractor-ssh"] destroyed' in r.output
    assert "Apply complete! Resources: 0 added, 1 changed, 1 destroyed." in r.output


def test_revocations_only_names_what_it_destroys(local_repo: Repo) -> None:
    _applied_then_contractor(local_repo)
    assert local_repo.run("--now", NOON, "apply", "--auto-approve").exit_code == 0
    r = local_repo.run("--now", AFTER, "apply", "--revocations-only", "--auto-approve")
    assert r.exit_code == 0, r.output
    assert '# grants["contractor-ssh"] destroyed' in r.output
    assert "# (expired at 2026-12-05 00:00 UTC: vendor migration, INC-42)" in r.output


def test_unnamed_expired_entry_says_why_it_goes(local_repo: Repo) -> None:
    r = local_repo.run("--now", APPLIED, "apply", "--auto-approve")
    assert r.exit_code == 0, r.output
    local_repo.commit({"policies/access.yaml": ACCESS + """\
  - expires: 2026-12-05T06:00:00Z
    src: [group:eng]
    dst: [tag:prod]
    ip: ["tcp:8080"]
"""})
    assert local_repo.run("--now", NOON, "apply", "--auto-approve").exit_code == 0
    r = local_repo.run("--now", AFTER, "plan")
    assert r.exit_code == 0, r.output
    header = next(line.strip() for line in r.output.splitlines()
                  if line.strip().startswith("# grants[") and "destroyed" in line)
    assert _after(r.output.splitlines(), header) == "# (expired at 2026-12-05 06:00 UTC)"


def test_a_bare_date_ends_access_at_the_start_of_that_day_utc(local_repo: Repo) -> None:
    local_repo.commit(CONTRACTOR)
    r = local_repo.run("--now", "2026-12-04T23:59:59Z", "compile", "--format", "json")
    assert r.exit_code == 0, r.output
    policy = json.loads(r.stdout)
    assert policy["groups"]["group:vendor"] == ["vic@vendor.example"]
    assert len(policy["grants"]) == 3
    r = local_repo.run("--now", "2026-12-05T00:00:00Z", "compile", "--format", "json")
    assert r.exit_code == 0, r.output
    policy = json.loads(r.stdout)
    assert policy["groups"]["group:vendor"] == [] and len(policy["grants"]) == 2
    assert ('groups["group:vendor"][0] "vic@vendor.example" expired at 2026-12-05 00:00 UTC'
            in r.stderr)


def test_lint_counts_the_time_left_exactly(local_repo: Repo) -> None:
    local_repo.commit(CONTRACTOR)
    r = local_repo.run("--now", NOON, "lint")
    assert ("vic@vendor.example leaves group:vendor at 2026-12-05 00:00 UTC "
            "(in 2 days 12 h)") in r.output
    assert ('grants[2] "contractor-ssh" expires at 2026-12-05 00:00 UTC (in 2 days 12 h)'
            in r.output)
    # Written three days ahead at midnight: three days.
    r = local_repo.run("--now", "2026-12-02T00:00:00Z", "lint")
    assert "leaves group:vendor at 2026-12-05 00:00 UTC (in 3 days)" in r.output
    r = local_repo.run("--now", "2026-12-04T23:15:00Z", "lint")
    assert "leaves group:vendor at 2026-12-05 00:00 UTC (in 45 min)" in r.output


def test_github_annotations_carry_the_expiry(local_repo: Repo) -> None:
    _applied_then_contractor(local_repo)
    r = local_repo.run("--now", NOON, "plan", "--format", "github")
    assert r.exit_code == 0, r.output
    assert ('groups["group:vendor"] will be created; vic@vendor.example until 2026-12-05 '
            "00:00 UTC (2 days 12 h left): migration INC-42") in r.output


def test_a_named_entry_deleted_from_git_is_destroyed_under_its_name(local_repo: Repo) -> None:
    r = local_repo.run("--now", APPLIED, "apply", "--auto-approve")
    assert r.exit_code == 0, r.output
    without = ACCESS.replace('  - name: eng-web\n    src: [group:eng]\n    dst: [tag:prod]\n'
                             '    ip: ["tcp:443"]\n', "")
    assert without != ACCESS
    local_repo.commit({"policies/access.yaml": without,
                       "policies/tests.yaml": "tests:\n  - src: frank@example.com\n"
                                              "    accept: ['tag:db:5432']\n"})
    r = local_repo.run("--now", NOON, "plan", "-o", "del.plan.json")
    assert r.exit_code == 0, r.output
    assert '# grants["eng-web"] will be destroyed' in r.output
    r = local_repo.run("apply", "del.plan.json")
    assert r.exit_code == 0, r.output
    assert '# grants["eng-web"] destroyed' in r.output

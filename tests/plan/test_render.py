"""Renderers: golden files pin the text and Markdown pages of a small plan that has an
update, a create, a delete, drift and a failing test; JSON and GitHub output are checked
field by field. The plan is built by the real planner from real fragments (no git, no
clock: the goldens hold no timestamps or absolute paths). UPDATE_GOLDEN=1 rewrites them.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

import pytest

from reconciler.commands.plan import test_results as run_local_tests
from reconciler.diff.changes import Origin, Plan
from reconciler.diff.normalize import content_hash, normalize_entry
from reconciler.engine import synthetic_inventory
from reconciler.load.desired import Desired, merge_fragments, parse_fragment
from reconciler.load.document import read_header, to_hujson
from reconciler.plan.planner import BaseState, LiveState, build_plan
from reconciler.render import github, json_, markdown, text

GOLDEN = Path(__file__).parent / "golden"
NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)
BASE_COMMIT = "a" * 40
HEAD_COMMIT = "b" * 40

BASE_FILES = {
    "policies/groups.yaml": """\
groups:
  group:eng: [alice@example.com, bob@example.com, carol@example.com]
  group:legacy: [old@example.com]
tagOwners:
  tag:web: [group:eng]
  tag:db: [group:eng]
""",
    "policies/access.yaml": """\
grants:
  - name: eng-web
    src: [group:eng]
    dst: [tag:web]
    ip: ["tcp:443"]
tests:
  - src: alice@example.com
    accept: ["tag:web:443"]
""",
}

HEAD_FILES = {
    "policies/groups.yaml": """\
groups:
  group:eng: [alice@example.com, bob@example.com, dave@example.com]
tagOwners:
  tag:web: [group:eng]
  tag:db: [group:eng]
""",
    "policies/access.yaml": """\
grants:
  - name: eng-web
    src: [group:eng]
    dst: [tag:web]
    ip: ["tcp:443"]
  - name: eng-db
    description: Engineers read the database.
    src: [group:eng]
    dst: [tag:db]
    ip: ["tcp:5432"]
tests:
  - src: alice@example.com
    accept: ["tag:web:443", "tag:db:5432"]
  - src: bob@example.com
    deny: ["tag:db:5432"]
""",
}


def desired_from(files: dict[str, str], commit: str) -> Desired:
    fragments = []
    for name, body in sorted(files.items()):
        fragment, problems = parse_fragment(name, body.encode())
        assert fragment is not None and not problems
        fragments.append(fragment)
    desired = merge_fragments(fragments, now=NOW)
    desired.commit = commit
    return desired


def sample_plan() -> Plan:
    base = desired_from(BASE_FILES, BASE_COMMIT)
    head = desired_from(HEAD_FILES, HEAD_COMMIT)
    # Live is the base as applied, then edited in the console: tag:web gained an owner.
    applied = to_hujson(base.policy, commit=BASE_COMMIT)
    edited = json.loads(json.dumps(base.policy))
    edited["tagOwners"]["tag:web"].append("group:legacy")
    header = read_header(applied)
    live = LiveState(text=applied, etag='"etag-1"', policy=edited, header=header)
    tests = run_local_tests(head, synthetic_inventory(head.policy))
    return build_plan(target="prod", identity="tailscale:-@https://api.example.com",
                      desired=head, live=live, base=BaseState(BASE_COMMIT, (base,)),
                      devices=None, tests=tests, created_at="2026-06-01T00:00:00Z",
                      tool_version="0.0.0")


def check_golden(name: str, got: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(got, encoding="utf-8")
    assert got == path.read_text(encoding="utf-8"), f"{name} differs; UPDATE_GOLDEN=1 rewrites"


def test_sample_plan_has_each_kind_of_change() -> None:
    plan = sample_plan()
    got = {c.address: (c.action.value, c.origin) for c in plan.changes}
    h = {name: content_hash(normalize_entry("tests", entry)) for name, entry in (
        ("old", {"src": "alice@example.com", "accept": ["tag:web:443"]}),
        ("alice", {"src": "alice@example.com", "accept": ["tag:web:443", "tag:db:5432"]}),
        ("bob", {"src": "bob@example.com", "deny": ["tag:db:5432"]}))}
    assert got == {
        'grants["eng-db"]': ("create", Origin.PENDING),
        'groups["group:eng"]': ("update", Origin.PENDING),
        'groups["group:legacy"]': ("delete", Origin.PENDING),
        'tagOwners["tag:web"]': ("update", Origin.DRIFT),
        f'tests["{h["old"]}"]': ("delete", Origin.PENDING),
        f'tests["{h["alice"]}"]': ("create", Origin.PENDING),
        f'tests["{h["bob"]}"]': ("create", Origin.PENDING),
    }
    assert [c.address for c in plan.drift] == ['tagOwners["tag:web"]']
    assert plan.tests.failed == 1 and not plan.applyable


def test_text_golden() -> None:
    check_golden("plan.txt", text.render_plan(sample_plan(), plan_path="prod.plan.json"))


def test_markdown_golden() -> None:
    check_golden("plan.md", markdown.render_plan(sample_plan()))


def test_text_no_changes_and_saved_footer() -> None:
    plan = sample_plan()
    plan.changes, plan.drift = [], []
    out = text.render_plan(plan, plan_path="x.json")
    assert "No changes. The live policy matches the desired state." in out
    assert "Saved the plan" not in out and "Plan:" not in out


def test_unsaved_plan_warns_it_cannot_be_applied_exactly() -> None:
    plan = sample_plan()
    plan.tests = type(plan.tests)(passed=3)
    plan.applyable = True
    out = text.render_plan(plan)
    assert "You didn't use the -o option" in out
    assert "Saved the plan" not in text.render_plan(plan)


def test_json_is_versioned_and_scannable() -> None:
    data = json.loads(json_.render_plan(sample_plan()))
    assert data["format_version"] == "1.1"
    assert "document" not in data  # the plan file has it; stdout JSON does not
    deletes = [c["address"] for c in data["resource_changes"] if "delete" in c["actions"]]
    assert deletes[0] == 'groups["group:legacy"]' and deletes[1].startswith("tests[")
    assert len(deletes) == 2
    eng = next(c for c in data["resource_changes"] if c["address"] == 'groups["group:eng"]')
    assert eng["fields"] == [{"field": "members", "added": ["dave@example.com"],
                              "removed": ["carol@example.com"], "unchanged": 2}]
    assert data["summary"] == {"add": 3, "change": 2, "destroy": 2}
    assert data["tests"]["failed"] == 1 and data["applyable"] is False
    assert data["resource_drift"][0]["origin"] == "drift"


def test_github_annotations() -> None:
    out = github.render_plan(sample_plan())
    lines = out.splitlines()
    failure = next(line for line in lines if line.startswith("::error"))
    assert failure.startswith("::error file=policies/access.yaml,line=")
    assert "want: Drop, got: Accept" in failure or "want:" in failure
    assert any(line.startswith("::warning") and "tagOwners" in line for line in lines)
    assert lines[-1].startswith("::notice title=reconciler plan%3A prod::Plan: 3 to add")


@pytest.mark.parametrize("message", ["a,b:c", "100%\nnext"])
def test_github_escaping(message: str) -> None:
    line = github.annotation("error", message, "dir/a,b.yaml:3:4")
    assert "\n" not in line
    assert line.startswith("::error file=dir/a%2Cb.yaml,line=3,col=4::")

"""A plan that re-tags devices says who gains and who loses access by it: a device that
gains `tag:prod` gains what `tag:prod` reaches and is reached as `tag:prod` is, and
loses what its old tags gave it. Through the real CLI against the local store: every
plan format shows it, the saved plan applies, and a plan whose access section (or
device change) was edited afterwards is refused by `show` and `apply`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.plan.conftest import Repo
from tests.plan.test_device_preconditions import tags_of
from tests.plan.test_plan_trust import load, rechecksum, refused, save

# db-1 moves from tag:db to tag:prod, prod-web-1 the other way (the demo store's devices).
AS_THEY_ARE = "devices:\n  db-1:\n    tags: [tag:db]\n  prod-web-1:\n    tags: [tag:prod]\n"
SWAPPED = "devices:\n  db-1:\n    tags: [tag:prod]\n  prod-web-1:\n    tags: [tag:db]\n"


def applied(repo: Repo) -> None:
    """The policy and the devices as they are, applied: only tags change from here."""
    repo.commit({"policies/devices.yaml": AS_THEY_ARE})
    r = repo.run("apply", "--auto-approve")
    assert r.exit_code == 0, r.output



@pytest.fixture
def retag_plan(local_repo: Repo, tmp_path: Path) -> Path:
    """Applied once, then db-1 and prod-web-1 swap tags in git: the saved plan's path."""
    applied(local_repo)
    local_repo.commit({"policies/devices.yaml": SWAPPED})
    plan = tmp_path / "retag.plan.json"
    assert local_repo.run("plan", "-o", str(plan)).exit_code == 0
    return plan

def test_a_plan_that_only_re_tags_devices_shows_the_access_they_gain_and_lose(
        local_repo: Repo, tmp_path: Path) -> None:
    applied(local_repo)
    local_repo.commit({"policies/devices.yaml": SWAPPED})

    r = local_repo.run("plan")
    assert r.exit_code == 0, r.output
    assert "grants[" not in r.output.split("Access changes:")[0]  # no policy change
    access = r.output.split("Access changes:")[1]
    # group:eng reaches tag:prod on tcp:443 (eng-web): db-1 joins it, prod-web-1 leaves.
    assert "+ group:eng gains tcp:443 on " in access and "(db-1)" in access
    assert "- group:eng loses tcp:443 on " in access and "(prod-web-1)" in access
    # Each cites the device's entry in the desired state, and the rule (by its name, at
    # its line in the fragments: the live entry is the applied one).
    assert ('(db-1) (1 device)  [grants["eng-web"] at policies/access.yaml:2, '
            'devices["db-1"].tags at policies/devices.yaml:2]') in access
    assert ('(prod-web-1) (1 device)  [grants["eng-web"] at policies/access.yaml:2, '
            'devices["prod-web-1"].tags at policies/devices.yaml:4]') in access
    assert "note: db-1 is re-tagged tag:prod (was tag:db)" in access
    assert "Access: 1 gained, 1 lost." in access

    data = json.loads(local_repo.run("plan", "--format", "json").output)
    body = data.get("plan", data)
    found = body["access"]
    assert [c["src"] for c in found["gained"]] == ["group:eng"]
    assert [c["ip"] for c in found["lost"]] == ["tcp:443"]
    assert {r["path"] for r in found["gained"][0]["rules"]} == {"grants[0]", "devices.db-1.tags"}

    md = local_repo.run("plan", "--format", "markdown").output
    assert "group:eng" in md and "db-1" in md and "prod-web-1" in md
    assert "re-tagged tag:prod" in md


def test_the_saved_re_tag_plan_passes_its_recompute_and_applies(
        local_repo: Repo, retag_plan: Path) -> None:
    plan = retag_plan
    assert load(plan)["access"]["counts"] == {"gained": 1, "lost": 1}

    r = local_repo.run("show", str(plan))
    assert r.exit_code == 0, r.output
    assert "+ group:eng gains tcp:443" in r.output
    r = local_repo.run("apply", str(plan))
    assert r.exit_code == 0, r.output
    assert tags_of(local_repo, "db-1") == ["tag:prod"]
    assert tags_of(local_repo, "prod-web-1") == ["tag:db"]


def test_an_edited_access_section_of_a_re_tag_plan_is_refused(
        local_repo: Repo, retag_plan: Path) -> None:
    plan = retag_plan

    data = load(plan)
    data["access"]["lost"] = []  # hide that prod-web-1 loses access
    data["access"]["counts"]["lost"] = 0
    save(plan, rechecksum(data))
    refused(local_repo, plan, "access changes recorded in the plan differ")
    assert tags_of(local_repo, "db-1") == ["tag:db"]


def test_a_re_tag_plan_whose_access_was_dropped_is_refused(
        local_repo: Repo, retag_plan: Path) -> None:
    plan = retag_plan

    data = load(plan)
    data["access"] = None
    save(plan, rechecksum(data))
    refused(local_repo, plan, "the access changes do not follow", "none recorded")


def test_a_device_change_edited_after_the_plan_is_refused(
        local_repo: Repo, retag_plan: Path) -> None:
    """Widening a re-tag (db-1 to tag:prod and tag:ci) changes the access it implies."""
    plan = retag_plan

    data = load(plan)
    change = next(d for d in data["device_changes"] if d["device"] == "prod-web-1")
    change["after"] = ["tag:db", "tag:prod"]  # keeps its eng access after all
    save(plan, rechecksum(data))
    refused(local_repo, plan, "access changes recorded in the plan differ")

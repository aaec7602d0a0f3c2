"""The plan file: round trip, atomic writes, refusals of foreign or damaged files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.core.errors import PlanFileError, UnsupportedPlanFormat
from reconciler.plan import planfile
from tests.plan.test_render import sample_plan


def test_round_trip_keeps_everything_apply_and_reviewers_need(tmp_path: Path) -> None:
    plan = sample_plan()
    path = tmp_path / "out" / "prod.plan.json"
    planfile.write(plan, path)
    back = planfile.read(path)
    assert back == plan
    data = json.loads(path.read_text())
    for key in ("format_version", "tool_version", "created_at", "target", "desired",
                "prior", "document", "device_changes", "resource_changes", "tests",
                "applyable"):
        assert key in data
    assert data["target"] == {"name": "prod", "identity": "tailscale:-@https://api.example.com"}
    assert data["prior"]["etag"] == '"etag-1"'
    assert data["document"].startswith("// Managed by reconciler")
    assert "// reconciler: commit=" + "b" * 40 in data["document"]
    # Nothing but the plan is left behind in the directory (the temp file was renamed).
    assert sorted(p.name for p in path.parent.iterdir()) == ["prod.plan.json"]


def test_write_replaces_atomically(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text("old")
    planfile.write(sample_plan(), path)
    assert json.loads(path.read_text())["kind"] == "reconciler-plan"


@pytest.mark.parametrize(("content", "error", "words"), [
    ("not json", UnsupportedPlanFormat, "not a reconciler plan file"),
    ('{"kind": "terraform"}', UnsupportedPlanFormat, "not a reconciler plan file"),
    ('{"kind": "reconciler-plan", "format_version": "9.0"}', UnsupportedPlanFormat,
     'unsupported plan format version "9.0"'),
    ('{"kind": "reconciler-plan", "format_version": "1.0"}', UnsupportedPlanFormat,
     "carries no checksum"),
    ('{"kind": "reconciler-plan", "format_version": "1.1"}', PlanFileError,
     "plan: missing field 'access'"),
])
def test_foreign_and_damaged_files_are_refused(tmp_path: Path, content: str,
                                                error: type, words: str) -> None:
    path = tmp_path / "p.json"
    path.write_text(content)
    with pytest.raises(error) as info:
        planfile.read(path)
    assert words in info.value.summary
    assert info.value.detail  # says what to do


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PlanFileError, match="cannot read the plan file"):
        planfile.read(tmp_path / "nope.json")

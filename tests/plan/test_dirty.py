"""Plans of uncommitted changes say so in every format, and `--require-clean` refuses
them (exit 1, no plan file, nothing applied); through the real CLI in a real git
repository against the real local store."""

from __future__ import annotations

import json
from pathlib import Path

from tests.plan.conftest import DESIRED, Repo
from tests.plan.test_plan_trust import store_bytes

WORDS = "the desired state has uncommitted changes"


def make_dirty(repo: Repo) -> None:
    repo.write({"policies/groups.yaml": DESIRED["policies/groups.yaml"].replace(
        "bob@example.com]", "bob@example.com, carol@example.com]")})


def test_a_clean_tree_says_nothing(local_repo: Repo, tmp_path: Path) -> None:
    for fmt in ("text", "json", "markdown", "github"):
        r = local_repo.run("plan", "--format", fmt)
        assert r.exit_code == 0 and WORDS not in r.output, (fmt, r.output)
    assert local_repo.run("plan", "--require-clean", "-o", str(tmp_path / "p")).exit_code == 0


def test_every_format_of_a_dirty_plan_says_so(local_repo: Repo, tmp_path: Path) -> None:
    make_dirty(local_repo)
    head = local_repo.repo.head.commit.hexsha
    out = tmp_path / "dirty.plan.json"
    r = local_repo.run("plan", "-o", str(out))
    assert r.exit_code == 0, r.output
    assert f"Warning: {WORDS}" in r.output and head[:12] in r.output
    data = json.loads(local_repo.run("plan", "--format", "json").output)
    assert data["desired"]["dirty"] is True
    assert any(WORDS in m["text"] and m["severity"] == "warning" for m in data["messages"])
    md = local_repo.run("plan", "--format", "markdown").output
    assert f"> [!CAUTION]\n> {WORDS}" in md and "(uncommitted changes)" in md
    gh = local_repo.run("plan", "--format", "github").output
    assert any(line.startswith("::warning::" + WORDS) for line in gh.splitlines()), gh
    # The saved plan says it too, in show and when applied.
    for fmt in ("text", "json", "markdown", "github"):
        shown = local_repo.run("show", str(out), "--format", fmt)
        assert shown.exit_code == 0 and WORDS in shown.output, (fmt, shown.output)
    r = local_repo.run("apply", str(out))
    assert r.exit_code == 0 and f"Warning: {WORDS}" in r.output, r.output


def test_require_clean_refuses_plan_and_apply(local_repo: Repo, tmp_path: Path) -> None:
    out = tmp_path / "dirty.plan.json"
    make_dirty(local_repo)
    r = local_repo.run("plan", "--require-clean", "-o", str(out))
    assert r.exit_code == 1, r.output
    assert "Error: --require-clean: the desired state has uncommitted changes" in r.output
    assert "Commit the changes" in r.output
    assert not out.exists()
    assert local_repo.run("plan", "--all", "--require-clean").exit_code == 1

    before = store_bytes(local_repo)
    r = local_repo.run("apply", "--auto-approve", "--require-clean")
    assert r.exit_code == 1 and "--require-clean" in r.output, r.output
    assert store_bytes(local_repo) == before
    assert local_repo.run("plan", "-o", str(out)).exit_code == 0
    r = local_repo.run("apply", str(out), "--require-clean")
    assert r.exit_code == 1 and "--require-clean" in r.output, r.output
    assert store_bytes(local_repo) == before
    # Committed, the same command goes through.
    local_repo.commit(message="commit the edit")
    r = local_repo.run("apply", "--auto-approve", "--require-clean")
    assert r.exit_code == 0 and "Apply complete!" in r.output, r.output


def test_files_beside_the_desired_state_do_not_make_it_dirty(
        local_repo: Repo, tmp_path: Path) -> None:
    """A CI job makes `.venv/` in its checkout, someone leaves `report.html` and notes
    lying about: the desired state (policies/ and reconciler.yaml) is still committed,
    so the plan does not call itself uncommitted and --require-clean lets it through.
    A new fragment nobody committed, or an edited reconciler.yaml, still counts."""
    local_repo.write({".venv/bin/python": "#!\n", "report.html": "<p>old report</p>\n",
                      "notes/todo.txt": "ask sam about tag:db\n"})
    r = local_repo.run("plan", "--require-clean", "-o", str(tmp_path / "a.plan.json"))
    assert r.exit_code == 0 and WORDS not in r.output, r.output

    local_repo.write({"policies/new.yaml": "groups:\n  group:new: [nia@example.com]\n"})
    r = local_repo.run("plan", "--require-clean", "-o", str(tmp_path / "b.plan.json"))
    assert r.exit_code == 1 and "--require-clean" in r.output, r.output
    (local_repo.root / "policies/new.yaml").unlink()

    config = local_repo.root / "reconciler.yaml"
    config.write_text(config.read_text() + "sensitive_tags: [tag:prod]\n")
    r = local_repo.run("plan", "--require-clean", "-o", str(tmp_path / "c.plan.json"))
    assert r.exit_code == 1 and "--require-clean" in r.output, r.output

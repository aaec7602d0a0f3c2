"""`sensitive_tags:` in reconciler.yaml decides which destinations make a gain risky in
every picture of a change, as it does in `reconciler report`: the plan's markdown (and
its step summary with --format github), `show PLAN`, `diff --format markdown` and the
Action's comment. The plan file carries the tags so `show` and the Action judge as `plan`
did; an edit of them is refused like any other edit. Without the key, tags named like
production are sensitive (the documented default), and plan files stay as they were."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from reconciler.plan import planfile
from tests.github.test_action import github_env, outputs, run_step  # noqa: F401
from tests.pictures.test_pictures import example_repo
from tests.report.test_report import git, run

# dave, in group:sre too, has SSH on the databases already.
DB_SSH = "> - `group:eng (4 of 5)` gains ssh on `tag:db`: ssh, sensitive tag:db"
PROD_K8S = ("> - `group:eng (4 of 5)` gains kubernetes on `tag:prod`: kubernetes, "
            "sensitive tag:prod")


def _warnings(markdown: str) -> list[str]:
    """The risky gains called out above the diagram."""
    return [line for line in markdown.splitlines() if re.match(r"^> - `", line)]


def _first_arrow(markdown: str) -> tuple[str, str]:
    """The first arrow of the Mermaid block: its label and the box it points to."""
    block = re.search(r"```mermaid\n(.*?)```", markdown, re.S)
    assert block, markdown
    boxes = dict(re.findall(r'^  (n\d+)\["(.*)"\]$', block[1], re.M))
    label, to = re.findall(r'^  n\d+ [=.-]+>\|"(.*)"\| (n\d+)$', block[1], re.M)[0]
    return label, boxes[to]


def _engineers_get_admin(repo: Path, sensitive: str | None) -> None:
    """Applied: the example organisation; committed: engineers gain the Kubernetes API
    on production and SSH on the databases."""
    if sensitive is not None:
        with (repo / "reconciler.yaml").open("a") as f:
            f.write(f"sensitive_tags: [{sensitive}]\n")
        git(repo, "commit", "-qam", "sensitive tags")
    applied = run(repo, "apply", "--auto-approve", "--adopt")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    eng = repo / "policies" / "acls" / "engineering.yaml"
    text = eng.read_text()
    assert 'dst: [tag:prod]\n    ip: ["tcp:443"]' in text
    eng.write_text(text.replace('dst: [tag:prod]\n    ip: ["tcp:443"]',
                                'dst: [tag:prod]\n    ip: ["tcp:443", "tcp:6443"]')
                   + "  - name: eng-db-ssh\n    src: [group:eng]\n    dst: [tag:db]\n"
                     "    ip: [\"tcp:22\"]\n")
    git(repo, "commit", "-qam", "engineers get k8s on prod, SSH on db")


def test_configured_sensitive_tags_decide_every_picture(
        tmp_path: Path, github_env: dict[str, Any], monkeypatch: pytest.MonkeyPatch,  # noqa: F811
) -> None:
    repo = example_repo(tmp_path)
    _engineers_get_admin(repo, "tag:db")

    plan = run(repo, "plan", "--format", "markdown")
    assert plan.returncode == 0, plan.stderr
    # tag:db is sensitive (configured), tag:prod is not: engineers are no outsiders, so
    # only SSH on the databases hits two of the three questions, not the Kubernetes API
    # on production.
    assert _warnings(plan.stdout) == [DB_SSH]
    label, box = _first_arrow(plan.stdout)
    assert label.startswith("⚠ + ssh") and box == "tag:db"

    # The plan file carries the tags; `show` renders what `plan` did.
    assert run(repo, "plan", "-o", "plan.json").returncode in (0, 2)
    saved = json.loads((repo / "plan.json").read_text())
    assert saved["sensitive_tags"] == ["tag:db"]
    shown = run(repo, "show", "plan.json", "--format", "markdown")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == plan.stdout

    # --format github: the step summary is the same markdown.
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert run(repo, "plan", "--format", "github").returncode == 0
    monkeypatch.delenv("GITHUB_STEP_SUMMARY")
    assert _warnings(summary.read_text()) == [DB_SSH]

    # `diff BASE HEAD` (what a fork's pull request is shown).
    diff = run(repo, "diff", "HEAD~1", "HEAD", "--format", "markdown")
    assert diff.returncode == 0, diff.stderr
    assert _warnings(diff.stdout) == [DB_SSH]
    assert _first_arrow(diff.stdout)[1] == "tag:db"

    # The Action's comment, through its real run.sh.
    proc = run_step("run", github_env["env"], repo, command="plan", target="local")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    comment = Path(outputs(github_env["output"])["comment-path"]).read_text()
    assert _warnings(comment) == [DB_SSH]


def test_an_edit_of_the_sensitive_tags_is_refused(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    repo = example_repo(tmp_path)
    _engineers_get_admin(repo, "tag:db")
    monkeypatch.setenv(planfile.KEY_ENV, "k" * 32)
    assert run(repo, "plan", "-o", "plan.json").returncode in (0, 2)
    data = json.loads((repo / "plan.json").read_text())
    data["sensitive_tags"] = []  # hide the risky gain from the reviewer
    (repo / "plan.json").write_text(json.dumps(data))
    shown = run(repo, "show", "plan.json", "--format", "markdown")
    assert shown.returncode == 1 and "checksum does not match" in shown.stderr
    # A careful editor recomputes the checksum: the signature still refuses it.
    body = planfile.canonical_bytes(data)
    data["integrity"]["checksum"] = planfile._checksum(body)
    (repo / "plan.json").write_text(json.dumps(data))
    for command in (["show", "plan.json", "--format", "markdown"], ["apply", "plan.json"]):
        refused = run(repo, *command)
        assert refused.returncode == 1, refused.stdout
        assert "signature does not match" in refused.stderr
        assert "Traceback" not in refused.stderr
    # Not a tag: refused by the plan file's schema, with the field named.
    data["sensitive_tags"] = ["prod"]
    data["integrity"] = {"checksum": planfile._checksum(planfile.canonical_bytes(data)),
                         "signature": None}
    (repo / "plan.json").write_text(json.dumps(data))
    monkeypatch.delenv(planfile.KEY_ENV)
    refused = run(repo, "show", "plan.json")
    assert refused.returncode == 1
    assert "sensitive_tags[0]: not a tag" in refused.stderr


def test_without_sensitive_tags_production_names_decide(tmp_path: Path) -> None:
    repo = example_repo(tmp_path)
    _engineers_get_admin(repo, None)
    plan = run(repo, "plan", "--format", "markdown")
    assert _warnings(plan.stdout) == [PROD_K8S]
    assert _first_arrow(plan.stdout)[1] == "tag:prod"
    # The plan file is as before: no key, and `show` reads it the same way.
    assert run(repo, "plan", "-o", "plan.json").returncode in (0, 2)
    assert "sensitive_tags" not in json.loads((repo / "plan.json").read_text())
    assert run(repo, "show", "plan.json", "--format", "markdown").stdout == plan.stdout


def test_a_change_that_unlists_a_sensitive_tag_is_judged_by_both_lists(
        tmp_path: Path) -> None:
    """A pull request that takes tag:prod out of sensitive_tags while giving engineers
    the Kubernetes API on it must not make that gain look harmless: the plan and the
    fork's diff judge by the applied list too, and say that the list was edited."""
    repo = example_repo(tmp_path)
    _engineers_get_admin(repo, "tag:prod")  # applied with tag:prod sensitive
    config = repo / "reconciler.yaml"
    config.write_text(config.read_text().replace("sensitive_tags: [tag:prod]",
                                                 "sensitive_tags: [tag:db]"))
    git(repo, "commit", "-qam", "tag:prod is not sensitive any more")

    plan = run(repo, "plan", "--format", "markdown")
    assert plan.returncode == 0, plan.stderr
    assert sorted(_warnings(plan.stdout)) == sorted([DB_SSH, PROD_K8S])
    assert "edits sensitive_tags in reconciler.yaml" in plan.stdout
    assert "no longer sensitive: tag:prod; newly sensitive: tag:db" in plan.stdout

    diff = run(repo, "diff", "HEAD~2", "HEAD", "--format", "markdown")
    assert diff.returncode == 0, diff.stderr
    assert sorted(_warnings(diff.stdout)) == sorted([DB_SSH, PROD_K8S])
    assert "> [!WARNING]\n> this change edits sensitive_tags" in diff.stdout

    # Unchanged lists say nothing.
    same = run(repo, "diff", "HEAD~1", "HEAD~1", "--format", "markdown")
    assert "sensitive_tags" not in same.stdout + same.stderr

"""Fixtures for the plan/apply/drift tests: a real git repository holding a desired
state that fits the local store's demo tailnet, the real CLI, and `reconciler serve`
(the fixture is imported from the backend tests, not copied)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import git
import pytest
from click.testing import CliRunner, Result

import reconciler.cli.plan_cmds  # noqa: F401  (registers plan, apply, drift, diff, import)
from reconciler.cli import cli
from tests.backends.conftest import (  # noqa: F401  (the real servers)
    API_KEY,
    fake_headscale,
    serve,
)

GROUPS = """\
# People. grace is on call until 2030 (just-in-time access).
groups:
  group:eng: [alice@example.com, bob@example.com]
  group:sre:
    - frank@example.com
    - {user: grace@example.com, expires: 2030-01-01, reason: "on-call rotation"}
"""

TAGS = """\
tagOwners:
  tag:prod: [group:sre]
  tag:db: [group:sre]
  tag:ci: [group:sre]
  tag:staging: [group:sre]
  tag:monitoring: [group:sre]
  tag:exit: [group:sre]
hosts:
  wiki: 100.101.0.20
"""

ACCESS = """\
grants:
  - name: eng-web
    src: [group:eng]
    dst: [tag:prod]
    ip: ["tcp:443"]
  - name: sre-all
    src: [group:sre]
    dst: [tag:prod, tag:db]
    ip: ["*"]
"""

TESTS = """\
tests:
  - src: alice@example.com
    accept: ["tag:prod:443"]
    deny: ["tag:db:5432"]
  - src: frank@example.com
    accept: ["tag:db:5432"]
"""

DESIRED = {
    "policies/groups.yaml": GROUPS,
    "policies/tags.yaml": TAGS,
    "policies/access.yaml": ACCESS,
    "policies/tests.yaml": TESTS,
}


@dataclass
class Repo:
    """A real git repository with a desired state; `run` invokes the real CLI in it."""

    root: Path
    repo: git.Repo
    env: dict[str, str] = field(default_factory=dict)

    def write(self, files: dict[str, str]) -> None:
        for rel, text in files.items():
            path = self.root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")

    def commit(self, files: dict[str, str] | None = None, message: str = "change") -> str:
        if files:
            self.write(files)
        self.repo.git.add("-A")
        return self.repo.index.commit(message).hexsha

    def run(self, *args: str, input: str | None = None) -> Result:
        runner = CliRunner()
        old = Path.cwd()
        try:
            return runner.invoke(cli, ["-C", str(self.root), *args], input=input,
                                 env=self.env, catch_exceptions=False)
        finally:
            os.chdir(old)


@pytest.fixture
def make_repo(tmp_path: Path) -> Iterator[Callable[..., Repo]]:
    made: list[git.Repo] = []

    def make(name: str = "repo", config: str | None = None,
             files: dict[str, str] | None = None) -> Repo:
        root = tmp_path / name
        root.mkdir()
        repo = git.Repo.init(root)
        made.append(repo)
        with repo.config_writer() as cw:
            cw.set_value("user", "name", "Test")
            cw.set_value("user", "email", "test@example.com")
            cw.set_value("commit", "gpgsign", "false")
        r = Repo(root, repo)
        r.write({".gitignore": ".reconciler/\n*.plan.json\n"})
        if config is not None:
            r.write({"reconciler.yaml": config})
        r.commit(files if files is not None else DESIRED, "desired state")
        return r

    yield make
    for repo in made:
        repo.close()


@pytest.fixture
def local_repo(make_repo: Callable[..., Repo], tmp_path: Path) -> Repo:
    db = tmp_path / "control" / "local.db"
    return make_repo(config=f"targets:\n  local: {{backend: local, path: {db}}}\n")


class RequestLog:
    """Requests `reconciler serve` answered, as (method, path), for counting."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, str]] = []

    def __call__(self, record: Any) -> None:
        self.entries.append((record.method, record.path))

    def take(self) -> list[tuple[str, str]]:
        out, self.entries = self.entries, []
        return out


@pytest.fixture
def request_log(serve: Any) -> RequestLog:  # noqa: F811
    log = RequestLog()
    previous = serve.server.on_response

    def hook(record: Any) -> None:
        if previous is not None:
            previous(record)
        log(record)

    serve.server.on_response = hook
    return log


__all__ = ["API_KEY", "DESIRED", "Repo"]

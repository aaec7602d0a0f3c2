"""Shared fixtures: real directories, real git repositories, a clean environment."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol, TypeVar

import git
import pytest
from hypothesis import settings

SECRET_VARS = (
    "TS_API_KEY", "TS_OAUTH_CLIENT_ID", "TS_OAUTH_CLIENT_SECRET", "TS_ID_TOKEN",
    "HEADSCALE_API_KEY", "RECONCILER_NOW", "NO_COLOR",
)

REPO_ROOT = Path(__file__).resolve().parent.parent
# The conformance recordings and spec vectors the tests read, copied into the project so
# a fresh clone tests itself (tests/data/README.md names their sources and licences).
DATA = REPO_ROOT / "tests" / "data"
CONFORMANCE_DIR = Path(os.environ.get("RECONCILER_CONFORMANCE",
                                      DATA / "conformance" / "tailscale-saas"))
SPECS_DIR = DATA / "specs"

# The team reaches its web servers on HTTPS by a named grant: the policy the lint and
# access-citation journeys start from (each adds its own entries after it).
ENG_WEB_POLICY = """\
groups:
  group:eng: [alice@example.com, bob@example.com]
tagOwners:
  tag:web: [group:eng]
grants:
  - name: eng-web
    src: [group:eng]
    dst: [tag:web]
    ip: ["tcp:443"]
"""

# Hypothesis profiles. `ci` (.ci/run) runs every property as thoroughly as it asks for;
# `dev`, the default, runs a tenth of the examples so the suite stays quick to run by
# hand. Every property runs under both. Choose with HYPOTHESIS_PROFILE=ci or
# --hypothesis-profile=ci. No deadline in either: a loaded machine must not fail a test
# that is merely slow.
CI_EXAMPLES = 100
settings.register_profile("ci", max_examples=CI_EXAMPLES, deadline=None, print_blob=True)
settings.register_profile("dev", max_examples=CI_EXAMPLES // 10, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def examples(thorough: int) -> int:
    """max_examples for a property that wants `thorough` examples under the ci profile,
    scaled to the loaded profile (a tenth under dev, at least 5). Call it where the test
    module is imported: pytest loads --hypothesis-profile before that."""
    scaled = thorough * settings.default.max_examples // CI_EXAMPLES
    return max(min(thorough, 5), scaled)


class _Closable(Protocol):
    def close(self) -> None: ...


C = TypeVar("C", bound=_Closable)
_TO_CLOSE: list[_Closable] = []


def close_after_test(resource: C) -> C:
    """`resource` (a backend, say), closed when the running test ends: one left open
    leaves its pooled connections for the garbage collector, whose ResourceWarning then
    fails whichever test happens to be running."""
    _TO_CLOSE.append(resource)
    return resource


@pytest.fixture(autouse=True)
def close_what_tests_opened() -> Iterator[None]:
    yield
    while _TO_CLOSE:
        _TO_CLOSE.pop().close()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No credential or clock override leaks in from the developer's shell."""
    for name in SECRET_VARS:
        monkeypatch.delenv(name, raising=False)


LOCAL_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


class NetworkCallError(AssertionError):
    """A test tried to reach a host other than this machine's loopback.

    An AssertionError, not an OSError, so code under test that handles connection
    failures (retries, error mapping) cannot mistake it for the network being down."""


def _guarded_connect(original: Callable[..., object]) -> Callable[..., object]:
    def connect(sock: socket.socket, address: object, *args: object) -> object:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0] if isinstance(address, tuple) else address
            if host not in LOCAL_HOSTS:
                # Closed here: callers that close a socket whose connect failed (as
                # socket.create_connection does) catch OSError, which this is not.
                sock.close()
                raise NetworkCallError(
                    f"test tried to connect to {address!r}: tests reach only 127.0.0.1, ::1 "
                    "and localhost (a real `reconciler serve` or Headscale, or an httpx "
                    "MockTransport for Tailscale SaaS)")
        return original(sock, address, *args)

    return connect


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any connection to a host other than loopback (and allow unix sockets).

    socket.create_connection and every client built on it go through these two."""
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect(socket.socket.connect))
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded_connect(socket.socket.connect_ex))


@pytest.fixture
def write_tree(tmp_path: Path) -> Callable[[dict[str, str]], Path]:
    """Write {relative path: text} under tmp_path and return tmp_path."""

    def write(files: dict[str, str]) -> Path:
        for rel, text in files.items():
            path = tmp_path / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        return tmp_path

    return write


@pytest.fixture
def git_repo(tmp_path: Path) -> Iterator[git.Repo]:
    """A real, empty git repository with a committer identity."""
    repo = git.Repo.init(tmp_path)
    with repo.config_writer() as cw:
        cw.set_value("user", "name", "Test")
        cw.set_value("user", "email", "test@example.com")
        cw.set_value("commit", "gpgsign", "false")
    yield repo
    repo.close()


def commit_files(repo: git.Repo, files: dict[str, str], message: str) -> str:
    root = Path(repo.working_tree_dir or ".")
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    repo.index.add(list(files))
    return repo.index.commit(message).hexsha


@pytest.fixture
def in_dir(tmp_path: Path) -> Iterator[Path]:
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(old)

"""`forked.Forked` and `commands.session.load_desired_alongside`: the same outcomes as a plain call.

The child is a real forked process; which process computed a value is told by its pid.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler.commands.session import load_desired_alongside
from reconciler.core.errors import GitError, PolicyError, ReconcilerError
from reconciler.core.forked import JOBS_ENV, Forked, forking_allowed
from reconciler.load.desired import load_desired

needs_fork = pytest.mark.skipif(not sys.platform.startswith("linux") or (os.cpu_count() or 1) < 2,
                                reason="forking needs os.fork and two CPUs")


@pytest.fixture(autouse=True)
def _jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(JOBS_ENV, raising=False)


@needs_fork
def test_result_comes_from_a_child_process() -> None:
    forked = Forked(lambda: (os.getpid(), sum(range(1000))))
    pid, total = forked.result()
    assert pid != os.getpid()
    assert total == 499500


@needs_fork
def test_a_transported_error_is_raised_in_the_parent() -> None:
    def fail() -> None:
        raise GitError(f"from {os.getpid()}", "detail")

    with pytest.raises(GitError) as info:
        Forked(fail, transport=(ReconcilerError,)).result()
    assert info.value.summary != f"from {os.getpid()}"  # raised in the child...
    assert info.value.detail == "detail"  # ...and rebuilt whole


@needs_fork
def test_a_bug_is_rerun_in_the_parent_for_its_traceback() -> None:
    parent = os.getpid()

    def buggy() -> None:
        raise KeyError(os.getpid())

    with pytest.raises(KeyError) as info:
        Forked(buggy, transport=(ReconcilerError,)).result()
    assert info.value.args == (parent,)


@needs_fork
def test_a_result_that_cannot_be_pickled_is_computed_in_the_parent() -> None:
    parent = os.getpid()
    fn = Forked(lambda: (os.getpid(), lambda: None)).result()
    assert fn[0] == parent


@needs_fork
def test_a_child_that_dies_is_replaced_by_a_plain_call() -> None:
    parent = os.getpid()
    calls: list[int] = []

    def die_in_child() -> int:
        calls.append(os.getpid())
        if os.getpid() != parent:
            os._exit(9)
        return 7

    assert Forked(die_in_child).result() == 7
    assert calls == [parent]  # the child's append happened in the child's memory only


@needs_fork
def test_a_child_forks_no_further() -> None:
    assert forking_allowed()
    pid, nested_pid = Forked(lambda: (os.getpid(), Forked(os.getpid).result())).result()
    assert pid == nested_pid != os.getpid()


def test_jobs_1_runs_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(JOBS_ENV, "1")
    assert not forking_allowed()
    assert Forked(os.getpid).result() == os.getpid()


def test_no_fork_while_other_threads_run() -> None:
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert not forking_allowed()
        assert Forked(os.getpid).result() == os.getpid()
    finally:
        stop.set()
        thread.join()


# --- load_desired_alongside ---------------------------------------------------------------

GOOD = """\
groups:
  group:eng: [alice@example.com]
tagOwners:
  tag:web: [group:eng]
acls:
  - {action: accept, src: [group:eng], dst: ["tag:web:443"]}
tests:
  - {src: alice@example.com, accept: ["tag:web:443"]}
"""

# Loads and merges fine; only the validator sees that group:ops is undefined.
INVALID = GOOD.replace("src: [group:eng], dst", "src: [group:ops], dst")


def _repo(write_tree: Callable[[dict[str, str]], Path], text: str) -> Path:
    return write_tree({"policies/main.yaml": text})


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_alongside_returns_the_work_and_the_same_desired_state(
        write_tree: Callable[[dict[str, str]], Path], monkeypatch: pytest.MonkeyPatch,
        jobs: str) -> None:
    monkeypatch.setenv(JOBS_ENV, jobs)
    root = _repo(write_tree, GOOD)
    desired, outcome = load_desired_alongside(root, lambda d: sorted(d.policy))
    plain = load_desired(root)
    assert outcome == sorted(plain.policy)
    assert desired.policy == plain.policy
    assert [str(n) for n in desired.notices] == [str(n) for n in plain.notices]


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_alongside_validation_errors_win_over_the_work(
        write_tree: Callable[[dict[str, str]], Path], monkeypatch: pytest.MonkeyPatch,
        jobs: str) -> None:
    monkeypatch.setenv(JOBS_ENV, jobs)
    root = _repo(write_tree, INVALID)
    with pytest.raises(PolicyError) as plain:
        load_desired(root)

    def work(_: object) -> None:
        raise TypeError("the engine tripped over the undefined group")

    with pytest.raises(PolicyError) as info:
        load_desired_alongside(root, work)
    assert [str(p) for p in info.value.problems] == [str(p) for p in plain.value.problems]
    assert "group:ops" in str(info.value.problems[0])


def test_alongside_raises_the_works_error_on_a_valid_policy(
        write_tree: Callable[[dict[str, str]], Path]) -> None:
    root = _repo(write_tree, GOOD)

    def work(_: object) -> None:
        raise GitError("the work failed")

    with pytest.raises(GitError, match="the work failed"):
        load_desired_alongside(root, work)


def test_alongside_does_no_work_when_the_files_are_broken(
        write_tree: Callable[[dict[str, str]], Path]) -> None:
    root = _repo(write_tree, GOOD + "groups: {}\n")  # a duplicate top-level key
    calls: list[object] = []
    with pytest.raises(PolicyError) as plain:
        load_desired(root)
    with pytest.raises(PolicyError) as info:
        load_desired_alongside(root, calls.append)
    assert calls == []
    assert [str(p) for p in info.value.problems] == [str(p) for p in plain.value.problems]


@needs_fork
def test_an_abandoned_child_is_stopped_not_waited_for() -> None:
    import time

    forked = Forked(lambda: time.sleep(30))
    pid = forked._pid
    assert pid is not None
    start = time.perf_counter()
    del forked  # the caller failed before asking for the result
    assert time.perf_counter() - start < 5
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # already reaped


def test_a_failed_fork_runs_the_step_here(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_fork() -> int:
        raise OSError("Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_fork, raising=False)
    monkeypatch.setattr("reconciler.core.forked.forking_allowed", lambda: True)
    assert Forked(os.getpid).result() == os.getpid()


def test_reconciler_test_runs_in_one_process(
        write_tree: Callable[[dict[str, str]], Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """`test` forks neither its validation nor half of its tests: on a 2-core machine a
    second process cost more CPU than it saved time (benchmarks/engine_bench.py)."""
    from click.testing import CliRunner

    from reconciler.cli import cli
    from reconciler.core import forked

    monkeypatch.delenv(JOBS_ENV, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(forked.sys, "platform", "linux")
    forks: list[int] = []

    def no_fork() -> int:  # recorded; Forked then runs the step in this process
        forks.append(1)
        raise OSError("no fork in this test")

    monkeypatch.setattr(os, "fork", no_fork, raising=False)
    tests = "".join('  - {src: alice@example.com, accept: ["tag:web:443"]}\n'
                    for _ in range(2500))  # long enough to have been split before
    root = _repo(write_tree, GOOD + tests)
    result = CliRunner().invoke(cli, ["-C", str(root), "test"])
    assert result.exit_code == 0, result.output
    assert "2501 passed" in result.output
    assert forks == []


def test_the_collector_pause_restores_the_collector_and_keeps_a_callers_choice() -> None:
    import gc

    from reconciler.core.forked import collector_paused

    assert gc.isenabled()
    try:
        with collector_paused():
            assert not gc.isenabled()
            raise ValueError("boom")
    except ValueError:
        pass
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # a caller's own choice is kept
    finally:
        gc.enable()

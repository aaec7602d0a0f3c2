"""The benchmarks' one harness: time a command in a fresh process, hash its output,
check out the old side in a temporary `git worktree`, build a desired-state repository.

`table`, `compare`, `engine_bench` and `plan_compare` measure the same way: wall time
from the clock, CPU and peak RSS from `wait4` (the process plus the children it reaped,
so a forked worker's CPU counts; ru_maxrss is the largest of them, not their sum). Each
formats a failed run in its own words from the `Run` this returns.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import git

HERE = Path(__file__).resolve().parent.parent
KILLED = -9  # the exit code a run killed at its timeout reports


@dataclass(frozen=True)
class Run:
    """One finished (or killed) run: its exit code, figures and standard error."""

    code: int
    wall: float  # seconds
    cpu: float  # seconds, user + system
    rss: float  # MB
    stderr: bytes

    @property
    def timed_out(self) -> bool:
        return self.code == KILLED

    @property
    def figures(self) -> tuple[float, float, float]:
        return self.wall, self.cpu, self.rss


def timed_run(cmd: list[str], *, env: Mapping[str, str], cwd: Path, out: Path,
              timeout: float | None = None) -> Run:
    """Run `cmd` with its standard output in `out`, killed (with the children it forked)
    after `timeout` seconds."""
    with out.open("wb") as sink, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        # Its own process group, so that a timeout also ends the forked children.
        proc = subprocess.Popen(cmd, stdout=sink, stderr=err, env=dict(env), cwd=cwd,
                                start_new_session=True)
        try:
            if timeout is None:
                _, status, usage = os.wait4(proc.pid, 0)
            else:
                while True:
                    pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                    if pid:
                        break
                    if time.perf_counter() - start > timeout:
                        _kill_group(proc.pid)
                        _, _, usage = os.wait4(proc.pid, 0)
                        proc.returncode = KILLED
                        return Run(KILLED, time.perf_counter() - start,
                                   usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024,
                                   b"")
                    time.sleep(0.005)
        except BaseException:  # interrupted: leave no run behind
            _kill_group(proc.pid)
            proc.wait()
            raise
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        return Run(proc.returncode, wall, usage.ru_utime + usage.ru_stime,
                   usage.ru_maxrss / 1024, err.read())



def cli_figures(tree: Path, folder: Path, args: list[str], *, out: Path, timeout: float,
                env: Mapping[str, str]) -> tuple[float, float, float] | str:
    """`reconciler -C folder ARGS --inventory folder/inventory.json` of `tree` in a fresh
    process: (wall s, CPU s, peak RSS MB), or why it failed."""
    cmd = [sys.executable, "-m", "reconciler", "-C", str(folder), *args, "--inventory",
           str(folder / "inventory.json")]
    run = timed_run(cmd, env={**env, "PYTHONPATH": str(tree)}, cwd=tree, out=out,
                    timeout=timeout)
    if run.timed_out:
        return f"killed after {timeout:.0f} s"
    if run.code != 0:
        return f"exit {run.code}: {run.stderr[-200:].decode(errors='replace')}"
    return run.figures


@dataclass
class Side:
    """One side (old or new tree) of one measured row: its runs (wall s, CPU s, peak RSS
    MB), the first output's digest and size, or why it stopped."""

    runs: list[tuple[float, float, float]] = field(default_factory=list)
    digest: str | None = None
    size: int = 0  # output bytes
    failed: str | None = None  # each benchmark's own words: "timeout", "exit N: ..."


def alternate(trees: Mapping[str, Path], sides: Mapping[str, Side], runs: int, scratch: Path,
              run_one: Callable[[Path, Path], tuple[float, float, float] | str],
              *, digests: bool = True) -> None:
    """`runs` rounds of `run_one(tree, output file)` over the trees in turn (old, new,
    old, new, ...); a side stops at its first failure. `digests`: hash the first output
    (off when it holds timestamps)."""
    for _ in range(runs):
        for name, tree in trees.items():
            side = sides[name]
            if side.failed:
                continue
            out = scratch / f"{name}.out"
            result = run_one(tree, out)
            if isinstance(result, str):
                side.failed = result
                continue
            side.runs.append(result)
            if side.digest is None and digests:
                side.digest = digest(out)
                side.size = out.stat().st_size
            out.unlink()


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def digest(path: Path) -> str:
    """The SHA-256 of a file, read in pieces (a large tailnet's matrix is gigabytes)."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


@contextlib.contextmanager
def worktree(rev: str, where: Path) -> Iterator[Path]:
    """REV checked out at `where` (detached) for as long as the block runs."""
    subprocess.run(["git", "-C", str(HERE), "worktree", "add", "--detach", str(where), rev],
                   check=True, capture_output=True, text=True)
    try:
        yield where
    finally:
        subprocess.run(["git", "-C", str(HERE), "worktree", "remove", "--force", str(where)],
                       check=False, capture_output=True)


def desired_repo(root: Path, policy: dict[str, Any], inventory: dict[str, Any],
                 ignore: str = ".reconciler/\n") -> tuple[git.Repo, str]:
    """A desired-state repository at `root` with one local target, the policy and the
    inventory committed as "applied": the repository and that commit."""
    import git

    repo = git.Repo.init(root)
    with repo.config_writer() as cw:
        cw.set_value("user", "name", "bench")
        cw.set_value("user", "email", "bench@example.com")
    (root / "policies").mkdir()
    (root / ".gitignore").write_text(ignore)
    (root / "reconciler.yaml").write_text(
        "targets:\n  local: {backend: local, path: .reconciler/local.db}\n")
    (root / "inventory.json").write_text(json.dumps(inventory))
    (root / "policies" / "policy.json").write_text(json.dumps(policy, indent=1))
    repo.git.add("-A")
    return repo, repo.index.commit("applied").hexsha


def add_member(repo: git.Repo, root: Path, policy: dict[str, Any]) -> str:
    """Git's side of the plan benchmarks: one member added to one group since the apply
    and committed (`policy` is changed in place); the group's name."""
    group = sorted(policy["groups"])[0]
    policy["groups"][group] = [*policy["groups"][group], "newcomer@example.com"]
    (root / "policies" / "policy.json").write_text(json.dumps(policy, indent=1))
    repo.git.add("-A")
    repo.index.commit("add a member")
    return group

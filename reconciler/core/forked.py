"""Speed knobs, in one place: the collector tuned for a command (and paused around its
access diff), and a CPU-bound step run in a forked child while the caller does other
work.

core/ (the lowest layer) (standard library only). Applied at the command level only
(the CLI's group for the collector, `commands/` for forking): the engine, loader and diff are
plain code, the same whether or not a knob is on.

The collector: a command builds a few million objects that stay alive until it exits (a
large policy, its source map, the compiled rules, the test report); every pass of the
cyclic collector walks them again without finding garbage. Measured on the large
tailnet (`reconciler test`, one CPU, 5 runs each, alternating), raised thresholds for
the whole command (1.00 s CPU) did as well as they did with pauses around the heavy
phases (0.99 s) and better than `gc.disable()` (1.05 s) or `gc.freeze()` (1.06 s).

Forking: `plan` on a large tailnet is a few seconds of pure-Python work with
independent halves (validating and testing the desired state; loading the base,
diffing and computing access changes), and Python runs one thread of bytecode at a
time, so a second core helps only from a second process. `commands/` forks for
`plan` and for `diff BASE HEAD` (validating both revisions and diffing their resources
beside the access diff: 1.12 -> 0.90 s wall on the large tailnet, 1.18 s CPU) only:
for `test`, forking the validation (or half of the tests) cost more CPU than it saved
wall time on a 2-core machine (`python -m benchmarks.engine_bench`: 1.16 s CPU forked
against 1.03 s in one process on the large tailnet). `os.fork` gives the
child the parent's loaded state for free (no pickling of the inputs); only the result
travels back, pickled, over a pipe.

The child's outcome is only ever an optimisation: whenever it cannot be had (no fork on
this platform, threads running, `RECONCILER_JOBS=1`, a child that dies, a result or
exception that does not survive pickling), `result()` runs the function in the calling
process instead, so callers see exactly what a plain call would give.
"""

from __future__ import annotations

import gc
import os
import pickle
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

T = TypeVar("T")

JOBS_ENV = "RECONCILER_JOBS"

_in_child = False  # set in a forked child: it forks no further


# Larger thresholds than the defaults (700, 10, 10): young garbage is still collected, but
# the millions of long-lived objects are not walked again at every 25% of growth.
COMMAND_GC_THRESHOLDS = (100_000, 50, 100)
DEFAULT_GC_THRESHOLDS = gc.get_threshold()


@contextmanager
def command_gc() -> Iterator[None]:
    """The collector tuned for one command's run; restored afterwards (tests invoke
    many commands in one process)."""
    before = gc.get_threshold()
    gc.set_threshold(*COMMAND_GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*before)


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic collector off around one allocation-heavy step of a command (the
    access diff: a few hundred thousand small objects that all stay alive until it
    ends, nothing cyclic to free); reference counting frees as usual. A caller's own
    choice (already off) is kept."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def collect_as_usual() -> None:
    """For a command that runs until stopped (`serve`): the default thresholds."""
    gc.set_threshold(*DEFAULT_GC_THRESHOLDS)


def forking_allowed() -> bool:
    """Fork only where it is safe and can pay off.

    Linux only: on macOS a forked child may crash in system frameworks the parent has
    touched (proxy lookup, for one), which is why Python stopped forking there by
    default; elsewhere there is no fork. A fork copies just the calling thread: with
    other threads running (`--all` plans targets on a thread pool) a lock one of them
    holds would stay held in the child forever. One CPU, or RECONCILER_JOBS=1, gains
    nothing from a second process, and neither does a child forking again: its parent
    keeps the other CPU busy already, and every fork costs page copies (copy-on-write)
    on both sides.
    """
    if _in_child or not sys.platform.startswith("linux") or threading.active_count() > 1:
        return False
    jobs = os.environ.get(JOBS_ENV, "").strip()
    if jobs:
        return not jobs.isdigit() or int(jobs) > 1
    return (os.cpu_count() or 1) > 1


class Forked(Generic[T]):
    """`fn()` started in a child process now; `result()` returns (or raises) its outcome."""

    def __init__(self, fn: Callable[[], T], *,
                 transport: tuple[type[Exception], ...] = ()) -> None:
        """`transport`: exception types the child hands back to be raised here. Any
        other exception (a bug) makes `result()` run `fn` in this process instead, so
        its traceback shows where it happened."""
        self._fn = fn
        self._transport = transport
        self._pid: int | None = None
        self._read_fd = -1
        if forking_allowed():
            self._start()

    def _start(self) -> None:
        read_fd, write_fd = os.pipe()
        try:
            pid = os.fork()
        except OSError:  # out of processes or memory: `result()` runs fn here instead
            os.close(read_fd)
            os.close(write_fd)
            return
        if pid == 0:  # the child: compute, report, and leave without any cleanup
            global _in_child
            _in_child = True
            os.close(read_fd)
            code = 0
            try:
                _report(self._fn, self._transport, write_fd)
            except BaseException:  # nothing may escape a forked child
                code = 1
            finally:
                os._exit(code)  # no atexit handlers, no flushing the parent's buffers
        os.close(write_fd)
        self._pid, self._read_fd = pid, read_fd

    def result(self) -> T:
        if self._pid is None:
            return self._fn()
        payload = _read_all(self._read_fd)
        os.close(self._read_fd)
        os.waitpid(self._pid, 0)
        self._pid = None
        try:
            ok, value = pickle.loads(payload)
        except Exception:  # a child that died or could not report
            return self._fn()
        if ok:
            return value  # type: ignore[no-any-return]
        raise value

    def __del__(self) -> None:
        # A Forked whose result nobody asked for (the caller failed first): stop and
        # reap it rather than wait for work no one will read.
        if self._pid is not None:
            try:
                os.kill(self._pid, signal.SIGKILL)
                os.close(self._read_fd)
                os.waitpid(self._pid, 0)
            except OSError:
                pass


def _report(fn: Callable[[], object], transport: tuple[type[Exception], ...],
            write_fd: int) -> None:
    """Pickle (True, result) or (False, exception) down the pipe; nothing for another
    exception or an outcome that does not survive a pickle round trip (the parent then
    runs `fn` itself)."""
    try:
        outcome: tuple[bool, object] = (True, fn())
    except transport as e:
        outcome = (False, e)
    try:
        payload = pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
        if not outcome[0]:
            pickle.loads(payload)  # an exception must rebuild, or the parent reruns fn
    except Exception:
        return
    with os.fdopen(write_fd, "wb") as out:
        out.write(payload)


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)

"""What a long command is doing, on stderr: a status line on a terminal, a request log.

Lowest layer (standard library and `redact` only; anything may import it). The use
cases mark their steps (`step`), and the HTTP client reports every request it sends
(`request`) and every retry it waits for (`retry`). Nothing is shown unless the CLI
`install`s a `Reporter`; without one (a library caller, a test, a piped run) each call
is a single check.

The CLI installs one when stderr is a terminal (`status`: one line, rewritten in
place, that names the step, its elapsed time from the first second on and the latest
retry, and is erased when the step ends, so nothing of it stays above the command's
output), and with `-v/--verbose` (`verbose`: one line per HTTP request - method,
path, status or error, milliseconds, attempt - whether or not stderr is a terminal).
stdout is never written: piped and JSON output stay byte-identical. Every line is
redacted (`reconciler.core.redact`) and no header or body is ever logged, so no
credential reaches the terminal.

The status line's clock ticks on a thread that lives only while a step runs: a step
never spans a fork (`forked` forks only when no other thread runs).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from reconciler.core import redact

TICK = 1.0  # seconds: how often the elapsed time is redrawn, and when it first shows
CLEAR = "\r\x1b[K"  # back to the line's start, erase to its end


def _seconds(value: float) -> str:
    return f"{value:.0f}s" if value >= 10 else f"{value:.1f}s"


class Reporter:
    """Writes the status line (`status`) and the request log (`verbose`) to `stream`."""

    def __init__(self, stream: TextIO, *, status: bool, verbose: bool,
                 clock: Any = time.monotonic) -> None:
        self.stream = stream
        self.status = status
        self.verbose = verbose
        self._clock = clock
        self._lock = threading.RLock()
        self._steps: list[tuple[str, float]] = []  # (label, started), innermost last
        self._note = ""
        self._note_after: tuple[float, str] | None = None  # (when, the note from then on)
        self._shown = False  # a status line is on the screen
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    # --- the status line --------------------------------------------------------------

    @contextmanager
    def step(self, label: str) -> Iterator[None]:
        with self._lock:
            self._steps.append((label, self._clock()))
            self._note, self._note_after = "", None
            self._draw()
            outermost = len(self._steps) == 1
        if outermost and self.status:
            self._stop.clear()
            self._ticker = threading.Thread(target=self._tick, name="progress", daemon=True)
            self._ticker.start()
        try:
            yield
        finally:
            if outermost and self._ticker is not None:
                self._stop.set()
                self._ticker.join()
                self._ticker = None
            with self._lock:
                self._steps.pop()
                self._note, self._note_after = "", None
                if self._steps:
                    self._draw()
                else:
                    self._erase()

    def _tick(self) -> None:
        while not self._stop.wait(TICK):
            with self._lock:
                self._draw()

    def _draw(self) -> None:
        if not self.status or not self._steps:
            return
        label = self._steps[-1][0]
        line = f"{label}..."
        elapsed = self._clock() - self._steps[0][1]
        if elapsed >= TICK:
            line += f" {_seconds(elapsed)}"
        if self._note and self._note_after is not None \
                and self._clock() >= self._note_after[0]:
            self._note, self._note_after = self._note_after[1], None
        if self._note:
            line += f" ({self._note})"
        self._write(CLEAR + redact.redact(line))
        self._shown = True

    def _erase(self) -> None:
        if self._shown:
            self._write(CLEAR)
            self._shown = False

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # the terminal went away: progress is not worth dying for
            self.status = self.verbose = False

    # --- what the HTTP client reports ---------------------------------------------------

    def request(self, method: str, path: str, outcome: int | str, elapsed: float,
                attempt: int, attempts: int) -> None:
        if not self.verbose:
            return
        tries = f" (attempt {attempt} of {attempts})" if attempts > 1 else ""
        self.log(f"http: {method} {path} -> {outcome} {elapsed * 1000:.0f}ms{tries}")

    def retry(self, why: str, delay: float, attempt: int, attempts: int) -> None:
        note = f"{why}; retrying in {_seconds(delay)}, attempt {attempt} of {attempts}"
        if self.verbose:
            self.log(f"http: {note}")
        with self._lock:
            self._note = note
            # Once the wait is over, the line says the attempt is under way.
            self._note_after = (self._clock() + delay,
                                f"after {why}: attempt {attempt} of {attempts}")
            self._draw()

    def log(self, line: str) -> None:
        """A line that stays (above the status line, which is redrawn under it)."""
        with self._lock:
            self._erase()
            self._write(redact.redact(line) + "\n")
            self._draw()

    def close(self) -> None:
        with self._lock:
            self._erase()


_reporter: Reporter | None = None


def install(reporter: Reporter | None) -> None:
    """Make `reporter` the process's (None: show nothing again)."""
    global _reporter
    if _reporter is not None:
        _reporter.close()
    _reporter = reporter


def installed() -> Reporter | None:
    return _reporter


@contextmanager
def step(label: str) -> Iterator[None]:
    """Show `label` while the block runs (and how long it has been running)."""
    reporter = _reporter
    # Only the main thread's steps: `--all` plans targets on a thread pool, whose steps
    # would interleave on one line (its targets' own lines say what each is doing).
    if reporter is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    with reporter.step(label):
        yield


def request(method: str, path: str, outcome: int | str, started: float, attempt: int,
            attempts: int) -> None:
    """One HTTP attempt ended: `outcome` is the status or the error's name; `started` a
    `time.monotonic()` reading; `attempt` counts from 1."""
    if _reporter is not None:
        _reporter.request(method, path, outcome, time.monotonic() - started, attempt,
                          attempts)


def retry(why: str, delay: float, attempt: int, attempts: int) -> None:
    """Waiting `delay` seconds after `why` (e.g. "HTTP 429") before attempt `attempt`."""
    if _reporter is not None:
        _reporter.retry(why, delay, attempt, attempts)

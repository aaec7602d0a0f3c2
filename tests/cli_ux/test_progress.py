"""Progress while it works: the status line on a terminal, the request log with -v.

The real CLI runs as a subprocess with stderr on a pseudo-terminal (python's `pty`)
against the real `reconciler serve`, whose fault injection answers 429 twice and then
stalls: stderr shows each step, the retries and the elapsed time; stdout stays what a
piped run prints, byte for byte. A piped run shows none of it; `-v` logs each request
and no credential.
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from tests.backends.conftest import API_KEY, CLIENT_ID, CLIENT_SECRET, serve  # noqa: F401
from tests.plan.conftest import Repo, make_repo  # noqa: F401

RECONCILER = [sys.executable, "-c", "from reconciler.cli import main; main()"]
NOW = "2026-12-02T12:00:00Z"  # the plan's stamp, so two runs print the same bytes
STEP_WORDS = ("fetching the live policy", "listing devices", "testing ", "retrying")


def run(repo: Repo, *args: str, tty: bool, env: dict[str, str] | None = None
        ) -> tuple[int, bytes, bytes]:
    """(exit code, stdout, stderr) of the real CLI; stdout is a pipe, stderr a
    pseudo-terminal when `tty`."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("TS_", "RECONCILER_"))}
    environ |= {"TERM": "xterm", "TS_API_KEY": API_KEY, **(env or {})}
    command = [*RECONCILER, "-C", str(repo.root), "--now", NOW, *args]
    if not tty:
        done = subprocess.run(command, env=environ, stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=120, check=False)
        return done.returncode, done.stdout, done.stderr
    master, slave = pty.openpty()
    proc = subprocess.Popen(command, env=environ, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    assert proc.stdout is not None
    streams = {proc.stdout.fileno(): b"", master: b""}
    open_fds = set(streams)
    while open_fds:
        ready, _, _ = select.select(list(open_fds), [], [], 120)
        assert ready, "the CLI went silent for two minutes"
        for fd in ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the pty's other side closed
                chunk = b""
            if chunk:
                streams[fd] += chunk
            else:
                open_fds.discard(fd)
    os.close(master)
    out = streams[proc.stdout.fileno()]
    proc.stdout.close()  # filterwarnings = error: an unclosed pipe fails the test
    return proc.wait(timeout=60), out, streams[master]


@pytest.fixture
def remote(make_repo: Callable[..., Repo], serve: Any) -> Repo:  # noqa: F811
    config = (f"targets:\n  tailnet: {{backend: tailscale, tailnet: '-', "
              f"base_url: '{serve.url}', timeout: 20}}\n")
    return make_repo(config=config)


def test_a_terminal_sees_the_steps_the_retries_and_the_time(
        remote: Repo, serve: Any) -> None:  # noqa: F811
    code, piped_out, piped_err = run(remote, "plan", tty=False)
    assert code == 0, piped_err
    # 429 twice (Retry-After: 1), then an answer that takes three seconds.
    serve.server.faults.push("429:1*2", "stall:3")
    code, out, err = run(remote, "plan", tty=True)
    assert code == 0, err
    assert serve.server.faults.pending() == 0
    assert out == piped_out  # stdout is the piped run's, byte for byte
    screen = err.decode()
    assert "fetching the live policy..." in screen
    assert "HTTP 429; retrying in 1.0s, attempt 2 of 4" in screen
    assert "HTTP 429; retrying in 1.0s, attempt 3 of 4" in screen
    # Once the wait is over, the line says the third attempt is under way.
    assert "(after HTTP 429: attempt 3 of 4)" in screen
    # The elapsed time shows from the first second on (the stall alone is three).
    assert re.search(r"fetching the live policy\.\.\. [1-9](\.\d)?s", screen), screen
    assert "listing devices and users..." in screen
    assert "testing 2 assertions..." in screen
    # Each status line is erased when its step ends: nothing of it stays on screen.
    assert screen.endswith("\r\x1b[K"), screen[-200:]
    assert API_KEY not in screen


def test_piped_stderr_gets_no_progress(remote: Repo, serve: Any) -> None:  # noqa: F811
    serve.server.faults.push("429:1")
    code, _, err = run(remote, "plan", tty=False)
    assert code == 0, err
    assert serve.server.faults.pending() == 0  # the retry happened...
    text = err.decode()
    assert not any(word in text for word in STEP_WORDS), text  # ...silently
    assert "\x1b" not in text and "\r" not in text


def test_dumb_terminal_gets_no_status_line(remote: Repo) -> None:
    code, _, err = run(remote, "plan", tty=True, env={"TERM": "dumb"})
    assert code == 0, err
    assert b"fetching" not in err and b"\x1b" not in err


@pytest.mark.parametrize("where", ["before", "after"])
def test_verbose_logs_each_request_and_no_credential(remote: Repo, serve: Any,  # noqa: F811
                                                     where: str) -> None:
    serve.server.faults.push("429:1")
    oauth = {"TS_API_KEY": "", "TS_OAUTH_CLIENT_ID": CLIENT_ID,
             "TS_OAUTH_CLIENT_SECRET": CLIENT_SECRET}
    args = ("-v", "plan") if where == "before" else ("plan", "--verbose")
    code, out, err = run(remote, *args, tty=False, env=oauth)
    assert code == 0, err
    log = err.decode()
    lines = [line for line in log.splitlines() if line.startswith("http: ")]
    assert re.search(r"^http: POST /api/v2/oauth/token -> 200 \d+ms", log, re.M), log
    assert re.search(r"^http: GET /api/v2/tailnet/-/acl -> 429 \d+ms \(attempt 1 of 4\)$",
                     log, re.M), log
    assert "http: HTTP 429; retrying in 1.0s, attempt 2 of 4" in lines, log
    assert re.search(r"^http: GET /api/v2/tailnet/-/acl -> 200 \d+ms \(attempt 2 of 4\)$",
                     log, re.M), log
    assert re.search(r"^http: GET /api/v2/tailnet/-/devices\S* -> 200 \d+ms", log, re.M), log
    # Nothing secret was even written: no credential, no header, nothing masked.
    for secret in (CLIENT_ID, CLIENT_SECRET):
        assert secret not in log and secret not in out.decode()
    assert "***" not in log and "Authorization" not in log and "Bearer" not in log
    # The log is on stderr only; stdout is the plan.
    assert b"http: " not in out


def test_a_secret_in_a_query_is_masked_in_the_request_log(serve: Any) -> None:  # noqa: F811
    import io

    from reconciler.backends.http import HttpClient
    from reconciler.core import progress

    stream = io.StringIO()
    progress.install(progress.Reporter(stream, status=False, verbose=True))
    client = HttpClient(serve.url, auth=lambda: {"Authorization": f"Bearer {API_KEY}"})
    try:
        client.redact.add(API_KEY)  # as the backend registers its credential
        client.request("GET", f"/api/v2/tailnet/-/acl?token={API_KEY}",
                       content=f"key={API_KEY}")
    finally:
        client.close()
        progress.install(None)
    log = stream.getvalue()
    assert "http: GET /api/v2/tailnet/-/acl?token=*** -> 200 " in log, log
    assert API_KEY not in log and "Bearer" not in log and "key=" not in log

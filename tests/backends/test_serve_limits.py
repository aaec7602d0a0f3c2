"""`reconciler serve` under hostile clients: huge or unauthenticated bodies, stalled
connections, floods of sockets, and forged workload-identity tokens.

Each test talks to the real server over raw sockets on 127.0.0.1, because what is
checked is what happens on the wire before and instead of a well-formed request:
which answer comes back, whether the body was ever read, and whether the server still
answers others afterwards.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from reconciler.backends.local.server import ServeConfig, make_server
from reconciler.backends.local.server.app import ControlServer
from tests.backends.conftest import API_KEY, CLIENT_ID, OIDC_ISSUER, OIDC_KEY, make_jwt

AUTH = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture
def small_server(tmp_path: Path) -> Iterator[ControlServer]:
    """A server with limits small enough to reach in a test."""
    config = ServeConfig(db=tmp_path / "local.db", api_key=API_KEY, oauth_client_id=CLIENT_ID,
                         oauth_client_secret="s3cret-" + "x" * 8, max_body=64 * 1024,
                         idle_timeout=0.5, max_connections=4, oidc_issuer=OIDC_ISSUER,
                         oidc_key=OIDC_KEY)
    server = make_server(config).start()
    try:
        yield server
    finally:
        server.stop()


def _connect(server: ControlServer, timeout: float = 5.0) -> socket.socket:
    host, port = server.server_address[:2]
    return socket.create_connection((host, port), timeout=timeout)


def _read_response(sock: socket.socket) -> tuple[int, bytes]:
    """Status and whatever follows, read until the server closes or 5 s pass."""
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        if not chunk:
            break
        data += chunk
        if b"\r\n\r\n" in data:
            head, _, rest = data.partition(b"\r\n\r\n")
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), None)
            if length is not None and len(rest) >= length:
                break
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0
    return status, data


def _post_headers(length: int, auth: bool) -> bytes:
    lines = ["POST /api/v2/tailnet/-/acl HTTP/1.1", "Host: 127.0.0.1",
             "Content-Type: application/hujson", f"Content-Length: {length}"]
    if auth:
        lines.append(f"Authorization: Bearer {API_KEY}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_unauthenticated_body_is_refused_before_it_is_read(small_server: ControlServer) -> None:
    # 10^11 bytes announced, none sent: the 401 must come from the headers alone (a
    # server that reads first would wait for the body, or die allocating it).
    with _connect(small_server) as sock:
        sock.sendall(_post_headers(10**11, auth=False))
        status, data = _read_response(sock)
    assert status == 401, data[:200]
    assert b"Connection: close" in data
    live = httpx.get(small_server.url + "/api/v2/tailnet/-/acl", headers=AUTH)
    assert live.status_code == 200  # and the server is still serving


def test_oversized_body_is_413_and_nothing_is_stored(small_server: ControlServer) -> None:
    before = httpx.get(small_server.url + "/api/v2/tailnet/-/acl", headers=AUTH)
    with _connect(small_server) as sock:
        sock.sendall(_post_headers(64 * 1024 + 1, auth=True))
        status, data = _read_response(sock)
    assert status == 413, data[:200]
    assert b"at most 65536" in data
    after = httpx.get(small_server.url + "/api/v2/tailnet/-/acl", headers=AUTH)
    assert after.headers["ETag"] == before.headers["ETag"]
    # A body at the limit is still taken (the cap is not off by one).
    policy = '{"acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}]}'
    body = policy + " " * (64 * 1024 - len(policy))
    ok = httpx.post(small_server.url + "/api/v2/tailnet/-/acl", headers=AUTH, content=body)
    assert ok.status_code == 200, ok.text


@pytest.mark.parametrize("length", ["-5", "ten"])
def test_bad_content_length_is_400(small_server: ControlServer, length: str) -> None:
    with _connect(small_server) as sock:
        sock.sendall(_post_headers(0, auth=True).replace(b"Content-Length: 0",
                                                         f"Content-Length: {length}".encode()))
        status, _ = _read_response(sock)
    assert status == 400


def test_stalled_connections_are_capped_and_time_out(small_server: ControlServer) -> None:
    threads_before = threading.active_count()
    stalled = [_connect(small_server) for _ in range(4)]  # every slot, sending nothing
    try:
        time.sleep(0.1)
        # Full: a fifth client is told so at once instead of queueing or getting a thread.
        with _connect(small_server) as extra:
            extra.sendall(b"GET /api/v2/tailnet/-/acl HTTP/1.1\r\nHost: x\r\n\r\n")
            status, data = _read_response(extra)
        assert status == 503, data[:200]
        assert threading.active_count() <= threads_before + 4
        # After the idle timeout the stalled sockets are dropped and their slots freed.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            response = httpx.get(small_server.url + "/api/v2/tailnet/-/acl", headers=AUTH)
            if response.status_code == 200:
                break
            time.sleep(0.1)
        assert response.status_code == 200
        for sock in stalled:  # the server closed each of them
            sock.settimeout(2)
            assert sock.recv(1) == b""
    finally:
        for sock in stalled:
            sock.close()


def test_a_slow_body_times_out_and_stores_nothing(small_server: ControlServer) -> None:
    before = httpx.get(small_server.url + "/api/v2/tailnet/-/acl", headers=AUTH)
    with _connect(small_server) as sock:
        sock.sendall(_post_headers(1000, auth=True) + b'{"acls": [')
        sock.settimeout(5)
        assert sock.recv(1) == b""  # dropped after the idle timeout, no answer
    after = httpx.get(small_server.url + "/api/v2/tailnet/-/acl", headers=AUTH)
    assert after.headers["ETag"] == before.headers["ETag"]


def _exchange(server: ControlServer, jwt: str) -> httpx.Response:
    return httpx.post(server.url + "/api/v2/oauth/token-exchange",
                      data={"client_id": CLIENT_ID, "jwt": jwt})


def test_token_exchange_verifies_the_jwt(small_server: ControlServer) -> None:
    good = make_jwt({"sub": "repo:example/policy", "exp": time.time() + 300})
    assert _exchange(small_server, good).status_code == 200
    head, claims, _ = good.split(".")
    forged = {
        "unsigned (alg none)": make_jwt({"sub": "x", "exp": time.time() + 300}, alg="none"),
        "signed with another key": make_jwt({"sub": "x", "exp": time.time() + 300},
                                            key="not-the-issuers-key"),
        "signature stripped": f"{head}.{claims}.",
        "another issuer": make_jwt({"sub": "x", "exp": time.time() + 300,
                                    "iss": "https://evil.example"}),
        "no expiry": make_jwt({"sub": "x"}),
        "expired": make_jwt({"sub": "x", "exp": time.time() - 10}),
        "not a JWT": "hello",
    }
    for what, jwt in forged.items():
        response = _exchange(small_server, jwt)
        assert response.status_code == 401, what
        assert "access_token" not in response.text, what


def test_token_exchange_is_refused_unless_configured(tmp_path: Path) -> None:
    config = ServeConfig(db=tmp_path / "local.db", api_key=API_KEY, oauth_client_id=CLIENT_ID,
                         oauth_client_secret="s3cret-" + "x" * 8)
    server = make_server(config).start()
    try:
        response = _exchange(server, make_jwt({"sub": "x", "exp": time.time() + 300}))
    finally:
        server.stop()
    assert response.status_code == 401
    assert "workload identity is not configured" in response.json()["message"]


def test_the_serve_command_applies_its_limits(tmp_path: Path) -> None:
    """The real `reconciler serve` with limits from its options."""
    env = {**os.environ, "RECONCILER_SERVE_API_KEY": API_KEY}
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "serve", "--db", str(tmp_path / "local.db"),
         "--port", "0", "--max-body", "1000", "--idle-timeout", "0.5",
         "--max-connections", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        url = ""
        for line in proc.stdout:
            if line.startswith("URL: "):
                url = line.split()[1]
                break
        assert url, proc.stderr.read() if proc.stderr else ""
        too_big = httpx.post(url + "/api/v2/tailnet/-/acl", headers=AUTH, content="x" * 1001)
        assert too_big.status_code == 413
        assert json.loads(too_big.text)["message"].endswith("at most 1000")
        host, port = url.removeprefix("http://").rsplit(":", 1)
        stalled = [socket.create_connection((host, int(port))) for _ in range(2)]
        time.sleep(0.1)
        assert httpx.get(url + "/api/v2/tailnet/-/acl", headers=AUTH).status_code == 503
        for sock in stalled:
            sock.close()
        deadline = time.monotonic() + 5
        while httpx.get(url + "/api/v2/tailnet/-/acl", headers=AUTH).status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        proc.terminate()
        proc.communicate(timeout=10)  # reads and closes its pipes

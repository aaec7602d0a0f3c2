"""The autouse `no_network` fixture (tests/conftest.py): loopback only."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.conftest import NetworkCallError


def test_a_connection_to_another_host_fails_the_test() -> None:
    # 192.0.2.1 is TEST-NET-1 (RFC 5737): the guard refuses before any packet is sent.
    with pytest.raises(NetworkCallError, match=r"192\.0\.2\.1"):
        socket.create_connection(("192.0.2.1", 80), timeout=1)
    sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    with pytest.raises(NetworkCallError):
        sock.connect_ex(("2001:db8::1", 80))
    assert sock.fileno() == -1  # the guard closed it: nothing is left for the collector


def test_loopback_and_unix_sockets_are_allowed(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        for host in ("127.0.0.1", "localhost"):
            with socket.create_connection((host, port), timeout=5):
                pass
    path = str(tmp_path / "s")
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(path)
        server.listen()
        with socket.socket(socket.AF_UNIX) as client:
            client.connect(path)

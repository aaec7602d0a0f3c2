"""Fixtures for the leak tests: the echoing control plane, a fresh redaction registry
per test (so each test proves its own credentials are found, not an earlier test's),
and credentials of every kind, random per test and holding `+/=&`."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterator

import pytest

from reconciler.core import redact
from tests.security.echo import EchoServer
from tests.security.leaks import Secret


@pytest.fixture(autouse=True)
def fresh_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redact, "REGISTRY", redact.Registry())


@pytest.fixture(scope="module")
def echo_server() -> Iterator[EchoServer]:
    server = EchoServer().start()
    try:
        yield server
    finally:
        server.stop()


def _awkward(prefix: str) -> str:
    """A credential whose encodings all differ from it: `+/=&` in the secret part."""
    h = secrets.token_hex
    return f"{prefix}{h(5)}+{h(3)}/{h(3)}={h(3)}&{h(5)}"


def _jwt() -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    claims = {"iss": "https://token.actions.githubusercontent.com",
              "sub": "repo:acme/policy:ref:refs/heads/main", "jti": secrets.token_hex(16)}
    signature = base64.urlsafe_b64encode(secrets.token_bytes(48)).decode().rstrip("=")
    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.{signature}"


KINDS = ("api-key", "oauth", "workload-identity", "headscale")


def credentials(kind: str) -> tuple[dict[str, str], list[Secret]]:
    """(environment, the secrets in it) for one credential kind."""
    if kind == "api-key":
        env = {"TS_API_KEY": _awkward("tskey-api-")}
    elif kind == "oauth":
        env = {"TS_OAUTH_CLIENT_ID": "k" + secrets.token_hex(6) + "CNTRL",
               "TS_OAUTH_CLIENT_SECRET": _awkward("tskey-client-")}
    elif kind == "workload-identity":
        env = {"TS_OAUTH_CLIENT_ID": "k" + secrets.token_hex(6) + "CNTRL", "TS_ID_TOKEN": _jwt()}
    else:
        env = {"HEADSCALE_API_KEY": _awkward("hskey-api-")}
    prefixes = ("tskey-api-", "tskey-client-", "hskey-api-")
    found = [Secret(name, value, next((len(p) for p in prefixes if value.startswith(p)), 0))
             for name, value in env.items()]
    return env, found

"""Fixtures for the backend tests: a real `reconciler serve` on 127.0.0.1, real
Headscale (tests/headscale_real; built by scripts/build-headscale.sh), the fake
Headscale, and one backend of each kind over them.

Every response `serve` gives during the run is recorded (the server's `on_response`
hook) so `test_spec.py` can check them against the OpenAPI spec.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from reconciler.backends.headscale import HeadscaleBackend
from reconciler.backends.http import RetryPolicy
from reconciler.backends.local.backend import LocalBackend
from reconciler.backends.local.server import ResponseRecord, ServeConfig, make_server
from reconciler.backends.tailscale import TailscaleBackend
from tests.conftest import close_after_test
from tests.fakes.headscale import FakeHeadscale
from tests.headscale_real.server import Running, real_headscale  # noqa: F401  (a fixture)

# Secrets are random per run, so a leak cannot hide behind a fixed string.
API_KEY = "tskey-api-" + secrets.token_hex(12)
CLIENT_ID = "k" + secrets.token_hex(6) + "CNTRL"
CLIENT_SECRET = "tskey-client-" + secrets.token_hex(16)
HEADSCALE_KEY = "hskey-api-" + secrets.token_hex(12)
OIDC_ISSUER = "https://token.actions.example.test"
OIDC_KEY = "oidc-" + secrets.token_hex(16)  # the issuer's HS256 key, known to serve
SECRETS = (API_KEY, CLIENT_ID, CLIENT_SECRET, HEADSCALE_KEY, OIDC_KEY)

RECORDED: list[ResponseRecord] = []  # every serve response of the session

FAST_RETRY = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05)


@pytest.fixture(scope="session", autouse=True)
def responses_match_the_spec() -> Iterator[None]:
    """After the last backend test, every response serve gave must match the spec."""
    yield
    from tests.backends.openapi import check

    failures = []
    for record in RECORDED:
        try:
            check(record)
        except Exception as e:  # collect them all, then fail once with the list
            failures.append(f"{record.method} {record.path} {record.status}: {e}")
    print(f"\nspec check (whole session): {len(RECORDED)} serve responses, "
          f"{len(failures)} not matching the OpenAPI spec")
    assert not failures, "\n".join(failures[:10])


def make_jwt(claims: dict[str, Any], key: str = OIDC_KEY, alg: str = "HS256") -> str:
    """A JWT as an identity provider would sign it (HS256 with `key`); `iss` defaults
    to the issuer `serve` trusts."""
    import base64
    import hashlib
    import hmac
    import json

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    signed = f"{part({'alg': alg, 'typ': 'JWT'})}.{part({'iss': OIDC_ISSUER, **claims})}"
    mac = hmac.new(key.encode(), signed.encode(), hashlib.sha256).digest()
    return f"{signed}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"


@dataclass
class Served:
    server: Any
    url: str
    db: Path


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Served]:
    """`reconciler serve` (the real HTTP server) on a free port, in a thread."""
    config = ServeConfig(db=tmp_path / "serve" / "local.db", port=0, api_key=API_KEY,
                         oauth_client_id=CLIENT_ID, oauth_client_secret=CLIENT_SECRET,
                         oidc_issuer=OIDC_ISSUER, oidc_key=OIDC_KEY)
    server = make_server(config)
    server.on_response = RECORDED.append
    server.start()
    try:
        yield Served(server, server.url, config.db)
    finally:
        server.stop()


@pytest.fixture
def fake_headscale() -> Iterator[FakeHeadscale]:
    # No policy stored yet, as on a fresh Headscale in database mode.
    server = FakeHeadscale(HEADSCALE_KEY, policy=None).start()
    try:
        yield server
    finally:
        server.stop()


def tailscale_client(url: str, **kwargs: Any) -> TailscaleBackend:
    """A client of `url`, closed when the test ends."""
    kwargs.setdefault("retry", FAST_RETRY)
    kwargs.setdefault("kind", "api-key")
    kwargs.setdefault("credentials", {"api_key": API_KEY})
    kwargs.setdefault("timeout", 5.0)
    return close_after_test(TailscaleBackend(base_url=url, **kwargs))


@dataclass
class BackendUnderTest:
    kind: str
    backend: Any
    # The store/server behind it, for checks that look beneath the interface.
    local: LocalBackend | None = None
    fake: FakeHeadscale | None = None
    real: Running | None = None  # a real Headscale process


@pytest.fixture(params=["local", "tailscale", "headscale-fake", "headscale-real"])
def any_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BackendUnderTest]:
    """Each backend kind over its counterpart: the contract suite runs on all of them.

    Headscale runs twice: over the real server, and over the fake, which is kept for
    what the real one cannot be made to do (see tests/fakes/headscale.py)."""
    kind = request.param
    if kind == "headscale-real":
        real: Running = request.getfixturevalue("real_headscale")
        backend = HeadscaleBackend(base_url=real.url, api_key=real.api_key, retry=FAST_RETRY)
        try:
            yield BackendUnderTest("headscale", backend, real=real)
        finally:
            backend.close()
        return
    if kind == "local":
        local = LocalBackend(tmp_path / "nested" / "dir" / "local.db")
        yield BackendUnderTest(kind, local, local=local)
    elif kind == "tailscale":
        served: Served = request.getfixturevalue("serve")
        backend = tailscale_client(served.url)
        try:
            yield BackendUnderTest(kind, backend, local=served.server.backend)
        finally:
            backend.close()
    else:
        fake: FakeHeadscale = request.getfixturevalue("fake_headscale")
        backend = HeadscaleBackend(base_url=fake.url, api_key=HEADSCALE_KEY, retry=FAST_RETRY)
        try:
            yield BackendUnderTest("headscale", backend, fake=fake)
        finally:
            backend.close()


def race(writers: list[tuple[Any, str]], etag: str) -> list[str]:
    """Start every (backend, text) push with the same If-Match at once.

    Returns, per writer in order, "won" or "412".
    """
    import threading

    from reconciler.core.errors import PreconditionFailed

    outcomes = [""] * len(writers)
    barrier = threading.Barrier(len(writers))

    def push(i: int, backend: Any, text: str) -> None:
        barrier.wait()
        try:
            backend.push_policy(text, if_match=etag)
            outcomes[i] = "won"
        except PreconditionFailed:
            outcomes[i] = "412"

    threads = [threading.Thread(target=push, args=(i, b, t)) for i, (b, t) in enumerate(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes

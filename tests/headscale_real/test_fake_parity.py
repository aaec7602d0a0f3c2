"""The fake Headscale answers as the real one where the backend relies on the answer.

Each request goes to a fresh real Headscale and to a fresh fake; status, gRPC code and
message must agree (the divergences that remain are listed in tests/fakes/headscale.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.backends.policies import FAILING_TESTS, VALID
from tests.fakes.headscale import FakeHeadscale
from tests.headscale_real.server import Running

# (method, path, body): the answers the backend turns into results or errors.
REQUESTS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/api/v1/policy", None),
    ("PUT", "/api/v1/policy", {"policy": '{"postures": {}}'}),
    ("PUT", "/api/v1/policy", {"policy": '{"ipsets": {}}'}),
    ("POST", "/api/v1/policy/check", {"policy": '{"postures": {}}'}),
    ("PUT", "/api/v1/policy", {"policy": FAILING_TESTS}),
    ("POST", "/api/v1/policy/check", {"policy": FAILING_TESTS}),
    ("POST", "/api/v1/node/n0000000000CNTRL/tags", {"tags": ["tag:ci"]}),
    ("POST", "/api/v1/node/99999/tags", {"tags": ["tag:ci"]}),
    ("PUT", "/api/v1/policy", {"policy": VALID}),
    ("POST", "/api/v1/node/1/tags", {"tags": ["tag:nope"]}),
    ("POST", "/api/v1/node/1/tags", {"tags": []}),
]


@pytest.fixture
def fake() -> Iterator[FakeHeadscale]:
    server = FakeHeadscale("hskey-api-fake", policy=None).start()
    try:
        yield server
    finally:
        server.stop()


def answer(url: str, key: str, method: str, path: str, body: dict[str, Any] | None
           ) -> tuple[int, Any, str]:
    response = httpx.request(method, url + path, json=body,
                             headers={"Authorization": f"Bearer {key}"})
    if response.status_code == 200:
        return 200, None, ""
    data = response.json()
    return response.status_code, data.get("code"), data.get("message")


def test_the_fake_answers_as_the_real_server(real_headscale: Running,
                                             fake: FakeHeadscale) -> None:
    for method, path, body in REQUESTS:
        real = answer(real_headscale.url, real_headscale.api_key, method, path, body)
        faked = answer(fake.url, "hskey-api-fake", method, path, body)
        assert faked == real, f"{method} {path}"


def test_a_wrong_key_gets_the_same_plain_401(real_headscale: Running,
                                             fake: FakeHeadscale) -> None:
    seen = []
    for url in (real_headscale.url, fake.url):
        response = httpx.get(url + "/api/v1/user", headers={"Authorization": "Bearer x"})
        seen.append((response.status_code, response.text.strip(),
                     response.headers["content-type"].split(";")[0]))
    assert seen[0] == seen[1] == (401, "Unauthorized", "text/plain")

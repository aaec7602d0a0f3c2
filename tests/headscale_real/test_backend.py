"""The headscale backend against real Headscale: what its fake got wrong or could not show.

The backend contract suite (tests/backends/test_contract.py) also runs here through
`any_backend[headscale-real]`; these are the Headscale-only behaviours.
"""

from __future__ import annotations

import shutil
from typing import Any

import httpx
import pytest

from reconciler.backends.base import text_etag
from reconciler.backends.headscale import FILE_MODE, HeadscaleBackend
from reconciler.backends.http import RetryPolicy
from reconciler.core.errors import AuthError, BackendError, NotFound, ValidationFailed
from tests.backends.policies import FAILING_TESTS, INVALID, VALID
from tests.conftest import close_after_test
from tests.headscale_real.server import (
    RealHeadscale,
    Running,
    demo_template,
    require_binary,
    short_tmp,
)

RETRY = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05)
POSTURES = '{"postures": {"posture:mac": ["node:os == \'macos\'"]}}'
IPSETS = '{"ipsets": {"ipset:office": ["10.0.0.0/8"]}}'


def client(url: str, api_key: str, **kwargs: Any) -> HeadscaleBackend:
    """A client closed when the test ends."""
    return close_after_test(HeadscaleBackend(base_url=url, api_key=api_key, **kwargs))


def backend_for(real: Running) -> HeadscaleBackend:
    return client(real.url, real.api_key, retry=RETRY)


def requests_to(backend: HeadscaleBackend) -> int:
    return backend.http.stats.requests


def test_a_fresh_headscale_has_no_policy_and_says_so_with_a_500(real_headscale: Running
                                                                ) -> None:
    """What the backend has to cope with, straight from the server."""
    response = httpx.get(real_headscale.url + "/api/v1/policy",
                         headers={"Authorization": f"Bearer {real_headscale.api_key}"})
    assert response.status_code == 500
    assert "acl policy not found" in response.json()["message"]


def test_the_empty_policy_is_read_once_not_retried(real_headscale: Running) -> None:
    backend = backend_for(real_headscale)
    live = backend.fetch_policy()
    assert live.text == "" and live.etag == text_etag("")
    assert requests_to(backend) == 1 and backend.http.stats.retries == 0


@pytest.mark.parametrize(("text", "reason"), [
    (INVALID, 'action="deny" is not supported'),
    (FAILING_TESTS, "alice@example.com -> tag:prod:443: expected ALLOWED, got DENIED"),
    (POSTURES, 'unknown field: "postures"'),
    (IPSETS, 'unknown field: "ipsets"'),
])
def test_a_refused_write_is_reported_once_in_headscales_words(
        real_headscale: Running, text: str, reason: str) -> None:
    """Headscale refuses with 500 `setting policy: ...`: one PUT, its reason, no retry."""
    backend = backend_for(real_headscale)
    etag = backend.fetch_policy().etag
    before = requests_to(backend)
    with pytest.raises(ValidationFailed) as info:
        backend.push_policy(text, if_match=etag)
    assert reason in info.value.summary
    assert not info.value.summary.startswith(("PUT", "setting policy"))
    assert info.value.status == 500
    assert requests_to(backend) - before == 2  # the compare-before-put GET, one PUT
    assert backend.fetch_policy().text == ""


@pytest.mark.parametrize(("text", "reason"), [
    (POSTURES, 'unknown field: "postures"'),
    (FAILING_TESTS, "expected ALLOWED, got DENIED"),
])
def test_check_refuses_with_the_same_words(real_headscale: Running, text: str,
                                           reason: str) -> None:
    result = backend_for(real_headscale).validate(text)
    assert result is not None and not result.ok and reason in result.message


def test_file_mode_refuses_writes_with_a_clear_error() -> None:
    workdir = short_tmp()
    try:
        shutil.copy(demo_template(), workdir / "db.sqlite")
        (workdir / "policy.hujson").write_text(VALID)
        hs = RealHeadscale(require_binary(), workdir, policy_mode="file").start()
        try:
            backend = client(hs.url, hs.create_api_key(), retry=RETRY)
            assert backend.fetch_policy().text == VALID  # readable, as the file says
            with pytest.raises(BackendError) as info:
                backend.push_policy(VALID.replace("group:sre", "group:eng"), if_match=None)
            assert FILE_MODE in info.value.summary
            assert "policy.mode: database" in info.value.detail
        finally:
            hs.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def test_tags_unknown_nodes_and_removal(real_headscale: Running) -> None:
    backend = backend_for(real_headscale)
    backend.push_policy(VALID, if_match=None)
    node = next(d for d in backend.list_devices() if d.name == "prod-web-1")
    with pytest.raises(ValidationFailed) as info:
        backend.set_device_tags(node.id, [])
    assert "cannot remove all tags" in info.value.summary
    with pytest.raises(NotFound) as missing:
        backend.set_device_tags("99999", ["tag:ci"])
    assert "node not found" in missing.value.summary


def test_a_wrong_key_is_an_auth_error_without_the_key(real_headscale: Running) -> None:
    backend = client(real_headscale.url, "hskey-api-wrongwrong")
    with pytest.raises(AuthError) as info:
        backend.list_users()
    assert "hskey-api-wrongwrong" not in str(info.value) + info.value.detail + repr(backend)

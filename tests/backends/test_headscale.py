"""Headscale-only behaviour, against the fake Headscale (tests/fakes/headscale.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.backends import open_backend
from reconciler.backends.headscale import FILE_MODE, HeadscaleBackend
from reconciler.config import Target
from reconciler.errors import AuthError, BackendError, CredentialsError, ValidationFailed
from tests.backends.conftest import FAST_RETRY, HEADSCALE_KEY
from tests.backends.policies import VALID
from tests.fakes.headscale import FakeHeadscale


def test_file_mode_refuses_updates_with_a_clear_error() -> None:
    fake = FakeHeadscale(HEADSCALE_KEY, mode="file").start()
    try:
        backend = HeadscaleBackend(base_url=fake.url, api_key=HEADSCALE_KEY, retry=FAST_RETRY)
        with pytest.raises(BackendError) as info:
            backend.push_policy(VALID, if_match=None)
        assert FILE_MODE in info.value.summary
        assert "policy.mode: database" in info.value.detail
        assert backend.fetch_policy().text == fake.policy  # still readable
    finally:
        fake.stop()


def test_removing_every_tag_is_refused(fake_headscale: FakeHeadscale) -> None:
    backend = HeadscaleBackend(base_url=fake_headscale.url, api_key=HEADSCALE_KEY)
    backend.push_policy(VALID, if_match=None)
    node = next(d for d in backend.list_devices() if d.name == "prod-web-1")
    with pytest.raises(ValidationFailed) as info:
        backend.set_device_tags(node.id, [])
    assert "cannot remove all tags" in info.value.summary


def test_a_wrong_key_is_an_auth_error_without_the_key(fake_headscale: FakeHeadscale) -> None:
    backend = HeadscaleBackend(base_url=fake_headscale.url, api_key="hskey-api-wrongwrong")
    with pytest.raises(AuthError) as info:
        backend.list_users()
    assert "hskey-api-wrongwrong" not in str(info.value) + info.value.detail + repr(backend)


def test_open_backend_needs_headscale_api_key(fake_headscale: FakeHeadscale,
                                              tmp_path: Path) -> None:
    target = Target(name="hs", backend="headscale", base_url=fake_headscale.url)
    with pytest.raises(CredentialsError) as info:
        open_backend(target, root=tmp_path, env={})
    assert "HEADSCALE_API_KEY" in str(info.value)
    backend = open_backend(target, root=tmp_path, env={"HEADSCALE_API_KEY": HEADSCALE_KEY})
    assert backend.identity == f"headscale:{fake_headscale.url}"
    assert backend.list_users()

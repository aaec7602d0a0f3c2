"""Headscale-only behaviour that needs no server of its own (the fake stands in).

File mode, tag removal and a wrong key are tested against real Headscale in
tests/headscale_real/test_backend.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.backends import open_backend
from reconciler.core.errors import CredentialsError
from reconciler.load.config import Target
from tests.backends.conftest import HEADSCALE_KEY
from tests.fakes.headscale import FakeHeadscale


def test_open_backend_needs_headscale_api_key(fake_headscale: FakeHeadscale,
                                              tmp_path: Path) -> None:
    target = Target(name="hs", backend="headscale", base_url=fake_headscale.url)
    with pytest.raises(CredentialsError) as info:
        open_backend(target, root=tmp_path, env={})
    assert "HEADSCALE_API_KEY" in str(info.value)
    backend = open_backend(target, root=tmp_path, env={"HEADSCALE_API_KEY": HEADSCALE_KEY})
    try:
        assert backend.identity == f"headscale:{fake_headscale.url}"
        assert backend.list_users()
    finally:
        backend.close()

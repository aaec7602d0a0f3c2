"""Fixtures for the tests against real Headscale (see `server`)."""

from tests.headscale_real.server import real_headscale  # noqa: F401  (a fixture)

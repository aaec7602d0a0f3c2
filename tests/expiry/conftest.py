"""Expiry fixtures: the plan tests' real git repositories and the real CLI."""

from tests.plan.conftest import local_repo, make_repo  # noqa: F401

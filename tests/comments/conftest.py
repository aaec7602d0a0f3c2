"""Fixtures for the comment tests: the plan tests' real repositories and CLI, and the
real `reconciler serve`."""

from tests.backends.conftest import serve  # noqa: F401
from tests.plan.conftest import make_repo  # noqa: F401

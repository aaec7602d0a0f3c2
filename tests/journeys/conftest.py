"""Journey fixtures: the plan tests' real repositories, CLI and `reconciler serve`."""

from tests.backends.conftest import fake_headscale, serve  # noqa: F401
from tests.plan.conftest import local_repo, make_repo, request_log  # noqa: F401

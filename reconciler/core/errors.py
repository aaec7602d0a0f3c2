"""The whole exception tree.

Lowest layer (imports `problems` and `source` only). Every error the user can cause
is a `ReconcilerError` with a one-line `summary` and a `detail` that says what to do
next; the CLI prints them and exits 1. Anything else is a bug and exits 3.
Third-party exceptions are translated in the module that owns that library, `from e`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reconciler.core.problems import Problem
from reconciler.core.source import Location


class ReconcilerError(Exception):
    """An expected failure: bad input, a refusal, an unreachable control plane."""

    exit_code = 1

    def __init__(self, summary: str, detail: str = "", *, source: Location | None = None):
        super().__init__(summary)
        self.summary = summary
        self.detail = detail
        self.source = source

    def __str__(self) -> str:
        where = f"{self.source}: " if self.source else ""
        return f"{where}{self.summary}"


class ConfigError(ReconcilerError):
    """reconciler.yaml is missing a value, has a wrong one, or names an unknown target."""


class CredentialsError(ConfigError):
    """Credentials are missing from the environment, or conflict."""


class GitError(ReconcilerError):
    """A git repository or revision could not be read."""


class PolicyError(ReconcilerError):
    """The desired state (or a policy document) has one or more problems."""

    def __init__(self, problems: Sequence[Problem], summary: str | None = None, detail: str = ""):
        self.problems = list(problems)
        count = sum(1 for p in self.problems if p.is_error)
        super().__init__(
            summary or f"{count} error{'s' if count != 1 else ''} in the policy",
            detail,
        )


class TestsFailed(ReconcilerError):
    """The policy's tests or sshTests failed (or are invalid)."""

    __test__ = False  # not a pytest test class

    def __init__(self, summary: str, detail: str = "", *, report: Any = None):
        super().__init__(summary, detail)
        self.report = report


# --- control planes -------------------------------------------------------------------


class BackendError(ReconcilerError):
    """A control plane refused a request or could not be reached."""

    def __init__(self, summary: str, detail: str = "", *, status: int | None = None):
        super().__init__(summary, detail)
        self.status = status


class AuthError(BackendError):
    """401/403: the credential is missing, wrong, expired or lacks a scope."""


class NotFound(BackendError):
    """404: the tailnet, device or endpoint does not exist."""


class PreconditionFailed(BackendError):
    """412: the live policy changed since its ETag was read."""


class RateLimited(BackendError):
    """429 after every retry."""

    def __init__(self, summary: str, detail: str = "", *, retry_after: float | None = None,
                 status: int | None = 429):
        super().__init__(summary, detail, status=status)
        self.retry_after = retry_after


class ServerError(BackendError):
    """5xx after every retry."""


class TransportError(BackendError):
    """The connection failed or timed out after every retry."""


class ValidationFailed(BackendError):
    """The control plane rejected the policy: invalid, or its tests failed.

    `failures` holds Tailscale's structured test failures:
    ``[{"user": "...", "errors": ["address \\"...\\": want: Accept, got: Drop"]}]``.
    """

    def __init__(self, summary: str, detail: str = "", *, status: int | None = 400,
                 failures: list[dict[str, Any]] | None = None):
        super().__init__(summary, detail, status=status)
        self.failures = failures or []


# --- plans ----------------------------------------------------------------------------


class PlanFileError(ReconcilerError):
    """A plan file could not be read or is not one this version can apply."""


class UnsupportedPlanFormat(PlanFileError):
    pass


class WrongTarget(PlanFileError):
    pass


class StalePlanError(PlanFileError):
    pass


class NotApplyable(PlanFileError):
    pass

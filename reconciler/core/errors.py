"""The whole exception tree, in one module (core: imports `problems` and `source` only).

Every error the user can cause is a `ReconcilerError` with a one-line `summary` and a
`detail` that says what to do next; the CLI prints them and exits 1 (130 for an
interrupted apply). Anything else is a bug and exits 3. Third-party exceptions are
translated in the module that owns that library, `from e`.

    ReconcilerError
    ├── ConfigError ── CredentialsError        reconciler.yaml, credentials
    ├── GitError                               git (load/gitsource)
    ├── PolicyError                            the policy fragments (validate)
    ├── TestsFailed                            the policy's tests
    ├── HuJSONError                            HuJSON text (load/hujson)
    ├── InventoryError                         inventory files (engine/inventory_io)
    ├── AddressError, SelectorError, PostureError, CompileError, SSHRuleError,
    │   ExplainError                           the engine
    ├── BackendError                           control planes (backends)
    │   ├── AuthError, NotFound, PreconditionFailed, RateLimited, ServerError,
    │   │   TransportError
    │   └── ValidationFailed
    ├── PlanFileError                          plan files (plan/planfile, plancheck)
    │   └── UnsupportedPlanFormat, WrongTarget, StalePlanError, NotApplyable
    └── JournalError, InterruptedApply, ApplyInterrupted   the apply journal (plan)

The validator's own parse errors (`validate.selectors.SelectorSyntaxError`,
`validate.postures.PostureSyntaxError`, ports, durations) are ValueErrors it turns into
`PolicyError` problems; they never reach the user as exceptions.
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


# --- policy text and inventories -------------------------------------------------------


class HuJSONError(ReconcilerError):
    """HuJSON text that does not parse (or a duplicate object name).

    `location` (also `source`, as on every ReconcilerError) is where the problem is,
    with a 1-based column counted in characters as editors show it. `go_message` is
    the error exactly as Go's github.com/tailscale/hujson words and places it
    (``hujson: line 1, column 6: ...``, column in bytes), for comparison with Tailscale.
    """

    def __init__(
        self,
        summary: str,
        detail: str = "",
        *,
        source: Location | None = None,
        go_message: str = "",
        offset: int | None = None,
    ) -> None:
        super().__init__(summary, detail, source=source)
        self.go_message = go_message or summary
        self.offset = offset

    @property
    def location(self) -> Location | None:
        return self.source


class InventoryError(ReconcilerError):
    """An inventory file is missing, unreadable or has a bad value."""


# --- the engine (a policy the validator passed, evaluated) --------------------------------


class AddressError(ReconcilerError):
    """A string is not an IP address, a CIDR prefix or an address range."""


class SelectorError(ReconcilerError):
    """A selector names nothing this policy defines, or is not allowed where it is used."""


class PostureError(ReconcilerError):
    """A posture condition the engine cannot read."""


class CompileError(ReconcilerError):
    """A rule the engine cannot compile (the validator should have caught it)."""


class SSHRuleError(ReconcilerError):
    """An ssh rule the engine cannot compile."""


class ExplainError(ReconcilerError):
    """The question itself is malformed (unknown src, bad dst:port, bad proto)."""


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


# --- the apply journal ---------------------------------------------------------------


class JournalError(ReconcilerError):
    """The journal cannot be written or read."""


class InterruptedApply(ReconcilerError):
    """An apply of this target stopped part way; `apply --resume` finishes it."""


class ApplyInterrupted(ReconcilerError):
    """Ctrl-C during the writes of an apply: the journal says what is left."""

    exit_code = 130

"""The `local` backend: the embedded control plane, in-process over the SQLite store.

backends/ (fetch and push). May import: `backends.base`, `backends.local.store`,
`backends.policycheck`, `inventory`, `errors`. It behaves as Tailscale does: a push
is parsed, validated and its tests run before anything is stored (ValidationFailed
with Tailscale's message and failures otherwise), and `If-Match` is honoured,
`"ts-default"` included. `reconciler serve` puts the same store behind HTTP.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from reconciler.backends.base import LivePolicy, ValidationResult
from reconciler.backends.local.seed import Seed
from reconciler.backends.local.store import PRECONDITION_MESSAGE, LocalStore, etag_matches
from reconciler.backends.policycheck import check_text, tag_owners
from reconciler.core.errors import PreconditionFailed, ValidationFailed
from reconciler.core.inventory import Device, User


def refuse(result: ValidationResult) -> ValidationFailed:
    """The error for a policy the control plane would not store."""
    detail = "\n".join(
        f"{f.get('user', '?')}: {err}" for f in result.failures for err in f.get("errors", [])
    )
    return ValidationFailed(result.message, detail, failures=result.failures)


class LocalBackend:
    """The local control plane in the SQLite file at `path`."""

    def __init__(self, path: Path, *, clock: Callable[[], datetime] | None = None,
                 seed_with: Callable[[], Seed] | None = None) -> None:
        self.store = LocalStore(Path(path), clock=clock, seed_with=seed_with)

    @property
    def identity(self) -> str:
        return f"local:{self.store.path}"

    def __repr__(self) -> str:
        return f"LocalBackend({self.identity!r})"

    def fetch_policy(self) -> LivePolicy:
        stored = self.store.policy()
        return LivePolicy(stored.text, stored.etag)

    def push_policy(self, text: str, *, if_match: str | None, source: str = "api") -> str:
        # A stale ETag is refused before the (slower) validation; the store checks it
        # again under its write lock, which is what makes concurrent writers safe.
        if not etag_matches(if_match, self.store.policy()):
            raise PreconditionFailed(PRECONDITION_MESSAGE,
                                     "The live policy changed; fetch it again and re-plan.",
                                     status=412)
        result = check_text(text, self.store.inventory())
        if not result.ok:
            raise refuse(result)
        return self.store.write_policy(text, if_match=if_match, source=source)

    def validate(self, text: str) -> ValidationResult:
        return check_text(text, self.store.inventory())

    def list_devices(self) -> list[Device]:
        return self.store.devices()

    def list_users(self) -> list[User]:
        return self.store.users()

    def set_device_tags(self, device_id: str, tags: list[str]) -> None:
        self.store.set_device_tags(device_id, list(tags),
                                   allowed=tag_owners(self.store.policy().text))

    def close(self) -> None:
        """Nothing held open: the store connects per operation."""

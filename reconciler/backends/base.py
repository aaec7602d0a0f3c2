"""The backends' interface: what every control plane offers the pipeline.

backends/ (fetch and push). May import: `inventory`, `errors` (and the stdlib). A backend
fetches the live policy text with its ETag, pushes a new text under `If-Match`,
validates where the control plane can, lists users and devices, and sets device
tags. Every failure is one of the `BackendError` subclasses in `reconciler.core.errors`,
raised `from` the underlying error; nothing else escapes a backend.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from reconciler.core.inventory import Device, User

#: The If-Match value that matches only the untouched default policy (Tailscale's).
TS_DEFAULT = "ts-default"

@dataclass(frozen=True)
class LivePolicy:
    """The policy text as stored by the control plane, and the ETag to send back."""

    text: str
    etag: str  # quoted, as the server sends it: '"3f2a..."'


@dataclass(frozen=True)
class ValidationResult:
    """What a control plane's validate said: ok, or a message and Tailscale's failures.

    `failures` is Tailscale's structured form ``[{"user": ..., "errors": [...]}]``;
    an invalid (rather than failing) policy has a message and usually no failures.
    """

    ok: bool
    message: str = ""
    failures: list[dict[str, Any]] = field(default_factory=list)


@runtime_checkable
class Backend(Protocol):
    """One control plane. `identity` names it in plans (never includes a secret)."""

    @property
    def identity(self) -> str: ...

    def fetch_policy(self) -> LivePolicy: ...

    def push_policy(self, text: str, *, if_match: str | None) -> str: ...

    def validate(self, text: str) -> ValidationResult | None: ...

    def list_devices(self) -> list[Device]: ...

    def list_users(self) -> list[User]: ...

    def set_device_tags(self, device_id: str, tags: list[str]) -> None: ...

    def close(self) -> None: ...


def text_etag(text: str) -> str:
    """The quoted sha256 hex of a policy text, the ETag the local store and serve use."""
    return '"' + hashlib.sha256(text.encode("utf-8")).hexdigest() + '"'


def unquote_etag(value: str) -> str:
    """`"abc"` -> `abc`; also strips a weak-validator prefix `W/`."""
    value = value.strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"')


def truncate(text: str, limit: int = 300) -> str:
    """A response body short enough for an error message."""
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + f"... ({len(text) - limit} more chars)"

"""The `headscale` backend: Headscale's REST API v1 over httpx.

Layer 4 (backends). May import: httpx, `config` (credential names), `backends.base`,
`backends.http`, `inventory`, `errors`. Uses `GET|PUT /api/v1/policy` (Headscale must
run with `policy.mode: database`; in file mode writes are refused with
`update is disabled for modes other than 'database'`), `POST /api/v1/policy/check`,
`GET /api/v1/user`, `GET /api/v1/node` and `POST /api/v1/node/{id}/tags`, with
`Authorization: Bearer $HEADSCALE_API_KEY`.

ETags: Headscale v1 has none, so the ETag here is the quoted sha256 of the policy
text, and `push_policy(if_match=...)` compares it with a fresh GET just before the
PUT. This is best effort, NOT atomic: a write landing between the GET and the PUT
is overwritten. `"ts-default"` matches only while no policy is stored (the policy
text is empty), as in Headscale's own v2 API.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from reconciler.backends.base import (
    TS_DEFAULT,
    LivePolicy,
    ValidationResult,
    text_etag,
    unquote_etag,
)
from reconciler.backends.http import HttpClient, Redactor, RetryPolicy
from reconciler.errors import BackendError, PreconditionFailed, ValidationFailed
from reconciler.inventory import Device, User

FILE_MODE = "update is disabled for modes other than 'database'"


def _login(user: Mapping[str, Any] | None) -> str | None:
    """Headscale users are named in policies by e-mail, or `name@` without one."""
    if not user:
        return None
    return user.get("email") or (f"{user['name']}@" if user.get("name") else None)


def node_to_device(node: Mapping[str, Any]) -> Device:
    addresses = list(node.get("ipAddresses") or [])
    tags = tuple(sorted(set(node.get("tags") or [])))
    return Device(
        name=node.get("givenName") or node.get("name") or "",
        ipv4=next((a for a in addresses if ":" not in a), None),
        ipv6=next((a for a in addresses if ":" in a), None),
        user=None if tags else _login(node.get("user")),
        tags=tags,
        approved_routes=tuple(node.get("approvedRoutes") or []),
        advertised_routes=tuple(node.get("availableRoutes") or []),
        id=str(node.get("id", "")),
    )


class HeadscaleBackend:
    """A Headscale server at `base_url` (policy in database mode)."""

    def __init__(self, *, base_url: str, api_key: str, timeout: float = 30.0,
                 client: httpx.Client | None = None, retry: RetryPolicy | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.base_url = base_url.rstrip("/")
        self.redact = Redactor([api_key])
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self.http = HttpClient(self.base_url, auth=lambda: self._headers, timeout=timeout,
                               client=client, retry=retry, sleep=sleep, redact=self.redact)

    @classmethod
    def from_target(cls, target: Any, *, env: Mapping[str, str], **kwargs: Any
                    ) -> HeadscaleBackend:
        from reconciler.config import credential_env

        creds = credential_env("headscale", env, getattr(target, "credential_names", None))
        return cls(base_url=getattr(target, "base_url", ""),
                   api_key=creds.values["HEADSCALE_API_KEY"],
                   timeout=float(getattr(target, "timeout", 30.0)), **kwargs)

    @property
    def identity(self) -> str:
        return f"headscale:{self.base_url}"

    def __repr__(self) -> str:
        return f"HeadscaleBackend({self.identity!r})"

    def close(self) -> None:
        self.http.close()

    # --- policy -----------------------------------------------------------------------

    def fetch_policy(self) -> LivePolicy:
        body = self.http.request("GET", "/api/v1/policy").json()
        text = str(body.get("policy") or "")
        return LivePolicy(text, text_etag(text))

    def push_policy(self, text: str, *, if_match: str | None) -> str:
        if if_match is not None:
            live = self.fetch_policy()
            wanted = unquote_etag(if_match)
            ok = (wanted == "*" or (wanted == TS_DEFAULT and not live.text.strip())
                  or wanted == unquote_etag(live.etag))
            if not ok:
                raise PreconditionFailed(
                    "precondition failed, invalid old hash",
                    "The Headscale policy changed since it was read; fetch it again and "
                    "re-plan.", status=412)
        try:
            body = self.http.request("PUT", "/api/v1/policy", json={"policy": text},
                                     retry=if_match is not None).json()
        except ValidationFailed as e:
            if FILE_MODE in e.summary:
                raise self._file_mode(e) from e
            raise
        except BackendError as e:
            if FILE_MODE in e.summary:
                raise self._file_mode(e) from e
            raise
        return text_etag(str(body.get("policy", text)))

    @staticmethod
    def _file_mode(e: BackendError) -> BackendError:
        return BackendError(
            f"Headscale refused the policy update: {FILE_MODE}",
            "Headscale keeps its policy in a file (policy.mode: file). Set policy.mode: "
            "database in its config to manage the policy through the API.",
            status=e.status,
        )

    def validate(self, text: str) -> ValidationResult:
        try:
            self.http.request("POST", "/api/v1/policy/check", json={"policy": text})
        except ValidationFailed as e:
            return ValidationResult(ok=False, message=e.summary, failures=e.failures)
        return ValidationResult(ok=True)

    # --- inventory --------------------------------------------------------------------

    def list_users(self) -> list[User]:
        body = self.http.request("GET", "/api/v1/user").json()
        return [User(login=_login(u) or "", id=str(u.get("id", "")),
                     display_name=u.get("displayName") or u.get("name") or "")
                for u in body.get("users") or []]

    def list_devices(self) -> list[Device]:
        body = self.http.request("GET", "/api/v1/node").json()
        return sorted((node_to_device(n) for n in body.get("nodes") or []),
                      key=lambda d: d.name)

    def set_device_tags(self, device_id: str, tags: list[str]) -> None:
        self.http.request("POST", f"/api/v1/node/{device_id}/tags", json={"tags": list(tags)})

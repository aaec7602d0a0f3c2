"""The `headscale` backend: Headscale's REST API v1 over httpx.

backends/ (fetch and push). May import: httpx, `config` (credential names), `backends.base`,
`backends.http`, `inventory`, `errors`. Uses `GET|PUT /api/v1/policy` (Headscale must
run with `policy.mode: database`; in file mode writes are refused with
`update is disabled for modes other than 'database'`), `POST /api/v1/policy/check`,
`GET /api/v1/user`, `GET /api/v1/node` and `POST /api/v1/node/{id}/tags`, with
`Authorization: Bearer $HEADSCALE_API_KEY`. Checked against Headscale v0.29.2 itself
(tests/headscale_real):

- A fresh Headscale in database mode has no policy: `GET /api/v1/policy` answers 500
  `loading ACL from database: acl policy not found`. That is the empty policy (Headscale
  then allows all traffic), not a server failure, so it is not retried.
- A refused write (`PUT /api/v1/policy`: invalid, unknown field, failing tests) comes
  back as 500 with gRPC code 2 and `setting policy: <why>`; `/policy/check` says the
  same with 400. Both become `ValidationFailed` with Headscale's words, never retried.
- The PUT is sent once: Headscale has no write precondition, so repeating a PUT after
  a lost answer could overwrite a write that landed in between.

ETags: Headscale v1 has none, so the ETag here is the quoted sha256 of the policy
text, and `push_policy(if_match=...)` compares it with a fresh GET immediately before
the PUT. This narrows the race, it does NOT close it: a write landing between that GET
and the PUT is overwritten (`NO_PRECONDITION` says so in plan and apply output).
`"ts-default"` matches only while no policy is stored (the policy text is empty), as
in Headscale's own v2 API.
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
from reconciler.backends.http import HttpClient, Redactor, RetryPolicy, json_body
from reconciler.core.errors import (
    BackendError,
    NotFound,
    PreconditionFailed,
    RateLimited,
    ServerError,
    TransportError,
    ValidationFailed,
)
from reconciler.core.inventory import Device, User

FILE_MODE = "update is disabled for modes other than 'database'"
# Headscale's answer to GET /api/v1/policy in database mode before any policy is set.
POLICY_NOT_FOUND = "acl policy not found"
# How Headscale's SetPolicy wraps a refusal (hscontrol/grpcv1.go); the rest is its reason.
REFUSED_PREFIXES = ("setting policy: ", "verifying SSH rules: ")
NO_PRECONDITION = (
    "Headscale has no write precondition: reconciler re-reads the live policy and "
    "compares it immediately before writing, but a change made by someone else in "
    "between would be overwritten.")


def headscale_message(e: BackendError, method: str, path: str) -> str:
    """Headscale's own message out of an error summary (`METHOD path: HTTP n: msg`)."""
    text = e.summary
    prefix = f"{method} {path}: HTTP {e.status}: "
    if text.startswith(prefix):
        text = text[len(prefix):]
    return text.split(" (after ", 1)[0] if e.status and e.status >= 500 else text


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

    #: Shown in plan and apply output: Headscale cannot refuse a write as stale.
    precondition_note = NO_PRECONDITION

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
        from reconciler.load.config import credential_env

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
        # The first try is not retried: "no policy yet" is a 500 that retrying cannot
        # change. Anything else transient gets the usual retries after it.
        try:
            response = self.http.request("GET", "/api/v1/policy", retry=False)
        except ServerError as e:
            if POLICY_NOT_FOUND in e.summary:
                return LivePolicy("", text_etag(""))
            response = self.http.request("GET", "/api/v1/policy")
        except (TransportError, RateLimited):
            response = self.http.request("GET", "/api/v1/policy")
        text = str(json_body(response).get("policy") or "")
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
            body = json_body(self.http.request("PUT", "/api/v1/policy",
                                               json={"policy": text}, retry=False))
        except BackendError as e:
            if FILE_MODE in e.summary:
                raise self._file_mode(e) from e
            if isinstance(e, ServerError):
                refused = self._refusal(e)
                if refused is not None:
                    raise refused from e
            raise
        return text_etag(str(body.get("policy", text)))

    @staticmethod
    def _refusal(e: ServerError) -> ValidationFailed | None:
        """Headscale's 500 for a policy it refuses, as the validation failure it is."""
        message = headscale_message(e, "PUT", "/api/v1/policy")
        for prefix in REFUSED_PREFIXES:
            if message.startswith(prefix):
                reason = message[len(prefix):] if prefix.startswith("setting") else message
                return ValidationFailed(
                    reason, "Headscale refused the policy; nothing was written.",
                    status=e.status)
        return None

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
        body = json_body(self.http.request("GET", "/api/v1/user"))
        return [User(login=_login(u) or "", id=str(u.get("id", "")),
                     display_name=u.get("displayName") or u.get("name") or "")
                for u in body.get("users") or []]

    def list_devices(self) -> list[Device]:
        body = json_body(self.http.request("GET", "/api/v1/node"))
        return sorted((node_to_device(n) for n in body.get("nodes") or []),
                      key=lambda d: d.name)

    def set_device_tags(self, device_id: str, tags: list[str]) -> None:
        if not device_id.isdigit():
            # Headscale answers a non-numeric id with 400 "type mismatch": its node ids
            # are numbers, so such a device cannot exist there.
            raise NotFound(f"Headscale has no node with id {device_id!r}",
                           "Headscale node ids are numbers; `headscale nodes list` shows "
                           "them.", status=404)
        self.http.request("POST", f"/api/v1/node/{device_id}/tags", json={"tags": list(tags)})

"""The `tailscale` backend: the Tailscale API v2 over httpx (also `reconciler serve`).

backends/ (fetch and push). May import: httpx, `config` (credential names), `backends.base`,
`backends.http`, `inventory`, `errors`.

Credentials come only from the environment, by name, with this precedence (set
exactly one kind; two kinds at once is a CredentialsError, not a silent choice):

1. ``TS_API_KEY``: an API access token, sent as HTTP Basic (token as user name).
2. ``TS_OAUTH_CLIENT_ID`` + ``TS_OAUTH_CLIENT_SECRET``: an OAuth client; a bearer
   token is obtained at ``/api/v2/oauth/token`` (client credentials grant) and cached
   until 60 s before it expires.
3. ``TS_OAUTH_CLIENT_ID`` + ``TS_ID_TOKEN``: workload identity federation; the OIDC
   ID token is exchanged at ``/api/v2/oauth/token-exchange`` for a bearer token,
   cached the same way.

Nothing here logs, repr()s or raises a credential: every credential, and every
access token obtained, is registered with `reconciler.core.redact` (through the client's
`Redactor`), which scrubs every error text and everything the process outputs.
Reads, tag updates and a policy POST that carries If-Match are retried (see
`backends.http`); a POST without If-Match is sent once, because repeating it could
apply a policy twice. Device posture attributes cost one request per device, so
`list_devices` reads them only with ``fetch_posture=True`` (target option
``posture: true``).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import httpx

from reconciler.backends.base import LivePolicy, ValidationResult, text_etag, unquote_etag
from reconciler.backends.http import HttpClient, Redactor, RetryPolicy, json_body
from reconciler.core.errors import (
    AuthError,
    BackendError,
    CredentialsError,
    PreconditionFailed,
    RateLimited,
    ServerError,
    TransportError,
    ValidationFailed,
)
from reconciler.core.inventory import Device, User

TOKEN_MARGIN = 60.0  # renew a cached token this many seconds before it expires
HUJSON = "application/hujson"


def resolve_credentials(env: Mapping[str, str], names: Mapping[str, str] | None = None
                        ) -> tuple[str, dict[str, str]]:
    """(kind, values) from the environment: "api-key", "oauth" or "workload-identity".
    `names`: the target's own variable names (`Target.credential_names`)."""
    from reconciler.load.config import credential_env

    creds = credential_env("tailscale", env, names)
    if creds.kind == "none" or not creds.values:
        raise CredentialsError(
            "no Tailscale credentials in the environment",
            "Set TS_API_KEY, or TS_OAUTH_CLIENT_ID + TS_OAUTH_CLIENT_SECRET (OAuth client), "
            "or TS_OAUTH_CLIENT_ID + TS_ID_TOKEN (workload identity).",
        )
    values = dict(creds.values)
    if creds.kind == "api-key":
        return "api-key", {"api_key": values["TS_API_KEY"]}
    if "TS_OAUTH_CLIENT_SECRET" in values:
        return "oauth", {"client_id": values["TS_OAUTH_CLIENT_ID"],
                         "client_secret": values["TS_OAUTH_CLIENT_SECRET"]}
    if "TS_ID_TOKEN" in values:
        return "workload-identity", {"client_id": values["TS_OAUTH_CLIENT_ID"],
                                     "jwt": values["TS_ID_TOKEN"]}
    raise CredentialsError(
        "TS_OAUTH_CLIENT_ID is set without TS_OAUTH_CLIENT_SECRET or TS_ID_TOKEN",
        "Also set TS_OAUTH_CLIENT_SECRET (OAuth client) or TS_ID_TOKEN (workload identity).",
    )


class TokenSource:
    """Authorization headers for one credential; bearer tokens cached until near expiry."""

    def __init__(self, kind: str, values: Mapping[str, str], *, redact: Redactor,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.kind = kind
        self._values = dict(values)
        self._redact = redact
        self._clock = clock
        self._token: str | None = None
        self._expires = 0.0
        self.fetches = 0  # how many tokens were obtained (tests check the cache)
        self.http: HttpClient | None = None
        for value in self._values.values():  # the client id too: it is half the credential
            redact.add(value)

    def __repr__(self) -> str:
        return f"TokenSource(kind={self.kind!r})"

    def headers(self) -> dict[str, str]:
        if self.kind == "api-key":
            basic = base64.b64encode(f"{self._values['api_key']}:".encode()).decode()
            self._redact.add(basic)
            return {"Authorization": f"Basic {basic}"}
        if self._token is None or self._clock() >= self._expires:
            self._renew()
        return {"Authorization": f"Bearer {self._token}"}

    def invalidate(self) -> None:
        self._token = None

    def _renew(self) -> None:
        assert self.http is not None, "TokenSource.http is set by TailscaleBackend"
        if self.kind == "oauth":
            path = "/api/v2/oauth/token"
            form = {"grant_type": "client_credentials", "client_id": self._values["client_id"],
                    "client_secret": self._values["client_secret"]}
        else:
            path = "/api/v2/oauth/token-exchange"
            form = {"client_id": self._values["client_id"], "jwt": self._values["jwt"]}
        try:
            response = self.http.request("POST", path, data=form, auth=False)
        except (AuthError, ValidationFailed) as e:
            # An OAuth token endpoint answers a bad client or grant with 400 or 401.
            raise AuthError(
                f"the {self.kind} credential was refused at {path}",
                "Check TS_OAUTH_CLIENT_ID and "
                + ("TS_OAUTH_CLIENT_SECRET." if self.kind == "oauth" else "TS_ID_TOKEN."),
                status=e.status,
            ) from e
        try:
            body = response.json()
            token = str(body["access_token"])
            lifetime = float(body.get("expires_in", 3600))
        except (ValueError, KeyError, TypeError) as e:
            raise AuthError(f"{path}: the token response has no access_token") from e
        self._redact.add(token)
        self._token = token
        self._expires = self._clock() + max(0.0, lifetime - TOKEN_MARGIN)
        self.fetches += 1


def api_base(base_url: str) -> str:
    """`https://api.tailscale.com` (or one ending in /api/v2) -> the server root."""
    base = (base_url or "https://api.tailscale.com").rstrip("/")
    return base[: -len("/api/v2")] if base.endswith("/api/v2") else base


def device_from_api(d: Mapping[str, Any]) -> Device:
    """A Device from the API's Device object (`fields=all` for routes)."""
    addresses = list(d.get("addresses") or [])
    ipv4 = next((a for a in addresses if ":" not in a), None)
    ipv6 = next((a for a in addresses if ":" in a), None)
    tags = tuple(sorted(d.get("tags") or []))
    name = d.get("hostname") or str(d.get("name", "")).split(".")[0]
    return Device(
        name=name, ipv4=ipv4, ipv6=ipv6, user=None if tags else (d.get("user") or None),
        tags=tags, approved_routes=tuple(d.get("enabledRoutes") or []),
        advertised_routes=tuple(d.get("advertisedRoutes") or []),
        id=str(d.get("nodeId") or d.get("id") or ""), shared=bool(d.get("isExternal")),
    )


class TailscaleBackend:
    """A tailnet behind the Tailscale API v2 at `base_url`."""

    def __init__(
        self,
        *,
        base_url: str,
        tailnet: str = "-",
        kind: str,
        credentials: Mapping[str, str],
        timeout: float = 30.0,
        client: httpx.Client | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        fetch_posture: bool = False,
    ) -> None:
        self.base_url = api_base(base_url)
        # Posture attributes cost one request per device, so they are opt-in.
        self.fetch_posture = fetch_posture
        self.tailnet = tailnet or "-"
        self.redact = Redactor()
        self.tokens = TokenSource(kind, credentials, redact=self.redact, clock=clock)
        self.http = HttpClient(self.base_url, auth=self.tokens.headers, timeout=timeout,
                               client=client, retry=retry, sleep=sleep, redact=self.redact)
        self.tokens.http = self.http
        self.found_live_after_retry = False

    @classmethod
    def from_target(cls, target: Any, *, env: Mapping[str, str], **kwargs: Any
                    ) -> TailscaleBackend:
        kind, values = resolve_credentials(env, getattr(target, "credential_names", None))
        options = getattr(target, "options", None) or {}
        kwargs.setdefault("fetch_posture", bool(options.get("posture", False)))
        return cls(base_url=getattr(target, "base_url", "") or "https://api.tailscale.com",
                   tailnet=getattr(target, "tailnet", "-") or "-", kind=kind,
                   credentials=values, timeout=float(getattr(target, "timeout", 30.0)),
                   **kwargs)

    @property
    def identity(self) -> str:
        return f"tailscale:{self.tailnet}@{self.base_url}"

    def __repr__(self) -> str:
        return f"TailscaleBackend({self.identity!r}, auth={self.tokens.kind!r})"

    def close(self) -> None:
        self.http.close()

    def _tailnet_path(self, suffix: str) -> str:
        return f"/api/v2/tailnet/{self.tailnet}/{suffix}"

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One API call; a 401 with a cached bearer token renews the token once."""
        try:
            return self.http.request(method, path, **kwargs)
        except AuthError:
            if self.tokens.kind == "api-key" or self.tokens.fetches == 0:
                raise
            self.tokens.invalidate()
            return self.http.request(method, path, **kwargs)

    # --- policy -----------------------------------------------------------------------

    def fetch_policy(self) -> LivePolicy:
        response = self._request("GET", self._tailnet_path("acl"), headers={"Accept": HUJSON})
        etag = response.headers.get("ETag") or text_etag(response.text)
        return LivePolicy(response.text, etag)

    def push_policy(self, text: str, *, if_match: str | None) -> str:
        headers = {"Content-Type": HUJSON, "Accept": HUJSON}
        if if_match is not None:
            headers["If-Match"] = '"' + unquote_etag(if_match) + '"'
        retries_before = self.http.stats.retries
        # Set when the text was found live after a retry: stored by an attempt whose
        # answer was lost, or live before this push; the caller says it cannot tell.
        self.found_live_after_retry = False
        try:
            response = self._request("POST", self._tailnet_path("acl"), content=text.encode(),
                                     headers=headers, retry=if_match is not None)
        except (TransportError, ServerError, RateLimited) as e:
            if if_match is not None and self.http.stats.retries > retries_before:
                landed = self._landed(text)
                if landed is not None:
                    self.found_live_after_retry = True
                    return landed
            e.detail = ("The policy may or may not have been stored (the answer was lost). "
                        "Fetch it to check before pushing again"
                        + ("." if if_match is not None else
                           "; without If-Match the push was not retried, so it was sent once."))
            raise
        except PreconditionFailed as e:
            if self.http.stats.retries == retries_before:
                raise
            # A retried POST met 412: did an earlier attempt land before its answer was
            # lost? If live is exactly our text, it did, once; otherwise someone else won.
            landed = self._landed(text)
            if landed is not None:
                self.found_live_after_retry = True
                return landed
            raise PreconditionFailed(
                e.summary, "The live policy changed while the push was being retried; "
                "fetch it again and re-plan.", status=e.status) from e
        return response.headers.get("ETag") or self.fetch_policy().etag

    def _landed(self, text: str) -> str | None:
        """The live ETag if live is exactly `text` (an earlier attempt landed), else None."""
        try:
            live = self.fetch_policy()
        except BackendError:
            return None
        return live.etag if live.text == text else None

    def validate(self, text: str) -> ValidationResult:
        response = self._request("POST", self._tailnet_path("acl/validate"),
                                 content=text.encode(), headers={"Content-Type": HUJSON})
        try:
            body = json_body(response) if response.content.strip() else {}
        except ValueError:
            body = {}
        # The verdict's text is the server's: it lands in the plan file and the outputs,
        # so it is redacted here, at the source, as well as at every output.
        message = self.redact(str(body.get("message") or "")) if isinstance(body, dict) else ""
        data = body.get("data") if isinstance(body, dict) else None
        failures = self.redact.data(
            [d for d in data or [] if isinstance(d, dict) and d.get("errors")]
            if isinstance(data, list) else [])
        if not message and not failures:
            return ValidationResult(ok=True)
        if not failures and message.startswith("warning"):
            return ValidationResult(ok=True, message=message)
        return ValidationResult(ok=False, message=message, failures=failures)

    # --- inventory --------------------------------------------------------------------

    def list_devices(self) -> list[Device]:
        response = self._request("GET", self._tailnet_path("devices"),
                                 params={"fields": "all"})
        devices = [device_from_api(d) for d in json_body(response).get("devices") or []]
        if self.fetch_posture:
            devices = [replace(d, posture=self._posture(d.id)) for d in devices]
        return sorted(devices, key=lambda d: d.name)

    def _posture(self, device_id: str) -> dict[str, Any]:
        body = json_body(self._request("GET", f"/api/v2/device/{device_id}/attributes"))
        attributes = body.get("attributes") if isinstance(body, dict) else None
        return dict(attributes) if isinstance(attributes, dict) else {}

    def list_users(self) -> list[User]:
        response = self._request("GET", self._tailnet_path("users"), params={"type": "all"})
        return [
            User(login=u.get("loginName", ""), role=u.get("role") or "member",
                 id=str(u.get("id", "")), display_name=u.get("displayName", ""),
                 shared=u.get("type") == "shared")
            for u in json_body(response).get("users") or []
        ]

    def set_device_tags(self, device_id: str, tags: list[str]) -> None:
        self._request("POST", f"/api/v2/device/{device_id}/tags", json={"tags": list(tags)})

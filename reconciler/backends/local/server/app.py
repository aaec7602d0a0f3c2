"""`reconciler serve`: the local store behind a Tailscale API v2 subset over HTTP.

Layer: server (beside the backends; the only http.server user). May import:
`backends.local.backend`, `backends.local.store`, `backends.policycheck`, `backends.base`,
`server.faults`, `errors`. Serves exactly what the `tailscale` backend uses:

- `GET|POST /api/v2/tailnet/{tailnet}/acl` (Accept hujson or json, `ETag`, `If-Match`
  with `"ts-default"`, 412, 400 `{message, data}`; `?details=true`)
- `POST /api/v2/tailnet/{tailnet}/acl/validate` (a test array against the stored
  policy, or a whole policy; 200 with failures in the body)
- `GET /api/v2/tailnet/{tailnet}/devices[?fields=all]`, `GET /api/v2/device/{id}`,
  `POST /api/v2/device/{id}/tags`, `GET /api/v2/device/{id}/attributes` (posture),
  `GET /api/v2/tailnet/{tailnet}/users`
- `POST /api/v2/oauth/token` (client credentials) and `/api/v2/oauth/token-exchange`
  (workload identity). Token exchange is refused unless an issuer and its key are
  configured (`ServeConfig.oidc_issuer`, `oidc_key`): the JWT must be HS256-signed with
  that key, name that issuer and not be expired. This is a local stand-in, so it takes a
  shared key rather than fetching an identity provider's JWKS; it never trusts an
  unsigned token. Tokens last 3600 s.

Every other request without a valid credential gets 401, decided from the headers
before the body is read. Bodies are capped (`max_body`, 413 past it), idle sockets time
out (`idle_timeout`), and at most `max_connections` are served at once (503 past
that), so a flood of slow or huge requests cannot exhaust memory or threads.
Credentials are never logged: the request log is off unless `verbose`, and it never
includes headers.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import re
import secrets
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from reconciler.backends.local.backend import LocalBackend
from reconciler.backends.local.server.faults import Fault, FaultQueue
from reconciler.backends.policycheck import (
    PolicyParseError,
    check_tests,
    parse_policy,
    parse_value,
)
from reconciler.core.errors import BackendError, NotFound, PreconditionFailed, ValidationFailed

TOKEN_LIFETIME = 3600
# Tailscale's own limit on a policy file is well under this; the benchmark's huge
# tailnet policy is about 9 MB, so 32 MiB leaves room without letting a client make
# the server buffer an arbitrary amount.
DEFAULT_MAX_BODY = 32 * 1024 * 1024
DEFAULT_IDLE_TIMEOUT = 30.0  # seconds a socket may sit without sending a byte
DEFAULT_MAX_CONNECTIONS = 128
HUJSON = "application/hujson"
JSON = "application/json"


@dataclass
class ServeConfig:
    db: Path
    host: str = "127.0.0.1"
    port: int = 0  # 0: any free port
    api_key: str | None = None
    oauth_client_id: str | None = None
    oauth_client_secret: str | None = None
    tailnet: str = "example.com"  # the name accepted besides "-"
    verbose: bool = False
    max_body: int = DEFAULT_MAX_BODY
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    # Workload identity: refused unless both are set (see the module docstring).
    oidc_issuer: str | None = None
    oidc_key: str | None = None

    def __repr__(self) -> str:  # never show the secrets
        return f"ServeConfig(db={str(self.db)!r}, host={self.host!r}, port={self.port})"


@dataclass(frozen=True)
class ResponseRecord:
    """One response the server sent, for the spec check in the tests."""

    method: str
    path: str
    operation: str  # the OpenAPI operationId, or "" for endpoints outside the spec
    status: int
    content_type: str
    body: bytes


@dataclass
class Reply:
    status: int
    body: bytes = b""
    content_type: str = JSON
    headers: dict[str, str] = field(default_factory=dict)


def json_reply(status: int, data: Any, **headers: str) -> Reply:
    return Reply(status, json.dumps(data).encode(), JSON, dict(headers))


def error_reply(status: int, message: str, data: Any = None) -> Reply:
    body: dict[str, Any] = {"message": message}
    if data:
        body["data"] = data
    return json_reply(status, body)


def _b64url_json(part: str) -> Any:
    padded = part + "=" * (-len(part) % 4)
    return json.loads(base64.urlsafe_b64decode(padded.encode()))


_BUSY_BODY = b'{"message": "too many open connections"}'
_BUSY_RESPONSE = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                  b"Retry-After: 1\r\nConnection: close\r\n"
                  b"Content-Length: " + str(len(_BUSY_BODY)).encode() + b"\r\n\r\n"
                  + _BUSY_BODY)


class ControlServer(ThreadingHTTPServer):
    """The HTTP server; `faults` and `on_response` are the test hooks."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, config: ServeConfig, backend: LocalBackend | None = None) -> None:
        if not (config.api_key or (config.oauth_client_id and config.oauth_client_secret)):
            raise BackendError(
                "reconciler serve needs a credential to check",
                "Set RECONCILER_SERVE_API_KEY (or --api-key), or an OAuth client with "
                "RECONCILER_SERVE_OAUTH_CLIENT_ID and RECONCILER_SERVE_OAUTH_CLIENT_SECRET.",
            )
        self.config = config
        self.backend = backend or LocalBackend(config.db)
        self.faults = FaultQueue()
        self.on_response: Callable[[ResponseRecord], None] | None = None
        self._tokens: dict[str, float] = {}  # access token -> expiry (monotonic)
        self._tokens_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        # One slot per connection being served; ThreadingHTTPServer alone starts a
        # thread for every connection, however many stall.
        self._slots = threading.BoundedSemaphore(config.max_connections)
        super().__init__((config.host, config.port), Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            # Full: answer at once and close, rather than queue behind stalled clients.
            with contextlib.suppress(OSError):
                request.sendall(_BUSY_RESPONSE)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-request is no server error: say nothing (the
        store is transactional, so nothing was half-written). Anything else is a bug,
        printed as socketserver does."""
        import sys

        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def __repr__(self) -> str:
        return f"ControlServer({self.url!r})"

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        if isinstance(host, bytes):  # typeshed allows it; an AF_INET address is a str
            host = host.decode()
        return f"http://{host}:{port}"

    def start(self) -> ControlServer:
        """Serve in a daemon thread (tests); `shutdown()` stops it."""
        # A short poll interval so `stop()` returns quickly (tests start many servers).
        self._thread = threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True,
                                        name="reconciler-serve")
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # --- credentials ------------------------------------------------------------------

    def issue_token(self) -> str:
        token = "tskey-oauthtok-" + secrets.token_hex(16)
        with self._tokens_lock:
            self._tokens[token] = time.monotonic() + TOKEN_LIFETIME
        return token

    def authorized(self, header: str | None) -> bool:
        if not header:
            return False
        scheme, _, value = header.partition(" ")
        value = value.strip()
        if scheme.lower() == "basic":
            try:
                user = base64.b64decode(value, validate=True).decode().partition(":")[0]
            except (binascii.Error, UnicodeDecodeError):
                return False
            return self._is_api_key(user)
        if scheme.lower() == "bearer":
            if self._is_api_key(value):
                return True
            with self._tokens_lock:
                expiry = self._tokens.get(value)
            return expiry is not None and time.monotonic() < expiry
        return False

    def _is_api_key(self, value: str) -> bool:
        key = self.config.api_key
        return bool(key) and hmac.compare_digest(value.encode(), key.encode())  # type: ignore[union-attr]

    def client_ok(self, client_id: str, client_secret: str | None) -> bool:
        cid, csecret = self.config.oauth_client_id, self.config.oauth_client_secret
        if not (cid and csecret):
            return False
        if not hmac.compare_digest(client_id.encode(), cid.encode()):
            return False
        return client_secret is None or hmac.compare_digest(client_secret.encode(),
                                                            csecret.encode())


@dataclass(frozen=True)
class Route:
    """One API operation: which requests it answers and the handler that answers them."""

    method: str
    pattern: re.Pattern[str]
    operation: str  # the OpenAPI operationId ("" for the OAuth endpoints, not in the spec)
    handler: Callable[[Handler, re.Match[str], dict[str, list[str]], bytes], Reply]


_ROUTES: list[Route] = []
_Handler = Callable[["Handler", re.Match[str], dict[str, list[str]], bytes], Reply]


def route(method: str, pattern: str, operation: str = "") -> Callable[[_Handler], _Handler]:
    """Register the decorated handler for `method` on paths matching `pattern` (whole path).

    Declared beside each handler so the route table and the code answering it cannot drift
    apart; dispatch looks handlers up in this table, never by attribute name.
    """

    def register(handler: _Handler) -> _Handler:
        _ROUTES.append(Route(method, re.compile(pattern), operation, handler))
        return handler

    return register


def find_route(method: str, path: str) -> tuple[Route, re.Match[str]] | None:
    for candidate in _ROUTES:
        if candidate.method == method and (match := candidate.pattern.fullmatch(path)):
            return candidate, match
    return None


class Handler(BaseHTTPRequestHandler):
    server: ControlServer
    protocol_version = "HTTP/1.1"
    server_version = "reconciler-serve"

    # --- plumbing -----------------------------------------------------------------------

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.config.verbose:
            super().log_message(format, *args)  # request line and status only, no headers

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def setup(self) -> None:
        super().setup()
        # A client that sends nothing for this long (a stalled or abandoned connection)
        # is dropped, freeing its slot. (StreamRequestHandler's class-level `timeout`
        # does the same, but this one comes from the server's configuration.)
        self.connection.settimeout(self.server.config.idle_timeout)

    def _refuse_unread(self, method: str, path: str, operation: str, reply: Reply) -> None:
        """Answer without reading the body: the connection cannot be reused after."""
        self.close_connection = True
        reply.headers["Connection"] = "close"
        self._send(method, path, operation, reply)

    def _dispatch(self, method: str) -> None:
        """One request: route, authenticate and read (`_read_body`), then the test hooks'
        fault if one is queued (`_answer_with_fault`), then the handler (`_answer`)."""
        url = urllib.parse.urlsplit(self.path)
        path = url.path.rstrip("/")
        found = find_route(method, path)
        operation = found[0].operation if found else ""
        is_token = path.startswith("/api/v2/oauth/")
        body = self._read_body(method, path, operation, authenticate=found is not None
                               and not is_token)
        if body is None:
            return
        fault = None if is_token else self.server.faults.take(method)
        if fault is not None and self._answer_with_fault(fault, method, path, operation):
            return
        if found is None:
            known = any(r.pattern.fullmatch(path) for r in _ROUTES)
            reply = error_reply(405 if known else 404,
                                "method not allowed" if known else "not found")
        else:
            reply = self._answer(found[0], found[1], urllib.parse.parse_qs(url.query), body)
        if fault is not None and fault.kind == "drop-after":
            self._drop()
            return
        self._send(method, path, operation, reply)

    def _read_body(self, method: str, path: str, operation: str, *,
                   authenticate: bool) -> bytes | None:
        """The request body, or None once the request has been answered or abandoned.

        Authenticates from the headers alone before reading: an unauthenticated client
        never gets the server to buffer its body. The token endpoints authenticate from
        the body, so for them only the size cap stands in front of the read.
        """
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self._refuse_unread(method, path, operation, error_reply(400, "bad Content-Length"))
            return None
        if authenticate and not self.server.authorized(self.headers.get("Authorization")):
            self._refuse_unread(method, path, operation, error_reply(401, "API token invalid"))
            return None
        if length > self.server.config.max_body:
            self._refuse_unread(method, path, operation, error_reply(
                413, f"request body too large: {length} bytes, at most "
                     f"{self.server.config.max_body}"))
            return None
        try:
            body = self.rfile.read(length) if length > 0 else b""
        except OSError:  # the idle timeout struck mid-body
            self.close_connection = True
            return None
        if len(body) < length:  # the client closed early: nothing to answer
            self.close_connection = True
            return None
        return body

    def _answer_with_fault(self, fault: Fault, method: str, path: str, operation: str) -> bool:
        """Apply a fault the tests queued; True when it has answered (or dropped) the request.

        A stall delays whatever follows; `drop-after` is applied by the caller once the
        handler has run (the request is processed, the answer lost).
        """
        if fault.kind == "drop":
            self._drop()
            return True
        if fault.kind == "stall":
            time.sleep(fault.arg or 0)
        if fault.kind in ("429", "500", "502", "503", "504"):
            self._send(method, path, operation, self._fault_reply(fault.kind, fault.arg))
            return True
        return False

    def _answer(self, found: Route, match: re.Match[str], query: dict[str, list[str]],
                body: bytes) -> Reply:
        """Run the handler and map the store's errors to the API's statuses."""
        try:
            return found.handler(self, match, query, body)
        except PreconditionFailed:
            return error_reply(412, "precondition failed, invalid old hash")
        except ValidationFailed as e:
            return error_reply(400, e.summary, e.failures or None)
        except NotFound as e:
            return error_reply(404, e.summary)
        except BackendError as e:
            return error_reply(500, e.summary)
        except Exception:  # a bug: answer 500 (as a real server would) and log it
            import traceback

            traceback.print_exc()
            return error_reply(500, "internal server error")

    @staticmethod
    def _fault_reply(kind: str, arg: float | None) -> Reply:
        messages = {"429": "too many requests", "500": "internal server error",
                    "502": "bad gateway", "503": "service unavailable",
                    "504": "request took too long to process, please try again later"}
        reply = error_reply(int(kind), messages[kind])
        if kind == "429":
            reply.headers["Retry-After"] = f"{arg if arg is not None else 1:g}"
        return reply

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _send(self, method: str, path: str, operation: str, reply: Reply) -> None:
        # Record before writing: once the client has the answer, the record must exist
        # (tests count requests right after a call returns).
        hook = self.server.on_response
        if hook is not None:
            hook(ResponseRecord(method, path, operation, reply.status, reply.content_type,
                                reply.body))
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for key, value in reply.headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(reply.body)
        except OSError:
            self.close_connection = True  # the client went away (a stall outlived it)

    def _check_tailnet(self, match: re.Match[str]) -> None:
        tailnet = urllib.parse.unquote(match.group("tailnet"))
        if tailnet not in ("-", self.server.config.tailnet):
            raise NotFound("tailnet not found")

    def _wants_json(self) -> bool:
        accept = self.headers.get("Accept") or ""
        return JSON in accept and HUJSON not in accept

    def _policy_reply(self, text: str, etag: str) -> Reply:
        if self._wants_json():
            try:
                data = parse_policy(text)
            except PolicyParseError as e:
                return error_reply(500, f"stored policy does not parse: {e}")
            return Reply(200, json.dumps(data, indent="\t").encode(), JSON, {"ETag": etag})
        return Reply(200, text.encode(), HUJSON, {"ETag": etag})

    # --- policy -------------------------------------------------------------------------

    @route("GET", r"/api/v2/tailnet/(?P<tailnet>[^/]+)/acl", "getPolicyFile")
    def h_get_acl(self, match: re.Match[str], query: dict[str, list[str]], body: bytes
                  ) -> Reply:
        self._check_tailnet(match)
        live = self.server.backend.fetch_policy()
        if query.get("details", [""])[0] in ("1", "true"):
            result = self.server.backend.validate(live.text)
            errors = None if result.ok else [result.message]
            return json_reply(200, {"acl": base64.b64encode(live.text.encode()).decode(),
                                    "warnings": [], "errors": errors}, ETag=live.etag)
        return self._policy_reply(live.text, live.etag)

    @route("POST", r"/api/v2/tailnet/(?P<tailnet>[^/]+)/acl", "setPolicyFile")
    def h_post_acl(self, match: re.Match[str], query: dict[str, list[str]], body: bytes
                   ) -> Reply:
        self._check_tailnet(match)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return error_reply(400, "policy is not UTF-8")
        etag = self.server.backend.push_policy(text, if_match=self.headers.get("If-Match"))
        return self._policy_reply(text, etag)

    @route("POST", r"/api/v2/tailnet/(?P<tailnet>[^/]+)/acl/validate", "validateAndTestPolicyFile")
    def h_validate(self, match: re.Match[str], query: dict[str, list[str]], body: bytes
                   ) -> Reply:
        self._check_tailnet(match)
        backend = self.server.backend
        text = body.decode("utf-8", errors="replace")
        try:
            data = parse_value(text)  # an array of tests, or a whole policy
        except PolicyParseError as e:
            return json_reply(200, {"message": str(e)})
        if isinstance(data, list):
            result = check_tests(data, backend.fetch_policy().text,
                                 backend.store.inventory())
        elif isinstance(data, dict):
            result = backend.validate(text)
        else:
            return json_reply(200, {"message": "body must be a policy object or a test array"})
        if result.ok:
            return json_reply(200, {})
        out: dict[str, Any] = {"message": result.message}
        if result.failures:
            out["data"] = result.failures
        return json_reply(200, out)

    # --- devices and users ----------------------------------------------------------------

    @staticmethod
    def _device_json(row: dict[str, Any], all_fields: bool) -> dict[str, Any]:
        tagged = bool(row["tags"])
        node_key = hashlib.sha256(row["node_id"].encode()).hexdigest()
        out: dict[str, Any] = {
            "addresses": [a for a in (row["ipv4"], row["ipv6"]) if a],
            "id": row["legacy_id"],
            "nodeId": row["node_id"],
            "user": row["user"] or "tagged-devices",
            "name": f"{row['name']}.tail0000.ts.net",
            "hostname": row["name"],
            "clientVersion": "1.80.0",
            "updateAvailable": False,
            "os": row["os"],
            "created": row["created"],
            "connectedToControl": False,
            "lastSeen": row["created"],
            "keyExpiryDisabled": tagged,
            "expires": "0001-01-01T00:00:00Z" if tagged else "2030-01-01T00:00:00Z",
            "authorized": True,
            "isExternal": row["owner_shared"],
            "machineKey": "",
            "nodeKey": f"nodekey:{node_key[:32]}",
            "blocksIncomingConnections": False,
            "tailnetLockKey": "",
            "tailnetLockError": "",
            "tags": list(row["tags"]),
            "isEphemeral": False,
        }
        if all_fields:
            out["enabledRoutes"] = list(row["approved_routes"])
            out["advertisedRoutes"] = list(row["advertised_routes"])
            out["postureIdentity"] = {"disabled": True}
            out["sshEnabled"] = False
        return out

    @route("GET", r"/api/v2/tailnet/(?P<tailnet>[^/]+)/devices", "listTailnetDevices")
    def h_devices(self, match: re.Match[str], query: dict[str, list[str]], body: bytes
                  ) -> Reply:
        self._check_tailnet(match)
        all_fields = query.get("fields", ["default"])[0] == "all"
        devices = [self._device_json(r, all_fields)
                   for r in self.server.backend.store.device_rows()]
        filters = {k: v for k, v in query.items() if k != "fields"}
        devices = [d for d in devices if _matches(d, filters)]
        return json_reply(200, {"devices": devices})

    @route("GET", r"/api/v2/device/(?P<device>[^/]+)", "getDevice")
    def h_device(self, match: re.Match[str], query: dict[str, list[str]], body: bytes
                 ) -> Reply:
        wanted = match.group("device")
        for row in self.server.backend.store.device_rows():
            if wanted in (row["node_id"], row["legacy_id"]):
                all_fields = query.get("fields", ["default"])[0] == "all"
                return json_reply(200, self._device_json(row, all_fields))
        return error_reply(404, "not found")

    @route("GET", r"/api/v2/device/(?P<device>[^/]+)/attributes", "getDevicePostureAttributes")
    def h_attributes(self, match: re.Match[str], query: dict[str, list[str]], body: bytes
                     ) -> Reply:
        wanted = match.group("device")
        for row in self.server.backend.store.device_rows():
            if wanted in (row["node_id"], row["legacy_id"]):
                return json_reply(200, {"attributes": dict(row["posture"]), "expiries": {}})
        return error_reply(404, "not found")

    @route("POST", r"/api/v2/device/(?P<device>[^/]+)/tags", "setDeviceTags")
    def h_tags(self, match: re.Match[str], query: dict[str, list[str]], body: bytes) -> Reply:
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            return error_reply(400, "invalid JSON body")
        tags = data.get("tags") if isinstance(data, dict) else None
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            return error_reply(400, 'body must be {"tags": ["tag:..."]}')
        self.server.backend.set_device_tags(match.group("device"), tags)
        return json_reply(200, {})

    @route("GET", r"/api/v2/tailnet/(?P<tailnet>[^/]+)/users", "listUsers")
    def h_users(self, match: re.Match[str], query: dict[str, list[str]], body: bytes) -> Reply:
        self._check_tailnet(match)
        kind = query.get("type", ["member"])[0]
        role = query.get("role", ["all"])[0]
        users = []
        for u in self.server.backend.store.user_rows():
            utype = "shared" if u["shared"] else "member"
            if kind != "all" and utype != kind:
                continue
            if role != "all" and u["role"] != role:
                continue
            users.append({
                "id": u["id"], "displayName": u["display_name"], "loginName": u["login"],
                "profilePicUrl": "", "tailnetId": self.server.config.tailnet,
                "created": u["created"], "type": utype, "role": u["role"], "status": "active",
                "deviceCount": u["device_count"], "lastSeen": u["created"],
                "currentlyConnected": False,
            })
        return json_reply(200, {"users": users})

    # --- OAuth ----------------------------------------------------------------------------

    def _form(self, body: bytes) -> dict[str, str]:
        return {k: v[0] for k, v in urllib.parse.parse_qs(body.decode("utf-8", "replace")).items()}

    def _token_reply(self) -> Reply:
        return json_reply(200, {"access_token": self.server.issue_token(),
                                "token_type": "Bearer", "expires_in": TOKEN_LIFETIME,
                                "scope": "all"})

    @route("POST", r"/api/v2/oauth/token")
    def h_oauth_token(self, match: re.Match[str], query: dict[str, list[str]], body: bytes
                      ) -> Reply:
        form = self._form(body)
        client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
        header = self.headers.get("Authorization") or ""
        if header.lower().startswith("basic "):  # RFC 6749 allows the secret in Basic auth
            try:
                pair = base64.b64decode(header[6:].strip()).decode()
                client_id, _, client_secret = pair.partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return error_reply(401, "invalid client credentials")
        if form.get("grant_type", "client_credentials") != "client_credentials":
            return error_reply(400, "unsupported grant_type")
        if not self.server.client_ok(client_id, client_secret):
            return error_reply(401, "invalid client credentials")
        return self._token_reply()

    @route("POST", r"/api/v2/oauth/token-exchange")
    def h_token_exchange(self, match: re.Match[str], query: dict[str, list[str]], body: bytes
                         ) -> Reply:
        form = self._form(body)
        config = self.server.config
        if not (config.oidc_issuer and config.oidc_key):
            return error_reply(401, "workload identity is not configured on this server "
                                    "(set an OIDC issuer and key)")
        if not self.server.client_ok(form.get("client_id", ""), None):
            return error_reply(401, "invalid client")
        problem = jwt_problem(form.get("jwt", ""), config.oidc_issuer, config.oidc_key)
        if problem:
            return error_reply(401, problem)
        return self._token_reply()


def jwt_problem(token: str, issuer: str, key: str) -> str | None:
    """Why `token` is not an HS256 JWT from `issuer` signed with `key`, or None.

    The signature is checked before any claim is trusted; `alg` must be HS256, so an
    unsigned (`none`) token or one signed with another algorithm is refused.
    """
    parts = token.split(".")
    if len(parts) != 3:
        return "jwt is not a JWT"
    try:
        header = _b64url_json(parts[0])
        signature = base64.urlsafe_b64decode(parts[2] + "=" * (-len(parts[2]) % 4))
    except (ValueError, binascii.Error):
        return "jwt is not a JWT"
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        return "jwt must be signed with HS256"
    expected = hmac.new(key.encode(), f"{parts[0]}.{parts[1]}".encode(),
                        hashlib.sha256).digest()
    if not hmac.compare_digest(signature, expected):
        return "jwt signature does not verify"
    try:
        claims = _b64url_json(parts[1])
    except (ValueError, binascii.Error):
        return "jwt is not a JWT"
    if not isinstance(claims, dict):
        return "jwt is not a JWT"
    if claims.get("iss") != issuer:
        return "jwt is from another issuer"
    exp = claims.get("exp")
    if not isinstance(exp, (int, float)) or isinstance(exp, bool):
        return "jwt has no expiry"
    if exp < datetime.now(timezone.utc).timestamp():
        return "jwt has expired"
    return None


def _matches(device: dict[str, Any], filters: dict[str, list[str]]) -> bool:
    """The spec's `<field>=<value>` filters: exact, ANDed; a list field must hold each value."""
    for key, values in filters.items():
        have = device.get(key)
        if isinstance(have, list):
            if not all(v in have for v in values):
                return False
        elif isinstance(have, bool):
            if any(v != str(have).lower() for v in values):
                return False
        elif any(v != str(have) for v in values):
            return False
    return True


def make_server(config: ServeConfig, backend: LocalBackend | None = None) -> ControlServer:
    return ControlServer(config, backend)

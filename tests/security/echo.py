"""A hostile control plane on 127.0.0.1 that echoes every credential it is sent.

It speaks enough of the Tailscale API v2 (token endpoints, ACL, devices, users, ACL
validate) and of Headscale's API v1 (policy, users, nodes, policy check) for every
command that talks to a control plane to reach the call chosen to fail. That call
answers the chosen status with a body built from the request: the Authorization
header, the raw body (a token request's form, URL-encoded as sent), the query, the
body in base64, and the credential decoded (Basic auth's user, the bearer token, the
form's secrets) in Tailscale's `data[].user`, the way a 400 names users. Every
access token it mints is kept in `minted`, so a test can look for those too.

Scenario: `fail` names the call that fails ("api": the first API call; "token": the
OAuth token endpoints; "validate": ACL validate or Headscale's policy check; "push":
the policy write; "live": nothing fails, but the live policy read carries the
credentials in a comment and in a group member); `status` is its answer (200 for "validate" echoes inside a 200
verdict, as Tailscale's validate does). 429 and 5xx answers carry `Retry-After: 0`,
so the client's retries do not sleep. `pad` puts that many characters in front of the
echoed message, to move a credential across the client's truncation point.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.security.leaks import Secret

TOKEN_PREFIX = "tskey-access-"  # of the access tokens it mints (not secret in itself)
LIVE_POLICY = '{"hosts": {"echo": "100.64.0.1"}}'


@dataclass
class Scenario:
    fail: str = "api"  # api | token | validate | push | live
    status: int = 400
    pad: int = 0


class EchoServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.scenario = Scenario()
        self.minted: list[str] = []
        self.notified: list[str] = []
        self.echoed: list[str] = []  # every echoing answer's body, as sent
        self.lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> EchoServer:
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def minted_secrets(self) -> list[Secret]:
        return [Secret(f"access token {i}", t, len(TOKEN_PREFIX))
                for i, t in enumerate(self.minted)]

    def reset(self, scenario: Scenario) -> None:
        with self.lock:
            self.scenario = scenario
            self.minted = []
            self.notified = []
            self.echoed = []


def _credentials_in(auth: str, body: str) -> list[str]:
    """The credentials a request carries, decoded: what a server would call `user`."""
    found = []
    if auth.startswith("Basic "):
        try:
            found.append(base64.b64decode(auth[6:]).decode("utf-8").rstrip(":"))
        except ValueError:
            found.append(auth)
    elif auth.startswith("Bearer "):
        found.append(auth[7:])
    form = dict(parse_qsl(body)) if "=" in body and not body.lstrip().startswith("{") else {}
    found += [form[k] for k in ("client_id", "client_secret", "jwt") if k in form]
    return found


class _Handler(BaseHTTPRequestHandler):
    server: EchoServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(raw)

    def _echo(self, status: int, body: str) -> None:
        """Answer `status` with everything the request carried, in several forms."""
        auth = self.headers.get("Authorization", "")
        query = urlsplit(self.path).query
        scenario = self.server.scenario
        users = _credentials_in(auth, body) or ["nobody@example.com"]
        message = ("x" * scenario.pad + f"credentials: {' '.join(users)} Authorization: {auth} "
                   f"body: {body} query: {query} "
                   f"base64: {base64.b64encode(body.encode()).decode()}")
        payload: dict[str, Any] = {"message": message}
        if status in (200, 400):
            payload["data"] = [{"user": u, "errors": [f"{u} refused: {message}"]}
                               for u in users]
        headers = {"Retry-After": "0"} if status == 429 or status >= 500 else {}
        with self.server.lock:
            self.server.echoed.append(json.dumps(payload))
        self._send(status, payload, headers)

    def _body(self) -> str:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length).decode("utf-8", "replace") if length else ""

    def do_GET(self) -> None:
        self._route("GET", "")

    def do_POST(self) -> None:
        self._route("POST", self._body())

    def do_PUT(self) -> None:
        self._route("PUT", self._body())

    def _route(self, method: str, body: str) -> None:
        path = urlsplit(self.path).path
        scenario = self.server.scenario
        fail, status = scenario.fail, scenario.status
        if path == "/notify":
            self.server.notified.append(body)
            return self._send(200, {"ok": True})
        if path.startswith("/api/v2/oauth/"):
            if fail == "token":
                return self._echo(status, body)
            token = TOKEN_PREFIX + secrets.token_urlsafe(18)
            with self.server.lock:
                self.server.minted.append(token)
            return self._send(200, {"access_token": token, "token_type": "Bearer",
                                    "expires_in": 3600})
        if fail == "api":
            return self._echo(status, body)
        if path.endswith("/acl/validate") or path == "/api/v1/policy/check":
            if fail == "validate":
                return self._echo(status, body)
            return self._send(200, {})
        if method in ("POST", "PUT") and (path.endswith("/acl") or path == "/api/v1/policy"):
            if fail == "push":
                return self._echo(status, body)
            return self._send(200, {"policy": body}, {"ETag": '"pushed"'})
        answers = {
            "/api/v2/tailnet/-/acl": None,
            "/api/v2/tailnet/-/devices": {"devices": []},
            "/api/v2/tailnet/-/users": {"users": []},
            "/api/v1/policy": {"policy": LIVE_POLICY, "updatedAt": "2026-01-01T00:00:00Z"},
            "/api/v1/user": {"users": []},
            "/api/v1/node": {"nodes": []},
        }
        if path not in answers:
            return self._send(404, {"message": "not found"})
        if fail == "live" and path in ("/api/v2/tailnet/-/acl", "/api/v1/policy"):
            return self._live_echo(path)
        if answers[path] is None:
            return self._send(200, LIVE_POLICY.encode(), {"ETag": '"live-1"'})
        return self._send(200, answers[path])

    def _live_echo(self, path: str) -> None:
        """A 200 live policy that carries the request's credentials in a comment and in
        a value: they reach plans, drift reports and imported fragments as content."""
        auth = self.headers.get("Authorization", "")
        users = _credentials_in(auth, "")
        policy = ("{\n  // fetched with Authorization: " + auth + "\n"
                  '  "groups": {"group:echo": ' + json.dumps([f"{u}@example.com" for u in users])
                  + '},\n  "hosts": {"echo": "100.64.0.1"},\n}\n')
        with self.server.lock:
            self.server.echoed.append(policy)
        if path == "/api/v1/policy":
            return self._send(200, {"policy": policy, "updatedAt": "2026-01-01T00:00:00Z"})
        return self._send(200, policy.encode(), {"ETag": '"live-1"'})

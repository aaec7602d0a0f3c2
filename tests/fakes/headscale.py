"""A fake Headscale REST API v1 on 127.0.0.1: the only fake control plane in the project.

Written from Headscale's documented API (docs/policy-semantics.md section 4.5, v0.29):
`GET|PUT /api/v1/policy` (`{"policy", "updatedAt"}`; PUT refused in file mode with
`update is disabled for modes other than 'database'`), `POST /api/v1/policy/check`,
`GET /api/v1/user`, `GET /api/v1/node[/{id}]`, `POST /api/v1/node/{id}/tags` (tags
must exist in the policy's tagOwners; an empty list is refused; tagging clears the
node's user), Bearer API key, and errors as gRPC-gateway status JSON
`{"code", "message", "details"}`. Everything else (Tailscale SaaS, `reconciler
serve`) is tested for real. To decide what a policy check says, the fake borrows the
project's own validator and test engine (`reconciler.backends.policycheck`): the
real Headscale has its own, which this fake does not pretend to reproduce; the
messages of failed tests are flattened into `message`, as Headscale's are.
"""

from __future__ import annotations

import json
import re
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from reconciler.backends import seed
from reconciler.backends.policycheck import check_text, tag_owners
from reconciler.inventory import Device, Inventory, User

# gRPC status codes that grpc-gateway maps to HTTP statuses.
INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION, UNAUTHENTICATED = 3, 5, 9, 16
HTTP_FOR_CODE = {INVALID_ARGUMENT: 400, NOT_FOUND: 404, FAILED_PRECONDITION: 400,
                 UNAUTHENTICATED: 401}
FILE_MODE = "update is disabled for modes other than 'database'"
_TAG = re.compile(r"^tag:[a-z0-9][a-z0-9-]*$")


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class GrpcError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class FakeHeadscale(ThreadingHTTPServer):
    """State: the policy text, users and nodes (seeded from the demo tailnet)."""

    daemon_threads = True

    def __init__(self, api_key: str, *, mode: str = "database",
                 policy: str = seed.DEFAULT_POLICY) -> None:
        self.api_key = api_key
        self.mode = mode
        self.policy = policy
        self.updated_at: str | None = _now()
        self.lock = threading.Lock()
        self.users: list[dict[str, Any]] = []
        self.nodes: list[dict[str, Any]] = []
        for i, (login, _role, name, _shared) in enumerate(seed.DEMO_USERS, 1):
            self.users.append({"id": str(i), "name": login.split("@")[0], "email": login,
                               "displayName": name, "createdAt": _now(), "provider": "oidc",
                               "providerId": f"oidc/{i}", "profilePicUrl": ""})
        by_email = {u["email"]: u for u in self.users}
        for i, d in enumerate(seed.demo_devices(), 1):
            self.nodes.append({
                "id": str(i), "name": d["name"], "givenName": d["name"],
                "ipAddresses": [d["ipv4"], d["ipv6"]],
                "user": None if d["tags"] else by_email.get(d["user"]),
                "tags": list(d["tags"]), "approvedRoutes": list(d["approved_routes"]),
                "availableRoutes": list(d["advertised_routes"]),
                "subnetRoutes": list(d["approved_routes"]), "online": False,
                "createdAt": _now(), "registerMethod": "REGISTER_METHOD_CLI",
            })
        super().__init__(("127.0.0.1", 0), _Handler)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> FakeHeadscale:
        self._thread = threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def inventory(self) -> Inventory:
        users = tuple(User(login=u["email"], id=u["id"]) for u in self.users)
        devices = tuple(
            Device(name=n["givenName"], ipv4=n["ipAddresses"][0], ipv6=n["ipAddresses"][1],
                   user=(n["user"] or {}).get("email"), tags=tuple(n["tags"]),
                   approved_routes=tuple(n["approvedRoutes"]),
                   advertised_routes=tuple(n["availableRoutes"]), id=n["id"])
            for n in self.nodes)
        return Inventory(users=users, devices=devices, source="fake-headscale")

    def check(self, text: str) -> None:
        result = check_text(text, self.inventory())
        if not result.ok:
            flat = "; ".join(f"{f.get('user')}: {e}" for f in result.failures
                             for e in f.get("errors", []))
            raise GrpcError(INVALID_ARGUMENT, result.message + (f": {flat}" if flat else ""))


class _Handler(BaseHTTPRequestHandler):
    server: FakeHeadscale
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            if self.headers.get("Authorization") != f"Bearer {self.server.api_key}":
                raise GrpcError(UNAUTHENTICATED, "Unauthorized")
            body = json.loads(raw) if raw else {}
            with self.server.lock:
                status, out = 200, self._route(method, self.path.split("?")[0], body)
        except GrpcError as e:
            status = HTTP_FOR_CODE.get(e.code, 500)
            out = {"code": e.code, "message": e.message, "details": []}
        except ValueError:
            status, out = 400, {"code": INVALID_ARGUMENT, "message": "invalid JSON",
                                "details": []}
        except Exception as e:  # a bug in the fake or below it: answer like a server would
            status, out = 500, {"code": 13, "message": f"internal: {e!r}", "details": []}
        data = json.dumps(out).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _route(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        s = self.server
        if path == "/api/v1/policy" and method == "GET":
            out: dict[str, Any] = {"policy": s.policy}
            if s.mode == "database" and s.updated_at:
                out["updatedAt"] = s.updated_at
            return out
        if path == "/api/v1/policy" and method == "PUT":
            if s.mode != "database":
                raise GrpcError(FAILED_PRECONDITION, FILE_MODE)
            text = str(body.get("policy", ""))
            s.check(text)
            s.policy, s.updated_at = text, _now()
            return {"policy": s.policy, "updatedAt": s.updated_at}
        if path == "/api/v1/policy/check" and method == "POST":
            s.check(str(body.get("policy", "")))
            return {}
        if path == "/api/v1/user" and method == "GET":
            return {"users": s.users}
        if path == "/api/v1/node" and method == "GET":
            return {"nodes": s.nodes}
        match = re.fullmatch(r"/api/v1/node/([^/]+)(/tags)?", path)
        if match:
            node = next((n for n in s.nodes if n["id"] == match.group(1)), None)
            if node is None:
                raise GrpcError(NOT_FOUND, "node not found")
            if method == "GET" and not match.group(2):
                return {"node": node}
            if method == "POST" and match.group(2):
                return {"node": self._set_tags(node, body.get("tags"))}
        raise GrpcError(NOT_FOUND, f"Not Found: {method} {path}")

    def _set_tags(self, node: dict[str, Any], tags: Any) -> dict[str, Any]:
        if not isinstance(tags, list) or not tags:
            raise GrpcError(INVALID_ARGUMENT, "cannot remove all tags from a node - tagged "
                                              "nodes must have at least one tag")
        owners = tag_owners(self.server.policy)
        bad = [t for t in tags if not (isinstance(t, str) and _TAG.match(t)) or t not in owners]
        if bad:
            raise GrpcError(INVALID_ARGUMENT,
                            f"requested tags [{' '.join(map(str, bad))}] are invalid or not "
                            "permitted")
        node["tags"] = sorted(set(tags))
        node["user"] = None  # tagging clears the node's user (Headscale v0.29 SetNodeTags)
        return node

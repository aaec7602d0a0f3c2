"""A fake Headscale REST API v1 on 127.0.0.1, kept beside the real one.

Real Headscale v0.29.2 runs in the test suite (tests/headscale_real, and the backend
contract suite's `headscale-real`); this fake is kept for what the real server cannot
be made to do without a client or Go: advertised routes (only tailscaled advertises),
the demo tailnet's full device list, runs on a machine without the binary. Where the
backend depends on an answer, the fake now gives the real server's (checked against
v0.29.2):

- no policy stored: `GET /api/v1/policy` is 500, code 2, `loading ACL from database:
  acl policy not found` (the fake used to answer 200 with an empty policy);
- a refused `PUT /api/v1/policy` is 500, code 2, `setting policy: <reason>`, and file
  mode's refusal too (the fake used 400, codes 3 and 9); `/policy/check` is 400, code 3;
- Headscale's dialect (`reconciler.validate.dialect`) is refused, as `parsing policy:
  unknown field: "postures"` etc. (the fake accepted postures, ipsets, srcPosture);
- failed tests read `test(s) failed:` then one `src -> dst: expected ALLOWED, got
  DENIED` line each (the fake flattened Tailscale's structure);
- a non-numeric node id is 400 `type mismatch, parameter: node_id` (the fake: 404);
- a wrong API key is a plain-text 401 `Unauthorized` (the fake: JSON, code 16).

Still different, and not relied on: the fake decides validity with the project's own
Tailscale validator and test engine (`reconciler.backends.policycheck`), so wording
of other refusals differs; nodes lack machine/node/disco keys, `lastSeen`, `expiry`;
users carry `provider: oidc` where CLI-made users have none; unknown paths answer
JSON, not `404 page not found`.
"""

from __future__ import annotations

import json
import re
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from reconciler.backends.local import seed
from reconciler.backends.policycheck import check_text, parse_policy, tag_owners
from reconciler.core.inventory import Device, Inventory, User
from reconciler.validate.dialect import headscale_problems

# gRPC status codes that grpc-gateway maps to HTTP statuses; UNKNOWN is what a plain Go
# error becomes (Headscale's SetPolicy and GetPolicy return those).
UNKNOWN, INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION = 2, 3, 5, 9
HTTP_FOR_CODE = {UNKNOWN: 500, INVALID_ARGUMENT: 400, NOT_FOUND: 404,
                 FAILED_PRECONDITION: 400}
FILE_MODE = "update is disabled for modes other than 'database'"
NO_POLICY = "loading ACL from database: acl policy not found"
_TAG = re.compile(r"^tag:[a-z0-9][a-z0-9-]*$")
_TS_FAILURE = re.compile(r'address "(.+)": want: (\w+), got: (\w+)')


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
                 policy: str | None = seed.DEFAULT_POLICY) -> None:
        self.api_key = api_key
        self.mode = mode
        self.policy: str | None = policy  # None: nothing stored (a fresh database)
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
        """Raises Headscale's InvalidArgument for a policy it would refuse."""
        try:
            dialect = headscale_problems(parse_policy(text)) if text.strip() else []
        except ValueError:
            dialect = []  # not a policy object: check_text says so below
        if dialect:
            message = dialect[0].message.split(" (Headscale", 1)[0]
            raise GrpcError(INVALID_ARGUMENT, f"parsing policy: {message}")
        result = check_text(text, self.inventory())
        if not result.ok:
            lines = [f"{f.get('user')} -> {_headscale_words(e)}" for f in result.failures
                     for e in f.get("errors", [])]
            raise GrpcError(INVALID_ARGUMENT, result.message + ":\n" + "\n".join(lines)
                            if lines else result.message)


def _headscale_words(error: str) -> str:
    """Tailscale's `address "d": want: Accept, got: Drop` as Headscale words it."""
    match = _TS_FAILURE.fullmatch(error)
    if not match:
        return error
    verdict = {"Accept": "ALLOWED", "Drop": "DENIED"}
    return (f"{match.group(1)}: expected {verdict.get(match.group(2), match.group(2))}, "
            f"got {verdict.get(match.group(3), match.group(3))}")


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
                self._send(401, b"Unauthorized", "text/plain; charset=utf-8")
                return
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
        self._send(status, json.dumps(out).encode(), "application/json")

    def _send(self, status: int, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _route(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        s = self.server
        if path == "/api/v1/policy" and method == "GET":
            if s.policy is None:
                raise GrpcError(UNKNOWN, NO_POLICY)
            out: dict[str, Any] = {"policy": s.policy}
            if s.mode == "database" and s.updated_at:
                out["updatedAt"] = s.updated_at
            return out
        if path == "/api/v1/policy" and method == "PUT":
            if s.mode != "database":
                raise GrpcError(UNKNOWN, FILE_MODE)
            text = str(body.get("policy", ""))
            try:
                s.check(text)
            except GrpcError as e:  # SetPolicy wraps the reason in a plain error: 500
                raise GrpcError(UNKNOWN, f"setting policy: {e.message}") from e
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
        if match and not match.group(1).isdigit():
            raise GrpcError(INVALID_ARGUMENT, "type mismatch, parameter: node_id, error: "
                            f'strconv.ParseUint: parsing "{match.group(1)}": invalid syntax')
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
        owners = tag_owners(self.server.policy or "")
        bad = [t for t in tags if not (isinstance(t, str) and _TAG.match(t)) or t not in owners]
        if bad:
            raise GrpcError(INVALID_ARGUMENT,
                            f"requested tags [{' '.join(map(str, bad))}] are invalid or not "
                            "permitted")
        node["tags"] = sorted(set(tags))
        node["user"] = None  # tagging clears the node's user (Headscale v0.29 SetNodeTags)
        return node

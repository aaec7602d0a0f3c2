"""Real nodes prove the policy: tailscaled clients joined to real Headscale on loopback
connect through the tailnet exactly when `reconciler explain` says they may, before
and after an apply that changes the access.

Three tailscaled processes (userspace networking, separate state dirs, log upload
off) join with pre-auth keys: alice-box and bob-box as their users, web-1 with a
tagged key (tag:web). They reach each other only through Headscale's embedded DERP
relay on 127.0.0.1 (plain HTTP, local addresses and STUN left out), so nothing leaves
loopback. A node in userspace mode hands an accepted connection to the host's
127.0.0.1:PORT, where a listener answers `hello`; the destination node's packet filter,
pushed by Headscale from the applied policy, decides whether it gets there. The
filter web-1 received (`tailscale debug netmap`) must also equal, as a relation, the
one the engine computes for it over the live inventory.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from reconciler.backends.headscale import HeadscaleBackend
from reconciler.core.inventory import Inventory
from reconciler.engine import compile_policy
from reconciler.engine.filters import node_relation
from reconciler.engine.relation import canonical_by_key, parse_filter_rules
from tests.headscale_real.server import (
    RealHeadscale,
    require_binary,
    require_clients,
    short_tmp,
)
from tests.plan.conftest import Repo, make_repo  # noqa: F401  (a fixture)

DENIED_WAIT = 6.0  # a dropped SYN never answers: this long without `hello` is a deny
SETTLE = 30.0  # how long a node may take to receive a new packet filter


@dataclass
class Node:
    name: str
    state: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    client: Path

    def ts(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.client), f"--socket={self.state}/sock", *args],
                              capture_output=True, text=True, env=self.env,
                              timeout=timeout, stdin=subprocess.DEVNULL)

    def ip(self) -> str:
        return self.ts("ip", "-4").stdout.strip()

    def connects(self, ip: str, port: int) -> bool:
        """A real TCP connection through the tailnet (`tailscale nc`) got `hello`."""
        try:
            done = self.ts("nc", ip, str(port), timeout=DENIED_WAIT)
        except subprocess.TimeoutExpired:
            return False
        return done.returncode == 0 and "hello" in done.stdout


def start_node(binaries: Path, workdir: Path, name: str) -> Node:
    state = workdir / name
    state.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TS_")}
    env.update(HOME=str(state), TS_DEBUG_USE_DERP_HTTP="1", TS_DEBUG_OMIT_LOCAL_ADDRS="true")
    with (state / "log").open("wb") as log:  # the child keeps its own descriptor
        process = subprocess.Popen(
            [str(binaries / "tailscaled"), "--tun=userspace-networking", f"--statedir={state}",
             f"--socket={state}/sock", "--port=0", "--no-logs-no-support"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    return Node(name, state, env, process, binaries / "tailscale")


class Listener:
    """127.0.0.1:port answering `hello` to every connection, until closed."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = int(self.sock.getsockname()[1])
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"hello\n")

    def close(self) -> None:
        self.sock.close()


@dataclass
class Tailnet:
    headscale: RealHeadscale
    api_key: str
    nodes: dict[str, Node]


@pytest.fixture
def tailnet() -> Iterator[Tailnet]:
    binary = require_binary()
    require_clients()
    workdir = short_tmp()
    hs = RealHeadscale(binary, workdir, derp_server=True)
    nodes: dict[str, Node] = {}
    try:
        hs.start()
        for user in ("alice", "bob"):
            hs.create_user(user)
        yield Tailnet(hs, hs.create_api_key(), nodes)
    finally:
        for node in nodes.values():
            node.process.terminate()
        for node in nodes.values():
            try:
                node.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                node.process.kill()
        hs.stop()
        subprocess.run(["rm", "-rf", str(workdir)], check=False)


def join(tailnet: Tailnet, name: str, user: str, tags: str = "") -> Node:
    hs = tailnet.headscale
    users = {u["name"]: u["id"] for u in hs.cli("users", "list")}  # type: ignore[union-attr]
    extra = ["--tags", tags] if tags else []
    key = hs.cli("preauthkeys", "create", "--user", str(users[user]), *extra)
    node = start_node(hs.binary.parent, hs.workdir, name)
    tailnet.nodes[name] = node
    deadline = time.monotonic() + 30
    while not (node.state / "sock").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    up = node.ts("up", f"--login-server={hs.url}", f"--authkey={key['key']}",  # type: ignore[index]
                 f"--hostname={name}")
    assert up.returncode == 0, up.stdout + up.stderr + (node.state / "log").read_text()[-2000:]
    return node


def explain(repo: Repo, src: str, dst: str) -> bool:
    r = repo.run("explain", src, dst, "--format", "json")
    assert r.exit_code == 0, r.output
    return bool(json.loads(r.output)["allowed"])


def policy_files(rules: list[tuple[str, str]]) -> dict[str, str]:
    acls = "".join(f"  - action: accept\n    src: [{src}]\n    dst: [\"{dst}\"]\n"
                   for src, dst in rules)
    return {"policies/tags.yaml": "tagOwners:\n  tag:web: [alice@example.com]\n",
            "policies/acls.yaml": "acls:\n" + acls}


def engine_filter(repo: Repo, tailnet: Tailnet, name: str) -> dict[Any, Any]:
    """The packet filter the engine computes for node `name`, over the live inventory."""
    r = repo.run("compile", "--format", "json")
    assert r.exit_code == 0, r.output
    backend = HeadscaleBackend(base_url=tailnet.headscale.url, api_key=tailnet.api_key)
    try:
        inventory = Inventory(users=tuple(backend.list_users()),
                              devices=tuple(backend.list_devices()), source="headscale")
    finally:
        backend.close()
    device = next(d for d in inventory.devices if d.name == name)
    compiled = compile_policy(json.loads(r.output), inventory)
    return canonical_by_key(node_relation(compiled, device))


def node_filter_received(node: Node) -> dict[Any, Any]:
    """The packet filter Headscale pushed to the node, from its own netmap."""
    done = node.ts("debug", "netmap")
    assert done.returncode == 0, done.stderr
    rules = json.loads(done.stdout).get("PacketFilterRules") or []
    return canonical_by_key(parse_filter_rules(rules)[0])


def check_filter(repo: Repo, tailnet: Tailnet, name: str) -> None:
    """Within SETTLE, the node's filter becomes exactly the engine's."""
    want = engine_filter(repo, tailnet, name)
    assert want, "the engine gives this node no filter at all: nothing would be compared"
    deadline = time.monotonic() + SETTLE
    while (got := node_filter_received(tailnet.nodes[name])) != want:
        assert time.monotonic() < deadline, f"{name}: received {got}, engine {want}"
        time.sleep(0.5)


def check_cases(repo: Repo, tailnet: Tailnet, cases: list[tuple[str, str, str, int]]
                ) -> list[tuple[str, str, int, bool, bool]]:
    """(src node, src identity, dst, port) -> (…, explain says, connection made).

    Every case whose explain says allowed is retried until it connects (a node may
    not have its new packet filter yet); then the denied ones are tried, side by side."""
    ips = {name: node.ip() for name, node in tailnet.nodes.items()}
    identity = {"alice-box": "alice@example.com", "bob-box": "bob@example.com",
                "web-1": "tag:web"}
    expected = {c: explain(repo, c[1], f"{c[2]}:{c[3]}") for c in cases}
    node_of = {v: k for k, v in identity.items()}

    def attempt(case: tuple[str, str, str, int]) -> bool:
        src, _who, dst, port = case
        ip = ips[node_of[dst]]
        if not expected[case]:
            return tailnet.nodes[src].connects(ip, port)
        deadline = time.monotonic() + SETTLE
        while True:
            if tailnet.nodes[src].connects(ip, port):
                return True
            if time.monotonic() > deadline:
                return False

    allowed = [c for c in cases if expected[c]]
    denied = [c for c in cases if not expected[c]]
    with ThreadPoolExecutor(max_workers=len(cases)) as pool:
        seen = dict(zip(allowed, pool.map(attempt, allowed), strict=True))
        seen |= dict(zip(denied, pool.map(attempt, denied), strict=True))
    return [(c[0], c[2], c[3], expected[c], seen[c]) for c in cases]


def test_connections_match_explain_before_and_after_an_apply(
        tailnet: Tailnet, make_repo: Callable[..., Repo]) -> None:  # noqa: F811
    web, admin = Listener(), Listener()
    try:
        config = f"targets:\n  hs: {{backend: headscale, base_url: '{tailnet.headscale.url}'}}\n"
        repo = make_repo(config=config, files=policy_files([
            ("alice@example.com", f"tag:web:{web.port}"),
            ("bob@example.com", f"tag:web:{admin.port}"),
        ]))
        repo.env = {"HEADSCALE_API_KEY": tailnet.api_key}
        r = repo.run("apply", "--auto-approve")
        assert r.exit_code == 0, r.output
        join(tailnet, "alice-box", "alice")
        join(tailnet, "bob-box", "bob")
        join(tailnet, "web-1", "alice", tags="tag:web")

        cases = [
            ("alice-box", "alice@example.com", "tag:web", web.port),
            ("alice-box", "alice@example.com", "tag:web", admin.port),
            ("bob-box", "bob@example.com", "tag:web", web.port),
            ("bob-box", "bob@example.com", "tag:web", admin.port),
            ("web-1", "tag:web", "alice@example.com", web.port),
        ]
        before = check_cases(repo, tailnet, cases)
        assert [e for *_, e, _c in before] == [True, False, False, True, False]
        assert all(said == made for *_, said, made in before), before
        check_filter(repo, tailnet, "web-1")

        # Second apply: alice loses the web port, bob gains it.
        repo.commit(policy_files([("bob@example.com", f"tag:web:{web.port}"),
                                  ("bob@example.com", f"tag:web:{admin.port}")]), "move")
        r = repo.run("apply", "--auto-approve")
        assert r.exit_code == 0, r.output
        after = check_cases(repo, tailnet, cases)
        assert [e for *_, e, _c in after] == [False, False, True, True, False]
        assert all(said == made for *_, said, made in after), after
        check_filter(repo, tailnet, "web-1")
    finally:
        web.close()
        admin.close()

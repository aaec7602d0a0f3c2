"""Real Headscale on 127.0.0.1 (fixtures for tests/headscale_real and the backend
contract suite): the binary `scripts/build-headscale.sh` builds, started
with a temporary config (SQLite, `policy.mode: database`, no DERP server, a DERP map
from a local file so nothing is fetched, no update check, no log upload).

The demo tailnet (users, laptops, tagged servers, routes) is registered once per
session with Headscale's own CLI (`users create`, `debug create-node` + `nodes
register`, `nodes tag`, `nodes approve-routes`), then its database is copied for every
test, with the policy row removed: each test starts from a fresh Headscale in database
mode that has no policy stored, as a new installation does. The API key is made with
`headscale apikeys create`.

Without the binary the tests skip, naming the build command; with CI=true they fail.
"""

from __future__ import annotations

import atexit
import json
import os
import secrets
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD = "scripts/build-headscale.sh"
VERSION = os.environ.get("HEADSCALE_VERSION", "v0.29.2")

# A subset of reconciler.backends.local.seed's demo tailnet: every user, and the devices the
# contract suite and the policies in tests/backends/policies.py name.
USERS = ["alice", "bob", "carol", "erin", "frank", "grace", "heidi", "quinn", "trent"]
NODES: list[tuple[str, str, list[str], list[str], list[str]]] = [
    # (name, user, tags, advertised routes, approved routes)
    ("alice-laptop", "alice", [], [], []),
    ("bob-laptop", "bob", [], [], []),
    ("erin-laptop", "erin", [], [], []),
    ("frank-laptop", "frank", [], [], []),
    ("quinn-laptop", "quinn", [], [], []),
    ("prod-web-1", "frank", ["tag:prod"], [], []),
    ("staging-web-1", "grace", ["tag:staging"], [], []),
    ("db-1", "frank", ["tag:db"], [], []),
    ("ci-runner-1", "heidi", ["tag:ci"], [], []),
    ("monitoring-1", "frank", ["tag:monitoring"], [], []),
    ("exit-1", "frank", ["tag:exit"], ["0.0.0.0/0", "::/0"], ["0.0.0.0/0", "::/0"]),
    ("office-router", "trent", ["tag:exit"], ["192.168.50.0/24", "10.30.0.0/16"],
     ["192.168.50.0/24"]),
]
SEED_POLICY = json.dumps({
    "tagOwners": {t: ["frank@example.com"] for t in
                  ("tag:prod", "tag:staging", "tag:db", "tag:ci", "tag:monitoring", "tag:exit")},
})

# A DERP map with one region on loopback, read from a file: Headscale needs at least
# one region to start, and must not fetch Tailscale's map from the internet.
DERP_MAP = """regions:
  900:
    regionid: 900
    regioncode: loopback
    regionname: Loopback
    nodes:
      - name: 900a
        regionid: 900
        hostname: 127.0.0.1
        ipv4: 127.0.0.1
        stunport: -1
        derpport: {port}
        insecurefortests: true
"""


def binary_path(version: str = VERSION) -> Path:
    override = os.environ.get("HEADSCALE_BIN")
    if override:
        return Path(override)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "reconciler-test" / "headscale" / version / "headscale"


def require_binary(version: str = VERSION) -> Path:
    path = binary_path(version)
    if path.is_file() and os.access(path, os.X_OK):
        return path
    message = (f"Headscale {version} is not built ({path} missing); run "
               f"`{BUILD} {version}` (needs Go) to run the real-Headscale tests")
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def require_clients(version: str = VERSION) -> Path:
    """The directory with `tailscaled` and `tailscale`, built beside Headscale."""
    where = require_binary(version).parent
    if all((where / name).is_file() for name in ("tailscaled", "tailscale")):
        return where
    message = (f"tailscaled is not built beside Headscale {version} ({where}); run "
               f"`{BUILD} {version}`")
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RealHeadscale:
    """One Headscale process and its files; `cli` runs the headscale CLI against it."""

    binary: Path
    workdir: Path
    port: int = field(default_factory=free_port)
    policy_mode: str = "database"  # "file": the policy is read from workdir/policy.hujson
    # The embedded DERP server, on this Headscale's own port (plain HTTP, loopback): the
    # relay real nodes (tailscaled) use to reach each other without leaving 127.0.0.1.
    derp_server: bool = False
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def config(self) -> Path:
        return self.workdir / "config.yaml"

    @property
    def db(self) -> Path:
        return self.workdir / "db.sqlite"

    def write_config(self) -> None:
        (self.workdir / "derp.yaml").write_text(DERP_MAP.format(port=self.port))
        derp_server = f"""
    enabled: true
    region_id: 901
    region_code: embedded
    region_name: Embedded
    private_key_path: {self.workdir}/derp_server_private.key
    stun_listen_addr: 127.0.0.1:{free_port()}
    automatically_add_embedded_derp_region: false
    ipv4: 127.0.0.1""" if self.derp_server else "\n    enabled: false"
        self.config.write_text(f"""
server_url: {self.url}
listen_addr: 127.0.0.1:{self.port}
metrics_listen_addr: 127.0.0.1:{free_port()}
grpc_listen_addr: 127.0.0.1:{free_port()}
grpc_allow_insecure: false
noise:
  private_key_path: {self.workdir}/noise_private.key
prefixes:
  v4: 100.64.0.0/10
  v6: fd7a:115c:a1e0::/48
  allocation: sequential
derp:
  server:{derp_server}
  urls: []
  paths: [{self.workdir}/derp.yaml]
  auto_update_enabled: false
disable_check_updates: true
database:
  type: sqlite
  sqlite:
    path: {self.db}
    write_ahead_log: true
log:
  level: warn
policy:
  mode: {self.policy_mode}
  path: {self.workdir / "policy.hujson" if self.policy_mode == "file" else '""'}
dns:
  magic_dns: false
  override_local_dns: false
  nameservers:
    global: []
unix_socket: {self.workdir}/headscale.sock
unix_socket_permission: "0770"
logtail:
  enabled: false
""")

    def start(self, timeout: float = 30.0) -> RealHeadscale:
        # Free ports are picked before Headscale binds them: on a shared machine another
        # process can take one in between, so a start that lost that race gets new ones.
        for _ in range(2):
            try:
                return self._start(timeout)
            except RuntimeError as e:
                if "address already in use" not in str(e):
                    raise
                self.port = free_port()
        return self._start(timeout)

    def _start(self, timeout: float) -> RealHeadscale:
        self.write_config()
        # The child writes the log through its own copy of the descriptor: ours closes
        # at once (left open, it leaked one file per start).
        with (self.workdir / "headscale.log").open("wb") as log:
            self.process = subprocess.Popen(
                [str(self.binary), "-c", str(self.config), "serve"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=self._env())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"headscale exited {self.process.returncode}:\n"
                                   + self.log_tail())
            try:
                if httpx.get(self.url + "/health", timeout=1.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"headscale did not answer /health in {timeout}s:\n"
                           + self.log_tail())

    def stop(self) -> None:
        """SIGTERM and wait (Headscale closes its database); SIGKILL only if it hangs."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

    def log_tail(self, lines: int = 30) -> str:
        path = self.workdir / "headscale.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def _env(self) -> dict[str, str]:
        # Headscale reads HEADSCALE_* variables as config overrides: none may leak in.
        env = {k: v for k, v in os.environ.items() if not k.startswith("HEADSCALE_")}
        env["HOME"] = str(self.workdir)
        return env

    def cli(self, *args: str, json_output: bool = True) -> object:
        cmd = [str(self.binary), "-c", str(self.config), *args]
        if json_output:
            cmd += ["-o", "json"]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                              env=self._env(), stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise RuntimeError(f"headscale {' '.join(args)}: exit {done.returncode}: "
                               f"{done.stdout}{done.stderr}")
        return json.loads(done.stdout) if json_output else done.stdout

    def create_api_key(self) -> str:
        key = str(self.cli("apikeys", "create", "--expiration", "1h",
                           json_output=False)).strip().splitlines()[-1]
        assert key.startswith("hskey-api-"), key
        return key

    def create_user(self, name: str) -> dict[str, object]:
        return self.cli("users", "create", name, "--email", f"{name}@example.com",
                        "--display-name", name.title())  # type: ignore[return-value]

    def create_nodes(self, nodes: list[tuple[str, str, list[str]]]) -> None:
        """(name, user, routes) nodes without a client: Headscale's debug registration,
        then `nodes register`. Registering takes Headscale about a second each, so the
        registrations run side by side (ids and addresses then follow no fixed order)."""
        pending = []
        for name, user, routes in nodes:
            auth_id = "hskey-authreq-" + secrets.token_urlsafe(18)[:24]
            extra = [a for r in routes for a in ("--route", r)]
            self.cli("debug", "create-node", "--name", name, "--user", user, "--key",
                     auth_id, *extra)
            pending.append((user, auth_id))
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda p: self.cli("nodes", "register", "--user", p[0],
                                             "--key", p[1]), pending))

    def node_ids(self) -> dict[str, str]:
        nodes = self.cli("nodes", "list")
        assert isinstance(nodes, list)
        return {str(n["given_name"] if "given_name" in n else n["name"]): str(n["id"])
                for n in nodes}


def seed_demo_tailnet(hs: RealHeadscale) -> None:
    for user in USERS:
        hs.create_user(user)
    hs.create_nodes([(name, user, advertised) for name, user, _t, advertised, _a in NODES])
    ids = hs.node_ids()
    hs.cli("policy", "set", "--file", str(_write(hs.workdir / "seed.json", SEED_POLICY)),
           json_output=False)
    for name, _user, tags, _advertised, approved in NODES:
        if tags:
            hs.cli("nodes", "tag", "-i", ids[name], "-t", ",".join(tags))
        if approved:
            hs.cli("nodes", "approve-routes", "-i", ids[name], "-r", ",".join(approved))


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def short_tmp() -> Path:
    # The unix socket path must stay under 108 bytes: pytest's tmp_path can be longer.
    return Path(tempfile.mkdtemp(prefix="hs-", dir="/tmp"))


_TEMPLATES: dict[str, Path] = {}


def demo_template(version: str = VERSION) -> Path:
    """The demo tailnet's database, built once per process (the backend contract suite
    and tests/headscale_real share it), with the policy row removed."""
    if version in _TEMPLATES:
        return _TEMPLATES[version]
    binary = require_binary(version)
    workdir = short_tmp()
    atexit.register(shutil.rmtree, workdir, ignore_errors=True)
    hs = RealHeadscale(binary, workdir).start()
    try:
        seed_demo_tailnet(hs)
    finally:
        hs.stop()
    db = sqlite3.connect(hs.db)
    try:
        with db:
            db.execute("DELETE FROM policies")
        # Fold the write-ahead log into the file: only db.sqlite is copied per test.
        db.execute("PRAGMA journal_mode=DELETE")
    finally:
        db.close()
    _TEMPLATES[version] = hs.db
    return hs.db


@dataclass
class Running:
    server: RealHeadscale
    api_key: str

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture
def real_headscale() -> Iterator[Running]:
    """A fresh Headscale over a copy of the demo tailnet, no policy stored."""
    template = demo_template()
    workdir = short_tmp()
    shutil.copy(template, workdir / "db.sqlite")
    hs = RealHeadscale(require_binary(), workdir)
    try:
        hs.start()
        yield Running(hs, hs.create_api_key())
    finally:
        hs.stop()
        shutil.rmtree(workdir, ignore_errors=True)

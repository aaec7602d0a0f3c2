"""The embedded control plane's storage: one SQLite file (the only sqlite3 user).

backends/ (fetch and push). May import: `atomicfile`, `backends.base`, `backends.seed`, `inventory`,
`errors`. Holds the policy text exactly as pushed (HuJSON, comments kept) with its
ETag (quoted sha256 of the text), the history of every accepted write, users and
devices. The file and its parent directories are created on first use and seeded
(by default with the demo tailnet; see `backends.seed`). A `.reconciler` directory
gets a `.gitignore` of its own, so the store never shows up as an untracked file in
a repository that has none for it. Writes run in `BEGIN IMMEDIATE` transactions, so of two
writers holding the same ETag exactly one wins and the other gets PreconditionFailed;
`reconciler serve` shares this module, so HTTP and in-process writers agree.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from operator import itemgetter
from pathlib import Path
from typing import Any

from reconciler.backends.base import TS_DEFAULT, text_etag, unquote_etag
from reconciler.backends.local import seed
from reconciler.core import atomicfile
from reconciler.core.errors import BackendError, NotFound, PreconditionFailed, ValidationFailed
from reconciler.core.inventory import Device, Inventory, User
from reconciler.load.document import read_header

SCHEMA_VERSION = 1
PRECONDITION_MESSAGE = "precondition failed, invalid old hash"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS policy (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    text TEXT NOT NULL,
    etag TEXT NOT NULL,
    is_default INTEGER NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS history (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    etag TEXT NOT NULL,
    source TEXT NOT NULL,
    commit_sha TEXT,
    fingerprint TEXT,
    text TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY,
    login TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL,
    shared INTEGER NOT NULL,
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS devices (
    node_id TEXT PRIMARY KEY,
    legacy_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL UNIQUE,
    user TEXT,
    tags TEXT NOT NULL,
    ipv4 TEXT,
    ipv6 TEXT,
    approved_routes TEXT NOT NULL,
    advertised_routes TEXT NOT NULL,
    posture TEXT NOT NULL,
    os TEXT NOT NULL,
    created TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class StoredPolicy:
    text: str
    etag: str
    is_default: bool
    updated_at: str


@dataclass(frozen=True)
class HistoryEntry:
    seq: int
    at: str
    etag: str
    source: str  # "seed", "api" (a push) or "edit" (out of band)
    commit: str | None
    fingerprint: str | None
    text: str


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def node_id_for(name: str) -> str:
    """A stable Tailscale-shaped node id (`n...CNTRL`) for a device name."""
    return "n" + hashlib.sha256(name.encode()).hexdigest()[:10] + "CNTRL"


def etag_matches(if_match: str | None, current: StoredPolicy) -> bool:
    """Tailscale's If-Match: absent matches; `ts-default` only the untouched default."""
    if if_match is None:
        return True
    wanted = unquote_etag(if_match)
    if wanted == "*":
        return True
    if wanted == TS_DEFAULT:
        return current.is_default
    return wanted == unquote_etag(current.etag)


def _device_row(d: dict[str, Any], legacy_id: int, created: str) -> tuple[Any, ...]:
    """The devices table's row for a device dict (seed rows and `add_device` alike)."""
    return (node_id_for(d["name"]), str(legacy_id), d["name"], d.get("user"),
            json.dumps(sorted(d.get("tags") or [])), d.get("ipv4"), d.get("ipv6"),
            json.dumps(list(d.get("approved_routes") or [])),
            json.dumps(list(d.get("advertised_routes") or [])),
            json.dumps(d.get("posture") or {}), d.get("os") or "linux", created)


class LocalStore:
    """A local tailnet in one SQLite file. Cheap to construct; connects per operation."""

    def __init__(self, path: Path, *, clock: Callable[[], datetime] | None = None,
                 seed_with: Callable[[], seed.Seed] | None = None) -> None:
        self.path = Path(path)
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        # Called only when the store is new, so an inventory file is read once, ever.
        self._seed_with = seed_with or seed.demo_seed
        self._ensure()

    # --- plumbing -------------------------------------------------------------------

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        except sqlite3.Error as e:
            raise BackendError(f"cannot open the local store {self.path}: {e}",
                               "Check the path, or pass --db with a writable file.") from e
        conn.row_factory = sqlite3.Row
        try:
            yield conn
        except sqlite3.DatabaseError as e:
            raise BackendError(f"local store {self.path}: {e}",
                               "The file may not be a reconciler database.") from e
        finally:
            conn.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that holds the write lock from its first statement."""
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _ensure(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomicfile.ignore_state_dir(self.path.parent)
        except OSError as e:
            raise BackendError(f"cannot create {self.path.parent}: {e}") from e
        with self._connect() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
        with self._write() as conn:
            # Statement by statement: executescript() would COMMIT our transaction.
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            seeded = conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            if seeded is None:
                self._seed(conn)

    def _seed(self, conn: sqlite3.Connection) -> None:
        now = _iso(self._clock())
        conn.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        text = seed.DEFAULT_POLICY
        conn.execute("INSERT INTO policy VALUES (1, ?, ?, 1, ?)", (text, text_etag(text), now))
        self._record(conn, text, "seed", now)
        start = self._seed_with()
        conn.execute("INSERT INTO meta VALUES ('seed', ?)", (start.source,))
        # One executemany per table, ids numbered here: the tables are empty, and a
        # COUNT(*) per row (as single inserts do) made seeding quadratic in devices.
        conn.executemany("INSERT INTO users VALUES (?, ?, ?, ?, ?, ?)", [
            (str(1_000_000 + n), u["login"], u["display_name"], u["role"], int(u["shared"]),
             now) for n, u in enumerate(start.users, 1)])
        conn.executemany("INSERT INTO devices VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         [_device_row(d, 2_000_000 + n, now)
                          for n, d in enumerate(start.devices, 1)])

    @staticmethod
    def _record(conn: sqlite3.Connection, text: str, source: str, at: str) -> None:
        header = read_header(text)
        commit, fingerprint = (header.commit, header.fingerprint) if header else (None, None)
        conn.execute(
            "INSERT INTO history (at, etag, source, commit_sha, fingerprint, text) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (at, text_etag(text), source, commit, fingerprint, text),
        )

    # --- policy ---------------------------------------------------------------------

    def policy(self) -> StoredPolicy:
        with self._connect() as conn:
            row = conn.execute("SELECT * FROM policy WHERE id = 1").fetchone()
        return StoredPolicy(row["text"], row["etag"], bool(row["is_default"]), row["updated_at"])

    def write_policy(self, text: str, *, if_match: str | None, source: str = "api") -> str:
        """Store `text` if `if_match` still matches; return the new ETag.

        The caller validates first (outside the lock); this only compares and swaps.
        """
        now = _iso(self._clock())
        with self._write() as conn:
            row = conn.execute("SELECT * FROM policy WHERE id = 1").fetchone()
            current = StoredPolicy(row["text"], row["etag"], bool(row["is_default"]),
                                   row["updated_at"])
            if not etag_matches(if_match, current):
                raise PreconditionFailed(
                    PRECONDITION_MESSAGE,
                    f"The policy changed since ETag {if_match} was read (now {current.etag}); "
                    "fetch it again and re-plan.",
                    status=412,
                )
            etag = text_etag(text)
            conn.execute("UPDATE policy SET text = ?, etag = ?, is_default = 0, updated_at = ? "
                         "WHERE id = 1", (text, etag, now))
            self._record(conn, text, source, now)
        return etag

    def history(self) -> list[HistoryEntry]:
        with self._connect() as conn:
            rows = conn.execute("SELECT * FROM history ORDER BY seq").fetchall()
        return [HistoryEntry(r["seq"], r["at"], r["etag"], r["source"], r["commit_sha"],
                             r["fingerprint"], r["text"]) for r in rows]

    # --- users ----------------------------------------------------------------------

    @staticmethod
    def _insert_user(conn: sqlite3.Connection, login: str, role: str, display_name: str,
                     shared: bool, created: str) -> None:
        count = conn.execute("SELECT COUNT(*) FROM users").fetchone()[0]
        user_id = str(1_000_000 + count + 1)
        conn.execute("INSERT INTO users VALUES (?, ?, ?, ?, ?, ?)",
                     (user_id, login, display_name, role, int(shared), created))

    def add_user(self, login: str, *, role: str = "member", display_name: str = "",
                 shared: bool = False) -> None:
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM users WHERE login = ?", (login,)).fetchone():
                raise ValidationFailed(f"user {login} already exists", status=409)
            self._insert_user(conn, login, role, display_name or login.split("@")[0],
                              shared, _iso(self._clock()))

    def user_rows(self) -> list[dict[str, Any]]:
        with self._connect() as conn:
            rows = conn.execute("SELECT * FROM users ORDER BY id").fetchall()
            counts = dict(conn.execute(
                # Tagged devices belong to their tags, not to the user who registered them.
                "SELECT user, COUNT(*) FROM devices WHERE user IS NOT NULL AND tags = '[]' "
                "GROUP BY user"
            ).fetchall())
        return [dict(r) | {"shared": bool(r["shared"]), "device_count": counts.get(r["login"], 0)}
                for r in rows]

    # --- devices --------------------------------------------------------------------

    @staticmethod
    def _insert_device(conn: sqlite3.Connection, d: dict[str, Any], created: str) -> str:
        count = conn.execute("SELECT COUNT(*) FROM devices").fetchone()[0]
        row = _device_row(d, 2_000_000 + count + 1, created)
        conn.execute("INSERT INTO devices VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
        return row[0]

    def add_device(self, name: str, *, user: str | None = None, tags: list[str] | None = None,
                   ipv4: str | None = None, ipv6: str | None = None,
                   routes: list[str] | None = None, os_name: str = "linux") -> str:
        """Add a device owned by `user` or by `tags`; returns its node id."""
        if not user and not tags:
            raise ValidationFailed("a device needs an owner: a user or at least one tag")
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM devices WHERE name = ?", (name,)).fetchone():
                raise ValidationFailed(f"device {name} already exists", status=409)
            if user and not conn.execute("SELECT 1 FROM users WHERE login = ?",
                                         (user,)).fetchone():
                raise NotFound(f"user {user} not found", "Add it first with `local add-user`.",
                               status=404)
            n = conn.execute("SELECT COUNT(*) FROM devices").fetchone()[0] + 1
            return self._insert_device(conn, {
                "name": name, "user": user, "tags": tags or [],
                "ipv4": ipv4 or f"100.64.{n // 250}.{n % 250 + 1}",
                "ipv6": ipv6 or f"fd7a:115c:a1e0::{n:x}",
                "approved_routes": routes or [], "advertised_routes": routes or [],
                "posture": {"node:os": os_name}, "os": os_name,
            }, _iso(self._clock()))

    def device_rows(self) -> list[dict[str, Any]]:
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT d.*, COALESCE(u.shared, 0) AS owner_shared FROM devices d "
                "LEFT JOIN users u ON u.login = d.user ORDER BY d.name").fetchall()
        out = []
        for r in rows:
            row = dict(r)
            for key in ("tags", "approved_routes", "advertised_routes", "posture"):
                row[key] = json.loads(row[key])
            row["owner_shared"] = bool(row["owner_shared"])
            out.append(row)
        return out

    def set_device_tags(self, device_id: str, tags: list[str], *, allowed: set[str]) -> None:
        """Replace a device's tags; every tag must be in `allowed` (the policy's tagOwners)."""
        bad = [t for t in tags if t not in allowed]
        if bad:
            raise ValidationFailed(
                f"requested tags [{' '.join(bad)}] are invalid or not permitted",
                "Define the tags in tagOwners (and apply the policy) before assigning them.",
            )
        with self._write() as conn:
            updated = conn.execute(
                "UPDATE devices SET tags = ? WHERE node_id = ? OR legacy_id = ?",
                (json.dumps(sorted(set(tags))), device_id, device_id),
            ).rowcount
            if not updated:
                raise NotFound(f"device {device_id} not found", status=404)

    # --- inventory ------------------------------------------------------------------

    def inventory(self) -> Inventory:
        return Inventory(users=tuple(self.users()), devices=tuple(self.devices()),
                         source=f"local:{self.path}")

    def users(self) -> list[User]:
        with self._connect() as conn:
            rows = conn.execute("SELECT login, role, id, display_name, shared FROM users "
                                "ORDER BY id").fetchall()
        return [User(login, role, user_id, display_name, bool(shared))
                for login, role, user_id, display_name, shared in rows]

    def devices(self) -> list[Device]:
        """Every device, by name; tagged devices are owned by their tags.

        Read the fast way for large tailnets: only the columns a Device needs, the
        owners' `shared` flag from one small query instead of a join, and each distinct
        JSON text decoded once (tags, routes and postures repeat across devices)."""
        with self._connect() as conn:
            shared = {login for (login,) in conn.execute(
                "SELECT login FROM users WHERE shared")}
            rows = conn.execute(
                "SELECT name, ipv4, ipv6, user, tags, approved_routes, advertised_routes, "
                "posture, node_id FROM devices").fetchall()
        rows.sort(key=itemgetter(0))  # ORDER BY name: UTF-8 byte order is code point order
        lists = {text: tuple(json.loads(text)) for text in
                 {r[4] for r in rows} | {r[5] for r in rows} | {r[6] for r in rows}}
        postures = {text: json.loads(text) for text in {r[7] for r in rows}}
        return [Device(name=name, ipv4=ipv4, ipv6=ipv6, user=None if lists[tags] else user,
                       tags=lists[tags], approved_routes=lists[approved],
                       advertised_routes=lists[advertised], posture=dict(postures[posture]),
                       id=node_id, shared=user in shared)
                for name, ipv4, ipv6, user, tags, approved, advertised, posture, node_id
                in rows]

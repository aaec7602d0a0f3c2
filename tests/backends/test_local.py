"""The local store itself: creation, seeding, ETags, history, out-of-band edits, and
concurrent writers in separate processes (real SQLite files in tmp dirs)."""

from __future__ import annotations

import hashlib
import multiprocessing
from pathlib import Path

import pytest

from reconciler.backends import open_backend
from reconciler.backends.local import seed
from reconciler.backends.local.backend import LocalBackend
from reconciler.backends.local.store import LocalStore
from reconciler.core.errors import BackendError, NotFound, PreconditionFailed, ValidationFailed
from reconciler.core.inventory import Device, User
from reconciler.load.config import Target
from reconciler.load.document import read_header
from tests.backends.policies import HEADER, VALID, VALID_2


def test_created_on_first_use_with_parent_dirs_and_seeded_once(tmp_path: Path) -> None:
    db = tmp_path / "a" / "b" / "local.db"
    store = LocalStore(db)
    assert db.is_file()
    assert len(store.users()) == len(seed.DEMO_USERS)
    assert len(store.devices()) == len(seed.DEMO_DEVICES)
    again = LocalStore(db)  # reopening must not seed a second time
    assert len(again.users()) == len(seed.DEMO_USERS)
    assert [h.source for h in again.history()] == ["seed"]
    assert again.policy().text == seed.DEFAULT_POLICY and again.policy().is_default


def test_inventory_is_the_stored_rows(tmp_path: Path) -> None:
    """`users()` and `devices()` (read column by column, for speed) say exactly what the
    store's rows say: tagged devices owned by their tags, shared owners, JSON columns."""
    store = LocalStore(tmp_path / "local.db")
    store.add_user("guest@other.example", display_name="Guest", shared=True)
    store.add_device("Zeta-box", user="guest@other.example")
    store.add_device("éclair", tags=["tag:b", "tag:a"], routes=["10.1.0.0/16", "::/0"])
    store.add_device("alpha", user="guest@other.example", tags=["tag:a"])
    users = [User(login=r["login"], role=r["role"], id=r["id"],
                  display_name=r["display_name"], shared=r["shared"])
             for r in store.user_rows()]
    devices = [Device(name=r["name"], ipv4=r["ipv4"], ipv6=r["ipv6"],
                      user=None if r["tags"] else r["user"], tags=tuple(r["tags"]),
                      approved_routes=tuple(r["approved_routes"]),
                      advertised_routes=tuple(r["advertised_routes"]),
                      posture=r["posture"], id=r["node_id"], shared=r["owner_shared"])
               for r in store.device_rows()]
    assert store.users() == users
    assert store.devices() == devices
    assert [d.posture for d in store.devices()] == [d.posture for d in devices]
    assert next(d for d in store.devices() if d.name == "Zeta-box").shared


def test_etag_is_the_quoted_sha256_of_the_stored_text(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "local.db")
    etag = store.write_policy(VALID, if_match=None)
    assert etag == '"' + hashlib.sha256(VALID.encode()).hexdigest() + '"'
    assert store.policy().etag == etag and not store.policy().is_default


def test_history_keeps_every_write_with_its_managed_commit(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "local.db")
    backend.push_policy(VALID, if_match=None)
    backend.push_policy(VALID_2, if_match=None, source="edit")
    history = backend.store.history()
    assert [h.source for h in history] == ["seed", "api", "edit"]
    assert history[1].commit == "0123456789abcdef0123456789abcdef01234567"
    assert history[1].fingerprint == "ab" * 32
    assert history[0].commit is None
    assert history[2].text == VALID_2


def test_only_a_leading_comment_is_a_managed_header() -> None:
    header = read_header(HEADER + "\n{}")
    assert header is not None and header.commit == "0123456789abcdef0123456789abcdef01234567"
    assert read_header("{\n" + HEADER + "\n}") is None
    # A header without a fingerprint is not ours: it cannot tell drift from a change.
    assert read_header("// reconciler: commit=abc\n{}") is None


def test_an_out_of_band_edit_ends_the_default(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "local.db")
    backend.push_policy(seed.DEFAULT_POLICY, if_match=None, source="edit")
    with pytest.raises(PreconditionFailed):
        backend.push_policy(VALID, if_match="ts-default")


def test_users_and_devices_can_be_added(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "local.db")
    store.add_user("zed@example.com", role="admin")
    node = store.add_device("zed-box", user="zed@example.com", routes=["10.9.0.0/24"])
    device = next(d for d in store.devices() if d.name == "zed-box")
    assert device.id == node and device.user == "zed@example.com"
    assert device.approved_routes == ("10.9.0.0/24",)
    assert device.ipv4 not in {d.ipv4 for d in store.devices() if d.name != "zed-box"}
    with pytest.raises(ValidationFailed):
        store.add_user("zed@example.com")
    with pytest.raises(NotFound):
        store.add_device("ghost-box", user="ghost@example.com")
    with pytest.raises(ValidationFailed):
        store.add_device("nobody-box")


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    bogus = tmp_path / "local.db"
    bogus.write_text("this is not sqlite " * 100)
    with pytest.raises(BackendError) as info:
        LocalStore(bogus)
    assert str(bogus) in str(info.value)


def test_open_backend_takes_the_target_path_relative_to_the_root(tmp_path: Path) -> None:
    target = Target(name="local", backend="local", path="state/x.db")
    backend = open_backend(target, root=tmp_path, env={})
    try:
        assert backend.identity == f"local:{(tmp_path / 'state' / 'x.db').resolve()}"
        assert (tmp_path / "state" / "x.db").is_file()
    finally:
        backend.close()


def _write_in_process(db: str, text: str, etag: str, start: object, out: object) -> None:
    store = LocalStore(Path(db))
    start.wait()  # type: ignore[attr-defined]
    try:
        store.write_policy(text, if_match=etag)
        out.put("won")  # type: ignore[attr-defined]
    except PreconditionFailed:
        out.put("412")  # type: ignore[attr-defined]


def test_concurrent_processes_with_one_etag_exactly_one_wins(tmp_path: Path) -> None:
    db = tmp_path / "local.db"
    etag = LocalStore(db).policy().etag
    ctx = multiprocessing.get_context("fork")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_write_in_process,
                         args=(str(db), VALID + f"// writer {i}\n", etag, start, out))
             for i in range(4)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(timeout=30)
    results = sorted(out.get(timeout=5) for _ in procs)
    assert results == ["412", "412", "412", "won"]
    assert len(LocalStore(db).history()) == 2


def test_the_example_policies_pass_their_tests_on_the_demo_tailnet(tmp_path: Path) -> None:
    """The seed tables fit the example organisation in policies/ (kept in step on purpose)."""
    import json

    from reconciler.load.desired import load_desired
    from tests.conftest import REPO_ROOT

    desired = load_desired(REPO_ROOT)
    backend = LocalBackend(tmp_path / "local.db")
    result = backend.validate(json.dumps(desired.policy, indent="\t"))
    assert result.ok, result.failures
    backend.push_policy(json.dumps(desired.policy, indent="\t"), if_match="ts-default")

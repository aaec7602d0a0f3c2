"""plan/ (step: apply), the apply journal: what an apply set out to write, and what it has written.

May import: `atomicfile`, `changes`, `errors`, `redact`;
stdlib only otherwise. No requests: `applier` reads the live side and decides; this module only
keeps the record.

An apply writes in several requests (the policy push, then one per device whose tags
change) and the control plane has no transaction across them, so a crash or Ctrl-C in
between leaves the target half-applied. Before its first write, apply records the whole
intent in `.reconciler/journal/<target>.json`: the plan's identity, the policy push
(its `If-Match` ETag, the document and its fingerprint) and each device tag change
(planned prior tags and target tags); after each write it marks that step done; when
every step is written and verified it deletes the file. A journal on disk therefore
means "an apply of this target stopped part way", and every command that touches the
target says so (`applier.settle`), until `apply --resume` finishes it.

Files are written atomically (temp file, fsync, rename), created exclusively (a second
apply in the same checkout finds the first one's journal and refuses), carry a checksum,
and are read strictly: a damaged journal is a located refusal, never a traceback. The
journal holds no credential: only what a plan file holds, redacted the same way.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.core import atomicfile, redact
from reconciler.core.errors import InterruptedApply, JournalError
from reconciler.diff.changes import Plan

JOURNAL_VERSION = 1
JOURNAL_DIR = Path(".reconciler") / "journal"
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
MAX_JOURNAL_BYTES = 64 * 1024 * 1024


@dataclass
class TagStep:
    device: str
    device_id: str
    before: tuple[str, ...]
    after: tuple[str, ...]
    done: bool = False

    @property
    def label(self) -> str:
        return f'tags of device "{self.device}"'


@dataclass
class Journal:
    """One apply's intent and progress (see the module docstring)."""

    target: str
    identity: str
    plan_id: str
    desired_commit: str | None
    started_at: str
    prior_etag: str
    push: bool  # the plan pushes `document` (else it changes device tags only)
    document: str
    document_fingerprint: str
    pushed: bool = False
    etag_after: str | None = None
    tags: list[TagStep] = field(default_factory=list)
    path: Path = field(default=Path(), compare=False)

    def done_labels(self) -> list[str]:
        return (["policy push"] if self.push and self.pushed else []) + \
            [t.label for t in self.tags if t.done]

    def remaining_labels(self) -> list[str]:
        return (["policy push"] if self.push and not self.pushed else []) + \
            [t.label for t in self.tags if not t.done]


def path_for(root: Path, target: str) -> Path:
    """The journal file of `target` under the repository `root`."""
    name = target if _SAFE_NAME.fullmatch(target) else \
        "target-" + hashlib.sha256(target.encode("utf-8")).hexdigest()[:16]
    return Path(root) / JOURNAL_DIR / f"{name}.json"


def plan_id(plan: Plan) -> str:
    """The identity of what a plan writes: target, prior state, document, tag changes.
    Two plan files that would write the same thing share it."""
    body = json.dumps({
        "target": plan.target, "identity": plan.identity, "prior_etag": plan.prior_etag,
        "document_fingerprint": plan.document_fingerprint if plan.changes else None,
        "devices": [[d.device_id, list(d.before), list(d.after)] for d in plan.device_changes],
    }, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(body.encode("utf-8")).hexdigest()


def for_plan(root: Path, plan: Plan, started_at: str) -> Journal:
    return Journal(
        target=plan.target, identity=plan.identity, plan_id=plan_id(plan),
        desired_commit=plan.desired_commit, started_at=started_at,
        prior_etag=plan.prior_etag, push=bool(plan.changes),
        document=plan.document if plan.changes else "",
        document_fingerprint=plan.document_fingerprint if plan.changes else "",
        tags=[TagStep(d.device, d.device_id, tuple(d.before), tuple(d.after))
              for d in plan.device_changes],
        path=path_for(root, plan.target))


# --- writing ----------------------------------------------------------------------------------


def _to_dict(j: Journal) -> dict[str, Any]:
    return {
        "journal_version": JOURNAL_VERSION, "target": j.target, "identity": j.identity,
        "plan_id": j.plan_id, "desired_commit": j.desired_commit, "started_at": j.started_at,
        "policy": {"push": j.push, "if_match": j.prior_etag, "document": j.document,
                   "document_fingerprint": j.document_fingerprint, "done": j.pushed,
                   "etag_after": j.etag_after},
        "devices": [{"device": t.device, "device_id": t.device_id, "before": list(t.before),
                     "after": list(t.after), "done": t.done} for t in j.tags],
    }


def _canonical(data: dict[str, Any]) -> bytes:
    body = {k: v for k, v in data.items() if k != "checksum"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def _dumps(j: Journal) -> str:
    data = _to_dict(j)
    if redact.contains_secret(_canonical(data).decode("utf-8")):
        # Like a plan file: an echoed credential is not written to disk. The document's
        # fingerprint then no longer matches, and a resume refuses to push it.
        data = redact.redact_data(data)
    data["checksum"] = "sha256:" + hashlib.sha256(_canonical(data)).hexdigest()
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _sync_dir(directory: Path) -> None:
    # The rename itself must reach the disk before the write it announces.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def create(j: Journal) -> None:
    """Write a new journal; refuses (InterruptedApply) if the target already has one.

    Exclusive by `os.link`, which fails when the name exists: two applies in one
    checkout cannot both start."""
    directory = j.path.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
        atomicfile.ignore_state_dir(directory.parent)
        tmp = atomicfile.write_temp(directory, j.path.name, _dumps(j))
        try:
            os.link(tmp, j.path)
        finally:
            Path(tmp).unlink(missing_ok=True)
        _sync_dir(directory)
    except FileExistsError:
        raise InterruptedApply(
            f'another apply of target "{j.target}" is in progress or was interrupted '
            f"(its journal {j.path} exists); nothing was applied",
            f"Run `reconciler apply --resume --target {j.target}` to finish it.") from None
    except OSError as e:
        raise JournalError(f"cannot write the apply journal {j.path}: {e.strerror or e}",
                           "Nothing was applied. Make the directory writable and run "
                           "apply again.") from e


def save(j: Journal) -> None:
    """Record progress: the whole journal, replaced atomically."""
    try:
        atomicfile.replace(j.path, _dumps(j))
    except OSError as e:
        raise JournalError(f"cannot update the apply journal {j.path}: {e.strerror or e}",
                           f"Run `reconciler apply --resume --target {j.target}` once the "
                           "directory is writable.") from e


def clear(j: Journal) -> None:
    try:
        j.path.unlink(missing_ok=True)
    except OSError as e:
        raise JournalError(f"cannot remove the apply journal {j.path}: {e.strerror or e}",
                           "The apply itself is complete; delete the file by hand.") from e
    _sync_dir(j.path.parent)


# --- reading ----------------------------------------------------------------------------------


def load(root: Path, target: str) -> Journal | None:
    """The target's journal, or None; JournalError when it exists but is damaged."""
    path = path_for(root, target)
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_JOURNAL_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise JournalError(f"cannot read the apply journal {path}: {e.strerror or e}") from e
    try:
        return _parse(raw, path)
    except (ValueError, TypeError, KeyError, RecursionError) as e:
        raise JournalError(
            f"{path}: the apply journal is damaged ({_why(e)})",
            f'An apply of target "{target}" was interrupted, but what it left to do cannot '
            "be read. Run `reconciler drift` to see the live state, delete this file, then "
            "plan and apply again.") from None


def _why(e: BaseException) -> str:
    return str(e)[:200] if isinstance(e, ValueError) else f"wrong field: {type(e).__name__}"


def _parse(raw: bytes, path: Path) -> Journal:
    if len(raw) > MAX_JOURNAL_BYTES:
        raise ValueError("too large")
    data = json.loads(raw.decode("utf-8"))
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    if data.get("journal_version") != JOURNAL_VERSION:
        raise ValueError(f"unknown journal_version {data.get('journal_version')!r}")
    checksum = data.get("checksum")
    if checksum != "sha256:" + hashlib.sha256(_canonical(data)).hexdigest():
        raise ValueError("checksum mismatch")
    policy = _obj(data["policy"])
    tags = []
    for d in data["devices"]:
        d = _obj(d)
        tags.append(TagStep(_str(d["device"]), _str(d["device_id"]), _strs(d["before"]),
                            _strs(d["after"]), _bool(d["done"])))
    commit = data["desired_commit"]
    etag_after = policy["etag_after"]
    return Journal(
        target=_str(data["target"]), identity=_str(data["identity"]),
        plan_id=_str(data["plan_id"]),
        desired_commit=None if commit is None else _str(commit),
        started_at=_str(data["started_at"]), prior_etag=_str(policy["if_match"]),
        push=_bool(policy["push"]), document=_str(policy["document"]),
        document_fingerprint=_str(policy["document_fingerprint"]),
        pushed=_bool(policy["done"]),
        etag_after=None if etag_after is None else _str(etag_after), tags=tags, path=path)


def _obj(v: Any) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise TypeError
    return v


def _str(v: Any) -> str:
    if not isinstance(v, str):
        raise TypeError
    return v


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise TypeError
    return v


def _strs(v: Any) -> tuple[str, ...]:
    if not isinstance(v, list):
        raise TypeError
    return tuple(_str(x) for x in v)

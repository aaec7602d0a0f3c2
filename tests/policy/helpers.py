"""Small policies and hand-built SourceMaps for the validator's unit tests."""

from __future__ import annotations

import copy
from typing import Any

from reconciler.core.problems import Problem
from reconciler.core.source import Location, PathKey, SourceMap
from reconciler.validate.validate import validate_policy

FILE = "policy.hujson"

BASE: dict[str, Any] = {
    "groups": {"group:eng": ["alice@example.com", "bob@example.com"], "group:empty": []},
    "tagOwners": {"tag:web": ["group:eng"], "tag:db": ["alice@example.com"], "tag:ci": []},
    "hosts": {"db1": "100.64.0.10", "office": "10.1.0.0/16"},
}


def policy(**sections: Any) -> dict[str, Any]:
    """BASE plus the given sections (a section set to None is removed)."""
    doc = copy.deepcopy(BASE)
    for name, value in sections.items():
        if value is None:
            doc.pop(name, None)
        else:
            doc[name] = value
    return doc


def source_map(*paths: PathKey) -> SourceMap:
    """Path i (counting from 1) is at policy.hujson:<10*i>:5; keys at column 3."""
    sm = SourceMap()
    for i, path in enumerate(paths, start=1):
        sm.set(path, Location(FILE, 10 * i, 5))
        sm.set((*path, "<key>"), Location(FILE, 10 * i, 3))
    return sm


def errors(doc: Any, sources: SourceMap | None = None, **kw: Any) -> list[Problem]:
    return [p for p in validate_policy(doc, sources, **kw) if p.is_error]


def messages(doc: Any, **kw: Any) -> list[str]:
    return [p.message for p in errors(doc, **kw)]


def acl(src: list[str], dst: list[str], **extra: Any) -> dict[str, Any]:
    return {"action": "accept", "src": src, "dst": dst, **extra}


def grant(src: list[str], dst: list[str], **extra: Any) -> dict[str, Any]:
    return {"src": src, "dst": dst, **extra}


def ssh(src: list[str], dst: list[str], users: list[str], **extra: Any) -> dict[str, Any]:
    return {"action": "accept", "src": src, "dst": dst, "users": users, **extra}

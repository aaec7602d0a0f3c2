"""Lint: names used but not defined, defined but not used, and empty groups.

lint/ (imports `reconciler.validate` parsers and `reconciler.core.source`). Walks every
place a policy names a group, tag, host, ipset or posture, with the path of that place,
so each finding points at the line that uses (or defines) the name.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import lru_cache
from itertools import chain
from typing import Any

from reconciler.core.source import PathKey, SourceMap
from reconciler.core.suggest import nearest_name
from reconciler.lint.findings import Finding
from reconciler.validate.ports import split_acl_dst
from reconciler.validate.selectors import Kind, SelectorSyntaxError, parse_selector

Ref = tuple[str, str, PathKey]  # (kind, name, where it is used)
_KINDS = {Kind.GROUP: "group", Kind.TAG: "tag", Kind.HOST: "host", Kind.IPSET: "ipset"}
_SECTION = {"group": "groups", "tag": "tagOwners", "host": "hosts", "ipset": "ipsets",
            "posture": "postures"}


def strings(value: Any) -> list[tuple[int, str]]:
    if isinstance(value, str):
        return [(0, value)]
    if isinstance(value, list):
        return [(i, v) for i, v in enumerate(value) if isinstance(v, str)]
    return []


def _selector_refs(text: str, path: PathKey, *, with_port: bool = False) -> tuple[Ref, ...]:
    # A tuple, not a generator: this runs for every selector of the policy.
    found = _named_in(text, with_port)
    return () if found is None else ((found[0], found[1], path),)


@lru_cache(maxsize=1 << 16)
def _named_in(text: str, with_port: bool) -> tuple[str, str] | None:
    """`_named` of the selector as written (untrimmed, with a port when `with_port`)."""
    s = text.strip()
    if with_port:
        s = split_acl_dst(s)[0].strip()
    return _named(s)


@lru_cache(maxsize=1 << 16)
def _named(s: str) -> tuple[str, str] | None:
    """(kind, name) a selector refers to, if any. Cached: large policies spell the same
    selectors thousands of times."""
    try:
        sel = parse_selector(s)
    except SelectorSyntaxError:
        return None
    kind = _KINDS.get(sel.kind)
    if kind == "group" and "@" in sel.value:
        return None  # SCIM-synced groups are defined outside the policy
    return None if kind is None else (kind, sel.value)


def _ipset_refs(op: str, path: PathKey) -> Iterator[Ref]:
    verb, _, target = op.strip().partition(" ")
    target = (target if verb in ("add", "remove") else op).strip()
    if target.startswith("ipset:"):
        yield "ipset", target, path
    elif target.startswith("host:"):
        yield "host", target[len("host:"):], path


def references(policy: Mapping[str, Any], devices: Mapping[str, Any] | None = None
               ) -> Iterator[Ref]:
    """Every (kind, name, path) the policy (and the managed `devices`) refers to."""
    for i, acl in enumerate(policy.get("acls") or []):
        if not isinstance(acl, Mapping):
            continue
        for key in ("src", "users"):
            for j, s in strings(acl.get(key)):
                yield from _selector_refs(s, ("acls", i, key, j))
        for key in ("dst", "ports"):
            for j, s in strings(acl.get(key)):
                yield from _selector_refs(s, ("acls", i, key, j), with_port=True)
        yield from _posture_refs(acl, ("acls", i))
    for i, grant in enumerate(policy.get("grants") or []):
        if not isinstance(grant, Mapping):
            continue
        for key in ("src", "dst", "via"):
            for j, s in strings(grant.get(key)):
                yield from _selector_refs(s, ("grants", i, key, j))
        yield from _posture_refs(grant, ("grants", i))
    for i, rule in enumerate(policy.get("ssh") or []):
        if isinstance(rule, Mapping):
            for key in ("src", "dst", "recorder"):
                for j, s in strings(rule.get(key)):
                    yield from _selector_refs(s, ("ssh", i, key, j))
            yield from _posture_refs(rule, ("ssh", i))
    owners = policy.get("tagOwners")
    for tag, names in (owners.items() if isinstance(owners, Mapping) else ()):
        for j, s in strings(names):
            yield from _selector_refs(s, ("tagOwners", tag, j))
    groups = policy.get("groups")
    for group, members in (groups.items() if isinstance(groups, Mapping) else ()):
        for j, s in strings(members):
            yield from _selector_refs(s, ("groups", group, j))
    approvers = policy.get("autoApprovers")
    if isinstance(approvers, Mapping):
        for key, value in approvers.items():
            if isinstance(value, Mapping):
                for route, names in value.items():
                    if key == "services" and isinstance(route, str) and route.startswith("tag:"):
                        yield from _selector_refs(route, ("autoApprovers", key, route))
                    for j, s in strings(names):
                        yield from _selector_refs(s, ("autoApprovers", key, route, j))
            else:
                for j, s in strings(value):
                    yield from _selector_refs(s, ("autoApprovers", key, j))
    for i, attr in enumerate(policy.get("nodeAttrs") or []):
        if isinstance(attr, Mapping):
            for j, s in strings(attr.get("target")):
                yield from _selector_refs(s, ("nodeAttrs", i, "target", j))
    for i, test in enumerate(policy.get("tests") or []):
        if isinstance(test, Mapping):
            for key in ("src", "user"):
                for j, s in strings(test.get(key)):
                    yield from _selector_refs(s, ("tests", i, key) if j == 0 else
                                              ("tests", i, key, j))
            for key in ("accept", "allow", "deny"):
                for j, s in strings(test.get(key)):
                    yield from _selector_refs(s, ("tests", i, key, j), with_port=True)
    for i, test in enumerate(policy.get("sshTests") or []):
        if isinstance(test, Mapping):
            for _j, s in strings(test.get("src")):
                yield from _selector_refs(s, ("sshTests", i, "src"))
            for j, s in strings(test.get("dst")):
                yield from _selector_refs(s, ("sshTests", i, "dst", j))
    ipsets = policy.get("ipsets")
    for name, ops in (ipsets.items() if isinstance(ipsets, Mapping) else ()):
        for j, op in strings(ops):
            yield from _ipset_refs(op, ("ipsets", name, j))
    for name, spec in (devices or {}).items():
        if isinstance(spec, Mapping):
            for j, s in strings(spec.get("tags")):
                yield from _selector_refs(s, ("devices", name, "tags", j))


def _posture_refs(entry: Mapping[str, Any], path: PathKey) -> Iterator[Ref]:
    for j, name in strings(entry.get("srcPosture")):
        yield "posture", name.strip(), (*path, "srcPosture", j)


def check_references(policy: Mapping[str, Any], sources: SourceMap,
                     devices: Mapping[str, Any] | None = None) -> list[Finding]:
    defined: dict[str, set[str]] = {}
    for kind, section in _SECTION.items():
        value = policy.get(section)
        defined[kind] = {str(k).strip() for k in value} if isinstance(value, Mapping) else set()
    # Streamed, not listed: a large policy has hundreds of thousands of references.
    refs = chain(references(policy, devices),
                 (("posture", name.strip(), ("defaultSrcPosture", j))
                  for j, name in strings(policy.get("defaultSrcPosture"))))
    findings: list[Finding] = []
    used: dict[str, set[str]] = {kind: set() for kind in _SECTION}
    for kind, name, path in refs:
        # A definition does not use itself (an ipset adding itself is still unused).
        if path[:2] == (_SECTION[kind], name):
            continue
        used[kind].add(name)
        if name not in defined[kind]:
            nearest = nearest_name(name, set().union(*defined.values()))
            findings.append(Finding(
                f"undefined-{kind}", "error",
                f'{kind} "{name}" is used here but not defined in {_SECTION[kind]}',
                sources.at(path),
                f"did you mean {nearest}? (or define it in {_SECTION[kind]})" if nearest
                else f"define it in {_SECTION[kind]}, or fix the spelling"))
    for kind, names in defined.items():
        for name in sorted(names - used[kind]):
            findings.append(Finding(
                f"unused-{kind}", "warning",
                f'{kind} "{name}" is defined but nothing uses it',
                sources.key((_SECTION[kind], name)),
                "remove it, or refer to it from a rule" if kind != "tag"
                else "remove it, or use it in a rule, a test or devices:"))
    groups = policy.get("groups")
    for name, members in (groups.items() if isinstance(groups, Mapping) else ()):
        if isinstance(members, list) and not members:
            findings.append(Finding(
                "empty-group", "warning", f'group "{name}" has no members (rules naming it '
                "match no one; members whose `expires` passed are dropped)",
                sources.key(("groups", name)), "add members, or remove the group"))
    # The selector caches serve one pass over a policy; kept, a large one's hundred
    # thousand entries would stay alive through the heavier checks that follow (their
    # peak is lint's).
    _named_in.cache_clear()
    _named.cache_clear()
    return findings

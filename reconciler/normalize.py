"""Step 3b, normalise: both sides of a diff reduced to one canonical essence.

May import: stdlib only (pure functions over plain policy dicts). The desired document
and the live one are reduced the same way before anything compares them, so formatting,
comments, key order, duplicate members and whitespace inside aliases never show up as
changes (terraform-provider-tailscale#798):

* set-like lists are trimmed, de-duplicated and sorted: group members, tagOwners owners,
  `src`/`dst`/`users`/`ip`/`via`/`acceptEnv` of rules, autoApprover lists, test lists;
* legacy spellings are folded into the modern ones (`users` -> `src` and `ports` ->
  `dst` in acls), and `action: accept` made explicit on acls;
* empty mapping sections are dropped (they mean the same as no section); an empty
  `acls` or `grants` is dropped only when the other one is present, because a lone
  empty list means deny-all while no list at all means allow-all;
* entries of order-free sections (acls, grants, nodeAttrs, tests, sshTests) are sorted;
  `ssh` keeps its order, because its rules are matched in order.

`resources()` then splits an essence into addressed resources (`groups["group:eng"]`,
`acls["allow-web"]`, `settings.randomizeClientPort`, ...), the unit of every plan.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: Sections whose value maps names to definitions (one resource per key).
MAPPING_SECTIONS = ("groups", "tagOwners", "hosts", "ipsets", "postures", "attrConfig")
#: Sections whose value is a list of entries (one resource per entry).
LIST_SECTIONS = ("acls", "grants", "ssh", "nodeAttrs", "tests", "sshTests")
#: List sections whose entry order carries no meaning.
ORDER_FREE = ("acls", "grants", "nodeAttrs", "tests", "sshTests")
#: Fields of list entries that are sets of strings.
SET_FIELDS = frozenset({
    "src", "dst", "users", "ip", "via", "acceptEnv", "srcPosture", "target", "attr",
    "accept", "deny", "check", "allow",
})
#: Mapping sections whose values are sets of strings.
SET_VALUED = ("groups", "tagOwners", "ipsets", "postures")
#: Top-level keys that are single values: addressed as `settings.<key>`.
SETTINGS = ("randomizeClientPort", "disableIPv4", "OneCGNATRoute", "oneCGNATRoute",
            "defaultSrcPosture")
HASH_LEN = 8
#: The pseudo-resource present when a document has neither `acls` nor `grants`.
ALLOW_ALL = "policy.allowAll"


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
# json.dumps builds a new encoder per call; a plan hashes every entry of several
# documents, so the C encoder is made once (same output: it is what dumps uses).
_C_ENCODE = (
    json.encoder.c_make_encoder(  # type: ignore[attr-defined]
        {}, _ENCODER.default, json.encoder.encode_basestring,  # type: ignore[attr-defined]
        None, ":", ",", True, False, True)
    if getattr(json.encoder, "c_make_encoder", None) is not None else None
)


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace: the byte form every hash here is taken over."""
    if _C_ENCODE is None or isinstance(value, str):
        return _ENCODER.encode(value)
    return "".join(_C_ENCODE(value, 0))


def fingerprint(essence_doc: Mapping[str, Any]) -> str:
    """sha256 hex of the canonical JSON of an essence (see `essence`)."""
    return hashlib.sha256(canonical_json(essence_doc).encode("utf-8")).hexdigest()


def content_hash(entry: Any) -> str:
    """A short stable address for an unnamed list entry: its normalised content."""
    return hashlib.sha256(canonical_json(entry).encode("utf-8")).hexdigest()[:HASH_LEN]


def _trim(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _string_set(values: Any) -> Any:
    """A list of strings trimmed, de-duplicated and sorted; anything else unchanged."""
    if not isinstance(values, list):
        return values
    if _STR_ONLY.issuperset(map(type, values)):  # the common case, all in C
        return sorted(set(map(str.strip, values)))
    for v in values:
        if not isinstance(v, str):
            return values
    return sorted({v.strip() for v in values})


_STR_ONLY = frozenset({str})


def normalize_entry(section: str, entry: Any) -> Any:
    """One list entry in canonical form (see the module docstring)."""
    if not isinstance(entry, dict):
        return entry
    out: dict[str, Any] = {}
    for key, value in entry.items():
        kind = type(value)
        if kind is str:
            out[key] = value.strip()
        elif isinstance(value, list) and key in SET_FIELDS:
            out[key] = _string_set(value)
        elif isinstance(value, str):
            out[key] = value.strip()
        elif isinstance(value, dict):
            out[key] = {k: _norm_nested(v) for k, v in value.items()}
        else:
            out[key] = value
    if section == "acls":
        # Tailscale still accepts the legacy names; they mean exactly src and dst.
        if "users" in out and "src" not in out:
            out["src"] = out.pop("users")
        if "ports" in out and "dst" not in out:
            out["dst"] = out.pop("ports")
        out.setdefault("action", "accept")
        if isinstance(out.get("proto"), str):
            out["proto"] = out["proto"].lower()
    if section == "ssh" and isinstance(out.get("action"), str):
        out["action"] = out["action"].lower()
    return out


def _norm_nested(value: Any) -> Any:
    """Values inside entries (grant `app` capabilities): lists of scalars sorted."""
    if isinstance(value, dict):
        return {k: _norm_nested(v) for k, v in value.items()}
    if isinstance(value, list):
        items = [_norm_nested(v) for v in value]
        if all(isinstance(v, str) for v in items):
            return sorted(set(items))
        return sorted(items, key=canonical_json)
    return value


class Normalized:
    """One document normalised once: entries, their hashes, the essence, its fingerprint.

    A plan looks at each document several ways (resources, name recovery, fingerprints);
    computing the normal form of every entry once keeps large tailnets fast.
    """

    def __init__(self, policy: Mapping[str, Any]) -> None:
        self.policy = policy
        self._entries: dict[str, list[tuple[Any, str]]] | None = None
        self._essence: dict[str, Any] | None = None
        self._hashes: dict[str, list[str]] = {}

    @property
    def entries(self) -> dict[str, list[tuple[Any, str]]]:
        """List section -> [(normalised entry, its canonical JSON)] in document order."""
        if self._entries is None:
            self._entries = {}
            for raw_section, value in self.policy.items():
                section = raw_section.strip()
                if section in LIST_SECTIONS and isinstance(value, list):
                    self._entries[section] = [_normalized_pair(section, e) for e in value]
        return self._entries

    def hashes(self, section: str) -> list[str]:
        if section not in self._hashes:
            self._hashes[section] = [_short_hash(t) for _, t in self.entries.get(section, [])]
        return self._hashes[section]

    @property
    def essence(self) -> dict[str, Any]:
        if self._essence is None:
            self._essence = _essence(self.policy, self.entries)
        return self._essence

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.essence)


# A plan normalises the same entries in desired, base and live (and live twice): the
# normal form and hash of an entry are remembered by its exact repr (which tells 1, 1.0
# and True apart and keeps key order, so equal reprs mean equal normal forms). Bounded,
# so a long-running process does not grow without limit.
_PAIRS: dict[tuple[str, str], tuple[Any, str]] = {}
_HASHES: dict[str, str] = {}
_MEMO_LIMIT = 200_000


def _normalized_pair(section: str, entry: Any) -> tuple[Any, str]:
    """(normalize_entry(section, entry), its canonical JSON), remembered."""
    if type(entry) is not dict:
        norm = normalize_entry(section, entry)
        return norm, canonical_json(norm)
    key = (section, repr(entry))
    pair = _PAIRS.get(key)
    if pair is None:
        if len(_PAIRS) >= _MEMO_LIMIT:
            _PAIRS.clear()
        norm = normalize_entry(section, entry)
        pair = _PAIRS[key] = (norm, canonical_json(norm))
    return pair


def _short_hash(text: str) -> str:
    found = _HASHES.get(text)
    if found is None:
        if len(_HASHES) >= _MEMO_LIMIT:
            _HASHES.clear()
        found = _HASHES[text] = hashlib.sha256(text.encode("utf-8")).hexdigest()[:HASH_LEN]
    return found


def as_normalized(doc: Mapping[str, Any] | Normalized) -> Normalized:
    return doc if isinstance(doc, Normalized) else Normalized(doc)


def essence(policy: Mapping[str, Any] | Normalized) -> dict[str, Any]:
    """The canonical essence of a policy document (desired or live)."""
    return as_normalized(policy).essence


def _essence(policy: Mapping[str, Any], entries: dict[str, list[tuple[Any, str]]]
             ) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for raw_section, value in policy.items():
        section = raw_section.strip()
        if section in MAPPING_SECTIONS and isinstance(value, dict):
            mapping = {}
            for key, item in value.items():
                mapping[key.strip()] = (_string_set(item) if section in SET_VALUED
                                        else _norm_nested(_trim(item)))
            if mapping:
                out[section] = mapping
        elif section in LIST_SECTIONS and isinstance(value, list):
            pairs = entries[section]
            if section in ORDER_FREE:
                pairs = sorted(pairs, key=lambda pair: pair[1])
            out[section] = [entry for entry, _ in pairs]
        elif section == "autoApprovers" and isinstance(value, dict):
            approvers: dict[str, Any] = {}
            routes = value.get("routes")
            if isinstance(routes, dict) and routes:
                approvers["routes"] = {k.strip(): _string_set(v) for k, v in routes.items()}
            for key, item in value.items():
                if key != "routes" and item not in (None, [], {}):
                    approvers[key] = _string_set(item)
            if approvers:
                out[section] = approvers
        elif section == "defaultSrcPosture":
            out[section] = _string_set(value)
        else:
            out[section] = _norm_nested(value)
    for section in ("ssh", "nodeAttrs", "tests", "sshTests"):
        if out.get(section) == []:
            del out[section]
    # A lone empty acls/grants list means deny-all; next to the other list it means nothing.
    for section, other in (("acls", "grants"), ("grants", "acls")):
        if out.get(section) == [] and other in out:
            del out[section]
    return dict(sorted(out.items()))


# --- resources ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Resource:
    """One addressable part of a policy: a group, a tag's owners, one rule, a setting."""

    address: str  # groups["group:eng"], acls["allow-web"], settings.randomizeClientPort
    section: str  # groups, acls, autoApprovers, settings, devices, ...
    key: str  # the name inside the section ("group:eng", "allow-web", "3f2a9c1b")
    value: Any  # normalised
    index: int | None = None  # position in the compiled list (list sections only)


_PLAIN = re.compile(r'[^"\\\x00-\x1f]*')


def address(section: str, key: str) -> str:
    """`section["key"]`, the key quoted as JSON (a fast path for keys needing no escapes)."""
    if _PLAIN.fullmatch(key):
        return f'{section}["{key}"]'
    return f"{section}[{json.dumps(key, ensure_ascii=False)}]"


def resources(
    document: Mapping[str, Any] | Normalized,
    names: Mapping[tuple[str, int], str] | None = None,
) -> dict[str, Resource]:
    """Address -> Resource for a policy document (not an essence: list indices matter).

    `names` maps (section, index in `policy`) to an entry's name; unnamed entries are
    addressed by `content_hash`, with `#2`, `#3` for identical copies.
    """
    names = names or {}
    doc = as_normalized(document)
    policy = doc.policy
    out: dict[str, Resource] = {}
    ess = doc.essence
    for section, pairs in doc.entries.items():
        for i, (norm, text) in enumerate(pairs):
            key = names.get((section, i)) or _short_hash(text)
            base, n = key, 1
            addr = address(section, key)
            while addr in out:
                n += 1
                key = f"{base}#{n}"
                addr = address(section, key)
            out[addr] = Resource(addr, section, key, norm, i)
    if not any(k.strip() in ("acls", "grants") for k in policy):
        # No acls and no grants at all: Tailscale allows everything. That default is a
        # resource of its own, so adding the first rule (or removing the last section)
        # shows what it really does.
        out[ALLOW_ALL] = Resource(ALLOW_ALL, "settings", "allowAll", True)
    for section in MAPPING_SECTIONS:
        for key, item in (ess.get(section) or {}).items():
            addr = address(section, key)
            out[addr] = Resource(addr, section, key, item)
    approvers = ess.get("autoApprovers") or {}
    for route, item in (approvers.get("routes") or {}).items():
        addr = f"autoApprovers.routes[{json.dumps(route)}]"
        out[addr] = Resource(addr, "autoApprovers", f"routes/{route}", item)
    for key, item in approvers.items():
        if key != "routes":
            addr = f"autoApprovers.{key}"
            out[addr] = Resource(addr, "autoApprovers", key, item)
    known = {*MAPPING_SECTIONS, *LIST_SECTIONS, "autoApprovers"}
    for section, item in ess.items():
        if section in known:
            continue
        addr = f"settings.{section}" if section in SETTINGS or not isinstance(
            item, (dict, list)) else section
        out[addr] = Resource(addr, "settings" if addr.startswith("settings.") else section,
                             section, item)
    return {addr: out[addr] for addr in sorted(out)}


def entry_hashes(document: Mapping[str, Any] | Normalized, section: str) -> list[str]:
    """The content hash of every entry of a list section, in document order."""
    return as_normalized(document).hashes(section)


def recover_names(
    document: Mapping[str, Any] | Normalized,
    known: list[tuple[Mapping[str, Any] | Normalized, Mapping[tuple[str, int], str]]],
) -> dict[tuple[str, int], str]:
    """Names for the entries of a document that carries none (the live policy).

    The control plane never sees entry names, so they are recovered from documents that
    have them (`known`: desired, then base, each with its names): first an entry with
    the same content anywhere in the section, then, for an entry edited out of band,
    the named entry at the same position whose content matched nothing.
    """
    names: dict[tuple[str, int], str] = {}
    if not any(doc_names for _, doc_names in known):
        return names
    policy = as_normalized(document)
    known = [(as_normalized(doc), doc_names) for doc, doc_names in known]
    for section in LIST_SECTIONS:
        hashes = entry_hashes(policy, section)
        if not hashes:
            continue
        used: set[str] = set()
        for doc, doc_names in known:
            by_hash: dict[str, str] = {}
            for j, h in enumerate(entry_hashes(doc, section)):
                name = doc_names.get((section, j))
                if name and h not in by_hash:
                    by_hash[h] = name
            for i, h in enumerate(hashes):
                name = by_hash.get(h)
                if (section, i) not in names and name and name not in used:
                    names[(section, i)] = name
                    used.add(name)
        live_hashes = set(hashes)
        for doc, doc_names in known:
            doc_list = entry_hashes(doc, section)
            doc_hashes = set(doc_list)
            for i, h in enumerate(hashes):
                name = doc_names.get((section, i))
                if ((section, i) not in names and name and name not in used
                        and h not in doc_hashes and i < len(doc_list)
                        and doc_list[i] not in live_hashes):
                    names[(section, i)] = name
                    used.add(name)
    return names

"""diff/ (step: normalize): both sides of a diff reduced to one canonical essence.

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
from collections.abc import Callable, Iterator, Mapping
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


def _c_encoder(sort_keys: bool) -> Callable[[Any, int], list[str]] | None:
    """json's C encoder, compact, non-ASCII kept (what `_ENCODER` runs), or None where
    the C module is missing."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return None
    encode: Callable[[Any, int], list[str]] = make(
        {}, _ENCODER.default, json.encoder.encode_basestring, None, ":", ",", sort_keys,
        False, True)
    return encode


# json.dumps builds a new encoder per call; a plan hashes every entry of several
# documents, so the C encoder is made once (same output: it is what dumps uses).
_C_ENCODE = _c_encoder(sort_keys=True)


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
    return _short_hash(canonical_json(entry))


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
    return _section_rules(section, out)


def _simple_entry(section: str, entry: Any) -> dict[str, Any] | None:
    """`normalize_entry` of an entry whose values are all strings or string sets (nearly
    every rule and test), else None. Such an entry equals (`==`) another one only when
    both have exactly the same values and types, which lets a document share its normal
    forms with another document's equal entries (see `Normalized`)."""
    if type(entry) is not dict:
        return None
    out: dict[str, Any] = {}
    for key, value in entry.items():
        if value.__class__ is str:
            out[key] = value.strip()
        elif value.__class__ is list and key in SET_FIELDS:
            try:
                out[key] = sorted(set(map(str.strip, value)))
            except TypeError:  # a member that is not a string
                return None
        else:
            return None
    return _section_rules(section, out)


def _section_rules(section: str, out: dict[str, Any]) -> dict[str, Any]:
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


Pair = tuple[Any, str]  # (normalised entry, its canonical JSON)
#: How far ahead an entry of one document is looked for in the other one, so that an
#: entry inserted or removed does not stop the two lists from being matched up.
_LOOKAHEAD = 8


class _Section:
    """One list section of a document, normalised: its raw entries, their (normal form,
    canonical JSON) pairs and which of them are simple (see `_simple_entry`)."""

    __slots__ = ("hashes", "pairs", "raw", "simple")

    def __init__(self, raw: list[Any], pairs: list[Pair], simple: list[bool]) -> None:
        self.raw, self.pairs, self.simple = raw, pairs, simple
        self.hashes: list[str] | None = None


def _same_entry(a: Any, b: Any, b_simple: bool) -> bool:
    return b_simple and a == b and list(a) == list(b)


def _normalized_section(section: str, raw: list[Any], like: _Section | None) -> _Section:
    """`raw` normalised, sharing `like`'s work for the entries both have."""
    if like is not None and all(like.simple) and raw == like.raw and \
            list(map(list, raw)) == list(map(list, like.raw)):
        return like  # the same section (most sections of live, desired and base)
    pairs: list[Pair] = []
    simple: list[bool] = []
    j = 0
    for entry in raw:
        if like is not None:
            end = min(j + _LOOKAHEAD, len(like.raw))
            k = next((k for k in range(j, end)
                      if _same_entry(entry, like.raw[k], like.simple[k])), -1)
            if k >= 0:
                pairs.append(like.pairs[k])
                simple.append(True)
                j = k + 1
                continue
        norm = _simple_entry(section, entry)
        simple.append(norm is not None)
        if norm is None:
            norm = normalize_entry(section, entry)
        pairs.append((norm, canonical_json(norm)))
    return _Section(raw, pairs, simple)


class _Sections(Mapping[str, _Section]):
    """`Normalized.sections`: list section -> its `_Section`, normalised on first read
    (sharing `like`'s work, as `_normalized_section` does)."""

    def __init__(self, raw: dict[str, list[Any]], like: Normalized | None) -> None:
        self.raw = raw
        self.like = like
        self._done: dict[str, _Section] = {}

    def done(self, section: str) -> _Section | None:
        """The section if normalised already (never normalises it)."""
        return self._done.get(section)

    def __getitem__(self, section: str) -> _Section:
        found = self._done.get(section)
        if found is None:
            value = self.raw[section]
            like = self.like.sections.get(section) if self.like is not None else None
            found = self._done[section] = _normalized_section(section, value, like)
        return found

    def __contains__(self, section: object) -> bool:
        return section in self.raw

    def __iter__(self) -> Iterator[str]:
        return iter(self.raw)

    def __len__(self) -> int:
        return len(self.raw)


# Canonical JSON without sorting keys: equal texts are equal values of the same JSON
# types with keys in the same order (True, 1 and 1.0 compare equal but are not).
_PLAIN_ENCODE = _c_encoder(sort_keys=False)


def _plain_json(value: Any) -> str:
    if _PLAIN_ENCODE is not None:
        return "".join(_PLAIN_ENCODE(value, 0))
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _written_alike(a: list[Any], b: list[Any]) -> bool:
    """Two raw list sections that normalise alike because they are the same JSON:
    equal, and equal once written out with their keys in order (so of the same types)."""
    if a is b:
        return True
    if a != b:
        return False
    try:
        return _plain_json(a) == _plain_json(b)
    except (TypeError, ValueError):  # not plain JSON (a YAML date, say): normalise it
        return False


class Normalized:
    """One document normalised once: entries, their hashes, the essence, its fingerprint.

    A plan looks at each document several ways (resources, name recovery, fingerprints);
    computing the normal form of every entry once keeps large tailnets fast. `like` is
    another document of the same plan (desired, for live and base): entries equal in
    both (nearly all of them) are normalised once, and sections equal in both are the
    same `_Section`, which lets a diff skip them whole (see `Resources`). Sections are
    normalised when first read, so a diff of two unrelated documents skips a section
    written alike in both without normalising it at all (`same_section`).
    """

    def __init__(self, policy: Mapping[str, Any], like: Normalized | None = None) -> None:
        self.policy = policy
        self.like = like
        self._sections: _Sections | None = None
        self._essence: dict[str, Any] | None = None
        self._fingerprint: str | None = None

    @property
    def sections(self) -> _Sections:
        """List section -> its normalised entries, in document order; each section is
        normalised when first read (see `same_section`)."""
        if self._sections is None:
            raw: dict[str, list[Any]] = {}
            for raw_section, value in self.policy.items():
                section = raw_section.strip()
                if section in LIST_SECTIONS and isinstance(value, list):
                    raw[section] = value
            self._sections = _Sections(raw, self.like)
        return self._sections

    def same_section(self, other: Normalized, section: str) -> bool:
        """Whether list `section` is the same in both documents (so a diff can skip it).

        Documents that share their work (one `like` the other, or both `like` a third:
        a plan's live, base and desired, whose normal forms the plan needs anyway)
        compare their `_Section`s: one object when alike (see `_normalized_section`).
        Unrelated documents (`diff BASE HEAD`, which needs no normal form of an
        unchanged entry) compare the raw sections instead, normalising neither:
        written alike (`_written_alike`) is normalised alike."""
        mine, theirs = self.sections, other.sections
        if section not in mine or section not in theirs:
            return False
        if self.like is other or other.like is self or (
                self.like is not None and self.like is other.like):
            return mine[section] is theirs[section]
        return _written_alike(mine.raw[section], theirs.raw[section])

    @property
    def entries(self) -> dict[str, list[Pair]]:
        """List section -> [(normalised entry, its canonical JSON)] in document order."""
        return {section: part.pairs for section, part in self.sections.items()}

    def hashes(self, section: str) -> list[str]:
        part = self.sections.get(section)
        if part is None:
            return []
        if part.hashes is None:
            part.hashes = [_short_hash(t) for _, t in part.pairs]
        return part.hashes

    @property
    def essence(self) -> dict[str, Any]:
        if self._essence is None:
            self._essence = _essence(self.policy, self.entries, _as_entries)
        return self._essence

    @property
    def fingerprint(self) -> str:
        """`fingerprint(self.essence)`, from the entries' canonical JSON (not encoded again)."""
        if self._fingerprint is None:
            parts = []
            for section, value in _essence(self.policy, self.entries, _as_texts).items():
                text = ("[" + ",".join(value) + "]" if isinstance(value, _Texts)
                        else canonical_json(value))
                parts.append(f"{canonical_json(section)}:{text}")
            self._fingerprint = hashlib.sha256(
                ("{" + ",".join(parts) + "}").encode("utf-8")).hexdigest()
        return self._fingerprint


class _Texts(list):
    """A list section of an essence as its entries' canonical JSON texts."""


# Content hashes by canonical text: an entry normalised in two documents (moved too far
# to be shared) hashes once, and so does a document planned for several targets.
# Bounded, so a long-running process does not grow without limit.
_HASHES: dict[str, str] = {}
_MEMO_LIMIT = 200_000


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


def _as_entries(section: str, pairs: list[Pair]) -> list[Any]:
    """A list section of the essence: its normalised entries (sorted if order-free)."""
    if section in ORDER_FREE:
        pairs = sorted(pairs, key=lambda pair: pair[1])
    return [entry for entry, _ in pairs]


def _as_texts(section: str, pairs: list[Pair]) -> _Texts:
    """A list section of the essence as its entries' canonical JSON (for the fingerprint,
    which then needs no encoding of its own)."""
    texts = [text for _, text in pairs]
    return _Texts(sorted(texts) if section in ORDER_FREE else texts)


ListForm = Callable[[str, list[Pair]], Any]


def _essence(policy: Mapping[str, Any], entries: dict[str, list[Pair]],
             list_form: ListForm | None) -> dict[str, Any]:
    """The essence; each list section as `list_form` makes it from its entries, or left
    out when `list_form` is None."""
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
        elif section in LIST_SECTIONS and list_form is None:
            continue
        elif section in LIST_SECTIONS and isinstance(value, list) and list_form is not None:
            out[section] = list_form(section, entries[section])
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
    return Resources(as_normalized(document), names).all()


class Resources(Mapping[str, Resource]):
    """`resources(doc, names)`, built a part at a time: each list section is one part,
    everything else (mappings, settings, autoApprovers) the part "". A diff compares
    part by part and skips the parts two documents share (`same_part`), so a plan over
    thousands of unchanged rules builds no resource for them."""

    def __init__(self, doc: Normalized, names: Mapping[tuple[str, int], str] | None = None
                 ) -> None:
        self.doc = doc
        self.names = names or {}
        self._names_of: dict[str, dict[int, str]] = {}
        for (section, i), name in self.names.items():
            self._names_of.setdefault(section, {})[i] = name
        self._parts: dict[str, dict[str, Resource]] = {}
        self._all: dict[str, Resource] | None = None
        # A top-level key spelled like a list entry's address (`acls["x"]`) would be a
        # resource of the part "" named like one of a list section: then every lookup
        # goes through the whole mapping, as `resources()` merges it.
        self.partable = not any(
            k.strip().split("[", 1)[0] in LIST_SECTIONS and "[" in k for k in doc.policy)

    def parts(self) -> list[str]:
        return [*self.doc.sections, ""]

    def part(self, name: str) -> dict[str, Resource]:
        found = self._parts.get(name)
        if found is None:
            found = self._parts[name] = (self._list_part(name) if name
                                         else self._other_part())
        return found

    def same_part(self, other: Resources, name: str) -> bool:
        """The part is the same in both (no change in it), known without building it."""
        if not name:
            return False
        # One `_Section` object or the same JSON: exactly the same entries, of the same
        # types, keys in the same order (see `Normalized.same_section`).
        return (self._names_of.get(name, {}) == other._names_of.get(name, {})
                and self.doc.same_section(other.doc, name))

    def _list_part(self, section: str) -> dict[str, Resource]:
        names = self._names_of.get(section, {})
        pairs = self.doc.sections[section].pairs if section in self.doc.sections else []
        hashes = self.doc.hashes(section)
        out: dict[str, Resource] = {}
        for i, (norm, _) in enumerate(pairs):
            key = names.get(i) or hashes[i]
            base, n = key, 1
            addr = address(section, key)
            while addr in out:
                n += 1
                key = f"{base}#{n}"
                addr = address(section, key)
            out[addr] = Resource(addr, section, key, norm, i)
        return out

    def _other_part(self) -> dict[str, Resource]:
        policy = self.doc.policy
        ess = _essence(policy, {}, None)
        out: dict[str, Resource] = {}
        if not any(k.strip() in ("acls", "grants") for k in policy):
            # No acls and no grants at all: Tailscale allows everything. That default is
            # a resource of its own, so adding the first rule (or removing the last
            # section) shows what it really does.
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
        return out

    def all(self) -> dict[str, Resource]:
        """Every resource, sorted by address (later parts win an address, as `""`)."""
        if self._all is None:
            out: dict[str, Resource] = {}
            for name in self.parts():
                out.update(self.part(name))
            self._all = {addr: out[addr] for addr in sorted(out)}
        return self._all

    def _part_of(self, addr: str) -> str:
        head = addr.split("[", 1)[0]
        return head if head in LIST_SECTIONS and addr.startswith(head + "[") else ""

    def __getitem__(self, addr: str) -> Resource:
        if not self.partable:
            return self.all()[addr]
        return self.part(self._part_of(addr))[addr]

    def __contains__(self, addr: object) -> bool:
        if not isinstance(addr, str):
            return False
        if not self.partable:
            return addr in self.all()
        return addr in self.part(self._part_of(addr))

    def __iter__(self) -> Iterator[str]:
        return iter(self.all())

    def __len__(self) -> int:
        return len(self.all())


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
    named = {section for _, doc_names in known for section, _ in doc_names}
    for section in LIST_SECTIONS:
        if section not in named:
            continue  # no document names an entry of it: nothing to recover
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

"""A JSON Schema for desired-state fragments, generated from the policy vocabulary.

load/ (beside the load step), for editors: `schema/policy-fragment.schema.json` is this
module's output, committed, and referenced from fragments (`$schema` in JSON/HuJSON, the
yaml-language-server comment in YAML) so editors complete and check them. May import:
`validate.schema`, `validate.ports`, `validate.selectors` and the autogroup sets of the
`validate` checks, `load.metadata`, `load.desired` (section lists only).

The schema describes one fragment: any subset of the policy sections, plus our own
metadata (name, description, owner, expires on list entries; {user, expires, reason}
group members) and the `devices` section. Beyond shapes, it says what `validate` says
wherever a schema can: the values an `action` takes, the fields an entry needs, port
lists (1-65535, ranges, `*`), protocols (names and 1-255), a grant's `ip`, a test's
`host:port`, tag names, hosts' IPs and CIDRs, and which autogroups each position takes.
It accepts every policy Tailscale stored in the recordings (a test checks), and
requires what Tailscale's documentation requires even where `validate` lets it pass
(an acl's src and dst, a grant's src and dst). Undefined names, a range whose end is
below its start, ports given to a protocol without ports in an acl, and the like are
left to `validate`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from reconciler.load.desired import DEVICES, LIST_SECTIONS, SCHEMA_KEY
from reconciler.load.metadata import ENTRY_META_KEYS
from reconciler.validate.node_attrs import _TARGET_AUTOGROUPS
from reconciler.validate.ports import MAX_PORT, PORTED_PROTOCOLS, PROTOCOL_NAMES
from reconciler.validate.schema import ENTRY_TYPES, KEY_PREFIXES, TOP_LEVEL, Field
from reconciler.validate.sections import _OWNER_AUTOGROUPS
from reconciler.validate.selectors import (
    AUTOGROUP_DANGER_ALL,
    AUTOGROUP_INTERNET,
    AUTOGROUP_SELF,
    AUTOGROUP_SHARED,
    KNOWN_AUTOGROUPS,
)
from reconciler.validate.ssh_rules import _SSH_DST_AUTOGROUPS, _SSH_SRC_AUTOGROUPS

SCHEMA_ID = "https://reconciler.dev/schema/policy-fragment.schema.json"
# Where `init` writes the schema in a repository (and where this project commits it).
SCHEMA_PATH = "schema/policy-fragment.schema.json"

_EXPIRES = {
    "description": "YYYY-MM-DD (start of that day, UTC) or an ISO 8601 date-time; "
                   "after it the entry is left out of the compiled policy",
    "type": "string",
    "pattern": r"^\d{4}-\d{2}-\d{2}([T ][0-9:.]+(Z|[+-]\d{2}:?\d{2})?)?$",
}
_META = {
    "name": {"type": "string", "minLength": 1,
             "description": "unique within the section; the entry's address in plans"},
    "description": {"type": "string", "minLength": 1},
    "owner": {"type": "string", "minLength": 1},
    "expires": _EXPIRES,
}
assert set(_META) == set(ENTRY_META_KEYS)

_GROUP_MEMBER = {
    "oneOf": [
        {"type": "string", "description": "a user login",
         "pattern": r"^\s*(?!group:|tag:|autogroup:)[^@]*@"},
        {
            "type": "object",
            "description": "a just-in-time member",
            "properties": {"user": {"type": "string", "minLength": 1}, "expires": _EXPIRES,
                           "reason": {"type": "string"}},
            "required": ["user"],
            "additionalProperties": False,
        },
    ]
}


# --- what validate checks, as patterns ---------------------------------------------------
# JSON Schema patterns are ECMA 262 regexes, searched for (so anchored here); no flags,
# so case-insensitive names are spelled out letter by letter.


def _number_below(limit: int) -> str:
    """A regex for the decimal numbers 1..limit, without leading zeros."""
    text = str(limit)
    alternatives = [text]
    for i, digit in enumerate(text):
        d = int(digit)
        low = 1 if i == 0 else 0
        if d > low:
            tail = f"[0-9]{{{len(text) - i - 1}}}" if len(text) - i - 1 else ""
            alternatives.append(f"{text[:i]}[{low}-{d - 1}]{tail}")
    if len(text) > 1:
        shorter = f"[1-9][0-9]{{0,{len(text) - 2}}}" if len(text) > 2 else "[1-9]"
        alternatives.append(shorter)
    return "(?:" + "|".join(alternatives) + ")"


def _any_case(word: str) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else re_escape(c) for c in word)


def re_escape(text: str) -> str:
    return "".join(f"\\{c}" if c in r".^$*+?()[]{}|\-/" else c for c in text)


_PORT = f"0*{_number_below(MAX_PORT)}"  # Go's ParseUint reads leading zeros
_PORT_RANGE = rf"\s*(?:\*|{_PORT}(?:-{_PORT})?)\s*"
_PORT_LIST = f"{_PORT_RANGE}(?:,{_PORT_RANGE})*"
_PROTO_NUMBER = _number_below(255)
_PROTO_NAMES = "|".join(_any_case(n) for n in sorted(PROTOCOL_NAMES))
_PORTED = "|".join([*(_any_case(n) for n, v in sorted(PROTOCOL_NAMES.items())
                      if v in PORTED_PROTOCOLS),
                    *(str(v) for v in sorted(PORTED_PROTOCOLS))])
_PROTO = rf"^\s*(?:{_PROTO_NAMES}|{_PROTO_NUMBER})?\s*$"
_GRANT_IP = (rf"^\s*(?:\*|{_PORT_LIST}|\s*(?:{_PROTO_NAMES}|{_PROTO_NUMBER})\s*:\s*\*\s*"
             rf"|\s*(?:{_PORTED})?\s*:{_PORT_LIST})\s*$")  # no proto: the default set
_ACL_DST = rf"^\s*\S.*:{_PORT_LIST}$"
_TEST_DST = rf"^\s*\S.*:0*(?:{_number_below(MAX_PORT)}|0)\s*$"
_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_IPV4 = rf"{_OCTET}(?:\.{_OCTET}){{3}}"
_IPV6 = r"[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*"  # a shape: ipaddress decides the rest
_HOST_ADDRESS = (rf"^\s*(?:{_IPV4}(?:/(?:3[0-2]|[12]?[0-9]))?"
                 rf"|{_IPV6}(?:/(?:12[0-8]|1[01][0-9]|[1-9]?[0-9]))?)\s*$")
_TAG_NAME = "^tag:[A-Za-z]"


def _autogroups(allowed: frozenset[str] | set[str], description: str) -> dict[str, Any]:
    """A selector string whose autogroup, if it names one, is one of `allowed`."""
    names = "|".join(re_escape(a[len("autogroup:"):]) for a in sorted(allowed))
    return {"type": "string", "description": description,
            "pattern": rf"^(?!\s*autogroup:)|^\s*autogroup:(?:{names})\s*$",
            "examples": sorted(allowed)}


_RULE_SRC = _autogroups(KNOWN_AUTOGROUPS - {AUTOGROUP_SELF, AUTOGROUP_INTERNET},
                        "a user, group, tag, host, IP or CIDR, or autogroup")
_RULE_DST = _autogroups(KNOWN_AUTOGROUPS - {AUTOGROUP_DANGER_ALL, AUTOGROUP_SHARED},
                        "a user, group, tag, host, IP or CIDR, autogroup or svc:")
_OWNER = _autogroups(_OWNER_AUTOGROUPS, "a user, group, tag or role autogroup")
_PROTO_FIELD = {"type": "string", "pattern": _PROTO, "examples": sorted(PROTOCOL_NAMES),
                "description": "protocol name or number 1-255"}

# (entry type, field) -> the schema of the field's value (a string) or of each item.
_ITEMS: dict[tuple[str, str], dict[str, Any]] = {
    ("acl", "src"): _RULE_SRC,
    ("acl", "dst"): {**_autogroups(KNOWN_AUTOGROUPS - {AUTOGROUP_DANGER_ALL, AUTOGROUP_SHARED},
                                   '"<selector>:<ports>": ports are *, 22, 80,443 or '
                                   "1000-2000 (1-65535)"),
                     "pattern": _ACL_DST},
    ("grant", "src"): _RULE_SRC,
    ("grant", "dst"): _RULE_DST,
    ("grant", "ip"): {"type": "string", "pattern": _GRANT_IP,
                      "description": '"*", "<ports>", "<proto>:*" or "tcp|udp|sctp:<ports>"'},
    ("ssh", "src"): _autogroups(_SSH_SRC_AUTOGROUPS, "a user, group, tag or autogroup"),
    ("ssh", "dst"): _autogroups(_SSH_DST_AUTOGROUPS, "a tag, a user or autogroup:self"),
    ("nodeAttr", "target"): _autogroups(_TARGET_AUTOGROUPS, "a selector"),
    ("test", "accept"): {"type": "string", "pattern": _TEST_DST,
                         "description": '"<host>:<port>", one port 0-65535'},
    ("test", "deny"): {"type": "string", "pattern": _TEST_DST,
                       "description": '"<host>:<port>", one port 0-65535'},
    ("autoApprovers", "routes"): _OWNER,
    ("autoApprovers", "exitNode"): _OWNER,
    ("autoApprovers", "services"): _OWNER,
}
# (entry type, field) -> the schema of a single-valued field.
def _choice(*values: str) -> dict[str, Any]:
    """One of `values`; Tailscale trims the spaces around it, so padded is accepted too
    (the enum is what editors offer)."""
    words = "|".join(values)
    return {"anyOf": [{"enum": list(values)},
                      {"pattern": rf"^(?:\s+(?:{words})\s*|(?:{words})\s+)$"}]}


_VALUES: dict[tuple[str, str], dict[str, Any]] = {
    ("acl", "action"): _choice("accept"),
    ("ssh", "action"): _choice("accept", "check"),
    ("acl", "proto"): _PROTO_FIELD,
    ("test", "proto"): _PROTO_FIELD,
}


def _one_of_fields(*names: str, non_empty: bool = False) -> dict[str, Any]:
    """At least one of `names` present (and, with `non_empty`, not empty)."""
    def present(name: str) -> dict[str, Any]:
        rule: dict[str, Any] = {"required": [name]}
        if non_empty:
            rule["properties"] = {name: {"minItems": 1, "minProperties": 1}}
        return rule
    return {"anyOf": [present(n) for n in names]}


# Entry type -> what an entry needs: `required` fields, and alternatives (a field or its
# legacy alias; ip or app) as `allOf` of `anyOf`s.
_NEEDS: dict[str, tuple[list[str], list[dict[str, Any]]]] = {
    "acl": (["action"], [_one_of_fields("src", "users"), _one_of_fields("dst", "ports")]),
    # Tailscale's grants documentation: src and dst are required; one of ip and app.
    "grant": (["src", "dst"], [_one_of_fields("ip", "app", non_empty=True)]),
    "ssh": (["action", "users"], []),  # a missing src is accepted (recorded)
    "test": ([], [_one_of_fields("src", "user"), _one_of_fields("accept", "allow", "deny")]),
    "sshTest": (["src"], [_one_of_fields("accept", "check", "deny")]),
}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """A field of an entry may be null: Go reads it as left out (Tailscale stores
    `"acceptEnv": null`)."""
    kind = schema.get("type")
    if isinstance(kind, str):
        schema["type"] = [kind, "null"]
    return schema


def _needs(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    required, alternatives = _NEEDS.get(name, ([], []))
    if required:
        schema["required"] = required
    if alternatives:
        schema["allOf"] = alternatives
    if name == "ssh":
        schema["properties"]["users"]["minItems"] = 1  # "users must be specified"
    return schema


def _leaf(token: str) -> dict[str, Any]:
    leaves: dict[str, dict[str, Any]] = {
        "string": {"type": "string"},
        "strings": {"type": "array", "items": {"type": "string"}},
        "object": {"type": "object"},
        "objects": {"type": "array", "items": {"type": "object"}},
        "boolean": {"type": "boolean"},
        "integer": {"type": "integer"},
        "number": {"type": "number"},
        "any": {},
    }
    return leaves[token]


def _field(field: Field, *, list_entry_meta: bool = False,
           rules: tuple[str, str] | None = None) -> dict[str, Any]:
    out: dict[str, Any]
    items = _ITEMS.get(rules) if rules else None
    if field.type == "array":
        item = _entry(field.entry, meta=list_entry_meta) if field.entry else (
            items or _leaf(field.items or "any"))
        out = {"type": "array", "items": item}
    elif field.type == "map":
        value = _entry(field.entry) if field.entry else _leaf(field.items or "any")
        if items and field.items == "strings":
            value = {"type": "array", "items": items}
        out = {"type": "object", "additionalProperties": value}
    elif field.type == "object" and field.entry:
        out = _entry(field.entry)
    else:
        out = {**_leaf(field.type), **(_VALUES.get(rules, {}) if rules else {})}
    if field.description:
        out["description"] = field.description
    return out


def _entry(name: str, *, meta: bool = False) -> dict[str, Any]:
    return {"$ref": f"#/$defs/{name}{'Entry' if meta else ''}"}


def build_schema() -> dict[str, Any]:
    defs: dict[str, Any] = {}
    list_entry_types = {
        TOP_LEVEL[s].entry for s in LIST_SECTIONS if s in TOP_LEVEL and TOP_LEVEL[s].entry
    }
    for name, fields in ENTRY_TYPES.items():
        props = {key: _nullable(_field(f, rules=(name, f.alias_of or key)))
                 for key, f in fields.items()}
        defs[name] = _needs(name, {"type": "object", "properties": props,
                                   "additionalProperties": False})
        if name in list_entry_types:
            defs[f"{name}Entry"] = _needs(name, {
                "type": "object",
                "properties": {**json.loads(json.dumps(props)), **_META},
                "additionalProperties": False,
            })
    properties: dict[str, Any] = {}
    for section, field in TOP_LEVEL.items():
        if section == "groups":
            properties[section] = {
                "type": "object",
                "description": field.description,
                "propertyNames": {"pattern": "^group:"},
                "additionalProperties": {"type": "array", "items": _GROUP_MEMBER},
            }
        else:
            properties[section] = _field(field, list_entry_meta=section in LIST_SECTIONS)
        if section in KEY_PREFIXES and section != "groups":
            properties[section]["propertyNames"] = {"pattern": f"^{KEY_PREFIXES[section]}"}
    properties["tagOwners"]["propertyNames"] = {"pattern": _TAG_NAME}
    properties["tagOwners"]["additionalProperties"]["items"] = _OWNER
    properties["hosts"]["additionalProperties"] = {
        "type": "string", "pattern": _HOST_ADDRESS, "description": "an IP address or CIDR"}
    properties[DEVICES] = {
        "type": "object",
        "description": "managed device tags: device name -> {tags: [...]}",
        "additionalProperties": {
            "type": "object",
            "properties": {"tags": {"type": "array",
                                    "items": {"type": "string", "pattern": _TAG_NAME}}},
            "additionalProperties": False,
        },
    }
    properties[SCHEMA_KEY] = {"type": "string",
                              "description": "this schema's path, for editors (ignored)"}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "reconciler policy fragment",
        "description": "One file under policies/: any subset of Tailscale's policy sections, "
                       "with reconciler metadata. Generated by `reconciler schema`.",
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
        "$defs": defs,
    }


def schema_text() -> str:
    return json.dumps(build_schema(), indent=2, sort_keys=False) + "\n"


def reference(fragment: Path, root: Path) -> str:
    """The schema's path in `root` as a fragment at `fragment` names it (relative, with
    forward slashes, so the repository can move)."""
    return Path(os.path.relpath(root / SCHEMA_PATH, fragment.parent)).as_posix()


def yaml_header(fragment: Path, root: Path) -> str:
    """The first line of a YAML fragment: the yaml-language-server's schema comment."""
    return f"# yaml-language-server: $schema={reference(fragment, root)}\n"

"""A JSON Schema for desired-state fragments, generated from the policy vocabulary.

load/ (beside the load step), for editors: `schema/policy-fragment.schema.json` is this module's
output, committed, and referenced from fragments with the yaml-language-server comment
convention so editors complete and check them. May import: `policy.schema`,
`metadata`, `desired` (section lists only).

The schema describes one fragment: any subset of the policy sections, plus our own
metadata (name, description, owner, expires on list entries; {user, expires, reason}
group members) and the `devices` section. It checks shapes, not meaning: undefined
names, bad ports and the like are left to `reconciler validate`.
"""

from __future__ import annotations

import json
from typing import Any

from reconciler.load.desired import DEVICES, LIST_SECTIONS
from reconciler.load.metadata import ENTRY_META_KEYS
from reconciler.validate.schema import ENTRY_TYPES, TOP_LEVEL, Field

SCHEMA_ID = "https://reconciler.dev/schema/policy-fragment.schema.json"

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
        {"type": "string", "description": "a user login"},
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


def _leaf(token: str) -> dict[str, Any]:
    return {
        "string": {"type": "string"},
        "strings": {"type": "array", "items": {"type": "string"}},
        "object": {"type": "object"},
        "objects": {"type": "array", "items": {"type": "object"}},
        "boolean": {"type": "boolean"},
        "integer": {"type": "integer"},
        "number": {"type": "number"},
        "any": {},
    }[token]


def _field(field: Field, *, list_entry_meta: bool = False) -> dict[str, Any]:
    out: dict[str, Any]
    if field.type == "array":
        item = _entry(field.entry, meta=list_entry_meta) if field.entry else _leaf(
            field.items or "any")
        out = {"type": "array", "items": item}
    elif field.type == "map":
        value = _entry(field.entry) if field.entry else _leaf(field.items or "any")
        out = {"type": "object", "additionalProperties": value}
    elif field.type == "object" and field.entry:
        out = _entry(field.entry)
    else:
        out = _leaf(field.type)
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
        props = {key: _field(f) for key, f in fields.items()}
        defs[name] = {"type": "object", "properties": props, "additionalProperties": False}
        if name in list_entry_types:
            defs[f"{name}Entry"] = {
                "type": "object",
                "properties": {**props, **_META},
                "additionalProperties": False,
            }
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
    properties[DEVICES] = {
        "type": "object",
        "description": "managed device tags: device name -> {tags: [...]}",
        "additionalProperties": {
            "type": "object",
            "properties": {"tags": {"type": "array",
                                    "items": {"type": "string", "pattern": "^tag:"}}},
            "additionalProperties": False,
        },
    }
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

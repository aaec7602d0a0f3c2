"""Shape checks: unknown keys (with did-you-mean) and wrong JSON types, per `schema`.

Policy model layer (imports `suggest`, `policy.schema`, `policy.context`). Runs first;
the semantic checkers then read values leniently (`as_list`, `as_map`) so a wrong type
is reported once, here. JSON null counts as absent, as it does for Go's decoder
(SaaS accepted `"acceptEnv": null`, `"checkPeriod": null`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.policy.context import Context
from reconciler.policy.schema import CASE_INSENSITIVE_ENTRIES, ENTRY_TYPES, TOP_LEVEL, Field
from reconciler.problems import Severity
from reconciler.source import PathKey
from reconciler.suggest import unknown_key

_TYPE_NAMES = {
    "string": "a string",
    "boolean": "a boolean",
    "integer": "an integer",
    "number": "a number",
    "object": "an object",
    "array": "a list",
    "map": "an object",
    "any": "a value",
}


def json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list):
        return "array"
    return "null" if value is None else type(value).__name__


def _matches(value: Any, type_: str) -> bool:
    actual = json_type(value)
    if type_ == "any":
        return True
    if type_ in ("object", "map"):
        return actual == "object"
    if type_ == "number":
        return actual in ("number", "integer")
    return actual == type_


# Fields whose keys are names chosen by the user: shown as ["name"] in paths.
_MAP_FIELDS = frozenset(
    name
    for fields in (TOP_LEVEL, *ENTRY_TYPES.values())
    for name, spec in fields.items()
    if spec.type == "map"
)


def describe_path(path: PathKey) -> str:
    """("acls", 3, "src") -> 'acls[3].src'; ("hosts", "db") -> 'hosts["db"]'."""
    out = ""
    for k, part in enumerate(path):
        if isinstance(part, int):
            out += f"[{part}]"
        elif k > 0 and path[k - 1] in _MAP_FIELDS:
            out += f'["{part}"]'
        else:
            out += f".{part}" if out else part
    return out


def _type_error(ctx: Context, path: PathKey, expected: str, value: Any) -> None:
    ctx.report(
        path,
        f"{describe_path(path)}: expected {expected}, got {json_type(value)}",
        "type",
    )


def check_value(ctx: Context, path: PathKey, value: Any, spec: Field) -> None:
    if value is None:
        return
    if not _matches(value, spec.type):
        expected = _TYPE_NAMES[spec.type]
        if spec.type == "array" and spec.items in ("string", "object"):
            expected = f"a list of {spec.items}s"
        _type_error(ctx, path, expected, value)
        return
    if spec.type == "array" and spec.items:
        for i, item in enumerate(value):
            check_item(ctx, (*path, i), item, spec.items, spec.entry)
    elif spec.type == "map" and spec.items:
        for key, item in value.items():
            check_item(ctx, (*path, key), item, spec.items, spec.entry)
    elif spec.type == "object" and spec.entry:
        check_entry(ctx, path, value, spec.entry)


def check_item(ctx: Context, path: PathKey, item: Any, type_: str, entry: str | None) -> None:
    if item is None:
        return
    if type_ in ("strings", "objects"):
        if not isinstance(item, list):
            _type_error(ctx, path, f"a list of {type_}", item)
            return
        element_type = "string" if type_ == "strings" else "object"
        for i, element in enumerate(item):
            if not _matches(element, element_type):
                _type_error(ctx, (*path, i), _TYPE_NAMES[element_type], element)
        return
    if not _matches(item, type_):
        _type_error(ctx, path, _TYPE_NAMES[type_], item)
        return
    if entry is not None and isinstance(item, Mapping):
        check_entry(ctx, path, item, entry)


def check_entry(ctx: Context, path: PathKey, entry: Mapping[str, Any], entry_type: str) -> None:
    fields = ENTRY_TYPES[entry_type]
    insensitive = entry_type in CASE_INSENSITIVE_ENTRIES
    for key, value in entry.items():
        spec = _lookup(ctx, (*path, key), key, fields, insensitive)
        if spec is not None:
            check_value(ctx, (*path, key), value, spec)


def _lookup(
    ctx: Context, path: PathKey, key: Any, fields: Mapping[str, Field], insensitive: bool
) -> Field | None:
    if not isinstance(key, str):
        ctx.report(path, f"{describe_path(path[:-1])}: keys must be strings", "type", key=True)
        return None
    if key in fields:
        return fields[key]
    folded = {name.lower(): name for name in fields}
    canonical = folded.get(key.lower())
    if canonical is not None:
        # Go's JSON decoder matches field names case-insensitively, so Tailscale takes it.
        if not insensitive:
            ctx.report(
                path,
                f'field "{key}" differs only in case from "{canonical}"; write "{canonical}"',
                "field-case",
                severity=Severity.WARNING,
                key=True,
            )
        return fields[canonical]
    where = describe_path(path[:-1])
    prefix = f"{where}: " if where else ""
    ctx.report(path, prefix + unknown_key(key, fields), "unknown-field", key=True)
    return None


def check_document(ctx: Context) -> None:
    """Top-level keys and every entry's keys and types."""
    for key, value in ctx.policy.items():
        spec = _lookup(ctx, (key,), key, TOP_LEVEL, False)
        if spec is not None:
            check_value(ctx, (key,), value, spec)

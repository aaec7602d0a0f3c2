"""Shape checks: unknown keys (with did-you-mean) and wrong JSON types, per `schema`.

Policy model layer (imports `suggest`, `policy.schema`, `policy.context`). Runs first;
the semantic checkers then read values leniently (`as_list`, `as_map`) so a wrong type
is reported once, here. JSON null as a field's value counts as absent, as it does for
Go's decoder (SaaS accepted `"acceptEnv": null`, `"checkPeriod": null`); as a list item
(`src: [null]`, an empty `-` in `grants`) or a named value (`hosts: {db: null}`) it is
an error: Go would read it as "" or an empty rule, which no later step expects.

Every value of a large policy is walked here, so each entry field first gets a quick
test made of C-level type checks (`_QUICK`) that only says "nothing to report"; a value
it does not clear takes the generic walk, which alone decides what is reported.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from reconciler.core.problems import Severity
from reconciler.core.source import PathKey
from reconciler.core.suggest import unknown_key
from reconciler.validate.context import Context
from reconciler.validate.schema import CASE_INSENSITIVE_ENTRIES, ENTRY_TYPES, TOP_LEVEL, Field

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


# Python types that certainly are each JSON type: what a JSON decoder produces. Values
# of other types go through `json_type`.
_EXACT_TYPES: dict[str, frozenset[type]] = {
    "string": frozenset({str}),
    "boolean": frozenset({bool}),
    "integer": frozenset({int}),
    "number": frozenset({int, float}),
    "object": frozenset({dict}),
    "map": frozenset({dict}),
    "array": frozenset({list}),
}


def _matches(value: Any, type_: str) -> bool:
    if type_ == "any" or type(value) in _EXACT_TYPES.get(type_, ()):
        return True
    actual = json_type(value)
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


# ------------------------------------------------------------------- the quick test

Quick = Callable[[Any], bool]
_NONE = type(None)


def _all_strings(items: list[Any]) -> bool:
    """Whether every element is a string, in one C-level pass (join takes nothing else)."""
    try:
        "".join(items)
    except TypeError:
        return False
    return True


def _list_of(type_: str) -> Quick:
    """A list whose elements are all of `type_` (none null)."""
    if type_ == "string":  # join takes no null either: those go the generic way
        return lambda value: type(value) is list and _all_strings(value)
    accepted = _EXACT_TYPES[type_]
    return lambda value: type(value) is list and set(map(type, value)) <= accepted


def _quick(spec: Field) -> Quick | None:
    """A test that `check_value(..., value, spec)` would report nothing, or None when
    only the generic walk can tell (objects with entries: those recurse into check_entry,
    whose fields have quick tests of their own)."""
    if spec.entry is not None:
        return None
    if spec.type == "array" and spec.items:
        elements = _list_of(spec.items)
        return lambda value: value is None or elements(value)
    if spec.type == "map" and spec.items in ("strings", "objects"):
        values = _list_of("string" if spec.items == "strings" else "object")
        return lambda value: value is None or (
            type(value) is dict and all(map(values, value.values()))
        )
    if spec.type == "map" and spec.items == "any":
        return lambda value: value is None or type(value) is dict
    if spec.type == "map" and spec.items:
        accepted = _EXACT_TYPES[spec.items]
        return lambda value: value is None or (
            type(value) is dict and set(map(type, value.values())) <= accepted
        )
    if spec.type == "any":
        return lambda value: True
    accepted = _EXACT_TYPES[spec.type] | {_NONE}
    return lambda value: type(value) in accepted


_QUICK: dict[str, dict[str, Quick]] = {
    entry_type: {
        name: quick for name, spec in fields.items() if (quick := _quick(spec)) is not None
    }
    for entry_type, fields in ENTRY_TYPES.items()
}


# ------------------------------------------------------------------ the generic walk


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
        entries = spec.entry if spec.items == "object" else None
        for i, item in enumerate(value):
            if entries is not None and type(item) is dict:  # what check_item would come to
                check_entry(ctx, (*path, i), item, entries)
            else:
                check_item(ctx, (*path, i), item, spec.items, spec.entry)
    elif spec.type == "map" and spec.items:
        for key, item in value.items():
            check_item(ctx, (*path, key), item, spec.items, spec.entry)
    elif spec.type == "object" and spec.entry:
        check_entry(ctx, path, value, spec.entry)


def check_item(ctx: Context, path: PathKey, item: Any, type_: str, entry: str | None) -> None:
    if item is None:
        if type_ == "any":  # free-form values (srcPostureAttrs) may be null
            return
        if type_ in ("strings", "objects"):
            expected, fix = f"a list of {type_}", "write [] for none"
        else:
            expected = _TYPE_NAMES[type_]
            fix = "remove the empty item" if isinstance(path[-1], int) else (
                "give it a value, or remove it")
        ctx.report(path, f"{describe_path(path)}: expected {expected}, got null ({fix})",
                   "type")
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
    quick = _QUICK[entry_type]
    for key, value in entry.items():
        cleared = quick.get(key)
        if cleared is not None and cleared(value):
            continue
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

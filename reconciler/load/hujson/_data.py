"""HuJSON <-> Python data: loads, load_with_sources, dumps.

Part of `reconciler.load.hujson` (imports its siblings, `reconciler.core.source`). Numbers become
int when the literal is integral (no `.`, `e` or `E`), else float. Strings decode like
Go's encoding/json, so invalid UTF-8 and unpaired surrogates become U+FFFD.
"""

from __future__ import annotations

import math
from typing import Any

from reconciler.core.errors import HuJSONError
from reconciler.core.source import PathKey, SourceMap
from reconciler.load.hujson._errors import Positions
from reconciler.load.hujson._strings import decode_string, quote_string
from reconciler.load.hujson._tree import Object, Value


def to_python(root: Value, positions: Positions, sources: SourceMap | None) -> Any:
    return _convert(root, (), positions, sources)


def _convert(v: Value, path: PathKey, positions: Positions, sources: SourceMap | None) -> Any:
    if sources is not None:
        sources.set(path, positions.location(v.start))
    value = v.value
    if isinstance(value, bytes):
        return _literal(value, v.start, positions)
    if isinstance(value, Object):
        out: dict[str, Any] = {}
        for member in value.members:
            assert isinstance(member.name.value, bytes)
            key = decode_string(member.name.value)
            if sources is not None:
                sources.set((*path, key, "<key>"), positions.location(member.name.start))
            out[key] = _convert(member.value, (*path, key), positions, sources)
        return out
    return [_convert(element, (*path, i), positions, sources)
            for i, element in enumerate(value.elements)]


_CONSTANTS: dict[bytes, Any] = {b"null": None, b"true": True, b"false": False}


def _literal(literal: bytes, start: int, positions: Positions) -> Any:
    first = literal[0]
    if first == 0x22:  # '"'
        return decode_string(literal)
    if first in b"ntf":
        return _CONSTANTS[literal]
    if any(c in literal for c in b".eE"):
        return float(literal)
    try:
        return int(literal)
    except ValueError:  # longer than Python's int-parsing limit (4300 digits)
        raise HuJSONError(
            f"number too long: {literal[:20].decode('ascii')}... ({len(literal)} digits)",
            source=positions.location(start), offset=start,
        ) from None


# --- dumps -------------------------------------------------------------------------


def dumps_unformatted(data: Any) -> str:
    """Data as HuJSON text for Format to lay out.

    The root and every composite holding a non-empty composite are written one item per
    line with a trailing comma (Format keeps them expanded and, the input being HuJSON,
    with trailing commas); flat ones are written inline, and Format expands them only
    past 80 columns. So rules and groups read one entry per line, short lists stay put.
    """
    parts: list[str] = []
    _emit(data, parts, True, set())
    return "".join(parts)


def _is_nonempty_composite(value: Any) -> bool:
    return isinstance(value, dict | list | tuple) and len(value) > 0


def _emit(value: Any, parts: list[str], root: bool, active: set[int]) -> None:
    if value is None:
        parts.append("null")
    elif value is True:
        parts.append("true")
    elif value is False:
        parts.append("false")
    elif isinstance(value, int):
        parts.append(int.__repr__(value))
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot write {value!r} in JSON")
        parts.append(float.__repr__(value))
    elif isinstance(value, str):
        parts.append(quote_string(value))
    elif isinstance(value, dict | list | tuple):
        if id(value) in active:
            raise ValueError("circular reference in data")
        active.add(id(value))
        items = list(value.items()) if isinstance(value, dict) else list(enumerate(value))
        expand = bool(items) and (root or any(_is_nonempty_composite(v) for _, v in items))
        opener, closer = ("{", "}") if isinstance(value, dict) else ("[", "]")
        parts.append(opener)
        for i, (key, item) in enumerate(items):
            if expand:
                parts.append("\n")
            elif i:
                parts.append(", ")
            if isinstance(value, dict):
                if not isinstance(key, str):
                    raise TypeError(f"object keys must be str, not {type(key).__name__}")
                parts.append(quote_string(key) + ": ")
            _emit(item, parts, False, active)
            if expand:
                parts.append(",")
        if expand:
            parts.append("\n")
        parts.append(closer)
        active.discard(id(value))
    else:
        raise TypeError(f"cannot write {type(value).__name__} as JSON")

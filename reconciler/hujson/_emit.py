"""Python data straight to `format`'s canonical text, for `dumps`.

Part of `reconciler.hujson` (imports its siblings only). `dumps` used to write data in
the layout described in `_data.dumps_unformatted` and run the exact parser and formatter
over it: seconds for a large policy. Data holds no comments, so what Format does to that
layout reduces to a few rules (shared/specs/hujson-format-rules.md §6-§9), applied here
directly:

* a composite holding a non-empty composite (and the root) is expanded, one item per
  line at depth+1 tabs, each followed by a comma (the input had trailing commas, so it
  was not standard JSON), the closing bracket on its own line at depth tabs;
* any other non-empty composite is inline (`[a, b]`, `{"k": v}`) unless its computed
  width (1 + each item's bytes + 2, for a member name + 2 + value + 2, + 1) exceeds 80,
  in which case it is expanded the same way;
* in an expanded object, runs of members whose value is a literal or an inline
  composite have their values aligned: spaces after `": "` up to the widest name.

tests/test_hujson_fast.py checks that the result equals the parse-and-format path byte
for byte. Anything unusual (bad keys or values, cycles) raises, and `dumps` then falls
back to that path, which words the error.
"""

from __future__ import annotations

import math
from typing import Any

from reconciler.hujson._strings import quote_string

_MAX_WIDTH = 80
_DEEP = 190


class _Unsupported(Exception):
    pass


def emit(data: Any) -> str:
    parts: list[str] = []
    _value(data, 0, parts, True)
    parts.append("\n")
    return "".join(parts)


def _literal(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    kind = type(value)
    if kind is str:
        return quote_string(value)
    if kind is int:
        return int.__repr__(value)
    if kind is float:
        if not math.isfinite(value):
            raise _Unsupported
        return float.__repr__(value)
    if isinstance(value, (dict, list, tuple)) and not value:
        return "{}" if isinstance(value, dict) else "[]"
    raise _Unsupported


def _is_composite(value: Any) -> bool:
    return isinstance(value, (dict, list, tuple))


def _blen(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8"))


def _inline(value: Any) -> str | None:
    """The inline text of a flat composite, or None when Format would expand it."""
    if isinstance(value, dict):
        items = []
        width = 1
        for k, v in value.items():
            if type(k) is not str:
                raise _Unsupported
            name, lit = quote_string(k), _literal(v)
            width += _blen(name) + 2 + _blen(lit) + 2
            items.append(f"{name}: {lit}")
        width += 1
        return "{" + ", ".join(items) + "}" if width <= _MAX_WIDTH else None
    lits = [_literal(v) for v in value]
    width = 2 + sum(_blen(lit) + 2 for lit in lits)
    return "[" + ", ".join(lits) + "]" if width <= _MAX_WIDTH else None


def _value(value: Any, depth: int, parts: list[str], root: bool) -> None:
    if depth >= _DEEP:
        raise _Unsupported  # near MAX_DEPTH the exact path decides (and errors past it)
    if not _is_composite(value) or not value:
        parts.append(_literal(value))
        return
    holds_composite = any(_is_composite(v) and v for v in (
        value.values() if isinstance(value, dict) else value))
    if not root and not holds_composite:
        inline = _inline(value)
        if inline is not None:
            parts.append(inline)
            return
    _expanded(value, depth, parts)


def _expanded(value: Any, depth: int, parts: list[str]) -> None:
    indent = "\t" * (depth + 1)
    if not isinstance(value, dict):
        parts.append("[")
        for v in value:
            parts.append("\n" + indent)
            _value(v, depth + 1, parts, False)
            parts.append(",")
        parts.append("\n" + "\t" * depth + "]")
        return
    # Members as (name literal, value text): values laid out first, to know which are
    # alignable (a literal or a composite that stayed inline: no newline inside).
    members: list[tuple[str, str]] = []
    for k, v in value.items():
        if type(k) is not str:
            raise _Unsupported
        sub: list[str] = []
        _value(v, depth + 1, sub, False)
        members.append((quote_string(k), "".join(sub)))
    parts.append("{")
    group: list[int] = []

    def flush() -> None:
        if group:
            widest = max(_blen(members[i][0]) for i in group)
            for i in group:
                name, text = members[i]
                members[i] = (name, " " * (widest - _blen(name)) + text)
            group.clear()

    for i, (_, text) in enumerate(members):
        if "\n" in text:
            flush()
        else:
            group.append(i)
    flush()
    for name, text in members:
        parts.append(f"\n{indent}{name}: {text},")
    parts.append("\n" + "\t" * depth + "}")

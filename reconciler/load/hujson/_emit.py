"""Python data straight to `format`'s canonical text, for `dumps`.

Part of `reconciler.load.hujson` (imports its siblings only). `dumps` used to write data in
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

Flat composites (the bulk of a policy: address lists, members) are written by json's C
encoder, whose quoting is `quote_string`'s (only `"`, `\\` and control characters are
escaped) and whose numbers are `repr`'s, and texts are cached per distinct key and
scalar, so the Python work is per expanded composite, not per value.

tests/test_hujson_fast.py checks that the result equals the parse-and-format path byte
for byte. Anything unusual (bad keys or values, cycles) raises, and `dumps` then falls
back to that path, which words the error.
"""

from __future__ import annotations

import json
import json.encoder
import math
from collections.abc import Callable, Iterator
from itertools import chain, repeat
from json.encoder import encode_basestring
from operator import and_, gt
from typing import Any

from reconciler.load.hujson._strings import quote_string

_MAX_WIDTH = 80
_DEEP = 190

# What json's C encoder writes exactly as `_literal` would: finite floats are checked
# by allow_nan=False (it raises ValueError, and `dumps` takes the exact path).
_PLAIN = frozenset({str, int, float, bool, type(None)})
_PLAIN_OR_LIST = _PLAIN | {list}


def _no_default(value: Any) -> Any:
    raise _Unsupported


_Encode = Callable[[Any, int], Iterator[str]]
# json's C encoder factory, None without the accelerator (typeshed does not declare it).
_c_make_encoder: Callable[..., _Encode] | None = vars(json.encoder).get("c_make_encoder")


def _python_encode() -> _Encode:
    iterencode = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": "),
                                  allow_nan=False, check_circular=False,
                                  default=_no_default).iterencode
    return lambda value, _level: iterencode(value)


# json's encoder writing everything inline (as `[a, b]`, `{"k": v}`): (value, 0) ->
# chunks of text. The C one when there is one; `json.dumps` is the same, only slower.
_encode: _Encode = (_c_make_encoder(None, _no_default, encode_basestring, None, ": ", ", ",
                                    False, False, False)
                    if _c_make_encoder is not None else _python_encode())


def _inline_json(value: Any) -> str:
    return "".join(_encode(value, 0))


class _Unsupported(Exception):
    pass


def emit(data: Any) -> str:
    emitter = _Emitter()
    if not _is_composite(data) or not data:
        return _literal(data) + "\n"
    return emitter.expanded(data, 0) + "\n"


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


def _expanded_literals(value: list[Any] | tuple[Any, ...], depth: int) -> str:
    """A non-empty list of plain literals (`_PLAIN`), expanded at `depth`."""
    indent = "\n" + "\t" * (depth + 1)
    return ("[" + indent + ("," + indent).join(map("".join, map(_encode, value, repeat(0))))
            + ",\n" + "\t" * depth + "]")


class _Emitter:
    """One `emit` call: caches the text of each distinct name and scalar."""

    def __init__(self) -> None:
        self.names: dict[str, tuple[str, int]] = {}  # key -> (quoted, bytes)
        self.scalars: dict[Any, str] = {}
        # (keys, depth, which values are expanded) -> an item's text with "%s" for
        # each value (see `items`)
        self.templates: dict[tuple[tuple[str, ...], int, tuple[bool, ...]], str] = {}

    def name(self, key: Any) -> tuple[str, int]:
        found = self.names.get(key) if type(key) is str else None
        if found is None:
            if type(key) is not str:
                raise _Unsupported
            quoted = quote_string(key)
            found = self.names[key] = (quoted, _blen(quoted))
        return found

    def text(self, value: Any, depth: int) -> str:
        """`value` laid out at `depth` (its first line unindented)."""
        kind = type(value)
        if kind is str:
            found = self.scalars.get(value)
            if found is None:
                found = self.scalars[value] = quote_string(value)
            return found
        if not _is_composite(value) or not value:
            return _literal(value)
        if depth >= _DEEP:
            raise _Unsupported  # near MAX_DEPTH the exact path decides (and errors past it)
        items = value.values() if isinstance(value, dict) else value
        kinds = set(map(type, items))
        if kinds <= _PLAIN or not any(v for v in items if _is_composite(v)):
            inline = self.inline(value, kinds)
            if inline is not None:
                return inline
            if kinds <= _PLAIN and (type(value) is list or type(value) is tuple):
                return _expanded_literals(value, depth)
        return self.expanded(value, depth)

    def inline(self, value: Any, kinds: set[type]) -> str | None:
        """The inline text of a flat composite, or None when Format would expand it
        (its width, 1 + each item's bytes + 2 (a member: name + 2 + value + 2) + 1, is
        the inline text's bytes + 2)."""
        if not kinds <= _PLAIN:
            return self.inline_by_hand(value)
        if isinstance(value, dict):
            if type(value) is not dict or set(map(type, value)) != {str}:
                return self.inline_by_hand(value)
        elif type(value) is not list and type(value) is not tuple:
            return self.inline_by_hand(value)
        text = _inline_json(value)
        return text if _blen(text) + 2 <= _MAX_WIDTH else None

    def inline_by_hand(self, value: Any) -> str | None:
        """`inline` for what the C encoder might write differently (empty composites,
        subclasses, odd keys): item by item."""
        if isinstance(value, dict):
            items = []
            width = 1
            for k, v in value.items():
                name, name_width = self.name(k)
                lit = _literal(v)
                width += name_width + 2 + _blen(lit) + 2
                items.append(f"{name}: {lit}")
            width += 1
            return "{" + ", ".join(items) + "}" if width <= _MAX_WIDTH else None
        lits = [_literal(v) for v in value]
        width = 2 + sum(_blen(lit) + 2 for lit in lits)
        return "[" + ", ".join(lits) + "]" if width <= _MAX_WIDTH else None

    def expanded(self, value: Any, depth: int) -> str:
        indent = "\n" + "\t" * (depth + 1)
        close = "\n" + "\t" * depth
        if not isinstance(value, dict):
            if type(value) is list and set(map(type, value)) == {dict}:
                return "[" + self.items(value, depth + 1) + close + "]"
            return "[" + "".join([indent + self.text(v, depth + 1) + ","
                                  for v in value]) + close + "]"
        return self.members([self.name(k) for k in value],
                            [self.text(v, depth + 1) for v in value.values()], depth)

    def members(self, names: list[tuple[str, int]], texts: list[str], depth: int) -> str:
        """An expanded object at `depth` from its members' names and value texts."""
        indent = "\n" + "\t" * (depth + 1)
        # Runs of members whose value is one line (a literal or an inline composite)
        # have their values aligned after the widest name of the run.
        lines = []
        run: list[int] = []
        for i in range(len(texts) + 1):
            if i < len(texts) and "\n" not in texts[i]:
                run.append(i)
                continue
            if run:
                widest = max(names[j][1] for j in run)
                for j in run:
                    name, width = names[j]
                    texts[j] = " " * (widest - width) + texts[j]
                run = []
        for (name, _), text in zip(names, texts, strict=True):
            lines.append(f"{indent}{name}: {text},")
        return "{" + "".join(lines) + "\n" + "\t" * depth + "}"

    def items(self, items: list[dict[str, Any]], depth: int) -> str:
        """The lines of an expanded list of mappings (rules, tests), items at `depth`.

        An item whose values are literals and lists of literals, some list not empty
        (so the item is expanded), is a fixed text per shape (keys, and which lists are
        too wide to stay inline) with each value's text put in: the values of all items
        are written by the C encoder in one pass. Any other item goes through `text`."""
        indent = "\n" + "\t" * depth
        values = list(chain.from_iterable(map(dict.values, items)))
        if (depth + 1 >= _DEEP or not set(map(type, values)) <= _PLAIN_OR_LIST
                or not set(map(type, chain.from_iterable(
                    [v for v in values if type(v) is list]))) <= _PLAIN):
            return "".join([indent + self.text(item, depth) + "," for item in items])
        texts = list(map("".join, map(_encode, values, repeat(0))))
        widths = (list(map(len, texts)) if all(map(str.isascii, texts))
                  else list(map(_blen, texts)))
        wide = max(widths, default=0) + 2 > _MAX_WIDTH  # some list may be expanded
        # Which values are non-empty lists: an item holding none may stay inline.
        nested = list(map(and_, map(str.startswith, texts, repeat("[")),
                          map(gt, widths, repeat(2))))
        out = []
        start = 0
        for item in items:
            end = start + len(item)
            if not any(nested[start:end]):
                out.append(indent + self.text(item, depth) + ",")
            else:
                item_texts = texts[start:end]
                expand: tuple[bool, ...] = ()
                if wide and max(widths[start:end]) + 2 > _MAX_WIDTH:
                    # Some list is expanded (a string too wide merely stays on its line).
                    expand = tuple(width + 2 > _MAX_WIDTH and text[0] == "["
                                   for text, width in zip(item_texts, widths[start:end],
                                                          strict=True))
                    item_texts = [_expanded_literals(value, depth + 1) if multi else text
                                  for value, text, multi in zip(item.values(), item_texts,
                                                                expand, strict=True)]
                shape = (tuple(item), depth, expand)
                template = self.templates.get(shape)
                if template is None:
                    template = self.templates[shape] = self.template(*shape)
                out.append(template % tuple(item_texts))
            start = end
        return "".join(out)

    def template(self, keys: tuple[str, ...], depth: int, expanded: tuple[bool, ...]) -> str:
        """An item's text with `%s` for each value: values on one line (all, unless
        `expanded` marks those on several) aligned after the widest name of their run."""
        indent = "\n" + "\t" * depth
        if not keys:
            return indent + "{},"
        names = [self.name(k) for k in keys]
        multi = expanded or (False,) * len(keys)
        lines: list[str] = []
        start = 0
        while start < len(keys):
            end = start + 1
            while end < len(keys) and multi[end] == multi[start]:
                end += 1
            # One run: consecutive one-line values, or values on several lines.
            widest = 0 if multi[start] else max(width for _, width in names[start:end])
            lines.extend(
                f"{indent}\t{name}: {' ' * (widest - width) if widest else ''}"
                .replace("%", "%%") + "%s," for name, width in names[start:end])
            start = end
        return indent + "{" + "".join(lines) + indent + "},"

"""Fast paths for `loads` and `load_with_sources` on well-formed input.

Part of `reconciler.load.hujson` (imports its siblings, `reconciler.core.source` and the standard
library). The exact parser (`_parse`) builds a concrete syntax tree in pure Python; on a
multi-megabyte policy that takes seconds. These paths give the same data (and, for
`load_with_sources`, the same locations) using the C `json` machinery, and decline
(return None) on anything they cannot prove they handle identically: any parse error,
duplicate names, lone surrogates (raw or escaped: Go turns them into U+FFFD, Python
keeps them), NaN/Infinity, numbers longer than Python's int limit, nesting deeper than
`MAX_DEPTH`. The caller then runs the exact parser, so errors and edge cases stay
exactly as that parser words and places them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, cast

from reconciler.core.source import Lines, PathKey, SourceMap

_COMMENT = r"//[^\n]*\n|/\*[\s\S]*?\*/"
_GAP = rf"(?:[ \t\r\n]+|{_COMMENT})*+"  # possessive: no exponential backtracking
# One match per comment or trailing comma: group 1 is everything before it (strings
# whole, other commas), group 2 the comment, the trailing comma, or a lone quote or
# slash (an unterminated string or comment: decline), or the end of the text (so no
# attempt ever fails and restarts inside a string). Possessive quantifiers keep it
# linear; matching only the rare tokens keeps the Python callback off the hot path.
_STRIP = re.compile(
    rf'((?:[^"/,]++|"[^"\\]*+(?:\\.[^"\\]*+)*+"|,(?!{_GAP}[\]}}]))*+)({_COMMENT}|[,"/]|\Z)')
_LEADING = re.compile(_GAP)  # whitespace and whole comments before the value
# Every part of it is optional, so it matches at every position (maybe empty).
_leading = cast("Callable[..., re.Match[str]]", _LEADING.match)
_MAYBE_TRAILING = re.compile(r",[ \t\r\n]*[\]}]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class _Decline(Exception):
    """The fast path cannot vouch for this input; use the exact parser."""


def as_text(text: str | bytes) -> str | None:
    """`text` as str if the fast paths may take it, else None."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            return None
    # Raw lone surrogates (str input only) are bytes the exact parser sees as invalid.
    if not text.isascii() and _SURROGATE.search(text):
        return None
    return text


def _lone_surrogate(text: str, data: Any) -> bool:
    """Whether decoding kept a lone surrogate (Go writes U+FFFD; Python keeps it).

    A valid pair decodes to one character in both, so only the rare text holding a
    surrogate escape at all is checked: a lone surrogate cannot be encoded as UTF-8."""
    if "\\u" not in text or not _SURROGATE_ESCAPE.search(text):
        return False
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _no_dup_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise _Decline
    return out


def _no_constant(name: str) -> Any:
    raise _Decline  # NaN, Infinity, -Infinity are not JSON


def _deeper_than(data: Any, limit: int) -> bool:
    """Whether `data` (as json.loads builds it) nests more than `limit` objects/arrays."""
    level = [data] if type(data) is dict or type(data) is list else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        below = []
        for container in level:
            for v in container.values() if type(container) is dict else container:
                if type(v) is dict or type(v) is list:
                    below.append(v)
        level = below
    return False


def fast_loads(text: str, max_depth: int) -> tuple[bool, Any]:
    """(True, data) or (False, None) when the exact parser must decide."""
    try:
        text = _standard(text)
        data = json.loads(text, object_pairs_hook=_no_dup_object, parse_constant=_no_constant)
    except (_Decline, ValueError, RecursionError):
        return False, None
    if _deeper_than(data, max_depth) or _lone_surrogate(text, data):
        return False, None
    return True, data


def _blank_token(m: re.Match[str]) -> str:
    """`_STRIP`'s replacement keeping every offset: the comment or trailing comma
    becomes as many spaces (Go's Standardize does the same). A lone quote or slash is
    an unterminated string or comment: decline."""
    token, before = m.group(2), m.group(1)
    if len(token) == 1 and token != ",":
        raise _Decline
    if token == "," and _no_value_before(m.string, m.start(2)):
        # `[,]`, `[1,,]`, `{"a":,}`: a comma only ends a value; blanking it would turn
        # an error into an empty list. The exact parser words the error.
        raise _Decline
    return before + " " * len(token)


def _no_value_before(text: str, end: int) -> bool:
    """Whether what precedes `end` (past whitespace) cannot end a value. A comment
    there (`*/`, or a line comment's newline) also counts: rare, so left to the exact
    parser rather than scanned back over."""
    i = end - 1
    while i >= 0 and text[i] in " \t\r":
        i -= 1
    return i < 0 or text[i] in "[{,:/\n"


def _standard(text: str) -> str:
    """`text` with comments and trailing commas blanked out (same length). A text
    without `//`, `/*` or a comma before a closing bracket has none (a lone `/`, say
    in a CIDR string, needs no pass). Comments only before the value (the managed
    header of a live policy) are blanked without a pass over the rest."""
    lead = _leading(text).end()
    if text.find("//", lead) >= 0 or text.find("/*", lead) >= 0 \
            or _MAYBE_TRAILING.search(text, lead):
        return _STRIP.sub(_blank_token, text)
    return " " * lead + text[lead:] if lead and "/" in text[:lead] else text


# --- data plus source offsets ---------------------------------------------------------

# Where each key and value starts, in document order: the gap (whitespace, comments,
# `,` `:` and closing brackets) is skipped and group 1 is the next token, a string, an
# opening bracket or a literal. Run only over a value json's scanner accepted, so the
# tokens are exactly the keys and values it saw, in the same order.
_TOKEN = re.compile(
    r'(?:[ \t\r\n,:\]}]++|//[^\n]*\n|/\*[\s\S]*?\*/)*+'
    r'("[^"\\]*+(?:\\.[^"\\]*+)*+"|[\[{]|[-0-9a-z][-+.0-9a-zA-Z]*+)')
_WS = re.compile(r"[ \t\r\n]*+")
_SEPARATOR = re.compile(r"[ \t\r\n]*+(?:(,)[ \t\r\n]*+)?")
# Both match at every position (maybe empty): their `match` never returns None.
_ws = cast("Callable[..., re.Match[str]]", _WS.match)
_separator = cast("Callable[..., re.Match[str]]", _SEPARATOR.match)
# Values nested this deep (the root is level 0) are deferred: their entries are found
# when first read. Sections and their entries (what the test runner, the planner and
# merging read) are recorded at once; the rest is read only to report a problem.
_EAGER_LEVELS = 2

# json's C scanner: `scan(text, pos)` -> (value at pos, end). Duplicate names and
# NaN/Infinity raise _Decline, as in `fast_loads`.
_SCAN: Callable[[str, int], tuple[Any, int]] = vars(json.JSONDecoder(
    object_pairs_hook=_no_dup_object, parse_constant=_no_constant))["scan_once"]


def fast_load_with_offsets(
    text: str, file: str, max_depth: int
) -> tuple[bool, Any, SourceMap | None]:
    """(True, data, sources) or (False, None, None) to use the exact parser.

    Locations are recorded as ``(Lines, offset)`` pairs, which `SourceMap` turns into
    `Location`s only when one is read. Values at `_EAGER_LEVELS` are parsed whole by
    json's C scanner and deferred: the regex pass pairing tokens with a walk over the
    data (`_walk`) runs over one of them only when a path under it is first read.
    """
    try:
        return _read(text, file, max_depth)
    except (_Decline, ValueError, RecursionError, StopIteration, IndexError):
        return False, None, None


def _read(text: str, file: str, max_depth: int) -> tuple[bool, Any, SourceMap]:
    reader = _Reader(_standard(text), Lines(file, text), max_depth)
    start = _ws(reader.text).end()
    data, end = reader.value(start, (), 0)
    if _ws(reader.text, end).end() != len(text) or _lone_surrogate(text, data):
        raise _Decline
    if "key>" in text or "\\u" in text:
        # A member named "<key>" (however escaped) would collide with the "<key>"
        # entries: record everything in document order, as the exact parser does.
        out: dict[PathKey, Any] = {}
        spans: dict[PathKey, tuple[int, int]] = {}
        _walk(data, (), out, spans, reader.tokens(start, end), reader.lines)
        spans[()] = (0, len(out))
        return True, data, SourceMap._lazy(out, spans)
    reader.spans[()] = (0, len(reader.entries))
    return True, data, SourceMap._lazy(reader.entries, reader.spans, reader.deferred)


class _Reader:
    """Reads the levels above `_EAGER_LEVELS` by hand, recording entries and spans
    exactly as `_walk` would, and hands each value at that level to the C scanner."""

    def __init__(self, text: str, lines: Lines, max_depth: int) -> None:
        self.text = text  # comments and trailing commas blanked: json reads it as is
        self.lines = lines
        self.max_depth = max_depth
        self.entries: dict[PathKey, Any] = {}
        self.spans: dict[PathKey, tuple[int, int]] = {}
        self.deferred: dict[PathKey, tuple[Any, int]] = {}
        self.expand = self._expand  # one bound method for every deferred record

    def tokens(self, start: int, end: int) -> Any:
        return iter([m.start(1) for m in _TOKEN.finditer(self.text, start, end)])

    def _expand(self, path: PathKey, offset: int) -> dict[PathKey, Any]:
        """The entries strictly under the value at `offset` (a deferred one)."""
        value, end = _SCAN(self.text, offset)
        out: dict[PathKey, Any] = {}
        _walk(value, path, out, None, self.tokens(offset, end), self.lines)
        del out[path]
        return out

    def value(self, pos: int, path: PathKey, level: int) -> tuple[Any, int]:
        """(the value starting at `pos`, where it ends), its entries recorded."""
        text, entries, lines = self.text, self.entries, self.lines
        entries[path] = (lines, pos)
        opening = text[pos]
        if opening != "{" and opening != "[":
            return _SCAN(text, pos)
        closing = "}" if opening == "{" else "]"
        pos = _ws(text, pos + 1).end()
        out: Any = {} if opening == "{" else []
        below = level + 1
        if opening == "[" and below == _EAGER_LEVELS and text[pos] != "]":
            return self.deferred_items(pos, path, out)
        while text[pos] != closing:
            first = len(entries)  # a member's run starts at its "<key>" entry
            if opening == "{":
                if text[pos] != '"':
                    raise _Decline
                key_start = pos
                key, pos = _SCAN(text, pos)
                pos = _ws(text, pos).end()
                if text[pos] != ":" or key in out:
                    raise _Decline
                child: PathKey = (*path, key)
                key_path = (*child, "<key>")
                entries[key_path] = (lines, key_start)
                pos = _ws(text, pos + 1).end()
            else:
                child = (*path, len(out))
            if below < _EAGER_LEVELS:
                item, end = self.value(pos, child, below)
                if type(item) is dict or type(item) is list:
                    self.spans[child] = (first, len(entries))
            else:
                entries[child] = (lines, pos)
                item, end = _SCAN(text, pos)
                if text[pos] in "[{":
                    self.defer(child, item, pos, end, below)
            if opening == "{":
                out[key] = item
            else:
                out.append(item)
            gap = _separator(text, end)
            pos = gap.end()
            if (gap.lastindex is None) != (text[pos] == closing):
                raise _Decline  # no comma between values, or one left before the end
        return out, pos + 1

    def deferred_items(self, pos: int, path: PathKey, out: list[Any]) -> tuple[Any, int]:
        """`value`'s loop for a non-empty list whose items are at `_EAGER_LEVELS` (a
        section's entries: the bulk of a policy), with everything it needs at hand."""
        text, entries, lines, deferred = self.text, self.entries, self.lines, self.deferred
        how = self.expand
        separator = _separator
        append = out.append
        limit = self.max_depth - _EAGER_LEVELS
        while True:
            child = (*path, len(out))
            entries[child] = (lines, pos)
            item, end = _SCAN(text, pos)
            append(item)
            if text[pos] in "[{":
                if end - pos > 2 * limit:
                    self.defer(child, item, pos, end, _EAGER_LEVELS)
                else:  # too short to nest too deep (see `defer`)
                    deferred[child] = (how, pos)
            gap = separator(text, end)
            pos = gap.end()
            if text[pos] == "]":
                if gap.lastindex is not None:
                    raise _Decline  # a trailing comma left: `_standard` blanks them
                return out, pos + 1
            if gap.lastindex is None:
                raise _Decline  # no comma between values

    def defer(self, path: PathKey, value: Any, start: int, end: int, level: int) -> None:
        """Leave the entries under `path` to `expand`, once its nesting is checked."""
        # Nesting n takes 2n brackets, all counted here (with any in strings): walk
        # the value only when these cheap bounds are too high.
        limit = self.max_depth - level
        if (end - start > 2 * limit
                and self.text.count("[", start, end) + self.text.count("{", start, end) > limit
                and _deeper_than(value, limit)):
            raise _Decline
        self.deferred[path] = (self.expand, start)


def _walk(value: Any, path: PathKey, out: dict[PathKey, Any],
          spans: dict[PathKey, tuple[int, int]] | None, starts: Any, lines: Lines) -> None:
    out[path] = (lines, next(starts))
    if type(value) is dict:
        for key, item in value.items():
            first = len(out)
            key_path = (*path, key, "<key>")
            out[key_path] = (lines, next(starts))
            child = (*path, key)
            kind = type(item)
            if kind is dict or kind is list:
                _walk(item, child, out, spans, starts, lines)
                if spans is not None:
                    spans[child] = (first, len(out))
            else:
                out[child] = (lines, next(starts))
    elif type(value) is list:
        for index, item in enumerate(value):
            kind = type(item)
            if kind is dict or kind is list:
                child = (*path, index)
                first = len(out)
                _walk(item, child, out, spans, starts, lines)
                if spans is not None:
                    spans[child] = (first, len(out))
            else:
                child = (*path, index)
                out[child] = (lines, next(starts))

"""Fast paths for `loads` and `load_with_sources` on well-formed input.

Part of `reconciler.hujson` (imports its siblings, `reconciler.source` and the standard
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

import gc
import json
import re
from typing import Any

from reconciler.source import Lines, PathKey, SourceMap

_COMMENT = r"//[^\n]*\n|/\*[\s\S]*?\*/"
_GAP = rf"(?:[ \t\r\n]+|{_COMMENT})*+"  # possessive: no exponential backtracking
# One match per comment or trailing comma: group 1 is everything before it (strings
# whole, other commas), group 2 the comment, the trailing comma, or a lone quote or
# slash (an unterminated string or comment: decline), or the end of the text (so no
# attempt ever fails and restarts inside a string). Possessive quantifiers keep it
# linear; matching only the rare tokens keeps the Python callback off the hot path.
_STRIP = re.compile(
    rf'((?:[^"/,]++|"[^"\\]*+(?:\\.[^"\\]*+)*+"|,(?!{_GAP}[\]}}]))*+)({_COMMENT}|[,"/]|\Z)')
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


def _strip_token(m: re.Match[str]) -> str:
    token = m.group(2)
    if token == "," or not token:
        return m.group(1)
    if len(token) == 1:
        raise _Decline
    return m.group(1) + " "


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
        if "/" in text or _MAYBE_TRAILING.search(text):
            text = _STRIP.sub(_strip_token, text)
        data = json.loads(text, object_pairs_hook=_no_dup_object, parse_constant=_no_constant)
    except (_Decline, ValueError, RecursionError):
        return False, None
    if _deeper_than(data, max_depth) or _lone_surrogate(text, data):
        return False, None
    return True, data


# --- data plus source offsets ---------------------------------------------------------

# Where each key and value starts, in document order: the gap (whitespace, comments,
# `,` `:` and closing brackets) is skipped and group 1 is the next token, a string, an
# opening bracket or a literal. Run only over text `fast_loads` accepted, so the tokens
# are exactly the keys and values json.loads saw, in the same order.
_TOKEN = re.compile(
    r'(?:[ \t\r\n,:\]}]++|//[^\n]*\n|/\*[\s\S]*?\*/)*+'
    r'("[^"\\]*+(?:\\.[^"\\]*+)*+"|[\[{]|[-0-9a-z][-+.0-9a-zA-Z]*+)')


def fast_load_with_offsets(
    text: str, file: str, max_depth: int
) -> tuple[bool, Any, SourceMap | None]:
    """(True, data, sources) or (False, None, None) to use the exact parser.

    The data comes from `fast_loads`; the offsets from one regex pass pairing tokens
    with a walk over the data in the same order. Locations are recorded as
    ``(Lines, offset)`` pairs, which `SourceMap` turns into `Location`s only when one
    is read.
    """
    ok, data = fast_loads(text, max_depth)
    if not ok:
        return False, None, None
    out: dict[PathKey, Any] = {}
    # container path -> (first, end) positions in `out` of the entries at and under
    # it (a member's from its "<key>" entry): entries go in document order, so every
    # subtree is one run, which makes `SourceMap.rebased` a slice. Scalars have none
    # (nothing is under them but their own "<key>").
    spans: dict[PathKey, tuple[int, int]] = {}
    starts = iter([m.start(1) for m in _TOKEN.finditer(text)])
    # Hundreds of thousands of small acyclic objects: the cyclic GC would walk them
    # again and again (a third of the time) and can never free any of them.
    collecting = gc.isenabled()
    gc.disable()
    try:
        _walk(data, (), out, spans, starts, Lines(file, text))
    finally:
        if collecting:
            gc.enable()
    spans[()] = (0, len(out))
    return True, data, SourceMap._lazy(out, spans)


def _walk(value: Any, path: PathKey, out: dict[PathKey, Any],
          spans: dict[PathKey, tuple[int, int]], starts: Any, lines: Lines) -> None:
    out[path] = (lines, next(starts))
    if type(value) is dict:
        for key, item in value.items():
            first = len(out)
            out[(*path, key, "<key>")] = (lines, next(starts))
            child = (*path, key)
            kind = type(item)
            if kind is dict or kind is list:
                _walk(item, child, out, spans, starts, lines)
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
                spans[child] = (first, len(out))
            else:
                out[(*path, index)] = (lines, next(starts))

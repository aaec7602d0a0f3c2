"""HuJSON (JSON with comments and trailing commas): parse, format, convert.

load/ (steps: load (reading policy fragments and live policies) and the compile step
(writing the policy document). May import `reconciler.core.source`, `reconciler.core.problems`,
`reconciler.core.errors` and the standard library only.

`format` is a byte-exact port of Go's github.com/tailscale/hujson `Format` (Tailscale's
own tooling formats policy files with it); `standardize` and `minimize` port its
namesakes. The rules are in shared/specs/hujson-format-rules.md. `parse` gives a
concrete syntax tree that packs back to the exact input. Functions taking text accept
str or bytes and answer in the same type; malformed input raises `HuJSONError` with
file:line:col (`go_message` has Go's exact wording and byte position). `comments_of`
reads a document's comments by the path of what they document, and `dumps` writes
them back there (still Format's fixed point).
"""

from __future__ import annotations

from typing import Any, overload

from reconciler.core.errors import HuJSONError
from reconciler.core.source import Comments, SourceMap
from reconciler.load.hujson._comments import comments_of, emit_commented
from reconciler.load.hujson._data import dumps_unformatted, to_python
from reconciler.load.hujson._emit import _Unsupported as _EmitUnsupported
from reconciler.load.hujson._emit import emit
from reconciler.load.hujson._errors import Positions
from reconciler.load.hujson._fast import as_text, fast_load_with_offsets, fast_loads
from reconciler.load.hujson._format import format_tree, minimize_tree, standardize_tree
from reconciler.load.hujson._parse import MAX_DEPTH, parse_bytes, to_bytes
from reconciler.load.hujson._tree import Array, Member, Object, Value

__all__ = [
    "MAX_DEPTH",
    "Array",
    "Comments",
    "HuJSONError",
    "Member",
    "Object",
    "Value",
    "comments_of",
    "dumps",
    "format",
    "load_with_sources",
    "loads",
    "minimize",
    "parse",
    "standardize",
]


def parse(
    text: str | bytes, *, file: str = "<string>", allow_duplicate_names: bool = False
) -> Value:
    """The concrete syntax tree of `text`; `str(tree) == text`.

    Rejects what Go hujson rejects, and also (unless `allow_duplicate_names`, which
    accepts exactly what Go's Parse does) a name repeated within one object
    (`duplicate name "x"`, reported at the second one).
    """
    return parse_bytes(to_bytes(text), file=file, check_duplicates=not allow_duplicate_names)


def loads(text: str | bytes, *, file: str = "<string>") -> Any:
    """HuJSON -> Python data (dicts keep key order)."""
    fast_text = as_text(text)
    if fast_text is not None:
        ok, value = fast_loads(fast_text, MAX_DEPTH)
        if ok:
            return value
    return exact_loads(text, file=file)


def exact_loads(text: str | bytes, *, file: str = "<string>") -> Any:
    """`loads` through the exact parser only (what the fast path must agree with)."""
    data = to_bytes(text)
    return to_python(parse_bytes(data, file=file, check_duplicates=True),
                     Positions(data, file), None)


def load_with_sources(text: str | bytes, *, file: str) -> tuple[Any, SourceMap]:
    """Data plus where every value starts: path -> Location, root path ``()``; for each
    object member also ``(*path, key, "<key>")`` -> the name's location."""
    fast_text = as_text(text)
    if fast_text is not None:
        ok, value, sources = fast_load_with_offsets(fast_text, file, MAX_DEPTH)
        if ok:
            assert sources is not None
            return value, sources
    return exact_load_with_sources(text, file=file)


def exact_load_with_sources(text: str | bytes, *, file: str) -> tuple[Any, SourceMap]:
    """`load_with_sources` through the exact parser only."""
    data = to_bytes(text)
    sources = SourceMap()
    value = to_python(parse_bytes(data, file=file, check_duplicates=True),
                      Positions(data, file), sources)
    return value, sources


@overload
def format(text: str, *, file: str = ...) -> str: ...
@overload
def format(text: bytes, *, file: str = ...) -> bytes: ...
def format(text: str | bytes, *, file: str = "<string>") -> str | bytes:
    """Go `hujson.Format`, byte for byte. Idempotent; standard JSON stays standard."""
    tree = parse_bytes(to_bytes(text), file=file)
    format_tree(tree)
    return _same_type(text, tree)


@overload
def standardize(text: str, *, file: str = ...) -> str: ...
@overload
def standardize(text: bytes, *, file: str = ...) -> bytes: ...
def standardize(text: str | bytes, *, file: str = "<string>") -> str | bytes:
    """Go `hujson.Standardize`: plain JSON with every byte offset (so every line and
    column) unchanged; comments and trailing commas become spaces."""
    tree = parse_bytes(to_bytes(text), file=file)
    standardize_tree(tree)
    return _same_type(text, tree)


@overload
def minimize(text: str, *, file: str = ...) -> str: ...
@overload
def minimize(text: bytes, *, file: str = ...) -> bytes: ...
def minimize(text: str | bytes, *, file: str = "<string>") -> str | bytes:
    """Go `hujson.Minimize`: compact JSON, literals kept exactly as written."""
    tree = parse_bytes(to_bytes(text), file=file)
    minimize_tree(tree)
    return _same_type(text, tree)


def dumps(data: Any, *, indent: str = "\t", comments: Comments | None = None) -> str:
    """Python data as HuJSON already in `format`'s canonical form (with the default
    indent): `format(dumps(x)) == dumps(x)` and `loads(dumps(x)) == x`.

    `comments` (item path -> Comment, as `comments_of` gives) are written at the items
    of a mapping `data` that they name; the others are left out.

    Raises TypeError/ValueError (as json.dumps does) for data JSON cannot hold:
    non-str keys, NaN or infinite floats, lone surrogates, cycles.
    """
    try:
        out = (emit_commented(data, comments) if comments and isinstance(data, dict) and data
               else emit(data))
        out.encode("utf-8")  # a lone surrogate: let the exact path word the error
    except (_EmitUnsupported, TypeError, ValueError, RecursionError, UnicodeEncodeError):
        out = _exact_dumps(data)
    if indent != "\t":
        # Strings never hold a raw tab or newline, so leading tabs are indentation.
        lines = out.split("\n")
        out = "\n".join(
            indent * (len(line) - len(stripped)) + stripped
            for line in lines
            for stripped in (line.lstrip("\t"),)
        )
    return out


def _exact_dumps(data: Any) -> str:
    """`dumps` (tab indent) through the parser and formatter: what `emit` must equal."""
    text = dumps_unformatted(data)
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(f"cannot write a lone surrogate in JSON: {e.reason}") from None
    tree = parse_bytes(raw)
    format_tree(tree)
    return tree.pack()


def _same_type(text: str | bytes, tree: Value) -> str | bytes:
    return tree.pack_bytes() if isinstance(text, bytes) else tree.pack()

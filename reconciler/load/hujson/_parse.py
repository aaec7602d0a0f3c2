"""HuJSON text -> concrete syntax tree, accepting and rejecting exactly what Go's
github.com/tailscale/hujson `Parse` does (plus, on request, duplicate object names).

Part of `reconciler.load.hujson` (imports its siblings only). Errors carry Go's message and
byte position (`go_message`) and, where Go's is vague or spans lines (an invalid string
literal is quoted whole), a more precise one-line message at the offending character.
"""

from __future__ import annotations

import re

from reconciler.core.errors import HuJSONError
from reconciler.load.hujson._errors import Positions
from reconciler.load.hujson._strings import VALID_STRING, decode_string, diagnose_string, quote_char
from reconciler.load.hujson._tree import Array, Member, Object, Value

# Deep enough for any policy; keeps the recursive parser and formatter far from
# Python's recursion limit so hostile input gets an error, not a crash.
MAX_DEPTH = 200

_WS_RUN = re.compile(rb"[ \t\r\n]+")
_LITERAL_RUN = re.compile(rb"[-+.a-zA-Z0-9]*")
_STRING_RUN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_CONTROL = re.compile(rb"[\x00-\x1f]")
_NUMBER = re.compile(rb"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_OPEN_OBJECT, _CLOSE_OBJECT, _OPEN_ARRAY, _CLOSE_ARRAY = b"{}[]"
_QUOTE, _COLON, _COMMA, _SLASH = b'":,/'


class _Fail(Exception):
    """A parse error at `offset` with Go's wording; `at`/`message` refine it."""

    def __init__(self, offset: int, go: str, *, at: int | None = None,
                 message: str | None = None, detail: str = "") -> None:
        super().__init__(go)
        self.offset = offset
        self.go = go
        self.at = offset if at is None else at
        self.message = message or go
        self.detail = detail


def to_bytes(text: str | bytes) -> bytes:
    if isinstance(text, bytes):
        return text
    # surrogatepass keeps any str round-trippable through the byte-level tree.
    return text.encode("utf-8", "surrogatepass")


def parse_bytes(data: bytes, *, file: str = "<string>", check_duplicates: bool = False) -> Value:
    """Parse, raising HuJSONError with file:line:col on any error."""
    try:
        return _Parser(data, check_duplicates).parse()
    except _Fail as f:
        positions = Positions(data, file)
        raise HuJSONError(
            f.message,
            f.detail,
            source=positions.location(f.at),
            go_message=f"hujson: {positions.go_position(f.offset)}: {f.go}",
            offset=f.at,
        ) from None


class _Parser:
    def __init__(self, data: bytes, check_duplicates: bool) -> None:
        self.data = data
        self.check_duplicates = check_duplicates

    def parse(self) -> Value:
        value, _, n = self.next(0, 0, None)
        assert value is not None
        if n < len(self.data):
            raise _Fail(n, f"invalid character {quote_char(self.data, n)} after top-level value")
        return value

    def extra(self, n: int) -> int:
        """Skip whitespace and comments from `n`; return where they end."""
        data = self.data
        size = len(data)
        while n < size:
            c = data[n]
            if c in b" \t\r\n":
                n = _WS_RUN.match(data, n).end()  # type: ignore[union-attr]
                continue
            if c != _SLASH:
                return n
            kind = data[n + 1:n + 2]
            if kind == b"/":
                stop = data.find(b"\n", n + 2)
                stop, hint = (stop + 1 if stop >= 0 else -1), "a // comment must end with a newline"
            elif kind == b"*":
                stop = data.find(b"*/", n + 2)
                stop, hint = (stop + 2 if stop >= 0 else -1), "a /* comment needs a closing */"
            else:
                return n  # a lone '/' is then an invalid start of value
            if stop < 0:
                go = "parsing comment: unexpected EOF"
                raise _Fail(n, go, message=f"{go} ({hint})")
            try:
                data[n:stop].decode("utf-8")
            except UnicodeDecodeError as e:
                raise _Fail(n, "invalid UTF-8 in comment", at=n + e.start) from None
            n = stop
        return n

    def next(
        self, n: int, depth: int, closer: int | None
    ) -> tuple[Value | None, bytes | None, int]:
        """A value with its extras. If `closer` follows the leading extra instead of a
        value, return (None, that extra, offset of the closer)."""
        data = self.data
        start = self.extra(n)
        before = data[n:start] if start > n else None
        if closer is not None and start < len(data) and data[start] == closer:
            return None, before, start
        trimmed, end = self.trimmed(start, depth)
        n = self.extra(end)
        after = data[end:n] if n > end else None
        return Value(trimmed, before, after, start, end), None, n

    def trimmed(self, n: int, depth: int) -> tuple[bytes | Object | Array, int]:
        data = self.data
        if n == len(data):
            raise _Fail(n, "parsing value: unexpected EOF")
        c = data[n]
        if c in (_OPEN_OBJECT, _OPEN_ARRAY):
            if depth >= MAX_DEPTH:
                raise _Fail(n, f"exceeded max depth of {MAX_DEPTH} nested objects and arrays")
            if c == _OPEN_OBJECT:
                return self.object(n, depth + 1)
            return self.array(n, depth + 1)
        if c == _QUOTE:
            return self.string(n)
        end = _LITERAL_RUN.match(data, n).end()  # type: ignore[union-attr]
        literal = data[n:end]
        if not literal:
            raise _Fail(n, f"invalid character {quote_char(data, n)} at start of value")
        if literal not in (b"null", b"true", b"false") and not _NUMBER.fullmatch(literal):
            text = literal.decode("ascii")
            shown = text if len(text) <= 40 else text[:40] + "..."
            raise _Fail(n, f"invalid literal: {text}", message=f"invalid literal: {shown}")
        return literal, end

    def string(self, n: int) -> tuple[bytes, int]:
        data = self.data
        m = _STRING_RUN.match(data, n)
        if m is None:
            go = "parsing string: unexpected EOF"
            control = _CONTROL.search(data, n)
            if control:
                where = quote_char(data, control.start())
                raise _Fail(len(data), go, at=control.start(),
                            message=f"invalid character {where} in string literal")
            raise _Fail(len(data), go, at=n, message=f"{go} (the string is never closed)")
        literal = data[n:m.end()]
        if not VALID_STRING.fullmatch(literal):
            at, message = diagnose_string(literal)
            go = f"invalid literal: {literal.decode('utf-8', 'replace')}"
            raise _Fail(n, go, at=n + at, message=message)
        return literal, m.end()

    def object(self, n: int, depth: int) -> tuple[Object, int]:
        data = self.data
        obj = Object()
        seen: dict[str, int] = {}
        n += 1
        while True:
            name, closing, n = self.next(n, depth, _CLOSE_OBJECT)
            if name is None:
                obj.after = closing
                if obj.members:  # `,` then `}`: the comma is trailing
                    last = obj.members[-1].value
                    if last.after is None:
                        last.after = b""
                return obj, n + 1
            if not isinstance(name.value, bytes) or name.value[:1] != b'"':
                where = quote_char(data, name.start)
                raise _Fail(name.start, f"invalid character {where} at start of object name")
            if self.check_duplicates:
                self.check_name(name, seen)
            if n == len(data):
                raise _Fail(n, "parsing object after name: unexpected EOF")
            if data[n] != _COLON:
                raise _Fail(n, f"invalid character {quote_char(data, n)} after object name")
            value, _, n = self.next(n + 1, depth, None)
            assert value is not None
            obj.members.append(Member(name, value))
            if self.closes(n, _CLOSE_OBJECT, "object"):
                obj.after, value.after = value.after, None
                return obj, n + 1
            n += 1

    def closes(self, n: int, close: int, kind: str) -> bool:
        """After a member or element, at `n`: True if `close` ends the container, False
        if a comma follows (the caller steps over it); anything else is Go's error."""
        data = self.data
        if n == len(data):
            raise _Fail(n, f"parsing {kind} after value: unexpected EOF")
        if data[n] == _COMMA:
            return False
        if data[n] == close:
            return True
        expecting = f"(expecting ',' or '{chr(close)}')"
        raise _Fail(n, f"invalid character {quote_char(data, n)} after {kind} value {expecting}")

    def check_name(self, name: Value, seen: dict[str, int]) -> None:
        assert isinstance(name.value, bytes)
        key = decode_string(name.value)
        first = seen.setdefault(key, name.start)
        if first != name.start:
            loc = Positions(self.data, "").location(first)
            shown = name.value.decode("utf-8", "replace")
            raise _Fail(name.start, f"duplicate name {shown}",
                        detail=f"the first {shown} is at line {loc.line}, column {loc.col}")

    def array(self, n: int, depth: int) -> tuple[Array, int]:
        arr = Array()
        n += 1
        while True:
            element, closing, n = self.next(n, depth, _CLOSE_ARRAY)
            if element is None:
                arr.after = closing
                if arr.elements and arr.elements[-1].after is None:
                    arr.elements[-1].after = b""
                return arr, n + 1
            arr.elements.append(element)
            if self.closes(n, _CLOSE_ARRAY, "array"):
                arr.after, element.after = element.after, None
                return arr, n + 1
            n += 1

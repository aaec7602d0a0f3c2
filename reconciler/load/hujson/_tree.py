"""The HuJSON concrete syntax tree: values with their comments, whitespace and commas.

Part of `reconciler.load.hujson` (stdlib only). Mirrors Go hujson's AST so that Format can be
ported byte for byte: every value has a before-extra and an after-extra (whitespace and
comments), each either None (absent) or bytes (possibly empty). A composite has a
trailing comma exactly when its last value's after-extra is not None. All text is
UTF-8 bytes; `Value.pack()` gives it back as str.
"""

from __future__ import annotations

from collections.abc import Iterator

Extra = bytes | None


class Value:
    """One JSON value with the extras around it.

    `value` is the literal's raw bytes (null, true, false, a number, or a string with
    its quotes and escapes as written), an `Object` or an `Array`. `start`/`end` are the
    byte offsets of the trimmed value in the parsed input (stale after formatting).
    """

    __slots__ = ("after", "before", "end", "start", "value")

    def __init__(
        self,
        value: bytes | Object | Array,
        before: Extra = None,
        after: Extra = None,
        start: int = 0,
        end: int = 0,
    ) -> None:
        self.before = before
        self.value = value
        self.after = after
        self.start = start
        self.end = end

    @property
    def kind(self) -> str:
        """One of n t f " 0 { [ (numbers are 0), as Go's Kind."""
        value = self.value
        if isinstance(value, Object):
            return "{"
        if isinstance(value, Array):
            return "["
        first = chr(value[0]) if value else ""
        return first if first in 'ntf"' else "0"

    def pack_bytes(self) -> bytes:
        out: list[bytes] = []
        _pack(self, out)
        return b"".join(out)

    def pack(self) -> str:
        """The tree as text; equal to the parsed input when nothing was changed."""
        return self.pack_bytes().decode("utf-8", "surrogatepass")

    def __str__(self) -> str:
        return self.pack()

    def __repr__(self) -> str:
        return f"Value({self.pack_bytes()!r})"


class Member:
    """One object member: the name (a string-literal Value) and the value."""

    __slots__ = ("name", "value")

    def __init__(self, name: Value, value: Value) -> None:
        self.name = name
        self.value = value


class Object:
    """`members` in order; `after` is the closing extra, before the `}`."""

    __slots__ = ("after", "members")

    def __init__(self, members: list[Member] | None = None, after: Extra = None) -> None:
        self.members = members if members is not None else []
        self.after = after

    def __len__(self) -> int:
        return len(self.members)


class Array:
    """`elements` in order; `after` is the closing extra, before the `]`."""

    __slots__ = ("after", "elements")

    def __init__(self, elements: list[Value] | None = None, after: Extra = None) -> None:
        self.elements = elements if elements is not None else []
        self.after = after

    def __len__(self) -> int:
        return len(self.elements)


Composite = Object | Array


def children(comp: Composite) -> Iterator[Value]:
    """Every direct child Value; for objects names and values interleaved, as Go does."""
    if isinstance(comp, Object):
        for member in comp.members:
            yield member.name
            yield member.value
    else:
        yield from comp.elements


def last_value(comp: Composite) -> Value | None:
    if isinstance(comp, Object):
        return comp.members[-1].value if comp.members else None
    return comp.elements[-1] if comp.elements else None


def first_before(comp: Composite) -> Extra:
    """The extra right after the opening bracket (the closing extra when empty)."""
    if isinstance(comp, Object):
        return comp.members[0].name.before if comp.members else comp.after
    return comp.elements[0].before if comp.elements else comp.after


def has_trailing_comma(comp: Composite) -> bool:
    last = last_value(comp)
    return last is not None and last.after is not None


def set_trailing_comma(comp: Composite, want: bool) -> None:
    """Add or drop the trailing comma; a dropped comma's extra joins the closing extra."""
    last = last_value(comp)
    if last is None:
        return
    if want and last.after is None:
        last.after = b""
    elif not want and last.after is not None:
        comp.after = last.after + (comp.after or b"")
        last.after = None


def _pack(v: Value, out: list[bytes]) -> None:
    if v.before:
        out.append(v.before)
    value = v.value
    if isinstance(value, bytes):
        out.append(value)
    elif isinstance(value, Object):
        out.append(b"{")
        for member in value.members:
            _pack(member.name, out)
            out.append(b":")
            _pack(member.value, out)
            out.append(b",")
        if value.members and value.members[-1].value.after is None:
            out.pop()  # the final "," written above: no trailing comma
        if value.after:
            out.append(value.after)
        out.append(b"}")
    else:
        out.append(b"[")
        for element in value.elements:
            _pack(element, out)
            out.append(b",")
        if value.elements and value.elements[-1].after is None:
            out.pop()
        if value.after:
            out.append(value.after)
        out.append(b"]")
    if v.after:
        out.append(v.after)

"""JSON string literals and Go-style character quoting.

Part of `reconciler.load.hujson` (stdlib only). Decoding follows Go's encoding/json (which
Format relies on): invalid UTF-8 becomes one U+FFFD per byte and unpaired surrogate
escapes become U+FFFD, so decoded text is always encodable. Quoting follows Go hujson's
`String`: only control characters, `"` and `\\` are escaped; everything else is raw UTF-8.
"""

from __future__ import annotations

import re

_SIMPLE_ESCAPES = {
    ord('"'): '"', ord("\\"): "\\", ord("/"): "/", ord("b"): "\b",
    ord("f"): "\f", ord("n"): "\n", ord("r"): "\r", ord("t"): "\t",
}
_ESCAPE = re.compile(rb"\\(?:u([0-9a-fA-F]{4})|(.))", re.S)
_U_ESCAPE = re.compile(rb"\\u([0-9a-fA-F]{4})")

# Valid JSON string literal (Go's json.Valid: raw bytes >= 0x20 are fine, even non-UTF-8).
VALID_STRING = re.compile(
    rb'"[^"\\\x00-\x1f]*(?:\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})[^"\\\x00-\x1f]*)*"'
)

_QUOTE_TABLE = {i: f"\\u{i:04x}" for i in range(0x20)}
_QUOTE_TABLE.update({
    ord("\b"): "\\b", ord("\t"): "\\t", ord("\n"): "\\n", ord("\f"): "\\f",
    ord("\r"): "\\r", ord('"'): '\\"', ord("\\"): "\\\\",
})


def decode_utf8(data: bytes) -> str:
    """UTF-8 -> str with one U+FFFD per invalid byte (Go's rule; Python's 'replace'
    can merge a truncated sequence into a single U+FFFD)."""
    parts: list[str] = []
    pos = 0
    while True:
        try:
            parts.append(data[pos:].decode("utf-8"))
            return "".join(parts)
        except UnicodeDecodeError as e:
            parts.append(data[pos:pos + e.start].decode("utf-8"))
            parts.append("\ufffd" * (e.end - e.start))
            pos += e.end


def decode_string(literal: bytes) -> str:
    """The text of a valid JSON string literal (quotes included in `literal`)."""
    body = literal[1:-1]
    if b"\\" not in body:
        return decode_utf8(body)
    parts: list[str] = []
    pos = 0
    length = len(body)
    while pos < length:
        m = _ESCAPE.search(body, pos)
        if m is None:
            parts.append(decode_utf8(body[pos:]))
            break
        if m.start() > pos:
            parts.append(decode_utf8(body[pos:m.start()]))
        pos = m.end()
        if m.group(1) is None:
            parts.append(_SIMPLE_ESCAPES.get(m.group(2)[0], "\ufffd"))
            continue
        code = int(m.group(1), 16)
        if 0xD800 <= code < 0xE000:
            # A surrogate only counts as half of a pair written as two \u escapes;
            # anything else becomes U+FFFD and the next escape is decoded on its own.
            low = _U_ESCAPE.match(body, pos)
            code2 = int(low.group(1), 16) if low else -1
            if code < 0xDC00 and 0xDC00 <= code2 < 0xE000:
                parts.append(chr(0x10000 + ((code - 0xD800) << 10) + (code2 - 0xDC00)))
                pos = low.end()  # type: ignore[union-attr]
            else:
                parts.append("\ufffd")
            continue
        parts.append(chr(code))
    return "".join(parts)


def quote_string(text: str) -> str:
    """A JSON string literal for `text`, escaped as Go hujson's `String` does."""
    return '"' + text.translate(_QUOTE_TABLE) + '"'


def quote_char(data: bytes, offset: int) -> str:
    """The character at `offset`, quoted as Go's %q quotes a rune ('\\xff' if invalid)."""
    lead = data[offset]
    size = 1 if lead < 0x80 else 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
    try:
        char = data[offset:offset + size].decode("utf-8")
    except UnicodeDecodeError:
        return f"'\\x{lead:02x}'"
    if len(char) != 1:
        return f"'\\x{lead:02x}'"
    return go_quote_rune(char)


_GO_RUNE_ESCAPES = {
    "\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
    "\v": "\\v", "'": "\\'", "\\": "\\\\",
}


def go_quote_rune(char: str) -> str:
    if char in _GO_RUNE_ESCAPES:
        body = _GO_RUNE_ESCAPES[char]
    elif char.isprintable():
        body = char
    else:
        code = ord(char)
        if code < 0x20 or code == 0x7F:
            body = f"\\x{code:02x}"
        elif code < 0x10000:
            body = f"\\u{code:04x}"
        else:
            body = f"\\U{code:08x}"
    return f"'{body}'"


def diagnose_string(literal: bytes) -> tuple[int, str]:
    """Offset (within `literal`) and message for the first reason it is not valid JSON."""
    pos = 1
    end = len(literal) - 1
    while pos < end:
        c = literal[pos]
        if c < 0x20:
            return pos, f"invalid character {quote_char(literal, pos)} in string literal"
        if c != 0x5C:  # backslash
            pos += 1
            continue
        escape = literal[pos + 1]
        if escape in b'"\\/bfnrt':
            pos += 2
        elif escape == ord("u"):
            for k in range(pos + 2, pos + 6):
                if literal[k] not in b"0123456789abcdefABCDEF":
                    where = quote_char(literal, k)
                    return k, f"invalid character {where} in \\u hexadecimal character escape"
            pos += 6
        else:
            where = quote_char(literal, pos + 1)
            return pos + 1, f"invalid character {where} in string escape code"
    return 0, "invalid string literal"

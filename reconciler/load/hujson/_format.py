"""Format, Standardize and Minimize: byte-exact ports of Go hujson's tree rewrites.

Part of `reconciler.load.hujson` (imports its siblings only). The rules, section numbers
and quirks are in shared/specs/hujson-format-rules.md; the order of the steps matters
(expansion is decided on unformatted extras, alignment on formatted ones). Everything
works on UTF-8 bytes and lengths are byte lengths, as in Go.
"""

from __future__ import annotations

import re

from reconciler.load.hujson._strings import decode_string, quote_string
from reconciler.load.hujson._tree import (
    Composite,
    Extra,
    Object,
    Value,
    children,
    first_before,
    has_trailing_comma,
    last_value,
    set_trailing_comma,
)

PUNCH_CARD_WIDTH = 80
_ASCII_WS = b" \t\r\n"
# Go's unicode.IsSpace (not str.isspace, which also strips U+001C..U+001F).
_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007" \
            "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
_WS_RUN = re.compile(rb"[ \t\r\n]+")
# Every byte except SP, HT, CR, LF becomes SP (Standardize keeps offsets).
_BLANK = bytes(b if b in _ASCII_WS else 0x20 for b in range(256))

Stats = tuple[int, int, bool]  # (first line length, last line length, multi-line)


def _has_nl(extra: Extra) -> bool:
    return extra is not None and b"\n" in extra


def _has_comment(extra: Extra) -> bool:
    return bool(extra) and bool(extra.strip(_ASCII_WS))  # type: ignore[union-attr]


def _rstrip_space(data: bytes) -> bytes:
    """Trim trailing Unicode whitespace (comments are valid UTF-8, so decoding is safe)."""
    return data.decode("utf-8", "surrogatepass").rstrip(_GO_SPACE).encode(
        "utf-8", "surrogatepass")


def _ws_len(data: bytes) -> int:
    return len(data) - len(data.lstrip(_ASCII_WS))


# --- Format -----------------------------------------------------------------------


def format_tree(root: Value) -> None:
    """Rewrite `root` in place into Go hujson.Format's layout (§3)."""
    root.before = _format_extra(root.before, 0)
    if root.before is not None:
        root.before = root.before.lstrip(_ASCII_WS)
    standard = _is_standard(root)
    _normalize(root)
    expanded: set[int] = set()
    _decide_expansion(root, expanded)
    _format_whitespace(root, 0, expanded, standard)
    _align_object_values(root)
    after = _format_extra(root.after, 0)
    root.after = _rstrip_space(after or b"") + b"\n"


def _is_standard(v: Value) -> bool:
    if _has_comment(v.before) or _has_comment(v.after):
        return False
    comp = v.value
    if isinstance(comp, bytes):
        return True
    if _has_comment(comp.after) or has_trailing_comma(comp):
        return False
    return all(_is_standard(child) for child in children(comp))


def _normalize(v: Value) -> None:
    """§4: re-escape strings with backslashes; drop comment-free extras before commas."""
    comp = v.value
    if isinstance(comp, bytes):
        if comp[:1] == b'"' and b"\\" in comp:
            v.value = quote_string(decode_string(comp)).encode("utf-8")
        return
    if not len(comp):
        if not _has_comment(comp.after):
            comp.after = None
        return
    for child in children(comp):
        if not _has_comment(child.after):
            child.after = None
    for child in children(comp):
        _normalize(child)


def _approx_len(segment: bytes) -> int:
    """Approximate printed width of the comments in one line of an extra (§6)."""
    n = 0
    pos = 0
    while True:
        m = _WS_RUN.match(segment, pos)
        if m:
            pos = m.end()
        if segment.startswith(b"//", pos):
            return n + 1 + len(segment) - pos
        if segment.startswith(b"/*", pos):
            close = segment.find(b"*/", pos + 2)
            if close < 0:
                return n + 1 + len(segment) - pos
            n += 1 + close + 2 - pos
            pos = close + 2
            continue
        return n + 1 if n > 0 else 0


def _extra_stats(extra: Extra) -> Stats:
    if not extra:
        return (0, 0, False)
    first_nl = extra.find(b"\n")
    if first_nl < 0:
        n = _approx_len(extra)
        return (n, n, False)
    last = extra[extra.rfind(b"\n") + 1:]
    return (_approx_len(extra[:first_nl]), _approx_len(last), True)


def _decide_expansion(v: Value, expanded: set[int]) -> Stats:
    """§6: shape of `v`; adds id() of every composite to expand (bottom-up)."""
    comp = v.value
    if isinstance(comp, bytes):
        return (len(comp), len(comp), False)
    cur = 1
    lines: list[int] = []
    expand = False

    def add(stats: Stats) -> None:
        nonlocal cur
        cur += stats[0]
        if stats[2]:
            lines.append(cur)
            cur = stats[1]

    if isinstance(comp, Object):
        for member in comp.members:
            name, value = member.name, member.value
            expand = expand or _has_nl(name.before)
            add(_extra_stats(name.before))
            add(_decide_expansion(name, expanded))
            add(_extra_stats(name.after))
            cur += 2  # ": "
            add(_extra_stats(value.before))
            add(_decide_expansion(value, expanded))
            add(_extra_stats(value.after))
            cur += 2  # ", " (counted after the last member too, as Go does)
    else:
        for element in comp.elements:
            expand = expand or _has_nl(element.before)
            add(_extra_stats(element.before))
            add(_decide_expansion(element, expanded))
            add(_extra_stats(element.after))
            cur += 2
    cur += 1
    last = last_value(comp)
    if last is not None:
        expand = expand or _has_nl(last.after)
    expand = expand or _has_nl(comp.after)
    lines.append(cur)
    stats = (lines[0], lines[-1], len(lines) > 1)
    if not expand:
        expand = any(length > PUNCH_CARD_WIDTH for length in lines)
    if expand:
        expanded.add(id(comp))
        stats = (1 + _extra_stats(first_before(comp))[0], 1, True)
    return stats


def _format_whitespace(v: Value, depth: int, expanded: set[int], standard: bool) -> None:
    """§7 and §8, recursively."""
    comp = v.value
    if isinstance(comp, bytes):
        return
    expand = id(comp) in expanded
    inner = depth + (1 if expand else 0)
    if isinstance(comp, Object):
        for i, member in enumerate(comp.members):
            name, value = member.name, member.value
            name.before = _format_extra(name.before, depth + 1, lead_nl=expand,
                                        trim_lead=i == 0, space_if_empty=i != 0)
            name.after = _format_extra(name.after, depth + 2, trim_lead=True, trim_trail=True)
            value.before = _format_extra(value.before, depth + 2, trim_lead=True,
                                         trim_trail=True, space_if_empty=True)
            colon_nl = _has_nl(name.after) or _has_nl(value.before)
            _format_whitespace(value, inner + (1 if colon_nl else 0), expanded, standard)
            value.after = _format_extra(value.after, depth + 2, trim_lead=True, trim_trail=True)
    else:
        for i, element in enumerate(comp.elements):
            element.before = _format_extra(element.before, depth + 1, lead_nl=expand,
                                           trim_lead=i == 0, space_if_empty=i != 0)
            _format_whitespace(element, inner, expanded, standard)
            element.after = _format_extra(element.after, depth + 2, trim_lead=True,
                                          trim_trail=True)
    comp.after = _format_extra(comp.after, depth + 1, trail_nl=expand,
                               trim_lead=not len(comp), trim_trail=True, unindent_last=True)
    last = last_value(comp)
    surrounded = last is not None and bool(last.after) and bool(comp.after)
    if not expand and not surrounded:
        set_trailing_comma(comp, False)
    elif expand and not standard:
        set_trailing_comma(comp, True)


def _format_extra(extra: Extra, depth: int, *, lead_nl: bool = False, trail_nl: bool = False,
                  trim_lead: bool = False, trim_trail: bool = False,
                  unindent_last: bool = False, space_if_empty: bool = False) -> Extra:
    """§5: one run of whitespace and comments, re-laid-out at `depth` tabs."""
    src = extra or b""
    if b"\r" in src:
        src = src.replace(b"\r\n", b"\n").replace(b"\n\r", b"\n").replace(b"\r", b" ")
    out = bytearray()
    if lead_nl and b"\n" not in src:
        out += b"\n"
    pos = 0
    size = len(src)
    while pos < size:
        m = _WS_RUN.match(src, pos)
        if m:
            out += b"\n" * min(src.count(b"\n", pos, m.end()), 2)
            pos = m.end()
            continue
        if src.startswith(b"//", pos):
            end = src.find(b"\n", pos + 2) + 1
        elif src.startswith(b"/*", pos):
            end = src.find(b"*/", pos + 2)
            end = end + 2 if end >= 0 else 0
        else:
            end = 0
        if end <= 0:
            return src  # not a comment: cannot happen for parsed input
        out += b"\t" * depth if out.endswith(b"\n") else b" "
        comment = src[pos:end]
        if comment.startswith(b"//"):
            out += _rstrip_space(comment)
            pos = end - 1  # the newline starts the next whitespace run
        elif b"\n" not in comment:
            out += comment
            pos = end
        else:
            out += _reindent_block(comment, depth)
            pos = end
    if trail_nl and not out.endswith(b"\n"):
        out += b"\n"
    if trim_lead:
        while out.startswith(b"\n\n"):
            del out[0]
    if trim_trail:
        while out.endswith(b"\n\n"):
            del out[-1]
    if out.endswith(b"\n"):
        out += b"\t" * max(depth - 1 if unindent_last else depth, 0)
    elif out:
        out += b" "
    if space_if_empty and not out:
        out += b" "
    if extra is None and not out:
        return None
    return bytes(out)


def _reindent_block(comment: bytes, depth: int) -> bytes:
    """§5.1: a multi-line /* */ comment, lines re-indented by their common prefix."""
    lines = [_rstrip_space(line) for line in comment.split(b"\n")]
    first = next((line for line in lines[1:] if line), b"")
    has_empty = any(not line for line in lines)
    prefix = first
    for i in range(1, len(lines)):
        line = lines[i]
        if not line:
            continue
        if line.endswith(b"*/") and _ws_len(line) + 2 == len(line):
            lines[i] = prefix[:_ws_len(prefix)] + b"*/"
            break
        common = 0
        limit = min(len(line), len(prefix))
        while common < limit and line[common] == prefix[common]:
            common += 1
        if common < limit:
            prefix = prefix[:common]
    width = _ws_len(prefix)
    star = not has_empty and len(prefix) > width and prefix[width] == ord("*")
    out = bytearray(lines[0] + b"\n")
    for line in lines[1:]:
        if line:
            out += b"\t" * depth
            if star:
                out += b" "
            out += line[width:]
        out += b"\n"
    return bytes(out.rstrip(b"\n"))


def _has_newline_inside(v: Value, check_own: bool) -> bool:
    """Whether any descendant's before/after extra has LF (closing extras excluded)."""
    if check_own and (_has_nl(v.before) or _has_nl(v.after)):
        return True
    comp = v.value
    if isinstance(comp, bytes):
        return False
    return any(_has_newline_inside(child, True) for child in children(comp))


def _align_object_values(v: Value) -> None:
    """§9: pad value.before so values in a run of one-line members share a column."""
    comp = v.value
    if isinstance(comp, bytes):
        return
    if isinstance(comp, Object):
        rows: list[tuple[Value, int]] = []

        def flush() -> None:
            widest = max((width for _, width in rows), default=0)
            for value, width in rows:
                value.before = (value.before or b"") + b" " * (widest - width)
            rows.clear()

        for member in comp.members:
            name, value = member.name, member.value
            if (not _has_nl(name.before) or _has_nl(name.after) or _has_nl(value.before)
                    or _has_newline_inside(value, False) or _has_nl(value.after)):
                flush()
                continue
            if name.before.count(b"\n") > 1:  # type: ignore[union-attr]
                flush()
            assert isinstance(name.value, bytes)
            width = (len(name.value) + len(name.after or b"") + 1
                     + len(value.before or b""))
            rows.append((value, width))
        flush()
    for child in children(comp):
        _align_object_values(child)


# --- Standardize and Minimize (§11) -----------------------------------------------


def standardize_tree(v: Value) -> None:
    """Comments -> spaces, trailing comma -> space; offsets and lines stay put."""
    v.before = _blank(v.before)
    v.after = _blank(v.after)
    comp = v.value
    if isinstance(comp, bytes):
        return
    for child in children(comp):
        standardize_tree(child)
    comp.after = _blank(comp.after)
    last = last_value(comp)
    if last is not None and last.after is not None:
        comp.after = last.after + b" " + (comp.after or b"")
        last.after = None


def _blank(extra: Extra) -> Extra:
    return None if extra is None else extra.translate(_BLANK)


def minimize_tree(v: Value) -> None:
    """No whitespace, comments or trailing commas at all; literals kept as written."""
    v.before = v.after = None
    comp: Composite | bytes = v.value
    if isinstance(comp, bytes):
        return
    comp.after = None
    for child in children(comp):
        minimize_tree(child)

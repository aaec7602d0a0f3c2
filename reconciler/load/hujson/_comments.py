"""Comments of a HuJSON text, by the path of the item each documents; and writing data
with comments in `format`'s canonical form.

Part of `reconciler.load.hujson` (imports its siblings and `reconciler.core.source`). Reading:
the concrete syntax tree keeps every comment in an extra; a comment line above a member
or element leads it, one after it on its line (after its comma, which the tree files
before the next item or the closing bracket) trails it, and lines left before a
closing bracket follow the last item. Block comments become line comments, one per
line of text. Writing: `emit_commented` lays out a commented container as `format`
would (see `_emit`; the rules are shared/specs/hujson-format-rules.md §5, §7-§9), with
everything without comments written by the plain emitter.
"""

from __future__ import annotations

import json
import re
from typing import Any

from reconciler.core.source import Comment, Comments, PathKey, add_comment
from reconciler.load.hujson._emit import _Emitter, _is_composite
from reconciler.load.hujson._parse import parse_bytes, to_bytes
from reconciler.load.hujson._strings import decode_string
from reconciler.load.hujson._tree import Array, Object, Value

_TOKEN = re.compile(rb"//[^\n]*|/\*[\s\S]*?\*/|\n")
# Go's unicode.IsSpace: what Format strips from the end of a line comment.
_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006" \
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"


def comments_of(text: str | bytes, *, file: str = "<string>") -> Comments:
    """The comments of a HuJSON document (which must parse), by item path."""
    # Most fragments have none: two scans of the text, no copy of it.
    if isinstance(text, str) and "//" not in text and "/*" not in text:
        return {}
    if isinstance(text, str):
        try:
            return _scan(text)
        except (ValueError, IndexError):
            pass  # something the scan does not follow: the syntax tree decides
    return exact_comments_of(text, file=file)


# One token per string, comment, bracket, separator, newline or other literal. The
# exact parser builds a syntax tree in pure Python (a second on a large policy); this
# scan only follows the nesting, so a large commented fragment costs a tenth of that.
_SCAN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|//[^\n]*|/\*[\s\S]*?\*/|[\[\]{},:\n]'
                   r"|[-+.a-zA-Z0-9]+")


class _Frame:
    __slots__ = ("count", "expect", "is_object", "last", "path", "pending")

    def __init__(self, path: PathKey, is_object: bool, pending: list[str]) -> None:
        self.path = path
        self.is_object = is_object
        self.count = 0
        self.expect = True  # after "{", "[" or ",": the next value starts an item
        self.last: PathKey | None = None  # the item most recently started
        self.pending = pending  # comment lines for the next item


def _scan(text: str) -> Comments:
    """`exact_comments_of` for a document the fast loader read, by one regex scan."""
    out: Comments = {}
    stack: list[_Frame] = []
    pending: list[str] = []  # before the root value
    previous = ""  # the previous token other than a comment ("\n" for a newline)
    root_last: PathKey | None = None
    for match in _SCAN.finditer(text):
        token = match.group()
        first = token[0]
        if first == "\n":
            previous = "\n"
            continue
        if first == "/" and len(token) > 1 and token[1] in "/*":
            texts = _texts([token.encode()])
            frame = stack[-1] if stack else None
            if frame is None:
                if root_last is None:
                    pending.extend(texts)
                elif texts:
                    add_comment(out, root_last, Comment(after=tuple(texts)))
            elif previous != "\n" and previous not in "{[" and frame.last is not None:
                # On the line of the item just written (after its value or comma).
                _texts_into(out, frame.last, [token.encode()], trail=True)
            elif not frame.expect and frame.last is not None:
                add_comment(out, frame.last, Comment(after=tuple(texts)))
            else:
                frame.pending.extend(texts)
            if "\n" in token:
                previous = "\n"
            continue
        frame = stack[-1] if stack else None
        if first in "]}":
            if frame is None or frame.is_object != (first == "}"):
                raise ValueError("unbalanced")
            stack.pop()
            if frame.pending and frame.last is not None:
                add_comment(out, frame.last, Comment(after=tuple(frame.pending)))
            if not stack:
                root_last = frame.last
            previous = first
            continue
        if first == ",":
            if frame is None:
                raise ValueError("a comma outside the document")
            frame.expect = True
            previous = first
            continue
        if first == ":":
            previous = first
            continue
        # A value (or an object's name): a string, a literal, "{" or "[".
        item: PathKey | None = None
        if frame is not None and frame.expect:
            if frame.is_object:
                if first != '"':
                    raise ValueError("a name must be a string")
                item = (*frame.path, json.loads(token))
            else:
                item = (*frame.path, frame.count)
                frame.count += 1
            frame.expect = False
            frame.last = item
            if frame.pending:
                add_comment(out, item, Comment(lead=tuple(frame.pending)))
                frame.pending = []
        if first in "{[":
            if frame is None:
                stack.append(_Frame((), first == "{", pending))
            else:
                if item is None:  # an object member's value
                    item = frame.last
                    if item is None:
                        raise ValueError("a value without a name")
                stack.append(_Frame(item, first == "{", []))
        previous = first
    if stack:
        raise ValueError("unclosed")
    return out


def exact_comments_of(text: str | bytes, *, file: str = "<string>") -> Comments:
    """`comments_of` from the exact syntax tree (what the scan must agree with)."""
    data = to_bytes(text)
    if b"//" not in data and b"/*" not in data:
        return {}
    root = parse_bytes(data, file=file)
    out: Comments = {}
    if isinstance(root.value, (Object, Array)) and len(root.value):
        first, last = _item_paths(root.value, ())
        _lines_into(out, first, root.before, lead=True)
        _walk(root.value, (), out)
        _lines_into(out, last, root.after, lead=False)
    return out


def _item_paths(comp: Object | Array, path: PathKey) -> tuple[PathKey, PathKey]:
    if isinstance(comp, Object):
        return ((*path, _name(comp.members[0].name)), (*path, _name(comp.members[-1].name)))
    return (*path, 0), (*path, len(comp.elements) - 1)


def _name(name: Value) -> str:
    assert isinstance(name.value, bytes)
    return decode_string(name.value)


def _walk(comp: Object | Array, path: PathKey, out: Comments) -> None:
    items: list[tuple[PathKey, bytes | None, list[bytes | None], Value]] = []
    if isinstance(comp, Object):
        for member in comp.members:
            items.append(((*path, _name(member.name)), member.name.before,
                          [member.name.after, member.value.before, member.value.after],
                          member.value))
    else:
        for i, element in enumerate(comp.elements):
            items.append(((*path, i), element.before, [element.after], element))
    previous: PathKey | None = None
    for item, before, between, value in items:
        same_line, below = _split(before)
        if previous is not None:
            _texts_into(out, previous, same_line, trail=True)
        else:
            below = same_line + below  # on the line of the opening bracket
        if below:
            add_comment(out, item, Comment(lead=tuple(_texts(below))))
        for extra in between:
            same, more = _split(extra)
            _texts_into(out, item, same + more, trail=True)
        if isinstance(value.value, (Object, Array)):
            _walk(value.value, item, out)
        previous = item
    if previous is not None:
        same_line, below = _split(comp.after)
        _texts_into(out, previous, same_line, trail=True)
        if below:
            add_comment(out, previous, Comment(after=tuple(_texts(below))))


def _split(extra: bytes | None) -> tuple[list[bytes], list[bytes]]:
    """An extra's comments: (those before its first newline, those after)."""
    if not extra or (b"//" not in extra and b"/*" not in extra):
        return [], []
    same: list[bytes] = []
    below: list[bytes] = []
    seen_newline = False
    for match in _TOKEN.finditer(extra):
        token = match.group()
        if token == b"\n":
            seen_newline = True
        else:
            (below if seen_newline else same).append(token)
    return same, below


def _texts(tokens: list[bytes]) -> list[str]:
    """Comment tokens as line texts (without markers)."""
    out = []
    for token in tokens:
        text = token.decode("utf-8", "replace")
        if text.startswith("//"):
            out.append(clean(text[2:]))
            continue
        lines = [line.strip() for line in text[2:-2].split("\n")]
        lines = [line[1:].strip() if line.startswith("*") else line for line in lines]
        while lines and not lines[0]:
            lines.pop(0)
        while lines and not lines[-1]:
            lines.pop()
        out.extend(" " + line if line else "" for line in lines)
    return out


def _texts_into(out: Comments, item: PathKey, tokens: list[bytes], *, trail: bool) -> None:
    texts = _texts(tokens)
    if not texts:
        return
    if trail and len(texts) == 1 and (item not in out or out[item].trail is None):
        add_comment(out, item, Comment(trail=texts[0]))
    else:
        add_comment(out, item, Comment(after=tuple(texts)))


def _lines_into(out: Comments, item: PathKey, extra: bytes | None, *, lead: bool) -> None:
    same, below = _split(extra)
    texts = tuple(_texts(same + below))
    if texts:
        add_comment(out, item, Comment(lead=texts) if lead else Comment(after=texts))


def clean(text: str) -> str:
    """A comment text as Format leaves it: one line, no trailing (Unicode) whitespace."""
    return text.replace("\r", " ").replace("\n", " ").rstrip(_GO_SPACE)


# --- writing -----------------------------------------------------------------------------


def emit_commented(data: dict[str, Any], comments: Comments) -> str:
    """`emit(data)` with the comments written at their items (those whose item is not
    in `data` are left out). The result is a fixed point of `format`."""
    present: Comments = {}
    for path, comment in comments.items():
        if _exists(data, path) and (comment.lead or comment.trail is not None
                                    or comment.after):
            present[path] = comment
    if not present:
        return _Emitter().expanded(data, 0) + "\n"
    return _CommentedEmitter(present).commented(data, 0, ()) + "\n"


def _exists(data: Any, path: PathKey) -> bool:
    if not path:
        return False  # the root itself: nowhere to write a comment inside the document
    for step in path:
        found = (isinstance(data, dict) and type(step) is str and step in data) or (
            isinstance(data, (list, tuple)) and type(step) is int and 0 <= step < len(data))
        if not found:
            return False
        data = data[step]
    return True


class _CommentedEmitter(_Emitter):
    def __init__(self, comments: Comments) -> None:
        super().__init__()
        self.comments = comments
        # Containers with a comment at or under one of their items: always expanded.
        self.hot = {path[:end] for path in comments for end in range(len(path))}

    def at(self, value: Any, depth: int, path: PathKey) -> str:
        if path in self.hot and _is_composite(value) and value:
            return self.commented(value, depth, path)
        return self.text(value, depth)

    def own_line_above(self, previous: PathKey, item: PathKey) -> bool:
        """Whether a comment line stands between two members (so a blank-free line
        holding only a comment: two newlines before the second name)."""
        before, here = self.comments.get(previous), self.comments.get(item)
        return bool((before is not None and before.after) or (here is not None and here.lead))

    def commented(self, value: Any, depth: int, path: PathKey) -> str:
        """`value` expanded at `depth`, each item with its comments around it."""
        indent = "\n" + "\t" * (depth + 1)
        comments = self.comments
        if isinstance(value, dict):
            paths: list[PathKey] = [(*path, k) for k in value]
            texts = [self.at(v, depth + 1, p) for v, p in zip(value.values(), paths,
                                                              strict=True)]
            names = [self.name(k) for k in value]
            # Format aligns runs of one-line values; a comment line above a member
            # (two newlines before its name) starts a new run (spec §9).
            run: list[int] = []
            for i in range(len(texts) + 1):
                if i < len(texts) and "\n" not in texts[i] and not (
                        run and self.own_line_above(paths[i - 1], paths[i])):
                    run.append(i)
                    continue
                if run:
                    widest = max(names[j][1] for j in run)
                    for j in run:
                        texts[j] = " " * (widest - names[j][1]) + texts[j]
                run = [i] if i < len(texts) and "\n" not in texts[i] else []
            heads = [f"{name}: " for name, _ in names]
            open_, close = "{", "}"
        else:
            paths = [(*path, i) for i in range(len(value))]
            texts = [self.at(v, depth + 1, p) for v, p in zip(value, paths, strict=True)]
            heads = [""] * len(texts)
            open_, close = "[", "]"
        out = [open_]
        for item, head, text in zip(paths, heads, texts, strict=True):
            comment = comments.get(item)
            if comment is None:
                out.append(f"{indent}{head}{text},")
                continue
            out.extend(f"{indent}//{clean(line)}" for line in comment.lead)
            out.append(f"{indent}{head}{text},")
            if comment.trail is not None:
                out.append(f" //{clean(comment.trail)}")
            out.extend(f"{indent}//{clean(line)}" for line in comment.after)
        out.append("\n" + "\t" * depth + close)
        return "".join(out)

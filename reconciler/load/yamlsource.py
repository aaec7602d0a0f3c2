"""YAML fragments to plain data plus a SourceMap (and, on request, their comments).

load/ (step: load), one file at a time. May import: yaml, `source`, `problems`.
PyYAML's composer gives every node its position; building the data from the nodes
ourselves lets us keep a Location for every value and refuse what `safe_load` would
silently accept (duplicate keys, merge keys, non-string keys, exotic tags). The same
positions place each `#` comment at the item it documents (`yaml_comments`), for the
compiled HuJSON; a file without `#` costs nothing more.

Hostile or broken text costs time and memory linear in its size and ends in a located
problem, never an exception: nesting is bounded (`MAX_DEPTH`, as for HuJSON), as is
what aliases add to the data (`MAX_ALIAS_NODES`: "billion laughs"); alias cycles and
integers past Python's 4,300-digit conversion limit are refused.
"""

from __future__ import annotations

import bisect
import re
from typing import Any

import yaml

from reconciler.core.problems import Problem
from reconciler.core.source import Comment, Comments, Location, PathKey, SourceMap, add_comment

_PLAIN_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_STR = "tag:yaml.org,2002:str"

# Mappings and lists nested deeper than this are refused (the HuJSON reader stops at
# the same depth). A policy needs fewer than ten levels; the pure-Python composer
# recurses per level and exhausts Python's stack near 500.
MAX_DEPTH = 200
# An alias repeats its anchor's value wherever it is used, so nested aliases can
# describe exponentially more data than the text holds: 8 levels of 9 aliases, in
# under 600 bytes, are 43 million values. What aliases add may exceed this many
# values only while it stays under ten times what the document itself holds, so the
# data stays linear in the text.
MAX_ALIAS_NODES = 100_000


# `# yaml-language-server: $schema=...` points editors at the JSON Schema.
EDITOR_DIRECTIVE = "yaml-language-server:"


class _Refused(Exception):
    """Stops building a document that must not be built further (see `MAX_DEPTH`,
    `MAX_ALIAS_NODES`); carries the one problem reported for it."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def _too_deep(where: Location) -> Problem:
    return Problem(f"mappings and lists are nested more than {MAX_DEPTH} levels deep",
                   where)


class _Marks:
    """Turns a node's (line, column), packed in one int, into a Location when one is
    read: a large fragment has hundreds of thousands of nodes and few locations are
    ever shown (a `source.Positions` for `SourceMap`'s unresolved entries)."""

    __slots__ = ("file",)

    def __init__(self, file: str) -> None:
        self.file = file

    def location(self, packed: int) -> Location:
        return Location(self.file, (packed >> 32) + 1, (packed & 0xFFFFFFFF) + 1)


def _packed(node: yaml.Node) -> int:
    mark = node.start_mark
    return (mark.line << 32) | mark.column


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file
        self.marks = _Marks(file)
        self.entries: dict[PathKey, Any] = {}
        self.problems: list[Problem] = []
        self._constructor = yaml.SafeLoader("")


    def loc(self, node: yaml.Node) -> Location:
        return self.marks.location(_packed(node))

    def build(self, node: yaml.Node, path: PathKey) -> Any:
        self.entries[path] = (self.marks, _packed(node))
        if isinstance(node, yaml.MappingNode):
            if len(path) >= MAX_DEPTH:
                raise _Refused(_too_deep(self.loc(node)))
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            if len(path) >= MAX_DEPTH:
                raise _Refused(_too_deep(self.loc(node)))
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode)
        if node.tag == _TIMESTAMP:
            # Dates stay text: the only place they mean something is `expires`,
            # which parses them itself; elsewhere the validator sees a string.
            return node.value
        if node.tag == _STR:
            return node.value  # what the constructor would give, without its overhead
        if node.tag not in _PLAIN_TAGS:
            self.problems.append(Problem(f"unsupported YAML tag {node.tag}", self.loc(node)))
            return node.value
        try:
            return self._constructor.construct_object(node)
        except ValueError:  # an integer past Python's int-parsing limit (4300 digits)
            digits = sum(c.isdigit() for c in node.value)
            self.problems.append(Problem(
                f"number too long: {node.value[:20]}... ({digits} digits)", self.loc(node)))
            return None

    def _mapping(self, node: yaml.MappingNode, path: PathKey) -> dict[str, Any]:
        out: dict[str, Any] = {}
        first_seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            where = _packed(key_node)
            if key_node.tag == "tag:yaml.org,2002:merge":
                self.problems.append(Problem("YAML merge keys (<<) are not supported",
                                             self.marks.location(where)))
                continue
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != (
                "tag:yaml.org,2002:str"
            ):
                shown = getattr(key_node, "value", "?")
                self.problems.append(Problem(f"keys must be strings, not {shown!r} (quote it)",
                                             self.marks.location(where)))
                continue
            key = key_node.value
            if key in first_seen:
                first = self.marks.location(first_seen[key])
                self.problems.append(Problem(f'duplicate key "{key}" (first defined at {first})',
                                             self.marks.location(where)))
                continue
            first_seen[key] = where
            key_path = (*path, key, "<key>")
            self.entries[key_path] = (self.marks, where)
            out[key] = self.build(value_node, (*path, key))
        return out


class _AliasBuilder(_Builder):
    """The builder for texts with anchors: counts the values aliases add (see
    `MAX_ALIAS_NODES`) and refuses an alias inside its own anchor's value, which both
    composers turn into a node that contains itself."""

    def __init__(self, file: str) -> None:
        super().__init__(file)
        self._seen: set[int] = set()  # ids of the nodes built at least once
        self._open: set[int] = set()  # ids of the collections being built: ancestors
        self._repeated = 0  # values built again through an alias

    def build(self, node: yaml.Node, path: PathKey) -> Any:
        key = id(node)
        if key in self._seen:
            if key in self._open:
                raise _Refused(Problem(
                    "YAML alias cycle: this anchored value contains an alias to itself",
                    self.loc(node)))
            self._repeated += 1
            if self._repeated > MAX_ALIAS_NODES and self._repeated > 10 * len(self._seen):
                raise _Refused(Problem(
                    f"YAML aliases expand to more than {MAX_ALIAS_NODES:,} values; write "
                    "the values out, or nest fewer aliases", self.loc(node)))
        else:
            self._seen.add(key)
        if isinstance(node, yaml.ScalarNode):
            return super().build(node, path)
        self._open.add(key)
        try:
            return super().build(node, path)
        finally:
            self._open.discard(key)


class _BoundedLoader(yaml.SafeLoader):
    """The pure-Python loader, refusing nesting deeper than `MAX_DEPTH` before its
    recursive composer runs out of stack (libyaml stops at 1000 levels by itself)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_sequence_node(self, anchor: str | None) -> yaml.Node:
        return self._nested(super().compose_sequence_node, anchor)

    def compose_mapping_node(self, anchor: str | None) -> yaml.Node:
        return self._nested(super().compose_mapping_node, anchor)

    def _nested(self, compose: Any, anchor: str | None) -> yaml.Node:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise _Refused(_too_deep(Location("", mark.line + 1, mark.column + 1)))
            return compose(anchor)
        finally:
            self._depth -= 1


# libyaml's parser (when PyYAML was built with it) composes the same nodes, with the
# same positions, about 7x faster than the pure-Python one: 1.8 s against 13.7 s for a
# 2 MB policy. It words errors differently, and differs on some edge cases: a tab where
# the pure-Python scanner refuses one, a bare `!` tag, a malformed block scalar header
# (`>#`), an explicit `?` key. So it only takes texts without a tab, and without `!`,
# `|`, `>` or `?` outside comments, that the pure-Python reader accepts (the bulk of a
# large policy: its rules and tests), and any error is reported by the pure-Python
# parser, in its words.
_FAST_LOADER = getattr(yaml, "CSafeLoader", None) if yaml.__with_libyaml__ else None
_LIBYAML_DIFFERS = re.compile(r"[!|>?]")


def _libyaml_may_differ(text: str) -> bool:
    """Whether `text` holds a construct on which libyaml and the pure-Python parser may
    disagree. Comments are not YAML: a `?` or `>` in one (a URL, an arrow) says nothing,
    so it no longer sends the whole file to the slow parser. Only comments that are
    provably comments are skipped: whole-line ones, and trailing ones on a line with no
    quote before the ` #` (a quote could open a scalar that holds the `#`)."""
    if "\t" in text:
        return True
    if not _LIBYAML_DIFFERS.search(text):
        return False
    for line in text.splitlines():
        if not _LIBYAML_DIFFERS.search(line):
            continue
        code = line.lstrip(" ")
        if code.startswith("#"):
            continue
        hash_at = code.find(" #")
        if hash_at >= 0 and "'" not in code[:hash_at] and '"' not in code[:hash_at]:
            code = code[:hash_at]
        if _LIBYAML_DIFFERS.search(code):
            return True
    return False


def _compose_all(text: str) -> list[yaml.Node]:
    if _FAST_LOADER is not None and not _libyaml_may_differ(text) \
            and not yaml.reader.Reader.NON_PRINTABLE.search(text):
        try:
            nodes = list(yaml.compose_all(text, Loader=_FAST_LOADER))
        except yaml.YAMLError:
            nodes = None
        # An empty document (`---` alone) is placed differently; nothing to gain there.
        if nodes and all(isinstance(n, yaml.MappingNode) for n in nodes):
            return nodes
    return list(yaml.compose_all(text, Loader=_BoundedLoader))


def load_yaml(text: str, *, file: str) -> tuple[Any, SourceMap, list[Problem]]:
    """Parse one YAML document: (data, sources, problems). Data is None for an empty file."""
    return _load(text, file, None)


def load_yaml_with_comments(text: str, *, file: str
                            ) -> tuple[Any, SourceMap, list[Problem], Comments]:
    """`load_yaml`, plus the `#` comments attached to the items they document (see
    `yaml_comments`)."""
    comments: Comments = {}
    data, sources, problems = _load(text, file, comments)
    return data, sources, problems, comments


def _load(text: str, file: str, comments: Comments | None
          ) -> tuple[Any, SourceMap, list[Problem]]:
    try:
        nodes = _compose_all(text)
    except _Refused as e:  # too deep for the composer: placed in this file
        where = e.problem.location
        assert where is not None
        return None, SourceMap(), [
            Problem(e.problem.message, Location(file, where.line, where.col))]
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = Location(file, mark.line + 1, mark.column + 1) if mark else None
        message = str(e.problem or e.context or "invalid YAML")
        if e.context and e.problem:
            message = f"{e.problem} ({e.context})"
        return None, SourceMap(), [Problem(f"invalid YAML: {message}", where)]
    except yaml.reader.ReaderError as e:  # a character YAML does not allow
        before = text[: e.position]
        where = Location(file, before.count("\n") + 1, e.position - (before.rfind("\n") + 1) + 1)
        character = f"#x{e.character:04x}" if isinstance(e.character, int) else repr(e.character)
        return None, SourceMap(), [
            Problem(f"invalid YAML: character {character} is not allowed", where)
        ]
    except yaml.YAMLError as e:
        first_line = str(e).splitlines()[0] if str(e) else "invalid YAML"
        return None, SourceMap(), [Problem(f"invalid YAML: {first_line}", Location(file, 1, 1))]
    if not nodes:
        return None, SourceMap(), []
    if len(nodes) > 1:
        builder = _Builder(file)
        return None, SourceMap(), [
            Problem("a fragment must be a single YAML document (found more than one '---')",
                    builder.loc(nodes[1]))
        ]
    # Anchors (hence aliases) need an `&`: texts without one take the plain builder.
    builder = _AliasBuilder(file) if "&" in text else _Builder(file)
    try:
        data = builder.build(nodes[0], ())
    except _Refused as e:
        return None, SourceMap(), [e.problem]
    if comments is not None and "#" in text and not builder.problems:
        comments.update(yaml_comments(text, nodes[0]))
    return data, SourceMap._lazy(builder.entries), builder.problems


# --- comments ------------------------------------------------------------------------
# The composer drops comments, so they are found in the text: a `#` at the start of a
# line or after a blank is a comment unless it lies inside a quoted or block scalar (a
# plain scalar cannot hold " #"), whose spans the nodes give.

_COMMENT_START = re.compile(r"(?:^|(?<=[ \t]))#")
_QUOTED_OR_BLOCK = frozenset("\"'|>")


def yaml_comments(text: str, root: yaml.Node) -> Comments:
    """The comments of a document whose composed root is `root`, by the path of the item
    (mapping key or list entry) each documents: comment lines above an item lead it;
    one after something on its line trails the outermost item that starts and ends on
    that line (when none does, it leads the outermost item starting there); lines with
    no item below them follow the last section."""
    # (line, col, whether something precedes it on its line, text after "#"), 0-based
    found: list[tuple[int, int, bool, str]] = []
    for line_no, line in enumerate(text.split("\n")):
        if "#" in line:
            match = _COMMENT_START.search(line)
            while match is not None:
                found.append((line_no, match.start(), bool(line[:match.start()].strip()),
                              line[match.start() + 1:].rstrip()))
                match = _COMMENT_START.search(line, match.end())
    if not found:
        return {}
    # Items: (line, col, depth, path, one_line), in document order.
    items: list[tuple[int, int, int, PathKey, bool]] = []
    spans: list[tuple[tuple[int, int], tuple[int, int]]] = []
    _walk(root, (), items, spans)
    items.sort(key=lambda item: (item[0], item[1], item[2]))
    spans.sort()
    starts = [(item[0], item[1]) for item in items]
    span_starts = [start for start, _ in spans]
    out: Comments = {}
    last_section = next((item[3] for item in reversed(items) if item[2] == 1), None)
    for line_no, col, after_something, body in found:
        if body.lstrip().startswith(EDITOR_DIRECTIVE):
            continue  # for the editor, not the reader: kept out of the compiled policy
        here = (line_no, col)
        inside = bisect.bisect_right(span_starts, here) - 1
        if inside >= 0 and spans[inside][1] > here:
            continue  # a "#" inside a quoted or block scalar
        taken = False
        if after_something:
            # After something on the line: the outermost item starting on it, if any.
            first = bisect.bisect_left(starts, (line_no, 0))
            on_line = [item for item in items[first:bisect.bisect_left(starts, here)]
                       if item[0] == line_no]
            if on_line:
                # What fits on the line documents it (a member, a flow list's element);
                # after the first line of a longer item, the comment heads that item.
                one_line = [item for item in on_line if item[4]]
                if one_line:
                    add_comment(out, min(one_line, key=lambda i: i[2])[3], Comment(trail=body))
                else:
                    add_comment(out, min(on_line, key=lambda i: i[2])[3], Comment(lead=(body,)))
                taken = True
        if not taken:
            following = bisect.bisect_left(starts, here)
            if following < len(items):
                add_comment(out, items[following][3], Comment(lead=(body,)))
            elif last_section is not None:
                add_comment(out, last_section, Comment(after=(body,)))
    return out


def _walk(node: yaml.Node, path: PathKey, items: list[tuple[int, int, int, PathKey, bool]],
          spans: list[tuple[tuple[int, int], tuple[int, int]]]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            if key_node.style in _QUOTED_OR_BLOCK:
                spans.append(_span(key_node))
            start = key_node.start_mark
            item = (*path, key_node.value)
            items.append((start.line, start.column, len(item), item,
                          _one_line(value_node, start.line)))
            _walk(value_node, item, items, spans)
    elif isinstance(node, yaml.SequenceNode):
        for i, value_node in enumerate(node.value):
            start = value_node.start_mark
            item = (*path, i)
            items.append((start.line, start.column, len(item), item,
                          _one_line(value_node, start.line)))
            _walk(value_node, item, items, spans)
    elif node.style in _QUOTED_OR_BLOCK:
        spans.append(_span(node))


def _span(node: yaml.Node) -> tuple[tuple[int, int], tuple[int, int]]:
    return ((node.start_mark.line, node.start_mark.column),
            (node.end_mark.line, node.end_mark.column))


def _one_line(value: yaml.Node, line: int) -> bool:
    # A block collection's end mark lies at the next token, lines below: never one line.
    if isinstance(value, yaml.ScalarNode) or getattr(value, "flow_style", False):
        return bool(value.end_mark.line == line)
    return False

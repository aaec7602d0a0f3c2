"""Source locations: where in the user's files a value came from.

core/ (the lowest layer) (stdlib only). The loader records a `Location` for every value it reads,
keyed by the value's path inside the merged policy document (``("acls", 3, "dst", 0)``);
everything downstream reports problems through a `SourceMap` so messages carry
``file:line:col`` without the data itself having to carry wrapper types.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Any, Protocol

PathKey = tuple[str | int, ...]


@dataclass(frozen=True, order=True)
class Location:
    """A position in a file. Lines and columns count from 1, as editors show them."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class Lines:
    """Character offset -> Location in one text; line starts are found on first use.

    Lets a parser record where each value starts as a cheap ``(Lines, offset)`` pair and
    leave the line/column arithmetic to the few locations anyone reads.
    """

    __slots__ = ("_starts", "_text", "file")

    def __init__(self, file: str, text: str) -> None:
        self.file = file
        self._text = text
        self._starts: array[int] | None = None

    def location(self, offset: int) -> Location:
        starts = self._starts
        if starts is None:
            starts = self._starts = _line_starts(self._text)
        line = bisect.bisect_right(starts, offset)
        return Location(self.file, line, 1 + offset - starts[line - 1])


def _line_starts(text: str, chunk: int = 1 << 20) -> array[int]:
    """Where each line of `text` starts. An array, not a list: 8 bytes a line instead of
    40 (an int object and its slot), tens of MB for a policy of a million lines; split a
    chunk at a time so the lines never all exist as strings at once."""
    starts = array("q", [0])
    for at in range(0, len(text), chunk):
        parts = text[at:at + chunk].split("\n")
        parts.pop()  # what follows the chunk's last newline: no line starts in it
        # Line k+1 starts one past the end of line k (all in C: no per-line bytecode).
        found = accumulate(map((1).__add__, map(len, parts)), initial=at)
        next(found)  # `at` itself: no line starts there unless a newline precedes it
        starts.extend(found)
    return starts


class Positions(Protocol):
    """What turns a recorded position into a Location on first read: `Lines` (character
    offsets), or the YAML loader's (line, column) marks."""

    def location(self, key: int) -> Location: ...


# A recorded location: a Location, or a (Positions, key) pair not yet resolved.
_Entry = Location | tuple[Positions, int]
# Records on first use the entries strictly under a value: called with the value's path
# and whatever offset the parser stored with it (see `SourceMap._lazy`).
Expand = Callable[[PathKey, int], dict[PathKey, _Entry]]
_NONE_DEFERRED = 1 << 30


def _resolve(entry: _Entry) -> Location:
    if type(entry) is tuple:
        return entry[0].location(entry[1])
    return entry  # type: ignore[return-value]


class SourceMap(Mapping[PathKey, Location]):
    """Path inside a document -> Location of the value (or key) at that path.

    `at(path)` falls back to the nearest recorded ancestor, so a check deep inside a
    value still points at the closest place the user wrote something.

    A parser may defer work (see `_lazy`): entries may be unresolved (Lines, offset)
    pairs, and what lies under some values ("deferred" paths) may be recorded only when
    a path under them is first read. Reading gives what recording everything at once
    would have given; entries `set` (or `update`d) explicitly win over deferred ones.
    """

    def __init__(self, entries: Mapping[PathKey, Location] | None = None) -> None:
        self._entries: dict[PathKey, _Entry] = (
            dict(entries._entries) if isinstance(entries, SourceMap) else dict(entries or {}))
        # Deferred path -> (expand, offset); its own entry and its "<key>" are in
        # `_entries`. Deferred paths never lie under one another.
        self._deferred: dict[PathKey, tuple[Expand, int]] = (
            dict(entries._deferred) if isinstance(entries, SourceMap) else {})
        # The length of the shortest deferred path (none: no path is that long).
        self._shallowest = min(map(len, self._deferred), default=_NONE_DEFERRED)
        # Deferred path -> the entries under it, once expanded.
        self._expanded: dict[PathKey, dict[PathKey, _Entry]] = (
            dict(entries._expanded) if isinstance(entries, SourceMap) else {})
        # prefix length -> prefix -> paths under it; built on first `rebased` call so that
        # moving every list entry of a large fragment stays linear, not quadratic.
        self._by_prefix: dict[int, dict[PathKey, list[PathKey]]] = {}
        # From a parser (see `_lazy`): path -> (first, end) run of `_entries` holding it
        # and everything under it; dropped as soon as the map is changed.
        self._spans: dict[PathKey, tuple[int, int]] | None = None
        self._keys: list[PathKey] | None = None

    @classmethod
    def _lazy(cls, entries: dict[PathKey, _Entry],
              spans: dict[PathKey, tuple[int, int]] | None = None,
              deferred: dict[PathKey, tuple[Expand, int]] | None = None) -> SourceMap:
        """A map over entries that may be unresolved (Lines, offset) pairs (not copied).

        `spans`, if given, must give for each object and array recorded here (not
        deferred) the run of `entries` (in insertion order) made of exactly the entries
        whose path starts with its path; any other path may have only its own "<key>"
        entry under it in `entries`. `deferred` maps a path (whose own entry is in
        `entries`, none under another) to `(expand, offset)`: `expand(path, offset)`
        gives the entries strictly under it, its own "<key>" excepted."""
        sm = cls()
        sm._entries = entries
        sm._spans = spans
        sm._deferred = deferred or {}
        sm._shallowest = min(map(len, sm._deferred), default=_NONE_DEFERRED)
        return sm

    # --- deferred paths ------------------------------------------------------------------

    def _root_of(self, path: PathKey) -> PathKey | None:
        """The deferred path strictly above `path`, if any. A "<key>" entry belongs to
        the parent of its value, so (*p, "<key>") is never under a deferred p."""
        deferred = self._deferred
        if not deferred:
            return None
        top = len(path) - (2 if path and path[-1] == "<key>" else 1)
        for end in range(top, -1, -1):
            prefix = path[:end]
            if prefix in deferred:
                return prefix
        return None

    def _expansion(self, root: PathKey) -> dict[PathKey, _Entry]:
        found = self._expanded.get(root)
        if found is None:
            expand, offset = self._deferred[root]
            found = self._expanded[root] = expand(root, offset)
        return found

    def _holder(self, path: PathKey) -> dict[PathKey, _Entry] | None:
        """The dict holding `path`'s entry (explicit ones first), or None."""
        if path in self._entries:
            return self._entries
        root = self._root_of(path)
        if root is None:
            return None
        found = self._expansion(root)
        return found if path in found else None

    def _materialized(self) -> dict[PathKey, _Entry]:
        everything: dict[PathKey, _Entry] = {}
        for root in self._deferred:
            everything.update(self._expansion(root))
        everything.update(self._entries)
        return everything

    # --- reading -------------------------------------------------------------------------

    def __getitem__(self, path: PathKey) -> Location:
        holder = self._holder(path)
        if holder is None:
            raise KeyError(path)
        entry = holder[path]
        if type(entry) is tuple:
            entry = holder[path] = _resolve(entry)
        return entry  # type: ignore[return-value]

    def __iter__(self) -> Iterator[PathKey]:
        if not self._deferred:
            return iter(self._entries)
        return iter(list(self._materialized()))

    def __len__(self) -> int:
        return len(self._materialized() if self._deferred else self._entries)

    def __contains__(self, path: object) -> bool:
        return type(path) is tuple and self._holder(path) is not None

    def get(self, path: PathKey, default: Any = None) -> Any:
        holder = self._holder(path)
        return default if holder is None else self[path]

    def at(self, path: PathKey) -> Location | None:
        """The location of `path`, or of its nearest ancestor that has one."""
        entries = self._entries
        if path in entries:
            return self[path]
        root = self._root_of(path)
        below = len(path) + 1 if root is None else len(root) + 1
        found = self._expansion(root) if root is not None else entries
        for end in range(len(path), -1, -1):
            prefix = path[:end]
            if prefix in entries or (end >= below and prefix in found):
                return self[prefix]
        return None

    def key(self, path: PathKey) -> Location | None:
        """The location of the mapping key at `path` (recorded as path + ("<key>",))."""
        key = (*path, "<key>")
        return self[key] if key in self else self.at(path)

    # --- changing ------------------------------------------------------------------------

    def set(self, path: PathKey, location: Location) -> None:
        self._entries[path] = location
        self._changed()

    def _changed(self) -> None:
        self._by_prefix.clear()
        self._spans = self._keys = None

    def update(self, other: Mapping[PathKey, Location]) -> None:
        """Add `other`'s entries; they win over this map's at the same paths. (A path
        `other` defers is expanded first when this map records it or defers a path
        above it: maps from the parsers, and merges of them, record every ancestor of
        what they record, so only then can this map hold something under it.)"""
        if isinstance(other, SourceMap):
            deferred = other._deferred
            if deferred:
                # Whole-map checks first: a deferred path can only lie under a
                # shorter one.
                clash = deferred.keys() & self._entries.keys()
                if self._shallowest < max(map(len, deferred)):
                    clash.update(r for r in deferred if self._root_of(r) is not None)
                for root in clash:
                    self._entries.update(other._expansion(root))
                self._deferred.update(deferred if not clash else {
                    root: how for root, how in deferred.items() if root not in clash})
                self._shallowest = min(self._shallowest, *map(len, deferred))
            self._entries.update(other._entries)
        else:
            self._entries.update(other)
        self._changed()

    # --- moving parts --------------------------------------------------------------------

    def _paths_under(self, prefix: PathKey) -> list[PathKey]:
        """Paths of `_entries` starting with `prefix`, in insertion order."""
        entries = self._entries
        if self._spans is not None:
            span = self._spans.get(prefix)
            if span is None:
                # Spans cover every recorded object and array; under anything else
                # (a scalar, a deferred value) there is at most its own "<key>" entry.
                return [p for p in ((*prefix, "<key>"), prefix) if p in entries]
            if self._keys is None:
                self._keys = list(entries)
            return self._keys[span[0]:span[1]]
        n = len(prefix)
        index = self._by_prefix.get(n)
        if index is None:
            index = {}
            for path in entries:
                if len(path) >= n:
                    index.setdefault(path[:n], []).append(path)
            self._by_prefix[n] = index
        return index.get(prefix, [])

    def _under(self, prefix: PathKey, *, expand: bool
               ) -> tuple[dict[PathKey, _Entry], dict[PathKey, tuple[Expand, int]]]:
        """(entries, deferred paths) at or under `prefix`; with `expand`, what lies under
        `prefix` itself if it is deferred comes as entries."""
        paths = self._paths_under(prefix)
        entries = self._entries
        found = {path: entries[path] for path in paths}
        deferred = self._deferred
        moved = {path: deferred[path] for path in paths if path in deferred} if deferred else {}
        root = self._root_of(prefix)
        if root is None and expand and prefix in moved:
            root = prefix
            del moved[prefix]
        if root is not None:
            n = len(prefix)
            inner = {p: e for p, e in self._expansion(root).items() if p[:n] == prefix}
            inner.update(found)
            found = inner
        return found, moved

    def rebased(self, old_prefix: PathKey, new_prefix: PathKey) -> SourceMap:
        """Entries under `old_prefix`, with that prefix replaced by `new_prefix`."""
        found, deferred = self._under(old_prefix, expand=False)
        if old_prefix != new_prefix:
            n = len(old_prefix)
            found = {(*new_prefix, *path[n:]): e for path, e in found.items()}
            deferred = {(*new_prefix, *path[n:]): d for path, d in deferred.items()}
        return SourceMap._lazy(found, deferred=deferred)

    def renumbered(self, prefix: PathKey, old_indices: Sequence[int], start: int) -> SourceMap:
        """Entries under the items of the list at `prefix` (not the list's own): item
        `old_indices[k]` becomes item `start + k`; items not listed are left out."""
        found, deferred = self._under(prefix, expand=True)
        n = len(prefix)
        new_of: dict[str | int, int] = {old: start + k for k, old in enumerate(old_indices)}
        if start == 0 and list(new_of.values()) == list(new_of):
            return SourceMap._lazy(
                {p: e for p, e in found.items() if len(p) > n and p[n] in new_of},
                deferred={p: d for p, d in deferred.items() if len(p) > n and p[n] in new_of})
        return SourceMap._lazy(
            {(*prefix, new_of[p[n]], *p[n + 1:]): e for p, e in found.items()
             if len(p) > n and p[n] in new_of},
            deferred={(*prefix, new_of[p[n]], *p[n + 1:]): d for p, d in deferred.items()
                      if len(p) > n and p[n] in new_of})


# --- comments --------------------------------------------------------------------------


@dataclass(frozen=True)
class Comment:
    """What the user wrote as comments at one item (a mapping key with its value, or a
    list entry), keyed like locations by the item's path: `lead` lines above it,
    `trail` after it on its line, `after` lines below it (before the next item, when
    nothing follows them in the same list or mapping). Texts come without the `//` or
    `#` marker and hold no newline, so `"//" + text` is a line comment.

    The compiled HuJSON carries them (see `compile.to_hujson`); nothing else reads
    them, so the data, fingerprints and plans never depend on comments."""

    lead: tuple[str, ...] = ()
    trail: str | None = None
    after: tuple[str, ...] = ()

    def joined(self, other: Comment) -> Comment:
        """Both comments at one item (the same section in two fragments): self first."""
        trail = self.trail if other.trail is None else (
            other.trail if self.trail is None else None)
        lead = self.lead + other.lead
        if self.trail is not None and other.trail is not None:  # two lines' trails
            lead = (*lead, self.trail, other.trail)
        return Comment(lead, trail, self.after + other.after)


Comments = dict[PathKey, Comment]


def add_comment(into: Comments, path: PathKey, comment: Comment) -> None:
    found = into.get(path)
    into[path] = comment if found is None else found.joined(comment)


def comments_renumbered(comments: Comments, prefix: PathKey, old_indices: Sequence[int],
                        start: int, into: Comments) -> None:
    """`SourceMap.renumbered` for comments: those under item `old_indices[k]` of the
    list at `prefix` move to item `start + k` (in `into`); others under it are dropped."""
    n = len(prefix)
    new_of: dict[str | int, int] = {old: start + k for k, old in enumerate(old_indices)}
    for path, comment in comments.items():
        if len(path) > n and path[:n] == prefix and path[n] in new_of:
            add_comment(into, (*prefix, new_of[path[n]], *path[n + 1:]), comment)

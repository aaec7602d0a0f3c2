"""Source locations: where in the user's files a value came from.

Lowest layer (stdlib only). The loader records a `Location` for every value it reads,
keyed by the value's path inside the merged policy document (``("acls", 3, "dst", 0)``);
everything downstream reports problems through a `SourceMap` so messages carry
``file:line:col`` without the data itself having to carry wrapper types.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

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
        self._starts: list[int] | None = None

    def location(self, offset: int) -> Location:
        starts = self._starts
        if starts is None:
            # Line k+1 starts one past the end of line k (all in C: no per-line bytecode).
            starts = self._starts = list(accumulate(
                map((1).__add__, map(len, self._text.split("\n"))), initial=0))
        line = bisect.bisect_right(starts, offset)
        return Location(self.file, line, 1 + offset - starts[line - 1])


# A recorded location: a Location, or a (Lines, offset) pair not yet resolved.
_Entry = Location | tuple[Lines, int]


def _resolve(entry: _Entry) -> Location:
    if type(entry) is tuple:
        return entry[0].location(entry[1])
    return entry  # type: ignore[return-value]


class SourceMap(Mapping[PathKey, Location]):
    """Path inside a document -> Location of the value (or key) at that path.

    `at(path)` falls back to the nearest recorded ancestor, so a check deep inside a
    value still points at the closest place the user wrote something. Entries may be
    recorded lazily (see `Lines`); reading one always gives a Location.
    """

    def __init__(self, entries: Mapping[PathKey, Location] | None = None) -> None:
        self._entries: dict[PathKey, _Entry] = (
            dict(entries._entries) if isinstance(entries, SourceMap) else dict(entries or {}))
        # prefix length -> prefix -> paths under it; built on first `rebased` call so that
        # moving every list entry of a large fragment stays linear, not quadratic.
        self._by_prefix: dict[int, dict[PathKey, list[PathKey]]] = {}
        # From a parser (see `_lazy`): path -> (first, end) run of `_entries` holding it
        # and everything under it; dropped as soon as the map is changed.
        self._spans: dict[PathKey, tuple[int, int]] | None = None
        self._keys: list[PathKey] | None = None

    @classmethod
    def _lazy(cls, entries: dict[PathKey, _Entry],
              spans: dict[PathKey, tuple[int, int]] | None = None) -> SourceMap:
        """A map over entries that may be unresolved (Lines, offset) pairs (not copied).

        `spans`, if given, must give for each object and array the run of `entries` (in
        insertion order) made of exactly the entries whose path starts with its path;
        any other path may have only its own "<key>" entry under it."""
        sm = cls()
        sm._entries = entries
        sm._spans = spans
        return sm

    def __getitem__(self, path: PathKey) -> Location:
        entry = self._entries[path]
        if type(entry) is tuple:
            entry = self._entries[path] = _resolve(entry)
        return entry  # type: ignore[return-value]

    def __iter__(self) -> Iterator[PathKey]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, path: object) -> bool:
        return path in self._entries

    def get(self, path: PathKey, default: Any = None) -> Any:  # type: ignore[override]
        return self[path] if path in self._entries else default

    def set(self, path: PathKey, location: Location) -> None:
        self._entries[path] = location
        self._changed()

    def _changed(self) -> None:
        self._by_prefix.clear()
        self._spans = self._keys = None

    def at(self, path: PathKey) -> Location | None:
        """The location of `path`, or of its nearest ancestor that has one."""
        entries = self._entries
        for end in range(len(path), -1, -1):
            prefix = path[:end]
            if prefix in entries:
                return self[prefix]
        return None

    def key(self, path: PathKey) -> Location | None:
        """The location of the mapping key at `path` (recorded as path + ("<key>",))."""
        key = (*path, "<key>")
        return self[key] if key in self._entries else self.at(path)

    def rebased(self, old_prefix: PathKey, new_prefix: PathKey) -> SourceMap:
        """Entries under `old_prefix`, with that prefix replaced by `new_prefix`."""
        n = len(old_prefix)
        entries = self._entries
        if self._spans is not None:
            span = self._spans.get(old_prefix)
            if span is None:
                # Spans cover every object and array; under anything else there is at
                # most its own "<key>" entry.
                paths = [p for p in ((*old_prefix, "<key>"), old_prefix) if p in entries]
            else:
                if self._keys is None:
                    self._keys = list(entries)
                paths = self._keys[span[0]:span[1]]
            if old_prefix == new_prefix:
                return SourceMap._lazy({path: entries[path] for path in paths})
            return SourceMap._lazy({(*new_prefix, *path[n:]): entries[path]
                                    for path in paths})
        index = self._by_prefix.get(n)
        if index is None:
            index = {}
            for path in self._entries:
                if len(path) >= n:
                    index.setdefault(path[:n], []).append(path)
            self._by_prefix[n] = index
        return SourceMap._lazy({(*new_prefix, *path[n:]): entries[path]
                                for path in index.get(old_prefix, ())})

    def update(self, other: Mapping[PathKey, Location]) -> None:
        if isinstance(other, SourceMap):
            self._entries.update(other._entries)
        else:
            self._entries.update(other)
        self._changed()

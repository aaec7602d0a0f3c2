"""Source locations: where in the user's files a value came from.

Lowest layer (stdlib only). The loader records a `Location` for every value it reads,
keyed by the value's path inside the merged policy document (``("acls", 3, "dst", 0)``);
everything downstream reports problems through a `SourceMap` so messages carry
``file:line:col`` without the data itself having to carry wrapper types.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

PathKey = tuple[str | int, ...]


@dataclass(frozen=True, order=True)
class Location:
    """A position in a file. Lines and columns count from 1, as editors show them."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class SourceMap(Mapping[PathKey, Location]):
    """Path inside a document -> Location of the value (or key) at that path.

    `at(path)` falls back to the nearest recorded ancestor, so a check deep inside a
    value still points at the closest place the user wrote something.
    """

    def __init__(self, entries: Mapping[PathKey, Location] | None = None) -> None:
        self._entries: dict[PathKey, Location] = dict(entries or {})

    def __getitem__(self, path: PathKey) -> Location:
        return self._entries[path]

    def __iter__(self) -> Iterator[PathKey]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def set(self, path: PathKey, location: Location) -> None:
        self._entries[path] = location

    def at(self, path: PathKey) -> Location | None:
        """The location of `path`, or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            found = self._entries.get(path[:end])
            if found is not None:
                return found
        return None

    def key(self, path: PathKey) -> Location | None:
        """The location of the mapping key at `path` (recorded as path + ("<key>",))."""
        return self._entries.get((*path, "<key>")) or self.at(path)

    def rebased(self, old_prefix: PathKey, new_prefix: PathKey) -> dict[PathKey, Location]:
        """Entries under `old_prefix`, with that prefix replaced by `new_prefix`."""
        n = len(old_prefix)
        return {
            (*new_prefix, *path[n:]): loc
            for path, loc in self._entries.items()
            if path[:n] == old_prefix
        }

    def update(self, other: Mapping[PathKey, Location]) -> None:
        self._entries.update(other)

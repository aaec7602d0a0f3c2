"""The HuJSON error type and byte-offset -> line/column conversion.

Part of `reconciler.load.hujson` (imports `reconciler.core.errors` and
`reconciler.core.source` only).
"""

from __future__ import annotations

import bisect

from reconciler.core.source import Location


class Positions:
    """Byte offset -> (line, column) in one input; line starts are found once."""

    def __init__(self, data: bytes, file: str) -> None:
        self.data = data
        self.file = file
        self._starts = [0]
        start = data.find(b"\n")
        while start >= 0:
            self._starts.append(start + 1)
            start = data.find(b"\n", start + 1)

    def line_start(self, offset: int) -> tuple[int, int]:
        """(1-based line, byte offset where that line starts)."""
        line = bisect.bisect_right(self._starts, offset)
        return line, self._starts[line - 1]

    def location(self, offset: int) -> Location:
        line, start = self.line_start(offset)
        segment = self.data[start:offset]
        return Location(self.file, line, 1 + _char_count(segment))

    def go_position(self, offset: int) -> str:
        """Go hujson's `line L, column C` (column in bytes)."""
        line, start = self.line_start(offset)
        return f"line {line}, column {1 + offset - start}"


def _char_count(segment: bytes) -> int:
    """Characters in a UTF-8 byte run (columns count characters, as editors show them)."""
    if segment.isascii():
        return len(segment)
    try:
        return len(segment.decode("utf-8", "surrogatepass"))
    except UnicodeDecodeError:
        # Not UTF-8 (bytes input only): count bytes that do not continue a sequence.
        return sum(1 for c in segment if c & 0xC0 != 0x80)

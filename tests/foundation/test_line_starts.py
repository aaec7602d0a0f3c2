"""`Lines` turns character offsets into line:col; its line starts are built a chunk at
a time into an array (a policy of a million lines held no list of line strings)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.core.source import Lines, _line_starts
from tests.conftest import examples

texts = st.text(alphabet="ab\n", max_size=80)


@settings(max_examples=examples(500), deadline=None)
@given(texts, st.integers(1, 9))
def test_line_starts_in_chunks_are_every_line_start(text: str, chunk: int) -> None:
    """The first character of every line, wherever the chunks cut the text."""
    expected = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]
    assert list(_line_starts(text, chunk)) == expected
    assert list(_line_starts(text)) == expected


@settings(max_examples=examples(500), deadline=None)
@given(texts, st.data())
def test_location_is_line_and_column_of_the_offset(text: str, data: st.DataObject) -> None:
    offset = data.draw(st.integers(0, len(text)))
    loc = Lines("f.json", text).location(offset)
    assert (loc.file, loc.line, loc.col) == (
        "f.json", text.count("\n", 0, offset) + 1, offset - text.rfind("\n", 0, offset))

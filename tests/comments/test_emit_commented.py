"""The compiled HuJSON with comments is a fixed point of Go's `hujson.Format` (our
byte-exact port), holds the same data, and reads back the same comments.

Properties over generated policy-shaped data with comments at generated items: above
(`lead`), beside (`trail`) and below (`after`) sections, keys and list entries, with
texts Format would change (trailing spaces, carriage returns, Unicode spaces).
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.core.source import Comment, PathKey
from reconciler.load import hujson
from reconciler.load.document import to_hujson
from tests.conftest import examples

names = st.sampled_from(["group:eng", "tag:prod", "src", "dst", "ip", "a", "bb", "hosts",
                         "acls", "a-much-longer-member-name-here"])
scalars = st.one_of(
    st.sampled_from(["alice@example.com", "tag:prod:443", "*", "x" * 70, ""]),
    st.integers(-5, 5), st.booleans(), st.none())
data_strategy = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=5),
                            st.dictionaries(names, inner, max_size=5)),
    max_leaves=30)
texts = st.one_of(
    st.sampled_from([" People", " core team", "", " trailing   ", " cr\rin it",
                     " unicode space\u3000", " */ not a block end", "no space", " x" * 50]),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=12))


def _items(value: Any, path: PathKey) -> list[PathKey]:
    out: list[PathKey] = []
    children = (value.items() if isinstance(value, dict)
                else enumerate(value) if isinstance(value, list) else ())
    for key, child in children:
        out.append((*path, key))
        out.extend(_items(child, (*path, key)))
    return out


@st.composite
def commented(draw: st.DrawFn, *, after: bool = True
              ) -> tuple[dict[str, Any], dict[PathKey, Comment]]:
    data = draw(st.dictionaries(names, data_strategy, min_size=1, max_size=4))
    paths = _items(data, ())
    chosen = draw(st.lists(st.sampled_from(paths), max_size=6, unique=True))
    comments = {}
    for path in chosen:
        comments[path] = Comment(
            lead=tuple(draw(st.lists(texts, max_size=2))),
            trail=draw(st.one_of(st.none(), texts)),
            after=tuple(draw(st.lists(texts, max_size=2))) if after else ())
    return data, comments


@settings(max_examples=examples(300))
@given(commented())
def test_commented_output_is_a_fixed_point_of_format(
        case: tuple[dict[str, Any], dict[PathKey, Comment]]) -> None:
    data, comments = case
    text = hujson.dumps(data, comments=comments)
    assert hujson.format(text) == text
    assert hujson.loads(text) == data
    with_header = to_hujson(data, commit=None, comments=comments)
    assert hujson.format(with_header) == with_header


def _clean(comment: Comment) -> Comment:
    from reconciler.load.hujson._comments import clean

    return Comment(tuple(clean(t) for t in comment.lead),
                   None if comment.trail is None else clean(comment.trail))


@settings(max_examples=examples(200))
@given(commented(after=False))
def test_comments_read_back_at_their_items(
        case: tuple[dict[str, Any], dict[PathKey, Comment]]) -> None:
    data, comments = case
    text = hujson.dumps(data, comments=comments)
    wanted = {path: _clean(c) for path, c in comments.items() if c.lead or c.trail is not None}
    assert hujson.comments_of(text) == wanted


def test_no_comments_is_the_plain_emitter() -> None:
    data = {"groups": {"group:eng": ["alice@example.com"]}, "acls": []}
    assert hujson.dumps(data, comments={}) == hujson.dumps(data)
    # Comments at items that are not in the data (a stripped `name:` key, an expired
    # entry) are left out, and leave the layout alone.
    gone = {("acls", 0): Comment(lead=(" gone",)), ("groups", "group:x"): Comment(trail="x")}
    assert hujson.dumps(data, comments=gone) == hujson.dumps(data)


@settings(max_examples=examples(200))
@given(commented(), st.sampled_from(["", "// before the document\n", "/* a\n   block */\n"]))
def test_the_scan_finds_what_the_syntax_tree_holds(
        case: tuple[dict[str, Any], dict[PathKey, Comment]], lead: str) -> None:
    from reconciler.load.hujson._comments import _scan, exact_comments_of

    data, comments = case
    text = lead + hujson.dumps(data, comments=comments)
    assert _scan(text) == exact_comments_of(text)


def test_the_scan_agrees_on_hand_written_layouts() -> None:
    from reconciler.load.hujson._comments import _scan, exact_comments_of

    texts = [
        '// top\n{"a": 1, // x\n "b": [1, /* y */ 2\n // z\n], "c": {} // w\n // v\n}\n// end\n',
        '{ // on the brace line\n\t"a": /* between */ 1,\n\t"b": "x" /* before the comma */,\n}\n',
        '{"a": [\n\t// only a comment\n], "b": [[1, 2], // nested\n [3]]}\n',
        '{"k\\"ey": {"in": true, // t\n}}\n',
    ]
    for text in texts:
        assert _scan(text) == exact_comments_of(text), text

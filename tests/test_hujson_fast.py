"""The C-backed fast paths of `hujson.loads` / `load_with_sources` agree with the exact
parser: same data (types included), same locations, and, when the input is bad, the same
error (the fast path declines and the exact parser words it)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.core.source import Location, SourceMap
from reconciler.load import hujson
from reconciler.load.hujson import _fast
from tests.conftest import examples
from tests.test_hujson import DOCUMENT, JSON_DATA, MALFORMED


def _typed(value: Any) -> Any:
    """`value` with every scalar tagged by type, so 1, 1.0 and True differ."""
    if isinstance(value, dict):
        return ("dict", [(k, _typed(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", [_typed(v) for v in value])
    return (type(value).__name__, repr(value))


def _outcome(fn: Any, text: str | bytes, **kw: Any) -> Any:
    try:
        result = fn(text, **kw)
    except hujson.HuJSONError as e:
        return ("error", e.summary, e.detail, str(e.location), e.go_message, e.offset)
    if isinstance(result, tuple):
        data, sources = result
        return ("ok", _typed(data), {k: str(v) for k, v in sources.items()})
    return ("ok", _typed(result))


def assert_agree(text: str | bytes) -> None:
    assert _outcome(hujson.loads, text) == _outcome(hujson.exact_loads, text)
    assert _outcome(hujson.load_with_sources, text, file="f.hujson") == \
        _outcome(hujson.exact_load_with_sources, text, file="f.hujson")


# Pieces chosen to trip a regex-based stripper: comment markers, commas and closers
# inside strings, quotes inside comments, escapes, surrogates (paired and lone),
# duplicate names.
_TRICKY_STRING = st.sampled_from([
    '"//"', '"/*"', '"*/"', '",]"', '", }"', '"a\\"b"', '"\\\\"', '"\\\\\\""', '"\\/"',
    '"\\ud83d\\ude00"', '"\\ud800"', '"\\udc00"', '"\\ud800\\u0041"', '"\\\\ud800"',
    '"\\\\ud800\\udc00"', '"\\u0000"', '"é😀"', '"\\uD83D\\uDE00"', '"x\\ny"',
])
_TRICKY_GAP = st.sampled_from([
    "", " ", "\n", "/* \" */", "// \", ] }\n", "/* , */", "/**/ ", "//\n\t", "/* /* */",
])
_NAME = st.sampled_from(['"a"', '"b"', '"a"', '"\\u0061"', '"//"', '"c,"'])
_LEAF = _TRICKY_STRING | st.sampled_from(
    ["0", "-0", "1", "1.0", "1e5", "-2.5E-3", "true", "false", "null", "123456789012345678"])


def _arr(items: list[tuple[str, str]], trailing: bool, gap: str) -> str:
    body = ",".join(g + v for g, v in items)
    return "[" + body + ("," if trailing and items else "") + gap + "]"


def _obj(items: list[tuple[str, str, str]], trailing: bool, gap: str) -> str:
    body = ",".join(f"{g}{k}{g}:{v}" for g, k, v in items)
    return "{" + body + ("," if trailing and items else "") + gap + "}"


_TRICKY_DOC = st.builds(
    lambda a, v, b: a + v + b,
    _TRICKY_GAP,
    st.recursive(
        _LEAF,
        lambda inner: st.builds(_arr, st.lists(st.tuples(_TRICKY_GAP, inner), max_size=4),
                                st.booleans(), _TRICKY_GAP)
        | st.builds(_obj, st.lists(st.tuples(_TRICKY_GAP, _NAME, inner), max_size=4),
                    st.booleans(), _TRICKY_GAP),
        max_leaves=12,
    ),
    _TRICKY_GAP,
)


@st.composite
def tricky_documents(draw: st.DrawFn) -> str:
    return draw(_TRICKY_DOC)


@settings(max_examples=examples(400), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tricky_documents())
def test_fast_paths_agree_on_tricky_documents(text: str) -> None:
    assert_agree(text)
    assert_agree(text.encode("utf-8"))


@settings(max_examples=examples(200), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DOCUMENT)
def test_fast_paths_agree_on_generated_documents(text: str) -> None:
    assert_agree(text)


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(MALFORMED)
def test_fast_paths_agree_on_malformed_text(text: str) -> None:
    assert_agree(text)


@pytest.mark.parametrize("text", [
    '{"a": 1, "a": 2}',  # duplicate: the exact parser's error
    '{"a": 1, "\\u0061": 2}',
    '["\\ud800"]', '["\\udc00\\ud800"]', '["\\\\ud800\\udc00"]',
    "[1, 2,]", "[1, 2, /* c */ ]", '{"a": [1,], // c\n}',
    # A comma before a closer with no value before it is an error, not a trailing comma.
    "[,]", "{,}", "[1,,]", '{"a":,}', "[ ,\n]", "[1\n,]", "[1 /* c */ ,]",
    "// no newline at the end", "[1] // no newline", "/* never closed",
    '["unterminated', '["a\\"]', '["\\"]', "[1, /]", "[1 2]", "[01]", "[1.]", "[-]",
    "[NaN]", "[Infinity]", "[-Infinity]", "[truex]", "[nul]", "\ufeff[1]", "", " ",
    "[" * 200 + "]" * 200, "[" * 201 + "]" * 201, '{"a":' * 201 + "1" + "}" * 201,
    "[" + "9" * 5000 + "]", "[1e400]", '"\x01"', '["a\tb"]', "[1]\n\n", "\n[1,\n2,\n]",
])
def test_fast_paths_agree_on_edge_cases(text: str) -> None:
    assert_agree(text)


def test_lone_surrogate_in_str_input_goes_to_the_exact_parser() -> None:
    assert _fast.as_text('["\ud800"]') is None
    assert_agree('["\ud800"]')


def test_invalid_utf8_bytes_go_to_the_exact_parser() -> None:
    assert _fast.as_text(b'["\xff"]') is None
    assert_agree(b'["\xff"]')


def test_fast_paths_are_taken_for_formatted_policies() -> None:
    """Not only agreement: the fast path must actually run on ordinary policies."""
    policy = {"groups": {"group:a": ["x@example.com", "y@example.com"]},
              "acls": [{"action": "accept", "src": ["group:a"], "dst": ["*:443"]}],
              "hosts": {"net": "10.0.0.0/8"}}
    text = "// managed\n" + hujson.dumps(policy)
    ok, data = _fast.fast_loads(text, hujson.MAX_DEPTH)
    assert ok and data == policy
    ok, data, offsets = _fast.fast_load_with_offsets(text, "p.hujson", hujson.MAX_DEPTH)
    assert ok and data == policy and len(offsets) > 10
    assert_agree(text)
    assert_agree(json.dumps(policy, indent=1))


@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DOCUMENT)
def test_rebased_from_parser_spans_matches_the_generic_index(text: str) -> None:
    """`rebased` on a parsed map slices the parser's spans; it must give exactly what the
    prefix scan over a plain copy of the map gives, for every recorded path and more."""
    try:
        _, sources = hujson.load_with_sources(text, file="f")
    except hujson.HuJSONError:
        return
    plain = SourceMap(dict(sources.items()))
    prefixes = {p[:n] for p in sources for n in range(len(p) + 1)} | {("nope",), ("nope", 0)}
    for prefix in prefixes:
        moved = (*prefix[:-1], "moved") if prefix else ()
        for new in (prefix, moved):
            assert dict(sources.rebased(prefix, new).items()) == \
                dict(plain.rebased(prefix, new).items()), (prefix, new)


def test_source_map_reads_lazy_entries_as_locations() -> None:
    _, sources = hujson.load_with_sources('{\n  "a": [1,\n    "x"]\n}', file="f.json")
    assert sources[("a", 1)] == Location("f.json", 3, 5)
    assert sources.at(("a", 1, "deeper")) == Location("f.json", 3, 5)
    assert sources.key(("a",)) == Location("f.json", 2, 3)
    assert sources.get(("missing",)) is None
    merged = SourceMap()
    merged.update(sources.rebased(("a",), ("b",)))
    assert merged[("b", 0)] == Location("f.json", 2, 9)
    assert all(isinstance(v, Location) for v in merged.values())


# --- dumps: direct emission equals parse-and-format --------------------------------

_WORDS = st.sampled_from(["a", "group:eng", "tag:prod", "user@example.com", "é", "😀" * 3,
                          "x" * 30, "100.64.0.0/10", 'q"uo\\te', "tab\there", ""])
_POLICY_LIKE = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**20) | _WORDS
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=12) | st.dictionaries(_WORDS, inner, max_size=8),
    max_leaves=60,
)


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(JSON_DATA, _POLICY_LIKE))
def test_emit_matches_parse_and_format(data: Any) -> None:
    assert hujson.dumps(data) == hujson._exact_dumps(data)


@pytest.mark.parametrize("data", [
    {}, [], None, 1, "x", {"a": []}, {"a": {}}, [[]], [{}], {"a": [[]]},
    {"hosts": {f"h{i}": f"100.64.0.{i}" for i in range(12)}},
    {"k": ["y" * 20] * 3, "kk": ["y" * 20] * 4, "kkk": 1},
    ["x" * 74], ["x" * 75], ["x" * 76], {"a": "x" * 69}, {"a": "x" * 70},
    {"a": ["é" * 38]}, {"a": ["é" * 39]},
    [[[[{"deep": [1, 2, {"er": []}]}]]]],
])
def test_emit_matches_parse_and_format_on_edges(data: Any) -> None:
    assert hujson.dumps(data) == hujson._exact_dumps(data)
    assert hujson.format(hujson.dumps(data)) == hujson.dumps(data)


def test_dumps_errors_still_come_from_the_exact_path() -> None:
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    for bad, error in [({1: 2}, TypeError), ([float("nan")], ValueError), (["\ud800"], ValueError),
                       (cyclic, ValueError), ({"a": {1, 2}}, TypeError)]:
        with pytest.raises(error):
            hujson.dumps(bad)
    deep: Any = 1
    for _ in range(250):
        deep = [deep]
    with pytest.raises(hujson.HuJSONError):
        hujson.dumps(deep)


# --- deferred locations: the lazy map reads like the exact parser's map ---------------

# Policy-shaped documents: sections of entries holding lists and mappings, nested deep
# enough that most of it is deferred, written out in varied layouts (with comments and
# trailing commas via the tricky gaps).
_POLICY_DOC = st.builds(
    lambda data, indent: json.dumps(data, indent=indent),
    st.dictionaries(
        st.sampled_from(["acls", "groups", "tests", "hosts", "x"]),
        st.lists(st.dictionaries(st.sampled_from(["src", "dst", "a"]), _POLICY_LIKE,
                                 max_size=3), max_size=4)
        | st.dictionaries(st.sampled_from(["g:a", "g:b", "h"]), _POLICY_LIKE, max_size=3)
        | _POLICY_LIKE,
        max_size=4),
    st.sampled_from([None, 0, 1, "\t"]),
)


def _probe_paths(exact: SourceMap) -> set[Any]:
    """Every recorded path, each ancestor, and paths under and beside them."""
    paths: set[Any] = set()
    for path in exact:
        paths.update(path[:n] for n in range(len(path) + 1))
        paths.update({(*path, 0), (*path, "src"), (*path, "<key>"), (*path, 0, "x")})
    return paths | {("nope",), ("nope", 0, "x")}


def assert_lazy_reads_like_exact(text: str) -> None:
    try:
        _, exact = hujson.exact_load_with_sources(text, file="f")
    except hujson.HuJSONError:
        return
    ok, _, lazy = _fast.fast_load_with_offsets(text, "f", hujson.MAX_DEPTH)
    if not ok:
        return
    assert lazy is not None
    plain = SourceMap(dict(exact.items()))
    probes = sorted(_probe_paths(exact), key=repr)
    # On a fresh map every time (for up to ~100 paths): the first read of a deferred
    # part must be right too.
    for path in probes[::max(1, len(probes) // 100)]:
        _, fresh = hujson.load_with_sources(text, file="f")
        assert fresh.at(path) == plain.at(path), path
        assert fresh.key(path) == plain.key(path), path
        assert (path in fresh) == (path in plain), path
        assert fresh.get(path) == plain.get(path), path
    # And on one map read in any order, then as a whole.
    for path in reversed(probes):
        assert lazy.at(path) == plain.at(path), path
    assert dict(lazy.items()) == dict(plain.items())
    assert len(lazy) == len(plain)


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_POLICY_DOC)
def test_deferred_locations_read_like_the_exact_parser(text: str) -> None:
    assert_lazy_reads_like_exact(text)


@settings(max_examples=examples(80), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(DOCUMENT, tricky_documents()))
def test_deferred_locations_on_generated_documents(text: str) -> None:
    assert_lazy_reads_like_exact(text)


@pytest.mark.parametrize("text", [
    '{"a": {"b": {"<key>": 1}}}', '{"a": [{"\\u0062": [1]}]}',  # read eagerly
    '{"a": [[[1]]], // c\n "b": {"c": {"d": [1,]},},}', '[[[[1]]], {"k": {"j": []}}]',
    "1", '"s"', "[]", "{}", '{"a": [{}, [], {"b": []}]}',
])
def test_deferred_locations_on_edge_cases(text: str) -> None:
    assert_lazy_reads_like_exact(text)


def test_sections_and_entries_are_recorded_and_the_rest_deferred() -> None:
    text = '{"tests": [{"src": "a", "accept": ["b:1"]}], "hosts": {"h": "1.2.3.4"}}'
    _, sources = hujson.load_with_sources(text, file="f")
    assert sources._deferred.keys() == {("tests", 0)}
    assert sources.at(("tests", 0)) == Location("f", 1, 12)
    assert not sources._expanded
    assert sources.at(("tests", 0, "accept", 0)) == Location("f", 1, 36)


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_POLICY_DOC, st.data())
def test_renumbered_matches_rebasing_item_by_item(text: str, data: st.DataObject) -> None:
    try:
        doc, sources = hujson.load_with_sources(text, file="f")
    except hujson.HuJSONError:
        return
    plain = SourceMap(dict(sources.items()))
    lists = [p for p in sources
             if p and "<key>" not in p and isinstance(_get(doc, p), list)]
    if not lists:
        return
    prefix = data.draw(st.sampled_from(sorted(lists, key=repr)))
    size = len(_get(doc, prefix))
    kept = sorted(data.draw(st.sets(st.integers(0, size))))  # `size`: no such item
    start = data.draw(st.integers(0, 3))
    want = SourceMap()
    for k, old in enumerate(kept):
        want.update(plain.rebased((*prefix, old), (*prefix, start + k)))
    _, fresh = hujson.load_with_sources(text, file="f")
    assert dict(fresh.renumbered(prefix, kept, start).items()) == dict(want.items())


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        doc = doc[part]
    return doc


def test_update_lets_the_other_map_win_where_both_record() -> None:
    text = '{"a": [{"b": [1, 2]}]}'
    _, mine = hujson.load_with_sources(text, file="mine")
    _, theirs = hujson.load_with_sources(text, file="theirs")
    mine.update(theirs)  # both defer ("a", 0): theirs must win under it too
    assert mine.at(("a", 0, "b", 1)) == Location("theirs", 1, 18)
    _, mine = hujson.load_with_sources(text, file="mine")
    mine.set(("a", 0, "b", 1), Location("set", 9, 9))  # explicit beats deferred
    assert mine.at(("a", 0, "b", 1)) == Location("set", 9, 9)
    assert mine.at(("a", 0, "b", 0)) == Location("mine", 1, 15)


# Lists of mappings (rules, tests) take `_Emitter.items`' shortcut: entries whose values
# are literals and lists of literals, some too wide to stay inline, some with nothing
# nested (so the entry itself may be inline), odd names ("%", non-ASCII, empty).
_ENTRY_WORDS = st.sampled_from(["a", "tag:prod:443", "user1264@example.com:5432", "é" * 9,
                                "%s", "x" * 60, 'q"uote', "", "100.64.0.0/10:*"])
_ENTRY = st.dictionaries(
    st.sampled_from(["src", "dst", "accept", "%d", "é", "", "a-much-longer-name"]),
    _ENTRY_WORDS | st.integers(-5, 10**12) | st.none() | st.booleans()
    | st.lists(_ENTRY_WORDS | st.integers(0, 70000) | st.floats(allow_nan=False,
                                                                allow_infinity=False),
               max_size=6)
    | st.dictionaries(_ENTRY_WORDS, _ENTRY_WORDS, max_size=2),
    max_size=4)


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["acls", "tests"]), st.lists(_ENTRY, max_size=6),
                       max_size=2))
def test_emit_of_entry_lists_matches_parse_and_format(data: Any) -> None:
    assert hujson.dumps(data) == hujson._exact_dumps(data)


def test_emit_matches_parse_and_format_on_a_generated_tailnet() -> None:
    from benchmarks.generate import SCALES, generate

    policy = generate(SCALES["small"], 3)[0]
    assert hujson.dumps(policy) == hujson._exact_dumps(policy)


def test_a_leading_comment_block_is_blanked_without_a_full_pass() -> None:
    """The managed header of a live policy: only comments before the value."""
    from reconciler.load.hujson import _fast, exact_loads, loads

    body = '{\n\t"acls": [{"action": "accept", "src": ["10.0.0.0/8"], "dst": ["*:*"]}]\n}\n'
    for head in ("// a\n// b\n", "/* x */\n", "  \n// c\n\n", ""):
        text = head + body
        standard = _fast._standard(text)
        assert len(standard) == len(text)
        assert standard[len(head):] == body and not standard[:len(head)].strip()
        assert loads(text) == exact_loads(text)
    # A comment after the header, or a trailing comma, still takes the full pass.
    for text in ("// h\n" + body.replace('"acls"', '// in\n"acls"'),
                 "// h\n" + body.replace("]\n}", "],\n}")):
        assert loads(text) == exact_loads(text)
        assert "//" not in _fast._standard(text) and "],\n}" not in _fast._standard(text)

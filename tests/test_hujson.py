"""reconciler.load.hujson: Go hujson vectors byte for byte, round trips, positions, properties."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.core.errors import ReconcilerError
from reconciler.core.source import Location
from reconciler.load import hujson
from tests.conftest import CONFORMANCE_DIR, SPECS_DIR, examples

VECTORS = json.loads((SPECS_DIR / "hujson-format-vectors.json").read_text("utf-8"))
CONFORMANCE = sorted(CONFORMANCE_DIR.glob("*.json"))


def _cases(section: str) -> list[Any]:
    return [pytest.param(v, id=f"{section}:{v['name']}") for v in VECTORS[section]]


def _input(vector: dict[str, Any]) -> str | bytes:
    return bytes.fromhex(vector["in_hex"]) if "in_hex" in vector else vector["in"]


# --- the vectors ------------------------------------------------------------------


def test_vector_file_has_the_expected_sections() -> None:
    # Guards the parametrisations below against silently collecting nothing.
    counts = {k: len(VECTORS[k]) for k in
              ("format", "format_generated", "standardize", "minimize", "errors", "parse_errors")}
    assert counts == {"format": 39, "format_generated": 18, "standardize": 10,
                      "minimize": 10, "errors": 1, "parse_errors": 24}


@pytest.mark.parametrize("vector", _cases("format") + _cases("format_generated"))
def test_format_vector(vector: dict[str, Any]) -> None:
    assert hujson.format(vector["in"]) == vector["out"]
    assert hujson.format(vector["in"].encode()) == vector["out"].encode()
    if "sha256_of_out" in vector:
        assert hashlib.sha256(vector["out"].encode()).hexdigest() == vector["sha256_of_out"]


@pytest.mark.parametrize("vector", _cases("standardize"))
def test_standardize_vector(vector: dict[str, Any]) -> None:
    assert hujson.standardize(vector["in"]) == vector["out"]


@pytest.mark.parametrize("vector", _cases("minimize"))
def test_minimize_vector(vector: dict[str, Any]) -> None:
    assert hujson.minimize(vector["in"]) == vector["out"]


@pytest.mark.parametrize("vector", _cases("errors"))
def test_error_vector(vector: dict[str, Any]) -> None:
    for name in vector["functions"]:
        function = getattr(hujson, name.lower())
        with pytest.raises(hujson.HuJSONError):
            function(vector["in"])


@pytest.mark.parametrize("vector", _cases("parse_errors"))
def test_parse_error_vector(vector: dict[str, Any]) -> None:
    text = _input(vector)
    for function in (hujson.parse, hujson.format, hujson.standardize, hujson.minimize):
        with pytest.raises(hujson.HuJSONError) as caught:
            function(text)
        assert caught.value.go_message == vector["error"]
        assert "\n" not in caught.value.summary


ALL_INPUTS = [
    pytest.param(v["in"], id=f"{section}:{v['name']}")
    for section in ("format", "format_generated", "standardize", "minimize")
    for v in VECTORS[section]
]


@pytest.mark.parametrize("text", ALL_INPUTS)
def test_parse_packs_back_to_the_input(text: str) -> None:
    # Some upstream inputs repeat a name; Go's Parse accepts that, and so does this flag.
    tree = hujson.parse(text, allow_duplicate_names=True)
    assert str(tree) == text
    assert tree.pack() == text
    assert tree.pack_bytes() == text.encode()


@pytest.mark.parametrize("vector", _cases("format") + _cases("format_generated"))
def test_format_is_idempotent_on_vector_outputs(vector: dict[str, Any]) -> None:
    assert hujson.format(vector["out"]) == vector["out"]


# --- behaviour beyond the vectors ---------------------------------------------------


def test_standard_json_stays_standard() -> None:
    # Expanded composites in standard JSON input gain no trailing commas.
    out = hujson.format('{\n"a": [1, 2],\n"b": {\n"c": 1}}')
    assert out == '{\n\t"a": [1, 2],\n\t"b": {\n\t\t"c": 1\n\t}\n}\n'
    assert json.loads(out) == {"a": [1, 2], "b": {"c": 1}}


def test_hujson_gains_trailing_commas_and_aligns() -> None:
    # "a" and "bbb" align (the comment after a comma does not break the run);
    # "list" spans lines, so it is not aligned.
    text = '// head\n{\n"a": 1, // one\n"bbb": "x",\n"list": [1,\n2]}'
    assert hujson.format(text) == (
        '// head\n{\n\t"a":   1, // one\n\t"bbb": "x",\n\t"list": [\n\t\t1,\n\t\t2,\n\t],\n}\n'
    )


def test_inner_composite_expands_alone() -> None:
    # An inline parent is measured with its expanded child as a one-char first line.
    out = hujson.format('{"a": [\n1, 2], "b": {"c": "' + "x" * 90 + '"}}')
    assert out == '{"a": [\n\t1,\n\t2\n], "b": {\n\t"c": "' + "x" * 90 + '"\n}}\n'


def test_format_keeps_duplicate_names_as_go_does() -> None:
    # Go's Format does not look at names; only parse/loads reject duplicates.
    assert hujson.format('{"a":1,"a":2}') == '{"a": 1, "a": 2}\n'
    with pytest.raises(hujson.HuJSONError, match="duplicate name"):
        hujson.parse('{"a":1,"a":2}')
    assert str(hujson.parse('{"a":1,"a":2}', allow_duplicate_names=True)) == '{"a":1,"a":2}'


def test_loads_values_and_types() -> None:
    text = ('// c\n{"b": 1, "a": [1.0, 2e3, -0, 10, true, false, null,],'
            ' "s": "\\u00e9\\n\\ud83d\\ude02"}')
    data = hujson.loads(text)
    assert list(data) == ["b", "a", "s"]
    assert data["a"] == [1.0, 2000.0, 0, 10, True, False, None]
    assert [type(x) for x in data["a"][:4]] == [float, float, int, int]
    assert data["s"] == "é\n😂"


def test_loads_replaces_unpaired_surrogates_like_go() -> None:
    assert hujson.loads('["\\ud800", "\\udc00x", "\\ud83d\\u0041"]') == ["\ufffd", "\ufffdx",
                                                                           "\ufffdA"]


def test_standardize_keeps_offsets_and_gives_plain_json() -> None:
    text = '{\n  // comment 😊\n  "a": [1, 2,], /* b */\n  "c": {"d": null,},\n}\n'
    out = hujson.standardize(text)
    assert len(out.encode()) == len(text.encode())
    assert [i for i, c in enumerate(out.encode()) if c == 10] == \
        [i for i, c in enumerate(text.encode()) if c == 10]
    assert json.loads(out) == {"a": [1, 2], "c": {"d": None}}


# --- errors and their positions -----------------------------------------------------


@pytest.mark.parametrize(("text", "line", "col", "summary"), [
    ('{\n  "a": 1,\n  "a": 2\n}', 3, 3, 'duplicate name "a"'),
    ('{"x": {"k": 1, "\\u006b": 2}}', 1, 16, 'duplicate name "\\u006b"'),
    ('{\n  "a": "abc\n}', 2, 12, "invalid character '\\n' in string literal"),
    ('{\n\t"é": "\\q"\n}', 2, 9, "invalid character 'q' in string escape code"),
    ('["\\u12G4"]', 1, 7, "invalid character 'G' in \\u hexadecimal character escape"),
    ("[\n  1,\n  2,,\n]", 3, 5, "invalid character ',' at start of value"),
    ('{"a": 012}', 1, 7, "invalid literal: 012"),
    ('{"a": NaN}', 1, 7, "invalid literal: NaN"),
    ('{"a" 1}', 1, 6, "invalid character '1' after object name"),
    ('{"k": 1]', 1, 8, "invalid character ']' after object value (expecting ',' or '}')"),
    ("[1 2]", 1, 4, "invalid character '2' after array value (expecting ',' or ']')"),
    ("{1: 2}", 1, 2, "invalid character '1' at start of object name"),
    ("{} x", 1, 4, "invalid character 'x' after top-level value"),
    ('{\n  /* open', 2, 3,
     "parsing comment: unexpected EOF (a /* comment needs a closing */)"),
    ('{"a": 1} // no newline', 1, 10,
     "parsing comment: unexpected EOF (a // comment must end with a newline)"),
    ('{\n  "a": "never closed', 2, 8,
     "parsing string: unexpected EOF (the string is never closed)"),
    ('["é", ', 1, 7, "parsing value: unexpected EOF"),
    ("", 1, 1, "parsing value: unexpected EOF"),
])
def test_error_positions(text: str, line: int, col: int, summary: str) -> None:
    with pytest.raises(hujson.HuJSONError) as caught:
        hujson.loads(text, file="policy.hujson")
    error = caught.value
    assert isinstance(error, ReconcilerError)
    assert error.location == Location("policy.hujson", line, col)
    assert error.summary == summary
    assert str(error) == f"policy.hujson:{line}:{col}: {summary}"


def test_duplicate_name_detail_points_at_the_first() -> None:
    with pytest.raises(hujson.HuJSONError) as caught:
        hujson.loads('{\n  "a": 1,\n  "a": 2\n}')
    assert caught.value.detail == 'the first "a" is at line 2, column 3'


def test_go_message_counts_bytes_location_counts_characters() -> None:
    with pytest.raises(hujson.HuJSONError) as caught:
        hujson.loads('["éé" x]', file="f")
    assert caught.value.location == Location("f", 1, 7)
    assert caught.value.go_message == (
        "hujson: line 1, column 9: invalid character 'x' after array value (expecting ',' or ']')"
    )


def test_nesting_deeper_than_the_limit_is_an_error_not_a_crash() -> None:
    ok = "[" * hujson.MAX_DEPTH + "]" * hujson.MAX_DEPTH
    formatted = hujson.format(ok)
    assert hujson.format(formatted) == formatted
    assert hujson.loads(formatted) == hujson.loads(ok)
    with pytest.raises(hujson.HuJSONError, match="exceeded max depth"):
        hujson.loads("[" * (hujson.MAX_DEPTH + 1) + "]" * (hujson.MAX_DEPTH + 1))


def test_number_longer_than_python_int_limit_is_a_hujson_error() -> None:
    with pytest.raises(hujson.HuJSONError, match="number too long"):
        hujson.loads("1" * 5000)


# --- sources ------------------------------------------------------------------------


def test_load_with_sources_records_every_value_and_key() -> None:
    text = (
        "// policy\n"
        "{\n"
        '\t"groups": {\n'
        '\t\t"group:é": ["a@x", "b@x"],\n'
        "\t},\n"
        '\t"acls": [\n'
        '\t\t{"action": "accept", "src": ["*"]},\n'
        "\t],\n"
        "}\n"
    )
    data, sources = hujson.load_with_sources(text, file="p.hujson")
    assert data == {"groups": {"group:é": ["a@x", "b@x"]},
                    "acls": [{"action": "accept", "src": ["*"]}]}

    def at(line: int, col: int) -> Location:
        return Location("p.hujson", line, col)

    assert dict(sources) == {
        (): at(2, 1),
        ("groups", "<key>"): at(3, 2),
        ("groups",): at(3, 12),
        ("groups", "group:é", "<key>"): at(4, 3),
        ("groups", "group:é"): at(4, 14),
        ("groups", "group:é", 0): at(4, 15),
        ("groups", "group:é", 1): at(4, 22),
        ("acls", "<key>"): at(6, 2),
        ("acls",): at(6, 10),
        ("acls", 0): at(7, 3),
        ("acls", 0, "action", "<key>"): at(7, 4),
        ("acls", 0, "action"): at(7, 14),
        ("acls", 0, "src", "<key>"): at(7, 24),
        ("acls", 0, "src"): at(7, 31),
        ("acls", 0, "src", 0): at(7, 32),
    }
    assert sources.key(("acls", 0, "src")) == at(7, 24)


# --- dumps --------------------------------------------------------------------------


def test_dumps_layout() -> None:
    data = {"acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}],
            "groups": {"group:eng": ["a@example.com"]}, "hosts": {}, "n": 1.5}
    assert hujson.dumps(data) == (
        "{\n"
        '\t"acls": [\n'
        "\t\t{\n"
        '\t\t\t"action": "accept",\n'
        '\t\t\t"src":    ["*"],\n'
        '\t\t\t"dst":    ["*:*"],\n'
        "\t\t},\n"
        "\t],\n"
        '\t"groups": {\n'
        '\t\t"group:eng": ["a@example.com"],\n'
        "\t},\n"
        '\t"hosts": {},\n'
        '\t"n":     1.5,\n'
        "}\n"
    )
    assert hujson.dumps(data, indent="  ").startswith('{\n  "acls": [\n    {\n      "action"')
    assert hujson.dumps([]) == "[]\n"
    assert hujson.dumps("a\"\\\n\x01") == '"a\\"\\\\\\n\\u0001"\n'


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), {1: 2}, {"a": object()}, "\ud800"])
def test_dumps_rejects_what_json_cannot_hold(bad: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        hujson.dumps(bad)


JSON_DATA = st.recursive(
    st.none() | st.booleans() | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=25,
)


@settings(max_examples=examples(150), deadline=None)
@given(JSON_DATA)
def test_dumps_is_canonical_and_loads_back(data: Any) -> None:
    text = hujson.dumps(data)
    assert hujson.format(text) == text
    assert hujson.loads(text) == data


# --- generated HuJSON documents -----------------------------------------------------

EXTRA = st.lists(st.sampled_from([
    " ", "\t", "\n", "\r\n", "\r", "\n\n\n", "// c \n", "//\u00a0x\u00a0\n", "/* b */", "/**/",
    "/*\n * star\n */", "/*\n\tfoo\n\n  bar\n*/", "//😊\n",
]), max_size=3).map("".join)
SCALAR = (
    st.sampled_from(["null", "true", "false", "0", "-1", "1.5e3", "12345678901234567890"])
    | st.integers().map(str)
    | st.floats(allow_nan=False, allow_infinity=False).map(repr)
    | st.text(max_size=30).flatmap(
        lambda s: st.sampled_from([json.dumps(s), json.dumps(s, ensure_ascii=False)]))
)


def _array(items: list[tuple[str, str, str]], trailing: bool, closing: str) -> str:
    body = ",".join(b + v + a for b, v, a in items)
    return "[" + body + ("," if trailing and items else "") + closing + "]"


def _object(items: list[tuple[str, str, str, str, str]], trailing: bool, closing: str) -> str:
    body = ",".join(f"{b1}{json.dumps(k)}{a1}:{b2}{v}{a2}" for b1, k, a1, b2, v, a2 in items)
    return "{" + body + ("," if trailing and items else "") + closing + "}"


_DOCUMENT = st.builds(
    lambda b, v, a: b + v + a,
    EXTRA,
    st.recursive(
        SCALAR,
        lambda inner: st.builds(
            _array, st.lists(st.tuples(EXTRA, inner, EXTRA), max_size=4), st.booleans(), EXTRA)
        | st.builds(
            _object,
            st.lists(st.tuples(EXTRA, st.text(max_size=12), EXTRA, EXTRA, inner, EXTRA),
                     max_size=4, unique_by=lambda t: t[1]),
            st.booleans(), EXTRA),
        max_leaves=20,
    ),
    EXTRA,
)


@st.composite
def documents(draw: st.DrawFn) -> str:
    # A named wrapper: hypothesis would otherwise build a 30 kB repr of the strategy.
    return draw(_DOCUMENT)


DOCUMENT = documents()


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DOCUMENT)
def test_generated_documents(text: str) -> None:
    tree = hujson.parse(text)
    assert str(tree) == text
    formatted = hujson.format(text)
    assert hujson.format(formatted) == formatted
    assert hujson.loads(formatted) == hujson.loads(text)
    standard = hujson.standardize(text)
    assert len(standard.encode()) == len(text.encode())
    assert json.loads(standard) == hujson.loads(text)
    assert json.loads(hujson.minimize(text)) == hujson.loads(text)


_MALFORMED = st.one_of(
    st.text(alphabet='{}[]:,"\\/*\n\r\t -+.0123456789eEtrufalsnx\x00é😊', max_size=40),
    st.text(max_size=30),
    st.tuples(DOCUMENT, st.integers(0, 200), st.integers(0, 3),
              st.sampled_from(["", "{", "}", "[", "]", ",", ":", '"', "\\", "/", "*", "\n", "x"]))
    .map(lambda t: t[0][:t[1]] + t[3] + t[0][t[1] + t[2]:]),
)


@st.composite
def malformed(draw: st.DrawFn) -> str:
    return draw(_MALFORMED)


MALFORMED = malformed()


@settings(max_examples=examples(400), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(MALFORMED)
def test_malformed_text_only_ever_raises_hujson_error(text: str) -> None:
    for function in (hujson.loads, hujson.format, hujson.standardize):
        try:
            function(text)
        except hujson.HuJSONError as e:
            assert e.location is not None
            assert e.location.line >= 1 and e.location.col >= 1
            assert "\n" not in e.summary


# --- conformance policies -----------------------------------------------------------


def test_loads_agrees_with_json_on_every_conformance_policy() -> None:
    checked = 0
    for path in CONFORMANCE:
        for record in json.loads(path.read_text("utf-8"))["records"]:
            text = json.dumps(record["policy"], indent=2, ensure_ascii=False)
            assert hujson.loads(text) == json.loads(text), record["id"]
            checked += 1
    assert checked == 702

"""normalize's fast paths against the plain ones, on random documents: entries shared
with another document (`like`), simple entries, the fingerprint taken from the entries'
texts, and the part-by-part resource diff."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.diff.normalize import (
    Normalized,
    Resources,
    _simple_entry,
    canonical_json,
    fingerprint,
    normalize_entry,
    recover_names,
)
from reconciler.diff.resources import _diff, diff_resources
from tests.conftest import examples

SECTIONS = ["acls", "grants", "ssh", "tests", "nodeAttrs"]
KEYS = ["src", "dst", "users", "ports", "accept", "action", "proto", "ip", "x"]
strings = st.sampled_from(["a", " a", "b ", "tag:t", "Accept", "TCP", "*"])
scalars = st.one_of(strings, st.sampled_from([1, 1.0, True, 0, False, None]))
values = st.one_of(strings, scalars, st.lists(strings, max_size=3),
                   st.lists(scalars, max_size=2),
                   st.dictionaries(strings, st.lists(strings, max_size=2), max_size=2))
entries = st.one_of(st.dictionaries(st.sampled_from(KEYS), values, max_size=4),
                    st.dictionaries(st.sampled_from(KEYS), st.lists(strings, max_size=3),
                                    max_size=3),
                    strings)


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    doc: dict[str, Any] = {s: draw(st.lists(entries, max_size=6))
                           for s in draw(st.lists(st.sampled_from(SECTIONS), unique=True))}
    if draw(st.booleans()):
        doc["groups"] = {"group:g": draw(st.lists(strings, max_size=3))}
    return doc


@st.composite
def edited(draw: st.DrawFn, doc: dict[str, Any]) -> dict[str, Any]:
    """`doc` with a few edits: entries replaced, inserted, removed, keys reordered,
    values swapped for equal ones of another type (1, 1.0, True)."""
    out = copy.deepcopy(doc)
    for items in out.values():
        if not isinstance(items, list):
            continue
        for _ in range(draw(st.integers(0, 3))):
            kind = draw(st.sampled_from(["replace", "insert", "remove", "reorder", "retype"]))
            i = draw(st.integers(0, max(len(items) - 1, 0)))
            if kind == "insert" or not items:
                items.insert(i, draw(entries))
            elif kind == "replace":
                items[i] = draw(entries)
            elif kind == "remove":
                del items[i]
            elif kind == "reorder" and isinstance(items[i], dict):
                items[i] = dict(reversed(list(items[i].items())))
            elif kind == "retype" and isinstance(items[i], dict):
                items[i] = {k: _retyped(v) for k, v in items[i].items()}
    return out


def _retyped(value: Any) -> Any:
    """An equal value of another type: True -> 1 -> 1.0 -> True."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return float(value)
    if isinstance(value, float) and value in (0.0, 1.0):
        return bool(value)
    return value


names_st = st.dictionaries(st.tuples(st.sampled_from(SECTIONS), st.integers(0, 5)),
                           st.sampled_from(["n1", "n2", "n3"]), max_size=3)


def _seen(doc: Normalized) -> list[Any]:
    """Everything a plan can see of the entries, types and key order included."""
    return [(s, repr(doc.entries[s]), doc.hashes(s)) for s in doc.entries]


@settings(max_examples=examples(300), deadline=None)
@given(entries, st.sampled_from(SECTIONS))
def test_simple_entries_normalise_as_any_other(entry: Any, section: str) -> None:
    fast = _simple_entry(section, copy.deepcopy(entry))
    if fast is not None:
        assert repr(fast) == repr(normalize_entry(section, copy.deepcopy(entry)))


@settings(max_examples=examples(300), deadline=None)
@given(st.data(), documents())
def test_shared_documents_normalise_as_alone(data: st.DataObject, doc: dict[str, Any]) -> None:
    other = data.draw(edited(doc))
    base = Normalized(doc)
    shared, alone = Normalized(other, like=base), Normalized(other)
    assert _seen(shared) == _seen(alone)
    assert repr(shared.essence) == repr(alone.essence)
    for d in (base, shared, alone):
        assert d.fingerprint == fingerprint(d.essence)
        assert d.fingerprint == fingerprint(Normalized(d.policy).essence)


@settings(max_examples=examples(300), deadline=None)
@given(st.data(), documents(), names_st, names_st)
def test_part_by_part_diff_is_the_whole_diff(data: st.DataObject, doc: dict[str, Any],
                                             names: Any, other_names: Any) -> None:
    other = data.draw(edited(doc))
    if data.draw(st.booleans()):
        other_names = names
    a = Normalized(doc)
    b = Normalized(other, like=a)
    ra, rb = Resources(a, names), Resources(b, other_names)
    plain_a = Resources(Normalized(doc), names).all()
    plain_b = Resources(Normalized(other), other_names).all()
    assert repr(ra.all()) == repr(plain_a) and repr(rb.all()) == repr(plain_b)
    assert repr(diff_resources(ra, rb)) == repr(_diff(plain_a, plain_b, None))
    for addr in {*plain_a, *plain_b, 'acls["x"]', "ssh[*]"}:
        assert (addr in rb) == (addr in plain_b)
        if addr in plain_b:
            assert rb[addr] == plain_b[addr]
    lnames = recover_names(b, [(a, names)])
    assert lnames == recover_names(Normalized(other), [(Normalized(doc), names)])


@settings(max_examples=examples(300), deadline=None)
@given(st.data(), documents(), names_st, names_st)
def test_diff_of_unread_documents_is_the_whole_diff(data: st.DataObject, doc: dict[str, Any],
                                                    names: Any, other_names: Any) -> None:
    """The diff first, on documents nothing has normalised yet (as `diff BASE HEAD`
    runs it): sections written alike are skipped unread, the rest diffed as a whole."""
    other = data.draw(edited(doc))
    if data.draw(st.booleans()):
        other_names = names
    b = Normalized(other)
    a = Normalized(doc, like=b) if data.draw(st.booleans()) else Normalized(doc)
    plain_a = Resources(Normalized(doc), names).all()
    plain_b = Resources(Normalized(other), other_names).all()
    changes = diff_resources(Resources(a, names), Resources(b, other_names))
    assert repr(changes) == repr(_diff(plain_a, plain_b, None))


def test_sections_written_alike_are_not_normalised_for_a_diff() -> None:
    """A section the same JSON in both documents is skipped without normalising it; one
    only equal (1 == 1.0 == True) is normalised, and its change shown."""
    tests = [{"src": "a@x.com", "accept": ["b@x.com:22"]} for _ in range(3)]
    acls = [{"action": "accept", "src": ["a@x.com"], "dst": ["b@x.com:22"], "x": 1}]
    before = {"tests": copy.deepcopy(tests), "acls": acls}
    after = {"tests": copy.deepcopy(tests),
             "acls": [{**acls[0], "x": 1.0}]}  # equal in Python, not in JSON
    new = Normalized(after)
    old = Normalized(before)
    changes = diff_resources(Resources(old), Resources(new))
    assert new.sections.done("tests") is None and old.sections.done("tests") is None
    assert new.sections.done("acls") is not None
    assert [c.section for c in changes] == ["acls", "acls"]  # 1 and 1.0 hash apart
    assert repr(changes) == repr(_diff(Resources(Normalized(before)).all(),
                                       Resources(Normalized(after)).all(), None))


def test_fingerprint_text_is_the_canonical_json_of_the_essence() -> None:
    doc = {"acls": [], "grants": [{"src": ["b", "a"], "dst": ["*"], "ip": ["*"]}],
           "tests": [{"src": "x", "accept": ["y:1"]}, {"src": "a"}], "ssh": [],
           "é": {"k": [2, 1]}, "groups": {}, "randomizeClientPort": True}
    assert Normalized(doc).fingerprint == fingerprint(Normalized(doc).essence)
    assert canonical_json(Normalized(doc).essence).startswith('{"grants":[')

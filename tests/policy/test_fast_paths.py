"""The validator's fast paths report exactly what the generic, uncached checks report.

`shapes` lets common well-formed values skip the generic walk through quick type tests;
`acls`, `grants` and `tests_shape` work out what is wrong with a string once per run and
report it at every place the string is used. Each test here compares the fast answer
with the slow one, locations included, on hypothesis-generated documents.
"""

from __future__ import annotations

import ast
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.core.problems import Problem
from reconciler.core.source import Location, PathKey, SourceMap
from reconciler.validate import shapes
from reconciler.validate.context import Context
from reconciler.validate.schema import ENTRY_TYPES
from reconciler.validate.validate import validate_policy
from tests.conftest import examples

from .helpers import policy
from .strategies import (
    ACL_ENTRIES,
    DOCS,
    GRANT_ENTRIES,
    SCALARS,
    TEST_ENTRIES,
    VALUES,
    WORDS,
    repeating,
)

DOMAINS = {"example.com"}
HYPOTHESIS = settings(
    max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


class PathRecorder(SourceMap):
    """Answers every lookup with a Location that names the path asked for."""

    def at(self, path: PathKey) -> Location | None:
        return Location(repr(path), 0, 0)

    def key(self, path: PathKey) -> Location | None:
        return Location(repr(path), 0, 1)


def _path(problem: Problem) -> PathKey:
    assert problem.location is not None
    return tuple(ast.literal_eval(problem.location.file))


def _validate(doc: Any) -> list[Problem]:
    return validate_policy(doc, PathRecorder(), tailnet_domains=DOMAINS)


# ------------------------------------------------------------------------------ shapes

_FIELDS = [(entry_type, name) for entry_type, fields in ENTRY_TYPES.items() for name in fields]
# Values that sit on the edges of the quick tests: nulls inside lists, bools for numbers.
_EDGE_VALUES: list[Any] = [
        None,
        [None],
        ["a", None],
        [{}],
        [{}, None],
        [[]],
        {"k": None},
        {"k": [None]},
        {"k": ["a", None]},
        {"k": [{}, None]},
        {"k": [{}]},
        {"k": "a"},
        {"k": 1},
        True,
        1,
        1.5,
        "a",
        ["a", 1],
        ["a", True],
]
_EDGES = st.sampled_from(_EDGE_VALUES)


def _quick_clears_only_what_the_walk_accepts(entry_type: str, name: str, value: Any) -> None:
    quick = shapes._QUICK[entry_type].get(name)
    if quick is not None and quick(value):
        ctx = Context({})
        shapes.check_value(ctx, ("x", 0, name), value, ENTRY_TYPES[entry_type][name])
        assert ctx.problems == [], (entry_type, name, value)


def test_quick_tests_clear_no_edge_value_the_walk_rejects() -> None:
    for entry_type, name in _FIELDS:
        for value in _EDGE_VALUES:
            _quick_clears_only_what_the_walk_accepts(entry_type, name, value)


@HYPOTHESIS
@given(st.sampled_from(_FIELDS), VALUES)
def test_quick_tests_clear_only_what_the_walk_accepts(field: tuple[str, str], value: Any) -> None:
    _quick_clears_only_what_the_walk_accepts(*field, value)


@pytest.mark.parametrize(
    ("entry_type", "name", "value"),
    [
        ("test", "src", "alice@example.com"),
        ("test", "accept", ["tag:web:22", "db1:443"]),
        ("test", "srcPostureAttrs", {"node:os": "linux"}),
        ("acl", "dst", ["tag:web:22", "db1:*"]),
        ("grant", "dst", []),
        ("grant", "app", {"example.com/cap/x": [{}]}),
        ("derpRegion", "RegionID", 900),
        ("derpRegion", "Latitude", 1),
        ("autoApprovers", "routes", {"10.0.0.0/8": ["tag:web"]}),
    ],
)
def test_quick_tests_clear_well_formed_values(entry_type: str, name: str, value: Any) -> None:
    assert shapes._QUICK[entry_type][name](value)


def _without_quick_tests() -> Any:
    return mock.patch.dict(shapes._QUICK, {entry_type: {} for entry_type in shapes._QUICK})


@HYPOTHESIS
@given(DOCS)
def test_shapes_fast_path_matches_the_generic_walk(doc: dict[str, Any]) -> None:
    fast = _validate(doc)
    with _without_quick_tests():
        assert _validate(doc) == fast


_SECTIONS_WITH_EDGES = st.dictionaries(
    st.sampled_from(["tests", "acls", "grants", "ssh", "nodeAttrs", "sshTests"]),
    st.lists(
        st.dictionaries(
            st.sampled_from(sorted({n for fields in ENTRY_TYPES.values() for n in fields})),
            st.one_of(_EDGES, SCALARS, st.lists(st.one_of(WORDS, _EDGES), max_size=3)),
            max_size=4,
        ),
        max_size=3,
    ),
)


@HYPOTHESIS
@given(_SECTIONS_WITH_EDGES)
def test_shapes_fast_path_matches_on_edge_values(doc: dict[str, Any]) -> None:
    fast = _validate(doc)
    with _without_quick_tests():
        assert _validate(doc) == fast


# ------------------------------------------------------------------ per-string memos


def _alone(section: str, entries: list[Any], i: int) -> list[Problem]:
    """The problems of entries[i] validated on its own, at the same index (None entries
    before it are reported as null, at their own index, and skipped by every other
    check), so no memo is shared with the others."""
    return [p for p in _validate(policy(**{section: [None] * i + [entries[i]]}))
            if _path(p)[1] == i]


def _check_per_entry(section: str, entries: list[Any]) -> None:
    problems = _validate(policy(**{section: entries}))
    for p in problems:
        assert _path(p)[:1] == (section,) and isinstance(_path(p)[1], int), p
    for i in range(len(entries)):
        mine = [p for p in problems if _path(p)[1] == i]
        assert mine == _alone(section, entries, i)


@HYPOTHESIS
@given(repeating(TEST_ENTRIES))
def test_test_entries_report_the_same_wherever_they_repeat(entries: list[Any]) -> None:
    _check_per_entry("tests", entries)


@HYPOTHESIS
@given(repeating(ACL_ENTRIES))
def test_acl_entries_report_the_same_wherever_they_repeat(entries: list[Any]) -> None:
    _check_per_entry("acls", entries)


@HYPOTHESIS
@given(repeating(GRANT_ENTRIES))
def test_grant_entries_report_the_same_wherever_they_repeat(entries: list[Any]) -> None:
    _check_per_entry("grants", entries)


def test_a_repeated_faulty_destination_is_reported_at_each_use() -> None:
    entry = {"src": "alice@example.com", "accept": ["tag:nope:22", "tag:web:22", "tag:nope:22"]}
    problems = _validate(policy(tests=[entry, entry]))
    assert [(p.message, _path(p)) for p in problems] == [
        ('tests[0]: "tag:nope:22": tag not found: "tag:nope"', ("tests", 0, "accept", 0)),
        ('tests[0]: "tag:nope:22": tag not found: "tag:nope"', ("tests", 0, "accept", 2)),
        ('tests[1]: "tag:nope:22": tag not found: "tag:nope"', ("tests", 1, "accept", 0)),
        ('tests[1]: "tag:nope:22": tag not found: "tag:nope"', ("tests", 1, "accept", 2)),
    ]

"""Property: merging fragments whose locations are deferred (the fast parser) gives the
same merged data, metadata and locations as merging fully recorded ones (the exact
parser), entry renumbering, dropped expired entries and group members included."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.core.source import SourceMap
from reconciler.load import hujson
from reconciler.load.desired import Fragment, merge_fragments
from tests.conftest import examples

NOW = datetime(2026, 11, 23, tzinfo=timezone.utc)
WORDS = st.sampled_from(["tag:a", "group:b", "c@example.com", "*:443", "10.0.0.0/8"])
EXPIRES = st.sampled_from(["2020-01-01", "2999-01-01", "not a date"])
ENTRY = st.fixed_dictionaries(
    {"src": st.lists(WORDS, max_size=3)},
    optional={"dst": st.lists(WORDS, max_size=3), "name": st.sampled_from(["r1", "r2", ""]),
              "expires": EXPIRES, "accept": st.lists(WORDS, max_size=2)})
MEMBER = WORDS | st.fixed_dictionaries({"user": WORDS}, optional={"expires": EXPIRES})
FRAGMENT = st.fixed_dictionaries({}, optional={
    "acls": st.lists(ENTRY, max_size=4),
    "tests": st.lists(ENTRY, max_size=4),
    "groups": st.dictionaries(st.sampled_from(["group:x", "group:y"]),
                              st.lists(MEMBER, max_size=4), max_size=2),
    "hosts": st.dictionaries(st.sampled_from(["h1", "h2"]), WORDS, max_size=2),
    "derpMap": st.fixed_dictionaries({"Regions": st.dictionaries(
        st.sampled_from(["900", "901"]), st.fixed_dictionaries({"x": st.lists(WORDS)}))}),
})


def _merged(texts: list[str], load: Any) -> tuple[Any, ...]:
    fragments = []
    for i, text in enumerate(texts):
        data, sources = load(text, file=f"f{i}.json")
        fragments.append(Fragment(f"f{i}.json", data, sources))
    problems: list[Any] = []
    desired = merge_fragments(fragments, now=NOW, problems=problems)
    return (desired.policy, desired.devices, desired.meta, desired.member_meta,
            [str(p) for p in problems], desired.sources)


@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(FRAGMENT, min_size=1, max_size=3), st.sampled_from([None, 1, "\t"]))
def test_merging_deferred_locations_matches_merging_recorded_ones(
        fragments: list[dict[str, Any]], indent: Any) -> None:
    texts = [json.dumps(f, indent=indent) for f in fragments]
    *lazy, lazy_sources = _merged(texts, hujson.load_with_sources)
    *exact, exact_sources = _merged(texts, hujson.exact_load_with_sources)
    assert lazy == exact
    plain = SourceMap(dict(exact_sources.items()))
    for path in [*plain, ("tests", 0, "src", 0, "x"), ("groups", "group:x", 9)]:
        assert lazy_sources.at(path) == plain.at(path), path
        assert lazy_sources.key(path) == plain.key(path), path
    assert dict(lazy_sources.items()) == dict(plain.items())

"""Validating with `checked=`: the entries of a policy written alike to those of one in
which nothing was found are not checked again (`diff BASE HEAD` validates two revisions
sharing nearly every entry); what is found must not change."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.validate.validate import validate_policy
from tests.conftest import examples

from .helpers import policy
from .strategies import ACL_ENTRIES, GRANT_ENTRIES, TEST_ENTRIES


def _alone(section: str, entry: Any) -> bool:
    """Whether `entry` checks clean in BASE on its own."""
    return not validate_policy(policy(**{section: [entry]}))


# Mostly well-formed entries naming what BASE defines (tag:web, group:eng, db1), so that
# the clean policies drawn hold several; the fuzzing strategies' entries add faulty ones.
_NAMES = st.sampled_from(["group:eng", "tag:web", "tag:db", "alice@example.com", "*", "db1"])
_CLEAN = {
    "acls": st.fixed_dictionaries({
        "action": st.just("accept"), "src": st.lists(_NAMES, min_size=1, max_size=2),
        "dst": st.lists(st.sampled_from(["tag:web:22", "tag:db:443", "db1:80", "*:*"]),
                        min_size=1, max_size=2)}),
    "grants": st.fixed_dictionaries({
        "src": st.lists(_NAMES, min_size=1, max_size=2),
        "dst": st.lists(st.sampled_from(["tag:web", "tag:db", "db1", "*"]), min_size=1,
                        max_size=2),
        "ip": st.lists(st.sampled_from(["22", "tcp:443", "*"]), min_size=1, max_size=2)}),
    "tests": st.fixed_dictionaries({
        "src": st.sampled_from(["alice@example.com", "tag:web", "group:eng"]),
        "accept": st.lists(st.sampled_from(["tag:web:22", "db1:80", "tag:db:5432"]),
                           min_size=1, max_size=2)}),
}
_SECTION_ENTRIES = {"acls": ACL_ENTRIES, "grants": GRANT_ENTRIES, "tests": TEST_ENTRIES}


@settings(max_examples=examples(150), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(st.data())
def test_checked_entries_are_skipped_only_where_they_would_check_clean(
        data: st.DataObject) -> None:
    """Validating with `checked` (a policy in which nothing was found) finds exactly
    what validating alone finds: entries written alike are skipped, any other entry
    (new, faulty, retyped: 22 for "22", 1.0 for 1) is checked, and nothing is skipped
    when a definition differs."""
    sections = {s: [e for e in data.draw(st.lists(st.one_of(_CLEAN[s], entries), max_size=5))
                    if _alone(s, e)]
                for s, entries in _SECTION_ENTRIES.items()}
    checked = policy(**sections)
    assert not validate_policy(checked)
    mine = {s: list(v) for s, v in sections.items()}
    for section, entries in _SECTION_ENTRIES.items():
        for _ in range(data.draw(st.integers(0, 2))):
            mine[section].insert(data.draw(st.integers(0, len(mine[section]))),
                                 data.draw(entries))
        if mine[section] and data.draw(st.booleans()):
            i = data.draw(st.integers(0, len(mine[section]) - 1))
            mine[section][i] = {k: _retyped(v) for k, v in mine[section][i].items()}
    doc = policy(**mine)
    if data.draw(st.booleans()):
        doc["groups"] = {**doc["groups"], "group:eng": []}  # a definition differs
    if data.draw(st.booleans()):
        del doc["tagOwners"]["tag:web"]
    alone = [(p.message, p.code, p.severity) for p in validate_policy(doc)]
    assert [(p.message, p.code, p.severity)
            for p in validate_policy(doc, checked=checked)] == alone


def _retyped(value: Any) -> Any:
    """An equal value a check may tell apart: a number for a digit string, 1.0 for 1."""
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return float(value)
    if isinstance(value, list):
        return [_retyped(v) for v in value]
    return value


def test_clean_entries_are_those_written_alike() -> None:
    from reconciler.validate.validate import clean_entries

    grant = {"src": ["group:eng"], "dst": ["tag:web"], "ip": ["22"]}
    acl = {"action": "accept", "src": ["*"], "dst": ["tag:web:22"], "proto": "tcp"}
    checked = policy(grants=[grant], acls=[acl])
    doc = policy(grants=[{"ip": ["22"], **grant}, grant, {**grant, "ip": ["23"]}],
                 acls=[acl, {**acl, "proto": 6}])
    assert clean_entries(doc, checked) == {"grants": frozenset({1}), "acls": frozenset({0})}
    assert clean_entries({**doc, "hosts": {}}, checked) == {}
    app = {**grant, "app": {"example.com/cap/x": [{"n": 1}]}}
    retyped = {**grant, "app": {"example.com/cap/x": [{"n": True}]}}  # == app, not alike
    assert clean_entries(policy(grants=[retyped, app]), policy(grants=[app])) == \
        {"grants": frozenset({1})}
    assert clean_entries(checked, checked) == {"grants": frozenset({0}),
                                               "acls": frozenset({0})}

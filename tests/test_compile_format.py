"""`compile.to_hujson` returns text already in `hujson.format`'s canonical form (it no
longer formats the whole document a second time, so this fixed point is what keeps the
bytes identical to what Go's hujson.Format would write)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.load import hujson
from reconciler.load.document import canonical, read_header, to_hujson
from tests.conftest import CONFORMANCE_DIR, examples
from tests.test_hujson import JSON_DATA

CONFORMANCE = sorted(CONFORMANCE_DIR.glob("*.json"))


def _fixed_point(policy: dict[str, Any], commit: str | None, dirty: bool) -> None:
    text = to_hujson(policy, commit=commit, dirty=dirty)
    assert hujson.format(text) == text
    assert hujson.loads(text) == canonical(policy)
    header = read_header(text)
    assert header is not None and header.commit == commit and header.dirty == dirty


@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["groups", "acls", "tests", "hosts", "zzz", "x y"])
                       | st.text(max_size=8), JSON_DATA, max_size=6),
       st.sampled_from([None, "0123456789abcdef0123456789abcdef01234567"]), st.booleans())
def test_to_hujson_is_a_fixed_point_of_format(policy: dict[str, Any], commit: str | None,
                                              dirty: bool) -> None:
    _fixed_point(policy, commit, dirty)


def test_to_hujson_is_a_fixed_point_of_format_on_conformance_policies() -> None:
    checked = 0
    for path in CONFORMANCE[:40]:
        for record in json.loads(path.read_text("utf-8"))["records"]:
            if isinstance(record["policy"], dict):
                _fixed_point(record["policy"], "abc1234", False)
                checked += 1
    assert checked > 0


@pytest.mark.parametrize("policy", [
    {},
    {"acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}]},
    {"groups": {"group:a": ["a@example.com"] * 30}, "randomizeClientPort": True},
])
def test_to_hujson_small_documents(policy: dict[str, Any]) -> None:
    _fixed_point(policy, None, False)

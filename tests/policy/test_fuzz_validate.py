"""The validator never raises, whatever the document holds: bad input gets Problems."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings

from reconciler.core.problems import Problem
from reconciler.validate.validate import validate_policy
from tests.conftest import examples

from .strategies import DOCS


@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DOCS)
def test_validate_never_raises(doc: dict[str, Any]) -> None:
    problems = validate_policy(doc, tailnet_domains={"example.com"})
    assert all(isinstance(p, Problem) and p.message for p in problems)

"""Load the recordings of Tailscale SaaS in tests/data/conformance for engine tests.

Test helper (imports json and the engine). A record's `policy` is a JSON object or its
text; its `topology` loads with `inventory_from_data` exactly as recorded.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from typing import Any

from tests.conftest import CONFORMANCE_DIR

CATEGORIES = ("acl", "grant", "ssh", "policytest", "sshtest", "routes", "nodeattrs")


@cache
def records(category: str) -> tuple[dict[str, Any], ...]:
    data = json.loads((CONFORMANCE_DIR / f"{category}.json").read_text(encoding="utf-8"))
    return tuple(data["records"])


def policy_of(record: dict[str, Any]) -> dict[str, Any]:
    policy = record["policy"]
    return json.loads(policy) if isinstance(policy, str) else policy


def all_records() -> Iterator[dict[str, Any]]:
    for category in CATEGORIES:
        yield from records(category)


def available() -> bool:
    return all((CONFORMANCE_DIR / f"{c}.json").is_file() for c in CATEGORIES)

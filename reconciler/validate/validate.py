"""Validate a policy document: every problem at once, in Tailscale's wording.

Policy model layer, the entry point (imports the `policy` checkers, `problems`,
`source`). Input is what Tailscale's POST /acl body decodes to; output is a list of
`Problem`s located through the SourceMap. Errors are what Tailscale would reject
(400); warnings are accepted by Tailscale but probably not what was meant.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any

from reconciler.core.problems import Problem
from reconciler.core.source import SourceMap
from reconciler.validate.context import Context
from reconciler.validate.rules import check_rules
from reconciler.validate.sections import check_sections
from reconciler.validate.shapes import check_document, json_type
from reconciler.validate.tests_shape import check_test_shapes


def validate_policy(
    policy: Any,
    sources: SourceMap | None = None,
    *,
    tailnet_domains: Collection[str] | None = None,
    tests: bool = True,
    checked: Mapping[str, Any] | None = None,
) -> list[Problem]:
    """Every problem of `policy`.

    `tailnet_domains`: the login domains associated with the tailnet, for the
    `user:*@domain` / `localpart:*@domain` check; None skips that check. SaaS compares
    domains exactly (case-sensitive) and associates only the tailnet's own domain, not
    every domain its users log in with (captures ssh-d1, ssh-e1).
    `tests=False` leaves `tests` and `sshTests` unchecked, for commands that never read
    them (a large policy's tests cost more to check than all its rules).
    `checked`: a policy validated in full already (with the same `tailnet_domains`) in
    which nothing at all was found; its entries written alike here are not checked again
    (`clean_entries`). `diff` validates two revisions that share nearly every entry.
    """
    if not isinstance(policy, Mapping):
        location = sources.at(()) if sources is not None else None
        return [
            Problem(
                f"a policy document must be an object, got {json_type(policy)}",
                location,
                code="type",
            )
        ]
    clean = clean_entries(policy, checked) if checked is not None else {}
    ctx = Context(policy, sources, tailnet_domains, clean=clean)
    check_document(ctx)
    check_sections(ctx)
    check_rules(ctx)
    if tests:
        check_test_shapes(ctx)
    return ctx.problems


# The sections whose entries are checked one at a time, each by what it holds and the
# policy's definitions alone (no check looks at two entries together).
ENTRY_SECTIONS = ("acls", "grants", "ssh", "tests", "sshTests")
_PLAIN = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False)


def clean_entries(policy: Mapping[str, Any], checked: Mapping[str, Any]
                  ) -> dict[str, frozenset[int]]:
    """Section -> the indices of `policy`'s entries that would check clean, given that
    nothing at all was found in `checked`: with everything but the entry sections
    written alike in both (so every definition a check reads), an entry written alike
    to one of `checked`'s is checked alike, and that one was clean. Written alike: the
    same JSON, key order and types included (1, 1.0 and True are equal in Python, but
    a check may tell them apart). Empty when anything else differs."""
    keys = [k for k in policy if k not in ENTRY_SECTIONS]
    if keys != [k for k in checked if k not in ENTRY_SECTIONS]:
        return {}
    for key in keys:
        written = _written(policy[key])
        if written is None or written != _written(checked[key]):
            return {}
    out: dict[str, frozenset[int]] = {}
    for section in ENTRY_SECTIONS:
        mine, theirs = policy.get(section), checked.get(section)
        if not isinstance(mine, list) or not isinstance(theirs, list):
            continue
        if mine == theirs:
            written = _written(mine)
            if written is not None and written == _written(theirs):
                out[section] = frozenset(range(len(mine)))
                continue
        known = {_written(entry) for entry in theirs} - {None}
        out[section] = frozenset(i for i, entry in enumerate(mine) if _written(entry) in known)
    return out


def _written(value: Any) -> str | None:
    """`value` as JSON in key order, or None for what JSON cannot hold (a YAML date)."""
    try:
        return _PLAIN.encode(value)
    except (TypeError, ValueError):
        return None

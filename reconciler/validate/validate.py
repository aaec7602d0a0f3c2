"""Validate a policy document: every problem at once, in Tailscale's wording.

Policy model layer, the entry point (imports the `policy` checkers, `problems`,
`source`). Input is what Tailscale's POST /acl body decodes to; output is a list of
`Problem`s located through the SourceMap. Errors are what Tailscale would reject
(400); warnings are accepted by Tailscale but probably not what was meant.
"""

from __future__ import annotations

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
) -> list[Problem]:
    """Every problem of `policy`.

    `tailnet_domains`: the login domains associated with the tailnet, for the
    `user:*@domain` / `localpart:*@domain` check; None skips that check. SaaS compares
    domains exactly (case-sensitive) and associates only the tailnet's own domain, not
    every domain its users log in with (captures ssh-d1, ssh-e1).
    `tests=False` leaves `tests` and `sshTests` unchecked, for commands that never read
    them (a large policy's tests cost more to check than all its rules).
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
    ctx = Context(policy, sources, tailnet_domains)
    check_document(ctx)
    check_sections(ctx)
    check_rules(ctx)
    if tests:
        check_test_shapes(ctx)
    return ctx.problems

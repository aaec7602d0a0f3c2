"""`diff BASE HEAD`: resource and access changes between two git revisions.

commands/ (step: diff). May import everything below the CLI.
"""

from __future__ import annotations

from reconciler.commands.session import Session
from reconciler.core.inventory import Inventory
from reconciler.diff.access.model import AccessDiff
from reconciler.diff.changes import ResourceChange
from reconciler.diff.resources import diff_resources
from reconciler.load.desired import Desired, load_desired
from reconciler.plan.planner import desired_resources


def diff_refs(session: Session, base: str, head: str,
              ) -> tuple[list[ResourceChange], AccessDiff]:
    """Resource changes and access changes from git revision `base` to `head`; no control
    plane involved (the access diff runs over a synthetic inventory). Both revisions are
    validated: the access diff compiles them, and only a valid policy compiles."""
    old = load_desired(session.config.root, ref=base, now=session.now, config=session.config)
    new = load_desired(session.config.root, ref=head, now=session.now, config=session.config)
    from reconciler.plan.planner import locate

    changes = diff_resources(desired_resources(old), desired_resources(new),
                             locate=lambda r: locate(new, r))
    return changes, access_between(old, new)


def access_between(old: Desired, new: Desired, inventory: Inventory | None = None,
                   ) -> AccessDiff:
    """Who gains and loses access from `old` to `new`, over `inventory` (default: a
    synthetic one with a device per user and tag either names), each statement citing
    its rule by name and file:line (gains in `new`, losses in `old`)."""
    from reconciler.diff.access import access_diff
    from reconciler.diff.access.naming import cite, entry_citer
    from reconciler.plan.planner import names_of

    access = access_diff(old.policy, new.policy, inventory, before_sources=old.sources,
                         after_sources=new.sources)
    return cite(access, gained=entry_citer(new.sources, names_of(new)),
                lost=entry_citer(old.sources, names_of(old)))

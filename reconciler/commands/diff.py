"""`diff BASE HEAD`: resource and access changes between two git revisions.

commands/ (step: diff). May import everything below the CLI.
"""

from __future__ import annotations

from reconciler.commands.session import Session
from reconciler.diff.access.model import AccessDiff
from reconciler.diff.changes import ResourceChange
from reconciler.diff.normalize import Normalized, Resources
from reconciler.diff.resources import diff_resources
from reconciler.load.desired import load_desired


def diff_refs(session: Session, base: str, head: str,
              ) -> tuple[list[ResourceChange], AccessDiff]:
    """Resource changes and access changes from git revision `base` to `head`; no control
    plane involved (the access diff runs over a synthetic inventory). Both revisions are
    validated: the access diff compiles them, and only a valid policy compiles."""
    old = load_desired(session.config.root, ref=base, now=session.now, config=session.config)
    new = load_desired(session.config.root, ref=head, now=session.now, config=session.config)
    from reconciler.diff.access import access_diff
    from reconciler.plan.planner import locate, names_of

    # The base shares the head's normal forms for the entries both have (nearly all),
    # and the diff skips the sections both have alike, as a plan's does (`build_plan`).
    new_doc = Normalized(new.policy)
    old_doc = Normalized(old.policy, like=new_doc)
    changes = diff_resources(Resources(old_doc, names_of(old)),
                             Resources(new_doc, names_of(new)),
                             locate=lambda r: locate(new, r))
    access = access_diff(old.policy, new.policy, None, before_sources=old.sources,
                         after_sources=new.sources)
    from reconciler.diff.access.naming import cite, entry_citer

    return changes, cite(access, gained=entry_citer(new.sources, names_of(new)),
                         lost=entry_citer(old.sources, names_of(old)))

"""`diff BASE HEAD`: resource and access changes between two git revisions.

commands/ (step: diff). May import everything below the CLI.
"""

from __future__ import annotations

from reconciler.commands.session import Session
from reconciler.core.errors import ReconcilerError
from reconciler.core.forked import collector_paused
from reconciler.core.inventory import Inventory
from reconciler.diff.access.model import AccessDiff
from reconciler.diff.changes import ResourceChange
from reconciler.diff.normalize import Normalized, Resources
from reconciler.diff.resources import diff_resources
from reconciler.load.desired import Desired, check_desired, read_desired, settle
from reconciler.validate.tests_shape import CODE as TEST_SHAPE
from reconciler.validate.tests_shape import same_test_checks


def diff_refs(session: Session, base: str, head: str,
              ) -> tuple[list[ResourceChange], AccessDiff]:
    """Resource changes and access changes from git revision `base` to `head`; no control
    plane involved (the access diff runs over a synthetic inventory). Both revisions are
    validated: the access diff compiles them, and only a valid policy compiles."""
    old, new = _load_both(session, base, head)
    from reconciler.plan.planner import locate, names_of

    # Part by part, skipping the sections written alike in both revisions (most of a
    # large policy: its tests, say) without normalising them (`same_section`). Not
    # `like` each other: sharing work pays where every normal form is needed (a plan's
    # fingerprints), not here; the few changed sections are normalised on their own.
    new_doc = Normalized(new.policy)
    old_doc = Normalized(old.policy)
    changes = diff_resources(Resources(old_doc, names_of(old)),
                             Resources(new_doc, names_of(new)),
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

    with collector_paused():  # allocation-heavy, nothing cyclic: see core.forked
        access = access_diff(old.policy, new.policy, inventory, before_sources=old.sources,
                             after_sources=new.sources)
    return cite(access, gained=entry_citer(new.sources, names_of(new)),
                lost=entry_citer(old.sources, names_of(old)))


def _load_both(session: Session, base: str, head: str) -> tuple[Desired, Desired]:
    """`load_desired` of `base`, then of `head`: the same states and the same errors
    (the base's first), but the base's tests are not checked again when the head's
    passed and all those checks read is equal in both (`same_test_checks`: the same
    checks would find the same nothing). Two revisions of a large policy share their
    thousands of tests, which cost more to check than all its rules."""
    old, old_problems = read_desired(session.config.root, ref=base, now=session.now,
                                     config=session.config)
    try:
        new, new_problems = read_desired(session.config.root, ref=head, now=session.now,
                                         config=session.config)
    except ReconcilerError:
        settle(old, old_problems + check_desired(old))  # the base's errors come first
        raise
    new_problems += check_desired(new)
    tests = any(p.code == TEST_SHAPE for p in new_problems) or \
        not same_test_checks(old.policy, new.policy)
    old_problems += check_desired(old, tests=tests)
    return settle(old, old_problems), settle(new, new_problems)

"""`diff BASE HEAD`: resource and access changes between two git revisions.

commands/ (step: diff). May import everything below the CLI.
"""

from __future__ import annotations

from reconciler.commands.session import Session
from reconciler.core.errors import ReconcilerError
from reconciler.core.forked import Forked, collector_paused
from reconciler.core.inventory import Inventory
from reconciler.core.problems import Problem
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
    validated: the access diff compiles them, and only a valid policy compiles.

    The validation and the resource diff run in a forked child while this process
    computes the access diff (see `forked`; inline with one CPU): the two halves take
    about as long on a large policy. The outcome is what running them in turn gives:
    every error in the files is raised (the base's first), and wins over whatever the
    access diff raised on them."""
    old, old_problems, new, new_problems = _read_both(session, base, head)
    checked = Forked(lambda: _checked_and_diffed(old, old_problems, new, new_problems),
                     transport=(ReconcilerError,))
    try:
        access = access_between(old, new)
    except Exception:
        _settle_both(old, new, checked.result()[0])
        raise
    problems, changes = checked.result()
    _settle_both(old, new, problems)
    assert changes is not None  # computed whenever both revisions are valid
    return changes, access


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


def _read_both(session: Session, base: str, head: str,
               ) -> tuple[Desired, list[Problem], Desired, list[Problem]]:
    """`read_desired` of `base`, then of `head`; broken files (what reading found) are
    raised at once, with every error of both (the base's first), as `load_desired`
    would."""
    old, old_problems = read_desired(session.config.root, ref=base, now=session.now,
                                     config=session.config)
    try:
        new, new_problems = read_desired(session.config.root, ref=head, now=session.now,
                                         config=session.config)
    except ReconcilerError:
        settle(old, old_problems + check_desired(old))  # the base's errors come first
        raise
    if any(p.is_error for p in (*old_problems, *new_problems)):
        _settle_both(old, new, _checked(old, old_problems, new, new_problems))  # raises
    return old, old_problems, new, new_problems


Checked = tuple[list[Problem], list[Problem]]


def _checked(old: Desired, old_problems: list[Problem], new: Desired,
             new_problems: list[Problem]) -> Checked:
    """Every problem of both revisions: `check_desired` of each, except that the base's
    tests are not checked again when the head's passed and all those checks read is
    equal in both (`same_test_checks`: the same checks would find the same nothing).
    Two revisions of a large policy share their thousands of tests, which cost more to
    check than all its rules."""
    new_problems = new_problems + check_desired(new)
    tests = any(p.code == TEST_SHAPE for p in new_problems) or \
        not same_test_checks(old.policy, new.policy)
    return old_problems + check_desired(old, tests=tests), new_problems


def _checked_and_diffed(old: Desired, old_problems: list[Problem], new: Desired,
                        new_problems: list[Problem],
                        ) -> tuple[Checked, list[ResourceChange] | None]:
    """`_checked`, and the resource changes when both revisions are valid."""
    checked = _checked(old, old_problems, new, new_problems)
    if any(p.is_error for problems in checked for p in problems):
        return checked, None
    return checked, _resource_changes(old, new)


def _settle_both(old: Desired, new: Desired, checked: Checked) -> None:
    """Raise every error of both revisions (the base's first: `settle`), else keep their
    notices."""
    settle(old, checked[0])
    settle(new, checked[1])


def _resource_changes(old: Desired, new: Desired) -> list[ResourceChange]:
    from reconciler.plan.planner import locate, names_of

    # Part by part, skipping the sections written alike in both revisions (most of a
    # large policy: its tests, say) without normalising them (`same_section`). Not
    # `like` each other: sharing work pays where every normal form is needed (a plan's
    # fingerprints), not here; the few changed sections are normalised on their own.
    new_doc = Normalized(new.policy)
    old_doc = Normalized(old.policy)
    return diff_resources(Resources(old_doc, names_of(old)), Resources(new_doc, names_of(new)),
                          locate=lambda r: locate(new, r))

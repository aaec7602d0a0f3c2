"""`apply`: push exactly a saved plan, under the apply journal; `apply --resume`.

commands/ (step: apply). May import everything below the CLI.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from reconciler.backends.base import Backend
from reconciler.commands.session import Session
from reconciler.core import progress
from reconciler.core.errors import GitError
from reconciler.diff.changes import ApplyResult, Plan
from reconciler.plan import applier
from reconciler.plan.applier import apply_plan


def apply(
    session: Session,
    plan: Plan,
    *,
    target: str | None = None,
    adopt: bool = False,
    revocations_only: bool = False,
    git_note: bool = False,
    backend: Backend | None = None,
    require_clean: bool = False,
    notice: Callable[[str], None] | None = None,
) -> ApplyResult:
    """Apply a plan to its target (the one named, or the plan's own), under an apply
    journal; an interrupted apply of the target is finished first (`apply --resume`)."""
    tgt = session.target(target or plan.target)
    own = backend is None
    be = backend or session.backend(tgt)
    try:
        applier.settle(session.config.root, tgt.name, be, notice=notice)
        with progress.step(f'applying the plan to "{tgt.name}"'):
            result = apply_plan(plan, be, target=tgt.name, adopt=adopt,
                                revocations_only=revocations_only,
                                require_clean=require_clean, clock=lambda: session.now,
                                journal_root=session.config.root)
    finally:
        if own:
            be.close()
    if git_note and result.pushed:
        record_note(session, result)
    return result


def check_interrupted(session: Session, target: str | None, *, refuse: bool = True,
                      notice: Callable[[str], None] | None = None) -> None:
    """Before plan/drift touch a target: an interrupted apply of it is reported (and with
    `refuse`, InterruptedApply); one found complete is cleared. No request when the
    target has no apply journal."""
    from reconciler.plan import journal

    tgt = session.target(target)
    if not journal.path_for(session.config.root, tgt.name).exists():
        return
    be = session.backend(tgt)
    try:
        applier.settle(session.config.root, tgt.name, be, refuse=refuse, notice=notice)
    finally:
        be.close()


def resume_apply(session: Session, *, target: str | None = None) -> applier.ResumeResult:
    """`apply --resume`: finish the target's interrupted apply (see `applier.resume`)."""
    tgt = session.target(target)
    be = session.backend(tgt)
    try:
        return applier.resume(session.config.root, tgt.name, be)
    finally:
        be.close()


def record_note(session: Session, result: ApplyResult) -> None:
    from reconciler.load import gitsource

    if not result.commit:
        raise GitError("--git-note: the applied plan has no commit to attach a note to",
                       "Commit the desired state, plan and apply again.")
    message = (f"reconciler apply target={result.target} etag_before={result.etag_before} "
               f"etag_after={result.etag_after} at={result.applied_at}")
    # Who and where, as the Action's notes say it: a scheduled job's revocation is an
    # apply like a merge's, and an auditor asks the same questions of both.
    env = os.environ
    actor = env.get("GITHUB_ACTOR") or env.get("USER") or env.get("LOGNAME")
    if actor and actor.split() == [actor]:
        message += f" actor={actor}"
    if env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
        server = env.get("GITHUB_SERVER_URL") or "https://github.com"
        message += (f" run={server}/{env['GITHUB_REPOSITORY']}/actions/runs/"
                    f"{env['GITHUB_RUN_ID']}")
    gitsource.add_note(session.config.root, result.commit, message)

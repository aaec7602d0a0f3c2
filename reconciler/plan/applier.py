"""plan/ (step: apply): execute exactly a plan, refusing when it no longer fits the world.

May import: `changes`, `diff` (the revocation guard), `normalize`, `hujson`,
`backends.base` (the Backend protocol), `errors`. Apply pushes `plan.document` and sets
`plan.device_changes`; it never re-reads the desired state or recomputes a decision.

Before writing it refuses: another target, an errored or non-applyable plan, failing
tests, an unmanaged live policy without `adopt`, and (with `revocations_only`) any
change that could grant access, and (with `require_clean`) a plan made from
uncommitted changes. A saved plan reaches here checked (`plancheck`). Staleness of the
policy is checked by the control plane itself, atomically: the push carries
`If-Match: <the ETag the plan was made against>`, and a 412 becomes `StalePlanError`
(an extra read before the write could not close the race, and would cost a request).
Device tags have no If-Match: when the plan changes any, one read of the device list,
before the first write, checks that each device still exists with the tags the plan
was made against (`check_devices`); a plan that changes only tags also reads the policy
once and compares its ETag, since no push checks it. After the write, one read verifies that live is
now the planned document; a mismatch is an error, not a warning.

The writes (the push, then one request per device) are not one transaction, so with a
`journal_root` apply records them in an apply journal (`journal`) before the first write
and marks each step as it lands; the journal is removed once every step is written and
verified (the policy by a read, each tag change by its own answer). An error or Ctrl-C after a write
says what was done and what remains. `settle` is what every command touching the target
runs first: a journal whose work is already complete on the live side is cleared, any
other is an interrupted apply. `resume` finishes one, step by step and idempotently:
the policy is skipped when live already is the document, pushed with the journal's
If-Match when live is still the prior, refused otherwise; a device is skipped at its
target tags, set from its planned prior tags, refused at any others. Every refusal is
found before its first write.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from reconciler.backends.base import Backend, unquote_etag
from reconciler.core.errors import (
    ApplyInterrupted,
    BackendError,
    InterruptedApply,
    NotApplyable,
    PreconditionFailed,
    ReconcilerError,
    ServerError,
    StalePlanError,
    TestsFailed,
    TransportError,
    WrongTarget,
)
from reconciler.core.inventory import Device
from reconciler.diff import normalize
from reconciler.diff.changes import ApplyResult, Plan
from reconciler.diff.resources import removes_access_only
from reconciler.load import hujson
from reconciler.plan import journal
from reconciler.plan.journal import Journal

ADOPT_DETAIL = (
    "The live policy carries no reconciler header, so it was not applied from git and "
    "applying would overwrite it. Run `reconciler import` to write it into policies/ "
    "(commit that), or apply with --adopt to take it over as it is planned."
)


def check_plan(plan: Plan, *, target: str, identity: str, adopt: bool = False,
               revocations_only: bool = False, require_clean: bool = False) -> None:
    """Every refusal that needs no request; raises the matching ReconcilerError."""
    if plan.target != target or plan.identity != identity:
        raise WrongTarget(
            f'the plan was made for target "{plan.target}" ({plan.identity}), not '
            f'"{target}" ({identity})',
            "Apply it to the target it was made for (--target), or plan again for this one.")
    if require_clean and (plan.desired_dirty or not plan.desired_commit):
        raise NotApplyable(
            "--require-clean: the plan was made from uncommitted changes"
            if plan.desired_dirty else "--require-clean: the plan was not made from a commit",
            "Commit the desired state, plan again and apply the new plan.")
    if plan.errored:
        raise NotApplyable("the plan has errors and cannot be applied",
                           "Fix the errors it lists, then plan again.")
    if not plan.tests.ok:
        raise TestsFailed(
            f"the plan's tests failed ({plan.tests.failed} failed, {plan.tests.invalid} "
            "invalid" + ("; control-plane validation failed" if not plan.tests.server_ok
                         else "") + ")",
            "Fix the policy or the tests, then plan again; a failing plan is never applied.")
    if not plan.has_changes:
        return
    if not plan.applyable:
        raise NotApplyable("the plan is not applyable", "Plan again and apply the new plan.")
    if plan.changes and not plan.document:
        raise NotApplyable("the plan holds no document to push (it was made for display)",
                           "Save a plan with `reconciler plan -o FILE` and apply that file.")
    if plan.changes and not plan.managed and not plan.adoptable and not adopt:
        raise NotApplyable("the live policy is not managed by reconciler", ADOPT_DETAIL)
    if revocations_only:
        granting = [c.address for c in plan.changes if not removes_access_only(c)]
        granting += [d.address for d in plan.device_changes]
        if granting:
            raise NotApplyable(
                f"--revocations-only: {len(granting)} change(s) could grant access",
                "Only removals are applied unattended. These need a reviewed apply: "
                + ", ".join(granting) + ".")


def apply_plan(
    plan: Plan,
    backend: Backend,
    *,
    target: str,
    adopt: bool = False,
    revocations_only: bool = False,
    require_clean: bool = False,
    clock: Callable[[], datetime] | None = None,
    journal_root: Path | None = None,
) -> ApplyResult:
    """Apply `plan` to `backend` (see the module docstring for the guards and the
    journal, kept under `journal_root` when given)."""
    check_plan(plan, target=target, identity=backend.identity, adopt=adopt,
               revocations_only=revocations_only, require_clean=require_clean)
    now = (clock or (lambda: datetime.now(timezone.utc)))()
    if plan.device_changes:
        # Every device precondition is checked before the first write (the policy
        # included): a refused device must not leave the policy half-applied.
        check_devices(plan, backend.list_devices())
        if not plan.changes:
            # No push carries If-Match: the policy the plan was made against (its
            # tagOwners decide who may tag) is checked with one read instead.
            live = backend.fetch_policy()
            if unquote_etag(live.etag) != unquote_etag(plan.prior_etag):
                raise StalePlanError(
                    "Saved plan is stale",
                    f"The live policy of target \"{plan.target}\" changed after this plan "
                    f"was made (the plan expected ETag {plan.prior_etag}, it is now "
                    f"{live.etag}). Nothing was applied. Run `reconciler plan` again and "
                    "review the new plan.")
    j = journal.for_plan(journal_root, plan, _stamp(now)) if journal_root is not None \
        else None
    if j is not None:
        journal.create(j)
    etag_after = plan.prior_etag
    pushed = found_live = False
    with _steps(j, plan.target):
        if plan.changes or (adopt and plan.takes_over):
            try:
                etag_after = backend.push_policy(plan.document, if_match=plan.prior_etag)
            except PreconditionFailed as e:
                raise _stale(plan, backend) from e
            pushed = True
            found_live = bool(getattr(backend, "found_live_after_retry", False))
            if j is not None:
                j.pushed, j.etag_after = True, etag_after
                journal.save(j)
        for i, change in enumerate(plan.device_changes):
            backend.set_device_tags(change.device_id, list(change.after))
            if j is not None:
                j.tags[i].done = True
                journal.save(j)
        if pushed:
            _verify(plan, backend)
    if j is not None:
        journal.clear(j)
    return ApplyResult(
        target=plan.target, etag_before=plan.prior_etag, etag_after=etag_after,
        commit=plan.desired_commit, changes=tuple(plan.changes),
        device_changes=tuple(plan.device_changes), pushed=pushed,
        applied_at=now.strftime("%Y-%m-%dT%H:%M:%SZ"), found_live=found_live,
    )


def _stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class _steps:
    """The writes of an apply (or a resume) under its journal: an error or Ctrl-C after
    a write keeps the journal and says what was done, what remains and what to run; an
    error that certainly wrote nothing (a refused first push) removes it."""

    def __init__(self, j: Journal | None, target: str) -> None:
        self.j, self.target = j, target

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: object) -> Literal[False]:
        j = self.j
        if j is None or error is None:
            return False
        if not j.done_labels() and _refused(error):
            journal.clear(j)  # refused before anything was stored: nothing half-applied
            return False
        where = f"--target {self.target}"
        progress = _progress(j)
        if isinstance(error, KeyboardInterrupt):
            flight = j.remaining_labels()[:1]
            maybe = (f" (the {flight[0]} was in flight: it may have landed; the resume "
                     "checks)") if flight else ""
            raise ApplyInterrupted(
                f'apply of target "{self.target}" interrupted part way: {progress}{maybe}',
                f"Run `reconciler apply --resume {where}` to finish it; until then every "
                "command that touches this target reports it.") from None
        if isinstance(error, ReconcilerError) and not isinstance(error, journal.JournalError):
            raise ReconcilerError(
                f'apply of target "{self.target}" stopped part way: {error.summary}',
                (error.detail + " " if error.detail else "")
                + f"Progress: {progress}. Once the cause is fixed, run `reconciler apply "
                f"--resume {where}` to finish it.") from error
        return False


def _refused(error: BaseException) -> bool:
    """The control plane certainly stored nothing: a 4xx answer or a refusal of ours.
    A 5xx or a lost connection may have stored it: the journal stays, and the next
    command checks the live side."""
    if isinstance(error, (ServerError, TransportError)):
        return False
    if isinstance(error, BackendError):
        return error.status is not None and 400 <= error.status < 500
    return isinstance(error, ReconcilerError)


def _progress(j: Journal) -> str:
    done, left = j.done_labels(), j.remaining_labels()
    return (f"done: {', '.join(done) or 'nothing'}; "
            f"remaining: {', '.join(left) or 'verification only'}")


def _verify_tags(j: Journal, backend: Backend) -> None:
    by_id = {d.id: d for d in backend.list_devices() if d.id}
    wrong = [t for t in j.tags
             if by_id.get(t.device_id) is None
             or tuple(sorted(set(by_id[t.device_id].tags))) != tuple(sorted(set(t.after)))]
    if wrong:
        raise ReconcilerError(
            "verification failed: after apply the tags of "
            + ", ".join(f'"{t.device}"' for t in wrong) + " differ from the plan",
            f'Another writer may have changed them right after; run `reconciler drift '
            f'--target {j.target}` to see how.')


# --- interrupted applies ------------------------------------------------------------------------


@dataclass
class Observed:
    """The live side of a journal's steps: which are in place, which can still be done
    (live is at the planned prior), and which someone else moved (refusals)."""

    policy_done: bool = True
    policy_todo: bool = False
    tags_done: list[bool] = field(default_factory=list)
    tags_todo: list[bool] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    live_etag: str = ""

    @property
    def complete(self) -> bool:
        return self.policy_done and all(self.tags_done)


def _fingerprint(text: str) -> str | None:
    try:
        return normalize.fingerprint(normalize.essence(hujson.loads(text)))
    except (ReconcilerError, ValueError, TypeError, RecursionError):
        return None


def observe(j: Journal, backend: Backend) -> Observed:
    """Two reads (the policy, the devices); no write."""
    obs = Observed()
    live = backend.fetch_policy()
    obs.live_etag = live.etag
    at_prior = unquote_etag(live.etag) == unquote_etag(j.prior_etag)
    if j.push:
        obs.policy_done = _fingerprint(live.text) == j.document_fingerprint
        if not obs.policy_done:
            if at_prior:
                obs.policy_todo = True
            else:
                obs.refusals.append(
                    f"the live policy changed since the interrupted apply (ETag {live.etag}, "
                    f"neither the planned prior {j.prior_etag} nor the planned document)")
    by_id = {d.id: d for d in backend.list_devices() if d.id}
    for t in j.tags:
        device = by_id.get(t.device_id)
        now = tuple(sorted(set(device.tags))) if device is not None else None
        done = now == tuple(sorted(set(t.after)))
        todo = not done and now == tuple(sorted(set(t.before)))
        obs.tags_done.append(done)
        obs.tags_todo.append(todo)
        if device is None:
            obs.refusals.append(f'device "{t.device}" ({t.device_id}) no longer exists')
        elif not done and not todo:
            obs.refusals.append(f'device "{t.device}" has tags {_tags(now or ())}, neither '
                                f"the planned prior {_tags(t.before)} nor the planned "
                                f"{_tags(t.after)}")
    if not j.push and not obs.complete and not at_prior:
        obs.refusals.append(f"the live policy changed since the interrupted apply (ETag "
                            f"{live.etag}, the plan was made against {j.prior_etag})")
    return obs


def _observed_progress(j: Journal, obs: Observed) -> str:
    done: list[str] = []
    left: list[str] = []
    if j.push:
        (done if obs.policy_done else left).append("policy push")
    for t, ok in zip(j.tags, obs.tags_done, strict=True):
        (done if ok else left).append(t.label)
    return f"done: {', '.join(done) or 'nothing'}; remaining: {', '.join(left) or 'nothing'}"


def interrupted_line(j: Journal, obs: Observed) -> str:
    """One line for stderr: the interrupted apply, how far it got, and the next step."""
    return (f'an apply of target "{j.target}" was interrupted part way (started '
            f"{j.started_at}, journal {j.path}): {_observed_progress(j, obs)}; run "
            f"`reconciler apply --resume --target {j.target}` to finish it")


def settle(root: Path, target: str, backend: Backend, *, refuse: bool = True,
           notice: Callable[[str], None] | None = None) -> None:
    """Before a command touches `target`: nothing when it has no journal (one stat).
    A journal whose work is complete on the live side is cleared (said through
    `notice`); any other is an interrupted apply: InterruptedApply when `refuse`,
    else one line through `notice`."""
    j = journal.load(root, target)
    if j is None:
        return
    if j.identity != backend.identity:
        raise InterruptedApply(
            f'the apply journal {j.path} of target "{target}" was written for '
            f"{j.identity}, but the target is now {backend.identity}",
            "Point the target back at that control plane and run `reconciler apply "
            "--resume`, or delete the journal once you have checked that one by hand.")
    obs = observe(j, backend)
    if obs.complete:
        journal.clear(j)
        if notice is not None:
            notice(f'Note: an interrupted apply of target "{target}" (started '
                   f"{j.started_at}) is found complete on the live side; its journal "
                   "was cleared.")
        return
    if not refuse:
        if notice is not None:
            notice(f"Warning: {interrupted_line(j, obs)}.")
        return
    raise InterruptedApply(
        f'an apply of target "{target}" was interrupted part way: '
        f"{_observed_progress(j, obs)}",
        f"Nothing new is applied to this target until it is finished: run `reconciler "
        f"apply --resume --target {target}` (it checks that nobody else changed what "
        f"remains), then plan again. Journal: {j.path}, started {j.started_at}.")


@dataclass(frozen=True)
class ResumeResult:
    target: str
    plan_id: str
    lines: tuple[str, ...]  # one per step: what the resume did with it
    resumed: bool  # False: there was no journal


def resume(root: Path, target: str, backend: Backend) -> ResumeResult:
    """Finish the target's interrupted apply (see the module docstring)."""
    j = journal.load(root, target)
    if j is None:
        return ResumeResult(target, "", (), False)
    if j.identity != backend.identity:
        raise InterruptedApply(
            f"the apply journal {j.path} was written for {j.identity}, not "
            f"{backend.identity}", "Point the target back at that control plane and resume.")
    give_up = (f"Nothing was written by this resume. Review the live side with `reconciler "
               f"drift --target {target}`; to give the interrupted apply up, delete {j.path}, "
               "then plan and apply again.")
    if j.push and _fingerprint(j.document) != j.document_fingerprint:
        raise journal.JournalError(
            f"{j.path}: the journal's document does not match its fingerprint", give_up)
    obs = observe(j, backend)
    if obs.refusals:
        raise StalePlanError("cannot resume the interrupted apply: "
                             + "; ".join(obs.refusals), give_up)
    lines: list[str] = []
    # What is in place counts as done, whether or not the interrupted run recorded it.
    j.pushed = j.push and obs.policy_done
    for t, done in zip(j.tags, obs.tags_done, strict=True):
        t.done = done
    with _steps(j, target):
        if j.push:
            if obs.policy_todo:
                try:
                    j.etag_after = backend.push_policy(j.document, if_match=j.prior_etag)
                    lines.append(f"policy: pushed (ETag {j.etag_after})")
                except PreconditionFailed as e:
                    # A write of the interrupted run may land late: then live is the
                    # document, which is what this step wanted.
                    live = backend.fetch_policy()
                    if _fingerprint(live.text) != j.document_fingerprint:
                        raise StalePlanError(
                            "cannot resume the interrupted apply: the live policy changed "
                            f"while resuming (ETag {live.etag})", give_up) from e
                    lines.append("policy: already the planned document")
                j.pushed = True
                journal.save(j)
            else:
                lines.append("policy: already the planned document")
        for t, done in zip(j.tags, obs.tags_done, strict=True):
            if done:
                lines.append(f'device "{t.device}": already {_tags(t.after)}')
                continue
            backend.set_device_tags(t.device_id, list(t.after))
            t.done = True
            journal.save(j)
            lines.append(f'device "{t.device}": tags set to {_tags(t.after)}')
        if j.push:
            live = backend.fetch_policy()
            if _fingerprint(live.text) != j.document_fingerprint:
                raise ReconcilerError(
                    "verification failed: after resume the live policy differs from the plan",
                    f"Another writer may have changed it; run `reconciler drift --target "
                    f"{target}` to see how.")
        if j.tags:
            _verify_tags(j, backend)
    journal.clear(j)
    return ResumeResult(target, j.plan_id, tuple(lines), True)


def _stale(plan: Plan, backend: Backend) -> StalePlanError:
    """The refusal of a push that met another ETag. One read (on this failure path
    only) tells a changed policy from one that already is this plan's document, so a
    re-run after a lost answer says the plan is in place instead of just "stale"."""
    detail = (f"The live policy of target \"{plan.target}\" changed after this plan was "
              f"made (the plan expected ETag {plan.prior_etag}). Nothing was applied. "
              "Run `reconciler plan` again and review the new plan.")
    try:
        live = backend.fetch_policy()
    except ReconcilerError:
        return StalePlanError("Saved plan is stale", detail)
    if live.text == plan.document:
        detail = (f"The live policy of target \"{plan.target}\" already is exactly this "
                  f"plan's document (ETag {live.etag}; the plan expected {plan.prior_etag}): "
                  "the plan, or another one with the same document, was applied before. "
                  "Nothing was written by this run. Run `reconciler plan` again to confirm "
                  "nothing is left to do.")
    return StalePlanError("Saved plan is stale", detail)


def check_devices(plan: Plan, devices: Sequence[Device]) -> None:
    """Each managed device still exists and still has the tags the plan was made
    against; otherwise StalePlanError naming every device and how its tags moved."""
    by_id = {d.id: d for d in devices if d.id}
    moved = []
    for change in plan.device_changes:
        device = by_id.get(change.device_id)
        if device is None:
            moved.append(f'device "{change.device}" ({change.device_id}) no longer exists')
            continue
        now = tuple(sorted(set(device.tags)))
        if now != change.before:
            gained = sorted(set(now) - set(change.before))
            lost = sorted(set(change.before) - set(now))
            how = ", ".join([*(f"+{t}" for t in gained), *(f"-{t}" for t in lost)])
            moved.append(f'device "{change.device}": its tags moved since the plan '
                         f"({how}): planned from {_tags(change.before)}, now {_tags(now)}")
    if moved:
        raise StalePlanError(
            "Saved plan is stale: " + "; ".join(moved),
            "Device tags changed after this plan was made, so applying it would undo that "
            "change unseen. Nothing was applied. Run `reconciler plan` again and review "
            "the new plan.")


def _tags(tags: Sequence[str]) -> str:
    return "[" + ", ".join(tags) + "]"


def _verify(plan: Plan, backend: Backend) -> None:
    live = backend.fetch_policy()
    try:
        got = normalize.fingerprint(normalize.essence(hujson.loads(live.text)))
    except ReconcilerError as e:
        raise ReconcilerError(
            "after apply the live policy cannot be parsed", str(e)) from e
    if got != plan.document_fingerprint:
        raise ReconcilerError(
            "verification failed: after apply the live policy differs from the plan",
            f"Target \"{plan.target}\" now has ETag {live.etag}. Another writer may have "
            "changed it right after the push; run `reconciler drift` to see how.")

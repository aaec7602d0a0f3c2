"""Step 7, apply: execute exactly a plan, refusing when it no longer fits the world.

Layer 5. May import: `changes`, `diff` (the revocation guard), `normalize`, `hujson`,
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
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timezone

from reconciler import hujson, normalize
from reconciler.backends.base import Backend, unquote_etag
from reconciler.changes import ApplyResult, Plan
from reconciler.diff import removes_access_only
from reconciler.errors import (
    NotApplyable,
    PreconditionFailed,
    ReconcilerError,
    StalePlanError,
    TestsFailed,
    WrongTarget,
)
from reconciler.inventory import Device

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
) -> ApplyResult:
    """Apply `plan` to `backend` (see the module docstring for the guards)."""
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
    etag_after = plan.prior_etag
    pushed = found_live = False
    if plan.changes:
        try:
            etag_after = backend.push_policy(plan.document, if_match=plan.prior_etag)
        except PreconditionFailed as e:
            raise _stale(plan, backend) from e
        pushed = True
        found_live = bool(getattr(backend, "found_live_after_retry", False))
    for change in plan.device_changes:
        backend.set_device_tags(change.device_id, list(change.after))
    if pushed:
        _verify(plan, backend)
    return ApplyResult(
        target=plan.target, etag_before=plan.prior_etag, etag_after=etag_after,
        commit=plan.desired_commit, changes=tuple(plan.changes),
        device_changes=tuple(plan.device_changes), pushed=pushed,
        applied_at=now.strftime("%Y-%m-%dT%H:%M:%SZ"), found_live=found_live,
    )


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

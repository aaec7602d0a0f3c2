"""Scheduled drift: is the live policy what git says it should be, and if not, why?

plan/ (step: drift). May import: `diff.changes`. Pure: a `DriftReport` is read off a `Plan`, whose
three-way view already tells out-of-band edits (base -> live) from pending git changes
(base -> desired) and from conflicts (both). `commands.drift` makes the plan.
"""

from __future__ import annotations

from reconciler.diff.changes import UNMANAGED_WARNING, UNTOLD_EDITS, DriftReport, Origin, Plan


def drift_report(plan: Plan) -> DriftReport:
    """Sort a plan's changes by where they came from."""
    by_origin: dict[Origin, list] = {o: [] for o in Origin}
    for change in plan.changes:
        by_origin[change.origin].append(change)
    return DriftReport(
        target=plan.target,
        identity=plan.identity,
        out_of_band=list(plan.drift),
        pending=by_origin[Origin.PENDING] + by_origin[Origin.UNKNOWN],
        conflicts=by_origin[Origin.CONFLICT],
        reverts=by_origin[Origin.DRIFT],
        device_changes=list(plan.device_changes),
        managed=plan.managed,
        base_commit=plan.base_commit,
        desired_commit=plan.desired_commit,
        warnings=_warnings(plan),
    )


def _warnings(plan: Plan) -> list[str]:
    """The plan's warnings, one line each; for a policy reconciler never wrote, the
    planner's warning says what that means for drift too (or, for the untouched
    default, which the planner does not warn of, drift says it alone)."""
    out = [m.text for m in plan.messages if m.severity == "warning"]
    if plan.managed:
        return out
    if UNMANAGED_WARNING in out:
        return [f"{w} {UNTOLD_EDITS}" if w == UNMANAGED_WARNING else w for w in out]
    return [*out, "the live policy carries no reconciler header; edits outside git cannot "
                  "be told apart from git changes."]


def exit_code(reports: list[DriftReport]) -> int:
    """0 every target clean, 2 some live policy differs from desired, 1 some check failed."""
    if any(r.error for r in reports):
        return 1
    return 0 if all(r.clean for r in reports) else 2

"""`drift`: is live what git says it should be; the --notify payload.

commands/ (step: drift). May import everything below the CLI.
"""

from __future__ import annotations

from typing import Any

from reconciler.commands.plan import make_plan
from reconciler.commands.session import Session
from reconciler.diff.changes import DriftReport
from reconciler.load.desired import Desired
from reconciler.plan.drift import drift_report


def drift(session: Session, *, target: str | None = None,
          desired: Desired | None = None) -> DriftReport:
    plan = make_plan(session, target=target, desired=desired, with_document=False)
    return drift_report(plan)


def drift_payload(reports: list[DriftReport]) -> dict[str, Any]:
    """The --notify body: Slack reads `text`; the rest is for other consumers."""
    from reconciler.render.json_ import drift_to_dict
    from reconciler.render.text import drift_summary

    lines = []
    for r in reports:
        if r.error:
            lines.append(f"{r.target}: drift check failed: {r.error}")
        elif r.clean:
            lines.append(f"{r.target}: no drift")
        else:
            lines.append(f"{r.target}: {drift_summary(r)}")
    return {"text": "reconciler drift check\n" + "\n".join(lines),
            "drift": any(not r.clean for r in reports),
            "targets": [drift_to_dict(r) for r in reports]}

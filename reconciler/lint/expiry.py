"""Lint: just-in-time access that expires soon, and access that already expired.

lint/ (imports `reconciler.load.desired` for `Desired`, `reconciler.core.source`,
`reconciler.load.metadata` and `reconciler.diff.changes` for the wording of times). List entries
carry `expires` in `Desired.meta`; group members written as ``{user, expires, reason}``
are recorded by the loader in `Desired.member_meta`. Times are exact: `expires:
2026-12-05` is 2026-12-05 00:00 UTC, so on December 2nd at noon it is "in 2 days 12 h"
(not "in 2 days", nor the "3 days" one might count by dates).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from reconciler.core.source import Location
from reconciler.diff.changes import duration_text
from reconciler.lint.findings import Finding
from reconciler.load.desired import Desired
from reconciler.load.metadata import utc_text


def _when(expires: datetime, now: datetime) -> str:
    """ "2026-12-05 00:00 UTC (in 2 days 12 h)": the instant and exactly what is left."""
    return f"{utc_text(expires)} (in {duration_text((expires - now).total_seconds())})"


def member_expiries(desired: Desired) -> list[tuple[str, str, datetime, Location | None]]:
    """(group, login, expiry, location) of group members written with `expires` and still
    in force; the loader records them while it strips member metadata."""
    return list(desired.member_meta)


def check_expiry(desired: Desired, now: datetime, within_days: int) -> list[Finding]:
    try:
        horizon = now + timedelta(days=within_days)
    except OverflowError:  # a horizon past the year 9999: everything still in force
        horizon = datetime.max.replace(tzinfo=timezone.utc)
    findings: list[Finding] = []
    for path, meta in sorted(desired.meta.items(), key=lambda kv: (str(kv[0][0]), kv[0][1:])):
        if meta.expires is not None and now < meta.expires <= horizon:
            label = f'{path[0]}[{path[1]}]' + (f' "{meta.name}"' if meta.name else "")
            findings.append(Finding(
                "jit-expiring", "info",
                f"{label} expires at {_when(meta.expires, now)}; the access it gives ends then",
                desired.sources.at(path), "extend `expires` if the access is still needed"))
    for group, login, expires, where in member_expiries(desired):
        if now < expires <= horizon:
            findings.append(Finding(
                "jit-expiring", "info",
                f"{login} leaves {group} at {_when(expires, now)}",
                where, "extend `expires` if the access is still needed"))
    for notice in desired.notices:
        if notice.code == "expired":
            findings.append(Finding("jit-expired", "info", notice.message, notice.location,
                                    "delete the expired entry from the fragment"))
    return findings

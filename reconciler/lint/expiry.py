"""Lint: just-in-time access that expires soon, and access that already expired.

Lint layer (imports `reconciler.desired` for `parse_fragment` and `Desired`,
`reconciler.metadata`). List entries carry `expires` in `Desired.meta`; group members
written as ``{user, expires, reason}`` are stripped by the loader, so their expiry is
read back from the fragment files here (until `Desired` records it, see the report).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from reconciler.desired import Desired, parse_fragment
from reconciler.lint.findings import Finding
from reconciler.metadata import parse_expires
from reconciler.source import Location


def _when(expires: datetime, now: datetime) -> str:
    days = (expires - now).total_seconds() / 86400
    whole = int(days)
    left = "in less than a day" if days < 1 else f"in {whole} day{'s' if whole != 1 else ''}"
    return f"{expires.date().isoformat()} ({left})"


def member_expiries(desired: Desired) -> list[tuple[str, str, datetime, Location | None]]:
    """(group, login, expiry, location) of group members written with `expires`."""
    found = getattr(desired, "member_meta", None)
    if found is not None:  # the loader records them (preferred; see the report)
        return list(found)
    out: list[tuple[str, str, datetime, Location | None]] = []
    for name in desired.files:
        path = desired.root / name
        if not path.is_file():
            continue
        fragment, _ = parse_fragment(name, path.read_bytes())
        groups: Any = fragment.data.get("groups") if fragment is not None else None
        if not isinstance(groups, dict):
            continue
        for group, members in groups.items():
            for i, member in enumerate(members if isinstance(members, list) else []):
                if not isinstance(member, dict) or not isinstance(member.get("user"), str):
                    continue
                expires = parse_expires(member.get("expires"))
                if expires is not None:
                    out.append((str(group), member["user"].strip(), expires,
                                fragment.sources.at(("groups", group, i))))
    return out


def check_expiry(desired: Desired, now: datetime, within_days: int) -> list[Finding]:
    horizon = now + timedelta(days=within_days)
    findings: list[Finding] = []
    for path, meta in sorted(desired.meta.items(), key=lambda kv: (str(kv[0][0]), kv[0][1:])):
        if meta.expires is not None and now < meta.expires <= horizon:
            label = f'{path[0]}[{path[1]}]' + (f' "{meta.name}"' if meta.name else "")
            findings.append(Finding(
                "jit-expiring", "info",
                f"{label} expires on {_when(meta.expires, now)}; the access it gives ends then",
                desired.sources.at(path), "extend `expires` if the access is still needed"))
    for group, login, expires, where in member_expiries(desired):
        if now < expires <= horizon:
            findings.append(Finding(
                "jit-expiring", "info",
                f"{login} leaves {group} on {_when(expires, now)}",
                where, "extend `expires` if the access is still needed"))
    for notice in desired.notices:
        if notice.code == "expired":
            findings.append(Finding("jit-expired", "info", notice.message, notice.location,
                                    "delete the expired entry from the fragment"))
    return findings

"""Metadata the control plane never sees: names, descriptions, owners and expiry.

load/ (step: load), after parsing and before validation. May import: `source`,
`problems`, `suggest`. List entries (acls, grants, ssh, nodeAttrs, tests, sshTests) may
carry `name`, `description`, `owner` and `expires`; group members may be written as
`{user, expires, reason}`. Metadata is checked here and stripped; entries whose
`expires` has passed are dropped with a notice, which is how just-in-time access is
revoked by the next scheduled run; what was dropped is recorded (`Expired`) so a plan
can name what it revokes.

Time semantics: `expires` is an instant. A bare date is the start of that day in UTC
(`expires: 2026-12-05` is 2026-12-05T00:00:00Z: the last day of access is December
4th, UTC); a date-time without a zone is UTC; one with a zone is that instant. An
entry is in force while now < expires.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from typing import Any

from reconciler.core.problems import Problem, Severity
from reconciler.core.source import PathKey, SourceMap
from reconciler.core.suggest import unknown_key

ENTRY_META_KEYS = ("name", "description", "owner", "expires")
# Whether a mapping has none of those keys (one C call per entry).
NO_ENTRY_META = frozenset(ENTRY_META_KEYS).isdisjoint
MEMBER_KEYS = ("user", "expires", "reason")


@dataclass(frozen=True)
class Expired:
    """Just-in-time access that ran out and was left out of the policy: a list entry
    (`value` is the entry without metadata, `name` its name if it has one) or a group
    member (`section` is "groups", `name` the group, `value` the login)."""

    section: str
    name: str | None
    value: Any
    expires: datetime
    reason: str = ""


@dataclass(frozen=True)
class EntryMeta:
    name: str | None = None
    description: str | None = None
    owner: str | None = None
    expires: datetime | None = None


def parse_expires(value: Any) -> datetime | None:
    """An ISO 8601 date or date-time. A bare date means the start of that day, UTC, so
    `expires: 2026-12-01` grants access up to the end of November 30th. A date-time
    without a zone is UTC. Returns None when the value is not a valid date."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime.combine(value, time.min)
    elif isinstance(value, str):
        text = value.strip()
        try:
            if len(text) == 10:
                parsed = datetime.combine(date.fromisoformat(text), time.min)
            else:
                parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def utc_text(when: datetime) -> str:
    """An instant as people read it, in UTC: "2026-12-05 00:00 UTC" (seconds when set)."""
    when = when.astimezone(timezone.utc)
    return when.strftime("%Y-%m-%d %H:%M:%S UTC" if when.second else "%Y-%m-%d %H:%M UTC")


def _expiry(value: Any, where: Any, what: str, problems: list[Problem]) -> datetime | None:
    parsed = parse_expires(value)
    if parsed is None:
        problems.append(Problem(
            f'{what}: expires {value!r} is not a date; write YYYY-MM-DD or an ISO 8601 '
            "date-time such as 2026-12-01T18:00:00Z", where))
    return parsed


def strip_list_entry(
    section: str,
    entry: Any,
    path: PathKey,
    sources: SourceMap,
    now: datetime,
    problems: list[Problem],
    expired: list[Expired] | None = None,
) -> tuple[Any, EntryMeta | None] | None:
    """(entry without metadata, its metadata), or None when the entry has expired (then
    recorded in `expired`)."""
    if not isinstance(entry, dict) or not any(k in entry for k in ENTRY_META_KEYS):
        return entry, None
    what = f"{section}[{path[-1]}]"
    values: dict[str, Any] = {}
    for key in ("name", "description", "owner"):
        if key in entry:
            value = entry[key]
            if not isinstance(value, str) or not value.strip():
                problems.append(Problem(f"{what}: {key} must be a non-empty string",
                                        sources.at((*path, key))))
            else:
                values[key] = value.strip()
    expires = None
    if "expires" in entry:
        expires = _expiry(entry["expires"], sources.at((*path, "expires")), what, problems)
    meta = EntryMeta(expires=expires, **values)
    label = f'{what} "{meta.name}"' if meta.name else what
    if expires is not None and expires <= now:
        problems.append(Problem(
            f"{label} expired at {utc_text(expires)}; it is left out of the policy",
            sources.at(path), Severity.NOTICE, code="expired"))
        if expired is not None:
            expired.append(Expired(section, meta.name, _without_meta(entry), expires,
                                   meta.description or ""))
        return None
    return _without_meta(entry), meta


def _without_meta(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if k not in ENTRY_META_KEYS}


class Members(list):
    """Group members after stripping; `origins[i]` is member i's index in the file,
    `expiring` the kept members written with `expires`: (login, expiry, file index),
    `reasons` the `reason` of each kept member written with one (login -> reason)."""

    origins: list[int]
    expiring: list[tuple[str, datetime, int]]
    reasons: dict[str, str]


def strip_group_members(
    group: str, members: list[Any], sources: SourceMap, now: datetime, problems: list[Problem],
    expired: list[Expired] | None = None,
) -> Members:
    """The group's members as logins; expired ones are left out (recorded in `expired`)."""
    kept = Members()
    kept.origins = []
    kept.expiring = []
    kept.reasons = {}
    for i, member in enumerate(members):
        path = ("groups", group, i)
        if not isinstance(member, dict):
            kept.append(member)
            kept.origins.append(i)
            continue
        what = f'groups["{group}"][{i}]'
        for key in member:
            if key not in MEMBER_KEYS:
                problems.append(Problem(f"{what}: {unknown_key(key, MEMBER_KEYS)}",
                                        sources.key((*path, key))))
        user = member.get("user")
        if not isinstance(user, str) or not user.strip():
            problems.append(Problem(f"{what}: a member written as a mapping needs "
                                    "`user: <login>`", sources.at(path)))
            continue
        reason = member.get("reason")
        if reason is not None and not isinstance(reason, str):
            problems.append(Problem(f"{what}: reason must be a string",
                                    sources.at((*path, "reason"))))
            reason = None
        expires = None
        if "expires" in member:
            expires = _expiry(member["expires"], sources.at((*path, "expires")), what, problems)
            if expires is not None and expires <= now:
                problems.append(Problem(
                    f'{what} "{user.strip()}" expired at {utc_text(expires)}; '
                    f"removed from {group}", sources.at(path), Severity.NOTICE, code="expired"))
                if expired is not None:
                    expired.append(Expired("groups", group, user.strip(), expires,
                                           (reason or "").strip()))
                continue
        if expires is not None:
            kept.expiring.append((user.strip(), expires, i))
        if reason and reason.strip():
            kept.reasons[user.strip()] = reason.strip()
        kept.append(user.strip())
        kept.origins.append(i)
    return kept


def member_expiries(
    members: list[Any],
) -> list[tuple[str, datetime]]:
    """(login, expiry) for members written with `expires` (raw fragment data)."""
    out = []
    for member in members:
        if isinstance(member, dict) and isinstance(member.get("user"), str):
            parsed = parse_expires(member.get("expires"))
            if parsed is not None:
                out.append((member["user"].strip(), parsed))
    return out

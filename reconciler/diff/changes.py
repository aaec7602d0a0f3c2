"""The plan vocabulary: actions, resource changes, test results, the plan itself. No logic
beyond the wording of expiry times, shared by every renderer and by lint.

diff/ (the vocabulary of changes and plans). May import: `diff.access.model`,
`core.inventory`, stdlib. Everything here is data: the planner fills it in, the
plan file stores it, the renderers print it and the applier executes only what it says
(`Plan.document` and `Plan.device_changes`). `reason` fields are for display and never
decide anything at apply time (Terraform's `ActionReason` rule).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from typing import Any

from reconciler.core.inventory import Inventory
from reconciler.diff.access.model import AccessDiff


class Action(str, Enum):
    """What a plan does to one resource. The value is the JSON spelling."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    NOOP = "no-op"

    @property
    def symbol(self) -> str:
        return {"create": "+", "update": "~", "delete": "-", "no-op": " "}[self.value]


class Origin(str, Enum):
    """Why a change is in a plan, from the three-way view (desired, live, base).

    pending: git changed since the last apply, live is as applied (desired != base = live).
    drift: live was edited out of band; the plan reverts it (desired = base != live).
    conflict: both changed (desired != base != live).
    unknown: no base to compare with (the live policy is unmanaged, or base unreadable).
    """

    PENDING = "pending"
    DRIFT = "drift"
    CONFLICT = "conflict"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class FieldChange:
    """One field of a resource. Set-like fields list `added` and `removed` members and
    count the `unchanged` ones; other fields carry `before` and `after` (None = absent)."""

    field: str  # "members", "src", "action", ... ("value" for a whole scalar resource)
    added: tuple[Any, ...] = ()
    removed: tuple[Any, ...] = ()
    unchanged: int = 0
    before: Any = None
    after: Any = None
    is_set: bool = False


@dataclass(frozen=True)
class Expiry:
    """Just-in-time access a change carries: a group member written with `expires`, or
    a list entry with `expires`. Display only (the control plane never sees it).

    `subject` is the member's login or the entry's address; `expires` is ISO 8601 UTC
    ("2026-12-05T00:00:00Z"); `seconds_left` is counted from the plan's clock, and is
    zero or negative when the access has run out (the change then revokes it).
    """

    subject: str
    expires: str
    seconds_left: int
    reason: str = ""

    @property
    def expired(self) -> bool:
        return self.seconds_left <= 0

    def describe(self, subject: str | None = None) -> str:
        """`vic@vendor.example until 2026-12-05 00:00 UTC (2 days 12 h left): INC-42`;
        `subject` replaces the subject (a change's own entry is "in force")."""
        if self.expired:
            when = f"expired at {utc_text(self.expires)}"
            ago = duration_text(-self.seconds_left)
            when += " (just now)" if ago == "less than a minute" else f" ({ago} ago)"
        else:
            when = (f"until {utc_text(self.expires)} "
                    f"({duration_text(self.seconds_left)} left)")
        who = self.subject if subject is None else subject
        return f"{who} {when}" + (f": {self.reason}" if self.reason else "")


def utc_iso(when: datetime) -> str:
    """ISO 8601 in UTC with a `Z`, to the second: how plans record an expiry."""
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_text(iso: str) -> str:
    """"2026-12-05T00:00:00Z" -> "2026-12-05 00:00 UTC" (seconds shown only when set)."""
    when = datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(timezone.utc)
    return when.strftime("%Y-%m-%d %H:%M:%S UTC" if when.second else "%Y-%m-%d %H:%M UTC")


def duration_text(seconds: float) -> str:
    """A span in the two largest units a reader needs: "2 days 12 h", "5 h 30 min",
    "45 min"; whole units only, rounded down (access never lasts longer than said)."""
    seconds = int(seconds)
    if seconds < 60:
        return "less than a minute"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        text = f"{days} day{'s' if days != 1 else ''}"
        return f"{text} {hours} h" if hours else text
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min"


@dataclass(frozen=True)
class ResourceChange:
    """One resource's change. create: before is None; delete: after is None."""

    address: str
    section: str
    key: str
    action: Action
    before: Any = None
    after: Any = None
    fields: tuple[FieldChange, ...] = ()
    origin: Origin = Origin.PENDING
    reason: str = ""  # display only
    location: str | None = None  # file:line:col of the desired definition, when known
    unchanged_fields: int = 0  # fields of an entry that did not change (for "hidden")
    expiries: tuple[Expiry, ...] = ()  # display only: just-in-time access it carries


@dataclass(frozen=True)
class DeviceTagChange:
    """Managed device tags: set `device_id`'s tags to `after` (sorted)."""

    device: str
    device_id: str
    before: tuple[str, ...]
    after: tuple[str, ...]
    origin: Origin = Origin.PENDING
    location: str | None = None

    @property
    def address(self) -> str:
        return f'devices["{self.device}"].tags'


@dataclass(frozen=True)
class TestFailure:
    """One failing or invalid test, in Tailscale's wording, with where it was written."""

    __test__ = False

    message: str
    location: str | None = None  # "policies/tests.yaml:4:5"
    invalid: bool = False


@dataclass(frozen=True)
class TestResults:
    """Local test results (engine), and the control plane's validate verdict if asked."""

    __test__ = False

    passed: int = 0
    failed: int = 0
    invalid: int = 0
    failures: tuple[TestFailure, ...] = ()
    inventory: str = ""  # where the inventory came from: a file, a backend, "synthetic"
    server_checked: bool = False  # the backend's validate ran
    server_ok: bool = True
    server_message: str = ""
    server_failures: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.invalid == 0 and self.server_ok


@dataclass(frozen=True)
class Message:
    """A note, warning or error about the plan as a whole (not a resource)."""

    severity: str  # "error" | "warning" | "notice"
    text: str
    location: str | None = None


@dataclass
class Plan:
    """Everything `apply` needs, and everything a reviewer sees.

    `applyable` is True only when planning succeeded, the tests passed and something
    changes. `document` is the exact HuJSON text to push (managed header included), or
    "" when the policy itself does not change; apply never re-reads the desired state.
    """

    target: str
    identity: str
    desired_commit: str | None
    desired_dirty: bool
    prior_etag: str
    prior_fingerprint: str  # normalize.fingerprint of the live essence at plan time
    document: str
    document_fingerprint: str  # normalize.fingerprint of the document's essence
    changes: list[ResourceChange] = field(default_factory=list)
    drift: list[ResourceChange] = field(default_factory=list)  # base -> live, out of band
    device_changes: list[DeviceTagChange] = field(default_factory=list)
    tests: TestResults = field(default_factory=TestResults)
    messages: list[Message] = field(default_factory=list)
    managed: bool = True  # the live policy carries reconciler's managed header
    adoptable: bool = False  # unmanaged but untouched default: no --adopt needed
    base_commit: str | None = None
    created_at: str = ""
    tool_version: str = ""
    applyable: bool = False
    errored: bool = False
    # Who gains and who loses network access (live -> desired), for the reviewer.
    access: AccessDiff | None = None
    # The live text the plan was made against and the inventory the access diff ran
    # over: with them `show` and `apply` recompute the changes from the file itself.
    prior_document: str = ""
    access_inventory: Inventory | None = None
    # sensitive_tags from reconciler.yaml when the plan was made (None: not set, so tags
    # named like production): `show` and the Action judge risky gains as `plan` did.
    sensitive_tags: tuple[str, ...] | None = None

    @property
    def has_changes(self) -> bool:
        return bool(self.changes or self.device_changes)

    def record_tests(self, tests: TestResults) -> None:
        """Set the checks' results; only a plan whose checks all pass can be applied."""
        self.tests = tests
        self.applyable = self.has_changes and tests.ok and not self.errored

    def counts(self) -> tuple[int, int, int]:
        """(to add, to change, to destroy); device tag updates count as changes."""
        add = sum(1 for c in self.changes if c.action is Action.CREATE)
        change = sum(1 for c in self.changes if c.action is Action.UPDATE)
        destroy = sum(1 for c in self.changes if c.action is Action.DELETE)
        return add, change + len(self.device_changes), destroy


@dataclass(frozen=True)
class ApplyResult:
    """What apply did: the ETags around the write and what it changed."""

    target: str
    etag_before: str
    etag_after: str
    commit: str | None
    changes: tuple[ResourceChange, ...]
    device_changes: tuple[DeviceTagChange, ...]
    pushed: bool
    applied_at: str
    # The push was retried and then found the document already live: an attempt whose
    # answer was lost stored it, or an earlier apply had; which one cannot be told.
    found_live: bool = False



# The planner's warning for a live policy reconciler never wrote (not the untouched
# default); drift adds what it means there, so a reader gets one warning, not two.
UNMANAGED_WARNING = ("the live policy has no reconciler header: it was not applied by "
                     "reconciler. The first apply needs --adopt (run `reconciler import` "
                     "first to keep its contents).")
UNTOLD_EDITS = "Until then, edits outside git cannot be told apart from git changes."

@dataclass
class DriftReport:
    """The scheduled drift check of one target: is live what git says it should be?

    `out_of_band` lists edits made outside git since the last apply (base -> live);
    `pending` the git changes not applied yet; `conflicts` resources changed on both
    sides. `clean` means live equals desired.
    """

    target: str
    identity: str
    out_of_band: list[ResourceChange] = field(default_factory=list)
    pending: list[ResourceChange] = field(default_factory=list)
    conflicts: list[ResourceChange] = field(default_factory=list)
    reverts: list[ResourceChange] = field(default_factory=list)  # plan changes undoing drift
    device_changes: list[DeviceTagChange] = field(default_factory=list)
    managed: bool = True
    base_commit: str | None = None
    desired_commit: str | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)  # the plan's, one line each

    @property
    def clean(self) -> bool:
        return self.error is None and not (self.pending or self.conflicts or self.reverts
                                           or self.device_changes)

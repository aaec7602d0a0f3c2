"""The state one validation run shares: the document, its definitions, the problems found.

Policy model layer (imports `problems`, `source`, and `policy.selectors`). Checkers in
`shapes`, `sections`, `rules` and `tests_shape` append to `Context.problems` through
`report`, which turns a document path into a file:line:col via the SourceMap.
`Memo` lets a checker work out what is wrong with one string once per run.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Generic, TypeVar

from reconciler.core.problems import Problem, Severity
from reconciler.core.source import PathKey, SourceMap
from reconciler.validate.selectors import Kind, Selector


def as_list(value: Any) -> list[Any]:
    """A list-typed field; null and wrong types read as empty (type errors are reported
    once by `shapes`)."""
    return value if isinstance(value, list) else []


def as_map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


@dataclass
class Context:
    policy: Mapping[str, Any]
    sources: SourceMap | None = None
    tailnet_domains: Collection[str] | None = None
    problems: list[Problem] = field(default_factory=list)

    def report(
        self,
        path: PathKey,
        message: str,
        code: str,
        *,
        severity: Severity = Severity.ERROR,
        key: bool = False,
    ) -> None:
        location = None
        if self.sources is not None:
            location = self.sources.key(path) if key else self.sources.at(path)
        self.problems.append(Problem(message, location, severity, code))

    # Definitions, read leniently: a malformed section still defines its keys so that one
    # mistake does not cascade into "not found" errors everywhere.
    @cached_property
    def tags(self) -> Collection[str]:
        return {k.strip() for k in as_map(self.policy.get("tagOwners")) if isinstance(k, str)}

    @cached_property
    def groups(self) -> Collection[str]:
        return {k.strip() for k in as_map(self.policy.get("groups")) if isinstance(k, str)}

    @cached_property
    def hosts(self) -> Mapping[str, Any]:
        hosts = as_map(self.policy.get("hosts"))
        return {k.strip(): v for k, v in hosts.items() if isinstance(k, str)}

    @cached_property
    def ipsets(self) -> Collection[str]:
        return {k.strip() for k in as_map(self.policy.get("ipsets")) if isinstance(k, str)}

    @cached_property
    def postures(self) -> Collection[str]:
        return {k.strip() for k in as_map(self.policy.get("postures")) if isinstance(k, str)}

    @cached_property
    def defined_names(self) -> Collection[str]:
        """Every tag, group, host and ipset name: what a did-you-mean chooses from."""
        return {*self.tags, *self.groups, *self.hosts, *self.ipsets}

    def domain_problem(self, selector: Selector, prefix: str = "") -> str | None:
        """The SaaS message when a `user:*@d` / `localpart:*@d` domain is not the tailnet's.

        The comparison is exact (case-sensitive): SaaS rejected `localpart:*@EXAMPLE.COM`
        in a tailnet whose domain is example.com (capture ssh-e1). An empty domain is not
        checked: SaaS accepted `localpart:*@` (ssh-malformed-user-localpart-no-domain).
        """
        if self.tailnet_domains is None or selector.kind is not Kind.DOMAIN:
            return None
        return domain_message(selector.value, self.tailnet_domains, prefix)


def domain_message(domain: str, tailnet_domains: Collection[str], prefix: str = "") -> str | None:
    if domain == "" or domain in tailnet_domains:
        return None
    return (
        f"{prefix}{domain} is not associated with this Tailnet and cannot be used in "
        "user:*@<domain> expressions"
    )


# Found problems of one string, as (message, code) pairs, to report wherever it is used.
Found = tuple[tuple[str, str], ...]
T = TypeVar("T")


class Memo(Generic[T]):
    """A check of one string, computed once per distinct string in a run.

    Large policies repeat the same selectors and destinations thousands of times, and
    what is wrong with one depends only on its text and the policy's definitions, so
    the answer is kept for the rest of the run (never longer: definitions differ from
    run to run). Callers keep the location out of the answer and report it at each use.
    """

    def __init__(self, ctx: Context, check: Callable[[Context, str], T]) -> None:
        self._ctx = ctx
        self._check = check
        self._answers: dict[str, T] = {}

    def __call__(self, text: str) -> T:
        try:
            return self._answers[text]
        except KeyError:
            answer = self._answers[text] = self._check(self._ctx, text)
            return answer


def report_found(ctx: Context, path: PathKey, found: Found) -> None:
    for message, code in found:
        ctx.report(path, message, code)


# Helpers for the map-shaped sections (groups, tagOwners, hosts, ipsets, postures).


def section_key(section: str, name: str) -> str:
    """groups["group:eng"], as messages name a section entry."""
    return f'{section}["{name}"]'


def section_entries(ctx: Context, section: str) -> list[tuple[str, Any]]:
    return [(k, v) for k, v in as_map(ctx.policy.get(section)).items() if isinstance(k, str)]


def check_prefix(ctx: Context, section: str, name: str, prefix: str) -> bool:
    """Report a section key that lacks its prefix (group:, tag:, ipset:, posture:)."""
    if name.startswith(prefix) and len(name) > len(prefix):
        return True
    ctx.report(
        (section, name),
        f"{section_key(section, name)}: names must start with '{prefix}'",
        "name",
        key=True,
    )
    return False

"""Run a policy's `tests` and `sshTests` offline, with Tailscale's semantics and wording.

engine/ (step: test) (imports the engine modules, `reconciler.core.inventory`,
`reconciler.core.source`, `reconciler.core.errors`, and the parsers of
`reconciler.validate`). Semantics are policy-semantics.md §2.7 and §2.8:

* a test's src stands for every device of that identity: an `accept` entry needs every
  one of them to get through, a `deny` entry needs none to (∀ / ¬∃); an identity with no
  devices fails;
* a dst is one host and one numeric port; the host passes if any of its addresses of the
  source address's family is reachable (∃);
* no `proto` means "TCP or UDP"; ICMP is tested with port 0; `srcPostureAttrs` stand in
  for the source devices' posture attributes;
* a malformed entry (CIDR dst, port list, unknown tag, ...) is *invalid*, reported apart
  from failing assertions, though SaaS answers both with `test(s) failed`;
* sshTests look only at the `ssh` section.

Failures read like SaaS's: ``address "tag:web:80": want: Accept, got: Drop``, grouped by
src in `TestReport.tailscale_failures()`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from reconciler.core.errors import AddressError, SelectorError
from reconciler.core.inventory import Device, Inventory
from reconciler.core.source import Location, PathKey, SourceMap
from reconciler.engine.addrset import AddrSet, parse_ip, strict_ip
from reconciler.engine.compile import CompiledPolicy, compile_policy
from reconciler.engine.index import DeviceAddresses, Point, RuleIndex, Source, SourceGroup
from reconciler.engine.inventory_io import synthetic_inventory
from reconciler.engine.ssh import SSHRule, compile_ssh, ssh_actions
from reconciler.validate.ports import ProtoError, parse_proto, split_acl_dst
from reconciler.validate.selectors import Kind, SelectorSyntaxError, parse_selector

TCP_OR_UDP = frozenset({6, 17})
SSH_WANT = {"accept": "Accept", "check": "Check", "deny": "Drop"}


class Invalid(Exception):
    """Internal: this test entry is malformed; the message says why."""


@dataclass(slots=True)  # slots: one per test entry, tens of thousands of them
class TestResult:
    """One entry of `tests` or `sshTests` and what became of it."""

    __test__ = False  # not a pytest class

    section: str  # "tests" | "sshTests"
    index: int
    src: str
    # Where the entry is written: a Location, or (source map, path) until first read
    # (`location`): a report of passing tests never needs one.
    where: Location | tuple[SourceMap, PathKey] | None = field(default=None, compare=False)
    errors: list[str] = field(default_factory=list)  # failing assertions, SaaS wording
    invalid: list[str] = field(default_factory=list)  # why the entry is malformed
    assertions: int = 0
    title: str | None = None  # the entry's `name:` in its fragment, when it has one
    notes: list[str] = field(default_factory=list)  # why a failure may not be the policy's

    @property
    def location(self) -> Location | None:
        where = self.where
        if type(where) is tuple:
            where = self.where = where[0].at(where[1])
        return where  # type: ignore[return-value]

    def __getstate__(self) -> tuple[Any, ...]:
        """Pickled (from a forked child) with its location, not the source map."""
        self.location  # noqa: B018 (resolves `where`)
        return tuple([getattr(self, name) for name in self.__slots__])

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        for name, value in zip(self.__slots__, state, strict=True):
            object.__setattr__(self, name, value)

    @property
    def status(self) -> str:
        return "invalid" if self.invalid else "failed" if self.errors else "passed"

    @property
    def label(self) -> str:
        """How people know the entry: `tests["alice-db"]` by its name, else `tests[3]`."""
        if self.title is None:
            return f"{self.section}[{self.index}]"
        return f"{self.section}[{json.dumps(self.title, ensure_ascii=False)}]"

    @property
    def name(self) -> str:
        return f"{self.label} {self.src}"


@dataclass
class TestReport:
    """Every test entry's result; `ok` when none failed and none was invalid."""

    __test__ = False

    results: list[TestResult]
    inventory: str = "synthetic"

    @property
    def passed(self) -> list[TestResult]:
        return [r for r in self.results if r.status == "passed"]

    @property
    def failed(self) -> list[TestResult]:
        return [r for r in self.results if r.status == "failed"]

    @property
    def invalid(self) -> list[TestResult]:
        return [r for r in self.results if r.status == "invalid"]

    @property
    def ok(self) -> bool:
        return not self.failed and not self.invalid

    @property
    def assertions(self) -> int:
        return sum([r.assertions for r in self.results])

    def named(self, names: Mapping[tuple[str | int, ...], str]) -> TestReport:
        """The report with each entry's `name:` (entry path -> name, as `Desired.meta`
        holds them), so failures are cited by name rather than by position."""
        for r in self.results:
            r.title = names.get((r.section, r.index))
        return self

    def tailscale_failures(self) -> list[dict[str, Any]]:
        """SaaS's `data` of a `test(s) failed` answer: ``[{"user": src, "errors": [...]}]``."""
        grouped: dict[str, list[str]] = {}
        for r in self.results:
            if r.status != "passed":
                grouped.setdefault(r.src, []).extend(r.invalid + r.errors)
        return [{"user": src, "errors": errors} for src, errors in grouped.items()]


def run_tests(policy: Mapping[str, Any], inventory: Inventory | None = None,
              sources: SourceMap | None = None, *,
              compiled: CompiledPolicy | None = None) -> TestReport:
    """Run every `tests` and `sshTests` entry of `policy` against `inventory`.

    Without an inventory, a synthetic one (one device per user and per tag) is used.
    `compiled`: `policy` already compiled over `inventory` (shared with other work).
    Raises `CompileError` (a ReconcilerError) if the rules themselves cannot compile.
    """
    if compiled is None:
        inv = inventory if inventory is not None else synthetic_inventory(policy)
        compiled = compile_policy(policy, inv)
    return Runner(compiled, sources).run()


class Runner:
    """Evaluates test entries against one compiled policy (reusable across calls)."""

    def __init__(self, compiled: CompiledPolicy, sources: SourceMap | None = None) -> None:
        self.compiled = compiled
        self.resolver = compiled.resolver
        self.addresses = DeviceAddresses(compiled.inventory.devices)
        self.sources = sources
        self._ssh: list[SSHRule] | None = None
        self.known_users = {u.login.lower() for u in compiled.inventory.users}
        self._dst_cache: dict[str, tuple[list[Point], list[Device]]] = {}
        self._src_cache: dict[str, list[Source]] = {}
        self._group_cache: dict[str, SourceGroup] = {}
        self._parsed_dst: dict[str, tuple[str, str, list[Point], int]] = {}
        self._hosts: dict[str, str] = {}
        self._roles: list[str] | None = None

    @cached_property
    def index(self) -> RuleIndex:
        """The rule index, built on first use (`explain` parses its question without it)."""
        return RuleIndex(self.compiled, self.addresses)

    def run(self) -> TestReport:
        policy = self.compiled.policy
        work: list[tuple[Callable[[int, Any], TestResult], int, Any]] = []
        for section, run_one in (("tests", self.run_test), ("sshTests", self.run_ssh_test)):
            entries = policy.get(section) or []
            if not isinstance(entries, list):
                entries = [entries]
            work.extend((run_one, i, entry) for i, entry in enumerate(entries))
        results = [run_one(i, entry) for run_one, i, entry in work]
        return TestReport(results, self.compiled.inventory.source)

    def _location(self, path: PathKey) -> tuple[SourceMap, PathKey] | None:
        return (self.sources, path) if self.sources is not None else None

    # --- sources ------------------------------------------------------------------------

    def sources_of(self, text: Any, attrs: Mapping[str, Any] | None) -> list[Source]:
        if not isinstance(text, str) or not text.strip():
            raise Invalid("src must be specified")
        s = text.strip()
        if attrs is None and s in self._src_cache:
            return self._src_cache[s]
        try:
            sel = parse_selector(s)
        except SelectorSyntaxError as e:
            raise Invalid(f"src {e}") from None
        if sel.kind in (Kind.USER, Kind.GROUP, Kind.TAG):
            if sel.kind is Kind.USER and sel.value.lower() not in self.known_users \
                    and not self.resolver.user_devices(sel.value):
                raise Invalid(f'src "{s}": user not found')
            try:
                devices = self.resolver.identity_devices(s) or []
            except SelectorError as e:
                raise Invalid(f'src "{s}": {e.summary}') from None
            found = [self.addresses.source(d, attrs) for d in devices]
        elif sel.kind in (Kind.HOST, Kind.IP):
            point = self._single_address(sel.kind, sel.value, s, "src")
            owner = self.addresses.owner.get(point)
            base = attrs if attrs is not None else (owner.posture if owner else None)
            found = [Source(point[1] if point[0] == 4 else None,
                            point[1] if point[0] == 6 else None, owner, base)]
        else:
            raise Invalid(f'src "{s}" is not allowed: a test src must be a specific user, '
                          "group, tag, host or IP")
        if attrs is None:
            self._src_cache[s] = found
        return found

    def _single_address(self, kind: Kind, value: str, text: str, side: str) -> Point:
        if kind is Kind.HOST:
            if value not in self.resolver.hosts:
                raise Invalid(f'{side} "{text}": host not found')
            literal = self.resolver.hosts[value]
            try:
                return parse_ip(literal)
            except AddressError:
                raise Invalid(f'{side} "{text}": host {value!r} is {literal!r}, not a single IP; '
                              "a test address must be a single host, not a CIDR") from None
        return parse_ip(value)

    # --- destinations -------------------------------------------------------------------

    def _dst_points(self, host: str, text: str) -> tuple[list[Point], list[Device]]:
        cached = self._dst_cache.get(host)
        if cached is not None:
            return cached
        point = strict_ip(host)
        if point is not None:  # an IP literal, as parse_selector would find (but sooner)
            owner = self.addresses.owner.get(point)
            found = self._dst_cache[host] = ([point], [owner] if owner else [])
            return found
        try:
            sel = parse_selector(host)
        except SelectorSyntaxError as e:
            raise Invalid(f'"{text}": {e}') from None
        devices: list[Device] = []
        if sel.kind in (Kind.USER, Kind.GROUP, Kind.TAG):
            if sel.kind is Kind.USER and sel.value.lower() not in self.known_users \
                    and not self.resolver.user_devices(sel.value):
                raise Invalid(f'"{text}": user not found')
            try:
                devices = self.resolver.identity_devices(host) or []
            except SelectorError as e:
                raise Invalid(f'"{text}": {e.summary}') from None
            points = self.addresses.points_of(devices)
        elif sel.kind in (Kind.HOST, Kind.IP):
            points = [self._single_address(sel.kind, sel.value, text, "dst")]
            owner = self.addresses.owner.get(points[0])
            devices = [owner] if owner else []
        elif sel.kind is Kind.SERVICE:
            points = []  # Service VIPs are not in the inventory: nothing to reach
        elif sel.kind in (Kind.CIDR, Kind.IP_RANGE):
            raise Invalid(f'"{text}": a test destination must be a single host, not a CIDR')
        elif sel.kind is Kind.AUTOGROUP:
            raise Invalid(f'"{text}": {sel.value} is not a valid test destination')
        else:
            raise Invalid(f'"{text}": a test destination must be a host, user, group or tag')
        self._dst_cache[host] = (points, devices)
        return points, devices

    # --- tests --------------------------------------------------------------------------

    def run_test(self, i: int, entry: Any) -> TestResult:
        src_text = str(entry.get("src", entry.get("user", ""))) if _is_mapping(entry) else ""
        result = TestResult("tests", i, src_text.strip(), self._location(("tests", i)))
        try:
            self._run_test(entry, result)
        except Invalid as e:
            result.invalid.append(str(e))
        if result.errors and self.compiled.inventory.source == "synthetic":
            self._synthetic_note(entry, result)
        return result

    # --- what a synthetic inventory cannot know -------------------------------------------

    def _synthetic_note(self, entry: Any, result: TestResult) -> None:
        """Say so when a failure may be the synthetic inventory's rather than the
        policy's: its users hold no role (every one is a plain member), and a host alias
        or IP a test names is no device of it (so no tag, user or group reaches it)."""
        reasons: list[str] = []
        roles = self._roles_named()
        user_src = bool(result.src) and not result.src.startswith(("tag:", "autogroup:"))
        if roles and user_src and result.section == "sshTests":
            reasons.append(f"its users hold no role, so {', '.join(roles)} "
                           f"cover{'s' if len(roles) == 1 else ''} none of them")
        if result.section == "tests" and _is_mapping(entry):
            for text in [*(entry.get("accept", entry.get("allow")) or []),
                         *(entry.get("deny") or [])]:
                parsed = self._parsed_dst.get(text) if isinstance(text, str) else None
                if parsed is None:
                    continue
                _, host, points, port = parsed
                device = any(p in self.index.owner for p in points)
                # A rule for a role that reaches this destination (or might, when it is
                # no device here): a user holding the role would be let through, and
                # synthetic users hold none.
                by_role = sorted({t for rule in self.compiled.rules
                                  for t in rule.src_text if t in roles
                                  and (not device
                                       or any(rule.dst.contains_int(*p) for p in points))
                                  and any(rule.allows_port(q, port) for q in rule.protos)})
                if by_role and user_src:
                    reasons.append(f"its users hold no role, so {', '.join(by_role)} "
                                   f"cover{'s' if len(by_role) == 1 else ''} none of them")
                if points and not device:
                    shown = self.resolver.hosts.get(host)
                    what = f'host "{host}" ({shown})' if shown else f'"{host}"'
                    reasons.append(f"{what} is no device of it, so no tag, user or group "
                                   "reaches it")
        if reasons:
            result.notes.append(
                "this assertion depends on the synthetic inventory: "
                + "; ".join(dict.fromkeys(reasons))
                + ". Give --inventory FILE (users with roles, devices with addresses) or "
                  "a target with a backend")

    def _roles_named(self) -> list[str]:
        """The role autogroups (other than autogroup:member) the policy's rules name."""
        if self._roles is None:
            from reconciler.validate.selectors import ROLE_AUTOGROUPS

            texts: set[str] = set()
            for rule in self.compiled.rules:
                texts.update(rule.src_text)
                texts.update(rule.dst_text)
            for entry in self.compiled.policy.get("ssh") or []:
                if _is_mapping(entry):
                    texts.update(t for t in entry.get("src") or [] if isinstance(t, str))
            self._roles = sorted(t.strip() for t in texts
                                 if t.strip() in ROLE_AUTOGROUPS - {"autogroup:member"})
        return self._roles

    def _run_test(self, entry: Any, result: TestResult) -> None:
        if not _is_mapping(entry):
            raise Invalid("a test must be an object with src and accept/deny")
        attrs = entry.get("srcPostureAttrs")
        if attrs is not None and not isinstance(attrs, Mapping):
            raise Invalid("srcPostureAttrs must be an object")
        srcs = self.sources_of(entry.get("src", entry.get("user")), attrs)
        accept = entry.get("accept", entry.get("allow")) or []
        deny = entry.get("deny") or []
        if not isinstance(accept, list) or not isinstance(deny, list):
            raise Invalid("accept and deny must be lists of host:port")
        if not accept and not deny:
            raise Invalid("a test needs at least one accept or deny entry")
        proto_text = entry.get("proto")
        try:
            proto = parse_proto(str(proto_text)) if proto_text not in (None, "") else None
        except ProtoError as e:
            raise Invalid(str(e)) from None
        protos = TCP_OR_UDP if proto is None else frozenset({proto})
        parsed, query = self._parsed_dst, self._query
        try:  # mostly destinations seen (and parsed) before
            accepts = [parsed[text] if text in parsed else query(text) for text in accept]
            denies = [parsed[text] if text in parsed else query(text) for text in deny]
        except TypeError:  # not even hashable: `_query` says why it is invalid
            accepts = [query(text) for text in accept]
            denies = [query(text) for text in deny]
        if not srcs:
            result.errors.append(f'src "{result.src}" has no devices to test from')
        group = self.group_of(result.src, srcs, attrs)
        verdict = self.index.verdict
        errors = result.errors
        result.assertions += len(accepts) + len(denies)
        for text, host, points, port in accepts:
            if not verdict(group, points, port, protos, every=True, key=host):
                errors.append(f'address "{text}": want: Accept, got: Drop')
        for text, host, points, port in denies:
            if verdict(group, points, port, protos, every=False, key=host):
                errors.append(f'address "{text}": want: Drop, got: Accept')

    def parse_dst(self, text: Any) -> tuple[list[Point], int]:
        """A test dst `host:port` -> (addresses, port); raises Invalid."""
        _, _, points, port = self._query(text)
        return points, port

    def parse_dst_keyed(self, text: Any) -> tuple[str, list[Point], int]:
        """`parse_dst` plus the host text (the cache key of its addresses); cached."""
        _, host, points, port = self._query(text)
        return host, points, port

    def _query(self, text: Any) -> tuple[str, str, list[Point], int]:
        """A test dst as (trimmed text, host, addresses, port); cached per text."""
        found = self._parsed_dst.get(text) if isinstance(text, str) else None
        if found is None:
            host, points, port = self._parse_dst_keyed(text)  # raises Invalid for a non-str
            found = self._parsed_dst[text] = (text.strip(), host, points, port)
        return found

    def _parse_dst_keyed(self, text: Any) -> tuple[str, list[Point], int]:
        trimmed = text.strip() if isinstance(text, str) else ""
        if not trimmed:
            raise Invalid("a test destination must be a non-empty host:port string")
        if "[" in text:
            host, port_text = split_acl_dst(text)
        else:  # split at the last ':'
            host, sep, port_text = trimmed.rpartition(":")
            if not sep:
                host, port_text = trimmed, ""
        if not port_text:
            raise Invalid(f'"{text}": a test destination needs a port')
        port = int(port_text) if port_text.isdigit() else -1
        if not 0 <= port <= 65535:
            raise Invalid(f'"{text}": a test destination needs one numeric port (0-65535), '
                          f"not {port_text!r}")
        host = host.strip()
        points, _ = self._dst_points(host, trimmed)
        # One string per host, however many ports are asked of it: it keys every cache
        # of the question (here and in the index) for the rest of the run.
        return self._hosts.setdefault(host, host), points, port

    def group_of(self, src: str, sources: list[Source],
                 attrs: Mapping[str, Any] | None) -> SourceGroup:
        if attrs is not None:
            return self.index.group(sources)
        found = self._group_cache.get(src)
        if found is None:
            found = self._group_cache[src] = self.index.group(sources)
        return found

    # --- sshTests -----------------------------------------------------------------------

    def run_ssh_test(self, i: int, entry: Any) -> TestResult:
        src_text = str(entry.get("src", "")) if isinstance(entry, Mapping) else ""
        result = TestResult("sshTests", i, src_text.strip(), self._location(("sshTests", i)))
        try:
            self._run_ssh_test(entry, result)
        except Invalid as e:
            result.invalid.append(str(e))
        if result.errors and self.compiled.inventory.source == "synthetic":
            self._synthetic_note(entry, result)
        return result

    def _ssh_dst(self, text: Any) -> list[Device]:
        if not isinstance(text, str) or not text.strip():
            raise Invalid("an sshTests dst must be a non-empty string")
        s = text.strip()
        try:
            sel = parse_selector(s)
        except SelectorSyntaxError:
            raise Invalid(f'SSH tests dst contains unknown element "{s}"') from None
        if sel.kind is Kind.TAG and sel.value not in self.resolver.tags:
            raise Invalid(f'SSH tests dst contains unknown tag "{s}"')
        if sel.kind in (Kind.CIDR, Kind.IP_RANGE, Kind.AUTOGROUP, Kind.WILDCARD, Kind.IPSET):
            raise Invalid(f'SSH tests dst contains disallowed element "{s}"')
        if sel.kind is Kind.IP and ":" in sel.value:
            raise Invalid(f'SSH tests dst "{s}": a bare IPv6 address is not accepted by SaaS')
        if sel.kind in (Kind.HOST, Kind.IP):
            point = self._single_address(sel.kind, sel.value, s, "dst")
            owner = self.addresses.owner.get(point)
            return [owner] if owner else []
        try:
            return self.resolver.identity_devices(s) or []
        except SelectorError as e:
            raise Invalid(f'SSH tests dst "{s}": {e.summary}') from None

    def _run_ssh_test(self, entry: Any, result: TestResult) -> None:
        if not isinstance(entry, Mapping):
            raise Invalid("an sshTests entry must be an object with src, dst and users")
        attrs = entry.get("srcPostureAttrs")
        if attrs is not None and not isinstance(attrs, Mapping):
            raise Invalid("srcPostureAttrs must be an object")
        srcs = self.sources_of(entry.get("src"), attrs)
        dst_list = entry.get("dst")
        if not isinstance(dst_list, list) or not dst_list:
            raise Invalid("dst must be a non-empty list of hosts")
        dsts = [(str(d).strip(), self._ssh_dst(d)) for d in dst_list]
        lists: dict[str, list[str]] = {}
        for key in ("accept", "check", "deny"):
            value = entry.get(key) or []
            if not isinstance(value, list) or not all(isinstance(u, str) for u in value):
                raise Invalid(f"{key} must be a list of user names")
            if any(not u.strip() for u in value):
                raise Invalid(f'{key}: user "" is not valid')
            lists[key] = [u.strip() for u in value]
        if not any(lists.values()):
            raise Invalid("an sshTests entry needs at least one accept, check or deny user")
        if self._ssh is None:
            self._ssh = compile_ssh(self.compiled.policy, self.resolver)
        if not srcs:
            result.errors.append(f'src "{result.src}" has no devices to test from')
        for dst_text, devices in dsts:
            for want, users in lists.items():
                for user in users:
                    result.assertions += 1
                    per_src = [self._ssh_got(s, devices, user) for s in srcs]
                    if want == "deny":
                        ok = not any(per_src)
                        got = "Accept" if any(per_src) else "Drop"
                    else:
                        need = {"accept": {"accept", "check"}, "check": {"check"}}[want]
                        ok = bool(srcs) and all(bool(g & need) for g in per_src)
                        got = _ssh_word(next((g for g in per_src if not g & need), set()))
                    if not ok:
                        result.errors.append(
                            f'address "{dst_text}" user "{user}": '
                            f"want: {SSH_WANT[want]}, got: {got}"
                        )

    def _ssh_got(self, src: Source, devices: list[Device], user: str) -> set[str]:
        assert self._ssh is not None
        addrs = AddrSet(
            [(src.v4, src.v4)] if src.v4 is not None else [],
            [(src.v6, src.v6)] if src.v6 is not None else [],
        )
        found: set[str] = set()
        for d in devices:
            found |= ssh_actions(self._ssh, self.compiled.postures, src.device, addrs,
                                 src.attrs, d, user)
        return found


def _is_mapping(value: Any) -> bool:
    """isinstance(value, Mapping), checking the usual dict first (the ABC check is slow)."""
    return type(value) is dict or isinstance(value, Mapping)


def _ssh_word(actions: set[str]) -> str:
    return "Check" if "check" in actions else "Accept" if actions else "Drop"

"""`plan`: load, test, fetch, diff; the plan for one target, and the plan that revokes.

commands/ (step: plan). May import everything below the CLI (`load`, `backends`,
`engine`, `diff`, `plan`, `render`, `core`). Each module of commands/ is one verb's use
case as plain functions: the CLI parses options, calls one, renders and exits;
everything here works without click.

Requests to the control plane per `plan`: at most 3. The policy (GET) and the device
list (GET) always; then one of: the server-side validate (POST, when something
changes), or the user list (GET, when a rule or test names a role autogroup such as
autogroup:admin, so roles decide who reaches what). The device list is read once and
serves the managed device tags, the local tests and the access diff alike.

The inventory (`plan_inventory`): by default the tailnet's own devices and their owners
as users (with roles when read). The tests run on exactly that; the access diff on that
plus a synthesised device for every identity the live or desired policy names that owns
none (so no gain or loss of a person without a device is hidden; device counts leave
them out). The base policy adds no identity of its own: the access diff is live ->
desired. With roles read, the tests ran on the tailnet's own users and devices, so the
control plane's validate would repeat them (and the push checks once more, atomically)
and is left out, as for the local backend.
`--inventory FILE` reads a file; `--inventory synthetic` (and a tailnet with no devices)
uses one device per user and tag the policies name, and the plan says so.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from reconciler import __version__
from reconciler.backends.base import Backend, ValidationResult
from reconciler.commands.session import EPOCH, Session, _stamp, reviewed_sensitive_tags
from reconciler.core import progress
from reconciler.core.errors import ConfigError, GitError, PolicyError, ReconcilerError
from reconciler.core.forked import Forked, collector_paused
from reconciler.core.inventory import Device, Inventory
from reconciler.core.source import SourceMap
from reconciler.diff import normalize
from reconciler.diff.access.model import LIVE_POLICY
from reconciler.diff.changes import Message, Plan, TestFailure, TestResults
from reconciler.engine import CompiledPolicy, compile_policy
from reconciler.engine.compile import rebound
from reconciler.load import hujson
from reconciler.load.config import Target
from reconciler.load.desired import Desired, load_desired
from reconciler.load.document import ManagedHeader, fingerprint, read_header, to_json
from reconciler.plan.planner import BaseState, LiveState, build_plan, live_is_base

T = TypeVar("T")


def fetch_live(backend: Backend, target: str) -> LiveState:
    live = backend.fetch_policy()
    if not live.text.strip():
        # A control plane with no policy stored yet (Headscale in database mode).
        return LiveState(live.text, live.etag, {}, None)
    try:
        policy = hujson.loads(live.text, file=f"live policy of {target}")
    except ReconcilerError as e:
        raise ReconcilerError(
            f'the live policy of target "{target}" cannot be parsed: {e.summary}',
            "Nothing can be planned against it: fix it in the control plane (the admin "
            "console's editor), then plan again.") from e
    if not isinstance(policy, dict):
        raise ReconcilerError(f'the live policy of target "{target}" is not a JSON object')
    return LiveState(live.text, live.etag, policy, read_header(live.text))


RECOVERY_DEPTH = 20  # commits of the policies' history matched against a header-less live


def recover_header(session: Session, target: str, live: LiveState
                   ) -> tuple[LiveState, Message | None]:
    """`live` with its last-applied commit found another way when its header is gone.

    A write through the API as JSON drops every comment, the managed header with them;
    the policy is still reconciler's. Only a plain-JSON live document is considered
    (a HuJSON one without a header was never applied by reconciler). The commit comes
    from this target's newest `--git-note` apply note, else from the commit of the last
    RECOVERY_DEPTH changes to the policies whose compiled policy is closest to live (and
    shares at least 3/4 of it both ways). The recovered header has no fingerprint, so
    live is never taken for the base itself: the base is recompiled from git and edits
    since then show as made outside git. Returns `live` unchanged when nothing fits."""
    import json

    from reconciler.load import gitsource

    if live.header is not None or not live.policy:
        return live, None
    try:
        json.loads(live.text)
    except ValueError:
        return live, None
    root = session.config.root
    how = ""
    commit = _noted_commit(gitsource.noted_commits(root), target)
    if commit is not None:
        how = "its apply note (git notes)"
    else:
        commit = _closest_commit(session, live.policy)
        how = f"the closest match among the last {RECOVERY_DEPTH} policy commits"
    if commit is None:
        return live, None
    message = Message("warning", (
        f"the live policy carries no reconciler header (a write through the API as JSON "
        f"drops it); the last applied commit is taken to be {commit[:12]}, from "
        f"{how}: edits since show as made outside git, and the next apply restores it"))
    return replace(live, header=ManagedHeader(commit=commit, fingerprint="")), message


def _noted_commit(notes: list[tuple[str, str]], target: str) -> str | None:
    """The commit of the newest `reconciler apply target=<target>` note."""
    best: tuple[str, str] | None = None
    for commit, text in notes:
        for line in text.splitlines():
            fields = dict(f.split("=", 1) for f in line.split()[2:] if "=" in f)
            if line.startswith("reconciler apply ") and fields.get("target") == target:
                at = fields.get("at", "")
                if best is None or at > best[0]:
                    best = (at, commit)
    return best[1] if best is not None else None


def _closest_commit(session: Session, policy: dict[str, Any]) -> str | None:
    from collections import Counter

    from reconciler.load import gitsource

    def signature(doc: dict[str, Any]) -> Counter[str]:
        out: Counter[str] = Counter()
        for section, value in normalize.essence(doc).items():
            if isinstance(value, list):
                out.update(f"{section}\0{normalize.canonical_json(v)}" for v in value)
            elif isinstance(value, dict):
                out.update(f"{section}\0{k}\0{normalize.canonical_json(v)}"
                           for k, v in value.items())
            else:
                out[f"{section}\0{normalize.canonical_json(value)}"] += 1
        return out

    live = signature(policy)
    best: tuple[int, str] | None = None
    for commit in gitsource.recent_commits(session.config.root, session.config.policies_dir,
                                           RECOVERY_DEPTH):
        for moment in (session.now, EPOCH):  # entries may have expired since the apply
            try:
                loaded = load_desired(session.config.root, ref=commit, now=moment,
                                      config=session.config, validate=False)
            except (GitError, PolicyError, ConfigError):
                break
            mine = signature(loaded.policy)
            shared = sum((live & mine).values())
            if 4 * shared < 3 * sum(live.values()) or 4 * shared < 3 * sum(mine.values()):
                continue
            distance = sum((live - mine).values()) + sum((mine - live).values())
            if best is None or distance < best[0]:  # newest first: ties keep the newer
                best = (distance, commit)
            if distance == 0:
                return commit
            if not any(p.code == "expired" for p in loaded.notices):
                break  # nothing expired: compiled with nothing expired, it is the same
    return best[1] if best is not None else None


def _names_changed(desired: Desired, live: LiveState) -> bool:
    """A named desired entry whose content is not in live, or a live entry the desired
    state no longer has (destroyed): the base is needed to name it."""
    if _destroys_entries(desired, live):
        return True
    live_hashes: dict[str, set[str]] = {}
    for path, meta in desired.meta.items():
        section, index = str(path[0]), path[1]
        if (not meta.name or section not in normalize.LIST_SECTIONS
                or not isinstance(index, int)):
            continue
        entry = desired.policy[section][index]
        live_list = live.policy.get(section)
        if isinstance(live_list, list) and index < len(live_list) and live_list[index] == entry:
            # The same entry at the same place: its content is in live. (The usual case;
            # it spares normalising and hashing the whole live policy.)
            continue
        if section not in live_hashes:
            live_hashes[section] = set(normalize.entry_hashes(live.policy, section))
        if normalize.content_hash(normalize.normalize_entry(section, entry)) \
                not in live_hashes[section]:
            return True
    return False


def _destroys_entries(desired: Desired, live: LiveState) -> bool:
    """Live holds a list entry that the desired state does not (compared as written: a
    false alarm only costs loading the base). Positions are compared first, so a plan
    that destroys nothing costs no serialising."""
    for section in normalize.LIST_SECTIONS:
        have, want = live.policy.get(section), desired.policy.get(section) or []
        if not isinstance(have, list) or have == want:
            continue
        wanted: set[str] | None = None
        for i, entry in enumerate(have):
            if i < len(want) and want[i] == entry:
                continue
            if wanted is None:
                wanted = {json.dumps(e, sort_keys=True) for e in want}
            if json.dumps(entry, sort_keys=True) not in wanted:
                return True
    return False


def load_base(session: Session, desired: Desired, live: LiveState) -> BaseState | None:
    """The last-applied state from the managed header (see planner's docstring)."""
    header = live.header
    if header is None:
        return None
    exact = live_is_base(live)
    if header.commit is None:
        return BaseState(None, (), exact)
    candidates: list[Desired] = []
    if not exact or _names_changed(desired, live):
        try:
            candidates.append(load_desired(session.config.root, ref=header.commit,
                                           now=session.now, config=session.config,
                                           validate=False))
        except (GitError, PolicyError, ConfigError):
            return BaseState(header.commit, (), exact)
        if not exact and fingerprint(candidates[0].policy) != header.fingerprint:
            # Entries may have expired since the apply: also compare with nothing expired.
            with contextlib.suppress(GitError, PolicyError, ConfigError):
                candidates.append(load_desired(session.config.root, ref=header.commit,
                                               now=EPOCH, config=session.config,
                                               validate=False))
    return BaseState(header.commit, tuple(candidates), exact)


def _require_base_commit(session: Session, commit: str) -> None:
    """A shallow clone without the last-applied commit cannot tell edits made outside
    git from changes pending in git: say so (exit 1) rather than misfile them."""
    from reconciler.load import gitsource

    if gitsource.missing_from_shallow_clone(session.config.root, commit):
        raise GitError(
            f"the last-applied commit {commit[:12]} is not in this shallow clone, so "
            "changes made outside git cannot be told apart from changes pending in git",
            "Fetch the history and run again: `git fetch --unshallow` (in GitHub Actions, "
            "actions/checkout with `fetch-depth: 0`).")


def test_results(desired: Desired, inventory: Inventory,
                 compiled: CompiledPolicy | None = None) -> TestResults:
    from reconciler.engine import run_tests

    report = run_tests(desired.policy, inventory, desired.sources, compiled=compiled)
    report.named({path: meta.name for path, meta in desired.meta.items() if meta.name})
    failures = []
    for r in report.results:
        where = str(r.location) if r.location else None
        failures += [TestFailure(f"{r.name}: {m}", where, invalid=True) for m in r.invalid]
        failures += [TestFailure(f"{r.name}: {m}", where) for m in r.errors]
    return TestResults(passed=len(report.passed), failed=len(report.failed),
                       invalid=len(report.invalid), failures=tuple(failures),
                       inventory=inventory.source)


SYNTHETIC_NOTICE = (
    "access changes and tests were computed over a synthetic inventory (one device per "
    "user and tag the policies name), not the tailnet's users and devices: device counts "
    "are not real")


@dataclass(frozen=True)
class PlanInventory:
    """What the tests and the access diff run over, and what reading it cost."""

    inventory: Inventory  # for the tests: the tailnet as it is
    devices: list[Device] | None  # the tailnet's device list, when read
    synthetic: bool = False
    checked: bool = False  # the tests ran on the tailnet's own users and devices
    # For the access diff: `inventory` plus a device for each named identity without
    # one (the same object when none is missing).
    access: Inventory | None = None

    @property
    def for_access(self) -> Inventory:
        return self.access if self.access is not None else self.inventory


def plan_inventory(spec: str | None, target: Target, backend: Backend, desired: Desired,
                   live: dict[str, Any]) -> PlanInventory:
    """See the module docstring for the choices and what each costs."""
    from reconciler.engine import load_inventory
    from reconciler.engine.inventory_io import (
        names_roles,
        synthetic_for,
        users_of,
        with_named_identities,
    )

    if spec and spec not in ("backend", "synthetic"):
        path = Path(spec)
        if not path.is_absolute():
            path = Path.cwd() / path
        devices = backend.list_devices() if desired.devices else None
        return PlanInventory(load_inventory(path), devices)
    named = (live, desired.policy)
    if spec == "synthetic":
        devices = backend.list_devices() if desired.devices else None
        return PlanInventory(synthetic_for(*named), devices, synthetic=True)
    devices = backend.list_devices()
    if not devices:
        # Nothing real to count or test from: say so rather than show empty access.
        # (Before reading roles: they would serve nothing, and the validate still runs.)
        return PlanInventory(synthetic_for(*named), devices, synthetic=True)
    local = target.backend == "local"
    roles = local or names_roles(*named)
    users = tuple(backend.list_users()) if roles else users_of(devices)
    real = Inventory(users=users, devices=tuple(devices), source=backend.identity)
    # The tests run on the tailnet as it is (as the control plane's own checks do).
    return PlanInventory(real, devices, checked=roles and not local,
                         access=with_named_identities(real, *named))


def _default_policy() -> dict[str, Any]:
    from reconciler.backends.local.seed import DEFAULT_POLICY

    return hujson.loads(DEFAULT_POLICY)


def make_plan(
    session: Session,
    *,
    target: str | None = None,
    ref: str | None = None,
    inventory: str | None = None,
    desired: Desired | None = None,
    backend: Backend | None = None,
    timings: dict[str, float] | None = None,
    with_document: bool = True,
    live: LiveState | None = None,
) -> Plan:
    """Load, test, fetch, diff: the plan for one target (nothing is written anywhere).

    The local tests run in a forked child (see `forked`) while this process loads the
    base, diffs and computes the access changes: the two halves take about as long on
    a large tailnet.
    `timings`, when given, receives the seconds each phase took (then everything runs
    in this process, so each phase is timed alone). `live`: already fetched."""
    tgt = session.target(target)
    clock = _Stopwatch(timings)
    desired = desired or clock.run("load", lambda: session.desired(ref))
    _check_dialect(tgt, desired)
    own = backend is None
    be = backend or session.backend(tgt)
    try:
        fetched = live if live is not None else \
            clock.run("fetch", lambda: fetch_live(be, tgt.name))
        fetched, recovered = recover_header(session, tgt.name, fetched)
        if fetched.header is not None and fetched.header.commit:
            _require_base_commit(session, fetched.header.commit)
        chosen = clock.run("inventory", lambda: plan_inventory(
            inventory, tgt, be, desired, fetched.policy))
        inv, devices = chosen.inventory, chosen.devices
        # Compiled once for the tests and the access diff (the child inherits it).
        compiled = clock.run("compile", lambda: compile_policy(desired.policy, inv))
        testing = None if timings is not None else Forked(
            lambda: test_results(desired, inv, compiled), transport=(ReconcilerError,))
        base = clock.run("base", lambda: load_base(session, desired, fetched))
        plan = clock.run("diff", lambda: build_plan(
            target=tgt.name, identity=be.identity, desired=desired, live=fetched, base=base,
            devices=devices, tests=TestResults(inventory=inv.source),
            created_at=_stamp(session.now), tool_version=__version__,
            default_policy=_default_policy(), with_document=with_document))
        server = None
        if plan.changes:
            note = getattr(be, "precondition_note", None)
            if note:  # the backend cannot refuse a stale write: say so where it matters
                plan = replace(plan, messages=[*plan.messages, Message("warning", note)])
            if not _same_checks(tgt, inventory) and not chosen.checked:
                server = clock.run("validate", lambda: _server_validate(be, desired))
        if plan.changes or plan.device_changes:
            plan = clock.run("access", lambda: _with_access(
                plan, fetched.policy, desired, chosen.for_access,
                compiled if chosen.for_access is inv else rebound(compiled, chosen.for_access)))
            if plan.access is not None and not plan.access.empty:
                plan = clock.run("access", lambda: _cite_access(
                    session, plan, fetched, desired, base))
        with progress.step(_testing_label(desired)):
            results = testing.result() if testing is not None else \
                clock.run("tests", lambda: test_results(desired, inv, compiled))
    finally:
        if own:
            be.close()
    if chosen.synthetic:
        plan.messages.append(Message("warning", SYNTHETIC_NOTICE))
    if recovered is not None:
        plan.messages.insert(0, recovered)
    # Kept with the plan, so `show` and the Action's comment judge risky gains as here;
    # a change that edits the list is judged by the last-applied one too.
    sensitive, edited = reviewed_sensitive_tags(
        session.config, plan.base_commit,
        [*(desired.policy.get("tagOwners") or {}), *(fetched.policy.get("tagOwners") or {})])
    if edited is not None:
        plan.messages.append(Message("warning", edited))
    plan = replace(plan, sensitive_tags=sensitive)
    return _with_tests(plan, results, server)


def revocation_plan(session: Session, *, target: str | None = None) -> Plan:
    """The plan `apply --revocations-only` pushes: base minus expired.

    The desired state at the last-applied commit (the live header's), compiled now, so
    the only removals are what expired since; whatever else waits in git is left for a
    reviewed apply, and a nightly job revokes on time. Drift would be reverted too, and
    the apply's guard refuses any change that could grant access."""
    from reconciler.core.errors import NotApplyable

    tgt = session.target(target)
    be = session.backend(tgt)
    try:
        live, _ = recover_header(session, tgt.name, fetch_live(be, tgt.name))
        commit = live.header.commit if live.header is not None else None
        if commit is None:
            raise NotApplyable(
                f'--revocations-only: the live policy of target "{tgt.name}" was not '
                "applied by reconciler from a commit, so there is no applied state to "
                "revoke from",
                "Apply a reviewed plan first (`reconciler plan -o F`, `reconciler apply F`).")
        desired = load_desired(session.config.root, ref=commit, now=session.now,
                               config=session.config)
        return make_plan(session, target=tgt.name, desired=desired, backend=be, live=live)
    finally:
        be.close()


def _with_tests(plan: Plan, tests: TestResults,
                server: ValidationResult | None) -> Plan:
    """The plan with its local test results and the control plane's verdict (if asked);
    only a plan whose checks all pass can be applied."""
    if server is not None:
        failures = tuple(f"{f.get('user', '?')}: {e}" for f in server.failures
                         for e in f.get("errors") or [])
        tests = replace(tests, server_checked=True, server_ok=server.ok,
                        server_message=server.message, server_failures=failures)
    plan.record_tests(tests)
    return plan


def _with_access(plan: Plan, live_policy: dict[str, Any], desired: Desired,
                 inventory: Inventory | None, compiled: CompiledPolicy | None = None) -> Plan:
    """The plan with who gains and who loses access, live -> desired, over the inventory
    the tests ran on. A live policy the engine cannot evaluate leaves a warning instead.

    Devices re-tagged by the plan count with their live tags before and their desired
    tags after. A plan that only re-tags devices compares the live policy with itself
    (what `plancheck` recomputes from a plan without a document)."""
    from reconciler.diff.access import access_diff

    retag = [(d.device, d.device_id, d.after) for d in plan.device_changes]
    after, sources = (desired.policy, desired.sources) if plan.changes else (live_policy, None)
    try:
        with collector_paused():  # allocation-heavy, nothing cyclic: see core.forked
            access = access_diff(live_policy, after, inventory, after_sources=sources,
                                 after_compiled=compiled if plan.changes else None,
                                 retag=retag, retag_sources=desired.sources)
    except ReconcilerError as e:
        message = Message("warning", f"access changes could not be computed: {e}", None)
        return replace(plan, messages=[*plan.messages, message])
    # The inventory goes into the plan file, so `show` and `apply` can recompute it.
    return replace(plan, access=access, access_inventory=inventory)


def _testing_label(desired: Desired) -> str:
    count = len(desired.policy.get("tests") or []) + len(desired.policy.get("sshTests") or [])
    return f"testing {count} assertion{'s' if count != 1 else ''}"


# What the terminal's status line says during each phase (see `progress`).
STEP_LABELS = {"load": "loading the policies", "fetch": "fetching the live policy",
               "inventory": "listing devices and users", "compile": "compiling the policy",
               "base": "loading the last-applied state", "diff": "computing the changes",
               "validate": "validating with the control plane",
               "access": "computing access changes", "tests": "testing"}


def _cite_access(session: Session, plan: Plan, live: LiveState, desired: Desired,
                 base: BaseState | None) -> Plan:
    """The plan's access changes citing their rules by name and file:line. Gained access
    comes from the desired state; lost access from the live policy, whose entries are
    found in the last-applied revision's fragments (then the desired state's), else at
    the live text's line (an edit made outside git)."""
    from reconciler.diff.access.naming import cite, entry_citer, live_citer
    from reconciler.plan.planner import names_of

    assert plan.access is not None
    applied = list(base.candidates) if base is not None else []
    if not applied and base is not None and base.commit:
        with contextlib.suppress(GitError, PolicyError, ConfigError):
            applied.append(load_desired(session.config.root, ref=base.commit,
                                        now=session.now, config=session.config,
                                        validate=False))
    def live_sources() -> SourceMap | None:
        with contextlib.suppress(ReconcilerError):
            return hujson.load_with_sources(live.text, file=LIVE_POLICY)[1]
        return None

    from_live = live_citer(live.policy, live_sources,
                           [(d.policy, d.sources, names_of(d)) for d in [*applied, desired]])
    gained = entry_citer(desired.sources, names_of(desired)) if plan.changes else from_live
    return replace(plan, access=cite(plan.access, gained=gained, lost=from_live))


class _Stopwatch:
    """Records how long each phase of a plan takes (for the benchmark and --verbose),
    and names it on the terminal's status line."""

    def __init__(self, timings: dict[str, float] | None) -> None:
        self.timings = timings

    def run(self, name: str, fn: Callable[[], T]) -> T:
        with progress.step(STEP_LABELS.get(name, name)):
            return self._run(name, fn)

    def _run(self, name: str, fn: Callable[[], T]) -> T:
        if self.timings is None:
            return fn()
        start = time.perf_counter()
        try:
            return fn()
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - start


def _check_dialect(target: Target, desired: Desired) -> None:
    """What the target's control plane refuses beyond Tailscale's rules (Headscale's
    dialect), reported from the files before anything is read or written."""
    if target.backend != "headscale":
        return
    from reconciler.validate.dialect import headscale_problems

    problems = headscale_problems(desired.policy, desired.sources)
    if problems:
        raise PolicyError(problems, detail=f'Target "{target.name}" is Headscale, which '
                          "refuses these; remove them from the fragments for this target.")


def _same_checks(target: Target, inventory: str | None) -> bool:
    """The local backend's validate is our own engine on the store's own inventory: after
    a local test run on that inventory it would repeat the very same checks (and the
    push checks once more, atomically)."""
    return target.backend == "local" and inventory is None


def _server_validate(backend: Backend, desired: Desired) -> ValidationResult | None:
    """The control plane's own verdict on the document (where it has a validate)."""
    # Tailscale's validate rejects a body that starts with a comment (tailscale#9910):
    # send the document as plain JSON (the same content as the HuJSON to push).
    return backend.validate(to_json(desired.policy))

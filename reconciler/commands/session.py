"""The session every command runs in, and running a command over every target.

commands/ (the use cases). May import everything below the CLI. A `Session` is one
run's inputs: the repository, its config, the clock and the environment.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TypeVar

from reconciler.backends import open_backend
from reconciler.backends.base import Backend
from reconciler.core.errors import ReconcilerError
from reconciler.core.forked import Forked
from reconciler.engine.risk import default_sensitive
from reconciler.load.config import Config, Target, load_config, sensitive_tags_at
from reconciler.load.desired import Desired, check_desired, load_desired, read_desired, settle

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


T = TypeVar("T")


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(timezone.utc)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Session:
    """One run's inputs: the repository, its config, the clock and the environment."""

    root: Path
    config: Config
    now: datetime
    env: Mapping[str, str]

    @classmethod
    def open(cls, root: Path, *, now: datetime | None = None,
             env: Mapping[str, str] | None = None) -> Session:
        return cls(root=Path(root), config=load_config(Path(root)), now=_now(now),
                   env=os.environ if env is None else env)

    def target(self, name: str | None) -> Target:
        return self.config.target(name)

    def backend(self, target: Target) -> Backend:
        return open_backend(target, root=self.config.root, env=self.env)

    def desired(self, ref: str | None = None) -> Desired:
        return load_desired(self.config.root, ref=ref, now=self.now, config=self.config)


def load_desired_alongside(
    root: Path,
    work: Callable[[Desired], T],
    *,
    ref: str | None = None,
    now: datetime | None = None,
    config: Config | None = None,
    revision: bool = True,
) -> tuple[Desired, T]:
    """`load_desired`, with `work(desired)` done while the validation runs beside it
    (in a forked child where that helps: see `forked`; it pays for `plan`, whose work
    is as heavy as the validation, and not for `test`, which loads plainly).

    The outcome is what the two in sequence would give: every error in the files is
    raised as one `PolicyError`, and it wins over whatever `work` raised (work on an
    invalid policy may fail in ways that only echo those errors); otherwise `work`'s
    exception, or its result. `revision=False`: the work needs no commit (see
    `read_desired`)."""
    desired, problems = read_desired(root, ref=ref, now=now, config=config,
                                     revision=revision)
    if any(p.is_error for p in problems):  # the files are broken already: no work
        problems.extend(check_desired(desired))
    # Raises every error so far; otherwise keeps the notices (expiry) for the work.
    settle(desired, problems)
    checks = Forked(lambda: check_desired(desired), transport=(ReconcilerError,))
    try:
        outcome = work(desired)
    except Exception:
        settle(desired, checks.result())
        raise
    return settle(desired, checks.result()), outcome


def plan_alongside(session: Session, ref: str | None,
                   make: Callable[[Desired], T]) -> tuple[Desired, T]:
    """Load the desired state and run `make` (planning) on it while the validation
    runs beside it; see `load_desired_alongside`."""
    return load_desired_alongside(session.config.root, make, ref=ref, now=session.now,
                                  config=session.config)


def for_targets(
    names: list[str],
    work: Callable[[str], T],
    *,
    progress: Callable[[str, str], None] | None = None,
    workers: int = 4,
) -> list[tuple[str, T | None, ReconcilerError | None]]:
    """Run `work(name)` for every target concurrently (threads: the work is I/O bound).

    Returns (name, result, error) in `names` order; an expected error is kept, not raised,
    so one unreachable target does not hide the others.
    """
    def run(name: str) -> tuple[str, T | None, ReconcilerError | None]:
        if progress:
            progress(name, "started")
        try:
            result = work(name)
        except ReconcilerError as e:
            if progress:
                progress(name, f"failed: {e}")
            return name, None, e
        if progress:
            progress(name, "done")
        return name, result, None

    if not names:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(names)))) as pool:
        return list(pool.map(run, names))


def reviewed_sensitive_tags(config: Config, since: str | None, tags: Iterable[str], *,
                            at: str | None = None,
                            ) -> tuple[tuple[str, ...] | None, str | None]:
    """The sensitive tags to judge a change by, and a warning when the change edits them.

    A change could unlist `tag:prod` in reconciler.yaml and, in the same pull request,
    give contractors SSH on it: judged by its own list, nothing would look risky. So
    when `sensitive_tags` differ from those at `since` (the last-applied commit, or the
    pull request's base), both lists count (a missing list: tags named like production).
    `at`: the revision the change is at (default: the working tree's reconciler.yaml).
    """
    now = config.sensitive_tags if at is None else sensitive_tags_at(config.root, at)
    if since is None:
        return now, None
    before = sensitive_tags_at(config.root, since)
    known = sorted(set(tags))
    old = set(before if before is not None else default_sensitive(known))
    new = set(now if now is not None else default_sensitive(known))
    if old == new:
        return now, None
    said = []
    if old - new:
        said.append("no longer sensitive: " + ", ".join(sorted(old - new)))
    if new - old:
        said.append("newly sensitive: " + ", ".join(sorted(new - old)))
    return tuple(sorted(old | new)), (
        f"this change edits sensitive_tags in reconciler.yaml since {since[:12]} ("
        + "; ".join(said) + "): risky access is judged by both lists until it is applied")

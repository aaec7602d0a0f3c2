"""Did-you-mean suggestions for unknown names.

core/ (the lowest layer) (stdlib only).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """' (did you mean "x"?)' for the closest known name, or '' when none is close."""
    match = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    return f' (did you mean "{match[0]}"?)' if match else ""


def nearest_name(name: str, known: Iterable[str]) -> str | None:
    """The defined policy name closest to `name` (`group:contractor` ->
    `group:contractors`), or None when none is a plausible typo.

    Names are compared without their kind prefix (`group:`, `tag:`, ...): the shared
    prefix would otherwise make `tag:nope` look like `tag:ok`. Closeness is the edit
    distance counting a swap of two neighbours as one edit (`wbe` -> `web`), at most one
    edit per three characters (none for a one-character name). A name of the same kind
    wins; one of another kind is offered only when none of the same kind is close
    (`tag:web` for a host `web`)."""
    kind, bare = _split(name)
    # One character is too little to guess from (`ipset:y` is no typo of `ipset:x`).
    limit = max(1, len(bare) // 3) if len(bare) > 1 else 0
    best: tuple[int, int, str] | None = None
    for candidate in known:
        if candidate == name:
            continue
        c_kind, c_bare = _split(candidate)
        if abs(len(c_bare) - len(bare)) > limit:
            continue
        distance = edit_distance(bare.lower(), c_bare.lower(), limit)
        if distance > limit:
            continue
        rank = (0 if c_kind == kind else 1, distance, candidate)
        if best is None or rank < best:
            best = rank
    return best[2] if best else None


def _split(name: str) -> tuple[str, str]:
    kind, sep, bare = name.partition(":")
    return (kind, bare) if sep else ("", name)


def edit_distance(a: str, b: str, limit: int) -> int:
    """Optimal-string-alignment distance of `a` and `b`, or `limit + 1` once it is
    sure to exceed `limit` (a policy may define thousands of names)."""
    if a == b:
        return 0
    before: list[int] | None = None
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = ca != cb
            value = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if (before is not None and j > 1 and ca == b[j - 2] and a[i - 2] == cb):
                value = min(value, before[j - 2] + 1)
            current[j] = value
        if min(current) > limit:
            return limit + 1
        before, previous = previous, current
    return previous[-1]


def did_you_mean_name(name: str, known: Iterable[str]) -> str:
    """' (did you mean group:contractors?)' for `nearest_name`, or ''."""
    match = nearest_name(name, known)
    return f" (did you mean {match}?)" if match else ""


def unknown_key(name: str, known: Iterable[str]) -> str:
    return f'unknown field "{name}"{did_you_mean(name, known)}'

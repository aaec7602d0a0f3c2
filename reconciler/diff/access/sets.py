"""Fast set differences for the access diff: small sets against large, fragmented ones.

diff/access/ (imports the engine's `addrset`). The diff subtracts a few devices
from sets with thousands of intervals (everyone who already reached a destination) and
the reverse, many times; `AddrSet.__sub__` walks both lists in Python. Here the walk is
over the smaller side only, with bisection into the larger one and list slices (C speed)
for the untouched stretches.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right

from reconciler.engine.addrset import AddrSet, Interval


def _sub(a: tuple[Interval, ...], b: tuple[Interval, ...], starts: list[int]) -> list[Interval]:
    """`a - b`; `starts` are the starts of `b`'s intervals."""
    if not a or not b:
        return list(a)
    if len(a) <= len(b):
        # Few intervals to keep or cut: bisect each into `b`.
        out: list[Interval] = []
        for first, last in a:
            cur = first
            k = max(bisect_right(starts, first) - 1, 0)
            while k < len(b) and b[k][0] <= last and cur <= last:
                lo, hi = b[k]
                if hi >= cur:
                    if lo > cur:
                        out.append((cur, lo - 1))
                    cur = hi + 1
                k += 1
            if cur <= last:
                out.append((cur, last))
        return out
    # Few holes to punch: copy the untouched stretches of `a` as slices.
    rest = list(a)
    ends = [y for _, y in a]
    out = []
    i = 0
    for lo, hi in b:
        j = max(bisect_left(ends, lo), i)
        out.extend(rest[i:j])
        while j < len(rest) and rest[j][0] <= hi:
            first, last = rest[j]
            if first < lo:
                out.append((first, lo - 1))
            if last > hi:
                rest[j] = (hi + 1, last)
                break
            j += 1
        i = j
    out.extend(rest[i:])
    return out


def minus(a: AddrSet, b: AddrSet) -> AddrSet:
    """`a - b`, equal to `AddrSet.__sub__`."""
    if not a or not b:
        return a
    # Cutting merged intervals never makes two of them touch: no re-merge needed.
    s4, s6 = _starts(b)  # cached per set: the same large sets are subtracted many times
    return AddrSet(_sub(a.v4, b.v4, s4), _sub(a.v6, b.v6, s6), _merged=True)


_STARTS: dict[int, tuple[AddrSet, list[int], list[int]]] = {}


def _starts(b: AddrSet) -> tuple[list[int], list[int]]:
    found = _STARTS.get(id(b))
    if found is None or found[0] is not b:
        if len(_STARTS) > 8192:
            _STARTS.clear()
        found = _STARTS[id(b)] = (b, [x for x, _ in b.v4], [x for x, _ in b.v6])
    return found[1], found[2]


def subset(a: AddrSet, b: AddrSet) -> bool:
    """`a <= b`: each interval of `a` lies inside one (merged) interval of `b`; stops at
    the first one that does not."""
    if not a:
        return True
    s4, s6 = _starts(b)
    for mine, theirs, starts in ((a.v4, b.v4, s4), (a.v6, b.v6, s6)):
        for first, last in mine:
            k = bisect_right(starts, first) - 1
            if k < 0 or theirs[k][1] < last:
                return False
    return True


def overlaps(a: AddrSet, b: AddrSet) -> bool:
    """`a.overlaps(b)`: each interval of the smaller set bisected into the larger one."""
    if len(a.v4) + len(a.v6) > len(b.v4) + len(b.v6):
        a, b = b, a
    s4, s6 = _starts(b)
    for mine, theirs, starts in ((a.v4, b.v4, s4), (a.v6, b.v6, s6)):
        for first, last in mine:
            k = bisect_right(starts, last) - 1  # the last interval of `b` starting <= last
            if k >= 0 and theirs[k][1] >= first:
                return True
    return False

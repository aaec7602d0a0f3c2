"""Address sets: sorted, merged interval lists of integers, one list per IP family.

engine/, its lowest module (stdlib and `reconciler.core.errors` only). Every selector of a
policy resolves to an `AddrSet`; every rule is a pair of them. Sets are immutable
values: the operators return new sets and never mutate, so sets can be shared and
cached freely. Intervals are inclusive ``(first, last)`` pairs; adjacent intervals are
always merged, so two equal sets have equal lists (and `==` / `hash` are by value).
Membership is a bisect over the starts, O(log n).
"""

from __future__ import annotations

import ipaddress
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from functools import lru_cache
from socket import AF_INET, AF_INET6, inet_pton
from typing import Final

from reconciler.core.errors import AddressError

V4_MAX: Final = (1 << 32) - 1
V6_MAX: Final = (1 << 128) - 1

Interval = tuple[int, int]


def merge_intervals(intervals: Iterable[Interval]) -> tuple[Interval, ...]:
    """Sort and merge overlapping or adjacent inclusive intervals: the one interval
    merge (address sets here, port ranges in the compiler, the access matrix and the
    access diff)."""
    ordered = sorted(intervals)
    if not ordered:
        return ()
    out: list[Interval] = []
    it = iter(ordered)
    cur_first, cur_last = next(it)
    for first, last in it:  # locals, not out[-1]: this runs for every set built
        if first <= cur_last + 1:
            if last > cur_last:
                cur_last = last
        else:
            out.append((cur_first, cur_last))
            cur_first, cur_last = first, last
    out.append((cur_first, cur_last))
    return tuple(out)


def _intersect(a: tuple[Interval, ...], b: tuple[Interval, ...]) -> tuple[Interval, ...]:
    out: list[Interval] = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo = max(a[i][0], b[j][0])
        hi = min(a[i][1], b[j][1])
        if lo <= hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return tuple(out)


def _cut_each(a: tuple[Interval, ...], b: tuple[Interval, ...],
              b_starts: list[int]) -> tuple[Interval, ...]:
    """a - b for merged lists, `a` the shorter: each interval of `a` bisected into `b`."""
    out: list[Interval] = []
    nb = len(b)
    for first, last in a:
        cur = first
        k = bisect_right(b_starts, first) - 1
        if k < 0:
            k = 0
        while k < nb and cur <= last:
            lo, hi = b[k]
            if lo > last:
                break
            if hi >= cur:
                if lo > cur:
                    out.append((cur, lo - 1))
                cur = hi + 1
            k += 1
        if cur <= last:
            out.append((cur, last))
    return tuple(out)


def _punch(a: tuple[Interval, ...], b: tuple[Interval, ...],
           a_ends: list[int]) -> tuple[Interval, ...]:
    """a - b for merged lists, `b` the shorter (holes to punch): each hole bisected into
    `a`, whose untouched stretches are copied as slices (C speed)."""
    out: list[Interval] = []
    na = len(a)
    i = 0
    pending: Interval | None = None  # what is left of a[i] once a hole cut its start
    for lo, hi in b:
        j = bisect_left(a_ends, lo, i)  # the first interval of `a` ending at/after lo
        if j > i:
            if pending is not None:
                out.append(pending)
                pending = None
                i += 1
            out.extend(a[i:j])
            i = j
        while i < na:
            first, last = pending if pending is not None else a[i]
            if first > hi:
                break
            if first < lo:
                out.append((first, lo - 1))
            if last > hi:
                pending = (hi + 1, last)
                break
            pending = None
            i += 1
    if pending is not None:
        out.append(pending)
        i += 1
    out.extend(a[i:])
    return tuple(out)


def _union(a: tuple[Interval, ...], b: tuple[Interval, ...], a_starts: list[int],
           a_ends: list[int]) -> tuple[Interval, ...]:
    """a ∪ b for merged `a` and a much smaller merged `b`: bisect b's intervals into a.

    O(|b| log |a|) comparisons plus C-speed slice copies, instead of a Python loop over
    every interval of `a` (unions of one large set with small ones are the common case).
    """
    out: list[Interval] = []
    pos = 0
    for first, last in b:
        j = bisect_left(a_ends, first - 1, pos)  # first interval of a ending at/after first-1
        k = bisect_right(a_starts, last + 1, pos)  # first interval of a starting after last+1
        out.extend(a[pos:j])
        if j < k:
            first = min(first, a[j][0])
            last = max(last, a[k - 1][1])
        if out and out[-1][1] >= first - 1:
            prev_first, prev_last = out.pop()
            first, last = min(first, prev_first), max(last, prev_last)
        out.append((first, last))
        pos = k
    out.extend(a[pos:])
    return tuple(out)


def _contains_point(intervals: tuple[Interval, ...], starts: list[int], value: int) -> bool:
    i = bisect_right(starts, value) - 1
    return i >= 0 and intervals[i][1] >= value


def _overlaps(small: tuple[Interval, ...], starts: list[int], ends: list[int]) -> bool:
    """Whether merged `small` meets the merged intervals with these starts and ends.

    Each interval of `small` is bisected into the other set, O(|small| log n): a merge
    walk over both lists cost a Python step per interval of the larger one.
    """
    lo = 0
    n = len(ends)
    for first, last in small:
        i = bisect_left(ends, first, lo)  # the first interval ending at/after `first`
        if i == n:
            return False
        if starts[i] <= last:
            return True
        lo = i
    return False


class AddrSet:
    """A set of IPv4 and IPv6 addresses as merged inclusive intervals per family."""

    __slots__ = ("_e4", "_e6", "_hash", "_s4", "_s6", "v4", "v6")

    def __init__(self, v4: Iterable[Interval] = (), v6: Iterable[Interval] = (),
                 *, _merged: bool = False) -> None:
        self.v4: tuple[Interval, ...] = tuple(v4) if _merged else merge_intervals(v4)
        self.v6: tuple[Interval, ...] = tuple(v6) if _merged else merge_intervals(v6)
        self._s4: list[int] | None = None
        self._s6: list[int] | None = None
        self._e4: list[int] | None = None
        self._e6: list[int] | None = None
        self._hash: int | None = None

    # --- construction -------------------------------------------------------------

    @classmethod
    def parse(cls, text: str) -> AddrSet:
        """One of Tailscale's address forms: ``*``, IP, ``[v6]``, CIDR, or ``first-last``."""
        s = text.strip()
        if s == "*":
            return ALL
        if "-" in s and "/" not in s:
            first_text, _, last_text = s.partition("-")
            fam_a, first = parse_ip(first_text)
            fam_b, last = parse_ip(last_text)
            if fam_a != fam_b:
                raise AddressError(f"address range {text!r} mixes IPv4 and IPv6")
            if first > last:
                raise AddressError(f"address range {text!r} ends before it starts")
            return cls._one(fam_a, first, last)
        if "/" in s:
            try:
                net = ipaddress.ip_network(s.strip("[]"), strict=False)
            except ValueError as e:
                raise AddressError(f"{text!r} is not a valid CIDR prefix") from e
            return cls._one(net.version, int(net.network_address), int(net.broadcast_address))
        family, value = parse_ip(s)
        return cls._one(family, value, value)

    @classmethod
    def parse_many(cls, texts: Iterable[str]) -> AddrSet:
        return union_all(cls.parse(t) for t in texts)

    @classmethod
    def _one(cls, family: int, first: int, last: int) -> AddrSet:
        if family == 4:
            return cls(((first, last),), (), _merged=True)
        return cls((), ((first, last),), _merged=True)

    @classmethod
    def of_ips(cls, ips: Iterable[str]) -> AddrSet:
        v4: list[Interval] = []
        v6: list[Interval] = []
        for ip in ips:
            family, value = parse_ip(ip)
            (v4 if family == 4 else v6).append((value, value))
        return cls(v4, v6)

    # --- set algebra --------------------------------------------------------------

    def __or__(self, other: AddrSet) -> AddrSet:
        if not other:
            return self
        if not self:
            return other
        big, small = (self, other) if len(self.v4) + len(self.v6) >= len(other.v4) + len(
            other.v6) else (other, self)
        if (len(small.v4) + len(small.v6)) * 8 > len(big.v4) + len(big.v6):
            return AddrSet(self.v4 + other.v4, self.v6 + other.v6)
        v4 = _union(big.v4, small.v4, *big._bounds(4)) if small.v4 else big.v4
        v6 = _union(big.v6, small.v6, *big._bounds(6)) if small.v6 else big.v6
        return AddrSet(v4, v6, _merged=True)

    def _starts(self, family: int) -> list[int]:
        """Cached starts of one family's intervals, for bisect."""
        if family == 4:
            if self._s4 is None:
                self._s4 = [a for a, _ in self.v4]
            return self._s4
        if self._s6 is None:
            self._s6 = [a for a, _ in self.v6]
        return self._s6

    def _bounds(self, family: int) -> tuple[list[int], list[int]]:
        """Cached starts and ends of one family's intervals, for bisect."""
        if family == 4:
            if self._s4 is None:
                self._s4 = [a for a, _ in self.v4]
            if self._e4 is None:
                self._e4 = [b for _, b in self.v4]
            return self._s4, self._e4
        if self._s6 is None:
            self._s6 = [a for a, _ in self.v6]
        if self._e6 is None:
            self._e6 = [b for _, b in self.v6]
        return self._s6, self._e6

    def __and__(self, other: AddrSet) -> AddrSet:
        return AddrSet(_intersect(self.v4, other.v4), _intersect(self.v6, other.v6),
                       _merged=True)

    def __sub__(self, other: AddrSet) -> AddrSet:
        if not other or not self:
            return self
        # Cutting merged intervals never makes two of them touch: no re-merge needed.
        return AddrSet(self._minus(4, other), self._minus(6, other), _merged=True)

    def _minus(self, family: int, other: AddrSet) -> tuple[Interval, ...]:
        mine, theirs = (self.v4, other.v4) if family == 4 else (self.v6, other.v6)
        if not mine or not theirs:
            return mine
        if len(mine) <= len(theirs):
            return _cut_each(mine, theirs, other._starts(family))
        return _punch(mine, theirs, self._bounds(family)[1])

    def __bool__(self) -> bool:
        return bool(self.v4 or self.v6)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AddrSet) and self.v4 == other.v4 and self.v6 == other.v6

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash((self.v4, self.v6))
        return self._hash

    def __repr__(self) -> str:
        return f"AddrSet({', '.join(self.to_strings())})"

    def overlaps(self, other: AddrSet) -> bool:
        for fam, mine, theirs in ((4, self.v4, other.v4), (6, self.v6, other.v6)):
            if not mine or not theirs:
                continue
            small, big = (mine, other) if len(mine) <= len(theirs) else (theirs, self)
            if _overlaps(small, *big._bounds(fam)):
                return True
        return False

    def issuperset(self, other: AddrSet) -> bool:
        return other.issubset(self)

    def issubset(self, other: AddrSet) -> bool:
        """Each interval of this set lies inside one (merged) interval of `other`: a
        bisection per interval, stopping at the first that does not."""
        for fam, mine, theirs in ((4, self.v4, other.v4), (6, self.v6, other.v6)):
            if not mine:
                continue
            if not theirs:
                return False
            starts = other._starts(fam)
            for first, last in mine:
                k = bisect_right(starts, first) - 1
                if k < 0 or theirs[k][1] < last:
                    return False
        return True

    def family(self, family: int) -> AddrSet:
        """Only the addresses of one family (4 or 6)."""
        if family == 4:
            return AddrSet(self.v4, (), _merged=True)
        return AddrSet((), self.v6, _merged=True)

    # --- membership ---------------------------------------------------------------

    def contains_int(self, family: int, value: int) -> bool:
        return _contains_point(self.v4 if family == 4 else self.v6, self._starts(family),
                               value)

    def __contains__(self, ip: str) -> bool:
        family, value = parse_ip(ip)
        return self.contains_int(family, value)

    def size(self) -> int:
        return sum(b - a + 1 for a, b in self.v4) + sum(b - a + 1 for a, b in self.v6)

    # --- rendering ----------------------------------------------------------------

    def to_strings(self) -> list[str]:
        """Tailscale's SrcIPs forms: ``*``, IPs, CIDRs where exact, else ``first-last``."""
        if self == ALL:
            return ["*"]
        out = [_render(4, a, b) for a, b in self.v4]
        out += [_render(6, a, b) for a, b in self.v6]
        return out

    def addresses(self) -> Iterator[tuple[int, int]]:
        """(family, value) of every single address; only for small sets."""
        for family, intervals in ((4, self.v4), (6, self.v6)):
            for a, b in intervals:
                for value in range(a, b + 1):
                    yield family, value


def _render(family: int, first: int, last: int) -> str:
    addr = ipaddress.IPv4Address if family == 4 else ipaddress.IPv6Address
    bits = 32 if family == 4 else 128
    if first == last:
        return str(addr(first))
    size = last - first + 1
    if size & (size - 1) == 0 and first % size == 0:
        return f"{addr(first)}/{bits - size.bit_length() + 1}"
    return f"{addr(first)}-{addr(last)}"


@lru_cache(maxsize=1 << 18)
def parse_ip(text: str) -> tuple[int, int]:
    """``100.64.0.1`` or ``fd7a::1`` (optionally in brackets) -> (family, integer).

    inet_pton (C, strict: no leading zeros, no shorthand) takes the common forms fast;
    anything it refuses goes through `ipaddress` for the final word. Cached: inventories
    name the same device addresses over and over.
    """
    found = _PARSED.get(text)
    if found is not None:
        return found
    found = _parse_ip(text)
    if len(_PARSED) > 1 << 17:
        _PARSED.clear()
    _PARSED[text] = found
    return found


_PARSED: dict[str, tuple[int, int]] = {}


def strict_ip(text: str) -> tuple[int, int] | None:
    """`parse_ip` for the plain forms inet_pton takes (no brackets, zones or leading
    zeros), else None: a cheap "is this an IP literal" that never raises."""
    try:  # only IPv6 forms have a ':', only IPv4 forms none (one try, not two)
        if ":" in text:
            return 6, int.from_bytes(inet_pton(AF_INET6, text), "big")
        return 4, int.from_bytes(inet_pton(AF_INET, text), "big")
    except OSError:
        return None


def _parse_ip(text: str) -> tuple[int, int]:
    found = strict_ip(text)
    if found is not None:
        return found
    s = text.strip()
    if s.startswith("[") and s.endswith("]"):
        s = s[1:-1]
    try:
        addr = ipaddress.ip_address(s)
    except ValueError as e:
        raise AddressError(f"{text!r} is not a valid IP address") from e
    return addr.version, int(addr)


def format_ip(family: int, value: int) -> str:
    return str(ipaddress.IPv4Address(value) if family == 4 else ipaddress.IPv6Address(value))


def is_address(text: str) -> bool:
    """True for an IP, CIDR or range in one of the forms `AddrSet.parse` accepts."""
    try:
        AddrSet.parse(text)
    except AddressError:
        return False
    return text.strip() != "*"


def union_all(sets: Iterable[AddrSet]) -> AddrSet:
    v4: list[Interval] = []
    v6: list[Interval] = []
    for s in sets:
        v4.extend(s.v4)
        v6.extend(s.v6)
    return AddrSet(v4, v6)


EMPTY: Final = AddrSet()
ALL: Final = AddrSet(((0, V4_MAX),), ((0, V6_MAX),), _merged=True)
V4_ALL: Final = AddrSet(((0, V4_MAX),), (), _merged=True)
V6_ALL: Final = AddrSet((), ((0, V6_MAX),), _merged=True)

# Tailscale's address plan: CGNAT minus the ChromeOS VM range, and the tailnet ULA.
CGNAT: Final = AddrSet.parse("100.64.0.0/10")
CHROMEOS_VM: Final = AddrSet.parse("100.115.92.0/23")
TAILNET_V6: Final = AddrSet.parse("fd7a:115c:a1e0::/48")
TAILNET: Final = (CGNAT - CHROMEOS_VM) | TAILNET_V6

# autogroup:internet: every public address (0/0 and 2000::/3 minus the private ranges).
INTERNET: Final = (V4_ALL | AddrSet.parse("2000::/3")) - AddrSet.parse_many(
    ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16"]
)

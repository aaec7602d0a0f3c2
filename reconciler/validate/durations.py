"""Go durations (`time.ParseDuration` and `Duration.String`), for ssh `checkPeriod`.

Policy model layer (stdlib only). Tailscale parses `checkPeriod` with Go's parser and
prints durations Go's way in its errors (``checkPeriod 200h0m0s is above the max (168h)``,
``time: invalid duration "abc"``), so both directions are reproduced here exactly.
"""

from __future__ import annotations

import json
import re

NANOSECOND = 1
MICROSECOND = 1000 * NANOSECOND
MILLISECOND = 1000 * MICROSECOND
SECOND = 1000 * MILLISECOND
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE

_UNITS = {
    "ns": NANOSECOND,
    "us": MICROSECOND,
    "µs": MICROSECOND,  # U+00B5
    "μs": MICROSECOND,  # U+03BC
    "ms": MILLISECOND,
    "s": SECOND,
    "m": MINUTE,
    "h": HOUR,
}
_MAX = (1 << 63) - 1
_COMPONENT = re.compile(r"([0-9]*)(?:\.([0-9]*))?([^0-9.]*)")


class DurationError(ValueError):
    """str() is Go's error text."""


def _quote(text: str) -> str:
    # Go's strconv.Quote; JSON escaping agrees with it for the text users write.
    return json.dumps(text, ensure_ascii=False)


def parse_duration(text: str) -> int:
    """Nanoseconds, or DurationError with Go's message."""
    orig = text
    invalid = DurationError(f"time: invalid duration {_quote(orig)}")
    neg = False
    if text and text[0] in "+-":
        neg = text[0] == "-"
        text = text[1:]
    if text == "0":
        return 0
    if text == "":
        raise invalid
    total = 0
    while text:
        m = _COMPONENT.match(text)
        if m is None:  # pragma: no cover - the pattern always matches
            raise invalid
        whole, frac, unit = m.group(1), m.group(2), m.group(3)
        if whole == "" and not frac:
            raise invalid
        if unit == "":
            raise DurationError(f"time: missing unit in duration {_quote(orig)}")
        # The unit ends at the next digit or '.', as in Go.
        if unit not in _UNITS:
            raise DurationError(f"time: unknown unit {_quote(unit)} in duration {_quote(orig)}")
        scale = _UNITS[unit]
        value = int(whole or "0") * scale
        if frac:
            value += int(frac) * scale // (10 ** len(frac))
        total += value
        if total > _MAX:
            raise invalid
        text = text[m.end() :]
    return -total if neg else total


def _fmt_frac(value: int, digits: int) -> str:
    whole, frac = divmod(value, 10**digits)
    frac_text = f"{frac:0{digits}d}".rstrip("0")
    return f"{whole}.{frac_text}" if frac_text else str(whole)


def format_duration(ns: int) -> str:
    """Go's Duration.String(): 200h0m0s, 1m30s, 1.5s, 250ms, 0s."""
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    u = abs(ns)
    if u < SECOND:
        if u < MICROSECOND:
            return f"{sign}{u}ns"
        if u < MILLISECOND:
            return f"{sign}{_fmt_frac(u, 3)}µs"
        return f"{sign}{_fmt_frac(u, 6)}ms"
    hours, rest = divmod(u, HOUR)
    minutes, rest = divmod(rest, MINUTE)
    seconds = _fmt_frac(rest, 9)
    if hours:
        return f"{sign}{hours}h{minutes}m{seconds}s"
    if minutes:
        return f"{sign}{minutes}m{seconds}s"
    return f"{sign}{seconds}s"

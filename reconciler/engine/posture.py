"""Device posture: the condition language of `postures` and version comparison (cmpver).

Engine layer (stdlib and `reconciler.errors` only). A posture is a list of conditions
that must all hold; a rule's `srcPosture` is satisfied when any listed posture holds
(policy-semantics.md 1.6, 2.4). Conditions:

    node:os IN ['macos', 'linux']      node:tsVersion >= '1.40'     custom:tier == 'gold'
    node:osVersion != '13.1'           ip:country NOT IN ['XX']     node:tsAutoUpdate IS SET

An unset attribute never matches, whatever the operator (even `!=` and `NOT IN`), except
`NOT SET`, which is exactly the test for that. `<`, `<=`, `>=`, `>` compare numbers, and
versions (`node:osVersion`, `node:tsVersion`) with Tailscale's cmpver rules: runs of digits
compare as numbers, other runs as text, and a shorter version is smaller ("12" < "12.0").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.errors import ReconcilerError

VERSION_ATTRS = frozenset({"node:osVersion", "node:tsVersion"})
_CONDITION = re.compile(
    r"^\s*(?P<attr>[A-Za-z0-9_:.\-/]+)\s+"
    r"(?P<op>==|!=|<=|>=|<|>|NOT\s+IN|IN|IS\s+SET|NOT\s+SET)\s*(?P<value>.*?)\s*$",
)
_VALUE = re.compile(r"""\s*('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[^,\[\]\s]+)\s*""")


class PostureError(ReconcilerError):
    """A posture condition the engine cannot read."""


def cmpver(a: str, b: str) -> int:
    """Compare two version strings the way Tailscale's util/cmpver does: -1, 0 or 1."""
    v1, v2 = a, b
    while v1 or v2:
        m1 = re.match(r"\D*", v1)
        m2 = re.match(r"\D*", v2)
        f1 = m1.group(0) if m1 else ""
        f2 = m2.group(0) if m2 else ""
        if f1 != f2:
            return -1 if f1 < f2 else 1
        v1, v2 = v1[len(f1):], v2[len(f2):]
        d1 = re.match(r"\d*", v1)
        d2 = re.match(r"\d*", v2)
        n1_text = d1.group(0) if d1 else ""
        n2_text = d2.group(0) if d2 else ""
        n1 = int(n1_text) if n1_text else -1
        n2 = int(n2_text) if n2_text else -1
        if n1 != n2:
            return -1 if n1 < n2 else 1
        v1, v2 = v1[len(n1_text):], v2[len(n2_text):]
    return 0


def _literal(text: str) -> Any:
    t = text.strip()
    if len(t) >= 2 and t[0] == t[-1] and t[0] in "'\"":
        return t[1:-1]
    if t in ("true", "false"):
        return t == "true"
    try:
        return int(t)
    except ValueError:
        try:
            return float(t)
        except ValueError:
            return t


def _list(text: str, where: str) -> list[Any]:
    t = text.strip()
    if not (t.startswith("[") and t.endswith("]")):
        raise PostureError(f"{where}: IN needs a list like ['a', 'b']")
    inner = t[1:-1].strip()
    if not inner:
        return []
    return [_literal(part) for part in _split_commas(inner)]


def _split_commas(text: str) -> list[str]:
    parts: list[str] = []
    current = ""
    quote = ""
    for ch in text:
        if quote:
            current += ch
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
            current += ch
        elif ch == ",":
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return str(a).lower() == str(b).lower()
    return str(a) == str(b)


def _order(attr: str, have: Any, want: Any) -> int | None:
    if attr in VERSION_ATTRS:
        return cmpver(str(have), str(want))
    try:
        x, y = float(have), float(want)
    except (TypeError, ValueError):
        return None
    return (x > y) - (x < y)


@dataclass(frozen=True)
class Condition:
    attr: str
    op: str
    value: Any
    text: str

    def holds(self, attrs: Mapping[str, Any]) -> bool:
        if self.op == "NOT SET":
            return self.attr not in attrs or attrs[self.attr] is None
        if self.attr not in attrs or attrs[self.attr] is None:
            return False  # an unset attribute never matches
        have = attrs[self.attr]
        if self.op == "IS SET":
            return True
        if self.op == "==":
            return _same(have, self.value)
        if self.op == "!=":
            return not _same(have, self.value)
        if self.op == "IN":
            return any(_same(have, v) for v in self.value)
        if self.op == "NOT IN":
            return not any(_same(have, v) for v in self.value)
        order = _order(self.attr, have, self.value)
        if order is None:
            return False
        return {"<": order < 0, "<=": order <= 0, ">": order > 0, ">=": order >= 0}[self.op]


def parse_condition(text: str, where: str = "posture") -> Condition:
    m = _CONDITION.match(str(text))
    if not m:
        raise PostureError(f"{where}: cannot read posture condition {text!r}")
    op = " ".join(m.group("op").split())
    raw = m.group("value")
    if op in ("IS SET", "NOT SET"):
        if raw:
            raise PostureError(f"{where}: {op} takes no value in {text!r}")
        value: Any = None
    elif op in ("IN", "NOT IN"):
        value = _list(raw, where)
    else:
        if not raw:
            raise PostureError(f"{where}: missing value in {text!r}")
        value = _literal(raw)
    return Condition(m.group("attr"), op, value, str(text))


class Postures:
    """The `postures` section, compiled once; evaluates `srcPosture` lists against attrs."""

    def __init__(self, postures: Mapping[str, Any] | None) -> None:
        self.conditions: dict[str, tuple[Condition, ...]] = {}
        for name, conds in (postures or {}).items():
            if not isinstance(conds, Sequence) or isinstance(conds, str):
                raise PostureError(f"postures[{name!r}] must be a list of conditions")
            self.conditions[str(name).strip()] = tuple(
                parse_condition(c, f"postures[{name!r}]") for c in conds
            )

    def satisfied(self, names: Sequence[str], attrs: Mapping[str, Any]) -> bool:
        """True when `attrs` meet any of the named postures (each an AND of conditions)."""
        for name in names:
            conds = self.conditions.get(name.strip())
            if conds is None:
                raise PostureError(f"posture {name!r} is not defined in postures")
            if all(c.holds(attrs) for c in conds):
                return True
        return False

    def checker(self, names: Sequence[str]) -> Callable[[Mapping[str, Any]], bool]:
        return lambda attrs: self.satisfied(names, attrs)

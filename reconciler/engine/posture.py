"""Device posture: the condition language of `postures` and version comparison (cmpver).

engine/ (imports `reconciler.core.errors` and the validator's condition parser,
`reconciler.validate.postures`). A posture is a list of conditions
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

from reconciler.core.errors import PostureError
from reconciler.validate import postures as policy_postures

VERSION_ATTRS = frozenset({"node:osVersion", "node:tsVersion"})
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
    """One condition, read with the validator's grammar (`reconciler.validate.postures`),
    so what `validate` accepts is exactly what the engine evaluates."""
    try:
        parsed = policy_postures.parse_condition(str(text))
    except policy_postures.PostureSyntaxError as e:
        raise PostureError(f"{where}: {text!r}: {e}") from e
    value = list(parsed.value) if isinstance(parsed.value, tuple) else parsed.value
    return Condition(parsed.attribute, parsed.operator, value, str(text))


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

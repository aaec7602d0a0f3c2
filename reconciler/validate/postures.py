"""Device posture conditions: `"node:os IN ['macos', 'linux']"` and friends.

Policy model layer (stdlib only). `parse_condition` turns one condition string of a
`postures` entry into a frozen `Condition` (attribute, operator, value) or raises
`PostureSyntaxError`; the validator reports the error, the engine evaluates the Condition.
Grammar from policy-semantics.md 1.6 (DOC-POSTURE).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from reconciler.core.suggest import did_you_mean

OPERATORS = ("NOT IN", "IN", "IS SET", "NOT SET", "==", "!=", "<=", ">=", "<", ">")
ORDER_OPERATORS = frozenset({"<", "<=", ">", ">="})
VERSION_ATTRIBUTES = frozenset({"node:osVersion", "node:tsVersion"})
NODE_ATTRIBUTES = frozenset(
    {
        "node:os",
        "node:osVersion",
        "node:tsAutoUpdate",
        "node:tsReleaseTrack",
        "node:tsStateEncrypted",
        "node:tsVersion",
    }
)
IP_ATTRIBUTES = frozenset({"ip:country"})

Value = str | int | float | bool | tuple[str | int | float | bool, ...] | None

_ATTR = re.compile(r"([A-Za-z][A-Za-z0-9_-]*):([A-Za-z0-9_.\-]+)")
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")


class PostureSyntaxError(ValueError):
    """A condition that does not parse; str() says why."""


@dataclass(frozen=True)
class Condition:
    attribute: str
    operator: str
    value: Value


def _scalar(text: str) -> str | int | float | bool:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if text in ("true", "false"):
        return text == "true"
    if _NUMBER.fullmatch(text):
        return float(text) if "." in text else int(text)
    raise PostureSyntaxError(f"{text or 'nothing'} is not a value; quote strings, e.g. '{text}'")


def _list(text: str) -> tuple[str | int | float | bool, ...]:
    text = text.strip()
    if not (text.startswith("[") and text.endswith("]")):
        raise PostureSyntaxError(f"expected a list like ['a', 'b'], got {text or 'nothing'}")
    inner = text[1:-1].strip()
    if not inner:
        raise PostureSyntaxError("the list is empty")
    return tuple(_scalar(part) for part in _split_list(inner))


def _split_list(inner: str) -> list[str]:
    """Split at commas outside quotes."""
    parts: list[str] = []
    quote = ""
    current = ""
    for ch in inner:
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
    if quote:
        raise PostureSyntaxError("unterminated quote in the list")
    parts.append(current)
    return parts


def parse_condition(text: str) -> Condition:
    s = text.strip()
    m = _ATTR.match(s)
    if m is None:
        raise PostureSyntaxError("a condition starts with an attribute such as node:os")
    attribute = m.group(0)
    namespace = m.group(1)
    if namespace == "node" and attribute not in NODE_ATTRIBUTES:
        hint = did_you_mean(attribute, NODE_ATTRIBUTES)
        raise PostureSyntaxError(f'unknown attribute "{attribute}"{hint}')
    if namespace == "ip" and attribute not in IP_ATTRIBUTES:
        raise PostureSyntaxError(f'unknown attribute "{attribute}" (did you mean "ip:country"?)')
    rest = s[m.end() :].strip()
    for op in OPERATORS:
        if rest == op or rest.startswith(op + " ") or (not op[0].isalpha() and rest.startswith(op)):
            value_text = rest[len(op) :].strip()
            break
    else:
        ops = ", ".join(OPERATORS)
        raise PostureSyntaxError(f"expected an operator after {attribute} ({ops})")
    if op in ("IS SET", "NOT SET"):
        if value_text:
            raise PostureSyntaxError(f"{op} takes no value")
        return Condition(attribute, op, None)
    if op in ("IN", "NOT IN"):
        return Condition(attribute, op, _list(value_text))
    value = _scalar(value_text)
    if op in ORDER_OPERATORS:
        numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not numeric and attribute not in VERSION_ATTRIBUTES:
            raise PostureSyntaxError(
                f"{op} compares numbers, or versions of node:osVersion and node:tsVersion"
            )
    return Condition(attribute, op, value)

"""`memo`: a method's results cached on its instance, keyed by its arguments.

Core helper (stdlib only; any layer may import it). The one get-or-compute block:
lookups that many callers repeat on an immutable input (a compiled policy, an
inventory) are computed once per object. The cache lives in the instance's
`__dict__` under the method's name, so it goes away with the object and never
compares instances by `id()`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, Concatenate, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S")

_MISSING: Any = object()


def memo(method: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R]:
    """Cache `method(self, *args)` per instance and positional arguments (hashable).

    One argument is the key itself (no tuple built per call: these run in hot loops)."""
    slot = "_memo_" + method.__name__

    call: Callable[..., R] = method  # the key is built from `args`, whatever P says

    @wraps(method)
    def cached(self: Any, *args: Any) -> R:
        table: dict[Any, R] | None = self.__dict__.get(slot)
        if table is None:
            table = self.__dict__[slot] = {}
        key = args[0] if len(args) == 1 else args
        found = table.get(key, _MISSING)
        if found is _MISSING:
            found = table[key] = call(self, *args)
        return found  # type: ignore[no-any-return]  # R, unless it was _MISSING

    return cached  # type: ignore[return-value]  # same signature as `method`

"""Fault injection for `reconciler serve`: make the server misbehave on purpose.

Layer: server. Stdlib only. A `FaultQueue` holds faults that the next matching
requests consume, in order. Spec syntax (for `--faults` and `FaultQueue.parse`),
comma separated, each `KIND[:ARG][*COUNT][@METHOD]`:

- `429[:SECONDS]`   answer 429 with `Retry-After: SECONDS` (default 1)
- `500`, `502`, `503`, `504`   answer that status with Tailscale's error body
- `drop`            close the connection without answering, before doing the work
- `drop-after`      do the work (a POST is stored), then close without answering
- `stall:SECONDS`   wait SECONDS before doing the work (past a client's timeout)

`*COUNT` repeats a fault; `@POST` limits it to one HTTP method. Token requests
(`/api/v2/oauth/...`) are never faulted, so the faults land on API calls; nor are
requests without a valid credential, which are refused (401) before anything else.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass

KINDS = ("429", "500", "502", "503", "504", "drop", "drop-after", "stall")


@dataclass(frozen=True)
class Fault:
    kind: str
    arg: float | None = None
    method: str | None = None  # None: any method

    def __str__(self) -> str:
        arg = f":{self.arg:g}" if self.arg is not None else ""
        method = f"@{self.method}" if self.method else ""
        return f"{self.kind}{arg}{method}"


class FaultSpecError(ValueError):
    pass


class FaultQueue:
    """Thread-safe queue of pending faults, plus counters of what was injected."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[Fault] = []
        self.injected: Counter[str] = Counter()

    @staticmethod
    def parse(spec: str) -> list[Fault]:
        faults: list[Fault] = []
        for raw in (part.strip() for part in spec.split(",")):
            if not raw:
                continue
            item, _, method = raw.partition("@")
            item, _, count_text = item.partition("*")
            kind, _, arg_text = item.partition(":")
            if kind not in KINDS:
                raise FaultSpecError(f"unknown fault {kind!r} in {raw!r}; "
                                     f"use one of {', '.join(KINDS)}")
            try:
                count = int(count_text) if count_text else 1
                arg = float(arg_text) if arg_text else None
            except ValueError as e:
                raise FaultSpecError(f"bad number in fault {raw!r}") from e
            if kind == "stall" and arg is None:
                raise FaultSpecError("stall needs seconds: stall:SECONDS")
            faults.extend([Fault(kind, arg, method.upper() or None)] * count)
        return faults

    def push(self, *faults: Fault | str) -> None:
        parsed: list[Fault] = []
        for fault in faults:
            parsed.extend(self.parse(fault) if isinstance(fault, str) else [fault])
        with self._lock:
            self._pending.extend(parsed)

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def take(self, method: str) -> Fault | None:
        """The first pending fault for `method`, removed from the queue."""
        with self._lock:
            for i, fault in enumerate(self._pending):
                if fault.method in (None, method):
                    del self._pending[i]
                    self.injected[fault.kind] += 1
                    return fault
        return None

"""Problems: one finding about the user's input, with where it is.

core/ (the lowest layer) (imports `source` only). Validators collect every problem of a run and
return them together; the CLI prints one line each as ``file:line:col: message``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from reconciler.core.source import Location


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    NOTICE = "notice"


_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


@dataclass(frozen=True)
class Problem:
    message: str
    location: Location | None = None
    severity: Severity = Severity.ERROR
    code: str = ""

    def __post_init__(self) -> None:
        # One problem is one line, whatever the user's names contain: no control
        # character, and nothing str.splitlines() or a terminal would break a line at.
        if _UNPRINTABLE.search(self.message):
            cleaned = self.message.encode("unicode_escape").decode("ascii")
            object.__setattr__(self, "message", cleaned)

    def __str__(self) -> str:
        prefix = f"{self.location}: " if self.location else ""
        tag = "" if self.severity is Severity.ERROR else f"{self.severity.value}: "
        return f"{prefix}{tag}{self.message}"

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR


def errors_only(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.is_error]

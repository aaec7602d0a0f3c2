"""Problems: one finding about the user's input, with where it is.

Lowest layer (imports `source` only). Validators collect every problem of a run and
return them together; the CLI prints one line each as ``file:line:col: message``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from reconciler.source import Location


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    NOTICE = "notice"


@dataclass(frozen=True)
class Problem:
    message: str
    location: Location | None = None
    severity: Severity = Severity.ERROR
    code: str = ""

    def __post_init__(self) -> None:
        # One problem is one line, whatever the user's names contain.
        if any(c in self.message for c in "\r\n\t\x00"):
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

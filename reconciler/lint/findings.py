"""Lint findings and the catalogue of checks: stable codes, default severities, settings.

lint/, vocabulary (imports `reconciler.core.source`, `reconciler.core.errors`,
`reconciler.core.suggest`).
A finding is one thing worth a reviewer's attention, with where it is and what to do.
Codes are kebab-case and stable: users turn checks off or up by code in reconciler.yaml::

    lint:
      severity: {unused-group: error, rule-untested: off}
      expiring_within_days: 14      # jit-expiring horizon (default 7)
      big_group_members: 20         # broad-tag-owner: a group this big owning a tag
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.core.errors import ConfigError
from reconciler.core.source import Location
from reconciler.core.suggest import did_you_mean, unknown_key

SEVERITIES = ("error", "warning", "info")
OFF = "off"

# code -> (default severity, what the check finds)
CHECKS: dict[str, tuple[str, str]] = {
    "undefined-group": ("error", "a group is used but not defined in groups"),
    "undefined-tag": ("error", "a tag is used but not defined in tagOwners"),
    "undefined-host": ("error", "a host alias is used but not defined in hosts"),
    "undefined-ipset": ("error", "an ipset is used but not defined in ipsets"),
    "undefined-posture": ("error", "a posture is used but not defined in postures"),
    "unused-group": ("warning", "a group no rule, test, owner or approver uses"),
    "unused-tag": ("warning", "a tag nothing refers to"),
    "unused-host": ("warning", "a host alias nothing refers to"),
    "unused-ipset": ("warning", "an ipset nothing refers to"),
    "unused-posture": ("warning", "a posture no rule requires"),
    "empty-group": ("warning", "a group without members"),
    "shadowed-rule": ("warning", "a rule whose access another rule already gives"),
    "allow-all": ("warning", "every device may reach everything"),
    "danger-all": ("warning", "autogroup:danger-all (every address, inside and out)"),
    "broad-tag-owner": ("warning", "a tag that very many people may apply"),
    "ssh-root-accept": ("warning", "SSH as root without a check (re-authentication)"),
    "risky-access": ("info", "a rule giving risky access (README, Risky access)"),
    "rule-untested": ("info", "a rule no test exercises"),
    "jit-expiring": ("info", "just-in-time access that expires soon"),
    "jit-expired": ("info", "just-in-time access that has expired and was left out"),
    "compile-error": ("error", "the policy does not compile, so rule checks could not run"),
}
SETTINGS_KEYS = ("severity", "expiring_within_days", "big_group_members")


@dataclass(frozen=True)
class Finding:
    code: str
    severity: str  # "error" | "warning" | "info"
    message: str
    location: Location | None = None
    suggestion: str = ""

    def sort_key(self) -> tuple[Any, ...]:
        loc = self.location
        return (loc.file, loc.line, loc.col) if loc else ("~", 0, 0), self.code, self.message

    def to_dict(self) -> dict[str, Any]:
        loc = self.location
        return {
            "code": self.code, "severity": self.severity, "message": self.message,
            "file": loc.file if loc else None, "line": loc.line if loc else None,
            "column": loc.col if loc else None, "suggestion": self.suggestion,
        }


@dataclass(frozen=True)
class LintSettings:
    severity: Mapping[str, str] = field(default_factory=dict)  # overrides, "off" included
    expiring_within_days: int = 7
    big_group_members: int = 20
    # sensitive_tags from reconciler.yaml (None: tags named like production).
    sensitive_tags: tuple[str, ...] | None = None

    def level(self, code: str) -> str:
        return self.severity.get(code, CHECKS[code][0])

    @classmethod
    def from_config(cls, raw: Mapping[str, Any] | None, *, where: str = "reconciler.yaml",
                    sensitive_tags: tuple[str, ...] | None = None) -> LintSettings:
        """Read and check the `lint:` mapping; every problem in one ConfigError."""
        raw = raw or {}
        problems: list[str] = []
        for key in raw:
            if key not in SETTINGS_KEYS:
                problems.append(f"lint: {unknown_key(str(key), SETTINGS_KEYS)}")
        severity: dict[str, str] = {}
        given = raw.get("severity") or {}
        if not isinstance(given, Mapping):
            problems.append("lint.severity must be a mapping of check code to "
                            "error, warning, info or off")
            given = {}
        for code, level in given.items():
            if code not in CHECKS:
                problems.append(f'lint.severity: unknown check "{code}"'
                                f"{did_you_mean(str(code), CHECKS)}")
            elif level is False or str(level).lower() not in (*SEVERITIES, OFF):
                # YAML reads a bare `off` as False: accept it as "off".
                if level is False:
                    severity[str(code)] = OFF
                    continue
                problems.append(f'lint.severity.{code}: "{level}" is not one of '
                                "error, warning, info, off")
            else:
                severity[str(code)] = str(level).lower()
        numbers: dict[str, int] = {}
        for key, default in (("expiring_within_days", 7), ("big_group_members", 20)):
            value = raw.get(key, default)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                problems.append(f"lint.{key} must be a whole number >= 0, not {value!r}")
                value = default
            numbers[key] = value
        if problems:
            raise ConfigError(
                f"{len(problems)} error{'s' if len(problems) != 1 else ''} in the lint "
                f"settings of {where}", "\n".join(problems))
        return cls(severity, numbers["expiring_within_days"], numbers["big_group_members"],
                   sensitive_tags)

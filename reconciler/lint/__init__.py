"""Lint: findings about a policy that is valid but probably not what was meant.

lint/ (beside the test step) (imports `desired`, the engine, `policy` parsers, `source`;
never the CLI, backends or git). `lint_desired(desired, settings, now=...)` validates
the policy first, as every command does: an invalid one raises the validator's located
problems (`PolicyError`), except names used but not defined, which lint reports itself
as `undefined-*` findings. Then it runs every check and applies the configured
severities; `render` shows the report as text, JSON or GitHub annotations.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

from reconciler.core.errors import ReconcilerError
from reconciler.core.inventory import Inventory
from reconciler.core.problems import Problem
from reconciler.engine.compile import compile_policy
from reconciler.engine.inventory_io import synthetic_inventory
from reconciler.lint.expiry import check_expiry
from reconciler.lint.findings import CHECKS, OFF, Finding, LintSettings
from reconciler.lint.references import check_references
from reconciler.lint.risky import check_risky, check_risky_access
from reconciler.lint.rules import Coverage, RuleIndexes, coverage, shadowed, untested
from reconciler.load.desired import Desired, check_desired, settle

__all__ = ["CHECKS", "Finding", "LintReport", "LintSettings", "lint_desired"]


@dataclass(frozen=True)
class LintReport:
    findings: tuple[Finding, ...]
    coverage: Coverage | None  # None when the rules did not compile

    def count(self, severity: str) -> int:
        return sum(1 for f in self.findings if f.severity == severity)

    @property
    def failed(self) -> bool:
        """Exit 1: some finding has error severity."""
        return self.count("error") > 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": not self.failed,
            "counts": {s: self.count(s) for s in ("error", "warning", "info")},
            "coverage": self.coverage.to_dict() if self.coverage is not None else None,
            "findings": [f.to_dict() for f in self.findings],
        }


def lint_desired(desired: Desired, settings: LintSettings | None = None, *,
                 now: datetime | None = None, inventory: Inventory | None = None) -> LintReport:
    """Every check on a loaded desired state; severities as configured, "off" dropped."""
    return _lint(desired, settings, now=now, inventory=inventory)


def _validate(desired: Desired) -> list[Problem]:
    """Raise the validator's errors (the checks below, and the engine, read only valid
    policies); return those about names used but not defined, which the `undefined-*`
    checks report with their codes."""
    errors = [p for p in check_desired(desired) if p.is_error]
    settle(desired, [p for p in errors if p.code != "not-found"])
    return [p for p in errors if p.code == "not-found"]


def _lint(desired: Desired, settings: LintSettings | None, *, now: datetime | None,
          inventory: Inventory | None) -> LintReport:
    settings = settings or LintSettings()
    now = now or datetime.now(timezone.utc)
    undefined = _validate(desired)
    policy, sources = desired.policy, desired.sources
    found = check_references(policy, sources, desired.devices)
    if undefined and not any(f.code.startswith("undefined-") for f in found):
        settle(desired, undefined)  # a name lint does not follow: the validator's words
    found += check_risky(policy, sources, big_group_members=settings.big_group_members)
    names = {path: m.name for path, m in desired.meta.items() if m.name}
    found += check_risky_access(policy, sources, settings.sensitive_tags, names)
    found += check_expiry(desired, now, settings.expiring_within_days)
    cov: Coverage | None = None
    # Undefined names make the engine refuse the policy; their findings say it already.
    if not any(f.code.startswith("undefined-") for f in found):
        try:
            compiled = compile_policy(policy, inventory or synthetic_inventory(policy))
            indexes = RuleIndexes(compiled)
            found += shadowed(compiled, sources, names, indexes=indexes)
            cov = coverage(policy, compiled, indexes=indexes)
            found += untested(cov, sources, names)
        except ReconcilerError as e:
            found.append(Finding("compile-error", "error", f"the rules do not compile: {e}",
                                 None, "run `reconciler validate` for details"))
    out = []
    for f in found:
        level = settings.level(f.code)
        if level != OFF:
            out.append(replace(f, severity=level))
    return LintReport(tuple(sorted(out, key=Finding.sort_key)), cov)

"""The policy engine: evaluate a policy offline with Tailscale's semantics.

Step in the pipeline: `test` (and `explain`, `access`, per-node filters). Imports the
lowest layer (`inventory`, `source`, `errors`) and the policy parsers
(`reconciler.validate.selectors`, `reconciler.validate.ports`); `inventory_io` also reads
YAML/JSON inventory files. Never the CLI, backends or git.

Modules, in dependency order: `addrset` (interval sets), `inventory_io` (inventory files,
synthetic inventories), `resolve` (selectors -> address sets), `posture` (conditions,
cmpver), `compile` (acls/grants -> rules), `relation` (canonical allow relations),
`filters` (per-node packet filters), `index` (fast reachability lookups), `ssh` (SSH
rules), `tests_runner` (tests, sshTests), `explain`, `access`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from reconciler.core.errors import CompileError, ExplainError, InventoryError

if TYPE_CHECKING:
    from reconciler.engine.access import (
        AccessEntry,
        AccessMatrix,
        access_matrix,
        compute_access,
    )
    from reconciler.engine.addrset import AddrSet
    from reconciler.engine.compile import CompiledPolicy, Rule, compile_policy
    from reconciler.engine.filters import filter_rules, node_filter
    from reconciler.engine.inventory_io import (
        inventory_from_data,
        load_inventory,
        synthetic_inventory,
    )
    from reconciler.engine.tests_runner import TestReport, TestResult, run_tests

# `explain` is both a module and its function: imported here, so that the name is the
# function whichever is imported first (the modules it needs are `test`'s too).
from reconciler.engine.explain import Explanation, explain

# Every other name from the module that defines it, imported on first use: `test` and
# `explain` import neither `access` (with `relation`) nor `filters`.
_HOMES = {
    "access": ("AccessEntry", "AccessMatrix", "access_matrix", "compute_access"),
    "addrset": ("AddrSet",),
    "compile": ("CompiledPolicy", "Rule", "compile_policy"),
    "filters": ("filter_rules", "node_filter"),
    "inventory_io": ("inventory_from_data", "load_inventory", "synthetic_inventory"),
    "tests_runner": ("TestReport", "TestResult", "run_tests"),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _HOME_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "AccessEntry",
    "AccessMatrix",
    "AddrSet",
    "CompileError",
    "CompiledPolicy",
    "ExplainError",
    "Explanation",
    "InventoryError",
    "Rule",
    "TestReport",
    "TestResult",
    "access_matrix",
    "compile_policy",
    "compute_access",
    "explain",
    "filter_rules",
    "inventory_from_data",
    "load_inventory",
    "node_filter",
    "run_tests",
    "synthetic_inventory",
]

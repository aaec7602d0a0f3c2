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

from reconciler.core.errors import CompileError, ExplainError, InventoryError
from reconciler.engine.access import AccessEntry, AccessMatrix, access_matrix, compute_access
from reconciler.engine.addrset import AddrSet
from reconciler.engine.compile import CompiledPolicy, Rule, compile_policy
from reconciler.engine.explain import Explanation, explain
from reconciler.engine.filters import filter_rules, node_filter
from reconciler.engine.inventory_io import inventory_from_data, load_inventory, synthetic_inventory
from reconciler.engine.tests_runner import TestReport, TestResult, run_tests

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

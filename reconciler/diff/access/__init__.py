"""Access diff: who gains and who loses network access between two policies.

diff/access/ (step: diff, of who reaches what). May import: `engine`, `validate`,
`core`; never the CLI, backends or git. `access_diff(before, after, inventory)` computes it once;
`to_json` is its JSON form (plan files keep it); `render/access_diff.py` shows it as text
and Markdown inside `plan` and `diff`.
"""

from __future__ import annotations

from reconciler.diff.access.compute import access_diff, diff_inventory
from reconciler.diff.access.model import AccessChange, AccessDiff, RuleRef, to_json

__all__ = [
    "AccessChange",
    "AccessDiff",
    "RuleRef",
    "access_diff",
    "diff_inventory",
    "to_json",
]

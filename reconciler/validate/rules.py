"""Access rules: runs the `acls`, `grants` and `ssh` checkers.

Policy model layer (imports `policy.context`, `policy.acls`, `policy.grants`,
`policy.ssh_rules`). Shapes and types were checked by `shapes`; these check meaning:
selectors allowed on each side, references defined, ports and protocols, the
autogroup:self restrictions, grant ip/app/via, ssh actions, users and checkPeriod.
"""

from __future__ import annotations

from reconciler.validate.acls import check_acls
from reconciler.validate.context import Context
from reconciler.validate.grants import check_grants
from reconciler.validate.ssh_rules import check_ssh


def check_rules(ctx: Context) -> None:
    check_acls(ctx)
    check_grants(ctx)
    check_ssh(ctx)

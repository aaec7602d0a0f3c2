"""`import`: write a target's live policy into policies/.

commands/ (step: import). May import everything below the CLI.
"""

from __future__ import annotations

from reconciler.commands.plan import STEP_LABELS
from reconciler.commands.session import Session
from reconciler.core import progress
from reconciler.diff.normalize import recover_names
from reconciler.load.config import Target
from reconciler.load.importer import ImportedFile, import_into


def import_live(session: Session, *, target: str | None = None, force: bool = False,
                syntax: str | None = None) -> tuple[Target, list[ImportedFile]]:
    tgt = session.target(target)
    be = session.backend(tgt)
    try:
        with progress.step(STEP_LABELS["fetch"]):
            live = be.fetch_policy()
    finally:
        be.close()
    written = import_into(session.config, live.text, now=session.now,
                          recover=recover_names, force=force, syntax=syntax)
    return tgt, written

"""`import`: write a target's live policy into policies/.

commands/ (step: import). May import everything below the CLI.
"""

from __future__ import annotations

from reconciler.commands.session import Session
from reconciler.load.config import Target
from reconciler.load.importer import ImportedFile, import_policy


def import_live(session: Session, *, target: str | None = None,
                force: bool = False) -> tuple[Target, list[ImportedFile]]:
    tgt = session.target(target)
    be = session.backend(tgt)
    try:
        live = be.fetch_policy()
    finally:
        be.close()
    written = import_policy(live.text, session.config.policies_dir, force=force,
                            shown=session.config.policies)
    return tgt, written

"""Files reconciler writes for later runs to trust: plan files, apply journals and the
local state directory.

core/ (the lowest layer) (standard library only; anything may import it). A plan file or journal
is written beside its final name and renamed over it, so a crash leaves the old file
or the new one, never half of either, and a reader never sees a torn write.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

STATE_DIR = ".reconciler"
_IGNORE = "# reconciler's local state: not for git\n*\n"


def write_temp(directory: Path, name: str, text: str) -> str:
    """`text` in a new temporary file in `directory`, flushed to disk; its path. The
    caller renames or links it into place (and removes it if that fails)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tmp


def replace(path: Path, text: str) -> None:
    """Write `text` to `path` in one rename (OSError on failure, nothing left behind)."""
    tmp = write_temp(path.parent, path.name, text)
    try:
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def ignore_state_dir(directory: Path) -> None:
    """Give a `.reconciler` directory its own `.gitignore`, so the store and journals
    never show up as untracked files in a repository that has no rule for them."""
    ignore = directory / ".gitignore"
    if directory.name == STATE_DIR and not ignore.exists():
        ignore.write_text(_IGNORE, encoding="utf-8")

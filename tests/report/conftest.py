"""Helpers shared by the access-grid tests: the real CLI in a subprocess, and the cells
the grid must show, worked out from `access --format json`'s flat list."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from reconciler.render.matrix import OWN, ports_text, simplify
from tests.conftest import REPO_ROOT


def reconciler(*args: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "RECONCILER_JOBS": "1"}
    return subprocess.run([sys.executable, "-m", "reconciler", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def access_entries(data: Any) -> list[dict[str, Any]]:
    """The pair list of `access --format json`, bare or inside a versioned envelope."""
    if isinstance(data, list):
        return data
    return next(v for v in data.values() if isinstance(v, list))


def expected_cells(entries: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    """(source identity, destination) -> the cell text the grid must show for it."""
    merged: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    for e in entries:
        dst = OWN if e["to"] == e["from"] and "@" in e["from"] else e["to"]
        merged[(e["from"], dst)].extend((p["proto"], p["ports"]) for p in e["ports"])
    return {key: ports_text(simplify(ports)) for key, ports in merged.items()}

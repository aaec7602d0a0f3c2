"""`python -m benchmarks table` through its real entry point, at a tiny scale: the
table's shape (every row at every size, old and new side by side, growth, goals), not
its timings. The old side is this repository's HEAD, checked out by the harness itself
into a temporary worktree; generated tailnets are cached in a temporary directory.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from benchmarks.table import CACHE_ENV, GOALS, ROWS

ROOT = Path(__file__).resolve().parents[2]
SIZES = ("0.005x", "0.01x")


def test_the_table_has_every_row_at_every_size_old_and_new(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "table", "--compare", "HEAD", "--scales",
         "0.005,0.01", "--runs", "1", "--no-huge", "--timeout", "120"],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
        env={**os.environ, CACHE_ENV: str(tmp_path / "cache")})
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    for key in ROWS:
        for label in SIZES:
            found = [ln for ln in lines if ln.split()[:2] == [key, label]]
            assert len(found) == 1, (key, label, proc.stdout)
            cells = found[0].split("|")
            # row and size | old: best, median, cpu, rss | new: the same | speed, output
            assert len(cells) == 4, found[0]
            for side in cells[1:3]:
                assert len(side.split()) == 4 and side.strip().endswith("MB"), found[0]
            # every command's output is the same from HEAD and from this tree, except
            # `local history`, which has timestamps and is not compared
            assert cells[3].split()[-1] == ("-" if key == "seed" else "same"), found[0]
    growth = lines[lines.index(next(ln for ln in lines if ln.startswith("growth k"))):]
    for key in ROWS:
        assert any(ln.split()[:2] == [key, "old"] and " new " in ln for ln in growth), key
    # the goals are at 1x, 4x and huge: named, with no figure at these sizes
    for goal in GOALS:
        assert f"  {goal.text}: not measured" in lines, proc.stdout
    # the temporary worktree of the old side is gone
    worktree = lines[0].split("(worktree ", 1)[1].split(")", 1)[0]
    listed = subprocess.run(["git", "-C", str(ROOT), "worktree", "list", "--porcelain"],
                            capture_output=True, text=True, check=True).stdout
    assert f"worktree {worktree}\n" not in listed and not Path(worktree).exists()

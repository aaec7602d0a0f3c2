"""A new local store seeded in one bulk transaction holds exactly what the row-by-row
seeding held: `local inventory --format json` byte for byte, and every stored row.

The golden files in tests/backends/golden/ were written by the commit before the bulk
seeding (dc2476a) from `seed_inventory.json` (the benchmark generator's tailnet at 300
devices, seed 7, plus a shared user, an admin, a posture, a device of a user missing
from the users list and a non-ASCII name), and from the demo seed.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

from click.testing import CliRunner

import reconciler.cli.backend_cmds  # noqa: F401  (registers the commands on `cli`)
from reconciler.cli import cli

GOLDEN = Path(__file__).parent / "golden"


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def stored_rows(db: Path) -> dict[str, list[list[object]]]:
    """Every users and devices row (ids included), less the creation time."""
    conn = sqlite3.connect(db)
    try:
        out = {}
        for table, order in (("users", "id"), ("devices", "legacy_id")):
            cur = conn.execute(f"SELECT * FROM {table} ORDER BY {order}")
            names = [d[0] for d in cur.description]
            out[table] = [[v for n, v in zip(names, row, strict=True) if n != "created"]
                          for row in cur]
        return out
    finally:
        conn.close()


def test_a_store_seeded_from_an_inventory_file_is_unchanged(tmp_path: Path) -> None:
    shutil.copy(GOLDEN / "seed_inventory.json", tmp_path / "inventory.json")
    (tmp_path / "reconciler.yaml").write_text(
        "targets:\n  local: {backend: local, path: .reconciler/local.db, "
        "seed: inventory.json}\n")
    seeded = run("-C", str(tmp_path), "local", "inventory", "--format", "json")
    assert seeded == (GOLDEN / "seed_inventory.out.json").read_text()
    # A device added after the seed numbers on from the seeded ones, as before.
    run("-C", str(tmp_path), "local", "add-device", "late-box", "--user", "user0@example.com")
    after = run("-C", str(tmp_path), "local", "inventory", "--format", "json")
    assert after == (GOLDEN / "seed_inventory_after_add.out.json").read_text()
    want = json.loads((GOLDEN / "seed_inventory_after_add.rows.json").read_text())
    assert stored_rows(tmp_path / ".reconciler" / "local.db") == want


def test_the_demo_seed_is_unchanged(tmp_path: Path) -> None:
    out = run("local", "inventory", "--db", str(tmp_path / "x.db"), "--format", "json")
    assert out == (GOLDEN / "seed_demo.out.json").read_text()

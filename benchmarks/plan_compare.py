"""`python -m benchmarks.plan_compare REV`: plan, lint and access diff, old and new side by side.

Benchmark support (stdlib, GitPython, `benchmarks.generate`, `benchmarks.access_bench`,
the local store to seed). Checks out REV in a temporary `git worktree`, builds one
desired-state repository per size relative to `large` (0.25 = 1,250 rules, 2,500
devices) as `plan_bench` does (a member added to a group in git, a tag owner added
out of band, the local store seeded with the generated users and devices), and runs
in fresh processes, old and new alternating, `--runs` times:

* `plan 1cpu`: `reconciler plan --format json` with RECONCILER_JOBS=1;
* `plan`: the same with the default jobs;
* `lint`: `reconciler lint --inventory inventory.json`;
* `access diff`: a process that loads the policy, the 10-rule change of `access_bench`
  and the inventory, computes the access diff and prints it as text.

Per command and size: best and median wall seconds, least and median CPU seconds (from
`wait4`: the process and its forked children), the highest peak RSS, and whether the
outputs are byte-identical; then the growth exponent k (time ~ size^k, least CPU)
between the smallest and largest size, and the goals of issue 18. Seeding the store is
slow (one transaction per device); `--keep DIR` keeps the repositories for the next
run. Figures only: nothing here fails on a slow time.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import statistics
import sys
import tempfile
from pathlib import Path

from benchmarks.generate import Scale, generate
from benchmarks.runner import HERE, add_member, desired_repo, timed_run, worktree

NOW = "2026-01-01T00:00:00Z"  # plans carry their creation time: pinned, to compare bytes
ACCESS_DIFF = """
import json, sys
from reconciler.diff.access import access_diff
from reconciler.render.access_diff import render_text
from reconciler.engine import inventory_from_data
d = sys.argv[1]
before = json.load(open(d + "/before.json"))
after = json.load(open(d + "/after.json"))
inventory = inventory_from_data(json.load(open(d + "/inventory.json")))
sys.stdout.write(render_text(access_diff(before, after, inventory)))
"""
COMMANDS = ("plan 1cpu", "plan", "lint", "access diff")
# (command, size) -> (wall seconds, peak MB or None), issue 18
GOALS = {("plan 1cpu", 1.0): (2.0, None), ("access diff", 1.0): (1.0, None),
         ("lint", 4.0): (None, 400.0)}


def _scale(factor: float) -> Scale:
    return Scale(f"{factor:g}x", int(5_000 * factor), int(50_000 * factor),
                 int(10_000 * factor))


def _tailnet(factor: float, seed: int, root: Path) -> None:
    """The desired-state repository, its live policy and store (see `plan_bench`)."""
    from benchmarks.access_bench import ten_rule_change
    from reconciler.backends.local.store import LocalStore
    from reconciler.load.document import to_hujson

    policy, inventory = generate(_scale(factor), seed)
    root.mkdir(parents=True)
    (root / "before.json").write_text(json.dumps(policy))
    (root / "after.json").write_text(json.dumps(ten_rule_change(policy, seed)))
    repo, applied = desired_repo(root, policy, inventory,
                                 ignore=".reconciler/\nbefore.json\nafter.json\n")
    header = to_hujson(policy, commit=applied).split("{", 1)[0]
    store = LocalStore(root / ".reconciler" / "local.db")
    for user in inventory["users"]:
        store.add_user(user["login"], role=user.get("role", "member"))
    for d in inventory["devices"]:
        store.add_device(d["name"], user=d.get("user"), tags=d.get("tags"), ipv4=d["ipv4"],
                         ipv6=d["ipv6"], routes=d.get("approved_routes"))
    edited = json.loads(json.dumps(policy))
    tag = sorted(policy["tagOwners"])[0]
    edited["tagOwners"][tag] = [*edited["tagOwners"][tag], "console-admin@example.com"]
    add_member(repo, root, policy)
    store.write_policy(header + json.dumps(edited, indent="\t"), if_match=None)
    repo.close()
    (root / ".complete").write_text("")


def _command(command: str, root: Path) -> tuple[list[str], dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if k != "RECONCILER_JOBS"}
    if command == "access diff":
        return [sys.executable, "-c", ACCESS_DIFF, str(root)], env
    if command == "lint":
        return [sys.executable, "-m", "reconciler", "-C", str(root), "--now", NOW, "lint",
                "--inventory", str(root / "inventory.json")], env
    if command == "plan 1cpu":
        env["RECONCILER_JOBS"] = "1"
    return [sys.executable, "-m", "reconciler", "-C", str(root), "--now", NOW, "plan",
            "--format", "json"], env


def _run(tree: Path, command: str, root: Path, out: Path) -> tuple[float, float, float]:
    """One run in a fresh process: (wall s, CPU s, peak RSS MB)."""
    args, env = _command(command, root)
    env["PYTHONPATH"] = str(tree)
    run = timed_run(args, env=env, cwd=tree, out=out)
    if run.code not in (0, 1, 2):  # lint exits 1 on error findings, plan 2 on changes
        raise SystemExit(f"{command} ({tree}) exited {run.code}: {run.stderr[-500:]!r}")
    return run.figures


def _row(runs: list[tuple[float, float, float]]) -> str:
    walls, cpus = [r[0] for r in runs], [r[1] for r in runs]
    return (f"{min(walls):6.2f} {statistics.median(walls):6.2f} {min(cpus):6.2f} "
            f"{statistics.median(cpus):6.2f} {max(r[2] for r in runs):5.0f}MB")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.plan_compare")
    parser.add_argument("rev", help="the old side: a commit, branch or tag of this repository")
    parser.add_argument("--scales", default="0.25,1,4",
                        help="sizes relative to `large`, comma-separated (default 0.25,1,4)")
    parser.add_argument("--runs", type=int, default=5, help="runs per side (default 5)")
    parser.add_argument("--commands", default=",".join(COMMANDS),
                        help=f"comma-separated, of: {', '.join(COMMANDS)}")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="build (or reuse) the repositories here")
    args = parser.parse_args(argv)
    factors = [float(x) for x in args.scales.split(",")]
    commands = [c.strip() for c in args.commands.split(",")]
    if unknown := [c for c in commands if c not in COMMANDS]:
        parser.error(f"unknown command(s): {', '.join(unknown)}")
    # SIGTERM as an exit, so that the worktree is removed
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    results: dict[tuple[str, float, str], list[tuple[float, float, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="plan-compare-") as tmp:
        scratch = Path(tmp)
        with worktree(args.rev, scratch / "old") as old:
            trees = {"old": old, "new": HERE}
            print(f"old: {args.rev}; new: {HERE}; {args.runs} runs each, alternating; "
                  "wall best/median, CPU least/median, peak RSS")
            print(f"{'command':<12} {'size':>5} | {'old':^38} | {'new':^38} | output")
            for factor in factors:
                root = (args.keep or scratch) / f"tailnet-{factor:g}x-seed{args.seed}"
                if not (root / ".complete").exists():
                    _tailnet(factor, args.seed, root)
                for command in commands:
                    outputs: dict[str, bytes] = {}
                    for _ in range(args.runs):
                        for side, tree in trees.items():
                            out = scratch / f"{side}.out"
                            results.setdefault((command, factor, side), []).append(
                                _run(tree, command, root, out))
                            outputs[side] = out.read_bytes()
                    same = "same" if outputs["old"] == outputs["new"] else "DIFFERENT"
                    print(f"{command:<12} {factor:>4g}x | "
                          f"{_row(results[command, factor, 'old'])} | "
                          f"{_row(results[command, factor, 'new'])} | {same}", flush=True)
    _summary(results, factors, commands)
    return 0


def _summary(results: dict[tuple[str, float, str], list[tuple[float, float, float]]],
             factors: list[float], commands: list[str]) -> None:
    lo, hi = min(factors), max(factors)
    if lo < hi:
        print(f"growth k (least CPU ~ size^k, {lo:g}x -> {hi:g}x):")
        for command in commands:
            ks = []
            for side in ("old", "new"):
                a, b = results.get((command, lo, side)), results.get((command, hi, side))
                if a and b:
                    cpu_a, cpu_b = min(r[1] for r in a), min(r[1] for r in b)
                    ks.append(f"{side} {math.log(cpu_b / cpu_a) / math.log(hi / lo):.2f}")
            print(f"  {command:<12} {', '.join(ks)}")
    for (command, factor), (seconds, mb) in GOALS.items():
        runs = results.get((command, factor, "new"))
        if not runs:
            continue
        wall, cpu, rss = min(r[0] for r in runs), min(r[1] for r in runs), max(
            r[2] for r in runs)
        ok = (seconds is None or wall < seconds) and (mb is None or rss < mb)
        want = " and ".join(x for x in (seconds and f"< {seconds:g} s wall",
                                        mb and f"< {mb:g} MB") if x)
        print(f"goal: {command} at {factor:g}x {want}: {'met' if ok else 'MISSED'} "
              f"(best wall {wall:.2f} s, least CPU {cpu:.2f} s, {rss:.0f} MB)")


if __name__ == "__main__":
    sys.exit(main())

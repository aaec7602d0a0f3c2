"""`python -m benchmarks --compare REV`: `access` and `explain`, old and new side by side.

Benchmark support (stdlib and `benchmarks.generate`). Checks out REV (a commit, branch
or tag of this repository) in a temporary `git worktree`, generates seeded tailnets at
the given sizes relative to `large` (0.25 = 1,250 rules, 2,500 devices, 12,500
assertions), and runs each command as a user does (`python -m reconciler -C DIR ...`,
output to a file) from the old tree and from this one, alternating, `--runs` times.

Per command and size it prints, for old and new: best and median wall seconds, the
least CPU seconds of a run and the highest peak RSS (both from `wait4` of each process),
whether the two outputs are byte-identical, and the speedups (best wall; least CPU);
then the growth exponent k (time ~ size^k) between sizes, and each goal's verdict.
A run past `--timeout` is killed and shown as such. Figures only: nothing here fails
on a slow time (never put timed assertions in tests).

The unfiltered matrix grows as sources x destinations (4.7M rows, 380 MB of text at
1x; the grid of `--format matrix` 275 MB), so those two run only up to
`--max-access-scale` (default 1), and each row of an output over 1 MB also shows its
size and the new side's output rate (MB per second of best wall time): for an output
that is itself quadratic, time per byte is the figure that should stay flat.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import signal
import statistics
import sys
import tempfile
from pathlib import Path

from benchmarks import runner
from benchmarks.generate import Scale, generate
from benchmarks.runner import HERE, cli_figures, worktree

COMMANDS: dict[str, list[str]] = {
    "access": ["access"],
    "access --from": ["access", "--from", "group:g0"],
    "access matrix": ["access", "--format", "matrix"],
    "explain": ["explain", "group:g0", "tag:t1:22"],
    "explain (denied)": ["explain", "group:g1", "tag:t1:7"],
}
# (command, scale): the goal, in wall seconds and MB, of issue 18
GOALS: dict[tuple[str, float], tuple[float, float | None]] = {
    ("access", 1.0): (3.0, 500.0),
    ("access --from", 1.0): (1.0, None),
    ("explain", 1.0): (0.5, None),
    ("explain (denied)", 1.0): (0.5, None),
}


class Side(runner.Side):
    def row(self) -> str:
        if not self.runs:
            return f"{self.failed or '-':>37}"
        median = statistics.median(w for w, _, _ in self.runs)
        return f"{self.best:7.2f} {median:7.2f} {self.cpu:7.2f} {self.rss:6.0f}MB"

    @property
    def best(self) -> float | None:
        return min(w for w, _, _ in self.runs) if self.runs else None

    @property
    def cpu(self) -> float | None:
        """The least CPU of a run: steadier than wall time on a busy machine."""
        return min(c for _, c, _ in self.runs) if self.runs else None

    @property
    def rss(self) -> float:
        return max(r for _, _, r in self.runs)


def _scale(factor: float) -> Scale:
    return Scale(f"{factor:g}x", int(5_000 * factor), int(50_000 * factor),
                 int(10_000 * factor))


def _tailnet(factor: float, seed: int, folder: Path) -> Path:
    policy, inventory = generate(_scale(factor), seed)
    (folder / "policies").mkdir(parents=True)
    (folder / "policies" / "policy.json").write_text(json.dumps(policy))
    (folder / "inventory.json").write_text(json.dumps(inventory))
    return folder


def _run(tree: Path, folder: Path, args: list[str], out: Path, timeout: float
         ) -> tuple[float, float, float] | str:
    return cli_figures(tree, folder, args, out=out, timeout=timeout, env=os.environ)


def _measure(trees: dict[str, Path], folder: Path, args: list[str], runs: int,
             timeout: float, scratch: Path) -> dict[str, Side]:
    sides = {name: Side() for name in trees}
    runner.alternate(trees, sides, runs, scratch,
                     lambda tree, out: _run(tree, folder, args, out, timeout))
    return sides


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks --compare")
    parser.add_argument("rev", help="the old side: a commit, branch or tag of this repository")
    parser.add_argument("--scales", default="0.25,1",
                        help="sizes relative to `large`, comma-separated (default 0.25,1)")
    parser.add_argument("--runs", type=int, default=3, help="runs per side (default 3)")
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="seconds before a run is killed (default 120)")
    parser.add_argument("--commands", default=",".join(COMMANDS),
                        help=f"comma-separated, of: {', '.join(COMMANDS)}")
    parser.add_argument("--max-access-scale", type=float, default=1.0,
                        help="largest size for the unfiltered matrix (default 1)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    factors = [float(x) for x in args.scales.split(",")]
    commands = [c.strip() for c in args.commands.split(",")]
    unknown = [c for c in commands if c not in COMMANDS]
    if unknown:
        parser.error(f"unknown command(s): {', '.join(unknown)}")

    # SIGTERM as an exit, so that the worktree is removed and no run is left behind
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    results: dict[tuple[str, float], dict[str, Side]] = {}
    with tempfile.TemporaryDirectory(prefix="reconciler-compare-") as tmp:
        root = Path(tmp)
        with worktree(args.rev, root / "old") as old:
            trees = {"old": old, "new": HERE}
            print(f"old: {args.rev} (worktree {old}); new: {HERE}; runs {args.runs}, "
                  f"alternating; timeout {args.timeout:.0f} s")
            header = (f"{'command':<17} {'size':>5} | {'old best':>7} {'median':>7} "
                      f"{'cpu':>7} {'rss':>8} | {'new best':>7} {'median':>7} {'cpu':>7} "
                      f"{'rss':>8} | wall/cpu x output")
            print(header)
            print("-" * len(header))
            for factor in factors:
                folder = _tailnet(factor, args.seed, root / f"tailnet-{factor:g}")
                for command in commands:
                    if command in ("access", "access matrix") and \
                            factor > args.max_access_scale:
                        continue
                    sides = _measure(trees, folder, COMMANDS[command], args.runs,
                                     args.timeout, root)
                    results[(command, factor)] = sides
                    o, n = sides["old"], sides["new"]
                    speedup = (f"{o.best / n.best:5.1f}x/{o.cpu / n.cpu:.1f}x"
                               if o.best and n.best and o.cpu and n.cpu else f"{'-':>7}")
                    same = ("-" if o.digest is None or n.digest is None
                            else "same" if o.digest == n.digest else "DIFFERENT")
                    # Output-bound commands (the matrix grows as sources x destinations):
                    # the new side's output size and bytes per second of best wall time.
                    rate = (f" {n.size / 1e6:.1f}MB at {n.size / 1e6 / n.best:.0f}MB/s"
                            if n.best and n.size > 1e6 else "")
                    print(f"{command:<17} {factor:>4g}x | {o.row()} | {n.row()} | "
                          f"{speedup} {same}{rate}", flush=True)
    _growth(results, factors, commands)
    _verdicts(results)
    return 0


def _growth(results: dict[tuple[str, float], dict[str, Side]], factors: list[float],
            commands: list[str]) -> None:
    """k in time ~ size^k between consecutive sizes, from the best wall times."""
    lines = []
    for command in commands:
        for side in ("old", "new"):
            ks = []
            for a, b in itertools.pairwise(factors):
                ta = results.get((command, a), {}).get(side)
                tb = results.get((command, b), {}).get(side)
                if ta and tb and ta.best and tb.best and ta.cpu and tb.cpu:
                    k = math.log(tb.best / ta.best) / math.log(b / a)
                    k_cpu = math.log(tb.cpu / ta.cpu) / math.log(b / a)
                    ks.append(f"{a:g}x->{b:g}x k={k:.2f} (CPU: {k_cpu:.2f})")
            if ks:
                lines.append(f"  {command:<17} {side}: {'; '.join(ks)}")
    if lines:
        print("growth (time ~ size^k, best wall; least CPU):")
        print("\n".join(lines))


def _verdicts(results: dict[tuple[str, float], dict[str, Side]]) -> None:
    for (command, factor), (seconds, rss_mb) in GOALS.items():
        side = results.get((command, factor), {}).get("new")
        if side is None or not side.runs:
            continue
        wall, cpu, rss = side.best or 0.0, side.cpu or 0.0, side.rss
        ok = wall < seconds and (rss_mb is None or rss < rss_mb)
        want = f"< {seconds:g} s" + (f" and < {rss_mb:.0f} MB" if rss_mb else "")
        print(f"goal: {command} at {factor:g}x {want}: {'met' if ok else 'MISSED'} "
              f"(best wall {wall:.2f} s, least CPU {cpu:.2f} s, {rss:.0f} MB)")


if __name__ == "__main__":
    sys.exit(main())

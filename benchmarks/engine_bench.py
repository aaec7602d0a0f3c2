"""`python -m benchmarks.engine_bench`: `test` and `explain`, old and new side by side.

Benchmark support (stdlib and `benchmarks.generate`). Checks out `--compare REV` in a
temporary `git worktree`, generates seeded tailnets at the given sizes relative to
`large` (1 = 5,000 rules, 10,000 devices, 50,000 assertions), and runs each command as
a user does (`python -m reconciler -C DIR ...`, output to a file), from the old tree and
from this one, alternating, `--runs` times. `test` runs twice: with the default jobs and
with `RECONCILER_JOBS=1` (one CPU). With `--huge`, `test` also runs once per side on the
`huge` tailnet for its peak RSS.

Per command and size it prints, for old and new: best and median wall seconds, the
least and median CPU seconds of a run and the highest peak RSS (CPU and RSS from `wait4`
of each process, forked children included), whether the outputs are byte-identical,
and the speedups; then the growth exponent k (time ~ size^k) and each goal of issue 18
with its verdict. Figures only: nothing here fails on a slow time.
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
from benchmarks.generate import SCALES, Scale, generate
from benchmarks.runner import HERE, cli_figures, worktree

JOBS_ENV = "RECONCILER_JOBS"
# name -> (arguments, extra environment)
COMMANDS: dict[str, tuple[list[str], dict[str, str]]] = {
    "test": (["test", "--format", "json"], {}),
    "test jobs=1": (["test", "--format", "json"], {JOBS_ENV: "1"}),
    "explain": (["explain", "group:g0", "tag:t1:22"], {}),
    "explain denied": (["explain", "group:g1", "tag:t1:7"], {}),
}
# (command, size): wall seconds, peak MB; issue 18's goals
GOALS: dict[tuple[str, str], tuple[float | None, float | None]] = {
    ("test jobs=1", "1x"): (1.0, None),
    ("explain", "1x"): (0.5, None),
    ("explain denied", "1x"): (0.5, None),
    ("test", "huge"): (None, 400.0),
}
MAX_K = 1.1


class Side(runner.Side):
    @property
    def best(self) -> float:
        return min(w for w, _, _ in self.runs)

    @property
    def cpu(self) -> float:
        return min(c for _, c, _ in self.runs)

    @property
    def rss(self) -> float:
        return max(r for _, _, r in self.runs)

    def row(self) -> str:
        if not self.runs:
            return f"{(self.failed or '-')[:44]:>44}"
        wall = statistics.median(w for w, _, _ in self.runs)
        cpu = statistics.median(c for _, c, _ in self.runs)
        return f"{self.best:6.2f} {wall:6.2f} {self.cpu:6.2f} {cpu:6.2f} {self.rss:6.0f}MB"


def _scale(factor: float) -> Scale:
    return Scale(f"{factor:g}x", int(5_000 * factor), int(50_000 * factor),
                 int(10_000 * factor))


def _tailnet(scale: Scale, seed: int, folder: Path) -> Path:
    policy, inventory = generate(scale, seed)
    (folder / "policies").mkdir(parents=True)
    (folder / "policies" / "policy.json").write_text(json.dumps(policy))
    (folder / "inventory.json").write_text(json.dumps(inventory))
    return folder


def _run(tree: Path, folder: Path, args: list[str], env_extra: dict[str, str], out: Path,
         timeout: float) -> tuple[float, float, float] | str:
    """One run in a fresh process; without `env_extra`, the default jobs."""
    env = {**os.environ, **env_extra}
    if not env_extra:
        env.pop(JOBS_ENV, None)
    return cli_figures(tree, folder, args, out=out, timeout=timeout, env=env)


def _measure(trees: dict[str, Path], folder: Path, command: str, runs: int,
             timeout: float, scratch: Path) -> dict[str, Side]:
    args, env = COMMANDS[command]
    sides = {name: Side() for name in trees}
    runner.alternate(trees, sides, runs, scratch,
                     lambda tree, out: _run(tree, folder, args, env, out, timeout))
    return sides


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.engine_bench")
    parser.add_argument("--compare", default="dc2476a", metavar="REV",
                        help="the old side: a commit, branch or tag (default dc2476a)")
    parser.add_argument("--scales", default="0.25,1,4",
                        help="sizes relative to `large`, comma-separated (default 0.25,1,4)")
    parser.add_argument("--runs", type=int, default=5, help="runs per side (default 5)")
    parser.add_argument("--big-runs", type=int, default=3,
                        help="runs per side at sizes above 1 (default 3)")
    parser.add_argument("--commands", default=",".join(COMMANDS),
                        help=f"comma-separated, of: {', '.join(COMMANDS)}")
    parser.add_argument("--huge", action=argparse.BooleanOptionalAction, default=True,
                        help="also `test` on the huge tailnet, once per side (peak RSS)")
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    factors = [float(x) for x in args.scales.split(",")]
    commands = [c.strip() for c in args.commands.split(",")]
    unknown = [c for c in commands if c not in COMMANDS]
    if unknown:
        parser.error(f"unknown command(s): {', '.join(unknown)}")

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    results: dict[tuple[str, str], dict[str, Side]] = {}
    with tempfile.TemporaryDirectory(prefix="reconciler-engine-bench-") as tmp:
        root = Path(tmp)
        with worktree(args.compare, root / "old") as old:
            trees = {"old": old, "new": HERE}
            print(f"old: {args.compare}; new: {HERE}; runs {args.runs} ({args.big_runs} "
                  f"above 1x), alternating; {os.cpu_count()} CPUs")
            head = (f"{'command':<15} {'size':>5} | {'old best':>6} {'med':>6} {'cpu':>6} "
                    f"{'cpu med':>6} {'rss':>8} | {'new best':>6} {'med':>6} {'cpu':>6} "
                    f"{'cpu med':>6} {'rss':>8} | wall/cpu x  output")
            print(head)
            print("-" * len(head))
            plan = [(_scale(f), args.runs if f <= 1 else args.big_runs, commands)
                    for f in factors]
            if args.huge and "test" in commands:
                plan.append((SCALES["huge"], 1, ["test"]))
            for scale, runs, names in plan:
                folder = _tailnet(scale, args.seed, root / f"tailnet-{scale.name}")
                for command in names:
                    sides = _measure(trees, folder, command, runs, args.timeout, root)
                    results[(command, scale.name)] = sides
                    _print_row(command, scale.name, sides)
    _growth(results, factors, commands)
    _verdicts(results, factors, commands)
    return 0


def _print_row(command: str, size: str, sides: dict[str, Side]) -> None:
    o, n = sides["old"], sides["new"]
    speedup = (f"{o.best / n.best:4.1f}x/{o.cpu / n.cpu:.1f}x" if o.runs and n.runs
               else f"{'-':>9}")
    same = ("-" if o.digest is None or n.digest is None
            else "same" if o.digest == n.digest else "DIFFERENT")
    print(f"{command:<15} {size:>5} | {o.row()} | {n.row()} | {speedup:>9}  {same}",
          flush=True)


def _k(results: dict[tuple[str, str], dict[str, Side]], command: str, side: str,
       a: float, b: float) -> tuple[float, float] | None:
    ta = results.get((command, f"{a:g}x"), {}).get(side)
    tb = results.get((command, f"{b:g}x"), {}).get(side)
    if not (ta and tb and ta.runs and tb.runs):
        return None
    return (math.log(tb.best / ta.best) / math.log(b / a),
            math.log(tb.cpu / ta.cpu) / math.log(b / a))


def _growth(results: dict[tuple[str, str], dict[str, Side]], factors: list[float],
            commands: list[str]) -> None:
    print("growth k (time ~ size^k; best wall, least CPU):")
    pairs = list(itertools.pairwise(factors))
    if len(factors) > 2:
        pairs.append((factors[0], factors[-1]))
    for command in commands:
        for side in ("old", "new"):
            ks = [f"{a:g}x->{b:g}x k={k[0]:.2f} (CPU {k[1]:.2f})" for a, b in pairs
                  if (k := _k(results, command, side, a, b)) is not None]
            if ks:
                print(f"  {command:<15} {side}: {'; '.join(ks)}")


def _verdicts(results: dict[tuple[str, str], dict[str, Side]], factors: list[float],
              commands: list[str]) -> None:
    for (command, size), (seconds, mb) in GOALS.items():
        side = results.get((command, size), {}).get("new")
        if side is None or not side.runs:
            continue
        ok = (seconds is None or side.best < seconds) and (mb is None or side.rss < mb)
        want = " and ".join(w for w in (f"< {seconds:g} s" if seconds else "",
                                        f"< {mb:.0f} MB" if mb else "") if w)
        print(f"goal: {command} at {size} {want}: {'met' if ok else 'MISSED'} (best wall "
              f"{side.best:.2f} s, least CPU {side.cpu:.2f} s, {side.rss:.0f} MB)")
    if len(factors) >= 2:
        a, b = factors[0], factors[-1]
        for command in commands:
            k = _k(results, command, "new", a, b)
            if k is not None:
                verdict = ("met" if max(k) <= MAX_K else "met on CPU only" if k[1] <= MAX_K
                           else "MISSED")
                print(f"goal: {command} growth k <= {MAX_K} from {a:g}x to {b:g}x: {verdict} "
                      f"(wall k {k[0]:.2f}, CPU k {k[1]:.2f})")


if __name__ == "__main__":
    sys.exit(main())

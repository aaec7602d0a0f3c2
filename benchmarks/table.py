"""`python -m benchmarks [table] [--compare REV] ...`: issue 18's table, old and new side by side.

Benchmark support (stdlib, `benchmarks.generate`, `benchmarks.access_bench` for the
10-rule change). Every row is a `reconciler` command run as a user runs it, in a fresh
process (`python -m reconciler -C DIR ...`, stdout to a file), on seeded generated
tailnets at sizes relative to `large` (1x: 5,000 rules, 10,000 devices, 50,000 test
assertions). With `--compare REV`, REV is checked out in a temporary `git worktree` and
its CLI runs on the same files, alternating with this tree's, `--runs` times each.

Per row and size, for each side: best and median wall seconds, the least CPU seconds of
a run and the highest peak RSS (both from `wait4`, which counts the process and every
child it waited for: the forked test runner included), then the speedup and whether the
outputs are byte-identical. Then the growth k (time ~ size^k, least squares over the
sizes, best wall) and each goal of issue 18 with its verdict. A run past `--timeout` is
killed (its whole process group) and shown as "timeout"; a side that timed out is not
run at larger sizes. Figures only: nothing here fails on a slow time.

Generated tailnets (policy, inventory, the 10-rule change and the plan repository with
its applied local store) are cached under ~/.cache/reconciler-bench (or
$RECONCILER_BENCH_CACHE), keyed by the generator's source, the size and the seed.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmarks import runner
from benchmarks.access_bench import ten_rule_change
from benchmarks.generate import SCALES, Scale, generate
from benchmarks.runner import HERE, timed_run, worktree

CACHE_ENV = "RECONCILER_BENCH_CACHE"
SETUP_VERSION = "2"  # bump when the prepared folders change shape
INV = "inventory.json"


@dataclass(frozen=True)
class Row:
    key: str
    folder: str  # which prepared folder it runs in: tailnet, plan, diff or seed
    args: tuple[str, ...]
    jobs1: bool = False  # RECONCILER_JOBS=1: one CPU, no forked children
    ok_codes: tuple[int, ...] = (0,)
    growth: bool = True  # a goal of k <= 1.1
    # output as sources x destinations: not run past --max-access-scale
    quadratic: bool = False


ROWS: dict[str, Row] = {r.key: r for r in (
    Row("test", "tailnet", ("test", "--inventory", INV)),
    Row("test-1cpu", "tailnet", ("test", "--inventory", INV), jobs1=True),
    Row("plan", "plan", ("plan",)),
    Row("plan-1cpu", "plan", ("plan",), jobs1=True),
    Row("lint", "tailnet", ("lint", "--inventory", INV), ok_codes=(0, 1)),
    Row("explain", "tailnet", ("explain", "group:g0", "tag:t1:22", "--inventory", INV),
        ok_codes=(0, 1)),
    Row("access-from", "tailnet", ("access", "--from", "group:g0", "--inventory", INV)),
    Row("access", "tailnet", ("access", "--inventory", INV), quadratic=True),
    # The grid and the report: a cell per (row, column), however merged; a fixed --now,
    # as the report says when it was generated.
    Row("access-matrix", "tailnet", ("access", "--format", "matrix", "--inventory", INV),
        growth=False, quadratic=True),
    Row("report", "tailnet", ("--now", "2026-01-01T00:00:00Z", "report", "--inventory", INV),
        growth=False, quadratic=True),
    Row("access-diff", "diff", ("diff", "HEAD~1", "HEAD")),
    Row("seed", "seed", ("local", "history"), growth=False),
)}


@dataclass(frozen=True)
class Goal:
    text: str
    row: str
    scale: str  # a size label: "1x", "4x" or "huge"
    seconds: float | None = None
    rss_mb: float | None = None


GOALS = [
    Goal("test large on 1 CPU < 1.0 s", "test-1cpu", "1x", seconds=1.0),
    Goal("plan large on 1 CPU < 2 s", "plan-1cpu", "1x", seconds=2.0),
    Goal("explain large < 0.5 s", "explain", "1x", seconds=0.5),
    Goal("access large < 3 s and < 500 MB", "access", "1x", seconds=3.0, rss_mb=500.0),
    Goal("access --from large < 1 s", "access-from", "1x", seconds=1.0),
    Goal("access --format matrix large < 3 s and < 500 MB", "access-matrix", "1x",
         seconds=3.0, rss_mb=500.0),
    Goal("report large < 500 MB", "report", "1x", rss_mb=500.0),
    Goal("access diff (10 rules) large < 1 s", "access-diff", "1x", seconds=1.0),
    Goal("test huge peak RSS < 400 MB", "test", "huge", rss_mb=400.0),
    Goal("lint 4x peak RSS < 400 MB", "lint", "4x", rss_mb=400.0),
    Goal("store seeding 10k devices < 1 s (whole `local history`)", "seed", "1x",
         seconds=1.0),
]
MAX_K = 1.1


@dataclass(frozen=True)
class Size:
    label: str  # "0.25x", "1x", "huge"
    scale: Scale
    factor: float | None  # relative to large, for the growth fit (None: not fitted)


def size(text: str) -> Size:
    if text in SCALES:
        return Size(text, SCALES[text], None)
    factor = float(text)
    return Size(f"{factor:g}x", Scale(f"{factor:g}x", int(5_000 * factor),
                                      int(50_000 * factor), int(10_000 * factor)), factor)


# --- the prepared folders --------------------------------------------------------------


def cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "reconciler-bench")


def _key(sz: Size, seed: int) -> str:
    h = hashlib.sha256(SETUP_VERSION.encode())
    for name in ("generate.py", "access_bench.py"):
        h.update((Path(__file__).parent / name).read_bytes())
    n = sz.scale
    return f"{n.rules}r-{n.devices}d-{n.assertions}a-s{seed}-{h.hexdigest()[:12]}"


def _git(folder: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com"}
    subprocess.run(["git", "-C", str(folder), *args], check=True, capture_output=True,
                   env=env)


def _cli(folder: Path, *args: str) -> None:
    """This tree's CLI, for setting a folder up (not timed)."""
    proc = subprocess.run([sys.executable, "-m", "reconciler", "-C", str(folder), *args],
                          capture_output=True, text=True, cwd=HERE,
                          env={**os.environ, "PYTHONPATH": str(HERE)})
    if proc.returncode != 0:
        raise SystemExit(f"setup failed: reconciler {' '.join(args)} in {folder}: "
                         f"exit {proc.returncode}\n{proc.stdout[-1000:]}{proc.stderr[-1000:]}")


def prepare(sz: Size, seed: int, kinds: set[str], log: Callable[[str], None]) -> Path:
    """The cached folders of `kinds` (tailnet, diff, plan, seed) for one size."""
    root = cache_root() / _key(sz, seed)
    missing = [k for k in ("tailnet", "diff", "plan", "seed")
               if k in kinds and not (root / f"{k}.done").exists()]
    if not missing:
        return root
    log(f"preparing {sz.label} ({sz.scale.rules} rules, {sz.scale.devices} devices): "
        f"{', '.join(missing)} in {root} ...")
    root.mkdir(parents=True, exist_ok=True)
    policy, inventory = generate(sz.scale, seed)
    inv_text = json.dumps(inventory)
    for kind in missing:
        shutil.rmtree(root / kind, ignore_errors=True)
        (root / kind).mkdir()
        _PREPARE[kind](root / kind, json.loads(json.dumps(policy)), inv_text, seed)
        (root / f"{kind}.done").write_text("")
    return root


def _tailnet(folder: Path, policy: dict, inv_text: str, seed: int) -> None:
    (folder / "policies").mkdir()
    (folder / "policies" / "policy.json").write_text(json.dumps(policy, indent=1))
    (folder / INV).write_text(inv_text)


def _diff(folder: Path, policy: dict, inv_text: str, seed: int) -> None:
    """The policy, then the same with 10 rules changed, as two commits."""
    (folder / "policies").mkdir()
    _git(folder, "init", "-q")
    (folder / "policies" / "policy.json").write_text(json.dumps(policy, indent=1))
    _git(folder, "add", "-A")
    _git(folder, "commit", "-qm", "before")
    after = ten_rule_change(policy, seed)
    (folder / "policies" / "policy.json").write_text(json.dumps(after, indent=1))
    _git(folder, "commit", "-qam", "10 rules changed")


def _plan(folder: Path, policy: dict, inv_text: str, seed: int) -> None:
    """The local target seeded with the inventory and the policy stored, then an
    out-of-band edit (one tag owner more) and one group member added in git: the
    everyday plan, which loads the base from git (as benchmarks.plan_bench)."""
    (folder / "policies").mkdir()
    _git(folder, "init", "-q")
    (folder / ".gitignore").write_text(".reconciler/\n")
    (folder / "reconciler.yaml").write_text(
        f"targets:\n  local: {{backend: local, path: .reconciler/local.db, seed: {INV}}}\n")
    (folder / INV).write_text(inv_text)
    (folder / "policies" / "policy.json").write_text(json.dumps(policy, indent=1))
    _git(folder, "add", "-A")
    _git(folder, "commit", "-qm", "applied")
    # As applied (the managed header names the commit), without `apply`: its access
    # diff from the default policy is the whole matrix, far slower than the plan itself.
    _cli(folder, "compile", "-o", str(folder / ".reconciler-applied.hujson"))
    _cli(folder, "local", "edit", "--file", str(folder / ".reconciler-applied.hujson"),
         "--no-validate")
    (folder / ".reconciler-applied.hujson").unlink()
    tag = sorted(policy["tagOwners"])[0]
    owners = {**policy["tagOwners"], tag: [*policy["tagOwners"][tag],
                                           "console-admin@example.com"]}
    _cli(folder, "local", "edit", "--set", "tagOwners", json.dumps(owners), "--no-validate")
    group = sorted(policy["groups"])[0]
    policy["groups"][group] = [*policy["groups"][group], "newcomer@example.com"]
    (folder / "policies" / "policy.json").write_text(json.dumps(policy, indent=1))
    _git(folder, "commit", "-qam", "add a member")


def _seed(folder: Path, policy: dict, inv_text: str, seed: int) -> None:
    """A local target whose store does not exist yet (each run removes it)."""
    (folder / "reconciler.yaml").write_text(
        f"targets:\n  local: {{backend: local, path: .reconciler/local.db, seed: {INV}}}\n")
    (folder / INV).write_text(inv_text)


_PREPARE: dict[str, Callable[[Path, dict, str, int], None]] = {
    "tailnet": _tailnet, "diff": _diff, "plan": _plan, "seed": _seed}


# --- measuring ---------------------------------------------------------------------------


class Side(runner.Side):
    @property
    def best(self) -> float | None:
        return min(w for w, _, _ in self.runs) if self.runs else None

    @property
    def median(self) -> float | None:
        return statistics.median(w for w, _, _ in self.runs) if self.runs else None

    @property
    def cpu(self) -> float | None:
        """The least CPU of a run: steadier than wall time on a busy machine."""
        return min(c for _, c, _ in self.runs) if self.runs else None

    @property
    def rss(self) -> float | None:
        return max(r for _, _, r in self.runs) if self.runs else None

    def cells(self) -> str:
        if not self.runs:
            return f"{(self.failed or '-')[:33]:>33}"
        return f"{self.best:7.2f} {self.median:7.2f} {self.cpu:7.2f} {self.rss:7.0f}MB"


def run_once(tree: Path, folder: Path, row: Row, out: Path, timeout: float
             ) -> tuple[float, float, float] | str:
    """One run in a fresh process: (wall s, CPU s, peak RSS MB), or why not."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    env.pop("RECONCILER_JOBS", None)
    if row.jobs1:
        env["RECONCILER_JOBS"] = "1"
    if row.folder == "seed":  # a store that does not exist yet, every run
        shutil.rmtree(folder / ".reconciler", ignore_errors=True)
    cmd = [sys.executable, "-m", "reconciler", "-C", str(folder), *row.args]
    run = timed_run(cmd, env=env, cwd=tree, out=out, timeout=timeout)
    if run.timed_out:
        return "timeout"
    if run.code not in row.ok_codes:
        tail = run.stderr[-300:].decode(errors="replace").strip().splitlines()
        return f"exit {run.code}: {tail[-1] if tail else ''}"
    return run.figures


def measure(trees: dict[str, Path], folder: Path, row: Row, runs: int,
            timeout: float, scratch: Path, skip: dict[str, str]) -> dict[str, Side]:
    sides = {name: Side(failed=skip.get(name)) for name in trees}
    runner.alternate(trees, sides, runs, scratch,
                     lambda tree, out: run_once(tree, folder, row, out, timeout),
                     digests=row.folder != "seed")  # history has timestamps
    return sides


def growth(points: list[tuple[float, float]]) -> float | None:
    """Least-squares k in time ~ size^k over (size, seconds) points."""
    if len(points) < 2:
        return None
    xs = [math.log(s) for s, _ in points]
    ys = [math.log(t) for _, t in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else None


# --- the command -------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks table",
        description="Every row of issue 18's table at each size, this tree's CLI and "
                    "(with --compare) REV's side by side, the growth k and each goal's "
                    "verdict.")
    parser.add_argument("--compare", metavar="REV",
                        help="the old side: a commit, branch or tag of this repository")
    parser.add_argument("--scales", default="0.25,1,4",
                        help="sizes relative to large, comma-separated (default 0.25,1,4)")
    parser.add_argument("--huge", action=argparse.BooleanOptionalAction, default=True,
                        help="also run `test` at the huge scale, for its RSS goal "
                             "(default on)")
    parser.add_argument("--runs", type=int, default=3, help="runs per side (default 3)")
    parser.add_argument("--only", default=",".join(ROWS),
                        help=f"comma-separated rows, of: {', '.join(ROWS)}")
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="seconds before a run is killed (default 120)")
    parser.add_argument("--max-access-scale", type=float, default=1.0,
                        help="largest size for the unfiltered matrix, the grid and the "
                             "report, whose output grows as sources x destinations "
                             "(default 1)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    only = [r.strip() for r in args.only.split(",") if r.strip()]
    unknown = [r for r in only if r not in ROWS]
    if unknown:
        parser.error(f"unknown row(s): {', '.join(unknown)}; rows: {', '.join(ROWS)}")
    sizes = [size(s.strip()) for s in args.scales.split(",") if s.strip()]
    if args.huge and "test" in only and all(s.label != "huge" for s in sizes):
        sizes.append(size("huge"))

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    results: dict[tuple[str, str], dict[str, Side]] = {}
    with tempfile.TemporaryDirectory(prefix="reconciler-table-") as tmp:
        work = Path(tmp)
        trees = {"new": HERE}
        checkouts = contextlib.ExitStack()
        if args.compare:
            trees = {"old": checkouts.enter_context(worktree(args.compare, work / "old-tree")),
                     "new": HERE}
        with checkouts:
            # Bytecode for both trees before any run: a tree without it (a new worktree,
            # PYTHONDONTWRITEBYTECODE) would pay compiling on every run.
            for tree in trees.values():
                subprocess.run([sys.executable, "-m", "compileall", "-q",
                                str(tree / "reconciler")], check=False, capture_output=True)
            where = f" (worktree {trees['old']})" if args.compare else ""
            print(f"old: {args.compare or '-'}{where}; new: {HERE}; runs {args.runs} per side"
                  f"{', alternating' if args.compare else ''}; timeout {args.timeout:g} s; "
                  f"seed {args.seed}; wall best/median, least CPU, highest peak RSS "
                  "(process and children)")
            header = (f"{'row':<12} {'size':>6} | {'old best':>8} {'median':>7} {'cpu':>7} "
                      f"{'rss':>9} | {'new best':>8} {'median':>7} {'cpu':>7} {'rss':>9} | "
                      "wall/cpu x output")
            print(header)
            print("-" * len(header), flush=True)
            timed_out: dict[tuple[str, str], str] = {}
            for sz in sizes:
                rows = [r for r in only if sz.factor is not None or r == "test"]
                if not rows:
                    continue
                # One folder for both sides, run one after the other: outputs that name
                # a path (the plan's store) stay comparable byte for byte.
                base = prepare(sz, args.seed, {ROWS[r].folder for r in rows}, log)
                for key in rows:
                    row = ROWS[key]
                    if row.quadratic and (sz.factor or 0) > args.max_access_scale:
                        skip = {n: f"skipped (> {args.max_access_scale:g}x)" for n in trees}
                    else:
                        skip = {n: timed_out[(key, n)] for n in trees if (key, n) in timed_out}
                    sides = measure(trees, base / row.folder, row, args.runs, args.timeout,
                                    work, skip)
                    for n, s in sides.items():
                        if s.failed == "timeout":
                            timed_out[(key, n)] = f"skipped (timeout at {sz.label})"
                    results[(key, sz.label)] = sides
                    print(_line(key, sz.label, sides), flush=True)
    _print_growth(results, only, sizes, list(trees))
    _print_goals(results, list(trees))
    return 0


def _line(key: str, label: str, sides: dict[str, Side]) -> str:
    new = sides["new"]
    old = sides.get("old") or Side(failed="-")
    if old.best and new.best and old.cpu and new.cpu:
        speed = f"{old.best / new.best:5.1f}x/{old.cpu / new.cpu:.1f}x"
    else:
        speed = f"{'-':>11}"
    if old.digest is None or new.digest is None:
        same = "-"
    else:
        same = "same" if old.digest == new.digest else "DIFFERENT"
    return f"{key:<12} {label:>6} | {old.cells()} | {new.cells()} | {speed} {same}"


def _print_growth(results: dict[tuple[str, str], dict[str, Side]], only: list[str],
                  sizes: list[Size], sides: list[str]) -> None:
    fitted = [s for s in sizes if s.factor is not None]
    if len(fitted) < 2:
        return
    span = f"{fitted[0].label}..{fitted[-1].label}"
    print(f"\ngrowth k (time ~ size^k, least squares over {span}, of the best wall and, "
          f"steadier on a busy machine, of the least CPU, and of the output's bytes; "
          f"goal k <= {MAX_K}, on wall):")
    for key in only:
        parts = []
        for name in sides:
            runs = [(s.factor, results[(key, s.label)][name]) for s in fitted
                    if (key, s.label) in results and results[(key, s.label)][name].runs]
            k = growth([(f, side.best) for f, side in runs if f and side.best])
            k_cpu = growth([(f, side.cpu) for f, side in runs if f and side.cpu])
            if k is None or k_cpu is None:
                parts.append(f"{name} -")
                continue
            # How the output grows, beside: a command that prints sources x destinations
            # cannot take time linear in the tailnet's size.
            k_out = growth([(f, side.size) for f, side in runs if f and side.size])
            out = f"; output {k_out:.2f}" if k_out is not None else ""
            cell = f"{name} {k:.2f} (CPU {k_cpu:.2f}{out}; {len(runs)} sizes)"
            if name == "new" and ROWS[key].growth:
                cell += "  met" if k <= MAX_K else "  MISSED"
            parts.append(cell)
        print(f"  {key:<12} " + "; ".join(parts))


def _print_goals(results: dict[tuple[str, str], dict[str, Side]], sides: list[str]) -> None:
    print("\ngoals (verdict on the new side's best wall and highest RSS; least CPU shown):")
    for goal in GOALS:
        got = results.get((goal.row, goal.scale))
        if got is None:
            print(f"  {goal.text}: not measured")
            continue
        figures = []
        verdict = "not measured"
        for name in sides:
            side = got[name]
            if not side.runs:
                figures.append(f"{name} {side.failed or '-'}")
                if name == "new":
                    verdict = "MISSED" if side.failed == "timeout" else "not measured"
                continue
            figures.append(f"{name} {side.best:.2f} s wall, {side.cpu:.2f} s CPU, "
                           f"{side.rss:.0f} MB")
            if name == "new":
                ok = (goal.seconds is None or (side.best or 0) < goal.seconds) and \
                    (goal.rss_mb is None or (side.rss or 0) < goal.rss_mb)
                verdict = "met" if ok else "MISSED"
        print(f"  {goal.text}: {verdict} ({'; '.join(figures)})")


if __name__ == "__main__":
    sys.exit(main())

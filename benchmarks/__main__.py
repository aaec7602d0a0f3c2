"""`python -m benchmarks [table ...] | [small|large|huge ...] | [--compare REV ...]`.

`python -m benchmarks` alone, or `python -m benchmarks table [--compare REV] ...`: issue
18's whole table (every command at 0.25x, 1x and 4x, old and new side by side, growth
and goals): see `benchmarks.table`. `python -m benchmarks --compare REV ...` compares
only `access` and `explain` with an older commit: see `benchmarks.compare`.

`python -m benchmarks small|large|huge [--seed N] [--reference-budget S]`, described here:

Generates a seeded synthetic tailnet (not timed), writes it as files, then in fresh
processes: runs its tests with the engine end to end in one process (loading included) and measures
wall time, assertions/second and peak RSS; runs the plain reference evaluator on as many
test entries as fit in the budget, on the same input, and prints the engine's speedup
per assertion (engine end to end, loading and indexing included, against the
reference's evaluation time alone). Exits 1 if a check fails (a test that should hold
does not, or the engine and the reference disagree).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.generate import SCALES
from reconciler.core.forked import JOBS_ENV

TARGETS = {"large": {"seconds": 2.0, "speedup": 20.0}, "huge": {"rss_mb": 500.0}}


def _child(*args: str) -> dict:
    # One process: the engine's own speed and memory, comparable with the reference's
    # (run_tests would otherwise split a long test list with a forked child, whose CPU
    # and RSS these figures would not see). The CLI figure is with the fork.
    env = {**os.environ, JOBS_ENV: "1"}
    out = subprocess.run([sys.executable, "-m", "benchmarks.child", *args], check=True,
                         capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _cli_test(folder: Path, runs: int) -> dict:
    """The whole command as a user runs it: `reconciler test` on a desired-state repo
    holding the generated policy as its one fragment. Best and median wall time of
    `runs` runs, and the CPU seconds of the best one (its own and its forked child's:
    the validation runs beside the tests, see reconciler/core/forked.py)."""
    (folder / "policies").mkdir(exist_ok=True)
    shutil.copy(folder / "policy.json", folder / "policies" / "policy.json")
    times: list[tuple[float, float]] = []
    proc = None
    for _ in range(runs):
        cpu = _children_cpu()
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "reconciler", "-C", str(folder), "test",
                               "--inventory", str(folder / "inventory.json"), "--format",
                               "json"], capture_output=True, text=True, check=False)
        times.append((time.perf_counter() - start, _children_cpu() - cpu))
    assert proc is not None
    walls = sorted(t for t, _ in times)
    return {"seconds": walls[0], "median_seconds": statistics.median(walls),
            "cpu_seconds": min(times)[1], "runs": runs, "exit_code": proc.returncode,
            "stderr": proc.stderr[-500:]}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--compare"]:  # its own options: see benchmarks/compare.py
        from benchmarks import compare

        return compare.main(argv[1:])
    if not argv or argv[0] == "table":  # its own options: see benchmarks/table.py
        from benchmarks import table

        return table.main(argv[1:])
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        epilog="python -m benchmarks [table [--compare REV] [--scales 0.25,1,4] ...]: "
               "every command of issue 18 from this tree (and REV), side by side, with "
               "growth and goals (python -m benchmarks table --help). "
               "python -m benchmarks --compare REV [--scales 0.25,1,4] [--runs N] ...: "
               "access and explain from REV and from this tree, side by side "
               "(python -m benchmarks --compare --help).")
    parser.add_argument("scale", choices=sorted(SCALES))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--reference-budget", type=float, default=10.0,
                        help="seconds of reference evaluation to sample (default 10)")
    parser.add_argument("--runs", type=int, default=3,
                        help="runs of `reconciler test` (best and median shown; default 3)")
    args = parser.parse_args(argv)
    scale = SCALES[args.scale]

    with tempfile.TemporaryDirectory(prefix="reconciler-bench-") as tmp:
        gen = _child("generate", scale.name, str(args.seed), tmp)
        eng = _child("engine", tmp)
        ref = _child("reference", tmp, str(args.reference_budget))
        cli = _cli_test(Path(tmp), max(1, args.runs))

    rate = eng["assertions"] / eng["seconds"]
    ref_rate = ref["assertions"] / ref["seconds"] if ref["seconds"] else float("inf")
    speedup = rate / ref_rate
    print(f"scale {scale.name}: {gen['rules']} rules, {gen['devices']} devices, "
          f"{gen['users']} users, {gen['tests']} tests "
          f"(generated in {gen['seconds']:.1f}s, seed {args.seed})")
    print(f"engine:    {eng['seconds']:.2f}s end to end (CPU {eng['cpu_seconds']:.2f}s; loading "
          f"{eng['load_seconds']:.2f}s) for {eng['assertions']} assertions "
          f"({rate:,.0f} assertions/s); peak RSS {eng['peak_rss_mb']:.0f} MB "
          f"(interpreter baseline {eng['baseline_rss_mb']:.0f} MB); "
          f"tests passed {eng['passed']}, failed {eng['failed']}, invalid {eng['invalid']}")
    print(f"reference: {ref['assertions']} assertions in {ref['seconds']:.2f}s "
          f"({ref_rate:,.1f} assertions/s); agrees with engine: {ref['agrees_with_engine']}")
    print(f"speedup:   {speedup:,.0f}x per assertion")
    print(f"cli:       `reconciler test` {cli['seconds']:.2f}s end to end, best of "
          f"{cli['runs']} (median {cli['median_seconds']:.2f}s; CPU {cli['cpu_seconds']:.2f}s "
          f"over both processes): process start, loading and validating policies/, "
          f"inventory file, all tests, JSON report; exit {cli['exit_code']}")

    ok = eng["failed"] == 0 and eng["invalid"] == 0 and ref["all_hold"] \
        and ref["agrees_with_engine"] and cli["exit_code"] == 0
    target = TARGETS.get(scale.name, {})
    misses = []
    if "seconds" in target and eng["seconds"] > target["seconds"]:
        misses.append(f"engine end to end {eng['seconds']:.2f}s > {target['seconds']}s")
    if "seconds" in target and cli["seconds"] > target["seconds"]:
        misses.append(f"reconciler test {cli['seconds']:.2f}s > {target['seconds']}s")
    if "speedup" in target and speedup < target["speedup"]:
        misses.append(f"speedup {speedup:.0f}x < {target['speedup']:.0f}x")
    if "rss_mb" in target and eng["peak_rss_mb"] > target["rss_mb"]:
        misses.append(f"peak RSS {eng['peak_rss_mb']:.0f} MB > {target['rss_mb']:.0f} MB")
    if target:
        print("targets:   " + ("met" if not misses else "MISSED: " + "; ".join(misses)))
    if not ok:
        print("CHECK FAILED: generated tests should all hold and the evaluators agree")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

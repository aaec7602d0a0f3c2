"""`python -m benchmarks.access_bench [small|large] [--seed N]`: access diff and lint timings.

Uses the engine benchmark's seeded generator (`benchmarks.generate`). The access diff
compares the generated policy with a copy that differs in 10 rules (4 grants with other
ports, 3 ACLs removed, 3 grants added for other groups), over the generated inventory.
Lint runs every check, test coverage included, over the same inventory. Generation is
not timed. Targets (large): access diff < 2 s, lint < 2 s.
"""

from __future__ import annotations

import argparse
import copy
import random
import time
from typing import Any

from benchmarks.generate import SCALES, generate
from reconciler.core.source import SourceMap
from reconciler.diff.access import access_diff
from reconciler.engine import inventory_from_data
from reconciler.lint import lint_desired
from reconciler.load.desired import Desired

TARGET_SECONDS = 2.0


def ten_rule_change(policy: dict[str, Any], seed: int) -> dict[str, Any]:
    after = copy.deepcopy(policy)
    rnd = random.Random(seed)
    for _ in range(4):
        grant = after["grants"][rnd.randrange(len(after["grants"]))]
        grant["ip"] = ["tcp:8443"] if grant["ip"] != ["tcp:8443"] else ["tcp:22"]
    for _ in range(3):
        del after["acls"][rnd.randrange(len(after["acls"]))]
    for _ in range(3):
        grant = copy.deepcopy(after["grants"][rnd.randrange(len(after["grants"]))])
        grant["src"] = [rnd.choice(sorted(policy["groups"]))]
        after["grants"].append(grant)
    return after


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.access_bench")
    parser.add_argument("scale", nargs="?", default="large", choices=["small", "large"])
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    policy, inventory_data = generate(SCALES[args.scale], args.seed)
    inventory = inventory_from_data(inventory_data)
    after = ten_rule_change(policy, args.seed)

    start = time.perf_counter()
    diff = access_diff(policy, after, inventory)
    diff_seconds = time.perf_counter() - start

    start = time.perf_counter()
    report = lint_desired(Desired(policy=policy, sources=SourceMap()), inventory=inventory)
    lint_seconds = time.perf_counter() - start

    n_rules = len(policy["acls"]) + len(policy["grants"])
    print(f"scale {args.scale}: {n_rules} rules, {len(inventory.devices)} devices, "
          f"{len(inventory.users)} users (seed {args.seed})")
    print(f"access diff: {diff_seconds:.2f}s for a 10-rule change: "
          f"{len(diff.gained)} gained, {len(diff.lost)} lost statements")
    cov = report.coverage
    print(f"lint:        {lint_seconds:.2f}s: {len(report.findings)} findings "
          f"({report.count('error')} errors, {report.count('warning')} warnings); "
          + (f"coverage {cov.percent:.1f}%" if cov is not None else "rules did not compile"))
    misses = [f"{what} {secs:.2f}s > {TARGET_SECONDS}s"
              for what, secs in (("access diff", diff_seconds), ("lint", lint_seconds))
              if args.scale == "large" and secs > TARGET_SECONDS]
    if args.scale == "large":
        print("targets:     " + ("met" if not misses else "MISSED: " + "; ".join(misses)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""One measurement in a fresh process; prints a JSON line. Run by `benchmarks.__main__`.

`python -m benchmarks.child generate SCALE SEED DIR`: write DIR/policy.json and
DIR/inventory.json (in its own process, so the measuring processes never inherit its
memory: Linux keeps ru_maxrss across fork and exec).
`python -m benchmarks.child engine DIR`: load DIR/policy.json and DIR/inventory.json and
run every test with the engine, end to end (timed: loading included).
`python -m benchmarks.child reference DIR BUDGET`: compile once, then evaluate test entries
in a seeded random order with the reference evaluator until BUDGET seconds pass (timed:
the evaluation only), and
the engine's verdicts on the same entries for a cross-check.
"""

from __future__ import annotations

import json
import random
import resource
import sys
import time
from pathlib import Path

from benchmarks.generate import SCALES, generate
from benchmarks.reference import engine_verdicts, reference_verdicts
from reconciler.core.forked import command_gc
from reconciler.engine import compile_policy, load_inventory, run_tests
from reconciler.engine.tests_runner import Runner


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def engine(folder: Path) -> dict:
    baseline = _rss_mb()
    start = time.perf_counter()
    cpu = time.process_time()
    policy = json.loads((folder / "policy.json").read_text())
    inventory = load_inventory(folder / "inventory.json")
    loaded = time.perf_counter()
    report = run_tests(policy, inventory)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "cpu_seconds": time.process_time() - cpu,
            "load_seconds": loaded - start, "assertions": report.assertions,
            "passed": len(report.passed), "failed": len(report.failed),
            "invalid": len(report.invalid), "peak_rss_mb": _rss_mb(),
            "baseline_rss_mb": baseline}


def reference(folder: Path, budget: float) -> dict:
    policy = json.loads((folder / "policy.json").read_text())
    inventory = load_inventory(folder / "inventory.json")
    runner = Runner(compile_policy(policy, inventory))
    for rule in runner.compiled.rules:  # address sets are computed on first use: not timed
        _ = rule.src, rule.dst
    tests = list(policy["tests"])
    random.Random(0).shuffle(tests)  # a sample from the whole run, not just its start
    done: list[dict] = []
    verdicts: list[bool] = []
    start = time.perf_counter()
    for entry in tests:
        verdicts.extend(reference_verdicts(runner, [entry]))
        done.append(entry)
        if time.perf_counter() - start > budget:
            break
    seconds = time.perf_counter() - start
    engine_side = engine_verdicts(Runner(compile_policy(policy, inventory)), done)
    return {"seconds": seconds, "assertions": len(verdicts), "all_hold": all(verdicts),
            "agrees_with_engine": verdicts == engine_side}


def generate_files(scale: str, seed: int, folder: Path) -> dict:
    start = time.perf_counter()
    policy, inventory = generate(SCALES[scale], seed)
    seconds = time.perf_counter() - start
    (folder / "policy.json").write_text(json.dumps(policy))
    (folder / "inventory.json").write_text(json.dumps(inventory))
    return {"seconds": seconds, "rules": len(policy["acls"]) + len(policy["grants"]),
            "devices": len(inventory["devices"]), "users": len(inventory["users"]),
            "tests": len(policy["tests"])}


if __name__ == "__main__":
    kind = sys.argv[1]
    if kind == "generate":
        print(json.dumps(generate_files(sys.argv[2], int(sys.argv[3]), Path(sys.argv[4]))))
    elif kind == "engine":
        with command_gc():  # as every command runs (see reconciler.core.forked)
            result = engine(Path(sys.argv[2]))
        print(json.dumps(result))
    else:
        print(json.dumps(reference(Path(sys.argv[2]), float(sys.argv[3]))))

"""`python -m benchmarks.plan_bench [small|large|huge] [--seed N]`: `reconciler plan` end to end.

Generates the engine's seeded synthetic tailnet (not timed), commits it as the desired
state of a fresh git repository whose target is the local backend, writes the live
policy as if applied from the previous commit (so the plan is the everyday one: a
one-member change in git plus an out-of-band edit, which makes the planner load the
base from git), then times `reconciler plan` in a fresh process: loading, local tests
(on the local store's inventory, seeded with the generated users and devices), fetching,
the base, the three-way diff, the control plane's validate and rendering (best and
median of --runs, and CPU seconds over the plan's processes). Also times the no-change
plan. Target: large < 3 s. `--phases` adds an in-process breakdown;
`--phases-only` skips the end-to-end runs.
Prints one JSON line; exits 1 if the plan is not what it should be or misses the target.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.generate import SCALES, generate
from benchmarks.runner import add_member, desired_repo

TARGET_SECONDS = {"large": 3.0}


def _plan(root: Path, runs: int, *extra: str
          ) -> tuple[dict[str, float], subprocess.CompletedProcess[str]]:
    """Best and median wall seconds of `runs` plans, and the CPU seconds of the best
    (the plan's own and its forked children's: validation and tests run beside it)."""
    times: list[tuple[float, float]] = []
    proc = None
    for _ in range(runs):
        cpu = _children_cpu()
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "reconciler", "-C", str(root), "plan", *extra],
            capture_output=True, text=True, check=False)
        times.append((time.perf_counter() - start, _children_cpu() - cpu))
    assert proc is not None
    best = min(times)
    return {"seconds": best[0], "median": statistics.median(t for t, _ in times),
            "cpu": best[1]}, proc


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _seed(inventory: dict[str, Any]) -> Any:
    """The generated tailnet's users and devices as the new local store's seed (one
    transaction), so the control plane's validate checks the tests against the same
    tailnet."""
    from reconciler.backends.local.seed import seed_from_inventory
    from reconciler.engine import inventory_from_data

    return seed_from_inventory(inventory_from_data(inventory), "generated")


def _phases(root: Path, policy: dict, inventory: dict) -> dict[str, float]:
    """Per-phase seconds of one plan, in-process (see --phases)."""
    from reconciler.commands.plan import make_plan
    from reconciler.commands.session import Session
    from reconciler.core.source import SourceMap
    from reconciler.load.desired import Desired
    from reconciler.load.document import to_hujson
    from reconciler.load.gitsource import working_revision

    session = Session.open(root)
    revision = working_revision(root)
    desired = Desired(policy=policy, sources=SourceMap(), commit=revision.commit,
                      dirty=revision.dirty, root=root)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    make_plan(session, desired=desired, timings=timings, with_document=False)
    timings["total_without_load"] = time.perf_counter() - start
    start = time.perf_counter()
    to_hujson(policy, commit=revision.commit)
    timings["of_which_document_to_hujson"] = time.perf_counter() - start
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.plan_bench")
    parser.add_argument("scale", nargs="?", default="large", choices=sorted(SCALES))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3,
                        help="runs of each plan (best and median shown; default 3)")
    parser.add_argument("--phases", action="store_true",
                        help="also time each phase in-process, the desired state built "
                             "from the generated dict (the loader bypassed)")
    parser.add_argument("--phases-only", action="store_true",
                        help="only the in-process breakdown (no end-to-end process runs)")
    args = parser.parse_args(argv)
    scale = SCALES[args.scale]
    policy, inventory = generate(scale, args.seed)

    from reconciler.backends.local.store import LocalStore
    from reconciler.load.document import to_hujson

    with tempfile.TemporaryDirectory(prefix="plan-bench-") as tmp:
        root = Path(tmp)
        repo, applied = desired_repo(root, policy, inventory)
        # Live: the applied commit, then edited out of band (one tag owner added).
        text = to_hujson(policy, commit=applied)
        store = LocalStore(root / ".reconciler" / "local.db",
                           seed_with=lambda: _seed(inventory))
        tag = sorted(policy["tagOwners"])[0]
        edited = json.loads(json.dumps(policy))
        edited["tagOwners"][tag] = [*edited["tagOwners"][tag], "console-admin@example.com"]
        header = text.split("{", 1)[0]
        group = add_member(repo, root, policy)

        phases: dict[str, float] = {}
        if args.phases or args.phases_only:
            # Live exactly as applied: the base needs no loading (drift would load it
            # from git with the same loader as the desired state).
            store.write_policy(text, if_match=None)
            phases = _phases(root, policy, inventory)
        store.write_policy(header + json.dumps(edited, indent="\t"), if_match=None)
        if args.phases_only:
            print(json.dumps({"scale": scale.name, "phases": {
                k: round(v, 3) for k, v in phases.items()}}))
            repo.close()
            return 0
        timed, proc = _plan(root, args.runs, "--format", "json")
        seconds = timed["seconds"]
        ok = proc.returncode == 0
        if ok:
            plan = json.loads(proc.stdout)
            addresses = sorted(c["address"] for c in plan["resource_changes"])
            ok = addresses == sorted([f'groups["{group}"]', f'tagOwners["{tag}"]']) and \
                [c["address"] for c in plan["resource_drift"]] == [f'tagOwners["{tag}"]']
        store.write_policy(to_hujson(policy, commit=repo.head.commit.hexsha),
                           if_match=None)
        nochange, proc2 = _plan(root, args.runs, "--detailed-exitcode")
        ok = ok and proc2.returncode == 0
        result = {
            "scale": scale.name, "rules": len(policy.get("acls", [])) +
            len(policy.get("grants", [])), "devices": len(inventory["devices"]),
            "runs": args.runs, "plan_seconds": round(seconds, 3),
            "plan_median_seconds": round(timed["median"], 3),
            "plan_cpu_seconds": round(timed["cpu"], 3),
            "no_change_plan_seconds": round(nochange["seconds"], 3),
            "no_change_plan_median_seconds": round(nochange["median"], 3), "ok": ok,
        }
        if phases:
            result["phases"] = {k: round(v, 3) for k, v in phases.items()}
        target = TARGET_SECONDS.get(scale.name)
        if target is not None:
            result["target_seconds"] = target
            ok = ok and seconds < target
        print(json.dumps(result))
        if not ok:
            sys.stderr.write(proc.stdout[-2000:] + proc.stderr[-2000:] + proc2.stderr[-2000:])
        repo.close()
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

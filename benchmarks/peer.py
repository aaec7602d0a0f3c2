"""`python -m benchmarks.peer [--scale large] [--seed N]`: per-node filters, Headscale vs ours.

Benchmark support (stdlib, `benchmarks.generate`; our side imports `reconciler.engine`).
Builds benchmarks/headscale_peer (a small Go program against Headscale v0.29.2's own
`hscontrol/policy/v2`) with `go build` into ~/.cache/reconciler-bench (GOFLAGS=-mod=mod;
the module proxy must be reachable the first time), generates the seeded tailnet, and
in fresh processes, one after the other, compiles the packet filter of every node:

* Headscale: users and nodes as `types.Users` / `types.Nodes`, `NewPolicyManager`, then
  `FilterForNode` for each node;
* ours: `compile_policy`, then `filter_rules` (the filters the conformance tests check)
  for each device.

Both read the same files. The generated policy is adapted for Headscale only where it
refuses it (see `headscale_policy`), and ours is given the adapted one too. Prints both
figures (load and filter seconds, nodes whose filter is not empty) and the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.generate import SCALES, generate

HERE = Path(__file__).resolve().parent
BINARY = "headscale_peer"


def headscale_policy(policy: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The generated policy as Headscale v0.29.2 accepts it, and what was changed."""
    out = dict(policy)
    notes = []
    if "tests" in out:
        # Not a difference of dialect: NewPolicyManager runs the tests at boot, which
        # is not the job being timed (ours does not run them either).
        del out["tests"]
        notes.append("tests removed (NewPolicyManager would run them; ours does not)")
    owners = {o for os_ in out.get("tagOwners", {}).values() for o in os_}
    if "autogroup:admin" in owners:
        # Headscale's tag owners are users, groups or tags (parseOwner): an autogroup is
        # "invalid owner". Owners do not change any packet filter.
        first = sorted(out["groups"])[0]
        out["tagOwners"] = {t: [first if o == "autogroup:admin" else o for o in os_]
                            for t, os_ in out["tagOwners"].items()}
        notes.append(f"tagOwners autogroup:admin -> {first} (Headscale: invalid owner)")
    return out, notes


def build(cache: Path) -> Path:
    """`go build` of benchmarks/headscale_peer into `cache` (quick when up to date)."""
    cache.mkdir(parents=True, exist_ok=True)
    binary = cache / BINARY
    env = {**os.environ, "GOFLAGS": "-mod=mod"}
    proc = subprocess.run(["go", "build", "-o", str(binary), "."], cwd=HERE / "headscale_peer",
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"go build of benchmarks/headscale_peer failed (exit "
                         f"{proc.returncode}):\n{proc.stderr.strip()}")
    return binary


def ours(policy_path: Path, inventory_path: Path, sample_path: Path | None
         ) -> dict[str, Any]:
    """Our side, in this process (run as a fresh process by `main`)."""
    from reconciler.engine import compile_policy, filter_rules, load_inventory

    start = time.perf_counter()
    policy = json.loads(policy_path.read_text())
    inventory = load_inventory(inventory_path)
    compiled = compile_policy(policy, inventory)
    loaded = time.perf_counter()
    sample = set(json.loads(sample_path.read_text())) if sample_path else None
    devices = [d for d in inventory.devices if sample is None or d.name in sample]
    with_filter = entries = 0
    for device in devices:
        rules = filter_rules(compiled, device)
        with_filter += bool(rules)
        entries += sum(len(r["SrcIPs"]) * len(r["DstPorts"]) for r in rules)
    done = time.perf_counter()
    return {"load_seconds": loaded - start, "filter_seconds": done - loaded,
            "total_seconds": done - start, "nodes": len(devices),
            "nodes_with_filter": with_filter, "src_x_dst_entries": entries,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _child(cmd: list[str], env: dict[str, str] | None = None) -> tuple[dict[str, Any], float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:3])} ...: exit {proc.returncode}\n"
                         f"{proc.stderr.strip()[-2000:]}")
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return json.loads(proc.stdout.strip().splitlines()[-1]), cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.peer")
    parser.add_argument("--scale", default="large", choices=sorted(SCALES))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sample", type=int, default=0, metavar="N",
                        help="filters of N evenly spaced nodes only (both sides the same "
                             "nodes), the total extrapolated; default: every node")
    args = parser.parse_args(argv)
    cache = Path(os.environ.get("RECONCILER_BENCH_CACHE")
                 or Path.home() / ".cache" / "reconciler-bench")
    binary = build(cache)
    policy, inventory = generate(SCALES[args.scale], args.seed)
    adapted, notes = headscale_policy(policy)
    with tempfile.TemporaryDirectory(prefix="reconciler-peer-") as tmp:
        pol, inv = Path(tmp) / "policy.json", Path(tmp) / "inventory.json"
        pol.write_text(json.dumps(adapted))
        inv.write_text(json.dumps(inventory))
        names = [d["name"] for d in inventory["devices"]]
        extra = []
        if 0 < args.sample < len(names):
            step = len(names) / args.sample
            (Path(tmp) / "sample.json").write_text(json.dumps(
                [names[int(i * step)] for i in range(args.sample)]))
            extra = [str(Path(tmp) / "sample.json")]
        hs, hs_cpu = _child([str(binary), str(pol), str(inv), *extra])
        env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
        us, us_cpu = _child([sys.executable, "-m", "benchmarks.peer", "--ours", str(pol),
                             str(inv), *extra], env=env)
    rules = len(policy["acls"]) + len(policy["grants"])
    print(f"scale {args.scale}: {rules} rules, {len(inventory['devices'])} nodes, "
          f"{len(inventory['users'])} users (seed {args.seed}); per-node packet filters, "
          "each side in a fresh process")
    print("adapted for Headscale: " + ("; ".join(notes) or "nothing"))
    scale_up = len(names) / hs["nodes"]
    if scale_up != 1:
        print(f"filters of {hs['nodes']} of {len(names)} nodes (evenly spaced); "
              f"'all nodes' extrapolates them x{scale_up:.1f}")
    for name, r, cpu in (("headscale v0.29.2", hs, hs_cpu), ("reconciler", us, us_cpu)):
        print(f"{name:<18} total {r['total_seconds']:6.2f} s (load+compile "
              f"{r['load_seconds']:.2f} s, filters {r['filter_seconds']:.2f} s, "
              f"{1000 * r['filter_seconds'] / r['nodes']:.1f} ms/node; process CPU "
              f"{cpu:.2f} s); nodes with a filter {r['nodes_with_filter']}/{r['nodes']}; "
              f"src x dst entries {r['src_x_dst_entries']}"
              + (f"; all nodes ~{r['load_seconds'] + r['filter_seconds'] * scale_up:.0f} s"
                 if scale_up != 1 else ""))
    print(f"ratio (reconciler / headscale; < 1: we are ahead): wall total "
          f"{us['total_seconds'] / hs['total_seconds']:.2f}x, wall filters "
          f"{us['filter_seconds'] / hs['filter_seconds']:.2f}x, process CPU "
          f"{us_cpu / hs_cpu:.2f}x")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--ours"]:
        sample_arg = Path(sys.argv[4]) if len(sys.argv) > 4 else None
        print(json.dumps(ours(Path(sys.argv[2]), Path(sys.argv[3]), sample_arg)))
        sys.exit(0)
    sys.exit(main())

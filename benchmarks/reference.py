"""A plain reference evaluator: for each assertion, scan every rule. Benchmarks only.

Benchmark support (imports the engine's compiler and test runner for parsing). It shares
the compiled rules with the engine, so the two answer the same question; what differs is
the evaluation: no point index, no caches, every (source device, rule, destination
address) combination checked in turn. Used to measure the engine's speedup and to
cross-check its verdicts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.engine.compile import CompiledPolicy, Rule
from reconciler.engine.index import Point, Source
from reconciler.engine.tests_runner import TCP_OR_UDP, Invalid, Runner


def _rule_allows(rule: Rule, compiled: CompiledPolicy, runner: Runner, src: Source,
                 dst: list[Point], port: int, protos: frozenset[int]) -> bool:
    if not any(rule.allows_port(p, port) for p in protos):
        return False
    for fam in (4, 6):
        value = src.point(fam)
        if value is None or not rule.src.contains_int(fam, value):
            continue
        if rule.posture is not None and src.attrs is not None and \
                not compiled.postures.satisfied(rule.posture, src.attrs):
            continue
        if rule.self_dst:
            if runner.index.self_allowed_by(rule, src, dst, fam):
                return True
        elif any(p[0] == fam and rule.dst.contains_int(*p) for p in dst):
            return True
    return False


def reference_verdicts(runner: Runner, tests: list[Mapping[str, Any]]) -> list[bool]:
    """Per assertion of `tests` (accepts then denies, in order): does it hold?"""
    compiled = runner.compiled
    out: list[bool] = []
    for entry in tests:
        try:
            srcs = runner.sources_of(entry["src"], entry.get("srcPostureAttrs"))
        except Invalid:
            out.extend(False for _ in [*entry.get("accept", []), *entry.get("deny", [])])
            continue
        for want, dsts in ((True, entry.get("accept", [])), (False, entry.get("deny", []))):
            for text in dsts:
                points, port = runner.parse_dst(text)
                reached = [
                    compiled.allow_all or any(
                        _rule_allows(r, compiled, runner, s, points, port, TCP_OR_UDP)
                        for r in compiled.rules)
                    for s in srcs
                ]
                out.append(bool(srcs) and all(reached) if want else not any(reached))
    return out


def engine_verdicts(runner: Runner, tests: list[Mapping[str, Any]]) -> list[bool]:
    """The same per-assertion verdicts from the engine's indexed path (as `run_tests`)."""
    out: list[bool] = []
    for entry in tests:
        attrs = entry.get("srcPostureAttrs")
        srcs = runner.sources_of(entry["src"], attrs)
        group = runner.group_of(str(entry["src"]).strip(), srcs, attrs)
        for want, dsts in ((True, entry.get("accept", [])), (False, entry.get("deny", []))):
            for text in dsts:
                host, points, port = runner.parse_dst_keyed(text)
                got = runner.index.verdict(group, points, port, TCP_OR_UDP, every=want, key=host)
                out.append(got if want else not got)
    return out

"""YAML that would exhaust memory or the stack gets one located error, from every
command and in reconciler.yaml: alias bombs, alias cycles, deep nesting, huge numbers.
Both YAML readers (libyaml's and the pure-Python one) are held to it."""

from __future__ import annotations

import resource
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.load import yamlsource
from tests.robust.conftest import NOW, POLICY_COMMANDS, run_cli


def _bomb(levels: int) -> str:
    """Each level is a list of 9 aliases of the one before: 9**levels values."""
    lines = ["x0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels + 1):
        lines.append(f"x{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


@pytest.fixture(params=["libyaml", "pure-python"])
def reader(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run with libyaml's composer where PyYAML has it, and with the pure-Python one
    (which also reads every text libyaml's may disagree on)."""
    original = yamlsource._FAST_LOADER
    if request.param == "libyaml" and original is None:
        pytest.skip("PyYAML was built without libyaml")
    if request.param == "pure-python":
        yamlsource._FAST_LOADER = None
    try:
        yield request.param
    finally:
        yamlsource._FAST_LOADER = original


CASES = {
    # 9**8 = 43 million values from 600 bytes.
    "billion laughs": (_bomb(8), "1:", "YAML aliases expand to more than 100,000 values"),
    "alias cycle in a mapping": ("hosts: &a {h: *a}\n", "1:8:", "YAML alias cycle"),
    "alias cycle in a list": ("grants: &a [*a]\n", "1:9:", "YAML alias cycle"),
    "nested 495 deep": ("hosts: " + "[" * 495 + "]" * 495 + "\n", "1:207:",
                        "nested more than 200 levels deep"),
    "nested 3000 deep in blocks": ("hosts:\n  " + "- " * 3000 + "x\n", "2:401:",
                                   "nested more than 200 levels deep"),
    "a 4,301-digit number": ("randomizeClientPort: " + "9" * 4301 + "\n", "1:22:",
                             "number too long"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_fragment_is_one_located_error(repo: Path, reader: str, case: str) -> None:
    text, where, message = CASES[case]
    (repo / "policies" / "zz.yaml").write_text(text, encoding="utf-8")
    for command in POLICY_COMMANDS:
        started = time.monotonic()
        outcome = run_cli(repo, *NOW, *command)
        assert outcome.code == 1, (command, outcome.output)
        assert f"policies/zz.yaml:{where}" in outcome.err, (command, outcome.err)
        assert message in outcome.err, (command, outcome.err)
        assert time.monotonic() - started < 10, (command, "took too long")


def test_alias_bomb_stays_small(repo: Path) -> None:
    """Refused in bounded memory: 9**9 values would need hundreds of gigabytes."""
    (repo / "policies" / "zz.yaml").write_text(_bomb(9), encoding="utf-8")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    outcome = run_cli(repo, *NOW, "validate")
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert outcome.code == 1 and "YAML aliases expand" in outcome.err
    assert grown_mb < 200, f"peak memory grew by {grown_mb:.0f} MB"


def test_aliases_within_the_budget_still_work(repo: Path, reader: str) -> None:
    (repo / "policies" / "zz.yaml").write_text(
        "groups:\n  group:ops: &ops [bob@example.com, carol@example.com]\n"
        "  group:oncall: *ops\n", encoding="utf-8")
    outcome = run_cli(repo, *NOW, "validate")
    assert outcome.code == 0, outcome.output


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_reconciler_yaml_is_one_located_error(repo: Path, case: str) -> None:
    text, where, message = CASES[case]
    (repo / "reconciler.yaml").write_text(text, encoding="utf-8")
    outcome = run_cli(repo, *NOW, "validate")
    assert outcome.code == 1, outcome.output
    assert f"Error: reconciler.yaml:{where}" in outcome.err, outcome.err
    assert message in outcome.err


def test_impossible_date_in_reconciler_yaml_is_not_a_crash(repo: Path) -> None:
    """PyYAML's safe_load turned `2025-02-30` into a date and raised ValueError."""
    (repo / "reconciler.yaml").write_text(
        "default_target: demo\ntargets:\n  demo: {backend: local, path: 2025-02-30}\n",
        encoding="utf-8")
    outcome = run_cli(repo, *NOW, "validate")
    assert outcome.code == 0, outcome.output

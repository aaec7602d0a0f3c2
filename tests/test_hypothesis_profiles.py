"""Hypothesis profiles (tests/conftest.py): `dev` by default, `ci` as .ci/run selects it.

Runs one real property through pytest under each way of choosing a profile and reads the
example counts from Hypothesis' own statistics, so the choice is seen to reach the
properties' decorators (their max_examples are computed when the module is imported).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.conftest import REPO_ROOT

PROPERTY = ("tests/engine/test_addrset.py::"  # asks for 300 under ci
            "test_difference_and_subset_of_a_large_and_a_small_set")


def _passing(*args: str, profile_env: str | None = None) -> int:
    env = {k: v for k, v in os.environ.items() if k != "HYPOTHESIS_PROFILE"}
    if profile_env:
        env["HYPOTHESIS_PROFILE"] = profile_env
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "--hypothesis-show-statistics", *args, PROPERTY],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          check=False, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    counts = re.findall(r"- (\d+) passing", proc.stdout)
    assert len(counts) == 1, proc.stdout
    return int(counts[0])


def test_dev_is_the_default_and_ci_runs_every_example() -> None:
    assert _passing() == 30
    assert _passing("--hypothesis-profile=ci") == 300
    assert _passing(profile_env="ci") == 300


def test_ci_run_selects_the_ci_profile() -> None:
    script = (REPO_ROOT / ".ci" / "run").read_text()
    assert re.search(r"^export HYPOTHESIS_PROFILE=ci\b", script, re.M)

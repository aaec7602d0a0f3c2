"""Generated edits of a saved plan file: every edit is refused before any write, and
nothing ever ends in a traceback. Seeded (derandomised), bounded in examples.

One real plan is made once through the CLI. The bulk of the edits goes through the
same reading and checking `show` and `apply` use (`plancheck.read`); a sample goes
through `reconciler apply` itself, with the local store compared byte for byte.
"""

from __future__ import annotations

import contextlib
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.core.errors import PlanFileError
from reconciler.plan import plancheck, planfile
from tests.plan.conftest import Repo
from tests.plan.test_plan_trust import rechecksum, store_bytes

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=3),
    max_leaves=6)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in the JSON tree (the root excluded)."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield (*prefix, k)
            yield from paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield (*prefix, i)
            yield from paths(v, (*prefix, i))


def edit(data: Any, path: tuple[Any, ...], how: str, value: Any) -> Any:
    data = json.loads(json.dumps(data))
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if how == "delete":
        del parent[last]
    elif how == "insert" and isinstance(parent, dict):
        parent[f"x-{last}"] = value
    elif how == "insert":
        parent.insert(last, value)
    else:
        parent[last] = value
    return data


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A real plan (policy and device changes), made through the CLI."""
    import git
    from click.testing import CliRunner

    from reconciler.cli import cli
    from tests.plan.conftest import DESIRED

    root = tmp_path_factory.mktemp("fuzz") / "repo"
    root.mkdir()
    repo = git.Repo.init(root)
    with repo.config_writer() as cw:
        cw.set_value("user", "name", "Test")
        cw.set_value("user", "email", "test@example.com")
    files = {**DESIRED, ".gitignore": "*.plan.json\n",
             "policies/devices.yaml": "devices:\n  office-router:\n    tags: [tag:exit, "
                                      "tag:db]\n",
             "reconciler.yaml": f"targets:\n  local: {{backend: local, path: "
                                f"'{root.parent / 'control' / 'local.db'}'}}\n"}
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    repo.git.add("-A")
    repo.index.commit("desired")
    out = root.parent / "p.plan.json"
    r = CliRunner().invoke(cli, ["-C", str(root), "plan", "-o", str(out)],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    repo.close()
    data = json.loads(out.read_text())
    assert data["resource_changes"] and data["device_changes"]
    return data


def check(data: Any, raw: bytes | None = None) -> None:
    """Read and check as show/apply do: a plan, or PlanFileError; nothing else."""
    raw = raw if raw is not None else json.dumps(data).encode()
    try:
        plancheck.verify(planfile.loads(raw, "p.plan.json"))
    except PlanFileError:
        raise
    except Exception as e:  # pragma: no cover - the failure this test exists to catch
        pytest.fail(f"{type(e).__name__} escaped: {e}")


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_every_structural_edit_is_refused(saved: dict[str, Any], data: st.DataObject) -> None:
    places = list(paths(saved))
    path = data.draw(st.sampled_from(places), label="path")
    how = data.draw(st.sampled_from(["replace", "delete", "insert"]), label="how")
    value = data.draw(JSON_VALUES, label="value")
    edited = edit(saved, path, how, value)
    if edited == saved:
        return
    # Without the checksum recomputed, every edit is refused.
    with pytest.raises(PlanFileError):
        check(edited)
    # With it recomputed (a deliberate editor): refused, or a plan; never a traceback.
    if isinstance(edited.get("integrity"), dict):
        with contextlib.suppress(PlanFileError):
            check(rechecksum(edited))


@settings(max_examples=200, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_byte_edits_are_refused_or_change_nothing(saved: dict[str, Any],
                                                  data: st.DataObject) -> None:
    raw = bytearray(json.dumps(saved, indent=2).encode())
    for _ in range(data.draw(st.integers(1, 4), label="edits")):
        at = data.draw(st.integers(0, len(raw) - 1), label="at")
        raw[at] = data.draw(st.integers(0, 255), label="byte")
    try:
        check(None, bytes(raw))
    except PlanFileError:
        return
    # Accepted: then only formatting changed (the checksum covers the content).
    assert json.loads(bytes(raw)) == saved


def test_a_sample_of_edits_through_apply_writes_nothing(local_repo: Repo, tmp_path: Path
                                                        ) -> None:
    plan = tmp_path / "p.plan.json"
    assert local_repo.run("plan", "-o", str(plan)).exit_code == 0
    original = json.loads(plan.read_text())
    rng = random.Random(20261202)
    places = list(paths(original))
    before = store_bytes(local_repo)
    refusals = 0
    for _ in range(25):
        path = rng.choice(places)
        value = rng.choice([None, 0, -1, "*", "x" * 3, [], {}, True, 1.5, ["tag:prod"]])
        edited = edit(original, path, rng.choice(["replace", "delete", "insert"]), value)
        if edited == original:
            continue
        if rng.random() < 0.5 and isinstance(edited.get("integrity"), dict):
            edited = rechecksum(edited)
        plan.write_text(json.dumps(edited))
        r = local_repo.run("apply", str(plan))
        assert "Traceback" not in r.output
        if r.exit_code == 1:
            refusals += 1
            assert store_bytes(local_repo) == before, r.output
        else:
            # A display-only field under a recomputed checksum (a reason, a message):
            # what is pushed is still exactly the reviewed document.
            assert r.exit_code == 0, r.output
            before = store_bytes(local_repo)
    assert refusals >= 15

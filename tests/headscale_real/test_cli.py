"""The user's journey against real Headscale: plan, apply, drift and refusals through
the real CLI, in a real git repository (tests/plan's fixtures)."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.headscale_real.server import Running
from tests.plan.conftest import Repo, make_repo  # noqa: F401  (a fixture)

NOTE = "Headscale has no write precondition"


def headscale_repo(make_repo: Callable[..., Repo], real: Running) -> Repo:  # noqa: F811
    repo = make_repo(config=f"targets:\n  hs: {{backend: headscale, base_url: '{real.url}'}}\n")
    repo.env = {"HEADSCALE_API_KEY": real.api_key}
    return repo


def live_text(real: Running) -> str:
    response = httpx.get(real.url + "/api/v1/policy",
                         headers={"Authorization": f"Bearer {real.api_key}"})
    return str(response.json().get("policy", "")) if response.status_code == 200 else ""


def test_plan_apply_drift_on_a_fresh_headscale(make_repo: Callable[..., Repo],  # noqa: F811
                                               real_headscale: Running) -> None:
    repo = headscale_repo(make_repo, real_headscale)
    r = repo.run("plan", "--detailed-exitcode")
    assert r.exit_code == 2, r.output
    assert '# groups["group:eng"] will be created' in r.output
    assert f"Warning: {NOTE}" in r.output  # said plainly before anything is written
    r = repo.run("apply", "--auto-approve")
    assert r.exit_code == 0, r.output
    assert "Apply complete!" in r.output and f"Note: {NOTE}" in r.output
    assert "// reconciler: commit=" in live_text(real_headscale)
    r = repo.run("plan", "--detailed-exitcode")
    assert r.exit_code == 0, r.output
    assert NOTE not in r.output  # nothing to write, nothing to warn about
    assert repo.run("drift").exit_code == 0

    # Someone edits the policy with Headscale's own CLI: drift sees it.
    edited = live_text(real_headscale).replace('"tcp:443"', '"tcp:443", "tcp:80"')
    (repo.root.parent / "edited.hujson").write_text(edited)
    real_headscale.server.cli("policy", "set", "--file", str(repo.root.parent / "edited.hujson"),
                              json_output=False)
    r = repo.run("drift")
    assert r.exit_code == 2, r.output
    assert "tcp:80" in r.output


def test_what_headscale_refuses_is_refused_before_any_write(
        make_repo: Callable[..., Repo], real_headscale: Running) -> None:  # noqa: F811
    repo = headscale_repo(make_repo, real_headscale)
    repo.commit({"policies/postures.yaml":
                 "postures:\n  posture:mac: [\"node:os == 'macos'\"]\n"}, "postures")
    r = repo.run("plan")
    assert r.exit_code == 1, r.output
    assert 'policies/postures.yaml:1:1: unknown field: "postures"' in r.output
    assert "Traceback" not in r.output
    r = repo.run("apply", "--auto-approve")
    assert r.exit_code == 1 and 'unknown field: "postures"' in r.output
    assert live_text(real_headscale) == ""  # nothing was written

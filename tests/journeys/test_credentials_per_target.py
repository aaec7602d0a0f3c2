"""Two tailnets, two keys: each target names its own credential variables.

Two real `reconciler serve` instances on 127.0.0.1, each accepting only its own key; one
repository with a target for each, `api_key_env` naming the variable each reads.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.backends.local.server import ServeConfig, make_server
from tests.plan.conftest import Repo

KEY_A = "tskey-api-" + secrets.token_hex(12)
KEY_B = "tskey-api-" + secrets.token_hex(12)


@pytest.fixture
def two_tailnets(tmp_path: Path) -> Iterator[tuple[Any, Any]]:
    servers = [make_server(ServeConfig(db=tmp_path / name / "local.db", api_key=key))
               for name, key in (("a", KEY_A), ("b", KEY_B))]
    for s in servers:
        s.start()
    try:
        yield servers[0], servers[1]
    finally:
        for s in servers:
            s.stop()


def config(a: Any, b: Any) -> str:
    return ("targets:\n"
            f"  east: {{backend: tailscale, base_url: '{a.url}', api_key_env: TS_KEY_EAST}}\n"
            "  west:\n"
            "    backend: tailscale\n"
            f"    base_url: '{b.url}'\n"
            "    api_key_env: TS_KEY_WEST\n")


def test_drift_all_reads_each_targets_own_key(make_repo: Callable[..., Repo],
                                               two_tailnets: tuple[Any, Any]) -> None:
    a, b = two_tailnets
    repo = make_repo(config=config(a, b))
    repo.env = {"TS_KEY_EAST": KEY_A, "TS_KEY_WEST": KEY_B}
    for target in ("east", "west"):
        r = repo.run("apply", "--target", target, "--auto-approve")
        assert r.exit_code == 0, r.output
    r = repo.run("drift", "--all", "--format", "json")
    assert r.exit_code == 0, r.output
    reports = json.loads(r.stdout)["targets"]
    assert sorted(t["target"]["name"] for t in reports) == ["east", "west"]
    assert all(t["clean"] and not t["error"] for t in reports), r.output
    assert {t["target"]["identity"] for t in reports} == {
        f"tailscale:-@{a.url}", f"tailscale:-@{b.url}"}
    r = repo.run("targets")
    assert "(credentials: TS_KEY_EAST," in r.output, r.output
    assert "TS_API_KEY" not in r.output
    for key in (KEY_A, KEY_B):
        assert key not in r.output

    # Swap the keys: each tailnet refuses the other's, and the error names the target.
    repo.env = {"TS_KEY_EAST": KEY_B, "TS_KEY_WEST": KEY_A}
    r = repo.run("drift", "--all")
    assert r.exit_code == 1, r.output
    assert KEY_A not in r.output and KEY_B not in r.output

    # The defaults are unchanged: a target without api_key_env reads TS_API_KEY.
    plain = make_repo("plain", config=f"targets:\n  t: {{backend: tailscale, "
                                      f"base_url: '{a.url}'}}\n")
    plain.env = {"TS_API_KEY": KEY_A}
    assert plain.run("drift").exit_code in (0, 2)
    plain.env = {"TS_KEY_EAST": KEY_A}
    r = plain.run("drift")
    assert r.exit_code == 1 and "TS_API_KEY" in r.output, r.output


def test_a_misspelt_or_secret_valued_credential_key_is_refused(
        make_repo: Callable[..., Repo]) -> None:
    repo = make_repo(config="targets:\n  t:\n    backend: tailscale\n"
                            "    api_key_evn: TS_KEY\n")
    r = repo.run("drift")
    assert r.exit_code == 1, r.output
    assert 'reconciler.yaml:4:5: target "t": unknown field "api_key_evn"' in r.output, r.output
    assert 'did you mean "api_key_env"' in r.output, r.output
    assert "Traceback" not in r.output

    pasted = "tskey-api-" + secrets.token_hex(12)
    repo = make_repo("pasted", config="targets:\n  t:\n    backend: headscale\n"
                                      "    base_url: https://hs.example\n"
                                      f"    api_key_env: {pasted}\n")
    r = repo.run("drift")
    assert r.exit_code == 1, r.output
    assert 'reconciler.yaml:5:18: target "t": api_key_env must be the name of an ' \
        "environment variable" in r.output, r.output
    assert pasted not in r.output


def test_named_oauth_variables_are_read_and_named_in_errors() -> None:
    from reconciler.core.errors import CredentialsError
    from reconciler.load.config import credential_env

    names = {"TS_OAUTH_CLIENT_ID": "EAST_ID", "TS_OAUTH_CLIENT_SECRET": "EAST_SECRET"}
    creds = credential_env("tailscale", {"EAST_ID": "i", "EAST_SECRET": "s",
                                         "TS_OAUTH_CLIENT_SECRET": "other"}, names)
    assert creds.kind == "oauth"
    assert dict(creds.values) == {"TS_OAUTH_CLIENT_ID": "i", "TS_OAUTH_CLIENT_SECRET": "s"}
    with pytest.raises(CredentialsError) as e:
        credential_env("tailscale", {"EAST_SECRET": "s"}, names)
    assert e.value.summary == "EAST_SECRET is set but EAST_ID is not"

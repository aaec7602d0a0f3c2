"""Policy tests that depend on the tailnet: roles and devices behind host aliases.

A real policy's test relies on its source user holding a role (autogroup:admin) and on
a host alias pointing at a tagged device's IP. The synthetic inventory knows neither,
so offline the test fails and says why; an inventory file with the role and the device
makes it pass, and so does a target whose tailnet has them (the local store, or
`reconciler serve`), which `test` reads by default. Failing tests are named by their
`name:` with their file:line in every format.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.plan.conftest import API_KEY, Repo

POLICY = """\
tagOwners:
  tag:db: [autogroup:admin]
hosts:
  dbhost: 100.64.0.22
grants:
  - name: admins-db
    src: [autogroup:admin]
    dst: [tag:db]
    ip: ["tcp:5432"]
tests:
  - name: admins-reach-db
    src: bob@example.com
    accept: ["dbhost:5432"]
"""

# bob holds the admin role, and db-1 (tag:db) holds dbhost's address.
INVENTORY = """\
users:
  - {login: bob@example.com, role: admin}
devices:
  - {name: bob-laptop, user: bob@example.com, ipv4: 100.64.0.2}
  - {name: db-1, tags: [tag:db], ipv4: 100.64.0.22}
"""

SYNTHETIC_NOTE = "this assertion depends on the synthetic inventory"


def local_target(make_repo: Callable[..., Repo], tmp_path: Path) -> tuple[Repo, Path]:
    db = tmp_path / "control" / "local.db"
    repo = make_repo(config=f"targets:\n  local: {{backend: local, path: {db}, "
                            "seed: empty}\n",
                     files={"policies/main.yaml": POLICY})
    return repo, db


def test_offline_a_test_needing_a_role_and_a_device_fails_and_says_why(
        make_repo: Callable[..., Repo], tmp_path: Path) -> None:
    repo, db = local_target(make_repo, tmp_path)
    r = repo.run("test")
    assert r.exit_code == 1, r.output
    assert not db.exists()  # the store is not created by `test`
    lines = r.stdout.splitlines()
    assert lines[0] == ("policies/main.yaml:11:5: tests[\"admins-reach-db\"] src "
                        "'bob@example.com': failed"), r.stdout
    assert lines[1] == '  address "dbhost:5432": want: Accept, got: Drop'
    note = lines[2]
    assert note.startswith(f"  note: {SYNTHETIC_NOTE}: "), r.stdout
    assert "autogroup:admin covers none of them" in note
    assert 'host "dbhost" (100.64.0.22) is no device of it' in note
    assert "--inventory FILE" in note and "a target with a backend" in note
    assert "inventory: synthetic" in lines[-1]

    r = repo.run("test", "--format", "json")
    result = json.loads(r.stdout)["results"][0]
    assert result["name"] == "admins-reach-db"
    assert result["label"] == 'tests["admins-reach-db"]'
    assert result["location"] == "policies/main.yaml:11:5"
    assert result["notes"][0].startswith(SYNTHETIC_NOTE)

    r = repo.run("test", "--format", "junit")
    case = ET.fromstring(r.stdout.split("\n", 1)[1]).find("testsuite/testcase")
    assert case is not None
    assert case.get("name") == 'tests["admins-reach-db"] bob@example.com'
    assert (case.get("file"), case.get("line")) == ("policies/main.yaml", "11")
    failure = case.find("failure")
    assert failure is not None and SYNTHETIC_NOTE in (failure.text or "")


def test_an_inventory_file_gives_roles_and_device_addresses(
        make_repo: Callable[..., Repo], tmp_path: Path) -> None:
    repo, _ = local_target(make_repo, tmp_path)
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(INVENTORY)
    r = repo.run("test", "--inventory", str(inventory))
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[-1] == \
        f"1 passed, 0 failed, 0 invalid (1 assertions; inventory: {inventory})"
    # The offline choice stays, whatever the target holds.
    r = repo.run("test", "--inventory", "synthetic")
    assert r.exit_code == 1 and SYNTHETIC_NOTE in r.stdout, r.output


def test_a_local_target_s_store_is_the_default_inventory(
        make_repo: Callable[..., Repo], tmp_path: Path) -> None:
    repo, db = local_target(make_repo, tmp_path)
    for args in (("add-user", "bob@example.com", "--role", "admin"),
                 ("add-device", "bob-laptop", "--user", "bob@example.com"),
                 ("add-device", "db-1", "--tag", "tag:db", "--ipv4", "100.64.0.22")):
        r = repo.run("local", *args)
        assert r.exit_code == 0, r.output
    r = repo.run("test")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[-1] == \
        f"1 passed, 0 failed, 0 invalid (1 assertions; inventory: local:{db})"
    r = repo.run("test", "--inventory", "synthetic")
    assert r.exit_code == 1, r.output


def test_a_served_tailnet_is_the_default_inventory_with_credentials(
        make_repo: Callable[..., Repo], serve: Any) -> None:
    """`reconciler serve`'s tailnet: bob is an admin there and db-1 (tag:db) holds
    100.64.0.22. Its users (with roles) and devices are read when the credentials are
    set; without them, the tests run offline and say so."""
    config = (f"targets:\n  tailnet: {{backend: tailscale, tailnet: '-', "
              f"base_url: '{serve.url}', timeout: 10}}\n")
    repo = make_repo(config=config, files={"policies/main.yaml": POLICY})
    r = repo.run("test")
    assert r.exit_code == 1, r.output
    assert 'target "tailnet" has no credentials here' in r.stderr, r.output
    assert SYNTHETIC_NOTE in r.stdout
    repo.env = {"TS_API_KEY": API_KEY}
    r = repo.run("test")
    assert r.exit_code == 0, r.output
    assert "1 passed, 0 failed" in r.stdout, r.output
    assert "inventory: synthetic" not in r.stdout


def test_plan_names_failing_tests_with_their_file_and_line(
        make_repo: Callable[..., Repo], tmp_path: Path) -> None:
    repo, _ = local_target(make_repo, tmp_path)
    cited = 'tests["admins-reach-db"] bob@example.com: address "dbhost:5432"'
    for fmt in ("text", "markdown", "github", "json"):
        r = repo.run("plan", "--format", fmt)
        assert r.exit_code == 1, (fmt, r.output)  # the tests failed
        if fmt == "json":
            failure = json.loads(r.stdout)["tests"]["failures"][0]
            assert failure["message"].startswith(cited), failure
            assert failure["location"] == "policies/main.yaml:11:5"
        elif fmt == "github":
            assert "::error file=policies/main.yaml,line=11,col=5,title=test failed::" \
                + cited in r.stdout, r.stdout
        else:
            assert "policies/main.yaml:11:5" in r.stdout and cited in r.stdout, r.stdout

"""Plans read right whatever the author wrote: a saved plan applies whatever order an
entry's keys are in, and a plan that changes only SSH rules does not say nothing changed.

The plan records each change's fields in the order the fragment gives them; `apply`
recomputes the changes from the plan's document, whose keys are in canonical order.
Field order is display only: a grant written `ip, dst, src` or an SSH rule with its
`action` last must plan, save and apply like any other (through the real CLI, a real
git repository and the local store).
"""

from __future__ import annotations

from pathlib import Path

from tests.plan.conftest import Repo

ODD_ORDER = """\
grants:
  - name: dev-ssh-prod
    ip: ["tcp:22"]
    dst: [tag:prod]
    src: [alice@example.com]
ssh:
  - name: vendor-db-debug
    src: [frank@example.com]
    dst: [tag:db]
    users: [root]
    action: accept
    expires: 2027-01-05T18:00:00Z
"""


def test_entries_written_in_any_key_order_plan_and_apply_from_the_file(
        local_repo: Repo, tmp_path: Path) -> None:
    assert local_repo.run("apply", "--auto-approve", "--adopt").exit_code == 0
    local_repo.commit({"policies/odd-order.yaml": ODD_ORDER}, "keys in the author's order")
    plan = tmp_path / "odd.plan.json"
    r = local_repo.run("plan", "-o", str(plan))
    assert r.exit_code == 0, r.output
    assert 'grants["dev-ssh-prod"] will be created' in r.output
    assert 'ssh["vendor-db-debug"] will be created' in r.output
    r = local_repo.run("show", str(plan))
    assert r.exit_code == 0, r.output
    r = local_repo.run("apply", str(plan))
    assert r.exit_code == 0, r.output
    assert "Apply complete! Resources: 2 added" in r.output
    assert local_repo.run("drift").exit_code == 0


def test_a_plan_that_only_changes_ssh_rules_does_not_say_no_access_changed(
        local_repo: Repo) -> None:
    """Root SSH on a production tag for a vendor opens no port, so the network access
    section is empty; the plan must still not tell the reviewer nothing changed."""
    assert local_repo.run("apply", "--auto-approve", "--adopt").exit_code == 0
    vendor_ssh = "ssh:\n" + ODD_ORDER.split("ssh:\n", 1)[1]
    local_repo.commit({"policies/vendor-ssh.yaml": vendor_ssh}, "vendor ssh as root")
    for fmt, said in (("text", "No network access changes; see the notes."),
                      ("markdown", "> SSH rules changed")):
        r = local_repo.run("plan", "--format", fmt)
        assert r.exit_code == 0, r.output
        assert 'ssh["vendor-db-debug"]' in r.output
        assert "No access changes" not in r.output, r.output
        assert said in r.output, r.output

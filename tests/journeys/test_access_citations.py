"""Who loses access, and which rule says so: one line per identity and destination,
every rule cited by its name and file:line (or its line in the live policy).

A grant gives alice everything on tag:web beside the team's tcp:443; removing it takes
icmp, ipv6-icmp, the other tcp ports and udp from her. `diff`, `plan` (text, markdown,
JSON, a saved plan shown again) and `explain` say that once, citing the grant by name
at its line in the applied revision; a rule added outside git is cited at its line in
the live policy.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from tests.conftest import ENG_WEB_POLICY
from tests.plan.conftest import Repo

POLICY = ENG_WEB_POLICY + """\
  - name: alice-all
    src: [alice@example.com]
    dst: [tag:web]
    ip: ["*"]
"""
WITHOUT = POLICY[:POLICY.index("  - name: alice-all")]
LOST = ("alice@example.com loses icmp:*, ipv6-icmp:*, tcp:* except 443, udp:* on tag:web "
        "(1 device)")
CITED = '[grants["alice-all"] at policies/main.yaml:10]'


def removed(make_repo: Callable[..., Repo], tmp_path: Path) -> Repo:
    """The policy applied to a local tailnet (alice's laptop, a web server); then a
    commit removes alice-all."""
    db = tmp_path / "control" / "local.db"
    repo = make_repo(config=f"targets:\n  local: {{backend: local, path: {db}, "
                            "seed: empty}\n",
                     files={"policies/main.yaml": POLICY})
    for args in (("add-user", "alice@example.com"), ("add-user", "bob@example.com"),
                 ("add-device", "alice-laptop", "--user", "alice@example.com"),
                 ("add-device", "web-1", "--tag", "tag:web")):
        assert repo.run("local", *args).exit_code == 0
    r = repo.run("apply", "--auto-approve")
    assert r.exit_code == 0, r.output
    repo.commit({"policies/main.yaml": WITHOUT}, "alice-all goes")
    return repo


def access_section(output: str) -> list[str]:
    return output.split("Access changes:\n", 1)[1].split("\n\n", 1)[0].splitlines()


def test_diff_says_a_loss_once_per_identity_and_destination_citing_the_rule_by_name(
        make_repo: Callable[..., Repo], tmp_path: Path) -> None:
    repo = removed(make_repo, tmp_path)
    r = repo.run("diff", "HEAD~", "HEAD")
    assert r.exit_code == 0, r.output
    assert access_section(r.output) == [f"  - {LOST}  {CITED}", "Access: 0 gained, 1 lost."]

    r = repo.run("diff", "HEAD~", "HEAD", "--format", "markdown")
    assert ("| - | `alice@example.com` | `icmp:*`, `ipv6-icmp:*`, `tcp:* except 443`, "
            "`udp:*` | `tag:web` | 1 | `grants[\"alice-all\"] at policies/main.yaml:10` |"
            ) in r.output, r.output
    # One Mermaid edge for the four.
    assert len(re.findall(r"-\.->", r.output)) == 1, r.output

    r = repo.run("diff", "HEAD~", "HEAD", "--format", "json")
    lost = json.loads(r.output)["access"]["lost"]
    assert [c["ip"] for c in lost] == ["icmp:*", "ipv6-icmp:*", "tcp:* except 443", "udp:*"]
    assert {json.dumps(c["rules"]) for c in lost} == {json.dumps(
        [{"path": "grants[1]", "location": "policies/main.yaml:10:5", "name": "alice-all"}])}


def test_plan_cites_lost_access_in_the_applied_revision_and_the_live_policy(
        make_repo: Callable[..., Repo], tmp_path: Path) -> None:
    repo = removed(make_repo, tmp_path)
    r = repo.run("plan")
    assert r.exit_code == 0, r.output
    assert access_section(r.output) == [f"  - {LOST}  {CITED}", "Access: 0 gained, 1 lost."]

    # An edit made outside git: bob gets tcp:22; the plan reverts it.
    edited = json.dumps([
        {"src": ["group:eng"], "dst": ["tag:web"], "ip": ["tcp:443"]},
        {"src": ["alice@example.com"], "dst": ["tag:web"], "ip": ["*"]},
        {"src": ["bob@example.com"], "dst": ["tag:web"], "ip": ["tcp:22"]}])
    r = repo.run("local", "edit", "--set", "grants", edited)
    assert r.exit_code == 0, r.output
    r = repo.run("plan", "-o", "p.plan.json")
    assert r.exit_code == 0, r.output
    section = access_section(r.output)
    assert section[0] == f"  - {LOST}  {CITED}"
    (bob,) = [line for line in section if "bob@example.com" in line]
    line = re.fullmatch(r"  - bob@example.com loses tcp:22 on tag:web \(1 device\)  "
                        r"\[live policy, grants\[2\] at line (\d+)\]", bob)
    assert line, section
    # That line of the live text is where the third grant starts.
    text = fetch_live_text(repo, tmp_path)
    assert text.splitlines()[int(line[1]) - 1].strip() == "{"
    assert '"bob@example.com"' in text.splitlines()[int(line[1])]

    # The saved plan passes its recompute and shows the same citations.
    shown = repo.run("show", "p.plan.json")
    assert shown.exit_code == 0, shown.output
    assert access_section(shown.output) == section
    md = repo.run("show", "p.plan.json", "--format", "markdown")
    assert f"`live policy, grants[2] at line {line[1]}`" in md.output, md.output
    data = json.loads(repo.run("show", "p.plan.json", "--format", "json").output)
    rules = [c["rules"] for c in data["access"]["lost"] if c["src"] == "bob@example.com"]
    assert rules == [[{"path": "grants[2]", "location": f"live policy:{line[1]}:3",
                       "name": None}]]


def fetch_live_text(repo: Repo, tmp_path: Path) -> str:
    from reconciler.backends.local.backend import LocalBackend

    backend = LocalBackend(tmp_path / "control" / "local.db")
    try:
        return backend.fetch_policy().text
    finally:
        backend.close()


def test_explain_says_each_rule_once(make_repo: Callable[..., Repo]) -> None:
    repo = make_repo(files={"policies/main.yaml": """\
tagOwners:
  tag:web: []
grants:
  - name: alice-web
    src: [alice@example.com]
    dst: [tag:web]
    ip: ["tcp:443", "udp:443", "icmp:*"]
"""})
    r = repo.run("explain", "alice@example.com", "tag:web:443")
    assert r.output.splitlines() == [
        "ALLOWED: alice@example.com -> tag:web:443 (tcp or udp)",
        "Allowed by:",
        '  policies/main.yaml:4:5: grants["alice-web"]: alice@example.com -> tag:web '
        "(tcp:443, udp:443)",
    ]
    r = repo.run("explain", "alice@example.com", "tag:web:22")
    assert r.output.splitlines()[-4:] == [
        "Nearest rules:",
        '  policies/main.yaml:4:5: grants["alice-web"]: alice@example.com -> tag:web '
        "(tcp:443, udp:443, icmp:*)",
        "    - port 22 not in tcp:443, udp:443",
        "    - protocol tcp/udp not in icmp",
    ]

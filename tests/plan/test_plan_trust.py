"""Saved plans are trustworthy: what `show` renders is exactly what `apply` pushes.

Through the real CLI, in a real git repository, against the real local store (compared
byte for byte: a refused plan writes nothing) and `reconciler serve` over HTTP. The
editor in these tests is as careful as an attacker can be without the key: besides
the field it edits it recomputes the checksum (`rechecksum`), so what refuses the plan
is the recomputation from its own document and prior, or the signature.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler.backends.local.backend import LocalBackend
from tests.plan.conftest import API_KEY, Repo

KEY = "k3y-for-plans-0123456789abcdef"


def store_bytes(repo: Repo) -> dict[str, bytes]:
    """Every file of the local store's directory, for byte-for-byte comparison."""
    control = repo.root.parent / "control"
    return {p.name: p.read_bytes() for p in sorted(control.iterdir()) if p.is_file()}


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def rechecksum(data: dict[str, Any]) -> dict[str, Any]:
    """What a deliberate editor does: recompute the unkeyed checksum over the content."""
    body = {k: v for k, v in data.items() if k != "integrity"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    data["integrity"]["checksum"] = "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
    return data


def save(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")


def planned(repo: Repo, tmp_path: Path, name: str = "p.plan.json") -> Path:
    out = tmp_path / name
    r = repo.run("plan", "-o", str(out))
    assert r.exit_code == 0, r.output
    return out


def refused(repo: Repo, plan: Path, *words: str) -> None:
    """`show` and `apply` both exit 1 with a one-line error, and nothing is written."""
    before = store_bytes(repo)
    for command in (["show", str(plan)], ["apply", str(plan)]):
        r = repo.run(*command)
        assert r.exit_code == 1, (command, r.output)
        assert "Traceback" not in r.output
        first = r.output.splitlines()[0]
        assert first.startswith("Error: "), r.output
        for w in words:
            assert w in r.output, r.output
        assert "reconciler plan -o FILE" in r.output  # the next step
    assert store_bytes(repo) == before


def add_attacker(data: dict[str, Any]) -> None:
    doc = data["document"]
    edited = doc.replace('"frank@example.com"', '"frank@example.com", "attacker@evil.com"', 1)
    assert edited != doc
    data["document"] = edited


def test_an_edited_document_is_refused_by_show_and_apply(local_repo: Repo,
                                                         tmp_path: Path) -> None:
    plan = planned(local_repo, tmp_path)
    data = load(plan)
    add_attacker(data)
    save(plan, data)
    refused(local_repo, plan, "checksum does not match")
    save(plan, rechecksum(data))
    # The checksum fits now; the document no longer matches what the plan records.
    refused(local_repo, plan, "fingerprint does not match")


def test_document_and_fingerprint_edited_together_are_recomputed_and_refused(
        local_repo: Repo, tmp_path: Path) -> None:
    """The careful editor also fixes the fingerprints and the header: the resource
    changes recomputed from the document reveal the added member."""
    from reconciler.diff import normalize
    from reconciler.load import hujson
    from reconciler.load.document import to_hujson

    plan = planned(local_repo, tmp_path)
    data = load(plan)
    add_attacker(data)
    policy = hujson.loads(data["document"])
    data["document"] = to_hujson(policy, commit=data["desired"]["commit"])
    data["desired"]["fingerprint"] = normalize.Normalized(policy).fingerprint
    save(plan, rechecksum(data))
    refused(local_repo, plan, "resource changes do not follow", 'groups["group:sre"]')


def test_edited_access_changes_are_refused(local_repo: Repo, tmp_path: Path) -> None:
    # From the default allow-all policy the desired state takes access away.
    plan = planned(local_repo, tmp_path)
    data = load(plan)
    assert data["access"]["lost"]
    data["access"]["lost"] = data["access"]["lost"][1:]
    data["access"]["counts"]["lost"] -= 1
    save(plan, rechecksum(data))
    refused(local_repo, plan, "access changes recorded in the plan differ")


def test_a_hidden_resource_change_is_refused(local_repo: Repo, tmp_path: Path) -> None:
    plan = planned(local_repo, tmp_path)
    data = load(plan)
    hidden = [c for c in data["resource_changes"] if c["address"] == 'grants["sre-all"]']
    assert hidden
    data["resource_changes"].remove(hidden[0])
    data["summary"]["add"] -= 1
    save(plan, rechecksum(data))
    # Its name is gone with the record: the grant is named by its content hash.
    refused(local_repo, plan, "the document also changes grants[", "(not shown in the plan)")


@pytest.mark.parametrize(("edit", "words"), [
    (lambda d: d["prior"].__setitem__("etag", 0), "prior.etag: expected a string"),
    (lambda d: d["prior"].__setitem__("etag", None), "prior.etag: expected a string"),
    (lambda d: d["prior"].__setitem__("etag", "*"), "prior.etag: not a valid value"),
    (lambda d: d["prior"].__setitem__("etag", '"*"'), "prior.etag: not a valid value"),
    (lambda d: d.__setitem__("access", "x"), "access: expected an object"),
    (lambda d: d["summary"].__setitem__("add", -1), "summary.add: expected a count"),
    (lambda d: d["resource_changes"][0].__setitem__("actions", ["explode"]),
     "resource_changes[0].actions[0]: not a valid value"),
    (lambda d: d["target"].__setitem__("name", ["local"]), "target.name: expected a string"),
    (lambda d: d.__setitem__("applyable", "yes"), "applyable: expected true or false"),
    (lambda d: d["tests"].__setitem__("failed", 1.5), "tests.failed: expected a count"),
    (lambda d: d.__setitem__("extra", 1), "unknown field 'extra'"),
    (lambda d: d["prior"].pop("document"), "prior: missing field 'document'"),
    (lambda d: d["integrity"].__setitem__("checksum", None), "integrity.checksum"),
])
def test_wrong_types_refuse_the_whole_file(local_repo: Repo, tmp_path: Path,
                                           edit: Callable[[dict[str, Any]], None],
                                           words: str) -> None:
    plan = planned(local_repo, tmp_path)
    data = load(plan)
    edit(data)
    save(plan, rechecksum(data) if isinstance(data.get("integrity"), dict)
         and data["integrity"].get("checksum") else data)
    refused(local_repo, plan, words, "the plan file is refused")


@pytest.mark.parametrize(("mangle", "words"), [
    (lambda text: text.encode() + b"\xff\xfe", "invalid UTF-8"),
    (lambda text: text.replace('"document":', '"x": ' + "[" * 5000 + "]" * 5000
                               + ', "document":', 1).encode(), "nested too deeply"),
    (lambda text: text.replace('"document":', '"x": ' + "[" * 70 + "]" * 70
                               + ', "document":', 1).encode(), "nested more than 64 deep"),
    (lambda text: text.replace('"applyable": true', '"applyable": NaN', 1).encode(),
     "not JSON"),
    (lambda text: text.replace('"applyable": true', '"applyable": false, "applyable": true',
                               1).encode(), "duplicate key 'applyable'"),
    (lambda text: text.replace('"errored": false', '"errored": ' + "9" * 5000, 1).encode(),
     "not JSON"),
])
def test_malformed_bytes_are_refused(local_repo: Repo, tmp_path: Path,
                                     mangle: Callable[[str], bytes], words: str) -> None:
    plan = planned(local_repo, tmp_path)
    plan.write_bytes(mangle(plan.read_text()))
    before = store_bytes(local_repo)
    for command in ("show", "apply"):
        r = local_repo.run(command, str(plan))
        assert r.exit_code == 1, r.output
        assert words in r.output and "Traceback" not in r.output
    assert store_bytes(local_repo) == before


def test_a_plan_renamed_to_another_target_is_refused(make_repo: Callable[..., Repo],
                                                     tmp_path: Path) -> None:
    blue, green = tmp_path / "control" / "blue.db", tmp_path / "control" / "green.db"
    repo = make_repo(config=f"default_target: blue\ntargets:\n"
                            f"  blue: {{backend: local, path: '{blue}'}}\n"
                            f"  green: {{backend: local, path: '{green}'}}\n")
    assert repo.run("plan", "--target", "green").exit_code == 0  # both stores exist
    plan = planned(repo, tmp_path)
    data = load(plan)
    data["target"] = {"name": "green", "identity": data["target"]["identity"].replace(
        "blue.db", "green.db")}
    save(plan, data)
    refused(repo, plan, "checksum does not match")
    # With signed plans even a recomputed checksum does not take it to green.
    repo.env = {"RECONCILER_PLAN_KEY": KEY}
    plan = planned(repo, tmp_path, "signed.plan.json")
    data = load(plan)
    data["target"] = {"name": "green", "identity": data["target"]["identity"].replace(
        "blue.db", "green.db")}
    save(plan, rechecksum(data))
    before = store_bytes(repo)
    r = repo.run("apply", str(plan))
    assert r.exit_code == 1 and "signature does not match" in r.output, r.output
    assert store_bytes(repo) == before


def test_signed_plans(local_repo: Repo, tmp_path: Path) -> None:
    unsigned = planned(local_repo, tmp_path, "unsigned.plan.json")
    assert load(unsigned)["integrity"]["signature"] is None
    local_repo.env = {"RECONCILER_PLAN_KEY": KEY}
    signed = planned(local_repo, tmp_path, "signed.plan.json")
    text = signed.read_text()
    assert load(signed)["integrity"]["signature"].startswith("hmac-sha256:")
    assert KEY not in text  # the key never enters the file, nor any output
    for fmt in ("text", "json", "markdown", "github"):
        assert KEY not in local_repo.run("plan", "--format", fmt).output
        assert KEY not in local_repo.run("show", str(signed), "--format", fmt).output

    # With the key set, an unsigned plan is refused, and so is a re-signed-less edit.
    before = store_bytes(local_repo)
    r = local_repo.run("apply", str(unsigned))
    assert r.exit_code == 1 and "the plan is not signed" in r.output, r.output
    data = load(signed)
    data["created_at"] = "2000-01-01T00:00:00Z"
    save(tmp_path / "edited.plan.json", rechecksum(data))
    r = local_repo.run("apply", str(tmp_path / "edited.plan.json"))
    assert r.exit_code == 1 and "signature does not match" in r.output, r.output
    local_repo.env = {"RECONCILER_PLAN_KEY": "another key"}
    r = local_repo.run("apply", str(signed))
    assert r.exit_code == 1 and "signature does not match" in r.output, r.output
    assert store_bytes(local_repo) == before

    local_repo.env = {"RECONCILER_PLAN_KEY": KEY}
    r = local_repo.run("apply", str(signed))
    assert r.exit_code == 0 and "Apply complete!" in r.output, r.output
    assert KEY not in r.output


def test_apply_over_http_refuses_a_tampered_plan_before_any_request(
        make_repo: Callable[..., Repo], serve: Any, request_log: Any,
        tmp_path: Path) -> None:
    config = (f"targets:\n  tailnet: {{backend: tailscale, tailnet: '-', "
              f"base_url: '{serve.url}', timeout: 10}}\n")
    repo = make_repo(config=config)
    repo.env = {"TS_API_KEY": API_KEY}
    plan = planned(repo, tmp_path)
    data = load(plan)
    add_attacker(data)
    save(plan, rechecksum(data))
    request_log.take()
    r = repo.run("apply", str(plan))
    assert r.exit_code == 1, r.output
    assert request_log.take() == []  # refused before a single request
    assert "attacker@evil.com" not in LocalBackend(serve.db).fetch_policy().text
    # The honest plan: 1 POST and 1 verifying GET (no devices are managed here).
    plan = planned(repo, tmp_path, "honest.plan.json")
    request_log.take()
    r = repo.run("apply", str(plan))
    assert r.exit_code == 0, r.output
    assert request_log.take() == [("POST", "/api/v2/tailnet/-/acl"),
                                  ("GET", "/api/v2/tailnet/-/acl")]


def test_a_retried_push_of_an_already_applied_plan_does_not_claim_it(
        make_repo: Callable[..., Repo], serve: Any, tmp_path: Path) -> None:
    """A transient 5xx makes the client retry; the retry meets 412 and finds the
    document live. Whether this run stored it cannot be told, and the output says so
    instead of a plain "Apply complete!"; without the fault the re-run is stale."""
    config = (f"targets:\n  tailnet: {{backend: tailscale, tailnet: '-', "
              f"base_url: '{serve.url}', timeout: 10}}\n")
    repo = make_repo(config=config)
    repo.env = {"TS_API_KEY": API_KEY}
    store = serve.server.backend.store
    plan = planned(repo, tmp_path)
    r = repo.run("apply", str(plan))
    assert r.exit_code == 0 and "Apply complete! Resources:" in r.output, r.output
    writes = len(store.history())

    serve.server.faults.push("503@POST")
    r = repo.run("apply", str(plan))
    assert r.exit_code == 0, r.output
    assert "Apply complete!" not in r.output
    assert "or this plan had\nbeen applied before" in r.output
    assert len(store.history()) == writes  # nothing stored twice

    r = repo.run("apply", str(plan))
    assert r.exit_code == 1, r.output
    assert "Error: Saved plan is stale" in r.output
    assert "already is exactly this plan's document" in r.output
    assert "Nothing was written by this run" in r.output

    # An answer lost after the store: the same caveat, the plan stored exactly once.
    repo.commit({"policies/groups.yaml": "groups:\n  group:eng: [alice@example.com]\n"
                                         "  group:sre: [frank@example.com]\n"})
    plan = planned(repo, tmp_path, "second.plan.json")
    serve.server.faults.push("drop-after@POST")
    r = repo.run("apply", str(plan))
    assert r.exit_code == 0, r.output
    assert "either that attempt stored it before its answer was lost" in r.output
    assert len(store.history()) == writes + 1


SSH_AB = """\
ssh:
  - name: ssh-a
    action: accept
    src: [group:sre]
    dst: [tag:prod]
    users: [root]
  - name: ssh-b
    action: check
    src: [group:eng]
    dst: [tag:prod]
    users: [ubuntu]
"""

SSH_BA = """\
ssh:
  - name: ssh-b
    action: check
    src: [group:eng]
    dst: [tag:prod]
    users: [ubuntu]
  - name: ssh-a
    action: accept
    src: [group:sre]
    dst: [tag:prod]
    users: [root]
"""


@pytest.mark.parametrize("edit", [
    # a named grant updated, another deleted, one added
    {"policies/access.yaml": """\
grants:
  - name: eng-web
    src: [group:eng]
    dst: [tag:prod]
    ip: ["tcp:443", "tcp:80"]
  - name: sre-all
    src: [group:sre]
    dst: [tag:prod, tag:db]
    ip: ["*"]
  - name: ci-db
    src: [tag:ci]
    dst: [tag:db]
    ip: ["tcp:5432"]
""", "policies/extra.yaml": "hosts:\n  db1: 100.101.0.30\n"},
    # SSH rules reordered (a change of its own) and a member removed
    {"policies/ssh.yaml": SSH_BA,
     "policies/groups.yaml": "groups:\n  group:eng: [alice@example.com]\n"
                             "  group:sre: [frank@example.com]\n"},
    # an unnamed entry, and a host removed
    {"policies/tags.yaml": "tagOwners:\n  tag:prod: [group:sre]\n  tag:db: [group:sre]\n"
                           "  tag:ci: [group:sre]\n  tag:staging: [group:sre]\n",
     "policies/access.yaml": 'acls:\n  - {action: accept, src: ["group:eng"], '
                             'dst: ["tag:prod:443"]}\ngrants:\n  - {name: sre-all, '
                             'src: [group:sre], dst: [tag:prod, tag:db], ip: ["*"]}\n'},
])
def test_honest_plans_pass_the_recomputation(local_repo: Repo, tmp_path: Path,
                                             edit: dict[str, str]) -> None:
    """No false refusals: plans of the everyday edits, including names recovered from
    the base, SSH order and drift, are shown and applied."""
    local_repo.commit({"policies/ssh.yaml": SSH_AB, "policies/extra.yaml": """\
grants:
  - name: legacy
    src: [group:eng]
    dst: [tag:staging]
    ip: ["tcp:22"]
"""})
    assert local_repo.run("apply", "--auto-approve").exit_code == 0
    # An out-of-band edit the next plan reverts.
    backend = LocalBackend(local_repo.root.parent / "control" / "local.db")
    live = backend.fetch_policy()
    backend.push_policy(live.text.replace('"bob@example.com"',
                                          '"bob@example.com", "carol@example.com"', 1),
                        if_match=live.etag)
    local_repo.commit(edit)
    plan = planned(local_repo, tmp_path)
    addresses = [c["address"] for c in load(plan)["resource_changes"]]
    assert addresses
    if "ssh.yaml" in str(edit):
        assert "ssh[*]" in addresses  # the order is a change of its own
    r = local_repo.run("show", str(plan))
    assert r.exit_code == 0, r.output
    r = local_repo.run("apply", str(plan))
    assert r.exit_code == 0 and "Apply complete!" in r.output, r.output
    assert local_repo.run("plan", "--detailed-exitcode").exit_code == 0

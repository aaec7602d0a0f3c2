"""The apply journal: an apply that stops part way (Ctrl-C, a crash, a failed request)
is reported by the next command that touches the target, refuses new applies there,
and is finished by `apply --resume`, which refuses what someone else moved.

Through the real CLI (a subprocess of the installed `reconciler` where a signal is
sent) against the real `reconciler serve` on 127.0.0.1, whose stall fault holds a
request open long enough to interrupt the apply between its writes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.backends.base import text_etag
from reconciler.backends.local.backend import LocalBackend
from reconciler.backends.policycheck import tag_owners
from reconciler.diff import normalize
from reconciler.load import hujson
from tests.plan.conftest import ACCESS, API_KEY, DESIRED, Repo

RECONCILER = str(Path(sys.executable).parent / "reconciler")

# Three managed devices; the plan adds a tag to each and changes a grant.
BEFORE = {"office-router": ["tag:exit"], "monitoring-1": ["tag:monitoring"],
          "exit-1": ["tag:exit"]}
AFTER = {"office-router": ["tag:db", "tag:exit"], "monitoring-1": ["tag:ci", "tag:monitoring"],
         "exit-1": ["tag:exit", "tag:staging"]}


def devices_yaml(tags: dict[str, list[str]]) -> dict[str, str]:
    body = "".join(f"  {name}:\n    tags: [{', '.join(t)}]\n" for name, t in tags.items())
    return {"policies/devices.yaml": "devices:\n" + body}


CHANGED = {"policies/access.yaml": ACCESS.replace('ip: ["tcp:443"]', 'ip: ["tcp:443", "tcp:80"]'),
           **devices_yaml(AFTER)}


@dataclass
class Setup:
    repo: Repo
    plan: Path
    store: LocalBackend
    document_fingerprint: str
    prior_text: str

    def tags(self) -> dict[str, list[str]]:
        return {d.name: sorted(d.tags) for d in self.store.list_devices() if d.name in BEFORE}

    def live_fingerprint(self) -> str:
        return normalize.fingerprint(normalize.essence(hujson.loads(
            self.store.fetch_policy().text)))

    def journal(self) -> Path:
        return self.repo.root / ".reconciler" / "journal" / "tailnet.json"

    def reset(self) -> None:
        """Back to the state the plan was made against (same text, so the same ETag)."""
        self.store.store.write_policy(self.prior_text, if_match=None)
        allowed = tag_owners(self.prior_text)
        for d in self.store.list_devices():
            if d.name in BEFORE:
                self.store.store.set_device_tags(d.id, BEFORE[d.name], allowed=allowed)

    def apply_process(self) -> subprocess.Popen[str]:
        env = {**os.environ, "TS_API_KEY": API_KEY, "NO_COLOR": "1"}
        return subprocess.Popen([RECONCILER, "-C", str(self.repo.root), "apply", str(self.plan)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env, start_new_session=True)


def set_up(make_repo: Callable[..., Repo], serve: Any, tmp_path: Path) -> Setup:
    """A managed policy applied from git, then a saved plan changing the policy and the
    tags of three devices."""
    config = (f"targets:\n  tailnet: {{backend: tailscale, tailnet: '-', "
              f"base_url: '{serve.url}', timeout: 10}}\n")
    repo = make_repo(config=config, files={**DESIRED, **devices_yaml(BEFORE)})
    repo.env = {"TS_API_KEY": API_KEY}
    r = repo.run("apply", "--auto-approve")
    assert r.exit_code == 0, r.output
    store = LocalBackend(serve.db)
    prior_text = store.fetch_policy().text
    repo.commit(CHANGED)
    plan = tmp_path / "change.plan.json"
    r = repo.run("plan", "-o", str(plan))
    assert r.exit_code == 0, r.output
    assert '# grants["eng-web"] will be updated in-place' in r.output
    data = json.loads(plan.read_text(encoding="utf-8"))
    assert len(data["device_changes"]) == 3
    return Setup(repo, plan, store, data["desired"]["fingerprint"], prior_text)


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def interrupt_during_first_tag(s: Setup, serve: Any, stall: float = 0.6) -> tuple[int, str]:
    """Run the apply in a subprocess, stall its first tag request on the server and send
    it SIGINT there: the policy is pushed, the tags are not (the stalled one lands when
    the stall ends, after the client is gone)."""
    serve.server.faults.push("stall:0@POST", f"stall:{stall}@POST")
    proc = s.apply_process()
    wait_for(lambda: serve.server.faults.pending() == 0)
    time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    time.sleep(stall)  # the server finishes the stalled request
    return proc.returncode, err


def test_ctrl_c_between_the_writes_is_reported_refused_and_resumed(
        make_repo: Callable[..., Repo], serve: Any, tmp_path: Path) -> None:
    s = set_up(make_repo, serve, tmp_path)
    code, err = interrupt_during_first_tag(s, serve)
    assert code == 130, err
    assert "Interrupted." not in err
    assert 'apply of target "tailnet" interrupted part way: done: policy push; remaining: ' \
        'tags of device "exit-1", tags of device "monitoring-1", tags of device ' \
        '"office-router"' in err
    assert "may have landed" in err
    assert "reconciler apply --resume --target tailnet" in err
    assert "Traceback" not in err
    # The journal: the plan's identity, the push with its If-Match, each tag change.
    text = s.journal().read_text(encoding="utf-8")
    data = json.loads(text)
    assert data["target"] == "tailnet" and data["plan_id"].startswith("sha256:")
    assert data["policy"]["push"] and data["policy"]["done"]
    assert data["policy"]["document_fingerprint"] == s.document_fingerprint
    assert data["policy"]["if_match"].strip('"') == text_etag(s.prior_text).strip('"')
    assert [(d["device"], d["before"], d["after"], d["done"]) for d in data["devices"]] == [
        (n, BEFORE[n], AFTER[n], False) for n in ("exit-1", "monitoring-1", "office-router")]
    assert API_KEY not in text
    # Half-applied: the policy and (the stalled request landed late) the first device.
    assert s.live_fingerprint() == s.document_fingerprint
    assert s.tags()["exit-1"] == AFTER["exit-1"]
    assert s.tags()["monitoring-1"] == BEFORE["monitoring-1"]

    # The next plan reports it from the live side, and refuses to plan anything new.
    r = s.repo.run("plan")
    assert r.exit_code == 1, r.output
    assert ('Error: an apply of target "tailnet" was interrupted part way: done: policy push, '
            'tags of device "exit-1"; remaining: tags of device "monitoring-1", tags '
            'of device "office-router"') in r.output
    assert "run `reconciler apply --resume --target tailnet`" in r.output

    # Drift reports it in one line on stderr and checks on.
    r = s.repo.run("drift")
    warnings = [line for line in r.stderr.splitlines() if "was interrupted part way" in line]
    assert len(warnings) == 1 and warnings[0].startswith("Warning: "), r.stderr
    assert "apply --resume --target tailnet" in warnings[0]
    assert r.exit_code == 2  # the tags still pending in git

    # Another apply is refused before it writes anything; so is a plan of every target.
    r = s.repo.run("apply", str(s.plan))
    assert r.exit_code == 1 and "interrupted part way" in r.output, r.output
    r = s.repo.run("plan", "--all")
    assert r.exit_code == 1, r.output
    assert 'error: an apply of target "tailnet" was interrupted part way' in r.output
    r = s.repo.run("apply", "--resume", str(s.plan))
    assert r.exit_code != 0 and "--resume finishes what the journal holds" in r.output

    r = s.repo.run("apply", "--resume")
    assert r.exit_code == 0, r.output
    assert "policy: already the planned document" in r.output
    assert 'device "exit-1": already [tag:exit, tag:staging]' in r.output
    assert 'device "monitoring-1": tags set to [tag:ci, tag:monitoring]' in r.output
    assert 'device "office-router": tags set to [tag:db, tag:exit]' in r.output
    assert "Resume complete!" in r.output
    assert not s.journal().exists()
    assert s.tags() == AFTER
    assert s.live_fingerprint() == s.document_fingerprint

    r = s.repo.run("plan", "--detailed-exitcode")
    assert r.exit_code == 0, r.output
    assert "interrupted" not in r.output
    r = s.repo.run("apply", "--resume")
    assert r.exit_code == 0 and "nothing to resume" in r.output, r.output


def test_resume_refuses_a_device_someone_else_moved_and_writes_nothing(
        make_repo: Callable[..., Repo], serve: Any, tmp_path: Path) -> None:
    s = set_up(make_repo, serve, tmp_path)
    assert interrupt_during_first_tag(s, serve)[0] == 130
    device = next(d for d in s.store.list_devices() if d.name == "office-router")
    s.store.store.set_device_tags(device.id, ["tag:prod"], allowed={"tag:prod"})
    before = (s.store.fetch_policy(), s.tags())
    r = s.repo.run("apply", "--resume")
    assert r.exit_code == 1, r.output
    assert ('cannot resume the interrupted apply: device "office-router" has tags [tag:prod], '
            "neither the planned prior [tag:exit] nor the planned [tag:db, tag:exit]") \
        in r.output
    assert "Nothing was written by this resume" in r.output
    assert f"delete {s.journal()}" in r.output
    assert (s.store.fetch_policy(), s.tags()) == before
    assert s.journal().exists()


def test_resume_refuses_a_policy_someone_else_changed(
        make_repo: Callable[..., Repo], serve: Any, tmp_path: Path) -> None:
    """Interrupted while the push is held on the server; another writer's push lands
    first, so the held one meets another ETag (412) and the policy step is left undone."""
    s = set_up(make_repo, serve, tmp_path)
    serve.server.faults.push("stall:1@POST")
    proc = s.apply_process()
    wait_for(lambda: serve.server.faults.pending() == 0)
    time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "done: nothing; remaining: policy push" in err
    other = s.prior_text.replace("100.101.0.20", "100.101.0.21")
    s.store.push_policy(other, if_match=s.store.fetch_policy().etag)
    time.sleep(1.0)  # the held push ends: refused (412), not stored
    assert s.store.fetch_policy().text == other

    r = s.repo.run("apply", "--resume")
    assert r.exit_code == 1, r.output
    assert "cannot resume the interrupted apply: the live policy changed since the " \
        "interrupted apply" in r.output
    assert s.store.fetch_policy().text == other
    assert s.tags() == BEFORE


def test_a_journal_whose_work_is_done_is_cleared_and_said(
        make_repo: Callable[..., Repo], serve: Any, tmp_path: Path) -> None:
    s = set_up(make_repo, serve, tmp_path)
    assert interrupt_during_first_tag(s, serve)[0] == 130
    allowed = tag_owners(s.store.fetch_policy().text)
    for d in s.store.list_devices():  # someone finished it by hand
        if d.name in AFTER:
            s.store.store.set_device_tags(d.id, AFTER[d.name], allowed=allowed)
    r = s.repo.run("plan", "--detailed-exitcode")
    assert r.exit_code == 0, r.output
    assert ('Note: an interrupted apply of target "tailnet"' in r.stderr
            and "is found complete on the live side; its journal was cleared" in r.stderr)
    assert not s.journal().exists()


def test_a_damaged_journal_is_a_clear_refusal(
        make_repo: Callable[..., Repo], serve: Any, tmp_path: Path) -> None:
    s = set_up(make_repo, serve, tmp_path)
    assert interrupt_during_first_tag(s, serve)[0] == 130
    data = json.loads(s.journal().read_text(encoding="utf-8"))
    data["devices"][0]["done"] = "yes"
    s.journal().write_text(json.dumps(data), encoding="utf-8")
    for args in (("plan",), ("apply", "--resume")):
        r = s.repo.run(*args)
        assert r.exit_code == 1, r.output
        assert f"Error: {s.journal()}: the apply journal is damaged (checksum mismatch)" \
            in r.output
        assert "delete this file" in r.output and "Traceback" not in r.output


def test_a_failed_request_after_the_push_says_the_policy_was_pushed(
        make_repo: Callable[..., Repo], serve: Any, tmp_path: Path) -> None:
    """The fault probe's story: the policy lands, a later request fails; the error says
    what was written and how to finish, and the next command knows."""
    s = set_up(make_repo, serve, tmp_path)
    serve.server.faults.push("stall:0@POST", *["500@POST"] * 6)
    r = s.repo.run("apply", str(s.plan))
    assert r.exit_code == 1, r.output
    assert 'Error: apply of target "tailnet" stopped part way:' in r.output
    assert 'Progress: done: policy push; remaining: tags of device "exit-1"' in r.output
    assert "run `reconciler apply --resume --target tailnet`" in r.output
    serve.server.faults.clear()
    assert s.repo.run("plan").exit_code == 1
    r = s.repo.run("apply", "--resume")
    assert r.exit_code == 0, r.output
    assert s.tags() == AFTER and s.live_fingerprint() == s.document_fingerprint


def test_a_refused_first_push_leaves_no_journal(
        make_repo: Callable[..., Repo], serve: Any, tmp_path: Path) -> None:
    """A stale plan writes nothing: no journal, no report afterwards."""
    s = set_up(make_repo, serve, tmp_path)
    s.store.push_policy(s.prior_text.replace("100.101.0.20", "100.101.0.21"),
                        if_match=s.store.fetch_policy().etag)
    r = s.repo.run("apply", str(s.plan))
    assert r.exit_code == 1 and "Saved plan is stale" in r.output, r.output
    assert not s.journal().exists()
    assert s.tags() == BEFORE


def test_a_push_of_unknown_outcome_keeps_the_journal_and_resume_pushes_it(
        make_repo: Callable[..., Repo], serve: Any, tmp_path: Path) -> None:
    """Every try of the push fails with a 5xx (which may or may not have stored it): the
    journal stays with nothing done; resume finds live still at the planned prior ETag
    and pushes with If-Match, then sets every tag."""
    s = set_up(make_repo, serve, tmp_path)
    serve.server.faults.push(*["500@POST"] * 4)
    r = s.repo.run("apply", str(s.plan))
    assert r.exit_code == 1, r.output
    assert 'Progress: done: nothing; remaining: policy push, tags of device "exit-1"' in r.output
    assert s.store.fetch_policy().text == s.prior_text and s.tags() == BEFORE
    r = s.repo.run("drift")
    assert "was interrupted part way" in r.stderr and "done: nothing" in r.stderr
    r = s.repo.run("apply", "--resume")
    assert r.exit_code == 0, r.output
    assert "policy: pushed (ETag " in r.output
    assert s.live_fingerprint() == s.document_fingerprint and s.tags() == AFTER
    assert not s.journal().exists()

"""Comments survive from git (and from an imported live policy) to the live policy.

Issue 11 item 7: after `import` and `apply --adopt`, the live policy had lost the
comments written in the admin console (`// People`, `// core team`). Fragments' `//` and
`#` comments, and each entry's `description` and `owner`, are now written into the
compiled HuJSON above or beside what they document; comments are no part of the
fingerprint, so a comment-only commit plans as "No changes" and pushes nothing.
Everything goes through the real CLI, real git repositories and `reconciler serve`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import httpx

from reconciler.load import hujson
from tests.plan.conftest import API_KEY, Repo

ACL = "/api/v2/tailnet/-/acl"

CONSOLE = """\
{
	// People
	"groups": {
		// core team
		"group:eng": ["alice@example.com", "bob@example.com"], // on call: bob
		"group:sre": ["frank@example.com"],
	},
	"tagOwners": {"tag:prod": ["group:sre"], "tag:db": ["group:sre"]},
	/* Access:
		least privilege */
	"grants": [
		// web for engineers
		{"src": ["group:eng"], "dst": ["tag:prod"], "ip": ["tcp:443"]},
		{"src": ["group:sre"], "dst": ["tag:prod", "tag:db"], "ip": ["*"]},
	],
}
"""

YAML_GROUPS = """\
# People. grace is on call until 2030.
groups:
  # core team
  group:eng: [alice@example.com, bob@example.com]  # reviewed monthly
  group:sre:
    - frank@example.com  # lead
    - {user: grace@example.com, expires: 2030-01-01, reason: "on-call #1"}
"""

YAML_ACCESS = """\
grants:
  # Engineers reach the web tier.
  - name: eng-web
    description: Web access for engineers
    owner: platform@example.com
    src: [group:eng]
    dst: [tag:prod]
    ip: ["tcp:443"]
  - name: sre-all  # the break-glass rule
    owner: sre@example.com
    src: [group:sre]
    dst: [tag:prod, tag:db]
    ip: ["*"]
  # - src: [group:eng]   (commented out: no db access for engineers)
"""


def _tailscale_repo(make_repo: Callable[..., Repo], url: str,
                    files: dict[str, str] | None = None) -> Repo:
    config = (f"targets:\n  tailnet: {{backend: tailscale, tailnet: '-', "
              f"base_url: '{url}', timeout: 10}}\n")
    repo = make_repo(config=config, files=files)
    repo.env = {"TS_API_KEY": API_KEY}
    return repo


def _live(url: str) -> str:
    with httpx.Client(base_url=url, auth=(API_KEY, ""), timeout=10) as c:
        return c.get(ACL).text


def _console_write(url: str, text: str) -> None:
    with httpx.Client(base_url=url, auth=(API_KEY, ""), timeout=10) as c:
        etag = c.get(ACL).headers["ETag"]
        r = c.post(ACL, content=text, headers={"Content-Type": "application/hujson",
                                                "If-Match": etag})
        assert r.status_code == 200, r.text


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines()]


def _above(text: str, comment: str, what: str) -> bool:
    """Whether the line right after the line `comment` starts with `what`."""
    lines = _lines(text)
    return any(line == comment and lines[i + 1].startswith(what)
               for i, line in enumerate(lines[:-1]))


def test_import_then_adopt_keeps_the_console_comments(
        make_repo: Callable[..., Repo], serve: Any) -> None:
    _console_write(serve.url, CONSOLE)
    repo = _tailscale_repo(make_repo, serve.url)
    r = repo.run("import", "--force", "--syntax", "hujson")
    assert r.exit_code == 0, r.output
    groups = (repo.root / "policies" / "groups.hujson").read_text()
    assert "// People" in groups and "// core team" in groups
    repo.commit(message="import")

    # A real change, so that apply --adopt pushes the compiled document.
    groups = groups.replace('"frank@example.com"]', '"frank@example.com", "carol@example.com"]')
    repo.commit({"policies/groups.hujson": groups}, "carol joins sre")
    r = repo.run("apply", "--adopt", "--auto-approve")
    assert r.exit_code == 0, r.output

    live = _live(serve.url)
    assert "carol@example.com" in live and "// reconciler: commit=" in live
    assert _above(live, "// People", '"groups": {'), live
    assert _above(live, "// core team", '"group:eng": ['), live
    assert re.search(r'"group:eng": \[.*\], // on call: bob$', live, re.M), live
    assert _above(live, "// least privilege", '"grants": ['), live
    assert _above(live, "// web for engineers", "{"), live
    assert hujson.format(live) == live


def test_yaml_comments_description_and_owner_sit_above_their_entries(
        make_repo: Callable[..., Repo], serve: Any) -> None:
    from tests.plan.conftest import DESIRED

    files = {**DESIRED, "policies/groups.yaml": YAML_GROUPS,
             "policies/access.yaml": YAML_ACCESS}
    repo = _tailscale_repo(make_repo, serve.url, files)
    r = repo.run("compile", "--format", "hujson")
    assert r.exit_code == 0, r.output
    text = r.stdout
    assert hujson.format(text) == text
    assert _above(text, "// People. grace is on call until 2030.", '"groups": {'), text
    assert _above(text, "// core team", '"group:eng":'), text
    assert re.search(r'"group:eng": +\[.*\], // reviewed monthly$', text, re.M), text
    assert re.search(r'"frank@example.com", // lead$', text, re.M), text
    # The rule's own comment, then its description and owner, right above it.
    lines = _lines(text)
    first = lines.index("// Engineers reach the web tier.")
    assert lines[first:first + 4] == [
        "// Engineers reach the web tier.", "// Web access for engineers",
        "// owner: platform@example.com", "{"], text
    second = lines.index("// the break-glass rule")
    assert lines[second:second + 3] == [
        "// the break-glass rule", "// owner: sre@example.com", "{"], text
    assert "// - src: [group:eng]   (commented out: no db access for engineers)" in lines
    assert "on-call #1" not in text  # a "#" inside a quoted string is no comment

    # JSON has no comments; the data is the same.
    r = repo.run("compile", "--format", "json")
    assert r.exit_code == 0, r.output
    assert "//" not in r.stdout
    assert json.loads(r.stdout) == hujson.loads(text)

    # apply pushes the same commented document.
    r = repo.run("apply", "--adopt", "--auto-approve")
    assert r.exit_code == 0, r.output
    live = _live(serve.url)
    body = text[text.index("{"):]
    assert live.endswith(body), live


def test_a_comment_only_change_is_no_change(
        make_repo: Callable[..., Repo], serve: Any) -> None:
    from tests.plan.conftest import DESIRED

    files = {**DESIRED, "policies/groups.yaml": YAML_GROUPS,
             "policies/access.yaml": YAML_ACCESS}
    repo = _tailscale_repo(make_repo, serve.url, files)
    r = repo.run("apply", "--adopt", "--auto-approve")
    assert r.exit_code == 0, r.output
    before = _live(serve.url)

    repo.commit({
        "policies/groups.yaml": YAML_GROUPS.replace("# core team", "# core team, on call"),
        "policies/access.yaml": YAML_ACCESS.replace(
            "description: Web access for engineers", "description: Web tier, engineers"),
    }, "comments only")
    r = repo.run("plan", "--detailed-exitcode")
    assert r.exit_code == 0, r.output
    assert "No changes" in r.output
    r = repo.run("apply", "--auto-approve")
    assert r.exit_code == 0, r.output
    assert _live(serve.url) == before  # nothing pushed
    assert repo.run("drift").exit_code == 0


def test_yaml_comments_in_flow_lists_and_block_scalars(
        make_repo: Callable[..., Repo]) -> None:
    from tests.plan.conftest import DESIRED

    access = """\
grants:
  - src: [group:eng,   # engineers
          group:sre]   # and ops
    dst: [tag:prod]
    ip: ["*"]
    description: |
      Shared access # not a comment
      # nor this
  - name: db  # who may reach the databases
    src: [group:sre]
    dst: [tag:db]
    ip: ["tcp:5432"]
"""
    repo = make_repo(files={**DESIRED, "policies/access.yaml": access})
    r = repo.run("compile")
    assert r.exit_code == 0, r.output
    text = r.stdout
    assert hujson.format(text) == text
    assert re.search(r'^\t+"group:eng", // engineers$', text, re.M), text
    assert re.search(r'^\t+"group:sre", // and ops$', text, re.M), text
    # The block scalar is the description, written as comment lines; nothing inside
    # it was taken for a comment of its own.
    lines = _lines(text)
    first = lines.index("// Shared access # not a comment")
    assert lines[first:first + 3] == ["// Shared access # not a comment", "// # nor this",
                                      "{"], text
    # A comment beside a stripped `name:` heads its entry.
    second = lines.index("// who may reach the databases")
    assert lines[second + 1] == "{", text


def test_comments_follow_their_entries_across_fragments_and_expiry(
        make_repo: Callable[..., Repo]) -> None:
    from tests.plan.conftest import DESIRED

    groups = """\
groups:
  group:eng: [alice@example.com]
  group:sre:
    # gone by now
    - {user: grace@example.com, expires: 2020-01-01}
    - frank@example.com  # stays
"""
    first = """\
# first fragment
grants:
  # expired long ago
  - src: [group:eng]
    dst: [tag:db]
    ip: ["*"]
    expires: 2020-01-01
  # web
  - src: [group:eng]
    dst: [tag:prod]
    ip: ["tcp:443"]
"""
    second = """\
{
	// second fragment
	"grants": [
		// sre everywhere
		{"src": ["group:sre"], "dst": ["tag:prod", "tag:db"], "ip": ["*"]},
	],
}
"""
    files = {**DESIRED, "policies/groups.yaml": groups, "policies/access.yaml": first,
             "policies/more.hujson": second}
    repo = make_repo(files=files)
    r = repo.run("compile")
    assert r.exit_code == 0, r.output
    text = r.stdout
    assert hujson.format(text) == text
    assert "expired long ago" not in text and "gone by now" not in text
    assert re.search(r'"group:sre": \["frank@example.com"\], // stays$|'
                     r'^\t+"frank@example.com", // stays$', text, re.M), text
    lines = _lines(text)
    head = lines.index("// first fragment")
    assert lines[head:head + 3] == ["// first fragment", "// second fragment",
                                    '"grants": ['], text
    data = hujson.loads(text)
    web, sre = data["grants"]
    assert web["dst"] == ["tag:prod"] and sre["src"] == ["group:sre"]
    assert lines[lines.index("// web") + 1] == "{"
    assert lines[lines.index("// sre everywhere") + 1] == "{"
    assert lines.index("// web") < lines.index("// sre everywhere")

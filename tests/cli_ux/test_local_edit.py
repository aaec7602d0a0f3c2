"""`reconciler local edit` with no --file/--set opens $VISUAL/$EDITOR, like `git commit`.

The editor is a small script (run by the real CLI through the shell, as any editor
is); the store is the real local SQLite store.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import cli


def editor(tmp_path: Path, body: str) -> str:
    """An $EDITOR command running `body` (Python; `path` is the file to edit)."""
    script = tmp_path / "editor.py"
    script.write_text("import sys\nfrom pathlib import Path\npath = Path(sys.argv[1])\n"
                      + body, encoding="utf-8")
    return f"{shlex.quote(sys.executable)} {shlex.quote(str(script))}"


def run(tmp_path: Path, env: dict[str, str], *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["local", *args, "--db", str(tmp_path / "x.db")],
                                env=env)
    return result.exit_code, result.output


def history(tmp_path: Path) -> list[str]:
    code, out = run(tmp_path, {}, "history", "--format", "json")
    assert code == 0, out
    return [h["source"] for h in json.loads(out)["entries"]]


def test_the_editor_edits_the_stored_policy(tmp_path: Path) -> None:
    change = editor(tmp_path, (
        "text = path.read_text()\n"
        "assert '\"acls\"' in text, text  # the stored policy, not an empty file\n"
        "path.write_text(text.replace('\"acls\"', '\"groups\": {\"group:ops\": "
        "[\"alice@example.com\"]},\\n  \"acls\"', 1))\n"))
    code, out = run(tmp_path, {"VISUAL": change, "EDITOR": "false"}, "edit")
    assert code == 0, out
    assert "Stored the edited policy" in out
    assert history(tmp_path) == ["seed", "edit"]
    code, stored = run(tmp_path, {}, "history", "--text", "2")
    assert '"group:ops"' in stored


@pytest.mark.parametrize(("body", "needle"), [
    ("pass\n", "the policy was not changed: nothing was stored"),
    ("path.write_text('  \\n')\n", "the edited policy is empty: nothing was stored"),
    ("sys.exit(3)\n", "Editing failed"),
])
def test_nothing_stored_when_the_edit_is_abandoned(tmp_path: Path, body: str, needle: str
                                                   ) -> None:
    history(tmp_path)  # seeds the store
    code, out = run(tmp_path, {"EDITOR": editor(tmp_path, body), "VISUAL": ""}, "edit")
    assert code == 1, out
    assert needle in out
    assert "Traceback" not in out
    assert history(tmp_path) == ["seed"]


@pytest.mark.parametrize(("body", "needle"), [
    # A syntax error: named with the kept file's line:col.
    ("path.write_text('{\\n  \"acls\": [\\n    {\"action\": \"accept\" \"src\": []}]}\\n')\n",
     ":3:25: invalid character"),
    # Valid HuJSON that the control plane refuses.
    ("path.write_text(path.read_text().replace('\"accept\"', '\"allow\"'))\n",
     'action="allow" is not supported'),
])
def test_an_invalid_edit_is_refused_and_kept(tmp_path: Path, body: str, needle: str) -> None:
    history(tmp_path)
    code, out = run(tmp_path, {"EDITOR": editor(tmp_path, body), "VISUAL": ""}, "edit")
    assert code == 1, out
    assert needle in out and "nothing was stored" in out
    assert history(tmp_path) == ["seed"]
    kept = out.split("Your edit is kept in ", 1)[1].split(":", 1)[0]
    assert Path(kept).is_file()
    assert f"reconciler local edit --file {kept}" in out
    Path(kept).unlink()


def test_file_and_set_together_are_a_usage_error(tmp_path: Path) -> None:
    policy = tmp_path / "p.hujson"
    policy.write_text("{}")
    code, out = run(tmp_path, {}, "edit", "--file", str(policy), "--set", "groups", "{}")
    assert code == 1
    assert "give only one of --file or --set" in out


def test_no_editor_and_no_terminal_is_a_usage_error(tmp_path: Path) -> None:
    history(tmp_path)
    code, out = run(tmp_path, {"EDITOR": "", "VISUAL": ""}, "edit")
    assert code == 1, out
    assert "no editor to open: set $EDITOR" in out
    assert history(tmp_path) == ["seed"]

"""Fragments point editors at the JSON Schema, and the pointer resolves in the repo.

`init` writes schema/policy-fragment.schema.json and starts every YAML fragment with the
yaml-language-server line naming it; a JSON/HuJSON fragment may carry `"$schema"`.
Neither reaches the compiled policy.
"""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.load.fragment_schema import schema_text

YAML_LINE = re.compile(r"^# yaml-language-server: \$schema=(\S+)$")


def run(root: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["-C", str(root), *args])
    return result.exit_code, result.output


def test_init_scaffolds_fragments_whose_schema_resolves(tmp_path: Path) -> None:
    code, out = run(tmp_path, "init")
    assert code == 0, out
    assert "created schema/policy-fragment.schema.json" in out
    schema = tmp_path / "schema" / "policy-fragment.schema.json"
    assert schema.read_text() == schema_text()
    fragments = sorted((tmp_path / "policies").rglob("*.yaml"))
    assert len(fragments) >= 3
    for path in fragments:
        match = YAML_LINE.match(path.read_text().splitlines()[0])
        assert match, path
        assert (path.parent / match.group(1)).resolve() == schema.resolve()
    code, out = run(tmp_path, "validate")
    assert code == 0, out
    code, compiled = run(tmp_path, "compile")
    assert code == 0, compiled
    assert "yaml-language-server" not in compiled and "$schema" not in compiled


def test_a_hujson_fragment_may_name_its_schema(tmp_path: Path) -> None:
    assert run(tmp_path, "init")[0] == 0
    (tmp_path / "policies" / "hosts.hujson").write_text(
        '{\n  "$schema": "../schema/policy-fragment.schema.json",\n'
        '  "hosts": {"wiki": "100.101.0.20"},\n}\n')
    code, out = run(tmp_path, "validate")
    assert code == 0, out
    code, compiled = run(tmp_path, "compile")
    assert code == 0, compiled
    assert '"wiki"' in compiled and "$schema" not in compiled

"""The committed JSON Schema: generated from the model, accepts policies/, rejects junk."""

from __future__ import annotations

import json

import jsonschema
import pytest

from reconciler.load.fragment_schema import schema_text
from reconciler.load.yamlsource import load_yaml
from tests.conftest import REPO_ROOT

SCHEMA_FILE = REPO_ROOT / "schema" / "policy-fragment.schema.json"


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_FILE.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_committed_schema_is_current() -> None:
    assert SCHEMA_FILE.read_text() == schema_text(), (
        "schema/policy-fragment.schema.json is stale: run "
        "`reconciler schema -o schema/policy-fragment.schema.json`"
    )


def test_every_example_fragment_is_accepted(validator) -> None:
    files = sorted((REPO_ROOT / "policies").rglob("*.yaml"))
    assert len(files) >= 8
    for path in files:
        # Parse as editors do (YAML 1.2: dates stay strings), via the project's loader.
        data, _, problems = load_yaml(path.read_text(), file=str(path))
        assert not problems
        errors = [e.message for e in validator.iter_errors(data)]
        assert errors == [], f"{path}: {errors}"
        first = path.read_text().splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema=")


@pytest.mark.parametrize(
    ("fragment", "fragment_error"),
    [
        ({"grnats": []}, "Additional properties are not allowed ('grnats' was unexpected)"),
        ({"grants": [{"src": "group:eng", "dst": ["*"], "ip": ["*"]}]}, "is not of type 'array'"),
        ({"acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"], "bogus": 1}]},
         "'bogus' was unexpected"),
        ({"groups": {"eng": ["a@example.com"]}}, "does not match '^group:'"),
        ({"groups": {"group:eng": [{"expires": "2026-01-01"}]}}, "is not valid under any"),
        ({"grants": [{"name": "", "src": ["*"], "dst": ["*"], "ip": ["*"]}]}, "should be non-empty"),
        ({"devices": {"db-1": {"tags": ["prod"]}}}, "does not match '^tag:'"),
        ({"tests": [{"src": "a@example.com", "accept": ["x:1"], "expires": "soon"}]},
         "does not match"),
    ],
)
def test_malformed_fragments_are_rejected(validator, fragment, fragment_error) -> None:
    errors = [e.message for e in validator.iter_errors(fragment)]
    assert any(fragment_error in e for e in errors), errors


def test_schema_command_prints_the_same_schema() -> None:
    from click.testing import CliRunner

    from reconciler.cli import cli

    result = CliRunner().invoke(cli, ["schema"])
    assert result.exit_code == 0
    assert result.stdout == SCHEMA_FILE.read_text()

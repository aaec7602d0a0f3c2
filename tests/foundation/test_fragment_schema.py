"""The committed JSON Schema: generated from the model, accepts policies/, rejects junk."""

from __future__ import annotations

import json

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.load import hujson
from reconciler.load.fragment_schema import schema_text
from reconciler.load.yamlsource import load_yaml
from reconciler.validate.ports import (
    PortError,
    ProtoError,
    parse_grant_ip,
    parse_ports,
    parse_proto,
    split_acl_dst,
)
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
    scaffold = sorted((REPO_ROOT / "reconciler" / "scaffold" / "policies").rglob("*.yaml"))
    assert len(scaffold) >= 3
    for path in files + scaffold:
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
        ({"devices": {"db-1": {"tags": ["prod"]}}}, "does not match '^tag:"),
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


# What `reconciler validate` refuses and a schema can express, and the fields Tailscale's
# documentation requires (an acl's and a grant's src and dst): each is refused by the
# schema too, so an editor flags it while it is typed. (Each was accepted before.)
REFUSED = [
    ({"acls": [{"action": "allow", "src": ["*"], "dst": ["*:*"]}]}, "'allow' is not one of"),
    ({"acls": [{"src": ["*"], "dst": ["*:*"]}]}, "'action' is a required property"),
    ({"acls": [{"action": "accept", "dst": ["*:*"]}]}, "is not valid under any"),
    ({"acls": [{"action": "accept", "src": ["*"], "dst": ["*:99999"]}]}, "does not match"),
    ({"acls": [{"action": "accept", "src": ["*"], "dst": ["tag:web"]}]}, "does not match"),
    ({"acls": [{"action": "accept", "src": ["*"], "dst": ["*:0"]}]}, "does not match"),
    ({"acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"], "proto": "tcpp"}]},
     "does not match"),
    ({"grants": [{"src": ["*"], "ip": ["*"]}]}, "'dst' is a required property"),
    ({"grants": [{"dst": ["*"], "ip": ["*"]}]}, "'src' is a required property"),
    ({"grants": [{"src": ["*"], "dst": ["*"]}]}, "is not valid under any"),
    ({"grants": [{"src": ["*"], "dst": ["*"], "ip": []}]}, "is not valid under any"),
    ({"grants": [{"src": ["*"], "dst": ["*"], "ip": ["tcp:99999"]}]}, "does not match"),
    ({"grants": [{"src": ["*"], "dst": ["*"], "ip": ["icmp"]}]}, "does not match"),
    ({"grants": [{"src": ["*"], "dst": ["*"], "ip": ["icmp:22"]}]}, "does not match"),
    ({"grants": [{"src": ["autogroup:self"], "dst": ["*"], "ip": ["*"]}]}, "does not match"),
    ({"grants": [{"src": ["*"], "dst": ["autogroup:danger-all"], "ip": ["*"]}]},
     "does not match"),
    ({"ssh": [{"action": "Accept", "src": ["group:a"], "dst": ["tag:b"], "users": ["root"]}]},
     "'Accept' is not one of ['accept', 'check']"),
    ({"ssh": [{"action": "accept", "src": ["group:a"], "dst": ["tag:b"]}]},
     "'users' is a required property"),
    ({"ssh": [{"action": "accept", "src": ["group:a"], "dst": ["tag:b"], "users": []}]},
     "should be non-empty"),
    ({"ssh": [{"action": "accept", "src": ["autogroup:internet"], "dst": ["tag:b"],
               "users": ["root"]}]}, "does not match"),
    ({"tests": [{"accept": ["tag:b:22"]}]}, "is not valid under any"),
    ({"tests": [{"src": "a@example.com"}]}, "is not valid under any"),
    ({"tests": [{"src": "a@example.com", "accept": ["tag:b:65536"]}]}, "does not match"),
    ({"tests": [{"src": "a@example.com", "accept": ["tag:b:22-23"]}]}, "does not match"),
    ({"tagOwners": {"tag:-web": []}}, "does not match '^tag:[A-Za-z]'"),
    ({"tagOwners": {"tag:web": ["autogroup:self"]}}, "does not match"),
    ({"hosts": {"db": "10.0.0.0/33"}}, "does not match"),
    ({"hosts": {"db": "10.0.0.256"}}, "does not match"),
    ({"groups": {"group:eng": ["tag:web"]}}, "is not valid under any"),
    ({"postures": {"mac": ["node:os == 'macos'"]}}, "does not match '^posture:'"),
]


def _messages(errors) -> list[str]:
    """Every message, with those of the alternatives an anyOf tried."""
    out = []
    for error in errors:
        out.append(error.message)
        out += _messages(error.context or [])
    return out


@pytest.mark.parametrize(("fragment", "fragment_error"), REFUSED)
def test_what_tailscale_refuses_the_schema_refuses(validator, fragment, fragment_error
                                                   ) -> None:
    errors = _messages(validator.iter_errors(fragment))
    assert any(fragment_error in e for e in errors), errors


@pytest.mark.parametrize("action", ["accept", " accept", "accept  ", "check"])
def test_what_tailscale_accepts_the_schema_accepts(validator, action: str) -> None:
    rule = {"action": action, "src": ["group:a"], "dst": ["tag:b"], "users": ["root"],
            "acceptEnv": None}
    assert _accepts(validator, {"ssh": [rule]})


def test_policies_tailscale_accepted_are_accepted(validator) -> None:
    """The schema never refuses what Tailscale accepts: every policy of the SaaS
    recordings (tests/data/conformance) that was stored (200) passes it."""
    checked = 0
    for path in sorted((REPO_ROOT / "tests/data/conformance/tailscale-saas").glob("*.json")):
        for record in json.loads(path.read_text())["records"]:
            if record["api_response_code"] != 200:
                continue
            policy = record["policy"]
            if isinstance(policy, str):
                policy = hujson.loads(policy)
            errors = [e.message for e in validator.iter_errors(policy)]
            assert errors == [], f"{record['id']}: {errors}"
            checked += 1
    assert checked >= 300


def _accepts(validator, fragment) -> bool:
    return not any(True for _ in validator.iter_errors(fragment))


def _model_ok(parse, text: str) -> bool:
    try:
        parse(text)
    except (PortError, ProtoError):
        return False
    return True


PORTISH = st.text(alphabet="0123456789-,* :", max_size=14) | st.sampled_from(
    ["0", "1", "65535", "65536", "99999", "00080", "1-65535", "2-1", "*", "22,*", " 22 , 80",
     "-1", "1-", ",", "", "0-1"])
IPISH = PORTISH | st.sampled_from(
    ["tcp:22", "TCP:22", "udp:1-2", "sctp:*", "icmp:*", "icmp:22", "icmp", "6:22", "58:*",
     "255:*", "256:*", "0:*", "06:*", "tcp:", ":22", "tcp:22:1", "esp:*", " udp : 53 ",
     "ipv6-icmp:*"]) | st.builds("{}:{}".format, st.sampled_from(
        ["tcp", "udp", "icmp", "17", "1", "gre", "x"]), PORTISH)


@given(PORTISH)
def test_the_port_pattern_agrees_with_the_model(validator, ports: str) -> None:
    """An acl dst's ports pass the schema exactly when validate's parser takes them
    (the one thing it leaves out: a range whose end is below its start)."""
    dst = f"tag:web:{ports}"
    fragment = {"acls": [{"action": "accept", "src": ["*"], "dst": [dst]}]}
    try:
        parse_ports(split_acl_dst(dst).ports)
        model = True
    except PortError as e:
        if "last port must be >= first port" in str(e):
            return
        model = False
    assert _accepts(validator, fragment) == model, ports


@given(IPISH)
def test_the_grant_ip_pattern_agrees_with_the_model(validator, ip: str) -> None:
    fragment = {"grants": [{"src": ["*"], "dst": ["*"], "ip": [ip]}]}
    try:
        parse_grant_ip(ip)
        model = True
    except (PortError, ProtoError) as e:
        if "last port must be >= first port" in str(e):
            return
        model = False
    assert _accepts(validator, fragment) == model, ip


@given(st.text(alphabet="0123456789tcpudTCPsgrei- ", max_size=5))
def test_the_proto_pattern_agrees_with_the_model(validator, proto: str) -> None:
    fragment = {"acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"], "proto": proto}]}
    assert _accepts(validator, fragment) == _model_ok(parse_proto, proto), proto

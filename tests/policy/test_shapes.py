"""Unknown keys with did-you-mean, wrong types, and the schema vocabulary."""

from __future__ import annotations

from reconciler.core.problems import Problem, Severity
from reconciler.core.source import Location
from reconciler.validate.schema import ENTRY_TYPES, TOP_LEVEL
from reconciler.validate.validate import validate_policy

from .helpers import FILE, acl, errors, messages, policy, source_map


def test_unknown_top_level_key_suggests_the_close_one() -> None:
    doc = policy(grnats=[])
    sm = source_map(("grnats",))
    assert errors(doc, sm) == [
        Problem(
            'unknown field "grnats" (did you mean "grants"?)',
            Location(FILE, 10, 3),  # the key, not the value
            code="unknown-field",
        )
    ]


def test_unknown_key_without_a_close_match() -> None:
    assert messages(policy(zzzzzz=1)) == ['unknown field "zzzzzz"']


def test_unknown_keys_inside_every_entry_type() -> None:
    doc = policy(
        acls=[{**acl(["*"], ["*:*"]), "dts": []}],
        grants=[{"src": ["*"], "dst": ["*"], "ip": ["*"], "vai": []}],
        ssh=[
            {
                "action": "accept",
                "src": ["group:eng"],
                "dst": ["tag:web"],
                "users": ["root"],
                "checkPeriods": "1h",
            }
        ],
        nodeAttrs=[{"target": ["*"], "atr": ["x"]}],
        tests=[{"src": "alice@example.com", "accept": ["tag:web:80"], "denny": []}],
        sshTests=[{"src": "alice@example.com", "dst": ["tag:web"], "accept": ["root"], "chek": []}],
        autoApprovers={"route": {}},
        attrConfig={"custom:x": {"type": "string", "allowSetByNod": True}},
    )
    assert messages(doc) == [
        'acls[0]: unknown field "dts" (did you mean "dst"?)',
        'grants[0]: unknown field "vai" (did you mean "via"?)',
        'ssh[0]: unknown field "checkPeriods" (did you mean "checkPeriod"?)',
        'nodeAttrs[0]: unknown field "atr" (did you mean "attr"?)',
        'tests[0]: unknown field "denny" (did you mean "deny"?)',
        'sshTests[0]: unknown field "chek" (did you mean "check"?)',
        'autoApprovers: unknown field "route" (did you mean "routes"?)',
        'attrConfig["custom:x"]: unknown field "allowSetByNod" (did you mean "allowSetByNode"?)',
    ]


def test_wrong_types_name_the_expected_type() -> None:
    doc = policy(
        acls=[{"action": "accept", "src": "group:eng", "dst": ["*:*"]}, "not a rule"],
        groups={"group:eng": ["alice@example.com", 42]},
        hosts=["db1"],
        randomizeClientPort="yes",
        tests=[{"src": ["alice@example.com"], "accept": ["tag:web:80"]}],
    )
    sm = source_map(("acls", 0, "src"), ("groups", "group:eng", 1))
    problems = errors(doc, sm)
    # Problems come in document order: BASE's groups and hosts first.
    assert [(p.message, p.location) for p in problems] == [
        ('groups["group:eng"][1]: expected a string, got integer', Location(FILE, 20, 5)),
        ("hosts: expected an object, got array", None),
        ("acls[0].src: expected a list of strings, got string", Location(FILE, 10, 5)),
        ("acls[1]: expected an object, got string", None),
        ("randomizeClientPort: expected a boolean, got string", None),
        ("tests[0].src: expected a string, got array", None),
        ("tests[0]: src must be specified", None),
    ]
    assert all(p.code in ("type", "test-shape") for p in problems)


def test_null_means_absent() -> None:
    doc = policy(
        acls=None,
        grants=[{"src": ["*"], "dst": ["*"], "ip": ["*"], "via": None, "srcPosture": None}],
        hosts=None,
        groups=None,
        tagOwners={"tag:web": []},
    )
    assert messages(doc) == []


def test_null_as_an_item_or_a_named_value_is_an_error() -> None:
    """Go reads these as "" or an empty rule; nothing after validation expects that."""
    doc = policy(
        grants=[None, {"src": [None], "dst": ["*"], "ip": ["*"]}],
        hosts={"db": None},
        tagOwners={"tag:web": None},
    )
    assert sorted(messages(doc)) == [
        'grants[0]: expected an object, got null (remove the empty item)',
        'grants[1].src[0]: expected a string, got null (remove the empty item)',
        'hosts["db"]: expected a string, got null (give it a value, or remove it)',
        'tagOwners["tag:web"]: expected a list of strings, got null (write [] for none)',
    ]


def test_case_only_mismatch_is_a_warning() -> None:
    doc = policy(ACLs=[acl(["*"], ["*:*"])])
    [problem] = validate_policy(doc)
    assert problem.severity is Severity.WARNING
    assert problem.message == 'field "ACLs" differs only in case from "acls"; write "acls"'


def test_both_cgnat_spellings_are_known() -> None:
    assert messages(policy(OneCGNATRoute="mac-always")) == []
    assert messages(policy(oneCGNATRoute="")) == []


def test_policy_must_be_an_object() -> None:
    [problem] = validate_policy(["acls"])
    assert problem.message == "a policy document must be an object, got array"


def test_schema_covers_the_documented_sections() -> None:
    for name in (
        "acls",
        "grants",
        "ssh",
        "groups",
        "tagOwners",
        "hosts",
        "ipsets",
        "postures",
        "defaultSrcPosture",
        "autoApprovers",
        "nodeAttrs",
        "tests",
        "sshTests",
        "derpMap",
        "disableIPv4",
        "OneCGNATRoute",
        "randomizeClientPort",
        "attrConfig",
    ):
        assert name in TOP_LEVEL
    for spec in TOP_LEVEL.values():
        assert spec.entry is None or spec.entry in ENTRY_TYPES
    for fields in ENTRY_TYPES.values():
        for spec in fields.values():
            assert spec.entry is None or spec.entry in ENTRY_TYPES
            assert spec.alias_of is None or spec.alias_of in fields or spec.alias_of in TOP_LEVEL

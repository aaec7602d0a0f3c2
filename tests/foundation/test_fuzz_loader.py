"""Property: no malformed fragment makes the loader or validator crash or go vague.

Whatever the bytes, loading either succeeds or raises PolicyError whose every problem
is one line with the fragment's file:line:col. Thousands of generated fragments:
random text, valid-looking policies with wrong types and unknown keys, broken HuJSON.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.core.problems import Problem
from reconciler.load.desired import check_desired, merge_fragments, parse_fragment
from tests.conftest import examples

NOW = datetime(2026, 11, 23, tzinfo=timezone.utc)
SECTIONS = ["acls", "grants", "ssh", "groups", "tagOwners", "hosts", "ipsets", "postures",
            "defaultSrcPosture", "autoApprovers", "nodeAttrs", "tests", "sshTests", "derpMap",
            "randomizeClientPort", "devices", "grnats"]
FIELDS = ["action", "src", "dst", "proto", "ip", "app", "via", "users", "accept", "deny",
          "check", "srcPosture", "name", "expires", "description", "owner", "target", "attr",
          "checkPeriod", "acceptEnv", "user", "ports", "bogus"]
ATOMS = ["*", "*:*", "tag:prod", "tag:prod:22", "group:eng", "alice@example.com",
         "autogroup:self", "autogroup:internet", "autogroup:danger-all", "100.64.0.1",
         "10.0.0.0/8", "10.0.0.0/33", "tcp:0", "udp:1-", "icmp", "22", "65536", "accept",
         "check", "deny", "root", "host:db", "ipset:x", "posture:x", "node:os == 'linux'",
         "2026-01-01", "not-a-date", "", " ", "[::1]:22", "tag:", ":"]

scalars = st.one_of(st.sampled_from(ATOMS), st.integers(-5, 70000), st.booleans(), st.none(),
                    st.text(max_size=8))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(FIELDS + ATOMS), st.text(max_size=6)),
                        inner, max_size=4),
    ),
    max_leaves=12,
)
fragments = st.dictionaries(st.sampled_from(SECTIONS), values, max_size=5)


def check(problems: list[Problem], files: set[str]) -> None:
    for problem in problems:
        assert problem.message and "\n" not in problem.message, problem
        assert problem.location is not None, problem
        assert problem.location.file in files, problem
        assert problem.location.line >= 1 and problem.location.col >= 1


def load(files: dict[str, bytes]) -> list[Problem]:
    problems: list[Problem] = []
    frags = []
    for name, raw in sorted(files.items()):
        frag, found = parse_fragment(name, raw)
        problems.extend(found)
        if frag is not None:
            frags.append(frag)
    desired = merge_fragments(frags, now=NOW, problems=problems)
    problems.extend(check_desired(desired))
    return problems


FUZZ = settings(max_examples=examples(1500), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@FUZZ
@given(st.text(max_size=200))
def test_random_text_as_yaml_and_hujson(text: str) -> None:
    files = {"policies/a.yaml": text.encode(), "policies/b.hujson": text.encode()}
    check(load(files), set(files))


@FUZZ
@given(fragments, fragments)
def test_policy_shaped_fragments_with_wrong_types(a: dict, b: dict) -> None:
    files = {
        "policies/a.yaml": yaml.safe_dump(a, sort_keys=False).encode(),
        "policies/b.json": json.dumps(b, indent=1).encode(),
    }
    check(load(files), set(files))


@FUZZ
@given(fragments, st.integers(0, 400), st.sampled_from(["", "}", "]", ",", "//", "/*", '"', "\\"]))
def test_truncated_and_spliced_hujson(data: dict, cut: int, splice: str) -> None:
    text = json.dumps(data, indent=2)
    broken = text[:cut] + splice + text[cut:]
    files = {"policies/p.hujson": broken.encode("utf-8", "surrogatepass")}
    check(load(files), set(files))

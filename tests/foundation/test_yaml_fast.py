"""The libyaml composer against the pure-Python one: the same data, the same locations
for every value and key, the same problems (errors always come from the pure-Python
parser, in its words)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.load import yamlsource
from tests.conftest import REPO_ROOT, examples
from tests.foundation.test_fuzz_loader import fragments

pytestmark = pytest.mark.skipif(yamlsource._FAST_LOADER is None,
                                reason="PyYAML was built without libyaml")


def both(text: str) -> tuple[object, object]:
    fast = yamlsource.load_yaml(text, file="f.yaml")
    original = yamlsource._FAST_LOADER
    yamlsource._FAST_LOADER = None
    try:
        slow = yamlsource.load_yaml(text, file="f.yaml")
    finally:
        yamlsource._FAST_LOADER = original
    return _plain(fast), _plain(slow)


def _plain(result: tuple) -> tuple:
    data, sources, problems = result
    return data, dict(sources.items()), [str(p) for p in problems]


TRICKY = [
    "a: é€😀 x\nb: [ü, 'ß', \"日本\"]\nc: {d: ñ}\n",  # columns count characters
    "a: 1\r\nb:\r\n  - x\r\n  - y\r\n",  # CRLF
    "\ufeffa: 1\n",  # byte order mark
    "a: |\n  line 1\n  line 2\nb: >-\n  folded\n  text\nc: 'it''s'\n",
    "x: &anchor [1, 2]\ny: *anchor\n",
    "a: 0x1F\nb: 1_000\nc: .inf\nd: ~\ne: yes\nf: 2026-01-01\ng: 1.5e3\nh: 0o17\n",
    "# comment\na:   # trailing\n  - {k: v}   # more\n",
    "a: 1\na: 2\n",  # duplicate key: a problem from our builder
    "<<: {a: 1}\n",  # merge key
    "? [1, 2]\n: v\n",  # non-string key
    "a: !!binary aGk=\n",  # exotic tag
    "a: [1, 2\n",  # syntax error: pure-Python wording
    "a: b: c\n",
    "\ta: 1\n",  # a tab where indentation goes
    "a: \x07\n",  # a character YAML does not allow
    "a: \x85b\n",  # NEL: allowed by PyYAML's reader
    "---\na: 1\n---\nb: 2\n",  # two documents
    "",
    "%YAML 1.1\n---\na: 1\n",
    "%YAML 1.2\n---\na: 1\n",
    "a: '\\ud800'\n",
]


@pytest.mark.parametrize("text", TRICKY)
def test_tricky_texts_load_alike(text: str) -> None:
    fast, slow = both(text)
    assert fast == slow


def test_the_example_policies_load_alike() -> None:
    for path in sorted((REPO_ROOT / "policies").glob("*.yaml")):
        fast, slow = both(path.read_text(encoding="utf-8"))
        assert fast == slow, path


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fragments, st.sampled_from(["block", "flow", "default"]))
def test_generated_fragments_load_alike(fragment: dict, style: str) -> None:
    flow = {"block": False, "flow": True, "default": None}[style]
    text = yaml.safe_dump(fragment, default_flow_style=flow, allow_unicode=True,
                          sort_keys=False)
    fast, slow = both(text)
    assert fast == slow


@settings(max_examples=examples(300), deadline=None)
@given(st.text(max_size=120))
def test_random_texts_load_alike(text: str) -> None:
    fast, slow = both(text)
    assert fast == slow


def test_a_large_fragment_takes_the_fast_path(tmp_path: Path) -> None:
    text = "acls:\n" + "".join(
        f"  - {{action: accept, src: [group:g{i}], dst: ['tag:t{i}:22']}}\n"
        for i in range(2000))
    calls: list[object] = []
    real = yaml.compose_all

    def spy(stream: str, Loader: object) -> object:
        calls.append(Loader)
        return real(stream, Loader=Loader)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(yamlsource.yaml, "compose_all", spy)
        data, sources, problems = yamlsource.load_yaml(text, file="f.yaml")
    assert calls == [yamlsource._FAST_LOADER]
    assert len(data["acls"]) == 2000 and problems == []
    assert str(sources.at(("acls", 1999, "dst", 0))) == "f.yaml:2001:48"


COMMENTED = [
    "# see https://example.com/docs?page=acl -> grants\nacls:\n  - {action: accept}\n",
    "a: 1  # why? because a > b | c !important\n",
    "a:\n  # ? not a key\n  - x  # !tag in a comment\n",
]


@pytest.mark.parametrize("text", COMMENTED)
def test_punctuation_in_comments_keeps_the_fast_path(text: str) -> None:
    """A `?`, `>`, `|` or `!` inside a comment used to send the whole file to the
    pure-Python parser (about 7x slower); comments are not YAML, so it stays fast, and the
    result is the same."""
    assert not yamlsource._libyaml_may_differ(text)
    fast, slow = both(text)
    assert fast == slow


@pytest.mark.parametrize("text", [
    "? a\n: b\n", "a: !x 1\n", "a: |\n  x\n", "a: >-\n  x\n", "a: 'q' # c\nb: ? x\n",
    "a: \"x #\" ? y\n", "a:\t1\n", "# c\n\tb: 2\n",
])
def test_yaml_punctuation_outside_comments_takes_the_slow_path(text: str) -> None:
    assert yamlsource._libyaml_may_differ(text)


@settings(max_examples=examples(300), deadline=None)
@given(st.lists(st.sampled_from(["a: 1", "b: [x, y]", "c: 'q?'", "d: \"#\"", "# c?", "  # >",
                                 "e: x # !|", "f: ?", "? g", "h: >", "i: |", "j: !k",
                                 "k: 'a # b ?'", "- m"]), max_size=8))
def test_the_guard_never_lets_a_disagreement_through(lines: list[str]) -> None:
    fast, slow = both("\n".join(lines) + "\n")
    assert fast == slow

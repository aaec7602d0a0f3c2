"""`reconciler fmt` through the real CLI: bytes, line endings, bad input, symlinks.

The line-ending vectors (hujson_line_endings_vectors.json beside this file) were made
by running Go's hujson.Format; the CLI must write exactly those bytes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.cli import cli
from reconciler.load import hujson

VECTORS = json.loads((Path(__file__).parent / "hujson_line_endings_vectors.json")
                     .read_text(encoding="utf-8"))
FUZZ_EXAMPLES = int(os.environ.get("RECONCILER_FUZZ_EXAMPLES", "120"))


def fmt(root: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["-C", str(root), "fmt", *args])
    return result.exit_code, result.stdout, result.stderr


def policies(tmp_path: Path, files: dict[str, bytes]) -> Path:
    for name, raw in files.items():
        path = tmp_path / "policies" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(raw)
    return tmp_path


@pytest.mark.parametrize("vector", VECTORS["format"], ids=lambda v: v["name"])
def test_library_matches_go_on_line_endings(vector: dict[str, str]) -> None:
    assert hujson.format(vector["in"].encode()) == vector["out"].encode()


@pytest.mark.parametrize("vector", VECTORS["errors"], ids=lambda v: v["name"])
def test_library_refuses_what_go_refuses(vector: dict[str, str]) -> None:
    with pytest.raises(hujson.HuJSONError) as caught:
        hujson.format(vector["in"].encode())
    assert caught.value.go_message == vector["error"]


def test_fmt_writes_go_bytes_for_cr_crlf_and_lone_cr(tmp_path: Path) -> None:
    files = {f"{v['name']}.hujson": v["in"].encode() for v in VECTORS["format"]}
    files.update({f"{v['name']}.hujson": v["in"].encode() for v in VECTORS["errors"]})
    root = policies(tmp_path, files)
    code, out, err = fmt(root, "--check")
    assert code == 1
    # Every file with a CR differs from Go's output: --check must say so.
    for v in VECTORS["format"]:
        assert (f"would reformat policies/{v['name']}.hujson" in out) == (v["in"] != v["out"])
    code, out, err = fmt(root)
    assert code == 1  # the inputs Go refuses
    for v in VECTORS["format"]:
        assert (root / "policies" / f"{v['name']}.hujson").read_bytes() == v["out"].encode()
    for v in VECTORS["errors"]:
        assert (root / "policies" / f"{v['name']}.hujson").read_bytes() == v["in"].encode()
    assert "policies/lone-cr-policy.hujson:1:39: parsing comment: unexpected EOF" in err
    assert "Traceback" not in err
    code, out, _ = fmt(root, "--check", *(f"policies/{v['name']}.hujson"
                                          for v in VECTORS["format"]))
    assert code == 0, out


def test_yaml_line_endings_become_lf(tmp_path: Path) -> None:
    root = policies(tmp_path, {
        "crlf.yaml": b"groups:\r\n  group:b: [a@example.com]   # team b\r\n",
        "cr.yaml": b"hosts:\r  db: 100.64.0.1\r",
    })
    code, _, err = fmt(root)
    assert code == 0, err
    assert (root / "policies/crlf.yaml").read_bytes() == \
        b"groups:\n  group:b: [a@example.com]   # team b\n"
    assert (root / "policies/cr.yaml").read_bytes() == b"hosts:\n  db: 100.64.0.1\n"


def test_bad_encodings_are_located_and_the_rest_is_formatted(tmp_path: Path) -> None:
    root = policies(tmp_path, {
        "a-bad-utf8.hujson": b'{\n  "hosts": {"x": "caf\xe9"}}',
        "b-utf16.json": "\ufeff{}".encode("utf-16-le"),
        "c-utf32.yaml": "\ufeffhosts: {}\n".encode("utf-32-be"),
        "d-utf32le.hujson": "\ufeff{}".encode("utf-32-le"),
        "e-good.hujson": b'{"hosts": {"db": "100.64.0.1",},}',
        "f-utf8-bom.yaml": b"\xef\xbb\xbfhosts:\n    db: 100.64.0.1\n",
    })
    code, out, err = fmt(root)
    assert code == 1
    lines = err.splitlines()
    assert lines == [
        "policies/a-bad-utf8.hujson:2:22: not UTF-8 text: byte 0xe9 (invalid continuation "
        "byte); save the file as UTF-8",
        "policies/b-utf16.json:1:1: the file is UTF-16 (little-endian) (it starts with that "
        "byte-order mark); save it as UTF-8",
        "policies/c-utf32.yaml:1:1: the file is UTF-32 (big-endian) (it starts with that "
        "byte-order mark); save it as UTF-8",
        "policies/d-utf32le.hujson:1:1: the file is UTF-32 (little-endian) (it starts with "
        "that byte-order mark); save it as UTF-8",
    ]
    assert out.splitlines() == ["reformatted policies/e-good.hujson",
                                "reformatted policies/f-utf8-bom.yaml"]
    assert (root / "policies/e-good.hujson").read_bytes() == b'{"hosts": {"db": "100.64.0.1"}}\n'
    assert (root / "policies/f-utf8-bom.yaml").read_bytes() == b"hosts:\n  db: 100.64.0.1\n"
    assert (root / "policies/a-bad-utf8.hujson").read_bytes() == b'{\n  "hosts": {"x": "caf\xe9"}}'


@pytest.mark.parametrize("suffix", [".json", ".hujson"])
def test_fmt_refuses_what_the_validator_refuses(tmp_path: Path, suffix: str) -> None:
    dup = b'{"groups": {"group:a": [], "group:a": ["x@example.com"]}}'
    inf = b'{"tests": [{"src": "a@example.com", "accept": ["db:1"], ' \
          b'"srcPostureAttrs": {"n": 1e999}}]}'
    root = policies(tmp_path, {f"dup{suffix}": dup, f"inf{suffix}": inf})
    code, out, err = fmt(root)
    assert code == 1 and out == ""
    assert f'policies/dup{suffix}:1:28: duplicate name "group:a"' in err
    assert f"policies/inf{suffix}:1:82: number out of range: it reads as infinity" in err
    assert (root / f"policies/dup{suffix}").read_bytes() == dup
    assert (root / f"policies/inf{suffix}").read_bytes() == inf


def test_yaml_fmt_never_changes_what_the_validator_reads(tmp_path: Path) -> None:
    # ruamel (YAML 1.2) reads 1e999 as a float and would write `.inf`; the validator
    # (YAML 1.1) reads the string "1e999". Writing would change the policy.
    text = b"tests:\n  - src: a@example.com\n    accept: [db:1]\n    srcPostureAttrs: {n: 1e999}\n"
    root = policies(tmp_path, {"a.yaml": text})
    code, _, err = fmt(root)
    assert code == 1
    assert err.startswith("policies/a.yaml:4:26: formatting would change what the validator "
                          "reads here")
    assert (root / "policies/a.yaml").read_bytes() == text


def test_nesting_deeper_than_the_fragment_limit_is_a_clear_error(tmp_path: Path) -> None:
    deep = b'{"hosts": ' + b"[" * 300 + b"]" * 300 + b"}"
    yaml_deep = b"hosts: " + b"[" * 2000 + b"]" * 2000 + b"\n"
    root = policies(tmp_path, {"deep.hujson": deep, "deep.yaml": yaml_deep,
                               "ok.hujson": b'{"hosts": {}}'})
    code, out, err = fmt(root)
    assert code == 1
    assert "policies/deep.hujson:1:210: exceeded max depth of 200 nested objects and arrays" \
        in err
    assert err.count("policies/deep.yaml:") == 1
    assert "Traceback" not in err
    assert out == "reformatted policies/ok.hujson\n"


def test_fmt_writes_through_symlinks(tmp_path: Path) -> None:
    target = tmp_path / "common" / "hosts.hujson"
    target.parent.mkdir()
    target.write_bytes(b'{"hosts": {"db": "100.64.0.1",},}')
    os.chmod(target, 0o640)
    (tmp_path / "policies").mkdir()
    link = tmp_path / "policies" / "hosts.hujson"
    link.symlink_to(Path("..") / "common" / "hosts.hujson")
    code, out, err = fmt(tmp_path)
    assert code == 0, err
    assert out == "reformatted policies/hosts.hujson\n"
    assert link.is_symlink()
    assert target.read_bytes() == b'{"hosts": {"db": "100.64.0.1"}}\n'
    assert target.stat().st_mode & 0o777 == 0o640


# Raw material for generated files: pieces of HuJSON and YAML, line endings of every
# kind, byte-order marks, invalid UTF-8, control characters, deep nesting.
PIECES = [b"{", b"}", b"[", b"]", b",", b":", b'"a"', b'"group:x"', b"1", b"1e999", b"-0",
          b"null", b"true", b"//c", b"/*", b"*/", b"\n", b"\r\n", b"\r", b"\n\r", b" ",
          b"\t", b"#", b"- ", b"a: ", b"&x ", b"*x", b"!!", b"'", b"\\u", b"\\ud800",
          b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\x00", b"\xc3", b"\xe9", b"\xed\xa0\x80",
          b"\x85", "\u2028".encode(), b"9" * 4400, b"[" * 250, b"]" * 250]
soups = st.lists(st.sampled_from(PIECES), max_size=30).map(b"".join)


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(raw=st.one_of(st.binary(max_size=200), soups))
def test_fmt_never_prints_a_traceback(tmp_path: Path, raw: bytes) -> None:
    root = tmp_path / "fuzz"
    files = {f"f{suffix}": raw for suffix in (".hujson", ".json", ".yaml")}
    root = policies(root, files)
    try:
        code, out, err = fmt(root)
        assert code in (0, 1), (code, out, err)
        assert "Traceback" not in err and "internal error" not in err
        for line in err.splitlines():
            # Every problem is one located line about one of the files.
            assert line.startswith("policies/f."), line
        if code == 0:
            # What fmt wrote is formatted: a second run changes nothing.
            code, out, err = fmt(root, "--check")
            assert code == 0, (raw, out, err)
    finally:
        for name in files:
            (root / "policies" / name).unlink(missing_ok=True)


def test_dangling_and_looping_symlinks_are_located_not_skipped(tmp_path: Path) -> None:
    root = policies(tmp_path, {"a.hujson": b'{"hosts": {},}'})
    (root / "policies/dangling.hujson").symlink_to("nowhere.hujson")
    (root / "policies/self.yaml").symlink_to("self.yaml")
    code, out, err = fmt(root)
    assert code == 1
    assert err.splitlines() == [
        "policies/dangling.hujson:1:1: cannot read: No such file or directory "
        "(a symlink to nowhere.hujson)",
        "policies/self.yaml:1:1: cannot read: Too many levels of symbolic links "
        "(a symlink to self.yaml)",
    ]
    assert out == "reformatted policies/a.hujson\n"

"""`reconciler fmt`: rewrite fragments in their canonical layout.

load/ (beside the load step). May import: ruamel.yaml (its only home), `hujson`, `desired`
(the validator's own reading of one fragment), `problems`, `source`. Files are read
as bytes, never with newline translation: HuJSON fragments are formatted
byte-identically to Go's `hujson.Format` (what Tailscale's own tooling uses, and whose
output's SHA-256 its gitops tool takes as the ETag), which has its own rules for CR,
CRLF and lone CR; strict JSON fragments get 2-space JSON; YAML fragments are
round-tripped with comments, key order, quoting and flow style kept, and only
indentation and line endings normalised, so the result is stable: formatting a
formatted file changes nothing.

fmt never writes what the validator would read differently: a file must load as a
fragment first (no duplicate keys, no number JSON cannot hold such as `1e999`), and the
formatted bytes must load to the same data (ruamel, which formats, and PyYAML, which
validates, do not agree on every YAML scalar). Every failure is a located `Problem`.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from reconciler.core.problems import Problem
from reconciler.core.source import Location, PathKey
from reconciler.load import hujson
from reconciler.load.desired import parse_fragment

UTF8_BOM = b"\xef\xbb\xbf"
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# Longest first: a UTF-32 little-endian mark starts with the UTF-16 one.
_OTHER_BOMS = (
    (b"\x00\x00\xfe\xff", "UTF-32 (big-endian)"),
    (b"\xff\xfe\x00\x00", "UTF-32 (little-endian)"),
    (b"\xfe\xff", "UTF-16 (big-endian)"),
    (b"\xff\xfe", "UTF-16 (little-endian)"),
)


@dataclass(frozen=True)
class FormatResult:
    path: Path
    original: bytes
    formatted: bytes | None  # None when the file could not be formatted
    problems: tuple[Problem, ...] = ()

    @property
    def changed(self) -> bool:
        return self.formatted is not None and self.formatted != self.original


class FormatError(Exception):
    """The located reasons a file is left as it is."""

    def __init__(self, *problems: Problem) -> None:
        super().__init__(str(problems[0]))
        self.problems = problems


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap long lines: reviewers diff these files
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def format_yaml(text: str, *, file: str = "<string>") -> str:
    if not text.strip():
        return text
    yaml = _yaml()
    try:
        data = yaml.load(text)
    except MarkedYAMLError as e:
        mark = e.problem_mark
        where = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file, 1, 1)
        raise hujson.HuJSONError(f"invalid YAML: {e.problem}", source=where) from e
    except YAMLError as e:
        raise hujson.HuJSONError(f"invalid YAML: {e}", source=Location(file, 1, 1)) from e
    except RecursionError:
        raise hujson.HuJSONError("invalid YAML: nested too deeply to format",
                                 source=Location(file, 1, 1)) from None
    except ValueError as e:  # an integer over Python's 4,300-digit conversion limit
        raise hujson.HuJSONError(f"invalid YAML: {e}", source=Location(file, 1, 1)) from None
    out = io.StringIO()
    try:
        yaml.dump(data, out)
    except RecursionError:
        raise hujson.HuJSONError("invalid YAML: nested too deeply to format",
                                 source=Location(file, 1, 1)) from None
    # ruamel keeps a comment's own CR (`# c\r\n` stays), so the one line ending left
    # is made LF here; scalars never carry a raw CR out of the dumper.
    result = out.getvalue().replace("\r\n", "\n").replace("\r", "\n")
    if text.startswith("---") and not result.startswith("---"):
        result = "---\n" + result
    return result


def format_text(text: str, suffix: str, *, file: str = "<string>") -> str:
    """The canonical layout of one fragment's text (no validation: see `format_bytes`)."""
    return format_bytes(text.encode("utf-8"), suffix, file=file).decode("utf-8")


def format_bytes(raw: bytes, suffix: str, *, file: str = "<string>") -> bytes:
    """The canonical layout of one fragment's bytes; `hujson.HuJSONError` (located)
    when it cannot be formatted."""
    raw = raw.removeprefix(UTF8_BOM)
    if suffix in (".yaml", ".yml"):
        return format_yaml(raw.decode("utf-8"), file=file).encode("utf-8")
    if suffix == ".json":
        try:
            data = json.loads(raw.decode("utf-8"))
        except ValueError:
            pass  # a .json file with comments is HuJSON in practice: format it as such
        else:
            text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
            # A lone surrogate escape ("\ud800") becomes U+FFFD, as Go and the
            # validator read it (UTF-8 cannot hold the surrogate itself).
            return _LONE_SURROGATE.sub("\ufffd", text).encode("utf-8")
    # Bytes in, bytes out: Go's rules for CR (CRLF and LF CR become LF, a lone CR a
    # space) apply only if the CRs reach the formatter.
    return hujson.format(raw, file=file)


def format_file(path: Path, *, shown: str) -> FormatResult:
    """Read `path` as bytes and work out its canonical layout, or why it has none."""
    try:
        original = path.read_bytes()
    except OSError as e:
        why = f"cannot read: {e.strerror}"
        if path.is_symlink():
            why += f" (a symlink to {os.readlink(path)})"
        return FormatResult(path, b"", None, (_problem(shown, why),))
    try:
        _check_encoding(original, shown)
        before = _fragment_data(original, shown, path.suffix)
        try:
            formatted = format_bytes(original, path.suffix, file=shown)
        except hujson.HuJSONError as e:
            raise FormatError(Problem(e.summary, e.source or Location(shown, 1, 1))) from None
        if formatted != original and path.suffix in (".yaml", ".yml"):
            # JSON and HuJSON formatting keep every value (strings are re-escaped, not
            # changed; a lone surrogate escape is refused above or kept by Go's rules),
            # so only YAML, read by two libraries, pays for a second reading.
            _check_same_meaning(before, formatted, shown, path.suffix)
    except FormatError as e:
        return FormatResult(path, original, None, e.problems)
    return FormatResult(path, original, formatted)


def _problem(file: str, message: str, line: int = 1, col: int = 1) -> Problem:
    return Problem(message, Location(file, line, col))


def _check_encoding(raw: bytes, file: str) -> None:
    """Fragments are UTF-8 (a UTF-8 byte-order mark is allowed and dropped)."""
    for mark, name in _OTHER_BOMS:
        if raw.startswith(mark):
            raise FormatError(_problem(
                file, f"the file is {name} (it starts with that byte-order mark); "
                "save it as UTF-8"))
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as e:
        start = e.start
        line_start = raw.rfind(b"\n", 0, start) + 1
        col = len(raw[line_start:start].decode("utf-8")) + 1
        raise FormatError(_problem(
            file, f"not UTF-8 text: byte 0x{raw[start]:02x} ({e.reason}); save the file "
            "as UTF-8", raw.count(b"\n", 0, start) + 1, col)) from None


@dataclass(frozen=True)
class _Loaded:
    data: Any
    sources: Any


def _fragment_data(raw: bytes, file: str, suffix: str) -> _Loaded:
    """What the validator reads from these bytes; refuses what it would refuse."""
    fragment, problems = _parse_fragment(file, suffix, raw)
    if problems:
        raise FormatError(*(Problem(p.message, _renamed(p.location, file), p.severity, p.code)
                            for p in problems))
    assert fragment is not None
    if suffix in (".json", ".hujson"):
        path = _non_finite(fragment.data, ())
        if path is not None:
            where = fragment.sources.at(path) if fragment.sources is not None else None
            raise FormatError(Problem(
                "number out of range: it reads as infinity, which JSON cannot hold",
                _renamed(where, file) or Location(file, 1, 1)))
    return _Loaded(fragment.data, fragment.sources)


def _parse_fragment(file: str, suffix: str, raw: bytes) -> tuple[Any, list[Problem]]:
    try:
        return parse_fragment(_named(file, suffix), raw)
    except RecursionError:
        # The YAML reader recurses once per level; the validator says the same once
        # it bounds nesting itself.
        return None, [_problem(file, "nested too deeply to read as a policy fragment")]
    except ValueError as e:  # the YAML reader on an integer over 4,300 digits
        return None, [_problem(file, f"cannot read as a policy fragment: {e}")]


def _named(file: str, suffix: str) -> str:
    # parse_fragment picks the YAML or HuJSON reader by the name's suffix.
    return file if file.endswith(suffix) else file + suffix


def _renamed(location: Location | None, file: str) -> Location | None:
    if location is None:
        return None
    return Location(file, location.line, location.col)


def _non_finite(value: Any, path: PathKey) -> PathKey | None:
    if isinstance(value, float) and not math.isfinite(value):
        return path
    if isinstance(value, Mapping):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, child in items:
        found = _non_finite(child, (*path, key))
        if found is not None:
            return found
    return None


def _check_same_meaning(before: _Loaded, formatted: bytes, file: str, suffix: str) -> None:
    fragment, problems = _parse_fragment(file, suffix, formatted)
    after = fragment.data if fragment is not None and not problems else _UNREADABLE
    path = _first_difference(before.data, after, ())
    if path is None:
        return
    where = before.sources.at(path) if before.sources is not None else None
    raise FormatError(Problem(
        "formatting would change what the validator reads here (for YAML: the formatter "
        "and the validator read this scalar differently; quote it)",
        _renamed(where, file) or Location(file, 1, 1)))


_UNREADABLE = object()


def _first_difference(a: Any, b: Any, path: PathKey) -> PathKey | None:
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        for key in a:
            if key not in b:
                return (*path, key)
            found = _first_difference(a[key], b[key], (*path, key))
            if found is not None:
                return found
        return None if len(a) == len(b) else path
    if isinstance(a, list) and isinstance(b, list):
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            found = _first_difference(x, y, (*path, i))
            if found is not None:
                return found
        return None if len(a) == len(b) else path
    if type(a) is not type(b) or a != b:
        return path
    return None

"""`reconciler fmt`: rewrite fragments in their canonical layout.

Side step of step 1. May import: ruamel.yaml (its only home), `hujson`, `errors`,
`problems`, `source`. HuJSON fragments are formatted byte-identically to Go's
`hujson.Format` (what Tailscale's own tooling uses); strict JSON fragments get
2-space JSON; YAML fragments are round-tripped with comments, key order, quoting and
flow style kept, and only indentation normalised, so the result is stable: formatting
a formatted file changes nothing.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from reconciler import hujson
from reconciler.problems import Problem
from reconciler.source import Location


@dataclass(frozen=True)
class FormatResult:
    path: Path
    original: str
    formatted: str | None  # None when the file could not be parsed
    problem: Problem | None = None

    @property
    def changed(self) -> bool:
        return self.formatted is not None and self.formatted != self.original


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
    out = io.StringIO()
    yaml.dump(data, out)
    result = out.getvalue()
    if text.startswith("---") and not result.startswith("---"):
        result = "---\n" + result
    return result


def format_text(text: str, suffix: str, *, file: str = "<string>") -> str:
    """The canonical layout of one fragment's text."""
    if suffix in (".yaml", ".yml"):
        return format_yaml(text, file=file)
    if suffix == ".json":
        try:
            return json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n"
        except json.JSONDecodeError:
            pass  # a .json file with comments is HuJSON in practice: format it as such
    return hujson.format(text, file=file)


def format_file(path: Path, *, shown: str) -> FormatResult:
    original = path.read_text(encoding="utf-8")
    try:
        formatted = format_text(original, path.suffix, file=shown)
    except hujson.HuJSONError as e:
        return FormatResult(path, original, None, Problem(e.summary, e.source))
    return FormatResult(path, original, formatted)

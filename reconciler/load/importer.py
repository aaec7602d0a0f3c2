"""`import`: adopt an existing tailnet by writing its live policy into policies/.

load/ (step: import, the load step run backwards). May import: `load.hujson`,
`load.desired`, `load.document` and `diff.normalize` (the metadata to recover, below),
`load.yamlsource` (to check what it writes), `load.fragment_schema`, `core`, stdlib. One
fragment per top-level section (`policies/groups.hujson`, `policies/acls.hujson`, ...),
each sliced from the live HuJSON syntax tree so the comments written in the admin console
stay with their section, then put through `hujson.format`. The document's own leading
comment block (where reconciler's managed header lives) is not copied. Planning right
after an import shows no changes: the fragments hold exactly the live document.

Into a repository whose fragments are YAML (or with `syntax="yaml"`), the fragments are
written as YAML instead, and what the live policy cannot hold is recovered from the
desired state it replaces (in the working tree, then at the commit the live policy's
managed header names): each entry is named as `plan` would name it (same content, or
the named entry at its place that an out-of-band edit changed) and gets back that
entry's name, description, owner and expiry; a group member its expiry and reason.
Every fragment names the repository's JSON Schema (the yaml-language-server line, or
`"$schema"` in HuJSON).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from reconciler.core import redact
from reconciler.core.errors import ConfigError, ReconcilerError
from reconciler.load import hujson

FRAGMENT_SUFFIXES = (".yaml", ".yml", ".hujson", ".json")

# Names the live entries as `plan` does (`diff.normalize.recover_names`): the live policy
# and the desired documents, each with its entry names -> {(section, index): name}.
EntryNames = dict[tuple[str, int], str]
NameRecoverer = Callable[[dict[str, Any], list[Any]], EntryNames]


@dataclass(frozen=True)
class ImportedFile:
    path: Path
    section: str
    comments_kept: bool


def split_sections(text: str) -> dict[str, tuple[str, bool]]:
    """Section name -> (fragment text, whether it was sliced with its comments)."""
    tree = hujson.parse(text, file="live policy")
    root = tree.value
    if not isinstance(root, hujson.Object):
        raise ReconcilerError("the live policy is not a JSON object",
                              "Check it with `reconciler validate` or in the admin console.")
    data = hujson.loads(text)
    # A comment on the same line after a member's comma belongs to that member, though
    # the syntax tree files it before the next member's name: hand it back.
    leads: list[bytes] = []
    trails: list[bytes] = [b""] * len(root.members)
    for i, member in enumerate(root.members):
        before = member.name.before or b""
        first, nl, rest = before.partition(b"\n")
        if i > 0 and nl and first.strip():
            trails[i - 1] = first.rstrip() + b"\n"
            before = rest
        leads.append(b"\n" + before.lstrip(b"\n"))
    out: dict[str, tuple[str, bool]] = {}
    for i, member in enumerate(root.members):
        section = hujson.loads(member.name.pack().strip().encode())
        try:
            name = hujson.Value(member.name.value, before=leads[i], after=member.name.after)
            value = hujson.Value(member.value.value, before=member.value.before,
                                 after=member.value.after if member.value.after is not None
                                 else b"")
            piece = hujson.Value(
                hujson.Object([hujson.Member(name, value)], after=trails[i] or b"\n"),
                before=b"", after=b"\n")
            fragment = hujson.format(piece.pack())
            sliced = hujson.loads(fragment) == {section: data[section]}
        except (ReconcilerError, ValueError):
            sliced = False
        if not sliced:
            fragment = hujson.dumps({section: data[section]}) + "\n"
        out[section] = (fragment, sliced)
    return out


def _filename(section: str, suffix: str = ".hujson") -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", section) + suffix


def import_policy(text: str, policies_dir: Path, *, force: bool = False,
                  shown: str = "policies", syntax: str | None = None,
                  known: Known | None = None, schema: Path | None = None
                  ) -> list[ImportedFile]:
    """Write the live policy `text` as fragments under `policies_dir`.

    Refuses when policies/ already holds fragments, unless `force`, which removes them
    first (they are in git, so nothing is lost for good). `syntax`: "yaml" or "hujson";
    by default that of the fragments already there (HuJSON when there are none).
    `known`: metadata to give back to the entries that match (YAML only). `schema`:
    the JSON Schema file each fragment names (by a path relative to it).
    """
    sections = split_sections(text)
    existing = fragment_files(policies_dir)
    if existing and not force:
        names = ", ".join(p.relative_to(policies_dir).as_posix() for p in existing[:5])
        more = f" and {len(existing) - 5} more" if len(existing) > 5 else ""
        raise ConfigError(
            f"{shown}/ already holds policy fragments ({names}{more})",
            "Importing next to them would define sections twice. Use --force to replace "
            f"them (they stay in git history), or import into an empty {shown}/.")
    syntax = syntax or existing_syntax(existing)
    if syntax == "yaml":
        data = hujson.loads(text)
        # What the console wrote as comments has no place in the YAML: said per file.
        live_names = known.live_names(data) if known is not None else {}
        notes = _console_comments(text)
        out = {}
        for section in sections:
            value = with_metadata(section, data[section], known, live_names)
            # Every comment finds its place (those that repeat a description or owner
            # become that field again).
            out[section] = (to_yaml({section: value}, notes), True)
    else:
        out = sections
    suffix = ".yaml" if syntax == "yaml" else ".hujson"
    written = []
    try:
        for path in existing:
            path.unlink()
        policies_dir.mkdir(parents=True, exist_ok=True)
        for section, (fragment, sliced) in out.items():
            path = policies_dir / _filename(section, suffix)
            if schema is not None:
                fragment = _with_schema(fragment, Path(os.path.relpath(schema, path.parent))
                                        .as_posix(), yaml=syntax == "yaml")
            # The fragments are committed to git: a credential the control plane put in
            # its policy (an echo, a comment) must not travel with them.
            path.write_text(redact.redact(fragment), encoding="utf-8")
            written.append(ImportedFile(path, section, sliced))
    except OSError as e:
        raise ConfigError(f"cannot write the imported fragments in {shown}/: "
                          f"{e.strerror or e}: {e.filename}",
                          f"Make {shown}/ writable and run the import again (git restores "
                          "any fragment --force removed).") from e
    return written


def fragment_files(policies_dir: Path) -> list[Path]:
    return sorted(p for p in policies_dir.rglob("*")
                  if p.is_file() and p.suffix in FRAGMENT_SUFFIXES) \
        if policies_dir.is_dir() else []


def existing_syntax(existing: list[Path]) -> str:
    """YAML when most fragments already there are YAML; HuJSON otherwise."""
    yaml = sum(p.suffix in (".yaml", ".yml") for p in existing)
    return "yaml" if existing and 2 * yaml >= len(existing) else "hujson"


def _with_schema(fragment: str, reference: str, *, yaml: bool) -> str:
    if yaml:
        return f"# yaml-language-server: $schema={reference}\n{fragment}"
    start = fragment.find("{")
    named = (fragment[:start + 1] + f'\n"$schema": {json.dumps(reference)},'
             + fragment[start + 1:])
    try:
        formatted = hujson.format(named)
        if hujson.loads(formatted) == {"$schema": reference, **hujson.loads(fragment)}:
            return formatted
    except (ReconcilerError, ValueError):
        pass
    return hujson.dumps({"$schema": reference, **hujson.loads(fragment)}) + "\n"


# --- metadata recovered from the desired state the import replaces -----------------------


@dataclass
class Known:
    """Metadata of the entries and group members of desired states, by entry name and
    by content, and the documents with their names (to name the live entries as
    `plan` does: `recover`, which is `diff.normalize.recover_names`, handed in by the
    command because the diff step sits above this one)."""

    recover: NameRecoverer

    entries: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    by_name: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    members: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    documents: list[tuple[dict[str, Any], dict[tuple[str, int], str]]] = \
        field(default_factory=list)

    def add(self, desired: Any) -> None:
        """Learn from a `desired.Desired` (what is known already is kept)."""
        names: dict[tuple[str, int], str] = {}
        for path, meta in desired.meta.items():
            section, index = path[0], path[1] if len(path) > 1 else None
            entries = desired.policy.get(section)
            if not isinstance(index, int) or not isinstance(entries, list) \
                    or index >= len(entries):
                continue
            fields = {k: v for k, v in (("name", meta.name),
                                        ("description", meta.description),
                                        ("owner", meta.owner),
                                        ("expires", _when(meta.expires))) if v}
            if fields:
                self.entries.setdefault((str(section), _key(entries[index])), fields)
            if meta.name:
                names[(str(section), index)] = meta.name
                self.by_name.setdefault((str(section), meta.name), fields)
        self.documents.append((desired.policy, names))
        for group, login, expires, _where in desired.member_meta:
            fields = {"expires": _when(expires)}
            reason = desired.member_reasons.get((group, login))
            if reason:
                fields["reason"] = reason
            self.members.setdefault((group, login), fields)

    def live_names(self, live: dict[str, Any]) -> dict[tuple[str, int], str]:
        return self.recover(live, list(self.documents))


def recover_metadata(config: Any, live_text: str, now: datetime,
                     recover: NameRecoverer) -> Known:
    """What the desired state in the working tree, and then at the live policy's
    last-applied commit, know about the entries (as `plan` consults them; unreadable
    states are skipped)."""
    from reconciler.load.desired import load_desired
    from reconciler.load.document import read_header

    known = Known(recover)
    header = read_header(live_text)
    refs = [header.commit] if header is not None and header.commit else []
    for ref in [None, *refs]:
        try:
            known.add(load_desired(config.root, ref=ref, now=now, config=config,
                                   validate=False, revision=False))
        except ReconcilerError:
            continue
    return known


def _key(entry: Any) -> str:
    return json.dumps(entry, sort_keys=True)


def _when(moment: datetime | None) -> str | None:
    """An expiry as the fragments write it: the date alone at midnight UTC."""
    if moment is None:
        return None
    utc = moment.astimezone(timezone.utc)
    if (utc.hour, utc.minute, utc.second, utc.microsecond) == (0, 0, 0, 0):
        return utc.date().isoformat()
    return utc.isoformat().replace("+00:00", "Z")


def with_metadata(section: str, value: Any, known: Known | None,
                  names: dict[tuple[str, int], str] | None = None) -> Any:
    """A live section with the recovered metadata put back (first, as people write it):
    an entry named as `plan` names it (`names`) gets that entry's metadata, else an
    entry with the very same content gives its own."""
    if known is None:
        return value
    if isinstance(value, list):
        out = []
        for i, entry in enumerate(value):
            name = (names or {}).get((section, i))
            fields = known.by_name.get((section, name)) if name else None
            if fields is None and isinstance(entry, dict):
                fields = known.entries.get((section, _key(entry)))
            out.append({**fields, **entry} if fields and isinstance(entry, dict) else entry)
        return out
    if section == "groups" and isinstance(value, dict):
        return {group: [{"user": m, **known.members[(group, m)]}
                        if isinstance(m, str) and (group, m) in known.members else m
                        for m in members] if isinstance(members, list) else members
                for group, members in value.items()}
    return value


# --- YAML ----------------------------------------------------------------------------------

WIDTH = 100
# A plain (unquoted) YAML scalar that every YAML reader takes as this very string: it
# starts with a letter, holds no space, '#' or flow characters, is no YAML 1.1 boolean
# or null, and does not end with ':'.
_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9_@./:+*-]*")
_RESERVED = frozenset({"y", "n", "yes", "no", "true", "false", "on", "off", "null"})


def _scalar(value: Any) -> str:
    if isinstance(value, str) and _PLAIN.fullmatch(value) and not value.endswith(":") \
            and value.lower() not in _RESERVED:
        return value
    return json.dumps(value, ensure_ascii=False)


def _flow(value: Any) -> str | None:
    """`value` on one line, when it is a scalar, or a list or mapping of scalars."""
    if isinstance(value, list):
        if any(isinstance(v, (list, dict)) for v in value):
            return None
        return "[" + ", ".join(_scalar(v) for v in value) + "]"
    if isinstance(value, dict):
        if any(isinstance(v, (list, dict)) for v in value.values()):
            return None
        return "{" + ", ".join(f"{_scalar(k)}: {_scalar(v)}" for k, v in value.items()) + "}"
    return _scalar(value)


def _console_comments(text: str) -> Any:
    """The live policy's comments by path, without the document's own leading block
    (the managed header), which `comments_of` files with the first section."""
    from reconciler.core.source import Comment

    comments = hujson.comments_of(text)
    header = 0
    for line in text.lstrip("\ufeff").splitlines():
        if line.strip().startswith("{"):
            break
        if line.strip().startswith("//"):
            header += 1
    for path, comment in list(comments.items()):
        if len(path) == 1 and header:
            comments[path] = Comment(comment.lead[header:], comment.trail, comment.after)
            break
    return comments


def _commented(lines: list[str], pad: str, comment: Any, metadata: tuple[str, ...] = ()
               ) -> list[str]:
    """An item's `lines` with its comments: lead lines above, a trailing one at the end
    of its first line, the lines after it below. Lines that only repeat metadata put
    back on the entry (the compiled policy writes description and owner as comments)
    are left out."""
    if comment is None:
        return lines
    lead = [f"{pad}#{c}" for c in comment.lead if c.strip() not in metadata]
    first = lines[:1]
    if comment.trail is not None and first:
        first = [f"{first[0]}  #{comment.trail}"]
    return [*lead, *first, *lines[1:], *(f"{pad}#{c}" for c in comment.after)]


def _metadata_lines(item: Any) -> tuple[str, ...]:
    if not isinstance(item, dict):
        return ()
    out = [item["description"]] if isinstance(item.get("description"), str) else []
    if isinstance(item.get("owner"), str):
        out.append(f"owner: {item['owner']}")
    return tuple(out)


def _block(value: Any, indent: int, path: tuple[Any, ...] = (),
           comments: Any = None) -> list[str]:
    """Block style, with lists of scalars (and small mappings of scalars inside lists,
    such as a just-in-time group member) on one line where they fit; `comments` (by
    path) are written where they were."""
    pad = " " * indent
    notes = comments or {}
    # Items with a comment inside are written in block style, where it has a line.
    inside = {p[:n] for p in notes for n in range(1, len(p))}
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            here = (*path, key)
            head = f"{pad}{_scalar(key)}:"
            flow = _flow(item) if (not isinstance(item, dict) or not item) \
                and here not in inside else None
            if flow is not None and len(head) + 1 + len(flow) <= WIDTH:
                item_lines = [f"{head} {flow}"]
            else:
                item_lines = [head, *_block(item, indent + 2, here, comments)]
            lines += _commented(item_lines, pad, notes.get(here))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            here = (*path, i)
            flow = _flow(item) if (not isinstance(item, dict) or len(item) <= 3) \
                and here not in inside else None
            if flow is not None and len(pad) + 2 + len(flow) <= WIDTH:
                item_lines = [f"{pad}- {flow}"]
            else:
                inner = _block(item, indent + 2, here, comments)
                if inner and inner[0].lstrip().startswith("#"):
                    # A comment on the entry's first key: above the entry instead.
                    moved = [line for line in inner if line.lstrip().startswith("#")]
                    inner = [line for line in inner if not line.lstrip().startswith("#")]
                    lines += [f"{pad}{line.lstrip()}" for line in moved]
                item_lines = [f"{pad}- {inner[0][indent + 2:]}", *inner[1:]]
            lines += _commented(item_lines, pad, notes.get(here), _metadata_lines(item))
    else:
        lines.append(pad + _scalar(value))
    return lines


def to_yaml(data: dict[str, Any], comments: Any = None) -> str:
    """`data` as a block-style YAML fragment that reads back as exactly `data` (checked:
    when it would not, the JSON form, which YAML reads too, is written instead), with
    `comments` (by path, as `hujson.comments_of` gives them) where they were."""
    from reconciler.load.yamlsource import load_yaml

    text = "\n".join(_block(data, 0, (), comments)) + "\n"
    loaded, _, problems = load_yaml(text, file="<import>")
    if problems or loaded != data:
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    return text


def import_into(config: Any, live_text: str, *, now: datetime, recover: NameRecoverer,
                force: bool = False, syntax: str | None = None) -> list[ImportedFile]:
    """`import_policy` into the repository of `config`: the schema file written when the
    repository has none, the metadata recovered for YAML fragments (`recover` names the
    live entries as `plan` does: `diff.normalize.recover_names`)."""
    from reconciler.load.fragment_schema import SCHEMA_PATH, schema_text

    syntax = syntax or existing_syntax(fragment_files(config.policies_dir))
    known = recover_metadata(config, live_text, now, recover) if syntax == "yaml" else None
    schema = config.root / SCHEMA_PATH
    written = import_policy(live_text, config.policies_dir, force=force,
                            shown=config.policies, syntax=syntax, known=known, schema=schema)
    if not schema.exists():
        try:
            schema.parent.mkdir(parents=True, exist_ok=True)
            schema.write_text(schema_text(), encoding="utf-8")
        except OSError as e:
            raise ConfigError(f"cannot write {SCHEMA_PATH}: {e.strerror or e}") from e
        written.append(ImportedFile(schema, "", True))
    return written

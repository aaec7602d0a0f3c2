"""load/ (step: load): read every fragment, merge, strip metadata, validate.

May import: `yamlsource` (yaml's home), `hujson`, `gitsource`, `config`, `policy`,
`metadata`, `source`, `problems`, `errors`. Fragments are read from the working tree or,
with `ref`, from any git revision without a checkout. Every problem of the run is
collected and raised together as one `PolicyError`, each with file:line:col. Comments
(and each entry's description and owner) are carried to `Desired.comments` by path,
as locations are, for the compiled HuJSON only.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from reconciler.core.errors import ConfigError, PolicyError
from reconciler.core.problems import Problem, Severity
from reconciler.core.source import (
    Comment,
    Comments,
    Location,
    PathKey,
    SourceMap,
    add_comment,
    comments_renumbered,
)
from reconciler.load import gitsource, hujson
from reconciler.load.config import Config, load_config
from reconciler.load.metadata import (
    ENTRY_META_KEYS,
    MEMBER_KEYS,
    NO_ENTRY_META,
    EntryMeta,
    Expired,
    strip_group_members,
    strip_list_entry,
)
from reconciler.load.yamlsource import load_yaml_with_comments

FRAGMENT_SUFFIXES = (".yaml", ".yml", ".hujson", ".json")

# Sections whose value is a list: fragments concatenate them in file order, and their
# entries may carry metadata (name, description, owner, expires).
LIST_SECTIONS = ("acls", "grants", "ssh", "nodeAttrs", "tests", "sshTests")
# `devices` is ours, not Tailscale's: managed device tags, kept out of the policy document.
DEVICES = "devices"
SCHEMA_KEY = "$schema"  # a JSON/HuJSON fragment's pointer to its JSON Schema, for editors

@dataclass
class Fragment:
    path: str  # as shown in messages: relative to the repository root
    data: Any
    sources: SourceMap
    comments: Comments = field(default_factory=dict)  # item path -> what documents it


@dataclass
class Desired:
    """The desired state, compiled: what the control plane should hold."""

    policy: dict[str, Any]  # Tailscale's policy document, metadata stripped
    sources: SourceMap  # paths in `policy` (and ("devices", ...)) -> where the user wrote them
    devices: dict[str, dict[str, Any]] = field(default_factory=dict)
    meta: dict[PathKey, EntryMeta] = field(default_factory=dict)  # ("acls", 3) -> name, ...
    # Just-in-time group members still in force: (group, login, expires, where written).
    member_meta: list[tuple[str, str, datetime, Location | None]] = field(default_factory=list)
    member_reasons: dict[tuple[str, str], str] = field(default_factory=dict)  # (group, login)
    # What expired and was left out (named, so a plan can say what it revokes).
    expired: list[Expired] = field(default_factory=list)
    notices: list[Problem] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    # Path in `policy` -> the comments written there, plus each entry's description and
    # owner: the compiled HuJSON carries them, nothing else reads them.
    comments: Comments = field(default_factory=dict)
    commit: str | None = None
    dirty: bool = False
    root: Path = Path(".")

    def where(self, path: PathKey) -> Location | None:
        return self.sources.at(path)


def load_desired(
    root: Path,
    *,
    ref: str | None = None,
    now: datetime | None = None,
    config: Config | None = None,
    validate: bool = True,
    tailnet_domains: set[str] | None = None,
    tests: bool = True,
    revision: bool = True,
) -> Desired:
    """Load the desired state of the repository at `root` (or at git revision `ref`).

    `tests=False`: the `tests` and `sshTests` sections are not validated (see
    `validate_policy`); `revision=False`: as for `read_desired`."""
    desired, problems = read_desired(root, ref=ref, now=now, config=config, revision=revision)
    if validate:
        problems.extend(check_desired(desired, tailnet_domains=tailnet_domains, tests=tests))
    return settle(desired, problems)


def read_desired(
    root: Path,
    *,
    ref: str | None = None,
    now: datetime | None = None,
    config: Config | None = None,
    revision: bool = True,
) -> tuple[Desired, list[Problem]]:
    """The first half of `load_desired`: read and merge, raising nothing for problems
    in the files. For callers that validate (`check_desired`) alongside other work and
    then call `settle` with every problem. `revision=False` leaves `commit` and `dirty`
    unset for a working-tree load (asking git costs more than reading a large policy,
    and commands such as `test` never show them)."""
    config = config or load_config(root)
    now = now or datetime.now(timezone.utc)
    fragments, problems, commit, dirty = _read_fragments(config, ref, revision=revision)
    desired = merge_fragments(fragments, now=now, problems=problems)
    desired.commit, desired.dirty, desired.root = commit, dirty, config.root
    return desired, problems


def settle(desired: Desired, problems: list[Problem]) -> Desired:
    """The second half: raise every error at once (sorted by place), keep the rest
    (warnings, expiry notices) on `desired.notices`."""
    errors = [p for p in problems if p.is_error]
    if errors:
        raise PolicyError(
            sorted(errors, key=_problem_order),
            detail="Fix the problems above; every one is listed with its file:line:col.",
        )
    desired.notices.extend(p for p in problems if not p.is_error)
    return desired


def check_desired(desired: Desired, *, tailnet_domains: set[str] | None = None,
                  tests: bool = True) -> list[Problem]:
    """Tailscale's validation rules on the compiled document, plus our `devices` section."""
    from reconciler.validate.validate import validate_policy

    problems = validate_policy(desired.policy, desired.sources, tailnet_domains=tailnet_domains,
                               tests=tests)
    problems.extend(_check_devices(desired))
    return problems


def _problem_order(p: Problem) -> tuple[str, int, int, str]:
    loc = p.location
    return (loc.file, loc.line, loc.col, p.message) if loc else ("", 0, 0, p.message)


# --- reading -------------------------------------------------------------------------


def _read_fragments(
    config: Config, ref: str | None, *, revision: bool = True
) -> tuple[list[Fragment], list[Problem], str | None, bool]:
    root = config.root
    policies = config.policies_dir
    commit: str | None
    if ref is not None:
        commit = gitsource.resolve(root, ref)
        raw = [
            (name, data) for name, data in gitsource.read_tree(root, commit, policies)
            if name.endswith(FRAGMENT_SUFFIXES)
        ]
        dirty = False
        repo_root = gitsource.root_of(root) or root
        shown_prefix = root.relative_to(repo_root).as_posix() if root != repo_root else ""
        raw = [(_strip_prefix(name, shown_prefix), data) for name, data in raw]
        unreadable: list[Problem] = []
    else:
        _check_policies_dir(policies, root)
        raw, unreadable = read_fragment_files(policies, root)
        head = gitsource.working_revision(root) if revision else gitsource.NO_REVISION
        commit, dirty = head.commit, head.dirty
    fragments: list[Fragment] = []
    problems: list[Problem] = unreadable
    for name, data in raw:
        fragment, found = parse_fragment(name, data)
        problems.extend(found)
        if fragment is not None:
            fragments.append(fragment)
    if not raw and not problems:
        problems.append(Problem(
            f"no policy fragments (*.yaml, *.yml, *.hujson, *.json) under {config.policies}",
            Location(config.policies, 1, 1),
        ))
    return fragments, problems, commit, dirty


_NEXT_STEP = ("Fix the path in reconciler.yaml (`policies:`), or create the directory "
              "(`reconciler init` scaffolds one).")


def _check_policies_dir(policies: Path, root: Path) -> None:
    """The policies directory itself: missing, a link to nothing, or not a directory
    is a ConfigError naming it (and its link's target) and what to do."""
    shown = _display(policies, root, resolve=False)
    try:
        if stat.S_ISDIR(policies.stat().st_mode):
            return
        problem = f"{shown} is not a directory"
    except OSError as e:
        if os.path.islink(policies):
            target = os.readlink(policies)
            problem = (f"policies directory not found: {shown} is a symbolic link to "
                       f"{target}, " + ("which links back to itself (a loop)"
                                        if e.errno == errno.ELOOP else "which does not exist"))
        elif e.errno in (errno.ENOENT, errno.ENOTDIR):
            problem = f"policies directory not found: {shown}"
        else:  # a name too long, a parent without search permission
            problem = f"cannot read the policies directory {shown} ({_reason(e)})"
    raise ConfigError(problem, _NEXT_STEP)


def read_fragment_files(policies: Path, root: Path) -> tuple[list[tuple[str, bytes]],
                                                                list[Problem]]:
    """(name, bytes) of every fragment file under `policies` in sorted path order, and a
    problem for each thing there that could not be read: an unreadable file or
    directory, a link to nothing, a link loop, a fragment that is not a regular file.
    Nothing is skipped silently, since a skipped fragment would plan the removal of
    what it grants. Hidden names (`.git`, `.#a.yaml`) and other suffixes are ignored.

    Linked directories are followed (a loop back to one of their own parents is a
    problem); a name is shown as it lies under `policies`, links not resolved."""
    found: list[Path] = []
    problems: list[Problem] = []

    def refuse(path: Path, what: str, step: str) -> None:
        problems.append(Problem(f"{what}; {step}",
                                Location(_display(path, root, resolve=False), 1, 1)))

    def walk(directory: Path, parents: frozenset[str]) -> None:
        try:
            with os.scandir(directory) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError as e:
            refuse(directory, f"cannot read this directory ({_reason(e)})",
                   "make it readable (chmod u+rx) or move it out of the policies directory")
            return
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            try:
                mode = os.stat(path).st_mode  # through links
            except OSError as e:
                if entry.is_symlink():
                    target = os.readlink(path)
                    what = (f"symbolic link to {target} loops back on itself"
                            if e.errno == errno.ELOOP else
                            f"symbolic link to {target}, which does not exist")
                    refuse(path, what, "remove the link or point it at a fragment")
                else:
                    refuse(path, f"cannot read it ({_reason(e)})",
                           "fix its permissions or move it out of the policies directory")
                continue
            if stat.S_ISDIR(mode):
                real = os.path.realpath(path)
                if real in parents:
                    shown = _display(Path(real), root, resolve=False)
                    refuse(path, f"a link here leads back to {shown}, which contains it "
                                 "(a loop)", "remove the link")
                else:
                    walk(path, parents | {real})
            elif path.suffix in FRAGMENT_SUFFIXES:
                if stat.S_ISREG(mode):
                    found.append(path)
                else:
                    refuse(path, "not a regular file (a pipe, socket or device)",
                           "replace it with a file or remove it")

    walk(policies, frozenset({os.path.realpath(policies)}))
    raw: list[tuple[str, bytes]] = []
    for path in sorted(found):
        try:
            data = path.read_bytes()
        except OSError as e:
            refuse(path, f"cannot read this fragment ({_reason(e)})",
                   "make it readable (chmod u+r) or move it out of the policies directory")
            continue
        raw.append((_display(path, root), data))
    return raw, problems


def _reason(error: OSError) -> str:
    return (error.strerror or type(error).__name__).lower()


def _display(path: Path, root: Path, *, resolve: bool = True) -> str:
    try:
        return (path.resolve() if resolve else path).relative_to(root).as_posix()
    except (ValueError, OSError, RuntimeError):  # outside root; a link loop (RuntimeError)
        return path.as_posix()


def _strip_prefix(name: str, prefix: str) -> str:
    return name[len(prefix) + 1:] if prefix and name.startswith(prefix + "/") else name


def parse_fragment(name: str, raw: bytes) -> tuple[Fragment | None, list[Problem]]:
    """One file's bytes to a Fragment (data must be a mapping of sections)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return None, [Problem(f"not UTF-8 text: {e.reason} at byte {e.start}",
                              Location(name, 1, 1))]
    text = text.removeprefix("\ufeff")
    if name.endswith((".yaml", ".yml")):
        data, sources, problems, comments = load_yaml_with_comments(text, file=name)
    else:
        try:
            data, sources = hujson.load_with_sources(text, file=name)
            problems = []
            comments = hujson.comments_of(text, file=name)
        except hujson.HuJSONError as e:
            return None, [Problem(e.summary, e.source or Location(name, 1, 1))]
    if problems:
        return None, problems
    # Only a YAML escape can write a lone surrogate (HuJSON reads one as U+FFFD, as Go).
    if ("\\u" in text or "\\U" in text) and name.endswith((".yaml", ".yml")):
        problems = _lone_surrogates(data, sources, name)
        if problems:
            return None, problems
    if data is None:
        return Fragment(name, {}, sources), []
    if not isinstance(data, dict):
        return None, [Problem(
            f"a fragment must be a mapping of policy sections, not {_kind(data)}",
            sources.at(()) or Location(name, 1, 1),
        )]
    return Fragment(name, data, sources, comments), []


_SURROGATE = re.compile("[\ud800-\udfff]")


def _lone_surrogates(data: Any, sources: SourceMap, name: str) -> list[Problem]:
    """A string holding half of a UTF-16 pair (`"\\ud800"` alone) is no text: it
    cannot be written as UTF-8, so a control plane, a plan file or the store would
    fail on it later."""
    problems: list[Problem] = []
    message = ("a \\u escape here writes half of a UTF-16 surrogate pair, which is not a "
               "character; write the character itself or a complete pair")

    def visit(value: Any, path: PathKey) -> None:
        if isinstance(value, str):
            if _SURROGATE.search(value):
                problems.append(Problem(message, sources.at(path) or Location(name, 1, 1)))
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, str) and _SURROGATE.search(key):
                    problems.append(Problem(message, sources.key((*path, key))
                                            or Location(name, 1, 1)))
                visit(item, (*path, key))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                visit(item, (*path, i))

    visit(data, ())
    return problems


def _kind(value: Any) -> str:
    return {list: "a list", dict: "a mapping", str: "a string", bool: "a boolean",
            int: "a number", float: "a number", type(None): "null"}.get(
                type(value), type(value).__name__)


def _expected_type(section: str) -> tuple[type, str] | None:
    if section in LIST_SECTIONS:
        return list, "a list (write [] for none)"
    if section in MAPPING_SECTIONS or section == DEVICES:
        return dict, "a mapping of names"
    return None


# --- merging -------------------------------------------------------------------------


def merge_fragments(
    fragments: list[Fragment], *, now: datetime, problems: list[Problem] | None = None
) -> Desired:
    """Merge fragments in order: list sections concatenate, mapping sections merge key by
    key (the same key twice is an error naming both places), scalars may appear once.
    Metadata is stripped and entries past `expires` dropped with a notice."""
    problems = problems if problems is not None else []
    policy: dict[str, Any] = {}
    sources = SourceMap()
    meta: dict[PathKey, EntryMeta] = {}
    devices: dict[str, dict[str, Any]] = {}
    member_meta: list[tuple[str, str, datetime, Location | None]] = []
    member_reasons: dict[tuple[str, str], str] = {}
    expired: list[Expired] = []
    first: dict[PathKey, Location] = {}  # where each section / mapping key was first defined
    comments: Comments = {}

    for frag in fragments:
        noted: dict[str | int, Comments] = {}  # section -> this fragment's comments in it
        for path, comment in frag.comments.items():
            noted.setdefault(path[0], {})[path] = comment
        for section in noted.keys() & {*LIST_SECTIONS, "groups"}:
            noted[section] = _lift_metadata_comments(noted[section])
        for section, value in frag.data.items():
            if section == SCHEMA_KEY:  # an editor's pointer to the JSON Schema, not policy
                continue
            here_noted = noted.get(section)
            if here_noted and (section,) in here_noted:
                add_comment(comments, (section,), here_noted[(section,)])
            key_loc = frag.sources.key((section,)) or Location(frag.path, 1, 1)
            expected = _expected_type(section)
            if expected is not None and not isinstance(value, expected[0]):
                problems.append(Problem(
                    f'"{section}" must be {expected[1]}, not {_kind(value)}',
                    frag.sources.at((section,)) or key_loc))
                continue
            if section in LIST_SECTIONS:
                target = policy.setdefault(section, [])
                if (section,) not in first:
                    first[(section,)] = key_loc
                    sources.set((section,), key_loc)
                start = len(target)
                with_meta = [i for i, entry in enumerate(value)
                             if isinstance(entry, dict) and not NO_ENTRY_META(entry)]
                kept: Sequence[int] = range(len(value))  # file indices of the entries kept
                if with_meta:
                    kept = _strip_entries(section, value, frag.sources, start, now, target,
                                          meta, problems, expired)
                else:
                    target.extend(value)
                sources.update(frag.sources.renumbered((section,), kept, start))
                if here_noted:
                    comments_renumbered(here_noted, (section,), kept, start, comments)
            elif section in MAPPING_SECTIONS or section == DEVICES:
                target = devices if section == DEVICES else policy.setdefault(section, {})
                if (section,) not in first:
                    first[(section,)] = key_loc
                    sources.set((section,), key_loc)
                for name, item in value.items():
                    here = frag.sources.key((section, name)) or key_loc
                    if (section, name) in first:
                        problems.append(Problem(
                            f'{section}["{name}"] is defined twice: first at '
                            f"{first[(section, name)]}", here))
                        continue
                    first[(section, name)] = here
                    if section == "groups" and isinstance(item, list):
                        written = len(item)
                        item = strip_group_members(name, item, frag.sources, now, problems,
                                                   expired)
                        member_reasons.update(((name, login), why)
                                              for login, why in item.reasons.items())
                        if len(item.origins) == written:  # every member kept where it was
                            sources.update(frag.sources.rebased((section, name), (section, name)))
                        else:
                            group_loc = frag.sources.at(("groups", name))
                            if group_loc is not None:
                                sources.set(("groups", name), group_loc)
                            sources.update(
                                frag.sources.renumbered(("groups", name), item.origins, 0))
                        member_meta.extend(
                            (name, login, expires, frag.sources.at(("groups", name, index)))
                            for login, expires, index in item.expiring)
                        if here_noted:
                            if (section, name) in here_noted:
                                add_comment(comments, (section, name),
                                            here_noted[(section, name)])
                            comments_renumbered(here_noted, (section, name), item.origins, 0,
                                                comments)
                    else:
                        sources.update(frag.sources.rebased((section, name), (section, name)))
                        if here_noted:
                            _carry_under(here_noted, (section, name), comments)
                    target[name] = item
                    sources.set((section, name, "<key>"), here)
            else:
                if (section,) in first:
                    problems.append(Problem(
                        f'"{section}" is defined twice: first at {first[(section,)]}', key_loc))
                    continue
                first[(section,)] = key_loc
                policy[section] = value
                sources.update(frag.sources.rebased((section,), (section,)))
                if here_noted:
                    _carry_under(here_noted, (section,), comments, below_only=True)
                sources.set((section, "<key>"), key_loc)
    for section in LIST_SECTIONS:
        _check_unique_names(section, meta, sources, problems)
    for path, entry_meta in meta.items():
        documented = _documented(entry_meta)
        if documented:
            add_comment(comments, path, Comment(lead=documented))
    return Desired(policy=policy, sources=sources, devices=devices, meta=meta,
                   member_meta=member_meta, member_reasons=member_reasons, expired=expired,
                   files=[f.path for f in fragments], comments=comments)


def _lift_metadata_comments(noted: Comments) -> Comments:
    """A comment at a metadata key (`name: web  # why`, `user: x  # on call`) documents
    its entry, and the key is stripped: it moves above the entry."""
    out: Comments = {}
    for path, comment in noted.items():
        depth = 4 if path[0] == "groups" else 3
        if len(path) == depth and path[-1] in (
                MEMBER_KEYS if path[0] == "groups" else ENTRY_META_KEYS):
            trail = () if comment.trail is None else (comment.trail,)
            add_comment(out, path[:-1], Comment(lead=(*comment.lead, *trail, *comment.after)))
        else:
            add_comment(out, path, comment)
    return out


def _carry_under(noted: Comments, prefix: PathKey, into: Comments, *,
                 below_only: bool = False) -> None:
    """The comments at `prefix` (unless `below_only`) and under it, at the same paths."""
    n = len(prefix)
    for path, comment in noted.items():
        if path[:n] == prefix and (len(path) > n or not below_only):
            add_comment(into, path, comment)


def _documented(entry_meta: EntryMeta) -> tuple[str, ...]:
    """An entry's description and owner as comment lines above it, for whoever reads the
    policy in the admin console."""
    lines = [f" {line.strip()}" if line.strip() else ""
             for line in (entry_meta.description or "").splitlines()]
    if entry_meta.owner:
        lines.append(f" owner: {' '.join(entry_meta.owner.split())}")
    return tuple(lines)


def _strip_entries(section: str, entries: list[Any], frag_sources: SourceMap, start: int,
                   now: datetime, target: list[Any], meta: dict[PathKey, EntryMeta],
                   problems: list[Problem], expired: list[Expired]) -> list[int]:
    """Append the entries to `target` without their metadata (expired ones left out),
    recording the metadata; the file indices of the entries kept."""
    kept: list[int] = []
    for i, entry in enumerate(entries):
        stripped = strip_list_entry(section, entry, (section, i), frag_sources, now, problems,
                                    expired)
        if stripped is None:
            continue
        entry_data, entry_meta = stripped
        if entry_meta is not None:
            meta[(section, start + len(kept))] = entry_meta
        target.append(entry_data)
        kept.append(i)
    return kept


# Sections whose value maps names to definitions: merged key by key across fragments.
MAPPING_SECTIONS = ("groups", "tagOwners", "hosts", "ipsets", "postures", "attrConfig")


def _check_unique_names(section: str, meta: dict[PathKey, EntryMeta], sources: SourceMap,
                        problems: list[Problem]) -> None:
    """Entry names address resources in plans, so they must be unique per section."""
    seen: dict[str, PathKey] = {}
    for path in sorted(p for p in meta if p[0] == section):
        name = meta[path].name
        if name is None:
            continue
        if name in seen:
            problems.append(Problem(
                f'{section}: name "{name}" is used twice (first at {sources.at(seen[name])}); '
                "names must be unique within a section",
                sources.at((*path, "name")) or sources.at(path)))
        else:
            seen[name] = path


def _check_devices(desired: Desired) -> list[Problem]:
    problems: list[Problem] = []
    owners = desired.policy.get("tagOwners")
    tags = set(owners) if isinstance(owners, dict) else set()
    for name, spec in desired.devices.items():
        where = desired.sources.at((DEVICES, name))
        if not isinstance(spec, dict):
            problems.append(Problem(f'devices["{name}"] must be a mapping like '
                                    "{tags: [tag:prod]}", where))
            continue
        for key in spec:
            if key != "tags":
                from reconciler.core.suggest import unknown_key

                problems.append(Problem(f'devices["{name}"]: {unknown_key(key, ["tags"])}',
                                        desired.sources.key((DEVICES, name, key))))
        device_tags = spec.get("tags", [])
        if not isinstance(device_tags, list) or not all(isinstance(t, str) for t in device_tags):
            problems.append(Problem(f'devices["{name}"].tags must be a list of tag names',
                                    desired.sources.at((DEVICES, name, "tags"))))
            continue
        for i, tag in enumerate(device_tags):
            loc = desired.sources.at((DEVICES, name, "tags", i))
            if not tag.startswith("tag:"):
                problems.append(Problem(f'devices["{name}"]: "{tag}" is not a tag (tag:<name>)',
                                        loc))
            elif tag not in tags:
                problems.append(Problem(f'devices["{name}"]: tag not found: "{tag}" '
                                        "(define it in tagOwners)", loc, code="not-found"))
    return [Problem(p.message, p.location, Severity.ERROR, p.code) for p in problems]

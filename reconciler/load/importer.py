"""`import`: adopt an existing tailnet by writing its live policy into policies/.

load/ (step: import, the load step run backwards). May import: `load.hujson`, `core`,
stdlib. One fragment per top-level section
(`policies/groups.hujson`, `policies/acls.hujson`, ...), each sliced from the live
HuJSON syntax tree so the comments written in the admin console stay with their
section, then put through `hujson.format`. The document's own leading comment block
(where reconciler's managed header lives) is not copied. Planning right after an
import shows no changes: the fragments hold exactly the live document.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from reconciler.core import redact
from reconciler.core.errors import ConfigError, ReconcilerError
from reconciler.load import hujson

FRAGMENT_SUFFIXES = (".yaml", ".yml", ".hujson", ".json")


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


def _filename(section: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", section) + ".hujson"


def import_policy(text: str, policies_dir: Path, *, force: bool = False,
                  shown: str = "policies") -> list[ImportedFile]:
    """Write the live policy `text` as fragments under `policies_dir`.

    Refuses when policies/ already holds fragments, unless `force`, which removes them
    first (they are in git, so nothing is lost for good).
    """
    sections = split_sections(text)
    existing = sorted(p for p in policies_dir.rglob("*")
                      if p.is_file() and p.suffix in FRAGMENT_SUFFIXES) \
        if policies_dir.is_dir() else []
    if existing and not force:
        names = ", ".join(p.relative_to(policies_dir).as_posix() for p in existing[:5])
        more = f" and {len(existing) - 5} more" if len(existing) > 5 else ""
        raise ConfigError(
            f"{shown}/ already holds policy fragments ({names}{more})",
            "Importing next to them would define sections twice. Use --force to replace "
            f"them (they stay in git history), or import into an empty {shown}/.")
    written = []
    try:
        for path in existing:
            path.unlink()
        policies_dir.mkdir(parents=True, exist_ok=True)
        for section, (fragment, sliced) in sections.items():
            path = policies_dir / _filename(section)
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

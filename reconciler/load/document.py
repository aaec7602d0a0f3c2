"""load/ (step: compile): the canonical Tailscale policy document, as JSON or HuJSON.

May import: `hujson`, `errors`. Pure functions over the merged policy dict (and, for
HuJSON, the comments that go with it). Sections come
in a fixed order (Tailscale's documentation order, unknown ones last, sorted) and the
keys of every entry in a fixed order, so the same desired state always compiles to the
same bytes. The HuJSON form starts with the managed header, which records the commit
and fingerprint it came from: that is how a later run finds the base (last applied)
state and tells an out-of-band edit from a pending change.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from reconciler.load import hujson

SECTION_ORDER = (
    "groups", "tagOwners", "hosts", "ipsets", "postures", "defaultSrcPosture",
    "acls", "grants", "ssh", "nodeAttrs", "autoApprovers", "tests", "sshTests",
    "derpMap", "attrConfig", "disableIPv4", "OneCGNATRoute", "oneCGNATRoute",
    "randomizeClientPort",
)

ENTRY_KEY_ORDER = {
    "acls": ("action", "src", "users", "proto", "dst", "ports", "srcPosture"),
    "grants": ("src", "dst", "ip", "app", "via", "srcPosture"),
    "ssh": ("action", "src", "dst", "users", "checkPeriod", "acceptEnv", "srcPosture"),
    "nodeAttrs": ("target", "attr", "app", "ipPool"),
    "tests": ("src", "user", "srcPostureAttrs", "proto", "accept", "allow", "deny"),
    "sshTests": ("src", "dst", "accept", "check", "deny", "srcPostureAttrs"),
}

HEADER_MARK = "// reconciler:"
HEADER_RE = re.compile(
    r"^//\s*reconciler:\s*commit=(?P<commit>[0-9a-f]{7,64}|none)"
    r"(?:\s+dirty=(?P<dirty>true|false))?\s+fingerprint=(?P<fp>[0-9a-f]{64})\s*$",
    re.MULTILINE,
)


@dataclass(frozen=True)
class ManagedHeader:
    commit: str | None
    fingerprint: str
    dirty: bool = False


def canonical(policy: dict[str, Any]) -> dict[str, Any]:
    """The same document with sections and entry keys in canonical order (entries already
    in that order are shared, not copied)."""
    ordered: dict[str, Any] = {}
    known = [s for s in SECTION_ORDER if s in policy]
    unknown = sorted(s for s in policy if s not in SECTION_ORDER)
    for section in known + unknown:
        value = policy[section]
        order = ENTRY_KEY_ORDER.get(section)
        if order and isinstance(value, list):
            value = _ordered_entries(value, order)
        ordered[section] = value
    return ordered


def _ordered_entries(entries: list[Any], order: tuple[str, ...]) -> list[Any]:
    # Entries mostly share a few key sequences: find each one's canonical order once.
    orders: dict[tuple[str, ...], tuple[str, ...]] = {}
    out = []
    for entry in entries:
        if not isinstance(entry, dict):
            out.append(entry)
            continue
        keys = tuple(entry)
        wanted = orders.get(keys)
        if wanted is None:
            wanted = orders[keys] = _key_order(keys, order)
        out.append(entry if wanted == keys else {k: entry[k] for k in wanted})
    return out


def _key_order(keys: tuple[str, ...], order: tuple[str, ...]) -> tuple[str, ...]:
    first = [k for k in order if k in keys]
    rest = sorted(k for k in keys if k not in order)
    return (*first, *rest)


def fingerprint(policy: dict[str, Any]) -> str:
    """sha256 hex of the canonical JSON (sorted keys, no whitespace) of the document."""
    text = json.dumps(policy, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def to_json(policy: dict[str, Any]) -> str:
    return json.dumps(canonical(policy), indent=2, ensure_ascii=False) + "\n"


def to_hujson(policy: dict[str, Any], *, commit: str | None, dirty: bool = False,
              comments: hujson.Comments | None = None) -> str:
    """HuJSON with the managed header, already in `hujson.format` canonical form.

    `comments` (`Desired.comments`: what the fragments' comments, descriptions and
    owners say, by path) are written above and beside their sections, keys and
    entries, so whoever reads the policy in the admin console sees them. They are not
    part of the fingerprint: a change to comments alone is no change to the policy
    (no resource changes, nothing pushed)."""
    doc = canonical(policy)
    header = (
        "// Managed by reconciler from git. Edits made elsewhere are reported as drift\n"
        "// and reverted by the next apply.\n"
        f"{HEADER_MARK} commit={commit or 'none'}"
        f"{' dirty=true' if dirty else ''} fingerprint={fingerprint(doc)}\n"
    )
    # `dumps` already gives Format's canonical form, and Format keeps whole `//` lines
    # before the root value as written, so the text is a fixed point of `hujson.format`
    # without formatting it all a second time (seconds on a large tailnet); the tests
    # check that fixed point (tests/test_compile_format.py).
    return header + hujson.dumps(doc, comments=comments)


def read_header(text: str) -> ManagedHeader | None:
    """The managed header of a live policy text, or None when it carries none."""
    # Only the leading comment block counts: a header pasted into a rule's comment
    # further down does not make a policy managed.
    lead = []
    for line in text.lstrip("\ufeff").splitlines():
        stripped = line.strip()
        if stripped.startswith("//") or not stripped:
            lead.append(stripped)
            continue
        break
    match = HEADER_RE.search("\n".join(lead))
    if match is None:
        return None
    commit = None if match["commit"] == "none" else match["commit"]
    return ManagedHeader(commit=commit, fingerprint=match["fp"], dirty=match["dirty"] == "true")

#!/usr/bin/env python3
"""Maintenance: check that tests/data holds byte-identical copies of the shared originals.

Not part of the test suite (the suite never reads the originals, so a fresh clone tests
itself); run it by hand after the shared recordings or specs change:

    python3 scripts/check_test_data.py [SHARED_DIR]     # default /work/shared

Exit 0 when every copy equals its original, 1 when one differs or is missing, or when
SHARED_DIR does not exist (nothing was compared, which must not read as agreement).
Standard library only.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"

# copy under tests/data -> original under SHARED_DIR (same relative path)
COPIED = (
    "conformance/tailscale-saas/acl.json",
    "conformance/tailscale-saas/grant.json",
    "conformance/tailscale-saas/nodeattrs.json",
    "conformance/tailscale-saas/policytest.json",
    "conformance/tailscale-saas/routes.json",
    "conformance/tailscale-saas/ssh.json",
    "conformance/tailscale-saas/sshtest.json",
    "specs/hujson-format-vectors.json",
    "specs/tailscale-api-v2-openapi.yaml",
)

# Files vendored from a package registry (not in SHARED_DIR), pinned by their digest;
# tests/data/README.md names the package and version.
VENDORED = {
    "mermaid/LICENSE": "ec9fb67dcb25eccc416ed56e1aab819222c805a2a4bfe4cb19e7556bf2ffde80",
    "mermaid/mermaid.min.js": "581ed7d74bd9048d0e3a91363927d72ef22942d7722546b27f7cc29e35390eb8",
}


def _digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def main(argv: list[str]) -> int:
    shared = Path(argv[1] if len(argv) > 1 else "/work/shared")
    if not shared.is_dir():
        print(f"{shared}: no such directory; nothing compared (pass the shared directory)")
        return 1
    bad = 0
    # A data file added without a line here would never be checked.
    for path in sorted(DATA.rglob("*")):
        rel = path.relative_to(DATA).as_posix()
        if path.is_file() and path.name != "README.md" and rel not in COPIED \
                and rel not in VENDORED:
            print(f"tests/data/{rel}: not listed in {Path(__file__).name}")
            bad += 1
    for rel, digest in VENDORED.items():
        if _digest(DATA / rel) != digest:
            print(f"tests/data/{rel}: not the vendored file (see tests/data/README.md)")
            bad += 1
    for rel in COPIED:
        copy, original = _digest(DATA / rel), _digest(shared / rel)
        if original is None:
            print(f"{shared / rel}: original missing")
            bad += 1
        elif copy != original:
            print(f"tests/data/{rel}: differs from {shared / rel}; copy it again "
                  f"and say why in the commit")
            bad += 1
    if not bad:
        print(f"tests/data: {len(COPIED)} files identical to {shared}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""Each third-party library has one home (architecture.md, Conventions).

Parses every module's imports with `ast`, so a stray `import httpx` in the engine or
`import click` in a backend fails here instead of in review.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "reconciler"

# library -> the modules (paths relative to reconciler/, prefixes end with "/") allowed it.
HOMES: dict[str, tuple[str, ...]] = {
    "click": ("cli/",),
    "git": ("load/gitsource.py",),
    "httpx": ("backends/",),
    "deepdiff": ("diff/resources.py",),
    "yaml": ("load/yamlsource.py", "load/config.py", "engine/inventory_io.py"),
    "ruamel": ("load/fmt.py",),
}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def allowed(rel: str, homes: tuple[str, ...]) -> bool:
    return any(rel == h or (h.endswith("/") and rel.startswith(h)) for h in homes)


def test_third_party_libraries_stay_in_their_home() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        for library in imported_roots(path) & HOMES.keys():
            if not allowed(rel, HOMES[library]):
                offenders.append(f"reconciler/{rel} imports {library}")
    assert offenders == []


def test_lowest_layer_imports_only_the_stdlib_and_itself() -> None:
    lowest = ["source.py", "problems.py", "errors.py", "inventory.py", "suggest.py", "redact.py",
              "atomicfile.py"]
    ours = {"source", "problems", "errors", "suggest", "inventory"}
    for name in lowest:
        tree = ast.parse((PACKAGE / "core" / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(
                "reconciler."
            ):
                assert node.module.split(".")[:2] == ["reconciler", "core"] and \
                    node.module.split(".")[2] in ours, f"{name} imports {node.module}"

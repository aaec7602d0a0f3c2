"""The layout and its layering (README, Architecture), enforced by import-linter.

The contracts live in pyproject.toml ([tool.importlinter]): the pipeline folders form
layers that import only downwards, core/ uses the standard library only, and each
third-party library has one home. `lint-imports` reads every import, including those
inside functions, so a stray `import httpx` in the engine or a loader that reaches up
into plan/ fails here instead of in review.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: mypy's dependency provides the same parser
    import tomli as tomllib

from tests.conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "reconciler"
LINT_IMPORTS = str(Path(sys.executable).with_name("lint-imports"))


def contracts() -> list[dict]:
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return config["tool"]["importlinter"]["contracts"]


def lint_imports(package_parent: Path) -> subprocess.CompletedProcess[str]:
    """lint-imports over the `reconciler` package found in `package_parent`."""
    env = {**os.environ, "PYTHONPATH": str(package_parent)}
    return subprocess.run(
        [LINT_IMPORTS, "--config", str(REPO_ROOT / "pyproject.toml"), "--no-cache"],
        cwd=package_parent, env=env, capture_output=True, text=True, timeout=300,
    )


def test_import_contracts_are_kept() -> None:
    result = lint_imports(REPO_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Contracts: {len(contracts())} kept, 0 broken." in result.stdout


def test_contracts_catch_an_upward_import_and_a_library_out_of_its_home(tmp_path: Path) -> None:
    copy = tmp_path / "reconciler"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    with (copy / "load" / "desired.py").open("a", encoding="utf-8") as f:
        f.write("\n\ndef _up() -> None:\n    from reconciler.plan import planner  # noqa\n")
    with (copy / "engine" / "explain.py").open("a", encoding="utf-8") as f:
        f.write("\nimport httpx  # noqa\n")
    result = lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout
    assert "Layers point down only (README, Architecture) BROKEN" in result.stdout
    assert "reconciler.load.desired -> reconciler.plan.planner" in result.stdout
    assert "httpx lives in backends/ only BROKEN" in result.stdout
    assert "reconciler.engine.explain -> httpx" in result.stdout


def test_every_folder_has_a_layer_and_no_module_is_loose() -> None:
    (layers,) = [c for c in contracts() if c["type"] == "layers"]
    placed = {name.strip() for layer in layers["layers"] for name in layer.split("|")}
    folders = {p.name for p in PACKAGE.iterdir()
               if p.is_dir() and (p / "__init__.py").is_file()}
    assert folders == placed
    loose = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert loose == ["__init__.py", "__main__.py"]

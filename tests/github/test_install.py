"""Installing this project the way its users are told to: `reconciler init`'s workflow,
the README and the example workflows must install this project and nothing else.

`pip install reconciler` installs an unrelated package from PyPI (no `reconciler`
command), so the distribution is `tailnet-reconciler`. The journey test runs the
install line `init` writes, in a fresh virtual environment, with pip pointed at a wheel
built from this checkout (`--no-index --find-links`), so PyPI is never asked for any
name. The dependencies (click, httpx, ...) come from this test run's own environment
through PYTHONPATH rather than from an index: the test stays offline.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import yaml

from reconciler import __version__
from tests.conftest import REPO_ROOT

DIST = "tailnet-reconciler"
RECONCILER = Path(sys.executable).parent / "reconciler"

# A pip command line that installs something called reconciler from an index.
BARE_NAME = re.compile(r"pip3? install\b[^\n]*?(?<![\w@/-])[\"']?reconciler(?![\w-])")


def _pip_install_lines(workflow: dict) -> list[str]:
    return [step["run"].strip() for job in workflow["jobs"].values() for step in job["steps"]
            if str(step.get("run", "")).strip().startswith("pip install")]


def _build_wheel(tmp: Path) -> Path:
    """A wheel of this checkout, built offline from a copy (no build/ left in the tree)."""
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO_ROOT / name, src / name)
    shutil.copytree(REPO_ROOT / "reconciler", src / "reconciler",
                    ignore=shutil.ignore_patterns("__pycache__"))
    wheels = tmp / "wheels"
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                           "--no-build-isolation", "--no-index", "-w", str(wheels), str(src)],
                          capture_output=True, text=True, check=False, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return wheels


def test_init_workflow_installs_this_project_in_a_fresh_venv(tmp_path: Path) -> None:
    project = tmp_path / "policy-repo"
    proc = subprocess.run([str(RECONCILER), "init", str(project)], capture_output=True,
                          text=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    workflow = yaml.safe_load((project / ".github/workflows/reconciler.yml").read_text())
    lines = _pip_install_lines(workflow)
    assert lines, "the generated workflow installs nothing"
    assert set(lines) == {f'pip install "{DIST}=={__version__}"'}, lines

    argv = shlex.split(lines[0])
    assert argv[:2] == ["pip", "install"]
    wheels = _build_wheel(tmp_path)
    fresh = tmp_path / "fresh"
    subprocess.run([sys.executable, "-m", "venv", str(fresh)], check=True, timeout=300)
    # The line's own requirements, resolved only against the wheel of this checkout.
    proc = subprocess.run([str(fresh / "bin" / "pip"), "install", "--quiet",
                           "--disable-pip-version-check", "--no-index", "--find-links",
                           str(wheels), "--no-deps", *argv[2:]],
                          capture_output=True, text=True, check=False, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    deps = sysconfig.get_paths()["purelib"]
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": deps, "HOME": str(tmp_path)}
    command = fresh / "bin" / "reconciler"
    version = subprocess.run([str(command), "--version"], capture_output=True, text=True,
                             check=False, env=env, timeout=120)
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"reconciler, version {__version__}"
    where = subprocess.run([str(fresh / "bin" / "python"), "-c",
                            "import reconciler; print(reconciler.__file__)"],
                           capture_output=True, text=True, check=True, env=env, timeout=120,
                           cwd=tmp_path)
    assert where.stdout.strip().startswith(str(fresh)), where.stdout
    # The installed command works, package data included: it scaffolds a repository.
    again = subprocess.run([str(command), "init", str(tmp_path / "second")],
                           capture_output=True, text=True, check=False, env=env, timeout=120,
                           cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert (tmp_path / "second" / "policies" / "tests.yaml").is_file()


def test_no_document_installs_the_unrelated_reconciler_package() -> None:
    documents = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "examples").rglob("*.yml")),
                 *sorted((REPO_ROOT / "reconciler" / "scaffold").rglob("*.yml"))]
    assert len(documents) >= 5
    offenders = [f"{path.relative_to(REPO_ROOT)}: {m.group(0)}" for path in documents
                 for m in BARE_NAME.finditer(path.read_text(encoding="utf-8"))]
    assert offenders == []
    # ...and the pattern does catch the line the scaffold used to carry.
    assert BARE_NAME.search('      - run: pip install reconciler\n')
    assert not BARE_NAME.search(f'pip install "{DIST}==1.0"')


def test_distribution_name_is_ours() -> None:
    pyproject = (REPO_ROOT / "pyproject.toml").read_text()
    assert re.search(r'^name = "tailnet-reconciler"$', pyproject, re.M)
    assert re.search(r'^reconciler = "reconciler.cli:main"$', pyproject, re.M)

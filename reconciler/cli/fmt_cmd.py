"""`reconciler fmt [--check]`: rewrite fragments in canonical layout."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import click

from reconciler.cli import AppContext, cli, echo_problems, pass_app
from reconciler.cli.common import config_for, relative
from reconciler.desired import FRAGMENT_SUFFIXES
from reconciler.errors import ConfigError
from reconciler.fmt import format_file


@cli.command("fmt")
@click.option("--check", is_flag=True,
              help="Change nothing; list the files that would change and exit 1 if any.")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@pass_app
def fmt_command(app: AppContext, check: bool, paths: tuple[Path, ...]) -> None:
    """Format policy fragments (default: every fragment under policies/).

    HuJSON is formatted exactly like Tailscale's tooling (Go hujson.Format); YAML keeps
    its comments, key order and quoting and only gets its indentation normalised.
    """
    config = config_for(app)
    files = _collect(paths or (config.policies_dir,), config.policies_dir)
    changed: list[str] = []
    failed = False
    for path in files:
        shown = relative(path, app.cwd)
        result = format_file(path, shown=shown)
        if result.problem is not None:
            echo_problems([result.problem])
            failed = True
            continue
        if not result.changed:
            continue
        changed.append(shown)
        if not check:
            _write_atomically(path, result.formatted or "")
    for shown in changed:
        click.echo(f"would reformat {shown}" if check else f"reformatted {shown}")
    if not changed and not failed:
        click.echo(f"{len(files)} file(s) already formatted.")
    if failed or (check and changed):
        raise click.exceptions.Exit(1)


def _collect(paths: tuple[Path, ...], policies_dir: Path) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(p for p in sorted(path.rglob("*"))
                         if p.is_file() and p.suffix in FRAGMENT_SUFFIXES
                         and not any(part.startswith(".") for part in p.relative_to(path).parts))
        elif path.suffix in FRAGMENT_SUFFIXES:
            files.append(path)
        else:
            raise ConfigError(f"{path} is not a policy fragment (.yaml, .yml, .hujson, .json)")
    if not paths and not policies_dir.is_dir():
        raise ConfigError(f"policies directory not found: {policies_dir}")
    return files


def _write_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

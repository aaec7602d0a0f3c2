"""`reconciler fmt [--check]`: rewrite fragments in canonical layout."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import click

from reconciler.cli import AppContext, cli, echo_problems, pass_app
from reconciler.cli.common import config_for, relative
from reconciler.core.errors import ConfigError
from reconciler.core.problems import Problem
from reconciler.core.source import Location
from reconciler.load.desired import FRAGMENT_SUFFIXES
from reconciler.load.fmt import format_file


@cli.command("fmt")
@click.option("--check", is_flag=True,
              help="Change nothing; list the files that would change and exit 1 if any.")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@pass_app
def fmt_command(app: AppContext, check: bool, paths: tuple[Path, ...]) -> None:
    """Format policy fragments (default: every fragment under policies/).

    HuJSON is formatted exactly like Tailscale's tooling (Go hujson.Format, CR and CRLF
    included); YAML keeps its comments, key order and quoting and only gets its
    indentation and line endings normalised. A file that does not load as a fragment
    (invalid UTF-8, duplicate keys, a number JSON cannot hold) is reported with its
    file:line:col and left as it is; the others are still formatted. Symlinked
    fragments are written through, not replaced.
    """
    config = config_for(app)
    files = _collect(paths or (config.policies_dir,), config.policies_dir)
    changed: list[str] = []
    failed = False
    for path in files:
        shown = _shown(path, app.cwd)
        result = format_file(path, shown=shown)
        if result.problems:
            echo_problems(list(result.problems))
            failed = True
            continue
        if not result.changed:
            continue
        if not check:
            try:
                _write_atomically(path, result.formatted or b"")
            except OSError as e:
                echo_problems([Problem(f"cannot write: {e.strerror}; the file is unchanged",
                                       Location(shown, 1, 1))])
                failed = True
                continue
        changed.append(shown)
    for shown in changed:
        click.echo(f"would reformat {shown}" if check else f"reformatted {shown}")
    if not changed and not failed:
        click.echo(f"{len(files)} file(s) already formatted.")
    if failed or (check and changed):
        raise click.exceptions.Exit(1)


def _shown(path: Path, cwd: Path) -> str:
    """The path as the user knows it: a symlinked fragment by its link's name, not by
    where it points (`common.relative` resolves links)."""
    absolute = Path(os.path.abspath(path))
    try:
        return absolute.relative_to(cwd).as_posix()
    except ValueError:
        return relative(path, cwd)


def _collect(paths: tuple[Path, ...], policies_dir: Path) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            # A dangling or looping symlink is kept: reading it fails with a located
            # problem instead of the fragment silently going unformatted.
            files.extend(p for p in sorted(path.rglob("*"))
                         if (p.is_file() or p.is_symlink()) and p.suffix in FRAGMENT_SUFFIXES
                         and not any(part.startswith(".") for part in p.relative_to(path).parts))
        elif path.suffix in FRAGMENT_SUFFIXES:
            files.append(path)
        else:
            raise ConfigError(f"{path} is not a policy fragment (.yaml, .yml, .hujson, .json)")
    if not paths and not policies_dir.is_dir():
        raise ConfigError(f"policies directory not found: {policies_dir}")
    return files


def _write_atomically(path: Path, data: bytes) -> None:
    """Replace the file's bytes in one rename. A symlinked fragment keeps its link: the
    file it points to is the one replaced (beside itself, so the rename stays atomic)."""
    target = Path(os.path.realpath(path))
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, target.stat().st_mode & 0o777)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

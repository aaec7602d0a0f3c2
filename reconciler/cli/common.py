"""Helpers the command modules share: loading the desired state and printing notices.

Part of the CLI layer (click's home). May import: click, `desired`, `config`, `problems`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click

from reconciler.cli import AppContext, echo_problems
from reconciler.load.config import Config, load_config
from reconciler.load.desired import Desired, load_desired

FORMAT_TEXT_JSON = click.Choice(["text", "json"])

F = TypeVar("F", bound=Callable[..., object])


def ref_option(f: F) -> F:
    return click.option(
        "--ref", metavar="REV",
        help="Read policies/ at this git revision (branch, tag, commit) instead of the "
             "working tree.",
    )(f)


def load(app: AppContext, *, ref: str | None = None, quiet: bool = False,
         tests: bool = True, revision: bool = True) -> Desired:
    """Config + desired state for the current directory; notices go to stderr.
    `tests` / `revision`: see `load_desired` (False for commands that never use them)."""
    config = load_config(app.cwd)
    desired = load_desired(app.cwd, ref=ref, now=app.now(), config=config, tests=tests,
                           revision=revision)
    if not quiet:
        echo_problems(desired.notices)
    return desired


def config_for(app: AppContext) -> Config:
    return load_config(app.cwd)


def relative(path: Path, base: Path) -> str:
    try:
        return path.resolve().relative_to(base).as_posix()
    except ValueError:
        return str(path)

"""`reconciler init [DIR]`: scaffold a new desired-state repository."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import click

from reconciler import __version__
from reconciler.cli import AppContext, cli, pass_app
from reconciler.core.errors import ConfigError
from reconciler.load import gitsource
from reconciler.load.fragment_schema import SCHEMA_PATH, schema_text

# Scaffold file (package data) -> where it goes in the new repository.
SCAFFOLD = {
    "reconciler.yaml": "reconciler.yaml",
    "policies/groups.yaml": "policies/groups.yaml",
    "policies/access.yaml": "policies/access.yaml",
    "policies/tests.yaml": "policies/tests.yaml",
    "tailnet.yaml": "tailnet.yaml",
    "github/reconciler.yml": ".github/workflows/reconciler.yml",
    "gitignore": ".gitignore",
}


@cli.command("init")
@click.argument("directory", required=False, default=".",
                type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
@pass_app
def init_command(app: AppContext, directory: Path, force: bool) -> None:
    """Scaffold a desired-state repository in DIRECTORY (default: here).

    Writes reconciler.yaml (a local demo target and commented real ones), policies/ with
    a small working example (groups, tags, grants, SSH, tests), the fragments' JSON
    Schema (schema/, for editors), and a GitHub workflow (validate and test every pull
    request; once RECONCILER_TARGET is set in it, save the plan and apply exactly that
    plan on merge). Makes DIRECTORY a git repository unless it is inside one.
    """
    target = (app.cwd / directory).resolve()
    existing = [dest for dest in (*SCAFFOLD.values(), SCHEMA_PATH) if (target / dest).exists()]
    if existing and not force:
        raise ConfigError(
            f"{directory} already has {', '.join(existing)}",
            "Nothing was written. Use --force to overwrite, or pick an empty directory.",
        )
    package = resources.files("reconciler") / "scaffold"
    try:
        target.mkdir(parents=True, exist_ok=True)
        for source, dest in SCAFFOLD.items():
            out = target / dest
            out.parent.mkdir(parents=True, exist_ok=True)
            text = (package / source).read_text(encoding="utf-8")
            # The workflow pins the release that wrote it, so CI runs what `init` was run
            # with.
            text = text.replace("@version@", __version__)
            out.write_text(text, encoding="utf-8")
            click.echo(f"  created {dest}")
        # The fragments' first line points editors here (completion and checking).
        out = target / SCHEMA_PATH
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(schema_text(), encoding="utf-8")
        click.echo(f"  created {SCHEMA_PATH}")
    except OSError as e:
        raise ConfigError(f"cannot write in {directory}: {e.strerror or e}",
                          "Pick a directory you can write to, or fix its permissions.") from e
    if gitsource.init_repo(target):
        click.echo("  initialised a git repository")
    shown = "." if target == app.cwd else str(directory)
    click.echo(
        f"\nNext: cd {shown} && reconciler validate && reconciler test && reconciler plan"
    )

"""`reconciler show PLAN`: render a saved plan without contacting a control plane.

CLI layer. May import: click, `planfile`, `plancheck`, `render`. The plan is checked as
`apply` checks it (checksum, signature with RECONCILER_PLAN_KEY set, and the recorded
changes recomputed from its document), so what is shown is what would be pushed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from reconciler.cli import cli, use_color
from reconciler.core.forked import collector_paused
from reconciler.plan import plancheck, planfile
from reconciler.render import github, json_, markdown, text


@cli.command("show")
@click.argument("plan_file", type=click.Path(dir_okay=False, path_type=Path), metavar="PLAN")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown", "github"]),
              default="text", show_default=True)
def show_command(plan_file: Path, fmt: str) -> None:
    """Render a plan saved with `plan -o PLAN` (for a PR comment, a summary, a review).

    Reads only the file: the rendering is of exactly what `apply PLAN` would do.
    """
    with collector_paused():  # the record's access diff is recomputed: see core.forked
        plan = plancheck.read(plan_file, key=planfile.signing_key())
    if fmt == "json":
        out = json_.render_plan(plan, command="show")
    elif fmt == "markdown":
        out = markdown.render_plan(plan)
    elif fmt == "github":
        out = github.render_plan(plan)
    else:
        out = text.render_plan(plan, plan_path=str(plan_file), color=use_color(sys.stdout))
    click.echo(out, nl=False)

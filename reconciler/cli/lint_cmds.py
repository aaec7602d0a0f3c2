"""`reconciler lint`: checks for a valid policy that is probably not what was meant.

CLI layer (click's home). Thin: load the desired state and the lint settings, run
`reconciler.lint.lint_desired`, render, exit 1 when a finding has error severity.
"""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.cli import AppContext, cli, pass_app
from reconciler.engine.inventory_io import load_inventory
from reconciler.lint import LintReport, LintSettings, lint_desired
from reconciler.load.config import load_config
from reconciler.load.desired import load_desired
from reconciler.render.lint import render_github, render_text


def _render_json(report: LintReport) -> str:
    from reconciler.render.json_ import render  # heavy; only JSON output needs it

    return render("lint", report.to_dict())


RENDERERS = {"text": render_text, "json": _render_json, "github": render_github}


@cli.command()
@click.option("--format", "fmt", type=click.Choice(sorted(RENDERERS)), default="text",
              show_default=True, help="Output format (github: workflow annotations).")
@click.option("--inventory", "inventory_path", type=click.Path(dir_okay=False, path_type=Path),
              metavar="FILE",
              help="Evaluate rules over this inventory (default: one synthetic device per "
                   "user and tag the policy names).")
@pass_app
def lint(app: AppContext, fmt: str, inventory_path: Path | None) -> None:
    """Find unused and undefined names, shadowed and risky rules, untested rules and
    just-in-time access about to expire.

    Severities and thresholds are set under `lint:` in reconciler.yaml. Exits 1 when a
    finding has error severity.
    """
    config = load_config(app.cwd)
    settings = LintSettings.from_config(config.lint, where=str(config.file or "reconciler.yaml"),
                                        sensitive_tags=config.sensitive_tags)
    # Lint reports undefined names itself (with codes); the loader still rejects bad syntax.
    desired = load_desired(app.cwd, now=app.now(), config=config, validate=False)
    inventory = load_inventory(inventory_path) if inventory_path is not None else None
    report = lint_desired(desired, settings, now=app.now(), inventory=inventory)
    click.echo(RENDERERS[fmt](report), nl=False)
    if report.failed:
        raise click.exceptions.Exit(1)

"""`reconciler history`: the applies recorded as git notes (refs/notes/reconciler).

CLI layer (click's home). May import: `cli`, `gitsource`, `render.json_` (JSON only).
Reads the notes `apply --git-note` and the GitHub Action write: one line per apply,
`reconciler apply key=value ...` (target, etag_before, etag_after, at; from the Action
also actor, pull_request, run). Other lines of a note are left alone.
"""

from __future__ import annotations

import click

from reconciler.cli import AppContext, cli, pass_app
from reconciler.cli.common import FORMAT_TEXT_JSON

NOTES_REF = "reconciler"


@cli.command("history")
@click.option("--target", help="Only applies to this target.")
@click.option("--format", "fmt", type=FORMAT_TEXT_JSON, default="text", show_default=True,
              help="Output format.")
@pass_app
def history_command(app: AppContext, target: str | None, fmt: str) -> None:
    """List the applies recorded as git notes (refs/notes/reconciler), newest first.

    Notes pushed by CI are read after `git fetch origin
    refs/notes/reconciler:refs/notes/reconciler`.
    """
    from reconciler.load import gitsource

    applies = [a for a in gitsource.recorded_applies(app.cwd, ref=NOTES_REF)
               if target is None or a.get("target") == target]
    if fmt == "json":
        from reconciler.render.json_ import render  # heavy; only JSON output needs it

        click.echo(render("history", {"applies": applies}), nl=False)
        return
    if not applies:
        click.echo("No applies recorded (git notes under refs/notes/reconciler).")
    for a in applies:
        who = f"  by {a['actor']}" if a.get("actor") else ""
        pr = f" (#{a['pull_request']})" if a.get("pull_request") else ""
        click.echo(f"{a.get('at', '?')}  {a.get('target', '?')}  {a['commit'][:12]}  "
                   f"ETag {a.get('etag_before', '?')} -> {a.get('etag_after', '?')}{who}{pr}")

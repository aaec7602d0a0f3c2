"""`reconciler compile`: print the canonical Tailscale policy document."""

from __future__ import annotations

import click

from reconciler.cli import AppContext, cli, pass_app
from reconciler.cli.common import load, ref_option
from reconciler.load.document import to_hujson, to_json


@cli.command("compile")
@ref_option
@click.option("--format", "fmt", type=click.Choice(["hujson", "json"]), default="hujson",
              show_default=True,
              help="hujson carries the managed header (commit, fingerprint); json is plain.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write to this file instead of standard output.")
@pass_app
def compile_command(app: AppContext, ref: str | None, fmt: str, output: str | None) -> None:
    """Compile policies/ into the one policy document a control plane receives.

    Metadata (name, description, owner, expires) is stripped and expired entries are
    left out. Sections and keys come in a fixed order, so the output is deterministic.
    HuJSON keeps the fragments' comments, and each entry's description and owner as
    comments above it; JSON has none.
    """
    desired = load(app, ref=ref)
    if fmt == "json":
        text = to_json(desired.policy)
    else:
        text = to_hujson(desired.policy, commit=desired.commit, dirty=desired.dirty,
                                  comments=desired.comments)
    if output:
        with open(output, "w", encoding="utf-8") as f:
            f.write(text)
        click.echo(f"Wrote {output} ({fmt}).", err=True)
    else:
        click.echo(text, nl=False)

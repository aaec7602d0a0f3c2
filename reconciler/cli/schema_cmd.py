"""`reconciler schema`: print the JSON Schema for policy fragments."""

from __future__ import annotations

import click

from reconciler.cli import cli
from reconciler.load.fragment_schema import schema_text


@cli.command("schema")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True),
              help="Write to this file instead of standard output.")
def schema_command(output: str | None) -> None:
    """Print the JSON Schema that policy fragments follow.

    Point editors at it with a first line such as
    `# yaml-language-server: $schema=../schema/policy-fragment.schema.json`.
    """
    text = schema_text()
    if output:
        with open(output, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        click.echo(text, nl=False)

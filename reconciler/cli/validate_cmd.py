"""`reconciler validate`: load, merge and check the desired state; report every problem."""

from __future__ import annotations

import click

from reconciler.cli import AppContext, cli, pass_app
from reconciler.cli.common import FORMAT_TEXT_JSON, load, ref_option
from reconciler.core.errors import PolicyError


@cli.command()
@ref_option
@click.option("--format", "fmt", type=FORMAT_TEXT_JSON, default="text", show_default=True,
              help="Output format.")
@pass_app
def validate(app: AppContext, ref: str | None, fmt: str) -> None:
    """Check the policy fragments: syntax, unknown keys, undefined names, Tailscale's rules.

    Every problem is reported as file:line:col: message. Exits 1 when there is any error.
    """
    if fmt == "text":
        desired = load(app, ref=ref)
        counts = ", ".join(
            f"{len(desired.policy[s])} {s}" for s in ("acls", "grants", "ssh", "tests", "sshTests")
            if isinstance(desired.policy.get(s), list)
        )
        click.echo(f"Valid: {len(desired.files)} fragment(s)" + (f"; {counts}." if counts else "."))
        return
    # Imported here: it pulls in the plan file's modules, which text output never needs.
    from reconciler.render.json_ import render

    try:
        desired = load(app, ref=ref, quiet=True)
    except PolicyError as e:
        click.echo(render("validate", _report(False, e.problems)), nl=False)
        raise click.exceptions.Exit(1) from e
    click.echo(render("validate", _report(True, desired.notices, files=desired.files)), nl=False)


def _report(valid: bool, problems: list, files: list[str] | None = None) -> dict:
    return {
        "valid": valid,
        "files": files or [],
        "problems": [
            {
                "severity": p.severity.value,
                "message": p.message,
                "file": p.location.file if p.location else None,
                "line": p.location.line if p.location else None,
                "column": p.location.col if p.location else None,
            }
            for p in problems
        ],
    }

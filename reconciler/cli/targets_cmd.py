"""`reconciler targets`: the control planes reconciler.yaml defines."""

from __future__ import annotations

from typing import Any

import click

from reconciler.cli import AppContext, cli, pass_app
from reconciler.cli.common import FORMAT_TEXT_JSON, config_for


@cli.command("targets")
@click.option("--format", "fmt", type=FORMAT_TEXT_JSON, default="text", show_default=True)
@pass_app
def targets_command(app: AppContext, fmt: str) -> None:
    """List the targets in reconciler.yaml and the credentials each reads from the
    environment (by variable name; values are never shown)."""
    config = config_for(app)
    rows: list[dict[str, Any]] = []  # the JSON rows of `targets --format json`
    for name in sorted(config.targets):
        t = config.targets[name]
        where = t.path if t.backend == "local" else t.base_url
        rows.append({
            "name": name, "backend": t.backend, "location": where,
            "tailnet": t.tailnet if t.backend == "tailscale" else None,
            "default": name == config.default_target,
            "credentials": list(t.credential_vars()),
        })
    if fmt == "json":
        from reconciler.render.json_ import render  # heavy; only JSON output needs it

        click.echo(render("targets", {"default_target": config.default_target,
                                      "targets": rows}), nl=False)
        return
    for row in rows:
        mark = "*" if row["default"] else " "
        creds = ", ".join(row["credentials"]) or "none"
        click.echo(f"{mark} {row['name']:<12} {row['backend']:<10} {row['location']}"
                   f"  (credentials: {creds})")

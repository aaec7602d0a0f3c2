"""`reconciler report`: the auditor's page (access matrix, reach of sensitive tags,
just-in-time access, lint and coverage, last applies) as one self-contained HTML file.

CLI layer. Thin: gathers the facts from the engine, lint and git, and hands them to
`render.report`, which lays them out.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from reconciler.cli import AppContext, cli, pass_app
from reconciler.cli.common import config_for, load, ref_option
from reconciler.cli.engine_cmds import inventory_option
from reconciler.engine import compute_access
from reconciler.engine.inventory_io import load_inventory, synthetic_inventory
from reconciler.engine.risk import default_sensitive
from reconciler.load.desired import Desired
from reconciler.render import matrix as grid
from reconciler.render import report as page

if TYPE_CHECKING:
    from reconciler.render.access_diff import Statement


def sensitive_tags(configured: tuple[str, ...] | None, tags: list[str]) -> tuple[list[str], str]:
    """The sensitive tags, and a sentence saying where they came from."""
    if configured is not None:
        return list(configured), "Sensitive tags, from sensitive_tags in reconciler.yaml."
    named = default_sensitive(tags)
    return named, ("Sensitive tags: those named like production (no sensitive_tags in "
                   "reconciler.yaml; list them there to choose).")


def expiries(desired: Desired) -> list[page.Expiry]:
    found = [page.Expiry(f"{group}: {login}", expires, str(where) if where else "",
                         desired.member_reasons.get((group, login), ""))
             for group, login, expires, where in desired.member_meta]
    for path, meta in desired.meta.items():
        if meta.expires is not None:
            name = f'"{meta.name}"' if meta.name else f"[{path[1]}]"
            where = desired.where(path)
            found.append(page.Expiry(f"{path[0]} {name}", meta.expires,
                                     str(where) if where else "", meta.description or ""))
    return found


@cli.command("report")
@ref_option
@inventory_option
@click.option("--base", metavar="REV",
              help="Also show the access changes since git revision REV (a pull request's "
                   "base), risky gains first, each citing its rule.")
@click.option("-o", "--output", "out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the page here (default: standard output).")
@pass_app
def report_cmd(app: AppContext, ref: str | None, inventory_path: Path | None,
               base: str | None, out: Path | None) -> None:
    """Write an HTML access report for auditors and pull-request artifacts.

    One file, nothing fetched: who reaches each sensitive tag (sensitive_tags in
    reconciler.yaml), the access matrix, just-in-time access with its expiry, lint
    findings and test coverage, and the applies recorded in the audit notes. With
    --base REV, first the access gained and lost since REV (the pull request's view).
    """
    from reconciler.lint import LintSettings, lint_desired
    from reconciler.load import gitsource
    from reconciler.plan.planner import names_of

    config = config_for(app)
    desired = load(app, ref=ref, quiet=True)
    inventory = (load_inventory(inventory_path) if inventory_path is not None
                 else synthetic_inventory(desired.policy))
    tags = sorted(desired.policy.get("tagOwners") or {})
    matrix = grid.build_shared(compute_access(desired.policy, inventory).shared_rows,
                               desired.policy.get("groups") or {}, tags=tags)
    sensitive, why = sensitive_tags(config.sensitive_tags, tags)
    settings = LintSettings.from_config(config.lint,
                                        where=str(config.file or "reconciler.yaml"),
                                        sensitive_tags=config.sensitive_tags)
    lint = lint_desired(desired, settings, now=app.now(), inventory=inventory)
    applies = gitsource.recorded_applies(config.root) if gitsource.root_of(config.root) else []
    facts = [("revision", (desired.commit or "working tree")[:12]
              + (" (uncommitted changes)" if desired.dirty else "")),
             ("generated", app.now().strftime("%Y-%m-%d %H:%M UTC")),
             ("inventory", inventory.source if inventory_path is not None
              else "synthetic: one device per user and per tag the policy names")]
    coverage = lint.coverage
    changes: list[Statement] = []
    notes: list[str] = []
    if base is not None:
        from reconciler.commands.diff import access_between
        from reconciler.render.access_diff import statements

        before = load(app, ref=base, quiet=True, tests=False, revision=False)
        # A file inventory is the tailnet for both sides; otherwise the diff's own
        # synthetic one, with a device for every user and tag either revision names.
        diff = access_between(before, desired,
                              inventory if inventory_path is not None else None)
        changes, notes = statements(diff, sensitive), list(diff.notes)
        facts.append(("compared with", f"{base} ({(before.commit or '?')[:12]})"))
    report = page.Report(
        title="Access report", facts=facts, matrix=matrix, sensitive=sensitive,
        sensitive_source=why, now=app.now(), expiries=expiries(desired),
        findings=[page.Finding(f.severity, f.code, f.message,
                               str(f.location) if f.location else "")
                  for f in lint.findings],
        coverage=(len(coverage.covered), len(coverage.entries)) if coverage else None,
        untested=coverage.untested(names_of(desired)) if coverage else [],
        applies=applies, base=base, access_changes=changes, access_notes=notes)
    # Written as it is laid out: a large tailnet's page is hundreds of MB.
    if out is None:
        for chunk in page.chunks(report):
            click.echo(chunk, nl=False)
        return
    with out.open("w", encoding="utf-8", newline="") as f:
        f.writelines(page.chunks(report))
    click.echo(f"Wrote {out}", err=True)

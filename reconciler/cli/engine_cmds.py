"""`reconciler test`, `explain` and `access`: the policy engine on the desired state.

CLI layer (click's home). Imports `reconciler.engine`, `cli.common` and `errors`. Each
command loads the desired state, calls one engine function and renders its outcome;
`test` exits 1 when any test fails or is invalid.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from reconciler.cli import AppContext, cli, pass_app, use_color
from reconciler.cli.common import FORMAT_TEXT_JSON, load, ref_option
from reconciler.core.errors import TestsFailed
from reconciler.core.inventory import Inventory
from reconciler.engine import load_inventory, run_tests, synthetic_inventory
from reconciler.load.desired import Desired
from reconciler.render import testreport

inventory_option = click.option(
    "--inventory", "inventory_path", metavar="FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Users and devices to evaluate against (YAML or JSON). Default: one synthetic "
         "device per user and tag the policy names.",
)


def _inventory(path: Path | None, policy: dict) -> Inventory:
    return load_inventory(path) if path is not None else synthetic_inventory(policy)


def _test_inventory(app: AppContext, spec: str | None, target: str | None, desired: Desired,
                    *, quiet: bool) -> Inventory:
    """What `test` runs over: a file, the synthetic inventory, or the target's tailnet.

    By default the tailnet of the target (`--target`, else the default one) when it can
    be read without side effects: a local store that exists, a control plane whose
    credentials are in the environment. Otherwise the synthetic inventory, as offline,
    and failures that depend on it say so (`Runner._synthetic_note`)."""
    if spec not in (None, "backend", "synthetic"):
        return load_inventory(Path(spec))
    if spec == "synthetic":
        return synthetic_inventory(desired.policy)
    from reconciler.commands.plan import plan_inventory
    from reconciler.commands.session import Session

    session = Session.open(app.cwd, now=app.now())
    tgt = session.target(target)
    if spec is None and target is None:
        offline = _offline(session, tgt)
        if offline is not None:
            if offline and not quiet:
                click.echo(f"notice: the tests run over a synthetic inventory: {offline}",
                           err=True)
            return synthetic_inventory(desired.policy)
    backend = session.backend(tgt)
    try:
        return plan_inventory(None, tgt, backend, desired, {}).inventory
    finally:
        backend.close()


def _offline(session: Any, target: Any) -> str | None:
    """Why the default target's tailnet is not read by default ("" to keep quiet about
    it), or None when it is."""
    if session.config.file is None:
        return ""  # no reconciler.yaml: nothing says which tailnet this policy is for
    if target.backend == "local":
        return None if target.db_path(session.config.root).exists() else ""
    names = target.credential_vars()
    if not any(session.env.get(name) for name in names):
        return (f'target "{target.name}" has no credentials here ({", ".join(names)}); '
                "give them, or --inventory FILE, for the tailnet's users and devices")
    return None


test_inventory_option = click.option(
    "--inventory", "inventory_spec", metavar="FILE|backend|synthetic",
    help="Users and devices the tests run over: an inventory file (YAML or JSON: users "
         "with roles, devices with addresses and tags), `synthetic` (a device per user "
         "and tag the policy names; users hold no role), or `backend` (the target's own "
         "users and devices). Default: the target's when its local store exists or its "
         "credentials are set, else synthetic.",
)


@cli.command("test")
@ref_option
@test_inventory_option
@click.option("--target", metavar="NAME",
              help="The target whose users and devices the tests run over (default: "
                   "default_target in reconciler.yaml).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "junit"]), default="text",
              show_default=True, help="Output format (junit: one testcase per test entry).")
@pass_app
def test_cmd(app: AppContext, ref: str | None, inventory_spec: str | None,
             target: str | None, fmt: str) -> None:
    """Run the policy's tests and sshTests locally with Tailscale's semantics.

    Failures read like Tailscale's (address "tag:web:80": want: Accept, got: Drop), each
    test named by its `name:` with its file:line. The tests run over the target's users
    (with roles) and devices when it can be read; see --inventory. Exits 1 if any test
    fails or is invalid.
    """
    # Validated first, then tested, in this one process: a forked validation cost more
    # CPU than it saved wall time (see reconciler/core/forked.py).
    desired = load(app, ref=ref, quiet=fmt != "text", revision=False)
    inventory = _test_inventory(app, inventory_spec, target, desired, quiet=fmt != "text")
    report = run_tests(desired.policy, inventory, desired.sources).named(
        {path: meta.name for path, meta in desired.meta.items() if meta.name})
    if fmt == "json":
        from reconciler.render.json_ import envelope  # heavy; only JSON output needs it

        click.echo(testreport.report_json(envelope("test", testreport.report_to_dict(report))))
    elif fmt == "junit":
        click.echo(testreport.junit_xml(report))
    else:
        click.echo(testreport.render_text(report, color=use_color()), nl=False)
    if not report.ok:
        raise TestsFailed(
            f"test(s) failed: {len(report.failed)} failed, {len(report.invalid)} invalid",
            "Fix the rules or the tests; `reconciler explain SRC DST:PORT` shows which rules "
            "apply.",
            report=report,
        )


@cli.command("explain")
@click.argument("src")
@click.argument("dst", metavar="DST:PORT")
@click.option("--proto", metavar="PROTO", help="Protocol name or number (default: tcp or udp).")
@ref_option
@inventory_option
@click.option("--format", "fmt", type=FORMAT_TEXT_JSON, default="text", show_default=True,
              help="Output format.")
@pass_app
def explain_cmd(app: AppContext, src: str, dst: str, proto: str | None, ref: str | None,
                inventory_path: Path | None, fmt: str) -> None:
    """Say whether SRC may reach DST:PORT, and which rules (file:line) allow or nearly do.

    SRC is a user, group, tag, host alias or IP; DST a host, user, group, tag or IP.
    """
    from reconciler.engine.explain import explain  # each command imports what it runs

    # Neither explain nor access reads the tests or the commit: the rest is validated.
    desired = load(app, ref=ref, quiet=fmt != "text", tests=False, revision=False)
    names = {path: meta.name for path, meta in desired.meta.items() if meta.name}
    result = explain(desired.policy, src, dst, proto=proto,
                     inventory=_inventory(inventory_path, desired.policy),
                     sources=desired.sources, names=names)
    if fmt == "json":
        from reconciler.render.json_ import render  # heavy; only JSON output needs it

        click.echo(render("explain", result.to_dict()), nl=False)
        return
    for line in result.text_lines():
        click.echo(line)


@cli.command("access")
@click.option("--from", "src", metavar="SELECTOR", help="Only sources this selector covers.")
@click.option("--to", "dst", metavar="SELECTOR", help="Only destinations this selector covers.")
@ref_option
@inventory_option
@click.option("--format", "fmt", default="text", show_default=True,
              type=click.Choice(["text", "json", "matrix", "markdown", "html"]),
              help="text and json: one line or object per (source, destination) pair; "
                   "matrix, markdown and html: a grid of groups and tags.")
@click.option("--base", metavar="REV",
              help="Compare with the policies at git revision REV: each cell's gained "
                   "ports (+) and lost ports (-); json gives every pair's before and after.")
@pass_app
def access_cmd(app: AppContext, src: str | None, dst: str | None, ref: str | None,
               inventory_path: Path | None, fmt: str, base: str | None) -> None:
    """Show the effective access matrix: who reaches what, on which ports.

    The grid formats (matrix for a terminal, markdown, html) merge users with the same
    access into one row, named after their group when they are exactly its members.
    With --base REV, what changed since REV (text: only the pairs that changed).
    """
    if base is not None:
        _access_changes(app, base, src, dst, ref, inventory_path, fmt)
        return
    from reconciler.engine.access import compute_access

    # Neither explain nor access reads the tests or the commit: the rest is validated.
    desired = load(app, ref=ref, quiet=fmt != "text", tests=False, revision=False)
    matrix = compute_access(desired.policy, _inventory(inventory_path, desired.policy),
                            src=src, dst=dst)
    if fmt in ("matrix", "markdown", "html"):
        from reconciler.render import matrix as grid

        built = grid.build_shared(matrix.shared_rows, desired.policy.get("groups") or {},
                                  tags=desired.policy.get("tagOwners") or {})
        # Line by line: a large tailnet's grid is hundreds of MB.
        if fmt == "matrix":
            for line in grid.text_lines(built):
                click.echo(line, nl=False)
            return
        for chunk in (grid.markdown_lines(built) if fmt == "markdown"
                      else grid.html_chunks(built)):
            click.echo(chunk, nl=False)
        return
    # Streamed a source at a time: a large tailnet's matrix has millions of rows.
    if fmt == "json":
        from reconciler.render.json_ import stream  # heavy; only JSON output needs it

        for chunk in stream("access", "rows", matrix.json()):
            click.echo(chunk, nl=False)
        return
    if not matrix:
        click.echo("No access.")
    for chunk in matrix.text():
        click.echo(chunk, nl=False)


def _access_changes(app: AppContext, base: str, src: str | None, dst: str | None,
                    ref: str | None, inventory_path: Path | None, fmt: str) -> None:
    """`access --base REV`: both revisions over one inventory (the file, or a synthetic
    one with a device for every user and tag either policy names, as `diff` uses)."""
    from reconciler.diff.access.compute import diff_inventory
    from reconciler.engine.access import compute_access
    from reconciler.render import matrix as grid

    before = load(app, ref=base, quiet=True, tests=False, revision=False)
    after = load(app, ref=ref, quiet=fmt != "text", tests=False, revision=False)
    inventory = (load_inventory(inventory_path) if inventory_path is not None
                 else diff_inventory(before.policy, after.policy))
    sides = [list(compute_access(d.policy, inventory, src=src, dst=dst).entries())
             for d in (before, after)]
    if fmt in ("matrix", "markdown", "html"):
        groups = after.policy.get("groups") or {}
        tags = {**(before.policy.get("tagOwners") or {}), **(after.policy.get("tagOwners") or {})}
        before_rows, after_rows = ([grid.Row(e.src, e.dst, e.ports) for e in entries]
                                   for entries in sides)
        built = grid.build_diff(before_rows, after_rows, groups, tags=tags)
        if fmt == "matrix":
            click.echo(grid.render_diff_text(built, color=use_color()), nl=False)
        else:
            render = grid.render_diff_markdown if fmt == "markdown" else grid.render_diff_html
            click.echo(render(built), nl=False)
        return
    pairs: dict[tuple[str, str], list[tuple[tuple[str, str], ...]]] = {}
    for side, entries in enumerate(sides):
        for e in entries:
            pairs.setdefault((e.src, e.dst), [(), ()])[side] = e.ports
    if fmt == "json":
        from reconciler.render.json_ import render as render_json

        def listed(ports: tuple[tuple[str, str], ...]) -> list[dict[str, str]]:
            return [{"proto": p, "ports": t} for p, t in ports]

        rows = [{"from": s, "to": d, "before": listed(b), "after": listed(a)}
                for (s, d), (b, a) in sorted(pairs.items())]
        click.echo(render_json("access", {"base": base, "rows": rows}), nl=False)
        return
    color = use_color()
    colors = {"same": None, "gained": "green", "lost": "red"}
    marks = {"same": "", "gained": "+", "lost": "-"}
    changed = 0
    for (s, d), (b, a) in sorted(pairs.items()):
        if b == a:
            continue
        changed += 1
        tokens = grid.change_tokens(grid.Change(b, a))
        shown = "; ".join(click.style(marks[k] + t, fg=colors[k]) if color else marks[k] + t
                          for k, t in tokens)
        click.echo(f"{s} -> {d}: {shown}")
    if not changed:
        click.echo(f"No access changes since {base}.")

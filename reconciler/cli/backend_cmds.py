"""`reconciler serve` and `reconciler local ...`: run and inspect the embedded control plane.

CLI layer (click's home). May import: click, `config`, `backends` (registry, local
store), `server`, `errors`. `serve` puts the local store behind the Tailscale API v2
subset; `local` shows its history and inventory, adds users and devices, and edits
the stored policy out of band (as a console edit would) to demonstrate drift.
Every command takes `--db FILE`, defaulting to the local target's path.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from reconciler.cli import AppContext, cli, pass_app
from reconciler.core.errors import ConfigError
from reconciler.core.forked import collect_as_usual

db_option = click.option(
    "--db", "db", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
    help="The local store (default: the local target's path, .reconciler/local.db).",
)
target_option = click.option("--target", "target_name", metavar="NAME",
                             help="Take the database path from this local target.")


def resolve_db(app: AppContext, db: Path | None, target_name: str | None) -> Path:
    """--db, else the (named or default) local target's path from reconciler.yaml."""
    return _local_target(app, db, target_name)[0]


def _local_target(app: AppContext, db: Path | None, target_name: str | None
                  ) -> tuple[Path, Any, Path | None]:
    """The store's path, and the local target (with its root) it belongs to, if any."""
    if db is not None:
        return db.resolve(), None, None
    from reconciler.backends import local_db_path
    from reconciler.load.config import load_config

    config = load_config(app.cwd)
    if target_name is None and config.default_target not in config.targets:
        target_name = "local"
    target = config.target(target_name)
    if target.backend != "local":
        raise ConfigError(
            f'target "{target.name}" is a {target.backend} target, not local',
            "Pass --db FILE or --target with a local target.",
        )
    return local_db_path(target, config.root), target, config.root


def _backend(app: AppContext, db: Path | None, target_name: str | None) -> Any:
    """The local store, created (when new) with what its target's `seed` says."""
    from reconciler.backends import open_local
    from reconciler.backends.local.backend import LocalBackend

    path, target, root = _local_target(app, db, target_name)
    if target is None or root is None:
        return LocalBackend(path)  # --db alone: no target, so the demo tailnet
    return open_local(target, root)


# --- serve -------------------------------------------------------------------------------


@cli.command()
@db_option
@target_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8088, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0: any free port).")
@click.option("--api-key", envvar="RECONCILER_SERVE_API_KEY", metavar="KEY",
              help="API key clients must send (Basic or Bearer). "
                   "Env: RECONCILER_SERVE_API_KEY.")
@click.option("--oauth-client-id", envvar="RECONCILER_SERVE_OAUTH_CLIENT_ID", metavar="ID",
              help="OAuth client id for /api/v2/oauth/token. "
                   "Env: RECONCILER_SERVE_OAUTH_CLIENT_ID.")
@click.option("--oauth-client-secret", envvar="RECONCILER_SERVE_OAUTH_CLIENT_SECRET",
              metavar="SECRET", help="OAuth client secret. "
              "Env: RECONCILER_SERVE_OAUTH_CLIENT_SECRET.")
@click.option("--tailnet", default="example.com", show_default=True,
              help='Tailnet name accepted in paths besides "-".')
# The limits' defaults live in ServeConfig (the server module is imported only when
# `serve` runs, to keep every other command's start-up fast); the help states them.
@click.option("--max-body", type=click.IntRange(1), metavar="BYTES",
              help="Largest request body accepted; 413 past it.  [default: 33554432]")
@click.option("--idle-timeout", type=click.FloatRange(0.1), metavar="SECONDS",
              help="Drop a connection that sends nothing for this long.  [default: 30]")
@click.option("--max-connections", type=click.IntRange(1), metavar="N",
              help="Connections served at once; 503 past it.  [default: 128]")
@click.option("--oidc-issuer", envvar="RECONCILER_SERVE_OIDC_ISSUER", metavar="URL",
              help="Issuer whose JWTs /api/v2/oauth/token-exchange accepts (with "
                   "--oidc-key); without both, workload identity is refused. "
                   "Env: RECONCILER_SERVE_OIDC_ISSUER.")
@click.option("--oidc-key", envvar="RECONCILER_SERVE_OIDC_KEY", metavar="KEY",
              help="Shared HS256 key the issuer signs JWTs with. "
                   "Env: RECONCILER_SERVE_OIDC_KEY.")
@click.option("--faults", metavar="SPEC",
              help="Inject faults into the next requests, e.g. '429:1*2,500,drop-after@POST' "
                   "(testing only; see reconciler.backends.local.server.faults).")
@click.option("-v", "--verbose", is_flag=True, help="Log each request line.")
@pass_app
def serve(app: AppContext, db: Path | None, target_name: str | None, host: str, port: int,
          api_key: str | None, oauth_client_id: str | None, oauth_client_secret: str | None,
          tailnet: str, max_body: int | None, idle_timeout: float | None,
          max_connections: int | None,
          oidc_issuer: str | None, oidc_key: str | None, faults: str | None,
          verbose: bool) -> None:
    """Serve the local store over HTTP as a Tailscale API v2 subset.

    Point a tailscale target's base_url at the printed URL and export the same key as
    TS_API_KEY (or an OAuth client as TS_OAUTH_CLIENT_ID/TS_OAUTH_CLIENT_SECRET).
    """
    from reconciler.backends.local.server import ServeConfig, make_server
    from reconciler.backends.local.server.faults import FaultSpecError

    collect_as_usual()  # a long run (see reconciler.core.forked)
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"Warning: listening on {host}; this server is for local testing.",
                   err=True)
    limits: dict[str, Any] = {k: v for k, v in (("max_body", max_body),
                                                ("idle_timeout", idle_timeout),
                                                ("max_connections", max_connections))
                              if v is not None}
    backend = _backend(app, db, target_name)
    config = ServeConfig(db=backend.store.path, host=host, port=port,
                         api_key=api_key or None, oauth_client_id=oauth_client_id or None,
                         oauth_client_secret=oauth_client_secret or None, tailnet=tailnet,
                         verbose=verbose, oidc_issuer=oidc_issuer or None,
                         oidc_key=oidc_key or None, **limits)
    try:
        server = make_server(config, backend)
    except OSError as e:
        raise ConfigError(f"cannot listen on {host}:{port}: {e.strerror or e}") from e
    if faults:
        try:
            server.faults.push(faults)
        except FaultSpecError as e:
            raise click.BadParameter(str(e), param_hint="--faults") from e
    auth = [name for name, on in (("API key", config.api_key),
                                  ("OAuth client", config.oauth_client_id)) if on]
    click.echo(f"Serving local:{config.db} at {server.url}/api/v2 "
               f"(auth: {' and '.join(auth)})")
    click.echo(f"URL: {server.url}")
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("Stopped.", err=True)
    finally:
        server.server_close()


# --- local -------------------------------------------------------------------------------


@cli.group()
def local() -> None:
    """Inspect and change the embedded local control plane (a SQLite file)."""


@local.command()
@db_option
@target_option
@click.option("--text", "show_text", type=int, metavar="SEQ",
              help="Print the stored text of history entry SEQ.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@pass_app
def history(app: AppContext, db: Path | None, target_name: str | None,
            show_text: int | None, fmt: str) -> None:
    """Every accepted write of the policy: time, source, ETag and managed commit."""
    entries = _backend(app, db, target_name).store.history()
    if show_text is not None:
        entry = next((e for e in entries if e.seq == show_text), None)
        if entry is None:
            raise ConfigError(f"no history entry {show_text}",
                              f"Entries run from 1 to {len(entries)}.")
        click.echo(entry.text, nl=False)
        return
    if fmt == "json":
        from reconciler.render.json_ import render

        click.echo(render("local history", {"entries": [
            {"seq": e.seq, "at": e.at, "source": e.source, "etag": e.etag, "commit": e.commit,
             "fingerprint": e.fingerprint} for e in entries]}), nl=False)
        return
    click.echo(f"{'SEQ':>4}  {'TIME':20}  {'SOURCE':6}  {'ETAG':14}  COMMIT")
    for e in entries:
        etag = e.etag.strip('"')[:12]
        commit = (e.commit or "-")[:12]
        click.echo(f"{e.seq:>4}  {e.at:20}  {e.source:6}  {etag:14}  {commit}")


@local.command()
@db_option
@target_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@pass_app
def inventory(app: AppContext, db: Path | None, target_name: str | None, fmt: str) -> None:
    """The users and devices of the local tailnet."""
    store = _backend(app, db, target_name).store
    users, devices = store.user_rows(), store.device_rows()
    if fmt == "json":
        from reconciler.render.json_ import render

        click.echo(render("local inventory", {
            "users": [{"login": u["login"], "role": u["role"], "id": u["id"],
                       "shared": u["shared"]} for u in users],
            "devices": [{k: d[k] for k in ("name", "node_id", "user", "tags", "ipv4", "ipv6",
                                           "approved_routes", "advertised_routes")}
                        for d in devices],
        }), nl=False)
        return
    click.echo(f"Users ({len(users)}):")
    for u in users:
        shared = "  (shared)" if u["shared"] else ""
        click.echo(f"  {u['login']:28} {u['role']:14} {u['device_count']} device(s){shared}")
    click.echo(f"Devices ({len(devices)}):")
    for d in devices:
        owner = ",".join(d["tags"]) if d["tags"] else (d["user"] or "-")
        routes = f"  routes {','.join(d['approved_routes'])}" if d["approved_routes"] else ""
        click.echo(f"  {d['name']:16} {d['ipv4'] or '-':15} {d['ipv6'] or '-':22} "
                   f"{owner}{routes}")


@local.command("add-user")
@click.argument("login")
@click.option("--role", default="member", show_default=True,
              type=click.Choice(["owner", "admin", "member", "it-admin", "network-admin",
                                 "billing-admin", "auditor"]))
@click.option("--name", "display_name", default="", help="Display name.")
@click.option("--shared", is_flag=True, help="A user shared in from another tailnet.")
@db_option
@target_option
@pass_app
def add_user(app: AppContext, login: str, role: str, display_name: str, shared: bool,
             db: Path | None, target_name: str | None) -> None:
    """Add a user (LOGIN is an e-mail-like login name)."""
    if "@" not in login:
        raise click.BadParameter(f"{login!r} is not a login like alice@example.com",
                                 param_hint="LOGIN")
    _backend(app, db, target_name).store.add_user(login, role=role, display_name=display_name,
                                                  shared=shared)
    click.echo(f"Added user {login} ({role}).")


@local.command("add-device")
@click.argument("name")
@click.option("--user", "user", metavar="LOGIN", help="The owning user.")
@click.option("--tag", "tags", multiple=True, metavar="TAG",
              help="A tag (repeatable); a tagged device is owned by its tags.")
@click.option("--ipv4", metavar="ADDR", help="Tailscale IPv4 (default: the next free one).")
@click.option("--ipv6", metavar="ADDR", help="Tailscale IPv6 (default: derived).")
@click.option("--route", "routes", multiple=True, metavar="CIDR",
              help="An approved subnet route (repeatable).")
@click.option("--os", "os_name", default="linux", show_default=True)
@db_option
@target_option
@pass_app
def add_device(app: AppContext, name: str, user: str | None, tags: tuple[str, ...],
               ipv4: str | None, ipv6: str | None, routes: tuple[str, ...], os_name: str,
               db: Path | None, target_name: str | None) -> None:
    """Add a device owned by --user or by one or more --tag."""
    if not user and not tags:
        raise click.UsageError("give --user LOGIN or at least one --tag TAG")
    bad = [t for t in tags if not t.startswith("tag:")]
    if bad:
        raise click.BadParameter(f"{bad[0]!r} must start with tag:", param_hint="--tag")
    node_id = _backend(app, db, target_name).store.add_device(
        name, user=user, tags=list(tags), ipv4=ipv4, ipv6=ipv6, routes=list(routes),
        os_name=os_name)
    click.echo(f"Added device {name} ({node_id}).")


@local.command()
@click.option("--file", "file", type=click.File("r", encoding="utf-8"), metavar="FILE",
              help="Replace the stored policy with FILE ('-' for stdin).")
@click.option("--set", "assignments", nargs=2, multiple=True, metavar="KEY JSON",
              help="Set a top-level policy key to a JSON value, e.g. "
                   "--set groups '{\"group:eng\": [\"alice@example.com\"]}' (repeatable).")
@click.option("--no-validate", is_flag=True,
              help="Store even an invalid policy (the console would refuse it).")
@db_option
@target_option
@pass_app
def edit(app: AppContext, file: Any, assignments: tuple[tuple[str, str], ...],
         no_validate: bool, db: Path | None, target_name: str | None) -> None:
    """Edit the stored policy out of band, as someone in the admin console would.

    Without --file or --set, opens the stored policy in $VISUAL or $EDITOR (as `git
    commit` does); saving an empty or unchanged file stores nothing. Use it to
    demonstrate drift: `reconciler drift` then reports the change.
    """
    from reconciler.backends.policycheck import PolicyParseError, parse_policy

    if file is not None and assignments:
        raise click.UsageError("give only one of --file or --set")
    backend = _backend(app, db, target_name)
    if file is None and not assignments:
        def store(text: str) -> str:
            return _store(backend, text, no_validate)

        etag = _edit_in_editor(backend.fetch_policy().text, store)
        click.echo(f"Stored the edited policy (ETag {etag}).")
        return
    if file is not None:
        text = file.read()
    else:
        stored = backend.fetch_policy().text
        try:
            policy = parse_policy(stored)
        except PolicyParseError as e:
            raise ConfigError(f"the stored policy does not parse: {e}",
                              "Replace it with --file.") from e
        for key, raw in assignments:
            try:
                policy[key] = json.loads(raw)
            except ValueError as e:
                raise click.BadParameter(f"{key}: {raw!r} is not JSON ({e})",
                                         param_hint="--set") from e
        # Keep the leading comment block (the managed header among it), as the admin
        # console keeps comments: drift then names the edit instead of "unmanaged".
        from reconciler.load import hujson

        text = _leading_comments(stored) + hujson.dumps(policy)
    click.echo(f"Stored the edited policy (ETag {_store(backend, text, no_validate)}).")


def _store(backend: Any, text: str, no_validate: bool) -> str:
    if no_validate:
        return str(backend.store.write_policy(text, if_match=None, source="edit"))
    return str(backend.push_policy(text, if_match=None, source="edit"))


def _edit_in_editor(stored: str, store: Any) -> str:
    """Open `stored` in the user's editor and `store` what they save; its ETag.

    Aborts (exit 1, nothing stored) when the editor fails or the file comes back empty
    or unchanged. An edit that does not parse or that the control plane refuses is
    kept in its file, named in the error, for `local edit --file`."""
    import os
    import tempfile

    from reconciler.core.errors import ReconcilerError
    from reconciler.load import hujson

    if not (os.environ.get("VISUAL") or os.environ.get("EDITOR")) and not sys.stdin.isatty():
        # Not at a terminal and no editor named: vi on a pipe would hang or garble.
        raise click.UsageError("no editor to open: set $EDITOR (or $VISUAL), or give "
                               "--file FILE or --set KEY JSON")
    fd, name = tempfile.mkstemp(prefix="reconciler-policy-", suffix=".hujson")
    path = Path(name)
    keep = False
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(stored)
        click.edit(filename=name)  # $VISUAL, $EDITOR, else vi; exit 1 if it fails
        text = path.read_text(encoding="utf-8")
        if not text.strip():
            raise ReconcilerError("the edited policy is empty: nothing was stored",
                                  "Run `reconciler local edit` again to make a change.")
        if text == stored:
            raise ReconcilerError("the policy was not changed: nothing was stored")
        keep = True
        try:
            hujson.loads(text, file=name)  # syntax errors with file:line:col
            etag = store(text)
        except ReconcilerError as e:
            raise ReconcilerError(f"{e}; nothing was stored",
                                  f"Your edit is kept in {name}: fix it, then store it with "
                                  f"`reconciler local edit --file {name}`.") from e
        keep = False
        return etag
    finally:
        if not keep:
            path.unlink(missing_ok=True)


def _leading_comments(text: str) -> str:
    lines = []
    for line in text.splitlines(keepends=True):
        if line.strip().startswith("//") or not line.strip():
            lines.append(line)
            continue
        break
    return "".join(lines)

"""The command line: the only click user.

cli/ (the top layer). Commands are thin: parse options, call a plain function that returns an
outcome, render it, exit. This module owns the group, the options every command
shares (before or after the subcommand), and the one error handler (exit 1 for a
`ReconcilerError` or a usage error, 3 for a bug, 130 for ^C; 2 is kept for "changes or
drift"). Each command lives in a sibling module that registers on `cli`.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import click

from reconciler import __version__
from reconciler.core import progress, redact
from reconciler.core.errors import PolicyError, ReconcilerError
from reconciler.core.forked import command_gc

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CHANGES = 2
EXIT_BUG = 3
EXIT_INTERRUPTED = 130


def use_color(stream: Any = None) -> bool:
    """Color only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    stream = stream or sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)())


class AppContext:
    """What every command gets: the working directory and the injectable clock."""

    def __init__(self, cwd: Path, now: datetime | None) -> None:
        self.cwd = cwd
        self._now = now

    def now(self) -> datetime:
        return self._now or datetime.now(timezone.utc)


pass_app = click.make_pass_decorator(AppContext)


def parse_now(_ctx: click.Context, _param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as e:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 date or time") from e
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed


def _in_range(now: datetime) -> datetime:
    """`--now` in UTC, with a year of room either side: expiry horizons and plan stamps
    add days to it and convert it, which must not leave datetime's range."""
    try:
        utc = now.astimezone(timezone.utc)
        utc.replace(year=utc.year + 1) - timedelta(days=366)
    except (OverflowError, ValueError) as e:
        raise ReconcilerError(f"--now {now.isoformat()} is out of range",
                              "Pick a time between the years 2 and 9998.") from e
    return utc


# Command name -> the sibling module that registers it. A module is imported only when
# one of its commands runs (or help lists them all), so `reconciler test` does not pay
# for gitpython's diff machinery, deepdiff, httpx or the server. Keep this sorted; a
# test checks it against what the modules register.
COMMAND_MODULES = {
    "access": "engine_cmds",
    "apply": "plan_cmds",
    "compile": "compile_cmd",
    "diff": "plan_cmds",
    "drift": "plan_cmds",
    "explain": "engine_cmds",
    "fmt": "fmt_cmd",
    "history": "history_cmd",
    "import": "plan_cmds",
    "init": "init_cmd",
    "lint": "lint_cmds",
    "local": "backend_cmds",
    "plan": "plan_cmds",
    "report": "report_cmd",
    "schema": "schema_cmd",
    "serve": "backend_cmds",
    "show": "show_cmd",
    "targets": "targets_cmd",
    "test": "engine_cmds",
    "validate": "validate_cmd",
}


def _late_chdir(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    """`-C DIR` given after the subcommand: applied on top of any earlier `-C`, as git
    does with several, relative to the directory that one chose."""
    app = ctx.find_object(AppContext)
    if value is None or app is None:
        return
    if not value.is_dir():
        raise click.BadParameter(f"{value} is not a directory", param_hint="-C/--chdir")
    app.cwd = value.resolve()
    os.chdir(app.cwd)


def _late_now(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    app = ctx.find_object(AppContext)
    parsed = parse_now(ctx, param, value)
    if parsed is not None and app is not None:
        app._now = parsed


def _late_verbose(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        start_progress(ctx, verbose=True)


def start_progress(ctx: click.Context, *, verbose: bool) -> None:
    """Show what the command is doing on stderr (see `reconciler.core.progress`): the status
    line when stderr is a terminal (not TERM=dumb, which cannot rewrite a line), the
    request log with -v. Never on stdout; stopped when the command's context closes."""
    reporter = progress.installed()
    if reporter is not None:
        reporter.verbose = reporter.verbose or verbose
        return
    status = bool(getattr(sys.stderr, "isatty", lambda: False)()) \
        and os.environ.get("TERM") != "dumb"
    if status or verbose:
        progress.install(progress.Reporter(sys.stderr, status=status, verbose=verbose))
        ctx.call_on_close(lambda: progress.install(None))


def _late_global_options() -> list[click.Parameter]:
    """`-C`, `--now` and `-v` again, for every subcommand: users put them after the command
    (`reconciler drift --now ...`) as often as before it. Eager, so `-C` moves before
    the command's own paths are checked; not exposed, so no command signature changes."""
    return [
        click.Option(["-C", "--chdir", "late_chdir"], metavar="DIR", expose_value=False,
                     is_eager=True, callback=_late_chdir,
                     type=click.Path(file_okay=False, path_type=Path),
                     help="Run as if started in DIR (also before the command)."),
        click.Option(["--now", "late_now"], metavar="TIME", expose_value=False,
                     callback=_late_now,
                     help="Pretend the current time is TIME, ISO 8601 (also before the "
                          "command)."),
        click.Option(["-v", "--verbose", "late_verbose"], is_flag=True, expose_value=False,
                     callback=_late_verbose,
                     help="Log each HTTP request to stderr (also before the command)."),
    ]


def _add_global_options(command: click.Command) -> None:
    """Give `command` and, for a group such as `local`, each of its subcommands the
    late global options (once: commands are module-level objects)."""
    if getattr(command, "_reconciler_global_options", False):
        return
    taken = {opt for p in command.params for opt in getattr(p, "opts", ())}
    command.params.extend(p for p in _late_global_options() if not set(p.opts) & taken)
    command._reconciler_global_options = True  # type: ignore[attr-defined]
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _add_global_options(sub)


def _as_usage_failure(error: click.UsageError) -> click.UsageError:
    """Click exits 2 on a usage error; here 2 means only "changes or drift" (as with
    Terraform's -detailed-exitcode), so a typo'd option must not look like drift."""
    # click declares exit_code a class variable; set on the instance, click's own error
    # classes (BadParameter, NoSuchOption, ...) keep their wording.
    error.exit_code = EXIT_FAILURE  # type: ignore[misc]
    return error


class ReconcilerGroup(click.Group):
    """A group whose `invoke` is the one error handler, so CliRunner sees it too, and
    whose commands are imported on first use (see COMMAND_MODULES)."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMAND_MODULES:
            importlib.import_module(f"reconciler.cli.{COMMAND_MODULES[cmd_name]}")
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            _add_global_options(command)
        return command

    def make_context(self, info_name: str | None, args: list[str],
                     parent: click.Context | None = None, **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as e:
            raise _as_usage_failure(e) from None

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(COMMAND_MODULES))

    def main(self, *args: Any, **kwargs: Any) -> Any:
        # The one choke point for the terminal: everything a command (or click, or the
        # error handler, or a traceback) writes to stdout/stderr is redacted first.
        redact.add_env(os.environ)
        with redact.redacting_output():
            return super().main(*args, **kwargs)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            with command_gc():
                return super().invoke(ctx)
        except click.UsageError as e:
            raise _as_usage_failure(e) from None
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except ReconcilerError as e:
            report_error(e)
            ctx.exit(e.exit_code)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(EXIT_INTERRUPTED)
        except BrokenPipeError:
            # The reader went away (`reconciler local inventory | head`): not a bug.
            # Point stdout at devnull so the interpreter's final flush stays quiet.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            ctx.exit(EXIT_FAILURE)
        except Exception:
            import traceback

            traceback.print_exc()
            click.echo(
                "reconciler hit an internal error (a bug). "
                "Please report it with the traceback above.",
                err=True,
            )
            ctx.exit(EXIT_BUG)


@click.group(
    cls=ReconcilerGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, "--version", prog_name="reconciler")
@click.option(
    "-C", "--chdir", "chdir", type=click.Path(file_okay=False, path_type=Path),
    help="Run as if started in DIR.", metavar="DIR",
)
@click.option(
    "--now", callback=parse_now, metavar="TIME", envvar="RECONCILER_NOW",
    help="Pretend the current time is TIME (ISO 8601), for expiry checks and dry runs.",
)
@click.option(
    "-v", "--verbose", is_flag=True,
    help="Log each HTTP request to stderr: method, path, status, milliseconds, attempt "
         "(never a credential).",
)
@click.pass_context
def cli(ctx: click.Context, chdir: Path | None, now: datetime | None, verbose: bool) -> None:
    """GitOps for zero-trust access policy.

    Compile the desired state in policies/, test it with Tailscale's semantics, plan
    the change against a control plane, apply exactly that plan, and catch drift.

    On a terminal, stderr shows what a slow command is doing (fetching, listing devices,
    validating, testing, retrying after a 429) and for how long; piped or redirected
    stderr, and stdout always, get none of it.
    """
    start_progress(ctx, verbose=verbose)
    cwd = Path.cwd()
    if chdir is not None:
        if not chdir.is_dir():
            raise click.BadParameter(f"{chdir} is not a directory", param_hint="-C/--chdir")
        cwd = chdir.resolve()
        os.chdir(cwd)
    ctx.obj = AppContext(cwd=cwd, now=_in_range(now) if now is not None else None)


def echo_problems(problems: list[Any], *, err: bool = True) -> None:
    for problem in problems:
        text = str(problem)
        if use_color(sys.stderr if err else sys.stdout):
            color = "red" if getattr(problem, "is_error", True) else "yellow"
            text = click.style(text, fg=color)
        click.echo(text, err=err)


def report_error(error: ReconcilerError) -> None:
    if isinstance(error, PolicyError):
        echo_problems(error.problems)
    summary = f"Error: {error}"
    if use_color(sys.stderr):
        summary = click.style(summary, fg="red", bold=True)
    click.echo(summary, err=True)
    if error.detail:
        click.echo(error.detail, err=True)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point.

    Leaves with `os._exit` once the output is flushed: the interpreter's teardown would
    free, one by one, every object of a large policy (0.1 s of a 2 s run) for no one.
    Nothing of ours waits for it: files and connections are closed by the commands,
    and forked children exit on their own.
    """
    try:
        cli.main(args=argv, prog_name="reconciler")
        code = EXIT_OK
    except SystemExit as e:
        code = _exit_status(e.code)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:  # the reader went away: nothing more to say to it
        code = code or EXIT_FAILURE
    os._exit(code)


def _exit_status(code: object) -> int:
    """What the interpreter would exit with for `SystemExit(code)`."""
    if code is None:
        return EXIT_OK
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return EXIT_FAILURE


__all__ = ["AppContext", "cli", "main", "pass_app"]

"""`reconciler plan|apply|drift|diff|import`: the Terraform-style core on the command line.

cli/ (click's home). May import: click, `commands`, `plan` (planfile, plancheck, the
planner's dirty-tree wording, drift), `render`, `diff.changes`, `core`.
Thin: parse options, call one function of `commands`, render the data in the chosen
format, exit with the code of architecture.md (0 no changes, 1 an expected failure,
2 changes or drift with --detailed-exitcode / drift).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import click

from reconciler.cli import EXIT_CHANGES, EXIT_FAILURE, AppContext, cli, echo_problems, pass_app
from reconciler.cli.common import ref_option
from reconciler.commands.apply import apply, check_interrupted, resume_apply
from reconciler.commands.diff import diff_refs
from reconciler.commands.drift import drift, drift_payload
from reconciler.commands.import_ import import_live
from reconciler.commands.plan import make_plan, revocation_plan
from reconciler.commands.session import (
    Session,
    for_targets,
    plan_alongside,
    reviewed_sensitive_tags,
)
from reconciler.core import redact
from reconciler.core.errors import NotApplyable, ReconcilerError, TestsFailed
from reconciler.core.forked import collector_paused
from reconciler.diff.changes import DriftReport, Plan
from reconciler.load.desired import Desired
from reconciler.plan import plancheck, planfile
from reconciler.plan.drift import exit_code as drift_exit_code
from reconciler.render import github, json_, markdown, text

PLAN_FORMATS = click.Choice(["text", "json", "markdown", "github"])
REPORT_FORMATS = click.Choice(["text", "json", "markdown"])

target_option = click.option("--target", "target", metavar="NAME",
                             help="The target in reconciler.yaml (default: default_target).")
require_clean_option = click.option(
    "--require-clean", is_flag=True,
    help="Refuse (exit 1) when the desired state has uncommitted changes.")


def refuse_dirty(dirty: bool, commit: str | None) -> None:
    """--require-clean: a plan of uncommitted changes is refused before anything is
    written (plan file or control plane)."""
    if dirty or not commit:
        raise NotApplyable(
            "--require-clean: the desired state has uncommitted changes"
            if dirty else "--require-clean: the desired state is not a commit",
            "Commit the changes (or stash them), then run the command again.")


def _session(app: AppContext) -> Session:
    return Session.open(app.cwd, now=app.now())


def _color() -> bool:
    from reconciler.cli import use_color

    return use_color(sys.stdout)


def render_plan(plan: Plan, fmt: str, plan_path: str | None) -> str:
    if fmt == "json":
        return json_.render_plan(plan)
    if fmt == "markdown":
        return markdown.render_plan(plan)
    if fmt == "github":
        return github.render_plan(plan)
    return text.render_plan(plan, plan_path=plan_path, color=_color())


def echo_plan(plan: Plan, fmt: str, plan_path: str | None) -> None:
    """Print the plan; with `--format github` in a workflow, first add its step summary
    to the job's (the page GitHub shows for the run)."""
    if fmt == "github":
        append_step_summary(github.step_summary(plan))
    click.echo(render_plan(plan, fmt, plan_path), nl=False)


def append_step_summary(text: str) -> None:
    """Append to the file GitHub names in GITHUB_STEP_SUMMARY (redacted like all output)."""
    summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary_file:
        with open(summary_file, "a", encoding="utf-8") as f:
            f.write(redact.redact(text))


@contextlib.contextmanager
def _json_error(fmt: str, target: str) -> Iterator[None]:
    """With --format json, an error is also a JSON document on stdout (then exit 1 as
    ever, the message on stderr), so a consumer never parses an empty output."""
    try:
        yield
    except ReconcilerError as e:
        if fmt == "json":
            click.echo(json.dumps({"format_version": planfile.FORMAT_VERSION,
                                   "target": target, "error": str(e),
                                   "detail": e.detail or None}, indent=2))
        raise


def _progress(name: str, state: str) -> None:
    click.echo(f"[{name}] {state}", err=True)


def _notice(line: str) -> None:
    click.echo(line, err=True)


def _plan_checked(session: Session, name: str, desired: Desired,
                  inventory: str | None) -> Plan:
    """`plan --all`'s plan of one target: an interrupted apply there is its error."""
    check_interrupted(session, name, notice=_notice)
    return make_plan(session, target=name, desired=desired, inventory=inventory,
                     with_document=False)


# --- plan -------------------------------------------------------------------------------------


@cli.command("plan")
@target_option
@click.option("--all", "all_targets", is_flag=True,
              help="Plan every target in reconciler.yaml, concurrently.")
@ref_option
@click.option("-o", "--out", "out", type=click.Path(dir_okay=False, path_type=Path),
              metavar="FILE", help="Save the plan to FILE, for `reconciler apply FILE`.")
@click.option("--detailed-exitcode", is_flag=True,
              help="Exit 2 when there are changes (0 none, 1 error).")
@click.option("--format", "fmt", type=PLAN_FORMATS, default="text", show_default=True)
@click.option("--inventory", metavar="FILE|backend|synthetic",
              help="Users and devices for the tests and the access diff: an inventory "
                   "file, `synthetic` (a device per user and tag the policies name), or "
                   "`backend` (the default: the tailnet's own devices and users).")
@require_clean_option
@pass_app
def plan_command(app: AppContext, target: str | None, all_targets: bool, ref: str | None,
                 out: Path | None, detailed_exitcode: bool, fmt: str,
                 inventory: str | None, require_clean: bool) -> None:
    """Show what apply would change on the control plane, and test the policy.

    Drift (changes made outside git since the last apply) is listed first; the plan
    reverts it. Save the plan with -o to apply exactly it later; with
    RECONCILER_PLAN_KEY set, the saved plan is signed (HMAC-SHA256) with that key.
    """
    session = _session(app)
    if all_targets:
        if out is not None or target is not None:
            raise click.UsageError("--all plans every target: leave out -o and --target")
        _plan_all(session, ref=ref, fmt=fmt, inventory=inventory,
                  detailed=detailed_exitcode, require_clean=require_clean)
        return
    with _json_error(fmt, target or session.config.default_target):
        # An interrupted apply is finished (`apply --resume`) before anything new is planned.
        check_interrupted(session, target, notice=_notice)
        desired, plan = plan_alongside(session, ref, lambda d: make_plan(
            session, target=target, desired=d, inventory=inventory,
            with_document=out is not None))
    echo_problems(desired.notices)
    if require_clean:
        refuse_dirty(plan.desired_dirty, plan.desired_commit)
    if out is not None:
        planfile.write(plan, out, key=planfile.signing_key())
    echo_plan(plan, fmt, str(out) if out else None)
    if not plan.tests.ok:
        sys.exit(EXIT_FAILURE)
    if detailed_exitcode and plan.has_changes:
        sys.exit(EXIT_CHANGES)


def _plan_all(session: Session, *, ref: str | None, fmt: str,
              inventory: str | None, detailed: bool, require_clean: bool = False) -> None:
    names = sorted(session.config.targets)
    desired, results = plan_alongside(session, ref, lambda d: for_targets(
        names, lambda n: _plan_checked(session, n, d, inventory),
        progress=_progress))
    echo_problems(desired.notices)
    if require_clean:
        refuse_dirty(desired.dirty, desired.commit)
    plans = [p for _, p, _ in results if p is not None]
    if fmt == "json":
        data = {"targets": [planfile.plan_to_dict(p, include_document=False) for p in plans],
                "errors": {n: str(e) for n, _, e in results if e is not None}}
        click.echo(json_.render("plan", data), nl=False)
    else:
        for p in plans:
            echo_plan(p, fmt, None)
            click.echo()
        click.echo(plan_table(results))
    failed = any(e is not None for _, _, e in results) or any(not p.tests.ok for p in plans)
    if failed:
        sys.exit(EXIT_FAILURE)
    if detailed and any(p.has_changes for p in plans):
        sys.exit(EXIT_CHANGES)


def plan_table(results: list[tuple[str, Plan | None, ReconcilerError | None]]) -> str:
    rows = [("TARGET", "CHANGES", "DRIFT", "TESTS", "STATUS")]
    for name, plan, error in results:
        if plan is None:
            rows.append((name, "-", "-", "-", f"error: {error}"))
            continue
        add, change, destroy = plan.counts()
        t = plan.tests
        status = ("tests failed" if not t.ok else "changes" if plan.has_changes
                  else "no changes")
        rows.append((name, f"+{add} ~{change} -{destroy}", str(len(plan.drift)),
                     f"{t.passed} passed, {t.failed} failed", status))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r[:4], widths, strict=True))
                     + "  " + r[4] for r in rows)


# --- apply ------------------------------------------------------------------------------------


@cli.command("apply")
@click.argument("plan_file", required=False, type=click.Path(dir_okay=False, path_type=Path),
                metavar="[PLAN]")
@target_option
@click.option("--auto-approve", is_flag=True, help="Skip the interactive `yes` (no PLAN).")
@click.option("--adopt", is_flag=True,
              help="Take over a live policy that reconciler did not apply (no header).")
@click.option("--git-note", is_flag=True,
              help="Record the apply (target, ETags, time) as a git note on the commit.")
@click.option("--revocations-only", is_flag=True,
              help="Without PLAN: push the last applied state minus what expired since, "
                   "whatever is pending in git; with PLAN: apply it only if every change "
                   "removes access (safe unattended runs).")
@click.option("--resume", is_flag=True,
              help="Finish the target's interrupted apply from its journal "
                   "(.reconciler/journal/), step by step; no PLAN.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@require_clean_option
@pass_app
def apply_command(app: AppContext, plan_file: Path | None, target: str | None,
                  auto_approve: bool, adopt: bool, git_note: bool, revocations_only: bool,
                  resume: bool, fmt: str, require_clean: bool) -> None:
    """Apply a saved PLAN exactly, or plan now and apply after you type `yes`.

    A saved plan is refused if it was changed after it was written (checksum; with
    RECONCILER_PLAN_KEY set, it must be signed with that key), if its recorded changes
    do not follow from its document, if its target differs, its tests failed, the live
    policy changed since it was made (the push carries If-Match with the planned ETag)
    or a managed device's tags moved. Nothing is written before every check passes.

    The writes are recorded in an apply journal first; if an apply stops part way
    (a crash, Ctrl-C, a failed request), every command touching the target says so
    and `apply --resume` finishes it.
    """
    session = _session(app)
    if resume:
        if plan_file is not None or revocations_only:
            raise click.UsageError("--resume finishes what the journal holds: leave out "
                                   "PLAN and --revocations-only")
        _resume(session, target, fmt)
        return
    if plan_file is not None:
        with collector_paused():  # the record's access diff is recomputed: see core.forked
            plan = plancheck.read(plan_file, key=planfile.signing_key())
        if require_clean:
            refuse_dirty(plan.desired_dirty, plan.desired_commit)
    else:
        if revocations_only:
            # Base minus expired: revokes on time whatever else waits in git.
            plan = revocation_plan(session, target=target)
            click.echo(f"Revocations only: the last applied commit "
                       f"{(plan.desired_commit or '')[:12]} with what expired since removed; "
                       "changes pending in git are not applied.\n",
                       err=fmt != "text")
        else:
            check_interrupted(session, target, notice=_notice)
            desired, plan = plan_alongside(
                session, None,
                lambda d: make_plan(session, target=target, desired=d))
            echo_problems(desired.notices)
        if fmt == "text" or not auto_approve:
            click.echo(text.render_plan(plan, color=_color(), show_footer=False),
                       err=fmt != "text", nl=False)
        if require_clean:
            refuse_dirty(plan.desired_dirty, plan.desired_commit)
        if not plan.has_changes and not (adopt and plan.takes_over):
            if fmt == "json":  # an apply result like any other, not the plan
                click.echo(json_.render_apply(json_.nothing_applied(plan)), nl=False)
            return
        if not plan.tests.ok:
            raise TestsFailed("the plan's tests failed; nothing was applied",
                              "Fix the policy or its tests, then run apply again.")
        if not auto_approve and not _approved(plan):
            click.echo("\nApply cancelled.", err=True)
            sys.exit(EXIT_FAILURE)
    if plan_file is not None and plan.desired_dirty:
        from reconciler.plan.planner import dirty_warning

        click.echo(f"Warning: {dirty_warning(plan.desired_commit)}", err=True)
    result = apply(session, plan, target=target, adopt=adopt,
                   revocations_only=revocations_only, git_note=git_note,
                   require_clean=require_clean, notice=_notice)
    if fmt == "json":
        click.echo(json_.render_apply(result), nl=False)
    else:
        click.echo(text.render_apply(result, color=_color()), nl=False)
        if result.pushed and session.target(result.target).backend == "headscale":
            from reconciler.backends.headscale import NO_PRECONDITION

            click.echo(f"Note: {NO_PRECONDITION}")


def _resume(session: Session, target: str | None, fmt: str) -> None:
    result = resume_apply(session, target=target)
    if fmt == "json":
        click.echo(json_.render("apply", {
            "target": result.target, "resumed": result.resumed,
            "plan_id": result.plan_id or None, "steps": list(result.lines)}), nl=False)
        return
    if not result.resumed:
        click.echo(f'No interrupted apply on target "{result.target}": nothing to resume.')
        return
    for line in result.lines:
        click.echo(f"  {line}")
    click.echo(f'\nResume complete! The interrupted apply on target "{result.target}" is '
               "finished and verified.")


def _approved(plan: Plan) -> bool:
    click.echo(f'\nDo you want to perform these actions on target "{plan.target}"?\n'
               "  reconciler will perform the actions described above.\n"
               "  Only 'yes' will be accepted to approve.\n")
    answer = click.prompt("  Enter a value", default="", show_default=False)
    return answer.strip() == "yes"


# --- drift ------------------------------------------------------------------------------------


@cli.command("drift")
@target_option
@click.option("--all", "all_targets", is_flag=True, help="Check every target, concurrently.")
@click.option("--format", "fmt", type=REPORT_FORMATS, default="text", show_default=True)
@click.option("--notify", metavar="URL",
              help="POST a JSON summary (Slack-compatible `text`) to this webhook.")
@pass_app
def drift_command(app: AppContext, target: str | None, all_targets: bool, fmt: str,
                  notify: str | None) -> None:
    """Compare live with git: exit 0 clean, 2 drift or pending changes, 1 error.

    Separates edits made outside git since the last apply from git changes not yet
    applied, and from resources changed on both sides.
    """
    if notify:
        from reconciler.commands.notify import check_url

        check_url(notify)
    session = _session(app)
    if all_targets:
        if target is not None:
            raise click.UsageError("--all checks every target: leave out --target")
        names = sorted(session.config.targets)
        for name in names:
            _drift_notice(session, name)
        _, results = plan_alongside(session, None, lambda d: for_targets(
            names, lambda n: drift(session, target=n, desired=d),
            progress=_progress))
        reports = [r if r is not None else DriftReport(n, "", error=str(e))
                   for n, r, e in results]
    else:
        try:
            with _json_error(fmt, target or session.config.default_target):
                _drift_notice(session, target)
                _, report = plan_alongside(
                    session, None,
                    lambda d: drift(session, target=target, desired=d))
        except ReconcilerError as e:
            # A nightly job whose check fails must still tell someone: a silent webhook
            # reads as "no drift".
            if notify:
                _notify_failure(session, target, notify, e)
            raise
        reports = [report]
    if fmt == "json":
        click.echo(json_.render_drift(reports[0]) if len(reports) == 1
                   else json_.render_drift_many(reports), nl=False)
    else:
        render = markdown.render_drift if fmt == "markdown" else (
            lambda r: text.render_drift(r, color=_color()))
        for report in reports:
            click.echo(render(report))
        if len(reports) > 1:
            click.echo(drift_table(reports))
    if notify:
        from reconciler.commands.notify import post_json, redacted

        post_json(notify, drift_payload(reports))
        click.echo(f"Sent the drift summary to {redacted(notify)}.", err=True)
    sys.exit(drift_exit_code(reports))


def _drift_notice(session: Session, target: str | None) -> None:
    """Drift reports an interrupted apply (one line on stderr) and checks on: it
    writes nothing, and its report shows the half-applied state as it is."""
    try:
        check_interrupted(session, target, refuse=False, notice=_notice)
    except ReconcilerError as e:  # a damaged journal, an unreachable target: said, not fatal
        _notice(f"Warning: {e}")


def _notify_failure(session: Session, target: str | None, url: str,
                    error: ReconcilerError) -> None:
    """Send the failed check to the webhook; a failure to send is only reported, so the
    check's own error stays the one the command exits with."""
    from reconciler.commands.notify import post_json, redacted

    try:
        name = session.target(target).name
    except ReconcilerError:
        name = target or "(default target)"
    report = DriftReport(name, "", error=str(error))
    try:
        post_json(url, drift_payload([report]))
    except ReconcilerError as e:
        click.echo(f"Error: {e}", err=True)
    else:
        click.echo(f"Sent the failed drift check to {redacted(url)}.", err=True)


def drift_table(reports: list[DriftReport]) -> str:
    rows = [("TARGET", "OUT-OF-BAND", "PENDING", "CONFLICTS", "STATUS")]
    for r in reports:
        status = f"error: {r.error}" if r.error else ("clean" if r.clean else "drift")
        rows.append((r.target, str(len(r.out_of_band)), str(len(r.pending)),
                     str(len(r.conflicts)), status))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row[:4], widths, strict=True))
                     + "  " + row[4] for row in rows)


# --- diff, import -----------------------------------------------------------------------------


@cli.command("diff")
@click.argument("base")
@click.argument("head")
@click.option("--format", "fmt", type=REPORT_FORMATS, default="text", show_default=True)
@click.option("--max-chars", type=click.IntRange(min=10_000), default=markdown.MAX_CHARS,
              show_default=True, metavar="N",
              help="Markdown: at most N characters (a pull-request comment), the access "
                   "table folded and shortened, then the resource changes left out.")
@pass_app
def diff_command(app: AppContext, base: str, head: str, fmt: str, max_chars: int) -> None:
    """Resource changes between two git revisions, BASE to HEAD (no control plane)."""
    session = _session(app)
    changes, access = diff_refs(session, base, head)
    # Risky gains are judged by BASE's sensitive_tags too when the change edits them.
    sensitive, edited = reviewed_sensitive_tags(
        session.config, base, [t for c in (*access.gained, *access.lost) for t in c.dst
                               if t.startswith("tag:")], at=head)
    if edited is not None and fmt != "markdown":
        click.echo(f"Warning: {edited}", err=True)
    if fmt == "json":
        click.echo(json_.render_diff(changes, base, head, access), nl=False)
    elif fmt == "markdown":
        click.echo(markdown.render_diff(changes, base, head, access, sensitive=sensitive,
                                        max_chars=max_chars,
                                        warnings=[edited] if edited else []), nl=False)
    else:
        click.echo(text.render_diff(changes, base, head, access), nl=False)


@cli.command("import")
@target_option
@click.option("--force", is_flag=True,
              help="Replace the fragments already in policies/ (they stay in git history).")
@click.option("--syntax", type=click.Choice(["yaml", "hujson"]),
              help="Write YAML or HuJSON fragments (default: what policies/ holds now; "
                   "HuJSON when it is empty).")
@pass_app
def import_command(app: AppContext, target: str | None, force: bool,
                   syntax: str | None) -> None:
    """Write the target's live policy into policies/, one fragment per section.

    HuJSON fragments keep the comments written in the console with their section. YAML
    fragments get back the names, descriptions, owners and expiries of the entries (and
    group members) that the replaced fragments held unchanged. Every fragment names the
    JSON Schema (schema/, written if missing). Commit the files; a plan right after an
    import shows no changes.
    """
    session = _session(app)
    tgt, written = import_live(session, target=target, force=force,
                               syntax=syntax)
    for f in written:
        rel = f.path.relative_to(session.config.root).as_posix()
        note = "" if f.comments_kept else " (reformatted: comments could not be kept)"
        click.echo(f"  wrote {rel}{note}")
    click.echo(f'\nImported the live policy of target "{tgt.name}" into {len(written)} '
               f"fragment(s). Review and commit them, then run `reconciler plan`.")

"""The Action's reports when there is no plan to show: annotations and the sticky comment.

Part of the Action (run.sh calls it with the runner's python3); stdlib only, since it
runs beside reconciler, not inside it. It reads reconciler's JSON output (the envelope
the README documents) and writes GitHub workflow commands to stdout.

    report.py failed  VALIDATE_JSON PLAN_ERR COMMENT TARGET PREFIX
        No plan could be made: validation errors as ::error annotations, a red comment.
    report.py offline VALIDATE_JSON TEST_JSON LINT_TXT DIFF_MD COMMENT TARGET PREFIX BASE OK
        A pull request from a fork (no secrets): the offline checks and the git diff, in a
        comment that says the live state was not consulted.

    report.py compare REVIEWED_PLAN CURRENT_PLAN
        Prints `current` when the live policy is as it was when the plan was reviewed
        (same ETag), `identical` when it moved but planning again gives the same resource
        changes and access diff, `differs` otherwise.
    report.py stale CURRENT_MD COMMENT TARGET REVIEWED_COMMIT
        The comment for a merge whose reviewed plan no longer holds: the new plan.

PREFIX is the working directory's path inside the repository (`git rev-parse
--show-prefix`): reconciler names files from the working directory, GitHub from the
repository root.
"""

from __future__ import annotations

import html
import json
import sys
from pathlib import Path
from typing import Any


def _data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _prop(s: str) -> str:
    return _data(s).replace(":", "%3A").replace(",", "%2C")


def _errors(validate_json: str) -> list[dict[str, Any]]:
    try:
        problems = json.loads(Path(validate_json).read_text())["problems"]
    except (OSError, ValueError, KeyError, TypeError):
        return []  # validate itself failed (bad reconciler.yaml, ...): its error says why
    return [p for p in problems if p.get("severity") == "error"]


def _annotate(problems: list[dict[str, Any]], prefix: str) -> list[str]:
    """Print one ::error per problem; return the comment's list lines."""
    lines = []
    for p in problems:
        props = []
        if p.get("file"):
            props.append(f"file={_prop(prefix + p['file'])}")
            props += [f"line={p['line']}"] if p.get("line") else []
            props += [f"col={p['column']}"] if p.get("column") else []
        print(f"::error {','.join([*props, 'title=reconciler'])}::{_data(p['message'])}")
        where = ":".join(str(p[k]) for k in ("file", "line", "column") if p.get(k))
        lines.append(f"- `{where or '-'}` {html.escape(p['message'])}")
    return lines


# GitHub refuses a comment over 65,536 characters. The plan comment stays within 60,000
# (reconciler/render/markdown.py MAX_CHARS); so does the offline one: the checks listed
# here take at most HEAD_CHARS and run.sh asks `reconciler diff` for 55,000 at most.
MAX_CHARS = 60_000
HEAD_CHARS = 5_000


def _capped(lines: list[str], budget: int, where: str) -> list[str]:
    """The first of `lines` that fit in `budget` characters, then how many were left out
    and `where` they all are."""
    kept: list[str] = []
    used = 0
    for line in lines:
        if used + len(line) + 1 > budget:
            return [*kept, f"- ... and {len(lines) - len(kept)} more: {where}"]
        kept.append(line)
        used += len(line) + 1
    return kept


def _marker(target: str) -> str:
    # The plan comment's marker (reconciler/render/markdown.py): one comment per target.
    return f"<!-- reconciler-plan:{target} -->"


def failed(validate_json: str, plan_err: str, comment: str, target: str, prefix: str) -> None:
    problems = _errors(validate_json)
    lines = [_marker(target), f"### ❌ reconciler plan for `{target}` failed", ""]
    if problems:
        lines += [f"**The policy is invalid: {len(problems)} error(s).** No plan was made; "
                  "nothing can be applied until they are fixed.", ""]
        lines += _capped(_annotate(problems, prefix), MAX_CHARS - 1_000,
                         "see the annotations and the job log")
    else:
        text = Path(plan_err).read_text().strip() or "reconciler plan failed without a message."
        text = text if len(text) <= MAX_CHARS - 1_000 else \
            text[:MAX_CHARS - 1_000] + "\n... (cut: the job log has the whole message)"
        print(f"::error title=reconciler::{_data(text)}")
        lines += ["No plan was made; nothing can be applied:", "", "```", text, "```"]
    Path(comment).write_text("\n".join(lines) + "\n")


def _last_line(path: str) -> str:
    lines = [ln for ln in Path(path).read_text().splitlines() if ln.strip()]
    return lines[-1] if lines else "(no output)"


def _tests(test_json: str) -> list[str]:
    try:
        data = json.loads(Path(test_json).read_text())
        counts = data["counts"]
    except (OSError, ValueError, KeyError, TypeError):
        return ["Tests: not run (see the job log)."]
    lines = [f"Tests: {counts['passed']} passed, {counts['failed']} failed, "
             f"{counts['invalid']} invalid."]
    failures = [f"`{r.get('location') or '-'}` {r.get('src')}: "
                + "; ".join([*(r.get("invalid") or []), *(r.get("errors") or [])])
                for r in data.get("results") or [] if r.get("status") != "passed"]
    return lines + _capped([f"- {html.escape(f)}" for f in failures], HEAD_CHARS // 3,
                           "see the job log")


def offline(validate_json: str, test_json: str, lint_txt: str, diff_md: str, comment: str,
            target: str, prefix: str, base: str, ok: str) -> None:
    problems = _errors(validate_json)
    status = "✅" if ok == "true" else "❌"
    lines = [
        _marker(target), f"### {status} reconciler offline check for `{target}`", "",
        "> [!NOTE]",
        "> **Live state was not consulted.** This pull request comes from a fork, and "
        "GitHub gives forks no secrets, so the control plane was not read. Below are the "
        "offline checks and the changes between the base branch "
        f"(`{base[:12]}`) and this pull request (`reconciler diff`), not a plan against "
        "the live policy: drift and the live ETag are checked when the change is planned "
        "with credentials.", "",
    ]
    if problems:
        lines += [f"**Validation: {len(problems)} error(s).**", ""]
        lines += _capped(_annotate(problems, prefix), HEAD_CHARS // 3,
                         "see the annotations and the job log")
        lines.append("")
    else:
        lines += ["Validation: passed.", ""]
    lines += [*_tests(test_json), "",
              f"Lint: {html.escape(_last_line(lint_txt).removeprefix('Lint: ')[:300])}", ""]
    diff = Path(diff_md).read_text().splitlines()
    if diff and diff[0].startswith("<!-- reconciler-diff:"):
        diff = diff[1:]  # this comment has its own marker
    lines += diff if diff else ["The diff could not be computed; see the job log."]
    Path(comment).write_text("\n".join(lines).rstrip("\n") + "\n")


def _essence(plan: dict[str, Any]) -> dict[str, Any]:
    """What a reviewer approved: each change's address, action and values, and who gains
    or loses which access. Where a rule sits (file:line) and the ETag may move when another
    change lands first; they are not part of what was approved."""
    def changes(key: str) -> list[Any]:
        return sorted(json.dumps([c["address"], c["actions"], c.get("before"), c.get("after")],
                                  sort_keys=True) for c in plan.get(key) or [])

    access = plan.get("access") or {}

    def grants(key: str) -> list[str]:
        return sorted(json.dumps({k: v for k, v in c.items() if k != "rules"}, sort_keys=True)
                      for c in access.get(key) or [])

    return {"drift": changes("resource_drift"), "changes": changes("resource_changes"),
            "devices": changes("device_changes"), "target": plan["target"]["name"],
            "gained": grants("gained"), "lost": grants("lost")}


def compare(reviewed_plan: str, current_plan: str) -> None:
    reviewed = json.loads(Path(reviewed_plan).read_text())
    current = json.loads(Path(current_plan).read_text())
    if reviewed["target"]["name"] != current["target"]["name"]:
        print("differs")
    elif reviewed["prior"]["etag"] == current["prior"]["etag"]:
        print("current")
    else:
        print("identical" if _essence(reviewed) == _essence(current) else "differs")


def stale(current_md: str, comment: str, target: str, reviewed_commit: str) -> None:
    body = Path(current_md).read_text().splitlines()
    if body and body[0].startswith("<!-- reconciler-plan:"):
        body = body[1:]  # replaced by this comment's own marker and heading
        while body and (not body[0].strip() or body[0].startswith("### ")):
            body = body[1:]
    lines = [_marker(target), f"### ❌ reconciler apply for `{target}` refused: the plan changed",
             "", f"**Nothing was applied.** The live policy changed after the plan reviewed "
             f"here (made at `{reviewed_commit[:12]}`), and planning again gives different "
             "changes or access than those reviewed. Review the new plan below; to apply it, "
             "merge a change that brings the desired state up to date, or run the apply "
             "workflow by hand.", "", *body]
    Path(comment).write_text("\n".join(lines).rstrip("\n") + "\n")


if __name__ == "__main__":
    commands = {"failed": (failed, 5), "offline": (offline, 9), "compare": (compare, 2),
                "stale": (stale, 4)}
    name, args = sys.argv[1], sys.argv[2:]
    function, count = commands[name]
    if len(args) != count:
        sys.exit(f"usage: report.py {name} with {count} arguments (got {len(args)})")
    function(*args)

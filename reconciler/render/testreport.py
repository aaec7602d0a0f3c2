"""Report step: the `test` report as text, JSON (its shape and its text) and JUnit XML.

render/ (may import `engine` for the report types, `core`, stdlib). Pure: each function
returns the text the CLI prints.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

from reconciler.engine import TestReport, TestResult

RED_BOLD = "\x1b[31m\x1b[1m"  # what click.style(fg="red", bold=True) writes
RESET = "\x1b[0m"


def render_text(report: TestReport, *, color: bool = False) -> str:
    """Each failing or invalid entry with its file:line, then the counts."""
    lines = []
    for r in report.results:
        if r.status == "passed":
            continue
        where = f"{r.location}: " if r.location else ""
        head = f"{where}{r.label} src {r.src!r}: {r.status}"
        lines.append(f"{RED_BOLD}{head}{RESET}" if color else head)
        lines.extend(f"  invalid test: {line}" for line in r.invalid)
        lines.extend(f"  {line}" for line in r.errors)
        lines.extend(f"  note: {line}" for line in r.notes)
    lines.append(
        f"{len(report.passed)} passed, {len(report.failed)} failed, {len(report.invalid)} "
        f"invalid ({report.assertions} assertions; inventory: {report.inventory})"
    )
    return "\n".join(lines) + "\n"


def result_to_dict(r: TestResult) -> dict[str, Any]:
    return {
        "section": r.section, "index": r.index, "src": r.src,
        "status": r.status, "location": str(r.location) if r.location else None,
        "errors": r.errors, "invalid": r.invalid, "assertions": r.assertions,
        "name": r.title, "label": r.label, "notes": r.notes,
    }


def report_to_dict(report: TestReport) -> dict[str, Any]:
    """The JSON shape of `test --format json` (inside the envelope)."""
    results = [result_to_dict(r) for r in report.results]  # each status found once
    statuses = [d["status"] for d in results]
    failed, invalid = statuses.count("failed"), statuses.count("invalid")
    return {
        "ok": not failed and not invalid,
        "inventory": report.inventory,
        "counts": {"passed": len(statuses) - failed - invalid, "failed": failed,
                   "invalid": invalid, "assertions": report.assertions},
        "results": results,
        "failures": report.tailscale_failures(),
    }


def report_json(data: dict[str, Any]) -> str:
    """The report as JSON indented by 2, but with each entry of `results` on one line.

    json's C encoder takes no indent, and the pure-Python one needed 0.2 s for the
    12,438 results of a large policy; one line per result is also easier to grep."""
    results = data["results"]
    text = json.dumps({**data, "results": "@results@"}, indent=2)
    # One C-encoder pass over the whole list, cut between its items: each result is a
    # flat object whose first key is "section", and inside a JSON string a quote is
    # always escaped, so the cut text occurs only between two results.
    items = json.dumps(results)[2:-2].split('}, {"section": ') if results else []
    if len(items) == len(results):
        lines = '},\n    {"section": '.join(items)
        body = f'[\n    {{{lines}}}\n  ]'
    else:  # a result of another shape: one at a time
        body = "[\n" + ",\n".join(f"    {json.dumps(r)}" for r in results) + "\n  ]"
    return text.replace('"results": "@results@"', f'"results": {body if results else "[]"}', 1)


def junit_xml(report: TestReport) -> str:
    """JUnit XML with one testcase per test entry; invalid entries are <error>s."""
    suite = ET.Element("testsuite", {
        "name": "reconciler policy tests", "tests": str(len(report.results)),
        "failures": str(len(report.failed)), "errors": str(len(report.invalid)),
        "skipped": "0",
    })
    for r in report.results:
        attrs = {"classname": r.section, "name": r.name}
        if r.location:
            attrs["file"] = r.location.file
            attrs["line"] = str(r.location.line)
        case = ET.SubElement(suite, "testcase", attrs)
        if r.status == "invalid":
            ET.SubElement(case, "error", {"message": r.invalid[0]}).text = "\n".join(r.invalid)
        elif r.status == "failed":
            ET.SubElement(case, "failure", {"message": r.errors[0]}).text = "\n".join(
                [*r.errors, *(f"note: {n}" for n in r.notes)])
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")

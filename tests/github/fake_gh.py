"""A stand-in for the `gh` CLI with state: pull-request comments and issues, kept in a
JSON file (GH_STATE), every call logged (GH_LOG).

Test helper, run as a script through a `gh` shim on PATH; stdlib only. It answers exactly
the calls action/run.sh and examples/github/*.yml make, the way `gh` does (a `--jq`
result of null prints an empty line), and fails loudly on any other call so a new call
cannot pass unnoticed.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

STATE = Path(os.environ["GH_STATE"])


def _load() -> dict[str, Any]:
    if STATE.is_file():
        return json.loads(STATE.read_text())
    return {"next_id": 1, "comments": {}, "issues": [], "labels": []}


def _option(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None


def _field(args: list[str], key: str) -> str:
    for i, a in enumerate(args):
        if a == "-F" and args[i + 1].startswith(f"{key}="):
            value = args[i + 1][len(key) + 1:]
            return Path(value[1:]).read_text() if value.startswith("@") else value
    raise SystemExit(f"fake gh: no -F {key}= in {args}")


def api(state: dict[str, Any], args: list[str]) -> None:
    method = _option(args, "-X") or "GET"
    path = next(a for a in args if a.startswith("repos/"))
    if method == "GET" and (m := re.fullmatch(r"repos/[^/]+/[^/]+/issues/(\d+)/comments", path)):
        jq = _option(args, "--jq") or ""
        marker = re.search(r'startswith\("(.*)"\)', jq)
        assert marker and jq.endswith("| .id"), f"fake gh: unsupported --jq {jq!r}"
        for c in state["comments"].get(m.group(1), []):
            if c["body"].startswith(marker.group(1)):
                print(c["id"])
    elif method == "POST" and (m := re.fullmatch(r"repos/[^/]+/[^/]+/issues/(\d+)/comments",
                                                  path)):
        state["comments"].setdefault(m.group(1), []).append(
            {"id": state["next_id"], "body": _field(args, "body")})
        state["next_id"] += 1
    elif method == "PATCH" and (m := re.fullmatch(r"repos/[^/]+/[^/]+/issues/comments/(\d+)",
                                                   path)):
        comment = next(c for cs in state["comments"].values() for c in cs
                       if c["id"] == int(m.group(1)))
        comment["body"] = _field(args, "body")
    else:
        raise SystemExit(f"fake gh: unsupported api call {args}")


def issue(state: dict[str, Any], args: list[str]) -> None:
    verb = args[0]
    if verb == "list":
        assert _option(args, "--jq") == ".[0].number" and _option(args, "--state") == "open"
        label = _option(args, "--label")
        open_ = [i for i in state["issues"] if i["state"] == "open" and label in i["labels"]]
        print(open_[0]["number"] if open_ else "")
    elif verb == "create":
        label = _option(args, "--label")
        assert label in state["labels"], "gh issue create: the label does not exist"
        state["issues"].append({"number": state["next_id"], "title": _option(args, "--title"),
                                "labels": [label], "state": "open",
                                "comments": [_option(args, "--body")]})
        state["next_id"] += 1
    elif verb in ("comment", "close"):
        found = next(i for i in state["issues"] if i["number"] == int(args[1]))
        text = _option(args, "--body" if verb == "comment" else "--comment")
        if text:
            found["comments"].append(text)
        if verb == "close":
            found["state"] = "closed"
    else:
        raise SystemExit(f"fake gh: unsupported issue call {args}")


def label(state: dict[str, Any], args: list[str]) -> None:
    assert args[0] == "create"
    if args[1] in state["labels"]:
        raise SystemExit(f"label {args[1]!r} already exists")
    state["labels"].append(args[1])


def main(argv: list[str]) -> None:
    with open(os.environ["GH_LOG"], "a") as log:
        log.write(" ".join(argv) + "\n")
    state = _load()
    {"api": api, "issue": issue, "label": label}[argv[0]](state, argv[1:])
    STATE.write_text(json.dumps(state, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])

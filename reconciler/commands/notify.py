"""Drift notifications: POST a JSON summary to a webhook (Slack-compatible `text`).

commands/ (step: drift, its notification). May import: `core`, stdlib. This is a single
best-effort POST to a URL the user names, not a control-plane API, so it uses the
standard library's urllib rather than httpx: httpx stays quarantined in `backends/`
(with its retries, ETags and credential redaction, none of which apply here), and no
second module has to import it. A webhook URL is itself a secret (Slack's carry the
token in the path), so messages show only its scheme and host.
"""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from reconciler.core import redact
from reconciler.core.errors import ReconcilerError


def redacted(url: str) -> str:
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or "?"
    except ValueError:  # not a URL (`http://[::1`): show nothing of it
        return "(an invalid URL)"
    return f"{parts.scheme}://{host}/..."


def check_url(url: str) -> None:
    """A ReconcilerError unless `url` is an http(s) URL with a host; checked before the
    drift check runs, so a typo does not cost a whole run."""
    try:
        parts = urllib.parse.urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number)
    except ValueError:
        ok = False
    if not ok or any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url):
        raise ReconcilerError("--notify needs an http:// or https:// URL with a host",
                              "Pass the webhook URL, e.g. a Slack incoming webhook.")


def post_json(url: str, payload: dict[str, Any], *, timeout: float = 10.0) -> int:
    """POST `payload` as JSON; the HTTP status, or a ReconcilerError naming only the host."""
    check_url(url)
    request = urllib.request.Request(
        url, data=redact.dumps_json(payload).encode("utf-8"), method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "reconciler"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as e:
        raise ReconcilerError(f"the drift notification to {redacted(url)} was refused "
                              f"(HTTP {e.code})", "Check the webhook URL.") from e
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        raise ReconcilerError(f"could not send the drift notification to {redacted(url)}",
                              f"{type(reason).__name__}: the webhook is unreachable.") from e

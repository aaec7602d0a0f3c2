"""HTTP for the remote backends: bounded retries, backoff, and errors with no secrets.

backends/ (fetch and push). May import: httpx, `backends.base`, `core`, `progress` (each
request and retry is reported there, for -v and the status line). One of the two
httpx homes (with the backend modules that build on it). Every request is retried
on 429, 500, 502, 503, 504 and on connection errors and timeouts, at most
`RetryPolicy.attempts` times, waiting `Retry-After` when the server sends one and
exponential backoff with jitter otherwise; a request that is not safe to repeat
(a policy POST without If-Match) passes `retry=False`. Every HTTP failure becomes a
named `BackendError` raised `from` the httpx error; messages carry a response body
with every known secret replaced by `***` (see `reconciler.core.redact`), then truncated.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from reconciler.backends.base import truncate
from reconciler.core import progress, redact
from reconciler.core.errors import (
    AuthError,
    BackendError,
    NotFound,
    PreconditionFailed,
    RateLimited,
    ServerError,
    TransportError,
    ValidationFailed,
)

log = logging.getLogger("reconciler.backends")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4  # total tries, the first one included
    base_delay: float = 0.5  # seconds before the first retry; doubles each time
    max_delay: float = 10.0  # cap for backoff and for a server's Retry-After
    jitter: float = 0.25  # +- this fraction of the delay, so clients do not retry in step

    def backoff(self, retry: int, rng: random.Random) -> float:
        delay = min(self.max_delay, self.base_delay * (2 ** retry))
        return max(0.0, delay * (1 + rng.uniform(-self.jitter, self.jitter)))


@dataclass
class HttpStats:
    """Counters a caller (or a test) can read: requests sent, retries, waits."""

    requests: int = 0
    retries: int = 0
    slept: float = 0.0
    statuses: dict[int, int] = field(default_factory=dict)


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date relative to `now` (epoch)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


class Redactor:
    """A backend's handle on the process-wide registry (`reconciler.core.redact`).

    Secrets added here are registered for the whole process, so they are masked in
    every output, not only in this client's errors; calling it redacts every known
    secret. It counts its own, for a repr that names no value."""

    def __init__(self, secrets: list[str] | None = None) -> None:
        self._count = 0
        for secret in secrets or []:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        if secret:
            self._count += 1
            redact.add(secret)

    def __call__(self, text: str) -> str:
        return redact.redact(text)

    def data(self, value: Any) -> Any:
        """JSON-like data (a server's `data[]`) with every string redacted."""
        return redact.redact_data(value)

    def __repr__(self) -> str:
        return f"Redactor({self._count} secrets)"


def json_body(response: httpx.Response) -> dict[str, Any]:
    """A successful answer's JSON object, or a BackendError saying what came instead: a
    proxy's HTML page or a wrong `base_url` answers 200 too."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        kind = response.headers.get("Content-Type") or "no content type"
        raise BackendError(
            f"{response.request.method} {response.request.url.path}: the control plane "
            f"answered {response.status_code} with something that is not a JSON object "
            f"({kind}, {len(response.content)} bytes)",
            "Check the target's base_url: it must point at the control plane's API itself, "
            "not at a login page or a proxy in front of it.")
    return body


def error_message(response: httpx.Response) -> tuple[str, Any]:
    """(message, data) from a Tailscale, gRPC-gateway or problem+json error body."""
    try:
        body = response.json()
    except ValueError:
        return response.text, None
    if isinstance(body, dict):
        message = body.get("message") or body.get("detail") or body.get("title") or ""
        return str(message), body.get("data")
    return response.text, None


class HttpClient:
    """An httpx client with retries and error mapping; auth headers come from `auth`."""

    def __init__(
        self,
        base_url: str,
        *,
        auth: Callable[[], Mapping[str, str]] | None = None,
        timeout: float = 30.0,
        client: httpx.Client | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        wall_clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        redact: Redactor | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._auth = auth or (lambda: {})
        self._client = client or httpx.Client(timeout=timeout)
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._wall_clock = wall_clock
        self._rng = rng or random.Random()
        self.redact = redact or Redactor()
        self.stats = HttpStats()

    def __repr__(self) -> str:
        return f"HttpClient({self.base_url!r})"

    def close(self) -> None:
        self._client.close()

    def _wait(self, seconds: float) -> None:
        self.stats.retries += 1
        self.stats.slept += seconds
        self._sleep(seconds)

    def request(
        self,
        method: str,
        path: str,
        *,
        retry: bool = True,
        auth: bool = True,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send one request (retrying when allowed); a 2xx response or a named error."""
        url = self.base_url + path
        where = f"{method} {path}"
        attempts = self.retry.attempts if retry else 1
        headers = dict(kwargs.pop("headers", None) or {})
        for attempt in range(attempts):
            last = attempt == attempts - 1
            # Auth is asked for on every attempt: an OAuth token may have been renewed.
            sent = headers | (dict(self._auth()) if auth else {})
            self.stats.requests += 1
            started = time.monotonic()
            try:
                response = self._client.request(method, url, headers=sent, **kwargs)
            except httpx.TimeoutException as e:
                progress.request(method, path, "timeout", started, attempt + 1, attempts)
                if not last:
                    self._note_retry(where, "timeout", attempt, attempts)
                    continue
                raise TransportError(
                    f"{where}: timed out after {attempts} attempt(s)",
                    "The control plane did not answer in time; try again later or raise "
                    "the target's timeout.",
                ) from e
            except httpx.TransportError as e:
                progress.request(method, path, type(e).__name__, started, attempt + 1,
                                 attempts)
                if not last:
                    self._note_retry(where, type(e).__name__, attempt, attempts)
                    continue
                raise TransportError(
                    f"{where}: connection failed after {attempts} attempt(s): "
                    f"{self.redact(str(e)) or type(e).__name__}",
                    f"Check that {self.base_url} is reachable.",
                ) from e
            status = response.status_code
            progress.request(method, path, status, started, attempt + 1, attempts)
            self.stats.statuses[status] = self.stats.statuses.get(status, 0) + 1
            if status in RETRY_STATUSES and not last:
                wait = retry_after_seconds(response.headers.get("Retry-After"),
                                           self._wall_clock())
                delay = (min(wait, self.retry.max_delay) if wait is not None
                         else self.retry.backoff(attempt, self._rng))
                log.info("%s: HTTP %s, retrying in %.2fs (attempt %d of %d)",
                         where, status, delay, attempt + 2, attempts)
                progress.retry(f"HTTP {status}", delay, attempt + 2, attempts)
                self._wait(delay)
                continue
            if status >= 400:
                raise self.error_for(response, where, attempts=attempt + 1)
            return response
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    def _note_retry(self, where: str, why: str, attempt: int, attempts: int) -> None:
        delay = self.retry.backoff(attempt, self._rng)
        log.info("%s: %s, retrying in %.2fs", where, why, delay)
        progress.retry(why, delay, attempt + 2, attempts)
        self._wait(delay)

    def error_for(self, response: httpx.Response, where: str, *, attempts: int = 1
                  ) -> BackendError:
        """The named error for a failed response; its text never holds a secret."""
        status = response.status_code
        message, data = error_message(response)
        # Redact before cutting: a credential straddling the cut would leak its start.
        message = truncate(self.redact(message or response.reason_phrase or ""), 300)
        summary = f"{where}: HTTP {status}: {message}" if message else f"{where}: HTTP {status}"
        tries = f" (after {attempts} attempts)" if attempts > 1 else ""
        if status in (401, 403):
            return AuthError(summary, "The credential is missing, wrong, expired or lacks the "
                             "scope this call needs.", status=status)
        if status == 404:
            return NotFound(summary, "Check the tailnet name, base URL and ids.", status=status)
        if status in (409, 412):
            return PreconditionFailed(message or summary, "The live policy changed since it "
                                      "was read; fetch it again and re-plan.", status=status)
        if status == 429:
            wait = retry_after_seconds(response.headers.get("Retry-After"), self._wall_clock())
            return RateLimited(summary + tries, "The control plane is rate limiting; wait and "
                               "run again.", retry_after=wait)
        if status >= 500:
            return ServerError(summary + tries, "The control plane failed; try again later.",
                               status=status)
        if status == 400:
            failures = self.redact.data(
                [d for d in data if isinstance(d, dict)] if isinstance(data, list) else [])
            detail = self.redact("\n".join(
                f"{f.get('user', '?')}: {err}"
                for f in failures for err in f.get("errors", []) or []
            ))
            return ValidationFailed(message or summary, detail, status=status,
                                    failures=failures)
        return BackendError(summary, status=status)

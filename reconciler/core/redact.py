"""Redaction: the one place that knows every credential the process holds.

core/ (the lowest layer) (standard library only; anything may import it). A credential reaches
this registry when it is read (`add_env` at the CLI's entry, and the backends when
they are built) or obtained (the OAuth access tokens a token endpoint mints). Every
text that leaves the process passes `redact` first: the CLI's stdout and stderr are
wrapped (`redacting_output`), the plan file and the drift webhook payload go through
`dumps_json`, and the backends redact a server's answer before they cut it short, so
a credential straddling the cut cannot leak its start.

A hostile or buggy control plane may echo what it was sent, in whatever encoding it
was sent or stored, so each credential is searched for in every form it travels or is
shown in: raw; URL-encoded (`quote`, `quote_plus`, upper- and lower-case hex), which
covers form bodies; base64 of `key:` (HTTP Basic, as Tailscale takes API keys) and of
the credential anywhere inside a longer base64 text (the three byte alignments,
standard and URL-safe alphabets); JSON and Go-JSON escapes; HTML and markdown-table
escapes; and each of those with `%` escaped as GitHub workflow commands escape it.
Values shorter than `MIN_LENGTH` are not secrets worth the damage of replacing them
everywhere.

The needles are computed once per credential, when it is registered; `redact` on a
process holding no credential (the local backend, `test`, `lint`) is one tuple check.
"""

from __future__ import annotations

import base64
import html
import json
import re
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"
MIN_LENGTH = 8
_PERCENT = re.compile(r"%[0-9A-F]{2}")

# Every environment variable that holds a credential this process may use or pass on.
# The backends' own names (config.CREDENTIAL_VARS) must all be here; a test checks it.
CREDENTIAL_ENV_VARS = (
    "TS_API_KEY", "TS_OAUTH_CLIENT_ID", "TS_OAUTH_CLIENT_SECRET", "TS_ID_TOKEN",
    "HEADSCALE_API_KEY",
    "RECONCILER_SERVE_API_KEY", "RECONCILER_SERVE_OAUTH_CLIENT_ID",
    "RECONCILER_SERVE_OAUTH_CLIENT_SECRET", "RECONCILER_SERVE_OIDC_KEY",
    "RECONCILER_PLAN_KEY",  # signs plan files: never in one, nor in any output
    # Set around us by the GitHub Action's step; held by the process all the same.
    "GH_TOKEN", "GITHUB_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
)


def _base64_forms(raw: bytes) -> set[str]:
    """The base64 text that encodes `raw` wherever it sits inside a longer byte string.

    Each base64 character carries 6 bits, so the characters covering `raw` depend on
    its offset modulo 3; the ones that mix in a neighbour's bits are dropped."""
    forms: set[str] = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode("ascii").rstrip("=")
        head = (8 * offset + 5) // 6  # characters holding any of the padding's bits
        tail = (len(raw) + offset) % 3  # a partial last group: its last char mixes bits
        core = encoded[head: len(encoded) - 1 if tail else len(encoded)]
        forms.add(core)
    forms.add(base64.b64encode(raw).decode("ascii"))
    forms.add(base64.b64encode(raw + b":").decode("ascii"))  # HTTP Basic, key as user
    return forms | {f.replace("+", "-").replace("/", "_") for f in forms}


def encodings(secret: str) -> set[str]:
    """Every form of `secret` searched for (those long enough to be safe to mask)."""
    if len(secret) < MIN_LENGTH:
        return set()
    forms = {secret, html.escape(secret, quote=True), html.escape(secret, quote=False)}
    quoted = {quote(secret, safe=""), quote(secret), quote_plus(secret),
              quote_plus(secret, safe="/")}
    for q in quoted:
        forms |= {q, _lower_hex(q)}
    escaped = json.dumps(secret)[1:-1]
    forms |= {escaped, json.dumps(secret, ensure_ascii=False)[1:-1],
              escaped.replace("/", "\\/"),  # JSON may escape the solidus
              escaped.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")}
    # A form body (the credential URL-encoded in it) may itself be base64-encoded.
    for text in {secret} | quoted:
        forms |= _base64_forms(text.encode("utf-8"))
    forms.add(secret.replace("|", "\\|"))  # a markdown table cell
    # GitHub workflow commands (annotations) escape % as %25, CR and LF.
    forms |= {_workflow_escape(f) for f in forms}
    return {f for f in forms if len(f) >= MIN_LENGTH}


def _lower_hex(text: str) -> str:
    return _PERCENT.sub(lambda m: m.group(0).lower(), text)


def _workflow_escape(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


class Registry:
    """The credentials known so far, as needles searched longest first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        # Read without the lock: replaced whole, never mutated, so a reader sees the
        # old tuple or the new one.
        self.needles: tuple[str, ...] = ()

    def add(self, secret: str | None) -> None:
        if not secret or len(secret) < MIN_LENGTH or secret in self._secrets:
            return
        forms = encodings(secret)
        with self._lock:
            self._secrets.add(secret)
            self.needles = tuple(sorted(set(self.needles) | forms, key=len, reverse=True))

    def add_env(self, env: Mapping[str, str]) -> None:
        for name in CREDENTIAL_ENV_VARS:
            self.add(env.get(name))

    def __len__(self) -> int:
        return len(self._secrets)

    def __repr__(self) -> str:
        return f"Registry({len(self._secrets)} secrets)"


REGISTRY = Registry()


def add(secret: str | None) -> None:
    """Register a credential (and its encodings) for redaction from now on."""
    REGISTRY.add(secret)


def add_env(env: Mapping[str, str]) -> None:
    """Register every credential variable set in `env` (see CREDENTIAL_ENV_VARS)."""
    REGISTRY.add_env(env)


def redact(text: str) -> str:
    """`text` with every known credential, in every known encoding, replaced by ***."""
    needles = REGISTRY.needles
    if not needles or not text:
        return text
    for needle in needles:
        if needle in text:
            text = text.replace(needle, MASK)
    return text


def contains_secret(text: str) -> bool:
    return any(needle in text for needle in REGISTRY.needles)


def redact_data(data: Any) -> Any:
    """A copy of JSON-like `data` with every string (keys too) redacted."""
    if isinstance(data, str):
        return redact(data)
    if isinstance(data, dict):
        return {redact_data(k): redact_data(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [redact_data(v) for v in data]
    return data


def dumps_json(data: Any, **kwargs: Any) -> str:
    """`json.dumps(data)` with credentials redacted, still valid JSON.

    The usual case (no credential in the text) costs one scan of the text; otherwise
    the strings are redacted before encoding, so a mask never cuts an escape apart."""
    text = json.dumps(data, **kwargs)
    if REGISTRY.needles and contains_secret(text):
        text = json.dumps(redact_data(data), **kwargs)
    return text


class RedactingStream:
    """A text stream that redacts whatever is written to it, then passes it on."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            # click probes with write(b"") to tell binary streams from text ones.
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        self._stream.write(redact(text))
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        if name == "buffer":
            # Bytes written beneath the text stream would pass unredacted: hide it.
            raise AttributeError(name)
        return getattr(self._stream, name)


@contextmanager
def redacting_output() -> Iterator[None]:
    """sys.stdout and sys.stderr redacted for the duration (every command's output)."""
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = RedactingStream(out), RedactingStream(err)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = out, err

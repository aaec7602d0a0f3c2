"""The leak oracle: does a text hold any part of a credential, in any encoding?

Written independently of `reconciler.core.redact` (it decodes the text instead of encoding
the secret), so a form the redactor forgot is still found. A text is decoded every
way a credential could have been encoded on its way out: URL-decoding (once and
twice, since GitHub annotations escape `%` again; `+` as space or not), JSON and HTML
unescaping, and base64 (standard and URL-safe, every run of base64 characters at each
of its four offsets). In each decoded form it looks for any WINDOW-character piece of
the credential, so a credential cut short (its start left before a truncation) is
found too. Pieces lying wholly in a credential's fixed, public prefix (`tskey-api-`)
are not looked for: they are not secret and may be printed legitimately.
"""

from __future__ import annotations

import base64
import binascii
import html
import re
from dataclasses import dataclass
from urllib.parse import unquote, unquote_plus

WINDOW = 12
_B64_RUN = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")
_JSON_U = re.compile(r"\\u([0-9a-fA-F]{4})")


@dataclass(frozen=True)
class Secret:
    name: str
    value: str
    public_prefix: int = 0  # leading characters that are not secret

    def pieces(self) -> list[str]:
        v = self.value
        if len(v) <= WINDOW:
            return [v]
        first = max(0, self.public_prefix - WINDOW + 3)  # at least 3 secret characters
        return [v[i: i + WINDOW] for i in range(first, len(v) - WINDOW + 1)]


def _unescaped(text: str) -> set[str]:
    forms = {text}
    for _ in range(2):
        forms |= {f(t) for t in forms for f in (unquote, unquote_plus)}
    forms |= {_JSON_U.sub(lambda m: chr(int(m[1], 16)), t).replace("\\/", "/")
              .replace('\\"', '"') for t in list(forms)}
    return forms | {html.unescape(t) for t in forms}


def _base64_decoded(forms: set[str]) -> set[str]:
    out = set()
    for t in forms:
        for run in _B64_RUN.findall(t):
            for offset in range(4):
                chunk = run.rstrip("=")[offset:]
                chunk = chunk[: len(chunk) - len(chunk) % 4]
                for alt in (chunk, chunk.replace("-", "+").replace("_", "/")):
                    try:
                        raw = base64.b64decode(alt, validate=True)
                    except (binascii.Error, ValueError):
                        continue
                    out.add(raw.decode("utf-8", "replace"))
    return out


def _decoded(text: str) -> set[str]:
    """`text` decoded every way, and what base64 inside it decodes to, decoded again
    (a form body is URL-encoded, then the whole of it may be base64-encoded)."""
    forms = _unescaped(text)
    inner: set[str] = set()
    for decoded in _base64_decoded(forms):
        inner |= _unescaped(decoded)
    return forms | inner


def find_leaks(text: str, secrets: list[Secret]) -> list[str]:
    """Names of the secrets some piece of which `text` holds, with the piece found."""
    if not text:
        return []
    forms = _decoded(text)
    found = []
    for secret in secrets:
        for piece in secret.pieces():
            if any(piece in form for form in forms):
                found.append(f"{secret.name}: {piece!r}")
                break
    return found

"""`reconciler.core.redact` on its own: every encoding found wherever it sits, nothing short
masked, JSON kept valid, every credential variable known, and the real console script
redacting its own streams (that one is in test_echo_matrix.py)."""

from __future__ import annotations

import base64
import html
import json
import random
import re
from urllib.parse import quote, quote_plus, urlencode

import httpx
import pytest

from reconciler.backends.http import HttpClient, Redactor
from reconciler.core import redact
from reconciler.core.errors import ValidationFailed
from reconciler.load.config import CREDENTIAL_VARS
from tests.security.leaks import Secret, find_leaks

SECRET = "tskey-client-k9Q+7f/Za=0&x2Lw\"b\\q|7"


def _b64(data: bytes, urlsafe: bool) -> str:
    return (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(data).decode()


# Each way a control plane (or we) might carry the secret, embedded in other text.
ENCODERS = {
    "raw": lambda s, pre, post: f"{pre}{s}{post}",
    "quote": lambda s, pre, post: pre + quote(s, safe="") + post,
    "quote lower hex": lambda s, pre, post: pre + re.sub(
        "%[0-9A-F]{2}", lambda m: m[0].lower(), quote(s, safe="")) + post,
    "form body": lambda s, pre, post: urlencode({"a": pre, "client_secret": s, "b": post}),
    "basic auth": lambda s, pre, post: f"{pre} Basic {_b64((s + ':').encode(), False)} {post}",
    "base64 inside": lambda s, pre, post: _b64(f"{pre}{s}{post}".encode(), False),
    "urlsafe base64 inside": lambda s, pre, post: _b64(f"{pre}{s}{post}".encode(), True),
    "base64 of a form": lambda s, pre, post: _b64(urlencode({pre: s}).encode(), False),
    "json": lambda s, pre, post: json.dumps({pre: s, "x": post}),
    "go json": lambda s, pre, post: json.dumps(s).replace("&", "\\u0026"),
    "html": lambda s, pre, post: pre + html.escape(s) + post,
    "markdown cell": lambda s, pre, post: f"| {pre} | {s.replace('|', chr(92) + '|')} |",
    "annotation": lambda s, pre, post: (pre + quote_plus(s) + post).replace("%", "%25"),
}


@pytest.mark.parametrize("encoder", sorted(ENCODERS))
def test_every_encoding_is_masked_wherever_it_sits(encoder: str) -> None:
    redact.add(SECRET)
    rng = random.Random(17)
    for _ in range(30):
        pre = "".join(rng.choice("ab=/+ :xyz") for _ in range(rng.randrange(0, 7)))
        post = "".join(rng.choice("ab=/+ :xyz") for _ in range(rng.randrange(0, 7)))
        text = ENCODERS[encoder](SECRET, pre, post)
        assert find_leaks(text, [Secret("s", SECRET, 13)]), f"the oracle missed {text!r}"
        out = redact.redact(text)
        assert find_leaks(out, [Secret("s", SECRET, 13)]) == [], (text, out)
        assert redact.MASK in out


def test_nothing_is_masked_before_a_credential_is_known_and_short_values_never() -> None:
    text = f"key {SECRET} and abc123"
    assert redact.redact(text) == text
    redact.add("abc123")  # shorter than MIN_LENGTH: masking it everywhere would do harm
    redact.add_env({"TS_API_KEY": SECRET, "UNRELATED": "not-a-credential-value"})
    assert redact.redact(text) == f"key {redact.MASK} and abc123"
    assert redact.redact("not-a-credential-value") == "not-a-credential-value"


def test_json_stays_valid_when_a_credential_inside_needs_escaping() -> None:
    redact.add(SECRET)
    data = {"message": f"echo: {SECRET}", "list": [SECRET, 1, None], SECRET: "key"}
    out = redact.dumps_json(data, indent=2)
    assert json.loads(out) == {"message": "echo: ***", "list": ["***", 1, None],
                               "***": "key"}
    clean = {"message": "nothing to hide"}
    assert redact.dumps_json(clean) == json.dumps(clean)


def test_every_credential_variable_of_every_backend_is_registered() -> None:
    names = {n for names in CREDENTIAL_VARS.values() for n in names}
    assert names <= set(redact.CREDENTIAL_ENV_VARS)
    env = {n: f"value-of-{n}-0123456789" for n in redact.CREDENTIAL_ENV_VARS}
    redact.add_env(env)
    text = " ".join(env.values())
    assert redact.redact(text) == " ".join([redact.MASK] * len(env))


def test_the_stream_wrapper_masks_writes_and_hides_the_binary_buffer() -> None:
    import io

    redact.add(SECRET)
    sink = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    stream = redact.RedactingStream(sink)
    stream.write(f"a {SECRET}\n")
    stream.writelines([quote_plus(SECRET), "\n"])
    with pytest.raises(TypeError):
        stream.write(b"bytes would bypass redaction")  # type: ignore[arg-type]
    assert not hasattr(stream, "buffer") and stream.encoding == "utf-8"
    sink.seek(0)
    assert sink.read() == "a ***\n***\n"


def _response(status: int, body: object) -> httpx.Response:
    request = httpx.Request("GET", "http://127.0.0.1/api/v2/tailnet/-/acl")
    return httpx.Response(status, json=body, request=request)


@pytest.mark.parametrize("into", [6, 12, 25])
def test_an_error_is_redacted_before_it_is_cut(into: int) -> None:
    """The message is cut at 300 characters; a key the cut splits `into` characters in
    must leave nothing of itself before the cut."""
    key = "tskey-api-" + "Q7w+E3r/T9y=U1i&O5p0"
    client = HttpClient("http://127.0.0.1", redact=Redactor([key]))
    message = "x" * (300 - into) + key + " " + "y" * 400
    error = client.error_for(_response(404, {"message": message}), "GET /acl")
    assert "more chars" in error.summary
    assert key[:into] not in error.summary.replace("x" * (300 - into), "", 1)


def test_a_400s_data_users_are_redacted_in_detail_and_failures() -> None:
    key = "tskey-api-" + "Q7w+E3r/T9y=U1i&O5p0"
    client = HttpClient("http://127.0.0.1", redact=Redactor([key]))
    body = {"message": "test(s) failed",
            "data": [{"user": key, "errors": [f"as {quote_plus(key)}: want Accept"]}]}
    error = client.error_for(_response(400, body), "POST /acl")
    assert isinstance(error, ValidationFailed)
    secret = [Secret("key", key, 10)]
    assert find_leaks(error.detail, secret) == [] and "want Accept" in error.detail
    assert find_leaks(json.dumps(error.failures), secret) == []

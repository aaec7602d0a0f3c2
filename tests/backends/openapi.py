"""Check recorded `reconciler serve` responses against Tailscale's OpenAPI spec.

Stricter than the spec in one way: Device and User objects may not carry properties
the spec does not document (`additionalProperties: false`), so the server cannot
invent fields. Endpoints outside the spec (OAuth) are checked against OAuth2's shape.
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from typing import Any

import jsonschema
import yaml

from reconciler.backends.local.server import ResponseRecord
from tests.conftest import SPECS_DIR

SPEC_FILE = SPECS_DIR / "tailscale-api-v2-openapi.yaml"

# Statuses the server sends that the spec does not list for the operation, with why.
UNLISTED_OK = {
    401: "no credential: every operation can answer 401; the spec omits it",
    429: "fault injection; the spec lists 429 only on some endpoints",
    502: "fault injection (components.responses.502 is used for its body)",
    503: "fault injection; not in the spec, body checked against Error",
    504: "fault injection (components.responses.504 is used for its body)",
    412: "If-Match mismatch; listed only for setPolicyFile, which is the only sender",
    400: "bad request; checked against components.responses.400",
    404: "unknown tailnet or device; checked against components.responses.404",
}

TOKEN_SCHEMA = {
    "type": "object",
    "required": ["access_token", "token_type", "expires_in"],
    "properties": {"access_token": {"type": "string"}, "token_type": {"const": "Bearer"},
                   "expires_in": {"const": 3600}, "scope": {"type": "string"}},
}
ERROR_SCHEMA = {"$ref": "#/components/schemas/Error"}


@lru_cache(maxsize=1)
def spec() -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the spec is 226 KB
    data = yaml.load(SPEC_FILE.read_text(encoding="utf-8"), Loader=loader)
    data = copy.deepcopy(data)
    for name in ("Device", "User"):
        data["components"]["schemas"][name]["additionalProperties"] = False
    return data


def operations() -> dict[str, dict[str, Any]]:
    ops = {}
    for path_item in spec()["paths"].values():
        for _method, op in path_item.items():
            if isinstance(op, dict) and "operationId" in op:
                ops[op["operationId"]] = op
    return ops


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node and "content" not in node:
        target: Any = spec()
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def validate(instance: Any, schema: dict[str, Any]) -> None:
    root = dict(schema)
    root["components"] = spec()["components"]
    jsonschema.Draft202012Validator(
        root, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    ).validate(instance)


def schema_for(record: ResponseRecord) -> tuple[dict[str, Any] | None, str]:
    """(schema, how it was found) for one recorded response."""
    if not record.operation:
        return (TOKEN_SCHEMA if record.status == 200 else ERROR_SCHEMA), "oauth (not in spec)"
    op = operations()[record.operation]
    response = op["responses"].get(str(record.status))
    how = f"{record.operation} {record.status}"
    if response is None:
        assert record.status in UNLISTED_OK, f"{how}: status not in the spec"
        response = spec()["components"]["responses"].get(str(record.status))
        if response is None:
            return ERROR_SCHEMA, how + " (Error)"
    response = resolve(response)
    content = response.get("content")
    if not content:
        return None, how + " (no content declared)"
    ctype = record.content_type.split(";")[0]
    assert ctype in content, f"{how}: content type {ctype} not in {list(content)}"
    return content[ctype]["schema"], how


def check(record: ResponseRecord) -> str:
    schema, how = schema_for(record)
    if record.content_type.startswith("application/hujson"):
        body: Any = record.body.decode("utf-8")
    else:
        body = json.loads(record.body) if record.body else None
    if schema is not None:
        validate(body, schema)
    return how

"""Every response `reconciler serve` gives, checked against Tailscale's OpenAPI spec.

The serve fixture records each response (the server's `on_response` hook) for the
whole session. This module drives every endpoint through success and failure, then
validates everything recorded so far with jsonschema against the schema the spec
declares for that operation, status and content type. It is stricter than the spec
in one way: Device and User objects may not carry properties the spec does not
document (`additionalProperties: false`), so the server cannot invent fields.
"""

from __future__ import annotations

import json

import httpx
import jsonschema

from reconciler.backends.local.server import ResponseRecord
from tests.backends.conftest import API_KEY, CLIENT_ID, CLIENT_SECRET, RECORDED, Served
from tests.backends.openapi import check
from tests.backends.policies import FAILING_TESTS, INVALID, VALID


def exercise(url: str) -> None:
    """Drive every endpoint and status the server can produce."""
    key = {"Authorization": f"Bearer {API_KEY}"}
    with httpx.Client(base_url=url + "/api/v2", headers=key) as c:
        etag = c.get("/tailnet/-/acl").headers["ETag"]
        c.get("/tailnet/-/acl", headers={"Accept": "application/json"})
        c.get("/tailnet/-/acl", params={"details": "true"})
        c.get("/tailnet/nope.example/acl")
        c.post("/tailnet/-/acl", content=INVALID, headers={"Content-Type": "application/hujson"})
        c.post("/tailnet/-/acl", content=FAILING_TESTS)
        c.post("/tailnet/-/acl", content=VALID, headers={"If-Match": '"0000"'})
        r = c.post("/tailnet/-/acl", content=VALID, headers={"If-Match": etag})
        assert r.status_code == 200, r.text
        c.post("/tailnet/-/acl", content=VALID,
               headers={"If-Match": r.headers["ETag"], "Accept": "application/json"})
        c.post("/tailnet/-/acl/validate", content=VALID)
        c.post("/tailnet/-/acl/validate", content=FAILING_TESTS)
        c.post("/tailnet/-/acl/validate", content=INVALID)
        c.post("/tailnet/-/acl/validate", content=json.dumps(
            [{"src": "alice@example.com", "accept": ["tag:prod:443"]}]))
        c.post("/tailnet/-/acl/validate", content=json.dumps(
            [{"src": "erin@example.com", "accept": ["tag:prod:443"]}]))
        devices = c.get("/tailnet/-/devices").json()["devices"]
        assert not any("enabledRoutes" in d for d in devices)
        full = c.get("/tailnet/-/devices", params={"fields": "all"}).json()["devices"]
        exit_node = next(d for d in full if d["hostname"] == "exit-1")
        assert exit_node["enabledRoutes"] == ["0.0.0.0/0", "::/0"]
        assert "advertisedRoutes" in exit_node
        prod = c.get("/tailnet/-/devices", params={"tags": "tag:prod"}).json()["devices"]
        assert prod and all("tag:prod" in d["tags"] for d in prod) and len(prod) < len(devices)
        c.get(f"/device/{devices[0]['nodeId']}", params={"fields": "all"})
        c.get("/device/nope")
        c.get(f"/device/{devices[0]['nodeId']}/attributes")
        c.get("/device/nope/attributes")
        c.post(f"/device/{devices[0]['nodeId']}/tags", json={"tags": ["tag:ci"]})
        c.post(f"/device/{devices[0]['nodeId']}/tags", json={"tags": ["tag:madeup"]})
        c.post("/device/nope/tags", json={"tags": ["tag:ci"]})
        c.get("/tailnet/-/users")
        c.get("/tailnet/-/users", params={"type": "all", "role": "owner"})
        c.get("/tailnet/-/users", headers={"Authorization": ""})
        c.post("/oauth/token", data={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                                     "grant_type": "client_credentials"})
        c.post("/oauth/token", data={"client_id": CLIENT_ID, "client_secret": "nope"})


def test_every_response_matches_the_openapi_spec(serve: Served) -> None:
    exercise(serve.url)
    for fault in ("429:1", "500", "502", "503", "504"):
        serve.server.faults.push(fault)
        httpx.get(serve.url + "/api/v2/tailnet/-/devices",
                  headers={"Authorization": f"Bearer {API_KEY}"})
    records = list(RECORDED)
    seen: dict[str, int] = {}
    for record in records:
        how = check(record)
        seen[how] = seen.get(how, 0) + 1
    operations_seen = {r.operation for r in records if r.operation}
    assert operations_seen >= {"getPolicyFile", "setPolicyFile", "validateAndTestPolicyFile",
                               "listTailnetDevices", "getDevice", "setDeviceTags",
                               "getDevicePostureAttributes", "listUsers"}
    statuses = {r.status for r in records}
    assert statuses >= {200, 400, 401, 404, 412, 429, 500, 502, 503, 504}
    print(f"\nspec check: {len(records)} responses valid against the OpenAPI spec, "
          f"{len(seen)} (operation, status) kinds, statuses {sorted(statuses)}")


def test_the_checker_rejects_an_undocumented_device_field() -> None:
    """The spec check could fail: a made-up field or a wrong type is caught."""
    import pytest

    device_list = {"devices": [{"nodeId": "n1CNTRL", "madeUpField": True}]}
    record = ResponseRecord("GET", "/api/v2/tailnet/-/devices", "listTailnetDevices", 200,
                            "application/json", json.dumps(device_list).encode())
    with pytest.raises(jsonschema.ValidationError):
        check(record)
    wrong_type = ResponseRecord("GET", "/api/v2/tailnet/-/users", "listUsers", 200,
                                "application/json",
                                json.dumps({"users": [{"role": "emperor"}]}).encode())
    with pytest.raises(jsonschema.ValidationError):
        check(wrong_type)

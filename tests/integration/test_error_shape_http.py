"""The contract's error shape over HTTP: chalice's LocalDevServer (as `chalice local`
uses it) serving the app on 127.0.0.1 on in-process moto. Never a key in a response
or in what the server prints."""

from __future__ import annotations

import json

import pytest

from tests.integration.test_error_shape import UNKNOWN_PATHS, WRONG_METHODS, no_secret, shaped
from tests.served import served_app


@pytest.fixture(scope="module")
def served():
    with served_app() as server:
        yield server


@pytest.mark.parametrize("path", UNKNOWN_PATHS)
def test_http_unknown_path_is_404_not_found(served, path, capfd):
    status, headers, body = served.request("GET", path, key="storefront")
    assert status == 404
    shaped(status, body, "NOT_FOUND")
    assert headers["content-type"].startswith("application/json")
    out, err = capfd.readouterr()
    no_secret(body, headers, out, err, secrets=[served.storefront_key])


@pytest.mark.parametrize("method,path,allowed", WRONG_METHODS)
def test_http_wrong_method_is_405(served, method, path, allowed):
    status, headers, body = served.request(method, path, key="admin", body=b"")
    assert status == 405
    if method != "HEAD":
        shaped(status, body, "METHOD_NOT_ALLOWED")
    assert headers["allow"] == allowed


def test_http_edges(served):
    status, _, body = served.request("GET", "/members/m1", headers={"Content-Type": "text/plain"})
    assert status == 401
    shaped(status, body, "UNAUTHORIZED")
    status, _, body = served.request(
        "POST", "/members", key="storefront", body=b'{"name": "a", "name": "b"}', headers={"Idempotency-Key": "dup"}
    )
    assert status == 400
    shaped(status, body, "VALIDATION_ERROR")
    status, _, body = served.request(
        "POST", "/members", key="storefront", body=b"x" * (1024 * 1024 + 1), headers={"Idempotency-Key": "big"}
    )
    assert status == 413
    shaped(status, body, "PAYLOAD_TOO_LARGE")
    status, headers, body = served.request("GET", "/health")
    assert status == 200 and json.loads(body)["dynamodb"] is True
    status, headers, body = served.request("GET", "/docs")
    assert status == 200 and headers["content-type"] == "text/html; charset=utf-8"
    assert "script-src 'self'" in headers["content-security-policy"]
    status, headers, body = served.request("GET", "/docs/swagger-ui-bundle.js")
    assert status == 200 and headers["content-type"].startswith("application/javascript")
    assert len(body) > 1_000_000
    status, _, body = served.request("GET", "/openapi.json")
    assert status == 200 and json.loads(body)["openapi"] == "3.1.0"

"""The contract's error shape on every path: unknown paths, wrong methods, large bodies,
unsupported media types and unexpected exceptions, through chalice.test.Client (over
HTTP: test_error_shape_http.py). Never a key in a response or a log line."""

from __future__ import annotations

import json
import logging
import re

import pytest

UNKNOWN_PATHS = [
    "/",
    "/membres/x",
    "/health/x",
    "/members/m1/earn/x",
    "/a/b/c/d/e/f/g/h/i/j",
    "/docs/x/y",
    "/members/m1/transactions/x/y/z",
]
WRONG_METHODS = [
    ("PUT", "/members/m1", "GET, PATCH, DELETE"),
    ("DELETE", "/rewards", "POST, GET"),
    ("PUT", "/stats", "GET"),
    ("GET", "/members/m1/earn", "POST"),
    ("POST", "/health", "GET"),
    ("HEAD", "/members/m1/earn", "POST"),
]
ID = re.compile(r"correlation id ([0-9a-zA-Z-]{8,})")


def shaped(status: int, body: bytes, code: str) -> dict:
    assert isinstance(body, bytes)
    error_body = json.loads(body)
    assert set(error_body) == {"error"}, body
    assert error_body["error"]["code"] == code, body
    assert isinstance(error_body["error"]["message"], str) and error_body["error"]["message"]
    return error_body["error"]


def no_secret(*texts, secrets) -> None:
    for text in texts:
        for secret in secrets:
            assert secret not in str(text)
            assert secret[4:] not in str(text)


# -- through chalice.test.Client ---------------------------------------------------
@pytest.mark.parametrize("path", UNKNOWN_PATHS)
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_unknown_path_is_404_not_found_without_echoing_the_key(api, method, path):
    response = api.client.http.request(
        method,
        path,
        headers={"Authorization": f"Bearer {api.storefront_key}", "Content-Type": "application/json"},
        body=b"{}",
    )
    assert response.status_code == 404, response.body
    shaped(404, response.body, "NOT_FOUND")
    no_secret(response.body, response.headers, secrets=[api.storefront_key])


@pytest.mark.parametrize("method,path,allowed", WRONG_METHODS)
def test_wrong_method_is_405_method_not_allowed(api, method, path, allowed):
    response = api.client.http.request(method, path, headers={"Authorization": f"Bearer {api.admin_key}"}, body=b"")
    assert response.status_code == 405, response.body
    error = shaped(405, response.body, "METHOD_NOT_ALLOWED")
    assert response.headers["Allow"] == allowed
    assert method in error["message"]


def test_body_too_large_is_413(api):
    big = json.dumps({"member_id": "big", "name": "x" * (1024 * 1024)})
    response = api.post("/members", raw=big)
    assert response.status == 413
    shaped(413, response.body, "PAYLOAD_TOO_LARGE")
    assert api.get("/members/big").status == 404


def test_get_with_text_plain_checks_the_key_first(api):
    response = api.get("/members/m1", key=None, headers={"Content-Type": "text/plain"})
    assert response.status == 401
    shaped(401, response.body, "UNAUTHORIZED")
    response = api.get("/stats", key="admin", headers={"Content-Type": "text/plain"})
    assert response.status == 200, response


def test_a_415_from_chalice_is_reshaped(api, monkeypatch):
    import app as app_module

    entry = app_module.app.routes["/stats"]["GET"]
    monkeypatch.setattr(entry, "content_types", ["application/json"])
    response = api.get("/stats", key="admin", headers={"Content-Type": "text/plain"})
    assert response.status == 415
    shaped(415, response.body, "UNSUPPORTED_MEDIA_TYPE")


def test_unexpected_exception_is_500_with_a_correlation_id_and_no_key(demo, monkeypatch, caplog):
    from chalicelib.runtime import services

    secret = demo.storefront_key

    def broken(member_id):
        raise RuntimeError(f"something broke near {secret}")

    monkeypatch.setattr(services().ledger, "get_member", broken)
    with caplog.at_level(logging.DEBUG):
        response = demo.get("/members/m1")
    assert response.status == 500
    error = shaped(500, response.body, "INTERNAL_ERROR")
    correlation = ID.search(error["message"]).group(1)
    assert "something broke" not in error["message"]
    logged = "\n".join(
        r.getMessage() + (logging.Formatter().formatException(r.exc_info) if r.exc_info else "") for r in caplog.records
    )
    assert correlation in logged and "something broke" in logged  # the operator can find it
    no_secret(response.body, logged, secrets=[secret])


def test_chalice_own_500_is_reshaped(api, monkeypatch):
    """A view that raises past the route wrapper: Chalice answers its own 500, the
    middleware turns it into INTERNAL_ERROR with a correlation id."""
    import app as app_module

    def broken():
        raise KeyError("not caught by a route wrapper")

    monkeypatch.setattr(app_module.app.routes["/stats"]["GET"], "view_function", broken)
    response = api.get("/stats", key="admin")
    assert response.status == 500
    error = shaped(500, response.body, "INTERNAL_ERROR")
    assert ID.search(error["message"])


def test_empty_body_on_a_reversal_means_an_empty_object(demo):
    demo.member("m1")
    earned = demo.post("/members/m1/earn", {"order_id": "o1", "amount": 10000})
    assert earned.status == 201
    response = demo.post(f"/members/m1/transactions/{earned.json['transaction_id']}/reversal", raw="", idem="cancel-o1")
    assert response.status == 201, response
    again = demo.post(f"/members/m1/transactions/{earned.json['transaction_id']}/reversal", {}, idem="cancel-o1")
    assert (again.status, again.json) == (response.status, response.json)  # {} is the same body


def test_a_promotion_before_the_year_1000_is_stored_and_read_back(demo):
    """`0999-06-01T00:00:00Z` kept its leading zero lost and failed to read back (a 500)."""
    from tests.conftest import DEMO_PROGRAM

    promo = {
        "name": "old",
        "multiplier": "2",
        "starts_at": "0999-06-01T00:00:00Z",
        "ends_at": "0999-06-02T00:00:00+09:00",
        "categories": None,
    }
    stored = demo.program({**DEMO_PROGRAM, "promotions": [promo]})
    assert stored["promotions"][0]["starts_at"] == "0999-06-01T00:00:00Z"
    assert stored["promotions"][0]["ends_at"] == "0999-06-01T15:00:00Z"
    assert demo.get("/program", key="admin").json == stored
    demo.member("m1")
    assert demo.post("/members/m1/earn", {"order_id": "o1", "amount": 1000}).status == 201

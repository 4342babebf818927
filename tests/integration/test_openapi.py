"""The OpenAPI document, the docs page and /health (issue: the API as developers meet it)."""
from __future__ import annotations

import json
import re

from chalicelib.api.operations import OPERATIONS, by_route

CATCH_ALL = re.compile(r"^not_a_route_\d+$")


def app_routes() -> dict[tuple[str, str], object]:
    """Every (method, path) app.py routes, with its view, catch-alls for unknown paths left out."""
    import app as app_module

    routes = {}
    for path, methods in app_module.app.routes.items():
        for method, entry in methods.items():
            if not CATCH_ALL.match(entry.view_name):
                routes[(method, path)] = entry
    return routes


def test_every_route_is_documented_and_every_documented_route_exists():
    routes = app_routes()
    documented = set(by_route())
    assert len(documented) == len(OPERATIONS), "an operation is declared twice"
    assert set(routes) - documented == set(), "routes in app.py missing from chalicelib/operations.py"
    assert documented - set(routes) == set(), "operations documented that app.py does not route"


def test_the_table_says_what_each_route_really_requires():
    """Role, body model, Idempotency-Key and the view name: the table matches the decorators."""
    for (method, path), entry in app_routes().items():
        op = by_route()[(method, path)]
        declared = entry.view_function.declared
        assert entry.view_name == op.name, (method, path)
        assert declared["role"] == op.role, (method, path)
        assert declared["body"] is op.body, (method, path)
        assert declared["idempotent"] == op.idempotent, (method, path)
        assert declared["optional_body"] == op.optional_body, (method, path)


def test_document_is_served_without_a_key_and_lists_every_operation(api):
    response = api.get("/openapi.json", key=None)
    assert response.status == 200, response
    doc = response.json
    assert doc["openapi"] == "3.1.0"
    served = {(method.upper(), path) for path, item in doc["paths"].items() for method in item}
    assert served == set(by_route())
    # the request bodies are the pydantic models the routes validate with
    earn = doc["paths"]["/members/{member_id}/earn"]["post"]
    assert earn["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Earn"}
    assert doc["components"]["schemas"]["Earn"]["required"] == ["order_id", "amount"]
    assert doc["components"]["schemas"]["Earn"]["additionalProperties"] is False
    # Idempotency-Key on every idempotent POST, and the error codes
    assert {"$ref": "#/components/parameters/IdempotencyKey"} in earn["parameters"]
    assert "DUPLICATE_ORDER" in earn["responses"]["409"]["description"]
    assert "IDEMPOTENCY_KEY_REUSED" in earn["responses"]["409"]["description"]
    assert earn["responses"]["500"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"}
    assert doc["paths"]["/health"]["get"]["security"] == []
    assert earn["security"] == [{"apiKey": []}]
    reversal = doc["paths"]["/members/{member_id}/transactions/{transaction_id}/reversal"]["post"]
    assert reversal["requestBody"]["required"] is False


def test_document_is_valid_openapi_3_1():
    from schemathesis import openapi as schemathesis_openapi

    from chalicelib.api import openapi

    schema = schemathesis_openapi.from_dict(openapi.document())
    assert len(list(schema.get_all_operations())) == len(OPERATIONS)


def test_health_answers_without_a_key_with_version_and_dynamodb(api):
    response = api.get("/health", key=None)
    assert response.status == 200, response
    assert response.json == {"status": "ok", "version": "2.1.0", "dynamodb": True}
    import chalicelib
    from chalicelib.api import openapi

    assert chalicelib.__version__ == openapi.document()["info"]["version"] == "2.1.0"


def test_health_says_when_dynamodb_does_not_answer(api):
    from chalicelib import aws, settings

    aws.client("dynamodb").delete_table(TableName=settings.load().table_name)
    response = api.get("/health", key=None)
    assert response.status == 200, response
    assert response.json["dynamodb"] is False and response.json["status"] == "degraded"


def test_docs_page_and_its_assets_are_served_from_the_app(api):
    page = api.client.http.get("/docs")
    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    html = page.body.decode()
    assert "<script>" not in html  # no inline script: the CSP would block it
    links = re.findall(r'src="([^"]+)"', html) + re.findall(r'href="([^"]+)"', html)
    assert links and all(not s.startswith(("http:", "https:", "//")) for s in links), links
    assets = [link for link in links if link.startswith("docs/")]
    assert len(assets) == 3, links  # the bundle, its styles, the starter
    for relative in assets:
        asset = api.client.http.get("/" + relative)
        assert asset.status_code == 200, relative
        assert asset.headers["Cache-Control"].startswith("public, max-age=")
        assert asset.headers["Content-Type"].startswith(
            {"js": "application/javascript", "css": "text/css"}[relative.rsplit(".", 1)[1]])
        etag = asset.headers["ETag"]
        again = api.client.http.get("/" + relative, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.body == b""
    assert b"openapi.json" in api.client.http.get("/docs/dangol-docs.js").body
    missing = api.client.http.get("/docs/..%2Fapp.py")
    assert missing.status_code == 404
    assert json.loads(missing.body)["error"]["code"] == "NOT_FOUND"

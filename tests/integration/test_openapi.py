"""The OpenAPI document, the docs page and /health (issue: the API as developers meet it)."""

from __future__ import annotations

import json
import re

import pytest

from chalicelib.api.operations import OPERATIONS, by_route
from tests.conftest import EXAMPLES

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
    assert earn["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Earn"}
    assert doc["components"]["schemas"]["Earn"]["required"] == ["order_id", "amount"]
    assert doc["components"]["schemas"]["Earn"]["additionalProperties"] is False
    # Idempotency-Key on every idempotent POST, and the error codes
    assert {"$ref": "#/components/parameters/IdempotencyKey"} in earn["parameters"]
    assert "DUPLICATE_ORDER" in earn["responses"]["409"]["description"]
    assert "IDEMPOTENCY_KEY_REUSED" in earn["responses"]["409"]["description"]
    assert earn["responses"]["500"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
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
    from chalicelib.api import openapi
    from chalicelib.version import VERSION

    assert VERSION == openapi.document()["info"]["version"] == "2.1.0"


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
            {"js": "application/javascript", "css": "text/css"}[relative.rsplit(".", 1)[1]]
        )
        etag = asset.headers["ETag"]
        again = api.client.http.get("/" + relative, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.body == b""
    assert b"openapi.json" in api.client.http.get("/docs/dangol-docs.js").body
    missing = api.client.http.get("/docs/..%2Fapp.py")
    assert missing.status_code == 404
    assert json.loads(missing.body)["error"]["code"] == "NOT_FOUND"


PLAIN_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*$")


def test_every_schema_has_one_plain_unique_name():
    """Client generators name their types by these (and by the titles): `Program-Input`,
    `Transfer-Output` or `chalicelib__schemas__Transfer` left enrol, lookup, GET
    /members/{member_id} and PUT /program without a typed answer."""
    from chalicelib.api import openapi

    schemas = openapi.document()["components"]["schemas"]
    odd = {
        name: schema.get("title")
        for name, schema in schemas.items()
        if not PLAIN_NAME.match(name) or schema.get("title") != name
    }
    assert odd == {}
    titles = [schema["title"] for schema in schemas.values()]
    assert len(titles) == len(set(titles))
    paths = openapi.document()["paths"]

    def answer(path, method, status):
        return paths[path][method]["responses"][status]["content"]["application/json"]["schema"]

    ref = "#/components/schemas/{}".format
    assert answer("/program", "put", "200") == {"$ref": ref("Program")}
    assert paths["/program"]["put"]["requestBody"]["content"]["application/json"]["schema"] == {"$ref": ref("Program")}
    assert answer("/members", "post", "201") == {"$ref": ref("Member")}
    assert answer("/members", "get", "200") == {"$ref": ref("MemberPage")}
    assert answer("/members/{member_id}", "get", "200") == {"$ref": ref("Member")}
    assert schemas["Program"]["properties"]["transfer"] == {"$ref": ref("TransferRules")}
    assert schemas["Member"]["properties"]["suspension"]["anyOf"][0] == {"$ref": ref("MemberSuspension")}


def test_a_document_whose_schemas_collide_is_refused():
    from chalicelib.api import openapi

    for name, title in [
        ("Program-Input", "Program"),
        ("chalicelib__schemas__Transfer", "Transfer"),
        ("Transfer", "Transfer Rules"),
    ]:
        with pytest.raises(ValueError, match="no plain, unique name"):
            openapi._require_plain_names({name: {"title": title}})


def test_a_bought_coupon_answer_is_all_in_its_schema(demo):
    """A storefront's purchase answers the coupon and the redeem `transaction` paying it:
    every field it answers is a property of the Coupon schema, and of Transaction."""
    from chalicelib.api import openapi

    schemas = openapi.document()["components"]["schemas"]
    for template in json.loads((EXAMPLES / "cafe-coupons.json").read_text()):
        assert demo.post("/coupon-templates", template, key="admin").status == 201
    demo.program(json.loads((EXAMPLES / "cafe-program.json").read_text()))
    demo.member("jiyoon")
    demo.post("/members/jiyoon/earn", {"order_id": "A-1", "amount": 120000})
    bought = demo.post("/members/jiyoon/coupons", {"template_id": "latte-1000"})
    assert bought.status == 201, bought
    assert set(bought.json) - set(schemas["Coupon"]["properties"]) == set()
    assert set(bought.json["transaction"]) - set(schemas["Transaction"]["properties"]) == set()
    transaction = schemas["Coupon"]["properties"]["transaction"]
    assert {"$ref": "#/components/schemas/Transaction"} in transaction["anyOf"]


def test_docs_with_a_trailing_slash_loads_the_page_and_its_assets():
    """`/docs/` answered the page, whose relative asset URLs then pointed under /docs/docs/."""
    from urllib.parse import urljoin
    from urllib.request import urlopen

    from tests.served import served_app

    with served_app() as served:
        with urlopen(served.url + "/docs/", timeout=30) as page:  # follows the redirect
            assert page.status == 200
            assert page.url == served.url + "/docs"
            html = page.read().decode()
        links = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert len(links) == 4, links  # the styles, the bundle, the starter, the document
        for link in links:
            with urlopen(urljoin(page.url, link), timeout=30) as asset:
                assert asset.status == 200, link

"""Health, the OpenAPI document and the documentation page (no key).

The OpenAPI document and the documentation page load their modules on first
use, so a cold start of the API does not pay for them."""

from __future__ import annotations

from chalice import Response

from chalicelib import aws
from chalicelib.api.edge import LOG, Routes, current_request, error_response, json_response
from chalicelib.settings import load as load_settings
from chalicelib.version import VERSION

routes = Routes(__name__)


@routes.route("/health", "GET", None)
def health():
    try:
        aws.client("dynamodb").get_item(
            TableName=load_settings().table_name, Key={"pk": {"S": "HEALTH"}, "sk": {"S": "HEALTH"}}
        )
        answers = True
    except Exception as error:
        LOG.warning("health: DynamoDB did not answer: %s", type(error).__name__)
        answers = False
    return json_response(200, {"status": "ok" if answers else "degraded", "version": VERSION, "dynamodb": answers})


@routes.route("/openapi.json", "GET", None)
def openapi_document():
    from chalicelib.api import openapi

    stage = (current_request().context or {}).get("stage")
    response = json_response(200, openapi.document(f"/{stage}" if stage else None))
    response.headers["Cache-Control"] = "no-cache"
    return response


@routes.route("/docs", "GET", None)
def docs_page():
    from chalicelib.api import docs_page as docs_files

    sent_path = (current_request().context or {}).get("path") or ""
    if sent_path.endswith("/"):
        # /docs/ reaches this route too, but the page's relative asset and document
        # URLs would resolve under /docs/docs/: send the browser to /docs (a relative
        # Location, so that it holds behind an API Gateway stage too)
        return Response(body="", status_code=301, headers=docs_files.redirect_to_page())
    headers, body = docs_files.page()
    return Response(body=body, status_code=200, headers=headers)


def file_response(found, missing: str) -> Response:
    """A static file's answer (`static_files.static_answer`), or a 404 saying `missing`."""
    if found is None:
        return error_response(404, "NOT_FOUND", missing)
    status, headers, body = found
    return Response(body=body, status_code=status, headers=headers)


@routes.route("/docs/{asset}", "GET", None)
def docs_asset(asset):
    from chalicelib.api import docs_page as docs_files

    return file_response(
        docs_files.asset(asset, current_request().headers.get("if-none-match")),
        "no such file of the documentation page",
    )

"""The OpenAPI 3.1 document, generated from the operations table and the very
pydantic models the routes validate with (no second, hand-written schema)."""

from __future__ import annotations

import copy
import functools
import re
from typing import Any, Optional

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from chalicelib.api import schemas
from chalicelib.api.operations import OPERATIONS, Operation
from chalicelib.version import VERSION

ERROR_REF = {"$ref": "#/components/schemas/Error"}
PLAIN_NAME = re.compile(r"[A-Z][A-Za-z0-9]*")
PATH_PARAMETERS = {
    "member_id": {"type": "string", "pattern": schemas.ID_PATTERN},
    "transaction_id": {"type": "string", "pattern": r"^[0-9A-Z]{26}$", "description": "a transaction id (a ULID)"},
    "asset": {"type": "string", "description": "a file name of the documentation page, the console or the member page"},
    "code": {"type": "string", "maxLength": 64, "description": "a voucher code such as ABCD-EFGH-JKLM"},
    "key_id": {"type": "string", "pattern": r"^[0-9a-f]{16}$", "description": "an API key's id"},
    "segment_id": {"type": "string", "minLength": 1, "maxLength": 200, "description": "a segment's id"},
    "campaign_id": {"type": "string", "minLength": 1, "maxLength": 200, "description": "a campaign's id"},
    "import_id": {"type": "string", "pattern": r"^[0-9A-Z]{26}$", "description": "an import id (a ULID)"},
    "webhook_id": {"type": "string", "pattern": r"^[0-9A-Z]{26}$", "description": "a webhook's id (a ULID)"},
    "event_id": {"type": "string", "pattern": r"^[0-9A-Z]{26}$", "description": "a webhook event's id (a ULID)"},
}
ASSET_TYPES = ("application/javascript", "text/css", "image/png", "text/plain")
DESCRIPTION = """\
Dangol, a loyalty-points service: storefronts enrol members, earn and redeem
points; admins configure the program and read the totals.

Every request but `/health`, `/openapi.json` and `/docs` carries
`Authorization: Bearer <api key>` (role storefront or admin; admin keys may call
every route). Every POST that changes points or members needs an
`Idempotency-Key` (1-64 characters): the same key with the same body answers the
first response again and changes nothing; with another body, 409
IDEMPOTENCY_KEY_REUSED.

Every error, whatever raises it (an unknown path, a wrong method, a body too
large, an unexpected failure), has one shape:
`{"error": {"code": "<CODE>", "message": "<human text>"}}`. A 500
INTERNAL_ERROR's message carries a correlation id to quote to the operator.
"""


@functools.lru_cache(maxsize=1)
def _base() -> dict:
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (op.body, "validation") for op in OPERATIONS if op.body is not None
    ]
    models += [(op.answer, "serialization") for op in OPERATIONS if op.answer is not None]
    from chalicelib.api.responses import Error

    models.append((Error, "serialization"))
    keys, definitions = models_json_schema(list(dict.fromkeys(models)), ref_template="#/components/schemas/{model}")
    refs = {key: value for key, value in keys.items()}
    schemas_by_name = definitions.get("$defs", {})
    _require_plain_names(schemas_by_name)
    paths: dict[str, dict] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, refs)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Dangol", "version": VERSION, "description": DESCRIPTION},
        "tags": [{"name": tag} for tag in dict.fromkeys(op.tag for op in OPERATIONS)],
        "paths": paths,
        "components": {
            "schemas": schemas_by_name,
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "an API key: `Authorization: Bearer dgl_...`",
                },
                "widgetToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "a widget token: `Authorization: Bearer dgw_...`, "
                    "from POST /members/{member_id}/widget-tokens",
                },
            },
            "parameters": {
                "IdempotencyKey": {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": True,
                    "description": "any 1-64 characters chosen by the caller, kept at least "
                    "24 hours; a replay with the same body answers the first "
                    "response, with another body 409 IDEMPOTENCY_KEY_REUSED",
                    "schema": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[\\x21-\\x7e]+$"},
                },
                "Limit": {
                    "name": "limit",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
                },
                "Cursor": {
                    "name": "cursor",
                    "in": "query",
                    "required": False,
                    "description": "next_cursor of the previous page",
                    "schema": {"type": "string", "minLength": 1, "maxLength": 1000},
                },
            },
        },
    }


def _require_plain_names(schemas_by_name: dict[str, dict]) -> None:
    """Every schema has one plain name, its model's class name, also its title (what
    client generators name their types by). pydantic falls back to `Name-Input` /
    `Name-Output` (a model whose validation and serialization schemas differ) or to
    `module__path__Name` (two models of one name): both break generated clients, so
    the document is not made until the models are named apart."""
    for name, schema in schemas_by_name.items():
        if not PLAIN_NAME.fullmatch(name) or schema.get("title") != name:
            raise ValueError(
                f"the OpenAPI schema {name!r} (title {schema.get('title')!r}) has no plain, "
                "unique name: give each pydantic model in the document its own class name, "
                "and one schema for requests and answers"
            )


def _operation(op: Operation, refs: dict) -> dict:
    parameters: list[dict] = [
        {"name": name, "in": "path", "required": True, "schema": PATH_PARAMETERS[name]}
        for name in re.findall(r"{(\w+)}", op.path)
    ]
    if op.idempotent:
        parameters.append({"$ref": "#/components/parameters/IdempotencyKey"})
    if op.paged:
        parameters += [{"$ref": "#/components/parameters/Limit"}, {"$ref": "#/components/parameters/Cursor"}]
    parameters += [
        {"name": name, "in": "query", "required": False, "schema": schema, "description": text}
        for name, schema, text in op.query
    ]
    result: dict[str, Any] = {
        "operationId": op.name,
        "summary": op.summary,
        "tags": [op.tag],
        "responses": {str(op.status): _success(op, refs)},
    }
    if parameters:
        result["parameters"] = parameters
    if op.role is None:
        result["security"] = []
    elif op.role == "widget":
        result["security"] = [{"widgetToken": []}]
        result["description"] = "A widget token (POST /members/{member_id}/widget-tokens); an API key is refused (401)."
    else:
        result["security"] = [{"apiKey": []}]
        result["description"] = "Admin key." if op.role == "admin" else "Storefront or admin key."
    if op.body is not None:
        result["requestBody"] = {
            "required": not op.optional_body,
            "content": {"application/json": {"schema": refs[(op.body, "validation")]}},
        }
    for status, codes in op.error_codes().items():
        result["responses"][str(status)] = {
            "description": " or ".join(codes),
            "content": {"application/json": {"schema": ERROR_REF}},
        }
        if "THROTTLED" in codes:
            result["responses"][str(status)]["headers"] = {
                "Retry-After": {
                    "description": "THROTTLED: seconds to wait before retrying (same Idempotency-Key)",
                    "schema": {"type": "integer", "minimum": 1},
                }
            }
    return result


def _success(op: Operation, refs: dict) -> dict:
    if op.status == 204:
        return {"description": "done, no body"}
    if op.answer is not None:
        return {
            "description": "OK" if op.status == 200 else "created",
            "content": {op.media_type: {"schema": refs[(op.answer, "serialization")]}},
        }
    if op.media_type == "text/html":
        return {"description": "an HTML page", "content": {"text/html": {"schema": {"type": "string"}}}}
    return {"description": "a file", "content": {media: {"schema": {"type": "string"}} for media in ASSET_TYPES}}


def document(server_url: Optional[str] = None) -> dict:
    """The whole document; `server_url` (e.g. `/api` behind an API Gateway stage)
    is where "try it" sends requests."""
    doc = copy.deepcopy(_base())
    if server_url:
        doc["servers"] = [{"url": server_url}]
    return doc

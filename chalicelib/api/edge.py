"""The HTTP edge's one path for every route: authenticate, parse, map errors.

`Routes` declares a blueprint's routes with what each needs (role, body model,
Idempotency-Key); the `STATUS` table is the one place domain errors become the
contract's statuses; the middlewares log each request and put every error
answer, Chalice's own included, in the contract's shape."""

from __future__ import annotations

import functools
import json
import logging
import re
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Optional

import pydantic
from chalice import Blueprint, Response
from chalice.app import Request

from chalicelib import errors, telemetry
from chalicelib.api import schemas
from chalicelib.auth import LastAdminKeyError
from chalicelib.ledger.member_changes import IdempotencyKey, Outcome, Result
from chalicelib.runtime import services

LOG = logging.getLogger("dangol")  # the Chalice app's logger (app_name "dangol")
REQUEST_LOG = logging.getLogger("dangol.requests")  # through the app log's handlers
edge = Blueprint(__name__)  # the middlewares; every blueprint shares the app's current request


def current_request() -> Request:
    return edge.current_request


STATUS = {
    errors.ValidationError: 400,
    errors.UnauthorizedError: 401,
    errors.ForbiddenError: 403,
    errors.NotFoundError: 404,
    errors.MemberExistsError: 409,
    errors.RewardExistsError: 409,
    errors.IdempotencyKeyReusedError: 409,
    errors.DuplicateOrderError: 409,
    errors.DuplicateActivityError: 409,
    errors.InsufficientPointsError: 422,
    errors.BelowMinimumRedemptionError: 422,
    errors.OutOfStockError: 422,
    errors.TransferNotAllowedError: 422,
    errors.ReversalNotAllowedError: 422,
    errors.ConcurrentUpdateError: 503,
    errors.TemplateExistsError: 409,
    errors.CouponNotForSaleError: 422,
    errors.CouponNotUsableError: 422,
    errors.LimitExceededError: 422,
    errors.MemberSuspendedError: 422,
    errors.ReferralNotAllowedError: 422,
    errors.SegmentExistsError: 409,
    errors.CampaignExistsError: 409,
    errors.CampaignStartedError: 409,
    errors.ThrottledError: 503,
    errors.WebhookLimitError: 409,
    LastAdminKeyError: 422,
}
HTTP_STATUS = {
    Outcome.CREATED: 201,
    Outcome.DONE: 200,
    Outcome.REMOVED: 204,
    Outcome.QUEUED: 202,
}  # what a command did, as HTTP
JSON: dict[str, str | list[str]] = {"Content-Type": "application/json; charset=utf-8"}
# Bodies are read as JSON whatever Content-Type says, so that a request without
# a key gets 401 in the contract's error shape rather than Chalice's 415.
ANY_CONTENT_TYPE = ["*/*"]
LIMIT = re.compile(r"[0-9]{1,3}")


def error_response(status: int, code: str, message: str) -> Response:
    return json_response(status, {"error": {"code": code, "message": message}})


def json_response(status: int, body: Any) -> Response:
    return Response(body=json.dumps(body, ensure_ascii=False), status_code=status, headers=dict(JSON))


def describe(error: pydantic.ValidationError) -> str:
    parts = []
    for detail in error.errors()[:5]:
        where = ".".join(str(p) for p in detail["loc"]) or "body"
        parts.append(f"{where}: {detail['msg']}")
    return "; ".join(parts)


def json_body(empty: Any = None) -> Any:
    """The body as JSON; `empty` (when not None) is what an empty body means."""
    raw = current_request().raw_body or b""
    if empty is not None and not raw.strip():
        return empty
    try:
        return json.loads(raw, object_pairs_hook=unique_keys)
    except (ValueError, UnicodeDecodeError, RecursionError) as error:
        if isinstance(error, DuplicateKeyError):
            raise errors.ValidationError(str(error)) from None
        raise errors.ValidationError("the body is not valid JSON") from None


class DuplicateKeyError(ValueError):
    pass


def unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    """A JSON object whose keys are unique: with a key twice the body would mean one
    thing to a proxy or a log and another to Dangol (the last one wins in Python)."""
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        twice = ""
        for key, _ in pairs:
            if key in seen:
                twice = key
                break
            seen.add(key)
        raise DuplicateKeyError(f"the body has the key {twice[:80]!r} more than once")
    return result


def parse(model: type[pydantic.BaseModel], body: Any) -> Any:
    try:
        return model.model_validate_json(json.dumps(body))
    except pydantic.ValidationError as error:
        raise errors.ValidationError(describe(error)) from None


def page_params() -> tuple[int, Optional[str]]:
    query: Mapping[str, str] = current_request().query_params or {}
    limit_text = query.get("limit", "20")
    if not LIMIT.fullmatch(limit_text) or not 1 <= int(limit_text) <= 100:
        raise errors.ValidationError("limit must be an integer from 1 to 100")
    cursor = query.get("cursor")
    if cursor is not None and not 1 <= len(cursor) <= 1000:
        raise errors.ValidationError("cursor is not valid")
    return int(limit_text), cursor


def query_params(*known: str) -> dict[str, str]:
    """The query string, where only `known` names, `limit` and `cursor` may appear."""
    query = dict(current_request().query_params or {})
    unknown = sorted(set(query) - set(known) - {"limit", "cursor"})
    if unknown:
        raise errors.ValidationError(f"unknown query parameter {unknown[0][:40]!r}")
    return query


PATH_ID_SHAPES = {
    "member_id": re.compile(schemas.ID_PATTERN),
    "transaction_id": re.compile(r"^[0-9A-Z]{26}$"),  # a ULID
    "code": re.compile(r"^[A-Za-z0-9-]{1,64}$"),  # a voucher code
    "import_id": re.compile(r"^[0-9A-Z]{26}$"),  # a ULID
    "webhook_id": re.compile(r"^[0-9A-Z]{26}$"),  # a ULID
    "event_id": re.compile(r"^[0-9A-Z]{26}$"),  # a ULID
}


def require_known_shape(params: dict[str, str]) -> None:
    """An id in the path that no record can have is unknown (404) without a lookup."""
    for name, value in params.items():
        shape = PATH_ID_SHAPES.get(name)
        if shape is not None and not shape.fullmatch(value):
            raise errors.NotFoundError(f"{name.replace('_', ' ')} {value[:80]!r} not found")


def declare(
    run: Callable,
    role: Optional[str],
    body: Optional[type] = None,
    idempotent: bool = False,
    optional_body: bool = False,
) -> None:
    """What the OpenAPI table must say of this route (tests/integration/test_openapi.py)."""
    run.declared = {  # type: ignore[attr-defined]
        "role": role,
        "body": body,
        "idempotent": idempotent,
        "optional_body": optional_body,
    }


class Routes:
    """A blueprint whose routes go through `endpoint` (an API key), `public` or `widget`."""

    def __init__(self, import_name: str):
        self.blueprint = Blueprint(import_name)

    def _register(self, path: str, method: str, guard: Callable[[Callable], Callable]):
        def register(handler: Callable) -> Callable:
            wrapped = guard(handler)
            self.blueprint.route(path, methods=[method], content_types=ANY_CONTENT_TYPE)(wrapped)
            return wrapped

        return register

    def route(
        self,
        path: str,
        method: str,
        role: Optional[str],
        model: Optional[type] = None,
        idempotent: bool = False,
        optional_body: bool = False,
    ):
        """A route for an API key of `role` ("storefront" or "admin"; admin keys may call every
        route), for a widget token (`role` "widget"), or for anyone (`role` None)."""
        if role is None:
            return self._register(path, method, public)
        if role == "widget":
            return self._register(path, method, widget)
        return self._register(path, method, endpoint(role, model, idempotent, optional_body))


def error_answer(error: Exception) -> Response:
    """The answer to an error a route raised: a contract error with its status
    (503 THROTTLED with `Retry-After`, also for an AWS throttling refusal that
    reached this far), anything else 500 INTERNAL_ERROR."""
    code = errors.throttling_code(error)
    if code is not None:
        error = errors.ThrottledError()
    if isinstance(error, errors.ThrottledError):
        LOG.warning("throttled (%s): answered 503 THROTTLED", code or "retries used up")
    if not isinstance(error, errors.DangolError):
        return internal_error(error)  # a bug: logged with a correlation id, never shown
    status = STATUS.get(type(error), 500)
    if status == 500:
        return internal_error(error)
    response = error_response(status, error.code, error.message)
    if isinstance(error, errors.ThrottledError):
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def endpoint(role: str, model: Optional[type] = None, idempotent: bool = False, optional_body: bool = False):
    """Authenticate, parse the body, require an Idempotency-Key, map errors.

    `optional_body`: an empty body means `{}` (every field of the model is optional)."""

    def wrap(handler: Callable) -> Callable:
        @functools.wraps(handler)
        def run(**params):
            request = current_request()
            try:
                actor = services().keys.authenticate(request.headers.get("authorization"), role)
                require_known_shape(params)
                args: dict[str, Any] = {"actor": actor}
                if model is not None:
                    body = json_body({} if optional_body else None)
                    args["body"] = parse(model, body)
                    if idempotent:
                        args["idem"] = IdempotencyKey.for_request(
                            actor.key_id or "",  # an API key always has one (only jobs have none)
                            request.headers.get("idempotency-key"),
                            request.method,
                            request.context.get("resourcePath", ""),
                            {"params": params, "body": body},
                        )
                result = handler(**args, **params)
            except Exception as error:
                return error_answer(error)
            if isinstance(result, Result):
                status = HTTP_STATUS[result.outcome]
                if status == 204:
                    return Response(body="", status_code=204)
                return json_response(status, result.body)
            return json_response(200, result)

        # what the OpenAPI table must say of this route (tests/integration/test_openapi.py)
        declare(run, role=role, body=model, idempotent=idempotent, optional_body=optional_body)
        return run

    return wrap


@edge.middleware("http")
def log_request(event, get_response):
    started = time.perf_counter()
    context = event.context or {}
    correlation = telemetry.correlation_from((event.headers or {}).get("x-correlation-id")) or context.get("requestId")
    route = f"{event.method} {context.get('resourcePath', '')}"
    with telemetry.scope(
        correlation_id=correlation, route=route, member_id=(event.uri_params or {}).get("member_id")
    ) as fields:
        response = get_response(event)
        if response.status_code == 500:
            # the contract's shape, with the correlation id to find the log line by
            response = error_response(
                500, "INTERNAL_ERROR", f"internal error (correlation id {fields['correlation_id']})"
            )
        if "member_id" not in fields and response.status_code == 201 and route == "POST /members":
            try:
                telemetry.bind(member_id=json.loads(response.body).get("member_id"))
            except (ValueError, TypeError, AttributeError):
                pass
        response.headers["X-Correlation-Id"] = fields["correlation_id"]
        REQUEST_LOG.info(
            "request",
            extra={"status": response.status_code, "latency_ms": round((time.perf_counter() - started) * 1000, 1)},
        )
        return response


@edge.middleware("all")
def log_event(event, get_response):
    """Schedules and queue batches: the Lambda request id as correlation id."""
    if isinstance(event, Request) or getattr(event, "context", None) is None:
        return get_response(event)
    request_id = getattr(event.context, "aws_request_id", None)
    with telemetry.scope(correlation_id=request_id, function=getattr(event.context, "function_name", None)):
        return get_response(event)


MAX_BODY_BYTES = 1024 * 1024
# §25: POST /imports carries up to 5 MiB of lines, escaped in a JSON string (a quote or a
# newline takes two bytes): its body may be as large as API Gateway takes (10 MB). On AWS
# Lambda refuses an event over 6 MB first; larger files go by s3_key.
LARGE_BODY_ROUTES = {("POST", "/imports"): 10 * 1000 * 1000}
SECRET = re.compile(r"dgl_[A-Za-z0-9_-]*")
CATCH_ALL_DEPTH = 10
CATCH_ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
ERROR_CODES = {
    400: "VALIDATION_ERROR",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "THROTTLED",
}


def without_secrets(text: str) -> str:
    return SECRET.sub("dgl_***", text)


def request_path(request) -> str:
    """The path as sent (not the route's template), at most 200 characters, keys masked."""
    path = (request.context or {}).get("path") or request.path
    return without_secrets(path)[:200]


def correlation_id() -> str:
    request = current_request()
    context = getattr(request, "lambda_context", None) if request is not None else None
    return getattr(context, "aws_request_id", None) or uuid.uuid4().hex


def internal_error(error: BaseException) -> Response:
    """500 INTERNAL_ERROR with a correlation id; the cause goes to the log only."""
    cid = telemetry.current().get("correlation_id") or correlation_id()
    request = current_request()
    where = f"{request.method} {request_path(request)}" if request is not None else "?"
    # one JSON line: the error's type and stack frames; its text only scrubbed of
    # secrets, addresses and phone numbers (it may quote them)
    LOG.error(
        "internal error %s on %s: %s",
        cid,
        without_secrets(where),
        telemetry.scrub(without_secrets(str(error)))[:500],
        extra={"error_type": type(error).__name__, "stack": "".join(traceback.format_tb(error.__traceback__))},
    )
    response = error_response(500, "INTERNAL_ERROR", f"an unexpected error occurred; correlation id {cid}")
    response.headers["X-Correlation-Id"] = cid
    return response


def in_contract_shape(response: Response, request) -> Response:
    """Any error response (Chalice's own 405/415/500 included) as {"error": {code, message}}."""
    if response.status_code < 400:
        return response
    body = response.body
    if isinstance(body, (str, bytes)):
        try:
            body = json.loads(body)
        except ValueError:
            body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and {"code", "message"} <= set(error):
        return response
    status = response.status_code
    if status >= 500 or status not in ERROR_CODES:
        return internal_error(RuntimeError(f"an error answer not in the contract's shape: {status}"))
    where = f"{request.method} {request_path(request)}"
    message = {
        404: f"no such route: {where}",
        405: f"{request.method} is not allowed here; allowed: {response.headers.get('Allow', '')}",
        413: f"the body is larger than {MAX_BODY_BYTES} bytes",
        415: "unsupported media type; send JSON",
    }.get(status, f"the request was refused ({status})")
    shaped = error_response(status, ERROR_CODES[status], message)
    if "Allow" in response.headers:
        shaped.headers["Allow"] = response.headers["Allow"]
    return shaped


@edge.middleware("http")
def contract_error_shape(event, get_response):
    route = (event.method, (event.context or {}).get("resourcePath", ""))
    limit = LARGE_BODY_ROUTES.get(route, MAX_BODY_BYTES)
    if len(event.raw_body or b"") > limit:
        return error_response(413, "PAYLOAD_TOO_LARGE", f"the body is larger than {limit} bytes")
    try:
        response = get_response(event)
    except Exception as error:
        return internal_error(error)
    return in_contract_shape(response, event)


def public(handler: Callable) -> Callable:
    """A route without a key (health, OpenAPI, docs)."""

    @functools.wraps(handler)
    def run(**params):
        try:
            return handler(**params)
        except Exception as error:
            return internal_error(error)

    declare(run, role=None)
    return run


@functools.lru_cache(maxsize=1)
def _widget_tokens_for(store):
    from chalicelib import aws, clock
    from chalicelib.api.widget_keys import SigningKeys
    from chalicelib.api.widget_tokens import WidgetTokens
    from chalicelib.settings import load as load_settings

    keys = SigningKeys(aws.client("secretsmanager"), load_settings().widget_key_secret)
    return WidgetTokens(keys, lambda: clock.now())


def widget_tokens():
    """One per container (its signing keys cached for 5 minutes), made again with the services."""
    return _widget_tokens_for(services().store)


def widget(handler: Callable) -> Callable:
    """A member page read: `Authorization: Bearer <widget token>` names the member
    (and its generation: an erased member's tokens are dead); no API key is taken."""

    @functools.wraps(handler)
    def run(**params):
        try:
            grant = widget_tokens().verify(current_request().headers.get("authorization"))
            try:
                generation = services().ledger.changes.require_member(grant.member_id)
            except errors.NotFoundError:
                generation = None
            if generation != grant.generation:
                raise errors.UnauthorizedError("the widget token's member is gone")
            return json_response(200, handler(grant=grant, **params))
        except Exception as error:
            return error_answer(error)

    declare(run, role="widget")
    return run


def not_a_route(**params):
    request = current_request()
    return error_response(404, "NOT_FOUND", f"no such route: {request.method} {request_path(request)}")


def catch_all() -> Blueprint:
    """Chalice routes by declared paths only (no greedy {proxy+} locally, aws/chalice#2072), so a
    path that is no route gets these catch-alls, answering 404 NOT_FOUND in the contract's shape.
    Registered last."""
    blueprint = Blueprint(__name__ + ".catch_all")
    for depth in range(CATCH_ALL_DEPTH + 1):
        path = "/" + "/".join(f"{{p{n}}}" for n in range(1, depth + 1))
        blueprint.route(path, methods=CATCH_ALL_METHODS, name=f"not_a_route_{depth}", content_types=ANY_CONTENT_TYPE)(
            not_a_route
        )
    return blueprint

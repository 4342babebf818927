"""Dangol's HTTP routes, schedules and queue handler: parse, call, map errors.

This is the only module that knows Chalice.
"""
from __future__ import annotations

import functools
import json
import logging
import re
import time
from typing import Any, Callable, Optional

import pydantic
from chalice import Chalice, Cron, Rate, Response
from chalice.app import Request

from chalicelib import errors, schemas, telemetry
from chalicelib.auth import LastAdminKeyError, NewApiKey
from chalicelib.domain.program import Program
from chalicelib.job_pipeline import Task
from chalicelib.ledger import IdempotencyKey, Result
from chalicelib.notifications import PassingDeliveryError
from chalicelib.runtime import services
from chalicelib.settings import load as load_settings

app = Chalice(app_name="dangol")
app.log.setLevel(logging.INFO)
telemetry.configure(app.log)  # one JSON line per log record (see chalicelib/telemetry.py)

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
    LastAdminKeyError: 422,
}
JSON = {"Content-Type": "application/json; charset=utf-8"}
# Bodies are read as JSON whatever Content-Type says, so that a request without
# a key gets 401 in the contract's error shape rather than Chalice's 415.
ANY_CONTENT_TYPE = ["*/*"]
LIMIT = re.compile(r"[0-9]{1,3}")


def error_response(status: int, code: str, message: str) -> Response:
    return json_response(status, {"error": {"code": code, "message": message}})


def json_response(status: int, body: Any) -> Response:
    return Response(body=json.dumps(body, ensure_ascii=False), status_code=status, headers=JSON)


def describe(error: pydantic.ValidationError) -> str:
    parts = []
    for detail in error.errors()[:5]:
        where = ".".join(str(p) for p in detail["loc"]) or "body"
        parts.append(f"{where}: {detail['msg']}")
    return "; ".join(parts)


def json_body(empty: Any = None) -> Any:
    """The body as JSON; `empty` (when not None) is what an empty body means."""
    raw = app.current_request.raw_body or b""
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
        twice = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise DuplicateKeyError(f"the body has the key {twice[:80]!r} more than once")
    return result


def parse(model: type[pydantic.BaseModel], body: Any) -> Any:
    try:
        return model.model_validate_json(json.dumps(body))
    except pydantic.ValidationError as error:
        raise errors.ValidationError(describe(error)) from None


def page_params() -> tuple[int, Optional[str]]:
    query = app.current_request.query_params or {}
    limit_text = query.get("limit", "20")
    if not LIMIT.fullmatch(limit_text) or not 1 <= int(limit_text) <= 100:
        raise errors.ValidationError("limit must be an integer from 1 to 100")
    cursor = query.get("cursor")
    if cursor is not None and not 1 <= len(cursor) <= 1000:
        raise errors.ValidationError("cursor is not valid")
    return int(limit_text), cursor


def query_params(*known: str) -> dict[str, str]:
    """The query string, where only `known` names, `limit` and `cursor` may appear."""
    query = dict(app.current_request.query_params or {})
    unknown = sorted(set(query) - set(known) - {"limit", "cursor"})
    if unknown:
        raise errors.ValidationError(f"unknown query parameter {unknown[0][:40]!r}")
    return query


PATH_ID_SHAPES = {
    "member_id": re.compile(schemas.ID_PATTERN),
    "transaction_id": re.compile(r"^[0-9A-Z]{26}$"),  # a ULID
    "code": re.compile(r"^[A-Za-z0-9-]{1,64}$"),  # a voucher code
}


def require_known_shape(params: dict[str, str]) -> None:
    """An id in the path that no record can have is unknown (404) without a lookup."""
    for name, value in params.items():
        shape = PATH_ID_SHAPES.get(name)
        if shape is not None and not shape.fullmatch(value):
            raise errors.NotFoundError(f"{name.replace('_', ' ')} {value[:80]!r} not found")


def endpoint(role: str, model: Optional[type] = None, idempotent: bool = False,
             optional_body: bool = False):
    """Authenticate, parse the body, require an Idempotency-Key, map errors.

    `optional_body`: an empty body means `{}` (every field of the model is optional)."""

    def wrap(handler: Callable) -> Callable:
        @functools.wraps(handler)
        def run(**params):
            request = app.current_request
            try:
                actor = services().keys.authenticate(request.headers.get("authorization"), role)
                require_known_shape(params)
                args: dict[str, Any] = {"actor": actor}
                if model is not None:
                    body = json_body({} if optional_body else None)
                    args["body"] = parse(model, body)
                    if idempotent:
                        args["idem"] = IdempotencyKey.for_request(
                            actor.key_id, request.headers.get("idempotency-key"),
                            request.method, request.context.get("resourcePath", ""), {
                                "params": params, "body": body},
                        )
                result = handler(**args, **params)
            except errors.DangolError as error:
                status = STATUS.get(type(error), 500)
                if status == 500:
                    return internal_error(error)
                return error_response(status, error.code, error.message)
            except Exception as error:  # a bug: logged with a correlation id, never shown
                return internal_error(error)
            if isinstance(result, Result):
                if result.status == 204:
                    return Response(body="", status_code=204)
                return json_response(result.status, result.body)
            return json_response(200, result)

        # what the OpenAPI table must say of this route (tests/integration/test_openapi.py)
        run.declared = {"role": role, "body": model, "idempotent": idempotent,
                        "optional_body": optional_body}
        return run

    return wrap


# -- program ----------------------------------------------------------------
@app.route("/program", methods=["GET"])
@endpoint("admin")
def get_program(actor):
    return services().ledger.program().model_dump(mode="json")


@app.route("/program", methods=["PUT"], content_types=ANY_CONTENT_TYPE)
@endpoint("admin", model=Program)
def put_program(actor, body: Program):
    return services().ledger.put_program(body)


# -- members ----------------------------------------------------------------
@app.route("/members", methods=["POST"], content_types=ANY_CONTENT_TYPE)
@endpoint("storefront", model=schemas.CreateMember, idempotent=True)
def create_member(actor, body, idem):
    return services().ledger.create_member(actor, idem, body)


@app.route("/members", methods=["GET"])
@endpoint("storefront")
def find_members(actor):
    """§10: exactly one of phone, email (storefront), tier, segment (admin)."""
    query = query_params("phone", "email", "tier", "segment")
    criteria = {k: v for k, v in query.items() if k in ("phone", "email", "tier", "segment")}
    if len(criteria) != 1:
        raise errors.ValidationError("give exactly one of phone, email, tier or segment")
    if ("tier" in criteria or "segment" in criteria) and actor.role != "admin":
        raise errors.ForbiddenError("finding members by tier or segment needs an admin key")
    return services().ledger.find_members(*page_params(), **criteria)


@app.route("/members/{member_id}", methods=["GET"])
@endpoint("storefront")
def get_member(actor, member_id):
    return services().ledger.get_member(member_id)


@app.route("/members/{member_id}", methods=["PATCH"], content_types=ANY_CONTENT_TYPE)
@endpoint("storefront", model=schemas.UpdateMember)
def update_member(actor, body, member_id):
    return services().ledger.update_member(actor, member_id, body)


@app.route("/members/{member_id}/suspension", methods=["POST"], content_types=ANY_CONTENT_TYPE)
@endpoint("admin", model=schemas.Suspension, idempotent=True)
def suspend_member(actor, body, idem, member_id):
    return services().ledger.suspend(actor, idem, member_id, body)


@app.route("/members/{member_id}/suspension", methods=["DELETE"], content_types=ANY_CONTENT_TYPE)
@endpoint("admin")
def lift_suspension(actor, member_id):
    return services().ledger.lift_suspension(actor, member_id)


@app.route("/members/{member_id}", methods=["DELETE"], content_types=ANY_CONTENT_TYPE)
@endpoint("admin")
def delete_member(actor, member_id):
    services().ledger.erase_member(actor, member_id)
    return Result(204, None)


@app.route("/members/{member_id}/earn", methods=["POST"], content_types=ANY_CONTENT_TYPE)
@endpoint("storefront", model=schemas.Earn, idempotent=True)
def earn(actor, body, idem, member_id):
    return services().ledger.earn(actor, idem, member_id, body)


@app.route("/members/{member_id}/activities", methods=["POST"], content_types=ANY_CONTENT_TYPE)
@endpoint("storefront", model=schemas.Activity, idempotent=True)
def activity(actor, body, idem, member_id):
    return services().ledger.activity(actor, idem, member_id, body)


@app.route("/members/{member_id}/redeem", methods=["POST"], content_types=ANY_CONTENT_TYPE)
@endpoint("storefront", model=schemas.Redeem, idempotent=True)
def redeem(actor, body, idem, member_id):
    return services().ledger.redeem(actor, idem, member_id, body)


@app.route("/members/{member_id}/transactions/{transaction_id}/reversal", methods=["POST"], content_types=ANY_CONTENT_TYPE)
@endpoint("storefront", model=schemas.Reversal, idempotent=True, optional_body=True)
def reversal(actor, body, idem, member_id, transaction_id):
    return services().ledger.reverse(actor, idem, member_id, transaction_id, body)


@app.route("/members/{member_id}/transfers", methods=["POST"], content_types=ANY_CONTENT_TYPE)
@endpoint("storefront", model=schemas.Transfer, idempotent=True)
def transfer(actor, body, idem, member_id):
    return services().ledger.transfer(actor, idem, member_id, body)


@app.route("/members/{member_id}/adjustments", methods=["POST"], content_types=ANY_CONTENT_TYPE)
@endpoint("admin", model=schemas.Adjustment, idempotent=True)
def adjustment(actor, body, idem, member_id):
    return services().ledger.adjust(actor, idem, member_id, body)


@app.route("/members/{member_id}/transactions", methods=["GET"])
@endpoint("storefront")
def transactions(actor, member_id):
    return services().ledger.history(member_id, *page_params())


@app.route("/members/{member_id}/notifications", methods=["GET"])
@endpoint("admin")
def notifications(actor, member_id):
    return services().ledger.notifications(member_id, *page_params())


@app.route("/vouchers/{code}", methods=["GET"])
@endpoint("storefront")
def get_voucher(actor, code):
    return services().ledger.voucher(code)


# -- coupons (§11) -------------------------------------------------------------
@app.route("/coupon-templates", methods=["POST"], content_types=ANY_CONTENT_TYPE)
@endpoint("admin", model=schemas.CreateCouponTemplate)
def create_coupon_template(actor, body):
    return Result(201, services().ledger.add_coupon_template(body))


@app.route("/coupon-templates", methods=["GET"])
@endpoint("storefront")
def list_coupon_templates(actor):
    return services().ledger.coupon_templates(*page_params())


@app.route("/members/{member_id}/coupons", methods=["POST"], content_types=ANY_CONTENT_TYPE)
@endpoint("storefront", model=schemas.IssueCoupon, idempotent=True)
def issue_coupon(actor, body, idem, member_id):
    return services().ledger.issue_coupon(actor, idem, member_id, body)


@app.route("/members/{member_id}/coupons", methods=["GET"])
@endpoint("storefront")
def member_coupons(actor, member_id):
    status = query_params("status").get("status")
    return services().ledger.member_coupons(member_id, status, *page_params())


@app.route("/coupons/{code}/redemption", methods=["POST"], content_types=ANY_CONTENT_TYPE)
@endpoint("storefront", model=schemas.UseCoupon, idempotent=True)
def use_coupon(actor, body, idem, code):
    return services().ledger.use_coupon(actor, idem, code, body)


@app.route("/coupons/{code}/release", methods=["POST"], content_types=ANY_CONTENT_TYPE)
@endpoint("storefront", model=schemas.ReleaseCoupon, idempotent=True)
def release_coupon(actor, body, idem, code):
    return services().ledger.release_coupon(actor, idem, code, body)


# -- rewards and stats --------------------------------------------------------
@app.route("/rewards", methods=["POST"], content_types=ANY_CONTENT_TYPE)
@endpoint("admin", model=schemas.CreateReward)
def create_reward(actor, body):
    return Result(201, services().ledger.create_reward(body))


@app.route("/rewards", methods=["GET"])
@endpoint("storefront")
def list_rewards(actor):
    return services().ledger.rewards(*page_params())


@app.route("/stats", methods=["GET"])
@endpoint("admin")
def stats(actor):
    return services().ledger.stats()


@app.route("/stats/daily", methods=["GET"])
@endpoint("admin")
def daily_stats(actor):
    query = query_params("from", "to")
    if "from" not in query or "to" not in query:
        raise errors.ValidationError("from and to (YYYY-MM-DD) are required")
    return services().ledger.daily_stats(query["from"], query["to"])


# -- API keys (admin) ---------------------------------------------------------
KEY_ID = re.compile(r"[0-9a-f]{16}")


@app.route("/api-keys", methods=["GET"])
@endpoint("admin")
def list_api_keys(actor):
    return services().keys.list(*page_params())


@app.route("/api-keys", methods=["POST"], content_types=ANY_CONTENT_TYPE)
@endpoint("admin", model=NewApiKey)
def create_api_key(actor, body: NewApiKey):
    secret, key = services().keys.issue(body.role, body.name)
    return Result(201, {**key, "secret": secret})  # the only time the secret is shown


@app.route("/api-keys/{key_id}", methods=["DELETE"], content_types=ANY_CONTENT_TYPE)
@endpoint("admin")
def revoke_api_key(actor, key_id):
    if not KEY_ID.fullmatch(key_id):
        raise errors.NotFoundError(f"API key {key_id[:80]!r} not found")
    return services().keys.revoke(key_id)


# -- request logs: correlation id, route, status, latency, member id -----------
REQUEST_LOG = logging.getLogger(f"{app.app_name}.requests")  # through app.log's handlers


@app.middleware("http")
def log_request(event, get_response):
    started = time.perf_counter()
    context = event.context or {}
    correlation = (telemetry.correlation_from((event.headers or {}).get("x-correlation-id"))
                   or context.get("requestId"))
    route = f"{event.method} {context.get('resourcePath', '')}"
    with telemetry.scope(correlation_id=correlation, route=route,
                         member_id=(event.uri_params or {}).get("member_id")) as fields:
        response = get_response(event)
        if response.status_code == 500:
            # the contract's shape, with the correlation id to find the log line by
            response = error_response(500, "INTERNAL_ERROR",
                                      f"internal error (correlation id {fields['correlation_id']})")
        if "member_id" not in fields and response.status_code == 201 and route == "POST /members":
            try:
                telemetry.bind(member_id=json.loads(response.body).get("member_id"))
            except (ValueError, TypeError, AttributeError):
                pass
        response.headers["X-Correlation-Id"] = fields["correlation_id"]
        REQUEST_LOG.info("request", extra={"status": response.status_code,
                                           "latency_ms": round((time.perf_counter() - started) * 1000, 1)})
        return response


@app.middleware("all")
def log_event(event, get_response):
    """Schedules and queue batches: the Lambda request id as correlation id."""
    if isinstance(event, Request) or getattr(event, "context", None) is None:
        return get_response(event)
    request_id = getattr(event.context, "aws_request_id", None)
    with telemetry.scope(correlation_id=request_id,
                         function=getattr(event.context, "function_name", None)):
        return get_response(event)


# -- scheduled jobs, the job queue and the notification queue ----------------
# Cron times are UTC (EventBridge); the program timezone is Asia/Seoul (UTC+9):
#   expire_points          23:00 UTC = 08:00 KST
#   recompute_tiers        23:20 UTC = 08:20 KST
#   send_expiry_warnings   00:00 UTC = 09:00 KST (after expiry: warns of what is left)
#   grant_birthday_bonuses 00:30 UTC = 09:30 KST
#   send_monthly_statements  00:40 UTC = 09:40 KST (daily: the month's first run sends, later ones catch up)
#   win_back_dormant_members 00:50 UTC = 09:50 KST
# Each only plans: the work goes to the job queue, in tasks run by run_job_tasks.
def plan(name: str, tasks) -> None:
    services().job_worker.start(tasks)
    app.log.info("%s: %d tasks queued", name, len(tasks))


@app.schedule(Cron(0, 23, "*", "*", "?", "*"))
def expire_points(event):
    plan("expire_points", services().job_plans.expire_points())


@app.schedule(Cron(20, 23, "*", "*", "?", "*"))
def recompute_tiers(event):
    plan("recompute_tiers", services().job_plans.recompute_tiers())


@app.schedule(Cron(0, 0, "*", "*", "?", "*"))
def send_expiry_warnings(event):
    plan("send_expiry_warnings", services().job_plans.send_expiry_warnings())


@app.schedule(Cron(30, 0, "*", "*", "?", "*"))
def grant_birthday_bonuses(event):
    plan("grant_birthday_bonuses", services().job_plans.grant_birthday_bonuses())


@app.schedule(Cron(40, 0, "*", "*", "?", "*"))
def send_monthly_statements(event):
    plan("send_monthly_statements", services().job_plans.send_monthly_statements())


@app.schedule(Cron(50, 0, "*", "*", "?", "*"))
def win_back_dormant_members(event):
    plan("win_back_dormant_members", services().job_plans.win_back_dormant_members())


@app.schedule(Rate(10, unit=Rate.MINUTES))
def sweep_outbox(event):
    """Re-drive notifications left `queued` or `sending` for longer than the lease."""
    remaining = time_left(event)
    counts = services().sweeper.sweep(remaining)
    app.log.info("sweep_outbox: %s", counts)


def time_left(event):
    context = getattr(event, "context", None)
    return context.get_remaining_time_in_millis if context is not None else (lambda: 60_000)


def queue_arn(name: str) -> str:
    """A placeholder ARN: the packaged template replaces it with the queue's
    Fn::GetAtt and turns on ReportBatchItemFailures (.chalice/resources.json)."""
    return f"arn:aws:sqs:{load_settings().region}:000000000000:{name}"


@app.on_sqs_message(queue_arn=queue_arn(load_settings().jobs_queue_name), batch_size=1)
def run_job_tasks(event):
    """One job task per invocation, worked on until done or time runs short."""
    remaining = time_left(event)
    failures = []
    for record in event:
        message_id = record.to_dict().get("messageId")
        try:
            message = json.loads(record.body)
            if "source" not in message:
                # {"job": "recompute_tiers"}: a change of the tier ladder asks for its pass
                services().job_worker.start(services().job_plans.ladder_pass())
            else:
                services().job_worker.work(Task.from_message(message), remaining)
        except Exception as error:
            app.log.warning("job task %s failed (%s)", message_id, type(error).__name__)
            failures.append({"itemIdentifier": message_id})
    return {"batchItemFailures": failures}


@app.on_sqs_message(queue_arn=queue_arn(load_settings().notifications_queue_name), batch_size=10)
def send_notifications(event):
    failures = []
    for record in event:
        message_id = record.to_dict().get("messageId")
        telemetry.bind(correlation_id=message_id)  # each message's log lines carry its id
        try:
            message = json.loads(record.body)
            if message.get("job") == "recompute_tiers":
                # queued here by PUT /program: the pass itself runs on the job queue
                services().job_worker.queue.send([message])
            else:
                services().sender.deliver(message["member_id"], message["notification_id"],
                                          int(message.get("generation", 0)))
        except PassingDeliveryError as error:
            retry_later(record, error.retry_in)
            failures.append({"itemIdentifier": message_id})
        except Exception as error:
            # the type only: an error's text may carry personal data
            app.log.warning("notification message %s failed (%s)", message_id, type(error).__name__)
            failures.append({"itemIdentifier": message_id})
    return {"batchItemFailures": failures}


def retry_later(record, seconds: int) -> None:
    """Back off: the message comes back after `seconds` instead of the queue's timeout."""
    try:
        sqs = services().ledger.publisher.sqs
        sqs.change_message_visibility(QueueUrl=services().ledger.publisher.url,
                                      ReceiptHandle=record.receipt_handle, VisibilityTimeout=seconds)
    except Exception as error:
        app.log.warning("could not delay a notification message (%s)", type(error).__name__)


# -- the API's edges: health, OpenAPI, docs page, and the error shape everywhere --
# (the operations are declared in chalicelib/operations.py; OpenAPI from there)
# The OpenAPI document (its response models), the docs page and the console are
# imported by their own routes only: a cold start loads none of them
# (tests/integration/test_cold_start_imports.py).
import traceback  # noqa: E402
import uuid  # noqa: E402

from chalicelib import aws  # noqa: E402
from chalicelib.version import VERSION  # noqa: E402

MAX_BODY_BYTES = 1024 * 1024
SECRET = re.compile(r"dgl_[A-Za-z0-9_-]*")
# Chalice routes by declared paths only (no greedy {proxy+} locally, aws/chalice#2072), so a
# path that is no route gets these catch-alls, answering 404 NOT_FOUND in the contract's shape.
CATCH_ALL_DEPTH = 10
CATCH_ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
ERROR_CODES = {400: "VALIDATION_ERROR", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND",
               405: "METHOD_NOT_ALLOWED", 413: "PAYLOAD_TOO_LARGE",
               415: "UNSUPPORTED_MEDIA_TYPE", 429: "THROTTLED"}


def without_secrets(text: str) -> str:
    return SECRET.sub("dgl_***", text)


def request_path(request) -> str:
    """The path as sent (not the route's template), at most 200 characters, keys masked."""
    path = (request.context or {}).get("path") or request.path
    return without_secrets(path)[:200]


def correlation_id() -> str:
    request = app.current_request
    context = getattr(request, "lambda_context", None) if request is not None else None
    return getattr(context, "aws_request_id", None) or uuid.uuid4().hex


def internal_error(error: BaseException) -> Response:
    """500 INTERNAL_ERROR with a correlation id; the cause goes to the log only."""
    cid = telemetry.current().get("correlation_id") or correlation_id()
    request = app.current_request
    where = f"{request.method} {request_path(request)}" if request is not None else "?"
    # one JSON line: the error's type and stack frames; its text only scrubbed of
    # secrets, addresses and phone numbers (it may quote them)
    app.log.error("internal error %s on %s: %s", cid, without_secrets(where),
                  telemetry.scrub(without_secrets(str(error)))[:500],
                  extra={"error_type": type(error).__name__,
                         "stack": "".join(traceback.format_tb(error.__traceback__))})
    response = error_response(500, "INTERNAL_ERROR",
                              f"an unexpected error occurred; correlation id {cid}")
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


def accept_any_content_type() -> None:
    """Bodies are read as JSON whatever Content-Type says, so no route answers 415 (a GET
    with text/plain is not refused before its key is checked), routes declared later too."""
    for methods in app.routes.values():
        for entry in methods.values():
            entry.content_types = ANY_CONTENT_TYPE


@app.middleware("http")
def contract_error_shape(event, get_response):
    accept_any_content_type()
    if len(event.raw_body or b"") > MAX_BODY_BYTES:
        return error_response(413, "PAYLOAD_TOO_LARGE",
                              f"the body is larger than {MAX_BODY_BYTES} bytes")
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

    run.declared = {"role": None, "body": None, "idempotent": False, "optional_body": False}
    return run


@app.route("/health", methods=["GET"])
@public
def health():
    try:
        aws.client("dynamodb").get_item(
            TableName=load_settings().table_name, Key={"pk": {"S": "HEALTH"}, "sk": {"S": "HEALTH"}})
        answers = True
    except Exception as error:
        app.log.warning("health: DynamoDB did not answer: %s", type(error).__name__)
        answers = False
    return json_response(200, {"status": "ok" if answers else "degraded",
                               "version": VERSION, "dynamodb": answers})


@app.route("/openapi.json", methods=["GET"])
@public
def openapi_document():
    from chalicelib import openapi

    stage = (app.current_request.context or {}).get("stage")
    response = json_response(200, openapi.document(f"/{stage}" if stage else None))
    response.headers["Cache-Control"] = "no-cache"
    return response


@app.route("/docs", methods=["GET"])
@public
def docs_page():
    from chalicelib import docs_page as docs_files

    sent_path = (app.current_request.context or {}).get("path") or ""
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


@app.route("/docs/{asset}", methods=["GET"])
@public
def docs_asset(asset):
    from chalicelib import docs_page as docs_files

    return file_response(docs_files.asset(asset, app.current_request.headers.get("if-none-match")),
                         "no such file of the documentation page")


# -- dashboards: the operator console, the member page and its widget tokens --------
from chalicelib import clock  # noqa: E402
from chalicelib.program_preview import ProgramPreview, preview as preview_purchase  # noqa: E402
from chalicelib.store import Store  # noqa: E402
from chalicelib.widget_tokens import WidgetGrant, WidgetTokens  # noqa: E402


@functools.lru_cache(maxsize=1)
def _widget_tokens_for(store: Store) -> WidgetTokens:
    return WidgetTokens(store, lambda: clock.now())


def widget_tokens() -> WidgetTokens:
    """One per container (the signing key read once), made again with the services."""
    return _widget_tokens_for(services().store)


def widget(handler: Callable) -> Callable:
    """A member page read: `Authorization: Bearer <widget token>` names the member
    (and its generation: an erased member's tokens are dead); no API key is taken."""

    @functools.wraps(handler)
    def run(**params):
        try:
            grant = widget_tokens().verify(app.current_request.headers.get("authorization"))
            try:
                generation = services().ledger.changes.require_member(grant.member_id)
            except errors.NotFoundError:
                generation = None
            if generation != grant.generation:
                raise errors.UnauthorizedError("the widget token's member is gone")
            return json_response(200, handler(grant=grant, **params))
        except errors.DangolError as error:
            status = STATUS.get(type(error), 500)
            if status == 500:
                return internal_error(error)
            return error_response(status, error.code, error.message)
        except Exception as error:
            return internal_error(error)

    run.declared = {"role": "widget", "body": None, "idempotent": False, "optional_body": False}
    return run


def html_page(headers: dict, body: str) -> Response:
    return Response(body=body, status_code=200, headers=headers)


@app.route("/console", methods=["GET"])
@public
def console_page():
    from chalicelib import ui

    return html_page(*ui.page("console"))


@app.route("/widget", methods=["GET"])
@public
def widget_page():
    from chalicelib import ui

    return html_page(*ui.page("widget"))


@app.route("/widget", methods=["POST"], content_types=ANY_CONTENT_TYPE)
@public
def widget_page_with_token():
    from chalicelib import ui

    return html_page(*ui.widget_with_token(app.current_request.raw_body or b""))


@app.route("/ui/{asset}", methods=["GET"])
@public
def ui_asset(asset):
    from chalicelib import ui

    return file_response(ui.asset(asset, app.current_request.headers.get("if-none-match")),
                         "no such file of the console or member page")


@app.route("/members/{member_id}/widget-tokens", methods=["POST"], content_types=ANY_CONTENT_TYPE)
@endpoint("storefront")
def create_widget_token(actor, member_id):
    generation = services().ledger.changes.require_member(member_id)
    return Result(201, widget_tokens().mint(member_id, generation))


@app.route("/widget/api/member", methods=["GET"])
@widget
def widget_member(grant: WidgetGrant):
    member = services().ledger.get_member(grant.member_id)
    program = services().ledger.program()
    return {**member, "currency": program.currency, "timezone": program.timezone}


@app.route("/widget/api/transactions", methods=["GET"])
@widget
def widget_transactions(grant: WidgetGrant):
    return services().ledger.history(grant.member_id, *page_params())


@app.route("/widget/api/coupons", methods=["GET"])
@widget
def widget_coupons(grant: WidgetGrant):
    return services().ledger.member_coupons(grant.member_id, "available", *page_params())


@app.route("/program/preview", methods=["POST"], content_types=ANY_CONTENT_TYPE)
@endpoint("admin", model=ProgramPreview)
def preview_program(actor, body: ProgramPreview):
    return preview_purchase(body)



def not_a_route(**params):
    request = app.current_request
    return error_response(404, "NOT_FOUND", f"no such route: {request.method} {request_path(request)}")


for _depth in range(CATCH_ALL_DEPTH + 1):
    _path = "/" + "/".join(f"{{p{n}}}" for n in range(1, _depth + 1))
    app.route(_path, methods=CATCH_ALL_METHODS, name=f"not_a_route_{_depth}",
              content_types=ANY_CONTENT_TYPE)(not_a_route)


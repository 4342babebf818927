"""Dangol's HTTP routes, schedules and queue handler: parse, call, map errors.

This is the only module that knows Chalice.
"""
from __future__ import annotations

import functools
import json
import logging
import re
from typing import Any, Callable, Optional

import pydantic
from chalice import Chalice, Cron, Rate, Response

from chalicelib import errors, schemas
from chalicelib.domain.program import Program
from chalicelib.job_pipeline import Task
from chalicelib.ledger import IdempotencyKey, Result
from chalicelib.notifications import PassingDeliveryError
from chalicelib.runtime import services
from chalicelib.settings import load as load_settings

app = Chalice(app_name="dangol")
app.log.setLevel(logging.INFO)

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


def json_body() -> Any:
    raw = app.current_request.raw_body or b""
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise errors.ValidationError("the body is not valid JSON") from None


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


PATH_ID_SHAPES = {
    "member_id": re.compile(schemas.ID_PATTERN),
    "transaction_id": re.compile(r"^[0-9A-Z]{26}$"),  # a ULID
}


def require_known_shape(params: dict[str, str]) -> None:
    """An id in the path that no record can have is unknown (404) without a lookup."""
    for name, value in params.items():
        shape = PATH_ID_SHAPES.get(name)
        if shape is not None and not shape.fullmatch(value):
            raise errors.NotFoundError(f"{name.replace('_', ' ')} {value[:80]!r} not found")


def endpoint(role: str, model: Optional[type] = None, idempotent: bool = False):
    """Authenticate, parse the body, require an Idempotency-Key, map errors."""

    def wrap(handler: Callable) -> Callable:
        @functools.wraps(handler)
        def run(**params):
            request = app.current_request
            try:
                actor = services().keys.authenticate(request.headers.get("authorization"), role)
                require_known_shape(params)
                args: dict[str, Any] = {"actor": actor}
                if model is not None:
                    body = json_body()
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
                return error_response(status, error.code if status != 500 else "INTERNAL_ERROR",
                                      error.message)
            if isinstance(result, Result):
                if result.status == 204:
                    return Response(body="", status_code=204)
                return json_response(result.status, result.body)
            return json_response(200, result)

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


@app.route("/members/{member_id}", methods=["GET"])
@endpoint("storefront")
def get_member(actor, member_id):
    return services().ledger.get_member(member_id)


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
@endpoint("storefront", model=schemas.Reversal, idempotent=True)
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


# -- scheduled jobs, the job queue and the notification queue ----------------
# Cron times are UTC (EventBridge); the program timezone is Asia/Seoul (UTC+9):
#   expire_points          23:00 UTC = 08:00 KST
#   recompute_tiers        23:20 UTC = 08:20 KST
#   send_expiry_warnings   00:00 UTC = 09:00 KST (after expiry: warns of what is left)
#   grant_birthday_bonuses 00:30 UTC = 09:30 KST
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

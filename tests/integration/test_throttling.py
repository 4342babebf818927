"""Throttling and faults (contract §1, v3: 503 THROTTLED).

Throttling is injected where it happens in production, at the AWS client
(`devtools.faults`: a botocore `before-call` hook raising the ClientError
DynamoDB answers with; an `after-call` hook turning keys into UnprocessedKeys;
a `before-send` hook answering the HTTP request for botocore's own retries).
Dangol's waits are recorded instead of slept (`chalicelib.backoff.sleep`).
"""

from __future__ import annotations

import contextlib
import copy
import json
import uuid
from typing import Optional

import pytest
from botocore.exceptions import ClientError

from chalicelib import backoff
from devtools import faults
from tests.conftest import DEMO_PROGRAM

THROTTLING = ("ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded")
EARN = {"order_id": "o-1", "amount": 12000, "items": [{"sku": "latte", "category": "coffee", "amount": 12000}]}


def aws_error(operation: str, code: str, reasons: Optional[list] = None) -> ClientError:
    response = {
        "Error": {"Code": code, "Message": "Throughput exceeds the current capacity of your table"},
        "ResponseMetadata": {"HTTPStatusCode": 400},
    }
    if reasons is not None:
        response["CancellationReasons"] = reasons
    return ClientError(response, operation)


def cancelled(reason: str) -> ClientError:
    """A TransactWriteItems cancelled with `reason` for its first action."""
    return aws_error(
        "TransactWriteItems",
        "TransactionCanceledException",
        [{"Code": reason, "Message": reason}] + [{"Code": "None"}] * 99,
    )


@contextlib.contextmanager
def failing(operation: str, error: ClientError, times: Optional[int] = None):
    """`operation` raises `error` (the first `times` calls; None: every call).
    Yields the plan: `plan.calls` are the AWS calls made meanwhile."""
    raised = [0]

    def on_call(phase: str, call: faults.Call) -> None:
        if phase == "before" and call.operation == operation and (times is None or raised[0] < times):
            raised[0] += 1
            raise error

    plan = faults.Plan(on_call=on_call)
    previous = faults.arm(plan)
    try:
        yield plan
    finally:
        faults.arm(previous)


def count(plan: faults.Plan, operation: str) -> int:
    return sum(1 for c in plan.calls if c.operation == operation)


@pytest.fixture
def waits(monkeypatch) -> list[float]:
    """Dangol's backoff delays, recorded instead of slept."""
    recorded: list[float] = []
    monkeypatch.setattr(backoff, "sleep", recorded.append)
    return recorded


def call(api, method: str, path: str, body=None, key: str = "storefront", idem: Optional[str] = None):
    """(status, body, headers) of one request."""
    headers = {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {api.admin_key if key == 'admin' else api.storefront_key}",
    }
    if method == "POST":
        headers["Idempotency-Key"] = idem or str(uuid.uuid4())
    response = getattr(api.client.http, method.lower())(
        path, headers=headers, body=json.dumps(body) if body is not None else None
    )
    return response.status_code, json.loads(response.body) if response.body else None, response.headers


def assert_throttled(status: int, body: dict, headers: dict) -> None:
    assert status == 503, body
    assert body["error"]["code"] == "THROTTLED"
    assert int(headers["Retry-After"]) >= 1


def ledger(api, member_id: str) -> list[dict]:
    return api.get(f"/members/{member_id}/transactions?limit=100").json["items"]


# -- 1. transactions cancelled for throttling ---------------------------------------
def test_a_throttled_transaction_is_sent_three_times_then_answers_503_and_the_retry_is_safe(demo, waits):
    demo.member("m")
    before, history = demo.balance("m"), ledger(demo, "m")
    with failing("TransactWriteItems", cancelled("ThrottlingError")) as plan:
        answer = call(demo, "POST", "/members/m/earn", EARN, idem="earn-1")
    assert_throttled(*answer)
    assert count(plan, "TransactWriteItems") == backoff.THROTTLED_COMMIT.attempts == 3
    assert len(waits) == 2 and waits[0] <= 0.1 and waits[1] <= 0.2  # full jitter, bounded
    assert demo.balance("m") == before and ledger(demo, "m") == history  # nothing changed

    status, first, _ = call(demo, "POST", "/members/m/earn", EARN, idem="earn-1")
    assert status == 201
    assert call(demo, "POST", "/members/m/earn", EARN, idem="earn-1")[:2] == (201, first)
    assert demo.balance("m") == before + first["points"]
    assert len(ledger(demo, "m")) == len(history) + 1


def test_a_transaction_throttled_twice_goes_through_on_the_third_attempt(demo, waits):
    demo.member("m")
    before = demo.balance("m")
    with failing("TransactWriteItems", cancelled("ThrottlingError"), times=2) as plan:
        status, body, _ = call(demo, "POST", "/members/m/earn", EARN)
    assert status == 201, body
    assert count(plan, "TransactWriteItems") == 3 and len(waits) == 2
    assert demo.balance("m") == before + body["points"]


def test_provisioned_throughput_cancellations_are_throttling_too(demo, waits):
    demo.member("m")
    with failing("TransactWriteItems", cancelled("ProvisionedThroughputExceeded")) as plan:
        assert_throttled(*call(demo, "POST", "/members/m/redeem", {"points": 1000}))
    assert count(plan, "TransactWriteItems") == 3


def test_contention_keeps_its_own_loop_and_throttling_does_not_use_it(demo, waits):
    demo.member("m")
    with failing("TransactWriteItems", cancelled("TransactionConflict"), times=5) as plan:
        status, body, _ = call(demo, "POST", "/members/m/earn", EARN)
    assert status == 201, body
    assert count(plan, "TransactWriteItems") == 6
    assert waits == []  # contention backs off on its own (short) schedule


# -- 2. throttled plain reads and writes ------------------------------------------
@pytest.mark.parametrize("code", THROTTLING)
def test_a_throttled_read_answers_503_with_retry_after(demo, waits, code):
    demo.member("m")
    with failing("BatchGetItem", aws_error("BatchGetItem", code)):
        assert_throttled(*call(demo, "GET", "/members/m"))
    assert demo.get("/members/m").status == 200


def test_retry_after_stays_on_the_throttled_answer_and_no_other(demo, waits):
    """Each answer has headers of its own: the 503's Retry-After (and a correlation id) never
    leaks into the answers that follow it."""
    demo.member("m")
    with failing("BatchGetItem", aws_error("BatchGetItem", "ThrottlingException")):
        assert_throttled(*call(demo, "GET", "/members/m"))
    first = call(demo, "GET", "/members/m")
    second = call(demo, "GET", "/members/m")
    assert first[0] == second[0] == 200
    assert "Retry-After" not in first[2] and "Retry-After" not in second[2]
    assert first[2]["X-Correlation-Id"] != second[2]["X-Correlation-Id"]


@pytest.mark.parametrize(
    "operation, method, path, body, key",
    [
        ("Query", "GET", "/members/m/transactions", None, "storefront"),
        ("Query", "GET", "/members?email=m@example.com", None, "storefront"),
        ("BatchGetItem", "GET", "/stats", None, "admin"),
        ("GetItem", "GET", "/vouchers/ABCD-1234", None, "storefront"),
        ("BatchGetItem", "POST", "/members/m/earn", EARN, "storefront"),
        ("PutItem", "POST", "/rewards", {"reward_id": "mug", "name": "Mug", "points_cost": 5000}, "admin"),
        ("PutItem", "PUT", "/program", {**copy.deepcopy(DEMO_PROGRAM), "signup_bonus": 7}, "admin"),
    ],
)
def test_a_throttled_call_on_any_route_answers_503_and_changes_nothing(demo, waits, operation, method, path, body, key):
    demo.member("m", email="m@example.com")
    before = (
        demo.get("/members/m").json,
        ledger(demo, "m"),
        demo.get("/program", key="admin").json,
        demo.get("/rewards").json,
    )
    with failing(operation, aws_error(operation, "ProvisionedThroughputExceededException")):
        assert_throttled(*call(demo, method, path, body, key=key))
    after = (
        demo.get("/members/m").json,
        ledger(demo, "m"),
        demo.get("/program", key="admin").json,
        demo.get("/rewards").json,
    )
    assert after == before


def test_a_throttled_key_lookup_answers_503_not_401(api, waits):
    with failing("GetItem", aws_error("GetItem", "ThrottlingException")):
        assert_throttled(*call(api, "GET", "/members/m"))


def test_a_throttled_last_used_write_does_not_fail_the_request(api, waits):
    """The key's `last_used_at` (bookkeeping, once a day) is skipped when throttled."""
    with failing("UpdateItem", aws_error("UpdateItem", "ProvisionedThroughputExceededException")) as plan:
        status, body, _ = call(api, "GET", "/members/nobody")
    assert count(plan, "UpdateItem") == 1
    assert (status, body["error"]["code"]) == (404, "NOT_FOUND")


def test_botocore_retries_a_throttled_call_once_then_dangol_answers_503(demo, monkeypatch):
    """botocore's own retries (standard mode): 2 attempts per call, the one wait at
    most 1 s; the throttling answer comes from the 'server' (a before-send hook)."""
    import botocore.endpoint
    from botocore.awsrequest import AWSResponse

    from chalicelib import aws

    demo.member("m")
    slept: list[float] = []
    monkeypatch.setattr(botocore.endpoint.time, "sleep", slept.append)
    sent: list[str] = []

    class Raw:
        def stream(self, **_):
            yield b""

    def throttle(request, **_):
        if request.headers.get("X-Amz-Target", b"").endswith(b".BatchGetItem"):
            sent.append("BatchGetItem")
            body = json.dumps(
                {
                    "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                    "message": "The level of configured provisioned throughput was exceeded",
                }
            )
            response = AWSResponse(request.url, 400, {"Content-Type": "application/x-amz-json-1.0"}, Raw())
            response._content = body.encode()
            return response
        return None

    client = aws.client("dynamodb")
    client.meta.events.register_first("before-send.dynamodb", throttle, unique_id="throttle-test")
    try:
        assert_throttled(*call(demo, "GET", "/members/m"))
    finally:
        client.meta.events.unregister("before-send.dynamodb", unique_id="throttle-test")
    assert sent == ["BatchGetItem"] * aws.BOTOCORE_ATTEMPTS == ["BatchGetItem"] * 2
    assert len(slept) == 1 and 0 <= slept[0] <= 1.0


# -- 3. BatchGetItem's UnprocessedKeys -------------------------------------------
@contextlib.contextmanager
def unprocessed(times: Optional[int]):
    """BatchGetItem answers every key as unprocessed (the first `times` calls)."""
    turned = [0]

    def on_call(phase: str, call: faults.Call) -> None:
        if phase != "after" or call.operation != "BatchGetItem" or (times is not None and turned[0] >= times):
            return
        turned[0] += 1
        parsed = call.parsed
        for table, items in parsed.get("Responses", {}).items():
            keys = [{"pk": item["pk"], "sk": item["sk"]} for item in items]
            if keys:
                parsed.setdefault("UnprocessedKeys", {})[table] = {"Keys": keys, "ConsistentRead": True}
            parsed["Responses"][table] = []

    plan = faults.Plan(on_call=on_call)
    previous = faults.arm(plan)
    try:
        yield plan
    finally:
        faults.arm(previous)


def test_unprocessed_keys_are_read_again_with_backoff(demo, waits):
    from chalicelib.runtime import services

    demo.member("a")
    demo.member("b")
    with unprocessed(times=3) as plan:
        found = services().store.get_many([("MEMBER#a", "PROFILE"), ("MEMBER#b", "PROFILE")])
    assert set(found) == {("MEMBER#a", "PROFILE"), ("MEMBER#b", "PROFILE")}
    assert count(plan, "BatchGetItem") == 4
    assert len(waits) == 3 and all(w <= backoff.UNPROCESSED_KEYS.ceiling(n + 1) for n, w in enumerate(waits))


def test_keys_left_unprocessed_five_times_answer_503(demo, waits):
    demo.member("m")
    with unprocessed(times=50) as plan:
        assert_throttled(*call(demo, "GET", "/members/m"))
    assert count(plan, "BatchGetItem") == backoff.UNPROCESSED_KEYS.attempts == 5
    assert len(waits) == 4 and sum(waits) <= backoff.UNPROCESSED_KEYS.max_added_seconds <= 0.75


# -- 5. a program too large for one item -----------------------------------------
def test_a_program_too_large_for_one_item_is_400_and_the_old_one_stays(demo, waits):
    old = demo.get("/program", key="admin").json
    huge = {
        **copy.deepcopy(DEMO_PROGRAM),
        "category_multipliers": {f"category-{n:05d}-" + "x" * 80: "1.5" for n in range(4000)},
    }
    assert 400 * 1024 < len(json.dumps(huge)) < 1024 * 1024  # under the body limit, over the item limit
    status, body, _ = call(demo, "PUT", "/program", huge, key="admin")
    assert status == 400 and body["error"]["code"] == "VALIDATION_ERROR", body
    assert "too large" in body["error"]["message"]
    assert demo.get("/program", key="admin").json == old


def test_dynamodb_refusing_an_item_over_400_kb_is_a_validation_error(aws):
    """The mapping behind the pre-check: DynamoDB's (here moto's) ValidationException."""
    from chalicelib import errors
    from chalicelib.runtime import services

    store = services().store
    with pytest.raises(errors.ValidationError, match="too large"):
        store.replace({"pk": "BIG", "sk": "BIG", "blob": "x" * (401 * 1024)})
    with pytest.raises(errors.ValidationError, match="too large"):
        store.put({"pk": "BIG", "sk": "BIG", "blob": "x" * (401 * 1024)})
    assert store.get("BIG", "BIG") is None


def test_item_size_counts_as_dynamodb_does():
    from chalicelib.storage.store import item_size

    assert item_size({"pk": "a", "sk": "b"}) == 6  # names and UTF-8 values
    assert item_size({"name": "단골"}) == 4 + 6
    assert item_size({"n": 12345}) == 1 + 4  # 5 significant digits: 3 bytes + 1
    assert item_size({"flag": True}) == 5
    assert item_size({"m": {"a": "xy"}}) == 1 + 3 + 1 + 1 + 2
    assert item_size({"l": ["ab", "c"]}) == 1 + 3 + (1 + 2) + (1 + 1)


# -- 4. notifications: nothing lost before the SES/SNS call -----------------------
def test_a_throttled_profile_read_leaves_the_notification_queued_and_the_redelivery_sends_it_once(api, clock, waits):
    from chalicelib import local
    from tests.integration.test_notification_delivery import handle, pending_outbox, stored
    from tests.integration.test_notifications import emails_to, sqs_event, take_messages

    api.member("n", email="n@example.com")
    [message] = take_messages()
    event = sqs_event([(message["MessageId"], message["Body"])])
    with failing("BatchGetItem", aws_error("BatchGetItem", "ProvisionedThroughputExceededException")):
        assert handle(event) == {"batchItemFailures": [{"itemIdentifier": message["MessageId"]}]}
    assert stored("n")["status"] == "queued"  # not claimed: nothing was attempted
    assert emails_to("n@example.com") == []

    clock.set("2027-01-15T03:20:00Z")  # past the lease: the sweeper does not fail it
    local.run_job("sweep_outbox")
    assert stored("n")["status"] == "queued"
    take_messages()  # the sweeper's re-drive; the SQS redelivery below is the same message

    assert handle(event) == {"batchItemFailures": []}
    assert handle(event) == {"batchItemFailures": []}  # delivered again: found done
    assert len(emails_to("n@example.com")) == 1
    assert stored("n")["status"] == "sent" and pending_outbox() == []


def test_a_throttled_status_write_after_sending_is_tried_again_not_left_unconfirmed(api, clock, waits):
    from tests.integration.test_notification_delivery import handle, stored
    from tests.integration.test_notifications import emails_to, sqs_event, take_messages

    api.member("w", email="w@example.com")
    [message] = take_messages()
    event = sqs_event([(message["MessageId"], message["Body"])])
    sent = [0]

    def on_call(phase: str, call: faults.Call) -> None:
        if phase == "before" and call.operation == "SendEmail":
            sent[0] += 1
        if phase == "before" and call.operation == "UpdateItem" and sent[0] and len(waits) < 2:
            raise aws_error("UpdateItem", "ProvisionedThroughputExceededException")

    previous = faults.arm(faults.Plan(on_call=on_call))
    try:
        assert handle(event) == {"batchItemFailures": []}
    finally:
        faults.arm(previous)
    assert len(waits) == 2 and stored("w")["status"] == "sent"
    assert len(emails_to("w@example.com")) == 1


def test_sns_throttling_is_a_passing_error_retried_later_not_a_failure(api, clock, waits):
    """SNS answers a throttled Publish with code "Throttled" and HTTP 429."""
    from tests.integration.test_notification_delivery import handle, stored
    from tests.integration.test_notifications import sms_to, sqs_event, take_messages

    api.member("s", phone="010-1234-5678")
    [message] = take_messages()
    event = sqs_event([(message["MessageId"], message["Body"])])
    throttled = ClientError(
        {"Error": {"Code": "Throttled", "Message": "Rate exceeded"}, "ResponseMetadata": {"HTTPStatusCode": 429}},
        "Publish",
    )
    with failing("Publish", throttled):
        assert handle(event)["batchItemFailures"]
    item = stored("s")
    assert (item["status"], item["attempts"], item["error_code"]) == ("queued", 1, "Throttled")
    clock.set("2027-01-15T03:01:00Z")
    assert handle(event) == {"batchItemFailures": []}
    assert len(sms_to("+821012345678")) == 1 and stored("s")["status"] == "sent"


# -- the OpenAPI document says so -------------------------------------------------
def test_openapi_documents_503_throttled_with_retry_after_on_routes_with_a_key():
    from chalicelib.api import openapi

    paths = openapi.document()["paths"]
    throttled = paths["/members/{member_id}"]["get"]["responses"]["503"]
    assert "THROTTLED" in throttled["description"] and "Retry-After" in throttled["headers"]
    earn = paths["/members/{member_id}/earn"]["post"]["responses"]["503"]["description"]
    assert "THROTTLED" in earn and "CONCURRENT_UPDATE" in earn
    assert "503" not in paths["/health"]["get"]["responses"]

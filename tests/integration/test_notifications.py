"""Notifications (contract §7): the outbox listed by GET /members/{id}/notifications
and delivery by the SQS handler through SES (email), SNS (SMS) or nowhere."""

from __future__ import annotations

import json
import re

import pytest
from moto.core import DEFAULT_ACCOUNT_ID

from chalicelib import aws, local, settings

INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
FIELDS = {"notification_id", "type", "channel", "status", "created_at", "sent_at"}

PROGRAM = {
    "timezone": "Asia/Seoul",
    "base_rate": "0.01",
    "signup_bonus": 1000,
    "birthday_bonus": 300,
    "expiry_days": 30,
    "redemption": {"min_points": 100},
    "transfer": {"allowed_tiers": ["gold"], "min_points": 1},
    "tiers": [
        {"name": "basic", "min_spend": 0, "earn_multiplier": "1", "expiry_days": None},
        {"name": "gold", "min_spend": 100000, "earn_multiplier": "1", "expiry_days": None},
    ],
}
PHONE = "+821012345678"


# -- helpers ------------------------------------------------------------------
def notifications(api, member_id: str) -> list[dict]:
    response = api.get(f"/members/{member_id}/notifications?limit=100", key="admin")
    assert response.status == 200, response
    return response.json["items"]


def emails_to(address: str) -> list:
    """Messages moto's SES accepted for `address`."""
    from moto.ses.models import ses_backends

    backend = ses_backends[DEFAULT_ACCOUNT_ID][settings.load().region]
    return [m for m in backend.sent_messages if address in m.destinations.get("ToAddresses", [])]


def all_emails() -> list:
    from moto.ses.models import ses_backends

    return list(ses_backends[DEFAULT_ACCOUNT_ID][settings.load().region].sent_messages)


def sms_to(phone: str) -> list[str]:
    """Texts moto's SNS accepted for `phone`."""
    from moto.sns.models import sns_backends

    backend = sns_backends[DEFAULT_ACCOUNT_ID][settings.load().region]
    return [text for number, text in backend.sms_messages.values() if number == phone]


def all_sms() -> list:
    from moto.sns.models import sns_backends

    return list(sns_backends[DEFAULT_ACCOUNT_ID][settings.load().region].sms_messages.values())


def queue_url() -> str:
    return aws.client("sqs").get_queue_url(QueueName=settings.load().notifications_queue_name)["QueueUrl"]


def queued_count() -> int:
    attributes = aws.client("sqs").get_queue_attributes(
        QueueUrl=queue_url(),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def take_messages() -> list[dict]:
    """Receive (and remove) every message on the notifications queue."""
    sqs = aws.client("sqs")
    taken = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url(), MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
            "Messages", []
        )
        if not messages:
            return taken
        for message in messages:
            sqs.delete_message(QueueUrl=queue_url(), ReceiptHandle=message["ReceiptHandle"])
        taken.extend(messages)


def sqs_event(records: list[tuple[str, str]]) -> dict:
    """An SQS event as Lambda (and chalicelib.local.drain_queues) builds it."""
    arn = aws.client("sqs").get_queue_attributes(QueueUrl=queue_url(), AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return {
        "Records": [
            {
                "messageId": message_id,
                "receiptHandle": f"handle-{message_id}",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": None,
                "eventSource": "aws:sqs",
                "eventSourceARN": arn,
                "awsRegion": settings.load().region,
            }
            for message_id, body in records
        ]
    }


class LambdaContext:
    function_name = "dangol-test"
    aws_request_id = "test"
    memory_limit_in_mb = 512

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def handle(event: dict) -> dict:
    import app as app_module

    return app_module.send_notifications(event, LambdaContext())


# -- listing and access -------------------------------------------------------
def test_notifications_are_admin_only(api, clock):
    api.member("m1", email="m1@example.com")
    forbidden = api.get("/members/m1/notifications")  # storefront key
    assert forbidden.status == 403, forbidden
    assert forbidden.error == "FORBIDDEN"
    missing = api.get("/members/m1/notifications", key=None)
    assert missing.status == 401, missing
    assert missing.error == "UNAUTHORIZED"
    unknown = api.get("/members/nobody/notifications", key="admin")
    assert unknown.status == 404, unknown
    assert unknown.error == "NOT_FOUND"

    listed = api.get("/members/m1/notifications", key="admin")
    assert listed.status == 200, listed
    assert set(listed.json) >= {"items", "next_cursor"}
    [welcome] = listed.json["items"]
    assert set(welcome) >= FIELDS
    assert welcome["type"] == "welcome"
    assert welcome["created_at"] == "2027-01-15T03:00:00Z"


def test_every_event_notifies_newest_first_and_is_delivered_by_email_or_sms(api, clock):
    api.program(PROGRAM)
    assert all_emails() == [] and all_sms() == []

    clock.set("2027-01-15T03:00:00Z")
    api.member("a", email="a@example.com", birthday="1990-01-20")  # lot 1000, expires 02-14T03:00Z
    clock.set("2027-01-15T04:00:00Z")
    api.member("b", phone=PHONE)  # lot 1000, expires 02-14T04:00Z
    clock.set("2027-01-15T05:00:00Z")
    earned = api.post("/members/a/earn", {"order_id": "o1", "amount": 100000})
    assert earned.status == 201, earned
    assert earned.json["tier"] == "gold"  # 100000 >= gold's min_spend: tier changes
    clock.set("2027-01-15T06:00:00Z")
    assert api.post("/members/a/redeem", {"points": 500}).status == 201  # signup lot: 1000 - 500
    clock.set("2027-01-15T07:00:00Z")
    transfer = api.post("/members/a/transfers", {"to_member_id": "b", "points": 200})
    assert transfer.status == 201, transfer  # signup lot: 500 - 200 = 300; b gets 200 expiring 02-14T03:00Z
    clock.set("2027-01-20T01:00:00Z")  # 10:00 on a's birthday in Seoul
    local.run_job("grant_birthday_bonuses")
    clock.set("2027-02-14T04:30:00Z")  # a's 300 and b's 1000 + 200 are due; a's earn lot (05:00Z) is not
    local.run_job("expire_points")

    expected_a = [
        ("points_expired", "2027-02-14T04:30:00Z"),
        ("birthday_bonus", "2027-01-20T01:00:00Z"),
        ("points_redeemed", "2027-01-15T06:00:00Z"),
        ("points_earned", "2027-01-15T05:00:00Z"),
        ("tier_changed", "2027-01-15T05:00:00Z"),
        ("welcome", "2027-01-15T03:00:00Z"),
    ]
    expected_b = [
        ("points_expired", "2027-02-14T04:30:00Z"),
        ("transfer_received", "2027-01-15T07:00:00Z"),
        ("welcome", "2027-01-15T04:00:00Z"),
    ]
    for member_id, expected in (("a", expected_a), ("b", expected_b)):
        items = notifications(api, member_id)
        for item in items:
            assert set(item) >= FIELDS, item
        pairs = [(n["type"], n["created_at"]) for n in items]
        assert set(expected) <= set(pairs), (member_id, pairs)
        created = [n["created_at"] for n in items]
        assert created == sorted(created, reverse=True), "newest first"
        assert len({n["notification_id"] for n in items}) == len(items)
    # the sender is not told of its own transfer as a receipt
    assert "transfer_received" not in {n["type"] for n in notifications(api, "a")}

    listed_a, listed_b = notifications(api, "a"), notifications(api, "b")
    waiting = queued_count()
    assert waiting >= 1
    assert all_emails() == [] and all_sms() == []  # nothing is sent before delivery

    clock.set("2027-02-14T04:45:00Z")
    # every notification message, and the job tasks of the tier-ladder pass PUT /program asked for
    assert local.drain_queues() >= waiting
    assert local.drain_queues() == 0
    assert queued_count() == 0

    delivered_a = notifications(api, "a")
    assert [n["notification_id"] for n in delivered_a] == [n["notification_id"] for n in listed_a]
    for item in delivered_a:
        assert (item["channel"], item["status"]) == ("email", "sent"), item
        assert INSTANT.match(item["sent_at"] or ""), item
    delivered_b = notifications(api, "b")
    assert [n["notification_id"] for n in delivered_b] == [n["notification_id"] for n in listed_b]
    for item in delivered_b:
        assert (item["channel"], item["status"]) == ("sms", "sent"), item
        assert INSTANT.match(item["sent_at"] or ""), item

    # SES really got one email per notification of a, SNS one text per notification of b
    assert len(emails_to("a@example.com")) == len(delivered_a)
    assert len(all_emails()) == len(delivered_a)
    assert len(sms_to(PHONE)) == len(delivered_b)
    assert len(all_sms()) == len(delivered_b)


def test_sent_at_is_the_time_of_delivery(api, clock):
    clock.set("2027-03-02T01:00:00Z")
    api.member("s", email="s@example.com")
    api.member("t", phone=PHONE)
    clock.set("2027-03-02T01:10:00Z")  # delivered ten minutes after it was created
    assert local.drain_queues() >= 2
    for member_id in ("s", "t"):
        [welcome] = notifications(api, member_id)
        assert welcome["created_at"] == "2027-03-02T01:00:00Z"
        assert welcome["status"] == "sent"
        assert welcome["sent_at"] == "2027-03-02T01:10:00Z", welcome


def test_member_with_email_and_phone_gets_email_only(api, clock):
    api.member("both", email="both@example.com", phone=PHONE)
    assert local.drain_queues() >= 1
    [welcome] = notifications(api, "both")
    assert (welcome["type"], welcome["channel"], welcome["status"]) == ("welcome", "email", "sent")
    assert len(emails_to("both@example.com")) == 1
    assert sms_to(PHONE) == []


def test_member_without_email_or_phone_is_skipped(api, clock):
    api.member("quiet")
    assert local.drain_queues() >= 1
    [welcome] = notifications(api, "quiet")
    assert welcome["type"] == "welcome"
    assert (welcome["channel"], welcome["status"], welcome["sent_at"]) == ("none", "skipped", None)
    assert all_emails() == [] and all_sms() == []


def test_drain_queues_returns_the_number_of_messages_delivered(api, clock):
    for n in range(3):
        api.member(f"m{n}", email=f"m{n}@example.com")
    assert api.post("/members/m0/activities", {"type": "review", "reference_id": "r1"}).status == 201
    waiting = queued_count()
    assert waiting >= 4  # at least 3 welcomes and one points_earned
    # every notification message, and the job tasks of the tier-ladder pass PUT /program asked for
    assert local.drain_queues() >= waiting
    assert local.drain_queues() == 0
    total = sum(len(notifications(api, f"m{n}")) for n in range(3))
    assert len(all_emails()) == total


# -- at most once ---------------------------------------------------------------
def test_a_message_delivered_twice_sends_once(api, clock):
    api.member("e", email="e@example.com")
    [message] = take_messages()
    event = sqs_event([(message["MessageId"], message["Body"])])

    clock.set("2027-01-15T03:05:00Z")
    assert handle(event) == {"batchItemFailures": []}
    [first] = notifications(api, "e")
    assert (first["channel"], first["status"]) == ("email", "sent")
    assert len(emails_to("e@example.com")) == 1

    clock.set("2027-01-15T03:06:00Z")
    assert handle(event) == {"batchItemFailures": []}  # SQS delivered it again
    assert len(emails_to("e@example.com")) == 1
    [welcome] = notifications(api, "e")
    assert welcome == first  # status and sent_at untouched by the second delivery

    # the same body queued once more and drained: still one email, nothing changed
    aws.client("sqs").send_message(QueueUrl=queue_url(), MessageBody=message["Body"])
    clock.set("2027-01-15T03:07:00Z")
    local.drain_queues()
    assert queued_count() == 0
    assert len(emails_to("e@example.com")) == 1
    assert notifications(api, "e") == [welcome]


def test_a_message_drained_then_requeued_sends_once(api, clock):
    api.member("p", phone=PHONE)
    [message] = take_messages()
    aws.client("sqs").send_message(QueueUrl=queue_url(), MessageBody=message["Body"])
    aws.client("sqs").send_message(QueueUrl=queue_url(), MessageBody=message["Body"])
    local.drain_queues()
    assert len(sms_to(PHONE)) == 1
    [welcome] = notifications(api, "p")
    assert (welcome["channel"], welcome["status"]) == ("sms", "sent")


@pytest.mark.parametrize("bad_body", ["{not json", "{}", json.dumps({"member_id": "f"})])
def test_a_malformed_message_is_reported_and_the_good_one_delivered(api, clock, bad_body):
    api.member("f", email="f@example.com")
    [message] = take_messages()
    event = sqs_event([("bad-1", bad_body), ("good-1", message["Body"])])

    response = handle(event)
    assert response == {"batchItemFailures": [{"itemIdentifier": "bad-1"}]}
    assert len(emails_to("f@example.com")) == 1
    [welcome] = notifications(api, "f")
    assert (welcome["channel"], welcome["status"]) == ("email", "sent")

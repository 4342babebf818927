"""Notifications that end `sent`, `failed` or `skipped` (contract §7, v2):
passing provider errors retried with backoff, permanent ones failed at once,
an outbox left `queued` or `sending` re-driven or settled by the sweeper,
phones sent as E.164, and no address in the logs."""

from __future__ import annotations

import json
import logging

from botocore.exceptions import ClientError

from chalicelib import aws, local, settings
from tests.integration.test_notifications import (
    LambdaContext,
    all_emails,
    emails_to,
    notifications,
    queued_count,
    sms_to,
    sqs_event,
    take_messages,
)


def provider_error(code: str, status: int, message: str) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}, "SendEmail"
    )


class FlakySES:
    """Moto's SES behind a switch: raise `error` while it is set."""

    def __init__(self, real):
        self.real = real
        self.error = None
        self.calls = 0

    def send_email(self, **kwargs):
        self.calls += 1
        if self.error is not None:
            raise self.error
        return self.real.send_email(**kwargs)


def flaky_ses(monkeypatch) -> FlakySES:
    from chalicelib.runtime import services

    flaky = FlakySES(services().sender.ses)
    monkeypatch.setattr(services().sender, "ses", flaky)
    return flaky


def stored(member_id: str) -> dict:
    """The member's single outbox item as stored (with the fields the API leaves out)."""
    from chalicelib.runtime import services

    [item] = services().store.query_all(f"MEMBER#{member_id}", "NOTIFICATION#")
    return item


def pending_outbox() -> list[tuple[str, str]]:
    """Every entry of the pending-outbox index."""
    from chalicelib.notifications.outbox import OUTBOX_INDEX, OUTBOX_SHARD
    from chalicelib.storage.index_pages import IndexPages, Source

    pages = IndexPages(aws.client("dynamodb"), settings.load().table_name)
    keys = []
    for shard in range(settings.load().outbox_shards):
        cursor, started = None, False
        while cursor or not started:
            page, cursor = pages.page(Source(OUTBOX_INDEX, OUTBOX_SHARD, str(shard)), 100, cursor)
            keys += page
            started = True
    return keys


def handle(event: dict) -> dict:
    import app as app_module

    return app_module.send_notifications(event, LambdaContext())


def test_throttling_releases_the_claim_backs_off_and_sends_once_later(api, clock, monkeypatch, caplog):
    flaky = flaky_ses(monkeypatch)
    api.member("t", email="t@example.com")
    assert len(pending_outbox()) == 1  # the new outbox item is in the pending index
    flaky.error = provider_error("Throttling", 400, "Maximum sending rate exceeded for t@example.com")
    with caplog.at_level(logging.INFO):
        local.drain_queues()
    item = stored("t")
    assert (item["status"], item["attempts"], item["error_code"]) == ("queued", 1, "Throttling")
    assert item["retry_at"] == "2027-01-15T03:00:30Z"  # 30 s backoff, then doubling
    assert all_emails() == []
    assert queued_count() == 1  # still on the queue, hidden for the backoff
    assert "t@example.com" not in caplog.text and "Maximum sending rate" not in caplog.text
    assert item["notification_id"] in caplog.text and "Throttling" in caplog.text

    # a 5xx passes too (the message, as SQS delivers it again after the backoff)
    flaky.error = provider_error("InternalFailure", 500, "oops")
    body = json.dumps({"member_id": "t", "notification_id": item["notification_id"], "generation": 0})
    event = sqs_event([("again-1", body)])
    assert handle(event) == {"batchItemFailures": [{"itemIdentifier": "again-1"}]}
    assert (stored("t")["status"], stored("t")["attempts"]) == ("queued", 2)

    flaky.error = None
    clock.set("2027-01-15T03:05:00Z")
    assert handle(event) == {"batchItemFailures": []}
    assert handle(event) == {"batchItemFailures": []}  # delivered again: sent once
    assert len(emails_to("t@example.com")) == 1
    [welcome] = notifications(api, "t")
    assert (welcome["status"], welcome["sent_at"]) == ("sent", "2027-01-15T03:05:00Z")
    assert pending_outbox() == []  # done: out of the pending index


def test_passing_errors_for_over_an_hour_end_failed(api, clock, monkeypatch):
    flaky = flaky_ses(monkeypatch)
    api.member("h", email="h@example.com")
    [message] = take_messages()
    event = sqs_event([(message["MessageId"], message["Body"])])
    flaky.error = provider_error("ServiceUnavailable", 503, "down")
    assert handle(event)["batchItemFailures"]
    clock.set("2027-01-15T04:00:00Z")  # an hour after the first attempt: retried still
    assert handle(event)["batchItemFailures"]
    assert stored("h")["status"] == "queued"
    clock.set("2027-01-15T04:11:00Z")  # past the retry window
    assert handle(event) == {"batchItemFailures": []}
    [welcome] = notifications(api, "h")
    assert welcome["status"] == "failed"
    assert stored("h")["error_code"] == "ServiceUnavailable"


def test_a_permanent_rejection_is_failed_at_once_and_logs_no_address(api, clock, monkeypatch, caplog):
    flaky = flaky_ses(monkeypatch)
    api.member("r", email="rejected@example.com")
    flaky.error = provider_error("MessageRejected", 400, "Email address is not verified: rejected@example.com")
    with caplog.at_level(logging.INFO):
        assert local.drain_queues() >= 1
    [welcome] = notifications(api, "r")
    assert (welcome["channel"], welcome["status"], welcome["sent_at"]) == ("email", "failed", None)
    assert stored("r")["error_code"] == "MessageRejected"
    assert flaky.calls == 1
    assert queued_count() == 0 and pending_outbox() == []
    assert "rejected@example.com" not in caplog.text
    assert "MessageRejected" in caplog.text


def test_phones_are_sent_as_e164_in_the_program_region(api, clock):
    api.member("kr", phone="010-1234-5678")  # phone_region defaults to KR
    api.member("intl", phone="+1 415 555 0100")
    local.drain_queues()
    assert len(sms_to("+821012345678")) == 1
    assert len(sms_to("+14155550100")) == 1

    api.program({"phone_region": "US"})
    api.member("us", phone="415 555 0199")
    local.drain_queues()
    assert len(sms_to("+14155550199")) == 1
    for member_id in ("kr", "intl", "us"):
        [welcome] = notifications(api, member_id)
        assert (welcome["channel"], welcome["status"]) == ("sms", "sent")


def test_a_korean_mobile_number_reaches_sns_as_e164(api, clock):
    api.member("p", phone="010-1234-5678")
    local.drain_queues()
    assert len(sms_to("+821012345678")) == 1
    [welcome] = notifications(api, "p")
    assert (welcome["channel"], welcome["status"]) == ("sms", "sent")


def test_an_unparseable_phone_is_refused_at_enrolment(api, clock):
    for phone in ("+999 1234 5678", "+82 1", "+1 23"):
        response = api.post("/members", {"member_id": "bad", "name": "Bad", "phone": phone})
        assert response.status == 400, (phone, response)
        assert response.error == "VALIDATION_ERROR"
    assert api.get("/members/bad").status == 404


def test_an_outbox_left_queued_is_redriven_by_the_sweeper(api, clock, monkeypatch):
    from chalicelib.runtime import services

    def lost(messages):
        raise RuntimeError("SQS unavailable")

    publisher = services().ledger.publisher
    monkeypatch.setattr(publisher, "publish", lost)
    api.member("q", email="q@example.com")
    monkeypatch.delattr(publisher, "publish")  # the class's publish again
    assert queued_count() == 0 and stored("q")["status"] == "queued"

    clock.set("2027-01-15T03:10:00Z")  # within the lease: left alone
    local.run_job("sweep_outbox")
    assert queued_count() == 0
    clock.set("2027-01-15T03:20:00Z")  # past the 15-minute lease
    local.run_job("sweep_outbox")
    assert queued_count() == 1
    clock.set("2027-01-15T03:30:00Z")  # still waiting its turn on the queue: not re-driven again
    local.run_job("sweep_outbox")
    assert queued_count() == 1
    local.drain_queues()
    assert len(emails_to("q@example.com")) == 1
    [welcome] = notifications(api, "q")
    assert welcome["status"] == "sent"
    local.run_job("sweep_outbox")
    assert queued_count() == 0 and pending_outbox() == []


def test_an_outbox_left_sending_is_failed_unconfirmed_not_sent_twice(api, clock, monkeypatch):
    from chalicelib.runtime import services

    api.member("s", email="s@example.com")
    [message] = take_messages()
    event = sqs_event([(message["MessageId"], message["Body"])])
    store = services().sender.store
    real_update = store.update

    def status_write_fails(pk, sk, expression, *args, **kwargs):
        if expression.startswith("SET #s = :status"):
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "x"}}, "UpdateItem")
        return real_update(pk, sk, expression, *args, **kwargs)

    monkeypatch.setattr(store, "update", status_write_fails)
    assert handle(event)["batchItemFailures"]  # SES accepted; the status write failed
    monkeypatch.setattr(store, "update", real_update)
    assert len(emails_to("s@example.com")) == 1
    assert handle(event) == {"batchItemFailures": []}  # the redelivery finds it claimed
    assert stored("s")["status"] == "sending"

    clock.set("2027-01-15T03:20:00Z")
    local.run_job("sweep_outbox")
    item = stored("s")
    assert (item["status"], item["error_code"]) == ("failed", "DELIVERY_UNCONFIRMED")
    assert len(emails_to("s@example.com")) == 1  # at most once
    assert pending_outbox() == []


def test_deliveries_read_the_program_once_per_cache_window(api, monkeypatch):
    """A delivery reads the member's profile; the program comes from the
    container's copy (the one the ledger keeps), read again once it is stale."""
    from chalicelib.runtime import services
    from chalicelib.storage.repository import PROGRAM_KEY

    programs = services().ledger.programs
    monkeypatch.setattr(programs, "cache_seconds", 3600)
    api.member("a", email="a@example.com")
    api.member("b", email="b@example.com")
    api.member("c", phone="010-1234-5678")
    keys_read = []

    def count(params, **_):
        for table in params["RequestItems"].values():
            keys_read.extend((k["pk"]["S"], k["sk"]["S"]) for k in table["Keys"])

    client = aws.client("dynamodb")
    client.meta.events.register("provide-client-params.dynamodb.BatchGetItem", count)
    try:
        programs._cached = None  # a container that has not read the program yet
        assert local.drain_queues() == 3
        assert keys_read.count(PROGRAM_KEY) == 1
        assert len(emails_to("a@example.com")) == len(emails_to("b@example.com")) == 1
        assert len(sms_to("+821012345678")) == 1
        api.member("d", email="d@example.com")
        keys_read.clear()
        programs._cached = None  # the copy went stale
        assert local.drain_queues() == 1
        assert keys_read == [("MEMBER#d", "PROFILE"), PROGRAM_KEY]
    finally:
        client.meta.events.unregister("provide-client-params.dynamodb.BatchGetItem", count)

"""Pure rules of the pipeline and delivery: task messages, error classes,
backoff, phone numbers."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from chalicelib.domain.phones import InvalidPhoneError, to_e164
from chalicelib.jobs.pipeline import Task
from chalicelib.notifications.delivery import backoff_seconds, error_code
from chalicelib.storage.index_pages import Source


def test_a_task_survives_its_queue_message():
    task = Task(
        job="expire_points",
        source=Source("expiry", "expiry_shard", "3", "next_expiry", "2027-01-01T00:00:00Z"),
        params={"today": "2027-01-01"},
        cursor={"pk": {"S": "MEMBER#a"}},
        pending=["a", "b"],
        started=True,
        run="r",
        part="s3",
        retry=True,
    )
    assert Task.from_message(task.to_message()) == task
    fresh = Task(job="x", source=Source("members", "member_shard", "0"))
    assert Task.from_message(fresh.to_message()) == fresh
    assert not fresh.walked and Task.from_message({**fresh.to_message(), "started": True}).walked


def client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "to someone@example.com"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "SendEmail",
    )


@pytest.mark.parametrize(
    "error, passing",
    [
        (client_error("Throttling", 400), True),
        (client_error("ThrottlingException", 400), True),
        (client_error("InternalFailure", 500), True),
        (client_error("Whatever", 503), True),
        (ReadTimeoutError(endpoint_url="https://email"), True),
        (EndpointConnectionError(endpoint_url="https://email"), True),
        (client_error("MessageRejected", 400), False),
        (client_error("InvalidParameter", 400), False),
        (ValueError("bug"), False),
    ],
)
def test_passing_and_permanent_provider_errors(error, passing):
    code, is_passing = error_code(error)
    assert is_passing is passing
    assert "@" not in code


def test_backoff_doubles_to_fifteen_minutes_and_covers_an_hour_in_ten_receives():
    delays = [backoff_seconds(n) for n in range(1, 10)]
    assert delays[:4] == [30, 60, 120, 240]
    assert max(delays) == 900
    assert sum(delays) >= 3600


@pytest.mark.parametrize(
    "text, region, e164",
    [
        ("010-1234-5678", "KR", "+821012345678"),
        ("01012345678", "KR", "+821012345678"),
        ("+82 10 1234 5678", "US", "+821012345678"),
        ("(415) 555-0100", "US", "+14155550100"),
        ("02-312-3456", "KR", "+8223123456"),
    ],
)
def test_phones_to_e164(text, region, e164):
    assert to_e164(text, region) == e164


@pytest.mark.parametrize("text", ["+999 1234 5678", "+82 1", "hello"])
def test_no_phone_number(text):
    with pytest.raises(InvalidPhoneError):
        to_e164(text, "KR")

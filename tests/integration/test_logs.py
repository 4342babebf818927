"""Logs: one JSON line per record, with correlation id, route, status, latency
and member id, never a name, email, phone, birthday or key secret; EMF metrics."""

from __future__ import annotations

import json
import logging

import pytest
from botocore.exceptions import ClientError

from chalicelib import local, telemetry
from chalicelib.runtime import services

NAME, EMAIL, PHONE, BIRTHDAY = "김지윤", "jiyoon.kim@example.com", "+821055512345", "1991-03-04"
PERSONAL = (NAME, EMAIL, PHONE, BIRTHDAY, "jiyoon.kim", "55512345", "1055512345")


class Lines(logging.Handler):
    """What CloudWatch would receive: each record formatted as the Lambda handlers format it."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.setFormatter(telemetry.JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(self.format(record))

    def records(self) -> list[dict]:
        return [json.loads(line) for line in self.lines]


@pytest.fixture
def logs():
    import app as app_module

    lines = Lines()
    targets = [logging.getLogger(), app_module.app.log]
    levels = [t.level for t in targets]
    for target in targets:
        target.addHandler(lines)
        target.setLevel(logging.INFO)
    yield lines
    for target, level in zip(targets, levels, strict=False):
        target.removeHandler(lines)
        target.setLevel(level)


def assert_no_personal_data(lines: Lines, *secrets: str):
    assert lines.lines
    for line in lines.lines:
        assert "\n" not in line  # one CloudWatch event per record
        for value in (*PERSONAL, *secrets):
            assert value not in line, f"{value!r} logged: {line}"
        json.loads(line)


def metric_values(lines: Lines, name: str) -> list:
    return [r[name] for r in lines.records() if "_aws" in r and name in r]


def test_an_enrolment_logs_the_request_and_no_personal_data(demo, logs):
    response = demo.call(
        "POST",
        "/members",
        {"member_id": "jiyoon", "name": NAME, "email": EMAIL, "phone": PHONE, "birthday": BIRTHDAY},
        headers={"X-Correlation-Id": "till-7-receipt-1001"},
    )
    assert response.status == 201, response
    assert_no_personal_data(logs, demo.storefront_key)
    request = [r for r in logs.records() if r["message"] == "request"]
    assert len(request) == 1
    assert request[0]["route"] == "POST /members"
    assert request[0]["status"] == 201 and request[0]["member_id"] == "jiyoon"
    assert request[0]["correlation_id"] == "till-7-receipt-1001"
    assert isinstance(request[0]["latency_ms"], float)
    # signup bonus of the demo program, as an EMF metric of the same request
    emf = [r for r in logs.records() if "_aws" in r]
    assert emf and emf[0]["PointsEarned"] == 1000
    assert emf[0]["correlation_id"] == "till-7-receipt-1001"
    assert emf[0]["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [{"Name": "PointsEarned", "Unit": "Count"}]


def test_a_failed_email_logs_the_notification_and_error_code_only(demo, logs, monkeypatch):
    demo.member("jiyoon", name=NAME, email=EMAIL, phone=PHONE, birthday=BIRTHDAY)
    ses = services().sender.ses

    def refuse(**kwargs):
        address = kwargs["Destination"]["ToAddresses"][0]
        raise ClientError(
            {"Error": {"Code": "MessageRejected", "Message": f"Email address is not verified: {address}"}}, "SendEmail"
        )

    monkeypatch.setattr(ses, "send_email", refuse)
    logs.lines.clear()
    local.drain_queues()
    assert_no_personal_data(logs, demo.storefront_key)
    failed = [r for r in logs.records() if "failed" in r["message"] and "delivery" in r["message"]]
    assert failed and "MessageRejected" in failed[0]["message"]
    assert failed[0]["member_id"] == "jiyoon" and failed[0]["notification_id"]
    assert failed[0]["correlation_id"] not in ("local", None)  # the SQS message id
    assert metric_values(logs, "NotificationsFailed") == [1]
    assert demo.get("/members/jiyoon/notifications", key="admin").json["items"][0]["status"] == "failed"


def test_an_unexpected_error_is_one_line_and_a_500_with_the_correlation_id(demo, logs, monkeypatch):
    demo.member("jiyoon", name=NAME, email=EMAIL)

    def broken(member_id):
        raise RuntimeError(f"cannot show {EMAIL} {PHONE}")

    monkeypatch.setattr(services().ledger, "get_member", broken)
    response = demo.get("/members/jiyoon")
    assert response.status == 500
    assert response.json["error"]["code"] == "INTERNAL_ERROR"
    assert_no_personal_data(logs, demo.storefront_key)
    errors = [r for r in logs.records() if r.get("error_type") == "RuntimeError"]
    assert len(errors) == 1 and "broken" in errors[0]["stack"]
    assert errors[0]["correlation_id"] in response.json["error"]["message"]
    request = [r for r in logs.records() if r["message"] == "request"][-1]
    assert request["status"] == 500 and request["correlation_id"] == errors[0]["correlation_id"]


def test_a_job_logs_its_run_and_the_points_it_moves_as_metrics(demo, logs, clock):
    demo.member("jiyoon", name=NAME, email=EMAIL)
    clock.advance(days=366)  # the signup bonus expires
    logs.lines.clear()
    local.run_job("expire_points")
    assert_no_personal_data(logs)
    assert metric_values(logs, "PointsExpired") == [1000]
    assert all(r.get("correlation_id") for r in logs.records())


def test_the_formatter_scrubs_free_text_and_drops_personal_fields():
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "to %s or %s with dgl_sk_%s", (EMAIL, PHONE, "A" * 46), None
    )
    record.email = EMAIL
    record.member_id = "jiyoon"
    line = telemetry.JsonFormatter().format(record)
    assert EMAIL not in line and PHONE not in line and "dgl_sk_" not in line
    entry = json.loads(line)
    assert entry["member_id"] == "jiyoon" and "email" not in entry
    # ids, counts and times are left alone
    assert telemetry.scrub("member 01M8MBEQT9AWNQ2RVAZZSFMZC4 earned 185 at 2027-01-15T03:00:00Z") == (
        "member 01M8MBEQT9AWNQ2RVAZZSFMZC4 earned 185 at 2027-01-15T03:00:00Z"
    )

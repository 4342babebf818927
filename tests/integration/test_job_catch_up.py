"""Catch-up and housekeeping of the scheduled jobs: a day whose run failed is
made good by the next run (birthdays within the year), warnings are for today
only, per-day markers expire, and the work goes through the job queue."""

from __future__ import annotations

import datetime as dt
import json

from chalicelib import aws, local, settings
from tests.checks import stats

PROGRAM = {
    "timezone": "Asia/Seoul",
    "signup_bonus": 0,
    "birthday_bonus": 500,
    "expiry_days": 30,
    "redemption": {"min_points": 1},
}


def birthday_credits(api, member_id: str) -> list[dict]:
    items = api.get(f"/members/{member_id}/transactions?limit=100").json["items"]
    return [t for t in items if t["type"] == "bonus" and t.get("reason") == "birthday"]


def jobs_waiting() -> int:
    sqs = aws.client("sqs")
    url = sqs.get_queue_url(QueueName=settings.load().jobs_queue_name)["QueueUrl"]
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return sum(int(v) for v in attributes.values())


def test_missed_birthday_runs_are_made_good_later_in_the_same_year(api, clock):
    api.program(PROGRAM)
    clock.set("2027-03-01T01:00:00Z")
    api.member("b1", birthday="1990-03-02")
    api.member("b2", birthday="1991-03-04")
    api.member("b3", birthday="1992-03-20")
    local.run_job("grant_birthday_bonuses")  # 03-01 in Seoul: nobody yet
    # the runs of 03-02 .. 03-05 never happened; a member enrolled after their birthday
    clock.set("2027-03-05T02:00:00Z")
    api.member("late", birthday="1993-03-03")
    clock.set("2027-03-06T01:00:00Z")
    local.run_job("grant_birthday_bonuses")
    assert [len(birthday_credits(api, m)) for m in ("b1", "b2", "b3", "late")] == [1, 1, 0, 0]
    assert birthday_credits(api, "b1")[0]["created_at"] == "2027-03-06T01:00:00Z"
    local.run_job("grant_birthday_bonuses")  # again the same day: nothing more
    assert stats(api)["points_earned"] == 1000


def test_birthday_catch_up_does_not_reach_into_last_year(api, clock):
    api.program(PROGRAM)
    clock.set("2026-12-20T01:00:00Z")
    api.member("dec", birthday="1990-12-30")
    api.member("jan", birthday="1990-01-01")
    # no run from 12-20 until 01-02 (Seoul)
    clock.set("2027-01-02T01:00:00Z")
    local.run_job("grant_birthday_bonuses")
    assert birthday_credits(api, "dec") == []  # last year's birthday stays missed
    assert len(birthday_credits(api, "jan")) == 1


def test_birthday_catch_up_looks_back_no_further_than_the_last_completed_run(api, clock):
    api.program(PROGRAM)
    clock.set("2027-04-01T01:00:00Z")
    api.member("b", birthday="1990-04-05")
    clock.set("2027-04-10T01:00:00Z")
    local.run_job("grant_birthday_bonuses")  # looks back up to 31 days: b's day is in it
    assert len(birthday_credits(api, "b")) == 1
    from chalicelib.runtime import services

    marker = services().store.get("PROGRAM", "BIRTHDAYS_DONE_THROUGH")
    assert marker["through"] == "2027-04-10"
    clock.set("2027-04-11T01:00:00Z")
    local.run_job("grant_birthday_bonuses")
    assert services().store.get("PROGRAM", "BIRTHDAYS_DONE_THROUGH")["through"] == "2027-04-11"


def test_warnings_are_for_today_only_and_their_markers_expire(api, clock):
    api.program({**PROGRAM, "signup_bonus": 1000, "expiry_warning_days": 7})
    clock.set("2027-01-15T03:00:00Z")
    api.member("w")  # lot expires 2027-02-14T03:00:00Z
    clock.set("2027-02-08T01:00:00Z")  # 02-08 in Seoul: within 7 days; the runs of 02-07 and before never ran
    local.run_job("send_expiry_warnings")
    local.run_job("send_expiry_warnings")
    items = api.get("/members/w/notifications?limit=100", key="admin").json["items"]
    assert [n["type"] for n in items].count("points_expiring") == 1
    from chalicelib.runtime import services

    marker = services().store.get("MEMBER#w", "WARNED#2027-02-08")
    # TTL: 4 days after its day (epoch seconds, the table's TTL attribute)
    assert marker["expires_at"] == int(dt.datetime(2027, 2, 12, tzinfo=dt.UTC).timestamp())


def test_jobs_hand_their_work_to_the_job_queue_and_run_job_finishes_it(api, clock):
    import app as app_module

    api.program({**PROGRAM, "signup_bonus": 1000})
    clock.set("2027-01-15T03:00:00Z")
    api.member("x")
    clock.set("2027-02-15T00:00:00Z")
    event = {
        "version": "0",
        "id": "1",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "1970-01-01T00:00:00Z",
        "region": settings.load().region,
        "resources": [],
        "detail": {},
    }
    app_module.expire_points(event, None)  # the scheduled function only plans
    assert jobs_waiting() == settings.load().schedule_shards
    assert api.balance("x") == 1000
    local.run_job("expire_points")  # plans again and works every task off
    assert jobs_waiting() == 0
    assert api.balance("x") == 0
    assert stats(api)["points_expired"] == 1000


def test_the_tier_pass_message_on_the_notification_queue_is_forwarded(api, clock):
    api.member("t")
    sqs = aws.client("sqs")
    url = sqs.get_queue_url(QueueName=settings.load().notifications_queue_name)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"job": "recompute_tiers"}))
    api.program({"tiers": [{"name": "seed", "min_spend": 0}]})  # queues one more
    local.drain_queues()
    assert api.get("/members/t").json["tier"] == "seed"
    assert stats(api)["members_by_tier"] == {"seed": 1}
    from chalicelib.domain.tiers import ladder_signature
    from chalicelib.runtime import services
    from chalicelib.storage.repository import LADDER_KEY

    applied = services().store.get(LADDER_KEY["pk"], LADDER_KEY["sk"])
    assert applied["ladder"] == ladder_signature(services().ledger.program())
    assert jobs_waiting() == 0

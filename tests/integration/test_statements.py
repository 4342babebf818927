"""§13 monthly statements: once per member and program month, on the month's
first run (a missed first day caught up later in the month, a run that died
resumed the next day), members enrolled during the month wait for the next,
and the text reads like a shop's statement (Korean, or English by locale)."""

from __future__ import annotations

import json

from moto.core import DEFAULT_ACCOUNT_ID

from chalicelib import aws, local, settings
from chalicelib.domain.program import Program
from chalicelib.notifications import delivery as rendering
from chalicelib.runtime import services
from tests.checks import earn

PROGRAM = {
    "timezone": "Asia/Seoul",
    "signup_bonus": 1000,
    "expiry_days": 40,
    "tiers": [
        {"name": "새싹", "min_spend": 0},
        {"name": "열매", "min_spend": 100000},
        {"name": "나무", "min_spend": 500000},
    ],
}
FEB_FIRST = "2027-02-01T00:40:00Z"  # 09:40 on 1 February in Seoul: the job's hour


def statements(member_id: str) -> list[dict]:
    """The member's monthly_statement outbox items (with their data), oldest first."""
    items = services().store.query_all(f"MEMBER#{member_id}", "NOTIFICATION#")
    return sorted((i for i in items if i["type"] == "monthly_statement"), key=lambda i: i["created_at"])


def statement_emails(address: str) -> list:
    from moto.ses.models import ses_backends

    backend = ses_backends[DEFAULT_ACCOUNT_ID][settings.load().region]
    return [
        m
        for m in backend.sent_messages
        if address in m.destinations.get("ToAddresses", [])
        and ("포인트 안내" in m.subject or "Your points for" in m.subject)
    ]


def jobs_queue_url() -> str:
    return aws.client("sqs").get_queue_url(QueueName=settings.load().jobs_queue_name)["QueueUrl"]


def test_statement_once_per_member_with_balance_tier_next_tier_and_expiring(api, clock):
    api.program(PROGRAM)
    clock.set("2027-01-10T03:00:00Z")
    api.member("a", email="a@example.com")  # 1,000 P expiring 2027-02-19T03:00Z
    clock.set("2027-01-20T16:00:00Z")  # 01:00 on 21 January in Seoul
    earn(api, "a", "o1", 234500)  # 2,345 P expiring 2027-03-01T16:00Z = 2 March in Seoul
    clock.set(FEB_FIRST)
    local.run_job("send_monthly_statements")
    [item] = statements("a")
    assert item["data"] == {
        "month": "2027-02",
        "balance": 3345,
        "tier": "열매",
        "next_tier": {"name": "나무", "spend_needed": 265500},
        "expiring": [
            {"points": 1000, "expires_at": "2027-02-19T03:00:00Z"},
            {"points": 2345, "expires_at": "2027-03-01T16:00:00Z"},
        ],
    }
    local.drain_queues()
    [email] = statement_emails("a@example.com")
    assert email.subject == "[단골] 2027년 2월 포인트 안내"
    assert email.body == (
        "[단골] 2027년 2월 포인트 안내: 잔액 3,345 P, 등급 열매 (다음 등급 나무까지 ₩265,500), "
        "30일 안에 소멸 예정 3,345 P (2027-03-02까지)"
    )
    # a second run the same month, the same day or later, sends nothing more
    local.run_job("send_monthly_statements")
    clock.advance(days=1)
    local.run_job("send_monthly_statements")
    clock.advance(days=20)
    local.run_job("send_monthly_statements")
    assert len(statements("a")) == 1
    # the next month: the next statement, with the figures of then
    clock.set("2027-03-01T00:40:00Z")
    local.run_job("expire_points")  # the daily loop's order: the signup lot expired on 19 February
    local.run_job("send_monthly_statements")
    assert [s["data"]["month"] for s in statements("a")] == ["2027-02", "2027-03"]
    assert statements("a")[1]["data"]["balance"] == 2345
    assert statements("a")[1]["data"]["expiring"] == [{"points": 2345, "expires_at": "2027-03-01T16:00:00Z"}]


def test_english_statement_with_dollars_and_cents(api, clock):
    api.program(
        {
            **PROGRAM,
            "currency": "USD",
            "tiers": [
                {"name": "Basic", "min_spend": 0},
                {"name": "Silver", "min_spend": 100000},
                {"name": "Gold", "min_spend": 500000},
            ],
        }
    )
    clock.set("2027-01-10T03:00:00Z")
    api.member("en", email="en@example.com", locale="en")
    clock.set("2027-01-20T16:00:00Z")
    earn(api, "en", "o1", 234550)  # $2,345.50: 2,345 P
    clock.set(FEB_FIRST)
    local.run_job("send_monthly_statements")
    local.drain_queues()
    [email] = statement_emails("en@example.com")
    assert email.subject == "[Dangol] Your points for February 2027"
    assert email.body == (
        "[Dangol] Your points for February 2027: balance 3,345 P, tier Silver "
        "($2,654.50 more to reach Gold), 3,345 P expire within 30 days (by 2027-03-02)."
    )


def test_statement_texts_at_the_top_tier_and_with_nothing_expiring():
    program = Program(currency="KRW", timezone="Asia/Seoul")
    data = {"month": "2027-12", "balance": 1234567, "tier": "나무", "next_tier": None, "expiring": []}
    assert rendering.message_text("monthly_statement", data, program) == (
        "[단골] 2027년 12월 포인트 안내: 잔액 1,234,567 P, 등급 나무 (최고 등급), 30일 안에 소멸 예정 포인트 없음"
    )
    assert rendering.message_text("monthly_statement", data, program, "en") == (
        "[Dangol] Your points for December 2027: balance 1,234,567 P, tier 나무 (top tier), "
        "no points expire within 30 days."
    )
    assert rendering.message_text("monthly_statement", data, program, "ko") == rendering.message_text(
        "monthly_statement", data, program, None
    )


def test_money_is_written_as_a_shop_writes_it():
    assert rendering.money(12000, "KRW") == "₩12,000"
    assert rendering.money(0, "KRW") == "₩0"
    assert rendering.money(123405, "USD") == "$1,234.05"
    assert rendering.money(7, "USD") == "$0.07"
    assert rendering.money(-250, "EUR") == "-€2.50"
    assert rendering.money(1500, "JPY") == "¥1,500"
    assert rendering.money(1234, "CHF") == "1,234 CHF"


def test_members_enrolled_during_the_month_wait_for_the_next(api, clock):
    api.program(PROGRAM)
    clock.set("2027-01-31T14:59:59Z")  # 23:59:59 on 31 January in Seoul
    api.member("january")
    clock.set("2027-01-31T15:00:00Z")  # 00:00 on 1 February in Seoul
    api.member("february")
    clock.set(FEB_FIRST)
    local.run_job("send_monthly_statements")
    assert len(statements("january")) == 1
    assert statements("february") == []
    clock.set("2027-03-01T00:40:00Z")
    local.run_job("send_monthly_statements")
    assert len(statements("january")) == 2
    assert [s["data"]["month"] for s in statements("february")] == ["2027-03"]


def test_the_month_is_the_program_timezone_month(api, clock):
    api.program(PROGRAM)
    clock.set("2027-01-10T03:00:00Z")
    api.member("a")
    clock.set("2027-02-28T15:30:00Z")  # still February in UTC, 1 March 00:30 in Seoul
    local.run_job("send_monthly_statements")
    assert [s["data"]["month"] for s in statements("a")] == ["2027-03"]
    clock.set("2027-03-31T14:30:00Z")  # 23:30 on 31 March in Seoul: still March
    local.run_job("send_monthly_statements")
    assert len(statements("a")) == 1


def test_a_missed_first_day_is_caught_up_by_the_next_run_of_the_month(api, clock):
    api.program(PROGRAM)
    clock.set("2027-01-10T03:00:00Z")
    api.member("a")
    api.member("b")
    api.delete("/members/b", key="admin")
    clock.set("2027-03-04T00:40:00Z")  # the runs of 1-3 March never happened
    local.run_job("send_monthly_statements")
    assert [s["data"]["month"] for s in statements("a")] == ["2027-03"]
    assert statements("b") == []  # erased
    clock.advance(days=1)
    assert services().job_plans.send_monthly_statements() == []  # the month is done: nothing planned


def test_a_completed_month_plans_nothing_even_when_its_run_item_is_gone(api, clock):
    """The run item lives 30 days (TTL); the month's mark stops a 31st-day run."""
    api.program(PROGRAM)
    clock.set("2027-01-10T03:00:00Z")
    api.member("a")
    clock.set("2027-03-01T00:40:00Z")
    local.run_job("send_monthly_statements")
    services().store.client.delete_item(
        TableName=settings.load().table_name, Key={"pk": {"S": "JOBRUN"}, "sk": {"S": "statements#2027-03"}}
    )
    clock.set("2027-03-31T00:40:00Z")
    assert services().job_plans.send_monthly_statements() == []
    clock.set("2027-04-01T00:40:00Z")
    assert len(services().job_plans.send_monthly_statements()) == settings.load().schedule_shards


def test_a_run_that_died_part_way_is_resumed_by_the_next_days_run(api, clock):
    import app as app_module

    api.program(PROGRAM)
    clock.set("2027-01-10T03:00:00Z")
    members = [f"m{i:02d}" for i in range(12)]
    for member_id in members:
        api.member(member_id)
    clock.set(FEB_FIRST)
    # planned as the scheduled function plans: one task per shard on the job queue
    services().job_worker.start(services().job_plans.send_monthly_statements())
    sqs = aws.client("sqs")
    # tasks are worked off until some members have theirs, then the workers die: the rest is lost
    while not any(statements(m) for m in members):
        [message] = sqs.receive_message(QueueUrl=jobs_queue_url(), MaxNumberOfMessages=1)["Messages"]
        assert json.loads(message["Body"])["job"] == "send_monthly_statements"
        app_module.run_job_tasks(
            {
                "Records": [
                    {
                        "messageId": message["MessageId"],
                        "receiptHandle": message["ReceiptHandle"],
                        "body": message["Body"],
                        "attributes": {},
                        "messageAttributes": {},
                        "md5OfBody": None,
                        "eventSource": "aws:sqs",
                        "eventSourceARN": "arn",
                        "awsRegion": settings.load().region,
                    }
                ]
            },
            local._Context(),
        )
        sqs.delete_message(QueueUrl=jobs_queue_url(), ReceiptHandle=message["ReceiptHandle"])
    sqs.purge_queue(QueueUrl=jobs_queue_url())
    done = [m for m in members if statements(m)]
    assert 0 < len(done) < len(members)
    local.run_job("send_monthly_statements")  # the same day: the run is still in its lease
    assert [m for m in members if statements(m)] == done
    clock.advance(days=1)
    local.run_job("send_monthly_statements")  # the next day: planned again and resumed
    assert all(len(statements(m)) == 1 for m in members)
    clock.advance(days=1)
    assert services().job_plans.send_monthly_statements() == []


def test_the_statement_run_fans_out_a_task_per_page(api, clock, monkeypatch):
    """Its work is every member: the shard tasks only walk the `members` index and
    each page of members is a task of its own, so any number of workers share it."""
    from chalicelib.jobs.pipeline import JobWorker

    api.program(PROGRAM)
    clock.set("2027-01-10T03:00:00Z")
    members = [f"m{i:02d}" for i in range(15)]
    for member_id in members:
        api.member(member_id)
    clock.set(FEB_FIRST)
    monkeypatch.setattr(services().job_worker, "page_size", 2)
    worked = []
    real_work = JobWorker.work

    def work(self, task, remaining_ms):
        worked.append((task.part or "", len(task.pending)))
        return real_work(self, task, remaining_ms)

    monkeypatch.setattr(JobWorker, "work", work)
    local.run_job("send_monthly_statements")
    assert all(len(statements(m)) == 1 for m in members)
    pages = [part for part, pending in worked if "@" in part]
    assert len(pages) >= 8 and all(pending <= 2 for part, pending in worked if "@" in part)
    assert len(worked) == len(pages) + settings.load().schedule_shards
    # the run completed when its last page did: the month is marked done
    assert services().store.get("PROGRAM", "STATEMENTS_DONE")["month"] == "2027-02"

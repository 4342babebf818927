"""The job pipeline under a budget: every job, and the tier-ladder pass, run
with a cap on DynamoDB calls per worker invocation and a simulated timeout at
a random point (the invocation dies before or after a call reaches DynamoDB,
or a call times out). The worker is invoked again and again, as Lambda and
SQS would, until the job queue is empty; then every due member is done
exactly once.
"""

from __future__ import annotations

import json
import random

import pytest
from botocore.exceptions import ReadTimeoutError

from chalicelib import aws, settings
from tests.checks import earn, stats

CAP = 14  # DynamoDB calls per invocation ("the Lambda times out" after these)
MS_PER_CALL = 100  # what the fake context reports per call left
MEMBERS = 36


class Killed(BaseException):
    """The invocation is over: nothing after this point runs (not an Exception,
    so no handler code can catch it, as with a Lambda timeout)."""


class Budget:
    """Counts DynamoDB calls of the current invocation and ends it at a random point."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.calls = 0
        self.cut = None
        self.kind = None
        self.armed = False
        self.invocations = 0
        self.kills = 0

    def arm(self) -> None:
        self.calls, self.armed = 0, True
        self.invocations += 1
        self.cut = self.rng.randint(1, CAP + 4)
        self.kind = self.rng.choice(["kill-before", "kill-after", "timeout", "none"])

    def remaining_ms(self) -> int:
        return max(0, CAP - self.calls) * MS_PER_CALL

    def before(self, **_) -> None:
        if not self.armed:
            return
        self.calls += 1
        if self.calls > CAP:
            self.kills += 1
            raise Killed("out of time")
        if self.calls == self.cut and self.kind == "kill-before":
            self.kills += 1
            raise Killed("killed before the call")
        if self.calls == self.cut and self.kind == "timeout":
            raise ReadTimeoutError(endpoint_url="https://dynamodb.example")

    def after(self, **_) -> None:
        if self.armed and self.calls == self.cut and self.kind == "kill-after":
            self.kills += 1
            raise Killed("killed after the call was applied")


class Context:
    def __init__(self, budget: Budget):
        self.budget = budget

    def get_remaining_time_in_millis(self) -> int:
        return self.budget.remaining_ms()


@pytest.fixture
def budget(api, monkeypatch):
    from chalicelib import runtime

    monkeypatch.setenv("DANGOL_JOB_PAGE_SIZE", "4")
    monkeypatch.setenv("DANGOL_JOB_RESERVE_MS", str(4 * MS_PER_CALL))
    runtime.services.cache_clear()  # the worker reads its page size and reserve anew
    spent = Budget(random.Random(20261129))
    client = aws.client("dynamodb")
    client.meta.events.register("before-call.dynamodb", spent.before)
    client.meta.events.register("after-call.dynamodb", spent.after)
    sqs = aws.client("sqs")
    url = sqs.get_queue_url(QueueName=settings.load().jobs_queue_name)["QueueUrl"]
    # the test redelivers for as long as it takes; no task may end in the DLQ here
    sqs.set_queue_attributes(
        QueueUrl=url,
        Attributes={
            "RedrivePolicy": json.dumps(
                {
                    "deadLetterTargetArn": sqs.get_queue_attributes(
                        QueueUrl=sqs.get_queue_url(QueueName=settings.load().jobs_dlq_name)["QueueUrl"],
                        AttributeNames=["QueueArn"],
                    )["Attributes"]["QueueArn"],
                    "maxReceiveCount": "100000",
                }
            )
        },
    )
    yield spent
    client.meta.events.unregister("before-call.dynamodb", spent.before)
    client.meta.events.unregister("after-call.dynamodb", spent.after)


def run_budgeted(name: str, budget: Budget, max_invocations: int = 3000) -> int:
    """Plan `name` (unbudgeted, as its own scheduled function), then invoke the
    worker under the budget until the job queue is empty. Returns invocations."""
    import app as app_module

    scheduled = {
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
    getattr(app_module, name)(scheduled, Context(budget))
    sqs = aws.client("sqs")
    url = sqs.get_queue_url(QueueName=settings.load().jobs_queue_name)["QueueUrl"]
    invocations = 0
    while True:
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=0, VisibilityTimeout=30
        ).get("Messages", [])
        if not messages:
            return invocations
        invocations += 1
        assert invocations <= max_invocations, f"{name} did not finish"
        [message] = messages
        event = {
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
        }
        budget.arm()
        try:
            response = app_module.run_job_tasks(event, Context(budget))
        except Killed:
            response = None
        finally:
            budget.armed = False
        if response is None or response["batchItemFailures"]:
            # Lambda timed out or reported the task failed: SQS delivers it again
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
        else:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


PROGRAM = {
    "timezone": "Asia/Seoul",
    "signup_bonus": 1000,
    "birthday_bonus": 500,
    "expiry_days": 30,
    "expiry_warning_days": 7,
    "redemption": {"min_points": 1},
    "tiers": [
        {"name": "basic", "min_spend": 0, "earn_multiplier": "1", "expiry_days": None},
        {"name": "silver", "min_spend": 100000, "earn_multiplier": "1", "expiry_days": 400},
    ],
}


def history(api, member_id: str) -> list[dict]:
    items, cursor = [], None
    while True:
        page = api.get(f"/members/{member_id}/transactions?limit=100" + (f"&cursor={cursor}" if cursor else "")).json
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


def notices(api, member_id: str, type_: str) -> int:
    items = api.get(f"/members/{member_id}/notifications?limit=100", key="admin").json["items"]
    return sum(1 for n in items if n["type"] == type_)


def test_every_job_finishes_exactly_once_under_a_budget_with_random_timeouts(api, clock, budget):
    api.program(PROGRAM)
    clock.set("2027-01-15T03:00:00Z")  # 12:00 in Seoul; quarter 2027Q1
    ids = [f"m{i:02d}" for i in range(MEMBERS)]
    born = set(ids[::2])
    silver = set(ids[::3])
    for member_id in ids:
        api.member(member_id, **({"birthday": "1990-02-10"} if member_id in born else {}))
    for member_id in silver:  # silver for 2027Q1 and the quarter after
        earn(api, member_id, f"o-{member_id}", 100000)

    # warnings: the signup lots (expiring 02-14T03:00Z) are within 7 days
    clock.set("2027-02-09T01:00:00Z")
    invocations = run_budgeted("send_expiry_warnings", budget)
    assert invocations > 4, "the budget made the worker stop and go on"
    assert {m: notices(api, m, "points_expiring") for m in ids} == {m: 1 for m in ids}

    # birthdays on 02-10 in Seoul
    clock.set("2027-02-10T01:00:00Z")
    run_budgeted("grant_birthday_bonuses", budget)
    for member_id in ids:
        assert notices(api, member_id, "birthday_bonus") == (member_id in born)

    # expiry: the signup lot of every member is due (and the earned lot of the silver ones)
    clock.set("2027-02-14T04:00:00Z")
    run_budgeted("expire_points", budget)
    for member_id in ids:
        expired = [t for t in history(api, member_id) if t["type"] == "expire"]
        assert [t["points"] for t in expired] == [-1000 - 1000 * (member_id in silver)], member_id
        assert notices(api, member_id, "points_expired") == 1

    # a new ladder (silver now from 50,000) and, a quarter later, downgrades due
    api.program({**PROGRAM, "tiers": [PROGRAM["tiers"][0], {**PROGRAM["tiers"][1], "min_spend": 50000}]})
    clock.set("2027-07-01T01:00:00Z")  # 2027Q3 in Seoul: the Q1 spend no longer counts
    run_budgeted("recompute_tiers", budget)
    tiers = {m: api.get(f"/members/{m}").json["tier"] for m in ids}
    assert tiers == {m: "basic" for m in ids}
    for member_id in silver:
        assert notices(api, member_id, "tier_changed") == 2  # up at the earn, down once now
    from chalicelib.domain.tiers import ladder_signature
    from chalicelib.runtime import services
    from chalicelib.storage.repository import LADDER_KEY

    marker = services().store.get(LADDER_KEY["pk"], LADDER_KEY["sk"])
    assert marker["ladder"] == ladder_signature(services().ledger.program())

    # balances are the sums of their ledgers, and the totals add up
    total = 0
    for member_id in ids:
        balance = api.balance(member_id)
        assert balance == sum(t["points"] for t in history(api, member_id))
        assert balance == (500 if member_id in born else 0)
        total += balance
    figures = stats(api)
    assert figures["points_outstanding"] == total
    assert figures["points_expired"] == 1000 * (MEMBERS + len(silver))
    assert figures["members_by_tier"] == {"basic": MEMBERS, "silver": 0}
    assert budget.kills > 10  # the run really was cut short many times


def test_a_ladder_pass_cut_short_goes_on_from_its_checkpoint(api, clock, budget):
    """Measured before the pipeline: a pass under this budget re-tiered 57 → 85 →
    99 → 106 → 110 of 151 members over five runs and never finished."""
    clock.set("2027-01-15T03:00:00Z")
    ids = [f"p{i:02d}" for i in range(30)]
    for member_id in ids:
        api.member(member_id)
    earn(api, "p00", "o1", 100000)
    api.program({**PROGRAM, "tiers": [{**PROGRAM["tiers"][0], "name": "seed"}, PROGRAM["tiers"][1]]})
    run_budgeted("recompute_tiers", budget)
    assert {api.get(f"/members/{m}").json["tier"] for m in ids[1:]} == {"seed"}
    assert stats(api)["members_by_tier"] == {"seed": 29, "silver": 1}
    # the ledger is applied: the next run has no pass to do
    from chalicelib.runtime import services

    assert services().job_plans.ladder_pass() == []


def test_statements_and_win_backs_finish_exactly_once_under_a_budget(api, clock, budget):
    """§13 (its pages fanned out as tasks of their own) and §14 cut short at
    random calls: one statement and one win-back per member, and the month's
    run completes."""
    from chalicelib.runtime import services

    api.program({**PROGRAM, "dormancy": {"after_days": 30}})
    clock.set("2027-01-15T03:00:00Z")
    ids = [f"s{i:02d}" for i in range(30)]
    for member_id in ids:
        api.member(member_id)
    clock.set("2027-03-01T01:00:00Z")
    run_budgeted("win_back_dormant_members", budget)
    run_budgeted("send_monthly_statements", budget)
    assert {m: (notices(api, m, "win_back"), notices(api, m, "monthly_statement")) for m in ids} == {
        m: (1, 1) for m in ids
    }
    assert services().job_plans.send_monthly_statements() == []
    assert services().job_plans.win_back_dormant_members() != []  # planned, but nobody is due any more
    run_budgeted("win_back_dormant_members", budget)
    assert {notices(api, m, "win_back") for m in ids} == {1}
    assert budget.kills > 3

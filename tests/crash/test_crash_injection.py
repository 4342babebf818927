"""Crash injection: the process dies before or after each AWS call of a write path,
then the same request (same Idempotency-Key), job run or queue drain is retried in
a fresh container.

For every write path, a dry run counts its AWS calls; then for each boundary (before
each call N, and after the last; after call N is before call N + 1) a fresh world is set up
the same way, the process dies
there (`devtools.faults.ProcessDeath`, which nothing in Dangol catches), the
container is replaced (caches and clients gone, messages it had received visible
again as after the queue's visibility timeout) and the step is retried. Then:
- each member's balance equals the sum of its ledger (every history page) and
  `/stats` points_outstanding equals the sum of the balances;
- what the API shows (members, ledgers, stats, rewards, notifications made) is the
  dry run's, up to generated ids: nothing applied twice, nothing lost;
- a retried request answers as the dry run's request did;
- a notification is sent at most once (delivery claims it first, by design).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from devtools import faults
from tests.checks import history
from tests.conftest import DEMO_PROGRAM, Api

START = "2027-01-15T03:00:00Z"
PROGRAM = {**copy.deepcopy(DEMO_PROGRAM), "birthday_bonus": 500}
GENERATED = {
    "transaction_id",
    "reversed_transaction_id",
    "notification_id",
    "code",
    "referral_code",
    "created_at",
    "sent_at",
}
ULID = re.compile(r"\b[0-9A-HJKMNP-TV-Z]{26}\b")


# -- worlds ----------------------------------------------------------------------------
@contextlib.contextmanager
def fresh_world(clock):
    from chalice.test import Client
    from moto import mock_aws

    import app as app_module
    from chalicelib import local, runtime

    clock.set(START)
    with mock_aws():
        runtime.reset()
        local.create_resources()
        admin = local.create_api_key("admin", "hq")
        storefront = local.create_api_key("storefront", "pos-1")
        with Client(app_module.app) as client:
            yield Api(client, admin, storefront)
        faults.arm(None)
        runtime.reset()


def restart_container(plan: faults.Plan) -> None:
    """A new container: no cached clients, keys or program; and the messages the dead
    one had received become visible again (as when their visibility timeout ends)."""
    from chalicelib import aws, runtime

    runtime.reset()
    sqs = aws.client("sqs")
    for call in plan.calls:
        if call.operation == "ReceiveMessage" and call.parsed:
            for message in call.parsed.get("Messages", []):
                for url in sqs.list_queues().get("QueueUrls", []):
                    with contextlib.suppress(Exception):
                        sqs.change_message_visibility(
                            QueueUrl=url, VisibilityTimeout=0, ReceiptHandle=message["ReceiptHandle"]
                        )


# -- scenarios -------------------------------------------------------------------------
@dataclasses.dataclass
class Scenario:
    name: str
    setup: Callable[[Api, Any], dict]
    step: Callable[[Api, dict], Any]  # a request (Response) or a job / drain
    members: tuple[str, ...]
    request: bool = True  # a retried request must answer like the first


def earn(api, member_id, order_id, amount):
    response = api.post(
        f"/members/{member_id}/earn", {"order_id": order_id, "amount": amount}, idem=f"setup-{order_id}"
    )
    assert response.status == 201, response
    return response.json


def base(api, clock, *members, email=True):
    api.program(PROGRAM)
    for member_id in members:
        fields = {"email": f"{member_id}@example.com"} if email else {}
        api.post(
            "/members", {"member_id": member_id, "name": member_id.title(), **fields}, idem=f"setup-enrol-{member_id}"
        )
    return {}


def setup_rich(api, clock):
    """m1 spends 1,000,000 (tier 숲, may transfer), m2 enrolled, a reward with stock."""
    base(api, clock, "m1", "m2")
    ctx = {"earn": earn(api, "m1", "o1", 1_000_000)}
    assert (
        api.post(
            "/rewards", {"reward_id": "latte", "name": "Latte", "points_cost": 500, "stock": 3}, key="admin"
        ).status
        == 201
    )
    from chalicelib import local

    local.drain_queues()  # the set-up's own notifications are delivered before the step
    return ctx


def setup_birthday(api, clock):
    api.program(PROGRAM)
    api.post(
        "/members",
        {"member_id": "m1", "name": "Kim", "email": "m1@example.com", "birthday": "1990-01-15"},
        idem="setup-enrol-m1",
    )
    return {}


def setup_expired(api, clock):
    base(api, clock, "m1", "m2")
    earn(api, "m2", "o2", 50_000)
    clock.advance(days=366)
    return {}


def setup_expiring(api, clock):
    base(api, clock, "m1")
    clock.advance(days=360)
    return {}


def setup_tier_falls(api, clock):
    base(api, clock, "m1")
    earn(api, "m1", "o1", 1_000_000)
    clock.set("2027-07-02T03:00:00Z")
    return {}


def setup_notifications(api, clock):
    """Two queued notifications: m1's signup bonus by email, m2's with no address (skipped)."""
    base(api, clock, "m1")
    base(api, clock, "m2", email=False)
    return {}


def setup_coupons(api, clock, used=False):
    """Two templates (one for sale at 800 points) and a coupon given to m1 (used, if asked)."""
    base(api, clock, "m1", "m2")
    for template in (
        {"template_id": "off", "name": "1,000 off", "discount": {"type": "amount", "amount": 1000}},
        {"template_id": "latte", "name": "Latte", "discount": {"type": "percent", "percent": 10}, "points_cost": 800},
    ):
        assert api.post("/coupon-templates", template, key="admin").status == 201
    coupon = api.post("/members/m1/coupons", {"template_id": "off"}, key="admin", idem="setup-give")
    assert coupon.status == 201, coupon
    if used:
        use = api.post(
            f"/coupons/{coupon.json['code']}/redemption",
            {"member_id": "m1", "order_id": "o1", "order_amount": 5000},
            idem="setup-use",
        )
        assert use.status == 201, use
    from chalicelib import local

    local.drain_queues()
    # both keys used last just now: a slow drain must not leave the step a key lookup more
    assert api.get("/members/m2").status == 200 and api.get("/stats", key="admin").status == 200
    return {"code": coupon.json["code"]}


def run_job(name):
    def step(api, ctx):
        from chalicelib import local

        local.run_job(name)

    return step


def drain(api, ctx):
    from chalicelib import local

    local.drain_queues()


SCENARIOS = [
    Scenario(
        "enrol",
        lambda api, clock: base(api, clock, "m1"),
        lambda api, ctx: api.post(
            "/members", {"member_id": "m9", "name": "Lee", "email": "lee@example.com"}, idem="k-enrol"
        ),
        ("m1", "m9"),
    ),
    Scenario(
        "earn",
        lambda api, clock: base(api, clock, "m1"),
        lambda api, ctx: api.post(
            "/members/m1/earn",
            {
                "order_id": "A-1",
                "amount": 12000,
                "items": [{"sku": "latte", "category": "new-arrivals", "amount": 6500}],
            },
            idem="k-earn",
        ),
        ("m1",),
    ),
    Scenario(
        "redeem",
        setup_rich,
        lambda api, ctx: api.post("/members/m1/redeem", {"points": 1500, "order_id": "c1"}, idem="k-redeem"),
        ("m1", "m2"),
    ),
    Scenario(
        "redeem-reward",
        setup_rich,
        lambda api, ctx: api.post("/members/m1/redeem", {"reward_id": "latte"}, idem="k-reward"),
        ("m1", "m2"),
    ),
    Scenario(
        "reversal",
        setup_rich,
        lambda api, ctx: api.post(
            f"/members/m1/transactions/{ctx['earn']['transaction_id']}/reversal", {"amount": 250_000}, idem="k-refund"
        ),
        ("m1", "m2"),
    ),
    Scenario(
        "transfer",
        setup_rich,
        lambda api, ctx: api.post("/members/m1/transfers", {"to_member_id": "m2", "points": 2000}, idem="k-gift"),
        ("m1", "m2"),
    ),
    Scenario(
        "adjustment",
        setup_rich,
        lambda api, ctx: api.post(
            "/members/m1/adjustments", {"points": -700, "reason": "correction"}, key="admin", idem="k-adjust"
        ),
        ("m1", "m2"),
    ),
    Scenario("erasure", setup_rich, lambda api, ctx: api.delete("/members/m1", key="admin"), ("m1", "m2")),
    Scenario(
        "coupon-give",
        setup_coupons,
        lambda api, ctx: api.post("/members/m1/coupons", {"template_id": "off"}, key="admin", idem="k-give"),
        ("m1", "m2"),
    ),
    Scenario(
        "coupon-buy",
        setup_coupons,
        lambda api, ctx: api.post("/members/m1/coupons", {"template_id": "latte"}, idem="k-buy"),
        ("m1", "m2"),
    ),
    Scenario(
        "coupon-use",
        setup_coupons,
        lambda api, ctx: api.post(
            f"/coupons/{ctx['code']}/redemption",
            {"member_id": "m1", "order_id": "A-1", "order_amount": 7000},
            idem="k-use",
        ),
        ("m1", "m2"),
    ),
    Scenario(
        "coupon-release",
        lambda api, clock: setup_coupons(api, clock, used=True),
        lambda api, ctx: api.post(f"/coupons/{ctx['code']}/release", {"member_id": "m1"}, idem="k-release"),
        ("m1", "m2"),
    ),
    Scenario(
        "suspension",
        setup_coupons,
        lambda api, ctx: api.post("/members/m1/suspension", {"reason": "chargebacks"}, key="admin", idem="k-suspend"),
        ("m1", "m2"),
    ),
    Scenario("job-expire-points", setup_expired, run_job("expire_points"), ("m1", "m2"), request=False),
    Scenario("job-recompute-tiers", setup_tier_falls, run_job("recompute_tiers"), ("m1",), request=False),
    Scenario("job-send-expiry-warnings", setup_expiring, run_job("send_expiry_warnings"), ("m1",), request=False),
    Scenario("job-grant-birthday-bonuses", setup_birthday, run_job("grant_birthday_bonuses"), ("m1",), request=False),
    Scenario("notification-delivery", setup_notifications, drain, ("m1", "m2"), request=False),
]


# -- observing -------------------------------------------------------------------------
def normalized(value: Any) -> Any:
    """The value with generated ids and codes blanked (they differ between worlds)."""
    if isinstance(value, dict):
        return {k: ("<generated>" if k in GENERATED and v is not None else normalized(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [normalized(v) for v in value]
    if isinstance(value, str):
        return ULID.sub("<id>", value)
    return value


def observe(api, members) -> dict:
    """What the API shows, generated ids blanked; checks the ledger adds up on the way."""
    state: dict[str, Any] = {}
    total = 0
    for member_id in members:
        response = api.get(f"/members/{member_id}")
        if response.status != 200:
            state[member_id] = response.status
            continue
        member = response.json
        ledger = history(api, member_id)
        assert member["balance"] == sum(tx["points"] for tx in ledger), (member_id, ledger)
        assert member["balance"] >= 0
        total += member["balance"]
        notes = api.get(f"/members/{member_id}/notifications?limit=100", key="admin").json
        state[member_id] = {
            "member": normalized(member),
            # one transaction per request and member: order by content, not by id
            "ledger": sorted(json.dumps(normalized(tx), sort_keys=True) for tx in ledger),
            # made in the same transaction as the change; their delivery is at most once
            "notifications": sorted(n["type"] for n in notes["items"]),
            # §11: the member's coupons, with their state
            "coupons": normalized(api.get(f"/members/{member_id}/coupons?limit=100").json),
        }
    stats = api.get("/stats", key="admin").json
    assert stats["points_outstanding"] == total, (stats, total)
    state["stats"] = stats
    state["rewards"] = normalized(api.get("/rewards?limit=100").json)
    return state


def answer(response) -> Any:
    return None if response is None else (response.status, normalized(response.json))


def sent(plan: faults.Plan) -> int:
    """Emails and texts that left (the call completed)."""
    return sum(1 for c in plan.calls if c.operation in ("SendEmail", "Publish") and c.parsed is not None)


# -- the test ----------------------------------------------------------------------------
def dry_run(scenario, clock):
    with fresh_world(clock) as api:
        ctx = scenario.setup(api, clock)
        before = observe(api, scenario.members)
        plan = faults.Plan()
        faults.arm(plan)
        try:
            response = scenario.step(api, ctx)
        finally:
            faults.arm(None)
        after = observe(api, scenario.members)
    assert after != before or sent(plan), f"{scenario.name}: the step changed nothing; a crash would prove nothing"
    return plan, answer(response), after


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_dying_at_any_aws_call_then_retrying_applies_the_step_exactly_once(scenario, clock):
    plan, first_answer, expected = dry_run(scenario, clock)
    calls = len(plan.calls)
    assert calls >= 2, plan.calls
    # Dying after call n and dying before call n + 1 leave AWS in the same state (nothing
    # but AWS calls leaves the process), so the distinct boundaries are: before each call,
    # and after the last one.
    boundaries = [("before", n) for n in range(1, calls + 1)] + [("after", calls)]
    for side, n in boundaries:
        where = f"{scenario.name}: died {side} call {n} of {calls} ({plan.calls[n - 1].operation})"
        with fresh_world(clock) as api:
            ctx = scenario.setup(api, clock)
            dying = faults.Plan(**{f"die_{side}": n})
            faults.arm(dying)
            try:
                with pytest.raises(faults.ProcessDeath):
                    scenario.step(api, ctx)
            finally:
                faults.arm(None)
            assert dying.calls[n - 1].operation == plan.calls[n - 1].operation, (
                where,
                [c.operation for c in dying.calls],
            )
            restart_container(dying)
            retry = faults.Plan()
            faults.arm(retry)
            try:
                response = scenario.step(api, ctx)
            finally:
                faults.arm(None)
            if scenario.request:
                committed = any(c.operation == "TransactWriteItems" and c.parsed is not None for c in dying.calls)
                if scenario.name == "erasure" and committed:
                    # an erasure has no Idempotency-Key: once done, the member is gone
                    assert response.status == 404, where
                else:
                    assert answer(response) == first_answer, where
            assert observe(api, scenario.members) == expected, where
            assert sent(dying) + sent(retry) <= sent(plan), where

"""Earn and activities (§4, §12, §15), through the ledger's commands."""

from __future__ import annotations

import pytest

from chalicelib.errors import (
    DuplicateActivityError,
    DuplicateOrderError,
    IdempotencyKeyReusedError,
    LimitExceededError,
    MemberSuspendedError,
    NotFoundError,
    ValidationError,
)
from chalicelib.ledger.member_changes import Outcome


@pytest.fixture
def member(shop):
    shop.enrol("m1")
    return "m1"


def test_earn_credits_the_base_line_and_keeps_the_tier(shop, member):
    result = shop.earn(member, "o1", 50_000)
    assert result.outcome is Outcome.CREATED
    body = result.body
    assert (body["type"], body["points"], body["balance_after"], body["tier"]) == ("earn", 500, 1500, "basic")
    assert body["breakdown"] == [{"rule": "base", "points": 500}]
    assert (body["order_id"], body["storefront"], body["created_at"]) == ("o1", "shop", "2027-05-10T03:00:00Z")
    view = shop.member(member)
    assert (view["balance"], view["lifetime_points"], view["quarter_spend"]) == (1500, 1500, 50_000)
    assert shop.notifications(member) == ["welcome", "points_earned"]
    stats = shop.stats()
    assert (stats["points_earned"], stats["points_outstanding"]) == (1500, 1500)


def test_earn_moves_the_tier_up_and_the_next_earn_gets_its_multiplier(shop, member):
    first = shop.earn(member, "o1", 120_000).body
    assert (first["points"], first["tier"]) == (1200, "silver")  # the tier held before counts
    second = shop.earn(
        member,
        "o2",
        10_000,
        items=[
            {"sku": "s1", "category": "new-arrivals", "amount": 3_000},
            {"sku": "s2", "category": "basics", "amount": 7_000},
        ],
    ).body
    assert second["breakdown"] == [
        {"rule": "base", "points": 100},
        {"rule": "category:new-arrivals", "points": 30},
        {"rule": "tier:silver", "points": 50},
    ]
    assert second["points"] == 180
    assert shop.balance(member) == 1000 + 1200 + 180
    assert "tier_changed" in shop.notifications(member)
    assert shop.stats()["members_by_tier"] == {"basic": 0, "silver": 1, "gold": 0}


def test_an_earn_of_zero_points_is_still_recorded(shop, member):
    body = shop.earn(member, "o1", 99).body
    assert (body["points"], body["breakdown"], body["balance_after"]) == (0, [], 1000)
    assert shop.member(member)["quarter_spend"] == 99


def test_a_past_purchase_counts_in_its_own_quarter(shop, member):
    body = shop.earn(member, "o1", 200_000, occurred_at="2027-03-20T00:00:00Z").body
    assert body["points"] == 2000
    view = shop.member(member)
    # Q1 spend, now Q2: not this quarter's spend, but the previous quarter's keeps silver (§6)
    assert (view["quarter_spend"], view["tier"]) == (0, "silver")
    lot_expiry = [i for i in shop.store.items("MEMBER#m1") if i["sk"].startswith("LOT#")]
    assert any("2028-03-19" in i["key"] for i in lot_expiry)  # 365 days after the purchase


@pytest.mark.parametrize("occurred_at", ["2027-05-10T03:00:01Z", "2027-02-08T00:00:00Z"])
def test_occurred_at_in_the_future_or_over_90_days_back_is_refused(shop, member, occurred_at):
    before = shop.snapshot()
    with pytest.raises(ValidationError):
        shop.earn(member, "o1", 10_000, occurred_at=occurred_at)
    assert shop.snapshot() == before


def test_the_same_order_earns_once(shop, member):
    shop.earn(member, "o1", 10_000)
    before = shop.snapshot()
    with pytest.raises(DuplicateOrderError):
        shop.earn(member, "o1", 10_000)  # another Idempotency-Key: the order item's condition refuses it
    assert shop.snapshot() == before
    shop.enrol("m2")
    shop.earn("m2", "o1", 10_000)  # per member
    assert shop.balance("m2") == 1100


def test_an_earn_replayed_answers_the_same_and_credits_once(shop, member):
    first = shop.earn(member, "o1", 10_000, key="k")
    before = shop.snapshot()
    again = shop.earn(member, "o1", 10_000, key="k")
    assert (again.outcome, again.body) == (first.outcome, first.body)
    assert shop.snapshot() == before
    with pytest.raises(IdempotencyKeyReusedError):
        shop.earn(member, "o1", 20_000, key="k")


def test_earn_for_an_unknown_member_is_not_found(shop):
    with pytest.raises(NotFoundError):
        shop.earn("nobody", "o1", 10_000)


def test_daily_limits_refuse_an_earn_and_change_nothing(shop, member):
    shop.program(limits={"max_earns_per_day": 2, "max_earn_points_per_day": 1_500})
    shop.earn(member, "o1", 100_000)  # 1000 points
    before = shop.snapshot()
    with pytest.raises(LimitExceededError):
        shop.earn(member, "o2", 60_000)  # silver now: 600 + 300 more, 1900 > 1500
    assert shop.snapshot() == before
    assert shop.earn(member, "o2", 30_000).body["points"] == 450  # 1450 that day
    with pytest.raises(LimitExceededError):
        shop.earn(member, "o3", 100)  # a third earn
    shop.clock.advance(days=1)
    shop.earn(member, "o3", 100)


def test_a_suspended_member_earns_nothing(shop, member):
    shop.suspend(member)
    with pytest.raises(MemberSuspendedError):
        shop.earn(member, "o1", 10_000)
    with pytest.raises(MemberSuspendedError):
        shop.activity(member, "review", "r1")


def test_frequency_bonus_from_the_nth_earn_of_the_month(shop, member):
    shop.program(frequency_bonus={"min_purchases": 2, "extra_rate": "0.02"})
    assert shop.earn(member, "o1", 10_000).body["points"] == 100
    body = shop.earn(member, "o2", 10_000).body
    assert {line["rule"]: line["points"] for line in body["breakdown"]} == {"base": 100, "frequency": 200}


def test_activity_credits_its_points_once_per_reference(shop, member):
    body = shop.activity(member, "review", "r1").body
    assert (body["type"], body["points"], body["reason"], body["reference_id"], body["activity_type"]) == (
        "activity",
        100,
        "review",
        "r1",
        "review",
    )
    assert shop.balance(member) == 1100
    before = shop.snapshot()
    with pytest.raises(DuplicateActivityError):
        shop.activity(member, "review", "r1")
    assert shop.snapshot() == before
    shop.activity(member, "review", "r2")
    zero = shop.activity(member, "survey", "s1").body
    assert (zero["points"], zero["balance_after"]) == (0, 1200)
    assert shop.member(member)["lifetime_points"] == 1200


def test_an_unknown_activity_type_is_refused(shop, member):
    with pytest.raises(ValidationError):
        shop.activity(member, "dance", "d1")

"""The pure rules the ledger applies to a member: which operations a suspension
refuses (contract §15) and which coupon a move up into a tier earns (§11)."""

from __future__ import annotations

import datetime as dt

import pytest

from chalicelib.domain.calendar import parse_instant
from chalicelib.domain.coupons import TierUpCoupon, tier_up_coupon
from chalicelib.domain.member import REFUSED_WHILE_SUSPENDED, Member, may
from chalicelib.domain.program import Program

TIERS = [
    {"name": "basic", "min_spend": 0},
    {"name": "silver", "min_spend": 100_000},
    {"name": "gold", "min_spend": 300_000},
]
SEOUL = Program.model_validate(
    {"timezone": "Asia/Seoul", "tiers": TIERS, "auto_coupons": {"tier_up": {"gold": "t-gold"}}}
)


def at(text: str) -> dt.datetime:
    return parse_instant(text)


def member(suspension=None) -> Member:
    return Member.from_record(
        {
            "member_id": "m1",
            "name": "Kim",
            "created_at": "2026-01-01T00:00:00Z",
            "tier": "basic",
            "version": 1,
            "earn_day": {},
            "suspension": suspension,
        }
    )


@pytest.mark.parametrize("operation", sorted(REFUSED_WHILE_SUSPENDED))
def test_a_suspended_member_may_not_do_points_and_coupon_operations(operation):
    assert not may(member({"reason": "fraud", "since": "2026-01-01T00:00:00Z"}), operation)
    assert may(member(), operation)


def test_the_suspension_refuses_exactly_the_contracts_operations():
    assert REFUSED_WHILE_SUSPENDED == {"earn", "activity", "redeem", "transfer", "coupon_buy", "coupon_use"}


@pytest.mark.parametrize("operation", ["adjust", "reverse", "expire", "coupon_give", "read"])
def test_a_suspended_member_keeps_the_other_operations(operation):
    assert may(member({"reason": "fraud", "since": "2026-01-01T00:00:00Z"}), operation)


def test_moving_up_into_a_tier_with_a_template_earns_its_coupon_for_the_local_year():
    # 2026-12-31T15:00Z is already 2027 in Seoul
    assert tier_up_coupon(SEOUL, {}, "silver", "gold", at("2026-12-31T15:00:00Z")) == TierUpCoupon(
        "gold", "t-gold", 2027
    )
    assert tier_up_coupon(SEOUL, {}, "basic", "gold", at("2026-06-01T00:00:00Z")) == TierUpCoupon(
        "gold", "t-gold", 2026
    )


def test_the_tier_up_coupon_is_earned_once_per_tier_and_calendar_year():
    now = at("2026-06-01T00:00:00Z")
    assert tier_up_coupon(SEOUL, {"gold": 2026}, "silver", "gold", now) is None
    assert tier_up_coupon(SEOUL, {"gold": 2025}, "silver", "gold", now) == TierUpCoupon("gold", "t-gold", 2026)


def test_no_tier_up_coupon_moving_down_sideways_or_into_a_tier_without_template():
    now = at("2026-06-01T00:00:00Z")
    assert tier_up_coupon(SEOUL, {}, "gold", "silver", now) is None
    assert tier_up_coupon(SEOUL, {}, "gold", "gold", now) is None
    assert tier_up_coupon(SEOUL, {}, "basic", "silver", now) is None

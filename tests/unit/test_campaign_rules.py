"""§22's pure rules (chalicelib/domain/campaigns.py): the bucket and the arm, the
earn's campaign lines, the profile's bounded list of campaigns."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest

from chalicelib.domain.campaigns import arm_for, bucket, campaign_lines, entry, prune, status, validate_arms
from chalicelib.domain.earning import earning_breakdown
from chalicelib.domain.program import Program

ARMS = [{"name": "control", "weight": 10}, {"name": "a", "weight": 45}, {"name": "b", "weight": 45}]


def by_hand(campaign_id: str, member_id: str) -> int:
    return int(hashlib.sha256(f"{campaign_id}:{member_id}".encode()).hexdigest()[:8], 16) % 100


def test_the_bucket_is_the_first_eight_hex_digits_mod_100():
    assert bucket("spring", "m1") == 18  # sha256("spring:m1") begins 7ceb0752 = 2095777618
    for i in range(300):
        assert bucket("c", f"member-{i}") == by_hand("c", f"member-{i}")


@pytest.mark.parametrize(("b", "arm"), [(0, "control"), (9, "control"), (10, "a"), (54, "a"), (55, "b"), (99, "b")])
def test_arms_take_consecutive_ranges_in_listed_order(b, arm):
    member_id = next(f"x{i}" for i in range(100_000) if by_hand("edge", f"x{i}") == b)
    assert arm_for("edge", member_id, ARMS)["name"] == arm


def test_validation_of_arms():
    validate_arms(ARMS)
    for bad in ([], ARMS * 2, ARMS[:2], [{"name": "x", "weight": 50}, {"name": "x", "weight": 50}]):
        with pytest.raises(ValueError):
            validate_arms(bad)
    with pytest.raises(ValueError):
        validate_arms([{"name": "x", "weight": 0}, {"name": "y", "weight": 100}])


CAMPAIGN = {"campaign_id": "c", "starts_at": "2027-01-01T00:00:00Z", "ends_at": "2027-02-01T00:00:00Z"}


def kept(reward):
    return entry(CAMPAIGN, {"name": "arm", "reward": reward}, "2027-01-01T00:00:00Z")


def test_multiplier_line_is_floored_once_and_only_inside_the_window():
    double = [kept({"type": "multiplier", "multiplier": "1.5"})]
    assert campaign_lines(double, 12345, "0.01", "2027-01-10T00:00:00Z") == ([("campaign:c", 61)], [])
    assert campaign_lines(double, 12345, "0.01", "2027-01-01T00:00:00Z")[0] == [("campaign:c", 61)]
    assert campaign_lines(double, 12345, "0.01", "2026-12-31T23:59:59Z") == ([], [])
    assert campaign_lines(double, 12345, "0.01", "2027-02-01T00:00:00Z") == ([], [])


def test_bonus_line_once_above_min_amount():
    bonus = [kept({"type": "bonus", "points": 700, "min_amount": 5000})]
    assert bonus[0]["bonus_used"] is False
    assert campaign_lines(bonus, 4999, "0.01", "2027-01-10T00:00:00Z") == ([], [])
    assert campaign_lines(bonus, 5000, "0.01", "2027-01-10T00:00:00Z") == ([("campaign:c", 700)], ["c"])
    used = [{**bonus[0], "bonus_used": True}]
    assert campaign_lines(used, 50000, "0.01", "2027-01-10T00:00:00Z") == ([], [])


def test_control_and_coupon_arms_add_no_line():
    for reward in (None, {"type": "coupon", "template_id": "t"}):
        assert campaign_lines([kept(reward)], 50000, "0.01", "2027-01-10T00:00:00Z") == ([], [])


def test_a_multiplier_below_one_is_a_negative_line_and_the_earn_never_debits():
    half = [kept({"type": "multiplier", "multiplier": "0"})]
    extra, _ = campaign_lines(half, 10000, "0.01", "2027-01-10T00:00:00Z")
    assert extra == [("campaign:c", -100)]
    moment = dt.datetime(2027, 1, 10, tzinfo=dt.UTC)
    breakdown = earning_breakdown(Program(), 10000, [], moment, "basic", campaign_lines=extra)
    assert breakdown.total == 0
    rules = {line.rule: line.points for line in breakdown.lines}
    assert rules == {"base": 100, "campaign:c": -100}


def test_prune_keeps_campaigns_ended_within_400_days():
    old = {**kept(None), "ends_at": "2025-01-01T00:00:00Z"}
    recent = kept(None)
    assert prune([old, recent], dt.datetime(2027, 3, 1, tzinfo=dt.UTC)) == [recent]


def test_status_from_the_time_and_the_launch():
    assert status(CAMPAIGN, "2026-12-01T00:00:00Z") == "scheduled"
    assert status(CAMPAIGN, "2027-01-05T00:00:00Z") == "scheduled"  # due, not launched yet
    assert status({**CAMPAIGN, "launch_started_at": "x"}, "2027-01-05T00:00:00Z") == "running"
    assert status(CAMPAIGN, "2027-02-01T00:00:00Z") == "ended"


def test_the_campaign_offer_text_in_korean_and_english():
    from chalicelib.notifications.delivery import message_text, subject_text

    base = {"campaign": "Spring", "arm": "x", "ends_at": "2027-02-01T00:00:00Z", "coupon": None}
    double = {**base, "reward": {"type": "multiplier", "multiplier": "2"}}
    bonus = {**base, "reward": {"type": "bonus", "points": 500, "min_amount": 10000}}
    coupon = {**base, "reward": {"type": "coupon", "template_id": "t"}, "coupon": "5,000 off"}
    assert message_text("campaign_offer", double, Program(), "en") == (
        "[Dangol] Spring: earn 2x points on your purchases (until 2027-02-01)."
    )
    assert message_text("campaign_offer", bonus, Program(), "en") == (
        "[Dangol] Spring: get 500 P on your next purchase of ₩10,000 or more (until 2027-02-01)."
    )
    assert message_text("campaign_offer", coupon, Program(), "ko") == (
        "[단골] Spring: 쿠폰 '5,000 off'을 드렸어요 (2027-02-01까지)."
    )
    assert (
        message_text("campaign_offer", double, Program()) == "[단골] Spring: 구매 시 포인트 2배 적립 (2027-02-01까지)."
    )
    assert subject_text("campaign_offer", double, "en") == "[Dangol] An offer for you"

"""Transfers between members and admin adjustments (contract §4)."""

from __future__ import annotations

from chalicelib import local
from tests.checks import earn, history, snapshot, stats

# 1 point per 10 won, no signup bonus, lots live 30 days (all show in `expiring`).
PROGRAM = {
    "base_rate": "0.1",
    "signup_bonus": 0,
    "redemption": {"min_points": 1},
    "expiry_days": 30,
    "transfer": {"allowed_tiers": ["basic"], "min_points": 1},
}
TIERS = [
    {"name": "basic", "min_spend": 0, "earn_multiplier": "1"},
    {"name": "gold", "min_spend": 1000, "earn_multiplier": "1"},
]


def transfer(api, sender, recipient, points):
    return api.post(f"/members/{sender}/transfers", {"to_member_id": recipient, "points": points})


def adjust(api, member_id, body, key="admin"):
    return api.post(f"/members/{member_id}/adjustments", body, key=key)


# -- transfers -------------------------------------------------------------------


def test_transfer_moves_points_and_returns_both_transactions(api, clock):
    api.program(PROGRAM)
    api.member("m1")
    api.member("m2")
    earn(api, "m1", "o1", 1000)  # 100
    earn(api, "m2", "o1", 50)  # 5
    before = stats(api)

    moved = transfer(api, "m1", "m2", 40)
    assert moved.status == 201, moved
    out, in_ = moved.json["transfer_out"], moved.json["transfer_in"]
    assert out["type"] == "transfer_out"
    assert out["member_id"] == "m1"
    assert out["points"] == -40
    assert out["balance_after"] == 60  # 100 − 40
    assert out["storefront"] == "pos-1"
    assert in_["type"] == "transfer_in"
    assert in_["member_id"] == "m2"
    assert in_["points"] == 40
    assert in_["balance_after"] == 45  # 5 + 40
    assert out["transaction_id"] != in_["transaction_id"]

    assert api.balance("m1") == 60
    assert api.balance("m2") == 45
    assert history(api, "m1")[0]["transaction_id"] == out["transaction_id"]
    assert history(api, "m2")[0]["transaction_id"] == in_["transaction_id"]
    # a transfer neither creates nor destroys points
    after = stats(api)
    assert after == before
    assert after["points_outstanding"] == 105


def test_transfer_of_the_whole_balance(api, clock):
    api.program(PROGRAM)
    api.member("m1")
    api.member("m2")
    earn(api, "m1", "o1", 1000)  # 100
    moved = transfer(api, "m1", "m2", 100)
    assert moved.status == 201, moved
    assert api.balance("m1") == 0
    assert api.balance("m2") == 100


def test_transfer_needs_an_allowed_sender_tier(api, clock):
    api.program({**PROGRAM, "tiers": TIERS, "transfer": {"allowed_tiers": ["gold"], "min_points": 1}})
    api.member("m1")
    api.member("m2")
    earn(api, "m1", "o1", 900)  # 90 points, spend 900 < 1000: basic
    before = snapshot(api, "m1", "m2")
    refused = transfer(api, "m1", "m2", 10)
    assert refused.status == 422 and refused.error == "TRANSFER_NOT_ALLOWED", refused
    assert snapshot(api, "m1", "m2") == before

    earn(api, "m1", "o2", 100)  # spend 1000: gold
    assert api.get("/members/m1").json["tier"] == "gold"
    moved = transfer(api, "m1", "m2", 10)
    assert moved.status == 201, moved
    assert api.balance("m1") == 90  # 90 + 10 − 10
    assert api.balance("m2") == 10


def test_transfer_with_no_allowed_tiers_is_refused(api, clock):
    api.program({**PROGRAM, "transfer": {"allowed_tiers": [], "min_points": 1}})
    api.member("m1")
    api.member("m2")
    earn(api, "m1", "o1", 1000)
    refused = transfer(api, "m1", "m2", 10)
    assert refused.status == 422 and refused.error == "TRANSFER_NOT_ALLOWED", refused
    assert api.balance("m1") == 100
    assert api.balance("m2") == 0


def test_transfer_to_self_is_refused(api, clock):
    api.program(PROGRAM)
    api.member("m1")
    earn(api, "m1", "o1", 1000)
    before = snapshot(api, "m1")
    refused = transfer(api, "m1", "m1", 10)
    assert refused.status == 422 and refused.error == "TRANSFER_NOT_ALLOWED", refused
    assert snapshot(api, "m1") == before


def test_transfer_below_the_minimum_is_refused(api, clock):
    api.program({**PROGRAM, "transfer": {"allowed_tiers": ["basic"], "min_points": 50}})
    api.member("m1")
    api.member("m2")
    earn(api, "m1", "o1", 1000)  # 100
    before = snapshot(api, "m1", "m2")
    refused = transfer(api, "m1", "m2", 49)
    assert refused.status == 422 and refused.error == "TRANSFER_NOT_ALLOWED", refused
    assert snapshot(api, "m1", "m2") == before
    moved = transfer(api, "m1", "m2", 50)
    assert moved.status == 201, moved
    assert api.balance("m2") == 50


def test_transfer_to_or_from_an_unknown_member(api, clock):
    api.program(PROGRAM)
    api.member("m1")
    earn(api, "m1", "o1", 1000)
    before = snapshot(api, "m1")
    missing = transfer(api, "m1", "ghost", 10)
    assert missing.status == 404 and missing.error == "NOT_FOUND", missing
    missing = transfer(api, "ghost", "m1", 10)
    assert missing.status == 404 and missing.error == "NOT_FOUND", missing
    assert snapshot(api, "m1") == before


def test_transfer_to_an_erased_member_is_not_found(api, clock):
    api.program(PROGRAM)
    api.member("m1")
    api.member("m2")
    earn(api, "m1", "o1", 1000)
    assert api.delete("/members/m2", key="admin").status == 204
    before = snapshot(api, "m1")
    missing = transfer(api, "m1", "m2", 10)
    assert missing.status == 404 and missing.error == "NOT_FOUND", missing
    assert snapshot(api, "m1") == before


def test_transfer_beyond_the_balance(api, clock):
    api.program(PROGRAM)
    api.member("m1")
    api.member("m2")
    earn(api, "m1", "o1", 1000)  # 100
    before = snapshot(api, "m1", "m2")
    refused = transfer(api, "m1", "m2", 101)
    assert refused.status == 422 and refused.error == "INSUFFICIENT_POINTS", refused
    assert snapshot(api, "m1", "m2") == before


def test_transferred_points_keep_their_expiry_dates(api, clock):
    api.program(PROGRAM)
    api.member("m1")
    api.member("m2")
    # m1: 10 points occurred 10 days ago -> expire 2027-02-04T03:00:00Z,
    #     20 points now -> expire 2027-02-14T03:00:00Z
    earn(api, "m1", "o1", 100, occurred_at="2027-01-05T03:00:00Z")
    earn(api, "m1", "o2", 200)
    clock.advance(days=1)  # 2027-01-16T03:00:00Z; a fresh lot would expire 2027-02-15
    earn(api, "m2", "o1", 70)  # m2's own 7 -> expire 2027-02-15T03:00:00Z

    moved = transfer(api, "m1", "m2", 25)  # soonest first: 10 @02-04, 15 @02-14
    assert moved.status == 201, moved
    assert api.get("/members/m1").json["expiring"] == [
        {"points": 5, "expires_at": "2027-02-14T03:00:00Z"},
    ]
    assert api.get("/members/m2").json["expiring"] == [
        {"points": 10, "expires_at": "2027-02-04T03:00:00Z"},
        {"points": 15, "expires_at": "2027-02-14T03:00:00Z"},
        {"points": 7, "expires_at": "2027-02-15T03:00:00Z"},
    ]

    clock.set("2027-02-04T03:00:00Z")
    local.run_job("expire_points")
    expired = history(api, "m2")[0]
    assert expired["type"] == "expire" and expired["points"] == -10, expired
    assert api.balance("m2") == 22  # 15 + 7
    clock.set("2027-02-14T03:00:00Z")
    local.run_job("expire_points")
    assert history(api, "m2")[0]["points"] == -15
    assert api.balance("m2") == 7
    assert api.balance("m1") == 0  # m1's last 5 went the same day


def test_transferred_points_are_not_extended_by_the_recipients_tier(api, clock):
    tiers = [
        {"name": "basic", "min_spend": 0, "earn_multiplier": "1"},
        {"name": "gold", "min_spend": 1000, "earn_multiplier": "1", "expiry_days": 365},
    ]
    api.program({**PROGRAM, "tiers": tiers})
    api.member("m1")
    api.member("m2")
    earn(api, "m1", "o1", 500)  # 50 -> expire 2027-02-14T03:00:00Z (basic: 30 days)
    clock.advance(days=1)
    # m2 becomes gold; its 100 were earned as basic: expire 2027-02-15T03:00:00Z
    earn(api, "m2", "o1", 1000)
    assert api.get("/members/m2").json["tier"] == "gold"
    clock.advance(days=4)  # 2027-01-20: a gold lot made now would last until 2028
    moved = transfer(api, "m1", "m2", 20)
    assert moved.status == 201, moved
    assert api.get("/members/m2").json["expiring"] == [
        {"points": 20, "expires_at": "2027-02-14T03:00:00Z"},
        {"points": 100, "expires_at": "2027-02-15T03:00:00Z"},
    ]
    clock.set("2027-02-14T03:00:00Z")
    local.run_job("expire_points")
    assert api.balance("m2") == 100


# -- adjustments -----------------------------------------------------------------


def test_adjustments_are_admin_only(api, clock):
    api.program(PROGRAM)
    api.member("m1")
    earn(api, "m1", "o1", 1000)
    before = snapshot(api, "m1")
    for points in (10, -10):
        refused = adjust(api, "m1", {"points": points, "reason": "goodwill"}, key="storefront")
        assert refused.status == 403 and refused.error == "FORBIDDEN", refused
    assert snapshot(api, "m1") == before


def test_adjustment_needs_a_reason(api, clock):
    api.program(PROGRAM)
    api.member("m1")
    earn(api, "m1", "o1", 1000)
    before = snapshot(api, "m1")
    for body in ({"points": 10}, {"points": -10}, {"points": 10, "reason": None}, {"points": 10, "reason": 5}):
        refused = adjust(api, "m1", body)
        assert refused.status == 400 and refused.error == "VALIDATION_ERROR", (body, refused)
    assert snapshot(api, "m1") == before


def test_zero_adjustment_is_invalid(api, clock):
    api.program(PROGRAM)
    api.member("m1")
    earn(api, "m1", "o1", 1000)
    before = snapshot(api, "m1")
    refused = adjust(api, "m1", {"points": 0, "reason": "nothing"})
    assert refused.status == 400 and refused.error == "VALIDATION_ERROR", refused
    assert snapshot(api, "m1") == before


def test_positive_adjustment_forms_a_new_lot(api, clock):
    api.program(PROGRAM)
    api.member("m1")
    earn(api, "m1", "o1", 1000, occurred_at="2027-01-05T03:00:00Z")  # 100 -> 2027-02-04
    before = stats(api)
    member_before = api.get("/members/m1").json

    made = adjust(api, "m1", {"points": 25, "reason": "apology for a cold latte"})
    assert made.status == 201, made
    tx = made.json
    assert tx["type"] == "adjust"
    assert tx["member_id"] == "m1"
    assert tx["points"] == 25
    assert tx["balance_after"] == 125
    assert tx["reason"] == "apology for a cold latte"
    assert tx["storefront"] == "hq"
    listed = history(api, "m1")[0]
    assert listed["transaction_id"] == tx["transaction_id"]
    assert listed["type"] == "adjust" and listed["points"] == 25
    assert listed["reason"] == "apology for a cold latte"
    assert listed["storefront"] == "hq"

    member = api.get("/members/m1").json
    assert member["balance"] == 125
    # made now (2027-01-15T03:00:00Z) + 30 days
    assert member["expiring"] == [
        {"points": 100, "expires_at": "2027-02-04T03:00:00Z"},
        {"points": 25, "expires_at": "2027-02-14T03:00:00Z"},
    ]
    # an adjustment is not an earn, bonus or activity
    assert member["lifetime_points"] == member_before["lifetime_points"]
    after = stats(api)
    assert after["points_adjusted"] == before["points_adjusted"] + 25
    assert after["points_earned"] == before["points_earned"]
    assert after["points_outstanding"] == 125

    clock.set("2027-02-04T03:00:00Z")
    local.run_job("expire_points")
    assert api.balance("m1") == 25
    clock.set("2027-02-14T03:00:00Z")
    local.run_job("expire_points")
    assert api.balance("m1") == 0


def test_negative_adjustment_debits_soonest_expiring_first(api, clock):
    api.program(PROGRAM)
    api.member("m1")
    earn(api, "m1", "o1", 300, occurred_at="2027-01-05T03:00:00Z")  # 30 -> 2027-02-04
    earn(api, "m1", "o2", 700)  # 70 -> 2027-02-14
    made = adjust(api, "m1", {"points": -40, "reason": "duplicate receipt"})
    assert made.status == 201, made
    assert made.json["type"] == "adjust"
    assert made.json["points"] == -40
    assert made.json["balance_after"] == 60
    assert made.json["reason"] == "duplicate receipt"
    assert made.json["storefront"] == "hq"
    # 30 from the 02-04 lot, 10 from the 02-14 lot
    assert api.get("/members/m1").json["expiring"] == [
        {"points": 60, "expires_at": "2027-02-14T03:00:00Z"},
    ]
    s = stats(api)
    assert s["points_adjusted"] == -40
    assert s["points_outstanding"] == 60  # 100 − 40


def test_negative_adjustment_beyond_the_balance(api, clock):
    api.program(PROGRAM)
    api.member("m1")
    earn(api, "m1", "o1", 1000)  # 100
    before = snapshot(api, "m1")
    refused = adjust(api, "m1", {"points": -101, "reason": "too much"})
    assert refused.status == 422 and refused.error == "INSUFFICIENT_POINTS", refused
    assert snapshot(api, "m1") == before
    made = adjust(api, "m1", {"points": -100, "reason": "all of it"})
    assert made.status == 201, made
    assert api.balance("m1") == 0


def test_adjustment_of_an_unknown_member(api, clock):
    api.program(PROGRAM)
    before = stats(api)
    missing = adjust(api, "ghost", {"points": 5, "reason": "x"})
    assert missing.status == 404 and missing.error == "NOT_FOUND", missing
    assert stats(api) == before

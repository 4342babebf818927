"""Pending points (§25) through the API on moto: an earn's points are spendable
from occurred_at + pending_days on, by time alone (the clock is moved, no job
runs), and the figures of members and /stats follow. 1 point per 10 won."""

from __future__ import annotations

import datetime as dt

import pytest

from chalicelib import local
from tests.checks import assert_error, earn, history, stats

PROGRAM = {
    "base_rate": "0.1",
    "signup_bonus": 100,
    "redemption": {"min_points": 1},
    "expiry_days": 30,
    "pending_days": 14,
    "tiers": [
        {"name": "basic", "min_spend": 0, "earn_multiplier": "1"},
        {"name": "silver", "min_spend": 5000, "earn_multiplier": "2"},
    ],
}
START = "2027-01-15T03:00:00Z"  # the clock fixture's
AVAILABLE = "2027-01-29T03:00:00Z"  # START + 14 days


@pytest.fixture
def shop(api, clock):
    api.program(PROGRAM)
    api.member("m1")  # 100 signup points, spendable at once
    return api


def member(api, member_id="m1") -> dict:
    response = api.get(f"/members/{member_id}")
    assert response.status == 200, response
    return response.json


def test_an_earn_is_pending_and_shown_with_its_available_date(shop):
    tx = earn(shop, "m1", "o1", 2000)  # 200 points
    assert (tx["points"], tx["balance_after"], tx["available_at"]) == (200, 100, AVAILABLE)
    view = member(shop)
    assert (view["balance"], view["pending_points"], view["lifetime_points"]) == (100, 200, 300)
    assert view["pending"] == [{"points": 200, "available_at": AVAILABLE}]
    assert history(shop, "m1")[0]["available_at"] == AVAILABLE


def test_a_redeem_is_refused_pending_points_and_takes_them_from_available_at(shop, clock):
    earn(shop, "m1", "o1", 2000)
    assert_error(shop.post("/members/m1/redeem", {"points": 101}), 422, "INSUFFICIENT_POINTS")
    clock.set("2027-01-29T02:59:59Z")
    assert member(shop)["balance"] == 100
    assert_error(shop.post("/members/m1/redeem", {"points": 101}), 422, "INSUFFICIENT_POINTS")
    clock.set(AVAILABLE)  # no job runs
    view = member(shop)
    assert (view["balance"], view["pending_points"], view["pending"]) == (300, 0, [])
    response = shop.post("/members/m1/redeem", {"points": 300})
    assert response.status == 201, response
    assert response.json["balance_after"] == 0


def test_a_refund_takes_the_earns_pending_points_first(shop):
    tx = earn(shop, "m1", "o1", 2000)  # 200 pending
    response = shop.post(f"/members/m1/transactions/{tx['transaction_id']}/reversal", {"amount": 500})
    assert response.status == 201, response
    # floor(200 × 500 / 2000) = 50, all of it pending: the spendable balance stays 100
    body = response.json
    assert (body["points"], body["unrecovered_points"], body["balance_after"]) == (-50, 0, 100)
    view = member(shop)
    assert (view["balance"], view["pending_points"]) == (100, 150)
    assert stats(shop)["points_pending"] == 150


def test_a_refund_after_the_window_takes_the_earns_lot_first(shop, clock):
    tx = earn(shop, "m1", "o1", 2000)  # 200, expires AVAILABLE + 30 days
    clock.set("2027-01-30T00:00:00Z")
    # 300 spendable: the signup lot (expiring START + 30 days) goes first, then 100 of the earn's
    assert shop.post("/members/m1/redeem", {"points": 200}).status == 201
    response = shop.post(f"/members/m1/transactions/{tx['transaction_id']}/reversal", {})
    # 200 due: the 100 left in its lot; nothing else to take
    assert (response.json["points"], response.json["unrecovered_points"]) == (-100, 100), response
    assert member(shop)["balance"] == 0


def test_tier_and_lifetime_points_count_a_pending_earn_at_once(shop):
    tx = earn(shop, "m1", "o1", 6000)  # 600 pending; spend 6000 reaches silver
    assert tx["tier"] == "silver"
    view = member(shop)
    assert (view["tier"], view["lifetime_points"], view["quarter_spend"]) == ("silver", 700, 6000)
    assert earn(shop, "m1", "o2", 1000)["points"] == 200  # silver's multiplier at once


def test_points_expire_expiry_days_after_they_became_available(api, clock):
    api.program({**PROGRAM, "signup_bonus": 0})
    api.member("m2")
    earn(api, "m2", "o1", 2000)  # 200: available AVAILABLE, expires 30 days later
    clock.set("2027-02-28T02:59:59Z")
    local.run_job("expire_points")
    assert member(api, "m2")["balance"] == 200
    clock.set("2027-02-28T03:00:00Z")
    local.run_job("expire_points")
    assert member(api, "m2")["balance"] == 0
    last = history(api, "m2")[0]
    assert (last["type"], last["points"]) == ("expire", -200)


def test_expiring_lists_no_pending_lot(api, clock):
    api.program({**PROGRAM, "expiry_days": 10, "signup_bonus": 0})
    api.member("m3")
    earn(api, "m3", "o1", 2000)  # expires 2027-02-08: within 30 days, but pending
    assert member(api, "m3")["expiring"] == []
    clock.set(AVAILABLE)
    assert member(api, "m3")["expiring"] == [{"points": 200, "expires_at": "2027-02-08T03:00:00Z"}]


def test_an_erasure_forfeits_pending_points_counted_as_expired(shop):
    earn(shop, "m1", "o1", 2000)
    before = stats(shop)
    assert (before["points_pending"], before["points_outstanding"]) == (200, 300)
    assert shop.delete("/members/m1", key="admin").status == 204
    after = stats(shop)
    assert (after["points_expired"], after["points_outstanding"], after["points_pending"]) == (300, 0, 0)


def test_stats_points_pending_depends_on_the_time_of_the_read(shop, clock):
    earn(shop, "m1", "o1", 2000)  # 200, available AVAILABLE
    clock.set("2027-01-15T09:00:00Z")
    shop.member("m2")
    earn(shop, "m2", "o2", 1000)  # 100, available 2027-01-29T09:00:00Z
    s = stats(shop)
    # outstanding holds the pending points; the balances do not
    assert (s["points_pending"], s["points_outstanding"]) == (300, 500)
    assert member(shop)["balance"] + member(shop, "m2")["balance"] == 200
    clock.set("2027-01-28T23:59:59Z")
    assert stats(shop)["points_pending"] == 300
    clock.set("2027-01-29T02:59:59Z")
    assert stats(shop)["points_pending"] == 300
    clock.set(AVAILABLE)
    assert stats(shop)["points_pending"] == 100
    clock.set("2027-01-29T09:00:00Z")
    s = stats(shop)
    assert (s["points_pending"], s["points_outstanding"]) == (0, 500)


def test_pending_days_zero_is_the_default_and_credits_at_once(api, clock):
    assert api.get("/program", key="admin").json["pending_days"] == 0
    api.member("m4", name="Four")
    tx = earn(api, "m4", "o1", 50_000, occurred_at="2027-01-14T03:00:00Z")
    assert tx["available_at"] == "2027-01-14T03:00:00Z"
    view = member(api, "m4")
    assert (view["balance"], view["pending_points"], view["pending"]) == (tx["balance_after"], 0, [])
    assert stats(api)["points_pending"] == 0


@pytest.mark.parametrize("bad", [-1, 366, "14", 1.5, None])
def test_pending_days_out_of_range_is_refused_and_the_program_stays(shop, bad):
    response = shop.put("/program", {**PROGRAM, "pending_days": bad}, key="admin")
    assert_error(response, 400, "VALIDATION_ERROR")
    assert shop.get("/program", key="admin").json["pending_days"] == 14


def test_an_erasure_of_fifty_pending_lots_leaves_points_pending_exact(api, clock):
    # each lot becomes available on a day, hour and minute of its own: 150 counter
    # items to take back, more than one transaction holds (see docs/architecture.md)
    api.program({**PROGRAM, "pending_days": 365})
    api.member("m1")
    available = []
    for n in range(50):
        clock.advance(hours=25, minutes=1)
        available.append(earn(api, "m1", f"o{n}", 100)["available_at"])  # 10 points each
    clock.advance(hours=1)
    api.member("m2")
    earn(api, "m2", "k1", 70)  # 7 points, pending after all of m1's
    assert stats(api)["points_pending"] == 507
    assert api.delete("/members/m1", key="admin").status == 204
    assert stats(api)["points_pending"] == 7
    for instant in available[::10] + available[-1:]:
        at = dt.datetime.fromisoformat(instant.replace("Z", "+00:00"))
        for moment in (at - dt.timedelta(seconds=1), at):  # the second before, and at it
            clock.set(moment.strftime("%Y-%m-%dT%H:%M:%SZ"))
            assert stats(api)["points_pending"] == 7, moment

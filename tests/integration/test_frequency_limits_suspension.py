"""Contract §12 (frequency bonus) and §15 (daily limits, suspension,
self-referral), to the letter."""

from __future__ import annotations

import pytest

from chalicelib import local
from tests.checks import assert_error, earn, history, snapshot, stats

FREQUENT = {"frequency_bonus": {"min_purchases": 3, "extra_rate": "0.02"}}


def lines(tx):
    return {line["rule"]: line["points"] for line in tx.get("breakdown", [])}


# -- §12 ------------------------------------------------------------------
def test_the_min_purchases_th_earn_of_the_month_and_later_ones_get_the_line(api, clock):
    api.program({**FREQUENT, "frequency_bonus": {"min_purchases": 3, "extra_rate": "0.015"}})
    api.member("m1")
    assert lines(earn(api, "m1", "o1", 10000)) == {"base": 100}
    assert lines(earn(api, "m1", "o2", 10000)) == {"base": 100}
    third = earn(api, "m1", "o3", 12345)
    assert lines(third) == {"base": 123, "frequency": 185}  # floor(12345 × 0.015) = 185
    assert third["points"] == 308
    assert lines(earn(api, "m1", "o4", 999)) == {"base": 9, "frequency": 14}
    other = api.member("m2")
    assert lines(earn(api, "m2", "o1", 10000)) == {"base": 100}  # per member
    assert other["lifetime_points"] == 1000
    assert api.get("/members/m1").json["lifetime_points"] == 1000 + 100 + 100 + 308 + 23


@pytest.mark.parametrize(
    "timezone, january, february",
    [
        # occurred_at 2027-01-31T15:00:00Z is February 1st in Seoul, still January in UTC
        ("Asia/Seoul", ["2027-01-10T00:00:00Z", "2027-01-31T14:59:59Z"], ["2027-01-31T15:00:00Z"]),
        ("UTC", ["2027-01-10T00:00:00Z", "2027-01-31T14:59:59Z", "2027-01-31T15:00:00Z"], []),
    ],
)
def test_the_month_is_the_program_timezones_month_of_occurred_at(api, clock, timezone, january, february):
    clock.set("2027-02-01T02:00:00Z")  # February everywhere
    api.program({**FREQUENT, "timezone": timezone})
    api.member("m1")
    occurred = ["2027-01-10T00:00:00Z", "2027-01-31T14:59:59Z", "2027-01-31T15:00:00Z"]
    for i, at in enumerate(occurred):
        earn(api, "m1", f"o{i}", 10000, occurred_at=at)
    # one more of each month: the 3rd of January gets it only where January holds 2 earns
    jan = earn(api, "m1", "jan", 10000, occurred_at="2027-01-20T00:00:00Z")
    feb = earn(api, "m1", "feb", 10000)  # now: February
    assert ("frequency" in lines(jan)) == (len(january) + 1 >= 3)
    assert ("frequency" in lines(feb)) == (len(february) + 1 >= 3)
    # an earn dated last month counts there, not in this month
    feb2 = earn(api, "m1", "feb2", 10000)
    assert ("frequency" in lines(feb2)) == (len(february) + 2 >= 3)


def test_refunds_do_not_uncount_and_the_line_is_clawed_back_like_others(api, clock):
    api.program(FREQUENT)
    api.member("m1")
    earn(api, "m1", "o1", 10000)
    second = earn(api, "m1", "o2", 10000)
    refund = api.post(f"/members/m1/transactions/{second['transaction_id']}/reversal", {})
    assert refund.status == 201 and refund.json["points"] == -100
    third = earn(api, "m1", "o3", 10000)
    assert lines(third) == {"base": 100, "frequency": 200}
    before = api.get("/members/m1").json
    assert before["lifetime_points"] == 1000 + 100 + 100 + 300
    part = api.post(f"/members/m1/transactions/{third['transaction_id']}/reversal", {"amount": 3333})
    assert part.status == 201
    assert part.json["points"] == -99  # floor(300 × 3333 / 10000)
    rest = api.post(f"/members/m1/transactions/{third['transaction_id']}/reversal", {})
    assert rest.json["points"] == -201
    assert api.balance("m1") == 1000 + 100
    assert lines(earn(api, "m1", "o4", 10000)) == {"base": 100, "frequency": 200}  # still counted


def test_no_frequency_bonus_by_default(api, clock):
    api.member("m1")
    for i in range(4):
        assert lines(earn(api, "m1", f"o{i}", 10000)) == {"base": 100}


# -- §15 limits ------------------------------------------------------------
def test_earns_beyond_max_earns_per_day_are_refused_and_change_nothing(api, clock):
    clock.set("2027-01-15T14:00:00Z")  # 23:00 in Seoul
    api.program({"limits": {"max_earns_per_day": 2, "max_earn_points_per_day": None}})
    api.member("m1")
    earn(api, "m1", "o1", 10000)
    earn(api, "m1", "o2", 10000)
    state = snapshot(api, "m1")
    refused = api.post("/members/m1/earn", {"order_id": "o3", "amount": 10000}, idem="k3")
    assert_error(refused, 422, "LIMIT_EXCEEDED")
    assert snapshot(api, "m1") == state
    clock.set("2027-01-15T14:59:59Z")  # still the 15th in Seoul
    assert_error(api.post("/members/m1/earn", {"order_id": "o3", "amount": 10000}), 422, "LIMIT_EXCEEDED")
    api.member("m2")
    earn(api, "m2", "o1", 10000)  # per member
    clock.set("2027-01-15T15:00:00Z")  # the 16th in Seoul: counting starts again
    again = api.post("/members/m1/earn", {"order_id": "o3", "amount": 10000}, idem="k3")
    assert again.status == 201, again
    earn(api, "m1", "o4", 10000, occurred_at="2027-01-10T00:00:00Z")  # the day of the request counts
    assert_error(api.post("/members/m1/earn", {"order_id": "o5", "amount": 10000}), 422, "LIMIT_EXCEEDED")


def test_the_day_is_the_program_timezones(api, clock):
    clock.set("2027-01-15T14:00:00Z")
    api.program({"timezone": "UTC", "limits": {"max_earns_per_day": 1, "max_earn_points_per_day": None}})
    api.member("m1")
    earn(api, "m1", "o1", 10000)
    clock.set("2027-01-15T15:00:00Z")  # another day in Seoul, the same in UTC
    assert_error(api.post("/members/m1/earn", {"order_id": "o2", "amount": 10000}), 422, "LIMIT_EXCEEDED")
    clock.set("2027-01-16T00:00:00Z")
    earn(api, "m1", "o2", 10000)


def test_earned_points_beyond_max_earn_points_per_day_are_refused(api, clock):
    api.program({**FREQUENT, "limits": {"max_earns_per_day": None, "max_earn_points_per_day": 1500}})
    api.member("m1")
    earn(api, "m1", "o1", 50000)  # 500
    earn(api, "m1", "o2", 50000)  # 500: 1000
    state = snapshot(api, "m1")
    # the third earn of the month: 500 + frequency 1000 = 1500 -> 2500 > 1500
    assert_error(api.post("/members/m1/earn", {"order_id": "o3", "amount": 50000}), 422, "LIMIT_EXCEEDED")
    assert snapshot(api, "m1") == state
    exactly = earn(api, "m1", "o3", 16666)  # 166 + 333 = 499: 1499
    assert exactly["points"] == 499
    # 1 + frequency 2 = 3 more: 1502 > 1500
    assert_error(api.post("/members/m1/earn", {"order_id": "o4", "amount": 100}), 422, "LIMIT_EXCEEDED")
    assert earn(api, "m1", "o4", 50)["points"] == 1  # 0 + 1: 1500


def test_points_limit_is_inclusive(api, clock):
    api.program({"limits": {"max_earns_per_day": None, "max_earn_points_per_day": 1500}})
    api.member("m1")
    earn(api, "m1", "o1", 100000)  # 1000
    assert_error(api.post("/members/m1/earn", {"order_id": "o2", "amount": 50100}), 422, "LIMIT_EXCEEDED")
    earn(api, "m1", "o2", 50000)  # 1500: at the limit
    assert_error(api.post("/members/m1/earn", {"order_id": "o3", "amount": 100}), 422, "LIMIT_EXCEEDED")
    earn(api, "m1", "o3", 99)  # 0 points still fit
    clock.advance(days=1)
    earn(api, "m1", "o4", 150000)


# -- §15 suspension ----------------------------------------------------------
def test_suspension_stops_points_and_coupon_operations_and_is_lifted(api, clock):
    api.post(
        "/coupon-templates",
        {"template_id": "t", "name": "t", "discount": {"type": "amount", "amount": 100}, "points_cost": 10},
        key="admin",
    )
    api.member("m1")
    api.member("m2")
    first = earn(api, "m1", "o1", 100000)
    redeemed = api.post("/members/m1/redeem", {"points": 1000}).json
    coupon = api.post("/members/m1/coupons", {"template_id": "t"}, key="admin").json
    clock.advance(minutes=1)
    response = api.post("/members/m1/suspension", {"reason": "card fraud check"}, key="admin")
    assert response.status == 200, response
    assert response.json["suspension"] == {"reason": "card fraud check", "since": "2027-01-15T03:01:00Z"}
    shown = api.get("/members/m1").json
    assert shown["suspension"] == response.json["suspension"] and shown == response.json
    assert api.get("/members/m2").json["suspension"] is None
    assert_error(api.post("/members/m2/suspension", {"reason": "x"}), 403, "FORBIDDEN")

    state = snapshot(api, "m1", "m2")
    refused = [
        api.post("/members/m1/earn", {"order_id": "o2", "amount": 1000}),
        api.post("/members/m1/activities", {"type": "review", "reference_id": "r1"}),
        api.post("/members/m1/redeem", {"points": 1000}),
        api.post("/members/m1/transfers", {"to_member_id": "m2", "points": 10}),
        api.post("/members/m2/transfers", {"to_member_id": "m1", "points": 10}),
        api.post("/members/m1/coupons", {"template_id": "t"}),
        api.post(f"/coupons/{coupon['code']}/redemption", {"member_id": "m1", "order_id": "x", "order_amount": 100}),
    ]
    for response in refused:
        assert_error(response, 422, "MEMBER_SUSPENDED")
    assert snapshot(api, "m1", "m2") == state
    # reads, adjustments, reversals and jobs go on
    assert api.get("/members/m1/transactions").status == 200
    assert api.get("/members/m1/coupons").status == 200
    assert api.post("/members/m1/adjustments", {"points": 5, "reason": "goodwill"}, key="admin").status == 201
    assert api.post("/members/m1/adjustments", {"points": -5, "reason": "undo"}, key="admin").status == 201
    assert api.post(f"/members/m1/transactions/{redeemed['transaction_id']}/reversal", {}).status == 201
    assert api.post(f"/members/m1/transactions/{first['transaction_id']}/reversal", {"amount": 1}).status == 201
    balance = api.balance("m1")
    assert balance > 0
    clock.advance(days=400)
    local.run_job("expire_points")
    assert api.balance("m1") == 0
    assert history(api, "m1")[0]["type"] == "expire"
    assert api.get("/members/m1").json["suspension"]["reason"] == "card fraud check"
    # suspending again keeps `since`
    clock.advance(minutes=1)
    again = api.post("/members/m1/suspension", {"reason": "still"}, key="admin").json
    assert again["suspension"] == {"reason": "still", "since": "2027-01-15T03:01:00Z"}
    lifted = api.delete("/members/m1/suspension", key="admin")
    assert lifted.status == 200 and lifted.json["suspension"] is None
    assert api.get("/members/m1").json["suspension"] is None
    earn(api, "m1", "o9", 1000)
    assert_error(api.delete("/members/m1/suspension"), 403, "FORBIDDEN")
    assert_error(api.post("/members/ghost/suspension", {"reason": "x"}, key="admin"), 404, "NOT_FOUND")


# -- §15 self-referral ---------------------------------------------------------
@pytest.mark.parametrize(
    "owner, newcomer",
    [
        ({"email": "Kim@Example.com"}, {"email": "kim@example.COM"}),
        ({"phone": "010-1234-5678"}, {"phone": "01012345678"}),
        ({"phone": "010 1234 5678", "email": "a@example.com"}, {"phone": "010-1234-5678", "email": "b@example.com"}),
        ({"email": "a@example.com", "phone": "010-1111-1111"}, {"email": "A@EXAMPLE.com", "phone": "010-2222-2222"}),
    ],
)
def test_self_referral_is_refused_and_nothing_is_created(api, clock, owner, newcomer):
    code = api.member("owner", **owner)["referral_code"]
    state = snapshot(api, "owner")
    for body in (
        {"member_id": "new", "name": "New", **newcomer, "referral_code": code},
        {"name": "New", **newcomer, "referral_code": code},
    ):
        assert_error(api.post("/members", body), 422, "REFERRAL_NOT_ALLOWED")
    assert api.get("/members/new").status == 404
    assert snapshot(api, "owner") == state  # /stats too: no member was created


def test_a_referral_by_someone_else_with_other_contacts_goes_on(api, clock):
    code = api.member("owner", email="a@example.com", phone="010-1111-1111")["referral_code"]
    before = stats(api)
    created = api.post(
        "/members",
        {"member_id": "new", "name": "New", "email": "b@example.com", "phone": "010-2222-2222", "referral_code": code},
    )
    assert created.status == 201, created
    assert stats(api)["members"] == before["members"] + 1

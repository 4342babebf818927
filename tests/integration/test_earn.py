"""Contract §4 earn: breakdown lines, validation, quarters, tiers, lot expiry."""

from __future__ import annotations

from tests.checks import assert_error, earn, history

TIERS = [
    {"name": "basic", "min_spend": 0, "earn_multiplier": "1", "expiry_days": None},
    {"name": "silver", "min_spend": 100000, "earn_multiplier": "1.5", "expiry_days": None},
]


def lines(tx: dict) -> dict:
    """The breakdown as {rule: points}; each rule once, and the lines add up to `points`."""
    rules = [line["rule"] for line in tx["breakdown"]]
    assert len(rules) == len(set(rules)), tx["breakdown"]
    assert sum(line["points"] for line in tx["breakdown"]) == tx["points"], tx
    return {line["rule"]: line["points"] for line in tx["breakdown"]}


def item(sku, category, amount):
    return {"sku": sku, "category": category, "amount": amount}


# -- the transaction ------------------------------------------------------------
def test_earn_returns_an_earn_transaction(demo, clock):
    demo.member("m1")
    tx = earn(demo, "m1", "o1", 12345)
    # outside grand-opening (ended 01-08); 새싹 multiplier 1: floor(12345 * 0.01) = 123
    assert tx["type"] == "earn"
    assert tx["member_id"] == "m1"
    assert tx["order_id"] == "o1"
    assert tx["points"] == 123
    assert tx["balance_after"] == 1123
    assert tx["created_at"] == "2027-01-15T03:00:00Z"
    assert tx["breakdown"] == [{"rule": "base", "points": 123}]
    assert tx["tier"] == "새싹"
    assert tx["storefront"] == "pos-1"
    assert isinstance(tx["transaction_id"], str) and tx["transaction_id"]
    [listed] = [t for t in history(demo, "m1") if t["type"] == "earn"]
    assert listed["transaction_id"] == tx["transaction_id"]
    assert listed["storefront"] == "pos-1"
    assert listed["points"] == 123


def test_storefront_is_the_api_key_name(demo, clock):
    demo.member("m1")
    tx = demo.post("/members/m1/earn", {"order_id": "o1", "amount": 1000}, key="admin")
    assert tx.status == 201, tx
    assert tx.json["storefront"] == "hq"


# -- breakdown lines ------------------------------------------------------------
def test_category_line_is_on_the_summed_amount_of_the_category(demo, clock):
    demo.member("m1")
    tx = earn(
        demo,
        "m1",
        "o1",
        10000,
        items=[item("a", "new-arrivals", 150), item("b", "new-arrivals", 150), item("c", "coffee", 5000)],
    )
    # base floor(10000 * 0.01) = 100; new-arrivals (x2) on 300: floor(300 * 0.01 * 1) = 3
    # (per item it would be floor(1.5) + floor(1.5) = 2); coffee has no multiplier: no line
    assert lines(tx) == {"base": 100, "category:new-arrivals": 3}


def test_one_line_per_category(api, clock):
    api.program({"category_multipliers": {"coffee": "1.5", "bakery": "3"}})
    api.member("m1")
    tx = earn(
        api, "m1", "o1", 20000, items=[item("a", "coffee", 333), item("b", "bakery", 1000), item("c", "coffee", 333)]
    )
    # base 200; coffee 666 * 0.01 * 0.5 = 3.33 -> 3; bakery 1000 * 0.01 * 2 = 20
    assert lines(tx) == {"base": 200, "category:coffee": 3, "category:bakery": 20}
    assert tx["points"] == 223


def test_each_line_is_floored_on_its_own(demo, clock):
    demo.member("m1")
    tx = earn(demo, "m1", "o1", 199, items=[item("a", "new-arrivals", 199)])
    # base floor(1.99) = 1; category floor(1.99) = 1; total 2 (not floor(3.98) = 3)
    assert lines(tx) == {"base": 1, "category:new-arrivals": 1}
    assert tx["points"] == 2


def test_rates_are_exact_decimals(api, clock):
    api.program({"base_rate": "0.29", "category_multipliers": {"tea": "1.57"}})
    api.member("m1")
    tx = earn(api, "m1", "o1", 100, items=[item("t", "tea", 100)])
    # 100 * 0.29 = 29 exactly (binary floats give 28.999...); tea 100 * 0.29 * 0.57 = 16.53 -> 16
    assert lines(tx) == {"base": 29, "category:tea": 16}


def test_whole_purchase_promotion(demo, clock):
    clock.set("2027-01-03T03:00:00Z")
    demo.member("m1")
    tx = earn(demo, "m1", "o1", 12000, items=[item("a", "new-arrivals", 2000)])
    # base 120; new-arrivals 2000 * 0.01 = 20; grand-opening (x2) on all 12000: 120
    assert lines(tx) == {"base": 120, "category:new-arrivals": 20, "promotion:grand-opening": 120}


def test_category_limited_promotion(api, clock):
    api.program(
        {
            "promotions": [
                {
                    "name": "bread-days",
                    "multiplier": "3",
                    "starts_at": "2027-01-01T00:00:00Z",
                    "ends_at": "2027-02-01T00:00:00Z",
                    "categories": ["bakery", "cakes"],
                },
                {
                    "name": "tea-time",
                    "multiplier": "1.5",
                    "starts_at": "2027-01-01T00:00:00Z",
                    "ends_at": "2027-02-01T00:00:00Z",
                    "categories": ["tea"],
                },
            ]
        }
    )
    api.member("m1")
    tx = earn(
        api, "m1", "o1", 6000, items=[item("a", "bakery", 1500), item("b", "coffee", 3000), item("c", "cakes", 555)]
    )
    # base 60; bread-days covers 1500 + 555 = 2055: 2055 * 0.01 * 2 = 41.1 -> 41;
    # tea-time covers nothing: a 0-point line, omitted
    assert lines(tx) == {"base": 60, "promotion:bread-days": 41}


def test_promotion_window_is_half_open(demo, clock):
    # grand-opening: starts_at 2027-01-01T00:00:00Z, ends_at 2027-01-08T00:00:00Z
    demo.member("m1")
    cases = {
        "2026-12-31T23:59:59Z": False,
        "2027-01-01T00:00:00Z": True,
        "2027-01-07T23:59:59Z": True,
        "2027-01-08T00:00:00Z": False,
    }
    for n, (occurred_at, active) in enumerate(cases.items()):
        tx = earn(demo, "m1", f"o{n}", 5000, occurred_at=occurred_at)
        expected = {"base": 50, "promotion:grand-opening": 50} if active else {"base": 50}
        assert lines(tx) == expected, occurred_at


def test_tier_line_uses_the_tier_held_before_the_purchase(demo, clock):
    demo.member("m1")
    crossing = earn(demo, "m1", "o1", 300000)
    # held 새싹 (x1) before: no tier line; 300000 reaches 열매 at once
    assert lines(crossing) == {"base": 3000}
    assert crossing["tier"] == "열매"
    assert demo.get("/members/m1").json["tier"] == "열매"
    after = earn(demo, "m1", "o2", 12345)
    # base floor(123.45) = 123; tier:열매 floor(12345 * 0.01 * 0.2) = floor(24.69) = 24
    assert lines(after) == {"base": 123, "tier:열매": 24}
    assert after["tier"] == "열매"


def test_all_lines_together(demo, clock):
    demo.member("m1")
    earn(demo, "m1", "o1", 600000)  # reaches 나무 (x1.5)
    clock.set("2027-01-20T03:00:00Z")
    tx = earn(demo, "m1", "o2", 10000, occurred_at="2027-01-07T12:00:00Z", items=[item("a", "new-arrivals", 4000)])
    # base 100; new-arrivals 4000 * 0.01 * 1 = 40; grand-opening 10000 * 0.01 * 1 = 100;
    # tier:나무 10000 * 0.01 * 0.5 = 50
    assert lines(tx) == {"base": 100, "category:new-arrivals": 40, "promotion:grand-opening": 100, "tier:나무": 50}
    assert tx["points"] == 290


def test_zero_point_earn_still_answers_201_and_counts_spend(demo, clock):
    demo.member("m1")
    response = demo.post("/members/m1/earn", {"order_id": "o1", "amount": 99})
    assert response.status == 201, response
    # floor(99 * 0.01) = 0: every line is 0 and omitted
    assert response.json["points"] == 0
    assert response.json["breakdown"] == []
    assert response.json["balance_after"] == 1000
    assert [t["type"] for t in history(demo, "m1")] == ["earn", "bonus"]
    assert demo.get("/members/m1").json["quarter_spend"] == 99


def test_duplicate_order_is_409_and_changes_nothing(demo, clock):
    demo.member("m1")
    demo.member("m2")
    earn(demo, "m1", "o1", 10000)
    before = demo.get("/members/m1").json
    response = demo.post("/members/m1/earn", {"order_id": "o1", "amount": 20000})
    assert_error(response, 409, "DUPLICATE_ORDER")
    assert demo.get("/members/m1").json == before
    assert len(history(demo, "m1")) == 2
    # order ids are per member
    earn(demo, "m2", "o1", 10000)


# -- validation -----------------------------------------------------------------
def test_items_summing_over_amount_is_400(demo, clock):
    demo.member("m1")
    before = demo.get("/members/m1").json
    response = demo.post(
        "/members/m1/earn",
        {"order_id": "o1", "amount": 1000, "items": [item("a", "coffee", 600), item("b", "coffee", 401)]},
    )
    assert_error(response, 400, "VALIDATION_ERROR")
    assert demo.get("/members/m1").json == before
    # exactly the amount is fine, and o1 was not used up
    earn(demo, "m1", "o1", 1000, items=[item("a", "coffee", 600), item("b", "coffee", 400)])


def test_invalid_earn_bodies_are_400(demo, clock):
    demo.member("m1")
    before = demo.get("/members/m1").json
    for body in [
        {"amount": 1000},
        {"order_id": "o1"},
        {"order_id": "o1", "amount": 0},
        {"order_id": "o1", "amount": -5},
        {"order_id": "o1", "amount": 10.5},
        {"order_id": "o1", "amount": "1000"},
        {"order_id": "o1", "amount": 10**12 + 1},
        {"order_id": "x" * 201, "amount": 1000},
        {"order_id": "o1", "amount": 1000, "coupon": "FREE"},
        {"order_id": "o1", "amount": 1000, "items": [{"sku": "a", "category": "c"}]},
        {"order_id": "o1", "amount": 1000, "items": [item("a", "c", 0)]},
        {"order_id": "o1", "amount": 1000, "occurred_at": "yesterday"},
        {"order_id": "o1", "amount": 1000, "occurred_at": "2027-01-10T25:00:00Z"},
    ]:
        assert_error(demo.post("/members/m1/earn", body), 400, "VALIDATION_ERROR")
    assert demo.get("/members/m1").json == before
    assert len(history(demo, "m1")) == 1


def test_occurred_at_in_the_future_is_400(demo, clock):
    demo.member("m1")
    response = demo.post("/members/m1/earn", {"order_id": "o1", "amount": 1000, "occurred_at": "2027-01-15T03:00:01Z"})
    assert_error(response, 400, "VALIDATION_ERROR")
    assert demo.balance("m1") == 1000
    earn(demo, "m1", "o1", 1000, occurred_at="2027-01-15T03:00:00Z")  # now itself is fine


def test_occurred_at_over_90_days_back_is_400(demo, clock):
    demo.member("m1")
    # now 2027-01-15T03:00:00Z; 90 days back is 2026-10-17T03:00:00Z
    response = demo.post("/members/m1/earn", {"order_id": "o1", "amount": 1000, "occurred_at": "2026-10-17T02:59:59Z"})
    assert_error(response, 400, "VALIDATION_ERROR")
    assert demo.balance("m1") == 1000
    earn(demo, "m1", "o1", 1000, occurred_at="2026-10-17T03:00:00Z")
    assert demo.balance("m1") == 1010


def test_unknown_member_is_404(demo, clock):
    assert_error(demo.post("/members/ghost/earn", {"order_id": "o1", "amount": 1000}), 404, "NOT_FOUND")


# -- spend, quarters and tiers --------------------------------------------------
def test_spend_goes_to_the_quarter_of_occurred_at_in_seoul(api, clock):
    api.program({"timezone": "Asia/Seoul", "tiers": TIERS})
    clock.set("2027-04-10T00:00:00Z")
    api.member("m1")
    earn(api, "m1", "o1", 40000, occurred_at="2027-03-31T16:00:00Z")  # 04-01 01:00 Seoul: Q2
    earn(api, "m1", "o2", 7000, occurred_at="2027-03-31T14:59:59Z")  # 03-31 23:59:59 Seoul: Q1
    assert api.get("/members/m1").json["quarter_spend"] == 40000


def test_spend_goes_to_the_quarter_of_occurred_at_in_utc(api, clock):
    api.program({"timezone": "UTC", "tiers": TIERS})
    clock.set("2027-04-10T00:00:00Z")
    api.member("m1")
    earn(api, "m1", "o1", 40000, occurred_at="2027-03-31T16:00:00Z")  # Q1 in UTC
    earn(api, "m1", "o2", 7000, occurred_at="2027-04-01T00:00:00Z")  # Q2 in UTC
    assert api.get("/members/m1").json["quarter_spend"] == 7000


def test_crossing_a_threshold_upgrades_at_once(api, clock):
    api.program({"tiers": TIERS})
    api.member("m1")
    below = earn(api, "m1", "o1", 99999)
    assert below["tier"] == "basic"
    crossing = earn(api, "m1", "o2", 1)
    assert crossing["tier"] == "silver"  # 99999 + 1 = 100000
    assert crossing["points"] == 0  # floor(0.01); basic held before: no tier line
    member = api.get("/members/m1").json
    assert member["tier"] == "silver"
    assert member["quarter_spend"] == 100000
    assert member["next_tier"] is None


# -- lot expiry -----------------------------------------------------------------
def test_earned_lot_expires_expiry_days_after_occurred_at(api, clock):
    from chalicelib import local

    api.program({"expiry_days": 30, "signup_bonus": 1000})
    api.member("m1")  # signup lot: 2027-01-15T03:00:00Z + 30 days = 2027-02-14T03:00:00Z
    earn(api, "m1", "o1", 50000, occurred_at="2027-01-10T00:00:00Z")
    # 500 points expiring 2027-01-10T00:00:00Z + 30 days = 2027-02-09T00:00:00Z
    assert api.get("/members/m1").json["expiring"] == [
        {"points": 500, "expires_at": "2027-02-09T00:00:00Z"},
        {"points": 1000, "expires_at": "2027-02-14T03:00:00Z"},
    ]
    clock.set("2027-02-08T23:59:59Z")
    local.run_job("expire_points")
    assert api.balance("m1") == 1500
    clock.set("2027-02-09T00:00:00Z")
    local.run_job("expire_points")
    assert api.balance("m1") == 1000
    expired = [t for t in history(api, "m1") if t["type"] == "expire"]
    assert [t["points"] for t in expired] == [-500]


def test_tier_expiry_override_uses_the_tier_held_before_the_purchase(demo, clock):
    from chalicelib import local

    demo.member("m1")  # 새싹: signup lot expires 2027-01-15T03:00 + 365 d = 2028-01-15T03:00:00Z
    crossing = earn(demo, "m1", "o1", 600000)
    # 새싹 before: 6000 points, 365 days -> 2028-01-15T03:00:00Z; now 나무 (expiry_days 540)
    assert crossing["points"] == 6000
    assert crossing["tier"] == "나무"
    held = earn(demo, "m1", "o2", 10000)
    # 나무 before: base 100 + tier:나무 50 = 150 points, 540 days:
    # 2027-01-15 + 365 d = 2028-01-15, + 175 d (2028 is a leap year) = 2028-07-08
    assert held["points"] == 150
    assert demo.balance("m1") == 7150

    clock.set("2028-01-15T02:59:59Z")
    local.run_job("expire_points")
    assert demo.balance("m1") == 7150
    clock.set("2028-01-15T03:00:00Z")
    local.run_job("expire_points")
    assert demo.balance("m1") == 150  # 7150 - 1000 signup - 6000 from o1
    clock.set("2028-06-10T03:00:00Z")
    assert demo.get("/members/m1").json["expiring"] == [{"points": 150, "expires_at": "2028-07-08T03:00:00Z"}]
    clock.set("2028-07-08T03:00:00Z")
    local.run_job("expire_points")
    assert demo.balance("m1") == 0

"""Contract §4 redeem and activities, §5 rewards, and the order debits take lots in."""

from __future__ import annotations

import re

from tests.checks import assert_error, history

PROGRAM = {
    "point_value": 5,
    "signup_bonus": 1000,
    "redemption": {"min_points": 100},
    "activities": {"review": 100, "survey": 50, "check-in": 0},
}


def all_rewards(api, limit=100):
    """Every reward, following next_cursor; also checks each page's size."""
    rewards, cursor, pages = [], None, 0
    while True:
        path = f"/rewards?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        response = api.get(path)
        assert response.status == 200, response
        assert len(response.json["items"]) <= limit
        rewards.extend(response.json["items"])
        cursor = response.json["next_cursor"]
        pages += 1
        assert pages < 50
        if cursor is None:
            return rewards


def reward_stock(api, reward_id):
    [reward] = [r for r in all_rewards(api) if r["reward_id"] == reward_id]
    return reward["stock"]


def create_reward(api, reward_id, points_cost, stock=None, name=None):
    body = {"reward_id": reward_id, "name": name or reward_id.title(), "points_cost": points_cost}
    if stock is not None:
        body["stock"] = stock
    response = api.post("/rewards", body, key="admin")
    assert response.status == 201, response
    return response.json


# -- cash redemption --------------------------------------------------------------
def test_cash_redeem(api, clock):
    api.program(PROGRAM)
    api.member("m1")
    response = api.post("/members/m1/redeem", {"points": 300, "order_id": "pos-77"})
    assert response.status == 201, response
    tx = response.json
    assert tx["type"] == "redeem"
    assert tx["member_id"] == "m1"
    assert tx["points"] == -300
    assert tx["cash_value"] == 1500  # 300 * point_value 5
    assert tx["balance_after"] == 700
    assert tx["order_id"] == "pos-77"
    assert tx["storefront"] == "pos-1"
    assert "reward" not in tx or tx["reward"] is None
    assert api.balance("m1") == 700
    assert api.get("/members/m1").json["lifetime_points"] == 1000  # a debit leaves it
    [listed, _] = history(api, "m1")
    assert (listed["transaction_id"], listed["type"], listed["points"]) == (tx["transaction_id"], "redeem", -300)


def test_below_minimum_redemption_is_422_for_cash(api, clock):
    api.program(PROGRAM)
    api.member("m1")
    assert_error(api.post("/members/m1/redeem", {"points": 99}), 422, "BELOW_MINIMUM_REDEMPTION")
    assert api.balance("m1") == 1000
    assert api.post("/members/m1/redeem", {"points": 100}).status == 201  # the minimum itself
    assert api.balance("m1") == 900


def test_insufficient_points_is_422(api, clock):
    api.program(PROGRAM)
    api.member("m1")
    assert_error(api.post("/members/m1/redeem", {"points": 1001}), 422, "INSUFFICIENT_POINTS")
    assert api.balance("m1") == 1000
    assert len(history(api, "m1")) == 1
    response = api.post("/members/m1/redeem", {"points": 1000})
    assert response.status == 201, response
    assert response.json["balance_after"] == 0


def test_invalid_redeem_bodies_are_400(api, clock):
    api.program(PROGRAM)
    api.member("m1")
    for body in [
        {},
        {"points": 0},
        {"points": -100},
        {"points": 10**12 + 1},
        {"points": 100.0},
        {"points": "100"},
        {"points": 100, "tip": 1},
    ]:
        assert_error(api.post("/members/m1/redeem", body), 400, "VALIDATION_ERROR")
    assert api.balance("m1") == 1000
    assert_error(api.post("/members/nobody/redeem", {"points": 100}), 404, "NOT_FOUND")


# -- which lots a debit takes -------------------------------------------------------
LOT_PROGRAM = {"base_rate": "1", "signup_bonus": 0, "expiry_days": 100, "redemption": {"min_points": 1}}


def test_debits_take_the_soonest_expiring_lot_first(api, clock):
    from chalicelib import local

    api.program(LOT_PROGRAM)
    api.member("m1")
    # A: 500 points expiring 2027-01-15T03:00 + 100 d = 2027-04-25T03:00:00Z (credited first)
    assert api.post("/members/m1/earn", {"order_id": "a", "amount": 500}).status == 201
    # B: 300 points expiring 2026-12-26T03:00 + 100 d = 2027-04-05T03:00:00Z (credited later)
    assert (
        api.post("/members/m1/earn", {"order_id": "b", "amount": 300, "occurred_at": "2026-12-26T03:00:00Z"}).status
        == 201
    )
    assert api.post("/members/m1/redeem", {"points": 200}).status == 201
    clock.set("2027-04-01T03:00:00Z")  # both lots within 30 days
    assert api.get("/members/m1").json["expiring"] == [
        {"points": 100, "expires_at": "2027-04-05T03:00:00Z"},  # B: 300 - 200
        {"points": 500, "expires_at": "2027-04-25T03:00:00Z"},  # A untouched
    ]
    assert api.post("/members/m1/redeem", {"points": 150}).status == 201
    # B's last 100, then 50 of A
    assert api.get("/members/m1").json["expiring"] == [{"points": 450, "expires_at": "2027-04-25T03:00:00Z"}]
    clock.set("2027-04-05T03:00:00Z")
    local.run_job("expire_points")
    assert api.balance("m1") == 450  # nothing left in B to expire
    assert [t for t in history(api, "m1") if t["type"] == "expire"] == []


def test_expire_points_takes_what_the_debit_left(api, clock):
    from chalicelib import local

    api.program(LOT_PROGRAM)
    api.member("m1")
    api.post("/members/m1/earn", {"order_id": "a", "amount": 500})  # expires 2027-04-25T03:00
    api.post(
        "/members/m1/earn", {"order_id": "b", "amount": 300, "occurred_at": "2026-12-26T03:00:00Z"}
    )  # expires 04-05T03:00
    assert api.post("/members/m1/redeem", {"points": 200}).status == 201
    clock.set("2027-04-05T03:00:00Z")
    local.run_job("expire_points")
    # B held 300 - 200 = 100 (had A been drawn first, 300 would expire here)
    assert api.balance("m1") == 500
    assert [t["points"] for t in history(api, "m1") if t["type"] == "expire"] == [-100]


def test_equal_expiry_takes_the_oldest_lot_first(api, clock):
    api.program(LOT_PROGRAM)
    api.member("m1")
    # X: 500 points credited 2027-01-15, expiring 2027-04-25T03:00:00Z
    assert api.post("/members/m1/earn", {"order_id": "x", "amount": 500}).status == 201
    clock.advance(days=1)
    # Y: 300 points credited a day later for the same moment: the same expiry
    assert (
        api.post("/members/m1/earn", {"order_id": "y", "amount": 300, "occurred_at": "2027-01-15T03:00:00Z"}).status
        == 201
    )
    assert api.post("/members/m1/redeem", {"points": 200}).status == 201
    clock.set("2027-04-10T03:00:00Z")
    expiring = api.get("/members/m1").json["expiring"]
    assert {e["expires_at"] for e in expiring} == {"2027-04-25T03:00:00Z"}
    # oldest first: X 500 - 200 = 300, Y 300 (newest first would leave 500 and 100)
    assert sorted(e["points"] for e in expiring) == [300, 300]


# -- activities -------------------------------------------------------------------
def test_activity_credits_points_from_the_config(api, clock):
    api.program({**PROGRAM, "expiry_days": 20})
    api.member("m1")
    response = api.post("/members/m1/activities", {"type": "review", "reference_id": "rv-1"})
    assert response.status == 201, response
    tx = response.json
    assert (tx["type"], tx["points"], tx["balance_after"], tx["member_id"]) == ("activity", 100, 1100, "m1")
    survey = api.post("/members/m1/activities", {"type": "survey", "reference_id": "rv-1"})
    assert survey.status == 201, survey
    assert survey.json["points"] == 50
    member = api.get("/members/m1").json
    assert member["balance"] == 1150
    assert member["lifetime_points"] == 1150
    # activity lots expire expiry_days after they are made: 2027-01-15T03:00 + 20 d
    # (the signup lot too: one lot per credit, all made at the same instant)
    assert sorted(e["points"] for e in member["expiring"]) == [50, 100, 1000]
    assert {e["expires_at"] for e in member["expiring"]} == {"2027-02-04T03:00:00Z"}


def test_activity_lot_follows_the_tier_expiry_override(demo, clock):
    demo.member("m1")
    assert demo.post("/members/m1/earn", {"order_id": "o1", "amount": 600000}).json["tier"] == "나무"
    review = demo.post("/members/m1/activities", {"type": "review", "reference_id": "r1"})
    assert review.status == 201, review
    # made while holding 나무 (expiry_days 540): 2027-01-15 + 540 d = 2028-07-08 (2028 is leap)
    clock.set("2028-06-10T03:00:00Z")
    assert demo.get("/members/m1").json["expiring"] == [{"points": 100, "expires_at": "2028-07-08T03:00:00Z"}]


def test_zero_point_activity_answers_201(api, clock):
    api.program(PROGRAM)
    api.member("m1")
    response = api.post("/members/m1/activities", {"type": "check-in", "reference_id": "d1"})
    assert response.status == 201, response
    assert (response.json["type"], response.json["points"]) == ("activity", 0)
    assert api.balance("m1") == 1000


def test_unknown_activity_type_is_400(api, clock):
    api.program(PROGRAM)
    api.member("m1")
    response = api.post("/members/m1/activities", {"type": "tweet", "reference_id": "t1"})
    assert_error(response, 400, "VALIDATION_ERROR")
    assert api.balance("m1") == 1000
    assert len(history(api, "m1")) == 1


def test_duplicate_activity_is_409_per_type_and_reference(api, clock):
    api.program(PROGRAM)
    api.member("m1")
    api.member("m2")
    assert api.post("/members/m1/activities", {"type": "review", "reference_id": "r1"}).status == 201
    response = api.post("/members/m1/activities", {"type": "review", "reference_id": "r1"})
    assert_error(response, 409, "DUPLICATE_ACTIVITY")
    assert api.balance("m1") == 1100
    # another type, another reference, or another member is a new activity
    assert api.post("/members/m1/activities", {"type": "survey", "reference_id": "r1"}).status == 201
    assert api.post("/members/m1/activities", {"type": "review", "reference_id": "r2"}).status == 201
    assert api.post("/members/m2/activities", {"type": "review", "reference_id": "r1"}).status == 201
    assert api.balance("m1") == 1250  # 1000 + 100 + 50 + 100
    assert api.balance("m2") == 1100


# -- rewards catalogue ------------------------------------------------------------
def test_create_reward_is_admin_only(api):
    body = {"reward_id": "mug", "name": "Mug", "points_cost": 500, "stock": 3}
    assert_error(api.post("/rewards", body, key="storefront"), 403, "FORBIDDEN")
    assert all_rewards(api) == []
    response = api.post("/rewards", body, key="admin")
    assert response.status == 201, response
    assert {k: response.json[k] for k in body} == body


def test_existing_reward_id_is_409(api):
    create_reward(api, "mug", 500, stock=3, name="Mug")
    response = api.post("/rewards", {"reward_id": "mug", "name": "Other", "points_cost": 1}, key="admin")
    assert_error(response, 409, "REWARD_EXISTS")
    [reward] = all_rewards(api)
    assert (reward["name"], reward["points_cost"], reward["stock"]) == ("Mug", 500, 3)


def test_invalid_rewards_are_400(api):
    for body in [
        {"name": "Mug", "points_cost": 500},
        {"reward_id": "mug", "points_cost": 500},
        {"reward_id": "mug", "name": "Mug"},
        {"reward_id": "mug", "name": "Mug", "points_cost": 0},
        {"reward_id": "mug", "name": "Mug", "points_cost": -5},
        {"reward_id": "mug", "name": "Mug", "points_cost": 500, "stock": -1},
        {"reward_id": "mug", "name": "Mug", "points_cost": "500"},
        {"reward_id": "mug", "name": "Mug", "points_cost": 500, "colour": "red"},
    ]:
        assert_error(api.post("/rewards", body, key="admin"), 400, "VALIDATION_ERROR")
    assert all_rewards(api) == []


def test_rewards_page_with_limit_and_cursor(api):
    for n in range(5):
        create_reward(api, f"r{n}", 100 * (n + 1), stock=n or None)
    first = api.get("/rewards?limit=2")
    assert first.status == 200, first
    assert len(first.json["items"]) == 2
    assert isinstance(first.json["next_cursor"], str)
    listed = all_rewards(api, limit=2)
    assert sorted(r["reward_id"] for r in listed) == ["r0", "r1", "r2", "r3", "r4"]
    by_id = {r["reward_id"]: r for r in listed}
    assert by_id["r3"]["points_cost"] == 400
    assert by_id["r3"]["stock"] == 3
    assert by_id["r0"]["stock"] is None
    default = api.get("/rewards")
    assert default.status == 200 and len(default.json["items"]) == 5
    assert default.json["next_cursor"] is None
    for bad in ["0", "101", "-1", "ten"]:
        assert_error(api.get(f"/rewards?limit={bad}"), 400, "VALIDATION_ERROR")
    assert_error(api.get("/rewards?cursor=not-a-cursor"), 400, "VALIDATION_ERROR")


# -- redeeming rewards --------------------------------------------------------------
def test_redeem_a_reward(api, clock):
    api.program(PROGRAM)
    api.member("m1")
    create_reward(api, "mug", 300, stock=2, name="Dangol Mug")
    response = api.post("/members/m1/redeem", {"reward_id": "mug"})
    assert response.status == 201, response
    tx = response.json
    assert tx["type"] == "redeem"
    assert tx["points"] == -300
    assert tx["balance_after"] == 700
    assert tx["cash_value"] == 1500  # 300 * point_value 5
    assert tx["reward"]["reward_id"] == "mug"
    assert tx["reward"]["name"] == "Dangol Mug"
    assert isinstance(tx["reward"]["code"], str) and tx["reward"]["code"]
    assert reward_stock(api, "mug") == 1


def test_reward_points_must_equal_points_cost(api, clock):
    api.program(PROGRAM)
    api.member("m1")
    create_reward(api, "mug", 300, stock=5)
    for points in [299, 301, 1000]:
        response = api.post("/members/m1/redeem", {"reward_id": "mug", "points": points})
        assert_error(response, 400, "VALIDATION_ERROR")
    assert api.balance("m1") == 1000
    assert reward_stock(api, "mug") == 5
    response = api.post("/members/m1/redeem", {"reward_id": "mug", "points": 300})
    assert response.status == 201, response
    assert api.balance("m1") == 700
    assert reward_stock(api, "mug") == 4


def test_min_points_does_not_apply_to_rewards(api, clock):
    api.program(PROGRAM)  # min_points 100
    api.member("m1")
    create_reward(api, "sticker", 30)
    response = api.post("/members/m1/redeem", {"reward_id": "sticker"})
    assert response.status == 201, response
    assert response.json["points"] == -30
    assert response.json["cash_value"] == 150
    again = api.post("/members/m1/redeem", {"reward_id": "sticker", "points": 30})
    assert again.status == 201, again
    assert api.balance("m1") == 940


def test_stock_runs_out(api, clock):
    api.program(PROGRAM)
    api.member("m1")
    create_reward(api, "mug", 300, stock=2)
    codes = []
    for expected_stock in [1, 0]:
        response = api.post("/members/m1/redeem", {"reward_id": "mug"})
        assert response.status == 201, response
        codes.append(response.json["reward"]["code"])
        assert reward_stock(api, "mug") == expected_stock
    assert codes[0] != codes[1]
    assert_error(api.post("/members/m1/redeem", {"reward_id": "mug"}), 422, "OUT_OF_STOCK")
    assert api.balance("m1") == 400  # 1000 - 2 * 300; the refused one took nothing
    assert reward_stock(api, "mug") == 0
    assert len([t for t in history(api, "m1") if t["type"] == "redeem"]) == 2


def test_reward_created_with_zero_stock_is_sold_out(api, clock):
    api.program(PROGRAM)
    api.member("m1")
    create_reward(api, "gone", 100, stock=0)
    assert_error(api.post("/members/m1/redeem", {"reward_id": "gone"}), 422, "OUT_OF_STOCK")
    assert api.balance("m1") == 1000


def test_null_stock_is_unlimited(api, clock):
    api.program(PROGRAM)
    api.member("m1")
    create_reward(api, "coffee", 100)
    for _ in range(4):
        assert api.post("/members/m1/redeem", {"reward_id": "coffee"}).status == 201
    assert api.balance("m1") == 600
    assert reward_stock(api, "coffee") is None


def test_refused_reward_redemption_keeps_the_stock(api, clock):
    api.program(PROGRAM)
    api.member("m1")
    create_reward(api, "bike", 5000, stock=1)
    assert_error(api.post("/members/m1/redeem", {"reward_id": "bike"}), 422, "INSUFFICIENT_POINTS")
    assert reward_stock(api, "bike") == 1
    assert api.balance("m1") == 1000


def test_voucher_codes_are_unique_across_redemptions(api, clock):
    api.program({**PROGRAM, "signup_bonus": 10000})
    api.member("m1")
    api.member("m2")
    create_reward(api, "coffee", 100)
    create_reward(api, "cake", 200, stock=10)
    codes = []
    for member_id in ["m1", "m2"]:
        for reward_id in ["coffee", "cake", "coffee", "cake"]:
            response = api.post(f"/members/{member_id}/redeem", {"reward_id": reward_id})
            assert response.status == 201, response
            assert response.json["reward"]["reward_id"] == reward_id
            codes.append(response.json["reward"]["code"])
    assert len(set(codes)) == 8
    assert all(isinstance(c, str) and re.fullmatch(r"\S+", c) for c in codes)


def test_unknown_reward_is_404(api, clock):
    api.program(PROGRAM)
    api.member("m1")
    assert_error(api.post("/members/m1/redeem", {"reward_id": "unicorn"}), 404, "NOT_FOUND")
    assert_error(api.post("/members/m1/redeem", {"reward_id": "unicorn", "points": 100}), 404, "NOT_FOUND")
    assert api.balance("m1") == 1000

"""Contract review: sentences of §1–§5 and §8 checked against edge inputs.

Each test derives its expected values from the contract by hand.
"""

from __future__ import annotations

import base64
import json

from tests.checks import assert_error, history, stats


def lines(tx: dict) -> dict:
    return {line["rule"]: line["points"] for line in tx["breakdown"]}


def cursor_of(key: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


# -- §1 "Rates and multipliers are decimal strings and are computed exactly" -------------
def test_long_decimal_rates_are_computed_exactly(api, clock):
    # base_rate is 1/30 written to 30 significant digits (32 characters).
    api.program({"signup_bonus": 0, "base_rate": "0.033333333333333333333333333333"})
    api.member("m1")
    earned = api.post("/members/m1/earn", {"order_id": "o1", "amount": 12000})
    assert earned.status == 201, earned
    # base: 12000 × 0.033333333333333333333333333333 = 399.999999999999999999999999996
    # exactly → floor 399 (rounding the product to 28 digits first gives 400.0 → 400)
    assert lines(earned.json) == {"base": 399}
    assert earned.json["points"] == 399
    assert api.balance("m1") == 399

    # m − 1 must be exact too: 1.99999999999999999999999999999 − 1 = 0.99999999999999999999999999999
    api.program({"signup_bonus": 0, "category_multipliers": {"tea": "1.99999999999999999999999999999"}})
    api.member("m2")
    tea = api.post(
        "/members/m2/earn", {"order_id": "o1", "amount": 100, "items": [{"sku": "t", "category": "tea", "amount": 100}]}
    )
    assert tea.status == 201, tea
    # base: 100 × 0.01 = 1; category:tea: 100 × 0.01 × 0.99999999999999999999999999999
    # = 0.99999999999999999999999999999 → floor 0 → the line is omitted
    assert lines(tea.json) == {"base": 1}
    assert tea.json["points"] == 1


# -- §4 earn: every breakdown line floored on its own; "→ 201 transaction" ----------------
def test_earn_whose_lines_sum_below_zero_is_not_a_server_error(api, clock):
    # "gift-card": "0" — gift cards earn nothing (a multiplier below 1 is not invalid per §2)
    api.program({"signup_bonus": 1000, "category_multipliers": {"gift-card": "0"}})
    api.member("m1")
    earned = api.post(
        "/members/m1/earn",
        {"order_id": "o1", "amount": 150, "items": [{"sku": "g", "category": "gift-card", "amount": 150}]},
    )
    assert earned.status == 201, earned
    # base: floor(150 × 0.01 = 1.5) = 1; category:gift-card: floor(150 × 0.01 × (0 − 1) = −1.5) = −2;
    # the lines come to −1, and an earn never debits: a `minimum` line of +1 brings it to 0
    assert lines(earned.json) == {"base": 1, "category:gift-card": -2, "minimum": 1}
    assert earned.json["points"] == 0
    assert api.balance("m1") == 1000
    assert [tx["points"] for tx in history(api, "m1")] == [0, 1000]
    s = stats(api)
    assert s["points_outstanding"] == api.balance("m1"), s


# -- §1 "malformed JSON ... → 400 VALIDATION_ERROR" ------------------------------------
def test_deeply_nested_json_body_is_400(api, clock):
    api.member("m1")
    for raw in ("[" * 100_000, "[" * 100_000 + "]" * 100_000):
        response = api.post("/members/m1/earn", None, raw=raw)
        assert_error(response, 400, "VALIDATION_ERROR")
    assert api.balance("m1") == 1000  # signup bonus only: nothing changed


# -- §1 "Auth: Missing key → 401 ... These carry the error shape" ---------------------
def test_auth_and_error_shape_do_not_depend_on_the_content_type(api, clock):
    api.member("m1")
    body = {"order_id": "o1", "amount": 1000}
    form = {"Content-Type": "application/x-www-form-urlencoded"}  # curl -d's default
    missing = api.post("/members/m1/earn", body, key=None, headers=form)
    assert_error(missing, 401, "UNAUTHORIZED")
    keyed = api.post("/members/m1/earn", body, headers={"Content-Type": "text/plain"})
    # the body is valid JSON: either it is accepted, or refused with the contract's error shape
    if keyed.status != 201:
        assert_error(keyed, 400, "VALIDATION_ERROR")


# -- §1 "Lists page with ?limit= (1–100, default 20)" ------------------------------------
def test_limit_that_is_not_an_ascii_integer_is_400(api, clock):
    api.member("m1")
    for path in ("/members/m1/transactions", "/rewards"):
        # "²" (superscript two) is a Unicode digit but not an integer
        assert_error(api.get(f"{path}?limit=%C2%B2"), 400, "VALIDATION_ERROR")
    assert_error(api.get("/members/m1/notifications?limit=%C2%B2", key="admin"), 400, "VALIDATION_ERROR")


# -- §1 bad cursor → 400 -----------------------------------------------------------------
def test_forged_rewards_cursor_is_400(api, clock):
    for n in range(3):
        created = api.post("/rewards", {"reward_id": f"r{n}", "name": f"R{n}", "points_cost": 10}, key="admin")
        assert created.status == 201, created
    # neither is a cursor the service hands out; DynamoDB refuses both as ExclusiveStartKey
    for key in ({"pk": "REWARD"}, {"pk": "REWARD", "sk": ""}):
        assert_error(api.get(f"/rewards?limit=1&cursor={cursor_of(key)}"), 400, "VALIDATION_ERROR")


# -- §1 strings up to 200 characters are valid -------------------------------------------
def test_activity_type_and_reference_of_200_characters_are_accepted(api, clock):
    review = "리뷰" * 100  # 200 characters
    reference = "주문" * 100  # 200 characters
    api.program({"signup_bonus": 0, "activities": {review: 100}})
    api.member("m1")
    first = api.post("/members/m1/activities", {"type": review, "reference_id": reference})
    assert first.status == 201, first
    assert first.json["points"] == 100
    again = api.post("/members/m1/activities", {"type": review, "reference_id": reference})
    assert_error(again, 409, "DUPLICATE_ACTIVITY")
    assert api.balance("m1") == 100


def test_reward_id_is_any_string_up_to_200_characters(api, clock):
    api.program({"signup_bonus": 1000})
    api.member("m1")
    created = api.post(
        "/rewards", {"reward_id": "아메리카노 무료", "name": "Free americano", "points_cost": 500}, key="admin"
    )
    assert created.status == 201, created
    redeemed = api.post("/members/m1/redeem", {"reward_id": "아메리카노 무료"})
    assert redeemed.status == 201, redeemed
    assert redeemed.json["points"] == -500
    assert api.balance("m1") == 500  # 1000 − 500


# -- §2 "Invalid configuration (unsorted tiers, negative numbers, bad dates, ...)" -------
def test_zero_transfer_minimum_is_a_valid_configuration(api, clock):
    # 0 is not negative: "no minimum" is a valid configuration
    response = api.put("/program", {"transfer": {"allowed_tiers": ["basic"], "min_points": 0}}, key="admin")
    assert response.status == 200, response
    assert response.json["transfer"] == {"allowed_tiers": ["basic"], "min_points": 0}


# -- §6/§8 a member's tier is a configured tier; members_by_tier counts every member --------
def test_renamed_tier_is_the_members_tier_and_is_counted(api, clock):
    api.member("m1")  # default program: the single tier "basic"
    api.program({"tiers": [{"name": "bronze", "min_spend": 0}]})
    # the change of the ladder queues one pass over every member
    from chalicelib import local

    local.drain_queues()
    # the highest tier whose min_spend (0) <= max(0, 0) is now "bronze"
    member = api.get("/members/m1").json
    assert member["tier"] == "bronze", member
    s = stats(api)
    assert s["members"] == 1
    assert s["members_by_tier"] == {"bronze": 1}, s


# -- §2/§4 a bonus credited on the first earn is credited while holding the new tier ------
def test_referral_bonus_lot_follows_the_tier_held_after_the_purchase(api, clock):
    api.program(
        {
            "signup_bonus": 0,
            "expiry_days": 365,
            "referral": {"referrer_points": 300, "referee_points": 200},
            "tiers": [{"name": "basic", "min_spend": 0}, {"name": "gold", "min_spend": 100000, "expiry_days": 730}],
        }
    )
    code = api.member("ref")["referral_code"]
    api.member("new", referral_code=code)
    earned = api.post("/members/new/earn", {"order_id": "o1", "amount": 100000})
    assert earned.status == 201, earned
    assert earned.json["tier"] == "gold"
    # earn lot: 100000 × 0.01 = 1000, basic held before the purchase → 2027-01-15 + 365 d
    # = 2028-01-15T03:00:00Z; referee bonus 200 made while holding gold → + 730 d
    # = 2029-01-14T03:00:00Z (2028 is a leap year); referrer (basic) 300 → 2028-01-15T03:00:00Z
    from chalicelib import local

    clock.set("2028-01-15T03:00:00Z")
    local.run_job("expire_points")
    assert api.balance("new") == 200
    assert api.balance("ref") == 0
    clock.set("2029-01-14T02:59:59Z")
    local.run_job("expire_points")
    assert api.balance("new") == 200
    clock.set("2029-01-14T03:00:00Z")
    local.run_job("expire_points")
    assert api.balance("new") == 0


# -- §9 create_resources() is idempotent ---------------------------------------------
def test_create_resources_again_keeps_everything(api, clock):
    from chalicelib import local

    api.member("m1")
    local.create_resources()
    local.create_resources()
    earned = api.post("/members/m1/earn", {"order_id": "o1", "amount": 10000})
    assert earned.status == 201, earned
    assert api.balance("m1") == 1100  # 1000 signup + 10000 × 0.01
    assert [t["type"] for t in history(api, "m1")] == ["earn", "bonus"]

"""Contract §2: GET/PUT /program, defaults, validation, admin only."""

from __future__ import annotations

import copy
import json

from tests.checks import CONTRACT_DEFAULTS as DEFAULTS
from tests.checks import assert_error
from tests.conftest import DEMO_PROGRAM as DEMO_INPUT

# the demo program as stored: with the defaults of the fields it leaves out
DEMO_PROGRAM = {
    "phone_region": DEFAULTS["phone_region"],
    **{
        k: DEFAULTS[k]
        for k in ("frequency_bonus", "dormancy", "limits", "auto_coupons", "recommendation_bonus", "pending_days")
    },
    **DEMO_INPUT,
}

TIERS = [
    {"name": "bronze", "min_spend": 0, "earn_multiplier": "1", "expiry_days": None},
    {"name": "silver", "min_spend": 100000, "earn_multiplier": "1.5", "expiry_days": 400},
    {"name": "gold", "min_spend": 300000, "earn_multiplier": "2", "expiry_days": None},
]

PROMOTION = {
    "name": "double-week",
    "multiplier": "2",
    "starts_at": "2027-03-01T00:00:00Z",
    "ends_at": "2027-03-08T00:00:00Z",
    "categories": None,
}


def with_changes(base: dict, **changes) -> dict:
    config = copy.deepcopy(base)
    config.update(copy.deepcopy(changes))
    return config


def promotion(**changes) -> dict:
    return {**PROMOTION, **changes}


def tier(name, min_spend, **changes) -> dict:
    return {"name": name, "min_spend": min_spend, "earn_multiplier": "1", "expiry_days": None, **changes}


# Each is invalid on its own; every other field is valid.
INVALID = {
    # tiers
    "unsorted tiers": {"tiers": [TIERS[0], TIERS[2], TIERS[1]]},
    "unsorted later tiers": {"tiers": [tier("a", 0), tier("b", 500), tier("c", 100)]},
    "first tier min_spend not 0": {"tiers": [tier("a", 5000), tier("b", 10000)]},
    "single tier min_spend not 0": {"tiers": [tier("a", 1)]},
    "negative tier min_spend": {"tiers": [tier("a", 0), tier("b", -100)]},
    "negative tier earn_multiplier": {"tiers": [tier("a", 0, earn_multiplier="-1")]},
    "negative tier expiry_days": {"tiers": [tier("a", 0, expiry_days=-30)]},
    "unknown tier field": {"tiers": [tier("a", 0, colour="green")]},
    "float tier earn_multiplier": {"tiers": [tier("a", 0, earn_multiplier=1.5)]},
    # negative numbers
    "negative point_value": {"point_value": -1},
    "negative base_rate": {"base_rate": "-0.01"},
    "negative signup_bonus": {"signup_bonus": -1000},
    "negative referrer_points": {"referral": {"referrer_points": -1, "referee_points": 1000}},
    "negative referee_points": {"referral": {"referrer_points": 1000, "referee_points": -5}},
    "negative birthday_bonus": {"birthday_bonus": -1},
    "negative activity points": {"activities": {"review": -100}},
    "negative expiry_days": {"expiry_days": -365},
    "negative expiry_warning_days": {"expiry_warning_days": -7},
    "unknown phone_region": {"phone_region": "XX"},
    "phone_region not a string": {"phone_region": 82},
    "negative redemption min_points": {"redemption": {"min_points": -1}},
    "negative transfer min_points": {"transfer": {"allowed_tiers": [], "min_points": -1}},
    "negative category multiplier": {"category_multipliers": {"coffee": "-2"}},
    "negative promotion multiplier": {"promotions": [promotion(multiplier="-2")]},
    # out of range / wrong types
    "signup_bonus over 10^12": {"signup_bonus": 10**12 + 1},
    "signup_bonus as a string": {"signup_bonus": "1000"},
    "expiry_days as a float": {"expiry_days": 365.5},
    "base_rate not a decimal": {"base_rate": "one percent"},
    "tiers not a list": {"tiers": {"name": "a", "min_spend": 0}},
    # float rates instead of decimal strings
    "float base_rate": {"base_rate": 0.01},
    "float category multiplier": {"category_multipliers": {"coffee": 1.5}},
    "float promotion multiplier": {"promotions": [promotion(multiplier=2.0)]},
    # dates
    "promotion starts_at not a date": {"promotions": [promotion(starts_at="next monday")]},
    "promotion starts_at impossible day": {"promotions": [promotion(starts_at="2027-02-30T00:00:00Z")]},
    "promotion ends_at impossible hour": {"promotions": [promotion(ends_at="2027-03-08T25:00:00Z")]},
    "promotion ends_at == starts_at": {"promotions": [promotion(ends_at=PROMOTION["starts_at"])]},
    "promotion ends_at < starts_at": {"promotions": [promotion(ends_at="2027-02-28T23:59:59Z")]},
    "promotion missing ends_at": {"promotions": [{k: v for k, v in PROMOTION.items() if k != "ends_at"}]},
    # timezone
    "unknown timezone": {"timezone": "Mars/Olympus_Mons"},
    "empty timezone": {"timezone": ""},
    # unknown fields
    "unknown top-level field": {"colour": "red"},
    "unknown referral field": {"referral": {"referrer_points": 1, "referee_points": 1, "bonus": 5}},
    "unknown promotion field": {"promotions": [promotion(priority=1)]},
}


def test_get_returns_the_defaults_before_any_put(api):
    response = api.get("/program", key="admin")
    assert response.status == 200, response
    assert response.json == DEFAULTS


def test_put_empty_body_stores_the_defaults(api):
    response = api.put("/program", {}, key="admin")
    assert response.status == 200, response
    assert response.json == DEFAULTS
    assert api.get("/program", key="admin").json == DEFAULTS


def test_put_full_configuration_is_stored_as_given(api):
    response = api.put("/program", DEMO_PROGRAM, key="admin")
    assert response.status == 200, response
    assert response.json == DEMO_PROGRAM
    assert api.get("/program", key="admin").json == DEMO_PROGRAM


def test_put_partial_configuration_fills_defaults(api):
    partial = {
        "currency": "USD",
        "timezone": "America/New_York",
        "base_rate": "0.05",
        "tiers": TIERS,
        "promotions": [PROMOTION],
    }
    response = api.put("/program", partial, key="admin")
    assert response.status == 200, response
    expected = with_changes(DEFAULTS, **partial)
    assert response.json == expected
    assert api.get("/program", key="admin").json == expected


def test_put_replaces_rather_than_merges(api):
    api.program(DEMO_PROGRAM)
    response = api.put("/program", {"signup_bonus": 7}, key="admin")
    assert response.status == 200, response
    # everything the demo set and this PUT omits returns to the defaults
    expected = with_changes(DEFAULTS, signup_bonus=7)
    assert response.json == expected
    assert api.get("/program", key="admin").json == expected


def test_invalid_configurations_are_400_and_the_old_one_stays(api):
    api.program(DEMO_PROGRAM)
    accepted = {}
    for name, changes in INVALID.items():
        config = with_changes(DEMO_PROGRAM, **changes)
        response = api.put("/program", config, key="admin")
        body = response.json or {}
        if (
            response.status != 400
            or body.get("error", {}).get("code") != "VALIDATION_ERROR"
            or not body["error"].get("message")
        ):
            accepted[name] = (response.status, body)
    assert accepted == {}
    assert api.get("/program", key="admin").json == DEMO_PROGRAM


def test_invalid_configuration_does_not_change_behaviour(api, clock):
    api.program(DEMO_PROGRAM)
    bad = with_changes(DEMO_PROGRAM, signup_bonus=5, tiers=[tier("a", 10)])
    assert_error(api.put("/program", bad, key="admin"), 400, "VALIDATION_ERROR")
    member = api.member("m1")
    assert member["balance"] == 1000  # the demo's signup bonus, not 5
    assert member["tier"] == "새싹"


def test_malformed_json_is_400_and_the_old_one_stays(api):
    api.program(DEMO_PROGRAM)
    for raw in ["{", "[]", "null", json.dumps("text")]:
        response = api.put("/program", None, key="admin", raw=raw)
        assert_error(response, 400, "VALIDATION_ERROR")
    assert api.get("/program", key="admin").json == DEMO_PROGRAM


def test_program_routes_are_admin_only(api):
    api.program(DEMO_PROGRAM)
    assert_error(api.get("/program", key="storefront"), 403, "FORBIDDEN")
    assert_error(api.put("/program", {"signup_bonus": 1}, key="storefront"), 403, "FORBIDDEN")
    assert_error(api.get("/program", key=None), 401, "UNAUTHORIZED")
    assert_error(api.put("/program", {"signup_bonus": 1}, key=None), 401, "UNAUTHORIZED")
    assert api.get("/program", key="admin").json == DEMO_PROGRAM


def test_program_takes_effect_for_later_requests(api, clock):
    api.program({"signup_bonus": 250, "base_rate": "0.1"})
    api.member("m1")
    earned = api.post("/members/m1/earn", {"order_id": "o1", "amount": 1234})
    assert earned.status == 201, earned
    # 250 + floor(1234 * 0.1) = 250 + 123
    assert api.balance("m1") == 373

"""Assertions, requests and reads shared by the tests (requests through the `Api` wrapper)."""

from __future__ import annotations

# Contract §2: the program configuration's defaults, exactly as the contract writes them.
CONTRACT_DEFAULTS = {
    "currency": "KRW",
    "timezone": "Asia/Seoul",
    "phone_region": "KR",
    "point_value": 1,
    "base_rate": "0.01",
    "category_multipliers": {},
    "promotions": [],
    "signup_bonus": 1000,
    "referral": {"referrer_points": 1000, "referee_points": 1000},
    "birthday_bonus": 0,
    "activities": {"review": 100},
    "expiry_days": 365,
    "expiry_warning_days": 7,
    "redemption": {"min_points": 1000},
    "transfer": {"allowed_tiers": [], "min_points": 1},
    "tiers": [{"name": "basic", "min_spend": 0, "earn_multiplier": "1", "expiry_days": None}],
    # v2 (§2)
    "frequency_bonus": None,
    "dormancy": None,
    "limits": {"max_earns_per_day": None, "max_earn_points_per_day": None},
    "auto_coupons": {"signup": None, "birthday": None, "tier_up": {}, "win_back": None},
    # v3 (§2)
    "recommendation_bonus": None,
    "pending_days": 0,
}


def earn(api, member_id: str, order_id: str, amount: int, **fields) -> dict:
    """A purchase that must earn (201); returns the transaction."""
    response = api.post(f"/members/{member_id}/earn", {"order_id": order_id, "amount": amount, **fields})
    assert response.status == 201, response
    return response.json


def redeem(api, member_id: str, points: int, **fields) -> dict:
    """A redemption that must succeed (201); returns the transaction."""
    response = api.post(f"/members/{member_id}/redeem", {"points": points, **fields})
    assert response.status == 201, response
    return response.json


def assert_error(response, status: int, code: str) -> None:
    """The contract's error shape: {"error": {"code", "message"}} with this status and code."""
    assert response.status == status, response
    body = response.json
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), response
    assert body["error"]["code"] == code, response
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], response


def history(api, member_id: str) -> list[dict]:
    """Every transaction of the member, newest first, following the cursor."""
    items: list[dict] = []
    cursor = None
    while True:
        path = f"/members/{member_id}/transactions?limit=100"
        response = api.get(path + (f"&cursor={cursor}" if cursor else ""))
        assert response.status == 200, response
        items.extend(response.json["items"])
        cursor = response.json["next_cursor"]
        if not cursor:
            return items


def stats(api) -> dict:
    response = api.get("/stats", key="admin")
    assert response.status == 200, response
    return response.json


def snapshot(api, *member_ids: str) -> dict:
    """Everything a replay or a rejected request must leave untouched."""
    state = {
        "stats": stats(api),
        "rewards": api.get("/rewards?limit=100").json,
        "program": api.get("/program", key="admin").json,
    }
    for member_id in member_ids:
        member = api.get(f"/members/{member_id}")
        found = member.status == 200
        state[member_id] = (
            member.status,
            member.json,
            history(api, member_id) if found else None,
            api.get(f"/members/{member_id}/notifications?limit=100", key="admin").json if found else None,
        )
    return state

"""Contract §1: API-key auth, the error shape, and Idempotency-Key semantics."""

from __future__ import annotations

import json

import pytest

from tests.checks import assert_error, snapshot, stats

PROGRAM = {
    "signup_bonus": 1000,
    "activities": {"review": 100},
    "redemption": {"min_points": 1},
    "transfer": {"allowed_tiers": ["basic"], "min_points": 1},
}


def assert_auth_rejected(response):
    """Unknown or revoked key: 401 UNAUTHORIZED or 403 FORBIDDEN, with the error shape."""
    assert response.status in (401, 403), response
    assert_error(response, response.status, "UNAUTHORIZED" if response.status == 401 else "FORBIDDEN")


@pytest.fixture
def world(api, clock):
    """m1 (1000 signup + 100 earned), m2, a reward and an earn to reverse."""
    api.program(PROGRAM)
    api.member("m1")
    api.member("m2")
    earned = api.post("/members/m1/earn", {"order_id": "o1", "amount": 10000})
    assert earned.status == 201, earned
    reward = api.post("/rewards", {"reward_id": "mug", "name": "Mug", "points_cost": 10}, key="admin")
    assert reward.status == 201, reward
    return {"tx": earned.json["transaction_id"]}


def routes(world):
    """(method, path, body, role) for every route; DELETE last so the others still find m2."""
    tx = world["tx"]
    return [
        ("GET", "/program", None, "admin"),
        ("PUT", "/program", PROGRAM, "admin"),
        ("GET", "/stats", None, "admin"),
        ("POST", "/rewards", {"reward_id": "cap", "name": "Cap", "points_cost": 20}, "admin"),
        ("POST", "/members/m1/adjustments", {"points": 5, "reason": "goodwill"}, "admin"),
        ("GET", "/members/m1/notifications", None, "admin"),
        ("POST", "/members", {"member_id": "m9", "name": "Nine"}, "storefront"),
        ("GET", "/members/m1", None, "storefront"),
        ("POST", "/members/m1/earn", {"order_id": "o2", "amount": 5000}, "storefront"),
        ("POST", "/members/m1/activities", {"type": "review", "reference_id": "rv1"}, "storefront"),
        ("POST", "/members/m1/redeem", {"points": 10}, "storefront"),
        ("POST", f"/members/m1/transactions/{tx}/reversal", {}, "storefront"),
        ("POST", "/members/m1/transfers", {"to_member_id": "m2", "points": 10}, "storefront"),
        ("GET", "/members/m1/transactions", None, "storefront"),
        ("GET", "/rewards", None, "storefront"),
        ("DELETE", "/members/m2", None, "admin"),
    ]


IDEMPOTENT_POSTS = [
    # every POST that changes points or members
    "/members",
    "/earn",
    "/activities",
    "/redeem",
    "/reversal",
    "/transfers",
    "/adjustments",
]


# -- auth ---------------------------------------------------------------------
def test_missing_key_is_401_unauthorized_on_every_route(api, world):
    before = snapshot(api, "m1", "m2", "m9")
    for method, path, body, _ in routes(world):
        response = api.call(method, path, body, key=None)
        assert_error(response, 401, "UNAUTHORIZED")
    assert snapshot(api, "m1", "m2", "m9") == before


def test_unknown_key_is_rejected_on_every_route(api, world):
    before = snapshot(api, "m1", "m2", "m9")
    for method, path, body, _ in routes(world):
        assert_auth_rejected(api.call(method, path, body, key="dgl_this-key-was-never-issued"))
    assert snapshot(api, "m1", "m2", "m9") == before


def test_malformed_authorization_header_is_rejected(api, world):
    before = snapshot(api, "m1")
    for header in ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Token abc"]:
        response = api.post("/members/m1/redeem", {"points": 10}, key=None, headers={"Authorization": header})
        assert_auth_rejected(response)
    assert snapshot(api, "m1") == before


def test_storefront_key_on_admin_routes_is_403_forbidden(api, world):
    before = snapshot(api, "m1", "m2", "m9")
    program_before = api.get("/program", key="admin").json
    admin_routes = [r for r in routes(world) if r[3] == "admin"]
    assert len(admin_routes) == 7
    for method, path, body, _ in admin_routes:
        assert_error(api.call(method, path, body, key="storefront"), 403, "FORBIDDEN")
    # nothing changed: no adjustment, no reward, m2 not erased, program as before
    assert snapshot(api, "m1", "m2", "m9") == before
    assert api.get("/program", key="admin").json == program_before


def test_admin_key_may_call_every_route(api, world):
    for method, path, body, _ in routes(world):
        response = api.call(method, path, body, key="admin")
        assert 200 <= response.status < 300, (method, path, response)
    # the storefront routes really acted with the admin key
    assert api.get("/members/m9", key="admin").status == 200
    assert api.get("/members/m2", key="admin").status == 404


def test_storefront_key_may_call_storefront_routes(api, world):
    for method, path, body, role in routes(world):
        if role == "storefront":
            response = api.call(method, path, body, key="storefront")
            assert 200 <= response.status < 300, (method, path, response)


# -- Idempotency-Key presence and length --------------------------------------
def test_idempotency_key_is_required_on_every_point_or_member_changing_post(api, world):
    before = snapshot(api, "m1", "m2", "m9")
    posts = [r for r in routes(world) if r[0] == "POST" and r[1] != "/rewards"]
    assert [p for p in IDEMPOTENT_POSTS if not any(r[1].endswith(p) for r in posts)] == []
    for method, path, body, role in posts:
        response = api.call(method, path, body, key=role, idem=None)
        assert_error(response, 400, "VALIDATION_ERROR")
    assert snapshot(api, "m1", "m2", "m9") == before


def test_idempotency_key_outside_1_to_64_chars_is_400(api, world):
    before = snapshot(api, "m1")
    for key in ["", "k" * 65, "x" * 200]:
        response = api.post("/members/m1/earn", {"order_id": "o-len", "amount": 5000}, idem=key)
        assert_error(response, 400, "VALIDATION_ERROR")
    assert snapshot(api, "m1") == before


def test_idempotency_key_of_1_and_64_chars_is_accepted(api, world):
    for n, key in enumerate(["k", "k" * 64]):
        response = api.post("/members/m1/earn", {"order_id": f"o-len-{n}", "amount": 5000}, idem=key)
        assert response.status == 201, response
    # 1100 + 2 * floor(5000 * 0.01) = 1200
    assert api.balance("m1") == 1200


# -- replay -------------------------------------------------------------------
def test_replay_returns_first_response_and_changes_nothing_for_every_post(api, world, clock):
    for n, (method, path, body, role) in enumerate(r for r in routes(world) if r[0] == "POST" and r[1] != "/rewards"):
        key = f"replay-{n}"
        first = api.call(method, path, body, key=role, idem=key)
        assert first.status == 201, (path, first)
        before = snapshot(api, "m1", "m2", "m9")
        clock.advance(minutes=5)  # a re-execution would stamp a new created_at
        again = api.call(method, path, body, key=role, idem=key)
        assert again.status == first.status, (path, again)
        assert again.json == first.json, path
        assert snapshot(api, "m1", "m2", "m9") == before, path


def test_replay_of_a_member_without_member_id_returns_the_same_member(api, world):
    first = api.post("/members", {"name": "Generated"}, idem="enrol-generated")
    assert first.status == 201, first
    members = stats(api)["members"]
    again = api.post("/members", {"name": "Generated"}, idem="enrol-generated")
    assert (again.status, again.json) == (201, first.json)
    assert stats(api)["members"] == members  # no second member with another generated id


def test_replay_of_a_spent_redeem_still_replays(api, world):
    # balance 1100; redeeming it all, then replaying, must not hit INSUFFICIENT_POINTS
    first = api.post("/members/m1/redeem", {"points": 1100}, idem="spend-all")
    assert first.status == 201, first
    again = api.post("/members/m1/redeem", {"points": 1100}, idem="spend-all")
    assert (again.status, again.json) == (201, first.json)
    assert api.balance("m1") == 0


def test_replay_is_kept_for_24_hours(api, world, clock):
    first = api.post("/members/m1/redeem", {"points": 100}, idem="day-old")
    assert first.status == 201, first
    clock.advance(hours=23, minutes=59)
    again = api.post("/members/m1/redeem", {"points": 100}, idem="day-old")
    assert (again.status, again.json) == (201, first.json)
    assert api.balance("m1") == 1000  # 1100 - 100, once


def test_replay_matches_on_json_value_not_bytes(api, world):
    first = api.post("/members/m1/earn", {"order_id": "o7", "amount": 3000}, idem="same-value")
    assert first.status == 201, first
    again = api.post("/members/m1/earn", None, idem="same-value", raw='{ "amount" : 3000,\n  "order_id": "o7" }')
    assert (again.status, again.json) == (201, first.json)
    assert api.balance("m1") == 1130  # 1100 + floor(3000 * 0.01), once


def test_same_key_with_a_different_body_is_409_and_changes_nothing(api, world):
    first = api.post("/members/m1/earn", {"order_id": "o7", "amount": 3000}, idem="reused")
    assert first.status == 201, first
    before = snapshot(api, "m1", "m2")
    for path, body in [
        ("/members/m1/earn", {"order_id": "o7", "amount": 4000}),
        ("/members/m1/earn", {"order_id": "o8", "amount": 3000}),
    ]:
        assert_error(api.post(path, body, idem="reused"), 409, "IDEMPOTENCY_KEY_REUSED")
    assert snapshot(api, "m1", "m2") == before


def test_same_key_different_member_body_is_409(api, world):
    first = api.post("/members", {"member_id": "m5", "name": "Five"}, idem="enrol")
    assert first.status == 201, first
    response = api.post("/members", {"member_id": "m6", "name": "Six"}, idem="enrol")
    assert_error(response, 409, "IDEMPOTENCY_KEY_REUSED")
    assert api.get("/members/m6").status == 404
    assert api.get("/members/m5").json["name"] == "Five"


def test_keys_are_scoped_per_api_key(api, world):
    from chalicelib import local

    other = local.create_api_key("storefront", "pos-2")
    first = api.post("/members/m1/redeem", {"points": 100}, idem="same-key")
    assert first.status == 201, first
    second = api.post("/members/m1/redeem", {"points": 100}, key=other, idem="same-key")
    assert second.status == 201, second
    assert second.json["transaction_id"] != first.json["transaction_id"]
    assert second.json["storefront"] == "pos-2"
    assert api.balance("m1") == 900  # 1100 - 100 - 100: both ran
    # a different body under the same key from another API key is not a reuse either
    third = api.post("/members/m1/redeem", {"points": 50}, key="admin", idem="same-key")
    assert third.status == 201, third
    assert api.balance("m1") == 850
    # and each API key still replays its own
    again = api.post("/members/m1/redeem", {"points": 100}, key=other, idem="same-key")
    assert (again.status, again.json) == (201, second.json)
    assert api.balance("m1") == 850


def test_rejected_request_is_not_stored_and_fixed_body_succeeds(api, world):
    bad = api.post(
        "/members/m1/earn",
        {"order_id": "o9", "amount": 1000, "items": [{"sku": "a", "category": "c", "amount": 1001}]},
        idem="fix-me",
    )
    assert_error(bad, 400, "VALIDATION_ERROR")
    fixed = api.post(
        "/members/m1/earn",
        {"order_id": "o9", "amount": 1001, "items": [{"sku": "a", "category": "c", "amount": 1001}]},
        idem="fix-me",
    )
    assert fixed.status == 201, fixed
    assert api.balance("m1") == 1110  # 1100 + floor(1001 * 0.01)


def test_rejected_request_is_not_stored_and_same_body_succeeds_later(api, world):
    short = api.post("/members/m1/redeem", {"points": 1500}, idem="later")
    assert_error(short, 422, "INSUFFICIENT_POINTS")
    topped = api.post("/members/m1/adjustments", {"points": 400, "reason": "goodwill"}, key="admin")
    assert topped.status == 201, topped
    retried = api.post("/members/m1/redeem", {"points": 1500}, idem="later")
    assert retried.status == 201, retried
    assert api.balance("m1") == 0  # 1100 + 400 - 1500


def test_not_found_is_not_stored(api, world):
    missing = api.post("/members/m3/activities", {"type": "review", "reference_id": "r"}, idem="m3")
    assert_error(missing, 404, "NOT_FOUND")
    api.member("m3")
    retried = api.post("/members/m3/activities", {"type": "review", "reference_id": "r"}, idem="m3")
    assert retried.status == 201, retried
    assert api.balance("m3") == 1100


def test_replay_after_the_member_was_erased_is_404(api, world):
    first = api.post("/members/m1/redeem", {"points": 100}, idem="before-erasure")
    assert first.status == 201, first
    enrolled = api.post("/members", {"member_id": "m4", "name": "Four"}, idem="enrol-m4")
    assert enrolled.status == 201, enrolled
    assert api.delete("/members/m1", key="admin").status == 204
    assert api.delete("/members/m4", key="admin").status == 204
    before = stats(api)
    assert_error(api.post("/members/m1/redeem", {"points": 100}, idem="before-erasure"), 404, "NOT_FOUND")
    assert_error(api.post("/members", {"member_id": "m4", "name": "Four"}, idem="enrol-m4"), 404, "NOT_FOUND")
    assert stats(api) == before


def test_replay_of_a_transfer_after_the_recipient_was_erased_is_404(api, world):
    body = {"to_member_id": "m2", "points": 10}
    first = api.post("/members/m1/transfers", body, idem="gift-to-m2")
    assert first.status == 201, first
    assert api.post("/members/m1/transfers", body, idem="gift-to-m2").json == first.json
    assert api.delete("/members/m2", key="admin").status == 204
    before = snapshot(api, "m1", "m2")
    # the stored reply shows m2's transfer_in: m2 is gone, so it is not shown again
    assert_error(api.post("/members/m1/transfers", body, idem="gift-to-m2"), 404, "NOT_FOUND")
    assert snapshot(api, "m1", "m2") == before


def test_malformed_json_is_400_with_error_shape(api, world):
    before = snapshot(api, "m1")
    response = api.post("/members/m1/earn", None, raw="{not json")
    assert_error(response, 400, "VALIDATION_ERROR")
    response = api.post("/members/m1/earn", None, raw=json.dumps([1, 2]))
    assert_error(response, 400, "VALIDATION_ERROR")
    assert snapshot(api, "m1") == before

"""Contract §11: coupon templates, coupons given, bought, used and released,
automatic coupons, and what they move (the member's count, /stats,
notifications). Every new POST replays with its Idempotency-Key."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from tests.checks import assert_error, earn, history, snapshot, stats
from tests.conftest import EXAMPLES

DEMO_TEMPLATES = json.loads((EXAMPLES / "cafe-coupons.json").read_text())
TEMPLATES = {
    "off-3000": {
        "template_id": "off-3000",
        "name": "3,000 off",
        "discount": {"type": "amount", "amount": 3000},
        "min_order_amount": 10000,
        "valid_days": 30,
        "points_cost": None,
    },
    "pct-15": {
        "template_id": "pct-15",
        "name": "15% off",
        "discount": {"type": "percent", "percent": 15, "max_amount": 2000},
        "min_order_amount": 0,
        "valid_days": 10,
        "points_cost": None,
    },
    "pct-10": {
        "template_id": "pct-10",
        "name": "10% off",
        "discount": {"type": "percent", "percent": 10},
        "valid_days": 7,
    },
    "latte": {
        "template_id": "latte",
        "name": "latte",
        "discount": {"type": "amount", "amount": 1000},
        "min_order_amount": 4000,
        "valid_days": 60,
        "points_cost": 800,
    },
}
ISSUED_AT = "2027-01-15T03:00:00Z"


def iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def add_templates(api, *names):
    for name in names:
        response = api.post("/coupon-templates", TEMPLATES[name], key="admin")
        assert response.status == 201, response


def give(api, member_id, template_id, key="admin", **kw):
    response = api.post(f"/members/{member_id}/coupons", {"template_id": template_id}, key=key, **kw)
    assert response.status == 201, response
    return response.json


def use(api, code, member_id, order_amount, order_id="o-1", **kw):
    return api.post(
        f"/coupons/{code}/redemption",
        {"member_id": member_id, "order_id": order_id, "order_amount": order_amount},
        **kw,
    )


def release(api, code, member_id, **kw):
    return api.post(f"/coupons/{code}/release", {"member_id": member_id}, **kw)


def coupons(api, member_id, query=""):
    response = api.get(f"/members/{member_id}/coupons?limit=100{query}")
    assert response.status == 200, response
    return response.json["items"]


def notifications(api, member_id):
    return api.get(f"/members/{member_id}/notifications?limit=100", key="admin").json["items"]


def full_state(api, *member_ids):
    state = snapshot(api, *member_ids)
    state["coupons"] = {m: api.get(f"/members/{m}/coupons?limit=100").json for m in member_ids}
    return state


# -- templates ------------------------------------------------------------
def test_templates_created_refused_when_taken_listed_in_pages_and_admin_only(api, clock):
    response = api.post("/coupon-templates", TEMPLATES["pct-10"], key="admin")
    assert response.status == 201, response
    assert response.json == {
        **TEMPLATES["pct-10"],
        "discount": {"type": "percent", "percent": 10, "max_amount": None},
        "min_order_amount": 0,
        "points_cost": None,
        "created_at": ISSUED_AT,
    }
    assert_error(
        api.post("/coupon-templates", {**TEMPLATES["pct-10"], "name": "other"}, key="admin"), 409, "TEMPLATE_EXISTS"
    )
    assert_error(api.post("/coupon-templates", TEMPLATES["latte"]), 403, "FORBIDDEN")
    add_templates(api, "off-3000", "pct-15")
    first = api.get("/coupon-templates?limit=2")
    assert first.status == 200 and len(first.json["items"]) == 2 and first.json["next_cursor"]
    second = api.get(f"/coupon-templates?limit=2&cursor={first.json['next_cursor']}")
    assert second.status == 200 and second.json["next_cursor"] is None
    listed = first.json["items"] + second.json["items"]
    assert sorted(t["template_id"] for t in listed) == ["off-3000", "pct-10", "pct-15"]
    assert next(t for t in listed if t["template_id"] == "pct-10")["name"] == "10% off"  # the first stays


# -- give and buy ---------------------------------------------------------
def test_admin_gives_a_coupon_of_the_exact_shape(api, clock):
    add_templates(api, "off-3000")
    api.member("m1", email="m1@example.com")
    before = stats(api)
    coupon = give(api, "m1", "off-3000")
    assert set(coupon) >= {
        "coupon_id",
        "code",
        "member_id",
        "template_id",
        "name",
        "discount",
        "min_order_amount",
        "source",
        "status",
        "issued_at",
        "expires_at",
        "used_at",
        "order_id",
        "discount_amount",
    }
    assert {
        k: coupon[k]
        for k in (
            "member_id",
            "template_id",
            "name",
            "discount",
            "min_order_amount",
            "source",
            "status",
            "issued_at",
            "expires_at",
            "used_at",
            "order_id",
            "discount_amount",
        )
    } == {
        "member_id": "m1",
        "template_id": "off-3000",
        "name": "3,000 off",
        "discount": {"type": "amount", "amount": 3000},
        "min_order_amount": 10000,
        "source": "manual",
        "status": "available",
        "issued_at": ISSUED_AT,
        "expires_at": "2027-02-14T03:00:00Z",
        "used_at": None,
        "order_id": None,
        "discount_amount": None,
    }
    assert coupon["code"] and coupon["coupon_id"]
    assert api.balance("m1") == 1000  # giving costs no points
    assert stats(api)["coupons_issued"] == before["coupons_issued"] + 1
    assert api.get("/members/m1").json["coupons_available"] == 1
    issued = [n for n in notifications(api, "m1") if n["type"] == "coupon_issued"]
    assert len(issued) == 1
    assert_error(api.post("/members/m1/coupons", {"template_id": "nope"}, key="admin"), 404, "NOT_FOUND")
    assert_error(api.post("/members/ghost/coupons", {"template_id": "off-3000"}, key="admin"), 404, "NOT_FOUND")


def test_storefront_buys_with_points_as_a_redeem_that_cannot_be_reversed(api, clock):
    add_templates(api, "latte", "off-3000")
    api.member("m1")  # 1000 signup points; the redemption minimum (1000) does not apply to 800
    before = stats(api)
    coupon = give(api, "m1", "latte", key="storefront")
    assert coupon["source"] == "points" and coupon["status"] == "available"
    assert coupon["expires_at"] == "2027-03-16T03:00:00Z"
    assert api.balance("m1") == 200
    redeem_tx = history(api, "m1")[0]
    assert redeem_tx["type"] == "redeem" and redeem_tx["points"] == -800
    assert redeem_tx["coupon_id"] == coupon["coupon_id"] and redeem_tx["balance_after"] == 200
    after = stats(api)
    assert after["points_redeemed"] == before["points_redeemed"] + 800
    assert after["coupons_issued"] == before["coupons_issued"] + 1
    assert_error(
        api.post(f"/members/m1/transactions/{redeem_tx['transaction_id']}/reversal", {}), 422, "REVERSAL_NOT_ALLOWED"
    )
    state = full_state(api, "m1")
    assert_error(api.post("/members/m1/coupons", {"template_id": "latte"}), 422, "INSUFFICIENT_POINTS")
    assert_error(api.post("/members/m1/coupons", {"template_id": "off-3000"}), 422, "COUPON_NOT_FOR_SALE")
    assert full_state(api, "m1") == state


# -- use ------------------------------------------------------------------
@pytest.mark.parametrize(
    "template, order_amount, discount",
    [
        ("off-3000", 10000, 3000),
        ("off-3000", 2999 + 10000, 3000),
        ("pct-15", 9999, 1499),  # floor(9999 × 15 / 100)
        ("pct-15", 20000, 2000),  # capped by max_amount
        ("pct-15", 13333, 1999),
        ("pct-10", 12345, 1234),  # no cap
        ("pct-10", 9, 0),
    ],
)
def test_use_takes_the_exact_discount(api, clock, template, order_amount, discount):
    add_templates(api, template)
    api.member("m1")
    coupon = give(api, "m1", template)
    clock.advance(minutes=5)
    response = use(api, coupon["code"], "m1", order_amount, order_id="order-9")
    assert response.status == 201, response
    assert response.json == {
        **coupon,
        "status": "used",
        "used_at": "2027-01-15T03:05:00Z",
        "order_id": "order-9",
        "discount_amount": discount,
    }


def test_amount_discount_is_at_most_the_order(api, clock):
    add_templates(api, "latte")
    api.member("m1")
    coupon = give(api, "m1", "latte")
    assert_error(use(api, coupon["code"], "m1", 3999), 422, "COUPON_NOT_USABLE")  # below the minimum
    response = use(api, coupon["code"], "m1", 4000)
    assert response.status == 201 and response.json["discount_amount"] == 1000
    api.post(
        "/coupon-templates",
        {"template_id": "big", "name": "big", "discount": {"type": "amount", "amount": 5000}},
        key="admin",
    )
    big = give(api, "m1", "big")
    assert use(api, big["code"], "m1", 1200).json["discount_amount"] == 1200


def test_unknown_code_and_another_members_code_are_not_found(api, clock):
    add_templates(api, "pct-10")
    api.member("m1")
    api.member("m2")
    coupon = give(api, "m1", "pct-10")
    state = full_state(api, "m1", "m2")
    assert_error(use(api, "NOSUCHCODE", "m1", 5000), 404, "NOT_FOUND")
    assert_error(use(api, coupon["code"], "m2", 5000), 404, "NOT_FOUND")
    assert_error(release(api, coupon["code"], "m2"), 404, "NOT_FOUND")
    assert_error(use(api, coupon["code"], "ghost", 5000), 404, "NOT_FOUND")
    assert full_state(api, "m1", "m2") == state


def test_used_expired_and_below_minimum_are_not_usable(api, clock):
    add_templates(api, "off-3000", "pct-15")
    api.member("m1")
    used = give(api, "m1", "off-3000")
    assert use(api, used["code"], "m1", 10000).status == 201
    state = full_state(api, "m1")
    assert_error(use(api, used["code"], "m1", 10000, order_id="o-2"), 422, "COUPON_NOT_USABLE")
    late = give(api, "m1", "pct-15")  # expires 2027-01-25T03:00:00Z
    assert late["expires_at"] == "2027-01-25T03:00:00Z"
    below = give(api, "m1", "off-3000")
    state = full_state(api, "m1")
    assert_error(use(api, below["code"], "m1", 9999), 422, "COUPON_NOT_USABLE")
    assert full_state(api, "m1") == state
    clock.set("2027-01-25T03:00:00Z")  # now >= expires_at
    assert_error(use(api, late["code"], "m1", 10000), 422, "COUPON_NOT_USABLE")
    assert [c["status"] for c in coupons(api, "m1")] == ["available", "expired", "used"]


def test_one_second_before_expiry_it_is_still_usable(api, clock):
    add_templates(api, "pct-15")
    api.member("m1")
    coupon = give(api, "m1", "pct-15")
    clock.set("2027-01-25T02:59:59Z")
    assert use(api, coupon["code"], "m1", 1000).status == 201


# -- release --------------------------------------------------------------
def test_release_makes_it_available_again_or_expired(api, clock):
    add_templates(api, "off-3000", "pct-15")
    api.member("m1")
    coupon = give(api, "m1", "off-3000")
    assert_error(release(api, coupon["code"], "m1"), 422, "COUPON_NOT_USABLE")  # not used
    assert use(api, coupon["code"], "m1", 12000).status == 201
    assert stats(api)["coupons_used"] == 1
    response = release(api, coupon["code"], "m1")
    assert response.status == 200, response
    assert response.json == {**coupon, "status": "available"}
    assert stats(api)["coupons_used"] == 0
    assert api.get("/members/m1").json["coupons_available"] == 1
    assert_error(release(api, coupon["code"], "m1"), 422, "COUPON_NOT_USABLE")  # twice
    again = use(api, coupon["code"], "m1", 15000, order_id="o-2")
    assert again.status == 201 and again.json["order_id"] == "o-2"

    short = give(api, "m1", "pct-15")
    assert use(api, short["code"], "m1", 1000).status == 201
    clock.set("2027-01-26T00:00:00Z")  # past its expires_at
    response = release(api, short["code"], "m1")
    assert response.status == 200
    assert response.json == {**short, "status": "expired"}
    assert api.get("/members/m1").json["coupons_available"] == 0
    assert_error(use(api, short["code"], "m1", 1000), 422, "COUPON_NOT_USABLE")
    assert stats(api)["coupons_used"] == 1


# -- listing, counts, stats, notifications ---------------------------------
def test_member_coupons_newest_first_with_status_filter_and_counts(api, clock):
    add_templates(api, "off-3000", "pct-15", "pct-10")
    api.member("m1")
    first = give(api, "m1", "pct-15")  # expires 01-25
    clock.advance(seconds=1)
    second = give(api, "m1", "off-3000")  # expires 02-14
    clock.advance(seconds=1)
    third = give(api, "m1", "pct-10")  # expires 01-22
    assert [c["coupon_id"] for c in coupons(api, "m1")] == [third["coupon_id"], second["coupon_id"], first["coupon_id"]]
    assert api.get("/members/m1").json["coupons_available"] == 3
    assert use(api, second["code"], "m1", 10000).status == 201
    assert api.get("/members/m1").json["coupons_available"] == 2
    clock.set("2027-01-23T00:00:00Z")  # third expired
    assert api.get("/members/m1").json["coupons_available"] == 1
    assert [c["coupon_id"] for c in coupons(api, "m1", "&status=available")] == [first["coupon_id"]]
    assert [c["coupon_id"] for c in coupons(api, "m1", "&status=used")] == [second["coupon_id"]]
    assert [c["coupon_id"] for c in coupons(api, "m1", "&status=expired")] == [third["coupon_id"]]
    page = api.get("/members/m1/coupons?limit=2").json
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = api.get(f"/members/m1/coupons?limit=2&cursor={page['next_cursor']}").json
    assert [c["coupon_id"] for c in page["items"] + rest["items"]] == [
        third["coupon_id"],
        second["coupon_id"],
        first["coupon_id"],
    ]
    assert rest["next_cursor"] is None
    clock.set("2027-02-20T00:00:00Z")
    assert api.get("/members/m1").json["coupons_available"] == 0
    assert release(api, second["code"], "m1").status == 200
    assert api.get("/members/m1").json["coupons_available"] == 0
    totals = stats(api)
    assert (totals["coupons_issued"], totals["coupons_used"]) == (3, 0)
    assert len([n for n in notifications(api, "m1") if n["type"] == "coupon_issued"]) == 3


# -- automatic coupons ---------------------------------------------------
TIERED = {
    "tiers": [
        {"name": "basic", "min_spend": 0, "earn_multiplier": "1", "expiry_days": None},
        {"name": "silver", "min_spend": 100000, "earn_multiplier": "1", "expiry_days": None},
        {"name": "gold", "min_spend": 200000, "earn_multiplier": "1", "expiry_days": None},
    ],
    "auto_coupons": {
        "signup": "pct-10",
        "birthday": None,
        "tier_up": {"silver": "off-3000", "gold": "pct-15"},
        "win_back": None,
    },
}


def test_signup_coupon_at_enrolment(api, clock):
    add_templates(api, "pct-10", "off-3000", "pct-15")
    api.program(TIERED)
    api.member("m1", email="m1@example.com")
    [coupon] = coupons(api, "m1")
    assert (coupon["source"], coupon["template_id"], coupon["issued_at"]) == ("signup", "pct-10", ISSUED_AT)
    assert api.get("/members/m1").json["coupons_available"] == 1
    assert [n["type"] for n in notifications(api, "m1")].count("coupon_issued") == 1
    assert stats(api)["coupons_issued"] == 1


def test_tier_up_coupon_once_per_member_tier_and_program_year(api, clock):
    add_templates(api, "pct-10", "off-3000", "pct-15")
    api.program(TIERED)
    api.member("m1")

    def tier_ups():
        return [(c["template_id"], c["issued_at"]) for c in coupons(api, "m1") if c["source"] == "tier_up"]

    first = earn(api, "m1", "o1", 100000)
    assert first["tier"] == "silver"
    assert tier_ups() == [("off-3000", ISSUED_AT)]
    # a drop (refund) and a rise again within the year: no second coupon
    clock.advance(hours=1)
    assert api.post(f"/members/m1/transactions/{first['transaction_id']}/reversal", {}).status == 201
    assert api.get("/members/m1").json["tier"] == "basic"
    clock.advance(hours=1)
    assert earn(api, "m1", "o2", 100000)["tier"] == "silver"
    assert tier_ups() == [("off-3000", ISSUED_AT)]
    # moving up into another tier issues that tier's coupon
    assert earn(api, "m1", "o3", 100000)["tier"] == "gold"
    assert [t for t, _ in tier_ups()] == ["pct-15", "off-3000"]
    # the next year in Asia/Seoul starts at 2027-12-31T15:00:00Z: the tier has lapsed by then
    clock.set("2027-12-31T15:30:00Z")
    assert api.get("/members/m1").json["tier"] == "basic"
    assert earn(api, "m1", "o4", 100000)["tier"] == "silver"
    assert tier_ups()[0] == ("off-3000", "2027-12-31T15:30:00Z")
    assert len(tier_ups()) == 3
    stamps = [n for n in notifications(api, "m1") if n["type"] == "coupon_issued"]
    assert len(stamps) == 4  # signup + three tier_up


def test_tier_up_year_is_the_program_timezones(api, clock):
    """In UTC the same instant is still 2027: no second coupon for the same tier."""
    add_templates(api, "pct-10", "off-3000", "pct-15")
    api.program({**TIERED, "timezone": "UTC"})
    api.member("m1")
    assert earn(api, "m1", "o1", 100000)["tier"] == "silver"
    clock.set("2027-12-31T15:30:00Z")
    assert earn(api, "m1", "o4", 100000)["tier"] == "silver"
    assert [c["template_id"] for c in coupons(api, "m1") if c["source"] == "tier_up"] == ["off-3000"]
    clock.set("2028-01-01T00:30:00Z")  # the spend of Q4 2027 still holds silver
    assert api.get("/members/m1").json["tier"] == "silver"
    assert earn(api, "m1", "o5", 200000)["tier"] == "gold"
    assert [c["template_id"] for c in coupons(api, "m1") if c["source"] == "tier_up"] == ["pct-15", "off-3000"]


@pytest.mark.parametrize(
    "auto",
    [
        {"signup": "missing"},
        {"tier_up": {"silver": "missing"}},
        {"tier_up": {"platinum": "off-3000"}},
        {"birthday": "missing"},
        {"win_back": "missing"},
    ],
)
def test_program_naming_an_unknown_template_or_tier_is_refused(api, clock, auto):
    add_templates(api, "pct-10", "off-3000", "pct-15")
    api.program(TIERED)
    old = api.get("/program", key="admin").json
    body = {**TIERED, "auto_coupons": {**TIERED["auto_coupons"], **auto}}
    assert_error(api.put("/program", body, key="admin"), 400, "VALIDATION_ERROR")
    assert api.get("/program", key="admin").json == old


def test_demo_templates_then_demo_program(api, clock):
    for template in DEMO_TEMPLATES:
        assert api.post("/coupon-templates", template, key="admin").status == 201
    program = json.loads((EXAMPLES / "cafe-program.json").read_text())
    assert api.put("/program", program, key="admin").status == 200
    member = api.member("m1")
    assert member["coupons_available"] == 1
    assert coupons(api, "m1")[0]["template_id"] == "welcome-2000"


# -- idempotency ----------------------------------------------------------
def test_every_coupon_post_replays_and_refuses_a_different_body(api, clock):
    add_templates(api, "latte", "off-3000")
    api.member("m1")
    api.member("m2")

    def replayed(path, body, other, key):
        first = api.post(path, body, key=key, idem=f"k-{path}")
        assert first.status in (200, 201), first
        state = full_state(api, "m1", "m2")
        clock.advance(seconds=1)
        again = api.post(path, body, key=key, idem=f"k-{path}")
        assert (again.status, again.json) == (first.status, first.json)
        assert full_state(api, "m1", "m2") == state
        assert_error(api.post(path, other, key=key, idem=f"k-{path}"), 409, "IDEMPOTENCY_KEY_REUSED")
        assert full_state(api, "m1", "m2") == state
        return first.json

    given = replayed("/members/m1/coupons", {"template_id": "off-3000"}, {"template_id": "latte"}, "admin")
    replayed("/members/m2/coupons", {"template_id": "latte"}, {"template_id": "off-3000"}, "storefront")
    replayed(
        f"/coupons/{given['code']}/redemption",
        {"member_id": "m1", "order_id": "o", "order_amount": 10000},
        {"member_id": "m1", "order_id": "o", "order_amount": 10001},
        "storefront",
    )
    replayed(f"/coupons/{given['code']}/release", {"member_id": "m1"}, {"member_id": "m2"}, "storefront")
    replayed("/members/m1/suspension", {"reason": "fraud check"}, {"reason": "other"}, "admin")


def test_birthday_coupon_by_the_job_once_a_year_even_without_bonus_points(api, clock):
    from chalicelib import local

    add_templates(api, "pct-10")
    api.program(
        {"birthday_bonus": 0, "auto_coupons": {"signup": None, "birthday": "pct-10", "tier_up": {}, "win_back": None}}
    )
    api.member("m1", birthday="1990-01-15")
    api.member("m2", birthday="1990-01-16")
    local.run_job("grant_birthday_bonuses")
    local.run_job("grant_birthday_bonuses")
    assert [(c["source"], c["template_id"]) for c in coupons(api, "m1")] == [("birthday", "pct-10")]
    assert coupons(api, "m2") == []
    assert api.balance("m1") == 1000
    assert stats(api)["coupons_issued"] == 1


def test_coupons_of_an_unknown_member_are_not_found(api, clock):
    assert_error(api.get("/members/ghost/coupons"), 404, "NOT_FOUND")
    api.member("m1")
    assert_error(api.get("/members/m1/coupons?status=lost"), 400, "VALIDATION_ERROR")

"""§3 (v3): after an erasure no item of any table holds the member's name, email,
phone, birthday or a suspension reason: profile, lookup keys, coupons,
notifications, vouchers and the replies stored for Idempotency-Key replays of
every route (enrol, suspension, earn, coupons, transfer, ...)."""

from __future__ import annotations

import re

from chalicelib import aws, local

NAME = "Kim Jiyoon"
EMAIL = "jiyoon.kim@example.com"
NEW_EMAIL = "jiyoon.new@example.org"
PHONE = "010-5550-1234"
BIRTHDAY = "1994-07-23"
FIRST_REASON = "Chargeback dispute at the Gangnam store"
SECOND_REASON = "Shared her card with a reseller"
# every form the personal data could be kept in
SECRETS = (
    NAME,
    "Jiyoon",
    EMAIL,
    NEW_EMAIL,
    "jiyoon",
    PHONE,
    "01055501234",
    "+821055501234",
    "1055501234",
    BIRTHDAY,
    "1994",
    FIRST_REASON,
    SECOND_REASON,
    "Chargeback",
    "reseller",
)


def every_item() -> list[tuple[str, dict]]:
    """Every item of every table (a test-only Scan)."""
    dynamodb = aws.client("dynamodb")
    items = []
    for table in dynamodb.list_tables()["TableNames"]:
        for page in dynamodb.get_paginator("scan").paginate(TableName=table):
            items.extend((table, item) for item in page["Items"])
    return items


# A secret this short is also found, by chance, inside request hashes, ids and codes (a 64-digit
# hex hash holds "1994" about once in a thousand): it counts only where it stands on its own
# (not after a letter, digit or "-", not before a letter or digit), as a year kept on its own would.
STANDALONE = {"1994": re.compile(r"(?<![0-9a-z-])1994(?![0-9a-z])")}


def holds(text: str, secret: str) -> bool:
    pattern = STANDALONE.get(secret)
    return secret.lower() in text if pattern is None else pattern.search(text) is not None


def holding_personal_data() -> dict[str, list]:
    found: dict[str, list] = {}
    for table, item in every_item():
        text = repr(item).lower()
        for secret in SECRETS:
            if holds(text, secret):
                found.setdefault(secret, []).append((table, item["pk"], item["sk"]))
    return found


def test_a_short_secret_counts_where_it_stands_alone_not_inside_a_hash_or_an_id():
    alone = ["{'birth_year': {'n': '1994'}}", "{'born': {'s': '1994-07'}}", "{'y': {'s': 'born 1994'}}"]
    inside = [
        "{'request_hash': {'s': 'd6f51994c8bb'}}",
        "{'id': {'s': '74c5e096-1994-4a33'}}",
        "{'code': {'s': 'lat1994x'}}",
    ]
    assert [holds(text, "1994") for text in alone] == [True, True, True]
    assert [holds(text, "1994") for text in inside] == [False, False, False]
    assert holds("{'name': {'s': 'kim jiyoon'}}", "Jiyoon")


def ok(response, status=201):
    assert response.status == status, response
    return response.json


def test_an_erased_member_leaves_no_personal_data_or_suspension_reason_in_any_item(demo, clock):
    api = demo
    ok(
        api.post(
            "/coupon-templates",
            {
                "template_id": "latte",
                "name": "Free latte",
                "discount": {"type": "amount", "amount": 5000},
                "points_cost": 500,
            },
            key="admin",
        )
    )
    ok(
        api.post(
            "/coupon-templates",
            {"template_id": "off10", "name": "10% off", "discount": {"type": "percent", "percent": 10}},
            key="admin",
        )
    )
    ok(api.post("/rewards", {"reward_id": "mug", "name": "Mug", "points_cost": 1000, "stock": 5}, key="admin"))
    friend = api.member("friend", name="Park Minsu")
    # enrolled with every personal field, through a referral code, under a stored reply
    me = ok(
        api.post(
            "/members",
            {
                "member_id": "m1",
                "name": NAME,
                "email": EMAIL,
                "phone": PHONE,
                "birthday": BIRTHDAY,
                "referral_code": friend["referral_code"],
            },
            idem="enrol-m1",
        )
    )
    assert me["email"] == EMAIL
    ok(api.patch("/members/m1", {"email": NEW_EMAIL}), 200)
    # spend to the top tier (transfers are allowed from it), points and activity
    ok(api.post("/members/m1/earn", {"order_id": "o1", "amount": 1_200_000}, idem="earn-1"))
    second = ok(api.post("/members/m1/earn", {"order_id": "o2", "amount": 30_000}))
    ok(api.post("/members/m1/activities", {"type": "review", "reference_id": "r1"}))
    ok(api.post(f"/members/m1/transactions/{second['transaction_id']}/reversal", {"amount": 10_000}))
    ok(api.post("/members/m1/adjustments", {"points": 300, "reason": "goodwill"}, key="admin"))
    ok(api.post("/members/m1/redeem", {"points": 1000, "order_id": "o3"}))
    voucher = ok(api.post("/members/m1/redeem", {"reward_id": "mug"}))
    assert voucher
    ok(api.post("/members/m1/transfers", {"to_member_id": "friend", "points": 1000}, idem="transfer-1"))
    bought = ok(api.post("/members/m1/coupons", {"template_id": "latte"}, idem="buy-1"))
    given = ok(api.post("/members/m1/coupons", {"template_id": "off10"}, key="admin"))
    ok(api.post(f"/coupons/{bought['code']}/redemption", {"member_id": "m1", "order_id": "o4", "order_amount": 20_000}))
    ok(api.post(f"/coupons/{bought['code']}/release", {"member_id": "m1"}), 200)
    ok(api.post(f"/coupons/{given['code']}/redemption", {"member_id": "m1", "order_id": "o5", "order_amount": 20_000}))
    token = ok(api.post("/members/m1/widget-tokens", idem=None))["token"]
    assert ok(api.get("/widget/api/member", key=token), 200)["member_id"] == "m1"
    # suspended with a reason, lifted, suspended again with another
    suspended = ok(api.post("/members/m1/suspension", {"reason": FIRST_REASON}, key="admin", idem="suspend-1"), 200)
    assert suspended["suspension"]["reason"] == FIRST_REASON
    ok(api.delete("/members/m1/suspension", key="admin"), 200)
    ok(api.post("/members/m1/suspension", {"reason": SECOND_REASON}, key="admin", idem="suspend-2"), 200)
    assert local.drain_queues() > 0  # welcome, coupons, tier changes ... delivered by email
    before = holding_personal_data()
    assert {NAME, NEW_EMAIL, EMAIL, PHONE, BIRTHDAY, SECOND_REASON} <= set(before), before

    assert api.delete("/members/m1", key="admin").status == 204
    local.drain_queues()

    assert holding_personal_data() == {}
    # replays of the member's stored replies answer 404, the transfer's too
    assert api.post("/members/m1/suspension", {"reason": FIRST_REASON}, key="admin", idem="suspend-1").status == 404
    assert (
        api.post(
            "/members",
            {
                "member_id": "m1",
                "name": NAME,
                "email": EMAIL,
                "phone": PHONE,
                "birthday": BIRTHDAY,
                "referral_code": friend["referral_code"],
            },
            idem="enrol-m1",
        ).status
        == 404
    )
    assert (
        api.post("/members/m1/transfers", {"to_member_id": "friend", "points": 1000}, idem="transfer-1").status == 404
    )
    # the friend's own data and replies are untouched
    assert api.get("/members/friend").json["name"] == "Park Minsu"
    # a second DELETE finds nothing left to scrub and answers 404
    assert api.delete("/members/m1", key="admin").status == 404


def test_an_erasure_scrubs_more_replies_than_one_transaction_holds(demo, clock):
    api = demo
    api.member("m2", name=NAME, email=EMAIL)
    for n in range(45):
        ok(api.post("/members/m2/activities", {"type": "review", "reference_id": f"r{n}"}, idem=f"a{n}"))
    ok(api.post("/members/m2/suspension", {"reason": FIRST_REASON}, key="admin", idem="s1"), 200)
    assert api.delete("/members/m2", key="admin").status == 204
    assert holding_personal_data() == {}
    from chalicelib.runtime import services

    assert services().store.query_all("MEMBER#m2", "REPLY#") == []  # the pointers are gone too
    assert api.post("/members/m2/activities", {"type": "review", "reference_id": "r0"}, idem="a0").status == 404


def test_a_delete_after_an_interrupted_erasure_finishes_scrubbing(demo, clock, monkeypatch):
    from chalicelib.ledger.commands import erase as erase_module

    api = demo
    api.member("m3", name=NAME, phone=PHONE)
    ok(api.post("/members/m3/suspension", {"reason": FIRST_REASON}, key="admin", idem="s1"), 200)
    real = erase_module.scrub_replies
    monkeypatch.setattr(erase_module, "scrub_replies", lambda store, member_id: 0)  # the Lambda died here
    assert api.delete("/members/m3", key="admin").status == 204
    assert FIRST_REASON in holding_personal_data()
    monkeypatch.setattr(erase_module, "scrub_replies", real)
    assert api.delete("/members/m3", key="admin").status == 404
    assert holding_personal_data() == {}

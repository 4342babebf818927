"""Reversals (contract §4): refunds of earns and cancellations of redemptions."""

from __future__ import annotations

import pytest

from chalicelib import local
from tests.checks import earn, history, redeem, stats

# Plain arithmetic: 1 point per 10 won, no signup bonus, any redemption size,
# lots live 30 days so every lot shows in GET member `expiring`.
PROGRAM = {
    "base_rate": "0.1",
    "signup_bonus": 0,
    "redemption": {"min_points": 1},
    "expiry_days": 30,
    "activities": {"review": 5},
    "transfer": {"allowed_tiers": ["basic"], "min_points": 1},
}
TIERS = [
    {"name": "basic", "min_spend": 0, "earn_multiplier": "1"},
    {"name": "gold", "min_spend": 1000, "earn_multiplier": "1"},
]


def reverse(api, member_id, tx_id, body=None):
    return api.post(f"/members/{member_id}/transactions/{tx_id}/reversal", body or {})


def expiring(api, member_id):
    return api.get(f"/members/{member_id}").json["expiring"]


# -- refunds -------------------------------------------------------------------


def test_refund_defaults_to_everything_not_yet_refunded(api, clock):
    api.program(PROGRAM)
    api.member("m1")
    tx = earn(api, "m1", "o1", 1000)  # 1000 × 0.1 = 100
    assert tx["points"] == 100

    refund = reverse(api, "m1", tx["transaction_id"])
    assert refund.status == 201, refund
    body = refund.json
    assert body["type"] == "reversal"
    assert body["member_id"] == "m1"
    assert body["points"] == -100
    assert body["balance_after"] == 0
    assert body["unrecovered_points"] == 0
    assert body["storefront"] == "pos-1"
    assert api.balance("m1") == 0
    assert history(api, "m1")[0]["transaction_id"] == body["transaction_id"]

    # nothing remains refundable
    again = reverse(api, "m1", tx["transaction_id"])
    assert again.status == 422, again
    assert again.error == "REVERSAL_NOT_ALLOWED"
    again = reverse(api, "m1", tx["transaction_id"], {"amount": 1})
    assert again.status == 422, again
    assert again.error == "REVERSAL_NOT_ALLOWED"
    assert api.balance("m1") == 0


def test_default_refund_after_partial_takes_the_rest(api, clock):
    api.program(PROGRAM)
    api.member("m1")
    tx = earn(api, "m1", "o1", 1000)  # 100 points
    first = reverse(api, "m1", tx["transaction_id"], {"amount": 250})
    assert first.status == 201, first
    assert first.json["points"] == -25  # floor(100 × 250 / 1000) = 25
    rest = reverse(api, "m1", tx["transaction_id"])
    assert rest.status == 201, rest
    assert rest.json["points"] == -75  # floor(100 × 1000 / 1000) − 25 = 75
    assert api.balance("m1") == 0


# earned 333 on an order of 1000 (base_rate 0.333); each refund claws back
# floor(333 × refunded so far / 1000) minus what earlier refunds took.
RUNNING_FLOOR_CASES = [
    # 100,100,100: floor(33.3)=33; floor(66.6)=66−33=33; floor(99.9)=99−66=33;
    # then the remaining 700 (default): 333−99=234
    ([100, 100, 100, None], [33, 33, 33, 234]),
    # 150 each: floor(49.95)=49; floor(99.9)=99−49=50; floor(149.85)=149−99=50;
    # then 100: floor(183.15)=183−149=34; then the remaining 450: 333−183=150
    ([150, 150, 150, 100, None], [49, 50, 50, 34, 150]),
    # 1 won at a time: floor(0.333)=0, floor(0.666)=0, floor(0.999)=0, floor(1.332)=1
    ([1, 1, 1, 1], [0, 0, 0, 1]),
    # 999 then 1: floor(332.667)=332; then 333−332=1
    ([999, 1], [332, 1]),
]


@pytest.mark.parametrize("amounts, clawed", RUNNING_FLOOR_CASES)
def test_partial_refunds_use_the_running_floor(api, clock, amounts, clawed):
    api.program({**PROGRAM, "base_rate": "0.333"})
    api.member("m1")
    tx = earn(api, "m1", "o1", 1000)
    assert tx["points"] == 333  # 1000 × 0.333
    balance = 333
    for amount, expected in zip(amounts, clawed, strict=False):
        body = {} if amount is None else {"amount": amount}
        refund = reverse(api, "m1", tx["transaction_id"], body)
        assert refund.status == 201, (amount, refund)
        assert refund.json["points"] == -expected, (amount, refund.json)
        assert refund.json["unrecovered_points"] == 0
        balance -= expected
        assert refund.json["balance_after"] == balance
    assert api.balance("m1") == 333 - sum(clawed)


def test_refund_takes_from_the_earns_own_lot_first(api, clock):
    api.program(PROGRAM)
    api.member("m1")
    # lot S: 200 × 0.1 = 20, occurred 5 days ago -> expires 2027-02-09T03:00:00Z
    earn(api, "m1", "os", 200, occurred_at="2027-01-10T03:00:00Z")
    # lot E: 1000 × 0.1 = 100, now -> expires 2027-02-14T03:00:00Z
    tx = earn(api, "m1", "o1", 1000)
    clock.advance(days=1)
    # lot L: 300 × 0.1 = 30 -> expires 2027-02-15T03:00:00Z
    earn(api, "m1", "ol", 300)

    # refund 300 of 1000: floor(100 × 300 / 1000) = 30, all from E (not from S,
    # the soonest-expiring lot)
    refund = reverse(api, "m1", tx["transaction_id"], {"amount": 300})
    assert refund.status == 201, refund
    assert refund.json["points"] == -30
    assert expiring(api, "m1") == [
        {"points": 20, "expires_at": "2027-02-09T03:00:00Z"},
        {"points": 70, "expires_at": "2027-02-14T03:00:00Z"},
        {"points": 30, "expires_at": "2027-02-15T03:00:00Z"},
    ]

    # redeem 80: S 20 then E 60 -> E keeps 10
    redeem(api, "m1", 80)
    assert expiring(api, "m1") == [
        {"points": 10, "expires_at": "2027-02-14T03:00:00Z"},
        {"points": 30, "expires_at": "2027-02-15T03:00:00Z"},
    ]

    # refund the remaining 700: due 100 − 30 = 70; E's 10 then L's 30 (all that
    # is left), 30 unrecovered, balance 0
    rest = reverse(api, "m1", tx["transaction_id"])
    assert rest.status == 201, rest
    assert rest.json["points"] == -40
    assert rest.json["unrecovered_points"] == 30
    assert rest.json["balance_after"] == 0
    assert api.balance("m1") == 0
    assert expiring(api, "m1") == []


def test_refund_then_takes_soonest_expiring_lots(api, clock):
    api.program(PROGRAM)
    api.member("m1")
    # lot E: 100 points, occurred 5 days ago -> expires 2027-02-09T03:00:00Z (soonest)
    tx = earn(api, "m1", "o1", 1000, occurred_at="2027-01-10T03:00:00Z")
    # lot S: 400 × 0.1 = 40 -> expires 2027-02-14T03:00:00Z
    earn(api, "m1", "o2", 400)
    clock.advance(days=1)
    # lot L: 300 × 0.1 = 30 -> expires 2027-02-15T03:00:00Z
    earn(api, "m1", "o3", 300)
    # redeem 110: E 100 (soonest) then S 10 -> S 30, L 30
    redeem(api, "m1", 110)
    assert api.balance("m1") == 60

    # refund 500: floor(100 × 500 / 1000) = 50; E is empty, so S 30 then L 20
    refund = reverse(api, "m1", tx["transaction_id"], {"amount": 500})
    assert refund.status == 201, refund
    assert refund.json["points"] == -50
    assert refund.json["unrecovered_points"] == 0
    assert refund.json["balance_after"] == 10
    assert expiring(api, "m1") == [{"points": 10, "expires_at": "2027-02-15T03:00:00Z"}]


def test_refund_never_takes_the_balance_below_zero(api, clock):
    api.program(PROGRAM)
    api.member("m1")
    tx = earn(api, "m1", "o1", 1000)  # 100
    redeem(api, "m1", 80)  # balance 20
    before = stats(api)

    refund = reverse(api, "m1", tx["transaction_id"])
    assert refund.status == 201, refund
    # due 100, only 20 left: 20 taken, 80 unrecovered
    assert refund.json["points"] == -20
    assert refund.json["unrecovered_points"] == 80
    assert refund.json["balance_after"] == 0
    assert api.balance("m1") == 0
    newest = history(api, "m1")[0]
    assert newest["type"] == "reversal" and newest["points"] == -20 and newest["balance_after"] == 0

    after = stats(api)
    assert after["points_reversed"] == before["points_reversed"] - 20
    assert after["points_outstanding"] == 0

    # the order is fully refunded now, even though 80 points were never recovered
    again = reverse(api, "m1", tx["transaction_id"], {"amount": 1})
    assert again.status == 422 and again.error == "REVERSAL_NOT_ALLOWED", again


def test_refund_of_an_empty_balance_records_zero_points(api, clock):
    api.program(PROGRAM)
    api.member("m1")
    tx = earn(api, "m1", "o1", 1000)  # 100
    redeem(api, "m1", 100)
    refund = reverse(api, "m1", tx["transaction_id"], {"amount": 400})
    assert refund.status == 201, refund
    # due floor(100 × 400 / 1000) = 40, nothing to take
    assert refund.json["points"] == 0
    assert refund.json["unrecovered_points"] == 40
    assert refund.json["balance_after"] == 0
    assert api.balance("m1") == 0
    # the refunded amount still counts: only 600 remain refundable
    over = reverse(api, "m1", tx["transaction_id"], {"amount": 601})
    assert over.status == 422 and over.error == "REVERSAL_NOT_ALLOWED", over

    earn(api, "m1", "o2", 500)  # 50 more points
    last = reverse(api, "m1", tx["transaction_id"], {"amount": 600})
    assert last.status == 201, last
    # floor(100 × 1000 / 1000) = 100 minus what the earlier refund clawed back (its
    # 40, though it could take none): 60 due, the 50 held are taken, 10 unrecovered.
    # The earn's 100 points: 50 taken + 40 + 10 unrecovered, each point reported once.
    assert last.json["points"] == -50
    assert last.json["unrecovered_points"] == 10
    assert api.balance("m1") == 0


def test_refund_beyond_the_remaining_amount_is_rejected(api, clock):
    api.program(PROGRAM)
    api.member("m1")
    tx = earn(api, "m1", "o1", 1000)  # 100
    tx_id = tx["transaction_id"]

    over = reverse(api, "m1", tx_id, {"amount": 1001})
    assert over.status == 422 and over.error == "REVERSAL_NOT_ALLOWED", over
    assert api.balance("m1") == 100
    assert len(history(api, "m1")) == 1

    part = reverse(api, "m1", tx_id, {"amount": 600})
    assert part.status == 201 and part.json["points"] == -60, part  # floor(100 × 600 / 1000)

    over = reverse(api, "m1", tx_id, {"amount": 401})
    assert over.status == 422 and over.error == "REVERSAL_NOT_ALLOWED", over
    assert api.balance("m1") == 40
    assert len(history(api, "m1")) == 2

    last = reverse(api, "m1", tx_id, {"amount": 400})
    assert last.status == 201 and last.json["points"] == -40, last
    assert api.balance("m1") == 0


def test_refund_lowers_quarter_spend_and_downgrades_at_once(api, clock):
    api.program({**PROGRAM, "tiers": TIERS})
    api.member("m1")
    tx = earn(api, "m1", "o1", 1500)  # 150 points, spend 1500 >= 1000 -> gold
    assert tx["tier"] == "gold"
    member = api.get("/members/m1").json
    assert member["tier"] == "gold"
    assert member["quarter_spend"] == 1500

    refund = reverse(api, "m1", tx["transaction_id"], {"amount": 600})
    assert refund.status == 201, refund
    assert refund.json["points"] == -60  # floor(150 × 600 / 1500)
    member = api.get("/members/m1").json
    assert member["quarter_spend"] == 900  # 1500 − 600
    assert member["tier"] == "basic"  # 900 < 1000
    assert member["next_tier"] == {"name": "gold", "spend_needed": 100}
    assert stats(api)["members_by_tier"] == {"basic": 1, "gold": 0}


def test_refund_that_keeps_the_threshold_keeps_the_tier(api, clock):
    api.program({**PROGRAM, "tiers": TIERS})
    api.member("m1")
    tx = earn(api, "m1", "o1", 1500)
    refund = reverse(api, "m1", tx["transaction_id"], {"amount": 500})
    assert refund.status == 201, refund
    member = api.get("/members/m1").json
    assert member["quarter_spend"] == 1000
    assert member["tier"] == "gold"  # 1000 >= 1000


def test_refund_leaves_the_spend_of_the_purchase_quarter(api, clock):
    api.program({**PROGRAM, "tiers": TIERS})
    clock.set("2027-03-25T03:00:00Z")  # 2027Q1 in Asia/Seoul
    api.member("m1")
    tx = earn(api, "m1", "o1", 1500)  # Q1 spend 1500 -> gold
    clock.set("2027-04-10T03:00:00Z")  # 2027Q2: gold held through Q1's spend
    earn(api, "m1", "o2", 200)  # Q2 spend 200
    member = api.get("/members/m1").json
    assert member["tier"] == "gold"
    assert member["quarter_spend"] == 200

    refund = reverse(api, "m1", tx["transaction_id"], {"amount": 600})
    assert refund.status == 201, refund
    member = api.get("/members/m1").json
    # Q1 spend 1500 − 600 = 900; Q2 still 200; max(200, 900) = 900 < 1000
    assert member["quarter_spend"] == 200
    assert member["tier"] == "basic"
    assert member["next_tier"] == {"name": "gold", "spend_needed": 800}


# -- cancellations of redemptions -----------------------------------------------


def test_cancel_defaults_to_everything_not_yet_restored(api, clock):
    api.program(PROGRAM)
    api.member("m1")
    earn(api, "m1", "o1", 1000)  # 100
    tx = redeem(api, "m1", 60, order_id="r1")
    assert api.balance("m1") == 40

    cancel = reverse(api, "m1", tx["transaction_id"])
    assert cancel.status == 201, cancel
    body = cancel.json
    assert body["type"] == "reversal"
    assert body["points"] == 60
    assert body["balance_after"] == 100
    assert api.balance("m1") == 100

    again = reverse(api, "m1", tx["transaction_id"])
    assert again.status == 422 and again.error == "REVERSAL_NOT_ALLOWED", again
    assert api.balance("m1") == 100


def test_partial_cancels_and_over_cancel(api, clock):
    api.program(PROGRAM)
    api.member("m1")
    earn(api, "m1", "o1", 1000)  # 100
    tx_id = redeem(api, "m1", 60)["transaction_id"]  # balance 40

    first = reverse(api, "m1", tx_id, {"points": 25})
    assert first.status == 201 and first.json["points"] == 25, first
    assert first.json["balance_after"] == 65

    over = reverse(api, "m1", tx_id, {"points": 36})  # only 60 − 25 = 35 remain
    assert over.status == 422 and over.error == "REVERSAL_NOT_ALLOWED", over
    assert api.balance("m1") == 65
    assert len(history(api, "m1")) == 3

    rest = reverse(api, "m1", tx_id)
    assert rest.status == 201 and rest.json["points"] == 35, rest
    assert api.balance("m1") == 100

    done = reverse(api, "m1", tx_id, {"points": 1})
    assert done.status == 422 and done.error == "REVERSAL_NOT_ALLOWED", done

    # reversals: +25 + 35; redeemed 60
    s = stats(api)
    assert s["points_redeemed"] == 60
    assert s["points_reversed"] == 60
    assert s["points_outstanding"] == 100


def test_cancel_restores_latest_expiring_lots_first_with_their_dates(api, clock):
    api.program(PROGRAM)
    api.member("m1")
    # A: 10 points, occurred 10 days ago -> expires 2027-02-04T03:00:00Z
    earn(api, "m1", "oa", 100, occurred_at="2027-01-05T03:00:00Z")
    # B: 20 points -> expires 2027-02-14T03:00:00Z
    earn(api, "m1", "ob", 200)
    clock.advance(days=1)  # 2027-01-16T03:00:00Z
    # C: 30 points -> expires 2027-02-15T03:00:00Z
    earn(api, "m1", "oc", 300)

    # redeem 45: A 10, B 20, C 15
    tx_id = redeem(api, "m1", 45)["transaction_id"]
    assert expiring(api, "m1") == [{"points": 15, "expires_at": "2027-02-15T03:00:00Z"}]

    # cancel 20: C (latest) gets its 15 back, then B 5
    part = reverse(api, "m1", tx_id, {"points": 20})
    assert part.status == 201, part
    assert expiring(api, "m1") == [
        {"points": 5, "expires_at": "2027-02-14T03:00:00Z"},
        {"points": 30, "expires_at": "2027-02-15T03:00:00Z"},
    ]

    # cancel the remaining 25: B 15 more, then A 10
    rest = reverse(api, "m1", tx_id)
    assert rest.status == 201 and rest.json["points"] == 25, rest
    assert expiring(api, "m1") == [
        {"points": 10, "expires_at": "2027-02-04T03:00:00Z"},
        {"points": 20, "expires_at": "2027-02-14T03:00:00Z"},
        {"points": 30, "expires_at": "2027-02-15T03:00:00Z"},
    ]

    # the restored points expire on their lots' original dates
    clock.set("2027-02-04T03:00:00Z")
    local.run_job("expire_points")
    newest = history(api, "m1")[0]
    assert newest["type"] == "expire" and newest["points"] == -10, newest
    assert api.balance("m1") == 50
    clock.set("2027-02-14T03:00:00Z")
    local.run_job("expire_points")
    assert history(api, "m1")[0]["points"] == -20
    assert api.balance("m1") == 30


def test_points_restored_into_an_expired_lot_go_at_the_next_expiry_run(api, clock):
    api.program(PROGRAM)
    api.member("m1")
    earn(api, "m1", "oa", 1000)  # A: 100 -> expires 2027-02-14T03:00:00Z
    clock.advance(days=10)  # 2027-01-25T03:00:00Z
    earn(api, "m1", "ob", 500)  # B: 50 -> expires 2027-02-24T03:00:00Z
    tx_id = redeem(api, "m1", 120)["transaction_id"]  # A 100, B 20 -> B 30

    clock.set("2027-02-20T03:00:00Z")  # A's date has passed; A holds nothing
    local.run_job("expire_points")
    assert api.balance("m1") == 30
    assert all(t["type"] != "expire" for t in history(api, "m1"))

    # cancel all 120: B (latest) gets 20 back, A (already past its date) 100
    cancel = reverse(api, "m1", tx_id)
    assert cancel.status == 201, cancel
    assert cancel.json["points"] == 120
    assert cancel.json["balance_after"] == 150
    member = api.get("/members/m1").json
    assert member["balance"] == 150
    assert member["expiring"] == [{"points": 50, "expires_at": "2027-02-24T03:00:00Z"}]

    local.run_job("expire_points")
    newest = history(api, "m1")[0]
    assert newest["type"] == "expire"
    assert newest["points"] == -100
    assert newest["balance_after"] == 50
    assert newest["storefront"] is None
    assert api.balance("m1") == 50
    s = stats(api)
    assert s["points_expired"] == 100
    assert s["points_outstanding"] == 50


def test_full_cancel_returns_reward_stock(api, clock):
    api.program(PROGRAM)
    created = api.post("/rewards", {"reward_id": "mug", "name": "Mug", "points_cost": 30, "stock": 1}, key="admin")
    assert created.status == 201, created
    for member_id in ("m1", "m2"):
        api.member(member_id)
        earn(api, member_id, "o1", 1000)  # 100 each

    tx = api.post("/members/m1/redeem", {"reward_id": "mug"})
    assert tx.status == 201, tx
    assert tx.json["points"] == -30
    tx_id = tx.json["transaction_id"]

    def m2_redeems():
        return api.post("/members/m2/redeem", {"reward_id": "mug"})

    sold_out = m2_redeems()
    assert sold_out.status == 422 and sold_out.error == "OUT_OF_STOCK", sold_out

    # a reward redemption is cancelled whole or not at all (contract §5, v2)
    part = reverse(api, "m1", tx_id, {"points": 10})
    assert part.status == 422 and part.error == "REVERSAL_NOT_ALLOWED", part
    assert api.balance("m1") == 70
    sold_out = m2_redeems()
    assert sold_out.status == 422 and sold_out.error == "OUT_OF_STOCK", sold_out

    # the full cancel returns the unit
    rest = reverse(api, "m1", tx_id)
    assert rest.status == 201 and rest.json["points"] == 30, rest
    assert api.balance("m1") == 100
    again = m2_redeems()
    assert again.status == 201, again
    assert api.balance("m2") == 70

    # exactly one unit came back
    sold_out = api.post("/members/m1/redeem", {"reward_id": "mug"})
    assert sold_out.status == 422 and sold_out.error == "OUT_OF_STOCK", sold_out
    listed = api.get("/rewards")
    assert listed.status == 200, listed
    assert [(r["reward_id"], r["stock"]) for r in listed.json["items"]] == [("mug", 0)]


def test_full_cancel_of_an_unlimited_reward(api, clock):
    api.program(PROGRAM)
    created = api.post("/rewards", {"reward_id": "tote", "name": "Tote", "points_cost": 30}, key="admin")
    assert created.status == 201, created
    api.member("m1")
    earn(api, "m1", "o1", 1000)  # 100
    tx = api.post("/members/m1/redeem", {"reward_id": "tote"})
    assert tx.status == 201, tx

    cancel = reverse(api, "m1", tx.json["transaction_id"])
    assert cancel.status == 201, cancel
    assert cancel.json["points"] == 30
    assert api.balance("m1") == 100
    again = api.post("/members/m1/redeem", {"reward_id": "tote"})
    assert again.status == 201, again
    listed = api.get("/rewards")
    assert listed.status == 200, listed
    assert [(r["reward_id"], r["stock"]) for r in listed.json["items"]] == [("tote", None)]


# -- what cannot be reversed -------------------------------------------------------


def _bonus(api):
    api.program({**PROGRAM, "signup_bonus": 10})
    api.member("m1")
    earn(api, "m1", "o1", 1000)
    return next(t for t in history(api, "m1") if t["type"] == "bonus")["transaction_id"]


def _activity(api):
    api.program(PROGRAM)
    api.member("m1")
    earn(api, "m1", "o1", 1000)
    response = api.post("/members/m1/activities", {"type": "review", "reference_id": "r1"})
    assert response.status == 201, response
    return response.json["transaction_id"]


def _adjust(api):
    api.program(PROGRAM)
    api.member("m1")
    earn(api, "m1", "o1", 1000)
    response = api.post("/members/m1/adjustments", {"points": 7, "reason": "goodwill"}, key="admin")
    assert response.status == 201, response
    return response.json["transaction_id"]


def _reversal(api):
    api.program(PROGRAM)
    api.member("m1")
    tx = earn(api, "m1", "o1", 1000)
    response = reverse(api, "m1", tx["transaction_id"], {"amount": 100})
    assert response.status == 201, response
    return response.json["transaction_id"]


def _transfer_out(api):
    api.program(PROGRAM)
    api.member("m1")
    api.member("m2")
    earn(api, "m1", "o1", 1000)
    response = api.post("/members/m1/transfers", {"to_member_id": "m2", "points": 10})
    assert response.status == 201, response
    return response.json["transfer_out"]["transaction_id"]


@pytest.mark.parametrize(
    "make",
    [_bonus, _activity, _adjust, _reversal, _transfer_out],
    ids=["bonus", "activity", "adjust", "reversal", "transfer_out"],
)
def test_only_earns_and_redeems_can_be_reversed(api, clock, make):
    tx_id = make(api)
    balance = api.balance("m1")
    length = len(history(api, "m1"))
    for body in ({}, {"points": 1}, {"amount": 1}):
        response = reverse(api, "m1", tx_id, body)
        # a body field that does not fit the type may be refused as 400 first;
        # with no body it must be the reversal rule
        if body == {}:
            assert response.status == 422 and response.error == "REVERSAL_NOT_ALLOWED", response
        else:
            assert (response.status, response.error) in {(422, "REVERSAL_NOT_ALLOWED"), (400, "VALIDATION_ERROR")}, (
                response
            )
    assert api.balance("m1") == balance
    assert len(history(api, "m1")) == length


def test_transfer_in_and_expire_cannot_be_reversed(api, clock):
    api.program(PROGRAM)
    api.member("m1")
    api.member("m2")
    earn(api, "m1", "o1", 1000)  # 100, expires 2027-02-14T03:00:00Z
    moved = api.post("/members/m1/transfers", {"to_member_id": "m2", "points": 10})
    assert moved.status == 201, moved
    in_id = moved.json["transfer_in"]["transaction_id"]
    refused = reverse(api, "m2", in_id)
    assert refused.status == 422 and refused.error == "REVERSAL_NOT_ALLOWED", refused
    assert api.balance("m2") == 10

    clock.set("2027-02-14T03:00:00Z")
    local.run_job("expire_points")
    expire = history(api, "m1")[0]
    assert expire["type"] == "expire" and expire["points"] == -90, expire
    refused = reverse(api, "m1", expire["transaction_id"])
    assert refused.status == 422 and refused.error == "REVERSAL_NOT_ALLOWED", refused
    assert api.balance("m1") == 0


def test_unknown_transaction_or_member_is_not_found(api, clock):
    api.program(PROGRAM)
    api.member("m1")
    api.member("m2")
    earn(api, "m1", "o1", 1000)
    other = earn(api, "m2", "o1", 1000)

    missing = reverse(api, "m1", "01JZZZZZZZZZZZZZZZZZZZZZZZ")
    assert missing.status == 404 and missing.error == "NOT_FOUND", missing
    # m2's transaction is not one of m1's
    foreign = reverse(api, "m1", other["transaction_id"])
    assert foreign.status == 404 and foreign.error == "NOT_FOUND", foreign
    ghost = reverse(api, "ghost", other["transaction_id"])
    assert ghost.status == 404 and ghost.error == "NOT_FOUND", ghost
    assert api.balance("m1") == 100
    assert api.balance("m2") == 100
    assert len(history(api, "m1")) == 1


def test_refund_takes_amount_and_cancel_takes_points(api, clock):
    api.program(PROGRAM)
    api.member("m1")
    earned = earn(api, "m1", "o1", 1000)
    redeemed = redeem(api, "m1", 30)
    before = (api.get("/members/m1").json, history(api, "m1"), stats(api))

    wrong = reverse(api, "m1", earned["transaction_id"], {"points": 10})
    assert wrong.status == 400 and wrong.error == "VALIDATION_ERROR", wrong
    wrong = reverse(api, "m1", redeemed["transaction_id"], {"amount": 100})
    assert wrong.status == 400 and wrong.error == "VALIDATION_ERROR", wrong

    assert (api.get("/members/m1").json, history(api, "m1"), stats(api)) == before
    # both remain fully reversible
    assert reverse(api, "m1", redeemed["transaction_id"], {"points": 30}).json["points"] == 30
    assert reverse(api, "m1", earned["transaction_id"], {"amount": 1000}).json["points"] == -100


# -- an earn or redemption read before another reversal committed ------------------
# The original transaction is read in the same BatchGetItem as the profile, which
# DynamoDB does not read as one snapshot: a reversal committed between the two
# reads leaves a fresh profile beside a stale original. Its update is conditioned
# on what was read, so the use case runs again instead of reversing twice.
def stale_original_once(monkeypatch, tx_id, stale):
    from chalicelib.ledger.member_changes import MemberChanges

    real_read = MemberChanges.read
    served = []

    def read(self, member_ids, extra=()):
        program, records, found = real_read(self, member_ids, extra)
        for key in list(found):
            if key[1] == f"TX#{tx_id}" and not served:
                found[key] = dict(stale)
                served.append(key)
        return program, records, found

    monkeypatch.setattr(MemberChanges, "read", read)
    return served


def original_item(member_id, tx_id):
    from chalicelib.runtime import services
    from chalicelib.storage.store import member_pk

    return services().store.get(member_pk(member_id), f"TX#{tx_id}")


def test_a_refund_on_a_stale_read_of_its_earn_runs_again(api, clock, monkeypatch):
    api.program(PROGRAM)
    api.member("m1")
    tx = earn(api, "m1", "o1", 1000)  # 100 points
    stale = original_item("m1", tx["transaction_id"])
    assert reverse(api, "m1", tx["transaction_id"], {"amount": 600}).status == 201
    served = stale_original_once(monkeypatch, tx["transaction_id"], stale)
    # on the stale read 1000 would still be refundable; only 400 is
    late = reverse(api, "m1", tx["transaction_id"], {"amount": 600})
    assert served
    assert late.status == 422 and late.error == "REVERSAL_NOT_ALLOWED", late
    rest = reverse(api, "m1", tx["transaction_id"], {"amount": 400})
    assert rest.status == 201 and rest.json["points"] == -40, rest
    assert api.balance("m1") == 0
    assert original_item("m1", tx["transaction_id"])["refunded_amount"] == 1000


def test_a_cancel_on_a_stale_read_of_its_redemption_runs_again(api, clock, monkeypatch):
    api.program(PROGRAM)
    api.member("m1")
    earn(api, "m1", "o1", 5000)  # 500 points
    spent = redeem(api, "m1", 300)
    stale = original_item("m1", spent["transaction_id"])
    assert reverse(api, "m1", spent["transaction_id"], {"points": 300}).status == 201
    served = stale_original_once(monkeypatch, spent["transaction_id"], stale)
    late = reverse(api, "m1", spent["transaction_id"], {"points": 300})
    assert served
    assert late.status == 422 and late.error == "REVERSAL_NOT_ALLOWED", late
    assert api.balance("m1") == 500

"""Request B runs whole while request A sits between its read and its commit.

The fault hook at the AWS client layer (devtools/faults.py) runs B just before A's
TransactWriteItems, in the same process, deterministically: A has read the member,
the idempotency record (none yet) and decided; B then commits; A's commit must not
go through on what it read. These tests fail if the `attribute_not_exists` condition
on the idempotency record or the version condition on the member profile is dropped
from the commit.
"""

from __future__ import annotations

from devtools import faults
from tests.checks import assert_error, earn, history, stats


def while_committing(api, run_b):
    """A plan that runs `run_b()` once, just before the first TransactWriteItems."""
    done = []

    def on_call(phase, call):
        if phase == "before" and call.operation == "TransactWriteItems" and not done:
            faults.arm(None)
            try:
                done.append(run_b())
            finally:
                faults.arm(plan)

    plan = faults.Plan(on_call=on_call)
    return plan, done


def run_a(api, plan, method, path, body, **kw):
    faults.arm(plan)
    try:
        return api.call(method, path, body, **kw)
    finally:
        faults.arm(None)


def ledger_adds_up(api, *members):
    total = 0
    for member_id in members:
        member = api.get(f"/members/{member_id}")
        if member.status == 404:
            continue
        balance = member.json["balance"]
        assert balance == sum(tx["points"] for tx in history(api, member_id))
        total += balance
    assert stats(api)["points_outstanding"] == total


def test_same_key_same_body_in_between_replays_the_first_201(demo):
    body = {"member_id": "m9", "name": "Lee", "email": "lee@example.com"}
    plan, b = while_committing(demo, lambda: demo.post("/members", body, idem="enrol-lee"))
    a = run_a(demo, plan, "POST", "/members", body, idem="enrol-lee")
    assert b and b[0].status == 201, b
    assert a.status == 201, a
    assert a.json == b[0].json  # the first 201, replayed
    assert stats(demo)["members"] == 1
    assert [tx["type"] for tx in history(demo, "m9")] == ["bonus"]  # one signup bonus
    ledger_adds_up(demo, "m9")


def test_same_key_other_body_in_between_is_409_and_writes_nothing(demo):
    plan, b = while_committing(demo, lambda: demo.post("/members", {"member_id": "m8", "name": "Park"}, idem="enrol-x"))
    a = run_a(demo, plan, "POST", "/members", {"member_id": "m9", "name": "Lee"}, idem="enrol-x")
    assert b and b[0].status == 201, b
    assert_error(a, 409, "IDEMPOTENCY_KEY_REUSED")
    assert demo.get("/members/m9").status == 404  # A wrote nothing
    assert demo.get("/members/m8").status == 200
    assert stats(demo)["members"] == 1
    replay = demo.post("/members", {"member_id": "m8", "name": "Park"}, idem="enrol-x")
    assert (replay.status, replay.json) == (201, b[0].json)
    ledger_adds_up(demo, "m8", "m9")


def test_same_key_other_earn_in_between_is_409_and_earns_once(demo):
    demo.member("m1")
    plan, b = while_committing(
        demo, lambda: demo.post("/members/m1/earn", {"order_id": "o1", "amount": 10000}, idem="pay-1")
    )
    a = run_a(demo, plan, "POST", "/members/m1/earn", {"order_id": "o2", "amount": 90000}, idem="pay-1")
    assert b and b[0].status == 201, b
    assert_error(a, 409, "IDEMPOTENCY_KEY_REUSED")
    assert demo.balance("m1") == 1000 + 100
    ledger_adds_up(demo, "m1")


def test_stale_profile_redeem_after_another_redeem_is_decided_again(demo):
    """A read the balance (3000), B redeems 2000 and commits, A's 2000 must be refused
    on the fresh balance (1000) rather than written over B's change."""
    demo.member("m1")
    earn(demo, "m1", "o1", 200_000)  # 2000 points
    assert demo.balance("m1") == 3000
    plan, b = while_committing(demo, lambda: demo.post("/members/m1/redeem", {"points": 2000}, idem="redeem-b"))
    a = run_a(demo, plan, "POST", "/members/m1/redeem", {"points": 2000}, idem="redeem-a")
    assert b and b[0].status == 201, b
    assert_error(a, 422, "INSUFFICIENT_POINTS")
    assert demo.balance("m1") == 1000
    assert [tx["type"] for tx in history(demo, "m1")].count("redeem") == 1
    ledger_adds_up(demo, "m1")


def test_stale_profile_two_earns_both_count(demo):
    demo.member("m1")
    plan, b = while_committing(
        demo, lambda: demo.post("/members/m1/earn", {"order_id": "o2", "amount": 20000}, idem="earn-b")
    )
    a = run_a(demo, plan, "POST", "/members/m1/earn", {"order_id": "o1", "amount": 10000}, idem="earn-a")
    assert b and b[0].status == 201 and a.status == 201, (a, b)
    assert demo.balance("m1") == 1000 + 100 + 200  # neither earn lost
    assert a.json["balance_after"] == 1300
    ledger_adds_up(demo, "m1")


# -- coupons (§11): the code item's status condition -------------------------------
def coupon_world(api):
    created = api.post(
        "/coupon-templates",
        {"template_id": "off", "name": "1,000 off", "discount": {"type": "amount", "amount": 1000}},
        key="admin",
    )
    assert created.status == 201, created
    api.member("m1")
    coupon = api.post("/members/m1/coupons", {"template_id": "off"}, key="admin")
    assert coupon.status == 201, coupon
    return coupon.json["code"]


def coupon_counts(api):
    totals = stats(api)
    return (totals["coupons_issued"], totals["coupons_used"], api.get("/members/m1").json["coupons_available"])


def test_a_coupon_used_in_between_is_not_used_again(api, clock):
    """A read the coupon `available`; B uses it and commits; A's use must fail on the
    code item's status and, deciding again, find it used (422)."""
    code = coupon_world(api)
    body_b = {"member_id": "m1", "order_id": "b", "order_amount": 5000}
    plan, b = while_committing(api, lambda: api.post(f"/coupons/{code}/redemption", body_b))
    a = run_a(
        api, plan, "POST", f"/coupons/{code}/redemption", {"member_id": "m1", "order_id": "a", "order_amount": 8000}
    )
    assert b and b[0].status == 201, b
    assert_error(a, 422, "COUPON_NOT_USABLE")
    [coupon] = api.get("/members/m1/coupons").json["items"]
    assert (coupon["status"], coupon["order_id"]) == ("used", "b")
    assert coupon_counts(api) == (1, 1, 0)


def test_a_coupon_released_in_between_is_not_released_again(api, clock):
    """A read the coupon `used`; B releases it and commits; A's release must fail on
    the status condition and, deciding again, find it not used (422): one release,
    coupons_used back by one, the member's count up by one."""
    code = coupon_world(api)
    used = api.post(f"/coupons/{code}/redemption", {"member_id": "m1", "order_id": "o", "order_amount": 5000})
    assert used.status == 201, used
    plan, b = while_committing(api, lambda: api.post(f"/coupons/{code}/release", {"member_id": "m1"}))
    a = run_a(api, plan, "POST", f"/coupons/{code}/release", {"member_id": "m1"})
    assert b and b[0].status == 200, b
    assert_error(a, 422, "COUPON_NOT_USABLE")
    assert coupon_counts(api) == (1, 0, 1)
    [coupon] = api.get("/members/m1/coupons").json["items"]
    assert coupon["status"] == "available"


def test_a_suspension_in_between_refuses_the_coupon_use(api, clock):
    """A read the member active; an admin suspends them and commits; A's use must not
    go through on what it read (§15: using coupons while suspended -> 422)."""
    code = coupon_world(api)
    plan, b = while_committing(api, lambda: api.post("/members/m1/suspension", {"reason": "chargebacks"}, key="admin"))
    a = run_a(
        api, plan, "POST", f"/coupons/{code}/redemption", {"member_id": "m1", "order_id": "a", "order_amount": 8000}
    )
    assert b and b[0].status == 200, b
    assert_error(a, 422, "MEMBER_SUSPENDED")
    [coupon] = api.get("/members/m1/coupons").json["items"]
    assert coupon["status"] == "available"
    assert coupon_counts(api) == (1, 0, 1)

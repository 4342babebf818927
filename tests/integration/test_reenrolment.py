"""A member id enrolled again after an erasure (§3: the erased member "is gone",
so the id no longer "exists" for 409 MEMBER_EXISTS) is a new member that
shares nothing with the erased one: not its ledger, orders, activities,
notifications, idempotent replies, referrals or vouchers."""

from __future__ import annotations

from chalicelib import local
from tests.checks import assert_error, stats
from tests.integration.test_notifications import emails_to

SIGNUP = 1000  # the demo program's signup bonus


def history(api, member_id):
    response = api.get(f"/members/{member_id}/transactions?limit=100")
    assert response.status == 200, response
    return response.json["items"]


def notifications(api, member_id):
    response = api.get(f"/members/{member_id}/notifications?limit=100", key="admin")
    assert response.status == 200, response
    return response.json["items"]


def first_life(demo):
    """m1 enrols, earns, reviews, redeems; then is erased. Returns what it left."""
    demo.member("m1", email="first@example.com")
    earn = demo.post("/members/m1/earn", {"order_id": "o1", "amount": 50000}, idem="earn-o1")
    assert earn.status == 201, earn
    review = demo.post("/members/m1/activities", {"type": "review", "reference_id": "r1"})
    assert review.status == 201, review
    redeem = demo.post("/members/m1/redeem", {"points": 1000})
    assert redeem.status == 201, redeem
    local.drain_queues()
    assert demo.delete("/members/m1", key="admin").status == 204
    return earn.json, redeem.json


def test_an_erased_id_enrols_again_as_a_new_member(demo, clock):
    before = stats(demo)
    earn, redeem = first_life(demo)
    erased = stats(demo)
    assert erased["members"] == before["members"]

    again = demo.post("/members", {"member_id": "m1", "name": "Park", "email": "second@example.com"})
    assert again.status == 201, again
    member = again.json
    assert member["member_id"] == "m1" and member["name"] == "Park"
    assert member["balance"] == SIGNUP and member["lifetime_points"] == SIGNUP
    assert member["tier"] == "새싹" and member["quarter_spend"] == 0
    assert demo.get("/members/m1").json == member

    # its own ledger and notifications only
    assert [(tx["type"], tx["points"]) for tx in history(demo, "m1")] == [("bonus", SIGNUP)]
    assert [n["type"] for n in notifications(demo, "m1")] == ["welcome"]

    # the erased member's order, activity and transactions are not this member's
    assert demo.post("/members/m1/earn", {"order_id": "o1", "amount": 10000}).status == 201
    assert demo.post("/members/m1/activities", {"type": "review", "reference_id": "r1"}).status == 201
    for old in (earn, redeem):
        response = demo.post(f"/members/m1/transactions/{old['transaction_id']}/reversal", {})
        assert_error(response, 404, "NOT_FOUND")
    # a retry of the erased member's request does not answer for the new one
    replay = demo.post("/members/m1/earn", {"order_id": "o1", "amount": 50000}, idem="earn-o1")
    assert_error(replay, 404, "NOT_FOUND")

    ledger = history(demo, "m1")
    assert sum(tx["points"] for tx in ledger) == demo.balance("m1")
    assert [tx["type"] for tx in ledger] == ["activity", "earn", "bonus"]
    after = stats(demo)
    assert after["members"] == before["members"] + 1
    assert after["points_outstanding"] - erased["points_outstanding"] == demo.balance("m1")


def test_the_new_members_own_transactions_can_be_reversed(demo, clock):
    first_life(demo)
    demo.member("m1")
    earn = demo.post("/members/m1/earn", {"order_id": "o1", "amount": 20000})  # 200 points
    assert earn.status == 201, earn
    refund = demo.post(f"/members/m1/transactions/{earn.json['transaction_id']}/reversal", {})
    assert refund.status == 201, refund
    assert refund.json["points"] == -earn.json["points"]
    redeem = demo.post("/members/m1/redeem", {"points": 1000})
    assert redeem.status == 201, redeem
    cancel = demo.post(f"/members/m1/transactions/{redeem.json['transaction_id']}/reversal", {})
    assert cancel.status == 201, cancel
    assert demo.balance("m1") == SIGNUP
    assert sum(tx["points"] for tx in history(demo, "m1")) == SIGNUP


def test_a_notification_of_the_erased_member_never_reaches_the_new_one(demo, clock):
    demo.member("m1", email="first@example.com")
    local.drain_queues()
    # queued for the first member, not yet delivered when it is erased
    assert demo.post("/members/m1/earn", {"order_id": "o1", "amount": 50000}).status == 201
    assert demo.delete("/members/m1", key="admin").status == 204
    demo.member("m1", email="second@example.com")
    local.drain_queues()
    subjects = [m.subject for m in emails_to("second@example.com")]
    assert len(subjects) == 1, subjects  # the new member's welcome only
    assert len(emails_to("first@example.com")) == 1  # the first welcome; nothing after erasure
    assert [(n["type"], n["status"]) for n in notifications(demo, "m1")] == [("welcome", "sent")]


def test_a_live_id_still_cannot_be_enrolled_twice(demo, clock):
    first_life(demo)
    demo.member("m1")
    assert_error(demo.post("/members", {"member_id": "m1", "name": "Third"}), 409, "MEMBER_EXISTS")
    # erased again and enrolled a third time
    assert demo.delete("/members/m1", key="admin").status == 204
    third = demo.member("m1", name="Third")
    assert third["balance"] == SIGNUP
    assert [tx["type"] for tx in history(demo, "m1")] == ["bonus"]


def test_a_referral_by_the_erased_member_does_not_pay_the_new_one(demo, clock):
    referrer = demo.member("r1")
    demo.member("e1", referral_code=referrer["referral_code"])
    assert demo.delete("/members/r1", key="admin").status == 204
    demo.member("r1")  # someone else now
    earn = demo.post("/members/e1/earn", {"order_id": "o1", "amount": 10000})
    assert earn.status == 201, earn
    assert demo.balance("r1") == SIGNUP  # no referrer bonus for the new r1
    assert [tx["type"] for tx in history(demo, "r1")] == ["bonus"]
    # the referee still gets its own referral bonus
    referee = [tx for tx in history(demo, "e1") if tx["type"] == "bonus"]
    assert len(referee) == 2, referee


def test_expiry_warnings_and_jobs_serve_the_new_member(demo, clock):
    first_life(demo)
    demo.member("m1", email="second@example.com")
    local.drain_queues()
    # the signup lot expires after 365 days: warned 7 days before, expired on the day
    clock.advance(days=360)
    local.run_job("send_expiry_warnings")
    local.run_job("send_expiry_warnings")  # once per day
    clock.advance(days=6)
    local.run_job("expire_points")
    local.drain_queues()
    assert demo.balance("m1") == 0
    assert [n["type"] for n in notifications(demo, "m1")] == ["points_expired", "points_expiring", "welcome"]
    assert [tx["type"] for tx in history(demo, "m1")] == ["expire", "bonus"]


def test_erasure_after_the_enrolment_reply_expired_leaves_no_stub(demo, clock):
    from chalicelib.runtime import services

    assert demo.post("/members", {"member_id": "x1", "name": "X"}, idem="enrol-x1").status == 201
    store = services().store
    # the 48 h reply is gone (DynamoDB's TTL deletes it)
    replies = [
        k
        for k in store.client.scan(TableName=store.table)["Items"]  # test-only inspection
        if k["sk"]["S"] == "IDEMPOTENCY" and k["pk"]["S"].endswith("#enrol-x1")
    ]
    assert len(replies) == 1
    store.client.delete_item(TableName=store.table, Key={"pk": replies[0]["pk"], "sk": replies[0]["sk"]})

    assert demo.delete("/members/x1", key="admin").status == 204
    assert store.get(replies[0]["pk"]["S"], "IDEMPOTENCY") is None
    # the key is free: a new enrolment under it is a new member
    again = demo.post("/members", {"member_id": "x1", "name": "X"}, idem="enrol-x1")
    assert again.status == 201, again

"""Contract §17–§21 through the API on moto, end to end: members enrol, buy, get a
refund and are erased through the routes; the table's stream brings the facts into
the embedded engine; POST /analytics/refresh (run from the job queue) computes and
stores the results; the analytics routes answer them. Every figure below is worked
out by hand from this small history (demo café: ₩100 → 1 point, signup bonus 1000)."""

from __future__ import annotations

import pytest

from chalicelib import local


@pytest.fixture
def history(demo, clock):
    clock.set("2027-01-15T03:00:00Z")  # 12:00 in Seoul: the same calendar date
    demo.member("a", email="a@example.com")
    demo.member("b")
    assert demo.post("/members/a/earn", {"order_id": "A1", "amount": 10000}).status == 201
    clock.set("2027-02-10T03:00:00Z")
    a2 = demo.post("/members/a/earn", {"order_id": "A2", "amount": 20000}).json
    assert demo.post("/members/b/earn", {"order_id": "B1", "amount": 5000}).status == 201
    clock.set("2027-02-12T03:00:00Z")
    refund = demo.post(f"/members/a/transactions/{a2['transaction_id']}/reversal", {"amount": 5000})
    assert refund.status == 201 and refund.json["points"] == -50  # floor(200 × 5000 / 20000)
    demo.member("c")
    demo.member("d", phone="010-5555-6666")
    assert demo.post("/members/d/earn", {"order_id": "D1", "amount": 30000}).status == 201
    assert demo.delete("/members/d", key="admin").status == 204  # forfeits 1300 points as expired
    clock.set("2027-03-01T03:00:00Z")
    answer = demo.post("/analytics/refresh", {}, key="admin")
    assert answer.status == 202, answer.json
    local.drain_queues()  # the job queue runs the refresh
    return demo


def test_before_the_first_refresh_every_answer_is_empty(demo):
    summary = demo.get("/analytics/summary?days=30", key="admin").json
    assert (summary["as_of"], summary["from"], summary["to"], summary["purchases"]) == (None, None, None, 0)
    assert summary["active_rate"] is None
    assert demo.get("/analytics/cohorts?from=2027-01&to=2027-03", key="admin").json == {"as_of": None, "items": []}


def test_the_month_summary_counts_what_happened_that_month(history):
    summary = history.get("/analytics/summary?month=2027-02", key="admin").json
    assert summary == {
        "as_of": "2027-03-01T03:00:00Z",
        "from": "2027-02-01",
        "to": "2027-02-28",
        "members_at_end": 3,  # a, b, c (d erased)
        "new_members": 1,  # c
        "active_members": 2,  # a, b
        "repeat_members": 0,
        "active_rate": "0.6667",
        "repeat_rate": "0.0000",
        "purchases": 3,  # A2, B1 and the erased member's D1, as an anonymous number
        "purchase_amount": 50000,  # 20000 - 5000 refunded + 5000 + 30000
        "average_order_value": 16666,
        "points_earned": 2550,  # 200 + 50 + 300, and the signup bonuses of c and d
        "points_redeemed": 0,
        "points_expired": 1300,  # d's forfeited balance
        "redemption_rate": "0.0000",
        "breakage_rate": "0.5098",
        "coupons_issued": 0,
        "coupons_used": 0,
    }


def test_cohorts_count_the_members_of_each_month_who_bought_later(history):
    cohorts = history.get("/analytics/cohorts?from=2027-01&to=2027-03", key="admin").json
    assert cohorts["items"] == [
        {"cohort": "2027-01", "members": 2, "active": [1, 2, 0]},
        {"cohort": "2027-02", "members": 1, "active": [0, 0]},  # c; d erased
        {"cohort": "2027-03", "members": 0, "active": [0]},
    ]


def test_member_value_and_rfm_segments(history):
    a = history.get("/members/a/insights", key="admin").json
    assert {k: a[k] for k in ("recency_days", "frequency", "monetary", "clv", "rfm", "rfm_segment")} == {
        "recency_days": 19,  # 10 Feb to 1 Mar
        "frequency": 2,
        "monetary": 25000,
        "clv": 25000,
        "rfm": {"r": 1, "f": 3, "m": 3},  # ties on recency: equal scores
        "rfm_segment": "at_risk",
    }
    b = history.get("/members/b/insights", key="admin").json
    assert (b["rfm"], b["rfm_segment"]) == ({"r": 1, "f": 1, "m": 1}, "hibernating")
    c = history.get("/members/c/insights", key="admin").json
    assert (c["recency_days"], c["frequency"], c["clv"], c["rfm"], c["rfm_segment"]) == (None, 0, 0, None, None)
    assert history.get("/members/d/insights", key="admin").status == 404
    rfm = {row["rfm_segment"]: row for row in history.get("/analytics/rfm", key="admin").json["items"]}
    assert list(rfm) == ["champions", "loyal", "promising", "at_risk", "hibernating", "needs_attention"]
    assert rfm["at_risk"] == {"rfm_segment": "at_risk", "members": 1, "avg_monetary": 25000, "avg_clv": 25000}
    assert rfm["hibernating"]["members"] == 1 and rfm["champions"]["members"] == 0


def test_a_segment_is_assigned_by_the_next_refresh(history, clock):
    rules = [{"field": "monetary", "op": "gte", "value": 10000}]
    created = history.post("/segments", {"segment_id": "big", "name": "Big spenders", "rules": rules}, key="admin")
    assert created.status == 201, created.json
    assert history.get("/members?segment=big", key="admin").json["items"] == []  # not refreshed yet
    clock.set("2027-03-01T04:00:00Z")
    assert history.post("/analytics/refresh", {}, key="admin").status == 202
    local.drain_queues()
    listed = history.get("/members?segment=big", key="admin").json["items"]
    assert [m["member_id"] for m in listed] == ["a"]
    segment = history.get("/segments/big", key="admin").json
    assert (segment["members"], segment["avg_clv"], segment["as_of"]) == (1, 25000, "2027-03-01T04:00:00Z")
    assert history.get("/members/a/insights", key="admin").json["segments"] == ["big"]

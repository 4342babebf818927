"""§22 GET /campaigns/{id}/results through the API on moto: a campaign is launched, its
audience buys (earns, a partial and a full refund, the campaign's coupon used, released and
used again, a coupon of no campaign), a member is erased, the refresh runs from the job queue,
and the results are read. Every figure is worked out by hand below (₩100 → 1 point; a
multiplier "2" arm earns one more point per ₩100 as its `campaign:spring` line)."""

from __future__ import annotations

import copy

import pytest

from chalicelib import local
from tests.checks import assert_error
from tests.conftest import DEMO_PROGRAM

PROGRAM = {**copy.deepcopy(DEMO_PROGRAM), "base_rate": "0.01", "promotions": [], "category_multipliers": {}}
TEMPLATE = {"template_id": "welcome5", "name": "5,000 off", "discount": {"type": "amount", "amount": 5000}}
SPRING = {
    "campaign_id": "spring",
    "name": "Spring double points",
    "starts_at": "2027-01-15T00:00:00Z",  # 09:00 in Seoul: the dates begin 2027-01-15
    "ends_at": "2027-02-15T00:00:00Z",  # the dates end 2027-02-15
    "arms": [
        {"name": "control", "weight": 34, "reward": None},  # buckets 0-33
        {"name": "double", "weight": 33, "reward": {"type": "multiplier", "multiplier": "2"}},  # 34-66
        {"name": "gift", "weight": 33, "reward": {"type": "coupon", "template_id": "welcome5"}},  # 67-99
    ],
}
# sha256(f"spring:{member_id}").hexdigest()[:8] as an integer, % 100:
# a 58, b 3, c 25, d 8, e 85, f 59
ARMS = {"a": "double", "b": "control", "c": "control", "d": "control", "e": "gift", "f": "double"}
EMPTY_COMPARISON = {
    "purchase_rate": None,
    "baseline_rate": None,
    "diff": None,
    "ci95": None,
    "significant": False,
    "revenue_per_member_diff": None,
}


def earn(api, member_id, order_id, amount, at):
    response = api.post(f"/members/{member_id}/earn", {"order_id": order_id, "amount": amount, "occurred_at": at})
    assert response.status == 201, response
    return response.json


@pytest.fixture
def launched(api, clock):
    clock.set("2027-01-15T03:00:00Z")
    api.program(PROGRAM)
    assert api.post("/coupon-templates", TEMPLATE, key="admin").status == 201
    for member_id in sorted(ARMS):
        api.member(member_id)
    assert api.post("/campaigns", SPRING, key="admin").status == 201
    local.run_job("launch_campaigns")
    for member_id, arm in ARMS.items():
        assert api.get(f"/members/{member_id}/campaigns", key="admin").json == {
            "items": [{"campaign_id": "spring", "arm": arm}]
        }
    return api


@pytest.fixture
def history(launched, clock):
    api = launched
    clock.set("2027-01-20T03:00:00Z")
    earn(api, "a", "A0", 10000, "2027-01-14T03:00:00Z")  # dated before the campaign: not counted
    a1 = earn(api, "a", "A1", 20000, "2027-01-20T03:00:00Z")
    assert {"rule": "campaign:spring", "points": 200} in a1["breakdown"]  # floor(20000 × 0.01 × (2 − 1))
    refund = api.post(f"/members/a/transactions/{a1['transaction_id']}/reversal", {"amount": 5000})
    assert refund.status == 201 and refund.json["points"] == -100  # floor(400 × 5000 / 20000): clawback
    clock.set("2027-01-21T03:00:00Z")
    f1 = earn(api, "f", "F1", 10000, "2027-01-21T03:00:00Z")
    assert {"rule": "campaign:spring", "points": 100} in f1["breakdown"]
    full = api.post(f"/members/f/transactions/{f1['transaction_id']}/reversal", {"amount": 10000})
    assert full.status == 201  # net 0: still a purchase, its line still awarded
    clock.set("2027-01-22T03:00:00Z")
    earn(api, "b", "B1", 5000, "2027-01-22T03:00:00Z")
    clock.set("2027-01-23T03:00:00Z")
    (gift,) = [c for c in api.get("/members/e/coupons").json["items"] if c["source"] == "campaign"]
    use = {"member_id": "e", "order_id": "E1", "order_amount": 30000}
    assert api.post(f"/coupons/{gift['code']}/redemption", use).status == 201
    assert api.post(f"/coupons/{gift['code']}/release", {"member_id": "e"}).status == 200  # order cancelled
    earn(api, "e", "E2", 30000, "2027-01-23T03:00:00Z")
    use = {"member_id": "e", "order_id": "E2", "order_amount": 30000}
    assert api.post(f"/coupons/{gift['code']}/redemption", use).status == 201
    manual = api.post("/members/e/coupons", {"template_id": "welcome5"}, key="admin").json  # no campaign's
    use = {"member_id": "e", "order_id": "E3", "order_amount": 10000}
    assert api.post(f"/coupons/{manual['code']}/redemption", use).status == 201
    clock.set("2027-02-20T03:00:00Z")
    earn(api, "c", "C1", 8000, "2027-02-20T03:00:00Z")  # dated after ends_at's date: not counted
    assert api.delete("/members/b", key="admin").status == 204  # erased: still counted, anonymously
    clock.set("2027-03-01T03:00:00Z")
    assert api.post("/analytics/refresh", {}, key="admin").status == 202
    local.drain_queues()  # the job queue runs the refresh
    return api


def test_results_count_each_arm_by_hand(history):
    answer = history.get("/campaigns/spring/results", key="admin")
    assert answer.status == 200, answer
    assert answer.json == {
        "campaign_id": "spring",
        "as_of": "2027-03-01T03:00:00Z",
        "arms": [
            {
                "name": "control",
                "members": 3,  # b (erased since), c, d
                "purchasers": 1,  # b; c's C1 is dated after the campaign
                "purchases": 1,
                "purchase_amount": 5000,
                "points_awarded": 0,
                "coupons_used": 0,
            },
            {
                "name": "double",
                "members": 2,  # a, f
                "purchasers": 2,
                "purchases": 2,  # A1, F1 (A0 is dated before the campaign)
                "purchase_amount": 15000,  # (20000 − 5000) + (10000 − 10000)
                "points_awarded": 300,  # 200 + 100 as recorded, before the clawbacks
                "coupons_used": 0,
            },
            {
                "name": "gift",
                "members": 1,  # e
                "purchasers": 1,
                "purchases": 1,  # E2
                "purchase_amount": 30000,
                "points_awarded": 0,
                "coupons_used": 1,  # used, released, used again; the manual coupon is no campaign's
            },
        ],
        "comparisons": [
            {
                # p_a = 2/2 = 1, p_b = 1/3: diff = 2/3; se² = 1·0/2 + (1/3)(2/3)/3 = 2/27,
                # se = 0.27216553, 1.96·se = 0.53344444: ci95 = [0.13322222, 1.20011111]
                "arm": "double",
                "baseline": "control",
                "purchase_rate": "1.0000",
                "baseline_rate": "0.3333",
                "diff": "0.6667",
                "ci95": ["0.1332", "1.2001"],
                "significant": True,
                "revenue_per_member_diff": 5834,  # floor(15000 / 2) − floor(5000 / 3) = 7500 − 1666
            },
            {
                # p_a = 1/1: the same interval
                "arm": "gift",
                "baseline": "control",
                "purchase_rate": "1.0000",
                "baseline_rate": "0.3333",
                "diff": "0.6667",
                "ci95": ["0.1332", "1.2001"],
                "significant": True,
                "revenue_per_member_diff": 28334,  # 30000 − 1666
            },
        ],
    }
    # the answer is what the refresh stored: no query on the request path, one item per campaign
    local.drain_queues()
    assert history.get("/campaigns/spring/results", key="admin").json == answer.json


def test_before_any_refresh_the_results_are_zeros_with_as_of_null(launched):
    answer = launched.get("/campaigns/spring/results", key="admin")
    assert answer.status == 200
    assert answer.json == {
        "campaign_id": "spring",
        "as_of": None,
        "arms": [
            {
                "name": name,
                "members": 0,
                "purchasers": 0,
                "purchases": 0,
                "purchase_amount": 0,
                "points_awarded": 0,
                "coupons_used": 0,
            }
            for name in ("control", "double", "gift")
        ],
        "comparisons": [
            {"arm": "double", "baseline": "control", **EMPTY_COMPARISON},
            {"arm": "gift", "baseline": "control", **EMPTY_COMPARISON},
        ],
    }


def test_a_campaign_created_after_the_refresh_is_zeros_as_of_that_refresh(history, clock):
    clock.set("2027-03-02T03:00:00Z")
    later = {**SPRING, "campaign_id": "summer", "starts_at": "2027-06-01T00:00:00Z", "ends_at": "2027-07-01T00:00:00Z"}
    assert history.post("/campaigns", later, key="admin").status == 201
    answer = history.get("/campaigns/summer/results", key="admin").json
    assert answer["as_of"] == "2027-03-01T03:00:00Z"
    assert [arm["members"] for arm in answer["arms"]] == [0, 0, 0]
    assert [c["ci95"] for c in answer["comparisons"]] == [None, None]
    # the next refresh counts it (not launched: no audience) and keeps counting spring
    assert history.post("/analytics/refresh", {}, key="admin").status == 202
    local.drain_queues()
    summer = history.get("/campaigns/summer/results", key="admin").json
    assert summer["as_of"] == "2027-03-02T03:00:00Z"
    assert summer == {**answer, "as_of": "2027-03-02T03:00:00Z"}  # stored: zeros, comparisons null
    spring = history.get("/campaigns/spring/results", key="admin").json
    assert spring["as_of"] == "2027-03-02T03:00:00Z" and spring["arms"][1]["points_awarded"] == 300


def test_results_of_a_deleted_campaign_go_with_the_next_refresh(history, clock):
    clock.set("2027-03-02T03:00:00Z")
    later = {**SPRING, "campaign_id": "summer", "starts_at": "2027-06-01T00:00:00Z", "ends_at": "2027-07-01T00:00:00Z"}
    assert history.post("/campaigns", later, key="admin").status == 201
    assert history.post("/analytics/refresh", {}, key="admin").status == 202
    local.drain_queues()
    assert history.delete("/campaigns/summer", key="admin").status == 204
    assert_error(history.get("/campaigns/summer/results", key="admin"), 404, "NOT_FOUND")
    assert history.post("/analytics/refresh", {}, key="admin").status == 202
    local.drain_queues()
    from chalicelib.runtime import services
    from chalicelib.storage.repository import campaign_key, campaign_results_key

    assert services().store.get(*campaign_results_key("summer")) is None
    assert services().store.get(*campaign_results_key("spring")) is not None
    assert services().store.get(*campaign_key("summer")) is None


def test_unknown_campaign_is_404_and_a_storefront_key_403(launched):
    assert_error(launched.get("/campaigns/nope/results", key="admin"), 404, "NOT_FOUND")
    assert_error(launched.get("/campaigns/spring/results", key="storefront"), 403, "FORBIDDEN")
    assert_error(launched.get("/campaigns/spring/results?x=1", key="admin"), 400, "VALIDATION_ERROR")


def offers_of(api, member_id):
    token = api.post(f"/members/{member_id}/widget-tokens").json["token"]
    answer = api.get("/widget/api/member", key=token)
    assert answer.status == 200, answer
    return answer.json["offers"]


def test_the_member_page_gets_the_members_running_offers_with_the_member(launched, clock):
    api = launched
    assert offers_of(api, "a") == [
        {
            "campaign_id": "spring",
            "arm": "double",
            "reward": {"type": "multiplier", "multiplier": "2"},
            "starts_at": "2027-01-15T00:00:00Z",
            "ends_at": "2027-02-15T00:00:00Z",
        }
    ]
    assert offers_of(api, "e")[0]["reward"] == {"type": "coupon", "template_id": "welcome5"}
    assert offers_of(api, "b") == []  # a control arm offers nothing
    clock.set("2027-02-15T00:00:00Z")  # ends_at is not included
    assert offers_of(api, "a") == []

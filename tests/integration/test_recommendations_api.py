"""Contract §23 through the API on moto: purchases with items through POST earn, the refresh
from the job queue, GET /members/{id}/recommendations. Numbers worked out by hand:

bought (within the 365 dates): a {P,Q}, b {P,Q,R}, c {P,R}, d {P,S} (erased after buying), e nothing.
buyers: P 4 (d counts, anonymously), Q 2, R 2, S 1. co: P-Q 2, P-R 2, Q-R 1, P-S 1, Q-S 0, R-S 0.
a: R = co(P,R) + co(Q,R) = 3, S = co(P,S) + co(Q,S) = 1; b: S = 1; c: Q = co(P,Q) + co(R,Q) = 3, S = 1.
P's category: the latest recorded P item (all bought at the same instant): d's "drinks"."""

from __future__ import annotations

import pytest

from chalicelib import local
from chalicelib.runtime import services
from chalicelib.storage import repository as keys


def buy(api, member_id: str, order_id: str, skus: list[tuple[str, str]]) -> None:
    items = [{"sku": sku, "category": category, "amount": 1000} for sku, category in skus]
    answer = api.post(f"/members/{member_id}/earn", {"order_id": order_id, "amount": 1000 * len(items), "items": items})
    assert answer.status == 201, answer.json


def refresh(api) -> dict:
    assert api.post("/analytics/refresh", {}, key="admin").status == 202
    local.drain_queues()
    return services().store.get(*keys.analytics_refresh_key())


@pytest.fixture
def shop(demo, clock):
    clock.set("2027-03-01T03:00:00Z")
    for member_id in "abcde":
        demo.member(member_id)
    buy(demo, "a", "A1", [("P", "coffee"), ("Q", "cake")])
    buy(demo, "b", "B1", [("P", "coffee"), ("Q", "cake"), ("R", "beans")])
    buy(demo, "c", "C1", [("P", "coffee"), ("R", "beans")])
    buy(demo, "d", "D1", [("P", "drinks"), ("S", "mugs")])
    assert demo.delete("/members/d", key="admin").status == 204
    clock.set("2027-03-02T03:00:00Z")
    refresh(demo)
    return demo


def test_before_the_first_refresh_the_answer_is_empty(demo):
    demo.member("a")
    assert demo.get("/members/a/recommendations").json == {"as_of": None, "items": []}


def test_buyers_get_their_lists_and_others_the_cold_start_list(shop):
    answer = shop.get("/members/a/recommendations")
    assert answer.status == 200, answer.json
    assert answer.json == {
        "as_of": "2027-03-02T03:00:00Z",
        "items": [{"sku": "R", "category": "beans", "score": 3}, {"sku": "S", "category": "mugs", "score": 1}],
    }
    assert shop.get("/members/b/recommendations").json["items"] == [{"sku": "S", "category": "mugs", "score": 1}]
    assert shop.get("/members/c/recommendations").json["items"] == [
        {"sku": "Q", "category": "cake", "score": 3},
        {"sku": "S", "category": "mugs", "score": 1},
    ]
    cold = [
        {"sku": "P", "category": "drinks", "score": 4},
        {"sku": "Q", "category": "cake", "score": 2},
        {"sku": "R", "category": "beans", "score": 2},
        {"sku": "S", "category": "mugs", "score": 1},
    ]
    assert shop.get("/members/e/recommendations?limit=10").json == {"as_of": "2027-03-02T03:00:00Z", "items": cold}
    assert shop.get("/members/e/recommendations").json["items"] == cold  # default 5: all four
    assert shop.get("/members/e/recommendations?limit=2").json["items"] == cold[:2]
    assert shop.get("/members/a/recommendations?limit=1").json["items"] == [
        {"sku": "R", "category": "beans", "score": 3}
    ]


@pytest.mark.parametrize("query", ["limit=0", "limit=11", "limit=x", "limit=", "cursor=abc", "other=1"])
def test_a_bad_query_is_400(shop, query):
    answer = shop.get(f"/members/a/recommendations?{query}")
    assert answer.status == 400 and answer.json["error"]["code"] == "VALIDATION_ERROR", answer.json


def test_unknown_and_erased_members_are_404(shop):
    for member_id in ("d", "nobody"):
        answer = shop.get(f"/members/{member_id}/recommendations")
        assert answer.status == 404 and answer.json["error"]["code"] == "NOT_FOUND", answer.json


def test_a_second_refresh_with_nothing_changed_writes_no_member_list(shop, clock):
    stored = services().store.get(*keys.recommendations_key("a", 0))
    assert stored["as_of"] == "2027-03-02T03:00:00Z"
    clock.set("2027-03-03T03:00:00Z")
    report = refresh(shop)
    assert report["as_of"] == "2027-03-03T03:00:00Z"
    assert "recommendations_put" not in report["writes"] and "recommendations_delete" not in report["writes"]
    assert services().store.get(*keys.recommendations_key("a", 0))["as_of"] == "2027-03-02T03:00:00Z"
    assert shop.get("/members/a/recommendations").json["as_of"] == "2027-03-03T03:00:00Z"  # the refresh's
    # e buys P: its own list now (Q = co(P,Q) 2, R 2: buyers tie, sku), and a's changes (P has 5 buyers
    # but a's list of R, S is the same) -> e's item is the only member item written
    clock.set("2027-03-04T03:00:00Z")
    buy(shop, "e", "E1", [("P", "coffee")])
    report = refresh(shop)
    assert report["writes"]["recommendations_put"] == 1 and "recommendations_delete" not in report["writes"]
    assert shop.get("/members/e/recommendations").json["items"] == [
        {"sku": "Q", "category": "cake", "score": 2},
        {"sku": "R", "category": "beans", "score": 2},
        {"sku": "S", "category": "mugs", "score": 1},
    ]


def test_lists_are_deleted_when_the_member_is_erased_or_leaves_the_window(shop, clock):
    assert services().store.get(*keys.recommendations_key("c", 0)) is not None
    assert shop.delete("/members/c", key="admin").status == 204
    clock.set("2027-03-03T03:00:00Z")
    report = refresh(shop)
    # c's list goes; c still counts: a's and b's lists are unchanged (no put)
    assert report["writes"]["recommendations_delete"] == 1 and "recommendations_put" not in report["writes"]
    assert services().store.get(*keys.recommendations_key("c", 0)) is None
    # the window is now 2027-03-02..2028-03-01 (365 dates): the purchases of 2027-03-01 are out
    clock.set("2028-03-01T03:00:00Z")
    report = refresh(shop)
    assert report["writes"]["recommendations_delete"] == 2  # a and b
    assert services().store.get(*keys.recommendations_key("a", 0)) is None
    assert shop.get("/members/a/recommendations").json == {"as_of": "2028-03-01T03:00:00Z", "items": []}


def test_a_list_is_compared_by_its_digests_and_one_stored_without_them_is_written_once(shop, clock):
    """The refresh compares a new list with the stored item's `digest` (the whole list) and
    `order_digest` (its skus in order), projected alone: a list written without them (by an
    earlier version) is written again, once; one whose digest differs is written."""
    table = services().store
    a_key = keys.recommendations_key("a", 0)
    stored = table.get(*a_key)
    assert set(stored) >= {"digest", "order_digest", "items"}
    table.put({k: v for k, v in stored.items() if k not in ("digest", "order_digest")})
    b_key = keys.recommendations_key("b", 0)
    table.put({**table.get(*b_key), "digest": "not-its-digest"})  # as if its scores had changed
    clock.set("2027-03-03T03:00:00Z")
    report = refresh(shop)
    assert report["writes"]["recommendations_put"] == 2
    assert table.get(*a_key)["digest"] == stored["digest"] and table.get(*a_key)["as_of"] == "2027-03-03T03:00:00Z"
    assert table.get(*b_key)["digest"] != "not-its-digest"
    clock.set("2027-03-04T03:00:00Z")
    assert "recommendations_put" not in refresh(shop)["writes"]

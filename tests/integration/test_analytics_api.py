"""§17–§21 as the API answers them: every answer read from the items a refresh stores
(written here directly, as the refresh writes them), exactly; the shapes before the
first refresh; cohort months filled; 400s, 404s, paging; segments and their members;
and how many DynamoDB requests an answer costs."""

from __future__ import annotations

import json

import pytest

from chalicelib import settings
from chalicelib.runtime import services
from chalicelib.storage.repository import (
    REFRESH_KEY,
    RFM_KEY,
    cohort_sk,
    insights_key,
    profile_key,
    segment_listing_key,
    segment_member_sk,
    summary_days_key,
    summary_month_key,
)
from tests.checks import assert_error

AS_OF = "2027-02-28T15:30:00Z"  # 00:30 on 1 March in Seoul (the default program timezone)
RATES = ("active_rate", "repeat_rate", "redemption_rate", "breakage_rate")
EMPTY_SUMMARY = {
    "as_of": None,
    "from": None,
    "to": None,
    "members_at_end": 0,
    "new_members": 0,
    "active_members": 0,
    "repeat_members": 0,
    "active_rate": None,
    "repeat_rate": None,
    "purchases": 0,
    "purchase_amount": 0,
    "average_order_value": 0,
    "points_earned": 0,
    "points_redeemed": 0,
    "points_expired": 0,
    "redemption_rate": None,
    "breakage_rate": None,
    "coupons_issued": 0,
    "coupons_used": 0,
}
FEBRUARY = {
    **EMPTY_SUMMARY,
    "as_of": "2027-02-01T00:00:00Z",  # stored by an earlier refresh: nothing changed since
    "from": "2027-02-01",
    "to": "2027-02-28",
    "members_at_end": 12,
    "new_members": 4,
    "active_members": 3,
    "repeat_members": 1,
    "active_rate": "0.2500",
    "repeat_rate": "0.3333",
    "purchases": 5,
    "purchase_amount": 70000,
    "average_order_value": 14000,
    "points_earned": 3500,
    "points_redeemed": 1000,
    "points_expired": 0,
    "redemption_rate": "0.2857",
    "breakage_rate": "0.0000",
    "coupons_issued": 2,
    "coupons_used": 1,
}
ZERO_RFM = [
    {"rfm_segment": name, "members": 0, "avg_monetary": 0, "avg_clv": 0}
    for name in ("champions", "loyal", "promising", "at_risk", "hibernating", "needs_attention")
]
RULES = [{"field": "frequency", "op": "gte", "value": 2}, {"field": "tier", "op": "in", "value": ["gold", "vip"]}]


def put(key: tuple[str, str], **fields) -> None:
    services().store.put({"pk": key[0], "sk": key[1], **fields})


def refreshed(as_of: str = AS_OF) -> None:
    put(REFRESH_KEY, as_of=as_of, finished_at=as_of)


def ok(response, status: int = 200):
    assert response.status == status, response
    return response.json


def summary(api, query: str) -> dict:
    return ok(api.get(f"/analytics/summary?{query}", key="admin"))


def cohorts(api, first: str, last: str) -> dict:
    return ok(api.get(f"/analytics/cohorts?from={first}&to={last}", key="admin"))


# -- before the first refresh -------------------------------------------------
def test_before_the_first_refresh_every_answer_is_empty_never_an_error(api, clock):
    api.member("a")
    for query in ("month=2027-01", "month=2099-12", "days=7", "days=30", "days=90", "days=365"):
        assert summary(api, query) == EMPTY_SUMMARY, query
    assert cohorts(api, "2026-01", "2027-12") == {"as_of": None, "items": []}
    assert ok(api.get("/analytics/rfm", key="admin")) == {"as_of": None, "items": ZERO_RFM}
    assert ok(api.get("/members/a/insights", key="admin")) == {
        "member_id": "a",
        "as_of": None,
        "recency_days": None,
        "frequency": 0,
        "monetary": 0,
        "clv": 0,
        "rfm": None,
        "rfm_segment": None,
        "segments": [],
    }


# -- §18 summary ----------------------------------------------------------------
def test_summary_of_a_stored_month_dated_by_the_last_refresh(api):
    refreshed()
    put(summary_month_key("2027-02"), **FEBRUARY)
    assert summary(api, "month=2027-02") == {**FEBRUARY, "as_of": AS_OF}


def test_summary_of_as_ofs_month_ends_on_as_ofs_date_in_the_program_timezone(api):
    refreshed()  # 2027-02-28 in UTC, but 1 March in Seoul
    stored = {**FEBRUARY, "from": "2027-03-01", "to": "2027-03-01", "purchases": 1, "purchase_amount": 9000}
    put(summary_month_key("2027-03"), **stored)
    assert summary(api, "month=2027-03") == {**stored, "as_of": AS_OF}
    assert_error(api.get("/analytics/summary?month=2027-04", key="admin"), 400, "VALIDATION_ERROR")


def test_a_month_nothing_was_stored_for_is_the_zero_answer_for_that_month(api):
    refreshed()
    assert summary(api, "month=2024-02") == {**EMPTY_SUMMARY, "as_of": AS_OF, "from": "2024-02-01", "to": "2024-02-29"}


def test_summary_of_the_last_n_days_ends_with_as_ofs_date(api):
    refreshed()
    stored = {**FEBRUARY, "from": "2027-01-31", "to": "2027-03-01"}
    put(summary_days_key(30), **stored)
    assert summary(api, "days=30") == {**stored, "as_of": AS_OF}
    assert summary(api, "days=7") == {**EMPTY_SUMMARY, "as_of": AS_OF, "from": "2027-02-23", "to": "2027-03-01"}
    assert summary(api, "days=365")["from"] == "2026-03-02"


@pytest.mark.parametrize(
    "query",
    [
        "",
        "month=2027-01&days=30",
        "month=2027-13",
        "month=2027-1",
        "month=202701",
        "month=",
        "days=14",
        "days=030",
        "days=",
        "days=seven",
        "week=1",
    ],
)
def test_summary_takes_exactly_one_of_a_month_or_7_30_90_365_days(api, query):
    refreshed()
    response = api.get(f"/analytics/summary?{query}", key="admin")
    assert_error(response, 400, "VALIDATION_ERROR")


# -- §19 cohorts ----------------------------------------------------------------
def test_cohorts_one_item_per_month_empty_months_filled_up_to_as_ofs_month(api):
    refreshed()  # as_of's month: 2027-03 (Seoul)
    put((("ANALYTICS"), cohort_sk("2027-01")), cohort="2027-01", members=3, active=[2, 1, 1])
    put(("ANALYTICS", cohort_sk("2027-02")), cohort="2027-02", members=2, active=[1])  # from February's refresh
    put(("ANALYTICS", cohort_sk("2027-03")), cohort="2027-03", members=1, active=[1])
    put(("ANALYTICS", cohort_sk("2026-10")), cohort="2026-10", members=9, active=[9, 9, 9, 9, 9, 9])  # outside
    assert cohorts(api, "2026-12", "2027-05") == {
        "as_of": AS_OF,
        "items": [
            {"cohort": "2026-12", "members": 0, "active": [0, 0, 0, 0]},
            {"cohort": "2027-01", "members": 3, "active": [2, 1, 1]},
            {"cohort": "2027-02", "members": 2, "active": [1, 0]},
            {"cohort": "2027-03", "members": 1, "active": [1]},
            {"cohort": "2027-04", "members": 0, "active": []},
            {"cohort": "2027-05", "members": 0, "active": []},
        ],
    }
    assert cohorts(api, "2027-01", "2027-01")["items"] == [{"cohort": "2027-01", "members": 3, "active": [2, 1, 1]}]


@pytest.mark.parametrize(
    "query",
    [
        "from=2027-03&to=2027-02",  # from after to
        "from=2025-01&to=2026-12",  # 24 months: allowed (checked below), 25 not
        "from=2025-01&to=2027-01",
        "from=2027-1&to=2027-02",
        "from=2027-01",
        "to=2027-01",
        "from=2027-01&to=2027-00",
        "from=2027-01&to=2027-02&days=7",
    ],
)
def test_cohorts_from_to_at_most_24_months(api, query):
    refreshed()
    response = api.get(f"/analytics/cohorts?{query}", key="admin")
    if query == "from=2025-01&to=2026-12":
        assert response.status == 200 and len(response.json["items"]) == 24, response
    else:
        assert_error(response, 400, "VALIDATION_ERROR")


# -- §20 RFM and member insights -----------------------------------------------
def test_rfm_six_rows_in_order_zeros_included(api):
    refreshed()
    put(
        RFM_KEY,
        as_of=AS_OF,
        items=[
            {"rfm_segment": "loyal", "members": 4, "avg_monetary": 120000, "avg_clv": 380000},
            {"rfm_segment": "champions", "members": 2, "avg_monetary": 400000, "avg_clv": 910000},
            {"rfm_segment": "hibernating", "members": 7, "avg_monetary": 8000, "avg_clv": 15000},
        ],
    )
    assert ok(api.get("/analytics/rfm", key="admin")) == {
        "as_of": AS_OF,
        "items": [
            {"rfm_segment": "champions", "members": 2, "avg_monetary": 400000, "avg_clv": 910000},
            {"rfm_segment": "loyal", "members": 4, "avg_monetary": 120000, "avg_clv": 380000},
            {"rfm_segment": "promising", "members": 0, "avg_monetary": 0, "avg_clv": 0},
            {"rfm_segment": "at_risk", "members": 0, "avg_monetary": 0, "avg_clv": 0},
            {"rfm_segment": "hibernating", "members": 7, "avg_monetary": 8000, "avg_clv": 15000},
            {"rfm_segment": "needs_attention", "members": 0, "avg_monetary": 0, "avg_clv": 0},
        ],
    }


def set_segments(member_id: str, segments: list[str]) -> None:
    services().store.update(
        *profile_key(member_id),
        "SET #s = :s, #v = #v + :one",
        {"#s": "segments", "#v": "version"},
        {":s": segments, ":one": 1},
    )


def test_member_insights_as_the_refresh_stored_them(api, clock):
    clock.set("2027-01-10T00:00:00Z")
    api.member("a")
    api.member("b")  # scored nothing: no insight item stored (all defaults)
    clock.set("2027-03-05T00:00:00Z")
    api.member("late")  # enrolled after as_of
    refreshed()
    put(
        insights_key("a", 0),
        recency_days=3,
        frequency=4,
        monetary=52000,
        clv=88000,
        rfm={"r": 5, "f": 4, "m": 3},
        rfm_segment="loyal",
        as_of="2027-02-01T00:00:00Z",
    )
    set_segments("a", ["vip", "regulars"])
    assert ok(api.get("/members/a/insights", key="admin")) == {
        "member_id": "a",
        "as_of": AS_OF,
        "recency_days": 3,
        "frequency": 4,
        "monetary": 52000,
        "clv": 88000,
        "rfm": {"r": 5, "f": 4, "m": 3},
        "rfm_segment": "loyal",
        "segments": ["regulars", "vip"],
    }
    empty = {"as_of": AS_OF, "recency_days": None, "frequency": 0, "monetary": 0, "clv": 0}
    empty |= {"rfm": None, "rfm_segment": None, "segments": []}
    assert ok(api.get("/members/b/insights", key="admin")) == {"member_id": "b", **empty}
    assert ok(api.get("/members/late/insights", key="admin")) == {"member_id": "late", **empty}


def test_member_insights_404_for_unknown_and_erased_and_admin_only(api, clock):
    api.member("a")
    refreshed("2027-02-01T00:00:00Z")
    put(insights_key("a", 0), recency_days=1, frequency=1, monetary=1, clv=1, rfm=None, rfm_segment=None)
    assert_error(api.get("/members/a/insights"), 403, "FORBIDDEN")
    assert ok(api.delete("/members/a", key="admin"), 204) is None
    assert_error(api.get("/members/a/insights", key="admin"), 404, "NOT_FOUND")
    assert_error(api.get("/members/nobody/insights", key="admin"), 404, "NOT_FOUND")
    assert_error(api.get("/members/bad%20id/insights", key="admin"), 404, "NOT_FOUND")


def test_a_member_enrolled_again_does_not_inherit_the_erased_ones_insights(api, clock):
    clock.set("2027-01-10T00:00:00Z")
    api.member("a")
    put(insights_key("a", 0), recency_days=1, frequency=9, monetary=9, clv=9, rfm=None, rfm_segment=None)
    assert ok(api.delete("/members/a", key="admin"), 204) is None
    api.member("a")  # generation 1
    refreshed()
    assert ok(api.get("/members/a/insights", key="admin"))["frequency"] == 0


# -- POST /analytics/refresh --------------------------------------------------
def test_refresh_answers_202_and_queues_the_refresh_on_its_own_queue(api):
    response = api.post("/analytics/refresh", key="admin", idem=None)
    assert ok(response, 202) == {"job": "refresh_analytics", "status": "queued"}
    sqs = services().analytics_queue.sqs
    url = sqs.get_queue_url(QueueName=settings.load().analytics_queue_name)["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    assert [json.loads(m["Body"]) for m in messages] == [{"job": "refresh_analytics"}]
    jobs = sqs.get_queue_url(QueueName=settings.load().jobs_queue_name)["QueueUrl"]
    assert sqs.receive_message(QueueUrl=jobs, MaxNumberOfMessages=10).get("Messages", []) == []
    assert_error(api.post("/analytics/refresh", idem=None), 403, "FORBIDDEN")


def test_analytics_routes_are_admin_only(api):
    for path in (
        "/analytics/summary?days=7",
        "/analytics/cohorts?from=2027-01&to=2027-02",
        "/analytics/rfm",
        "/segments",
    ):
        assert_error(api.get(path), 403, "FORBIDDEN")
        assert_error(api.get(path, key=None), 401, "UNAUTHORIZED")


# -- §21 segments -------------------------------------------------------------
def create(api, segment_id: str, rules=None, name: str | None = None):
    return api.post(
        "/segments",
        {"segment_id": segment_id, "name": name or segment_id.title(), "rules": rules or RULES},
        key="admin",
    )


def test_create_read_list_and_delete_a_segment(api):
    created = ok(create(api, "regulars", name="Regulars"), 201)
    fresh = {
        "segment_id": "regulars",
        "name": "Regulars",
        "rules": RULES,
        "members": None,
        "avg_clv": None,
        "as_of": None,
    }
    assert created == fresh
    assert ok(api.get("/segments/regulars", key="admin")) == fresh
    assert_error(create(api, "regulars"), 409, "SEGMENT_EXISTS")
    # the refresh fills in the size
    put(segment_listing_key("regulars"), **fresh | {"members": 2, "avg_clv": 41000, "as_of": AS_OF})
    computed = fresh | {"members": 2, "avg_clv": 41000, "as_of": AS_OF}
    assert ok(api.get("/segments/regulars", key="admin")) == computed
    assert ok(api.get("/segments", key="admin")) == {"items": [computed], "next_cursor": None}
    assert ok(api.delete("/segments/regulars", key="admin"), 204) is None
    assert_error(api.get("/segments/regulars", key="admin"), 404, "NOT_FOUND")
    assert_error(api.delete("/segments/regulars", key="admin"), 404, "NOT_FOUND")
    assert ok(api.get("/segments", key="admin")) == {"items": [], "next_cursor": None}
    assert ok(create(api, "regulars"), 201)["members"] is None  # the id is free again


def test_segments_page_in_id_order(api):
    for segment_id in ("c-list", "a-list", "b-list"):
        ok(create(api, segment_id), 201)
    first = ok(api.get("/segments?limit=2", key="admin"))
    assert [s["segment_id"] for s in first["items"]] == ["a-list", "b-list"] and first["next_cursor"]
    second = ok(api.get(f"/segments?limit=2&cursor={first['next_cursor']}", key="admin"))
    assert [s["segment_id"] for s in second["items"]] == ["c-list"] and second["next_cursor"] is None
    assert_error(api.get("/segments?limit=0", key="admin"), 400, "VALIDATION_ERROR")
    assert_error(api.get("/segments?cursor=nonsense", key="admin"), 400, "VALIDATION_ERROR")


@pytest.mark.parametrize(
    "body, where",
    [
        ({"segment_id": "dormant", "name": "D", "rules": RULES}, "segment_id"),
        ({"segment_id": "x", "name": "X", "rules": []}, "rules"),
        ({"segment_id": "x", "name": "X", "rules": RULES * 6}, "rules"),
        ({"segment_id": "x", "name": "X", "rules": [{"field": "frequency", "op": "like", "value": 1}]}, "rules[0]"),
        (
            {"segment_id": "x", "name": "X", "rules": [RULES[0], {"field": "shoe_size", "op": "eq", "value": 1}]},
            "rules[1]",
        ),
        ({"segment_id": "x", "name": "X", "rules": [{"field": "frequency", "op": "gte"}]}, "rules[0]"),
        ({"segment_id": "x", "name": "X"}, "rules"),
        ({"segment_id": "", "name": "X", "rules": RULES}, "segment_id"),
        ({"segment_id": "x", "name": "X", "rules": RULES, "colour": "red"}, "colour"),
    ],
)
def test_a_bad_segment_is_400_naming_the_field_and_stores_nothing(api, body, where):
    response = api.post("/segments", body, key="admin")
    assert_error(response, 400, "VALIDATION_ERROR")
    assert response.json["error"]["message"].startswith(where), response.json
    assert ok(api.get("/segments", key="admin"))["items"] == []


def test_segments_are_admin_only(api):
    assert_error(api.post("/segments", {"segment_id": "x", "name": "X", "rules": RULES}), 403, "FORBIDDEN")
    assert_error(api.delete("/segments/x"), 403, "FORBIDDEN")
    assert_error(api.get("/segments/x"), 403, "FORBIDDEN")


# -- GET /members?segment=<id> --------------------------------------------------
def members_of(api, segment_id: str, query: str = "") -> dict:
    return ok(api.get(f"/members?segment={segment_id}{query}", key="admin"))


def test_a_segments_members_as_of_the_last_refresh_in_member_id_order(api):
    ok(create(api, "regulars"), 201)
    for member_id in ("c", "a", "d", "b"):
        api.member(member_id)
    # created since the last refresh: no members yet
    assert members_of(api, "regulars") == {"items": [], "next_cursor": None}
    refreshed()
    put(
        segment_listing_key("regulars"),
        segment_id="regulars",
        name="Regulars",
        rules=RULES,
        members=4,
        avg_clv=0,
        as_of=AS_OF,
    )
    for member_id in ("a", "b", "c", "d"):
        put((("SEGMENT#regulars"), segment_member_sk(member_id)), member_id=member_id)
        set_segments(member_id, ["regulars"])
    assert ok(api.delete("/members/b", key="admin"), 204) is None  # erased since the refresh
    listed = members_of(api, "regulars")
    assert [m["member_id"] for m in listed["items"]] == ["a", "c", "d"] and listed["next_cursor"] is None
    assert listed["items"][0] == ok(api.get("/members/a"))  # the GET /members/{id} shape
    first = members_of(api, "regulars", "&limit=2")
    assert [m["member_id"] for m in first["items"]] == ["a"] and first["next_cursor"]  # b: left out of its page
    second = members_of(api, "regulars", f"&limit=2&cursor={first['next_cursor']}")
    assert [m["member_id"] for m in second["items"]] == ["c", "d"]
    api.member("b")  # enrolled again: not the member the refresh put in the segment
    assert [m["member_id"] for m in members_of(api, "regulars")["items"]] == ["a", "c", "d"]


def test_an_unknown_or_deleted_segment_is_404_and_dormant_is_still_section_10s(api):
    assert_error(api.get("/members?segment=nope", key="admin"), 404, "NOT_FOUND")
    ok(create(api, "regulars"), 201)
    put((("SEGMENT#regulars"), segment_member_sk("a")), member_id="a")
    ok(api.delete("/segments/regulars", key="admin"), 204)
    assert_error(api.get("/members?segment=regulars", key="admin"), 404, "NOT_FOUND")
    assert members_of(api, "dormant") == {"items": [], "next_cursor": None}
    assert_error(api.get("/members?segment=regulars"), 403, "FORBIDDEN")
    assert_error(api.get("/members?segment=regulars&cursor=bad", key="admin"), 400, "VALIDATION_ERROR")


# -- cost: 1-2 DynamoDB requests per answer ------------------------------------
def test_each_answer_costs_one_or_two_dynamodb_requests(api, clock):
    api.member("a")
    ok(create(api, "regulars"), 201)
    refreshed("2027-02-01T00:00:00Z")
    put(
        segment_listing_key("regulars"), segment_id="regulars", name="R", rules=RULES, members=1, avg_clv=0, as_of=AS_OF
    )
    calls: list[str] = []
    events = services().store.client.meta.events
    events.register("before-call.dynamodb.*", lambda model, **kw: calls.append(model.name))
    expected = {
        "/analytics/summary?month=2027-01": 1,
        "/analytics/summary?days=90": 1,
        "/analytics/cohorts?from=2026-01&to=2027-12": 2,
        "/analytics/rfm": 1,
        "/members/a/insights": 2,
        "/segments": 1,
        "/segments/regulars": 1,
        "/members?segment=regulars": 2,
    }
    api.get("/analytics/rfm", key="admin")  # the program is cached from here on
    for path, requests in expected.items():
        calls.clear()
        ok(api.get(path, key="admin"))
        assert len(calls) == requests and "Scan" not in calls, (path, calls)

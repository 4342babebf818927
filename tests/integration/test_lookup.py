"""Contract §10: members found by phone (digits only), by email (any case), by
tier (admin), in member_id order, paged; erased members never found; a PATCH
moves the lookups; one Query and one BatchGetItem, never a Scan."""

from __future__ import annotations

import pytest

from tests.checks import assert_error, earn

TIERED = {
    "tiers": [
        {"name": "basic", "min_spend": 0, "earn_multiplier": "1", "expiry_days": None},
        {"name": "silver", "min_spend": 100000, "earn_multiplier": "1", "expiry_days": None},
    ]
}


def found(api, query, key="storefront"):
    response = api.get(f"/members?{query}", key=key)
    assert response.status == 200, response
    return [m["member_id"] for m in response.json["items"]]


@pytest.fixture
def dynamodb_calls(api):
    """The DynamoDB operations the app makes, in order (botocore events)."""
    from chalicelib import aws

    calls: list[str] = []
    api.get("/program", key="admin")  # warm keys and program
    api.get("/program")
    client = aws.client("dynamodb")
    handler = lambda model, **_: calls.append(model.name)  # noqa: E731
    client.meta.events.register("before-call.dynamodb", handler)
    yield calls
    client.meta.events.unregister("before-call.dynamodb", handler)


def test_by_phone_digits_only_and_several_members_share_it(api, clock):
    api.member("c", phone="010-1234-5678")
    api.member("a", phone="01012345678")
    api.member("b", phone="010 1234 5678")
    api.member("d", phone="010-9999-0000")
    api.member("e", email="e@example.com")
    for query in ("010-1234-5678", "01012345678", "(010)1234.5678"):
        assert found(api, f"phone={query}") == ["a", "b", "c"]
    assert found(api, "phone=010-1234-567") == []
    member = api.get("/members?phone=01099990000").json["items"][0]
    assert member == api.get("/members/d").json


def test_by_email_case_insensitive(api, clock):
    api.member("m2", email="Kim.Jiwoo@Example.COM")
    api.member("m1", email="kim.jiwoo@example.com")
    api.member("m3", email="other@example.com")
    assert found(api, "email=KIM.JIWOO@EXAMPLE.COM") == ["m1", "m2"]
    assert found(api, "email=kim.jiwoo@example.com") == ["m1", "m2"]
    assert found(api, "email=kim.jiwoo@example.co") == []


@pytest.mark.parametrize(
    "query",
    [
        "",
        "phone=010&email=a@b.c",
        "phone=010&tier=basic",
        "name=x",
        "phone=",
        "email=",
        "phone=abc",
        "tier=platinum",
    ],
)
def test_exactly_one_criterion_else_400(api, clock, query):
    api.member("m1", phone="010", email="a@b.c")
    assert_error(api.get(f"/members?{query}", key="admin"), 400, "VALIDATION_ERROR")


def test_a_segment_that_is_neither_dormant_nor_defined_is_404(api, clock):
    """v3 (§21): GET /members?segment= also takes the segments of POST /segments."""
    api.member("m1", phone="010", email="a@b.c")
    assert_error(api.get("/members?segment=sleepy", key="admin"), 404, "NOT_FOUND")


def test_tier_and_segment_are_admin_only(api, clock):
    api.program(TIERED)
    api.member("m1")
    assert_error(api.get("/members?tier=basic"), 403, "FORBIDDEN")
    assert_error(api.get("/members?segment=dormant"), 403, "FORBIDDEN")
    assert found(api, "tier=basic", key="admin") == ["m1"]
    assert found(api, "segment=dormant", key="admin") == []


def test_by_tier_in_member_id_order_paged_with_a_cursor(api, clock):
    api.program(TIERED)
    for member_id in ("m5", "m3", "m1", "m4", "m2", "m0"):
        api.member(member_id, phone="010-5555-0000")
    earn(api, "m3", "o1", 100000)
    earn(api, "m0", "o1", 100000)
    assert found(api, "tier=silver", key="admin") == ["m0", "m3"]
    assert found(api, "tier=basic", key="admin") == ["m1", "m2", "m4", "m5"]
    seen, cursor, pages = [], None, 0
    while True:
        path = "/members?phone=01055550000&limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = api.get(path).json
        assert len(page["items"]) <= 2
        seen += [m["member_id"] for m in page["items"]]
        cursor, pages = page["next_cursor"], pages + 1
        if not cursor:
            break
    assert seen == ["m0", "m1", "m2", "m3", "m4", "m5"] and pages >= 3
    assert_error(api.get("/members?phone=01055550000&cursor=garbage"), 400, "VALIDATION_ERROR")
    other = api.get("/members?email=x@example.com&limit=1").json["next_cursor"]
    assert other is None


def test_erased_members_are_never_found(api, clock):
    api.member("m1", phone="010-1111-2222", email="same@example.com")
    api.member("m2", phone="010-1111-2222", email="same@example.com")
    assert api.delete("/members/m1", key="admin").status == 204
    assert found(api, "phone=01011112222") == ["m2"]
    assert found(api, "email=same@example.com") == ["m2"]
    assert found(api, "tier=basic", key="admin") == ["m2"]
    api.member("m1", name="Again")  # the id enrolled again, without phone or email
    assert found(api, "phone=01011112222") == ["m2"]


def test_patch_moves_the_lookups(api, clock):
    api.member("m1", phone="010-1111-2222", email="old@example.com")
    response = api.patch("/members/m1", {"phone": "010-3333-4444", "email": "New@Example.com"})
    assert response.status == 200, response
    assert (response.json["phone"], response.json["email"]) == ("010-3333-4444", "New@Example.com")
    assert found(api, "phone=01011112222") == []
    assert found(api, "email=old@example.com") == []
    assert found(api, "phone=01033334444") == ["m1"]
    assert found(api, "email=new@example.com") == ["m1"]
    response = api.patch("/members/m1", {"phone": None})
    assert response.status == 200 and response.json["phone"] is None
    assert found(api, "phone=01033334444") == []
    assert found(api, "email=new@example.com") == ["m1"]
    assert_error(api.patch("/members/ghost", {"name": "x"}), 404, "NOT_FOUND")


def test_a_lookup_is_one_query_and_one_batch_get_and_never_scans(api, clock, dynamodb_calls):
    api.program(TIERED)
    for i in range(5):
        api.member(f"m{i}", phone="010-7777-8888", email=f"m{i}@example.com")
    for query, key in (
        ("phone=010-7777-8888&limit=3", "storefront"),
        ("email=M2@example.com", "storefront"),
        ("tier=basic&limit=2", "admin"),
        ("segment=dormant", "admin"),
    ):
        dynamodb_calls.clear()
        response = api.get(f"/members?{query}", key=key)
        assert response.status == 200, response
        wanted = ["Query", "BatchGetItem"] if response.json["items"] else ["Query"]
        assert dynamodb_calls == wanted, (query, dynamodb_calls)

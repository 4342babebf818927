"""Erasure removes personal data from every item that held it."""

from chalicelib.runtime import services


def _items_mentioning(text: str) -> list[dict]:
    store = services().store
    found = []
    pages = store.client.get_paginator("scan").paginate(TableName=store.table)  # test-only inspection
    for page in pages:
        for item in page["Items"]:
            if text in repr(item):
                found.append(item)
    return found


def test_erasure_leaves_no_personal_data_behind(demo, clock):
    enrol = demo.post(
        "/members",
        {
            "member_id": "m1",
            "name": "Kim Jiyoon",
            "email": "jiyoon@example.com",
            "phone": "+821055501234",
            "birthday": "1994-05-05",
        },
        idem="enrol-1",
    )
    assert enrol.status == 201
    assert demo.post("/members/m1/earn", {"order_id": "o1", "amount": 10000}).status == 201
    assert _items_mentioning("jiyoon@example.com")

    assert demo.delete("/members/m1", key="admin").status == 204

    for secret in ("Kim Jiyoon", "jiyoon@example.com", "+821055501234", "1994-05-05", "05-05"):
        assert _items_mentioning(secret) == [], secret
    replay = demo.post(
        "/members",
        {
            "member_id": "m1",
            "name": "Kim Jiyoon",
            "email": "jiyoon@example.com",
            "phone": "+821055501234",
            "birthday": "1994-05-05",
        },
        idem="enrol-1",
    )
    assert replay.status == 404 and replay.error == "NOT_FOUND"
    # the id is free again (the member is gone): a new enrolment is a new member
    again = demo.post("/members", {"member_id": "m1", "name": "Someone Else"})
    assert again.status == 201, again
    assert again.json["name"] == "Someone Else" and again.json["email"] is None

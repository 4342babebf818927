"""A known data set for the browser tests: the demo program, three members and a coupon."""

from __future__ import annotations

import json
import uuid

from tests.conftest import DEMO_PROGRAM

PROGRAM = {**DEMO_PROGRAM, "promotions": []}
MEMBERS = (  # id, name, phone, email, purchase amount
    ("kim", "Kim Minji", "010-1111-2222", "kim@example.com", 350000),  # 열매
    ("lee", "Lee Jun", "010-3333-4444", None, 700000),  # 나무
    ("park", "Park Sora", "010-5555-6666", None, 0),  # 새싹
)


def call(served, method, path, body=None, key="storefront"):
    headers = {"Idempotency-Key": str(uuid.uuid4())} if method == "POST" else {}
    status, _, raw = served.request(method, path, body, headers=headers, key=key)
    answer = json.loads(raw) if raw else None
    assert status < 300, (method, path, status, answer)
    return answer


def fill(served) -> dict:
    call(served, "PUT", "/program", PROGRAM, key="admin")
    for member_id, name, phone, email, amount in MEMBERS:
        body = {"member_id": member_id, "name": name, "phone": phone}
        if email:
            body["email"] = email
        call(served, "POST", "/members", body)
        if amount:
            call(served, "POST", f"/members/{member_id}/earn", {"order_id": f"o-{member_id}", "amount": amount})
    call(served, "POST", "/members/lee/redeem", {"points": 1000})
    call(
        served,
        "POST",
        "/coupon-templates",
        {"template_id": "w3000", "name": "3,000 won off", "discount": {"type": "amount", "amount": 3000}},
        key="admin",
    )
    coupon = call(served, "POST", "/members/kim/coupons", {"template_id": "w3000"}, key="admin")
    return {"coupon_code": coupon["code"]}

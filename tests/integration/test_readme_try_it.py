"""The README's "Try it", on the local service's v2 demo, says what the API answers."""

from __future__ import annotations

import json
import pathlib

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"


def test_the_readme_walkthrough_answers_as_it_says(api):
    for template in json.loads((EXAMPLES / "cafe-coupons.json").read_text()):
        assert api.post("/coupon-templates", template, key="admin").status == 201
    api.program(json.loads((EXAMPLES / "cafe-program.json").read_text()))

    member = api.post(
        "/members", {"member_id": "jiyoon", "name": "김지윤", "email": "jiyoon@example.com", "phone": "010-1234-5678"}
    ).json
    assert (member["balance"], member["tier"], member["coupons_available"]) == (1000, "새싹", 1)
    assert member["next_tier"] == {"name": "열매", "spend_needed": 300000}
    earn = api.post(
        "/members/jiyoon/earn",
        {
            "order_id": "A-1001",
            "amount": 120000,
            "items": [{"sku": "strawberry-latte", "category": "new-arrivals", "amount": 6500}],
        },
    ).json
    assert earn["breakdown"] == [{"rule": "base", "points": 1200}, {"rule": "category:new-arrivals", "points": 65}]
    found = api.get("/members?phone=01012345678").json
    assert [(m["member_id"], m["balance"], m["coupons_available"]) for m in found["items"]] == [
        ("jiyoon", 2265, 1)
    ] and found["next_cursor"] is None
    bought = api.post("/members/jiyoon/coupons", {"template_id": "latte-1000"})
    assert bought.status == 201 and bought.json["source"] == "points" and bought.json["status"] == "available"
    assert bought.json["transaction"]["points"] == -800
    assert bought.json["transaction"]["coupon_id"] == bought.json["coupon_id"]
    code = bought.json["code"]
    used = api.post(f"/coupons/{code}/redemption", {"member_id": "jiyoon", "order_id": "A-1002", "order_amount": 5500})
    assert used.status == 201 and used.json["status"] == "used" and used.json["discount_amount"] == 1000
    again = api.post(f"/coupons/{code}/redemption", {"member_id": "jiyoon", "order_id": "A-1002", "order_amount": 5500})
    assert again.status == 422 and again.json["error"]["code"] == "COUPON_NOT_USABLE"
    cash = api.post("/members/jiyoon/redeem", {"points": 1000, "order_id": "A-1003"}).json
    assert (cash["points"], cash["cash_value"]) == (-1000, 1000)
    assert (
        api.post(
            "/rewards", {"reward_id": "americano", "name": "아메리카노", "points_cost": 100, "stock": 50}, key="admin"
        ).status
        == 201
    )
    reward = api.post("/members/jiyoon/redeem", {"reward_id": "americano"}).json
    assert reward["points"] == -100
    assert api.get(f"/vouchers/{reward['reward']['code']}").json["status"] == "issued"
    stats = api.get("/stats", key="admin").json
    assert (stats["coupons_issued"], stats["coupons_used"]) == (2, 1)

"""§11: `grant_birthday_bonuses` issues `auto_coupons.birthday` under the
birthday bonus's once-a-year rule, also when `birthday_bonus` is 0."""

from __future__ import annotations

from chalicelib import local
from tests.checks import stats

PROGRAM = {"timezone": "Asia/Seoul", "signup_bonus": 0, "birthday_bonus": 0, "expiry_days": 1000}
TEMPLATE = {"template_id": "cake", "name": "생일 케이크", "discount": {"type": "percent", "percent": 20}}


def coupons(api, member_id: str) -> list[dict]:
    return api.get(f"/members/{member_id}/coupons?limit=100").json["items"]


def bonuses(api, member_id: str) -> list[dict]:
    items = api.get(f"/members/{member_id}/transactions?limit=100").json["items"]
    return [t for t in items if t["type"] == "bonus" and t.get("reason") == "birthday"]


def notified(api, member_id: str, type_: str) -> int:
    items = api.get(f"/members/{member_id}/notifications?limit=100", key="admin").json["items"]
    return sum(1 for n in items if n["type"] == type_)


def test_birthday_coupon_once_a_year_with_a_zero_bonus(api, clock):
    assert api.post("/coupon-templates", TEMPLATE, key="admin").status == 201
    api.program({**PROGRAM, "auto_coupons": {"birthday": "cake"}})
    clock.set("2027-01-01T03:00:00Z")
    api.member("b", birthday="1990-05-05")
    api.member("other", birthday="1990-07-07")
    clock.set("2027-05-04T15:30:00Z")  # 00:30 on 5 May in Seoul
    local.run_job("grant_birthday_bonuses")
    [coupon] = coupons(api, "b")
    assert (coupon["template_id"], coupon["source"], coupon["name"]) == ("cake", "birthday", "생일 케이크")
    assert bonuses(api, "b") == []  # a 0-point bonus is no transaction
    assert notified(api, "b", "coupon_issued") == 1 and notified(api, "b", "birthday_bonus") == 0
    assert coupons(api, "other") == []
    clock.set("2027-05-05T10:00:00Z")  # the same day again, and the next day
    local.run_job("grant_birthday_bonuses")
    clock.advance(days=1)
    local.run_job("grant_birthday_bonuses")
    assert len(coupons(api, "b")) == 1
    clock.set("2028-05-04T15:30:00Z")  # next year: again
    local.run_job("grant_birthday_bonuses")
    assert len(coupons(api, "b")) == 2
    assert stats(api)["coupons_issued"] == 2


def test_birthday_bonus_and_coupon_together(api, clock):
    assert api.post("/coupon-templates", TEMPLATE, key="admin").status == 201
    api.program({**PROGRAM, "birthday_bonus": 500, "auto_coupons": {"birthday": "cake"}})
    clock.set("2027-01-01T03:00:00Z")
    api.member("b", birthday="1990-05-05")
    clock.set("2027-05-05T01:00:00Z")
    local.run_job("grant_birthday_bonuses")
    assert [t["points"] for t in bonuses(api, "b")] == [500]
    assert len(coupons(api, "b")) == 1
    local.run_job("grant_birthday_bonuses")
    assert len(bonuses(api, "b")) == 1 and len(coupons(api, "b")) == 1


def test_neither_bonus_nor_coupon_plans_nothing(api, clock):
    from chalicelib.runtime import services

    api.program(PROGRAM)
    clock.set("2027-05-05T01:00:00Z")
    assert services().job_plans.grant_birthday_bonuses() == []
    api.program({**PROGRAM, "birthday_bonus": 1})
    assert services().job_plans.grant_birthday_bonuses() != []

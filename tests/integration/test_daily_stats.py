"""§16 daily figures, field by field: days in the program timezone, zeros
included, refunds netted on the day they are recorded, an erasure's forfeit
counted as expired, from/to validation, the counters written in the change's
own transaction, and the cost of reading a year."""

from __future__ import annotations

from collections import Counter

from chalicelib import local
from chalicelib.runtime import services
from tests.checks import assert_error, earn, redeem, stats

PROGRAM = {
    "timezone": "Asia/Seoul",
    "signup_bonus": 1000,
    "base_rate": "0.05",
    "expiry_days": 3,
    "redemption": {"min_points": 1},
}
TEMPLATE = {"template_id": "latte", "name": "Latte", "points_cost": 100, "discount": {"type": "amount", "amount": 1000}}
ZERO = {
    "members_joined": 0,
    "earns": 0,
    "purchase_amount": 0,
    "points_earned": 0,
    "points_redeemed": 0,
    "points_expired": 0,
    "coupons_used": 0,
}


def daily(api, first: str, last: str) -> list[dict]:
    response = api.get(f"/stats/daily?from={first}&to={last}", key="admin")
    assert response.status == 200, response
    return response.json["items"]


def test_each_field_on_its_program_day_zeros_included(api, clock):
    api.program(PROGRAM)
    assert api.post("/coupon-templates", TEMPLATE, key="admin").status == 201
    clock.set("2027-02-28T14:59:59Z")  # 23:59:59 on 28 February in Seoul
    api.member("b")
    clock.set("2027-02-28T15:00:00Z")  # 00:00 on 1 March in Seoul (still 28 February in UTC)
    api.member("a")
    bought = earn(api, "a", "o1", 50000)  # 2,500 P
    assert bought["points"] == 2500
    clock.set("2027-03-02T01:00:00Z")  # 2 March
    redeem(api, "a", 300)
    refund = api.post(f"/members/a/transactions/{bought['transaction_id']}/reversal", {"amount": 20000})
    assert refund.status == 201 and refund.json["points"] == -1000
    coupon = api.post("/members/a/coupons", {"template_id": "latte"})  # bought: a 100 P redeem
    assert coupon.status == 201
    used = api.post(
        f"/coupons/{coupon.json['code']}/redemption", {"member_id": "a", "order_id": "c1", "order_amount": 5000}
    )
    assert used.status == 201
    api.post("/members/a/adjustments", {"points": 50, "reason": "goodwill"}, key="admin")  # no daily field
    # 3 March: nothing at all
    clock.set("2027-03-04T02:00:00Z")  # 4 March: the release, the erasure and the expiry run
    assert api.post(f"/coupons/{coupon.json['code']}/release", {"member_id": "a"}).status == 200
    assert api.delete("/members/b", key="admin").status == 204  # forfeits b's 1,000 P
    # a's lots of 1 March expired at 00:00 on 4 March in Seoul: 600 P of the signup lot (300 redeemed,
    # 100 paid for the coupon) and 1,500 P of the purchase's (1,000 clawed back by the refund)
    local.run_job("expire_points")
    days = daily(api, "2027-02-27", "2027-03-05")
    assert days == [
        {"date": "2027-02-27", **ZERO},
        {"date": "2027-02-28", **ZERO, "members_joined": 1, "points_earned": 1000},
        {
            "date": "2027-03-01",
            **ZERO,
            "members_joined": 1,
            "earns": 1,
            "purchase_amount": 50000,
            "points_earned": 3500,
        },
        {"date": "2027-03-02", **ZERO, "purchase_amount": -20000, "points_redeemed": 400, "coupons_used": 1},
        {"date": "2027-03-03", **ZERO},
        {"date": "2027-03-04", **ZERO, "points_expired": 1000 + 600 + 1500, "coupons_used": -1},
        {"date": "2027-03-05", **ZERO},
    ]
    totals = stats(api)
    for name in ("points_earned", "points_redeemed", "points_expired", "coupons_used"):
        assert sum(d[name] for d in days) == totals[name], name
    # a range of one day, and one inside the data
    assert daily(api, "2027-03-01", "2027-03-01") == [days[2]]


def test_a_refund_nets_on_the_day_it_is_recorded_not_on_the_purchase_day(api, clock):
    api.program(PROGRAM)
    clock.set("2027-05-01T03:00:00Z")
    api.member("a")
    bought = earn(api, "a", "o1", 10000, occurred_at="2027-04-20T03:00:00Z")  # recorded 1 May
    clock.set("2027-05-10T03:00:00Z")
    assert api.post(f"/members/a/transactions/{bought['transaction_id']}/reversal", {}).status == 201
    days = {d["date"]: d for d in daily(api, "2027-04-20", "2027-05-10")}
    assert days["2027-04-20"]["purchase_amount"] == 0 and days["2027-04-20"]["earns"] == 0
    assert (days["2027-05-01"]["earns"], days["2027-05-01"]["purchase_amount"]) == (1, 10000)
    assert days["2027-05-10"]["purchase_amount"] == -10000
    assert sum(d["purchase_amount"] for d in days.values()) == 0


def test_from_and_to_are_program_days_within_366_days(api, clock):
    api.program(PROGRAM)
    assert len(daily(api, "2027-01-01", "2028-01-01")) == 366  # 366 days: the most
    assert len(daily(api, "2028-01-01", "2028-12-31")) == 366  # a leap year
    for query in (
        "from=2027-01-01&to=2028-01-02",  # 367 days
        "from=2027-01-02&to=2027-01-01",  # from after to
        "from=2027-01-01",
        "to=2027-01-01",
        "",  # missing
        "from=2027-1-1&to=2027-01-02",
        "from=2027-02-30&to=2027-03-01",
        "from=20270101&to=20270102",
        "from=2027-01-01&to=2027-01-02&extra=1",
    ):
        assert_error(api.get(f"/stats/daily?{query}", key="admin"), 400, "VALIDATION_ERROR")
    assert_error(api.get("/stats/daily?from=2027-01-01&to=2027-01-02"), 403, "FORBIDDEN")


def test_counters_go_in_the_changes_own_transaction(api, clock):
    api.program(PROGRAM)
    api.member("a")
    sent = []
    client = services().store.client

    def record(params, model, **_):
        sent.append((model.name, params))

    client.meta.events.register("provide-client-params.dynamodb", record)
    try:
        earn(api, "a", "o1", 1000)
    finally:
        client.meta.events.unregister("provide-client-params.dynamodb", record)
    writes = [(name, params) for name, params in sent if not name.startswith(("Get", "BatchGet", "Query"))]
    assert [name for name, _ in writes] == ["TransactWriteItems"]
    updates = [a["Update"] for a in writes[0][1]["TransactItems"] if "Update" in a]
    daily_updates = [u for u in updates if u["Key"]["pk"]["S"].startswith("DAILY#")]
    assert len(daily_updates) == 1 and daily_updates[0]["Key"]["sk"]["S"] == "2027-01-15"


def test_a_year_of_daily_figures_is_one_query_per_shard(api, clock):
    from chalicelib import settings

    api.program(PROGRAM)
    for day in range(0, 365, 7):  # figures on many days of the year
        clock.set("2027-01-01T03:00:00Z")
        clock.advance(days=day)
        api.member(f"m{day}")
    calls = Counter()
    client = services().store.client

    def count(model, **_):
        calls[model.name] += 1

    client.meta.events.register("before-call.dynamodb", count)
    try:
        days = daily(api, "2027-01-01", "2027-12-31")
    finally:
        client.meta.events.unregister("before-call.dynamodb", count)
    assert sum(d["members_joined"] for d in days) == 53
    assert calls["Query"] == settings.load().daily_shards
    assert "Scan" not in calls

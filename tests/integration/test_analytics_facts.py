"""The facts, end to end on moto: changes made through the API reach a DuckDB
engine through the table's stream (chalicelib/analytics/local.py feeding the
same `stream.handle_records` the AWS function runs)."""

from __future__ import annotations

from unittest import mock

import pytest

from chalicelib.analytics import local as analytics_local
from chalicelib.analytics.engine import DuckDBEngine
from chalicelib.analytics.local import feed_from_stream

LATEST = """
    SELECT * EXCLUDE (rn) FROM (
        SELECT *, row_number() OVER (PARTITION BY {key} ORDER BY seq DESC) AS rn FROM {table}
    ) WHERE rn = 1 ORDER BY {key}
"""


def latest(engine: DuckDBEngine, table: str, key: str) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "seq"} for row in engine.query(LATEST.format(table=table, key=key))]


def counts(engine: DuckDBEngine) -> dict[str, int]:
    return {
        t: engine.query(f"SELECT count(*) AS n FROM {t}")[0]["n"]
        for t in ("members", "transactions", "earn_items", "coupon_events")
    }


@pytest.fixture
def scenario(api, clock):
    """Two members; a's earn with items, a refund, a coupon used and released; b
    suspended then erased. Returns the ids the API answered."""
    a = api.member("a", email="a@example.com", phone="+821011112222", birthday="1990-01-15")
    api.member("b", email="b@example.com")
    clock.advance(hours=1)
    earned = api.post(
        "/members/a/earn",
        {
            "order_id": "o1",
            "amount": 300000,
            "items": [
                {"sku": "latte", "category": "coffee", "amount": 4000},
                {"sku": "latte", "category": "coffee", "amount": 4000},
                {"sku": "beans", "category": "retail", "amount": 200000},
            ],
        },
    )
    assert earned.status == 201, earned
    clock.advance(hours=1)
    refund = api.post(f"/members/a/transactions/{earned.json['transaction_id']}/reversal", {"amount": 100000})
    assert refund.status == 201, refund
    template = api.post(
        "/coupon-templates",
        {"template_id": "latte", "name": "Latte", "points_cost": 10, "discount": {"type": "amount", "amount": 1000}},
        key="admin",
    )
    assert template.status == 201, template
    bought = api.post("/members/a/coupons", {"template_id": "latte"})
    assert bought.status == 201, bought
    clock.advance(hours=1)
    assert (
        api.post(
            f"/coupons/{bought.json['code']}/redemption", {"member_id": "a", "order_id": "c1", "order_amount": 5000}
        ).status
        == 201
    )
    clock.advance(hours=13)  # the next day in Seoul
    assert api.post(f"/coupons/{bought.json['code']}/release", {"member_id": "a"}).status == 200
    assert api.post("/members/b/suspension", {"reason": "rude to staff"}, key="admin").status == 200
    assert api.delete("/members/b", key="admin").status == 204
    return {"a": a, "earn": earned.json, "refund": refund.json, "coupon": bought.json}


def test_changes_through_the_api_become_fact_rows(scenario, api):
    engine = DuckDBEngine()
    assert feed_from_stream(engine) > 0
    a_now = api.get("/members/a").json
    assert latest(engine, "members", "member_id, generation") == [
        {
            "member_id": "a",
            "generation": 0,
            "enrolled_at": _ts("2027-01-15 03:00:00"),
            "enrolled_date": _date("2027-01-15"),
            "tier": a_now["tier"],
            "balance": a_now["balance"],
            "last_activity_at": _ts("2027-01-15 05:00:00"),  # the coupon bought with points
            "dormant": False,
            "status": "active",
        },
        {
            "member_id": "b",
            "generation": 0,
            "enrolled_at": _ts("2027-01-15 03:00:00"),
            "enrolled_date": _date("2027-01-15"),
            "tier": "basic",
            "balance": 0,
            "last_activity_at": _ts("2027-01-15 03:00:00"),
            "dormant": False,
            "status": "erased",
        },
    ]
    earn, refund, coupon = scenario["earn"], scenario["refund"], scenario["coupon"]
    transactions = {row["transaction_id"]: row for row in latest(engine, "transactions", "transaction_id")}
    assert transactions[earn["transaction_id"]] == {
        "transaction_id": earn["transaction_id"],
        "member_id": "a",
        "generation": 0,
        "type": "earn",
        "points": earn["points"],
        "created_at": _ts("2027-01-15 04:00:00"),
        "created_date": _date("2027-01-15"),
        "occurred_at": _ts("2027-01-15 04:00:00"),
        "occurred_date": _date("2027-01-15"),
        "order_id": "o1",
        "amount": 300000,
        "refunded_amount": 100000,
    }
    assert transactions[refund["transaction_id"]]["type"] == "reversal"
    assert transactions[refund["transaction_id"]]["amount"] == 100000
    assert transactions[refund["transaction_id"]]["refunded_amount"] is None
    # the welcome bonuses, a's earn, its refund and the coupon bought with points; b's erasure forfeit
    assert sorted((row["member_id"], row["type"], row["points"]) for row in transactions.values()) == [
        ("a", "bonus", 1000),
        ("a", "earn", 3000),
        ("a", "redeem", -10),
        ("a", "reversal", -1000),
        ("b", "bonus", 1000),
        ("b", "expire", -1000),
    ]
    assert engine.query("SELECT line, sku, category, amount FROM earn_items ORDER BY line") == [
        {"line": 0, "sku": "latte", "category": "coffee", "amount": 4000},
        {"line": 1, "sku": "latte", "category": "coffee", "amount": 4000},
        {"line": 2, "sku": "beans", "category": "retail", "amount": 200000},
    ]
    assert engine.query("SELECT coupon_id, member_id, event, event_at, event_date FROM coupon_events ORDER BY seq") == [
        {"coupon_id": coupon["coupon_id"], "member_id": "a", "event": e, "event_at": _ts(at), "event_date": _date(d)}
        for e, at, d in (
            ("issued", "2027-01-15 05:00:00", "2027-01-15"),
            ("used", "2027-01-15 06:00:00", "2027-01-15"),
            ("released", "2027-01-15 19:00:00", "2027-01-16"),
        )
    ]
    # nothing personal anywhere
    text = repr([engine.query(f"SELECT * FROM {t}") for t in counts(engine)])
    for value in ("a@example.com", "+821011112222", "1990-01-15", "b@example.com", "rude to staff", "Latte"):
        assert value not in text


def test_a_second_feed_applies_nothing_new_and_a_later_change_only_itself(scenario, api, clock):
    engine = DuckDBEngine()
    feed_from_stream(engine)
    before = counts(engine)
    assert feed_from_stream(engine) == 0
    assert counts(engine) == before
    clock.advance(days=1)
    assert api.post("/members/a/earn", {"order_id": "o2", "amount": 1000}).status == 201
    assert feed_from_stream(engine) > 0
    after = counts(engine)
    assert after["transactions"] == before["transactions"] + 1
    assert after["members"] == before["members"] + 1  # a's balance and activity moved
    assert after["earn_items"] == before["earn_items"] and after["coupon_events"] == before["coupon_events"]


def test_a_feed_that_stops_before_its_checkpoint_counts_nothing_twice(scenario, api, clock):
    engine, clean = DuckDBEngine(), DuckDBEngine()
    feed_from_stream(engine)
    clock.advance(days=1)
    assert api.post("/members/a/earn", {"order_id": "o2", "amount": 1000, "items": [_LINE]}).status == 201
    with mock.patch.object(analytics_local, "_write_checkpoint", side_effect=RuntimeError("stopped")):
        with pytest.raises(RuntimeError):
            feed_from_stream(engine)  # the rows appended, the checkpoint not moved
    assert feed_from_stream(engine) > 0  # the same records again
    feed_from_stream(clean)
    assert counts(engine) == counts(clean)
    for table, key in (("members", "member_id, generation"), ("transactions", "transaction_id")):
        assert latest(engine, table, key) == latest(clean, table, key)


def test_a_new_engine_gets_every_fact_though_another_one_was_fed(scenario):
    first = DuckDBEngine()
    feed_from_stream(first)
    second = DuckDBEngine()  # e.g. the local service started again with an in-memory engine
    assert feed_from_stream(second) > 0
    assert counts(second) == counts(first)
    # one checkpoint, now the second engine's: the first reads everything again and keeps each row once
    before = counts(first)
    feed_from_stream(first)
    assert counts(first) == before


def test_an_engine_fed_from_another_table_starts_over(scenario, api):
    """The table made again (a new stream, whose sequence numbers start where the
    old one's did): the engine's facts of the old table are dropped, not mixed."""
    from chalicelib import aws, local, settings

    engine = DuckDBEngine()
    feed_from_stream(engine)
    aws.client("dynamodb").delete_table(TableName=settings.load().table_name)
    local.create_resources()
    api.member("z")
    feed_from_stream(engine)
    assert [r["member_id"] for r in latest(engine, "members", "member_id, generation")] == ["z"]


def test_the_process_engine_is_forgotten_with_the_runtime():
    from chalicelib import runtime
    from chalicelib.analytics.engine import local_engine

    engine = local_engine()
    assert local_engine() is engine
    runtime.reset()
    assert local_engine() is not engine


_LINE = {"sku": "cookie", "category": "bakery", "amount": 500}


def test_a_large_purchase_keeps_its_lines_beside_its_transaction(api, clock):
    """Lines that would not fit on the transaction item (400 lines of 200 Korean
    characters, 600 bytes, each for sku and category: over DynamoDB's 400 KB an
    item) are stored in parts beside it and still all become earn_items."""
    api.member("a")
    items = [{"sku": f"{i:04d}" + "가" * 196, "category": "나" * 200, "amount": 1} for i in range(400)]
    earned = api.post("/members/a/earn", {"order_id": "big", "amount": 1000, "items": items})
    assert earned.status == 201, earned
    engine = DuckDBEngine()
    feed_from_stream(engine)
    rows = engine.query("SELECT line, sku, category, amount FROM earn_items ORDER BY line")
    assert [(r["line"], r["sku"], r["category"], r["amount"]) for r in rows] == [
        (i, item["sku"], item["category"], 1) for i, item in enumerate(items)
    ]


def _ts(text: str):
    import datetime as dt

    return dt.datetime.fromisoformat(text)


def _date(text: str):
    import datetime as dt

    return dt.date.fromisoformat(text)


def test_the_athena_engine_sends_its_requests_as_athena_takes_them(aws):
    """moto's Athena runs no SQL (it answers SUCCEEDED with no rows): this checks the
    requests' shapes against the service model and that the engine reads the answer."""
    import boto3

    from chalicelib.analytics.engine import AthenaEngine

    athena = boto3.client("athena", region_name="ap-northeast-2")
    athena.create_work_group(
        Name="t-analytics", Configuration={"ResultConfiguration": {"OutputLocation": "s3://t-results/results/"}}
    )
    sent = []
    athena.meta.events.register(
        "provide-client-params.athena.*", lambda params, model, **_: sent.append((model.name, params))
    )
    engine = AthenaEngine(athena, "t-analytics", "t_facts", "s3://t-results/results/", sleep=lambda s: None)
    assert engine.query("SELECT count(*) AS n FROM members WHERE status = ?", ["active"]) == []
    sent[0][1].pop("ClientRequestToken", None)  # botocore's idempotency token
    assert sent[0] == (
        "StartQueryExecution",
        {
            "QueryString": "SELECT count(*) AS n FROM members WHERE status = ?",
            "QueryExecutionContext": {"Database": "t_facts"},
            "WorkGroup": "t-analytics",
            "ResultConfiguration": {"OutputLocation": "s3://t-results/results/"},
            "ExecutionParameters": ["'active'"],
        },
    )
    assert [name for name, _ in sent[1:]] == ["GetQueryExecution", "GetQueryResults"]

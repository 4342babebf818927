"""The one-time backfill of a table that lived before its stream (scripts/backfill_facts.py):
an export of the table gives the same facts as the stream did."""

from __future__ import annotations

import gzip
import importlib.util
import json

from tests.conftest import ROOT

SPEC = importlib.util.spec_from_file_location("backfill_facts", ROOT / "scripts" / "backfill_facts.py")
backfill_facts = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(backfill_facts)


def current(engine, sql: str) -> list[tuple]:
    return sorted(tuple(row.values()) for row in engine.query(sql))


def test_an_export_backfills_the_facts_the_stream_gave(demo, clock, tmp_path):
    from chalicelib import aws, settings
    from chalicelib.analytics import stream
    from chalicelib.analytics.engine import DuckDBEngine
    from chalicelib.analytics.local import update_facts

    clock.set("2027-02-10T03:00:00Z")
    demo.member("a", email="a@example.com", phone="010-1111-2222")
    demo.member("b")
    earned = demo.post(
        "/members/a/earn",
        {"order_id": "A1", "amount": 20000, "items": [{"sku": "latte", "category": "coffee", "amount": 5000}]},
    ).json
    demo.post(f"/members/a/transactions/{earned['transaction_id']}/reversal", {"amount": 5000})
    demo.post("/members/b/redeem", {"points": 1000})
    template = {"template_id": "t1", "name": "₩1,000", "discount": {"type": "amount", "amount": 1000}}
    assert demo.post("/coupon-templates", template, key="admin").status == 201
    code = demo.post("/members/a/coupons", {"template_id": "t1"}, key="admin").json["code"]
    used = demo.post(f"/coupons/{code}/redemption", {"member_id": "a", "order_id": "A2", "order_amount": 5000})
    assert used.status == 201, used.json

    streamed = DuckDBEngine()
    update_facts(streamed)

    table = settings.load().table_name  # the export: every item, as DynamoDB JSON lines
    items = [
        page_item
        for page in aws.client("dynamodb").get_paginator("scan").paginate(TableName=table)
        for page_item in page["Items"]
    ]
    with gzip.open(tmp_path / "part-0001.json.gz", "wt") as out:
        for item in items:
            out.write(json.dumps({"Item": item}) + "\n")
    backfilled = DuckDBEngine()
    rows = backfill_facts.backfill(tmp_path, stream.EngineSink(backfilled), "Asia/Seoul")
    assert rows > 0

    latest_members = (
        "SELECT member_id, generation, enrolled_at, tier, balance, status FROM "
        "(SELECT *, row_number() OVER (PARTITION BY member_id, generation ORDER BY seq DESC) AS rn FROM members) "
        "WHERE rn = 1"
    )
    latest_transactions = (
        "SELECT transaction_id, member_id, type, points, occurred_date, amount, refunded_amount FROM "
        "(SELECT *, row_number() OVER (PARTITION BY transaction_id ORDER BY seq DESC) AS rn FROM transactions) "
        "WHERE rn = 1"
    )
    items_sql = "SELECT transaction_id, line, sku, category, amount FROM earn_items"
    events_sql = "SELECT DISTINCT coupon_id, event, event_at FROM coupon_events"
    for sql in (latest_members, latest_transactions, items_sql, events_sql):
        assert current(backfilled, sql) == current(streamed, sql), sql
    assert current(backfilled, "SELECT 1 FROM transactions WHERE refunded_amount = 5000") == [(1,)]
    assert [row[1] for row in current(backfilled, events_sql)] == ["issued", "used"]

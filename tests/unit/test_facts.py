"""Fact rows from stream records (chalicelib/analytics/facts.py): what each kind
of item makes, and that no personal data can reach a row."""

from __future__ import annotations

import json

import pytest

from chalicelib.analytics import facts
from chalicelib.analytics.facts import rows_from_records

TZ = "Asia/Seoul"
PII = ("Kim Minji", "minji@example.com", "+821012345678", "1990-01-15", "shouted at the barista")


def record(event: str, seq: int, new: dict | None = None, old: dict | None = None) -> dict:
    return {"eventName": event, "SequenceNumber": str(seq), "NewImage": new, "OldImage": old}


def profile(**changes) -> dict:
    item = {
        "pk": "MEMBER#m1",
        "sk": "PROFILE",
        "member_id": "m1",
        "name": "Kim Minji",
        "email": "minji@example.com",
        "phone": "+821012345678",
        "birthday": "1990-01-15",
        "created_at": "2027-01-31T16:00:00Z",
        "tier": "basic",
        "balance": 120,
        "erased": False,
        "generation": 0,
        "suspension": None,
        "last_activity_at": None,
        "dormant_since": None,
        "version": 3,
        "referral_code": "KIMREF",
        "locale": "ko",
    }
    item.update(changes)
    return item


def earn_tx(**changes) -> dict:
    item = {
        "pk": "MEMBER#m1",
        "sk": "TX#01TX",
        "transaction_id": "01TX",
        "member_id": "m1",
        "type": "earn",
        "points": 50,
        "balance_after": 170,
        "created_at": "2027-02-01T15:30:00Z",
        "occurred_at": "2027-02-01T14:59:59Z",
        "order_id": "o1",
        "amount": 5000,
        "refunded_amount": 0,
        "clawed_back": 0,
        "storefront": "pos",
        "items": [
            {"sku": "latte", "category": "coffee", "amount": 4000},
            {"sku": "cookie", "category": "bakery", "amount": 1000},
        ],
    }
    item.update(changes)
    return item


def coupon(**changes) -> dict:
    item = {
        "pk": "MEMBER#m1",
        "sk": "COUPON#01CP",
        "coupon_id": "01CP",
        "code": "ABCD1234",
        "member_id": "m1",
        "generation": 0,
        "status": "available",
        "issued_at": "2027-02-01T00:00:00Z",
        "used_at": None,
        "member_sk": "COUPON#01CP",
    }
    item.update(changes)
    return item


def test_a_profile_makes_a_member_row_with_program_dates():
    rows = rows_from_records([record("INSERT", 7, new=profile())], TZ)
    assert rows["members"] == [
        {
            "member_id": "m1",
            "generation": 0,
            "enrolled_at": "2027-01-31 16:00:00",
            "enrolled_date": "2027-02-01",  # 01:00 in Seoul
            "tier": "basic",
            "balance": 120,
            "last_activity_at": "2027-01-31 16:00:00",
            "dormant": False,
            "status": "active",
            "seq": "7".zfill(40),
        }
    ]
    assert rows["transactions"] == rows["earn_items"] == rows["coupon_events"] == []


def test_a_profile_change_the_row_does_not_show_makes_no_row_and_one_it_shows_does():
    quiet = record("MODIFY", 8, new=profile(version=4, spend={"2027-Q1": 5}), old=profile())
    suspended = record(
        "MODIFY", 9, new=profile(suspension={"reason": "x", "since": "2027-02-02T00:00:00Z"}), old=profile()
    )
    rows = rows_from_records([quiet, suspended], TZ)
    assert [(r["status"], r["seq"][-1]) for r in rows["members"]] == [("suspended", "9")]


def test_an_erased_profile_is_erased_and_a_new_generation_is_its_own_row():
    erased = profile(name=None, email=None, phone=None, birthday=None, erased=True, balance=0)
    again = profile(generation=1, created_at="2027-03-01T00:00:00Z", balance=0)
    rows = rows_from_records(
        [record("MODIFY", 10, new=erased, old=profile()), record("MODIFY", 11, new=again, old=erased)], TZ
    )
    assert [(r["generation"], r["status"]) for r in rows["members"]] == [(0, "erased"), (1, "active")]


def test_an_earn_makes_a_transaction_and_its_items_and_a_refund_a_later_row():
    inserted = record("INSERT", 20, new=earn_tx())
    refunded = record("MODIFY", 21, new=earn_tx(refunded_amount=1000, clawed_back=10), old=earn_tx())
    rows = rows_from_records([inserted, refunded], TZ)
    first, second = rows["transactions"]
    assert first == {
        "transaction_id": "01TX",
        "member_id": "m1",
        "generation": 0,
        "type": "earn",
        "points": 50,
        "created_at": "2027-02-01 15:30:00",
        "created_date": "2027-02-02",
        "occurred_at": "2027-02-01 14:59:59",
        "occurred_date": "2027-02-01",  # 23:59:59 in Seoul
        "order_id": "o1",
        "amount": 5000,
        "refunded_amount": 0,
        "seq": "20".zfill(40),
    }
    assert second == {**first, "refunded_amount": 1000, "seq": "21".zfill(40)}
    assert rows["earn_items"] == [
        {
            "transaction_id": "01TX",
            "member_id": "m1",
            "generation": 0,
            "occurred_date": "2027-02-01",
            "line": 0,
            "sku": "latte",
            "category": "coffee",
            "amount": 4000,
        },
        {
            "transaction_id": "01TX",
            "member_id": "m1",
            "generation": 0,
            "occurred_date": "2027-02-01",
            "line": 1,
            "sku": "cookie",
            "category": "bakery",
            "amount": 1000,
        },
    ]


def test_other_transactions_take_their_generation_from_the_key_and_occur_when_created():
    redeem = {
        "pk": "MEMBER#m1",
        "sk": "G2#TX#01RD",
        "transaction_id": "01RD",
        "member_id": "m1",
        "type": "redeem",
        "points": -100,
        "created_at": "2027-02-01T00:00:00Z",
        "restored": 0,
    }
    rows = rows_from_records(
        [record("INSERT", 30, new=redeem), record("MODIFY", 31, new={**redeem, "restored": 0}, old=redeem)], TZ
    )
    (row,) = rows["transactions"]
    assert (row["generation"], row["occurred_at"], row["amount"], row["refunded_amount"]) == (
        2,
        "2027-02-01 00:00:00",
        None,
        None,
    )
    assert rows["earn_items"] == []


def test_coupon_issue_use_and_release_are_events_and_the_code_item_is_ignored():
    used = coupon(status="used", used_at="2027-02-03T01:00:00Z", order_id="c1")
    released = coupon(status="available", released_at="2027-02-04T15:00:00Z")
    code_item = {**coupon(), "pk": "COUPON#ABCD1234", "sk": "COUPON"}
    rows = rows_from_records(
        [
            record("INSERT", 40, new=coupon()),
            record("INSERT", 41, new=code_item),
            record("MODIFY", 42, new=used, old=coupon()),
            record("MODIFY", 43, new=released, old=used),
            record("MODIFY", 44, new={**released, "expires_at": "x"}, old=released),
        ],
        TZ,
    )
    assert [(e["event"], e["event_at"], e["event_date"], e["seq"][-2:]) for e in rows["coupon_events"]] == [
        ("issued", "2027-02-01 00:00:00", "2027-02-01", "40"),
        ("used", "2027-02-03 01:00:00", "2027-02-03", "42"),
        ("released", "2027-02-04 15:00:00", "2027-02-05", "43"),
    ]


def test_items_that_are_not_facts_make_no_rows():
    others = [
        {"pk": "PROGRAM", "sk": "CONFIG", "config": "{}"},
        {"pk": "MEMBER#m1", "sk": "LOT#0#k", "points": 5},
        {"pk": "MEMBER#m1", "sk": "NOTIFICATION#01N", "type": "points_earned"},
        {"pk": "STATS#001", "sk": "STATS"},
        {"pk": "ANALYTICS", "sk": "STREAM"},
    ]
    rows = rows_from_records([record("INSERT", 50 + i, new=o) for i, o in enumerate(others)], TZ)
    assert all(v == [] for v in rows.values())


def test_sequence_numbers_longer_than_a_bigint_keep_their_order():
    small, large = facts.sequence("99"), facts.sequence("1100000000017454423009")
    assert len(small) == len(large) == 40 and small < large
    with pytest.raises(ValueError):
        facts.sequence("12a")


def test_no_personal_data_reaches_any_row():
    """A member with every personal field and a suspension reason, through every
    kind of change: no value of any row holds any of them."""
    full = profile(
        suspension={"reason": PII[4], "since": "2027-02-02T00:00:00Z"}, last_activity_at="2027-02-01T00:00:00Z"
    )
    records = [
        record("INSERT", 1, new=full),
        record("MODIFY", 2, new={**full, "tier": "gold", "balance": 999}, old=full),
        record("MODIFY", 3, new={**full, "erased": True}, old=full),
        record("REMOVE", 4, old=full),
        record("INSERT", 5, new=earn_tx()),
        record("INSERT", 6, new=coupon(name=PII[0])),
    ]
    rows = rows_from_records(records, TZ)
    assert rows["members"] and rows["transactions"] and rows["coupon_events"]
    text = json.dumps(rows, ensure_ascii=False)
    for value in PII:
        assert value not in text
    for table, table_rows in rows.items():
        for row in table_rows:
            assert tuple(row) == facts.COLUMNS[table]


# -- the Firehose sink and the Athena engine's reading of results (no AWS) ---------
class FakeFirehose:
    """PutRecordBatch that refuses the records whose data says so, `refusals` times each."""

    def __init__(self, refusals: int = 1):
        self.calls: list[tuple[str, list[bytes]]] = []
        self.refused: dict[bytes, int] = {}
        self.refusals = refusals

    def put_record_batch(self, DeliveryStreamName: str, Records: list[dict]) -> dict:
        self.calls.append((DeliveryStreamName, [r["Data"] for r in Records]))
        results = []
        for record in Records:
            data = record["Data"]
            if b'"refuse"' in data and self.refused.get(data, 0) < self.refusals:
                self.refused[data] = self.refused.get(data, 0) + 1
                results.append({"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "slow down"})
            else:
                results.append({"RecordId": "r"})
        return {"FailedPutCount": sum("ErrorCode" in r for r in results), "RequestResponses": results}


def test_the_firehose_sink_sends_json_lines_in_batches_within_the_limits_and_resends_refused_records():
    from chalicelib.analytics.stream import MAX_BATCH_BYTES, MAX_BATCH_RECORDS, FirehoseSink

    client = FakeFirehose()
    sink = FirehoseSink(client, {"members": "s-members", "coupon_events": "s-coupons"}, sleep=lambda s: None)
    members = [{"member_id": f"m{i}", "seq": "1"} for i in range(1201)]
    big = [{"coupon_id": "c" * 900_000, "n": i} for i in range(10)]  # 4 fit in 4 MiB
    refused = [{"coupon_id": "refuse", "n": 1}]
    assert sink.send({"members": members, "coupon_events": big + refused, "transactions": []}) == 1212
    sizes = [(stream, len(data)) for stream, data in client.calls]
    assert sizes[:3] == [("s-members", 500), ("s-members", 500), ("s-members", 201)]
    assert all(len(d) <= MAX_BATCH_RECORDS and sum(map(len, d)) <= MAX_BATCH_BYTES for _, d in client.calls)
    # the refused record went again, alone
    assert client.calls[-1] == ("s-coupons", [b'{"coupon_id":"refuse","n":1}\n'])
    sent = [json.loads(line) for stream, data in client.calls[:-1] for line in data]
    assert sent == members + big + refused


def test_the_firehose_sink_gives_up_after_its_attempts_so_the_batch_is_delivered_again():
    from chalicelib.analytics.stream import FirehoseDeliveryError, FirehoseSink

    sink = FirehoseSink(FakeFirehose(refusals=99), {"members": "s"}, attempts=3, sleep=lambda s: None)
    with pytest.raises(FirehoseDeliveryError):
        sink.send({"members": [{"refuse": 1}]})


class FakeAthena:
    def __init__(self, pages: list[dict], states: list[str]):
        self.pages, self.states, self.requests = pages, states, []

    def start_query_execution(self, **request):
        self.requests.append(("start", request))
        return {"QueryExecutionId": "q1"}

    def get_query_execution(self, **request):
        self.requests.append(("status", request))
        return {"QueryExecution": {"Status": {"State": self.states.pop(0), "StateChangeReason": "syntax"}}}

    def get_query_results(self, **request):
        self.requests.append(("results", request))
        return self.pages.pop(0)


def _cells(*values):
    return {"Data": [{"VarCharValue": v} if v is not None else {} for v in values]}


def test_the_athena_engine_waits_then_reads_every_page_as_typed_values():
    from chalicelib.analytics.engine import AthenaEngine

    columns = [{"Name": "member_id", "Type": "varchar"}, {"Name": "n", "Type": "bigint"}, {"Name": "d", "Type": "date"}]
    pages = [
        {
            "ResultSet": {
                "ResultSetMetadata": {"ColumnInfo": columns},
                "Rows": [_cells("member_id", "n", "d"), _cells("a", "1", "2027-01-15")],
            },
            "NextToken": "t2",
        },
        {"ResultSet": {"ResultSetMetadata": {"ColumnInfo": columns}, "Rows": [_cells("b", None, None)]}},
    ]
    client = FakeAthena(pages, ["QUEUED", "RUNNING", "SUCCEEDED"])
    engine = AthenaEngine(client, "wg", "facts", "s3://results/", sleep=lambda s: None)
    import datetime as dt

    assert engine.query("SELECT ? AS x", ["it's"]) == [
        {"member_id": "a", "n": 1, "d": dt.date(2027, 1, 15)},
        {"member_id": "b", "n": None, "d": None},
    ]
    start = client.requests[0][1]
    assert start["ExecutionParameters"] == ["'it''s'"]
    assert [kind for kind, _ in client.requests] == ["start", "status", "status", "status", "results", "results"]
    assert client.requests[-1][1] == {"QueryExecutionId": "q1", "MaxResults": 1000, "NextToken": "t2"}


def test_a_failed_athena_query_raises_with_its_reason():
    from chalicelib.analytics.engine import AthenaEngine, AthenaQueryError

    engine = AthenaEngine(FakeAthena([], ["FAILED"]), "wg", "facts", "s3://results/", sleep=lambda s: None)
    with pytest.raises(AthenaQueryError, match="syntax"):
        engine.query("SELEC 1")


def test_a_query_submitted_to_athena_starts_at_once_and_is_read_later():
    from chalicelib.analytics.engine import AthenaEngine

    columns = [{"Name": "n", "Type": "bigint"}]
    pages = [{"ResultSet": {"ResultSetMetadata": {"ColumnInfo": columns}, "Rows": [_cells("n"), _cells("7")]}}]
    client = FakeAthena(pages, ["RUNNING", "SUCCEEDED"])
    engine = AthenaEngine(client, "wg", "facts", "s3://results/", sleep=lambda s: None)
    rows = engine.submit("SELECT 7 AS n")
    assert [kind for kind, _ in client.requests] == ["start"]  # running while the refresh goes on
    assert list(rows()) == [{"n": 7}]
    assert [kind for kind, _ in client.requests] == ["start", "status", "status", "results"]

"""devtools/moto_patches.py: what each patch removes from stock moto 5.2.5, and
that DynamoDB's outcomes (conditions, cancellations, rollback, queries) are
the same with and without it.

Costs are measured in objects and items, not time: DynamoDB `Item`s alive
after a garbage collection, and items a query looks at.
"""

from __future__ import annotations

import contextlib
import gc

import boto3
import pytest
from botocore.exceptions import ClientError

from devtools import moto_patches

TABLE = "patched"


def alive_items() -> int:
    from moto.dynamodb.models.dynamo_type import Item

    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) is Item)


@contextlib.contextmanager
def moto_as(kind: str):
    """moto stock ("stock") or patched (any other kind) for the body; the
    patches are put back as they were afterwards."""
    was = moto_patches.applied()
    moto_patches.remove()
    if kind != "stock":
        force_apply()
    try:
        yield
    finally:
        moto_patches.remove()
        if was:
            force_apply()


@contextlib.contextmanager
def engine(kind: str):
    """In-process moto, stock or patched, with one table and one GSI."""
    from moto import mock_aws

    with moto_as(kind), mock_aws():
        if kind == "compact":
            assert moto_patches.enable_compaction()
        client = boto3.client("dynamodb", region_name="ap-northeast-2")
        if kind == "compact":  # as the serial server does after each request
            client.meta.events.register("after-call.dynamodb", lambda **_: moto_patches.compact())
        client.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk", "shard", "due")],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "due",
                    "KeySchema": [
                        {"AttributeName": "shard", "KeyType": "HASH"},
                        {"AttributeName": "due", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                }
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


def force_apply() -> None:
    """Apply the patches even when DANGOL_STOCK_MOTO asks the suite for stock moto."""
    saved = moto_patches.stock_requested
    moto_patches.stock_requested = lambda: False
    try:
        assert moto_patches.apply()
    finally:
        moto_patches.stock_requested = saved


def fill(client, n: int, prefix: str = "M") -> None:
    for start in range(0, n, 25):
        client.batch_write_item(
            RequestItems={
                TABLE: [
                    {
                        "PutRequest": {
                            "Item": {
                                "pk": {"S": f"{prefix}#{i}"},
                                "sk": {"S": "PROFILE"},
                                "balance": {"N": "100"},
                                "shard": {"S": str(i % 4)},
                                "due": {"S": f"2027-01-{1 + i % 28:02d}"},
                            }
                        }
                    }
                    for i in range(start, min(n, start + 25))
                ]
            }
        )


def key(pk: str, sk: str = "PROFILE") -> dict:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def earn(client, pk: str, order: str) -> None:
    """A transaction shaped like an earn: a conditional update and a new item."""
    client.transact_write_items(
        TransactItems=[
            {
                "Update": {
                    "TableName": TABLE,
                    "Key": key(pk),
                    "UpdateExpression": "ADD balance :p",
                    "ConditionExpression": "attribute_exists(pk)",
                    "ExpressionAttributeValues": {":p": {"N": "10"}},
                }
            },
            {
                "Put": {
                    "TableName": TABLE,
                    "Item": {**key(pk, f"ORDER#{order}"), "points": {"N": "10"}},
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
        ]
    )


def everything(client) -> list[dict]:
    """The whole table, by key (test-only: reads moto's backend, no Scan)."""
    table = the_table()
    return sorted(
        (
            {k: v.to_json() for k, v in item.attrs.items()}
            for item in moto_patches._original.get("all_items", type(table).all_items)(table)
        ),
        key=lambda item: (str(item["pk"]), str(item["sk"])),
    )


# -- the costs ------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["stock", "patched"])
def test_transactions_keep_copies_of_the_whole_table_only_on_stock_moto(kind):
    with engine(kind) as client:
        fill(client, 300)
        before = alive_items()
        for n in range(5):
            earn(client, f"M#{n}", f"A-{n}")
        grown = alive_items() - before
    if kind == "stock":
        # each transaction deep-copied the table (300+ items) and moto's
        # instance tracking keeps every copy alive
        assert grown >= 5 * 300
    else:
        # the 5 new order items, and nothing left of the backups
        assert grown <= 5 * 2


@pytest.mark.parametrize("kind", ["stock", "patched"])
def test_plain_writes_leave_no_item_behind_only_when_patched(kind):
    with engine(kind) as client:
        fill(client, 10)
        before = alive_items()
        for n in range(50):
            client.update_item(
                TableName=TABLE,
                Key=key("M#1"),
                UpdateExpression="ADD balance :p",
                ExpressionAttributeValues={":p": {"N": "1"}},
            )
            client.put_item(TableName=TABLE, Item={**key("M#2"), "n": {"N": str(n)}})
        grown = alive_items() - before
    if kind == "stock":
        assert grown >= 100  # every replaced item and every update's before-image
    else:
        assert grown <= 2


@pytest.mark.parametrize("kind", ["stock", "patched"])
def test_an_index_query_looks_only_at_its_bucket_when_patched(kind):
    from moto.dynamodb.models.table import Table

    looked = []
    with engine(kind) as client:
        fill(client, 400)
        fill(client, 400, prefix="OTHER")  # same shards, so buckets are big too
        for n in range(200):
            client.put_item(TableName=TABLE, Item={**key(f"M#{n}", "TX#1"), "points": {"N": "1"}})
        full = Table.all_items if kind == "stock" else moto_patches._original["all_items"]

        def counting(self):
            items = full(self)
            looked.append(len(items))
            return items

        if kind == "stock":
            Table.all_items = counting
        else:
            client.query(
                TableName=TABLE,
                IndexName="due",  # builds the buckets once
                KeyConditionExpression="shard = :s",
                ExpressionAttributeValues={":s": {"S": "0"}},
            )
            moto_patches._original["all_items"] = counting
        # one item leaves the index, another is deleted (its recorded entry is stale now)
        client.update_item(
            TableName=TABLE, Key=key("M#1"), UpdateExpression="REMOVE #sh", ExpressionAttributeNames={"#sh": "shard"}
        )
        client.delete_item(TableName=TABLE, Key=key("M#5"))
        try:
            response = client.query(
                TableName=TABLE,
                IndexName="due",
                KeyConditionExpression="shard = :s AND due <= :d",
                ExpressionAttributeValues={":s": {"S": "1"}, ":d": {"S": "2027-01-10"}},
            )
            history = client.query(
                TableName=TABLE, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": "M#6"}}
            )
        finally:
            if kind == "patched":
                moto_patches._original["all_items"] = full
            else:
                Table.all_items = full
    assert history["Count"] == 2
    assert response["Count"] == 2 * sum(1 for i in range(400) if i % 4 == 1 and 1 + i % 28 <= 10) - 2
    assert not {"M#1", "M#5"} & {i["pk"]["S"] for i in response["Items"]}
    if kind == "stock":
        assert looked and min(looked) >= 999  # every item of the table (1,000 less one deleted), each query
    else:
        assert looked == []  # no walk over the table at all


def test_an_update_that_moves_an_item_out_of_a_bucket_drops_its_record_there():
    with engine("patched") as client:
        fill(client, 8)
        client.query(
            TableName=TABLE,
            IndexName="due",
            KeyConditionExpression="shard = :s",
            ExpressionAttributeValues={":s": {"S": "1"}},
        )  # the buckets exist from here on
        _, buckets = the_table().__dict__[moto_patches.GSI_ATTR]
        assert set(buckets["due"]["1"]) == {("M#1", "PROFILE"), ("M#5", "PROFILE")}
        assert all(type(k) is str and type(r) is str for k, r in buckets["due"]["1"])  # no DynamoType kept
        client.update_item(
            TableName=TABLE, Key=key("M#1"), UpdateExpression="REMOVE #sh", ExpressionAttributeNames={"#sh": "shard"}
        )
        client.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": TABLE,
                        "Key": key("M#5"),
                        "UpdateExpression": "SET #sh = :s",
                        "ExpressionAttributeNames": {"#sh": "shard"},
                        "ExpressionAttributeValues": {":s": {"S": "2"}},
                    }
                }
            ]
        )
        assert "1" not in buckets["due"]  # both left shard 1: its bucket is gone, before any query
        assert ("M#5", "PROFILE") in buckets["due"]["2"]
        client.put_item(TableName=TABLE, Item={**key("M#5"), "shard": {"S": "3"}, "due": {"S": "2027-03-01"}})
        assert ("M#5", "PROFILE") not in buckets["due"]["2"] and ("M#5", "PROFILE") in buckets["due"]["3"]


# -- the same outcomes --------------------------------------------------------
def scenario(client) -> list:
    """Conditions, cancellations, rollbacks and index queries; returns what was seen."""
    fill(client, 40)
    seen = []

    def attempt(**kwargs):
        try:
            client.transact_write_items(**kwargs)
            return "ok"
        except ClientError as error:
            return (
                error.response["Error"]["Code"],
                [r.get("Code") for r in error.response.get("CancellationReasons", [])],
                [r.get("Item") for r in error.response.get("CancellationReasons", [])],
            )

    # a transaction that fails on its last action: nothing of it may stay
    seen.append(
        attempt(
            TransactItems=[
                {
                    "Put": {
                        "TableName": TABLE,
                        "Item": {**key("NEW#1"), "shard": {"S": "0"}, "due": {"S": "2027-01-01"}},
                    }
                },
                {
                    "Update": {
                        "TableName": TABLE,
                        "Key": key("M#0"),
                        "UpdateExpression": "SET #sh = :s, balance = :b",
                        "ExpressionAttributeNames": {"#sh": "shard"},
                        "ExpressionAttributeValues": {":s": {"S": "3"}, ":b": {"N": "0"}},
                    }
                },
                {"Delete": {"TableName": TABLE, "Key": key("M#1")}},
                {
                    "ConditionCheck": {
                        "TableName": TABLE,
                        "Key": key("M#2"),
                        "ConditionExpression": "balance > :x",
                        "ExpressionAttributeValues": {":x": {"N": "100"}},
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                },
            ]
        )
    )
    seen.append(everything(client))
    # the same item twice: a validation error, nothing applied
    seen.append(
        attempt(
            TransactItems=[
                {"Put": {"TableName": TABLE, "Item": {**key("NEW#2")}}},
                {
                    "Update": {
                        "TableName": TABLE,
                        "Key": key("M#3"),
                        "UpdateExpression": "SET balance = :b",
                        "ExpressionAttributeValues": {":b": {"N": "1"}},
                    }
                },
                {"Delete": {"TableName": TABLE, "Key": key("M#3")}},
            ]
        )
    )
    seen.append(everything(client))
    # a conditional decrement that holds, then one that does not
    for _ in range(2):
        try:
            client.update_item(
                TableName=TABLE,
                Key=key("M#4"),
                UpdateExpression="SET balance = balance - :p",
                ConditionExpression="balance >= :p",
                ExpressionAttributeValues={":p": {"N": "60"}},
            )
            seen.append("decremented")
        except ClientError as error:
            seen.append(error.response["Error"]["Code"])
    # a successful transaction that moves items between index buckets
    seen.append(
        attempt(
            TransactItems=[
                {
                    "Update": {
                        "TableName": TABLE,
                        "Key": key("M#5"),
                        "UpdateExpression": "SET #sh = :s",
                        "ExpressionAttributeNames": {"#sh": "shard"},
                        "ExpressionAttributeValues": {":s": {"S": "2"}},
                    }
                },
                {
                    "Update": {
                        "TableName": TABLE,
                        "Key": key("M#6"),
                        "UpdateExpression": "REMOVE #sh",
                        "ExpressionAttributeNames": {"#sh": "shard"},
                    }
                },
                {"Delete": {"TableName": TABLE, "Key": key("M#7")}},
                {
                    "Put": {
                        "TableName": TABLE,
                        "Item": {**key("NEW#3"), "shard": {"S": "2"}, "due": {"S": "2027-01-02"}},
                    }
                },
            ]
        )
    )
    client.put_item(TableName=TABLE, Item={**key("M#8"), "shard": {"S": "1"}, "due": {"S": "2027-02-01"}})
    client.delete_item(TableName=TABLE, Key=key("M#9"))
    # an update that makes its item (in a new partition), and deletes of what is not there
    client.update_item(
        TableName=TABLE,
        Key=key("UPSERT#1", "COUNTER"),
        UpdateExpression="ADD n :one SET #sh = :s",
        ExpressionAttributeNames={"#sh": "shard"},
        ExpressionAttributeValues={":one": {"N": "1"}, ":s": {"S": "0"}},
    )
    client.delete_item(TableName=TABLE, Key=key("GONE#1"))
    client.delete_item(TableName=TABLE, Key=key("M#10", "NOT-THERE"))
    seen.append(
        client.query(
            TableName=TABLE, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": "GONE#1"}}
        )["Count"]
    )
    seen.append(everything(client))
    for shard in "0123":
        pages, start = [], None
        while True:
            kwargs = {"ExclusiveStartKey": start} if start else {}
            page = client.query(
                TableName=TABLE,
                IndexName="due",
                Limit=3,
                KeyConditionExpression="shard = :s AND due <= :d",
                ExpressionAttributeValues={":s": {"S": shard}, ":d": {"S": "2027-01-20"}},
                **kwargs,
            )
            pages.append(page["Items"])
            start = page.get("LastEvaluatedKey")
            if not start:
                break
        seen.append(pages)
        seen.append(
            client.query(
                TableName=TABLE,
                IndexName="due",
                KeyConditionExpression="shard = :s AND due BETWEEN :a AND :b",
                ExpressionAttributeValues={":s": {"S": shard}, ":a": {"S": "2027-01-05"}, ":b": {"S": "2027-01-15"}},
            )["Items"]
        )
        seen.append(
            client.query(
                TableName=TABLE,
                IndexName="due",
                ScanIndexForward=False,
                KeyConditionExpression="shard = :s",
                ExpressionAttributeValues={":s": {"S": shard}},
            )["Items"]
        )
    seen.append(
        client.query(
            TableName=TABLE,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
            ExpressionAttributeValues={":pk": {"S": "M#3"}, ":p": {"S": "PRO"}},
        )["Items"]
    )
    return seen


def test_conditions_transactions_and_queries_answer_the_same_on_stock_and_patched_moto():
    with engine("stock") as client:
        stock = scenario(client)
    with engine("patched") as client:
        patched = scenario(client)
    with engine("compact") as client:
        compact = scenario(client)
    saved = moto_patches._TRAIN_AT
    moto_patches._TRAIN_AT = (3, 30)  # dictionaries trained early, so the scenario reads and writes through them
    try:
        with engine("compact") as client:
            trained = scenario(client)
            assert len(the_table().items.zdicts) == 3
    finally:
        moto_patches._TRAIN_AT = saved
    assert stock[0][0] == "TransactionCanceledException"
    assert stock[0][1] == ["None", "None", "None", "ConditionalCheckFailed"]
    assert stock[2][0] == "ValidationException"
    assert "NEW#1" not in str(stock[1]) and "NEW#2" not in str(stock[3])
    assert stock[4:6] == ["decremented", "ConditionalCheckFailedException"]
    assert patched == stock
    assert compact == stock
    assert trained == stock


def the_table():
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends["123456789012"]["ap-northeast-2"].tables[TABLE]


def alive(kind_name: str) -> int:
    from moto.dynamodb.models import dynamo_type

    kind = getattr(dynamo_type, kind_name)
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) is kind)


def members(client, n: int, start: int = 0) -> None:
    """Partitions shaped like Dangol's: a member (profile, ledger, orders,
    notifications) and its stored idempotency replies, one partition each."""
    for m in range(start, start + n):
        pk = f"MEMBER#m{m:06d}"
        client.put_item(
            TableName=TABLE,
            Item={
                **key(pk),
                "balance": {"N": str(1000 + m)},
                "shard": {"S": str(m % 4)},
                "due": {"S": f"2027-01-{1 + m % 28:02d}"},
                "name": {"S": "김지윤"},
                "lots": {"L": [{"M": {"points": {"N": "150"}, "expires": {"S": "2027-11-29"}}}] * 3},
            },
        )
        for t in range(4):
            client.put_item(
                TableName=TABLE,
                Item={
                    **key(pk, f"TX#01JDX{m:06d}{t:04d}"),
                    "points": {"N": "150"},
                    "type": {"S": "earn"},
                    "order_id": {"S": f"A-{t}"},
                    "created_at": {"S": f"2026-11-{1 + t:02d}T10:00:00Z"},
                },
            )
            client.put_item(
                TableName=TABLE,
                Item={
                    **key(f"IDEMPOTENCY#k1#{m:06d}-{t}"),
                    "status": {"N": "201"},
                    "expires_at": {"N": "1796000000"},
                    "body": {"S": f'{{"member_id": "m{m:06d}", "points": 150, "balance": {1000 + m}}}'},
                },
            )


def growth_per_member() -> dict:
    """Bytes each engine keeps per member (tracemalloc), and the Items and DynamoTypes left alive."""
    import tracemalloc

    grown = {}
    alive_after = {}
    for kind in ("stock", "patched", "compact"):
        with engine(kind) as client:
            members(client, 5)  # the first pack trains nothing yet; warm moto's caches
            client.query(
                TableName=TABLE,
                IndexName="due",
                KeyConditionExpression="shard = :s",
                ExpressionAttributeValues={":s": {"S": "0"}},
            )
            items_before, types_before = alive("Item"), alive("DynamoType")
            tracemalloc.start()
            before = tracemalloc.get_traced_memory()[0]
            members(client, 60, start=5)
            client.query(
                TableName=TABLE,
                IndexName="due",
                KeyConditionExpression="shard = :s",
                ExpressionAttributeValues={":s": {"S": "1"}},
            )
            gc.collect()
            grown[kind] = (tracemalloc.get_traced_memory()[0] - before) / 60
            tracemalloc.stop()
            alive_after[kind] = (alive("Item") - items_before, alive("DynamoType") - types_before)
    return {"grown": grown, "alive": alive_after}


def test_per_item_objects_outlive_requests_unless_compacted():
    """Stock and patched moto keep every stored item as live objects (an
    Item, its attrs, a DynamoType per attribute and per key) between
    requests; compacted, a partition is one blob and nothing else. Measured in
    a fresh interpreter: process-wide memory counts nothing another test left running."""
    import json
    import subprocess
    import sys

    from tests.conftest import ROOT

    probe = (
        "import json\n"
        "from tests.devtools.test_moto_patches import growth_per_member\n"
        "print(json.dumps(growth_per_member()))"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    grown, alive_after = report["grown"], report["alive"]
    for kind, (items, types) in alive_after.items():
        if kind == "compact":
            assert items == 0 and types == 0
        else:
            assert items >= 60 * 9 and types >= 60 * 9 * 4
    print({kind: f"{per:.0f} bytes per member" for kind, per in grown.items()})
    assert grown["compact"] * 5 < grown["patched"] <= grown["stock"] * 1.5, grown


def test_compacted_partitions_are_packed_between_requests_and_read_as_stored():
    with engine("compact") as client:
        members(client, 30)
        partitions = the_table().items
        assert isinstance(partitions, moto_patches.Partitions)
        assert partitions.hot == {} and len(partitions.cold) == 30 + 30 * 4
        got = client.get_item(TableName=TABLE, Key=key("MEMBER#m000007"))["Item"]
        assert got["balance"] == {"N": "1007"} and got["lots"]["L"][2]["M"]["points"] == {"N": "150"}
        assert got["pk"] == {"S": "MEMBER#m000007"} and got["sk"] == {"S": "PROFILE"}
        history = client.query(
            TableName=TABLE,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
            ExpressionAttributeValues={":pk": {"S": "MEMBER#m000007"}, ":p": {"S": "TX#"}},
            ScanIndexForward=False,
        )["Items"]
        assert [i["sk"]["S"][-4:] for i in history] == ["0003", "0002", "0001", "0000"]
        assert partitions.hot == {}  # packed again after each call
        # a read leaves the blob as it was (once packed with the newest dictionary:
        # the first read of an older blob packs it anew); a write packs it anew
        client.get_item(TableName=TABLE, Key=key("MEMBER#m000008"))
        blob = partitions.cold["MEMBER#m000008"]
        assert blob[0] == len(partitions.zdicts) - 1
        client.get_item(TableName=TABLE, Key=key("MEMBER#m000008"))
        assert partitions.cold["MEMBER#m000008"] is blob
        client.update_item(
            TableName=TABLE,
            Key=key("MEMBER#m000008"),
            UpdateExpression="ADD balance :p",
            ExpressionAttributeValues={":p": {"N": "5"}},
        )
        assert partitions.cold["MEMBER#m000008"] != blob
        assert client.get_item(TableName=TABLE, Key=key("MEMBER#m000008"))["Item"]["balance"] == {"N": "1013"}
        # a get of a key that does not exist leaves no partition behind
        assert "Item" not in client.get_item(TableName=TABLE, Key=key("MEMBER#nobody"))
        assert "MEMBER#nobody" not in partitions.cold


def test_a_shared_dictionary_is_trained_on_the_first_partitions_and_shrinks_the_rest(monkeypatch):
    monkeypatch.setattr(moto_patches, "_TRAIN_AT", (40,))
    with engine("compact") as client:
        members(client, 8)  # 40 packs: 8 members x (1 + 4)... and their rewrites
        partitions = the_table().items
        before = {k: v for k, v in partitions.cold.items()}
        members(client, 30, start=8)
        assert len(partitions.zdicts) == 2 and 0 < len(partitions.zdicts[1]) <= 32_768
        plain = [v for k, v in before.items() if v[0] == 0 and k.startswith("IDEMPOTENCY#")]
        trained = [v for v in partitions.cold.values() if v[0] == 1 and v is not None]
        trained_idem = [v for k, v in partitions.cold.items() if v[0] == 1 and k.startswith("IDEMPOTENCY#")]
        assert plain and trained and trained_idem
        assert sum(map(len, trained_idem)) / len(trained_idem) < 0.7 * sum(map(len, plain)) / len(plain)
        # blobs of either dictionary read back
        assert client.get_item(TableName=TABLE, Key=key("IDEMPOTENCY#k1#000001-2"))["Item"]["body"]["S"].startswith(
            '{"member_id": "m000001"'
        )
        assert client.get_item(TableName=TABLE, Key=key("IDEMPOTENCY#k1#000031-2"))["Item"]["status"] == {"N": "201"}


ALL_TYPES = {
    "s": {"S": "가나다"},
    "n": {"N": "-12.50"},
    "b": {"B": b"\x00\x01binary"},
    "t": {"BOOL": True},
    "f": {"BOOL": False},
    "z": {"NULL": True},
    "ss": {"SS": ["a", "b"]},
    "ns": {"NS": ["1", "2.5"]},
    "bs": {"BS": [b"x", b"y"]},
    "l": {"L": [{"S": "x"}, {"N": "1"}, {"L": []}, {"M": {"k": {"NULL": True}}}]},
    "m": {"M": {"deep": {"M": {"er": {"L": [{"B": b"z"}, {"SS": ["q"]}]}}}, "empty": {"M": {}}}},
    "empty_s": {"S": ""},
}


def test_every_attribute_type_reads_back_the_same_when_compacted():
    seen = {}
    for kind in ("stock", "compact"):
        with engine(kind) as client:
            client.put_item(TableName=TABLE, Item={**key("ALL#1"), **ALL_TYPES})
            client.update_item(
                TableName=TABLE,
                Key=key("ALL#1"),
                UpdateExpression="ADD ss :a, n :one SET l[1] = :two, m.deep.added = :s",
                ExpressionAttributeValues={
                    ":a": {"SS": ["c"]},
                    ":one": {"N": "1"},
                    ":two": {"N": "2"},
                    ":s": {"S": "new"},
                },
            )
            seen[kind] = (
                client.get_item(TableName=TABLE, Key=key("ALL#1"))["Item"],
                client.query(
                    TableName=TABLE,
                    KeyConditionExpression="pk = :pk",
                    ExpressionAttributeValues={":pk": {"S": "ALL#1"}},
                )["Items"],
            )
            if kind == "compact":
                assert the_table().items.cold["ALL#1"][0] != 255  # stored as plain data, not pickled
    assert seen["compact"] == seen["stock"]
    assert sorted(seen["stock"][0]["ss"]["SS"]) == ["a", "b", "c"] and seen["stock"][0]["l"]["L"][1] == {"N": "2"}


def test_adding_to_and_deleting_from_a_set_is_stored_when_compacted():
    """moto's ADD and DELETE change a set attribute's list in place; the
    partition holding it is packed anew like any other change."""
    seen = {}
    for kind in ("stock", "patched", "compact"):
        with engine(kind) as client:
            client.put_item(
                TableName=TABLE, Item={**key("SETS#1"), "tags": {"SS": ["a", "b"]}, "nums": {"NS": ["1", "2"]}}
            )
            answers = []
            for expression, values in (
                ("ADD tags :v", {":v": {"SS": ["c"]}}),
                ("ADD nums :v", {":v": {"NS": ["3"]}}),
                ("DELETE tags :v", {":v": {"SS": ["a"]}}),
                ("DELETE nums :v", {":v": {"NS": ["1"]}}),
            ):
                answers.append(
                    client.update_item(
                        TableName=TABLE,
                        Key=key("SETS#1"),
                        UpdateExpression=expression,
                        ExpressionAttributeValues=values,
                        ReturnValues="ALL_NEW",
                    )["Attributes"]
                )
                answers.append(client.get_item(TableName=TABLE, Key=key("SETS#1"), ConsistentRead=True)["Item"])
            seen[kind] = [(sorted(a["tags"]["SS"]), sorted(a["nums"]["NS"])) for a in answers]
    assert (
        seen["stock"]
        == [(["a", "b", "c"], ["1", "2"])] * 2
        + [(["a", "b", "c"], ["1", "2", "3"])] * 2
        + [(["b", "c"], ["1", "2", "3"])] * 2
        + [(["b", "c"], ["2", "3"])] * 2
    )
    assert seen["patched"] == seen["stock"]
    assert seen["compact"] == seen["stock"]


def test_a_job_run_finishes_on_the_serial_server_when_compacted():
    """RunBook.begin, .add and .close (transactions that put or delete a part
    item and ADD to the run item's count, a conditional SET) on the serial
    server as the local service runs it: patched and compacted."""
    import datetime as dt

    from chalicelib.jobs.pipeline import RunBook
    from devtools.serial_moto import SerialMotoServer

    with moto_as("compact"):
        assert moto_patches.enable_compaction()
        server = SerialMotoServer().start()
        try:
            client = boto3.client(
                "dynamodb",
                region_name="ap-northeast-2",
                endpoint_url=server.endpoint,
                aws_access_key_id="local",
                aws_secret_access_key="local",
            )
            client.create_table(
                TableName="runs",
                BillingMode="PAY_PER_REQUEST",
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                AttributeDefinitions=[
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "S"},
                ],
            )
            runs = RunBook(client, "runs")
            now = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
            assert runs.begin("expire#2027-01-01", ["plan"], now, dt.timedelta(minutes=5))
            runs.add("expire#2027-01-01", ["page#1", "page#2"])
            assert not runs.close("expire#2027-01-01", "plan", now)
            assert not runs.close("expire#2027-01-01", "page#1", now)
            assert not runs.finished("expire#2027-01-01")
            assert runs.close("expire#2027-01-01", "page#2", now)
            assert runs.finished("expire#2027-01-01")
            assert isinstance(the_table_named("runs").items, moto_patches.Partitions)
            client.delete_table(TableName="runs")
        finally:
            server.stop()


def the_table_named(name: str):
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends["123456789012"]["ap-northeast-2"].tables[name]


def test_a_saved_compacted_state_restores_packed_or_as_moto_keeps_it(tmp_path):
    from devtools import local_state

    path = tmp_path / "state.pkl"
    with engine("compact") as client:
        members(client, 20)
        client.query(
            TableName=TABLE,
            IndexName="due",
            KeyConditionExpression="shard = :s",
            ExpressionAttributeValues={":s": {"S": "2"}},
        )
        expected = everything(client)
        local_state.save(path)
        moto_patches._compaction = False  # a process that does not compact
        assert local_state.restore(path)
        assert type(the_table().items) is not moto_patches.Partitions
        assert everything(client) == expected
        moto_patches._compaction = True
        assert local_state.restore(path)
        assert isinstance(the_table().items, moto_patches.Partitions) and the_table().items.hot == {}
        assert everything(client) == expected
        shard = client.query(
            TableName=TABLE,
            IndexName="due",
            KeyConditionExpression="shard = :s",
            ExpressionAttributeValues={":s": {"S": "2"}},
        )["Items"]
        assert sorted(i["pk"]["S"] for i in shard) == [f"MEMBER#m{m:06d}" for m in range(2, 20, 4)]


def large_partition_scenario(client) -> list:
    """Requests on partitions larger than a chunk (CHUNK_MAX is made small by the
    caller): every key condition, pages both ways, writes that grow, split,
    empty and re-sort chunks, on S and N range keys."""
    import random

    rng = random.Random(7)
    client.create_table(
        TableName="numbers",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "n", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "n", "AttributeType": "N"},
        ],
    )
    out = []
    picked = rng.sample(range(200), 75)
    for start in range(0, 75, 25):
        client.batch_write_item(
            RequestItems={
                TABLE: [
                    {
                        "PutRequest": {
                            "Item": {
                                **key("BIG#1", f"TX#{i:04d}"),
                                "v": {"N": str(i)},
                                "shard": {"S": str(i % 3)},
                                "due": {"S": f"D{i:04d}"},
                                "tags": {"SS": ["a"]},
                            }
                        }
                    }
                    for i in picked[start : start + 25]
                ],
                "numbers": [
                    {
                        "PutRequest": {
                            "Item": {"pk": {"S": "NUM#1"}, "n": {"N": str(i - 100) + ".5"}, "v": {"S": str(i)}}
                        }
                    }
                    for i in picked[start : start + 25]
                ],
            }
        )
    conditions = [
        ("sk = :a", 1),
        ("sk < :a", 1),
        ("sk <= :a", 1),
        ("sk > :a", 1),
        ("sk >= :a", 1),
        ("sk BETWEEN :a AND :b", 2),
        ("begins_with(sk, :p)", 0),
    ]

    def queries():
        for _ in range(4):
            a, b = sorted(rng.sample(range(210), 2))
            for expression, n in conditions:
                values = {":pk": {"S": "BIG#1"}}
                if n:
                    values[":a"] = {"S": f"TX#{a:04d}"}
                if n == 2:
                    values[":b"] = {"S": f"TX#{b:04d}"}
                if not n:
                    values[":p"] = {"S": f"TX#{a // 10:03d}"}
                for limit in (None, 3):
                    for forward in (True, False):
                        kwargs = {"Limit": limit} if limit else {}
                        page = client.query(
                            TableName=TABLE,
                            KeyConditionExpression="pk = :pk AND " + expression,
                            ExpressionAttributeValues=values,
                            ScanIndexForward=forward,
                            **kwargs,
                        )
                        out.append((expression, limit, forward, page["Items"], page.get("LastEvaluatedKey")))
                        if "LastEvaluatedKey" in page:
                            page = client.query(
                                TableName=TABLE,
                                KeyConditionExpression="pk = :pk AND " + expression,
                                ExpressionAttributeValues=values,
                                ScanIndexForward=forward,
                                ExclusiveStartKey=page["LastEvaluatedKey"],
                                **kwargs,
                            )
                            out.append(("next", page["Items"], page.get("LastEvaluatedKey")))
            for expression in ("n BETWEEN :a AND :b", "n < :a", "n >= :a"):
                values = {":pk": {"S": "NUM#1"}, ":a": {"N": str(a - 100)}}
                if ":b" in expression:
                    values[":b"] = {"N": str(b - 100)}
                out.append(
                    client.query(
                        TableName="numbers",
                        KeyConditionExpression="pk = :pk AND " + expression,
                        ExpressionAttributeValues=values,
                    )["Items"]
                )

    queries()
    for step in range(80):  # writes: new keys anywhere, updates, set changes, deletes
        i = rng.randrange(220)
        action = rng.choice(("put", "update", "add", "delete", "delete", "get"))
        k = key("BIG#1", f"TX#{i:04d}")
        if action == "put":
            client.put_item(
                TableName=TABLE, Item={**k, "v": {"N": str(step)}, "shard": {"S": "1"}, "due": {"S": f"E{step:04d}"}}
            )
        elif action == "update":
            out.append(
                client.update_item(
                    TableName=TABLE,
                    Key=k,
                    UpdateExpression="SET v = :v",
                    ExpressionAttributeValues={":v": {"N": str(-step)}},
                    ReturnValues="ALL_NEW",
                )["Attributes"]
            )
        elif action == "add":
            client.update_item(
                TableName=TABLE,
                Key=k,
                UpdateExpression="ADD tags :t",
                ExpressionAttributeValues={":t": {"SS": [f"t{step}"]}},
            )
        elif action == "delete":
            out.append(client.delete_item(TableName=TABLE, Key=k, ReturnValues="ALL_OLD").get("Attributes"))
        out.append(client.get_item(TableName=TABLE, Key=k).get("Item"))
    queries()
    out.append(
        client.query(
            TableName=TABLE,
            IndexName="due",
            KeyConditionExpression="shard = :s",
            ExpressionAttributeValues={":s": {"S": "1"}},
        )["Items"]
    )
    out.append(client.describe_table(TableName=TABLE)["Table"]["ItemCount"])
    out.append(client.scan(TableName=TABLE)["Items"])
    for start in range(0, 220, 25):  # empty the partition
        client.batch_write_item(
            RequestItems={
                TABLE: [
                    {"DeleteRequest": {"Key": key("BIG#1", f"TX#{i:04d}")}} for i in range(start, min(start + 25, 220))
                ]
            }
        )
    out.append(
        client.query(
            TableName=TABLE, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": "BIG#1"}}
        )["Items"]
    )
    return out


def test_large_partitions_answer_the_same_in_chunks(monkeypatch):
    monkeypatch.setattr(moto_patches, "CHUNK_MAX", 8)
    monkeypatch.setattr(moto_patches, "CHUNK_ITEMS", 4)
    seen = {}
    for kind in ("stock", "compact"):
        with engine(kind) as client:
            seen[kind] = large_partition_scenario(client)
            if kind == "compact":
                partitions = the_table().items
                assert "BIG#1" not in partitions.cold and partitions.hot == {}  # emptied: dropped
    assert len(seen["stock"]) > 300
    assert seen["compact"] == seen["stock"]


def test_a_request_unpacks_only_the_chunks_it_touches(monkeypatch):
    monkeypatch.setattr(moto_patches, "CHUNK_MAX", 40)
    monkeypatch.setattr(moto_patches, "CHUNK_ITEMS", 20)
    unpacked = []
    real_unpack = moto_patches.Partitions._unpack
    monkeypatch.setattr(
        moto_patches.Partitions, "_unpack", lambda self, blob: unpacked.append(blob) or real_unpack(self, blob)
    )
    with engine("compact") as client:
        for start in range(0, 400, 25):
            client.batch_write_item(
                RequestItems={
                    TABLE: [
                        {"PutRequest": {"Item": {**key("BIG#1", f"TX#{i:04d}"), "v": {"N": str(i)}}}}
                        for i in range(start, start + 25)
                    ]
                }
            )
        chunks = the_table().items.cold["BIG#1"]
        assert isinstance(chunks, moto_patches.Chunks) and len(chunks.blobs) >= 400 // 40
        assert len(chunks) == 400 and chunks.hot == {}

        def cost(call):
            unpacked.clear()
            blobs = list(chunks.blobs)
            answer = call()
            assert chunks.hot == {}
            return len(unpacked), sum(a is not b for a, b in zip(blobs, chunks.blobs, strict=False)), answer

        reads, written, got = cost(lambda: client.get_item(TableName=TABLE, Key=key("BIG#1", "TX#0123")))
        assert (reads, written) == (1, 0) and got["Item"]["v"] == {"N": "123"}
        reads, written, _ = cost(
            lambda: client.update_item(
                TableName=TABLE,
                Key=key("BIG#1", "TX#0200"),
                UpdateExpression="ADD v :one",
                ExpressionAttributeValues={":one": {"N": "1"}},
            )
        )
        assert (reads, written) == (1, 1)
        reads, written, _ = cost(lambda: client.put_item(TableName=TABLE, Item={**key("BIG#1", "TX#0300a")}))
        assert (reads, written) == (1, 1)
        reads, written, page = cost(
            lambda: client.query(
                TableName=TABLE,
                KeyConditionExpression="pk = :pk AND sk BETWEEN :a AND :b",
                ExpressionAttributeValues={":pk": {"S": "BIG#1"}, ":a": {"S": "TX#0100"}, ":b": {"S": "TX#0124"}},
            )
        )
        assert page["Count"] == 25 and written == 0 and reads <= 3
        reads, written, page = cost(
            lambda: client.query(
                TableName=TABLE,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
                Limit=5,
                ExpressionAttributeValues={":pk": {"S": "BIG#1"}, ":p": {"S": "TX#03"}},
            )
        )
        assert page["Count"] == 5 and "LastEvaluatedKey" in page and written == 0 and reads <= 7
        assert client.get_item(TableName=TABLE, Key=key("BIG#1", "TX#0200"))["Item"]["v"] == {"N": "201"}
        assert len(chunks) == 401


def test_a_saved_state_keeps_large_partitions_in_chunks(tmp_path, monkeypatch):
    from devtools import local_state

    monkeypatch.setattr(moto_patches, "CHUNK_MAX", 8)
    monkeypatch.setattr(moto_patches, "CHUNK_ITEMS", 4)
    path = tmp_path / "state.pkl"
    with engine("compact") as client:
        for i in range(30):
            client.put_item(TableName=TABLE, Item={**key("BIG#1", f"TX#{i:04d}"), "v": {"N": str(i)}})
        expected = everything(client)
        local_state.save(path)
        assert local_state.restore(path)
        assert isinstance(the_table().items.cold["BIG#1"], moto_patches.Chunks)
        assert everything(client) == expected
        moto_patches._compaction = False  # a process that does not compact
        assert local_state.restore(path)
        assert type(the_table().items) is not moto_patches.Partitions
        assert everything(client) == expected
        moto_patches._compaction = True


def test_a_failed_transaction_rolls_back_fully_when_patched():
    with engine("patched") as client:
        fill(client, 10)
        before = everything(client)
        with pytest.raises(ClientError) as error:
            client.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": TABLE,
                            "Key": key("M#1"),
                            "UpdateExpression": "ADD balance :p",
                            "ExpressionAttributeValues": {":p": {"N": "50"}},
                        }
                    },
                    {"Put": {"TableName": TABLE, "Item": {**key("M#1", "ORDER#A"), "points": {"N": "50"}}}},
                    {"Delete": {"TableName": TABLE, "Key": key("M#2")}},
                    {
                        "Put": {
                            "TableName": TABLE,
                            "Item": key("M#3"),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                ]
            )
        assert error.value.response["Error"]["Code"] == "TransactionCanceledException"
        assert everything(client) == before
        # and the index still finds the restored items
        items = client.query(
            TableName=TABLE,
            IndexName="due",
            KeyConditionExpression="shard = :s",
            ExpressionAttributeValues={":s": {"S": "2"}},
        )["Items"]
        assert sorted(i["pk"]["S"] for i in items) == ["M#2", "M#6"]


# -- 5. queues ---------------------------------------------------------------------
@contextlib.contextmanager
def queues(kind: str):
    """In-process moto SQS, stock or patched."""
    from moto import mock_aws

    with moto_as(kind), mock_aws():
        yield boto3.client("sqs", region_name="ap-northeast-2")


@contextlib.contextmanager
def clock_reads():
    """Counts moto SQS's clock reads (`unix_time_millis`, `unix_time`)."""
    from moto.sqs import models

    count = {"reads": 0}
    saved = models.unix_time_millis, models.unix_time

    def millis(*args):
        count["reads"] += 1
        return saved[0](*args)

    def seconds(*args):
        count["reads"] += 1
        return saved[1](*args)

    models.unix_time_millis, models.unix_time = millis, seconds
    try:
        yield count
    finally:
        models.unix_time_millis, models.unix_time = saved


@pytest.mark.parametrize("kind", ["stock", "patched"])
def test_sending_and_receiving_cost_grows_with_the_queue_only_on_stock_moto(kind):
    with queues(kind) as sqs:
        costs = []
        for size in (50, 500):
            url = sqs.create_queue(QueueName=f"work-{size}")["QueueUrl"]
            for i in range(size):
                sqs.send_message(QueueUrl=url, MessageBody=str(i))
            with clock_reads() as count:
                sqs.send_message(QueueUrl=url, MessageBody="one more")
                sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
            costs.append(count["reads"])
    if kind == "stock":
        assert costs[1] > 5 * costs[0]  # a walk of every message, several times over
    else:
        assert costs[1] <= costs[0] + 5 and costs[1] < 100


def queue_scenario(sqs) -> list:
    """Queue behaviour whose answers must not depend on the patch."""
    seen = []
    dlq = sqs.create_queue(QueueName="dead")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(
        QueueName="work",
        Attributes={
            "VisibilityTimeout": "0",
            "MessageRetentionPeriod": "600",
            "RedrivePolicy": f'{{"deadLetterTargetArn": "{dlq_arn}", "maxReceiveCount": "2"}}',
        },
    )["QueueUrl"]
    fifo = sqs.create_queue(
        QueueName="work.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    )["QueueUrl"]
    for i in range(5):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{i}", DelaySeconds=900 if i == 4 else 0)
    for body in ("a", "a", "b"):  # the second "a" is a duplicate by content
        sqs.send_message(QueueUrl=fifo, MessageBody=body, MessageGroupId="g")

    def attrs(queue, names):
        found = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=names)["Attributes"]
        return {k: v for k, v in found.items() if "Timestamp" not in k}

    seen.append(attrs(url, ["All"]))
    seen.append(attrs(url, ["MessageRetentionPeriod", "VisibilityTimeout", "RedrivePolicy"]))
    seen.append(attrs(url, ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed"]))
    seen.append(attrs(fifo, ["All"]))
    seen.append(attrs(fifo, ["ContentBasedDeduplication", "ApproximateNumberOfMessages"]))
    for _ in range(3):  # received twice, the third receive moves them to the DLQ
        seen.append(
            sorted(m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []))
        )
    seen.append(
        sorted(m["Body"] for m in sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages", []))
    )
    seen.append([m["Body"] for m in sqs.receive_message(QueueUrl=fifo, MaxNumberOfMessages=10).get("Messages", [])])
    seen.append(
        attrs(
            url,
            [
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )
    )
    return seen


def test_queues_answer_the_same_on_stock_and_patched_moto():
    with queues("stock") as sqs:
        stock = queue_scenario(sqs)
    with queues("patched") as sqs:
        patched = queue_scenario(sqs)
    assert stock[0]["ApproximateNumberOfMessages"] == "4"
    assert stock[0]["ApproximateNumberOfMessagesDelayed"] == "1"
    assert stock[4] == {"ContentBasedDeduplication": "true", "ApproximateNumberOfMessages": "2"}
    assert stock[5] == stock[6] == ["m0", "m1", "m2", "m3"] and stock[7] == []
    assert stock[8] == ["m0", "m1", "m2", "m3"] and stock[9] == ["a", "b"]
    assert patched == stock


# -- 6. attribute values -------------------------------------------------------------
def _attribute_values():
    from hypothesis import strategies as st

    text = st.text(max_size=6)
    numbers = st.from_regex(r"-?[0-9]{1,5}(\.[0-9]{1,3})?", fullmatch=True)
    leaves = st.one_of(
        st.builds(lambda v: {"S": v}, text),
        st.builds(lambda v: {"N": v}, numbers),
        st.just({"NULL": True}),
        st.builds(lambda v: {"BOOL": v}, st.booleans()),
        st.builds(lambda v: {"SS": v}, st.lists(text, min_size=1, max_size=3)),
        st.builds(lambda v: {"NS": v}, st.lists(numbers, min_size=1, max_size=3)),
        st.builds(lambda v: {"B": v}, st.binary(max_size=4)),
        st.builds(lambda v: {"S": v}, st.one_of(st.none(), st.integers(-3, 3))),  # not moto's, but allowed
        st.builds(lambda v: {"Unknown": v}, text),
    )
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.builds(lambda v: {"M": v}, st.dictionaries(text, st.one_of(inner, st.none()), max_size=3)),
            st.builds(lambda v: {"L": v}, st.lists(st.one_of(inner, st.none()), max_size=3)),
            st.builds(lambda a, b: {**a, **b}, inner, inner),  # two members at once
        ),
        max_leaves=12,
    )


def _serialize_item(item, through_moto_only: bool) -> str:
    from moto.core.serialize import BaseJSONSerializer, XFormedAttributePicker, get_serializer_class
    from moto.core.utils import get_service_model

    operation = get_service_model("dynamodb").operation_model("GetItem")
    serializer = get_serializer_class("dynamodb", "json")(
        operation_model=operation, value_picker=XFormedAttributePicker()
    )
    patched = BaseJSONSerializer._serialize_type_structure
    if through_moto_only:
        BaseJSONSerializer._serialize_type_structure = moto_patches._original["json_structure"]
    try:
        return serializer.serialize({"Item": item})["body"]
    finally:
        BaseJSONSerializer._serialize_type_structure = patched


def test_attribute_values_are_written_as_moto_writes_them():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=400, deadline=None)
    @given(st.dictionaries(st.text(max_size=5), _attribute_values(), max_size=4))
    def same(item):
        assert _serialize_item(item, through_moto_only=False) == _serialize_item(item, through_moto_only=True)

    with moto_as("patched"):
        same()


def test_a_profile_shaped_response_skips_moto_s_member_lookups():
    from moto.core import serialize

    calls = {"n": 0}
    original = serialize.AttributePicker.__call__

    def counted(self, context):
        calls["n"] += 1
        return original(self, context)

    item = {
        "pk": {"S": "MEMBER#m1"},
        "balance": {"N": "1200"},
        "lots": {"L": [{"M": {"points": {"N": "150"}, "expires": {"S": "2027-11-29"}}}] * 20},
    }
    with moto_as("patched"):
        serialize.AttributePicker.__call__ = counted
        try:
            _serialize_item(item, through_moto_only=True)
            stock = calls["n"]
            calls["n"] = 0
            _serialize_item(item, through_moto_only=False)
            patched = calls["n"]
        finally:
            serialize.AttributePicker.__call__ = original
    assert stock > 500  # ten members looked up per attribute value
    assert patched <= 5  # the response's own members only


# -- the guard ----------------------------------------------------------------
def test_another_moto_version_fails_loudly(monkeypatch):
    import moto

    monkeypatch.setattr(moto, "__version__", "5.2.6")
    with pytest.raises(moto_patches.MotoPatchMismatch, match="targets moto 5.2.5, found 5.2.6"):
        moto_patches.check_moto()


@pytest.mark.parametrize(
    "name", ["Table.query", "Table.get_item", "Item.__init__", "Queue.attributes", "SQSBackend.send_message"]
)
def test_changed_moto_code_fails_loudly(monkeypatch, name):
    monkeypatch.setitem(moto_patches.EXPECTED_SOURCES, name, "0" * 64)
    with pytest.raises(moto_patches.MotoPatchMismatch, match=name):
        moto_patches.check_moto()


def test_the_installed_moto_is_the_one_patched():
    moto_patches.check_moto()

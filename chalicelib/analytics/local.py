"""The facts kept up to date locally (tests, the local service): the table's
stream read with DynamoDB Streams, from a checkpoint, through the same
`stream.handle_records` the AWS function runs, into a DuckDB engine.

On AWS nothing here runs: the stream invokes the `record_facts` function and
Firehose delivers the rows to S3 (stream.py).

The checkpoint is the item `ANALYTICS` / `STREAM`: {"stream_arn", "engine"
(the DuckDB engine's identity), "shards": {shard id: the last sequence number
applied}}; a feed into another engine starts from the oldest record. It is saved after the rows are
appended, so a feed that stops in between applies those records again on its
next run; the engine keeps each row once (engine.UNIQUE_KEYS), so nothing is
counted twice.
"""

from __future__ import annotations

import threading
from typing import Any, Optional

import boto3
from botocore.config import Config

from chalicelib import aws, settings
from chalicelib.analytics.stream import EngineSink, handle_records, program_timezone
from chalicelib.storage.store import from_attrs, to_attrs

CHECKPOINT_KEY = {"pk": "ANALYTICS", "sk": "STREAM"}
PAGE_RECORDS = 1000
_feeding = threading.Lock()


def streams_client():
    """A DynamoDB Streams client. botocore sends DescribeStream / GetShardIterator to an
    account-based endpoint unless told not to; a local endpoint (moto) has none."""
    config = aws._CONFIG.merge(Config(account_id_endpoint_mode="disabled"))
    return boto3.client("dynamodbstreams", region_name=settings.load().region, config=config)


def update_facts(engine: Any) -> int:
    """Bring `engine`'s facts up to every change committed so far (what the local
    refresh does first). Returns how many stream records were applied."""
    return feed_from_stream(engine)


def feed_from_stream(engine: Any, timezone: Optional[str] = None) -> int:
    """Apply every stream record after the checkpoint to `engine`; returns how many
    records were applied (the checkpoint's own writes not counted)."""
    with _feeding:
        dynamodb = aws.client("dynamodb")
        table = settings.load().table_name
        stream_arn = dynamodb.describe_table(TableName=table)["Table"].get("LatestStreamArn")
        if not stream_arn:
            raise RuntimeError(f"table {table} has no stream: create it with chalicelib.local.create_resources()")
        streams = streams_client()
        if engine.source() != stream_arn:
            engine.start_over(stream_arn)  # facts of another table (made again): from scratch
        checkpoint = _read_checkpoint(dynamodb, table)
        # a checkpoint of another stream (the table made again) or of another engine
        # (a new in-memory one, another file): start from the oldest record
        same = (checkpoint.get("stream_arn"), checkpoint.get("engine")) == (stream_arn, engine.identity)
        positions: dict[str, str] = dict(checkpoint.get("shards") or {}) if same else {}
        zone = timezone or program_timezone()
        sink = EngineSink(engine)
        applied = 0
        for shard in _shards(streams, stream_arn):
            shard_id = shard["ShardId"]
            after = positions.get(shard_id)
            request: dict[str, Any] = {"StreamArn": stream_arn, "ShardId": shard_id}
            if after:
                request.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=after)
            else:
                request.update(ShardIteratorType="TRIM_HORIZON")
            iterator = streams.get_shard_iterator(**request)["ShardIterator"]
            while iterator:
                page = streams.get_records(ShardIterator=iterator, Limit=PAGE_RECORDS)
                records = page.get("Records", [])
                if not records:
                    break
                ours = [r for r in records if not _is_checkpoint(r)]
                if ours:
                    handle_records(ours, sink, zone)
                    applied += len(ours)
                    positions[shard_id] = records[-1]["dynamodb"]["SequenceNumber"]
                    # after the append: a stop before this applies the page again (kept once)
                    _write_checkpoint(dynamodb, table, stream_arn, engine.identity, positions)
                iterator = page.get("NextShardIterator")
        return applied


def _shards(streams, stream_arn: str) -> list[dict]:
    """The stream's shards, each parent before its children."""
    shards: list[dict] = []
    start: Optional[str] = None
    while True:
        request: dict[str, Any] = {"StreamArn": stream_arn}
        if start:
            request["ExclusiveStartShardId"] = start
        description = streams.describe_stream(**request)["StreamDescription"]
        shards += description.get("Shards", [])
        start = description.get("LastEvaluatedShardId")
        if not start:
            break
    by_id = {s["ShardId"]: s for s in shards}
    ordered: list[dict] = []
    seen: set[str] = set()

    def visit(shard: dict) -> None:
        if shard["ShardId"] in seen:
            return
        seen.add(shard["ShardId"])
        parent = by_id.get(shard.get("ParentShardId") or "")
        if parent is not None:
            visit(parent)
        ordered.append(shard)

    for shard in shards:
        visit(shard)
    return ordered


def _is_checkpoint(record: dict) -> bool:
    keys = record.get("dynamodb", {}).get("Keys") or {}
    return from_attrs(keys) == CHECKPOINT_KEY if keys else False


def _read_checkpoint(dynamodb, table: str) -> dict:
    item = dynamodb.get_item(TableName=table, Key=to_attrs(CHECKPOINT_KEY), ConsistentRead=True).get("Item")
    return from_attrs(item) if item else {}


def _write_checkpoint(dynamodb, table: str, stream_arn: str, engine: str, positions: dict[str, str]) -> None:
    item = {**CHECKPOINT_KEY, "stream_arn": stream_arn, "engine": engine, "shards": dict(positions)}
    dynamodb.put_item(TableName=table, Item=to_attrs(item))

"""The table's change stream into the analytics facts (contract §17).

`handle_records` is what runs for a batch of stream records, on AWS and
locally alike: it turns them into fact rows (`facts.rows_from_records`) and
hands them to a sink.

- On AWS the stream invokes the `record_facts` function (app.py) with batches
  of records; its sink is `FirehoseSink`: each table's rows go, as JSON lines,
  to that table's Firehose delivery stream, which converts them to Parquet in
  S3 under the Glue table Athena reads. The function needs only boto3 (no
  analytics engine). A batch whose rows could not all be delivered raises, and
  Lambda delivers the batch again: rows may arrive twice, never not at all
  (see engine.py for how queries read them).
- Locally `chalicelib/analytics/local.py` reads the stream itself and gives
  the same records to `handle_records` with an `EngineSink` (DuckDB).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Optional, Protocol

from chalicelib.analytics.facts import TABLES, rows_from_records
from chalicelib.storage.store import from_attrs

LOG = logging.getLogger("dangol")

# Firehose PutRecordBatch: at most 500 records and 4 MiB a call; a record at most 1,000 KiB.
MAX_BATCH_RECORDS = 500
MAX_BATCH_BYTES = 4 * 1024 * 1024
PUT_ATTEMPTS = 5


class Sink(Protocol):
    def send(self, rows: dict[str, list[dict]]) -> int: ...


class EngineSink:
    """Rows appended to a local engine (DuckDBEngine)."""

    def __init__(self, engine: Any):
        self.engine = engine

    def send(self, rows: dict[str, list[dict]]) -> int:
        return sum(self.engine.append(table, table_rows) for table, table_rows in rows.items() if table_rows)


class FirehoseDeliveryError(RuntimeError):
    pass


class FirehoseSink:
    """Rows as JSON lines to each table's Firehose delivery stream: PutRecordBatch
    in batches of at most 500 records / 4 MiB, the records Firehose reports failed
    sent again (with backoff), up to PUT_ATTEMPTS times; then it raises."""

    def __init__(
        self,
        client: Any,
        streams: dict[str, str],
        attempts: int = PUT_ATTEMPTS,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.client = client
        self.streams = streams
        self.attempts = attempts
        self.sleep = sleep

    def send(self, rows: dict[str, list[dict]]) -> int:
        sent = 0
        for table, table_rows in rows.items():
            if not table_rows:
                continue
            stream = self.streams[table]
            records = [{"Data": (json.dumps(row, separators=(",", ":")) + "\n").encode()} for row in table_rows]
            for batch in batches(records):
                self._put(stream, batch)
                sent += len(batch)
        return sent

    def _put(self, stream: str, records: list[dict]) -> None:
        pending = records
        for attempt in range(self.attempts):
            if attempt:
                self.sleep(min(0.1 * 2**attempt, 2.0))
            response = self.client.put_record_batch(DeliveryStreamName=stream, Records=pending)
            if not response.get("FailedPutCount"):
                return
            pending = [
                r for r, result in zip(pending, response["RequestResponses"], strict=True) if result.get("ErrorCode")
            ]
        raise FirehoseDeliveryError(f"{len(pending)} records not accepted by {stream} after {self.attempts} attempts")


def batches(records: Sequence[dict]) -> Iterable[list[dict]]:
    """`records` in runs of at most MAX_BATCH_RECORDS and MAX_BATCH_BYTES."""
    batch: list[dict] = []
    size = 0
    for record in records:
        length = len(record["Data"])
        if batch and (len(batch) == MAX_BATCH_RECORDS or size + length > MAX_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(record)
        size += length
    if batch:
        yield batch


def plain_record(raw: dict) -> dict:
    """A stream record as Lambda or GetRecords gives it -> the shape facts.py reads."""
    change = raw["dynamodb"]
    approximate = change.get("ApproximateCreationDateTime")
    if hasattr(approximate, "timestamp"):
        approximate = approximate.timestamp()
    return {
        "eventName": raw["eventName"],
        "SequenceNumber": change["SequenceNumber"],
        "NewImage": from_attrs(change["NewImage"]) if change.get("NewImage") else None,
        "OldImage": from_attrs(change["OldImage"]) if change.get("OldImage") else None,
        "ApproximateCreationDateTime": approximate,
    }


def handle_records(records: Iterable[dict], sink: Optional[Sink] = None, timezone: Optional[str] = None) -> int:
    """Apply a batch of raw stream records: their fact rows to `sink` (by default
    the Firehose delivery streams the environment names), dates in `timezone`
    (by default the program's). Returns how many rows the sink took."""
    rows = rows_from_records((plain_record(r) for r in records), timezone or program_timezone())
    if not any(rows.values()):
        return 0
    return (sink or firehose_sink()).send(rows)


def program_timezone() -> str:
    from chalicelib.runtime import services

    return services().ledger.programs.current().timezone


def firehose_sink() -> FirehoseSink:
    """The delivery streams the settings name (settings.facts_delivery_streams)."""
    from chalicelib import aws
    from chalicelib.settings import load

    streams = dict(load().facts_delivery_streams)
    assert set(streams) == set(TABLES), streams
    return FirehoseSink(aws.client("firehose"), streams)


def record_facts(event: Iterable[Any]) -> None:
    """The stream function's body (app.py declares it): each chalice record's raw dict."""
    records = [r.to_dict() if hasattr(r, "to_dict") else r for r in event]
    sent = handle_records(records)
    LOG.info("record_facts: %d records, %d rows", len(records), sent)

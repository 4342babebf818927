"""Backfill the analytics facts of a table that lived before its stream (one time).

The facts (docs/analytics.md) come from the table's change stream, which only
carries changes made after it was turned on. For the items already there:

1. deploy the stack (it turns on the stream; `record_facts` sends every later change);
2. export the table to S3 (point-in-time recovery is on):
       aws dynamodb export-table-to-point-in-time --table-arn <TableArn> \\
         --s3-bucket <bucket> --export-format DYNAMODB_JSON
   and download the export's `data/` files;
3. run this script over them: each exported item becomes an INSERT record (a used
   coupon also its use) older than any stream record (sequence number 0), sent through
   the same code as the stream (chalicelib/analytics/stream.py):
       .venv/bin/python scripts/backfill_facts.py EXPORT_DIR --firehose     # on AWS
       .venv/bin/python scripts/backfill_facts.py EXPORT_DIR --duckdb FILE  # a local engine

A change made between turning the stream on and the export's point in time arrives
both ways: the stream's row is the later one and wins for members and transactions;
a coupon issued or used in that window is counted twice in the coupon figures of
that day. Export right after the deploy to keep the window short.
"""

from __future__ import annotations

import argparse
import gzip
import json
import pathlib
import sys
from collections.abc import Iterable, Iterator

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BATCH = 500


def exported_items(directory: pathlib.Path) -> Iterator[dict]:
    """The items of a DynamoDB export (DYNAMODB_JSON: lines of {"Item": {...}}, gzipped or not)."""
    for path in sorted(directory.rglob("*.json*")):
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as lines:
            for line in lines:
                if line.strip():
                    yield json.loads(line)["Item"]


def records_of(item: dict) -> list[dict]:
    """The stream records an exported item stands for (DynamoDB JSON images, sequence 0)."""
    records = [{"eventName": "INSERT", "dynamodb": {"NewImage": item, "SequenceNumber": "0"}}]
    if item.get("status") == {"S": "used"} and "coupon_id" in item:
        issued = {**item, "status": {"S": "available"}}
        records.append(
            {"eventName": "MODIFY", "dynamodb": {"NewImage": item, "OldImage": issued, "SequenceNumber": "0"}}
        )
    return records


def batches(items: Iterable[dict]) -> Iterator[list[dict]]:
    batch: list[dict] = []
    for item in items:
        batch.extend(records_of(item))
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def backfill(directory: pathlib.Path, sink, timezone: str) -> int:
    from chalicelib.analytics.stream import handle_records

    return sum(handle_records(batch, sink, timezone) for batch in batches(exported_items(directory)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("export", type=pathlib.Path, help="the downloaded export's files (a folder)")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--firehose", action="store_true", help="send to the stack's delivery streams")
    target.add_argument("--duckdb", metavar="FILE", help="append to a local DuckDB engine file")
    parser.add_argument("--timezone", default=None, help="the program timezone (default: read the program)")
    args = parser.parse_args()
    from chalicelib.analytics import stream

    if args.duckdb:
        from chalicelib.analytics.engine import DuckDBEngine

        sink = stream.EngineSink(DuckDBEngine(args.duckdb))
    else:
        sink = stream.firehose_sink()
    rows = backfill(args.export, sink, args.timezone or stream.program_timezone())
    print(json.dumps({"rows": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

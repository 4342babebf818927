"""Dangol at chain scale: billed DynamoDB capacity per request as a member's lots
grow, and how requests spread over partitions.

1. For members holding 10, 1,000 and 20,000 live lots: the read and write
   capacity units DynamoDB would bill for an earn, a redeem of one lot, a
   redeem of 20 lots and GET /members/{id}. Units are computed from the item
   sizes as DynamoDB bills them (moto's ConsumedCapacity is a fixed figure):
   a transactional write is 2 units per started KB of each item written (the
   larger of before and after), a strongly consistent read 1 unit per started
   4 KB (BatchGetItem per item, Query per request over the items returned).
2. For 1,000 earns of 1,000 distinct members: the largest share of those
   requests that wrote, or read, any one partition key, and how often the
   program item was read.

In-process moto with the narrowed transaction backup (devtools); numbers are
DynamoDB's billing arithmetic, not timings.

    .venv/bin/python scripts/benchmark_scale.py [--lots 10,1000,20000] [--earns 1000] [--json] [--write-docs]

`--write-docs` also writes both into docs/benchmarks.md (block `scale-capacity`).
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import logging
import math
import os
import pathlib
import sys
import time
from decimal import Decimal
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from devtools.offline_aws import use_moto_environment  # noqa: E402

use_moto_environment()
os.environ.setdefault("DANGOL_AUTH_CACHE_SECONDS", "3600")

NOW = dt.datetime(2027, 1, 15, 3, 0, 0, tzinfo=dt.UTC)
PROGRAM = {"redemption": {"min_points": 1}, "signup_bonus": 1000, "expiry_days": 365}


# -- DynamoDB's size arithmetic -------------------------------------------------
def value_size(value: dict) -> int:
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        digits = len(Decimal(inner).normalize().as_tuple().digits)
        return math.ceil(digits / 2) + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "B":
        return len(inner)
    if kind == "L":
        return 3 + sum(value_size(v) + 1 for v in inner)
    if kind == "M":
        return 3 + sum(len(k.encode()) + value_size(v) + 1 for k, v in inner.items())
    if kind in ("SS", "NS", "BS"):
        return sum(len(str(v)) for v in inner)
    raise ValueError(kind)


def item_size(item: dict) -> int:
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


class Meter:
    """Records each DynamoDB request's billed units through botocore events."""

    def __init__(self, client, table: str):
        self.client = client
        self.table = table
        self.reset()
        client.meta.events.register("before-call.dynamodb", self._before)
        client.meta.events.register("after-call.dynamodb", self._after)

    def reset(self):
        self.read_units = 0.0
        self.write_units = 0.0
        self.requests: list[str] = []
        self.partitions_read: set[str] = set()
        self.partitions_written: set[str] = set()
        self._pending: list[dict] = []

    def _stored_size(self, key: dict) -> int:
        found = self.client.get_item(TableName=self.table, Key=key, ConsistentRead=True).get("Item")
        return item_size(found) if found else 0

    def _before(self, model, params, **_):
        if getattr(self, "_busy", False):
            return
        request = json.loads(params.get("body") or b"{}")
        self.requests.append(model.name)
        if model.name == "TransactWriteItems":
            self._busy = True
            try:
                self._pending = []
                for action in request["TransactItems"]:
                    kind, op = next(iter(action.items()))
                    key = op.get("Key") or {"pk": op["Item"]["pk"], "sk": op["Item"]["sk"]}
                    self.partitions_written.add(key["pk"]["S"])
                    before = self._stored_size(key)
                    self._pending.append(
                        {"key": key, "before": before, "put": item_size(op["Item"]) if kind == "Put" else None}
                    )
            finally:
                self._busy = False
        elif model.name == "BatchGetItem":
            for keys in request["RequestItems"].values():
                for key in keys["Keys"]:
                    self.partitions_read.add(key["pk"]["S"])
        elif model.name in ("Query", "GetItem"):
            pk = (request.get("Key") or {}).get("pk") or request.get("ExpressionAttributeValues", {}).get(":pk")
            if pk:
                self.partitions_read.add(pk["S"])

    def _after(self, model, parsed, **_):
        if getattr(self, "_busy", False):
            return
        if model.name == "TransactWriteItems" and "Error" not in parsed:
            self._busy = True
            try:
                for entry in self._pending:
                    after = entry["put"] if entry["put"] is not None else self._stored_size(entry["key"])
                    self.write_units += 2 * max(1, math.ceil(max(entry["before"], after) / 1024))
            finally:
                self._busy = False
        elif model.name == "BatchGetItem":
            for items in parsed.get("Responses", {}).values():
                self.read_units += sum(max(1, math.ceil(_plain_size(i) / 4096)) for i in items)
        elif model.name == "Query":
            total = sum(_plain_size(i) for i in parsed.get("Items", []))
            self.read_units += max(1, math.ceil(total / 4096))
        elif model.name == "GetItem":
            item = parsed.get("Item")
            self.read_units += max(1, math.ceil(_plain_size(item) / 4096)) if item else 1


def _plain_size(item: dict) -> int:
    from boto3.dynamodb.types import TypeSerializer

    serializer = TypeSerializer()
    typed = {k: serializer.serialize(_decimals(v)) for k, v in item.items()} if item and not _typed(item) else item
    return item_size(typed or {})


def _typed(item: dict) -> bool:
    return all(
        isinstance(v, dict)
        and len(v) == 1
        and next(iter(v)) in ("S", "N", "B", "BOOL", "NULL", "L", "M", "SS", "NS", "BS")
        for v in item.values()
    )


def _decimals(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _decimals(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decimals(v) for v in value]
    return value


# -- scenarios -----------------------------------------------------------------
class World:
    def __init__(self):
        from moto import mock_aws

        self.mock = mock_aws()

    def __enter__(self):
        from chalice.test import Client

        import app as app_module
        from chalicelib import aws, local, runtime, settings
        from chalicelib import clock as clock_module
        from devtools import moto_patches

        moto_patches.apply()
        for name in ("chalicelib", "dangol", "dangol.requests", "dangol.telemetry"):
            logging.getLogger(name).setLevel(logging.ERROR)  # the numbers, not the request logs
        self.mock.start()
        runtime.reset()
        local.create_resources()
        clock_module.now = lambda: NOW
        self.keys = {
            "storefront": local.create_api_key("storefront", "pos"),
            "admin": local.create_api_key("admin", "hq"),
        }
        self.client = Client(app_module.app).__enter__()
        self.store = runtime.services().store
        self.meter = Meter(aws.client("dynamodb"), settings.load().table_name)
        self.call("PUT", "/program", PROGRAM, key="admin")
        return self

    def __exit__(self, *exc):
        self.mock.stop()

    def call(self, method: str, path: str, body=None, key="storefront"):
        import uuid

        headers = {"Authorization": f"Bearer {self.keys[key]}", "Content-Type": "application/json"}
        if method == "POST":
            headers["Idempotency-Key"] = str(uuid.uuid4())
        response = getattr(self.client.http, method.lower())(
            path, headers=headers, body=json.dumps(body) if body is not None else None
        )
        if response.status_code >= 300:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.body[:300]!r}")
        return json.loads(response.body) if response.body else None

    def measured(self, method: str, path: str, body=None) -> dict:
        self.meter.reset()
        self.call(method, path, body)
        return {
            "read_units": self.meter.read_units,
            "write_units": self.meter.write_units,
            "requests": ", ".join(self.meter.requests),
        }


def lots_phase(lot_counts: list[int]) -> list[dict]:
    from devtools.bulk_lots import add_lots

    rows = []
    for count in lot_counts:
        with World() as w:
            w.call("POST", "/members", {"member_id": "m", "name": "M"})
            lots, _ = add_lots(w.store, "m", max(count - 1, 0), NOW)  # the signup bonus is one lot
            row = {
                "lots": count,
                "earn": w.measured("POST", "/members/m/earn", {"order_id": "o-1", "amount": 10000}),
                "GET /members/{id}": w.measured("GET", "/members/m"),
            }
            head = lots[0][1] if lots else 1000
            row["redeem 1 lot"] = w.measured("POST", "/members/m/redeem", {"points": head})
            if len(lots) > 21:
                twenty = sum(points for _, points in lots[1:21])
                row["redeem 20 lots"] = w.measured("POST", "/members/m/redeem", {"points": twenty})
            rows.append(row)
    return rows


def partitions_phase(earns: int) -> dict:
    with World() as w:
        for i in range(earns):
            w.call("POST", "/members", {"member_id": f"p{i:05d}", "name": f"P {i}"})
        wrote: collections.Counter = collections.Counter()
        read: collections.Counter = collections.Counter()
        program_reads = 0
        started = time.monotonic()
        for i in range(earns):
            w.meter.reset()
            w.call("POST", f"/members/p{i:05d}/earn", {"order_id": f"o-{i}", "amount": 12000})
            wrote.update(w.meter.partitions_written)
            read.update(w.meter.partitions_read)
            program_reads += "PROGRAM" in w.meter.partitions_read
        elapsed = time.monotonic() - started
        top_write = wrote.most_common(1)[0]
        top_read = read.most_common(1)[0]
        return {
            "earns": earns,
            "seconds": round(elapsed, 1),
            "largest write share": {"partition": top_write[0], "share": top_write[1] / earns},
            "largest read share": {"partition": top_read[0], "share": top_read[1] / earns},
            "program reads": program_reads,
            "program reads per 5 s": round(program_reads / max(elapsed / 5, 1), 2),
        }


KINDS = ["earn", "redeem 1 lot", "redeem 20 lots", "GET /members/{id}"]


def scale_markdown(result: dict) -> str:
    from devtools import doc_figures

    rows = []
    for row in result["lots"]:
        cells = []
        for k in KINDS:
            m = row.get(k)
            cells.append(f"{m['read_units']:.0f} R / {m['write_units']:.0f} W" if m else "–")
        rows.append([f"{row['lots']:,}", *cells])
    table = doc_figures.markdown_table(["live lots", *KINDS], rows, right=range(len(KINDS) + 1))
    p = result["partitions"]
    write, read = p["largest write share"], p["largest read share"]
    return (
        "Billed capacity units per request (reads / writes) by the member's live lots:\n\n"
        f"{table}\n\n"
        f"{p['earns']:,} earns of {p['earns']:,} distinct members in {p['seconds']} s: the busiest partition "
        f"was written by {write['share']:.1%} of them (`{write['partition']}`), the busiest read by "
        f"{read['share']:.1%} (`{read['partition']}`); the program item was read {p['program reads']} times "
        f"({p['program reads per 5 s']} per 5 s, one container)."
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lots", default="10,1000,20000")
    parser.add_argument("--earns", type=int, default=1000)
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--write-docs",
        action="store_true",
        help="also write the figures into docs/benchmarks.md (block scale-capacity)",
    )
    args = parser.parse_args()
    if args.write_docs:
        from devtools import doc_figures

        doc_figures.require_block(ROOT / "docs" / "benchmarks.md", "scale-capacity")  # before the run, not after
    result = {"lots": lots_phase([int(x) for x in args.lots.split(",")]), "partitions": partitions_phase(args.earns)}
    if args.write_docs:
        from devtools import doc_figures

        doc_figures.write_block(
            ROOT / "docs" / "benchmarks.md", "scale-capacity", scale_markdown(result), doc_figures.command_line()
        )
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=1))
        return 0
    print("Billed capacity units per request (reads / writes) by the member's live lots")
    kinds = KINDS
    print(f"{'lots':>8}  " + "  ".join(f"{k:>22}" for k in kinds))
    for row in result["lots"]:
        cells = []
        for k in kinds:
            m = row.get(k)
            cells.append(f"{m['read_units']:>9.0f} R / {m['write_units']:>4.0f} W" if m else f"{'-':>22}")
        print(f"{row['lots']:>8}  " + "  ".join(f"{c:>22}" for c in cells))
    p = result["partitions"]
    print(f"\n{p['earns']} earns of distinct members in {p['seconds']} s:")
    print(
        f"  largest share of requests writing one partition: {p['largest write share']['share']:.1%} "
        f"({p['largest write share']['partition']})"
    )
    print(
        f"  largest share of requests reading one partition: {p['largest read share']['share']:.1%} "
        f"({p['largest read share']['partition']})"
    )
    print(f"  program item reads: {p['program reads']} ({p['program reads per 5 s']} per 5 s, one container)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

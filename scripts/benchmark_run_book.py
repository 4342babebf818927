"""The run item of a tracked job run as its open parts grow: the pages a
statement run's walkers hand off before the page workers close them.

    .venv/bin/python scripts/benchmark_run_book.py [--parts 5000]

Prints, at each step, the run item's size (DynamoDB's measure: attribute
names plus values) and the DynamoDB requests per part opened and closed, on
moto in-process (with devtools/moto_patches). The run item stays the same size: each open part is an
item of its own.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402

from chalicelib.jobs.pipeline import RUN_PK, RunBook  # noqa: E402
from devtools import moto_patches  # noqa: E402

TABLE = "runs"


def item_size(item: dict) -> int:
    """DynamoDB's item size: UTF-8 names plus values (numbers ~ digits / 2 + 1)."""
    size = 0
    for name, value in item.items():
        size += len(name.encode())
        (kind, raw), *_ = value.items()
        if kind == "S":
            size += len(raw.encode())
        elif kind == "N":
            size += len(raw.lstrip("-").replace(".", "")) // 2 + 1
        elif kind == "SS":
            size += sum(len(v.encode()) for v in raw)
    return size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", type=int, default=5000)
    args = parser.parse_args()
    moto_patches.apply()  # stock moto copies the table for each transaction
    with mock_aws():
        client = boto3.client("dynamodb", region_name="ap-northeast-2")
        client.create_table(
            TableName=TABLE,
            BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
        )
        calls: Counter[str] = Counter()
        client.meta.events.register("before-call.dynamodb", lambda model, **_: calls.update([model.name]))
        runs = RunBook(client, TABLE)
        run = "statements#2027-03"
        now = dt.datetime(2027, 3, 1, 0, 40, tzinfo=dt.UTC)
        key = {"pk": {"S": RUN_PK}, "sk": {"S": run}}
        runs.begin(run, ["s0"], now, dt.timedelta(hours=20))
        pages = [f"s0@{i:012x}" for i in range(args.parts)]

        def size() -> int:
            return item_size(client.get_item(TableName=TABLE, Key=key, ConsistentRead=True)["Item"])

        print(f"begun: run item {size()} bytes")
        calls.clear()
        started = time.perf_counter()
        for page in pages:
            runs.add(run, [page])
        opened = time.perf_counter() - started
        opened_calls = dict(calls)
        print(
            f"{args.parts} parts open: run item {size()} bytes; per part opened: "
            + ", ".join(f"{name} {count / args.parts:.2f}" for name, count in sorted(opened_calls.items()))
            + f"; {opened / args.parts * 1000:.2f} ms on moto"
        )
        calls.clear()
        runs.close(run, "s0", now)
        started = time.perf_counter()
        finished = [page for page in pages if runs.close(run, page, now)]
        closed = time.perf_counter() - started
        print(
            f"all closed (finished by {len(finished)} close): run item {size()} bytes; per part closed: "
            + ", ".join(f"{name} {count / (args.parts + 1):.2f}" for name, count in sorted(calls.items()))
            + f"; {closed / args.parts * 1000:.2f} ms on moto"
        )
        print(f"a string set of the same parts would be {sum(len(p) for p in pages):,} bytes in the run item")


if __name__ == "__main__":
    main()

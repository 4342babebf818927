"""Embedded DynamoDB benchmark: requests on one large partition.

Fills one partition (one hash key, e.g. a member with a long history or the
job-run book) with `--items` items, then times, per engine:

- GetItem of one item of the partition;
- PutItem of a new item into the partition;
- Query of `--page` items of it (a key condition `sk BETWEEN :a AND :b`).

Engines: `stock` (moto 5.2.5 as installed), `patched` (the in-process
patches of devtools/moto_patches.py) and `compact` (the patches with
compaction, as the local service runs them: the stored partitions are packed
after each request). moto runs in-process (`mock_aws`); the partition is
written straight into moto's table (the fill is not timed), then each request
goes through boto3 like the service's.

    .venv/bin/python scripts/benchmark_engine.py [--items 20000] [--repeat 20] \
        [--engines stock,patched,compact] [--json] [--write-docs]

Prints milliseconds per request (median and max of `--repeat`) per engine;
`--write-docs` also writes them into docs/local-engine.md (block
`large-partition`).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

REGION = "ap-northeast-2"
TABLE = "bench"
PK = "MEMBER#m000001"


def sort_key(i: int) -> str:
    return f"TX#{i:08d}"


def item(i: int) -> dict:
    return {
        "pk": {"S": PK},
        "sk": {"S": sort_key(i)},
        "points": {"N": str(100 + i % 50)},
        "type": {"S": "earn"},
        "order_id": {"S": f"A-{i}"},
        "created_at": {"S": f"2026-11-{1 + i % 28:02d}T10:00:00Z"},
    }


def fill(client, n: int) -> None:
    """Write `n` items into the partition directly through moto's Table (not timed)."""
    from moto.dynamodb.models import dynamodb_backends

    from devtools import moto_patches

    table = dynamodb_backends["123456789012"][REGION].tables[TABLE]
    for i in range(n):
        table.put_item(item(i))
    moto_patches.compact()  # no-op unless compacting


def timed(call, repeat: int) -> dict:
    seconds = []
    for r in range(repeat):
        started = time.perf_counter()
        call(r)
        seconds.append(time.perf_counter() - started)
    return {"median_ms": round(statistics.median(seconds) * 1000, 2), "max_ms": round(max(seconds) * 1000, 2)}


def run(kind: str, n: int, repeat: int, page: int) -> dict:
    import boto3
    from moto import mock_aws

    from devtools import moto_patches

    moto_patches.remove()
    if kind != "stock":
        saved = moto_patches.stock_requested
        moto_patches.stock_requested = lambda: False
        try:
            assert moto_patches.apply()
        finally:
            moto_patches.stock_requested = saved
    with mock_aws():
        if kind == "compact":
            assert moto_patches.enable_compaction()
        client = boto3.client("dynamodb", region_name=REGION)
        if kind == "compact":  # as the serial server does after each request
            client.meta.events.register("after-call.dynamodb", lambda **_: moto_patches.compact())
        client.create_table(
            TableName=TABLE,
            BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
        )
        started = time.perf_counter()
        fill(client, n)
        filled = time.perf_counter() - started
        step = max(1, n // (repeat + 1))

        def get(r):
            got = client.get_item(TableName=TABLE, Key={"pk": {"S": PK}, "sk": {"S": sort_key(step * (r + 1))}})
            assert got["Item"]["order_id"] == {"S": f"A-{step * (r + 1)}"}

        def put(r):
            client.put_item(TableName=TABLE, Item=item(n + r))

        def query(r):
            first = step * r
            got = client.query(
                TableName=TABLE,
                KeyConditionExpression="pk = :pk AND sk BETWEEN :a AND :b",
                ExpressionAttributeValues={
                    ":pk": {"S": PK},
                    ":a": {"S": sort_key(first)},
                    ":b": {"S": sort_key(first + page - 1)},
                },
            )
            assert got["Count"] == page, got["Count"]

        out = {
            "fill_s": round(filled, 1),
            "GetItem": timed(get, repeat),
            "PutItem": timed(put, repeat),
            f"Query {page}": timed(query, repeat),
        }
        if kind == "compact":
            out["footprint"] = moto_patches.footprint()
    moto_patches.remove()
    return out


ENGINES = {
    "stock": "stock moto 5.2.5",
    "patched": "patched (tests)",
    "compact": "patched and compacted (local service)",
}


def write_docs(items: int, repeat: int, results: dict) -> None:
    from devtools import doc_figures

    operations = [op for op in next(iter(results.values())) if op not in ("fill_s", "footprint")]
    rows = []
    for kind, result in results.items():
        cells = [f"{result[op]['median_ms']} ({result[op]['max_ms']})" for op in operations]
        rows.append([ENGINES.get(kind, kind), *cells])
    table = doc_figures.markdown_table(
        ["engine", *(f"{op} ms, median (max)" for op in operations)], rows, right=range(1, len(operations) + 1)
    )
    text = f"One partition of {items:,} items; {repeat} requests per operation.\n\n{table}"
    doc_figures.write_block(ROOT / "docs" / "local-engine.md", "large-partition", text, doc_figures.command_line())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=20_000, help="items in the partition (default 20000)")
    parser.add_argument("--repeat", type=int, default=20, help="requests timed per operation (default 20)")
    parser.add_argument("--page", type=int, default=25, help="items a Query returns (default 25)")
    parser.add_argument("--engines", default="stock,patched,compact")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--write-docs",
        action="store_true",
        help="also write the table into docs/local-engine.md (block large-partition)",
    )
    args = parser.parse_args()
    if args.write_docs:
        from devtools import doc_figures

        doc_figures.require_block(ROOT / "docs" / "local-engine.md", "large-partition")  # before the run
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    results = {}
    for kind in args.engines.split(","):
        results[kind] = run(kind, args.items, args.repeat, args.page)
        if not args.json:
            print(
                f"{kind:8s} {args.items} items: "
                + ", ".join(
                    f"{op} {v['median_ms']} ms (max {v['max_ms']})"
                    for op, v in results[kind].items()
                    if isinstance(v, dict) and "median_ms" in v
                )
                + f"; fill {results[kind]['fill_s']} s",
                flush=True,
            )
    if args.write_docs:
        write_docs(args.items, args.repeat, results)
    if args.json:
        print(json.dumps({"items": args.items, "repeat": args.repeat, "results": results}, indent=2))


if __name__ == "__main__":
    main()

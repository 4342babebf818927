"""Analytics refresh benchmark: time and DynamoDB writes of `refresh_analytics` per member count.

Members are put straight into the stand-in DuckDB engine of the tests (tests/unit/analytics_facts.py)
and as profile items into moto; 0-4 purchases each, two segments. Each size runs the refresh
twice: the first writes every member's INSIGHTS (and segments for those in one), the second,
with nothing changed, must write nothing to any member (only the program-wide ANALYTICS items
and the segment listing's figures).

    .venv/bin/python scripts/benchmark_analytics_refresh.py [--members 1000,5000]

moto runs in-process: compare sizes, not with AWS (Athena's per-query latency is not modelled).
"""

from __future__ import annotations

import argparse
import datetime as dt
import pathlib
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from devtools.offline_aws import use_moto_environment  # noqa: E402

use_moto_environment()

from devtools import moto_patches  # noqa: E402

moto_patches.apply()

AS_OF = dt.datetime(2027, 5, 10, 3, tzinfo=dt.UTC)


def run(members: int) -> list[str]:
    from moto import mock_aws

    from chalicelib import aws, local, runtime, settings
    from chalicelib.analytics import refresh
    from chalicelib.storage.store import Store
    from tests.integration.test_analytics_refresh import CountingClient, define, enrol
    from tests.unit.analytics_facts import FactsEngine

    lines = []
    with mock_aws():
        runtime.reset()
        local.create_resources()
        client = CountingClient(aws.client("dynamodb"))
        store = Store(client, settings.load().table_name)
        facts = FactsEngine()
        for i in range(members):
            member_id = f"M{i:06d}"
            facts.member(member_id, "2027-01-05")
            enrol(store, member_id, "2027-01-05")
            for k in range(i % 5):
                category = "coffee" if i % 2 else "tea"
                facts.purchase(member_id, f"2027-0{1 + k}-1{k}", 1000 + 100 * (i % 13), items=[("S", category, 10)])
        define(store, "coffee", [{"field": "bought_category", "op": "eq", "value": "coffee"}])
        define(store, "big", [{"field": "clv", "op": "gte", "value": 3000}])
        for label in ("first", "again"):
            client.writes.clear()
            facts.queries = 0
            started = time.perf_counter()
            report = refresh.refresh(facts, store, AS_OF)
            seconds = time.perf_counter() - started
            lines.append(
                f"{members:>7} members  {label:<5} {seconds:7.2f} s  queries {facts.queries:3d}  "
                f"writes {len(client.writes):6d} (to members {sum(client.member_writes().values()):6d})  "
                f"{report['writes']}"
            )
        runtime.reset()
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", default="1000,5000")
    args = parser.parse_args()
    for size in (int(n) for n in args.members.split(",")):
        for line in run(size):
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Analytics on the local service at shop size: facts visible to the next refresh, and every
analytics answer in at most 2 DynamoDB requests.

    .venv/bin/python scripts/check_local_analytics.py [--members 10000] [--buyers 2000]
        [--later 100] [--json] [--write-docs]

In-process, on the local runtime the tests use (moto, the app through chalice's test
client, `chalicelib.local.run_job`), with scripts/benchmark.py's recorder counting every
DynamoDB call the app makes:
1. `--members` members enrol through POST /members; `--buyers` of them earn once through
   POST /members/{id}/earn with items; a segment (`bought_category` coffee) is defined;
2. `refresh_analytics` runs (the facts come from the table's stream, as on AWS);
3. `--later` members earn again, and the refresh runs again: the summary's purchases, the
   earners' `frequency` and the segment's size must show exactly those earns;
4. each analytics route is asked (warm: after one request with the same key) and its
   DynamoDB requests counted.

Prints a table (and --json); `--write-docs` writes it into docs/benchmarks.md (block
`local-analytics`). Exits 1 when a fact is missing from the answers or a route needs more
than 2 requests: what it checks is the design, its timings are moto's.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import pathlib
import sys
import time
from typing import Any, Optional

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import benchmark as bench  # noqa: E402 (scripts/benchmark.py: the recorder and the moto world)

NOW = dt.datetime(2027, 3, 2, 3, 0, 0, tzinfo=dt.UTC)
DOC = ROOT / "docs" / "benchmarks.md"
BLOCK = "local-analytics"
MAX_REQUESTS = 2
MENU = [("coffee", "latte", 5000), ("coffee", "americano", 4500), ("bakery", "croissant", 3900), ("tea", "chai", 5500)]
SEGMENT = {
    "segment_id": "coffee-buyers",
    "name": "Coffee buyers",
    "rules": [{"field": "bought_category", "op": "eq", "value": "coffee"}],
}


def earn(api: bench.Api, member_id: str, order_id: str, n: int) -> None:
    items = [{"category": c, "sku": s, "amount": a} for c, s, a in (MENU[n % 4], MENU[(n + 1) % 4])]
    api.post(
        f"/members/{member_id}/earn", {"order_id": order_id, "amount": sum(i["amount"] for i in items), "items": items}
    )


def refreshed(world: bench.World, recorder: bench.Recorder) -> dict:
    from chalicelib import local
    from chalicelib.analytics import results
    from chalicelib.runtime import services
    from chalicelib.storage import repository as keys

    recorder.take()
    started = time.perf_counter()
    local.run_job("refresh_analytics")
    seconds = round(time.perf_counter() - started, 1)
    calls = bench.dynamo(recorder.take())
    report = services().store.get(*keys.analytics_refresh_key()) or {}
    writes = results.Writes()
    for kind, count in (report.get("writes") or {}).items():
        writes.add(kind, int(count))
    return {
        "seconds": seconds,
        "dynamodb_requests": len(calls),
        "member_writes": writes.member_writes,
        "writes": {kind: int(count) for kind, count in (report.get("writes") or {}).items()},
    }


def routes(member_id: str, month: str) -> list[tuple[str, str]]:
    return [
        ("GET /analytics/summary?days=30", "/analytics/summary?days=30"),
        ("GET /analytics/summary?month=", f"/analytics/summary?month={month}"),
        ("GET /analytics/cohorts", f"/analytics/cohorts?from=2026-04&to={month}"),
        ("GET /analytics/rfm", "/analytics/rfm"),
        ("GET /members/{id}/insights", f"/members/{member_id}/insights"),
        ("GET /segments", "/segments"),
        ("GET /segments/{id}", f"/segments/{SEGMENT['segment_id']}"),
        ("GET /members?segment=", f"/members?segment={SEGMENT['segment_id']}"),
        ("GET /members/{id}/recommendations", f"/members/{member_id}/recommendations?limit=10"),
    ]


def measure(members: int, buyers: int, later: int) -> dict:
    from chalicelib import clock as clock_module
    from devtools import moto_patches

    moto_patches.apply()  # as scripts/benchmark.py and the local service: stock moto copies the table per transaction
    logging.disable(logging.INFO)  # the app's request log lines (a line per request)
    program = json.loads((ROOT / "examples" / "cafe-program-v1.json").read_text())
    recorder = bench.Recorder()
    started = time.perf_counter()
    with bench.World(recorder, program, NOW - dt.timedelta(days=1)) as world:
        api = world.api
        ids = [f"a{n:06d}" for n in range(members)]
        for n, member_id in enumerate(ids):
            api.post("/members", {"member_id": member_id, "name": f"Member {n}"})
            if n < buyers:
                earn(api, member_id, f"first-{n}", n)
        api.post("/segments", SEGMENT, key="admin")
        filled = round(time.perf_counter() - started, 1)
        world.clock.now = NOW
        clock_module.now = world.clock
        first = refreshed(world, recorder)

        def facts() -> dict:
            summary = api.get("/analytics/summary?days=7", key="admin")[0]
            chosen = [api.get(f"/members/{m}/insights", key="admin")[0]["frequency"] for m in ids[:later]]
            segment = api.get(f"/segments/{SEGMENT['segment_id']}", key="admin")[0]
            return {
                "purchases_7_days": summary["purchases"],
                "frequency": chosen,
                "segment_members": segment["members"],
            }

        before = facts()
        world.clock.now = NOW + dt.timedelta(hours=1)
        for n, member_id in enumerate(ids[:later]):
            earn(api, member_id, f"later-{n}", n + 1)
        world.clock.now = NOW + dt.timedelta(hours=2)
        second = refreshed(world, recorder)
        after = facts()
        visible = {
            "purchases_7_days": (before["purchases_7_days"], after["purchases_7_days"]),
            "later_earners_frequency_up_by_1": sum(
                b + 1 == a for b, a in zip(before["frequency"], after["frequency"], strict=True)
            ),
            "segment_members": (before["segment_members"], after["segment_members"]),
        }
        month = (NOW + dt.timedelta(hours=9)).strftime("%Y-%m")
        answers = []
        for label, path in routes(ids[0], month):
            key = "storefront" if "recommendations" in path else "admin"
            api.get(path, key=key)  # warm: the key item read once per container
            counts = []
            for _ in range(3):
                _, sample = api.get(path, key=key)
                counts.append(len(bench.dynamo(sample.calls)))
            answers.append({"route": label, "requests": max(counts), "ops": bench.op_sequence(sample.calls)})
    ok = (
        after["purchases_7_days"] == before["purchases_7_days"] + later
        and visible["later_earners_frequency_up_by_1"] == later
        and all(a["requests"] <= MAX_REQUESTS for a in answers)
    )
    return {
        "members": members,
        "buyers": buyers,
        "later": later,
        "fill_seconds": filled,
        "load_average": round(os.getloadavg()[0], 1),
        "first_refresh": first,
        "second_refresh": second,
        "visible": visible,
        "answers": answers,
        "ok": ok,
    }


def markdown(report: dict) -> str:
    from devtools.doc_figures import markdown_table

    visible = report["visible"]
    first, second = report["first_refresh"], report["second_refresh"]
    lines = [
        f"{report['members']:,} members enrolled through the API, {report['buyers']:,} of them with a purchase; "
        f"first refresh {first['seconds']} s on moto ({first['dynamodb_requests']:,} DynamoDB requests, "
        f"{first['member_writes']:,} member writes). Then {report['later']:,} members earned once more and the "
        f"next refresh ({second['seconds']} s, {second['dynamodb_requests']:,} requests, "
        f"{second['member_writes']:,} member writes) counted them: purchases in the last 7 days "
        f"{visible['purchases_7_days'][0]:,} → {visible['purchases_7_days'][1]:,}; "
        f"{visible['later_earners_frequency_up_by_1']:,} of the {report['later']:,} earners' `frequency` up by 1; "
        f"segment `{SEGMENT['segment_id']}` {visible['segment_members'][0]:,} → "
        f"{visible['segment_members'][1]:,} members.",
        "",
        markdown_table(
            ["analytics answer (warm)", "DynamoDB requests", "operations"],
            [(a["route"], a["requests"], a["ops"]) for a in report["answers"]],
            right=(1,),
        ),
        "",
        f"All within {MAX_REQUESTS} requests and every new fact counted: {'yes' if report['ok'] else 'NO'}.",
    ]
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--buyers", type=int, default=2_000)
    parser.add_argument("--later", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--write-docs", action="store_true", help=f"write the figures into {DOC.relative_to(ROOT)}")
    args = parser.parse_args(argv)
    if not 1 <= args.later <= args.buyers <= args.members:
        parser.error("need 1 <= --later <= --buyers <= --members")
    if args.write_docs:
        from devtools.doc_figures import require_block

        require_block(DOC, BLOCK)
    report: Any = measure(args.members, args.buyers, args.later)
    print(json.dumps(report, indent=2) if args.json else markdown(report))
    if args.write_docs:
        from devtools.doc_figures import command_line, write_block

        write_block(DOC, BLOCK, markdown(report), command_line())
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

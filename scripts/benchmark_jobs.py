"""Job pipeline benchmark: DynamoDB work per due member, at several table sizes.

For each table size it enrols that many members, of which the same number
(`--due`) have work due for every job, and runs each job the way production
does: the scheduled function plans, the job worker (`run_job_tasks`) works
the tasks off the job queue. It counts, per job:

- requests: DynamoDB calls (planning and workers), per due member;
- items read: index keys returned by Query plus items returned by
  GetItem/BatchGetItem, per due member;
- members processed per worker-second: due members / seconds spent inside
  the worker handler (moto in-process: compare sizes, not with AWS).

`send_monthly_statements` has every member due (its work is the whole
membership), so it is the run that measures the fan-out: its members per
worker-second give the workers a million members need to be done in an hour.
`win_back_dormant_members` has the `--due` members dormant (their last
activity 2026-10-10, dormancy after 90 days) and the others not yet.
`/stats/daily` for a year is counted in requests after the runs.

The figures per due member should not grow with the table: the jobs read
the due members' index entries, never the others.

    .venv/bin/python scripts/benchmark_jobs.py [--members 1000,10000] [--due 200] [--json] [--write-docs]

`--write-docs` also writes the table into docs/benchmarks.md (block `job-costs`).

moto runs in-process with the patches of devtools/moto_patches.py (queries
read their index bucket, queues are not walked per message), so the rates
can be compared across sizes; `--members 1000,10000` takes about half an
hour on 2 cores, most of it the 10,000 statements.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import pathlib
import sys
import time
from collections import Counter

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from devtools.offline_aws import use_moto_environment  # noqa: E402

use_moto_environment()
os.environ.setdefault("DANGOL_AUTH_CACHE_SECONDS", "36000")

UTC = dt.UTC
PROGRAM = {
    "timezone": "Asia/Seoul",
    "signup_bonus": 1000,
    "birthday_bonus": 500,
    "expiry_days": 100,
    "expiry_warning_days": 7,
    "redemption": {"min_points": 1},
    "dormancy": {"after_days": 90},
    "tiers": [
        {"name": "basic", "min_spend": 0, "earn_multiplier": "1", "expiry_days": None},
        {"name": "silver", "min_spend": 100000, "earn_multiplier": "1", "expiry_days": None},
    ],
}
# due members: enrolled 2026-10-10 (lots expire 2027-01-18), silver from 2026Q4 spend
# (review due when 2027Q2 begins), born on 01-15; the others: enrolled 2026-12-20
# (lots expire 2027-03-30), basic, born in July
DUE_ENROL = dt.datetime(2026, 10, 10, 3, 0, tzinfo=UTC)
OTHER_ENROL = dt.datetime(2026, 12, 20, 3, 0, tzinfo=UTC)
RUNS = [  # job, wall clock of its run
    ("send_expiry_warnings", dt.datetime(2027, 1, 15, 0, 0, tzinfo=UTC)),  # 09:00 KST
    ("grant_birthday_bonuses", dt.datetime(2027, 1, 15, 0, 30, tzinfo=UTC)),
    ("win_back_dormant_members", dt.datetime(2027, 1, 15, 0, 50, tzinfo=UTC)),  # due ones dormant since 01-08
    ("expire_points", dt.datetime(2027, 1, 18, 23, 0, tzinfo=UTC)),  # 08:00 KST on 01-19
    ("send_monthly_statements", dt.datetime(2027, 2, 1, 0, 40, tzinfo=UTC)),  # 09:40 KST on 02-01: everyone
    ("recompute_tiers", dt.datetime(2027, 3, 31, 23, 20, tzinfo=UTC)),  # 08:20 KST, 2027Q2 begins
]


class Counts:
    def __init__(self):
        self.requests: Counter = Counter()
        self.items = 0
        self.on = False

    def before(self, model, **_):
        if self.on:
            self.requests[model.name] += 1

    def after(self, parsed, model, **_):
        if not self.on:
            return
        if model.name == "Query":
            self.items += len(parsed.get("Items", []))
        elif model.name == "GetItem":
            self.items += int("Item" in parsed)
        elif model.name == "BatchGetItem":
            self.items += sum(len(v) for v in parsed.get("Responses", {}).values())


def populate(api, size: int, due: int, clock) -> None:
    def enrol(member_id: str, birthday: str) -> None:
        response = api.http.post(
            "/members",
            headers=api.headers(member_id),
            body=json.dumps({"member_id": member_id, "name": "M", "birthday": birthday}),
        )
        assert response.status_code == 201, response.body

    clock.now = DUE_ENROL
    for i in range(due):
        enrol(f"d{i:05d}", "1990-01-15")
        response = api.http.post(
            f"/members/d{i:05d}/earn",
            headers=api.headers(f"e{i}"),
            body=json.dumps({"order_id": f"o{i}", "amount": 100000}),
        )
        assert response.status_code == 201, response.body
    clock.now = OTHER_ENROL
    for i in range(min(size - due, 28)):
        enrol(f"m{i:05d}", f"1990-07-{1 + i:02d}")
    clone_members(size - due, 28)


def clone_members(total: int, templates: int) -> None:
    """Members m<templates>.. m<total-1> as copies of the enrolled ones (every item
    of their partitions, under the new id): the table grows without as many
    requests through the API. Shard attributes are recomputed for the new id."""
    import hashlib

    from chalicelib import aws, settings

    client = aws.client("dynamodb")
    table = settings.load().table_name
    shards = settings.load().schedule_shards
    sources = []
    for t in range(min(templates, total)):
        pk = f"MEMBER#m{t:05d}"
        sources.append(
            client.query(
                TableName=table, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": pk}}
            )["Items"]
        )
    batch = []
    for i in range(templates, total):
        member_id = f"m{i:05d}"
        shard = str(int(hashlib.sha256(member_id.encode()).hexdigest(), 16) % shards)
        for item in sources[i % len(sources)]:
            copy = dict(item)
            copy["pk"] = {"S": f"MEMBER#{member_id}"}
            if "member_id" in copy:
                copy["member_id"] = {"S": member_id}
            for name in ("expiry_shard", "tier_shard", "member_shard", "activity_shard"):
                if name in copy:
                    copy[name] = {"S": shard}
            copy.pop("outbox_shard", None)
            batch.append({"PutRequest": {"Item": copy}})
            if len(batch) == 25:
                client.batch_write_item(RequestItems={table: batch})
                batch = []
    if batch:
        client.batch_write_item(RequestItems={table: batch})


def _member_pks():
    from chalicelib import aws, settings
    from chalicelib.storage.store import MEMBERS_INDEX

    client = aws.client("dynamodb")
    for shard in range(settings.load().schedule_shards):
        kwargs = {
            "TableName": settings.load().table_name,
            "IndexName": MEMBERS_INDEX,
            "KeyConditionExpression": "member_shard = :s",
            "ExpressionAttributeValues": {":s": {"S": str(shard)}},
        }
        while True:
            page = client.query(**kwargs)
            yield from (item["pk"]["S"] for item in page["Items"])
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


class Api:
    def __init__(self, http, key: str):
        self.http = http
        self.key = key

    def headers(self, idem: str) -> dict:
        return {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json", "Idempotency-Key": idem}


def measure(size: int, due: int, jobs: tuple = ()) -> list[dict]:
    from chalice.test import Client
    from moto import mock_aws

    import app as app_module
    from chalicelib import aws, local, runtime
    from chalicelib import clock as clock_module
    from chalicelib.domain.tiers import ladder_signature
    from chalicelib.storage.repository import LADDER_KEY
    from devtools import moto_patches

    class Clock:
        now = DUE_ENROL

        def __call__(self):
            return self.now

    clock = Clock()
    moto_patches.apply()  # a cost per request that does not grow with the table (devtools/moto_patches.py)
    rows = []
    with mock_aws():
        clock_module.now = clock
        runtime.reset()
        local.create_resources()
        admin = local.create_api_key("admin", "bench")
        storefront = local.create_api_key("storefront", "bench")
        with Client(app_module.app) as http:
            response = http.http.put(
                "/program",
                headers={"Authorization": f"Bearer {admin}", "Content-Type": "application/json"},
                body=json.dumps(PROGRAM),
            )
            assert response.status_code == 200, response.body
            # the ladder counts as applied (its pass over every member is not what is measured)
            services = runtime.services()
            services.store.put({**LADDER_KEY, "ladder": ladder_signature(services.ledger.program())})
            started = time.perf_counter()
            populate(Api(http.http, storefront), size, due, clock)
            setup_seconds = time.perf_counter() - started
            local.drain_queues()  # welcome notifications: out of the way
            members = sum(1 for _ in _member_pks())
            assert members == size, (members, size)

            counts = Counts()
            client = aws.client("dynamodb")
            client.meta.events.register("before-call.dynamodb", counts.before)
            client.meta.events.register("after-call.dynamodb", counts.after)
            worker = app_module.run_job_tasks
            spent = {"seconds": 0.0, "tasks": 0}

            def timed(event, context):
                began = time.perf_counter()
                try:
                    return worker(event, context)
                finally:
                    spent["seconds"] += time.perf_counter() - began
                    spent["tasks"] += 1

            app_module.run_job_tasks = timed
            try:
                planned = [(job, now) for job, now in RUNS if not jobs or job in jobs]
                for number, (job, now) in enumerate(planned, 1):
                    clock.now = now
                    worked = size if job == "send_monthly_statements" else due
                    counts.requests.clear()
                    counts.items = 0
                    spent.update(seconds=0.0, tasks=0)
                    counts.on = True
                    local.run_job(job)
                    counts.on = False
                    requests = sum(counts.requests.values())
                    rows.append(
                        {
                            "job": job,
                            "members": size,
                            "due": worked,
                            "requests_per_due": round(requests / worked, 2),
                            "items_read_per_due": round(counts.items / worked, 2),
                            "requests": dict(counts.requests),
                            "worker_tasks": spent["tasks"],
                            "worker_seconds": round(spent["seconds"], 2),
                            "members_per_worker_second": round(worked / spent["seconds"], 1)
                            if spent["seconds"]
                            else None,
                            "setup_seconds": round(setup_seconds, 1),
                        }
                    )
                    if number < len(planned):
                        local.drain_queues()  # this job's notifications, before the next job is counted
                # §16: a year of daily figures
                counts.requests.clear()
                counts.on = True
                response = http.http.get(
                    "/stats/daily?from=2026-02-01&to=2027-01-31", headers={"Authorization": f"Bearer {admin}"}
                )
                counts.on = False
                assert response.status_code == 200, response.body
                rows.append({"job": "GET /stats/daily (365 days)", "members": size, "requests": dict(counts.requests)})
            finally:
                app_module.run_job_tasks = worker
        runtime.reset()
    return rows


def fan_out(rate: float) -> int:
    """Workers at once for a million statements within an hour at `rate` members per worker-second."""
    return math.ceil(1_000_000 / (rate * 3600))


def job_costs_markdown(rows: list[dict]) -> str:
    from devtools import doc_figures

    jobs = [r for r in rows if "due" in r]
    table = doc_figures.markdown_table(
        [
            "job",
            "members",
            "members worked",
            "requests / member",
            "items read / member",
            "tasks",
            "members / worker-second",
        ],
        [
            [
                r["job"],
                f"{r['members']:,}",
                f"{r['due']:,}",
                r["requests_per_due"],
                r["items_read_per_due"],
                r["worker_tasks"],
                r["members_per_worker_second"] or "-",
            ]
            for r in jobs
        ],
        right=range(1, 7),
    )
    lines = [table, ""]
    for r in rows:
        if "due" not in r:
            lines.append(
                f"- `{r['job']}` at {r['members']:,} members: {sum(r['requests'].values())} DynamoDB requests "
                f"({', '.join(f'{n} {k}' for k, n in sorted(r['requests'].items()))})."
            )
    for r in jobs:
        if r["job"] == "send_monthly_statements" and r["members_per_worker_second"]:
            rate = r["members_per_worker_second"]
            lines.append(
                f"- `send_monthly_statements` at {r['members']:,} members: {rate} members per worker-second, "
                f"so a million statements within an hour need {fan_out(rate)} workers at once."
            )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", default="1000,10000", help="table sizes, comma-separated")
    parser.add_argument("--due", type=int, default=200, help="members with work due, at every size")
    parser.add_argument("--jobs", default="", help="only these jobs, comma-separated")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--write-docs", action="store_true", help="also write the table into docs/benchmarks.md (block job-costs)"
    )
    args = parser.parse_args()
    if args.write_docs:
        from devtools import doc_figures

        doc_figures.require_block(ROOT / "docs" / "benchmarks.md", "job-costs")  # before the run, not after
    rows = []
    for size in (int(s) for s in args.members.split(",")):
        rows += measure(size, args.due, tuple(j for j in args.jobs.split(",") if j))
    if args.write_docs:
        from devtools import doc_figures

        doc_figures.write_block(
            ROOT / "docs" / "benchmarks.md", "job-costs", job_costs_markdown(rows), doc_figures.command_line()
        )
    if args.json:
        print(json.dumps({"rows": rows}, indent=2))
        return 0
    print(
        f"{'job':<26}{'members':>9}{'due':>6}{'req/due':>9}{'items/due':>11}"
        f"{'tasks':>7}{'worker s':>10}{'members/worker-s':>18}"
    )
    for r in rows:
        if "due" not in r:
            continue
        print(
            f"{r['job']:<26}{r['members']:>9}{r['due']:>6}{r['requests_per_due']:>9}"
            f"{r['items_read_per_due']:>11}{r['worker_tasks']:>7}{r['worker_seconds']:>10}"
            f"{r['members_per_worker_second'] or '-':>18}"
        )
    for r in rows:
        if "due" not in r:
            print(
                f"{r['job']} at {r['members']:,} members: {sum(r['requests'].values())} DynamoDB requests "
                f"({', '.join(f'{n} {k}' for k, n in sorted(r['requests'].items()))}; "
                f"Query: one per daily shard)"
            )
    shards = int(os.environ.get("DANGOL_SCHEDULE_SHARDS", "4"))
    for r in rows:
        if r["job"] == "send_monthly_statements" and r["members_per_worker_second"]:
            rate = r["members_per_worker_second"]
            workers = fan_out(rate)
            print(
                f"send_monthly_statements at {r['members']:,} members: {rate} members per worker-second "
                f"-> a million members in an hour needs {workers} workers at once "
                f"(a task per page of members, {shards} shards walking the index; the stack parameter "
                f"JobConcurrency caps the workers at once)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())

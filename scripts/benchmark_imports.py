"""Imports benchmark (contract §25): an import of `--lines` members, applied the way
production applies it (the job queue's `run_job_tasks`: one planning task, then one
task per chunk), on moto in-process.

It prints:
- lines per worker-second: lines / seconds spent inside the job worker (moto in-process,
  so CPU-bound: compare runs, and see the AWS estimate below), and per CPU-second of
  the process in the worker (what a loaded machine does not change);
- requests per line: AWS requests of the workers (DynamoDB and S3) / lines (the goal: at
  most 2; each new member is one TransactWriteItems, its read shared by 100 lines);
- an AWS estimate of the worker time from those requests at typical in-region latencies
  (`--latency-ms`, per request type), and the workers a million lines need to be done in
  an hour, both from the moto rate and from that estimate.

The file is uploaded to the imports bucket and named by `s3_key` (100,000 lines are
about 11 MB, over the 5 MiB of `data`). One line in 100 is bad and one in 100 names a
member that exists, as in a real export.

    .venv/bin/python scripts/benchmark_imports.py [--lines 100000] [--chunk-lines 1000] [--json] [--write-docs]

`--write-docs` also writes the figures into docs/imports.md (block `import-costs`).
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

from devtools.offline_aws import use_moto_environment  # noqa: E402
from devtools.worker_timing import TimedWorker  # noqa: E402

use_moto_environment()
os.environ.setdefault("DANGOL_AUTH_CACHE_SECONDS", "36000")

NOW = dt.datetime(2027, 1, 15, 3, 0, tzinfo=dt.UTC)
PROGRAM = {
    "timezone": "Asia/Seoul",
    "expiry_days": 365,
    "tiers": [
        {"name": "basic", "min_spend": 0, "earn_multiplier": "1", "expiry_days": None},
        {"name": "silver", "min_spend": 300000, "earn_multiplier": "1.2", "expiry_days": None},
    ],
}
# typical in-region latencies of one request, ms (DynamoDB on-demand, S3 ranged GET)
LATENCY_MS = {"TransactWriteItems": 12.0, "BatchGetItem": 8.0, "GetItem": 4.0, "GetObject": 25.0}
DEFAULT_LATENCY_MS = 8.0


def line(n: int) -> str:
    if n % 100 == 7:
        return json.dumps({"member_id": f"b{n:07d}", "name": ""})  # bad: an empty name
    if n % 100 == 42:
        return json.dumps({"member_id": "existing", "name": "Exists"})  # skipped_existing
    fields = {"member_id": f"m{n:07d}", "name": "김민지", "email": f"m{n}@example.com", "opening_balance": 1000 + n}
    if n % 3 == 0:
        fields["lifetime_spend"] = 50000 * (n % 10)
    if n % 5 == 0:
        fields["phone"] = f"010-{n % 10000:04d}-{(n * 7) % 10000:04d}"
    return json.dumps(fields, ensure_ascii=False)


class Counts:
    def __init__(self):
        self.requests: Counter = Counter()
        self.on = False

    def before(self, model, **_):
        if self.on:
            self.requests[f"{model.service_model.service_name}:{model.name}"] += 1


def run(lines: int, chunk_lines: int) -> dict:
    os.environ["DANGOL_IMPORT_CHUNK_LINES"] = str(chunk_lines)
    from chalice.test import Client
    from moto import mock_aws

    import app as app_module
    from chalicelib import aws, local, runtime, settings
    from chalicelib import clock as clock_module
    from chalicelib.domain.tiers import ladder_signature
    from chalicelib.storage.repository import LADDER_KEY
    from devtools import moto_patches

    moto_patches.apply()
    with mock_aws():
        clock_module.now = lambda: NOW
        runtime.reset()
        local.create_resources()
        admin = local.create_api_key("admin", "bench")
        headers = {"Authorization": f"Bearer {admin}", "Content-Type": "application/json"}
        with Client(app_module.app) as client:
            assert client.http.put("/program", headers=headers, body=json.dumps(PROGRAM)).status_code == 200
            created = client.http.post(
                "/members",
                headers={**headers, "Idempotency-Key": "existing"},
                body=json.dumps({"member_id": "existing", "name": "Exists"}),
            )
            assert created.status_code == 201, created.body
            # the tier ladder counts as applied (its pass over every member is not what is measured)
            services = runtime.services()
            services.store.put({**LADDER_KEY, "ladder": ladder_signature(services.ledger.program())})
            local.drain_queues()
            data = ("\n".join(line(n) for n in range(lines)) + "\n").encode()
            aws.client("s3").put_object(Bucket=settings.load().imports_bucket, Key="uploads/bench.jsonl", Body=data)
            posted = client.http.post(
                "/imports",
                headers={**headers, "Idempotency-Key": "bench"},
                body=json.dumps({"format": "jsonl", "s3_key": "uploads/bench.jsonl"}),
            )
            assert posted.status_code == 202, posted.body
            import_id = json.loads(posted.body)["import_id"]

            counts = Counts()
            for service in ("dynamodb", "s3", "sqs"):
                aws.client(service).meta.events.register(f"before-call.{service}", counts.before)
            began = time.perf_counter()
            with TimedWorker(app_module, on_call=lambda on: setattr(counts, "on", on)) as spent:
                local.drain_queues()
            wall = time.perf_counter() - began
            report = json.loads(client.http.get(f"/imports/{import_id}", headers=headers).body)
    assert report["status"] == "done", report
    assert report["lines"] == lines and report["imported"] + report["skipped_existing"] + report["error_count"] == lines
    store_requests = {k: v for k, v in counts.requests.items() if not k.startswith("sqs:")}
    total = sum(store_requests.values())
    aws_seconds = sum(
        count * LATENCY_MS.get(name.split(":")[1], DEFAULT_LATENCY_MS) / 1000 for name, count in store_requests.items()
    )
    rate = lines / spent.seconds
    aws_rate = lines / aws_seconds
    return {
        "lines": lines,
        "chunk_lines": chunk_lines,
        "bytes": len(data),
        "imported": report["imported"],
        "skipped_existing": report["skipped_existing"],
        "errors": report["error_count"],
        "tasks": spent.tasks,
        "worker_seconds": round(spent.seconds, 1),
        "wall_seconds": round(wall, 1),
        "lines_per_worker_second": round(rate, 1),
        # the process's CPU time in the worker: what the figure is on an idle machine
        "worker_cpu_seconds": round(spent.cpu_seconds, 1),
        "lines_per_worker_cpu_second": round(lines / spent.cpu_seconds, 1),
        "requests": dict(sorted(counts.requests.items())),
        "requests_per_line": round(total / lines, 3),
        "workers_for_1m_lines_an_hour": math.ceil(1_000_000 / (rate * 3600)),
        "aws_estimate_lines_per_worker_second": round(aws_rate, 1),
        "aws_estimate_workers_for_1m_lines_an_hour": math.ceil(1_000_000 / (aws_rate * 3600)),
    }


def costs_markdown(figures: dict) -> str:
    from devtools import doc_figures

    requests = ", ".join(f"{name.split(':')[1]} {count:,}" for name, count in figures["requests"].items())
    return "\n".join(
        [
            doc_figures.markdown_table(
                [
                    "lines",
                    "chunk lines",
                    "imported / skipped / errors",
                    "worker seconds (moto)",
                    "lines / worker-second (moto)",
                    "lines / worker CPU-second (moto)",
                    "requests / line",
                    "workers for 1,000,000 lines in an hour (moto)",
                    "AWS estimate: lines / worker-second",
                    "AWS estimate: workers for 1,000,000 lines an hour",
                ],
                [
                    [
                        f"{figures['lines']:,}",
                        f"{figures['chunk_lines']:,}",
                        f"{figures['imported']:,} / {figures['skipped_existing']:,} / {figures['errors']:,}",
                        figures["worker_seconds"],
                        figures["lines_per_worker_second"],
                        figures["lines_per_worker_cpu_second"],
                        figures["requests_per_line"],
                        figures["workers_for_1m_lines_an_hour"],
                        figures["aws_estimate_lines_per_worker_second"],
                        figures["aws_estimate_workers_for_1m_lines_an_hour"],
                    ]
                ],
                right=range(10),
            ),
            "",
            f"Requests of the workers: {requests}.",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--chunk-lines", type=int, default=1000)
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--write-docs", action="store_true", help="also write the figures into docs/imports.md (block import-costs)"
    )
    args = parser.parse_args()
    doc = ROOT / "docs" / "imports.md"
    if args.write_docs:
        from devtools import doc_figures

        doc_figures.require_block(doc, "import-costs")  # before the run, not after
    figures = run(args.lines, args.chunk_lines)
    if args.write_docs:
        from devtools import doc_figures

        doc_figures.write_block(doc, "import-costs", costs_markdown(figures), doc_figures.command_line())
    if args.json:
        print(json.dumps(figures, indent=1))
        return
    width = max(len(k) for k in figures)
    for name, value in figures.items():
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()

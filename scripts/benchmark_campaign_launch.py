"""Campaign launch benchmark (§22): the launch of a campaign to every member.

It enrols `--members` members (28 through the API, the rest copied item by item as
scripts/benchmark_jobs.py does), defines a campaign for every member (arms: control 10,
multiplier 45, bonus 45; `notify` on) and runs `launch_campaigns` the way production
does: the scheduled function plans, the job worker (`run_job_tasks`) works the tasks
off the job queue (a task per index partition walks it and hands each page of members
to a task of its own). It prints:

- requests per audience member: every AWS request of the launch (DynamoDB and SQS,
  planning and workers) / the audience (the goal: at most 3);
- members per worker-second: audience / seconds spent inside the worker handler
  (moto in-process: a relative figure, not AWS's);
- workers for a million members in an hour at that rate.

    .venv/bin/python scripts/benchmark_campaign_launch.py [--members 100000] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import sys
import time
from collections import Counter

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import benchmark_jobs as jobs  # noqa: E402  (sets the AWS environment for moto)

CAMPAIGN = {
    "campaign_id": "launch-bench",
    "name": "Launch benchmark",
    "starts_at": "2027-01-01T00:00:00Z",
    "ends_at": "2027-03-01T00:00:00Z",
    "arms": [
        {"name": "control", "weight": 10, "reward": None},
        {"name": "double", "weight": 45, "reward": {"type": "multiplier", "multiplier": "2"}},
        {"name": "bonus", "weight": 45, "reward": {"type": "bonus", "points": 500, "min_amount": 10000}},
    ],
}


class AllRequests:
    """Every AWS request of the launch, by service and operation."""

    def __init__(self):
        self.requests: Counter = Counter()
        self.on = False

    def before(self, model, **_):
        if self.on:
            self.requests[f"{model.service_model.service_name}:{model.name}"] += 1


def measure(size: int) -> dict:
    from chalice.test import Client
    from moto import mock_aws

    import app as app_module
    from chalicelib import aws, local, runtime
    from chalicelib import clock as clock_module
    from chalicelib.domain.tiers import ladder_signature
    from chalicelib.storage.repository import LADDER_KEY
    from devtools import moto_patches
    from devtools.worker_timing import TimedWorker

    class Clock:
        now = jobs.OTHER_ENROL

        def __call__(self):
            return self.now

    clock = Clock()
    moto_patches.apply()
    with mock_aws():
        clock_module.now = clock
        runtime.reset()
        local.create_resources()
        admin = local.create_api_key("admin", "bench")
        storefront = local.create_api_key("storefront", "bench")
        with Client(app_module.app) as http:
            headers = {"Authorization": f"Bearer {admin}", "Content-Type": "application/json"}
            response = http.http.put("/program", headers=headers, body=json.dumps(jobs.PROGRAM))
            assert response.status_code == 200, response.body
            services = runtime.services()
            services.store.put({**LADDER_KEY, "ladder": ladder_signature(services.ledger.program())})
            started = time.perf_counter()
            jobs.populate(jobs.Api(http.http, storefront), size, 0, clock)
            setup_seconds = time.perf_counter() - started
            local.drain_queues()  # welcome notifications: out of the way
            response = http.http.post("/campaigns", headers=headers, body=json.dumps(CAMPAIGN))
            assert response.status_code == 201, response.body

            counts = AllRequests()
            for service in ("dynamodb", "sqs"):
                aws.client(service).meta.events.register(f"before-call.{service}", counts.before)
            clock.now = clock.now.replace(year=2027, month=1, day=15)
            with TimedWorker(app_module) as spent:
                counts.on = True
                local.run_job("launch_campaigns")
                counts.on = False
            shown = http.http.get(f"/campaigns/{CAMPAIGN['campaign_id']}", headers=headers)
            audience = json.loads(shown.body)["audience"]
        runtime.reset()
    assert audience == size, (audience, size)
    requests = sum(counts.requests.values())
    rate = audience / spent.seconds if spent.seconds else None
    return {
        "members": size,
        "audience": audience,
        "requests": dict(sorted(counts.requests.items())),
        "requests_per_member": round(requests / audience, 3),
        "dynamodb_requests_per_member": round(
            sum(n for k, n in counts.requests.items() if k.startswith("dynamodb:")) / audience, 3
        ),
        "worker_tasks": spent.tasks,
        "worker_seconds": round(spent.seconds, 1),
        "members_per_worker_second": round(rate, 1) if rate else None,
        "workers_for_a_million_in_an_hour": math.ceil(1_000_000 / (rate * 3600)) if rate else None,
        "setup_seconds": round(setup_seconds, 1),
    }


def main() -> int:
    import logging

    for name in ("chalicelib", "dangol", "dangol.requests", "dangol.telemetry"):
        logging.getLogger(name).setLevel(logging.WARNING)  # stdout is the report
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000, help="members (every one in the audience)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    row = measure(args.members)
    if args.json:
        print(json.dumps(row, indent=2))
        return 0
    print(f"launch_campaigns to an audience of {row['audience']:,} members")
    print(
        f"  requests per audience member: {row['requests_per_member']} "
        f"(DynamoDB {row['dynamodb_requests_per_member']}; goal <= 3)"
    )
    print(f"  requests: {', '.join(f'{n} {k}' for k, n in row['requests'].items())}")
    print(
        f"  members per worker-second: {row['members_per_worker_second']} "
        f"({row['worker_tasks']} worker tasks, {row['worker_seconds']} s in the worker; moto in-process)"
    )
    print(f"  workers for a million members in an hour: {row['workers_for_a_million_in_an_hour']}")
    print(f"  (set-up: {row['setup_seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

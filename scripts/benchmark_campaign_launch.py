"""Campaign launch benchmark (§22): the launch of a campaign to every member.

It enrols `--members` members (28 through the API, the rest copied item by item as
scripts/benchmark_jobs.py does), defines a campaign for every member (arms: control 10,
multiplier 45, bonus 45; `notify` on) and runs `launch_campaigns` the way production
does: the scheduled function plans, the job worker (`run_job_tasks`) works the tasks
off the job queue (a task per index partition walks it and hands each page of members
to a task of its own). It prints:

- requests per audience member: every AWS request of the launch (DynamoDB and SQS,
  planning and workers) / the audience (the goal: at most 3);
- members per worker-second: audience / seconds spent inside the worker handler, wall
  and CPU (the process's CPU time in the worker: what a loaded machine changes least);
  moto runs in-process, so this includes moto's own handling of every request;
- of those worker seconds, the ones spent inside moto (from the request moto receives to
  the response it returns, by operation: its cost per request at this table size), and
  the members per CPU-second of the rest - our code and the AWS SDK's client side (what
  a worker spends on AWS, besides waiting for the network);
- workers for a million members in an hour at each rate, the garbage collector's CPU
  seconds and the load average (docs/campaigns.md, "Cost", has the figures and why the
  rate falls with the size: moto's Query of an index page).

    .venv/bin/python scripts/benchmark_campaign_launch.py [--members 100000] [--json] [--progress TASKS]
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import pathlib
import sys
import time
from collections import Counter, defaultdict

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
        self.last = ""  # the operation of the request being made

    def before(self, model, **_):
        self.last = f"{model.service_model.service_name}:{model.name}"
        if self.on:
            self.requests[self.last] += 1


class CollectorTime:
    """CPU seconds of Python's garbage collector while the worker runs (it walks the
    process's objects, moto's in-memory tables included)."""

    def __init__(self):
        self.on = False
        self.cpu_seconds = 0.0
        self.began = 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self.began = time.process_time()
        elif self.on and self.began:
            self.cpu_seconds += time.process_time() - self.began

    def __enter__(self) -> CollectorTime:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc) -> None:
        gc.callbacks.remove(self)


class MotoTime:
    """Wall and CPU seconds spent inside moto while the worker runs, by operation:
    `BotocoreStubber.process_request`, which takes the request botocore would send and
    returns the response (moto's parsing, backend and serialization)."""

    def __init__(self, counts: AllRequests):
        self.counts = counts
        self.on = False
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.cpu_seconds: defaultdict[str, float] = defaultdict(float)
        self.requests: Counter = Counter()

    def __enter__(self) -> MotoTime:
        from moto.core.botocore_stubber import BotocoreStubber

        self.stubber = BotocoreStubber
        self.original = original = BotocoreStubber.process_request

        def process_request(stubber, request):
            if not self.on:
                return original(stubber, request)
            began, began_cpu = time.perf_counter(), time.process_time()
            try:
                return original(stubber, request)
            finally:
                operation = self.counts.last
                self.seconds[operation] += time.perf_counter() - began
                self.cpu_seconds[operation] += time.process_time() - began_cpu
                self.requests[operation] += 1

        BotocoreStubber.process_request = process_request  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc) -> None:
        self.stubber.process_request = self.original  # type: ignore[method-assign]


def progress_reporter(spent, moto: MotoTime, collector: CollectorTime, every: int):
    """A line on stderr every `every` worker tasks (a long run can be followed)."""
    began = time.perf_counter()

    def on_call(entering: bool) -> None:
        moto.on = collector.on = entering
        if not entering and every and spent.tasks % every == 0:
            print(
                f"[{time.strftime('%H:%M:%S')}] {spent.tasks} tasks, {spent.seconds:.0f} s in the worker "
                f"({spent.cpu_seconds:.0f} CPU s, {sum(moto.cpu_seconds.values()):.0f} of them in moto), "
                f"{time.perf_counter() - began:.0f} s since the launch began, load {os.getloadavg()[0]:.1f}",
                file=sys.stderr,
                flush=True,
            )

    return on_call


def measure(size: int, progress_every: int = 0) -> dict:
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
            load_before = os.getloadavg()
            with MotoTime(counts) as moto, CollectorTime() as collector, TimedWorker(app_module) as spent:
                spent.on_call = progress_reporter(spent, moto, collector, progress_every)
                counts.on = True
                local.run_job("launch_campaigns")
                counts.on = False
            load_after = os.getloadavg()
            shown = http.http.get(f"/campaigns/{CAMPAIGN['campaign_id']}", headers=headers)
            audience = json.loads(shown.body)["audience"]
        runtime.reset()
    assert audience == size, (audience, size)
    requests = sum(counts.requests.values())
    rate = audience / spent.seconds if spent.seconds else None
    cpu_rate = audience / spent.cpu_seconds if spent.cpu_seconds else None
    moto_seconds, moto_cpu = sum(moto.seconds.values()), sum(moto.cpu_seconds.values())
    own_cpu = spent.cpu_seconds - moto_cpu
    own_rate = audience / own_cpu if own_cpu > 0 else None

    def workers(members_per_second):
        return math.ceil(1_000_000 / (members_per_second * 3600)) if members_per_second else None

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
        "worker_cpu_seconds": round(spent.cpu_seconds, 1),
        "members_per_worker_second": round(rate, 1) if rate else None,
        "members_per_worker_cpu_second": round(cpu_rate, 1) if cpu_rate else None,
        "workers_for_a_million_in_an_hour": workers(rate),
        # inside moto while the worker ran: its emulation of AWS, not our code's
        "moto_seconds": round(moto_seconds, 1),
        "moto_cpu_seconds": round(moto_cpu, 1),
        "moto_ms_per_request": {
            k: round(1000 * moto.cpu_seconds[k] / n, 2) for k, n in sorted(moto.requests.items()) if n
        },
        # the rest of the worker's CPU time: our code and the AWS SDK's client side
        "own_cpu_seconds": round(own_cpu, 1),
        "members_per_own_cpu_second": round(own_rate, 1) if own_rate else None,
        "workers_for_a_million_in_an_hour_own_code": workers(own_rate),
        # Python's garbage collector, wherever it ran (inside moto or not)
        "gc_cpu_seconds": round(collector.cpu_seconds, 1),
        "load_average": [round(x, 2) for x in (*load_before, *load_after)],
        "setup_seconds": round(setup_seconds, 1),
    }


def main() -> int:
    import logging

    for name in ("chalicelib", "dangol", "dangol.requests", "dangol.telemetry"):
        logging.getLogger(name).setLevel(logging.WARNING)  # stdout is the report
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000, help="members (every one in the audience)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--progress", type=int, default=0, metavar="TASKS", help="a line on stderr every TASKS tasks")
    args = parser.parse_args()
    row = measure(args.members, args.progress)
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
        f"  members per worker-second: {row['members_per_worker_second']} wall, "
        f"{row['members_per_worker_cpu_second']} CPU ({row['worker_tasks']} worker tasks, "
        f"{row['worker_seconds']} s / {row['worker_cpu_seconds']} CPU s in the worker, moto in-process included)"
    )
    print(f"  workers for a million members in an hour at that rate: {row['workers_for_a_million_in_an_hour']}")
    print(
        f"  inside moto: {row['moto_seconds']} s / {row['moto_cpu_seconds']} CPU s; CPU ms per request: "
        + ", ".join(f"{k} {v}" for k, v in row["moto_ms_per_request"].items())
    )
    print(
        f"  our code and the SDK client (worker CPU less moto's): {row['own_cpu_seconds']} CPU s, "
        f"{row['members_per_own_cpu_second']} members per CPU-second, "
        f"{row['workers_for_a_million_in_an_hour_own_code']} workers for a million in an hour"
    )
    print(f"  garbage collection (counted in the figures above, inside moto or not): {row['gc_cpu_seconds']} CPU s")
    before, after = row["load_average"][:3], row["load_average"][3:]
    print(f"  load average (1, 5, 15 min): {before} before the launch, {after} after")
    print(f"  (set-up: {row['setup_seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

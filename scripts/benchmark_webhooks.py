"""Webhook delivery benchmark (contract §24): how long from a change to its delivery.

Two webhooks subscribe to `points.adjusted`; `--events` adjustments are made through
the API (chalice's test client on in-process moto), `--chunk` at a time, and after
each chunk the webhook queue's function runs once on what its queue holds, as
Lambda's poller would hand it over (the dispatcher, `send_due_webhooks`, every
minute as scheduled). Both receivers are real HTTP servers on 127.0.0.1
(devtools/webhook_receiver.py). The delay of a delivery is the time its receiver
got it minus the time the API answered the change.

Run twice: both receivers answering 200, then receiver B answering 500 to everything
(its circuit opens; its deliveries wait for their retries). Printed: p50, p99 and max
delay of receiver A in each run, and what B received. A's delays in the second run
should be those of the first: a failing receiver does not delay another's deliveries.

    .venv/bin/python scripts/benchmark_webhooks.py [--events 10000] [--chunk 5] [--json]

Everything runs in one process on moto, so the figures compare the two runs; on AWS
the queue's function runs as soon as messages arrive (and in parallel).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import pathlib
import statistics
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devtools.offline_aws import use_moto_environment  # noqa: E402

use_moto_environment()
os.environ.setdefault("DANGOL_AUTH_CACHE_SECONDS", "36000")
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

MEMBERS = 50
DISPATCH_EVERY = 60.0  # seconds, as scheduled


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run(events: int, chunk: int, failing: bool) -> dict:
    from chalice.test import Client
    from moto import mock_aws

    from chalicelib import local, runtime, settings
    from devtools import moto_patches
    from devtools.webhook_receiver import Receiver

    moto_patches.apply()
    with mock_aws(), Receiver() as receiver:
        runtime.reset()
        local.create_resources()
        import app as app_module

        admin = local.create_api_key("admin", "hq")
        headers = {"Authorization": f"Bearer {admin}", "Content-Type": "application/json"}
        queue = {settings.load().webhooks_queue_name: "send_webhooks"}
        with Client(app_module.app) as client:

            def post(path: str, body: dict, key: str = "") -> dict:
                sent = {**headers, "Idempotency-Key": key} if key else headers
                answer = client.http.post(path, headers=sent, body=json.dumps(body))
                assert answer.status_code in (200, 201), (path, answer.status_code, answer.body[:200])
                return json.loads(answer.body)

            hook_a = post("/webhooks", {"url": receiver.url("/a"), "events": ["points.adjusted"]})
            post("/webhooks", {"url": receiver.url("/fail" if failing else "/b"), "events": ["points.adjusted"]})
            for n in range(MEMBERS):
                post("/members", {"member_id": f"m{n}", "name": f"Member {n}"}, key=f"enrol-{n}")
            local.drain_queues()
            answered: dict[str, float] = {}
            started = last_dispatch = time.time()
            polls = 0
            for n in range(events):
                tx = post(f"/members/m{n % MEMBERS}/adjustments", {"points": 1 + n % 7, "reason": "bench"}, key=f"a{n}")
                answered[tx["transaction_id"]] = time.time()
                if (n + 1) % chunk == 0 or n + 1 == events:
                    local._drain(queue)  # one poll of the webhook queue's function
                    polls += 1
                    if time.time() - last_dispatch >= DISPATCH_EVERY:
                        runtime.services().webhook_delivery.dispatch()
                        last_dispatch = time.time()
            deadline = time.time() + 120
            while len(receiver.to("/a")) < events and time.time() < deadline:
                if not local._drain(queue):
                    time.sleep(0.2)
            produced_in = time.time() - started
        delays = []
        for received in receiver.to("/a"):
            transaction_id = json.loads(received.body)["data"]["transaction"]["transaction_id"]
            delays.append(received.at - answered[transaction_id])
        other = receiver.to("/fail" if failing else "/b")
        assert hook_a and len(delays) == events, (len(delays), events)
        return {
            "receiver_b": "answers 500" if failing else "answers 200",
            "events": events,
            "seconds": round(produced_in, 1),
            "changes_per_second": round(events / produced_in, 1),
            "polls": polls,
            "a_delivered": len(delays),
            "a_p50_ms": round(percentile(delays, 0.50) * 1000, 1),
            "a_p99_ms": round(percentile(delays, 0.99) * 1000, 1),
            "a_max_ms": round(max(delays) * 1000, 1),
            "a_mean_ms": round(statistics.mean(delays) * 1000, 1),
            "b_requests": len(other),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--chunk", type=int, default=5, help="changes between two polls of the webhook queue")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the request logs would be most of the work
    runs = [run(args.events, args.chunk, failing=False), run(args.events, args.chunk, failing=True)]
    if args.json:
        print(json.dumps(runs, indent=1))
        return
    print(f"{args.events} events (points.adjusted) to two webhooks; queue polled every {args.chunk} changes")
    print(f"{'receiver B':<13} {'changes/s':>10} {'A p50 ms':>9} {'A p99 ms':>9} {'A max ms':>9} {'B requests':>11}")
    for r in runs:
        print(
            f"{r['receiver_b']:<13} {r['changes_per_second']:>10} {r['a_p50_ms']:>9} {r['a_p99_ms']:>9}"
            f" {r['a_max_ms']:>9} {r['b_requests']:>11}"
        )


if __name__ == "__main__":
    main()

"""What throttling costs: AWS requests and added latency of a request that ends
in 503 THROTTLED, with the waits really slept.

In-process against moto through Chalice's test client. Throttling is injected
at the AWS client as in tests/integration/test_throttling.py:
- `transaction`: every TransactWriteItems cancelled with reason ThrottlingError
  (POST /members/{id}/earn);
- `botocore`: every BatchGetItem answered by the 'server' with HTTP 400
  ProvisionedThroughputExceededException, so botocore's own retries run
  (GET /members/{id});
- `unprocessed`: every BatchGetItem leaves all its keys unprocessed
  (GET /members/{id}).
It prints, per case, the AWS requests per HTTP request and the latency
(median / max over the repeats); latencies are moto's plus the waits.

    .venv/bin/python scripts/benchmark_throttling.py [--repeat 20] [--write-docs]

`--write-docs` also writes the table into docs/throttling.md (block `throttling`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pathlib
import statistics
import sys
import time
import uuid

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from devtools.offline_aws import use_moto_environment  # noqa: E402

use_moto_environment()
os.environ.setdefault("DANGOL_AUTH_CACHE_SECONDS", "3600")

from botocore.awsrequest import AWSResponse  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

EARN = {"order_id": "o-1", "amount": 12000, "items": [{"sku": "latte", "category": "coffee", "amount": 12000}]}


def plan_for(case: str):
    from devtools import faults

    def on_call(phase, call):
        if case == "transaction" and phase == "before" and call.operation == "TransactWriteItems":
            raise ClientError(
                {
                    "Error": {"Code": "TransactionCanceledException", "Message": "throttled"},
                    "CancellationReasons": [{"Code": "ThrottlingError"}] + [{"Code": "None"}] * 99,
                },
                "TransactWriteItems",
            )
        if case == "unprocessed" and phase == "after" and call.operation == "BatchGetItem":
            for table, items in call.parsed.get("Responses", {}).items():
                keys = [{"pk": i["pk"], "sk": i["sk"]} for i in items]
                if keys:
                    call.parsed.setdefault("UnprocessedKeys", {})[table] = {"Keys": keys, "ConsistentRead": True}
                call.parsed["Responses"][table] = []

    return faults.Plan(on_call=on_call)


def error_code(body) -> str:
    try:
        return json.loads(body)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return ""


def answer(statuses: set[int], codes: set[str]) -> str:
    """'503 THROTTLED' when every answer was the same, else the statuses seen."""
    if len(statuses) == len(codes) == 1:
        return f"{next(iter(statuses))} {next(iter(codes))}".strip()
    return "/".join(map(str, sorted(statuses)))


class _Raw:
    def stream(self, **_):
        yield b""


def _throttle_batch_get(request, **_):
    if request.headers.get("X-Amz-Target", b"").endswith(b".BatchGetItem"):
        response = AWSResponse(request.url, 400, {"Content-Type": "application/x-amz-json-1.0"}, _Raw())
        response._content = json.dumps(
            {
                "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                "message": "throughput exceeded",
            }
        ).encode()
        return response
    return None


@contextlib.contextmanager
def injected(case: str):
    from chalicelib import aws
    from devtools import faults

    plan = plan_for(case)
    previous = faults.arm(plan)
    client = aws.client("dynamodb")
    if case == "botocore":
        client.meta.events.register_first("before-send.dynamodb", _throttle_batch_get, unique_id="bench-throttle")
    try:
        yield plan
    finally:
        faults.arm(previous)
        client.meta.events.unregister("before-send.dynamodb", unique_id="bench-throttle")


CASES = {
    "transaction": "every TransactWriteItems cancelled for throttling (POST earn)",
    "botocore": "every BatchGetItem throttled at the HTTP level (GET member; botocore's retries)",
    "unprocessed": "every BatchGetItem key left unprocessed (GET member)",
}


def write_docs(rows: list[dict], repeat: int) -> None:
    from devtools import doc_figures

    table = doc_figures.markdown_table(
        ["case", "answer", "AWS requests per HTTP request", "median", "max"],
        [
            [
                CASES[r["case"]],
                r["statuses"],
                f"{r['calls']:g} {r['operation']}",
                f"{r['median_ms']:.0f} ms",
                f"{r['max_ms']:.0f} ms",
            ]
            for r in rows
        ],
        right=(3, 4),
    )
    text = f"{repeat} requests per case; the milliseconds include moto's own time.\n\n{table}"
    doc_figures.write_block(ROOT / "docs" / "throttling.md", "throttling", text, doc_figures.command_line())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument(
        "--write-docs", action="store_true", help="also write the table into docs/throttling.md (block throttling)"
    )
    args = parser.parse_args()
    rows: list[dict] = []

    from chalice.test import Client
    from moto import mock_aws

    import app as app_module
    from chalicelib import aws, local, runtime
    from devtools import faults

    # the fault hook on every AWS client, as tests/conftest.py puts it (without it no plan sees a call)
    if faults.attach not in aws.client_hooks:
        aws.client_hooks.append(faults.attach)

    sends = {"n": 0}

    def count_send(request, **_):
        if b"BatchGetItem" in request.headers.get("X-Amz-Target", b""):
            sends["n"] += 1

    with mock_aws():
        runtime.reset()
        local.create_resources()
        storefront = local.create_api_key("storefront", "pos")
        admin = local.create_api_key("admin", "hq")
        headers = {"Content-Type": "application/json"}
        with Client(app_module.app) as client:
            program = json.loads((ROOT / "examples" / "cafe-program-v1.json").read_text())
            client.http.put(
                "/program", headers={**headers, "Authorization": f"Bearer {admin}"}, body=json.dumps(program)
            )
            auth = {**headers, "Authorization": f"Bearer {storefront}"}
            client.http.post(
                "/members", headers={**auth, "Idempotency-Key": "m"}, body=json.dumps({"member_id": "m", "name": "M"})
            )
            aws.client("dynamodb").meta.events.register("before-send.dynamodb", count_send, unique_id="bench-count")
            print(f"{'case':<12} {'status':>6}  {'AWS requests per HTTP request':<32} {'median ms':>10} {'max ms':>8}")
            for case, operation in (
                ("transaction", "TransactWriteItems"),
                ("botocore", "BatchGetItem"),
                ("unprocessed", "BatchGetItem"),
            ):
                latencies, statuses, codes, calls = [], set(), set(), []
                for _ in range(args.repeat):
                    sends["n"] = 0
                    with injected(case) as plan:
                        started = time.perf_counter()
                        if case == "transaction":
                            response = client.http.post(
                                "/members/m/earn",
                                body=json.dumps(EARN),
                                headers={**auth, "Idempotency-Key": str(uuid.uuid4())},
                            )
                        else:
                            response = client.http.get("/members/m", headers=auth)
                        latencies.append((time.perf_counter() - started) * 1000)
                    statuses.add(response.status_code)
                    codes.add(error_code(response.body))
                    calls.append(
                        sends["n"] if case == "botocore" else sum(1 for c in plan.calls if c.operation == operation)
                    )
                print(
                    f"{case:<12} {'/'.join(map(str, sorted(statuses))):>6}  "
                    f"{f'{statistics.median(calls):g} x {operation}':<32} "
                    f"{statistics.median(latencies):>10.0f} {max(latencies):>8.0f}"
                )
                rows.append(
                    {
                        "case": case,
                        "statuses": answer(statuses, codes),
                        "calls": statistics.median(calls),
                        "operation": operation,
                        "median_ms": statistics.median(latencies),
                        "max_ms": max(latencies),
                    }
                )
        runtime.reset()
    if args.write_docs:
        write_docs(rows, args.repeat)


if __name__ == "__main__":
    main()

"""Load test of the local service over HTTP on 127.0.0.1: members up to each
checkpoint, then earn latency (median, p95) and the service's memory there.

    .venv/bin/python scripts/load_local.py                       # 1,000 -> 10,000 members, through HTTP
    .venv/bin/python scripts/load_local.py --to-100k --fill copies   # 1,000 -> 100,000 members

It starts `scripts/serve_local.py --port 0` (or targets a running one with
--url and the keys it printed) and, for each checkpoint size:
  1. fills the shop up to that many members, each with an enrolment and
     --purchases earns:
       --fill http   (default) every member through POST /members and
                     POST /members/{id}/earn, from --clients connections;
       --fill copies one member made through the API, then copies of it
                     written straight into the embedded table
                     (POST /local/bulk-members), to reach 100,000 in minutes;
  2. measures --samples earns on random members (one connection, one at a
     time) and reads the service's resident memory (GET /local/status).

Bounded: it stops filling when --max-seconds have passed and reports the
sizes it reached. Prints a table (and --json). Latencies are moto's, not
AWS's: what matters is how they change with the number of members.
`--write-docs` also writes the table into docs/benchmarks.md (block `load`).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import http.client
import json
import os
import pathlib
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devtools.startup_json import read_document  # noqa: E402 (after sys.path)

DEFAULT_SIZES = (1_000, 2_000, 5_000, 10_000)
LARGE_SIZES = (1_000, 10_000, 30_000, 100_000)


class Service:
    """A JSON client of the local service; one keep-alive connection per thread."""

    def __init__(self, url: str, admin_key: str, storefront_key: str):
        address = url.split("://", 1)[-1].rstrip("/")
        host, _, port = address.partition(":")
        if host not in ("127.0.0.1", "localhost"):
            raise SystemExit("load_local.py only talks to a service on 127.0.0.1")
        self.host, self.port = host, int(port or 80)
        self.keys = {"admin": admin_key, "storefront": storefront_key}
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = http.client.HTTPConnection(self.host, self.port, timeout=600)
            self._local.connection = connection
        return connection

    def call(
        self, method: str, path: str, body=None, key: str = "storefront", idem: str | None = None
    ) -> tuple[int, dict, float]:
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.keys[key]}"}
        if method == "POST":
            headers["Idempotency-Key"] = idem or str(uuid.uuid4())
        payload = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
        for attempt in range(2):
            connection = self._connection()
            started = time.perf_counter()
            try:
                connection.request(method, path, body=payload, headers=headers)
                response = connection.getresponse()
                data = response.read()
            except (http.client.HTTPException, ConnectionError):
                connection.close()
                self._local.connection = None
                if attempt:
                    raise
                continue
            elapsed = (time.perf_counter() - started) * 1000
            return response.status, (json.loads(data) if data else {}), elapsed
        raise RuntimeError("unreachable")

    def ok(self, method: str, path: str, body=None, **kw) -> tuple[dict, float]:
        status, data, ms = self.call(method, path, body, **kw)
        if status not in (200, 201):
            raise RuntimeError(f"{method} {path} -> {status}: {json.dumps(data)[:300]}")
        return data, ms


def start_service(extra: list[str]) -> tuple[subprocess.Popen, dict]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "serve_local.py"), "--port", "0", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=ROOT,
    )
    deadline = threading.Timer(300, process.kill)
    deadline.start()
    try:
        info = read_document(process.stdout)
    finally:
        deadline.cancel()
    if info is None:
        process.kill()
        raise SystemExit("the local service did not start (run scripts/serve_local.py --port 0 to see why)")
    threading.Thread(target=process.stdout.read, daemon=True).start()  # keep the pipe drained
    return process, info


PURCHASE = {
    "amount": 12000,
    "items": [
        {"sku": "strawberry-latte", "category": "new-arrivals", "amount": 6500},
        {"sku": "croissant", "category": "bakery", "amount": 3800},
    ],
}


def make_member(service: Service, member_id: str, purchases: int, tag: str = "") -> None:
    service.ok(
        "POST",
        "/members",
        {"member_id": member_id, "name": "김지윤", "email": f"{member_id}@example.com"},
        idem=f"{tag or member_id}-enrol",
    )
    for n in range(purchases):
        service.ok(
            "POST",
            f"/members/{member_id}/earn",
            {"order_id": f"A-{n + 1}", **PURCHASE},
            idem=f"{tag or member_id}-earn-{n + 1}",
        )


def fill_http(service: Service, start: int, stop: int, purchases: int, clients: int, deadline: float) -> int:
    """Members start..stop-1 through the API; returns how many exist afterwards."""
    made = start
    lock = threading.Lock()

    def one(n: int) -> None:
        nonlocal made
        if time.monotonic() > deadline:
            return
        make_member(service, f"load{n:07d}", purchases)
        with lock:
            made += 1

    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        for future in concurrent.futures.as_completed([pool.submit(one, n) for n in range(start, stop)]):
            future.result()
    return made


class Copies:
    def __init__(self, service: Service, purchases: int):
        self.service = service
        self.template = f"tmpl-{uuid.uuid4().hex[:8]}"
        service.ok("POST", "/local/bulk-members", {"template": self.template, "begin": True}, key="admin")
        make_member(service, self.template, purchases, tag=self.template)
        self.members = [self.template]  # the template counts as a member
        # copies copy the template's notifications as they are: wait until the
        # worker has sent them (each second), so no copy starts with queued ones
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            data, _ = service.ok("GET", f"/members/{self.template}/notifications", key="admin")
            if all(n.get("status") not in ("queued", "sending") for n in data.get("items", [])):
                break
            time.sleep(0.5)

    def fill(self, stop: int, deadline: float) -> int:
        step = 5_000
        while len(self.members) < stop and time.monotonic() < deadline:
            count = min(step, stop - len(self.members))
            data, _ = self.service.ok(
                "POST",
                "/local/bulk-members",
                {"template": self.template, "count": count, "prefix": "load"},
                key="admin",
            )
            start = len(self.members)
            self.members.extend(f"load{n:07d}" for n in range(start, start + data["created"]))
        return len(self.members)


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered)) - 1))]


def measure(service: Service, ids: list[str], samples: int, rng: random.Random) -> dict:
    earn, get = [], []
    for _n in range(samples):
        member = rng.choice(ids)
        _, ms = service.ok(
            "POST", f"/members/{member}/earn", {"order_id": f"probe-{uuid.uuid4().hex[:12]}", **PURCHASE}
        )
        earn.append(ms)
        _, ms = service.ok("GET", f"/members/{member}")
        get.append(ms)
    status, _ = service.ok("GET", "/local/status", key="admin")
    return {
        "earn_p50": statistics.median(earn),
        "earn_p95": percentile(earn, 95),
        "get_p50": statistics.median(get),
        "rss": status["rss_bytes"],
        "blob_bytes": status.get("dynamodb", {}).get("blob_bytes", 0),
        "partitions": status.get("dynamodb", {}).get("partitions", 0),
        "index_records": status.get("dynamodb", {}).get("index_records", 0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--sizes", help=f"checkpoint member counts, comma-separated (default {','.join(map(str, DEFAULT_SIZES))})"
    )
    parser.add_argument(
        "--to-100k", action="store_true", help=f"checkpoints {','.join(map(str, LARGE_SIZES))} (use with --fill copies)"
    )
    parser.add_argument("--fill", choices=("http", "copies"), default="http")
    parser.add_argument("--purchases", type=int, default=3, help="earns per member (default 3)")
    parser.add_argument("--samples", type=int, default=200, help="earns measured per checkpoint (default 200)")
    parser.add_argument("--clients", type=int, default=4, help="connections filling through HTTP (default 4)")
    parser.add_argument("--max-seconds", type=float, default=3600, help="stop filling after this (default 3600)")
    parser.add_argument("--url", help="a running local service (default: start one)")
    parser.add_argument("--admin-key")
    parser.add_argument("--storefront-key")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--write-docs", action="store_true", help="also write the table into docs/benchmarks.md (block load)"
    )
    args = parser.parse_args()
    sizes = (
        [int(s) for s in args.sizes.split(",")] if args.sizes else list(LARGE_SIZES if args.to_100k else DEFAULT_SIZES)
    )
    if sorted(sizes) != sizes or sizes[0] < 1 or sizes[-1] > 1_000_000:
        parser.error("--sizes must rise, from 1 to 1,000,000")
    if args.write_docs:
        from devtools import doc_figures

        doc_figures.require_block(ROOT / "docs" / "benchmarks.md", "load")  # before the run, not after

    process = None
    if args.url:
        if not (args.admin_key and args.storefront_key):
            parser.error("--url needs --admin-key and --storefront-key")
        service = Service(args.url, args.admin_key, args.storefront_key)
    else:
        process, info = start_service(["--jobs-every", "86400"])
        service = Service(info["api"], info["admin_key"], info["storefront_key"])
    rng = random.Random(10)
    rows = []
    started = time.monotonic()
    deadline = started + args.max_seconds
    try:
        copies = Copies(service, args.purchases) if args.fill == "copies" else None
        have = 1 if copies else 0
        for size in sizes:
            fill_started = time.monotonic()
            if copies:
                have = copies.fill(size, deadline)
                ids = copies.members
            else:
                have = fill_http(service, have, size, args.purchases, args.clients, deadline)
                ids = [f"load{n:07d}" for n in range(have)]
            fill_seconds = time.monotonic() - fill_started
            row = {"members": have, "fill_seconds": round(fill_seconds, 1), **measure(service, ids, args.samples, rng)}
            rows.append(row)
            if not args.json:
                print(
                    f"{have:>8,} members  filled in {fill_seconds:7.1f} s  earn p50 {row['earn_p50']:6.1f} ms  "
                    f"p95 {row['earn_p95']:6.1f} ms  GET p50 {row['get_p50']:5.1f} ms  "
                    f"RSS {row['rss'] / 2**20:7.1f} MiB  blobs {row['blob_bytes'] / 2**20:6.1f} MiB "
                    f"in {row['partitions']:,} partitions, {row['index_records']:,} index records",
                    flush=True,
                )
            if have < size:
                print(
                    f"stopped filling at {have:,} members: --max-seconds {args.max_seconds:.0f} reached",
                    file=sys.stderr,
                )
                break
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
    first = rows[0]
    table = [
        "",
        f"fill: {args.fill}, {args.purchases} earns per member; {args.samples} earns measured per checkpoint",
        "",
        "| members | earn p50 ms | earn p95 ms | GET member p50 ms | RSS MiB | KB per member since first "
        "| of it packed blobs, KB |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        grown = row["members"] - first["members"]
        per = f"{(row['rss'] - first['rss']) / grown / 1000:.1f}" if grown > 0 else "-"
        blobs = f"{(row['blob_bytes'] - first['blob_bytes']) / grown / 1000:.1f}" if grown > 0 else "-"
        table.append(
            f"| {row['members']:,} | {row['earn_p50']:.1f} | {row['earn_p95']:.1f} | {row['get_p50']:.1f} | "
            f"{row['rss'] / 2**20:.0f} | {per} | {blobs} |"
        )
    ratio = rows[-1]["earn_p50"] / first["earn_p50"]
    table.append(
        f"\nearn p50 at {rows[-1]['members']:,} / at {first['members']:,}: {ratio:.2f}x; "
        f"total {time.monotonic() - started:.0f} s"
    )
    if args.json:
        print(json.dumps({"fill": args.fill, "purchases": args.purchases, "rows": rows, "ratio": ratio}))
    else:
        print("\n".join(table))
    if args.write_docs:
        from devtools import doc_figures

        doc_figures.write_block(ROOT / "docs" / "benchmarks.md", "load", "\n".join(table), doc_figures.command_line())


if __name__ == "__main__":
    main()

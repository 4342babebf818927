"""Dangol benchmark: DynamoDB round trips and latency per API call and per job.

Runs everything in-process against moto (`mock_aws()`) through Chalice's test
client, with the wall clock frozen. For each request it records the DynamoDB
operations the app's client made (botocore `before-call`/`after-call` events),
classified as reads (GetItem, BatchGetItem, Query, Scan) and writes (PutItem,
UpdateItem, DeleteItem, TransactWriteItems, BatchWriteItem). Latencies are
moto's, not AWS's: compare them with each other, not with production.

It prints numbers and checks only that every request succeeded.

    .venv/bin/python scripts/benchmark.py [--repeat 50] [--members 200] [--json] [--write-docs]

`--write-docs` also writes the requests' round trips into docs/benchmarks.md
(block `round-trips`).
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import logging
import math
import os
import pathlib
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Optional

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devtools.offline_aws import use_moto_environment  # noqa: E402

use_moto_environment()
# Keep API keys cached for the whole run so per-request counts show the warm
# path; the cold cost (one key lookup) is measured and reported separately.
os.environ.setdefault("DANGOL_AUTH_CACHE_SECONDS", "3600")

READS = ("GetItem", "BatchGetItem", "Query", "Scan")
WRITES = ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem")
UTC = dt.UTC
API_NOW = dt.datetime(2027, 1, 15, 3, 0, 0, tzinfo=UTC)
JOBS_START = dt.datetime(2026, 1, 15, 3, 0, 0, tzinfo=UTC)
JOBS_NOW = dt.datetime(2027, 1, 15, 4, 0, 0, tzinfo=UTC)  # 13:00 in Asia/Seoul
BIRTHDAY_TODAY = "1990-01-15"


# -- recording AWS calls ------------------------------------------------------
@dataclass
class Call:
    service: str
    op: str
    items: int = 0  # actions of a TransactWriteItems / BatchWriteItem, keys of a BatchGetItem
    error: Optional[str] = None
    read_units: float = 0.0
    write_units: float = 0.0
    members: tuple = ()  # member partitions a TransactWriteItems writes
    actions: tuple = ()  # a TransactWriteItems' actions, e.g. "Put TX", "Update STATS"


class Recorder:
    """Collects the operations of the app's boto3 clients, in order."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.attached: set[int] = set()

    def attach(self) -> None:
        from chalicelib import aws

        for service in ("dynamodb", "ses", "sns", "sqs"):
            client = aws.client(service)
            if id(client) in self.attached:
                continue
            self.attached.add(id(client))
            event_name = client.meta.service_model.service_id.hyphenize()
            client.meta.events.register(f"before-call.{event_name}", self._before)
            client.meta.events.register(f"after-call.{event_name}", self._after)

    def _before(self, model, params, **_: Any) -> None:
        service = model.service_model.service_id.hyphenize()
        call = Call(service, model.name)
        if service == "dynamodb":
            body = params.get("body") or b"{}"
            try:
                request = json.loads(body)
            except (TypeError, ValueError):
                request = {}
            if model.name == "TransactWriteItems":
                actions = request.get("TransactItems", [])
                call.items = len(actions)
                touched, kinds = [], []
                for action in actions:
                    kind, op = next(iter(action.items()))
                    key = op.get("Item") or op.get("Key") or {}
                    pk = key.get("pk", {}).get("S", "")
                    sk = key.get("sk", {}).get("S", "")
                    if pk.startswith("MEMBER#"):
                        touched.append(pk)
                    kinds.append(f"{kind} {(sk if pk.startswith('MEMBER#') else pk).split('#')[0]}")
                call.members = tuple(touched)
                call.actions = tuple(kinds)
            elif model.name == "BatchWriteItem":
                call.items = sum(len(v) for v in request.get("RequestItems", {}).values())
            elif model.name == "BatchGetItem":
                call.items = sum(len(v.get("Keys", [])) for v in request.get("RequestItems", {}).values())
        elif model.name == "SendMessageBatch":
            body = params.get("body") or b""
            try:
                call.items = len(json.loads(body).get("Entries", []))
            except (TypeError, ValueError, AttributeError):  # query protocol: Entry.N.Id=...
                text = body.decode() if isinstance(body, bytes) else str(body)
                call.items = sum(1 for part in text.split("&") if part.split("=")[0].endswith(".Id"))
        self.calls.append(call)

    def _after(self, http_response, parsed, model, **_: Any) -> None:
        if not self.calls:
            return
        call = self.calls[-1]
        if http_response.status_code >= 300:
            call.error = (parsed.get("Error") or {}).get("Code") or str(http_response.status_code)
        consumed = parsed.get("ConsumedCapacity")
        if consumed:
            for entry in consumed if isinstance(consumed, list) else [consumed]:
                call.read_units += float(entry.get("ReadCapacityUnits") or 0)
                call.write_units += float(entry.get("WriteCapacityUnits") or 0)

    def take(self) -> list[Call]:
        calls, self.calls = self.calls, []
        return calls


def dynamo(calls: list[Call]) -> list[Call]:
    return [c for c in calls if c.service == "dynamodb"]


def label(call: Call) -> str:
    text = call.op
    if call.op in ("TransactWriteItems", "BatchWriteItem"):
        text += f"[{call.items}]"
    if call.error:
        text += f"!{call.error}"
    return text


def op_sequence(calls: list[Call]) -> str:
    return ", ".join(label(c) for c in dynamo(calls)) or "-"


def op_totals(calls: list[Call]) -> str:
    counts = collections.Counter(c.op for c in dynamo(calls))
    failed = collections.Counter((c.op, c.error) for c in dynamo(calls) if c.error)
    parts = []
    for op, n in counts.most_common():
        text = f"{op} x{n}"
        errors = [f"{k} {e}" for (o, e), k in failed.items() if o == op]
        if errors:
            text += " (failed: " + ", ".join(errors) + ")"
        parts.append(text)
    return ", ".join(parts) or "-"


# -- the API ------------------------------------------------------------------
class RequestFailed(RuntimeError):
    pass


@dataclass
class Sample:
    ms: float
    calls: list[Call]

    @property
    def reads(self) -> int:
        return sum(1 for c in dynamo(self.calls) if c.op in READS)

    @property
    def writes(self) -> int:
        return sum(1 for c in dynamo(self.calls) if c.op in WRITES)

    @property
    def scans(self) -> int:
        return sum(1 for c in dynamo(self.calls) if c.op == "Scan")

    @property
    def tx_items(self) -> int:
        return sum(c.items for c in dynamo(self.calls) if c.op == "TransactWriteItems")

    @property
    def units(self) -> tuple[float, float]:
        return (sum(c.read_units for c in self.calls), sum(c.write_units for c in self.calls))


class Api:
    def __init__(self, client, recorder: Recorder, keys: dict[str, str], world=None):
        self.client = client
        self.recorder = recorder
        self.keys = keys
        self.world = world
        self.posts = 0

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        key: str = "storefront",
        idem: Optional[str] = "auto",
        expect: tuple[int, ...] = (200, 201, 204),
    ):
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.keys[key]}"}
        if idem == "auto":
            idem = str(uuid.uuid4()) if method == "POST" else None
        if idem is not None:
            headers["Idempotency-Key"] = idem
        payload = json.dumps(body) if body is not None else None
        self.recorder.take()
        started = time.perf_counter()
        response = getattr(self.client.http, method.lower())(path, headers=headers, body=payload)
        elapsed = (time.perf_counter() - started) * 1000
        sample = Sample(elapsed, self.recorder.take())
        data = json.loads(response.body) if response.body else None
        if response.status_code not in expect:
            raise RequestFailed(f"{method} {path} -> {response.status_code}: {response.body[:300]!r}")
        if method == "POST" and self.world is not None:
            self.posts += 1
            self.world.after_post(self.posts)
        return data, sample

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.call("POST", path, body, **kw)

    def put(self, path, body=None, **kw):
        return self.call("PUT", path, body, **kw)


# -- results ------------------------------------------------------------------
def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Row:
    name: str
    kind: str  # "request" | "job" | "queue"
    samples: list[Sample] = field(default_factory=list)
    touched: Optional[int] = None  # jobs: members changed (as the job reports) / profiles written
    note: str = ""

    def summary(self) -> dict:
        reads = [s.reads for s in self.samples]
        writes = [s.writes for s in self.samples]
        txi = [s.tx_items for s in self.samples]
        ms = [s.ms for s in self.samples]
        sequences = collections.Counter(op_sequence(s.calls) for s in self.samples)
        typical, typical_n = sequences.most_common(1)[0]
        typical_actions: list[list[str]] = []  # distinct action lists of the typical call(s)
        for s in self.samples:
            if op_sequence(s.calls) == typical:
                for c in dynamo(s.calls):
                    if c.actions and list(c.actions) not in typical_actions:
                        typical_actions.append(list(c.actions))
                break
        all_calls = [c for s in self.samples for c in s.calls]
        services = collections.Counter(c.op for c in all_calls if c.service in ("ses", "sns"))
        ru = sum(s.units[0] for s in self.samples)
        wu = sum(s.units[1] for s in self.samples)
        return {
            "name": self.name,
            "kind": self.kind,
            "n": len(self.samples),
            "totals": {"reads": sum(reads), "writes": sum(writes), "transact_items": sum(txi)},
            "reads": {"min": min(reads), "median": statistics.median(reads), "max": max(reads)},
            "writes": {"min": min(writes), "median": statistics.median(writes), "max": max(writes)},
            "transact_items": {"min": min(txi), "median": statistics.median(txi), "max": max(txi)},
            "scans": sum(s.scans for s in self.samples),
            "ms": {"median": round(statistics.median(ms), 2), "p95": round(percentile(ms, 95), 2)},
            "typical_ops": typical,
            "typical_share": f"{typical_n}/{len(self.samples)}",
            "typical_transaction_actions": typical_actions,
            "op_totals": op_totals(all_calls),
            "touched": self.touched,
            "sends": dict(services),
            "consumed_capacity": {"read": ru, "write": wu} if (ru or wu) else None,
            "note": self.note,
        }


def fmt_range(r: dict) -> str:
    def n(x):
        return str(int(x)) if float(x).is_integer() else f"{x:.1f}"

    if r["min"] == r["max"]:
        return n(r["min"])
    return f"{n(r['min'])}/{n(r['median'])}/{n(r['max'])}"


def render(rows: list[dict], header_lines: list[str], footer_lines: list[str]) -> str:
    columns = [
        "what",
        "n",
        "reads",
        "writes",
        "tx items",
        "scans",
        "touched",
        "p50 ms",
        "p95 ms",
        "DynamoDB calls (typical; [n] = transaction actions)",
    ]
    table: list[list[str]] = []
    sections: list[int] = []
    last_kind = None
    for r in rows:
        if last_kind is not None and r["kind"] != last_kind:
            sections.append(len(table))
        last_kind = r["kind"]
        ops = r["typical_ops"] if r["kind"] == "request" else r["op_totals"]
        if r["kind"] == "request" and r["typical_share"].split("/")[0] != r["typical_share"].split("/")[1]:
            ops += f"  ({r['typical_share']})"
        if r["sends"]:
            ops += "; sends: " + ", ".join(f"{k} x{v}" for k, v in r["sends"].items())
        if r["note"]:
            ops += f"  -- {r['note']}"
        if r["kind"] == "request":
            counts = [fmt_range(r["reads"]), fmt_range(r["writes"]), fmt_range(r["transact_items"])]
        else:
            counts = [str(r["totals"][k]) for k in ("reads", "writes", "transact_items")]
        table.append(
            [
                r["name"],
                str(r["n"]),
                *counts,
                str(r["scans"]),
                "" if r["touched"] is None else str(r["touched"]),
                f"{r['ms']['median']:.1f}",
                f"{r['ms']['p95']:.1f}",
                ops,
            ]
        )
    widths = [max(len(columns[i]), *(len(row[i]) for row in table)) for i in range(len(columns) - 1)]
    right = {1, 2, 3, 4, 5, 6, 7, 8}

    def line(cells: list[str]) -> str:
        parts = []
        for i, cell in enumerate(cells[:-1]):
            parts.append(cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]))
        parts.append(cells[-1])
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths) + "  " + "-" * 50
    out = list(header_lines) + ["", line(columns), rule]
    for i, row in enumerate(table):
        if i in sections:
            out.append(rule)
        out.append(line(row))
    out.append(rule)
    out.extend(footer_lines)
    return "\n".join(out)


# -- scenario helpers ---------------------------------------------------------
class Clock:
    def __init__(self, start: dt.datetime):
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now


class Drains:
    """Delivers queued notifications every few POSTs (moto's SQS slows down as
    a queue grows) and records what each delivery round cost."""

    def __init__(self, recorder: Recorder, every: int = 20):
        self.recorder = recorder
        self.every = every
        self.rows: dict[str, Row] = {}
        self.delivered: collections.Counter = collections.Counter()

    def drain(self, name: str) -> None:
        from chalicelib import local

        self.recorder.take()
        started = time.perf_counter()
        delivered = local.drain_queues()
        sample = Sample((time.perf_counter() - started) * 1000, self.recorder.take())
        if delivered:
            self.rows.setdefault(name, Row(name, "queue")).samples.append(sample)
            self.delivered[name] += delivered

    def finish(self) -> list[Row]:
        rows = []
        for name, row in self.rows.items():
            delivered = self.delivered[name]
            calls = [c for s in row.samples for c in s.calls]
            per = collections.Counter(c.op for c in calls if c.service == "dynamodb")
            row.touched = delivered
            row.note = f"{delivered} notifications in {len(row.samples)} round(s); per notification: " + ", ".join(
                f"{op} {n / delivered:.2f}" for op, n in per.most_common()
            )
            rows.append(row)
        return rows


class World:
    """A fresh moto account: tables, queues, API keys, the program, a frozen clock."""

    def __init__(
        self, recorder: Recorder, program: dict, now: dt.datetime, drains: Optional[Drains] = None, drain_name: str = ""
    ):
        self.recorder = recorder
        self.program = program
        self.clock = Clock(now)
        self.drains = drains  # None: notifications stay queued (moto forgets them at exit)
        self.drain_name = drain_name

    def __enter__(self) -> World:
        from chalice.test import Client
        from moto import mock_aws

        import app as app_module
        from chalicelib import clock as clock_module
        from chalicelib import local, runtime

        self._mock = mock_aws()
        self._mock.start()
        clock_module.now = self.clock
        runtime.reset()
        self.recorder.attached.clear()
        local.create_resources()
        self.recorder.attach()
        keys = {
            "admin": local.create_api_key("admin", "bench-hq"),
            "storefront": local.create_api_key("storefront", "bench-pos"),
        }
        self._client = Client(app_module.app).__enter__()
        self.api = Api(self._client, self.recorder, keys, self)
        self.first_admin = self.api.put("/program", self.program, key="admin")[1]
        self.recorder.take()
        return self

    def after_post(self, posts: int) -> None:
        if self.drains is not None and posts % self.drains.every == 0:
            self.drains.drain(self.drain_name)

    def __exit__(self, *exc) -> None:
        from chalicelib import runtime

        try:
            if exc[0] is None and self.drains is not None:
                self.drains.drain(self.drain_name)
        finally:
            self._client.__exit__(None, None, None)
            runtime.reset()
            self._mock.stop()


class JobLog(logging.Handler):
    """Captures the `<job>: N members` lines app.py logs (instead of printing them)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def run_api_phase(args, program: dict, recorder: Recorder) -> tuple[list[Row], dict]:
    n = args.repeat
    drains = Drains(recorder)
    rows: dict[str, Row] = {}

    def record(name: str, sample: Sample) -> None:
        rows.setdefault(name, Row(name, "request")).samples.append(sample)

    def world() -> World:
        return World(recorder, program, API_NOW)

    def enrol(api: Api, member_id: str, i: int, contact: Optional[int] = None, **extra) -> dict:
        body = {"member_id": member_id, "name": f"Member {i}", **extra}
        i = i if contact is None else contact
        if i % 2 == 0:
            body["email"] = f"{member_id}@example.com"
        else:
            body["phone"] = f"+8210{i:08d}"
        return api.post("/members", body)

    cold: dict[str, Sample] = {}
    members = [f"b{i:03d}" for i in range(n)]

    # enrol; the first request with each key also reads the key item (cold). Only
    # here are the notifications delivered (every 20 POSTs), to measure delivery.
    with World(recorder, program, API_NOW, drains, "drain_queues (welcome notifications)") as w:
        api = w.api
        cold["admin: PUT /program (first admin request)"] = w.first_admin
        cold["admin: PUT /program (warm)"] = api.put("/program", program, key="admin")[1]
        cold["storefront: POST /members (first storefront request)"] = api.post(
            "/members", {"member_id": "warmup", "name": "Warm Up"}
        )[1]
        cold["storefront: POST /members (warm)"] = api.post("/members", {"member_id": "warmup2", "name": "Warm Up"})[1]
        for i, m in enumerate(members):
            record("POST /members (enrol)", enrol(api, m, i)[1])

    # plain earn (100,000 won -> 1,000 points; no promotion on API_NOW), then replays
    with world() as w:
        api = w.api
        for i, m in enumerate(members):
            enrol(api, m, i)
        earns = {}
        for m in members:
            key, body = str(uuid.uuid4()), {"order_id": f"o-{m}", "amount": 100000}
            data, sample = api.post(f"/members/{m}/earn", body, idem=key)
            earns[m] = (key, body, data)
            record("POST /members/{id}/earn", sample)
        before = {m: (api.get(f"/members/{m}")[0], api.get(f"/members/{m}/transactions?limit=100")[0]) for m in members}
        for m in members:
            key, body, first = earns[m]
            data, sample = api.post(f"/members/{m}/earn", body, idem=key)
            if data != first:
                raise RequestFailed(f"replay for {m} answered a different body")
            record("POST /members/{id}/earn (replayed key)", sample)
        for m in members:  # a replay changes nothing
            after = (api.get(f"/members/{m}")[0], api.get(f"/members/{m}/transactions?limit=100")[0])
            if after != before[m]:
                raise RequestFailed(f"replaying an earn changed member {m}")

    # a referred member's first earn: referral bonus for both members
    with world() as w:
        api = w.api
        for i, m in enumerate(members):
            code = enrol(api, m, i)[0]["referral_code"]
            enrol(api, f"r{i:03d}", i, contact=10_000 + i, referral_code=code)  # not the referrer's own
        for i in range(n):
            r = f"r{i:03d}"
            record(
                "POST /members/{id}/earn (first, referral bonus)",
                api.post(f"/members/{r}/earn", {"order_id": f"o-{r}", "amount": 100000})[1],
            )

    # redeem one lot, cancel it, refund the earn, redeem a reward.
    # Each member holds two 1,000-point lots (signup bonus, earn): 2000 -> 1000 -> 2000 -> 1000 -> 0
    with world() as w:
        api = w.api
        api.post(
            "/rewards",
            {"reward_id": "americano", "name": "Americano", "points_cost": 1000, "stock": n + 10},
            key="admin",
        )
        earned = {}
        for i, m in enumerate(members):
            enrol(api, m, i)
            earned[m] = api.post(f"/members/{m}/earn", {"order_id": f"o-{m}", "amount": 100000})[0]
        redeemed = {}
        for m in members:
            data, sample = api.post(f"/members/{m}/redeem", {"points": 1000})
            redeemed[m] = data["transaction_id"]
            record("POST /members/{id}/redeem (1 lot)", sample)
        for m in members:
            record(
                "POST .../reversal (cancel a redeem)",
                api.post(f"/members/{m}/transactions/{redeemed[m]}/reversal", {})[1],
            )
        for m in members:
            record(
                "POST .../reversal (refund an earn)",
                api.post(f"/members/{m}/transactions/{earned[m]['transaction_id']}/reversal", {})[1],
            )
        for m in members:
            data, sample = api.post(f"/members/{m}/redeem", {"reward_id": "americano"})
            if data["balance_after"] != 0:
                raise RequestFailed(f"{m}: unexpected balance_after {data['balance_after']}")
            record("POST /members/{id}/redeem (reward)", sample)

    # redeem taking 20 lots: the 1,000-point signup lot + 19 earns of 10,000 won (100
    # points each; 190,000 won stays under the first tier), then redeem all 2,900
    with world() as w:
        api = w.api
        for i in range(n):
            z = f"z{i:03d}"
            enrol(api, z, i)
            for k in range(19):
                api.post(f"/members/{z}/earn", {"order_id": f"o-{z}-{k}", "amount": 10000})
            data, sample = api.post(f"/members/{z}/redeem", {"points": 2900})
            if data["balance_after"] != 0:
                raise RequestFailed(f"{z}: the redeem should take all 20 lots, balance_after={data['balance_after']}")
            record("POST /members/{id}/redeem (20 lots)", sample)

    # reads: members with an earn and a redeem (5 transactions each)
    with world() as w:
        api = w.api
        for i, m in enumerate(members):
            enrol(api, m, i)
            api.post(f"/members/{m}/earn", {"order_id": f"o-{m}", "amount": 100000})
            api.post(f"/members/{m}/redeem", {"points": 1000})
        for m in members:
            record("GET /members/{id}", api.get(f"/members/{m}")[1])
        for m in members:
            data, sample = api.get(f"/members/{m}/transactions")
            if len(data["items"]) != 3:  # signup bonus, earn, redeem
                raise RequestFailed(f"{m}: expected 3 transactions, got {len(data['items'])}")
            record("GET /members/{id}/transactions", sample)
        for _ in range(n):
            record("GET /stats", api.get("/stats", key="admin")[1])

    # transfers: a 숲 member (at least 1,000,000 won of spend) sends 1,000 points to each member
    with world() as w:
        api = w.api
        for i, m in enumerate(members):
            enrol(api, m, i)
        api.post("/members", {"member_id": "sender", "name": "Sender"})
        api.post("/members/sender/earn", {"order_id": "o-sender", "amount": max(1_000_000, n * 100_000)})
        for m in members:
            record(
                "POST /members/{id}/transfers",
                api.post("/members/sender/transfers", {"to_member_id": m, "points": 1000})[1],
            )

    # v2 (§10-§12, §15): the v2 demo program (frequency bonus, daily limits, automatic
    # coupons), its coupon templates made first. Earns of 50,000 won stay below the
    # first tier; the third of the month has the frequency line.
    templates = json.loads(pathlib.Path(args.coupons).read_text())
    program_v2 = json.loads(pathlib.Path(args.program_v2).read_text())
    with world() as w:
        api = w.api
        for template in templates:
            api.post("/coupon-templates", template, key="admin")
        api.put("/program", program_v2, key="admin")
        for i, m in enumerate(members):
            enrol(api, m, i, contact=20_000 + i)
        for k in range(3):
            for m in members:
                data, sample = api.post(f"/members/{m}/earn", {"order_id": f"o-{m}-{k}", "amount": 50000})
                if k == 2 and not any(line["rule"] == "frequency" for line in data["breakdown"]):
                    raise RequestFailed(f"{m}: the third earn of the month has no frequency line")
                record("POST /members/{id}/earn (v2 program: frequency bonus, limits)", sample)
        for m in members:  # 150,000 + 200,000 crosses 300,000: 열매, and its tier_up coupon
            data, sample = api.post(f"/members/{m}/earn", {"order_id": f"o-{m}-up", "amount": 200000})
            if data["tier"] != "열매":
                raise RequestFailed(f"{m}: expected 열매 after 350,000 won, got {data['tier']}")
            record("POST /members/{id}/earn (v2, tier up issuing a coupon)", sample)
        given = {}
        for m in members:
            data, sample = api.post(f"/members/{m}/coupons", {"template_id": "comeback-20"}, key="admin")
            given[m] = data["code"]
            record("POST /members/{id}/coupons (give)", sample)
        for m in members:
            data, sample = api.post(f"/members/{m}/coupons", {"template_id": "latte-1000"})
            record("POST /members/{id}/coupons (buy with points)", sample)
        for m in members:
            data, sample = api.post(
                f"/coupons/{given[m]}/redemption", {"member_id": m, "order_id": f"c-{m}", "order_amount": 30000}
            )
            if data["discount_amount"] != 5000:  # 20% of 30,000 capped at 5,000
                raise RequestFailed(f"{m}: unexpected discount {data['discount_amount']}")
            record("POST /coupons/{code}/redemption (use)", sample)
        for m in members:
            record("POST /coupons/{code}/release", api.post(f"/coupons/{given[m]}/release", {"member_id": m})[1])
        for i, m in enumerate(members):
            digits = f"{20_000 + i:08d}"  # enrolled as +8210<digits> (odd i), found as digits only
            data, sample = api.get(f"/members?phone=82-10-{digits[:4]}-{digits[4:]}")
            if (i % 2 == 1) != bool(data["items"]):
                raise RequestFailed(f"lookup of {m} by phone found {len(data['items'])}")
            if data["items"]:
                record("GET /members?phone= (lookup)", sample)
        for i, m in enumerate(members):
            if i % 2 == 0:
                data, sample = api.get(f"/members?email={m.upper()}@EXAMPLE.COM")
                if [x["member_id"] for x in data["items"]] != [m]:
                    raise RequestFailed(f"lookup of {m} by email found {data['items']}")
                record("GET /members?email= (lookup)", sample)

    # v3 (§23): the recommendation bonus. The stored lists (as the refresh writes them)
    # are put by hand; the member's list and the cold-start list come with the profile.
    with world() as w:
        from chalicelib import runtime
        from chalicelib.storage.repository import COLD_RECOMMENDATIONS_KEY, recommendations_key

        api = w.api
        api.put("/program", {**program, "recommendation_bonus": {"extra_rate": "0.05"}}, key="admin")
        store = runtime.services().store
        listed = [{"sku": "latte", "category": "coffee", "score": 3}]
        store.replace({"pk": COLD_RECOMMENDATIONS_KEY[0], "sk": COLD_RECOMMENDATIONS_KEY[1], "items": listed})
        for i, m in enumerate(members):
            enrol(api, m, i)
            if i % 2 == 0:  # the others get the cold-start list
                pk, sk = recommendations_key(m, 0)
                store.replace({"pk": pk, "sk": sk, "items": listed, "as_of": "2026-12-01T00:00:00Z"})
        recorder.take()
        for m in members:
            body = {
                "order_id": f"r-{m}",
                "amount": 100000,
                "items": [{"sku": "latte", "category": "coffee", "amount": 100000}],
            }
            data, sample = api.post(f"/members/{m}/earn", body)
            if {"rule": "recommended", "points": 5000} not in data["breakdown"]:
                raise RequestFailed(f"{m}: no recommended line in {data['breakdown']}")
            record("POST /members/{id}/earn (v3: recommendation bonus)", sample)

    # v3 (§22): members in a launched campaign (a multiplier arm and a bonus arm): the
    # arms come with the profile, so the earn stays one read and one write.
    with world() as w:
        from chalicelib import local

        api = w.api
        api.put("/program", program, key="admin")
        for i, m in enumerate(members):
            enrol(api, m, i)
        campaign = {
            "campaign_id": "bench",
            "name": "Benchmark",
            "starts_at": "2020-01-01T00:00:00Z",
            "ends_at": "2099-01-01T00:00:00Z",
            "arms": [
                {"name": "double", "weight": 50, "reward": {"type": "multiplier", "multiplier": "2"}},
                {"name": "bonus", "weight": 50, "reward": {"type": "bonus", "points": 500}},
            ],
        }
        api.post("/campaigns", campaign, key="admin")
        jobs_log = logging.getLogger("dangol")
        level = jobs_log.level
        jobs_log.setLevel(logging.WARNING)  # stdout is the report: not the job's "N tasks queued"
        try:
            local.run_job("launch_campaigns")
        finally:
            jobs_log.setLevel(level)
        recorder.take()
        for m in members:
            data, sample = api.post(f"/members/{m}/earn", {"order_id": f"k-{m}", "amount": 100000})
            if not any(line["rule"] == "campaign:bench" for line in data["breakdown"]):
                raise RequestFailed(f"{m}: no campaign line in {data['breakdown']}")
            record("POST /members/{id}/earn (v3: campaign arms)", sample)

    # v3 (§25): pending points. The earn keeps its lot pending on the profile (no
    # more requests); a refund takes from it; once the return window has closed, a
    # redeem makes the lots that came due lot items in its one transaction.
    with world() as w:
        api = w.api
        api.put("/program", {**program, "pending_days": 14}, key="admin")
        pending_earns = {}
        for i, m in enumerate(members):
            enrol(api, m, i)
            pending_earns[m] = api.post(f"/members/{m}/earn", {"order_id": f"p-{m}", "amount": 100000})[0]
            data, sample = api.post(f"/members/{m}/earn", {"order_id": f"q-{m}", "amount": 100000})
            if data["balance_after"] != 1000:
                raise RequestFailed(f"{m}: pending points counted in balance_after {data['balance_after']}")
            record("POST /members/{id}/earn (v3: pending points)", sample)
        for m in members:
            record(
                "POST .../reversal (v3: refund of pending points)",
                api.post(f"/members/{m}/transactions/{pending_earns[m]['transaction_id']}/reversal", {})[1],
            )
        # /stats: one BatchGetItem while nothing becomes available this hour; a second
        # one (the current hour's and minute's counters) when something does
        for _ in members:
            record("GET /stats (v3: points pending on later days)", api.get("/stats", key="admin")[1])
        w.clock.now = w.clock.now + dt.timedelta(days=14)
        for _ in members:
            record("GET /stats (v3: points becoming available this hour)", api.get("/stats", key="admin")[1])
        for m in members:
            data, sample = api.post(f"/members/{m}/redeem", {"points": 1000})  # the signup lot
            if data["balance_after"] != 1000:
                raise RequestFailed(f"{m}: pending points did not come due, balance_after {data['balance_after']}")
            record("POST /members/{id}/redeem (v3: pending points come due)", sample)

    extra = {
        "cold": {name: {"ops": op_sequence(s.calls), "reads": s.reads, "writes": s.writes} for name, s in cold.items()}
    }
    return list(rows.values()) + drains.finish(), extra


def run_jobs_phase(args, program: dict, recorder: Recorder) -> list[Row]:
    import app as app_module
    from chalicelib import local

    count = args.members
    rows: list[Row] = []
    # a year on, every member has been inactive for longer than 180 days: win-back has work
    program = {**program, "dormancy": program.get("dormancy") or {"after_days": 180}}
    with World(recorder, program, JOBS_START) as w:
        api = w.api
        for i in range(count):
            m = f"j{i:03d}"
            body = {
                "member_id": m,
                "name": f"Member {i}",
                "birthday": BIRTHDAY_TODAY if i % 4 == 0 else f"1990-06-{i % 28 + 1:02d}",
            }
            if i % 5 == 1:
                body["phone"] = f"+8210{i:08d}"
            elif i % 5 != 0:
                body["email"] = f"{m}@example.com"
            api.post("/members", body)
            if i % 10 < 3:  # 300,000 won in 2026Q1 -> 열매 until the review at 2026Q3's start
                api.post(f"/members/{m}/earn", {"order_id": f"t-{m}", "amount": 300000})
        w.clock.now = JOBS_START + dt.timedelta(days=5)
        for i in range(count):
            if 3 <= i % 10 < 7:  # a lot expiring 2027-01-20, inside the 7-day warning window
                api.post(f"/members/j{i:03d}/earn", {"order_id": f"w-j{i:03d}", "amount": 50000})
        if args.drain_jobs:  # deliver the set-up's notifications first (not reported)
            from chalicelib import local as local_module

            local_module.drain_queues()

        # §22: a campaign for every member, due: launch_campaigns has work (its rerun none)
        control_and_double = [
            {"name": "control", "weight": 50, "reward": None},
            {"name": "double", "weight": 50, "reward": {"type": "multiplier", "multiplier": "2"}},
        ]
        campaign = {"campaign_id": "jobs", "name": "Jobs", "arms": control_and_double}
        campaign |= {"starts_at": "2020-01-01T00:00:00Z", "ends_at": "2099-01-01T00:00:00Z"}
        api.post("/campaigns", campaign, key="admin")

        # One year on: every signup lot and the tier earns have expired, the tier
        # reviews are due, the warned lots expire within 7 days, birthdays today.
        w.clock.now = JOBS_NOW
        job_drains = Drains(recorder)
        log_handler = JobLog()
        app_log = app_module.app.log
        saved_handlers = list(app_log.handlers)
        for h in saved_handlers:
            app_log.removeHandler(h)
        app_log.addHandler(log_handler)
        try:
            for round_name in ("", " (rerun)"):
                for job in local.SCHEDULED_JOBS:
                    recorder.take()
                    log_handler.messages.clear()
                    started = time.perf_counter()
                    local.run_job(job)
                    sample = Sample((time.perf_counter() - started) * 1000, recorder.take())
                    reported = next(
                        (
                            int(msg.split(":")[1].split()[0])
                            for msg in log_handler.messages
                            if msg.startswith(f"{job}:")
                        ),
                        None,
                    )
                    changed = {p for c in dynamo(sample.calls) if not c.error for p in c.members}
                    reads = sum(1 for c in dynamo(sample.calls) if c.op == "BatchGetItem")
                    queued = sum(c.items for c in sample.calls if c.op == "SendMessageBatch")
                    rows.append(
                        Row(
                            f"job {job}{round_name}",
                            "job",
                            [sample],
                            touched=len(changed),
                            note=f"job reports {reported}; {reads} member reads; {queued} notifications queued",
                        )
                    )
                    if args.drain_jobs:
                        job_drains.drain("drain_queues (after each job)")
        finally:
            app_log.removeHandler(log_handler)
            for h in saved_handlers:
                app_log.addHandler(h)
    return rows + job_drains.finish()


def round_trips_markdown(summaries: list[dict], cold: dict, repeat: int) -> str:
    """The requests' round trips as a markdown table, and the cold API-key cost."""
    from devtools import doc_figures

    rows = []
    for r in summaries:
        if r["kind"] != "request":
            continue
        calls = r["typical_ops"]
        seen, total = r["typical_share"].split("/")
        if seen != total:
            calls += f" ({r['typical_share']} requests)"
        rows.append(
            [
                f"`{r['name']}`",
                r["n"],
                fmt_range(r["reads"]),
                fmt_range(r["writes"]),
                fmt_range(r["transact_items"]),
                f"{r['ms']['median']:.1f}",
                calls,
            ]
        )
    table = doc_figures.markdown_table(
        ["request", "n", "reads", "writes", "transaction actions", "p50 ms (moto)", "DynamoDB calls (typical)"],
        rows,
        right=(1, 2, 3, 4, 5),
    )
    keys = "\n".join(f"- {name}: {c['reads']} reads, {c['writes']} writes ({c['ops']})" for name, c in cold.items())
    return (
        f"Warm container, API keys cached; {repeat} requests of each kind. a/b/c = min/median/max per request "
        f"(one number when all are equal); [n] = the actions of a TransactWriteItems.\n\n{table}\n\n"
        f"The first request with each key (cold) and a warm one:\n\n{keys}"
    )


def write_docs(summaries: list[dict], cold: dict, repeat: int) -> None:
    from devtools import doc_figures

    doc_figures.write_block(
        ROOT / "docs" / "benchmarks.md",
        "round-trips",
        round_trips_markdown(summaries, cold, repeat),
        doc_figures.command_line(),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=50, help="repetitions per request kind (default 50)")
    parser.add_argument("--members", type=int, default=200, help="members in the job dataset (default 200)")
    parser.add_argument(
        "--program",
        default=str(ROOT / "examples" / "cafe-program-v1.json"),
        help="program configuration JSON (default examples/cafe-program-v1.json)",
    )
    parser.add_argument(
        "--program-v2",
        default=str(ROOT / "examples" / "cafe-program.json"),
        help="v2 program for the coupon, lookup and frequency rows (default examples/cafe-program.json)",
    )
    parser.add_argument(
        "--coupons",
        default=str(ROOT / "examples" / "cafe-coupons.json"),
        help="coupon templates the v2 program names (default examples/cafe-coupons.json)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument(
        "--drain-jobs", action="store_true", help="also deliver the jobs' notifications (slow under moto's SQS)"
    )
    parser.add_argument(
        "--stock-moto",
        action="store_true",
        help="run on stock moto, without devtools/moto_patches.py (slow; cost grows with data)",
    )
    parser.add_argument(
        "--write-docs",
        action="store_true",
        help="also write the requests' round trips into docs/benchmarks.md (block round-trips)",
    )
    parser.add_argument(
        "--scale",
        action="store_true",
        help="instead: billed capacity by lot count and partition shares (benchmark_scale.py)",
    )
    args, rest = parser.parse_known_args()
    if args.scale:
        import runpy

        sys.argv = (
            [str(ROOT / "scripts" / "benchmark_scale.py"), *rest]
            + (["--json"] if args.json else [])
            + (["--write-docs"] if args.write_docs else [])
        )
        runpy.run_path(sys.argv[0], run_name="__main__")
        return 0
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.repeat < 1 or args.members < 1:
        parser.error("--repeat and --members must be at least 1")
    if args.write_docs:
        from devtools import doc_figures

        doc_figures.require_block(ROOT / "docs" / "benchmarks.md", "round-trips")  # before the run, not after
    program = json.loads(pathlib.Path(args.program).read_text())

    logging.getLogger("chalicelib").setLevel(logging.ERROR)
    # stdout is the report: not the app's per-request log lines and metrics
    logging.getLogger("dangol.requests").setLevel(logging.WARNING)
    logging.getLogger("dangol.telemetry").setLevel(logging.WARNING)

    if not args.stock_moto:
        from devtools import moto_patches

        moto_patches.apply()  # devtools/moto_patches.py (DANGOL_STOCK_MOTO=1 also keeps stock moto)
    recorder = Recorder()
    started = time.perf_counter()
    api_rows, extra = run_api_phase(args, program, recorder)
    job_rows = run_jobs_phase(args, program, recorder)
    total = time.perf_counter() - started

    summaries = [r.summary() for r in api_rows + job_rows]
    if args.write_docs:
        write_docs(summaries, extra["cold"], args.repeat)
    if args.json:
        print(
            json.dumps(
                {
                    "repeat": args.repeat,
                    "members": args.members,
                    "program": args.program,
                    "api_clock": API_NOW.isoformat(),
                    "jobs_clock": JOBS_NOW.isoformat(),
                    "runtime_seconds": round(total, 1),
                    "cold": extra["cold"],
                    "rows": summaries,
                    "moto_transactions": "stock" if args.stock_moto else "backup narrowed to the items named",
                },
                ensure_ascii=False,
                indent=2,
            )
        )
        return 0

    header = [
        f"Dangol benchmark: moto in-process, chalice.test.Client, program {args.program}",
        f"requests x{args.repeat} each at {API_NOW:%Y-%m-%dT%H:%M:%SZ}; jobs on {args.members} members "
        f"at {JOBS_NOW:%Y-%m-%dT%H:%M:%SZ}; API keys cached (warm) unless noted below",
        "reads = GetItem/BatchGetItem/Query/Scan requests, writes = Put/Update/Delete/TransactWrite/"
        "BatchWrite requests; a/b/c = min/median/max per request (one number when all equal);",
        "moto's TransactWriteItems backup is narrowed to the items a transaction names "
        "(--stock-moto: moto's table copy, slow); latencies are moto's, not AWS's",
        "for jobs and queues the counts are totals over n runs/rounds; touched = members whose items the job wrote "
        "(jobs) or messages delivered (queues); !Code = a call that failed with that error",
    ]
    footer = ["", "cold API-key cost (first request per key reads the key item):"]
    width = max(len(k) for k in extra["cold"])
    for name, c in extra["cold"].items():
        footer.append(f"  {name.ljust(width)}  reads {c['reads']}  writes {c['writes']}  {c['ops']}")
    capacity = [s for s in summaries if s["consumed_capacity"]]
    footer.append("")
    footer.append(
        "consumed capacity: "
        + (
            "; ".join(f"{s['name']}: {s['consumed_capacity']}" for s in capacity)
            if capacity
            else "not reported (the app does not send ReturnConsumedCapacity; moto's figure would be fake anyway)"
        )
    )
    footer.append(f"total Scan requests: {sum(s['scans'] for s in summaries)}; runtime {total:.1f} s")
    print(render(summaries, header, footer))
    return 0


if __name__ == "__main__":
    sys.exit(main())

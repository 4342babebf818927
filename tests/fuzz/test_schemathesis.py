"""Fuzzing from the served OpenAPI document (schemathesis) against the app on 127.0.0.1.

The app is served by chalice's LocalDevServer on in-process moto (tests/served.py).
Every operation of the document gets schema-valid and schema-invalid requests with
valid API keys and fresh Idempotency-Keys; path ids are mostly the seeded members'
and transactions' so that requests reach the ledger. Every answer must be in the
document (status, content type, body schema) and no answer may be a 5xx. Afterwards
every member's balance and pending points (§25) equal the sum of its ledger and
/stats points_outstanding equals their sum over the members.

Bounded: at most POSITIVE + NEGATIVE examples and SECONDS_PER_OPERATION of wall clock
per operation (so at most about 20 x 12 s in all on a loaded machine; about a minute
on an idle one). Every operation gets at least its first example.
"""

from __future__ import annotations

import json
import random
import time
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable

from chalicelib.api.operations import by_route
from tests.conftest import DEMO_PROGRAM
from tests.served import served_app

POSITIVE = 20
NEGATIVE = 8
SECONDS_PER_OPERATION = 12
SEEDED = ("m1", "m2", "kim", "lee", "park")
ERASABLE = ("x1", "x2", "x3")


def seed(served) -> list[tuple[str, str]]:
    """The demo program, members with history and rewards; returns (member, transaction) pairs."""

    def ok(status, body, *expected):
        assert status in expected, (status, body)
        return json.loads(body) if body else None

    ok(*served.request("PUT", "/program", DEMO_PROGRAM, key="admin")[::2], 200)
    pairs = []
    for n, member_id in enumerate(SEEDED + ERASABLE):
        headers = {"Idempotency-Key": f"seed-{member_id}"}
        ok(
            *served.request(
                "POST",
                "/members",
                {"member_id": member_id, "name": f"Member {n}", "email": f"m{n}@example.com"},
                headers=headers,
                key="storefront",
            )[::2],
            201,
        )
        earned = ok(
            *served.request(
                "POST",
                f"/members/{member_id}/earn",
                {"order_id": f"seed-{n}", "amount": 1_000_000},
                headers={"Idempotency-Key": f"seed-earn-{member_id}"},
                key="storefront",
            )[::2],
            201,
        )
        redeemed = ok(
            *served.request(
                "POST",
                f"/members/{member_id}/redeem",
                {"points": 1000},
                headers={"Idempotency-Key": f"seed-redeem-{member_id}"},
                key="storefront",
            )[::2],
            201,
        )
        pairs += [(member_id, earned["transaction_id"]), (member_id, redeemed["transaction_id"])]
    for reward in (
        {"reward_id": "latte", "name": "Latte", "points_cost": 500, "stock": 5},
        {"reward_id": "cake", "name": "Cake", "points_cost": 5000},
    ):
        ok(*served.request("POST", "/rewards", reward, key="admin")[::2], 201)
    return pairs


def aim(case, op, pairs, rng) -> None:
    """Point most requests at seeded members and their transactions."""
    params = case.path_parameters or {}
    method = op.method.upper()
    if method == "DELETE" and params.get("member_id") in SEEDED:
        params["member_id"] = rng.choice(ERASABLE)  # the seeded members stay for the others
    if "member_id" in params and rng.random() < 0.75:
        if method == "DELETE":
            params["member_id"] = rng.choice(ERASABLE)
        elif "transaction_id" in params:
            params["member_id"], params["transaction_id"] = rng.choice(pairs)
        else:
            params["member_id"] = rng.choice(SEEDED)
    if isinstance(case.body, dict) and "to_member_id" in case.body and rng.random() < 0.75:
        case.body["to_member_id"] = rng.choice(SEEDED)


def ledger_adds_up(served, member_ids) -> int:
    total = 0
    for member_id in sorted(member_ids):
        status, _, body = served.request("GET", f"/members/{member_id}", key="admin")
        if status == 404:
            continue
        assert status == 200, (member_id, status, body)
        member = json.loads(body)
        # §25: points of purchases inside a return window (a fuzzed program may set
        # pending_days) are the member's in the ledger but not yet in the balance
        assert member["pending_points"] >= 0 and member["pending_points"] == sum(
            lot["points"] for lot in member["pending"]
        ), member_id
        balance = member["balance"] + member["pending_points"]
        points, cursor = 0, None
        while True:
            path = f"/members/{member_id}/transactions?limit=100" + (f"&cursor={cursor}" if cursor else "")
            status, _, page = served.request("GET", path, key="admin")
            assert status == 200, (path, page)
            page = json.loads(page)
            points += sum(tx["points"] for tx in page["items"])
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert balance == points, (member_id, balance, points)
        assert balance >= 0, member_id
        total += balance
    return total


def test_every_operation_fuzzed_answers_within_the_document_and_the_ledger_adds_up():
    import schemathesis
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    operations_table = by_route()
    with served_app() as served:
        pairs = seed(served)
        # the served document (from_url would leave out the document's own operation)
        status, _, served_document = served.request("GET", "/openapi.json")
        assert status == 200
        schema = schemathesis.openapi.from_dict(json.loads(served_document))
        members = set(SEEDED + ERASABLE)
        tried: dict[str, int] = {}
        statuses: dict[int, int] = {}
        unnegatable: list[str] = []
        by_op: dict[str, dict[int, int]] = {}
        rng = random.Random(20261129)
        started = time.monotonic()
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) == len(operations_table)

        for op in operations:
            op_started = time.monotonic()
            table_row = operations_table[(op.method.upper(), op.path)]
            key = served.admin_key if table_row.role == "admin" else served.storefront_key
            # schema-invalid requests where there is something to make invalid
            negatable = table_row.body is not None or "{" in op.path or table_row.paged or table_row.idempotent
            modes = [(GenerationMode.POSITIVE, POSITIVE)]
            modes += [(GenerationMode.NEGATIVE, NEGATIVE)] if negatable else []
            for mode, examples in modes:

                @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
                @given(case=op.as_strategy(generation_mode=mode))
                def fuzz(case):
                    if tried.get(table_row.name) and time.monotonic() - op_started > SECONDS_PER_OPERATION:
                        return
                    aim(case, op, pairs, rng)
                    headers = {"Authorization": f"Bearer {key}"}
                    if table_row.idempotent:
                        headers["Idempotency-Key"] = f"fuzz-{uuid.uuid4()}"
                    response = case.call_and_validate(base_url=served.url, headers=headers, checks=checks)
                    tried[table_row.name] = tried.get(table_row.name, 0) + 1
                    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                    by_op.setdefault(table_row.name, {}).setdefault(response.status_code, 0)
                    by_op[table_row.name][response.status_code] += 1
                    if table_row.name == "create_member" and response.status_code == 201:
                        members.add(response.json()["member_id"])

                try:
                    fuzz()
                except Unsatisfiable:
                    # nothing in this operation can be made schema-invalid (e.g. a plain
                    # string path parameter); its schema-valid requests ran above
                    assert mode == GenerationMode.NEGATIVE, op.label
                    unnegatable.append(op.label)

        assert set(tried) == {op.name for op in operations_table.values()}, tried
        assert sum(tried.values()) >= len(operations_table) * 5
        assert statuses.get(201, 0) > 20, statuses  # requests reached the ledger
        total = ledger_adds_up(served, members)
        status, _, body = served.request("GET", "/stats", key="admin")
        assert status == 200
        assert json.loads(body)["points_outstanding"] == total
        print(
            f"fuzz: {sum(tried.values())} requests in {time.monotonic() - started:.0f} s, "
            f"statuses {dict(sorted(statuses.items()))}; no invalid request for {unnegatable}"
        )
